/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load-balancing schedulers: pick one endpoint ("destination") of a service for
 * a new flow. The rules are those of the Linux IPVS modules (rr, wrr, lc, wlc,
 * sed, nq, fo, ovf, lblc, lblcr, dh, sh, mh, twos), plus "random" (what
 * kube-proxy's iptables and nftables modes do) and "maglev" (NSDI 2016 paper,
 * prime table, exposed for kernel data planes). The library does no I/O, keeps
 * no globals and does not log: every bit of state lives in a struct
 * sched_state, the clock is passed in by the caller and the PRNG is seeded by
 * the caller, so results are reproducible.
 *
 * Use: sched_new() per service (port) with the endpoint array; per new flow
 * sched_pick() (or sched_affinity_pick(), sched_affinity.h); when the
 * connection is bound sched_conn_take(), when it ends sched_conn_drop();
 * after endpoint changes sched_set_dests() or sched_prepare(); at the end
 * sched_free(). Kernel data planes read the prepared table with
 * sched_table(). Errors are negative errno values. Rules, options, hashes
 * and data plane notes: src/sched/README.md.
 *
 * Threading: a struct sched_state is not locked. One thread (the control
 * loop, or one proxy worker owning a copy) uses it at a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Weight range of the kroute.io/endpoint-weights annotation, as ipvsadm's. */
#define SCHED_WEIGHT_MAX 65535u
#define SCHED_WEIGHT_DEFAULT 1u
/* Upper bound on destinations per state; keeps 32-bit weight sums exact. */
#define SCHED_DESTS_MAX 65536u
/* "No destination" in lookup tables returned by sched_table(). */
#define SCHED_NO_DEST UINT32_MAX

#define SCHED_DEFAULT_NAME "random"
#define SCHED_MAGLEV_DEFAULT_SIZE 65537u
#define SCHED_MAGLEV_MIN_SIZE 251u
#define SCHED_MAGLEV_MAX_SIZE 16777213u /* largest prime below 2^24 */
#define SCHED_MH_DEFAULT_SIZE 4093u

/*
 * One endpoint as the schedulers see it. The array is owned by the caller and
 * borrowed by the state from sched_new()/sched_set_dests() until the next
 * sched_set_dests() or sched_free(); it must stay valid and must not move in
 * between. Schedulers read it on every pick; sched_conn_take()/drop() write
 * the connection counters and the overloaded flag.
 *
 * Changing weight, last_weight, thresholds or addresses in place requires
 * sched_prepare(). Changing the counters or overloaded directly (instead of
 * through sched_conn_take()/drop()) requires sched_dest_refresh().
 */
struct sched_dest {
	uint8_t family;			/* AF_INET or AF_INET6 */
	uint8_t addr[16];		/* network byte order; IPv4 in the first 4 bytes */
	uint16_t port;			/* host byte order */
	uint32_t weight;		/* 0..SCHED_WEIGHT_MAX; 0 = quiesced, no new flows */
	/*
	 * IPVS last_weight, used only by "mh": the weight the destination had
	 * before it was set to 0. A quiesced destination with last_weight > 0
	 * keeps its slots in the mh table (lookups that land there see an
	 * unavailable destination), so quiescing does not reshuffle other
	 * clients. 0 = no history.
	 */
	uint32_t last_weight;
	uint32_t active_conns;
	uint32_t inactive_conns;
	uint32_t u_threshold;		/* 0 = no upper connection threshold */
	uint32_t l_threshold;		/* 0 = 3/4 of u_threshold */
	bool overloaded;		/* IPVS OVERLOAD flag; see sched_conn_take() */
};

/*
 * A flow (new connection) in its original direction. Addresses are in network
 * byte order (IPv4 in the first 4 bytes; the other bytes are ignored), ports
 * in host byte order. proto is an IPPROTO_* value; ports only count for TCP,
 * UDP and SCTP.
 */
struct sched_flow {
	uint8_t family;
	uint8_t proto;
	uint8_t saddr[16];
	uint8_t daddr[16];
	uint16_t sport;
	uint16_t dport;
};

/* Scheduler flags, the IPVS service flags SCHED1/SCHED2 of sh and mh. */
enum sched_flag {
	SCHED_F_SH_FALLBACK = 1u << 0,	/* sh: probe on when the hashed dest is unavailable */
	SCHED_F_SH_PORT = 1u << 1,	/* sh: hash the source port too */
	SCHED_F_MH_FALLBACK = 1u << 2,	/* mh: as SH_FALLBACK */
	SCHED_F_MH_PORT = 1u << 3,	/* mh: as SH_PORT */
	SCHED_F_ALL = (1u << 4) - 1,
};

/*
 * Per-service configuration. Zero-initialise and set what you need: every 0
 * means "default".
 */
struct sched_config {
	uint32_t flags;			/* enum sched_flag */
	uint32_t maglev_table_size;	/* prime, SCHED_MAGLEV_MIN_SIZE.._MAX_SIZE; 0 = 65537 */
	uint32_t mh_table_size;		/* one of the IPVS mh primes 251..131071; 0 = 4093 */
	uint64_t seed;			/* PRNG seed for random and twos */
	uint32_t lblc_max_entries;	/* lblc/lblcr cache bound; 0 = 16384 (IPVS 16 x 1024) */
	uint64_t lblc_expiration_ns;	/* lblc/lblcr idle expiry; 0 = 24 h (IPVS default) */
};

/* Capabilities, for help text, explain output and data plane selection. */
enum sched_cap {
	SCHED_CAP_WEIGHTS = 1u << 0,	/* weights other than 0/1 change the result */
	SCHED_CAP_CONNS = 1u << 1,	/* reads connection counters: call sched_conn_*() */
	SCHED_CAP_HASH = 1u << 2,	/* same key -> same destination, across processes */
	SCHED_CAP_RANDOM = 1u << 3,	/* draws from the state's PRNG */
	SCHED_CAP_TABLE = 1u << 4,	/* sched_table() exposes the lookup table */
	SCHED_CAP_CACHE = 1u << 5,	/* keeps a bounded per-key cache (lblc, lblcr) */
};

struct sched_info {
	const char *name;
	const char *summary;		/* one line, for help text */
	uint32_t caps;			/* enum sched_cap */
};

struct sched_state;

/* Registry: NULL when i is past the end or the name is unknown. */
const struct sched_info *sched_info_get(size_t i);
const struct sched_info *sched_info_find(const char *name);

int sched_new(const char *name, const struct sched_config *cfg, struct sched_dest *dests,
	      size_t n_dests, struct sched_state **ret_state);
struct sched_state *sched_free(struct sched_state *st);
int sched_set_dests(struct sched_state *st, struct sched_dest *dests, size_t n_dests);
int sched_prepare(struct sched_state *st);
int sched_pick(struct sched_state *st, const struct sched_flow *flow, uint64_t now_ns);

void sched_conn_take(struct sched_state *st, size_t idx, bool active);
void sched_conn_drop(struct sched_state *st, size_t idx, bool active);
void sched_dest_refresh(struct sched_state *st, size_t idx);

const char *sched_name(const struct sched_state *st);
const struct sched_config *sched_get_config(const struct sched_state *st);
uint64_t sched_generation(const struct sched_state *st);
size_t sched_memory(const struct sched_state *st);
bool sched_dest_is_available(const struct sched_dest *d);

int sched_table(const struct sched_state *st, const uint32_t **ret_table, size_t *ret_len);
int sched_maglev_lookup(const struct sched_state *st, uint64_t hash);

uint64_t sched_flow_hash(const struct sched_flow *flow);
/*
 * SipHash-c-d of data under the 128-bit key (k0, k1), little-endian words
 * (sched_hash.c).  With a secret key it is also what hash tables keyed by
 * client addresses use against flooding (the userspace UDP sessions).
 */
uint64_t sched_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len, int c_rounds,
		       int d_rounds);
bool sched_is_prime(uint32_t n);
/*
 * The Linux IPVS scheduler (an ip_vs_NAME module) a kernel data plane uses
 * for kroute scheduler name: the same name where the kernel has it; "mh"
 * for "maglev" (its Maglev hashing); "rr" for "random", NULL and the rest
 * (IPVS has no random choice; rr is kube-proxy's IPVS default).
 */
const char *sched_ipvs_name(const char *name);
