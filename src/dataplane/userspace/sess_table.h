/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A worker's UDP sessions by (listener, client address, client port): a
 * chained hash table that doubles as it fills.  The key is hashed with
 * SipHash-1-3 under a secret drawn once per process (getrandom), so a
 * client that picks its source addresses and ports cannot predict which
 * buckets they land in and make every lookup walk one long chain (hash
 * flooding).  Used by one worker thread only.
 */
#ifndef KROUTE_DATAPLANE_USERSPACE_SESS_TABLE_H
#define KROUTE_DATAPLANE_USERSPACE_SESS_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct us_sess;
struct us_wl;

struct us_sess_table {
	struct us_sess **v;         /* buckets: a power of two */
	size_t cap, n;
};

void us_sess_table_init(struct us_sess_table *t);
void us_sess_table_done(struct us_sess_table *t);
/* The key's hash under this process's secret (what us_sess.hash holds). */
uint64_t us_sess_hash(const struct us_wl *wl, const struct addr *a, uint16_t port);
/* The session with this key (h its us_sess_hash), or NULL. */
struct us_sess *us_sess_table_find(const struct us_sess_table *t, uint64_t h,
				   const struct us_wl *wl, const struct addr *a, uint16_t port);
/* s->hash, ->wl, ->client_addr and ->client_port set. */
void us_sess_table_insert(struct us_sess_table *t, struct us_sess *s);
void us_sess_table_remove(struct us_sess_table *t, struct us_sess *s);

#endif
