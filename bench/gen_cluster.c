/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gen_cluster: writes a large synthetic cluster (Nodes, Services and their
 * EndpointSlices) for the load + policy benchmark, as multi-document YAML,
 * one kind: List in YAML, or one List in JSON.  The output is a pure
 * function of the options and the seed, so runs on different machines
 * measure the same bytes.
 *
 * The objects look like what "kubectl get -o yaml" prints, not like the
 * smallest input kroute accepts: uid, resourceVersion, selectors,
 * ownerReferences, per-endpoint targetRefs and node status are included
 * (kroute ignores them, but it still has to parse them: here they are
 * about half of the bytes).  --minimal leaves them out.
 *
 * The service mix follows what a large cluster typically holds: mostly
 * ClusterIP, some NodePort and LoadBalancer (with externalTrafficPolicy
 * Local on part of them), a few headless and ExternalName services, a few
 * internalTrafficPolicy Local, some topology-aware (zone hinted) and some
 * dual-stack services, and endpoints that are mostly ready.  NodePorts are
 * allocated from 30000-32767 as the API server does; once that range is
 * used up, further services that would have been NodePort/LoadBalancer are
 * made ClusterIP, because the API server would refuse them.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a tiny document tree, printed as YAML (block style) or JSON ---- */

enum node_type {
	N_MAP,
	N_SEQ,
	N_STR,   /* quoted when YAML would read it as something else */
	N_QSTR,  /* always quoted (timestamps, as kubectl prints them) */
	N_RAW,   /* numbers and booleans: never quoted */
};

struct node {
	enum node_type type;
	char *key;   /* set when the parent is a map */
	char *text;  /* scalars */
	struct node **kids;
	size_t n, cap;
};

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fprintf(stderr, "gen_cluster: out of memory\n");
		exit(1);
	}
	return p;
}

static char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static char *xvasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0) {
		fprintf(stderr, "gen_cluster: out of memory\n");
		exit(1);
	}
	return s;
}

static struct node *new_node(enum node_type t)
{
	struct node *n = xrealloc(NULL, sizeof(*n));

	*n = (struct node){ .type = t };
	return n;
}

static void free_node(struct node *n)
{
	for (size_t i = 0; i < n->n; i++)
		free_node(n->kids[i]);
	free(n->kids);
	free(n->key);
	free(n->text);
	free(n);
}

static struct node *add(struct node *parent, const char *key, struct node *child)
{
	if (parent->n == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->kids = xrealloc(parent->kids, parent->cap * sizeof(*parent->kids));
	}
	if (key)
		child->key = strdup(key);
	parent->kids[parent->n++] = child;
	return child;
}

static struct node *map(struct node *parent, const char *key)
{
	return add(parent, key, new_node(N_MAP));
}

static struct node *seq(struct node *parent, const char *key)
{
	return add(parent, key, new_node(N_SEQ));
}

static void scalar(struct node *parent, const char *key, enum node_type t, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));
static void scalar(struct node *parent, const char *key, enum node_type t, const char *fmt, ...)
{
	struct node *n = new_node(t);
	va_list ap;

	va_start(ap, fmt);
	n->text = xvasprintf(fmt, ap);
	va_end(ap);
	add(parent, key, n);
}

#define str(p, k, ...) scalar(p, k, N_STR, __VA_ARGS__)
#define qstr(p, k, ...) scalar(p, k, N_QSTR, __VA_ARGS__)
#define raw(p, k, ...) scalar(p, k, N_RAW, __VA_ARGS__)

/*
 * Plain YAML scalars that a YAML 1.1 reader (go-yaml v2, as kubectl uses,
 * and kroute) would not read back as the same string: they get quotes.
 */
static bool yaml_needs_quotes(const char *s)
{
	static const char *const words[] = { "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No",
					      "NO", "true", "True", "TRUE", "false", "False",
					      "FALSE", "on", "On", "ON", "off", "Off", "OFF",
					      "null", "Null", "NULL", "~", NULL };
	size_t dots = 0;
	bool numeric = true;

	if (!*s || strchr("!&*|>'\"%@`{}[],#?:- ", s[0]) || strstr(s, ": ") || strstr(s, " #"))
		return true;
	for (const char *const *w = words; *w; w++)
		if (!strcmp(s, *w))
			return true;
	for (const char *p = s; *p; p++) {
		if (*p == '.')
			dots++;
		else if (!strchr("0123456789+-_eExXoObB", *p))
			numeric = false;
	}
	return numeric && dots <= 1;
}

static void print_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void yaml_scalar(FILE *f, const struct node *n)
{
	if (n->type == N_RAW || (n->type == N_STR && !yaml_needs_quotes(n->text)))
		fputs(n->text, f);
	else
		print_quoted(f, n->text);
}

static void indent(FILE *f, int depth)
{
	for (int i = 0; i < depth; i++)
		fputs("  ", f);
}

static bool is_container(const struct node *n)
{
	return n->type == N_MAP || n->type == N_SEQ;
}

/*
 * Block style as kubectl prints it: a sequence under a key sits at the
 * key's indentation, and a mapping inside a sequence starts on the "- "
 * line.  first_inline: the first line was already started by "- ".
 */
static void yaml_body(FILE *f, const struct node *n, int depth, bool first_inline)
{
	for (size_t i = 0; i < n->n; i++) {
		const struct node *k = n->kids[i];
		bool inline_here = first_inline && i == 0;

		if (!inline_here)
			indent(f, depth);
		if (n->type == N_SEQ) {
			fputs("- ", f);
			if (k->type == N_MAP && k->n) {
				yaml_body(f, k, depth + 1, true);
			} else if (k->type == N_SEQ && k->n) {
				fputc('\n', f);
				yaml_body(f, k, depth + 1, false);
			} else if (is_container(k)) {
				fputs(k->type == N_MAP ? "{}\n" : "[]\n", f);
			} else {
				yaml_scalar(f, k);
				fputc('\n', f);
			}
			continue;
		}
		fprintf(f, "%s:", k->key);
		if (is_container(k) && !k->n) {
			fputs(k->type == N_MAP ? " {}\n" : " []\n", f);
		} else if (k->type == N_MAP) {
			fputc('\n', f);
			yaml_body(f, k, depth + 1, false);
		} else if (k->type == N_SEQ) {
			fputc('\n', f);
			yaml_body(f, k, depth, false);
		} else {
			fputc(' ', f);
			yaml_scalar(f, k);
			fputc('\n', f);
		}
	}
}

static void json_value(FILE *f, const struct node *n, int depth)
{
	if (!is_container(n)) {
		if (n->type == N_RAW)
			fputs(n->text, f);
		else
			print_quoted(f, n->text);
		return;
	}
	if (!n->n) {
		fputs(n->type == N_MAP ? "{}" : "[]", f);
		return;
	}
	fputc(n->type == N_MAP ? '{' : '[', f);
	for (size_t i = 0; i < n->n; i++) {
		fputs(i ? ",\n" : "\n", f);
		indent(f, depth + 1);
		if (n->type == N_MAP) {
			print_quoted(f, n->kids[i]->key);
			fputs(": ", f);
		}
		json_value(f, n->kids[i], depth + 1);
	}
	fputc('\n', f);
	indent(f, depth);
	fputc(n->type == N_MAP ? '}' : ']', f);
}

/* ---- output framing: documents, or the items of one List ---- */

enum format {
	FMT_YAML,      /* one document per object, "---" between */
	FMT_YAML_LIST, /* apiVersion: v1, kind: List, items: [...] */
	FMT_JSON_LIST,
};

struct out {
	FILE *f;
	enum format fmt;
	size_t n_objects;
};

static void out_begin(struct out *o)
{
	if (o->fmt == FMT_YAML_LIST)
		fputs("apiVersion: v1\nkind: List\nmetadata:\n  resourceVersion: \"\"\nitems:\n", o->f);
	else if (o->fmt == FMT_JSON_LIST)
		fputs("{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"metadata\": {\"resourceVersion\": \"\"},\n  \"items\": [", o->f);
}

/* Prints and frees one object. */
static void out_object(struct out *o, struct node *obj)
{
	switch (o->fmt) {
	case FMT_YAML:
		if (o->n_objects)
			fputs("---\n", o->f);
		yaml_body(o->f, obj, 0, false);
		break;
	case FMT_YAML_LIST:
		fputs("- ", o->f);
		yaml_body(o->f, obj, 1, true);
		break;
	case FMT_JSON_LIST:
		fputs(o->n_objects ? ",\n    " : "\n    ", o->f);
		json_value(o->f, obj, 2);
		break;
	}
	o->n_objects++;
	free_node(obj);
}

static void out_end(struct out *o)
{
	if (o->fmt == FMT_JSON_LIST)
		fputs("\n  ]\n}\n", o->f);
}

/* ---- deterministic randomness ---- */

/*
 * Two streams: one decides the cluster's shape (types, policies, endpoint
 * placement), the other only cosmetic values (uids, name suffixes), so that
 * --minimal and the output format do not change the shape.
 */
static uint64_t shape_state, cosmetic_state;

/* splitmix64: tiny, fast, and the same sequence everywhere for a seed. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng(void)
{
	return splitmix64(&shape_state);
}

static uint64_t cosmetic(void)
{
	return splitmix64(&cosmetic_state);
}

/* True with probability pct percent. */
static bool chance(unsigned pct)
{
	return rng() % 1000 < pct * 10u;
}

static unsigned below(unsigned n)
{
	return (unsigned)(rng() % n);
}

/* A random-looking but deterministic UUID, as metadata.uid holds. */
static void uid(struct node *md)
{
	uint64_t a = cosmetic(), b = cosmetic();

	str(md, "uid", "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-a%03" PRIx64 "-%012" PRIx64,
	    a >> 32, (a >> 16) & 0xffff, a & 0xfff, (b >> 48) & 0xfff, b & UINT64_C(0xffffffffffff));
}

/* ---- the cluster ---- */

struct opts {
	unsigned services, endpoints, nodes, zones, namespaces;
	uint64_t seed;
	bool minimal;
	enum format fmt;
	const char *output;
};

#define NODE_PORT_MIN 30000
#define NODE_PORT_MAX 32767
/* Per-node pod CIDR: a /21 of 10.128.0.0/9, so up to 2046 pods per node and 4096 nodes. */
#define POD_BLOCK 2048u
#define MAX_NODES 4096u
/* The EndpointSlice controller's default maxEndpointsPerSlice. */
#define SLICE_MAX 100u

static const char *const zone_letters = "abcdefghijklmnopqrstuvwxyz";

static void zone_name(char *buf, size_t len, unsigned z)
{
	snprintf(buf, len, "region-1%c", zone_letters[z % 26]);
}

static void node_name(char *buf, size_t len, unsigned i)
{
	snprintf(buf, len, "node-%05u", i);
}

static void ipv4(char *buf, size_t len, uint32_t a)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static const char *timestamp(void)
{
	return "2025-03-01T12:00:00Z";
}

static void emit_node(struct out *o, const struct opts *op, unsigned i)
{
	struct node *obj = new_node(N_MAP), *md, *l, *spec, *st, *addrs, *a;
	char name[32], zone[32], cidr[32];
	uint32_t base = (10u << 24 | 128u << 16) + i * POD_BLOCK;

	node_name(name, sizeof(name), i);
	zone_name(zone, sizeof(zone), i % op->zones);
	ipv4(cidr, sizeof(cidr), base);
	str(obj, "apiVersion", "v1");
	str(obj, "kind", "Node");
	md = map(obj, "metadata");
	l = map(md, "labels");
	if (!op->minimal) {
		str(l, "beta.kubernetes.io/arch", "amd64");
		str(l, "beta.kubernetes.io/os", "linux");
		str(l, "kubernetes.io/arch", "amd64");
		str(l, "kubernetes.io/hostname", "%s", name);
		str(l, "kubernetes.io/os", "linux");
		str(l, "node.kubernetes.io/instance-type", "m5.2xlarge");
		str(l, "topology.kubernetes.io/region", "region-1");
	}
	str(l, "topology.kubernetes.io/zone", "%s", zone);
	str(md, "name", "%s", name);
	if (!op->minimal) {
		qstr(md, "creationTimestamp", "%s", timestamp());
		qstr(md, "resourceVersion", "%" PRIu64, 1000000 + cosmetic() % 9000000);
		uid(md);
	}
	spec = map(obj, "spec");
	str(spec, "podCIDR", "%s/21", cidr);
	str(seq(spec, "podCIDRs"), NULL, "%s/21", cidr);
	if (!op->minimal)
		str(spec, "providerID", "aws:///%s/i-%012" PRIx64, zone, cosmetic() & UINT64_C(0xffffffffffff));
	/* A few control-plane nodes, as large clusters have. */
	if (i < 3) {
		struct node *t = map(seq(spec, "taints"), NULL);

		str(t, "effect", "NoSchedule");
		str(t, "key", "node-role.kubernetes.io/control-plane");
	}
	st = map(obj, "status");
	addrs = seq(st, "addresses");
	a = map(addrs, NULL);
	str(a, "address", "192.168.%u.%u", i / 250, i % 250 + 1);
	str(a, "type", "InternalIP");
	a = map(addrs, NULL);
	str(a, "address", "%s", name);
	str(a, "type", "Hostname");
	if (!op->minimal) {
		struct node *cap = map(st, "allocatable"), *conds, *c, *info;

		str(cap, "cpu", "7910m");
		str(cap, "memory", "31700Mi");
		str(cap, "pods", "110");
		cap = map(st, "capacity");
		str(cap, "cpu", "8");
		str(cap, "memory", "32500Mi");
		str(cap, "pods", "110");
		conds = seq(st, "conditions");
		for (int k = 0; k < 4; k++) {
			static const char *const types[] = { "MemoryPressure", "DiskPressure",
							     "PIDPressure", "Ready" };

			c = map(conds, NULL);
			qstr(c, "lastHeartbeatTime", "%s", timestamp());
			qstr(c, "lastTransitionTime", "%s", timestamp());
			str(c, "message", "kubelet %s", k == 3 ? "is posting ready status" : "has no pressure");
			str(c, "reason", "%s", k == 3 ? "KubeletReady" : "KubeletHasNoPressure");
			str(c, "status", "%s", k == 3 ? "True" : "False");
			str(c, "type", "%s", types[k]);
		}
		info = map(st, "nodeInfo");
		str(info, "architecture", "amd64");
		str(info, "containerRuntimeVersion", "containerd://1.7.22");
		str(info, "kernelVersion", "6.1.0-25-cloud-amd64");
		str(info, "kubeProxyVersion", "v1.32.0");
		str(info, "kubeletVersion", "v1.32.0");
		str(info, "operatingSystem", "linux");
		str(info, "osImage", "Debian GNU/Linux 12 (bookworm)");
	}
	out_object(o, obj);
}

enum svc_kind {
	K_CLUSTER_IP,
	K_NODE_PORT,
	K_LOAD_BALANCER,
	K_HEADLESS,
	K_EXTERNAL_NAME,
};

struct svc_plan {
	enum svc_kind kind;
	unsigned n_ports;
	bool etp_local, itp_local, zone_hints, node_hints, dual, affinity, ext_ip, src_ranges;
	char ns[32], name[48];
};

static const char *const port_names[] = { "http", "metrics", "grpc" };
static const unsigned port_numbers[] = { 80, 9090, 50051 };
static const unsigned target_numbers[] = { 8080, 9090, 50051 };

static unsigned next_node_port = NODE_PORT_MIN;

static void plan_service(const struct opts *op, unsigned i, struct svc_plan *p)
{
	unsigned r = below(100), pr = below(100);

	*p = (struct svc_plan){ .kind = K_CLUSTER_IP };
	snprintf(p->ns, sizeof(p->ns), "team-%03u", i % op->namespaces);
	snprintf(p->name, sizeof(p->name), "svc-%06u", i);
	/* 78% ClusterIP, 12% NodePort, 7% LoadBalancer, 2% headless, 1% ExternalName. */
	if (r < 78)
		p->kind = K_CLUSTER_IP;
	else if (r < 90)
		p->kind = K_NODE_PORT;
	else if (r < 97)
		p->kind = K_LOAD_BALANCER;
	else if (r < 99)
		p->kind = K_HEADLESS;
	else
		p->kind = K_EXTERNAL_NAME;
	/* 70% one port, 25% two, 5% three. */
	p->n_ports = pr < 70 ? 1 : pr < 95 ? 2 : 3;
	if (p->kind == K_NODE_PORT || p->kind == K_LOAD_BALANCER) {
		/* A LoadBalancer with externalTrafficPolicy Local also takes a health check port. */
		bool etp_local = chance(40);
		unsigned need = p->n_ports + (p->kind == K_LOAD_BALANCER && etp_local);

		if (next_node_port + need - 1 > NODE_PORT_MAX)
			p->kind = K_CLUSTER_IP; /* the API server would refuse: no node port left */
		else
			p->etp_local = etp_local;
	}
	if (p->kind == K_CLUSTER_IP) {
		p->itp_local = chance(3);
		p->ext_ip = chance(1);
	}
	if (p->kind != K_EXTERNAL_NAME && p->kind != K_HEADLESS) {
		p->zone_hints = chance(10);
		p->node_hints = !p->zone_hints && chance(2);
		p->dual = chance(5);
		p->affinity = chance(5);
	}
	p->src_ranges = p->kind == K_LOAD_BALANCER && chance(20);
}

static void emit_service(struct out *o, const struct opts *op, unsigned i,
			 const struct svc_plan *p)
{
	struct node *obj = new_node(N_MAP), *md, *spec, *ports;
	uint32_t cip = (10u << 24 | 96u << 16) + i + 10;
	char ip[32];

	ipv4(ip, sizeof(ip), cip);
	str(obj, "apiVersion", "v1");
	str(obj, "kind", "Service");
	md = map(obj, "metadata");
	if (!op->minimal) {
		struct node *ann = map(md, "annotations");

		str(ann, "meta.helm.sh/release-name", "%s", p->ns);
		str(ann, "meta.helm.sh/release-namespace", "%s", p->ns);
		qstr(md, "creationTimestamp", "%s", timestamp());
	}
	{
		struct node *l = map(md, "labels");

		str(l, "app.kubernetes.io/name", "%s", p->name);
		if (!op->minimal) {
			str(l, "app.kubernetes.io/managed-by", "Helm");
			str(l, "app.kubernetes.io/part-of", "%s", p->ns);
		}
	}
	str(md, "name", "%s", p->name);
	str(md, "namespace", "%s", p->ns);
	if (!op->minimal) {
		qstr(md, "resourceVersion", "%" PRIu64, 1000000 + cosmetic() % 9000000);
		uid(md);
	}
	spec = map(obj, "spec");
	if (p->kind == K_EXTERNAL_NAME) {
		str(spec, "externalName", "%s.example.com", p->name);
		str(spec, "type", "ExternalName");
		out_object(o, obj);
		return;
	}
	if (p->kind == K_HEADLESS) {
		str(spec, "clusterIP", "None");
		str(seq(spec, "clusterIPs"), NULL, "None");
	} else {
		struct node *cips;

		str(spec, "clusterIP", "%s", ip);
		cips = seq(spec, "clusterIPs");
		str(cips, NULL, "%s", ip);
		if (p->dual)
			str(cips, NULL, "fd00:10:96::%x", i + 10);
	}
	if (p->ext_ip) {
		struct node *e = seq(spec, "externalIPs");

		str(e, NULL, "192.0.2.%u", i % 250 + 1);
	}
	if (p->kind == K_NODE_PORT || p->kind == K_LOAD_BALANCER) {
		str(spec, "externalTrafficPolicy", p->etp_local ? "Local" : "Cluster");
		if (p->kind == K_LOAD_BALANCER && p->etp_local)
			raw(spec, "healthCheckNodePort", "%u", next_node_port++);
	}
	str(spec, "internalTrafficPolicy", p->itp_local ? "Local" : "Cluster");
	{
		struct node *fams = seq(spec, "ipFamilies");

		str(fams, NULL, "IPv4");
		if (p->dual)
			str(fams, NULL, "IPv6");
	}
	str(spec, "ipFamilyPolicy", p->dual ? "PreferDualStack" : "SingleStack");
	if (p->src_ranges) {
		struct node *r = seq(spec, "loadBalancerSourceRanges");

		str(r, NULL, "203.0.113.0/24");
		str(r, NULL, "198.51.100.0/24");
	}
	ports = seq(spec, "ports");
	for (unsigned k = 0; k < p->n_ports; k++) {
		struct node *pt = map(ports, NULL);

		str(pt, "name", "%s", port_names[k]);
		if (p->kind == K_NODE_PORT || p->kind == K_LOAD_BALANCER)
			raw(pt, "nodePort", "%u", next_node_port++);
		raw(pt, "port", "%u", port_numbers[k]);
		str(pt, "protocol", "TCP");
		if (k == 0)
			str(pt, "targetPort", "%s", port_names[k]);
		else
			raw(pt, "targetPort", "%u", target_numbers[k]);
	}
	if (!op->minimal) {
		struct node *sel = map(spec, "selector");

		str(sel, "app.kubernetes.io/name", "%s", p->name);
	}
	str(spec, "sessionAffinity", p->affinity ? "ClientIP" : "None");
	if (p->affinity)
		raw(map(map(spec, "sessionAffinityConfig"), "clientIP"), "timeoutSeconds", "%u",
		    10800);
	if (p->zone_hints)
		str(spec, "trafficDistribution", "PreferClose");
	else if (p->node_hints)
		str(spec, "trafficDistribution", "PreferSameNode");
	str(spec, "type", "%s",
	    p->kind == K_NODE_PORT ? "NodePort" :
	    p->kind == K_LOAD_BALANCER ? "LoadBalancer" : "ClusterIP");
	{
		struct node *st = map(obj, "status"), *lb = map(st, "loadBalancer");

		if (p->kind == K_LOAD_BALANCER) {
			struct node *ing = map(seq(lb, "ingress"), NULL);

			str(ing, "ip", "198.18.%u.%u", (i / 250) % 256, i % 250 + 1);
			str(ing, "ipMode", "VIP");
		}
	}
	out_object(o, obj);
}

/* Per-node counters, so every pod IP is unique inside its node's CIDR. */
static unsigned *pods_on_node;

static void emit_slices(struct out *o, const struct opts *op, unsigned i,
			const struct svc_plan *p, bool v6, const unsigned *ep_nodes,
			const bool *ep_ready, const bool *ep_term, const uint32_t *ep_ip)
{
	unsigned n_slices = (op->endpoints + SLICE_MAX - 1) / SLICE_MAX;

	if (!n_slices)
		n_slices = 1; /* a service without endpoints still has one, empty, slice */
	for (unsigned s = 0; s < n_slices; s++) {
		struct node *obj = new_node(N_MAP), *md, *l, *eps, *ports;
		unsigned first = s * SLICE_MAX;
		unsigned last = first + SLICE_MAX < op->endpoints ? first + SLICE_MAX : op->endpoints;
		char suffix[8], slice_index[16] = "";

		/* generateName's five random characters; the slice index keeps them unique. */
		for (int k = 0; k < 5; k++)
			suffix[k] = "bcdfghjklmnpqrstvwxz2456789"[cosmetic() % 27];
		suffix[5] = '\0';
		if (s)
			snprintf(slice_index, sizeof(slice_index), "%u", s);
		str(obj, "addressType", v6 ? "IPv6" : "IPv4");
		str(obj, "apiVersion", "discovery.k8s.io/v1");
		eps = seq(obj, "endpoints");
		for (unsigned e = first; e < last; e++) {
			struct node *ep = map(eps, NULL), *c, *addrs;
			char nname[32], zone[32], ip[48];
			unsigned node = ep_nodes[e];

			node_name(nname, sizeof(nname), node);
			zone_name(zone, sizeof(zone), node % op->zones);
			if (v6)
				snprintf(ip, sizeof(ip), "fd00:10:128:%x::%x", node + 1, ep_ip[e] & 0xffff);
			else
				ipv4(ip, sizeof(ip), ep_ip[e]);
			addrs = seq(ep, "addresses");
			str(addrs, NULL, "%s", ip);
			c = map(ep, "conditions");
			raw(c, "ready", "%s", ep_ready[e] ? "true" : "false");
			raw(c, "serving", "%s", ep_ready[e] || ep_term[e] ? "true" : "false");
			raw(c, "terminating", "%s", ep_term[e] ? "true" : "false");
			if (p->zone_hints || p->node_hints) {
				struct node *h = map(ep, "hints");

				if (p->zone_hints)
					str(map(seq(h, "forZones"), NULL), "name", "%s", zone);
				else
					str(map(seq(h, "forNodes"), NULL), "name", "%s", nname);
			}
			str(ep, "nodeName", "%s", nname);
			if (!op->minimal) {
				struct node *tr = map(ep, "targetRef");

				str(tr, "kind", "Pod");
				str(tr, "name", "%s-%08x-%05u", p->name, i, e);
				str(tr, "namespace", "%s", p->ns);
				uid(tr);
			}
			str(ep, "zone", "%s", zone);
		}
		str(obj, "kind", "EndpointSlice");
		md = map(obj, "metadata");
		if (!op->minimal) {
			struct node *ann = map(md, "annotations"), *own;

			qstr(ann, "endpoints.kubernetes.io/last-change-trigger-time", "%s", timestamp());
			qstr(md, "creationTimestamp", "%s", timestamp());
			str(md, "generateName", "%s-", p->name);
			raw(md, "generation", "%u", 1 + (unsigned)(cosmetic() % 20));
			own = map(seq(md, "ownerReferences"), NULL);
			str(own, "apiVersion", "v1");
			raw(own, "blockOwnerDeletion", "true");
			raw(own, "controller", "true");
			str(own, "kind", "Service");
			str(own, "name", "%s", p->name);
			uid(own);
		}
		l = map(md, "labels");
		if (!op->minimal) {
			str(l, "app.kubernetes.io/name", "%s", p->name);
			str(l, "endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io");
		}
		str(l, "kubernetes.io/service-name", "%s", p->name);
		str(md, "name", "%s-%s%s%s", p->name, v6 ? "v6-" : "", suffix, slice_index);
		str(md, "namespace", "%s", p->ns);
		if (!op->minimal) {
			qstr(md, "resourceVersion", "%" PRIu64, 1000000 + cosmetic() % 9000000);
			uid(md);
		}
		ports = seq(obj, "ports");
		for (unsigned k = 0; k < p->n_ports; k++) {
			struct node *pt = map(ports, NULL);

			str(pt, "name", "%s", port_names[k]);
			raw(pt, "port", "%u", target_numbers[k]);
			str(pt, "protocol", "TCP");
		}
		out_object(o, obj);
	}
}

static void emit_cluster(struct out *o, const struct opts *op)
{
	unsigned *ep_nodes = xrealloc(NULL, (op->endpoints + 1) * sizeof(*ep_nodes));
	bool *ep_ready = xrealloc(NULL, op->endpoints + 1);
	bool *ep_term = xrealloc(NULL, op->endpoints + 1);
	uint32_t *ep_ip = xrealloc(NULL, (op->endpoints + 1) * sizeof(*ep_ip));

	pods_on_node = xrealloc(NULL, op->nodes * sizeof(*pods_on_node));
	memset(pods_on_node, 0, op->nodes * sizeof(*pods_on_node));
	out_begin(o);
	for (unsigned i = 0; i < op->nodes; i++)
		emit_node(o, op, i);
	for (unsigned i = 0; i < op->services; i++) {
		struct svc_plan p;

		plan_service(op, i, &p);
		emit_service(o, op, i, &p);
		if (p.kind == K_EXTERNAL_NAME)
			continue; /* no selector, no slices */
		/* Place the endpoints: random nodes, 95% ready, 2% terminating, 3% starting. */
		for (unsigned e = 0; e < op->endpoints; e++) {
			unsigned node = below(op->nodes), c = below(100);

			ep_nodes[e] = node;
			ep_ready[e] = c < 95;
			ep_term[e] = c >= 95 && c < 97;
			ep_ip[e] = (10u << 24 | 128u << 16) + node * POD_BLOCK + 1 +
				   pods_on_node[node]++ % (POD_BLOCK - 2);
		}
		emit_slices(o, op, i, &p, false, ep_nodes, ep_ready, ep_term, ep_ip);
		if (p.dual)
			emit_slices(o, op, i, &p, true, ep_nodes, ep_ready, ep_term, ep_ip);
	}
	out_end(o);
	free(ep_nodes);
	free(ep_ready);
	free(ep_term);
	free(ep_ip);
	free(pods_on_node);
}

static void usage(FILE *f)
{
	fputs("usage: gen_cluster [options]\n"
	      "  -s, --services N     services (default 1000)\n"
	      "  -e, --endpoints N    endpoints per service (default 10)\n"
	      "  -n, --nodes N        nodes (default 1000, at most 4096)\n"
	      "  -z, --zones N        zones (default 3, at most 26)\n"
	      "      --namespaces N   namespaces the services are spread over (default 50)\n"
	      "      --seed N         random seed (default 1)\n"
	      "  -f, --format F       yaml (multi-document, default), list (one kind: List\n"
	      "                       in YAML) or json (one List in JSON)\n"
	      "      --minimal        only the fields kroute reads (no uid, targetRef, ...)\n"
	      "  -o, --output FILE    write here instead of standard output\n", f);
}

static bool parse_uint(const char *s, unsigned long long max, unsigned long long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 10);
	return s[0] >= '0' && s[0] <= '9' && !*end && !errno && *ret <= max;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "services", required_argument, NULL, 's' },
		{ "endpoints", required_argument, NULL, 'e' },
		{ "nodes", required_argument, NULL, 'n' },
		{ "zones", required_argument, NULL, 'z' },
		{ "namespaces", required_argument, NULL, 'N' },
		{ "seed", required_argument, NULL, 'S' },
		{ "format", required_argument, NULL, 'f' },
		{ "minimal", no_argument, NULL, 'm' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct opts op = { .services = 1000, .endpoints = 10, .nodes = 1000, .zones = 3,
			   .namespaces = 50, .seed = 1, .fmt = FMT_YAML };
	struct out o;
	unsigned long long v;
	int c;

	while ((c = getopt_long(argc, argv, "s:e:n:z:f:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
		case 'e':
		case 'n':
		case 'z':
		case 'N':
			if (!parse_uint(optarg, c == 'n' ? MAX_NODES : c == 'z' ? 26 : 10000000, &v) ||
			    (c != 's' && c != 'e' && !v)) {
				fprintf(stderr, "gen_cluster: bad number \"%s\"\n", optarg);
				return 2;
			}
			*(c == 's' ? &op.services : c == 'e' ? &op.endpoints : c == 'n' ? &op.nodes :
			  c == 'z' ? &op.zones : &op.namespaces) = (unsigned)v;
			break;
		case 'S':
			if (!parse_uint(optarg, UINT64_MAX, &v)) {
				fprintf(stderr, "gen_cluster: bad seed \"%s\"\n", optarg);
				return 2;
			}
			op.seed = v;
			break;
		case 'f':
			if (!strcmp(optarg, "yaml"))
				op.fmt = FMT_YAML;
			else if (!strcmp(optarg, "list"))
				op.fmt = FMT_YAML_LIST;
			else if (!strcmp(optarg, "json"))
				op.fmt = FMT_JSON_LIST;
			else {
				fprintf(stderr, "gen_cluster: format must be yaml, list or json\n");
				return 2;
			}
			break;
		case 'm':
			op.minimal = true;
			break;
		case 'o':
			op.output = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	shape_state = op.seed;
	cosmetic_state = op.seed ^ 0x5bd1e9955bd1e995ull;
	o = (struct out){ .fmt = op.fmt, .f = stdout };
	if (op.output && !(o.f = fopen(op.output, "w"))) {
		fprintf(stderr, "gen_cluster: %s: %s\n", op.output, strerror(errno));
		return 1;
	}
	emit_cluster(&o, &op);
	if (fflush(o.f) || ferror(o.f) || (op.output && fclose(o.f))) {
		fprintf(stderr, "gen_cluster: write error: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
