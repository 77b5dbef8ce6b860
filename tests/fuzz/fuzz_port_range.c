/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the ebpf mode's reading of ip_local_port_range
 * (src/dataplane/ebpf/snat_ports.c): arbitrary bytes as the sysctl's text;
 * what parses must be two ports in order, and the SNAT range picked for
 * them must be a valid range of ports from 1024, outside them unless the
 * pick says it overlaps.  A violation aborts (a finding).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/ebpf/snat_ports.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct ebpf_snat_ports sp;
	enum ebpf_snat_where where;
	unsigned lo, hi;

	memcpy(text, data, size);
	text[size] = '\0';
	if (ebpf_ephemeral_parse(text, &lo, &hi) == 0) {
		if (lo > hi || hi > 65535)
			abort();
		where = ebpf_snat_ports_pick(lo, hi, &sp);
		if (sp.min < EBPF_SNAT_LOWEST || sp.min > sp.max || sp.max > 65535)
			abort();
		if (where != EBPF_SNAT_OVERLAP &&
		    (!(sp.max < lo || sp.min > hi) || sp.max - sp.min + 1 < EBPF_SNAT_MIN_PORTS))
			abort();
	}
	free(text);
	return 0;
}
