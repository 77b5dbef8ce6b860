/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The IPVS mode's netlink socket (libmnl, NETLINK_GENERIC): resolving the
 * IPVS family (its absence means the kernel has no ip_vs), sending a sync's
 * changes as batches (many requests per sendmsg, every one acknowledged;
 * the kernel applies each on its own, so a failure leaves the others in:
 * the caller repairs from a dump), dumping the virtual services and their
 * real servers with connection counts, and the connection timeouts.
 */
#ifndef KROUTE_DATAPLANE_IPVS_NL_H
#define KROUTE_DATAPLANE_IPVS_NL_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/ipvs/diff.h"

struct diag;
struct mnl_socket;

struct ipvs_nl {
	struct mnl_socket *sock;
	uint16_t family_id;
	uint32_t seq;
};

struct ipvs_apply_info {
	size_t msgs, batches, bytes, failed;
};

/*
 * Opens the socket and resolves the IPVS family.  -EPROTONOSUPPORT when
 * the kernel has no IPVS (an error in d says so and what to do).
 */
int ipvs_nl_open(struct ipvs_nl *n, const char *who, struct diag *d);
void ipvs_nl_close(struct ipvs_nl *n);
/*
 * Sends ops, at most IPVS_BATCH_MSGS requests per sendmsg.  0, or the
 * first failure's negative errno with each failed op named in d (the first
 * few); info counts what was sent.
 */
#define IPVS_BATCH_MSGS 256
int ipvs_nl_apply(struct ipvs_nl *n, const struct ipvs_ops *ops, const char *who,
		  struct ipvs_apply_info *info, struct diag *d);
/* Every address/port virtual service of family with its real servers, into t (initialised). */
int ipvs_nl_dump(struct ipvs_nl *n, int family, struct ipvs_table *t, struct diag *d);
/* Reads the connection counts of s's draining dests (dest.conns). */
int ipvs_nl_read_conns(struct ipvs_nl *n, struct ipvs_svc *s);
/* The TCP, TCP FIN and UDP timeouts in seconds (0 keeps the kernel's). */
int ipvs_nl_set_timeouts(struct ipvs_nl *n, uint32_t tcp, uint32_t tcpfin, uint32_t udp,
			 const char *who, struct diag *d);

#endif
