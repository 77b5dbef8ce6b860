/* SPDX-License-Identifier: Apache-2.0 */
/* Constructors, destructors and indexes for the model; see model.h. */
#include "model/model.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "core/diag.h"
#include "core/util.h"

const char *proto_name(enum proto p)
{
	switch (p) {
	case PROTO_UDP:
		return "UDP";
	case PROTO_SCTP:
		return "SCTP";
	case PROTO_TCP:
		break;
	}
	return "TCP";
}

int proto_ipproto(enum proto p)
{
	switch (p) {
	case PROTO_UDP:
		return IPPROTO_UDP;
	case PROTO_SCTP:
		return IPPROTO_SCTP;
	case PROTO_TCP:
		break;
	}
	return IPPROTO_TCP;
}

const char *proto_name_lower(enum proto p)
{
	switch (p) {
	case PROTO_UDP:
		return "udp";
	case PROTO_SCTP:
		return "sctp";
	case PROTO_TCP:
		break;
	}
	return "tcp";
}

const char *traffic_policy_name(enum traffic_policy p)
{
	return p == POLICY_LOCAL ? "Local" : "Cluster";
}

const char *svc_type_name(enum svc_type t)
{
	switch (t) {
	case SVC_NODE_PORT:
		return "NodePort";
	case SVC_LOAD_BALANCER:
		return "LoadBalancer";
	case SVC_EXTERNAL_NAME:
		return "ExternalName";
	case SVC_CLUSTER_IP:
		break;
	}
	return "ClusterIP";
}

const char *kv_get(const struct kvlist *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (streq(l->items[i].key, key))
			return l->items[i].value;
	return NULL;
}

void kv_add(struct kvlist *l, const char *key, const char *value)
{
	struct kv kv;

	if (l->block) {
		/* Packed: every item becomes owned on its own, as kv_add makes them. */
		struct kvlist owned = { 0 };

		for (size_t i = 0; i < l->n; i++) {
			kv = (struct kv){ xstrdup(l->items[i].key), xstrdup(l->items[i].value) };
			VEC_PUSH(owned.items, owned.n, owned.cap, kv);
		}
		free(l->block);
		*l = owned;
	}
	kv = (struct kv){ xstrdup(key), xstrdup(value) };
	VEC_PUSH(l->items, l->n, l->cap, kv);
}

void kv_pack(struct kvlist *l, const struct kv *pairs, size_t n)
{
	size_t size = n * sizeof(struct kv);
	char *block, *p;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		size += strlen(pairs[i].key) + strlen(pairs[i].value) + 2;
	block = xmalloc(size);
	l->items = (struct kv *)(void *)block;
	p = block + n * sizeof(struct kv);
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(pairs[i].key) + 1, vl = strlen(pairs[i].value) + 1;

		l->items[i].key = memcpy(p, pairs[i].key, kl);
		l->items[i].value = memcpy(p + kl, pairs[i].value, vl);
		p += kl + vl;
	}
	l->n = l->cap = n;
	l->block = block;
}

void kv_done(struct kvlist *l)
{
	if (l->block) {
		free(l->block);
		*l = (struct kvlist){ 0 };
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	*l = (struct kvlist){ 0 };
}

void service_free(struct service *s)
{
	if (!s)
		return;
	free(s->ns);
	free(s->name);
	free(s->key);
	free(s->origin.file);
	kv_done(&s->labels);
	kv_done(&s->annotations);
	free(s->cluster_ips);
	for (size_t i = 0; i < s->n_ports; i++) {
		free(s->ports[i].name);
		free(s->ports[i].target_port_name);
	}
	free(s->ports);
	free(s->external_ips);
	free(s->lb_ingress);
	free(s->lb_source_ranges);
	free(s->traffic_distribution);
	free(s->proxy_name);
	free(s);
}

void slice_free(struct endpoint_slice *s)
{
	if (!s)
		return;
	free(s->ns);
	free(s->name);
	free(s->key);
	free(s->origin.file);
	free(s->service_name);
	for (size_t i = 0; i < s->n_ports; i++)
		free(s->ports[i].name);
	free(s->ports);
	for (size_t i = 0; i < s->n_endpoints; i++) {
		struct slice_endpoint *e = &s->endpoints[i];

		if (!s->endpoint_strings) {
			free(e->node_name);
			free(e->zone);
		}
		strv_free(e->hint_zones, e->n_hint_zones);
		strv_free(e->hint_nodes, e->n_hint_nodes);
	}
	free(s->endpoints);
	free(s->endpoint_strings);
	free(s);
}

void node_free(struct node *n)
{
	if (!n)
		return;
	free(n->name);
	free(n->origin.file);
	kv_done(&n->labels);
	free(n->addresses);
	free(n->pod_cidrs);
	strv_free(n->taints, n->n_taints);
	free(n);
}

void cluster_init(struct cluster *c)
{
	*c = (struct cluster){ 0 };
	strmap_init(&c->service_index);
	strmap_init(&c->slice_index);
	strmap_init(&c->node_index);
	strmap_init(&c->slices_by_service);
}

void cluster_done(struct cluster *c)
{
	for (size_t i = 0; i < c->slices_by_service.cap; i++) {
		struct strmap_slot *s = &c->slices_by_service.slots[i];

		if (s->key) {
			struct slice_group *g = s->value;

			free(g->slices);
			free(g);
			free((char *)s->key);
		}
	}
	for (size_t i = 0; i < c->n_services && !c->borrows_objects; i++)
		service_free(c->services[i]);
	for (size_t i = 0; i < c->n_slices && !c->borrows_objects; i++)
		slice_free(c->slices[i]);
	for (size_t i = 0; i < c->n_nodes && !c->borrows_objects; i++)
		node_free(c->nodes[i]);
	free(c->services);
	free(c->slices);
	free(c->nodes);
	strmap_done(&c->service_index);
	strmap_done(&c->slice_index);
	strmap_done(&c->node_index);
	strmap_done(&c->slices_by_service);
	*c = (struct cluster){ 0 };
}

int cluster_add_service(struct cluster *c, struct service *s)
{
	if (strmap_get(&c->service_index, s->key))
		return -EEXIST;
	VEC_PUSH(c->services, c->n_services, c->cap_services, s);
	strmap_put(&c->service_index, s->key, s);
	return 0;
}

int cluster_add_slice(struct cluster *c, struct endpoint_slice *s)
{
	struct slice_group *g;
	char *svc_key;

	if (strmap_get(&c->slice_index, s->key))
		return -EEXIST;
	VEC_PUSH(c->slices, c->n_slices, c->cap_slices, s);
	strmap_put(&c->slice_index, s->key, s);
	if (!s->service_name)
		return 0;
	svc_key = xasprintf("%s/%s", s->ns, s->service_name);
	g = strmap_get(&c->slices_by_service, svc_key);
	if (!g) {
		g = xcalloc(1, sizeof(*g));
		strmap_put(&c->slices_by_service, svc_key, g);
	} else {
		free(svc_key);
	}
	VEC_PUSH(g->slices, g->n, g->cap, s);
	return 0;
}

int cluster_add_node(struct cluster *c, struct node *n)
{
	if (strmap_get(&c->node_index, n->name))
		return -EEXIST;
	VEC_PUSH(c->nodes, c->n_nodes, c->cap_nodes, n);
	strmap_put(&c->node_index, n->name, n);
	return 0;
}

struct service *cluster_find_service(const struct cluster *c, const char *key)
{
	return strmap_get(&c->service_index, key);
}

const struct endpoint_slice *cluster_find_slice(const struct cluster *c, const char *key)
{
	return strmap_get(&c->slice_index, key);
}

const struct node *cluster_find_node(const struct cluster *c, const char *name)
{
	return strmap_get(&c->node_index, name);
}

const struct slice_group *cluster_service_slices(const struct cluster *c, const char *svc_key)
{
	return strmap_get(&c->slices_by_service, svc_key);
}

/* Swap-removes p from v (order is not kept: views sort what they read). */
static bool ptrv_remove(void **v, size_t *n, const void *p)
{
	for (size_t i = 0; i < *n; i++) {
		if (v[i] == p) {
			v[i] = v[--*n];
			return true;
		}
	}
	return false;
}

void cluster_remove_service(struct cluster *c, struct service *s)
{
	if (strmap_get(&c->service_index, s->key) != s)
		return;
	strmap_del(&c->service_index, s->key, NULL);
	ptrv_remove((void **)c->services, &c->n_services, s);
}

void cluster_remove_slice(struct cluster *c, struct endpoint_slice *s)
{
	if (strmap_get(&c->slice_index, s->key) != s)
		return;
	strmap_del(&c->slice_index, s->key, NULL);
	ptrv_remove((void **)c->slices, &c->n_slices, s);
	if (s->service_name) {
		char *svc_key = xasprintf("%s/%s", s->ns, s->service_name);
		struct slice_group *g = strmap_get(&c->slices_by_service, svc_key);

		if (g && ptrv_remove((void **)g->slices, &g->n, s) && !g->n) {
			const char *stored;

			strmap_del(&c->slices_by_service, svc_key, &stored);
			free((char *)stored);
			free(g->slices);
			free(g);
		}
		free(svc_key);
	}
}

void cluster_remove_node(struct cluster *c, struct node *n)
{
	if (strmap_get(&c->node_index, n->name) != n)
		return;
	strmap_del(&c->node_index, n->name, NULL);
	ptrv_remove((void **)c->nodes, &c->n_nodes, n);
}

size_t cluster_add_all(struct cluster *dst, const struct cluster *src, struct diag *d,
		       bool free_duplicates)
{
	size_t dups = 0;

	for (size_t i = 0; i < src->n_services; i++) {
		struct service *s = src->services[i];
		const struct service *p;

		if (cluster_add_service(dst, s) == 0)
			continue;
		p = cluster_find_service(dst, s->key);
		diag_add(d, DIAG_ERROR, s->origin.file, s->origin.line, NULL, NULL,
			 "Service %s: duplicate object: already defined at %s:%d", s->key,
			 p->origin.file, p->origin.line);
		dups++;
		if (free_duplicates)
			service_free(s);
	}
	for (size_t i = 0; i < src->n_slices; i++) {
		struct endpoint_slice *s = src->slices[i];
		const struct endpoint_slice *p;

		if (cluster_add_slice(dst, s) == 0)
			continue;
		p = cluster_find_slice(dst, s->key);
		diag_add(d, DIAG_ERROR, s->origin.file, s->origin.line, NULL, NULL,
			 "EndpointSlice %s: duplicate object: already defined at %s:%d", s->key,
			 p->origin.file, p->origin.line);
		dups++;
		if (free_duplicates)
			slice_free(s);
	}
	for (size_t i = 0; i < src->n_nodes; i++) {
		struct node *n = src->nodes[i];
		const struct node *p;

		if (cluster_add_node(dst, n) == 0)
			continue;
		p = cluster_find_node(dst, n->name);
		diag_add(d, DIAG_ERROR, n->origin.file, n->origin.line, NULL, NULL,
			 "Node %s: duplicate object: already defined at %s:%d", n->name,
			 p->origin.file, p->origin.line);
		dups++;
		if (free_duplicates)
			node_free(n);
	}
	return dups;
}
