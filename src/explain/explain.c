/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute explain: the node view as JSON or as a table.  Pure formatting of
 * what the policy computed; no decisions are made here.
 */
#include "explain/explain.h"

#include <inttypes.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "explain/jsonw.h"

static bool keep(const struct port_view *pv, const struct explain_opts *o)
{
	return !o->service || streq(pv->svc->key, o->service);
}

size_t explain_count(const struct node_view *v, const struct explain_opts *o)
{
	size_t n = 0;

	for (size_t i = 0; i < v->n_ports; i++)
		n += keep(&v->ports[i], o);
	return n;
}

static void port_label(const struct port_view *pv, char *buf, size_t len)
{
	if (*pv->port->name)
		snprintf(buf, len, "%s", pv->port->name);
	else
		snprintf(buf, len, "%u", pv->port->port);
}

static void route_address(const struct route *r, int family, char buf[ADDR_PORT_STRLEN])
{
	struct addr any = { .family = (uint8_t)family };

	addr_port_format(r->addr.family ? &r->addr : &any, r->port, buf);
}

static void json_set(struct jsonw *w, const char *key, const struct ep_set *s)
{
	jsonw_key(w, key);
	if (s->nil) {
		jsonw_null(w);
		return;
	}
	jsonw_arr_open(w);
	for (size_t i = 0; i < s->n; i++)
		jsonw_str(w, s->v[i]->key);
	jsonw_arr_close(w);
}

/* Picks for one route, or NULL when no flows were asked for or it does not forward. */
static int route_picks(const struct port_view *pv, const struct route *r,
		       const struct explain_opts *o, int32_t **ret)
{
	int32_t *picks;
	int err;

	*ret = NULL;
	if (!o->n_flows || r->action != ACTION_FORWARD)
		return 0;
	picks = xcalloc(o->n_flows, sizeof(*picks));
	err = picks_compute(pv, r, o->flows, o->n_flows, picks);
	if (err < 0) {
		free(picks);
		return err;
	}
	*ret = picks;
	return 0;
}

/* A route's endpoints as the running proxy sees them (only those it reports). */
static void json_runtime(struct jsonw *w, const struct runtime_status *st,
			 const struct port_view *pv, const struct route *rt)
{
	const struct ep_set *es = route_endpoints(pv, rt);

	jsonw_key(w, "runtime");
	jsonw_arr_open(w);
	for (size_t k = 0; k < es->n; k++) {
		const struct runtime_ep *e = runtime_status_find(st, pv, rt->uses_local, es->v[k]->key);

		if (!e)
			continue;
		jsonw_obj_open(w);
		jsonw_kstr(w, "endpoint", e->key);
		jsonw_kuint(w, "activeConnections", e->active);
		jsonw_kuint(w, "connections", e->connections);
		jsonw_kuint(w, "connectFailures", e->failures);
		jsonw_kuint(w, "ejections", e->ejections);
		jsonw_kbool(w, "ejected", e->ejected);
		jsonw_kuint(w, "ejectedForMs", e->ejected_for_ms);
		jsonw_obj_close(w);
	}
	jsonw_arr_close(w);
}

int explain_json(FILE *f, const struct node_view *v, const struct explain_opts *o)
{
	struct jsonw w;
	int err = 0;

	jsonw_init(&w, f, o->pretty);
	jsonw_obj_open(&w);
	jsonw_kstr(&w, "node", v->node_name);
	jsonw_kstr(&w, "zone", v->zone);
	if (o->runtime) {
		jsonw_key(&w, "status");
		jsonw_obj_open(&w);
		jsonw_kstr(&w, "file", o->runtime->path);
		jsonw_kstr(&w, "mode", o->runtime->mode);
		jsonw_obj_close(&w);
	}
	jsonw_key(&w, "services");
	jsonw_arr_open(&w);
	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];
		char label[80];

		if (!keep(pv, o))
			continue;
		port_label(pv, label, sizeof(label));
		jsonw_obj_open(&w);
		jsonw_kstr(&w, "service", pv->svc->key);
		jsonw_kstr(&w, "port", label);
		jsonw_kstr(&w, "protocol", proto_name(pv->port->proto));
		jsonw_kstr(&w, "ipFamily", pv->family == AF_INET6 ? "IPv6" : "IPv4");
		json_set(&w, "clusterEndpoints", &pv->cat.cluster);
		json_set(&w, "localEndpoints", &pv->cat.local);
		json_set(&w, "allEndpoints", &pv->cat.all);
		jsonw_kbool(&w, "hasAnyEndpoints", pv->cat.has_any);
		jsonw_kstr(&w, "topology", topology_mode_name(pv->cat.topology));
		jsonw_kstr(&w, "scheduler", pv->lb.sched_name);
		jsonw_key(&w, "routes");
		jsonw_arr_open(&w);
		for (size_t r = 0; r < pv->n_routes; r++) {
			const struct route *rt = &pv->routes[r];
			char addr[ADDR_PORT_STRLEN];

			jsonw_obj_open(&w);
			jsonw_kstr(&w, "kind", route_kind_name(rt->kind));
			route_address(rt, pv->family, addr);
			jsonw_kstr(&w, "address", rt->allocated ? addr : NULL);
			jsonw_kstr(&w, "policy", traffic_policy_name(rt->policy));
			jsonw_kstr(&w, "action", route_action_name(rt->action));
			json_set(&w, "endpoints", route_endpoints(pv, rt));
			jsonw_kbool(&w, "masquerade", rt->masquerade);
			jsonw_kbool(&w, "preservesSourceIP", rt->preserves_source_ip);
			if (rt->n_source_ranges) {
				jsonw_key(&w, "sourceRanges");
				jsonw_arr_open(&w);
				for (size_t k = 0; k < rt->n_source_ranges; k++) {
					char c[ADDR_STRLEN + 4];

					cidr_format(&rt->source_ranges[k], c);
					jsonw_str(&w, c);
				}
				jsonw_arr_close(&w);
			}
			jsonw_kstr(&w, "reason", rt->reason);
			if (o->runtime && rt->action == ACTION_FORWARD)
				json_runtime(&w, o->runtime, pv, rt);
			if (o->n_flows && rt->action == ACTION_FORWARD) {
				const struct ep_set *es = route_endpoints(pv, rt);
				int32_t *picks;
				int e = route_picks(pv, rt, o, &picks);

				if (e < 0 && !err)
					err = e;
				jsonw_key(&w, "picks");
				jsonw_arr_open(&w);
				for (size_t k = 0; picks && k < o->n_flows; k++) {
					jsonw_obj_open(&w);
					jsonw_kstr(&w, "flow", o->flows[k].text);
					jsonw_kstr(&w, "endpoint",
						   picks[k] >= 0 ? es->v[picks[k]]->key : NULL);
					jsonw_obj_close(&w);
				}
				jsonw_arr_close(&w);
				free(picks);
			}
			jsonw_obj_close(&w);
		}
		jsonw_arr_close(&w);
		jsonw_key(&w, "notes");
		jsonw_arr_open(&w);
		for (size_t n = 0; n < pv->n_notes; n++)
			jsonw_str(&w, pv->notes[n]);
		jsonw_arr_close(&w);
		jsonw_obj_close(&w);
	}
	jsonw_arr_close(&w);
	jsonw_obj_close(&w);
	if (!o->pretty)
		fputc('\n', f);
	return err;
}

static void print_set(FILE *f, const char *label, const struct ep_set *s)
{
	fprintf(f, "    %-9s ", label);
	if (s->nil) {
		fputs("(not used by this port)\n", f);
		return;
	}
	if (!s->n) {
		fputs("none\n", f);
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct ep *e = s->v[i];

		fprintf(f, "%s%s", i ? ", " : "", e->key);
		if (!e->ready)
			fputs(e->terminating ? " (terminating)" : " (not ready)", f);
	}
	fputc('\n', f);
}

int explain_table(FILE *f, const struct node_view *v, const struct explain_opts *o)
{
	int err = 0;

	fprintf(f, "Node %s, zone %s%s\n", v->node_name, v->zone ? v->zone : "(unknown)",
		v->node ? "" : " (no Node object with this name)");
	if (o->runtime)
		fprintf(f, "Runtime state from %s (%s mode)\n", o->runtime->path, o->runtime->mode);
	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];
		char label[80];

		if (!keep(pv, o))
			continue;
		port_label(pv, label, sizeof(label));
		fprintf(f, "\n%s port %s (%u/%s%s)", pv->svc->key, label, pv->port->port,
			proto_name(pv->port->proto), pv->family == AF_INET6 ? ", IPv6" : "");
		if (topology_mode_name(pv->cat.topology))
			fprintf(f, "  topology %s", topology_mode_name(pv->cat.topology));
		if (pv->n_routes)
			fprintf(f, "  scheduler %s", pv->lb.sched_name);
		fprintf(f, "%s\n", pv->cat.has_any || !pv->n_routes ? "" : "  NO ENDPOINTS");
		print_set(f, "cluster:", &pv->cat.cluster);
		print_set(f, "local:", &pv->cat.local);
		if (pv->n_routes)
			fprintf(f, "    %-13s %-24s %-8s %-8s %-5s %s\n", "ROUTE", "ADDRESS", "POLICY",
				"ACTION", "MASQ", "ENDPOINTS");
		for (size_t r = 0; r < pv->n_routes; r++) {
			const struct route *rt = &pv->routes[r];
			const struct ep_set *es = route_endpoints(pv, rt);
			char addr[ADDR_PORT_STRLEN];

			route_address(rt, pv->family, addr);
			fprintf(f, "    %-13s %-24s %-8s %-8s %-5s ", route_kind_name(rt->kind),
				rt->allocated ? addr : "(unallocated)",
				traffic_policy_name(rt->policy),
				rt->action == ACTION_FORWARD ? "forward"
				: rt->action == ACTION_DROP ? "DROP" : "REJECT",
				rt->masquerade ? "yes" : "no");
			if (rt->action != ACTION_FORWARD)
				fputs("-", f);
			for (size_t k = 0; rt->action == ACTION_FORWARD && k < es->n; k++) {
				const struct runtime_ep *e = o->runtime ?
					runtime_status_find(o->runtime, pv, rt->uses_local, es->v[k]->key) : NULL;

				fprintf(f, "%s%s", k ? ", " : "", es->v[k]->key);
				if (e && e->ejected)
					fprintf(f, " (EJECTED for %.1f s after %" PRIu64 " failed connects)",
						(double)e->ejected_for_ms / 1000, e->failures);
				else if (e)
					fprintf(f, " (%" PRIu64 " active)", e->active);
			}
			fprintf(f, "\n      why: %s\n", rt->reason);
			if (o->n_flows && rt->action == ACTION_FORWARD) {
				int32_t *picks;
				int e = route_picks(pv, rt, o, &picks);

				if (e < 0 && !err)
					err = e;
				for (size_t k = 0; picks && k < o->n_flows; k++)
					fprintf(f, "      flow %-22s -> %s\n", o->flows[k].text,
						picks[k] >= 0 ? es->v[picks[k]]->key : "(none)");
				free(picks);
			}
		}
		for (size_t n = 0; n < pv->n_notes; n++)
			fprintf(f, "    note: %s\n", pv->notes[n]);
	}
	return err;
}
