/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deterministic hashes used by the schedulers. Everything here is a pure
 * function of its input and fixed, documented keys: the same flow or endpoint
 * hashes to the same value in every process, on every node and across
 * restarts, which is what makes sh, dh, mh and maglev stable. No I/O.
 *
 * - SipHash-c-d (Aumasson and Bernstein), written from the paper's
 *   description. Messages are read as little-endian 64-bit words, so results
 *   do not depend on the host's byte order.
 * - The IPVS mh key hash: the Linux 64-bit hsiphash(), which is SipHash-1-3
 *   truncated to 32 bits, over one 32-bit word, with the fixed IPVS keys.
 * - sched_flow_hash(): SipHash-1-3 of a packed 5-tuple, for maglev.
 * - sched_dest_hash()/sched_dest_key(): SipHash-1-3 of an endpoint's
 *   (family, port, address), for maglev permutations and identity keys.
 */
#include <string.h>

#include "sched/sched_internal.h"

static inline uint64_t rotl64(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#define SIPROUND(v0, v1, v2, v3)                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = rotl64(v1, 13);                                                               \
		v1 ^= v0;                                                                          \
		v0 = rotl64(v0, 32);                                                               \
		v2 += v3;                                                                          \
		v3 = rotl64(v3, 16);                                                               \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = rotl64(v3, 21);                                                               \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = rotl64(v1, 17);                                                               \
		v1 ^= v2;                                                                          \
		v2 = rotl64(v2, 32);                                                               \
	} while (0)

/*
 * SipHash with c compression and d finalisation rounds and a 64-bit result.
 * k0/k1 are the two little-endian halves of the 128-bit key. c=2, d=4 is the
 * standard SipHash-2-4 (the unit tests check the paper's test vectors); c=1,
 * d=3 is what Linux uses for hsiphash on 64-bit machines.
 */
uint64_t sched_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len, int c_rounds,
		       int d_rounds)
{
	const uint8_t *p = data;
	uint64_t v0 = 0x736f6d6570736575ull ^ k0;
	uint64_t v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0;
	uint64_t v3 = 0x7465646279746573ull ^ k1;
	uint64_t b = (uint64_t)len << 56;
	size_t full = len & ~(size_t)7;

	for (size_t off = 0; off < full; off += 8) {
		uint64_t m = load_le64(p + off);

		v3 ^= m;
		for (int i = 0; i < c_rounds; i++)
			SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (size_t i = 0; i < (len & 7); i++)
		b |= (uint64_t)p[full + i] << (8 * i);

	v3 ^= b;
	for (int i = 0; i < c_rounds; i++)
		SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	for (int i = 0; i < d_rounds; i++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/*
 * ip_vs_mh_hashkey() on a 64-bit kernel: hsiphash(&v, 4, key) where both key
 * words are the same IPVS constant. v is read as a little-endian word.
 */
uint32_t sched_ipvs_hsiphash(uint64_t key, uint32_t v)
{
	uint8_t buf[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };

	return (uint32_t)sched_siphash(key, key, buf, sizeof(buf), 1, 3);
}

/* Fixed keys: the ASCII strings "kroute-flowhash!" and "kroute-dest-key!" as two LE words. */
#define FLOW_K0 0x662d6574756f726bull
#define FLOW_K1 0x2168736168776f6cull
#define DEST_K0 0x642d6574756f726bull
#define DEST_K1 0x2179656b2d747365ull

/*
 * Maglev flow hash. The 5-tuple is packed as
 *   IPv4: family, proto, sport (BE), dport (BE), 2 zero bytes, saddr[4], daddr[4]   (16 bytes)
 *   IPv6: family, proto, sport (BE), dport (BE), 2 zero bytes, saddr[16], daddr[16] (40 bytes)
 * and hashed with SipHash-1-3 under the key above. Ports count only for TCP,
 * UDP and SCTP (zero otherwise), so ICMP echo flows hash by address pair.
 */
uint64_t sched_flow_hash(const struct sched_flow *flow)
{
	uint8_t buf[40];
	size_t alen = sched_addr_len(flow->family);
	uint16_t sport = 0, dport = 0;

	if (sched_proto_has_ports(flow->proto)) {
		sport = flow->sport;
		dport = flow->dport;
	}
	buf[0] = flow->family;
	buf[1] = flow->proto;
	buf[2] = sport >> 8;
	buf[3] = sport & 0xff;
	buf[4] = dport >> 8;
	buf[5] = dport & 0xff;
	buf[6] = 0;
	buf[7] = 0;
	memcpy(buf + 8, flow->saddr, alen);
	memcpy(buf + 8 + alen, flow->daddr, alen);
	return sched_siphash(FLOW_K0, FLOW_K1, buf, 8 + 2 * alen, 1, 3);
}

/*
 * SipHash-1-3 of an endpoint's identity under the key (k0, k1), packed as
 * family, port (BE, 2 bytes), address (4 or 16 bytes).
 */
uint64_t sched_dest_hash(const struct sched_dest *d, uint64_t k0, uint64_t k1)
{
	uint8_t buf[19];
	size_t alen = sched_addr_len(d->family);

	buf[0] = d->family;
	buf[1] = d->port >> 8;
	buf[2] = d->port & 0xff;
	memcpy(buf + 3, d->addr, alen);
	return sched_siphash(k0, k1, buf, 3 + alen, 1, 3);
}

/* Identity key of an endpoint, to find it again after the array changed. */
uint64_t sched_dest_key(const struct sched_dest *d)
{
	return sched_dest_hash(d, DEST_K0, DEST_K1);
}
