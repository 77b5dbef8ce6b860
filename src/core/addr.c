/* SPDX-License-Identifier: Apache-2.0 */
/* Address parsing and formatting; see addr.h. */
#include "core/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/*
 * The API server rejects IPv4 octets with leading zeros because some
 * resolvers read them as octal; inet_pton may accept them, so check first.
 */
static bool ipv4_has_leading_zero(const char *s)
{
	for (const char *p = s; *p; p++) {
		bool start = (p == s || p[-1] == '.');

		if (start && p[0] == '0' && p[1] >= '0' && p[1] <= '9')
			return true;
	}
	return false;
}

int addr_parse(const char *s, struct addr *ret)
{
	struct addr a = { 0 };

	if (!s || !*s || strlen(s) >= ADDR_STRLEN)
		return -EINVAL;
	if (strchr(s, ':')) {
		if (inet_pton(AF_INET6, s, a.bytes) != 1)
			return -EINVAL;
		a.family = AF_INET6;
	} else {
		if (ipv4_has_leading_zero(s) || inet_pton(AF_INET, s, a.bytes) != 1)
			return -EINVAL;
		a.family = AF_INET;
	}
	*ret = a;
	return 0;
}

int cidr_parse(const char *s, struct cidr *ret)
{
	char buf[ADDR_STRLEN + 8];
	const char *slash;
	char *end;
	long prefix;
	struct cidr c;

	slash = s ? strchr(s, '/') : NULL;
	if (!slash || (size_t)(slash - s) >= ADDR_STRLEN)
		return -EINVAL;
	memcpy(buf, s, slash - s);
	buf[slash - s] = '\0';
	if (addr_parse(buf, &c.addr) < 0)
		return -EINVAL;
	if (slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	errno = 0;
	prefix = strtol(slash + 1, &end, 10);
	if (errno || *end || prefix < 0 || prefix > (c.addr.family == AF_INET ? 32 : 128))
		return -EINVAL;
	c.prefix = (uint8_t)prefix;
	*ret = c;
	return 0;
}

static size_t addr_len(const struct addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

bool addr_eq(const struct addr *a, const struct addr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, addr_len(a)) == 0;
}

int addr_cmp(const struct addr *a, const struct addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, addr_len(a));
}

int addr_cmp_qsort(const void *a, const void *b)
{
	return addr_cmp(a, b);
}

bool cidr_contains(const struct cidr *c, const struct addr *a)
{
	unsigned bits = c->prefix, i;

	if (c->addr.family != a->family)
		return false;
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (c->addr.bytes[i] != a->bytes[i])
			return false;
	if (bits) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits));

		if ((c->addr.bytes[i] & mask) != (a->bytes[i] & mask))
			return false;
	}
	return true;
}

void addr_format(const struct addr *a, char buf[ADDR_STRLEN])
{
	if (!a->family || !inet_ntop(a->family, a->bytes, buf, ADDR_STRLEN))
		snprintf(buf, ADDR_STRLEN, "<none>");
}

static char *put_uint(char *p, unsigned v)
{
	char tmp[12];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

void addr_port_format(const struct addr *a, uint16_t port, char buf[ADDR_PORT_STRLEN])
{
	char ip[ADDR_STRLEN];

	/* IPv4 by hand: the policy formats every endpoint key, 100,000s per sync. */
	if (a->family == AF_INET) {
		char *p = buf;

		for (int i = 0; i < 4; i++) {
			p = put_uint(p, a->bytes[i]);
			*p++ = i < 3 ? '.' : ':';
		}
		p = put_uint(p, port);
		*p = '\0';
		return;
	}

	addr_format(a, ip);
	if (a->family == AF_INET6)
		snprintf(buf, ADDR_PORT_STRLEN, "[%s]:%u", ip, port);
	else
		snprintf(buf, ADDR_PORT_STRLEN, "%s:%u", ip, port);
}

void cidr_format(const struct cidr *c, char buf[ADDR_STRLEN + 4])
{
	char ip[ADDR_STRLEN];

	addr_format(&c->addr, ip);
	snprintf(buf, ADDR_STRLEN + 4, "%s/%u", ip, c->prefix);
}

int addr_port_parse(const char *s, struct addr *ret_addr, uint16_t *ret_port)
{
	char ip[ADDR_STRLEN];
	const char *colon, *ip_start, *ip_end;
	char *end;
	long port;

	if (!s)
		return -EINVAL;
	if (s[0] == '[') {
		ip_start = s + 1;
		ip_end = strchr(s, ']');
		if (!ip_end || ip_end[1] != ':')
			return -EINVAL;
		colon = ip_end + 1;
	} else {
		ip_start = s;
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', colon - s))
			return -EINVAL;
		ip_end = colon;
	}
	if ((size_t)(ip_end - ip_start) >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, ip_start, ip_end - ip_start);
	ip[ip_end - ip_start] = '\0';
	if (addr_parse(ip, ret_addr) < 0)
		return -EINVAL;
	if (colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || port < 0 || port > 65535)
		return -EINVAL;
	*ret_port = (uint16_t)port;
	return 0;
}

int cidr_list_parse(const char *s, struct cidr **ret, size_t *ret_n, char *err, size_t errlen)
{
	char *copy = xstrdup(s), *save = NULL, *tok;
	size_t cap = *ret_n;
	int r = 0;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct cidr c;
		char *end;

		while (*tok == ' ')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && end[-1] == ' ')
			*--end = '\0';
		if (cidr_parse(tok, &c) < 0) {
			snprintf(err, errlen, "\"%s\" is not a valid CIDR", tok);
			r = -EINVAL;
			break;
		}
		VEC_PUSH(*ret, *ret_n, cap, c);
	}
	free(copy);
	return r;
}
