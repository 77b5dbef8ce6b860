/* SPDX-License-Identifier: Apache-2.0 */
/* The addresses of this network namespace's interfaces (getifaddrs). */
#ifndef KROUTE_CORE_IFADDR_H
#define KROUTE_CORE_IFADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/addr.h"

/* Which interfaces: every one, only the named one, or all but the named one. */
enum ifaddr_filter { IFADDR_ALL, IFADDR_ONLY, IFADDR_EXCEPT };

/*
 * The IPv4 and IPv6 addresses of the interfaces filter selects (name is the
 * interface for IFADDR_ONLY / IFADDR_EXCEPT), in getifaddrs order; IPv6
 * link-local ones are left out when skip_link_local.  *ret is malloc'ed
 * (NULL and 0 when there are none or getifaddrs fails).
 */
void ifaddr_list(enum ifaddr_filter filter, const char *name, bool skip_link_local,
		 struct addr **ret, size_t *ret_n);

#endif
