/* SPDX-License-Identifier: Apache-2.0 */
/* The SNAT port range from the node's ephemeral range; see snat_ports.h. */
#include "dataplane/ebpf/snat_ports.h"

#include <ctype.h>
#include <errno.h>

/* One decimal port number at *p (leading blanks skipped); *p moves past it. */
static int port_at(const char **p, unsigned *ret)
{
	const char *s = *p;
	unsigned long v = 0;
	int digits = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	for (; isdigit((unsigned char)*s); s++) {
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return -EINVAL;
		digits++;
	}
	if (!digits)
		return -EINVAL;
	*ret = (unsigned)v;
	*p = s;
	return 0;
}

int ebpf_ephemeral_parse(const char *text, unsigned *lo, unsigned *hi)
{
	const char *p = text;
	unsigned a, b;

	if (port_at(&p, &a) < 0 || port_at(&p, &b) < 0)
		return -EINVAL;
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (*p || a > b)
		return -EINVAL;
	*lo = a;
	*hi = b;
	return 0;
}

enum ebpf_snat_where ebpf_snat_ports_pick(unsigned lo, unsigned hi, struct ebpf_snat_ports *ret)
{
	unsigned from = hi + 1 > EBPF_SNAT_LOWEST ? hi + 1 : EBPF_SNAT_LOWEST;
	unsigned above = 65536 - from;
	unsigned below = lo > EBPF_SNAT_LOWEST ? lo - EBPF_SNAT_LOWEST : 0;

	if (above >= EBPF_SNAT_MIN_PORTS) {
		ret->min = from;
		ret->max = 65535;
		return EBPF_SNAT_ABOVE;
	}
	if (below >= EBPF_SNAT_MIN_PORTS) {
		ret->min = EBPF_SNAT_LOWEST;
		ret->max = lo - 1;
		return EBPF_SNAT_BELOW;
	}
	ret->min = 61000;
	ret->max = 65535;
	return EBPF_SNAT_OVERLAP;
}
