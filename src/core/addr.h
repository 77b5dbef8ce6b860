/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IP addresses, CIDRs and "ip:port" strings.  Addresses are kept in network
 * byte order with their family so they can be compared and hashed as bytes;
 * text forms are canonical (inet_ntop), which is what Kubernetes compares
 * endpoints by.
 */
#ifndef KROUTE_CORE_ADDR_H
#define KROUTE_CORE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADDR_STRLEN 46        /* INET6_ADDRSTRLEN */
#define ADDR_PORT_STRLEN 56   /* "[" addr "]:" port */

struct addr {
	uint8_t family; /* AF_INET or AF_INET6; 0 = unset */
	uint8_t bytes[16];
};

struct cidr {
	struct addr addr;
	uint8_t prefix;
};

/* Strict parse of a bare IP (no brackets, no zone, no leading zeros in IPv4). */
int addr_parse(const char *s, struct addr *ret);
int cidr_parse(const char *s, struct cidr *ret);
bool addr_eq(const struct addr *a, const struct addr *b);
int addr_cmp(const struct addr *a, const struct addr *b);
/* addr_cmp for qsort and bsearch over arrays of struct addr. */
int addr_cmp_qsort(const void *a, const void *b);
bool cidr_contains(const struct cidr *c, const struct addr *a);
void addr_format(const struct addr *a, char buf[ADDR_STRLEN]);
/* "10.0.0.1:80" or "[fd00::1]:80". */
void addr_port_format(const struct addr *a, uint16_t port, char buf[ADDR_PORT_STRLEN]);
void cidr_format(const struct cidr *c, char buf[ADDR_STRLEN + 4]);
/*
 * Comma-separated CIDRs (blanks around items allowed), appended to *ret.
 * On error returns -EINVAL and puts the bad item in err.
 */
int cidr_list_parse(const char *s, struct cidr **ret, size_t *ret_n, char *err, size_t errlen);
/* Parses "ip:port" or "[ip6]:port"; port must be 0..65535. */
int addr_port_parse(const char *s, struct addr *ret_addr, uint16_t *ret_port);

#endif
