/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --nodeport-addresses as kube-proxy reads it (NodePortAddresses), once for
 * the modes that program NodePorts in the kernel (iptables, nftables): all
 * local addresses, or those inside the given ranges; 127.0.0.1 only with
 * localhost NodePorts (IPv4; ::1 never).  Pure: the caller lists the host's
 * addresses.
 */
#ifndef KROUTE_DATAPLANE_COMMON_NODEPORT_ADDRS_H
#define KROUTE_DATAPLANE_COMMON_NODEPORT_ADDRS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/addr.h"

/*
 * Whether NodePorts answer on every local address of family (no range of
 * the family, or a /0); *ret_has_v4_loopback: the ranges hold 127.0.0.1
 * (as every address does without ranges).
 */
bool nodeport_match_all(const struct cidr *cidrs, size_t n, int family, bool *ret_has_v4_loopback);
/* NodePorts on 127.0.0.1: flag (--iptables-localhost-nodeports), IPv4, and the ranges allow it. */
bool nodeport_localhost(const struct cidr *cidrs, size_t n, int family, bool flag);
/*
 * Whether locals[i] takes NodePorts when not every address does: of the
 * family, inside a range, not a repeat of an earlier one, and not a loopback
 * address unless localhost (IPv4 only).
 */
bool nodeport_addr_ok(const struct cidr *cidrs, size_t n, const struct addr *locals, size_t i,
		      int family, bool localhost);
/*
 * The addresses of locals (n_locals, the host's) that take NodePorts in
 * family, every one or those in the ranges, without repeats; 127.0.0.1 only
 * with localhost NodePorts (flag: --iptables-localhost-nodeports).  Appended
 * to out (room for n_locals); returns how many.  For a mode that needs the
 * list itself (the ebpf mode's socket programs look addresses up).
 */
size_t nodeport_addrs_list(const struct cidr *cidrs, size_t n, const struct addr *locals,
			   size_t n_locals, int family, bool flag, struct addr *out);

#endif
