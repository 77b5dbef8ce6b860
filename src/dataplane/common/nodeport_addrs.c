/* SPDX-License-Identifier: Apache-2.0 */
/* --nodeport-addresses, read once for every mode (nodeport_addrs.h). */
#include "dataplane/common/nodeport_addrs.h"

#include <netinet/in.h>
#include <string.h>

bool nodeport_match_all(const struct cidr *cidrs, size_t n, int family, bool *ret_has_v4_loopback)
{
	struct addr lo = { .family = AF_INET, .bytes = { 127, 0, 0, 1 } };
	bool any = false;

	*ret_has_v4_loopback = false;
	for (size_t i = 0; i < n; i++) {
		const struct cidr *cr = &cidrs[i];

		if (cr->addr.family != family)
			continue;
		any = true;
		if (family == AF_INET && cidr_contains(cr, &lo))
			*ret_has_v4_loopback = true;
		if (cr->prefix == 0)
			return true;
	}
	if (!any)
		*ret_has_v4_loopback = family == AF_INET; /* as 0.0.0.0/0 */
	return !any;
}

bool nodeport_localhost(const struct cidr *cidrs, size_t n, int family, bool flag)
{
	bool has_v4_lo;

	(void)nodeport_match_all(cidrs, n, family, &has_v4_lo);
	return flag && family == AF_INET && has_v4_lo;
}

/* 127.0.0.0/8 or ::1: addresses NodePorts are not reached on unless allowed. */
static bool is_loopback(const struct addr *a)
{
	static const uint8_t v6_lo[16] = { [15] = 1 };

	if (a->family == AF_INET)
		return a->bytes[0] == 127;
	return a->family == AF_INET6 && memcmp(a->bytes, v6_lo, 16) == 0;
}

bool nodeport_addr_ok(const struct cidr *cidrs, size_t n, const struct addr *locals, size_t i,
		      int family, bool localhost)
{
	const struct addr *a = &locals[i];
	bool in = false;

	if (a->family != family)
		return false;
	for (size_t k = 0; k < n && !in; k++)
		in = cidrs[k].addr.family == family && cidr_contains(&cidrs[k], a);
	for (size_t k = 0; k < i && in; k++)
		if (addr_eq(&locals[k], a))
			return false;
	if (is_loopback(a) && (family == AF_INET6 || !localhost))
		return false;
	return in;
}

size_t nodeport_addrs_list(const struct cidr *cidrs, size_t n, const struct addr *locals,
			   size_t n_locals, int family, bool flag, struct addr *out)
{
	static const struct cidr all[2] = { { .addr = { .family = AF_INET } },
					    { .addr = { .family = AF_INET6 } } };
	bool has_v4_lo, localhost = nodeport_localhost(cidrs, n, family, flag);
	size_t m = 0;

	/* every address: the same test against a /0 of the family */
	if (nodeport_match_all(cidrs, n, family, &has_v4_lo)) {
		cidrs = &all[family == AF_INET6];
		n = 1;
	}
	for (size_t i = 0; i < n_locals; i++)
		if (nodeport_addr_ok(cidrs, n, locals, i, family, localhost))
			out[m++] = locals[i];
	return m;
}
