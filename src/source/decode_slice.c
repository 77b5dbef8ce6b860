/* SPDX-License-Identifier: Apache-2.0 */
/* EndpointSlice decoding: address type, ports, endpoints with conditions and hints; see decode.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/util.h"
#include "source/decode_internal.h"

static void decode_hints(struct dec *x, const struct doc *hints, const char *key, char ***ret,
			 uint32_t *ret_n)
{
	const struct doc *l = dec_get_typed(x, hints, key, DOC_SEQ, false);
	size_t o;

	if (!l)
		return;
	o = dec_path_push(x, "%s", key);
	*ret = xcalloc(l->n, sizeof(**ret));
	for (size_t i = 0; i < l->n; i++) {
		size_t o2 = dec_path_push(x, "[%zu]", i);

		if (dec_expect_type(x, l->v[i], DOC_MAP)) {
			const char *name = dec_get_str(x, l->v[i], "name", true);

			if (name)
				(*ret)[(*ret_n)++] = xstrdup(name);
		}
		dec_path_pop(x, o2);
	}
	dec_path_pop(x, o);
}

static void decode_slice_endpoint(struct dec *x, const struct doc *e, struct endpoint_slice *s)
{
	struct slice_endpoint *ep = &s->endpoints[s->n_endpoints];
	const struct doc *addrs, *cond, *hints;
	bool ok = true;

	*ep = (struct slice_endpoint){ 0 };
	addrs = dec_get_typed(x, e, "addresses", DOC_SEQ, true);
	if (addrs) {
		size_t o = dec_path_push(x, "addresses");

		if (addrs->n == 0 || addrs->n > 100)
			dec_err(x, addrs, "must hold 1 to 100 addresses, got %zu", addrs->n), ok = false;
		for (size_t i = 0; i < addrs->n; i++) {
			size_t o2 = dec_path_push(x, "[%zu]", i);
			struct addr a;

			if (!dec_parse_ip_node(x, addrs->v[i], &a))
				ok = false;
			else if (s->family && a.family != s->family)
				dec_err(x, addrs->v[i], "%s address in a slice of addressType %s",
					a.family == AF_INET ? "an IPv4" : "an IPv6",
					s->family == AF_INET ? "IPv4" : "IPv6"),
					ok = false;
			else if (i == 0)
				ep->addr = a;
			dec_path_pop(x, o2);
		}
		dec_path_pop(x, o);
	} else {
		ok = false;
	}
	cond = dec_get_typed(x, e, "conditions", DOC_MAP, false);
	if (cond) {
		size_t o = dec_path_push(x, "conditions");

		enum tristate ready = TRI_UNSET, serving = TRI_UNSET, terminating = TRI_UNSET;

		dec_get_bool_tri(x, cond, "ready", &ready);
		dec_get_bool_tri(x, cond, "serving", &serving);
		dec_get_bool_tri(x, cond, "terminating", &terminating);
		ep->ready = (uint8_t)ready;
		ep->serving = (uint8_t)serving;
		ep->terminating = (uint8_t)terminating;
		dec_path_pop(x, o);
	}
	/* Borrowed from the document until pack_endpoint_strings() copies them. */
	ep->node_name = (char *)dec_get_str(x, e, "nodeName", false);
	ep->zone = (char *)dec_get_str(x, e, "zone", false);
	hints = dec_get_typed(x, e, "hints", DOC_MAP, false);
	if (hints) {
		size_t o = dec_path_push(x, "hints");

		decode_hints(x, hints, "forZones", &ep->hint_zones, &ep->n_hint_zones);
		decode_hints(x, hints, "forNodes", &ep->hint_nodes, &ep->n_hint_nodes);
		dec_path_pop(x, o);
	}
	if (ok)
		s->n_endpoints++;
	else {
		strv_free(ep->hint_zones, ep->n_hint_zones);
		strv_free(ep->hint_nodes, ep->n_hint_nodes);
	}
}

static void decode_slice_ports(struct dec *x, const struct doc *obj, struct endpoint_slice *s)
{
	const struct doc *ports = dec_get_typed(x, obj, "ports", DOC_SEQ, false);
	size_t o;

	if (!ports)
		return;
	o = dec_path_push(x, "ports");
	if (ports->n > 100)
		dec_err(x, ports, "at most 100 ports per slice, got %zu", ports->n);
	s->ports = xcalloc(ports->n, sizeof(*s->ports));
	for (size_t i = 0; i < ports->n && i < 100; i++) {
		size_t o2 = dec_path_push(x, "[%zu]", i);
		struct slice_port *sp = &s->ports[s->n_ports];
		const char *name;
		long long v;

		if (dec_expect_type(x, ports->v[i], DOC_MAP)) {
			name = dec_get_str(x, ports->v[i], "name", false);
			sp->name = xstrdup(name ? name : "");
			dec_parse_proto(x, ports->v[i], &sp->proto);
			sp->port = -1;
			if (dec_get_int(x, ports->v[i], "port", false, 1, 65535, &v))
				sp->port = (int32_t)v;
			s->n_ports++;
		}
		dec_path_pop(x, o2);
	}
	dec_path_pop(x, o);
}

/* Where str already is among the first n of the slice's distinct strings, or -1. */
static ssize_t find_distinct(char *const *distinct, size_t n, const char *str)
{
	for (size_t i = 0; i < n; i++)
		if (streq(distinct[i], str))
			return (ssize_t)i;
	return -1;
}

/*
 * Copies the endpoints' node names and zones (borrowed from the document so
 * far) into one block the slice owns.  Zones repeat within a slice, so each
 * distinct string is stored once; node names mostly do not, so the search
 * for an equal one stops after DISTINCT_MAX distinct strings.
 */
#define DISTINCT_MAX 16
static void pack_endpoint_strings(struct endpoint_slice *s)
{
	char *distinct[DISTINCT_MAX];
	size_t n_distinct = 0, size = 0, off = 0;
	char *block;

	for (size_t i = 0; i < s->n_endpoints; i++) {
		char **f[2] = { &s->endpoints[i].node_name, &s->endpoints[i].zone };

		for (size_t k = 0; k < 2; k++) {
			if (!*f[k] || find_distinct(distinct, n_distinct, *f[k]) >= 0)
				continue;
			if (n_distinct < DISTINCT_MAX)
				distinct[n_distinct++] = *f[k];
			size += strlen(*f[k]) + 1;
		}
	}
	if (!size)
		return;
	block = xmalloc(size);
	n_distinct = 0;
	for (size_t i = 0; i < s->n_endpoints; i++) {
		char **f[2] = { &s->endpoints[i].node_name, &s->endpoints[i].zone };

		for (size_t k = 0; k < 2; k++) {
			ssize_t at;
			size_t len;

			if (!*f[k])
				continue;
			/* distinct[] now holds the copies, in the order first seen. */
			at = find_distinct(distinct, n_distinct, *f[k]);
			if (at >= 0) {
				*f[k] = distinct[at];
				continue;
			}
			len = strlen(*f[k]) + 1;
			memcpy(block + off, *f[k], len);
			*f[k] = block + off;
			if (n_distinct < DISTINCT_MAX)
				distinct[n_distinct++] = block + off;
			off += len;
		}
	}
	s->endpoint_strings = block;
}

/* Endpoints are read only when the address type is an IP family (not FQDN). */
static void decode_slice_endpoints(struct dec *x, const struct doc *obj, struct endpoint_slice *s)
{
	const struct doc *eps = dec_get_typed(x, obj, "endpoints", DOC_SEQ, false);
	size_t o;

	if (!eps || !s->family)
		return;
	o = dec_path_push(x, "endpoints");
	if (eps->n > 1000)
		dec_err(x, eps, "at most 1000 endpoints per slice, got %zu", eps->n);
	else {
		s->endpoints = xcalloc(eps->n, sizeof(*s->endpoints));
		for (size_t i = 0; i < eps->n; i++) {
			size_t o2 = dec_path_push(x, "[%zu]", i);

			if (dec_expect_type(x, eps->v[i], DOC_MAP))
				decode_slice_endpoint(x, eps->v[i], s);
			dec_path_pop(x, o2);
		}
		pack_endpoint_strings(s);
	}
	dec_path_pop(x, o);
}

int decode_slice(struct dec *x, const struct doc *obj, struct cluster *c)
{
	struct endpoint_slice *s = xcalloc(1, sizeof(*s));
	const struct doc *md;
	struct kvlist labels = { 0 };
	const char *at;
	struct meta m;
	size_t o;
	int ret;

	if (!dec_meta(x, obj, true, &m, "EndpointSlice"))
		goto out;
	if (!dec_is_dns1123_subdomain(m.name)) {
		o = dec_path_push(x, "metadata.name");
		dec_err(x, obj, "\"%s\" is not a valid EndpointSlice name (lowercase RFC 1123 subdomain)",
			m.name);
		dec_path_pop(x, o);
	}
	s->ns = xstrdup(m.ns);
	s->name = xstrdup(m.name);
	s->key = xasprintf("%s/%s", m.ns, m.name);
	md = doc_get(obj, "metadata");
	o = dec_path_push(x, "metadata");
	dec_string_map(x, md, "labels", &labels);
	dec_path_pop(x, o);
	if (kv_get(&labels, LABEL_SERVICE_NAME))
		s->service_name = xstrdup(kv_get(&labels, LABEL_SERVICE_NAME));
	else
		dec_warn(x, md, "no label %s: kube-proxy ignores this slice, and so does kroute",
			 LABEL_SERVICE_NAME);
	kv_done(&labels);

	at = dec_get_str(x, obj, "addressType", true);
	if (at) {
		if (streq(at, "IPv4"))
			s->family = AF_INET;
		else if (streq(at, "IPv6"))
			s->family = AF_INET6;
		else if (!streq(at, "FQDN")) {
			o = dec_path_push(x, "addressType");
			dec_err(x, doc_get(obj, "addressType"), "must be IPv4, IPv6 or FQDN, got \"%s\"",
				at);
			dec_path_pop(x, o);
		}
	}
	decode_slice_ports(x, obj, s);
	decode_slice_endpoints(x, obj, s);
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

		dec_err(x, obj, "duplicate object: already defined at %s:%d", prev->origin.file,
			prev->origin.line);
		slice_free(s);
		return -EINVAL;
	}
	return ret;
}
