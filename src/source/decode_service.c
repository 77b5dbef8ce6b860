/* SPDX-License-Identifier: Apache-2.0 */
/* Service decoding: spec (type, cluster IPs, ports, policies, affinity) and status; see decode.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "source/decode_internal.h"

static bool parse_policy(struct dec *x, const struct doc *spec, const char *key,
			 enum traffic_policy *ret, bool *ret_set)
{
	const char *s = dec_get_str(x, spec, key, false);

	*ret = POLICY_CLUSTER;
	*ret_set = s != NULL;
	if (!s)
		return true;
	if (streq(s, "Cluster"))
		return true;
	if (streq(s, "Local")) {
		*ret = POLICY_LOCAL;
		return true;
	}
	{
		size_t o = dec_path_push(x, "%s", key);

		dec_err(x, doc_get(spec, key), "must be Cluster or Local, got \"%s\"", s);
		dec_path_pop(x, o);
	}
	return false;
}

static void decode_service_ports(struct dec *x, const struct doc *spec, struct service *s)
{
	const struct doc *ports = dec_get_typed(x, spec, "ports", DOC_SEQ, false);
	size_t o;

	if (!ports)
		return;
	o = dec_path_push(x, "ports");
	s->ports = xcalloc(ports->n, sizeof(*s->ports));
	for (size_t i = 0; i < ports->n; i++) {
		const struct doc *p = ports->v[i];
		struct svc_port *sp = &s->ports[s->n_ports];
		size_t o2 = dec_path_push(x, "[%zu]", i);
		long long v;
		const char *name;
		const struct doc *tp;

		if (!dec_expect_type(x, p, DOC_MAP)) {
			dec_path_pop(x, o2);
			continue;
		}
		name = dec_get_str(x, p, "name", false);
		if (name && *name && !dec_is_dns1123_label(name, strlen(name))) {
			size_t o3 = dec_path_push(x, "name");

			dec_err(x, doc_get(p, "name"),
				"\"%s\" is not a valid port name (lowercase RFC 1123 label)", name);
			dec_path_pop(x, o3);
		}
		if (ports->n > 1 && (!name || !*name)) {
			size_t o3 = dec_path_push(x, "name");

			dec_err(x, p, "required when a service has more than one port");
			dec_path_pop(x, o3);
		}
		sp->name = xstrdup(name ? name : "");
		dec_parse_proto(x, p, &sp->proto);
		if (dec_get_int(x, p, "port", true, 1, 65535, &v))
			sp->port = (uint16_t)v;
		if (dec_get_int(x, p, "nodePort", false, 0, 65535, &v))
			sp->node_port = (uint16_t)v;
		tp = dec_field(x, p, "targetPort", false);
		if (tp) {
			size_t o3 = dec_path_push(x, "targetPort");
			char buf[80];

			if (tp->type == DOC_INT) {
				if (tp->i < 1 || tp->i > 65535)
					dec_err(x, tp, "must be between 1 and 65535, got %lld", tp->i);
				else
					sp->target_port = (uint16_t)tp->i;
			} else if (tp->type == DOC_STR) {
				if (!dec_is_iana_svc_name(tp->text))
					dec_err(x, tp,
						"\"%s\" is not a valid port name (1-15 lowercase letters, digits and '-', with a letter)",
						tp->text);
				else
					sp->target_port_name = xstrdup(tp->text);
			} else {
				dec_err(x, tp, "expected a port number or name, got %s", dec_shown(tp, buf));
			}
			dec_path_pop(x, o3);
		} else {
			sp->target_port = sp->port;
		}
		for (size_t j = 0; j < s->n_ports; j++) {
			if (s->ports[j].port == sp->port && s->ports[j].proto == sp->proto &&
			    sp->port) {
				dec_err(x, p, "duplicate port %u/%s", sp->port, proto_name(sp->proto));
				break;
			}
			if (*sp->name && streq(s->ports[j].name, sp->name)) {
				dec_err(x, p, "duplicate port name \"%s\"", sp->name);
				break;
			}
		}
		s->n_ports++;
		dec_path_pop(x, o2);
	}
	dec_path_pop(x, o);
}

static void decode_ip_list(struct dec *x, const struct doc *map, const char *key,
			   struct addr **ret, size_t *ret_n)
{
	const struct doc *l = dec_get_typed(x, map, key, DOC_SEQ, false);
	size_t o;

	if (!l)
		return;
	o = dec_path_push(x, "%s", key);
	*ret = xcalloc(l->n, sizeof(**ret));
	for (size_t i = 0; i < l->n; i++) {
		size_t o2 = dec_path_push(x, "[%zu]", i);

		if (dec_parse_ip_node(x, l->v[i], &(*ret)[*ret_n]))
			(*ret_n)++;
		dec_path_pop(x, o2);
	}
	dec_path_pop(x, o);
}

static void decode_cluster_ips(struct dec *x, const struct doc *spec, struct service *s)
{
	const char *cip = dec_get_str(x, spec, "clusterIP", false);
	const struct doc *cips = dec_get_typed(x, spec, "clusterIPs", DOC_SEQ, false);
	size_t o;

	if (cip && streq(cip, "None")) {
		s->headless = true;
	} else if (cip && *cip) {
		struct addr a;

		o = dec_path_push(x, "clusterIP");
		if (addr_parse(cip, &a) < 0)
			dec_err(x, doc_get(spec, "clusterIP"), "\"%s\" is not a valid IP address", cip);
		else {
			s->cluster_ips = xcalloc(2, sizeof(*s->cluster_ips));
			s->cluster_ips[s->n_cluster_ips++] = a;
		}
		dec_path_pop(x, o);
	}
	if (!cips)
		return;
	o = dec_path_push(x, "clusterIPs");
	if (cips->n > 2)
		dec_err(x, cips, "at most 2 entries (one per IP family), got %zu", cips->n);
	for (size_t i = 0; i < cips->n && i < 2; i++) {
		const struct doc *v = cips->v[i];
		size_t o2 = dec_path_push(x, "[%zu]", i);
		struct addr a;

		if (!dec_expect_type(x, v, DOC_STR)) {
			dec_path_pop(x, o2);
			continue;
		}
		if (streq(v->text, "None")) {
			if (!s->headless && i == 0 && !cip)
				s->headless = true;
			else if (!s->headless)
				dec_err(x, v, "\"None\" must match clusterIP");
		} else if (s->headless) {
			dec_err(x, v, "must be \"None\" when clusterIP is None");
		} else if (addr_parse(v->text, &a) < 0) {
			dec_err(x, v, "\"%s\" is not a valid IP address", v->text);
		} else if (i == 0 && s->n_cluster_ips) {
			if (!addr_eq(&a, &s->cluster_ips[0]))
				dec_err(x, v, "clusterIPs[0] must equal clusterIP (%s)", cip);
		} else {
			if (!s->cluster_ips)
				s->cluster_ips = xcalloc(2, sizeof(*s->cluster_ips));
			if (s->n_cluster_ips == 1 && s->cluster_ips[0].family == a.family)
				dec_err(x, v, "the two cluster IPs must be of different IP families");
			else
				s->cluster_ips[s->n_cluster_ips++] = a;
		}
		dec_path_pop(x, o2);
	}
	dec_path_pop(x, o);
}

static void decode_families(struct dec *x, const struct doc *spec, struct service *s)
{
	const struct doc *f = dec_get_typed(x, spec, "ipFamilies", DOC_SEQ, false);
	size_t o;

	if (!f)
		return;
	o = dec_path_push(x, "ipFamilies");
	for (size_t i = 0; i < f->n; i++) {
		size_t o2 = dec_path_push(x, "[%zu]", i);
		const struct doc *v = f->v[i];
		int fam = 0;

		if (dec_expect_type(x, v, DOC_STR)) {
			if (streq(v->text, "IPv4"))
				fam = AF_INET;
			else if (streq(v->text, "IPv6"))
				fam = AF_INET6;
			else
				dec_err(x, v, "must be IPv4 or IPv6, got \"%s\"", v->text);
		}
		if (fam && s->n_families < 2 && (s->n_families == 0 || s->families[0] != fam))
			s->families[s->n_families++] = fam;
		else if (fam)
			dec_err(x, v, "duplicate or extra IP family");
		dec_path_pop(x, o2);
	}
	dec_path_pop(x, o);
}

static void decode_lb_status(struct dec *x, const struct doc *obj, struct service *s)
{
	const struct doc *st = dec_get_typed(x, obj, "status", DOC_MAP, false);
	const struct doc *lb, *ing;
	size_t o;

	if (!st)
		return;
	o = dec_path_push(x, "status");
	lb = dec_get_typed(x, st, "loadBalancer", DOC_MAP, false);
	if (lb) {
		size_t o2 = dec_path_push(x, "loadBalancer");

		ing = dec_get_typed(x, lb, "ingress", DOC_SEQ, false);
		if (ing) {
			size_t o3 = dec_path_push(x, "ingress");

			s->lb_ingress = xcalloc(ing->n, sizeof(*s->lb_ingress));
			for (size_t i = 0; i < ing->n; i++) {
				const struct doc *e = ing->v[i];
				size_t o4 = dec_path_push(x, "[%zu]", i);
				struct lb_ingress li = { 0 };
				const struct doc *ip;
				const char *mode;

				if (!dec_expect_type(x, e, DOC_MAP)) {
					dec_path_pop(x, o4);
					continue;
				}
				ip = dec_field(x, e, "ip", false);
				if (ip) {
					size_t o5 = dec_path_push(x, "ip");

					dec_parse_ip_node(x, ip, &li.ip);
					dec_path_pop(x, o5);
				}
				(void)dec_get_str(x, e, "hostname", false);
				mode = dec_get_str(x, e, "ipMode", false);
				if (mode && streq(mode, "Proxy"))
					li.ip_mode_proxy = true;
				else if (mode && !streq(mode, "VIP")) {
					size_t o5 = dec_path_push(x, "ipMode");

					dec_err(x, doc_get(e, "ipMode"), "must be VIP or Proxy, got \"%s\"",
						mode);
					dec_path_pop(x, o5);
				}
				if (li.ip.family)
					s->lb_ingress[s->n_lb_ingress++] = li;
				dec_path_pop(x, o4);
			}
			dec_path_pop(x, o3);
		}
		dec_path_pop(x, o2);
	}
	dec_path_pop(x, o);
}

static void decode_affinity(struct dec *x, const struct doc *spec, struct service *s)
{
	const char *aff = dec_get_str(x, spec, "sessionAffinity", false);
	const struct doc *cfg = dec_get_typed(x, spec, "sessionAffinityConfig", DOC_MAP, false);

	s->affinity_timeout = AFFINITY_DEFAULT_TIMEOUT;
	if (aff && streq(aff, "ClientIP"))
		s->affinity_client_ip = true;
	else if (aff && !streq(aff, "None")) {
		size_t o = dec_path_push(x, "sessionAffinity");

		dec_err(x, doc_get(spec, "sessionAffinity"), "must be None or ClientIP, got \"%s\"", aff);
		dec_path_pop(x, o);
	}
	if (cfg) {
		size_t o = dec_path_push(x, "sessionAffinityConfig");
		const struct doc *cip = dec_get_typed(x, cfg, "clientIP", DOC_MAP, false);
		long long t;

		if (cip) {
			size_t o2 = dec_path_push(x, "clientIP");

			if (dec_get_int(x, cip, "timeoutSeconds", false, 1, 86400, &t))
				s->affinity_timeout = (uint32_t)t;
			dec_path_pop(x, o2);
		}
		if (!s->affinity_client_ip)
			dec_warn(x, cfg, "ignored: sessionAffinity is not ClientIP");
		dec_path_pop(x, o);
	}
}

static bool svc_externally_reachable(const struct service *s)
{
	if (s->n_external_ips || s->n_lb_ingress)
		return true;
	for (size_t i = 0; i < s->n_ports; i++)
		if (s->ports[i].node_port)
			return true;
	return s->type == SVC_NODE_PORT || s->type == SVC_LOAD_BALANCER;
}

static void service_warnings(struct dec *x, const struct doc *spec, struct service *s)
{
	size_t o;

	if (s->type == SVC_CLUSTER_IP || s->type == SVC_EXTERNAL_NAME) {
		for (size_t i = 0; i < s->n_ports; i++) {
			if (s->ports[i].node_port) {
				o = dec_path_push(x, "ports[%zu].nodePort", i);
				dec_warn(x, spec,
					 "ignored: a %s service has no node ports (the API server would reject this field)",
					 svc_type_name(s->type));
				dec_path_pop(x, o);
				s->ports[i].node_port = 0;
			}
		}
	}
	if (s->n_lb_ingress && s->type != SVC_LOAD_BALANCER)
		dec_warn(x, spec,
			 "status.loadBalancer.ingress is set on a %s service; kube-proxy programs those IPs anyway, and so does kroute",
			 svc_type_name(s->type));
	if (s->etp_set && !svc_externally_reachable(s)) {
		o = dec_path_push(x, "externalTrafficPolicy");
		dec_warn(x, doc_get(spec, "externalTrafficPolicy"),
			 "has no effect: a %s service without externalIPs is not reachable from outside the cluster (the API server would reject this field)",
			 svc_type_name(s->type));
		dec_path_pop(x, o);
	}
	if (s->health_check_node_port &&
	    !(s->type == SVC_LOAD_BALANCER && s->etp == POLICY_LOCAL)) {
		o = dec_path_push(x, "healthCheckNodePort");
		dec_warn(x, spec, "ignored: only a LoadBalancer service with externalTrafficPolicy Local has a health check node port");
		dec_path_pop(x, o);
		s->health_check_node_port = 0;
	}
	if (s->type != SVC_EXTERNAL_NAME && !s->headless && s->n_ports == 0) {
		o = dec_path_push(x, "ports");
		dec_err(x, spec, "missing required field (a service that is not headless needs at least one port)");
		dec_path_pop(x, o);
	}
}

static void decode_svc_type(struct dec *x, const struct doc *spec, struct service *s)
{
	const char *type = dec_get_str(x, spec, "type", false);

	if (!type || streq(type, "ClusterIP"))
		s->type = SVC_CLUSTER_IP;
	else if (streq(type, "NodePort"))
		s->type = SVC_NODE_PORT;
	else if (streq(type, "LoadBalancer"))
		s->type = SVC_LOAD_BALANCER;
	else if (streq(type, "ExternalName"))
		s->type = SVC_EXTERNAL_NAME;
	else {
		size_t o = dec_path_push(x, "type");

		dec_err(x, doc_get(spec, "type"),
			"must be ClusterIP, NodePort, LoadBalancer or ExternalName, got \"%s\"", type);
		dec_path_pop(x, o);
	}
}

static void decode_source_ranges(struct dec *x, const struct doc *spec, struct service *s)
{
	const struct doc *r = dec_get_typed(x, spec, "loadBalancerSourceRanges", DOC_SEQ, false);
	size_t o;

	if (!r)
		return;
	o = dec_path_push(x, "loadBalancerSourceRanges");
	s->lb_source_ranges = xcalloc(r->n, sizeof(*s->lb_source_ranges));
	for (size_t i = 0; i < r->n; i++) {
		size_t o2 = dec_path_push(x, "[%zu]", i);
		const struct doc *e = r->v[i];

		if (dec_expect_type(x, e, DOC_STR)) {
			/* The API server trims spaces around each range. */
			char buf[64];
			const char *p = e->text;
			size_t len;

			while (*p == ' ')
				p++;
			len = strlen(p);
			while (len && p[len - 1] == ' ')
				len--;
			snprintf(buf, sizeof(buf), "%.*s", (int)MIN(len, 63u), p);
			if (cidr_parse(buf, &s->lb_source_ranges[s->n_lb_source_ranges]) < 0)
				dec_err(x, e, "\"%s\" is not a valid CIDR", e->text);
			else
				s->n_lb_source_ranges++;
		}
		dec_path_pop(x, o2);
	}
	dec_path_pop(x, o);
}

/* The fields of spec, in the order their problems are reported. */
static void decode_service_spec(struct dec *x, const struct doc *spec, struct service *s)
{
	const char *td;
	long long v;

	decode_svc_type(x, spec, s);
	decode_cluster_ips(x, spec, s);
	decode_families(x, spec, s);
	decode_service_ports(x, spec, s);
	decode_ip_list(x, spec, "externalIPs", &s->external_ips, &s->n_external_ips);
	decode_source_ranges(x, spec, s);
	decode_affinity(x, spec, s);
	parse_policy(x, spec, "internalTrafficPolicy", &s->itp, &s->itp_set);
	parse_policy(x, spec, "externalTrafficPolicy", &s->etp, &s->etp_set);
	if (dec_get_int(x, spec, "healthCheckNodePort", false, 0, 65535, &v))
		s->health_check_node_port = (uint16_t)v;
	td = dec_get_str(x, spec, "trafficDistribution", false);
	if (td)
		s->traffic_distribution = xstrdup(td);
	(void)dec_get_str(x, spec, "externalName", false);
}

int decode_service(struct dec *x, const struct doc *obj, struct cluster *c)
{
	struct service *s = xcalloc(1, sizeof(*s));
	const struct doc *spec, *md;
	struct meta m;
	size_t o;
	int ret = 0;

	if (!dec_meta(x, obj, true, &m, "Service"))
		goto out;
	if (!dec_is_dns1035_label(m.name)) {
		o = dec_path_push(x, "metadata.name");
		dec_err(x, doc_get(doc_get(obj, "metadata"), "name"),
			"\"%s\" is not a valid service name (lowercase RFC 1035 label: letters, digits, '-', starting with a letter)",
			m.name);
		dec_path_pop(x, o);
	}
	s->ns = xstrdup(m.ns);
	s->name = xstrdup(m.name);
	s->key = xasprintf("%s/%s", m.ns, m.name);
	md = doc_get(obj, "metadata");
	o = dec_path_push(x, "metadata");
	dec_string_map(x, md, "labels", &s->labels);
	dec_string_map(x, md, "annotations", &s->annotations);
	dec_path_pop(x, o);
	if (kv_get(&s->labels, LABEL_PROXY_NAME))
		s->proxy_name = xstrdup(kv_get(&s->labels, LABEL_PROXY_NAME));

	spec = dec_get_typed(x, obj, "spec", DOC_MAP, true);
	if (!spec)
		goto out;
	o = dec_path_push(x, "spec");
	decode_service_spec(x, spec, s);
	dec_path_pop(x, o);
	decode_lb_status(x, obj, s);
	o = dec_path_push(x, "spec");
	service_warnings(x, spec, s);
	dec_path_pop(x, o);
out:
	if (x->errors) {
		service_free(s);
		return -EINVAL;
	}
	s->origin.file = xstrdup(x->file);
	s->origin.line = x->line;
	ret = cluster_add_service(c, s);
	if (ret == -EEXIST) {
		struct service *prev = cluster_find_service(c, s->key);

		dec_err(x, obj, "duplicate object: already defined at %s:%d", prev->origin.file,
			prev->origin.line);
		service_free(s);
		return -EINVAL;
	}
	return ret;
}
