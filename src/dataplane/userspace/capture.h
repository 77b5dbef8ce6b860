/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel help the userspace proxy needs, and nothing more:
 *  - a dummy interface, kroute0, holding every ClusterIP, load-balancer
 *    IP and externalIP as a /32 (/128), so they are local addresses the
 *    proxy can listen on (IPVS mode does the same with kube-ipvs0);
 *  - one nft table, inet kroute_userspace: the DROP outcomes, and the
 *    socket-mark rule for source-preserving (transparent) connections;
 *  - one policy-routing rule (fwmark US_TPROXY_MARK -> table
 *    US_TPROXY_TABLE: local 0.0.0.0/0 dev lo) per family, which delivers
 *    replies addressed to a client back to the transparent socket.
 * Applied through ip(8) and nft(8), in the current network namespace.
 */
#ifndef KROUTE_DATAPLANE_USERSPACE_CAPTURE_H
#define KROUTE_DATAPLANE_USERSPACE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct dp_opts;
struct diag;

#define US_IFNAME "kroute0"
#define US_TPROXY_MARK 0x00400000u
#define US_TPROXY_TABLE 4751
#define US_TPROXY_PRIO 4751

/* The node's addresses: every one (with_vips) or without kroute0's. */
void us_capture_local_addrs(bool with_vips, struct addr **ret, size_t *ret_n);
/* Makes kroute0 exist, be up and hold at least vips (add_only) or exactly vips (sorted). */
int us_capture_vips(const struct dp_opts *o, const struct addr *vips, size_t n, bool add_only,
		    struct diag *d);
int us_capture_nft(const struct dp_opts *o, const char *script, struct diag *d);
int us_capture_tproxy_routing(const struct dp_opts *o, struct diag *d);
int us_capture_cleanup(const struct dp_opts *o, struct diag *d);

#endif
