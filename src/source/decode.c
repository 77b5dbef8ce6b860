/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Service, EndpointSlice and Node decoding; see decode.h.
 *
 * The rules follow the API server's validation for the fields kroute reads,
 * so that a file kroute accepts is one the cluster would accept, and a
 * mistake is reported where it is made rather than showing up as a strange
 * route.  Where the API server would reject a field but the meaning is
 * clear and harmless, we accept it with a warning saying what it does.
 *
 * This file: decode_object() and what every kind uses (field path,
 * reports, typed getters, name rules, metadata); one file per kind beside
 * it (decode_service.c, decode_slice.c, decode_node.c).
 */
#include "source/decode.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "source/decode_internal.h"

size_t dec_path_push(struct dec *x, const char *fmt, ...)
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

void dec_path_pop(struct dec *x, size_t old)
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

void dec_err(struct dec *x, const struct doc *at, const char *fmt, ...)
{
	va_list ap;

	x->errors++;
	va_start(ap, fmt);
	report(x, DIAG_ERROR, at, fmt, ap);
	va_end(ap);
}

void dec_warn(struct dec *x, const struct doc *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(x, DIAG_WARNING, at, fmt, ap);
	va_end(ap);
}

/* Short quoted rendering of a scalar for messages. */
const char *dec_shown(const struct doc *n, char buf[80])
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
const struct doc *dec_field(struct dec *x, const struct doc *map, const char *key,
			    bool required)
{
	const struct doc *v = doc_get(map, key);

	if (v && v->type == DOC_NULL)
		v = NULL;
	if (!v && required) {
		size_t o = dec_path_push(x, "%s", key);

		dec_err(x, map, "missing required field");
		dec_path_pop(x, o);
	}
	return v;
}

bool dec_expect_type(struct dec *x, const struct doc *v, enum doc_type t)
{
	char buf[80];

	if (v->type == t)
		return true;
	dec_err(x, v, "expected %s %s, got %s", t == DOC_INT ? "an" : "a", doc_type_name(t),
		dec_shown(v, buf));
	return false;
}

/* String field: NULL when absent (or on a type error, which is reported). */
const char *dec_get_str(struct dec *x, const struct doc *map, const char *key, bool required)
{
	const struct doc *v = dec_field(x, map, key, required);
	const char *ret = NULL;
	size_t o;

	if (!v)
		return NULL;
	o = dec_path_push(x, "%s", key);
	if (dec_expect_type(x, v, DOC_STR))
		ret = v->text;
	dec_path_pop(x, o);
	return ret;
}

/* Integer field in [min, max]; returns false when absent or invalid. */
bool dec_get_int(struct dec *x, const struct doc *map, const char *key, bool required,
		 long long min, long long max, long long *ret)
{
	const struct doc *v = dec_field(x, map, key, required);
	bool ok = false;
	size_t o;

	if (!v)
		return false;
	o = dec_path_push(x, "%s", key);
	if (dec_expect_type(x, v, DOC_INT)) {
		if (v->i < min || v->i > max)
			dec_err(x, v, "must be between %lld and %lld, got %lld", min, max, v->i);
		else
			*ret = v->i, ok = true;
	}
	dec_path_pop(x, o);
	return ok;
}

void dec_get_bool_tri(struct dec *x, const struct doc *map, const char *key,
		      enum tristate *ret)
{
	const struct doc *v = dec_field(x, map, key, false);
	size_t o;

	*ret = TRI_UNSET;
	if (!v)
		return;
	o = dec_path_push(x, "%s", key);
	if (dec_expect_type(x, v, DOC_BOOL))
		*ret = v->b ? TRI_TRUE : TRI_FALSE;
	dec_path_pop(x, o);
}

const struct doc *dec_get_typed(struct dec *x, const struct doc *map, const char *key,
				enum doc_type t, bool required)
{
	const struct doc *v = dec_field(x, map, key, required);
	size_t o;

	if (!v)
		return NULL;
	o = dec_path_push(x, "%s", key);
	if (!dec_expect_type(x, v, t))
		v = NULL;
	dec_path_pop(x, o);
	return v;
}

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63. */
bool dec_is_dns1123_label(const char *s, size_t len)
{
	if (len == 0 || len > 63 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum_lower(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool dec_is_dns1123_subdomain(const char *s)
{
	size_t len = strlen(s);
	const char *p = s;

	if (len == 0 || len > 253)
		return false;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		if (!dec_is_dns1123_label(p, l))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
}

/* Service names are RFC 1035 labels: they must start with a letter. */
bool dec_is_dns1035_label(const char *s)
{
	return dec_is_dns1123_label(s, strlen(s)) && s[0] >= 'a' && s[0] <= 'z';
}

/* IANA service name (named targetPort): 1-15 chars, [a-z0-9-], a letter, no "--", no edge '-'. */
bool dec_is_iana_svc_name(const char *s)
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

void dec_string_map(struct dec *x, const struct doc *map, const char *key, struct kvlist *out)
{
	const struct doc *m = dec_get_typed(x, map, key, DOC_MAP, false);
	struct kv small[16], *pairs;
	size_t o, n = 0;

	if (!m)
		return;
	o = dec_path_push(x, "%s", key);
	/* Borrowed from the document, then copied in one block (kv_pack). */
	pairs = m->n <= 16 ? small : xcalloc(m->n, sizeof(*pairs));
	for (size_t i = 0; i < m->n; i++) {
		const struct doc *v = m->v[i];
		size_t o2 = dec_path_push(x, "%s", m->keys[i]);

		if (v->type == DOC_NULL)
			pairs[n++] = (struct kv){ m->keys[i], (char *)"" };
		else if (dec_expect_type(x, v, DOC_STR))
			pairs[n++] = (struct kv){ m->keys[i], v->text };
		dec_path_pop(x, o2);
	}
	if (out->n)
		for (size_t i = 0; i < n; i++)
			kv_add(out, pairs[i].key, pairs[i].value);
	else
		kv_pack(out, pairs, n);
	if (pairs != small)
		free(pairs);
	dec_path_pop(x, o);
}

bool dec_meta(struct dec *x, const struct doc *obj, bool namespaced, struct meta *m,
			const char *kind)
{
	const struct doc *md = dec_get_typed(x, obj, "metadata", DOC_MAP, true);
	size_t o;

	m->name = NULL;
	m->ns = NULL;
	if (!md)
		return false;
	o = dec_path_push(x, "metadata");
	m->name = dec_get_str(x, md, "name", true);
	if (namespaced) {
		m->ns = dec_get_str(x, md, "namespace", false);
		if (!m->ns)
			m->ns = "default";
		else if (!dec_is_dns1123_label(m->ns, strlen(m->ns))) {
			size_t o2 = dec_path_push(x, "namespace");

			dec_err(x, doc_get(md, "namespace"),
				"\"%s\" is not a valid namespace name (lowercase RFC 1123 label)", m->ns);
			dec_path_pop(x, o2);
		}
	}
	if (m->name) {
		snprintf(x->object, sizeof(x->object), "%s %s%s%s", kind, namespaced ? m->ns : "",
			 namespaced ? "/" : "", m->name);
	}
	dec_path_pop(x, o);
	return m->name != NULL;
}

bool dec_parse_proto(struct dec *x, const struct doc *map, enum proto *ret)
{
	const char *p = dec_get_str(x, map, "protocol", false);

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
		size_t o = dec_path_push(x, "protocol");

		dec_err(x, doc_get(map, "protocol"), "must be TCP, UDP or SCTP, got \"%s\"", p);
		dec_path_pop(x, o);
		return false;
	}
	return true;
}

bool dec_parse_ip_node(struct dec *x, const struct doc *v, struct addr *ret)
{
	if (!dec_expect_type(x, v, DOC_STR))
		return false;
	if (addr_parse(v->text, ret) < 0) {
		dec_err(x, v, "\"%s\" is not a valid IP address", v->text);
		return false;
	}
	return true;
}

int decode_object(const struct doc *obj, const char *file, struct cluster *c, struct diag *d)
{
	struct dec x = { .file = file, .d = d, .line = obj->line };
	const char *kind, *api;

	kind = dec_get_str(&x, obj, "kind", true);
	api = dec_get_str(&x, obj, "apiVersion", true);
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
