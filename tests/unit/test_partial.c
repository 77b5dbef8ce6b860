/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A partial sync costs what changed, not what exists (issue #14: one change
 * at 10,000 services in under 10 ms for the whole sync).  At a few thousand
 * services, each change below must rebuild exactly the changed service's
 * port views (policy_update_view's n_rebuilt), leave every other port view
 * where and as it was (same id, same endpoint array), and look at the
 * health-check server of the changed service only (serve's
 * n_checks_updated); and the updated view must still equal a view built
 * from scratch.  The files source, told by inotify which file changed,
 * must look at that file only (store_delta's origins_checked) and list the
 * directory again only when an event cannot say what changed.  The
 * counters, not times, are asserted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/loop.h"
#include "core/sbuf.h"
#include "core/util.h"
#include "daemon/serve.h"
#include "policy/policy.h"
#include "source/files.h"
#include "source/manifest.h"
#include "store/store.h"
#include "manifest_dir.h"
#include "view_render.h"

#define N_SERVICES 2000

/* What one service of the synthetic cluster looks like. */
struct svc_shape {
	int ports;                 /* 1 or 2 */
	bool lb_local;             /* LoadBalancer, externalTrafficPolicy Local, a health check port */
	bool absent;               /* not in the cluster */
	int first_ep;              /* its endpoints' last octet starts here */
};

static void shape_of(int i, struct svc_shape *s)
{
	*s = (struct svc_shape){ .ports = i % 5 == 0 ? 2 : 1, .lb_local = i % 100 == 7,
				 .first_ep = 10 };
}

/* Service i and its slice, in namespace ns-(i % 7) so the view's order interleaves. */
static void add_service(struct sbuf *b, int i, const struct svc_shape *s)
{
	if (s->absent)
		return;
	sbuf_printf(b, "---\napiVersion: v1\nkind: Service\n"
		     "metadata: {name: s%04d, namespace: ns-%d}\nspec:\n"
		     "  clusterIP: 10.96.%d.%d\n", i, i % 7, i / 250, i % 250 + 1);
	if (s->lb_local)
		sbuf_printf(b, "  type: LoadBalancer\n  externalTrafficPolicy: Local\n"
			     "  healthCheckNodePort: %d\n", 40000 + i);
	sbuf_printf(b, "  ports:\n  - {name: http, port: 80, targetPort: 8080%s}\n",
		  s->lb_local ? ", nodePort: 30080" : "");
	if (s->ports > 1)
		sbuf_printf(b, "  - {name: https, port: 443, targetPort: 8443}\n");
	if (s->lb_local)
		sbuf_printf(b, "status: {loadBalancer: {ingress: [{ip: 192.0.2.%d}]}}\n", i % 250 + 1);
	sbuf_printf(b, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\n"
		     "metadata: {name: s%04d-1, namespace: ns-%d,"
		     " labels: {kubernetes.io/service-name: s%04d}}\n"
		     "ports: [{name: http, port: 8080, protocol: TCP}, {name: https, port: 8443,"
		     " protocol: TCP}]\nendpoints:\n", i, i % 7, i);
	for (int e = 0; e < 2; e++)
		sbuf_printf(b, "- {addresses: [\"10.%d.%d.%d\"], conditions: {ready: true},"
			     " nodeName: node-%d}\n", 100 + i / 250, i % 250, s->first_ep + e, 1 + e);
}

/* The cluster with every service as shapes says. */
static void load(struct cluster *c, const struct svc_shape *shapes)
{
	struct sbuf b = { 0 };
	struct diag d;

	sbuf_printf(&b, "apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\n"
		      "status: {addresses: [{type: InternalIP, address: 192.168.0.2}]}\n");
	for (int i = 0; i < N_SERVICES; i++)
		add_service(&b, i, &shapes[i]);
	cluster_init(c);
	diag_init(&d);
	if (manifest_load_buffer("cluster.yaml", b.p, b.len, false, NULL, c, &d)) {
		diag_print(&d, stderr);
		fail();
	}
	diag_done(&d);
	sbuf_free(&b);
}

struct fixture {
	struct svc_shape shapes[N_SERVICES];
	struct policy_opts po;
	struct cluster clusters[8]; /* every generation stays alive: the view borrows from them */
	size_t n_clusters;
	struct node_view *v;
	struct loop *loop;
	struct agent_serve serve;
	struct cidr loopback;
};

static const struct dataplane_ops no_ops = { .name = "none" };

static void fixture_open(struct fixture *f)
{
	struct serve_cfg cfg = { .n_nodeport_cidrs = 1 };

	*f = (struct fixture){ 0 };
	policy_opts_init(&f->po);
	for (int i = 0; i < N_SERVICES; i++)
		shape_of(i, &f->shapes[i]);
	load(&f->clusters[f->n_clusters++], f->shapes);
	f->v = policy_update_view(NULL, &f->clusters[0], "node-1", &f->po, NULL, true);
	assert_int_equal(f->v->n_rebuilt, f->v->n_ports);
	assert_true(f->v->changed_all);
	/* Health check servers on loopback only: nothing listens on the host's addresses. */
	assert_int_equal(cidr_parse("127.0.0.0/8", &f->loopback), 0);
	cfg.nodeport_cidrs = &f->loopback;
	assert_int_equal(loop_new(&f->loop), 0);
	serve_init(&f->serve, &cfg, "none", &no_ops, NULL);
	serve_start(&f->serve, f->loop);
	serve_sync_checks(&f->serve, f->v);
	assert_int_equal(f->serve.n_checks, N_SERVICES / 100);
	assert_int_equal(f->serve.n_checks_updated, N_SERVICES / 100);
}

static void fixture_close(struct fixture *f)
{
	serve_done(&f->serve);
	loop_free(f->loop);
	node_view_free(f->v);
	for (size_t i = 0; i < f->n_clusters; i++)
		cluster_done(&f->clusters[i]);
}

/* The port views of every service but skip, as they were: ids and endpoint arrays. */
struct snapshot {
	uint64_t *ids;
	const struct ep **eps;
	size_t n;
	uint64_t max_id;            /* the first id the update may give out */
};

static void snapshot_take(struct snapshot *s, const struct node_view *v)
{
	s->n = v->n_ports;
	s->ids = xcalloc(s->n, sizeof(*s->ids));
	s->eps = xcalloc(s->n, sizeof(*s->eps));
	s->max_id = v->next_id;
	for (size_t i = 0; i < s->n; i++) {
		s->ids[i] = v->ports[i].id;
		s->eps[i] = v->ports[i].eps;
	}
}

/* Every port view of the snapshot but those of svc_key is still in v, untouched. */
static void assert_untouched(const struct snapshot *s, const struct node_view *v,
			     const char *svc_key)
{
	size_t found = 0, others = 0;

	for (size_t i = 0, k = 0; i < v->n_ports; i++) {
		if (streq(v->ports[i].svc->key, svc_key))
			continue;
		others++;
		/* Both are in view order: walk the snapshot to this id. */
		while (k < s->n && s->ids[k] != v->ports[i].id)
			k++;
		assert_true(k < s->n);
		assert_ptr_equal(s->eps[k], v->ports[i].eps);
		found++;
	}
	assert_int_equal(found, others);
}

static void snapshot_free(struct snapshot *s)
{
	free(s->ids);
	free(s->eps);
}

/*
 * Service `i` becomes *shape: the store would name it dirty; the view is
 * updated, the health servers follow.  Returns the view's n_rebuilt.
 */
static size_t change(struct fixture *f, int i, const struct svc_shape *shape)
{
	struct cluster *c = &f->clusters[f->n_clusters++];
	struct strmap dirty;
	char key[64];
	struct snapshot before;
	char *want, *got;
	struct node_view *scratch;
	uint64_t generation = f->v->generation, old_ids[4];
	size_t first, n_old;

	assert_true(f->n_clusters <= ARRAY_SIZE(f->clusters));
	f->shapes[i] = *shape;
	load(c, f->shapes);
	snprintf(key, sizeof(key), "ns-%d/s%04d", i % 7, i);
	strmap_init(&dirty);
	strmap_put(&dirty, key, (void *)1);
	snapshot_take(&before, f->v);
	n_old = policy_view_service_ports(f->v, key, &first);
	assert_true(n_old <= ARRAY_SIZE(old_ids));
	for (size_t k = 0; k < n_old; k++)
		old_ids[k] = f->v->ports[first + k].id;
	f->v = policy_update_view(f->v, c, "node-1", &f->po, &dirty, false);
	/* What changed, as a data plane reads it: the service's old ids gone, its new port views. */
	assert_int_equal(f->v->generation, generation + 1);
	assert_false(f->v->changed_all);
	assert_int_equal(f->v->n_gone, n_old);
	for (size_t k = 0; k < n_old; k++)
		assert_int_equal(f->v->gone_ids[k], old_ids[k]);
	for (size_t k = 0; k < f->v->n_rebuilt; k++) {
		assert_true(f->v->rebuilt_at[k] < f->v->n_ports);
		assert_string_equal(f->v->ports[f->v->rebuilt_at[k]].svc->key, key);
		assert_true(f->v->ports[f->v->rebuilt_at[k]].id >= before.max_id);
	}
	serve_view_changed(&f->serve, &dirty, false);
	serve_sync_checks(&f->serve, f->v);
	strmap_done(&dirty);
	assert_untouched(&before, f->v, key);
	snapshot_free(&before);
	/* The same view as one built from scratch. */
	scratch = policy_build_view(c, "node-1", &f->po);
	want = view_render(scratch);
	got = view_render(f->v);
	assert_string_equal(got, want);
	assert_int_equal(f->v->n_ports, scratch->n_ports);
	free(want);
	free(got);
	node_view_free(scratch);
	return f->v->n_rebuilt;
}

/* One endpoint of one service: its port views alone are built again. */
static void test_endpoint_change(void **state)
{
	static struct fixture f;
	struct svc_shape s;

	(void)state;
	fixture_open(&f);
	shape_of(1234, &s);
	s.first_ep = 20;
	assert_int_equal(change(&f, 1234, &s), 1);
	assert_int_equal(f.serve.n_checks_updated, 0); /* not a LoadBalancer */
	shape_of(1235, &s);
	s.first_ep = 30;
	assert_int_equal(change(&f, 1235, &s), 2); /* two ports */
	fixture_close(&f);
}

/* Services that go, come back and change their number of ports: still only theirs. */
static void test_shape_changes(void **state)
{
	static struct fixture f;
	struct svc_shape s;
	size_t n_ports;

	(void)state;
	fixture_open(&f);
	n_ports = f.v->n_ports;
	shape_of(1501, &s);
	s.absent = true;
	assert_int_equal(change(&f, 1501, &s), 0);
	assert_int_equal(f.v->n_ports, n_ports - 1);
	shape_of(1501, &s);
	assert_int_equal(change(&f, 1501, &s), 1);
	assert_int_equal(f.v->n_ports, n_ports);
	shape_of(1501, &s);
	s.ports = 2;
	assert_int_equal(change(&f, 1501, &s), 2);
	assert_int_equal(f.v->n_ports, n_ports + 1);
	/* The first and the last service in the view's order. */
	shape_of(0, &s);
	s.first_ep = 40;
	assert_int_equal(change(&f, 0, &s), 2);
	shape_of(N_SERVICES - 1, &s);
	s.absent = true;
	assert_int_equal(change(&f, N_SERVICES - 1, &s), 0);
	fixture_close(&f);
}

/* A LoadBalancer with a health check port: only its server is looked at, and it goes with it. */
static void test_health_check_change(void **state)
{
	static struct fixture f;
	struct svc_shape s;

	(void)state;
	fixture_open(&f);
	shape_of(507, &s);
	assert_true(s.lb_local);
	s.first_ep = 50;
	assert_int_equal(change(&f, 507, &s), 1);
	assert_int_equal(f.serve.n_checks_updated, 1);
	assert_int_equal(f.serve.n_checks, N_SERVICES / 100);
	s.lb_local = false;
	assert_int_equal(change(&f, 507, &s), 1);
	assert_int_equal(f.serve.n_checks_updated, 0);
	assert_int_equal(f.serve.n_checks, N_SERVICES / 100 - 1);
	s.lb_local = true;
	assert_int_equal(change(&f, 507, &s), 1);
	assert_int_equal(f.serve.n_checks_updated, 1);
	assert_int_equal(f.serve.n_checks, N_SERVICES / 100);
	fixture_close(&f);
}

/* ---- the files source ---- */

#define N_FILES 300

static char dir[64];

static void write_file(const char *name, const char *text)
{
	manifest_dir_write(dir, name, text);
}

static void write_service_file(int i, int ep)
{
	char name[32], *text;

	snprintf(name, sizeof(name), "s%04d.yaml", i);
	text = xasprintf("apiVersion: v1\nkind: Service\nmetadata: {name: s%04d, namespace: t}\n"
			 "spec: {clusterIP: 10.96.1.%d, ports: [{port: 80}]}\n---\n"
			 "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\n"
			 "metadata: {name: s%04d-1, namespace: t,"
			 " labels: {kubernetes.io/service-name: s%04d}}\n"
			 "ports: [{port: 8080}]\nendpoints: [{addresses: [10.244.0.%d]}]\n",
			 i, i % 250 + 1, i, i, ep);
	write_file(name, text);
	free(text);
}

struct files_fixture {
	const char *paths[1];
	struct source *src;
	struct store st;
	struct loop *loop;
	int changed;
	size_t checked, read;
};

static void on_changed(struct source *src, void *userdata)
{
	((struct files_fixture *)userdata)->changed++;
}

/* Waits for the source to say it changed (its inotify events read). */
static void wait_changed(struct files_fixture *f)
{
	f->changed = 0;
	for (int i = 0; i < 100 && !f->changed; i++)
		assert_true(loop_run_once(f->loop, 100) >= 0);
	assert_true(f->changed > 0);
	/* Whatever else the kernel queued for the same writes. */
	assert_int_equal(loop_run_once(f->loop, 20), 0);
}

static void files_refresh(struct files_fixture *f)
{
	struct store_delta delta;
	struct diag d;

	store_delta_init(&delta);
	diag_init(&d);
	if (f->src->ops->refresh(f->src, &f->st, false, &d, &delta)) {
		diag_print(&d, stderr);
		fail();
	}
	diag_done(&d);
	f->checked = delta.origins_checked;
	f->read = delta.origins_read;
	store_delta_done(&delta);
}

static void test_files_named(void **state)
{
	struct files_fixture f = { .paths = { dir } };
	char *path, *target;
	struct diag d;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kroute-test-partial-XXXXXX");
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < N_FILES; i++)
		write_service_file(i, 1);
	store_init(&f.st);
	f.src = files_source_new(f.paths, 1, NULL);
	assert_int_equal(loop_new(&f.loop), 0);
	diag_init(&d);
	assert_int_equal(f.src->ops->attach(f.src, f.loop, on_changed, &f, &d), 0);
	assert_int_equal(d.n, 0);
	diag_done(&d);
	files_refresh(&f);
	assert_int_equal(f.checked, N_FILES);
	assert_int_equal(f.read, N_FILES);

	/* One file replaced: only it is looked at. */
	write_service_file(123, 2);
	wait_changed(&f);
	files_refresh(&f);
	assert_int_equal(f.checked, 1);
	assert_int_equal(f.read, 1);
	assert_int_equal(cluster_find_slice(&f.st.cluster, "t/s0123-1")->endpoints[0].addr.bytes[3], 2);

	/* A hidden file left behind (an editor's swap file): nothing to look at. */
	path = xasprintf("%s/.s0001.yaml.swp", dir);
	assert_int_equal(close(creat(path, 0600)), 0);
	wait_changed(&f);
	files_refresh(&f);
	assert_int_equal(f.checked, 0);
	assert_int_equal(f.read, 0);
	free(path);

	/* A new file: the directory is listed again. */
	write_service_file(N_FILES, 1);
	wait_changed(&f);
	files_refresh(&f);
	assert_int_equal(f.checked, N_FILES + 1);
	assert_int_equal(f.read, 1);

	/*
	 * A ConfigMap volume's way: listed files are symlinks through ..data,
	 * which is swapped by a rename; no event names the listed file, so the
	 * swap must list again.
	 */
	for (int v = 1; v <= 2; v++) {
		char *sub = xasprintf("%s/..v%d", dir, v), *file = xasprintf("%s/cm.yaml", sub);
		FILE *out;

		assert_int_equal(mkdir(sub, 0700), 0);
		out = fopen(file, "w");
		assert_non_null(out);
		fprintf(out, "apiVersion: v1\nkind: Service\nmetadata: {name: cm, namespace: t}\n"
			     "spec: {clusterIP: 10.96.2.%d, ports: [{port: 80}]}\n", v);
		assert_int_equal(fclose(out), 0);
		free(sub);
		free(file);
	}
	path = xasprintf("%s/..data", dir);
	assert_int_equal(symlink("..v1", path), 0);
	target = xasprintf("%s/cm.yaml", dir);
	assert_int_equal(symlink("..data/cm.yaml", target), 0);
	wait_changed(&f);
	files_refresh(&f);
	assert_int_equal(cluster_find_service(&f.st.cluster, "t/cm")->cluster_ips[0].bytes[3], 1);
	free(target);
	target = xasprintf("%s/..data_tmp", dir);
	assert_int_equal(symlink("..v2", target), 0);
	assert_int_equal(rename(target, path), 0);
	wait_changed(&f);
	files_refresh(&f);
	assert_int_equal(f.checked, N_FILES + 2);
	assert_int_equal(f.read, 1);
	assert_int_equal(cluster_find_service(&f.st.cluster, "t/cm")->cluster_ips[0].bytes[3], 2);
	free(target);
	free(path);

	/* No event (a periodic sync): everything is looked at, in case one was missed. */
	files_refresh(&f);
	assert_int_equal(f.checked, N_FILES + 2);
	assert_int_equal(f.read, 0);

	f.src->ops->free(f.src);
	loop_free(f.loop);
	store_done(&f.st);
	path = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_change),
		cmocka_unit_test(test_shape_changes),
		cmocka_unit_test(test_health_check_change),
		cmocka_unit_test(test_files_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
