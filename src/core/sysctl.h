/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel settings a data plane needs in its network namespace, set the way
 * kube-proxy's EnsureSysctl does: read first, write only when different, so
 * a node whose administrator already set the value sees no write.
 */
#ifndef KROUTE_CORE_SYSCTL_H
#define KROUTE_CORE_SYSCTL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Makes the sysctl at name ("net/ipv4/conf/all/route_localnet", relative to
 * /proc/sys) hold value.  *changed says whether it was written.  Returns 0 or
 * -errno.
 */
int sysctl_ensure(const char *name, const char *value, bool *changed);
/* The same below another root than /proc/sys (tests). */
int sysctl_ensure_at(const char *root, const char *name, const char *value, bool *changed);
/* The value of the sysctl at name into buf (NUL-terminated, the newline cut); 0 or -errno. */
int sysctl_read(const char *name, char *buf, size_t size);

#endif
