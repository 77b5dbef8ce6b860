/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure part of `kroute cleanup --kube-proxy` (kube_proxy_cleanup.c; the
 * command itself is kube_proxy_cleanup() in dataplane.h).
 */
#ifndef KROUTE_DATAPLANE_KUBE_PROXY_CLEANUP_H
#define KROUTE_DATAPLANE_KUBE_PROXY_CLEANUP_H

struct sbuf;

/*
 * Appends to in the iptables-restore --noflush input that removes
 * kube-proxy's chains from table (nat, filter or mangle), given that
 * table's iptables-save output: each of them declared (flushed), every rule
 * of another chain that jumps (-j) or goes (-g) to one of them deleted,
 * each deleted.  Nothing when the table holds none of them.
 */
void kube_proxy_cleanup_input(const char *table, const char *save, struct sbuf *in);

#endif
