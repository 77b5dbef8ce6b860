/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Session affinity (Service sessionAffinity: ClientIP) on top of any
 * scheduler: a bounded table from client source IP to the destination it was
 * last sent to, expiring timeout_ns after the client's last new flow (as
 * kube-proxy's iptables "recent --rcheck --seconds" + "--set" and nftables'
 * timed "update @affinity" do). No I/O; the clock is the caller's.
 *
 * Reuse rule: an unexpired entry is reused when its destination is still in
 * the scheduler's array (same family, address and port) and is available:
 * weight > 0 and not OVERLOAD. Otherwise the scheduler picks again and the
 * entry is overwritten. IPVS persistence differs: it reuses a template even
 * when the destination is OVERLOAD, and even when it is quiesced (weight 0)
 * unless the sysctl expire_quiescent_template is set. kroute's default
 * matches "weight 0 never gets new flows"; SCHED_AFFINITY_IPVS_COMPAT gives
 * the IPVS default (reuse while the destination exists).
 *
 * Bounds: max_entries, set-associative with 8 ways per bucket. A new client
 * replaces an expired entry of its bucket, or else the entry that would
 * expire first (so a full table evicts the least recently used client of
 * that bucket, not a random one).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct sched_flow;
struct sched_state;
struct sched_affinity;

enum sched_affinity_flag {
	SCHED_AFFINITY_IPVS_COMPAT = 1u << 0,	/* reuse while the dest exists, like IPVS */
};

/* kube-proxy's sessionAffinityConfig.clientIP.timeoutSeconds default (3 h). */
#define SCHED_AFFINITY_DEFAULT_TIMEOUT_NS (10800ull * 1000000000ull)
#define SCHED_AFFINITY_MAX_ENTRIES (1u << 24)

int sched_affinity_new(uint64_t timeout_ns, size_t max_entries, uint32_t flags, uint64_t seed,
		       struct sched_affinity **ret_aff);
struct sched_affinity *sched_affinity_free(struct sched_affinity *aff);
int sched_affinity_pick(struct sched_affinity *aff, struct sched_state *st,
			const struct sched_flow *flow, uint64_t now_ns);
int sched_affinity_lookup(const struct sched_affinity *aff, const struct sched_state *st,
			  const struct sched_flow *flow, uint64_t now_ns);
void sched_affinity_clear(struct sched_affinity *aff);
size_t sched_affinity_count(const struct sched_affinity *aff, uint64_t now_ns);
size_t sched_affinity_capacity(const struct sched_affinity *aff);
size_t sched_affinity_memory(const struct sched_affinity *aff);
