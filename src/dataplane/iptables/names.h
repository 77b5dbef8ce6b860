/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube-proxy's iptables chain names.  A service port's chains are
 * KUBE-SVC-, KUBE-SVL-, KUBE-EXT- and KUBE-FW- followed by a 16-character
 * tag; an endpoint's chain is KUBE-SEP- and its own tag.  The tag is the
 * first 16 characters of the standard base32 (RFC 4648) encoding of
 * SHA-256 over servicePortName + protocol (+ "ip:port" for an endpoint),
 * exactly as upstream computes it, so that chains stay stable across
 * restarts and match what kube-proxy would have created on the same node.
 * Pure string functions; no allocation.
 */
#ifndef KROUTE_DATAPLANE_IPTABLES_NAMES_H
#define KROUTE_DATAPLANE_IPTABLES_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define IPT_TAG_LEN 16
/* iptables' chain-name limit is 28 characters; plus the NUL. */
#define IPT_CHAIN_NAME_MAX 29

#define IPT_PREFIX_SVC "KUBE-SVC-"
#define IPT_PREFIX_SVL "KUBE-SVL-"
#define IPT_PREFIX_EXT "KUBE-EXT-"
#define IPT_PREFIX_FW "KUBE-FW-"
#define IPT_PREFIX_SEP "KUBE-SEP-"

/*
 * The tag of the concatenation a + b + c (any may be NULL): kube-proxy's
 * portProtoHash(servicePortName, protocol) is a = servicePortName,
 * b = "tcp"/"udp"/"sctp"; its endpoint chain adds c = "ip:port".
 * out is not NUL-terminated.
 */
void ipt_tag(const char *a, const char *b, const char *c, char out[IPT_TAG_LEN]);

/* prefix + tag, NUL-terminated, into out. */
void ipt_chain_name(const char *prefix, const char tag[IPT_TAG_LEN],
		    char out[IPT_CHAIN_NAME_MAX]);

/*
 * Whether name is a per-service or per-endpoint chain kroute (or
 * kube-proxy) creates: the chains a stale-chain sweep may delete.
 */
bool ipt_is_service_chain(const char *name);

#endif
