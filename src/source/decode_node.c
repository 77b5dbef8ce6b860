/* SPDX-License-Identifier: Apache-2.0 */
/* Node decoding: labels, unschedulable, pod CIDRs, taints, addresses; see decode.h. */
#include <errno.h>
#include <stdlib.h>

#include "core/util.h"
#include "source/decode_internal.h"

static void decode_pod_cidrs(struct dec *x, const struct doc *spec, struct node *n)
{
	const struct doc *cidrs = dec_get_typed(x, spec, "podCIDRs", DOC_SEQ, false);
	const char *one = dec_get_str(x, spec, "podCIDR", false);

	n->pod_cidrs = xcalloc(cidrs ? cidrs->n + 1 : 1, sizeof(*n->pod_cidrs));
	if (cidrs) {
		size_t o = dec_path_push(x, "podCIDRs");

		for (size_t i = 0; i < cidrs->n; i++) {
			size_t o2 = dec_path_push(x, "[%zu]", i);
			const struct doc *e = cidrs->v[i];

			if (dec_expect_type(x, e, DOC_STR)) {
				if (cidr_parse(e->text, &n->pod_cidrs[n->n_pod_cidrs]) < 0)
					dec_err(x, e, "\"%s\" is not a valid CIDR", e->text);
				else
					n->n_pod_cidrs++;
			}
			dec_path_pop(x, o2);
		}
		dec_path_pop(x, o);
	} else if (one) {
		size_t o = dec_path_push(x, "podCIDR");

		if (cidr_parse(one, &n->pod_cidrs[0]) < 0)
			dec_err(x, doc_get(spec, "podCIDR"), "\"%s\" is not a valid CIDR", one);
		else
			n->n_pod_cidrs = 1;
		dec_path_pop(x, o);
	}
}

static void decode_taints(struct dec *x, const struct doc *spec, struct node *n)
{
	const struct doc *taints = dec_get_typed(x, spec, "taints", DOC_SEQ, false);
	size_t o;

	if (!taints)
		return;
	o = dec_path_push(x, "taints");
	n->taints = xcalloc(taints->n, sizeof(*n->taints));
	for (size_t i = 0; i < taints->n; i++) {
		size_t o2 = dec_path_push(x, "[%zu]", i);

		if (dec_expect_type(x, taints->v[i], DOC_MAP)) {
			const char *k = dec_get_str(x, taints->v[i], "key", true);

			if (k)
				n->taints[n->n_taints++] = xstrdup(k);
		}
		dec_path_pop(x, o2);
	}
	dec_path_pop(x, o);
}

static void decode_node_spec(struct dec *x, const struct doc *obj, struct node *n)
{
	const struct doc *spec = dec_get_typed(x, obj, "spec", DOC_MAP, false);
	const struct doc *u;
	size_t o;

	if (!spec)
		return;
	o = dec_path_push(x, "spec");
	u = dec_field(x, spec, "unschedulable", false);
	if (u) {
		size_t o2 = dec_path_push(x, "unschedulable");

		if (dec_expect_type(x, u, DOC_BOOL))
			n->unschedulable = u->b;
		dec_path_pop(x, o2);
	}
	decode_pod_cidrs(x, spec, n);
	decode_taints(x, spec, n);
	dec_path_pop(x, o);
}

/*
 * status.addresses: InternalIPs first (the node IPs kube-proxy prefers), then
 * ExternalIPs; a missing field is reported on the first pass only.
 */
static void decode_node_addresses(struct dec *x, const struct doc *obj, struct node *n)
{
	const struct doc *status = dec_get_typed(x, obj, "status", DOC_MAP, false);
	const struct doc *addrs;
	size_t o, o2;

	if (!status)
		return;
	o = dec_path_push(x, "status");
	addrs = dec_get_typed(x, status, "addresses", DOC_SEQ, false);
	if (!addrs) {
		dec_path_pop(x, o);
		return;
	}
	o2 = dec_path_push(x, "addresses");
	n->addresses = xcalloc(addrs->n, sizeof(*n->addresses));
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < addrs->n; i++) {
			size_t o3 = dec_path_push(x, "[%zu]", i);
			const struct doc *e = addrs->v[i];
			const char *type, *a;

			if (pass == 0 && !dec_expect_type(x, e, DOC_MAP)) {
				dec_path_pop(x, o3);
				continue;
			}
			if (e->type != DOC_MAP) {
				dec_path_pop(x, o3);
				continue;
			}
			type = dec_get_str(x, e, "type", pass == 0);
			a = dec_get_str(x, e, "address", pass == 0);
			if (type && a &&
			    ((pass == 0 && streq(type, "InternalIP")) ||
			     (pass == 1 && streq(type, "ExternalIP")))) {
				size_t o4 = dec_path_push(x, "address");

				if (addr_parse(a, &n->addresses[n->n_addresses]) < 0)
					dec_err(x, doc_get(e, "address"),
						"\"%s\" is not a valid IP address", a);
				else
					n->n_addresses++;
				dec_path_pop(x, o4);
			}
			dec_path_pop(x, o3);
			if (x->errors)
				break;
		}
	}
	dec_path_pop(x, o2);
	dec_path_pop(x, o);
}

int decode_node(struct dec *x, const struct doc *obj, struct cluster *c)
{
	struct node *n = xcalloc(1, sizeof(*n));
	const struct doc *md;
	struct meta m;
	size_t o;
	int ret;

	if (!dec_meta(x, obj, false, &m, "Node"))
		goto out;
	if (!dec_is_dns1123_subdomain(m.name)) {
		o = dec_path_push(x, "metadata.name");
		dec_err(x, obj, "\"%s\" is not a valid node name (lowercase RFC 1123 subdomain)", m.name);
		dec_path_pop(x, o);
	}
	n->name = xstrdup(m.name);
	md = doc_get(obj, "metadata");
	o = dec_path_push(x, "metadata");
	dec_string_map(x, md, "labels", &n->labels);
	if (dec_field(x, md, "deletionTimestamp", false))
		n->deleting = true;
	dec_path_pop(x, o);
	n->zone = (char *)kv_get(&n->labels, LABEL_ZONE);

	decode_node_spec(x, obj, n);
	decode_node_addresses(x, obj, n);
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

		dec_err(x, obj, "duplicate object: already defined at %s:%d", prev->origin.file,
			prev->origin.line);
		node_free(n);
		return -EINVAL;
	}
	return ret;
}
