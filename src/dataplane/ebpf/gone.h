/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The UDP endpoints a sync removed (pure): those udp_abort.h aborts the
 * connected sockets of.  An endpoint is gone when it was in a slot of a UDP
 * endpoint set before the sync and is in no slot of any UDP set after it.
 * Only the slots the diff deletes or overwrites are candidates, so a sync
 * that removes no endpoint costs nothing here.
 */
#ifndef KROUTE_DATAPLANE_EBPF_GONE_H
#define KROUTE_DATAPLANE_EBPF_GONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/ebpf/plan.h"

/* *ret (free()d by the caller; NULL when none): sorted, each once.  Returns how many. */
size_t ebpf_gone_udp(const struct ebpf_plan *from, const struct ebpf_plan *to,
		     const struct ebpf_diff *df, struct kr_backend **ret);

/* Set ids: sorts ids[0 .. n) and keeps each once (returns how many); whether sorted ids has id. */
size_t ebpf_ids_sort_unique(uint32_t *ids, size_t n);
bool ebpf_has_id(const uint32_t *ids, size_t n, uint32_t id);
/* A hash of a map key's bytes (padding zeroed), for the userspace tables keyed like the maps. */
size_t ebpf_hash_bytes(const void *key, size_t size);

/*
 * For a partial sync (partial.h), which sees only the slots it changes:
 * how many slots of UDP sets hold each endpoint (an open-addressing table;
 * an endpoint whose count fell to 0 stays until the table grows).
 */
struct ebpf_ep_ref {
	struct kr_backend be;
	uint32_t n;
	bool used;
};

struct ebpf_ep_refs {
	struct ebpf_ep_ref *v;
	size_t cap, used;   /* cap: a power of two or 0; used: entries taken (counts 0 too) */
};

void ebpf_ep_refs_done(struct ebpf_ep_refs *r);
void ebpf_ep_refs_add(struct ebpf_ep_refs *r, const struct kr_backend *be, int delta);
uint32_t ebpf_ep_refs_get(const struct ebpf_ep_refs *r, const struct kr_backend *be);

/*
 * ebpf_gone_udp from the diff alone: the old values of the slots df deletes
 * or overwrites in the sets udp_ids[0 .. n_udp) (sorted) whose count in
 * alive (after the sync) is 0.
 */
size_t ebpf_gone_udp_refs(const struct ebpf_diff *df, const uint32_t *udp_ids, size_t n_udp,
			  const struct ebpf_ep_refs *alive, struct kr_backend **ret);

#endif
