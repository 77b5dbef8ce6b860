/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chain-name tags: SHA-256, then RFC 4648 base32 of the digest's first 10
 * bytes (80 bits = exactly the 16 characters kube-proxy keeps; the rest of
 * the encoding would be thrown away, so it is never computed).
 */
#include "dataplane/iptables/names.h"

#include <string.h>

#include "dataplane/iptables/sha256.h"

void ipt_tag(const char *a, const char *b, const char *c, char out[IPT_TAG_LEN])
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	struct sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_LEN];

	sha256_init(&ctx);
	if (a)
		sha256_update(&ctx, a, strlen(a));
	if (b)
		sha256_update(&ctx, b, strlen(b));
	if (c)
		sha256_update(&ctx, c, strlen(c));
	sha256_final(&ctx, d);
	/* Two 5-byte groups, each 40 bits = 8 base32 digits, most significant first. */
	for (int g = 0; g < 2; g++) {
		const uint8_t *p = d + 5 * g;
		uint64_t v = (uint64_t)p[0] << 32 | (uint64_t)p[1] << 24 | (uint64_t)p[2] << 16 |
			     (uint64_t)p[3] << 8 | p[4];

		for (int i = 0; i < 8; i++)
			out[8 * g + i] = alphabet[(v >> (35 - 5 * i)) & 31];
	}
}

void ipt_chain_name(const char *prefix, const char tag[IPT_TAG_LEN], char out[IPT_CHAIN_NAME_MAX])
{
	size_t n = strlen(prefix);

	/* The longest prefix is 9 characters: 9 + 16 = 25 < 28. */
	memcpy(out, prefix, n);
	memcpy(out + n, tag, IPT_TAG_LEN);
	out[n + IPT_TAG_LEN] = '\0';
}

bool ipt_is_service_chain(const char *name)
{
	static const char *const prefixes[] = {
		IPT_PREFIX_SVC, IPT_PREFIX_SVL, IPT_PREFIX_EXT, IPT_PREFIX_FW, IPT_PREFIX_SEP,
	};

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}
