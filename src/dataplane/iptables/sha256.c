/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 as FIPS 180-4 section 6.2 specifies it: 64-byte blocks, a
 * 64-word message schedule, eight working variables, big-endian words and a
 * 64-bit big-endian bit length in the final padding.  Pure computation, no
 * allocation.
 *
 * Two implementations of the block function: portable C, and one with the
 * x86 SHA extensions (SHA-NI) chosen at run time when the CPU has them.
 * The renderer hashes once per endpoint, 100,000+ times for a large
 * cluster, and portable C (about 20 cycles a byte) was half of the whole
 * rendering time.  Both are tested against the FIPS / NIST example vectors
 * and against each other in tests/unit/test_iptables_render.c.
 */
#include "dataplane/iptables/sha256.h"

#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SHA256_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* First 32 bits of the fractional parts of the cube roots of the first 64 primes (4.2.2). */
static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One block (6.2.2): message schedule, then 64 rounds, then add into h. */
static void sha256_block_c(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64];
	uint32_t a, b, c, d, e, f, g, hh;

	for (int t = 0; t < 16; t++)
		w[t] = load_be32(p + 4 * t);
	for (int t = 16; t < 64; t++) {
		uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);

		w[t] = s1 + w[t - 7] + s0 + w[t - 16];
	}
	a = h[0];
	b = h[1];
	c = h[2];
	d = h[3];
	e = h[4];
	f = h[5];
	g = h[6];
	hh = h[7];
	for (int t = 0; t < 64; t++) {
		uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = hh + s1 + ch + sha256_k[t] + w[t];
		uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = s0 + maj;

		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += hh;
}

static void sha256_blocks_c(uint32_t h[8], const uint8_t *p, size_t n)
{
	for (; n; n--, p += SHA256_BLOCK_LEN)
		sha256_block_c(h, p);
}

#ifdef SHA256_X86
/*
 * The same computation with SHA-NI.  The state lives in two registers as
 * the instructions want it: ABEF and CDGH (a in the high lane).  Each group
 * of four rounds adds four message words to four round constants and runs
 * SHA256RNDS2 twice; SHA256MSG1 / SHA256MSG2 compute the message schedule
 * (section 6.2.2 step 1) four words at a time, in the four registers m[].
 */
__attribute__((target("sha,sse4.1,ssse3")))
static void sha256_blocks_ni(uint32_t h[8], const uint8_t *p, size_t n)
{
	/* Byte order: each 32-bit word of the block is big-endian. */
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i tmp = _mm_loadu_si128((const __m128i *)&h[0]);   /* d c b a */
	__m128i st1 = _mm_loadu_si128((const __m128i *)&h[4]);   /* h g f e */
	__m128i st0;

	tmp = _mm_shuffle_epi32(tmp, 0xB1);          /* c d a b */
	st1 = _mm_shuffle_epi32(st1, 0x1B);          /* e f g h */
	st0 = _mm_alignr_epi8(tmp, st1, 8);          /* a b e f */
	st1 = _mm_blend_epi16(st1, tmp, 0xF0);       /* c d g h */

	for (; n; n--, p += SHA256_BLOCK_LEN) {
		__m128i save0 = st0, save1 = st1, m[4], msg;

		for (int g = 0; g < 16; g++) {
			int q = g & 3;

			if (g < 4)
				m[q] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)),
							bswap);
			msg = _mm_add_epi32(m[q], _mm_loadu_si128((const __m128i *)&sha256_k[4 * g]));
			st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
			if (g >= 3 && g < 15) {
				/* W[t] for the next group: sigma1 part, plus W[t-7]. */
				__m128i w7 = _mm_alignr_epi8(m[q], m[(q + 3) & 3], 4);

				m[(q + 1) & 3] = _mm_add_epi32(m[(q + 1) & 3], w7);
				m[(q + 1) & 3] = _mm_sha256msg2_epu32(m[(q + 1) & 3], m[q]);
			}
			msg = _mm_shuffle_epi32(msg, 0x0E);
			st0 = _mm_sha256rnds2_epu32(st0, st1, msg);
			if (g >= 1 && g <= 12) /* sigma0 part of W[t+12..] */
				m[(q + 3) & 3] = _mm_sha256msg1_epu32(m[(q + 3) & 3], m[q]);
		}
		st0 = _mm_add_epi32(st0, save0);
		st1 = _mm_add_epi32(st1, save1);
	}

	tmp = _mm_shuffle_epi32(st0, 0x1B);          /* f e b a */
	st1 = _mm_shuffle_epi32(st1, 0xB1);          /* d c h g */
	st0 = _mm_blend_epi16(tmp, st1, 0xF0);       /* d c b a */
	st1 = _mm_alignr_epi8(st1, tmp, 8);          /* h g f e */
	_mm_storeu_si128((__m128i *)&h[0], st0);
	_mm_storeu_si128((__m128i *)&h[4], st1);
}

static bool cpu_has_sha_ni(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3))
		return false;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return false;
	return b & (1u << 29); /* CPUID.(EAX=7,ECX=0):EBX.SHA */
}
#endif

typedef void blocks_fn(uint32_t h[8], const uint8_t *p, size_t n);

/* 0: not chosen yet, 1: portable, 2: SHA-NI.  Racing first calls agree. */
static int sha256_impl;

static blocks_fn *sha256_blocks_fn(void)
{
	int impl = __atomic_load_n(&sha256_impl, __ATOMIC_RELAXED);

	if (!impl) {
		impl = 1;
#ifdef SHA256_X86
		if (cpu_has_sha_ni())
			impl = 2;
#endif
		__atomic_store_n(&sha256_impl, impl, __ATOMIC_RELAXED);
	}
#ifdef SHA256_X86
	if (impl == 2)
		return sha256_blocks_ni;
#endif
	return sha256_blocks_c;
}

bool sha256_accelerated(void)
{
	return sha256_blocks_fn() != sha256_blocks_c;
}

void sha256_force_portable(bool on)
{
	__atomic_store_n(&sha256_impl, on ? 1 : 0, __ATOMIC_RELAXED);
}

void sha256_init(struct sha256_ctx *c)
{
	/* First 32 bits of the fractional parts of the square roots of the first 8 primes (5.3.3). */
	static const uint32_t h0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(c->h, h0, sizeof(h0));
	c->n_bytes = 0;
	c->n_block = 0;
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	c->n_bytes += len;
	if (c->n_block) {
		size_t take = SHA256_BLOCK_LEN - c->n_block;

		if (take > len)
			take = len;
		memcpy(c->block + c->n_block, p, take);
		c->n_block += take;
		p += take;
		len -= take;
		if (c->n_block < SHA256_BLOCK_LEN)
			return;
		sha256_blocks_fn()(c->h, c->block, 1);
		c->n_block = 0;
	}
	if (len >= SHA256_BLOCK_LEN) {
		sha256_blocks_fn()(c->h, p, len / SHA256_BLOCK_LEN);
		p += len & ~(size_t)(SHA256_BLOCK_LEN - 1);
		len &= SHA256_BLOCK_LEN - 1;
	}
	memcpy(c->block, p, len);
	c->n_block = len;
}

void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_DIGEST_LEN])
{
	uint64_t bits = c->n_bytes * 8;

	/* Padding (5.1.1): a 1 bit, zeros, then the length in the last 8 bytes. */
	c->block[c->n_block++] = 0x80;
	if (c->n_block > SHA256_BLOCK_LEN - 8) {
		memset(c->block + c->n_block, 0, SHA256_BLOCK_LEN - c->n_block);
		sha256_blocks_fn()(c->h, c->block, 1);
		c->n_block = 0;
	}
	memset(c->block + c->n_block, 0, SHA256_BLOCK_LEN - 8 - c->n_block);
	for (int i = 0; i < 8; i++)
		c->block[SHA256_BLOCK_LEN - 1 - i] = (uint8_t)(bits >> (8 * i));
	sha256_blocks_fn()(c->h, c->block, 1);
	for (int i = 0; i < 8; i++)
		store_be32(out + 4 * i, c->h[i]);
}

void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_LEN])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final(&c, out);
}
