/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a running proxy knows and the manifests do not: live connection
 * counts, connect failures and passive-health ejections, read from the JSON
 * status file `kroute run --mode userspace --userspace-status-file PATH`
 * rewrites every second (docs/userspace.md).  `kroute explain --status PATH`
 * shows them next to each route's endpoints.
 */
#ifndef KROUTE_EXPLAIN_RUNTIME_H
#define KROUTE_EXPLAIN_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strmap.h"
#include "policy/policy.h"

struct runtime_ep {
	char *key;                   /* "ip:port" */
	bool ejected;
	uint64_t active, connections, failures, ejections, ejected_for_ms;
};

struct runtime_set {
	char *key;                   /* the endpoint set's key, port_view_set_key() */
	struct runtime_ep *eps;
	size_t n_eps;
};

struct runtime_status {
	char *path;
	char *mode;
	struct runtime_set *sets;
	size_t n_sets;
	struct strmap index;         /* set key -> struct runtime_set * */
};

/*
 * Reads the status file; on failure writes a one-line reason (naming the
 * file) to err.  Release ret with runtime_status_done() even on failure.
 */
int runtime_status_load(const char *path, struct runtime_status *ret, char *err, size_t err_len);
/* The same from memory (the fuzzer).  Either way, release ret with runtime_status_done(). */
int runtime_status_load_buffer(const char *name, const char *buf, size_t len,
			       struct runtime_status *ret, char *err, size_t err_len);
void runtime_status_done(struct runtime_status *st);

/* The running proxy's state of endpoint ep_key in the set a route uses, or NULL. */
const struct runtime_ep *runtime_status_find(const struct runtime_status *st,
					     const struct port_view *pv, bool local,
					     const char *ep_key);

#endif
