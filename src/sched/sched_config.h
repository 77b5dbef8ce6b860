/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsers for the scheduler annotations on a Service. Pure functions: they
 * read a string, fill a result and, on error, write one human-readable line
 * naming the offending token into the caller's buffer (err may be NULL,
 * errlen 0). No I/O, no logging.
 *
 * kroute.io/scheduler: <name>
 *	One of the names of sched_info_get(): random, rr, wrr, lc, wlc, sed, nq,
 *	fo, ovf, lblc, lblcr, dh, sh, mh, twos, maglev. Surrounding blanks are
 *	ignored; names are lower case. Absent annotation = "random".
 *
 * kroute.io/scheduler-flags: <flag>[,<flag>...]
 *	sh-fallback, sh-port, mh-fallback, mh-port (the IPVS flags), and
 *	maglev-table-size=N (a prime, 251..16777213; default 65537) and
 *	mh-table-size=N (one of 251, 509, 1021, 2039, 4093, 8191, 16381, 32749,
 *	65521, 131071; default 4093). Blanks around tokens are ignored; an empty
 *	value means no flags; empty tokens ("a,,b") are errors. Flags that do
 *	not apply to the chosen scheduler are accepted and ignored, as ipvsadm
 *	does. A size given twice with different values is an error.
 *
 * kroute.io/endpoint-weights: <entry>[,<entry>...]
 *	entry := address "=" weight | address ":" port "=" weight
 *	address := IPv4 dotted quad | IPv6 (bare, without port) | "[" IPv6 "]"
 *	IPv6 with a port must be bracketed: "[fd00::1]:8080=3".
 *	weight := decimal 0..65535 (0 = quiesced: no new flows); port 1..65535.
 *	Example: "10.0.0.1=3, 10.0.0.2:8080=0, [fd00::1]:8080=5, fd00::2=7".
 *	An ip:port entry beats an ip-only entry for the same address, whatever
 *	the order. The same key twice is an error. Endpoints not listed keep
 *	their weight (default 1); entries that match no endpoint are ignored
 *	(endpoints come and go). At most SCHED_WEIGHT_RULES_MAX entries.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct sched_config;
struct sched_dest;

#define SCHED_WEIGHT_RULES_MAX 4096

struct sched_weight_rule {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network byte order */
	uint16_t port;		/* host order; 0 = any port of that address */
	uint32_t weight;
};

int sched_parse_name(const char *s, const char **ret_name, char *err, size_t errlen);
int sched_parse_flags(const char *s, struct sched_config *cfg, char *err, size_t errlen);
int sched_parse_weights(const char *s, struct sched_weight_rule **ret_rules, size_t *ret_n,
			char *err, size_t errlen);
size_t sched_weights_apply(const struct sched_weight_rule *rules, size_t n_rules,
			   struct sched_dest *dests, size_t n_dests);
