/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ports the tc program gives a flow it masquerades (pure): outside the
 * node's ephemeral range (net.ipv4.ip_local_port_range), so no SNAT port is
 * one the node's own sockets use.  A node's connection to an endpoint that
 * closed leaves its tuple in TIME_WAIT at the endpoint; a SNAT flow on the
 * same port to the same endpoint would get an ACK for its SYN instead of a
 * SYN-ACK (the node resets it, the client sends its SYN again later).
 * kube-proxy's MASQUERADE does not meet this (conntrack sees the node's
 * sockets too); Cilium keeps its SNAT ports out of the ephemeral range too.
 */
#ifndef KROUTE_DATAPLANE_EBPF_SNAT_PORTS_H
#define KROUTE_DATAPLANE_EBPF_SNAT_PORTS_H

/* Fewer free ports than this above the ephemeral range: look below it too. */
#define EBPF_SNAT_MIN_PORTS 1024u
/* Never below: the well-known ports. */
#define EBPF_SNAT_LOWEST 1024u

enum ebpf_snat_where {
	EBPF_SNAT_ABOVE,   /* above the ephemeral range (the usual case) */
	EBPF_SNAT_BELOW,   /* below it: too few ports above */
	EBPF_SNAT_OVERLAP, /* the ephemeral range leaves too few ports anywhere: the default range */
};

struct ebpf_snat_ports {
	unsigned min, max; /* inclusive */
};

/*
 * The two numbers of ip_local_port_range's text ("32768\t60999\n"): 0, or
 * -EINVAL when it is not two port numbers, the first at most the second.
 */
int ebpf_ephemeral_parse(const char *text, unsigned *lo, unsigned *hi);
/*
 * The SNAT range for the ephemeral range lo-hi (as parsed: lo <= hi <=
 * 65535): above it up to 65535 when that holds EBPF_SNAT_MIN_PORTS, else
 * EBPF_SNAT_LOWEST up to below it when that does, else 61000-65535
 * (overlapping it: the collisions above are possible again).
 */
enum ebpf_snat_where ebpf_snat_ports_pick(unsigned lo, unsigned hi, struct ebpf_snat_ports *ret);

#endif
