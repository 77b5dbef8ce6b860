/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An interface that only holds service addresses, so they are local to the
 * node: kroute0 for userspace mode, kube-ipvs0 for IPVS mode.  It is a
 * dummy link, or an empty bridge where the kernel has no dummy driver (up,
 * with carrier, forwarding nothing: all an address holder needs).  Every
 * address is a /32 (/128).  Applied with ip(8) (ip is the program to run;
 * who names the mode in messages), in the current network namespace.
 */
#ifndef KROUTE_DATAPLANE_COMMON_DUMMY_LINK_H
#define KROUTE_DATAPLANE_COMMON_DUMMY_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/addr.h"

struct diag;

bool dummy_link_exists(const char *name);
/*
 * Creates the link when it does not exist (*created then says so) and sets
 * it up.  Returns 0 or a negative errno, with an error in d.
 */
int dummy_link_ensure(const char *ip, const char *name, const char *who, bool *created,
		      struct diag *d);
/* Its addresses, IPv6 link-local ones left out, sorted by addr_cmp; malloc'ed. */
void dummy_link_addrs(const char *name, struct addr **ret, size_t *ret_n);
/*
 * Adds the addresses of want (sorted by addr_cmp) that the link lacks and,
 * when exact, deletes those it has beyond want: one `ip -batch`, nothing
 * run when nothing differs.  Returns 0 or a negative errno, with an error
 * in d.
 */
int dummy_link_set_addrs(const char *ip, const char *name, const struct addr *want, size_t n,
			 bool exact, const char *who, struct diag *d);
/* Deletes the link (with its addresses) when it exists. */
int dummy_link_delete(const char *ip, const char *name, const char *who, struct diag *d);

#endif
