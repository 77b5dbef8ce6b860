/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 (FIPS 180-4), written for kroute's chain names: kube-proxy names
 * its per-service chains after the SHA-256 of the service port name, so the
 * renderer needs the exact function, not merely a good hash.  Incremental
 * (init / update / final) and one-shot forms.  Not constant-time and not
 * meant for secrets: nothing here handles key material.
 */
#ifndef KROUTE_DATAPLANE_IPTABLES_SHA256_H
#define KROUTE_DATAPLANE_IPTABLES_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_BLOCK_LEN 64

struct sha256_ctx {
	uint32_t h[8];
	uint64_t n_bytes;                 /* message length so far */
	uint8_t block[SHA256_BLOCK_LEN];  /* pending partial block */
	size_t n_block;
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* Writes the digest and leaves c unusable until sha256_init(). */
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_DIGEST_LEN]);
void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_LEN]);

/* Whether the CPU's SHA instructions are used (x86 SHA-NI). */
bool sha256_accelerated(void);
/* Tests: use only the portable code (on), or choose again (off).  Not thread-safe with hashing. */
void sha256_force_portable(bool on);

#endif
