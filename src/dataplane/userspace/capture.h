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
 * Applied through ip(8) and nft(8), in the current network namespace, with
 * the mode-neutral pieces of src/dataplane/common/ (dummy_link, nft_script).
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
/*
 * Makes kroute0 exist (*created: by this call), be up and hold at least
 * vips, or exactly vips when exact (sorted by addr_cmp).
 */
int us_capture_vips(const struct dp_opts *o, const struct addr *vips, size_t n, bool exact,
		    bool *created, struct diag *d);
/*
 * Undoes us_capture_vips after a later step failed: kroute0 holds exactly
 * before again (what us_capture_vips_now said), or is deleted when that
 * call created it.
 */
int us_capture_vips_restore(const struct dp_opts *o, const struct addr *before, size_t n,
			    bool created, struct diag *d);
/* kroute0's addresses now, sorted. */
void us_capture_vips_now(struct addr **ret, size_t *ret_n);
/* Replaces table inet kroute_userspace with script (one nft -f transaction). */
int us_capture_nft(const struct dp_opts *o, const char *script, struct diag *d);
int us_capture_tproxy_routing(const struct dp_opts *o, struct diag *d);
int us_capture_cleanup(const struct dp_opts *o, struct diag *d);

#endif
