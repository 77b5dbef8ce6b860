/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes API source: lists and then watches Services,
 * EndpointSlices (discovery.k8s.io/v1) and this node's Node, as kube-proxy
 * does, and hands what changed to the store (one origin per kind).  HTTP is
 * libcurl's multi interface driven by the agent's loop: curl's sockets and
 * its timer are registered there, so the agent never blocks on the network.
 *
 * Lists are paginated (limit=500 + continue); watches start at the list's
 * resourceVersion with bookmarks, and follow every event's.  A watch that
 * ends is started again; a failure (unreachable, HTTP error, a line over
 * KUBE_MAX_LINE) retries with exponential backoff and jitter, keeping the
 * store's objects (so the rules stay) and reporting how old the view is;
 * 410 Gone (or an ERROR event with code 410) lists again.
 */
#ifndef KROUTE_SOURCE_KUBE_KUBE_H
#define KROUTE_SOURCE_KUBE_KUBE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/diag.h"
#include "source/source.h"

struct loop;

struct kube_source_opts {
	const char *kubeconfig;          /* --kubeconfig, or NULL */
	const char *master;              /* --master, or NULL; both NULL: in-cluster */
	const char *node;                /* this node: its Node is watched; NULL: every Node */
	const char *service_proxy_name;  /* --service-proxy-name, or NULL */
	bool fail_fast;                  /* explain, --once: the first failure stops, no retry */
	/*
	 * Called with what happened on the network (failures, bad events) as it
	 * happens, on the loop's thread: the agent prints it (sources never
	 * print).  NULL: reports wait for the next refresh (or the wait below).
	 */
	void (*report)(struct diag *d, void *userdata);
	void *report_userdata;
};

extern const struct source_ops kube_source_ops;

/* The options are borrowed.  NULL when the client config is wrong (reported in d). */
struct source *kube_source_new(const struct kube_source_opts *o, struct diag *d);

/*
 * Runs l (src attached to it) until every kind has been listed once, the
 * source failed (fail_fast) or timeout_ns passed.  Reports go to d.
 * Returns 0, -EIO (failed) or -ETIMEDOUT.
 */
int kube_source_wait_synced(struct source *src, struct loop *l, uint64_t timeout_ns,
			    struct diag *d);

#endif
