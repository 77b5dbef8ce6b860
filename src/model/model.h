/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes objects kroute reads, reduced to the fields a service proxy
 * uses.  Types only, plus constructors/destructors in model.c: no parsing,
 * no I/O, no policy.  Every pointer field is owned by the struct that holds
 * it unless its comment says "borrowed".
 */
#ifndef KROUTE_MODEL_MODEL_H
#define KROUTE_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/strmap.h"

enum proto {
	PROTO_TCP,
	PROTO_UDP,
	PROTO_SCTP,
};

enum svc_type {
	SVC_CLUSTER_IP,
	SVC_NODE_PORT,
	SVC_LOAD_BALANCER,
	SVC_EXTERNAL_NAME,
};

enum traffic_policy {
	POLICY_CLUSTER,
	POLICY_LOCAL,
};

/* A condition as the EndpointSlice API has it: unset means "use the default". */
enum tristate {
	TRI_UNSET,
	TRI_FALSE,
	TRI_TRUE,
};

struct kv {
	char *key;
	char *value;
};

struct kvlist {
	struct kv *items;
	size_t n, cap;
	/*
	 * Owned, may be NULL: one block holding the items and every key and
	 * value (kv_pack: a decoded object's labels cost one allocation, not
	 * two per entry); items and the strings point into it.  kv_add()
	 * unpacks first, so pointers borrowed into a packed list (a node's
	 * zone) must not outlive a kv_add() to it; decoding is the only writer.
	 */
	void *block;
};

/* Where an object came from, for messages. */
struct origin {
	char *file;
	int line;
};

struct svc_port {
	char *name;            /* "" when unnamed */
	enum proto proto;
	uint16_t port;
	uint16_t node_port;    /* 0 = none or not allocated yet */
	uint16_t target_port;  /* 0 when named or unset */
	char *target_port_name; /* NULL unless targetPort is a name */
};

struct lb_ingress {
	struct addr ip;        /* family 0 when the entry has only a hostname */
	bool ip_mode_proxy;    /* status.loadBalancer.ingress[].ipMode == Proxy */
};

struct service {
	char *ns;
	char *name;
	char *key;             /* "ns/name" */
	struct origin origin;
	struct kvlist labels;
	struct kvlist annotations;
	enum svc_type type;
	bool headless;         /* clusterIP: None */
	struct addr *cluster_ips; /* allocated ClusterIPs, primary first */
	size_t n_cluster_ips;
	int families[2];       /* spec.ipFamilies (AF_INET/AF_INET6), 0 = unset */
	size_t n_families;
	struct svc_port *ports;
	size_t n_ports;
	struct addr *external_ips;
	size_t n_external_ips;
	struct lb_ingress *lb_ingress;
	size_t n_lb_ingress;
	struct cidr *lb_source_ranges;
	size_t n_lb_source_ranges;
	bool affinity_client_ip;
	uint32_t affinity_timeout; /* seconds; API default 10800 */
	enum traffic_policy itp;
	enum traffic_policy etp;
	bool itp_set, etp_set;   /* present in the input (for warnings) */
	uint16_t health_check_node_port;
	char *traffic_distribution; /* NULL when unset */
	char *proxy_name;        /* label service.kubernetes.io/service-proxy-name */
};

struct slice_port {
	char *name;              /* "" when unnamed */
	enum proto proto;
	int32_t port;            /* -1 when the slice port has no number */
};

/*
 * Packed (64 bytes, not 80): a large cluster holds hundreds of thousands.
 * The conditions are enum tristate values in a byte each; hint counts are
 * bounded by the document's weight limit, far below 2^32.
 */
struct slice_endpoint {
	struct addr addr;        /* kube-proxy uses addresses[0] only */
	uint8_t ready, serving, terminating; /* enum tristate */
	uint32_t n_hint_zones;
	uint32_t n_hint_nodes;
	char *node_name;         /* NULL when unset */
	char *zone;              /* NULL when unset */
	char **hint_zones;
	char **hint_nodes;
};

struct endpoint_slice {
	char *ns;
	char *name;
	char *key;               /* "ns/name" */
	struct origin origin;
	char *service_name;      /* label kubernetes.io/service-name; NULL if absent */
	int family;              /* AF_INET / AF_INET6; 0 for FQDN (ignored) */
	struct slice_port *ports;
	size_t n_ports;
	struct slice_endpoint *endpoints;
	size_t n_endpoints;
	/*
	 * Owned, may be NULL: one block holding every endpoint's node name and
	 * zone (each distinct string once per slice), so that an endpoint costs
	 * no allocation of its own for them; when set, those fields point into
	 * it.  When NULL they are owned one by one.
	 */
	char *endpoint_strings;
};

struct node {
	char *name;
	struct origin origin;
	struct kvlist labels;
	char *zone;              /* borrowed from labels: topology.kubernetes.io/zone */
	struct addr *addresses;  /* InternalIP then ExternalIP, in input order */
	size_t n_addresses;
	struct cidr *pod_cidrs;
	size_t n_pod_cidrs;
	bool unschedulable;
	bool deleting;           /* metadata.deletionTimestamp set */
	char **taints;           /* taint keys */
	size_t n_taints;
};

/*
 * Everything loaded: owns its objects.  Indexes map keys to the objects
 * (keys borrowed from the objects).  slices_by_service maps "ns/service" to
 * a struct slice_group listing that service's slices.
 */
struct slice_group {
	struct endpoint_slice **slices; /* borrowed */
	size_t n, cap;
};

struct cluster {
	struct service **services;
	size_t n_services, cap_services;
	struct endpoint_slice **slices;
	size_t n_slices, cap_slices;
	struct node **nodes;
	size_t n_nodes, cap_nodes;
	struct strmap service_index;
	struct strmap slice_index;
	struct strmap node_index;
	struct strmap slices_by_service; /* owns the slice_group values and key strings */
	bool borrows_objects;            /* an index over objects owned elsewhere (store.h) */
};

#define LABEL_ZONE "topology.kubernetes.io/zone"
#define LABEL_SERVICE_NAME "kubernetes.io/service-name"
#define LABEL_PROXY_NAME "service.kubernetes.io/service-proxy-name"
#define AFFINITY_DEFAULT_TIMEOUT 10800

const char *proto_name(enum proto p);      /* "TCP" */
const char *proto_name_lower(enum proto p); /* "tcp" */
int proto_ipproto(enum proto p);            /* IPPROTO_TCP */
const char *traffic_policy_name(enum traffic_policy p);
const char *svc_type_name(enum svc_type t);
const char *kv_get(const struct kvlist *l, const char *key);
void kv_add(struct kvlist *l, const char *key, const char *value);
/* Replaces an empty list by n pairs (copied) in one block. */
void kv_pack(struct kvlist *l, const struct kv *pairs, size_t n);
void kv_done(struct kvlist *l);

void service_free(struct service *s);
void slice_free(struct endpoint_slice *s);
void node_free(struct node *n);

void cluster_init(struct cluster *c);
void cluster_done(struct cluster *c);
/* Take ownership of an object.  Returns -EEXIST (and keeps nothing) on a duplicate key. */
int cluster_add_service(struct cluster *c, struct service *s);
int cluster_add_slice(struct cluster *c, struct endpoint_slice *s);
int cluster_add_node(struct cluster *c, struct node *n);
/*
 * Adds every object of src to dst, in order; each duplicate key is an error
 * in d naming both places, and is freed when free_duplicates (dst owns what
 * it took; otherwise src keeps owning everything).  Returns the duplicates.
 */
struct diag;
size_t cluster_add_all(struct cluster *dst, const struct cluster *src, struct diag *d,
		       bool free_duplicates);
/*
 * Take an object out of the indexes (not freed; nothing happens when the
 * index holds another object under its key).  Array order is not kept.
 */
void cluster_remove_service(struct cluster *c, struct service *s);
void cluster_remove_slice(struct cluster *c, struct endpoint_slice *s);
void cluster_remove_node(struct cluster *c, struct node *n);
struct service *cluster_find_service(const struct cluster *c, const char *key);
const struct endpoint_slice *cluster_find_slice(const struct cluster *c, const char *key);
const struct node *cluster_find_node(const struct cluster *c, const char *name);
/* The slices labelled for service "ns/name" (NULL when none). */
const struct slice_group *cluster_service_slices(const struct cluster *c, const char *svc_key);

#endif
