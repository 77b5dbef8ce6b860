/* SPDX-License-Identifier: Apache-2.0 */
/* Stale UDP conntrack entries after a sync; see conntrack.h. */
#include "dataplane/common/conntrack.h"

#include <errno.h>
#include <string.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/diag.h"
#include "core/exec.h"
#include "core/util.h"
#include "policy/policy.h"

void conntrack_udp_mirror_init(struct conntrack_udp_mirror *m)
{
	*m = (struct conntrack_udp_mirror){ 0 };
	strmap_init(&m->index);
}

static void ports_free(struct conntrack_udp_port *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].vips);
		free(v[i].eps);
	}
	free(v);
}

void conntrack_udp_mirror_done(struct conntrack_udp_mirror *m)
{
	ports_free(m->ports, m->n);
	strmap_done(&m->index);
	*m = (struct conntrack_udp_mirror){ 0 };
}

/* The UDP service ports of family in v, with their addresses and endpoints. */
static void udp_ports(const struct node_view *v, int family, struct conntrack_udp_port **ret,
		      size_t *ret_n)
{
	size_t cap = 0;

	*ret = NULL;
	*ret_n = 0;
	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];
		struct conntrack_udp_port m = { 0 };
		size_t vcap = 0;

		if (pv->family != family || pv->port->proto != PROTO_UDP || !pv->n_routes)
			continue;
		m.key = xasprintf("%s:%s:%u/%d", pv->svc->key, pv->port->name, pv->port->port,
				  pv->family);
		m.port = pv->port->port;
		m.node_port = pv->port->node_port;
		for (size_t r = 0; r < pv->n_routes; r++) {
			const struct route *rt = &pv->routes[r];

			if (rt->kind != ROUTE_NODE_PORT && rt->allocated && rt->addr.family)
				VEC_PUSH(m.vips, m.n_vips, vcap, rt->addr);
		}
		m.eps = xcalloc(pv->cat.all.n + 1, sizeof(*m.eps));
		for (size_t k = 0; k < pv->cat.all.n; k++)
			m.eps[m.n_eps++] = pv->cat.all.v[k]->addr;
		VEC_PUSH(*ret, *ret_n, cap, m);
	}
}

static bool has_addr(const struct addr *v, size_t n, const struct addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (addr_eq(&v[i], a))
			return true;
	return false;
}

/* Runs conntrack -D with the given filter; "0 entries deleted" (status 1) is not an error. */
#define CONNTRACK_LIMIT_MS 10000

static int conntrack_delete(const char *program, int family, char **args, struct diag *d)
{
	char *argv[16] = { (char *)program, "-D", "-f", family == AF_INET6 ? "ipv6" : "ipv4",
			   "-p", "udp" };
	struct exec_result res;
	size_t n = 6;
	int r;

	for (size_t i = 0; args[i] && n < ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	/* A conntrack -D is one netlink dump and delete: seconds at worst. */
	r = exec_run_limit(argv, NULL, 0, 0, CONNTRACK_LIMIT_MS, &res);
	if (r == -ENOENT || r == -EACCES) {
		diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
			 "cannot run %s: stale UDP flows are not flushed", program);
		return -ENOENT;
	}
	if (r < 0) {
		/* Stuck or failed this time (e.g. -ETIMEDOUT): skip this round, try again next sync. */
		diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
			 "%s -D: %s; stale UDP flows of this sync are not flushed", program,
			 strerror(-r));
		return r;
	}
	exec_result_done(&res);
	return 0;
}

/*
 * Deletes the UDP flows to each of vips at port and, with node_port, to that
 * port on any address; with ep, only those DNATed to it.  Ports are strings.
 */
static int delete_flows(const struct addr *vips, size_t n_vips, const char *port,
			const char *node_port, const char *ep, int family, const char *program,
			struct diag *d)
{
	int r = 0;

	for (size_t v = 0; v < n_vips && r == 0; v++) {
		char vip[ADDR_STRLEN];
		char *args[] = { "--orig-dst", vip, "--orig-port-dst", (char *)port,
				 ep ? "--dst-nat" : NULL, (char *)ep, NULL };

		addr_format(&vips[v], vip);
		r = conntrack_delete(program, family, args, d);
	}
	if (node_port && r == 0) {
		char *args[] = { "--orig-port-dst", (char *)node_port, ep ? "--dst-nat" : NULL,
				 (char *)ep, NULL };

		r = conntrack_delete(program, family, args, d);
	}
	return r;
}

/*
 * Flows of prev DNATed to endpoints now no longer has, and, when prev had
 * no endpoints and now has some, flows to now's addresses (created while
 * nothing DNATed them).
 */
static int flush_port(const struct conntrack_udp_port *prev, const struct conntrack_udp_port *now,
		      int family, const char *program, struct diag *d)
{
	char port[8], np[8];
	int r = 0;

	snprintf(port, sizeof(port), "%u", now->port);
	snprintf(np, sizeof(np), "%u", now->node_port);
	for (size_t e = 0; e < prev->n_eps && r == 0; e++) {
		char ep[ADDR_STRLEN];

		if (has_addr(now->eps, now->n_eps, &prev->eps[e]))
			continue;
		addr_format(&prev->eps[e], ep);
		r = delete_flows(prev->vips, prev->n_vips, port, prev->node_port ? np : NULL, ep,
				 family, program, d);
	}
	if (r == 0 && !prev->n_eps && now->n_eps)
		r = delete_flows(now->vips, now->n_vips, port, now->node_port ? np : NULL, NULL,
				 family, program, d);
	return r;
}

int conntrack_flush_stale_udp(struct conntrack_udp_mirror *m, const struct node_view *v,
			      int family, const char *program, struct diag *d)
{
	struct conntrack_udp_port *now;
	size_t n_now;
	int r = 0;

	udp_ports(v, family, &now, &n_now);
	for (size_t i = 0; i < n_now && program && r == 0; i++) {
		uintptr_t pos = (uintptr_t)strmap_get(&m->index, now[i].key);
		const struct conntrack_udp_port *prev = pos ? &m->ports[pos - 1] : NULL;

		if (!prev)
			continue;
		r = flush_port(prev, &now[i], family, program, d);
	}
	conntrack_udp_mirror_done(m);
	conntrack_udp_mirror_init(m);
	m->ports = now;
	m->n = n_now;
	for (size_t i = 0; i < n_now; i++)
		strmap_put(&m->index, now[i].key, (void *)(uintptr_t)(i + 1));
	return r;
}
