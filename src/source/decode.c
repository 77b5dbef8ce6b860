/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Service, EndpointSlice and Node decoding; see decode.h.
 *
 * The rules follow the API server's validation for the fields kroute reads,
 * so that a file kroute accepts is one the cluster would accept, and a
 * mistake is reported where it is made rather than showing up as a strange
 * route.  Where the API server would reject a field but the meaning is
 * clear and harmless, we accept it with a warning saying what it does.
 */
#include "source/decode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

struct dec {
	const char *file;
	struct diag *d;
	char object[320]; /* "Service default/web" */
	char path[512];
	size_t plen;
	int line;         /* line of the object, used when a node has none */
	int errors;
};

static size_t path_push(struct dec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(struct dec *x, const char *fmt, ...)
{
	size_t old = x->plen;
	va_list ap;
	int r;

	if (x->plen && fmt[0] != '[' && x->plen < sizeof(x->path) - 1)
		x->path[x->plen++] = '.';
	va_start(ap, fmt);
	if (fmt[0] == '%' && fmt[1] == 's' && !fmt[2]) {
		/* The common case, a plain key: no formatting. */
		const char *key = va_arg(ap, const char *);
		size_t len = strlen(key);

		if (len > sizeof(x->path) - 1 - x->plen)
			len = sizeof(x->path) - 1 - x->plen;
		memcpy(x->path + x->plen, key, len);
		r = (int)len;
	} else {
		r = vsnprintf(x->path + x->plen, sizeof(x->path) - x->plen, fmt, ap);
	}
	va_end(ap);
	if (r > 0)
		x->plen = MIN(x->plen + (size_t)r, sizeof(x->path) - 1);
	x->path[x->plen] = '\0';
	return old;
}

static void path_pop(struct dec *x, size_t old)
{
	x->plen = old;
	x->path[old] = '\0';
}

static void report(struct dec *x, enum diag_level lvl, const struct doc *at, const char *fmt,
		   va_list ap) __attribute__((format(printf, 4, 0)));
static void report(struct dec *x, enum diag_level lvl, const struct doc *at, const char *fmt,
		   va_list ap)
{
	char msg[1024];

	/* Past the message limit only the count matters: do not format. */
	if (x->d->max_msgs && x->d->n >= x->d->max_msgs) {
		if (lvl == DIAG_ERROR)
			x->d->n_errors++;
		x->d->n_dropped++;
		return;
	}

	vsnprintf(msg, sizeof(msg), fmt, ap);
	diag_add(x->d, lvl, x->file, at && at->line ? at->line : x->line, x->object, x->path, "%s",
		 msg);
}

static void err(struct dec *x, const struct doc *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void err(struct dec *x, const struct doc *at, const char *fmt, ...)
{
	va_list ap;

	x->errors++;
	va_start(ap, fmt);
	report(x, DIAG_ERROR, at, fmt, ap);
	va_end(ap);
}

static void warn(struct dec *x, const struct doc *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void warn(struct dec *x, const struct doc *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(x, DIAG_WARNING, at, fmt, ap);
	va_end(ap);
}

/* Short quoted rendering of a scalar for messages. */
static const char *shown(const struct doc *n, char buf[80])
{
	if (n->type == DOC_MAP)
		return "a mapping";
	if (n->type == DOC_SEQ)
		return "a list";
	if (n->type == DOC_STR)
		snprintf(buf, 80, "\"%.60s%s\"", n->text, strlen(n->text) > 60 ? "..." : "");
	else
		snprintf(buf, 80, "%s %.60s", doc_type_name(n->type), n->text ? n->text : "");
	return buf;
}

/* Looks up key in map; reports a missing required field.  NULL for absent or null. */
static const struct doc *field(struct dec *x, const struct doc *map, const char *key,
			       bool required)
{
	const struct doc *v = doc_get(map, key);

	if (v && v->type == DOC_NULL)
		v = NULL;
	if (!v && required) {
		size_t o = path_push(x, "%s", key);

		err(x, map, "missing required field");
		path_pop(x, o);
	}
	return v;
}

static bool expect_type(struct dec *x, const struct doc *v, enum doc_type t)
{
	char buf[80];

	if (v->type == t)
		return true;
	err(x, v, "expected %s %s, got %s", t == DOC_INT ? "an" : "a", doc_type_name(t),
	    shown(v, buf));
	return false;
}

/* String field: NULL when absent (or on a type error, which is reported). */
static const char *get_str(struct dec *x, const struct doc *map, const char *key, bool required)
{
	const struct doc *v = field(x, map, key, required);
	const char *ret = NULL;
	size_t o;

	if (!v)
		return NULL;
	o = path_push(x, "%s", key);
	if (expect_type(x, v, DOC_STR))
		ret = v->text;
	path_pop(x, o);
	return ret;
}

/* Integer field in [min, max]; returns false when absent or invalid. */
static bool get_int(struct dec *x, const struct doc *map, const char *key, bool required,
		    long long min, long long max, long long *ret)
{
	const struct doc *v = field(x, map, key, required);
	bool ok = false;
	size_t o;

	if (!v)
		return false;
	o = path_push(x, "%s", key);
	if (expect_type(x, v, DOC_INT)) {
		if (v->i < min || v->i > max)
			err(x, v, "must be between %lld and %lld, got %lld", min, max, v->i);
		else
			*ret = v->i, ok = true;
	}
	path_pop(x, o);
	return ok;
}

static void get_bool_tri(struct dec *x, const struct doc *map, const char *key,
			 enum tristate *ret)
{
	const struct doc *v = field(x, map, key, false);
	size_t o;

	*ret = TRI_UNSET;
	if (!v)
		return;
	o = path_push(x, "%s", key);
	if (expect_type(x, v, DOC_BOOL))
		*ret = v->b ? TRI_TRUE : TRI_FALSE;
	path_pop(x, o);
}

static const struct doc *get_typed(struct dec *x, const struct doc *map, const char *key,
				   enum doc_type t, bool required)
{
	const struct doc *v = field(x, map, key, required);
	size_t o;

	if (!v)
		return NULL;
	o = path_push(x, "%s", key);
	if (!expect_type(x, v, t))
		v = NULL;
	path_pop(x, o);
	return v;
}

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63. */
static bool is_dns1123_label(const char *s, size_t len)
{
	if (len == 0 || len > 63 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum_lower(s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool is_dns1123_subdomain(const char *s)
{
	size_t len = strlen(s);
	const char *p = s;

	if (len == 0 || len > 253)
		return false;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		if (!is_dns1123_label(p, l))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
}

/* Service names are RFC 1035 labels: they must start with a letter. */
static bool is_dns1035_label(const char *s)
{
	return is_dns1123_label(s, strlen(s)) && s[0] >= 'a' && s[0] <= 'z';
}

/* IANA service name (named targetPort): 1-15 chars, [a-z0-9-], a letter, no "--", no edge '-'. */
static bool is_iana_svc_name(const char *s)
{
	size_t len = strlen(s);
	bool letter = false;

	if (len == 0 || len > 15 || s[0] == '-' || s[len - 1] == '-' || strstr(s, "--"))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_alnum_lower(s[i]) && s[i] != '-')
			return false;
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
	}
	return letter;
}

static void string_map(struct dec *x, const struct doc *map, const char *key, struct kvlist *out)
{
	const struct doc *m = get_typed(x, map, key, DOC_MAP, false);
	size_t o;

	if (!m)
		return;
	o = path_push(x, "%s", key);
	for (size_t i = 0; i < m->n; i++) {
		const struct doc *v = m->v[i];
		size_t o2 = path_push(x, "%s", m->keys[i]);

		if (v->type == DOC_NULL)
			kv_add(out, m->keys[i], "");
		else if (expect_type(x, v, DOC_STR))
			kv_add(out, m->keys[i], v->text);
		path_pop(x, o2);
	}
	path_pop(x, o);
}

struct meta {
	const char *name;
	const char *ns;
};

static bool decode_meta(struct dec *x, const struct doc *obj, bool namespaced, struct meta *m,
			const char *kind)
{
	const struct doc *md = get_typed(x, obj, "metadata", DOC_MAP, true);
	size_t o;

	m->name = NULL;
	m->ns = NULL;
	if (!md)
		return false;
	o = path_push(x, "metadata");
	m->name = get_str(x, md, "name", true);
	if (namespaced) {
		m->ns = get_str(x, md, "namespace", false);
		if (!m->ns)
			m->ns = "default";
		else if (!is_dns1123_label(m->ns, strlen(m->ns))) {
			size_t o2 = path_push(x, "namespace");

			err(x, doc_get(md, "namespace"),
			    "\"%s\" is not a valid namespace name (lowercase RFC 1123 label)", m->ns);
			path_pop(x, o2);
		}
	}
	if (m->name) {
		snprintf(x->object, sizeof(x->object), "%s %s%s%s", kind, namespaced ? m->ns : "",
			 namespaced ? "/" : "", m->name);
	}
	path_pop(x, o);
	return m->name != NULL;
}

static bool parse_proto(struct dec *x, const struct doc *map, enum proto *ret)
{
	const char *p = get_str(x, map, "protocol", false);

	*ret = PROTO_TCP;
	if (!p)
		return true;
	if (streq(p, "TCP"))
		*ret = PROTO_TCP;
	else if (streq(p, "UDP"))
		*ret = PROTO_UDP;
	else if (streq(p, "SCTP"))
		*ret = PROTO_SCTP;
	else {
		size_t o = path_push(x, "protocol");

		err(x, doc_get(map, "protocol"), "must be TCP, UDP or SCTP, got \"%s\"", p);
		path_pop(x, o);
		return false;
	}
	return true;
}

static bool parse_ip_node(struct dec *x, const struct doc *v, struct addr *ret)
{
	if (!expect_type(x, v, DOC_STR))
		return false;
	if (addr_parse(v->text, ret) < 0) {
		err(x, v, "\"%s\" is not a valid IP address", v->text);
		return false;
	}
	return true;
}

static bool parse_policy(struct dec *x, const struct doc *spec, const char *key,
			 enum traffic_policy *ret, bool *ret_set)
{
	const char *s = get_str(x, spec, key, false);

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
		size_t o = path_push(x, "%s", key);

		err(x, doc_get(spec, key), "must be Cluster or Local, got \"%s\"", s);
		path_pop(x, o);
	}
	return false;
}

static void decode_service_ports(struct dec *x, const struct doc *spec, struct service *s)
{
	const struct doc *ports = get_typed(x, spec, "ports", DOC_SEQ, false);
	size_t o;

	if (!ports)
		return;
	o = path_push(x, "ports");
	s->ports = xcalloc(ports->n, sizeof(*s->ports));
	for (size_t i = 0; i < ports->n; i++) {
		const struct doc *p = ports->v[i];
		struct svc_port *sp = &s->ports[s->n_ports];
		size_t o2 = path_push(x, "[%zu]", i);
		long long v;
		const char *name;
		const struct doc *tp;

		if (!expect_type(x, p, DOC_MAP)) {
			path_pop(x, o2);
			continue;
		}
		name = get_str(x, p, "name", false);
		if (name && *name && !is_dns1123_label(name, strlen(name))) {
			size_t o3 = path_push(x, "name");

			err(x, doc_get(p, "name"),
			    "\"%s\" is not a valid port name (lowercase RFC 1123 label)", name);
			path_pop(x, o3);
		}
		if (ports->n > 1 && (!name || !*name)) {
			size_t o3 = path_push(x, "name");

			err(x, p, "required when a service has more than one port");
			path_pop(x, o3);
		}
		sp->name = xstrdup(name ? name : "");
		parse_proto(x, p, &sp->proto);
		if (get_int(x, p, "port", true, 1, 65535, &v))
			sp->port = (uint16_t)v;
		if (get_int(x, p, "nodePort", false, 0, 65535, &v))
			sp->node_port = (uint16_t)v;
		tp = field(x, p, "targetPort", false);
		if (tp) {
			size_t o3 = path_push(x, "targetPort");
			char buf[80];

			if (tp->type == DOC_INT) {
				if (tp->i < 1 || tp->i > 65535)
					err(x, tp, "must be between 1 and 65535, got %lld", tp->i);
				else
					sp->target_port = (uint16_t)tp->i;
			} else if (tp->type == DOC_STR) {
				if (!is_iana_svc_name(tp->text))
					err(x, tp,
					    "\"%s\" is not a valid port name (1-15 lowercase letters, digits and '-', with a letter)",
					    tp->text);
				else
					sp->target_port_name = xstrdup(tp->text);
			} else {
				err(x, tp, "expected a port number or name, got %s", shown(tp, buf));
			}
			path_pop(x, o3);
		} else {
			sp->target_port = sp->port;
		}
		for (size_t j = 0; j < s->n_ports; j++) {
			if (s->ports[j].port == sp->port && s->ports[j].proto == sp->proto &&
			    sp->port) {
				err(x, p, "duplicate port %u/%s", sp->port, proto_name(sp->proto));
				break;
			}
			if (*sp->name && streq(s->ports[j].name, sp->name)) {
				err(x, p, "duplicate port name \"%s\"", sp->name);
				break;
			}
		}
		s->n_ports++;
		path_pop(x, o2);
	}
	path_pop(x, o);
}

static void decode_ip_list(struct dec *x, const struct doc *map, const char *key,
			   struct addr **ret, size_t *ret_n)
{
	const struct doc *l = get_typed(x, map, key, DOC_SEQ, false);
	size_t o;

	if (!l)
		return;
	o = path_push(x, "%s", key);
	*ret = xcalloc(l->n, sizeof(**ret));
	for (size_t i = 0; i < l->n; i++) {
		size_t o2 = path_push(x, "[%zu]", i);

		if (parse_ip_node(x, l->v[i], &(*ret)[*ret_n]))
			(*ret_n)++;
		path_pop(x, o2);
	}
	path_pop(x, o);
}

static void decode_cluster_ips(struct dec *x, const struct doc *spec, struct service *s)
{
	const char *cip = get_str(x, spec, "clusterIP", false);
	const struct doc *cips = get_typed(x, spec, "clusterIPs", DOC_SEQ, false);
	size_t o;

	if (cip && streq(cip, "None")) {
		s->headless = true;
	} else if (cip && *cip) {
		struct addr a;

		o = path_push(x, "clusterIP");
		if (addr_parse(cip, &a) < 0)
			err(x, doc_get(spec, "clusterIP"), "\"%s\" is not a valid IP address", cip);
		else {
			s->cluster_ips = xcalloc(2, sizeof(*s->cluster_ips));
			s->cluster_ips[s->n_cluster_ips++] = a;
		}
		path_pop(x, o);
	}
	if (!cips)
		return;
	o = path_push(x, "clusterIPs");
	if (cips->n > 2)
		err(x, cips, "at most 2 entries (one per IP family), got %zu", cips->n);
	for (size_t i = 0; i < cips->n && i < 2; i++) {
		const struct doc *v = cips->v[i];
		size_t o2 = path_push(x, "[%zu]", i);
		struct addr a;

		if (!expect_type(x, v, DOC_STR)) {
			path_pop(x, o2);
			continue;
		}
		if (streq(v->text, "None")) {
			if (!s->headless && i == 0 && !cip)
				s->headless = true;
			else if (!s->headless)
				err(x, v, "\"None\" must match clusterIP");
		} else if (s->headless) {
			err(x, v, "must be \"None\" when clusterIP is None");
		} else if (addr_parse(v->text, &a) < 0) {
			err(x, v, "\"%s\" is not a valid IP address", v->text);
		} else if (i == 0 && s->n_cluster_ips) {
			if (!addr_eq(&a, &s->cluster_ips[0]))
				err(x, v, "clusterIPs[0] must equal clusterIP (%s)", cip);
		} else {
			if (!s->cluster_ips)
				s->cluster_ips = xcalloc(2, sizeof(*s->cluster_ips));
			if (s->n_cluster_ips == 1 && s->cluster_ips[0].family == a.family)
				err(x, v, "the two cluster IPs must be of different IP families");
			else
				s->cluster_ips[s->n_cluster_ips++] = a;
		}
		path_pop(x, o2);
	}
	path_pop(x, o);
}

static void decode_families(struct dec *x, const struct doc *spec, struct service *s)
{
	const struct doc *f = get_typed(x, spec, "ipFamilies", DOC_SEQ, false);
	size_t o;

	if (!f)
		return;
	o = path_push(x, "ipFamilies");
	for (size_t i = 0; i < f->n; i++) {
		size_t o2 = path_push(x, "[%zu]", i);
		const struct doc *v = f->v[i];
		int fam = 0;

		if (expect_type(x, v, DOC_STR)) {
			if (streq(v->text, "IPv4"))
				fam = AF_INET;
			else if (streq(v->text, "IPv6"))
				fam = AF_INET6;
			else
				err(x, v, "must be IPv4 or IPv6, got \"%s\"", v->text);
		}
		if (fam && s->n_families < 2 && (s->n_families == 0 || s->families[0] != fam))
			s->families[s->n_families++] = fam;
		else if (fam)
			err(x, v, "duplicate or extra IP family");
		path_pop(x, o2);
	}
	path_pop(x, o);
}

static void decode_lb_status(struct dec *x, const struct doc *obj, struct service *s)
{
	const struct doc *st = get_typed(x, obj, "status", DOC_MAP, false);
	const struct doc *lb, *ing;
	size_t o;

	if (!st)
		return;
	o = path_push(x, "status");
	lb = get_typed(x, st, "loadBalancer", DOC_MAP, false);
	if (lb) {
		size_t o2 = path_push(x, "loadBalancer");

		ing = get_typed(x, lb, "ingress", DOC_SEQ, false);
		if (ing) {
			size_t o3 = path_push(x, "ingress");

			s->lb_ingress = xcalloc(ing->n, sizeof(*s->lb_ingress));
			for (size_t i = 0; i < ing->n; i++) {
				const struct doc *e = ing->v[i];
				size_t o4 = path_push(x, "[%zu]", i);
				struct lb_ingress li = { 0 };
				const struct doc *ip;
				const char *mode;

				if (!expect_type(x, e, DOC_MAP)) {
					path_pop(x, o4);
					continue;
				}
				ip = field(x, e, "ip", false);
				if (ip) {
					size_t o5 = path_push(x, "ip");

					parse_ip_node(x, ip, &li.ip);
					path_pop(x, o5);
				}
				(void)get_str(x, e, "hostname", false);
				mode = get_str(x, e, "ipMode", false);
				if (mode && streq(mode, "Proxy"))
					li.ip_mode_proxy = true;
				else if (mode && !streq(mode, "VIP")) {
					size_t o5 = path_push(x, "ipMode");

					err(x, doc_get(e, "ipMode"), "must be VIP or Proxy, got \"%s\"",
					    mode);
					path_pop(x, o5);
				}
				if (li.ip.family)
					s->lb_ingress[s->n_lb_ingress++] = li;
				path_pop(x, o4);
			}
			path_pop(x, o3);
		}
		path_pop(x, o2);
	}
	path_pop(x, o);
}

static void decode_affinity(struct dec *x, const struct doc *spec, struct service *s)
{
	const char *aff = get_str(x, spec, "sessionAffinity", false);
	const struct doc *cfg = get_typed(x, spec, "sessionAffinityConfig", DOC_MAP, false);

	s->affinity_timeout = AFFINITY_DEFAULT_TIMEOUT;
	if (aff && streq(aff, "ClientIP"))
		s->affinity_client_ip = true;
	else if (aff && !streq(aff, "None")) {
		size_t o = path_push(x, "sessionAffinity");

		err(x, doc_get(spec, "sessionAffinity"), "must be None or ClientIP, got \"%s\"", aff);
		path_pop(x, o);
	}
	if (cfg) {
		size_t o = path_push(x, "sessionAffinityConfig");
		const struct doc *cip = get_typed(x, cfg, "clientIP", DOC_MAP, false);
		long long t;

		if (cip) {
			size_t o2 = path_push(x, "clientIP");

			if (get_int(x, cip, "timeoutSeconds", false, 1, 86400, &t))
				s->affinity_timeout = (uint32_t)t;
			path_pop(x, o2);
		}
		if (!s->affinity_client_ip)
			warn(x, cfg, "ignored: sessionAffinity is not ClientIP");
		path_pop(x, o);
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
				o = path_push(x, "ports[%zu].nodePort", i);
				warn(x, spec,
				     "ignored: a %s service has no node ports (the API server would reject this field)",
				     svc_type_name(s->type));
				path_pop(x, o);
				s->ports[i].node_port = 0;
			}
		}
	}
	if (s->n_lb_ingress && s->type != SVC_LOAD_BALANCER)
		warn(x, spec,
		     "status.loadBalancer.ingress is set on a %s service; kube-proxy programs those IPs anyway, and so does kroute",
		     svc_type_name(s->type));
	if (s->etp_set && !svc_externally_reachable(s)) {
		o = path_push(x, "externalTrafficPolicy");
		warn(x, doc_get(spec, "externalTrafficPolicy"),
		     "has no effect: a %s service without externalIPs is not reachable from outside the cluster (the API server would reject this field)",
		     svc_type_name(s->type));
		path_pop(x, o);
	}
	if (s->health_check_node_port &&
	    !(s->type == SVC_LOAD_BALANCER && s->etp == POLICY_LOCAL)) {
		o = path_push(x, "healthCheckNodePort");
		warn(x, spec, "ignored: only a LoadBalancer service with externalTrafficPolicy Local has a health check node port");
		path_pop(x, o);
		s->health_check_node_port = 0;
	}
	if (s->type != SVC_EXTERNAL_NAME && !s->headless && s->n_ports == 0) {
		o = path_push(x, "ports");
		err(x, spec, "missing required field (a service that is not headless needs at least one port)");
		path_pop(x, o);
	}
}

static int decode_service(struct dec *x, const struct doc *obj, struct cluster *c)
{
	struct service *s = xcalloc(1, sizeof(*s));
	const struct doc *spec, *md;
	struct meta m;
	const char *type;
	long long v;
	size_t o;
	int ret = 0;

	if (!decode_meta(x, obj, true, &m, "Service"))
		goto out;
	if (!is_dns1035_label(m.name)) {
		o = path_push(x, "metadata.name");
		err(x, doc_get(doc_get(obj, "metadata"), "name"),
		    "\"%s\" is not a valid service name (lowercase RFC 1035 label: letters, digits, '-', starting with a letter)",
		    m.name);
		path_pop(x, o);
	}
	s->ns = xstrdup(m.ns);
	s->name = xstrdup(m.name);
	s->key = xasprintf("%s/%s", m.ns, m.name);
	md = doc_get(obj, "metadata");
	o = path_push(x, "metadata");
	string_map(x, md, "labels", &s->labels);
	string_map(x, md, "annotations", &s->annotations);
	path_pop(x, o);
	if (kv_get(&s->labels, LABEL_PROXY_NAME))
		s->proxy_name = xstrdup(kv_get(&s->labels, LABEL_PROXY_NAME));

	spec = get_typed(x, obj, "spec", DOC_MAP, true);
	if (!spec)
		goto out;
	o = path_push(x, "spec");
	type = get_str(x, spec, "type", false);
	if (!type || streq(type, "ClusterIP"))
		s->type = SVC_CLUSTER_IP;
	else if (streq(type, "NodePort"))
		s->type = SVC_NODE_PORT;
	else if (streq(type, "LoadBalancer"))
		s->type = SVC_LOAD_BALANCER;
	else if (streq(type, "ExternalName"))
		s->type = SVC_EXTERNAL_NAME;
	else {
		size_t o2 = path_push(x, "type");

		err(x, doc_get(spec, "type"),
		    "must be ClusterIP, NodePort, LoadBalancer or ExternalName, got \"%s\"", type);
		path_pop(x, o2);
	}
	decode_cluster_ips(x, spec, s);
	decode_families(x, spec, s);
	decode_service_ports(x, spec, s);
	decode_ip_list(x, spec, "externalIPs", &s->external_ips, &s->n_external_ips);
	{
		const struct doc *r = get_typed(x, spec, "loadBalancerSourceRanges", DOC_SEQ, false);

		if (r) {
			size_t o2 = path_push(x, "loadBalancerSourceRanges");

			s->lb_source_ranges = xcalloc(r->n, sizeof(*s->lb_source_ranges));
			for (size_t i = 0; i < r->n; i++) {
				size_t o3 = path_push(x, "[%zu]", i);
				const struct doc *e = r->v[i];

				if (expect_type(x, e, DOC_STR)) {
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
					if (cidr_parse(buf, &s->lb_source_ranges[s->n_lb_source_ranges]) <
					    0)
						err(x, e, "\"%s\" is not a valid CIDR", e->text);
					else
						s->n_lb_source_ranges++;
				}
				path_pop(x, o3);
			}
			path_pop(x, o2);
		}
	}
	decode_affinity(x, spec, s);
	parse_policy(x, spec, "internalTrafficPolicy", &s->itp, &s->itp_set);
	parse_policy(x, spec, "externalTrafficPolicy", &s->etp, &s->etp_set);
	if (get_int(x, spec, "healthCheckNodePort", false, 0, 65535, &v))
		s->health_check_node_port = (uint16_t)v;
	{
		const char *td = get_str(x, spec, "trafficDistribution", false);

		if (td)
			s->traffic_distribution = xstrdup(td);
	}
	(void)get_str(x, spec, "externalName", false);
	path_pop(x, o);
	decode_lb_status(x, obj, s);
	o = path_push(x, "spec");
	service_warnings(x, spec, s);
	path_pop(x, o);
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

		err(x, obj, "duplicate object: already defined at %s:%d", prev->origin.file,
		    prev->origin.line);
		service_free(s);
		return -EINVAL;
	}
	return ret;
}

static void decode_hints(struct dec *x, const struct doc *hints, const char *key, char ***ret,
			 size_t *ret_n)
{
	const struct doc *l = get_typed(x, hints, key, DOC_SEQ, false);
	size_t o;

	if (!l)
		return;
	o = path_push(x, "%s", key);
	*ret = xcalloc(l->n, sizeof(**ret));
	for (size_t i = 0; i < l->n; i++) {
		size_t o2 = path_push(x, "[%zu]", i);

		if (expect_type(x, l->v[i], DOC_MAP)) {
			const char *name = get_str(x, l->v[i], "name", true);

			if (name)
				(*ret)[(*ret_n)++] = xstrdup(name);
		}
		path_pop(x, o2);
	}
	path_pop(x, o);
}

static void decode_slice_endpoint(struct dec *x, const struct doc *e, struct endpoint_slice *s)
{
	struct slice_endpoint *ep = &s->endpoints[s->n_endpoints];
	const struct doc *addrs, *cond, *hints;
	const char *str;
	bool ok = true;

	*ep = (struct slice_endpoint){ 0 };
	addrs = get_typed(x, e, "addresses", DOC_SEQ, true);
	if (addrs) {
		size_t o = path_push(x, "addresses");

		if (addrs->n == 0 || addrs->n > 100)
			err(x, addrs, "must hold 1 to 100 addresses, got %zu", addrs->n), ok = false;
		for (size_t i = 0; i < addrs->n; i++) {
			size_t o2 = path_push(x, "[%zu]", i);
			struct addr a;

			if (!parse_ip_node(x, addrs->v[i], &a))
				ok = false;
			else if (s->family && a.family != s->family)
				err(x, addrs->v[i], "%s address in a slice of addressType %s",
				    a.family == AF_INET ? "an IPv4" : "an IPv6",
				    s->family == AF_INET ? "IPv4" : "IPv6"),
					ok = false;
			else if (i == 0)
				ep->addr = a;
			path_pop(x, o2);
		}
		path_pop(x, o);
	} else {
		ok = false;
	}
	cond = get_typed(x, e, "conditions", DOC_MAP, false);
	if (cond) {
		size_t o = path_push(x, "conditions");

		get_bool_tri(x, cond, "ready", &ep->ready);
		get_bool_tri(x, cond, "serving", &ep->serving);
		get_bool_tri(x, cond, "terminating", &ep->terminating);
		path_pop(x, o);
	}
	str = get_str(x, e, "nodeName", false);
	if (str)
		ep->node_name = xstrdup(str);
	str = get_str(x, e, "zone", false);
	if (str)
		ep->zone = xstrdup(str);
	hints = get_typed(x, e, "hints", DOC_MAP, false);
	if (hints) {
		size_t o = path_push(x, "hints");

		decode_hints(x, hints, "forZones", &ep->hint_zones, &ep->n_hint_zones);
		decode_hints(x, hints, "forNodes", &ep->hint_nodes, &ep->n_hint_nodes);
		path_pop(x, o);
	}
	if (ok)
		s->n_endpoints++;
	else {
		free(ep->node_name);
		free(ep->zone);
		strv_free(ep->hint_zones, ep->n_hint_zones);
		strv_free(ep->hint_nodes, ep->n_hint_nodes);
	}
}

static int decode_slice(struct dec *x, const struct doc *obj, struct cluster *c)
{
	struct endpoint_slice *s = xcalloc(1, sizeof(*s));
	const struct doc *md, *ports, *eps;
	struct kvlist labels = { 0 };
	const char *at;
	struct meta m;
	size_t o;
	int ret;

	if (!decode_meta(x, obj, true, &m, "EndpointSlice"))
		goto out;
	if (!is_dns1123_subdomain(m.name)) {
		o = path_push(x, "metadata.name");
		err(x, obj, "\"%s\" is not a valid EndpointSlice name (lowercase RFC 1123 subdomain)",
		    m.name);
		path_pop(x, o);
	}
	s->ns = xstrdup(m.ns);
	s->name = xstrdup(m.name);
	s->key = xasprintf("%s/%s", m.ns, m.name);
	md = doc_get(obj, "metadata");
	o = path_push(x, "metadata");
	string_map(x, md, "labels", &labels);
	path_pop(x, o);
	if (kv_get(&labels, LABEL_SERVICE_NAME))
		s->service_name = xstrdup(kv_get(&labels, LABEL_SERVICE_NAME));
	else
		warn(x, md, "no label %s: kube-proxy ignores this slice, and so does kroute",
		     LABEL_SERVICE_NAME);
	kv_done(&labels);

	at = get_str(x, obj, "addressType", true);
	if (at) {
		if (streq(at, "IPv4"))
			s->family = AF_INET;
		else if (streq(at, "IPv6"))
			s->family = AF_INET6;
		else if (!streq(at, "FQDN")) {
			o = path_push(x, "addressType");
			err(x, doc_get(obj, "addressType"), "must be IPv4, IPv6 or FQDN, got \"%s\"",
			    at);
			path_pop(x, o);
		}
	}
	ports = get_typed(x, obj, "ports", DOC_SEQ, false);
	if (ports) {
		o = path_push(x, "ports");
		if (ports->n > 100)
			err(x, ports, "at most 100 ports per slice, got %zu", ports->n);
		s->ports = xcalloc(ports->n, sizeof(*s->ports));
		for (size_t i = 0; i < ports->n && i < 100; i++) {
			size_t o2 = path_push(x, "[%zu]", i);
			struct slice_port *sp = &s->ports[s->n_ports];
			const char *name;
			long long v;

			if (expect_type(x, ports->v[i], DOC_MAP)) {
				name = get_str(x, ports->v[i], "name", false);
				sp->name = xstrdup(name ? name : "");
				parse_proto(x, ports->v[i], &sp->proto);
				sp->port = -1;
				if (get_int(x, ports->v[i], "port", false, 1, 65535, &v))
					sp->port = (int32_t)v;
				s->n_ports++;
			}
			path_pop(x, o2);
		}
		path_pop(x, o);
	}
	eps = get_typed(x, obj, "endpoints", DOC_SEQ, false);
	if (eps && s->family) {
		o = path_push(x, "endpoints");
		if (eps->n > 1000)
			err(x, eps, "at most 1000 endpoints per slice, got %zu", eps->n);
		else {
			s->endpoints = xcalloc(eps->n, sizeof(*s->endpoints));
			for (size_t i = 0; i < eps->n; i++) {
				size_t o2 = path_push(x, "[%zu]", i);

				if (expect_type(x, eps->v[i], DOC_MAP))
					decode_slice_endpoint(x, eps->v[i], s);
				path_pop(x, o2);
			}
		}
		path_pop(x, o);
	}
out:
	if (x->errors) {
		slice_free(s);
		return -EINVAL;
	}
	s->origin.file = xstrdup(x->file);
	s->origin.line = x->line;
	ret = cluster_add_slice(c, s);
	if (ret == -EEXIST) {
		const struct endpoint_slice *prev = cluster_find_slice(c, s->key);

		err(x, obj, "duplicate object: already defined at %s:%d", prev->origin.file,
		    prev->origin.line);
		slice_free(s);
		return -EINVAL;
	}
	return ret;
}

static int decode_node(struct dec *x, const struct doc *obj, struct cluster *c)
{
	struct node *n = xcalloc(1, sizeof(*n));
	const struct doc *md, *spec, *status;
	struct meta m;
	size_t o;
	int ret;

	if (!decode_meta(x, obj, false, &m, "Node"))
		goto out;
	if (!is_dns1123_subdomain(m.name)) {
		o = path_push(x, "metadata.name");
		err(x, obj, "\"%s\" is not a valid node name (lowercase RFC 1123 subdomain)", m.name);
		path_pop(x, o);
	}
	n->name = xstrdup(m.name);
	md = doc_get(obj, "metadata");
	o = path_push(x, "metadata");
	string_map(x, md, "labels", &n->labels);
	if (field(x, md, "deletionTimestamp", false))
		n->deleting = true;
	path_pop(x, o);
	n->zone = (char *)kv_get(&n->labels, LABEL_ZONE);

	spec = get_typed(x, obj, "spec", DOC_MAP, false);
	if (spec) {
		const struct doc *cidrs, *taints, *u;
		const char *one;

		o = path_push(x, "spec");
		u = field(x, spec, "unschedulable", false);
		if (u) {
			size_t o2 = path_push(x, "unschedulable");

			if (expect_type(x, u, DOC_BOOL))
				n->unschedulable = u->b;
			path_pop(x, o2);
		}
		cidrs = get_typed(x, spec, "podCIDRs", DOC_SEQ, false);
		one = get_str(x, spec, "podCIDR", false);
		n->pod_cidrs = xcalloc(cidrs ? cidrs->n + 1 : 1, sizeof(*n->pod_cidrs));
		if (cidrs) {
			size_t o2 = path_push(x, "podCIDRs");

			for (size_t i = 0; i < cidrs->n; i++) {
				size_t o3 = path_push(x, "[%zu]", i);
				const struct doc *e = cidrs->v[i];

				if (expect_type(x, e, DOC_STR)) {
					if (cidr_parse(e->text, &n->pod_cidrs[n->n_pod_cidrs]) < 0)
						err(x, e, "\"%s\" is not a valid CIDR", e->text);
					else
						n->n_pod_cidrs++;
				}
				path_pop(x, o3);
			}
			path_pop(x, o2);
		} else if (one) {
			size_t o2 = path_push(x, "podCIDR");

			if (cidr_parse(one, &n->pod_cidrs[0]) < 0)
				err(x, doc_get(spec, "podCIDR"), "\"%s\" is not a valid CIDR", one);
			else
				n->n_pod_cidrs = 1;
			path_pop(x, o2);
		}
		taints = get_typed(x, spec, "taints", DOC_SEQ, false);
		if (taints) {
			size_t o2 = path_push(x, "taints");

			n->taints = xcalloc(taints->n, sizeof(*n->taints));
			for (size_t i = 0; i < taints->n; i++) {
				size_t o3 = path_push(x, "[%zu]", i);

				if (expect_type(x, taints->v[i], DOC_MAP)) {
					const char *k = get_str(x, taints->v[i], "key", true);

					if (k)
						n->taints[n->n_taints++] = xstrdup(k);
				}
				path_pop(x, o3);
			}
			path_pop(x, o2);
		}
		path_pop(x, o);
	}
	status = get_typed(x, obj, "status", DOC_MAP, false);
	if (status) {
		const struct doc *addrs;

		o = path_push(x, "status");
		addrs = get_typed(x, status, "addresses", DOC_SEQ, false);
		if (addrs) {
			size_t o2 = path_push(x, "addresses");

			n->addresses = xcalloc(addrs->n, sizeof(*n->addresses));
			/* InternalIPs first: they are the node IPs kube-proxy prefers. */
			for (int pass = 0; pass < 2; pass++) {
				for (size_t i = 0; i < addrs->n; i++) {
					size_t o3 = path_push(x, "[%zu]", i);
					const struct doc *e = addrs->v[i];
					const char *type, *a;

					if (pass == 0 && !expect_type(x, e, DOC_MAP)) {
						path_pop(x, o3);
						continue;
					}
					if (e->type != DOC_MAP) {
						path_pop(x, o3);
						continue;
					}
					type = get_str(x, e, "type", pass == 0);
					a = get_str(x, e, "address", pass == 0);
					if (type && a &&
					    ((pass == 0 && streq(type, "InternalIP")) ||
					     (pass == 1 && streq(type, "ExternalIP")))) {
						size_t o4 = path_push(x, "address");

						if (addr_parse(a, &n->addresses[n->n_addresses]) < 0)
							err(x, doc_get(e, "address"),
							    "\"%s\" is not a valid IP address", a);
						else
							n->n_addresses++;
						path_pop(x, o4);
					}
					path_pop(x, o3);
					if (x->errors)
						break;
				}
			}
			path_pop(x, o2);
		}
		path_pop(x, o);
	}
out:
	if (x->errors) {
		node_free(n);
		return -EINVAL;
	}
	n->origin.file = xstrdup(x->file);
	n->origin.line = x->line;
	ret = cluster_add_node(c, n);
	if (ret == -EEXIST) {
		const struct node *prev = cluster_find_node(c, n->name);

		err(x, obj, "duplicate object: already defined at %s:%d", prev->origin.file,
		    prev->origin.line);
		node_free(n);
		return -EINVAL;
	}
	return ret;
}

int decode_object(const struct doc *obj, const char *file, struct cluster *c, struct diag *d)
{
	struct dec x = { .file = file, .d = d, .line = obj->line };
	const char *kind, *api;

	kind = get_str(&x, obj, "kind", true);
	api = get_str(&x, obj, "apiVersion", true);
	if (!kind || !api)
		return -EINVAL;
	if (streq(kind, "Service") && streq(api, "v1"))
		return decode_service(&x, obj, c);
	if (streq(kind, "EndpointSlice") && streq(api, "discovery.k8s.io/v1"))
		return decode_slice(&x, obj, c);
	if (streq(kind, "Node") && streq(api, "v1"))
		return decode_node(&x, obj, c);
	{
		const struct doc *md = doc_get(obj, "metadata");
		const struct doc *name = doc_get(md, "name");

		diag_add(d, DIAG_NOTE, file, obj->line, NULL, NULL,
			 "skipping %s %s (%s): kroute reads v1 Service, discovery.k8s.io/v1 EndpointSlice and v1 Node",
			 kind, name && name->type == DOC_STR ? name->text : "(unnamed)", api);
	}
	return 0;
}
