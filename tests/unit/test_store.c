/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store (store/store.h), the files source that feeds it
 * (source/files.h) and the incremental view (policy_update_view): a
 * directory of manifests is changed step by step; after each step the
 * store's delta must name exactly the services the changed files can
 * affect, and the incrementally updated view must render exactly what a view
 * built from scratch (manifest_load + policy_build_view) renders, with the
 * untouched services' port views keeping their ids.  Bad changes must leave
 * the store, its index and the view as they were.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/util.h"
#include "policy/policy.h"
#include "source/files.h"
#include "source/manifest.h"
#include "store/store.h"
#include "manifest_dir.h"
#include "view_render.h"

static char dir[64];

static void write_file(const char *name, const char *text)
{
	manifest_dir_write(dir, name, text);
}

/* Rewrites a file in place with same-size content, in the same clock tick as its last write. */
static void overwrite_same_size(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "r+");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static void remove_file(const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);

	assert_int_equal(unlink(path), 0);
	free(path);
}

static const char nodes[] =
	"apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\n  labels: {topology.kubernetes.io/zone: z1}\n"
	"spec: {podCIDR: 10.244.1.0/24}\n"
	"status: {addresses: [{type: InternalIP, address: 192.168.0.2}]}\n";

static char *service(const char *name, const char *ip)
{
	return xasprintf("apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: t}\n"
			 "spec:\n  clusterIP: %s\n  ports: [{name: http, port: 80, targetPort: 8080}]\n",
			 name, ip);
}

static char *slice(const char *name, const char *svc, const char *ep)
{
	return xasprintf("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\n"
			 "metadata:\n  name: %s\n  namespace: t\n  labels: {kubernetes.io/service-name: %s}\n"
			 "ports: [{name: http, port: 8080, protocol: TCP}]\n"
			 "endpoints:\n- addresses: [%s]\n  conditions: {ready: true}\n  nodeName: node-1\n",
			 name, svc, ep);
}

static void write_service(const char *file, const char *name, const char *ip, const char *slice_name,
			  const char *ep)
{
	char *a = service(name, ip), *b = slice(slice_name, name, ep);
	char *text = xasprintf("%s---\n%s", a, b);

	write_file(file, text);
	free(a);
	free(b);
	free(text);
}

/* Objects another source holds, as manifest text (NULL-terminated; may be NULL). */
static const char *const *scratch_extra;

/*
 * The view from scratch, rendered: what the incremental one must equal.
 * The directory's objects, plus scratch_extra's.
 */
static char *render_from_scratch(void)
{
	const char *paths[] = { dir };
	struct cluster c;
	struct diag d;
	struct policy_opts po;
	struct node_view *v;
	char *out;

	cluster_init(&c);
	diag_init(&d);
	assert_int_equal(manifest_load(paths, 1, NULL, &c, &d), 0);
	for (size_t i = 0; scratch_extra && scratch_extra[i]; i++) {
		struct cluster more;

		cluster_init(&more);
		assert_int_equal(manifest_load_buffer("extra", scratch_extra[i],
						      strlen(scratch_extra[i]), false, NULL, &more, &d), 0);
		assert_int_equal(cluster_add_all(&c, &more, &d, true), 0);
		more.n_services = more.n_slices = more.n_nodes = 0; /* moved to c */
		cluster_done(&more);
	}
	diag_done(&d);
	policy_opts_init(&po);
	v = policy_build_view(&c, "node-1", &po);
	out = view_render(v);
	node_view_free(v);
	cluster_done(&c);
	return out;
}

/* One refresh of src into st, with a fresh delta (released by the caller). */
static int src_refresh(struct source *src, struct store *st, bool reread, struct diag *d,
		       struct store_delta *delta)
{
	store_delta_init(delta);
	return src->ops->refresh(src, st, reread, d, delta);
}

struct fixture {
	const char *paths[1];
	struct source *files;
	struct store st;
	struct node_view *view;
	struct policy_opts po;
	struct store_delta last; /* what the last refresh changed (sets kept for checks) */
	size_t files_read;
};

/*
 * One sync's refresh, as the agent does it: every source in turn adds its
 * commit to one delta (a refused source leaves the others' changes), then
 * the view is updated.  Returns the first source's error.
 */
static int refresh_sources(struct fixture *f, struct source *const *srcs, size_t n)
{
	struct store_delta delta;
	struct diag d;
	int r, ret = 0;

	store_delta_init(&delta);
	for (size_t i = 0; i < n; i++) {
		diag_init(&d);
		r = srcs[i]->ops->refresh(srcs[i], &f->st, false, &d, &delta);
		diag_done(&d);
		if (r < 0 && !ret)
			ret = r;
	}
	f->files_read = delta.origins_read;
	if (delta.changed || !f->view)
		f->view = policy_update_view(f->view, &f->st.cluster, "node-1", &f->po,
					     &delta.services,
					     delta.all || strmap_get(&delta.nodes, "node-1"));
	/* Keep the dirty sets for the checks; the old objects go now. */
	store_delta_done(&f->last);
	f->last = (struct store_delta){ 0 };
	f->last.services = delta.services;
	f->last.nodes = delta.nodes;
	f->last.all = delta.all;
	delta.services = (struct strmap){ 0 };
	delta.nodes = (struct strmap){ 0 };
	store_delta_done(&delta);
	return ret;
}

static int refresh(struct fixture *f)
{
	return refresh_sources(f, &f->files, 1);
}

static void assert_matches_scratch(struct fixture *f)
{
	char *want = render_from_scratch(), *got = view_render(f->view);

	assert_string_equal(got, want);
	free(want);
	free(got);
}

static uint64_t port_id(const struct node_view *v, const char *svc_key)
{
	for (size_t i = 0; i < v->n_ports; i++)
		if (!strcmp(v->ports[i].svc->key, svc_key))
			return v->ports[i].id;
	return 0;
}

/* A directory with this node and service a; the store and the files source over it. */
static void fixture_open(struct fixture *f)
{
	*f = (struct fixture){ .paths = { dir } };
	policy_opts_init(&f->po);
	snprintf(dir, sizeof(dir), "/tmp/kroute-test-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	write_file("nodes.yaml", nodes);
	write_service("a.yaml", "a", "10.96.0.1", "a-1", "10.244.1.10");
	store_init(&f->st);
	f->files = files_source_new(f->paths, 1, NULL);
}

static void fixture_close(struct fixture *f)
{
	node_view_free(f->view);
	store_delta_done(&f->last);
	store_done(&f->st);
	f->files->ops->free(f->files);
}

static void test_incremental(void **state)
{
	struct fixture f;
	uint64_t id_a, id_b;
	struct diag d;
	struct store_delta delta;

	(void)state;
	fixture_open(&f);
	write_service("b.yaml", "b", "10.96.0.2", "b-1", "10.244.1.20");

	/* First load: everything. */
	assert_int_equal(refresh(&f), 0);
	assert_true(f.last.all);
	assert_int_equal(f.files_read, 3);
	assert_int_equal(f.view->n_ports, 2);
	assert_matches_scratch(&f);
	id_a = port_id(f.view, "t/a");
	id_b = port_id(f.view, "t/b");
	assert_true(id_a && id_b && id_a != id_b);

	/* Nothing changed: nothing read, ids kept. */
	assert_int_equal(refresh(&f), 0);
	assert_int_equal(f.files_read, 0);
	assert_int_equal(port_id(f.view, "t/a"), id_a);

	/* One endpoint of b changes: only b.yaml is read and only b is rebuilt. */
	write_service("b.yaml", "b", "10.96.0.2", "b-1", "10.244.1.21");
	assert_int_equal(refresh(&f), 0);
	assert_false(f.last.all);
	assert_int_equal(f.files_read, 1);
	assert_non_null(strmap_get(&f.last.services, "t/b"));
	assert_null(strmap_get(&f.last.services, "t/a"));
	assert_int_equal(port_id(f.view, "t/a"), id_a);
	assert_true(port_id(f.view, "t/b") != id_b);
	assert_matches_scratch(&f);

	/* A slice for a arrives in a file of its own: a is dirty, its view gains the endpoint. */
	{
		char *s2 = slice("a-2", "a", "10.244.1.11");

		write_file("a-extra.yaml", s2);
		free(s2);
	}
	assert_int_equal(refresh(&f), 0);
	assert_non_null(strmap_get(&f.last.services, "t/a"));
	assert_null(strmap_get(&f.last.services, "t/b"));
	assert_matches_scratch(&f);
	id_b = port_id(f.view, "t/b");

	/* A duplicate object is refused whole: store, index and view stay as they were. */
	write_service("c.yaml", "a", "10.96.0.3", "c-1", "10.244.1.30");
	diag_init(&d);
	assert_int_equal(src_refresh(f.files, &f.st, false, &d, &delta), -EINVAL);
	assert_true(d.n > 0);
	assert_non_null(strstr(d.msgs[0].text, "duplicate object"));
	diag_done(&d);
	store_delta_done(&delta);
	assert_non_null(cluster_find_service(&f.st.cluster, "t/a"));
	/* The index still maps t/a to the object of a.yaml (10.96.0.1), not c.yaml's. */
	assert_int_equal(cluster_find_service(&f.st.cluster, "t/a")->cluster_ips[0].bytes[3], 1);
	assert_non_null(cluster_find_slice(&f.st.cluster, "t/a-1"));
	assert_null(cluster_find_slice(&f.st.cluster, "t/c-1"));
	remove_file("c.yaml");
	assert_int_equal(refresh(&f), 0);
	assert_matches_scratch(&f);

	/* A broken file is refused; fixing it applies the change. */
	write_file("b.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: t}\n"
			     "spec: {clusterIP: 10.96.0.2, ports: [{port: 70000}]}\n");
	diag_init(&d);
	assert_true(src_refresh(f.files, &f.st, false, &d, &delta) < 0);
	diag_done(&d);
	store_delta_done(&delta);
	assert_int_equal(port_id(f.view, "t/b"), id_b);
	write_service("b.yaml", "b", "10.96.0.2", "b-1", "10.244.1.22");
	assert_int_equal(refresh(&f), 0);
	assert_matches_scratch(&f);

	/*
	 * Same size, written in place right after a read: when that lands in
	 * the same clock tick, the stamp is unchanged and only the content hash
	 * can see the change.  Whether a tick is shared is up to the clock, so
	 * this repeats; every round must see its change either way.
	 */
	{
		int same_stamp = 0;

		for (int round = 0; round < 50; round++) {
			char ep[32];
			char *a1, *b1, *text, *path = xasprintf("%s/b.yaml", dir);
			struct stat before, after;

			snprintf(ep, sizeof(ep), "10.244.1.%d", 150 + (round % 2));
			a1 = service("b", "10.96.0.2");
			b1 = slice("b-1", "b", ep);
			text = xasprintf("%s---\n%s", a1, b1);
			assert_int_equal(stat(path, &before), 0);
			overwrite_same_size("b.yaml", text);
			assert_int_equal(stat(path, &after), 0);
			same_stamp += before.st_mtim.tv_nsec == after.st_mtim.tv_nsec &&
				      before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
				      before.st_ctim.tv_nsec == after.st_ctim.tv_nsec;
			assert_int_equal(refresh(&f), 0);
			assert_int_equal(f.files_read, 1);
			assert_matches_scratch(&f);
			free(a1);
			free(b1);
			free(text);
			free(path);
		}
		print_message("in-place rewrites that kept the stamp: %d of 50\n", same_stamp);
	}

	/* A file removed: its service leaves the view. */
	remove_file("a-extra.yaml");
	remove_file("a.yaml");
	assert_int_equal(refresh(&f), 0);
	assert_non_null(strmap_get(&f.last.services, "t/a"));
	assert_int_equal(port_id(f.view, "t/a"), 0);
	assert_matches_scratch(&f);

	/* This node's Node object changes: the caller rebuilds everything. */
	write_file("nodes.yaml", "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\n"
				 "  labels: {topology.kubernetes.io/zone: z2}\n");
	assert_int_equal(refresh(&f), 0);
	assert_non_null(strmap_get(&f.last.nodes, "node-1"));
	assert_string_equal(f.view->zone, "z2");
	assert_matches_scratch(&f);

	/* Many services at once (more than the in-place insert handles one by one). */
	{
		char *text = xstrdup("");

		for (int i = 0; i < 100; i++) {
			char ip[32], name[16], sl[16], ep[32];
			char *a1, *b1, *t;

			snprintf(ip, sizeof(ip), "10.96.1.%d", i);
			snprintf(name, sizeof(name), "m%03d", i);
			snprintf(sl, sizeof(sl), "m%03d-1", i);
			snprintf(ep, sizeof(ep), "10.244.1.%d", 100 + i);
			a1 = service(name, ip);
			b1 = slice(sl, name, ep);
			t = xasprintf("%s---\n%s---\n%s", text, a1, b1);
			free(text);
			free(a1);
			free(b1);
			text = t;
		}
		write_file("many.yaml", text);
		free(text);
	}
	assert_int_equal(refresh(&f), 0);
	assert_int_equal(f.view->n_ports, 101);
	assert_matches_scratch(&f);

	fixture_close(&f);
	remove_file("nodes.yaml");
	remove_file("b.yaml");
	remove_file("many.yaml");
	assert_int_equal(rmdir(dir), 0);
}

/* Puts text on standard input (a temporary file); returns the saved stdin. */
static int stdin_from(const char *text)
{
	char path[] = "/tmp/kroute-test-stdin-XXXXXX";
	int fd = mkstemp(path), saved = dup(0);

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(dup2(fd, 0), 0);
	close(fd);
	unlink(path);
	return saved;
}

static void stdin_restore(int saved)
{
	assert_int_equal(dup2(saved, 0), 0);
	close(saved);
}

/*
 * "-f -": standard input is read once.  A forced re-read (SIGHUP, the
 * hourly full sync) keeps what it gave, and after a refused first read a
 * retry fails again instead of loading an empty (valid) input.
 */
static void test_stdin_read_once(void **state)
{
	const char *const paths[] = { "-" };
	struct source *files;
	struct store st;
	struct store_delta delta;
	struct diag d;
	int saved;

	(void)state;
	saved = stdin_from(nodes);
	store_init(&st);
	files = files_source_new(paths, 1, NULL);
	diag_init(&d);
	assert_int_equal(src_refresh(files, &st, false, &d, &delta), 0);
	store_delta_done(&delta);
	assert_int_equal(st.cluster.n_nodes, 1);
	assert_int_equal(src_refresh(files, &st, true, &d, &delta), 0);
	store_delta_done(&delta);
	assert_int_equal(st.cluster.n_nodes, 1);
	diag_done(&d);
	store_done(&st);
	files->ops->free(files);
	stdin_restore(saved);

	saved = stdin_from("kind: Node\nmetadata: [not, a, map]\n");
	store_init(&st);
	files = files_source_new(paths, 1, NULL);
	diag_init(&d);
	assert_true(src_refresh(files, &st, false, &d, &delta) < 0);
	store_delta_done(&delta);
	diag_done(&d);
	diag_init(&d);
	assert_true(src_refresh(files, &st, false, &d, &delta) < 0);
	store_delta_done(&delta);
	assert_true(d.n > 0 && strstr(d.msgs[0].text, "standard input was already read"));
	diag_done(&d);
	store_done(&st);
	files->ops->free(files);
	stdin_restore(saved);
}

/*
 * A source other than files, the way the Kubernetes API source will feed
 * the store: single objects upserted and deleted, per origin (a kind's
 * list/watch).  Its refresh hands over what was queued since the last
 * successful one; a refused batch stays queued.
 */
struct fake_op {
	const char *origin;
	enum store_kind kind;
	const char *key;            /* for a delete */
	const char *text;           /* for an upsert: one object's manifest; NULL: delete */
};

struct fake_source {
	struct source base;
	struct fake_op ops[8];
	size_t n_ops;
};

static void fake_upsert(struct store_batch *b, const struct fake_op *op)
{
	struct cluster c;
	struct diag d;

	cluster_init(&c);
	diag_init(&d);
	assert_int_equal(manifest_load_buffer("fake", op->text, strlen(op->text), false, NULL, &c,
					      &d), 0);
	diag_done(&d);
	if (op->kind == STORE_SERVICE)
		store_batch_upsert_service(b, op->origin, c.services[0]);
	else if (op->kind == STORE_SLICE)
		store_batch_upsert_slice(b, op->origin, c.slices[0]);
	else
		store_batch_upsert_node(b, op->origin, c.nodes[0]);
	c.n_services = c.n_slices = c.n_nodes = 0; /* moved to the batch */
	cluster_done(&c);
}

static int fake_refresh(struct source *src, struct store *st, bool reread, struct diag *d,
			struct store_delta *delta)
{
	struct fake_source *fs = (struct fake_source *)src;
	struct store_batch b;
	int r;

	store_batch_init(&b, src->ops->name);
	for (size_t i = 0; i < fs->n_ops; i++) {
		if (fs->ops[i].text)
			fake_upsert(&b, &fs->ops[i]);
		else
			store_batch_delete(&b, fs->ops[i].origin, fs->ops[i].kind, fs->ops[i].key);
	}
	r = store_commit(st, &b, d, delta);
	store_batch_done(&b);
	if (r == 0)
		fs->n_ops = 0;
	return r;
}

static bool fake_has_synced(const struct source *src)
{
	return true;
}

static const struct source_ops fake_ops = {
	.name = "fake",
	.origin_noun = "kinds",
	.refresh = fake_refresh,
	.has_synced = fake_has_synced,
};

static void fake_queue(struct fake_source *fs, const char *origin, enum store_kind kind,
		       const char *key, const char *text)
{
	assert_true(fs->n_ops < ARRAY_SIZE(fs->ops));
	fs->ops[fs->n_ops++] = (struct fake_op){ origin, kind, key, text };
}

/* One refresh of the fake source alone; its diag's first message in *ret_msg when asked. */
static int fake_refresh_alone(struct fixture *f, struct fake_source *fake, bool dup_expected)
{
	struct store_delta delta;
	struct diag d;
	int r;

	diag_init(&d);
	r = src_refresh(&fake->base, &f->st, false, &d, &delta);
	if (dup_expected) {
		assert_true(d.n > 0);
		assert_non_null(strstr(d.msgs[0].text, "duplicate object"));
	}
	diag_done(&d);
	store_delta_done(&delta);
	return r;
}

static void test_other_source(void **state)
{
	struct fixture f;
	struct fake_source fake = { .base = { &fake_ops } };
	struct source *both[2];
	char *svc_f = service("f", "10.96.0.6"), *svc_a_again = service("a", "10.96.0.9");
	char *sl_f1 = slice("f-1", "f", "10.244.1.60"), *sl_f1b = slice("f-1", "f", "10.244.1.61");
	char *sl_a2 = slice("a-2", "a", "10.244.1.11");
	const char *live[4] = { NULL };
	uint64_t id_a, id_f;

	(void)state;
	fixture_open(&f);
	both[0] = f.files;
	both[1] = &fake.base;
	scratch_extra = live;

	/* First sync: the files and the fake source's first objects, one delta. */
	fake_queue(&fake, "services", STORE_SERVICE, NULL, svc_f);
	fake_queue(&fake, "endpointslices", STORE_SLICE, NULL, sl_f1);
	live[0] = svc_f;
	live[1] = sl_f1;
	assert_int_equal(refresh_sources(&f, both, 2), 0);
	assert_true(f.last.all);
	assert_int_equal(f.view->n_ports, 2);
	assert_matches_scratch(&f);
	id_a = port_id(f.view, "t/a");
	id_f = port_id(f.view, "t/f");

	/* One slice of f changes: only f is named and rebuilt; no file is read. */
	fake_queue(&fake, "endpointslices", STORE_SLICE, NULL, sl_f1b);
	live[1] = sl_f1b;
	assert_int_equal(refresh_sources(&f, both, 2), 0);
	assert_false(f.last.all);
	assert_int_equal(f.files_read, 1); /* the one origin the fake source edited */
	assert_non_null(strmap_get(&f.last.services, "t/f"));
	assert_null(strmap_get(&f.last.services, "t/a"));
	assert_int_equal(port_id(f.view, "t/a"), id_a);
	assert_true(port_id(f.view, "t/f") != id_f);
	assert_matches_scratch(&f);

	/* A slice from the fake source for a service from a file: that service is named. */
	fake_queue(&fake, "endpointslices", STORE_SLICE, NULL, sl_a2);
	live[2] = sl_a2;
	assert_int_equal(refresh_sources(&f, both, 2), 0);
	assert_non_null(strmap_get(&f.last.services, "t/a"));
	assert_null(strmap_get(&f.last.services, "t/f"));
	assert_matches_scratch(&f);
	id_f = port_id(f.view, "t/f");

	/* A duplicate across sources is refused whole, and stays queued until it is withdrawn. */
	fake_queue(&fake, "services", STORE_SERVICE, NULL, svc_a_again);
	fake_queue(&fake, "endpointslices", STORE_SLICE, "t/f-1", NULL);
	assert_int_equal(fake_refresh_alone(&f, &fake, true), -EINVAL);
	assert_int_equal(fake_refresh_alone(&f, &fake, true), -EINVAL);
	assert_int_equal(cluster_find_service(&f.st.cluster, "t/a")->cluster_ips[0].bytes[3], 1);
	assert_non_null(cluster_find_slice(&f.st.cluster, "t/f-1"));
	fake.n_ops = 0;

	/* The other way round: a file defining what the fake source holds is refused too. */
	write_service("f.yaml", "f", "10.96.0.7", "f-9", "10.244.1.69");
	{
		struct store_delta delta;
		struct diag d;

		diag_init(&d);
		assert_int_equal(src_refresh(f.files, &f.st, false, &d, &delta), -EINVAL);
		assert_true(d.n > 0 && strstr(d.msgs[0].text, "duplicate object"));
		diag_done(&d);
		store_delta_done(&delta);
	}
	assert_int_equal(cluster_find_service(&f.st.cluster, "t/f")->cluster_ips[0].bytes[3], 6);
	assert_null(cluster_find_slice(&f.st.cluster, "t/f-9"));
	remove_file("f.yaml");
	assert_int_equal(refresh_sources(&f, both, 2), 0);
	assert_int_equal(port_id(f.view, "t/f"), id_f);
	assert_matches_scratch(&f);

	/*
	 * In one batch: an upsert then a delete of the same key (nothing), a
	 * delete of a key never seen (nothing), and f's service and slice deleted.
	 */
	fake_queue(&fake, "nodes", STORE_NODE, NULL,
		   "apiVersion: v1\nkind: Node\nmetadata: {name: node-9}\n");
	fake_queue(&fake, "nodes", STORE_NODE, "node-9", NULL);
	fake_queue(&fake, "services", STORE_SERVICE, "t/nothing", NULL);
	fake_queue(&fake, "services", STORE_SERVICE, "t/f", NULL);
	fake_queue(&fake, "endpointslices", STORE_SLICE, "t/f-1", NULL);
	live[0] = sl_a2;
	live[1] = live[2] = NULL;
	assert_int_equal(refresh_sources(&f, both, 2), 0);
	assert_non_null(strmap_get(&f.last.services, "t/f"));
	assert_null(strmap_get(&f.last.services, "t/a"));
	assert_null(strmap_get(&f.last.nodes, "node-9"));
	assert_null(cluster_find_node(&f.st.cluster, "node-9"));
	assert_int_equal(port_id(f.view, "t/f"), 0);
	assert_int_equal(f.st.n_objects, 4); /* node-1, a, a-1 from files; a-2 */
	assert_matches_scratch(&f);

	scratch_extra = NULL;
	fixture_close(&f);
	remove_file("nodes.yaml");
	remove_file("a.yaml");
	assert_int_equal(rmdir(dir), 0);
	free(svc_f);
	free(svc_a_again);
	free(sl_f1);
	free(sl_f1b);
	free(sl_a2);
}

/* Service s alone, with this policy and port (its slice lives in another file). */
static void write_split_service(const char *itp, int port)
{
	char *text = xasprintf("apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: t}\n"
			       "spec:\n  clusterIP: 10.96.0.9\n  internalTrafficPolicy: %s\n"
			       "  ports: [{name: http, port: %d, targetPort: 8080}]\n",
			       itp, port);

	write_file("s-service.yaml", text);
	free(text);
}

/*
 * A Service and its EndpointSlice in separate files, and only the
 * Service's file edited: no slice is in the change, so only the Service's
 * own mark makes it dirty.  (Every other case here keeps a Service and its
 * slice in one file, where the slice's mark would hide a missing one.)
 */
static void test_service_edited_apart_from_its_slice(void **state)
{
	struct fixture f;
	uint64_t id_a;
	char *sl = slice("s-1", "s", "10.244.1.40");

	(void)state;
	fixture_open(&f);
	write_split_service("Cluster", 80);
	write_file("s-slice.yaml", sl);
	assert_int_equal(refresh(&f), 0);
	assert_matches_scratch(&f);
	id_a = port_id(f.view, "t/a");

	/* Its policy: the Service's file alone is read, s (only) is dirty, the view follows. */
	write_split_service("Local", 80);
	assert_int_equal(refresh(&f), 0);
	assert_int_equal(f.files_read, 1);
	assert_false(f.last.all);
	assert_non_null(strmap_get(&f.last.services, "t/s"));
	assert_null(strmap_get(&f.last.services, "t/a"));
	assert_int_equal(port_id(f.view, "t/a"), id_a);
	assert_matches_scratch(&f);

	/* Its port: the same. */
	write_split_service("Local", 81);
	assert_int_equal(refresh(&f), 0);
	assert_int_equal(f.files_read, 1);
	assert_non_null(strmap_get(&f.last.services, "t/s"));
	assert_null(strmap_get(&f.last.services, "t/a"));
	assert_matches_scratch(&f);
	{
		char *got = view_render(f.view);

		assert_non_null(strstr(got, "--dport 81 "));
		assert_null(strstr(got, "10.96.0.9/32 -p tcp -m tcp --dport 80 "));
		free(got);
	}

	fixture_close(&f);
	remove_file("s-service.yaml");
	remove_file("s-slice.yaml");
	remove_file("nodes.yaml");
	remove_file("a.yaml");
	assert_int_equal(rmdir(dir), 0);
	free(sl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_stdin_read_once),
		cmocka_unit_test(test_other_source),
		cmocka_unit_test(test_service_edited_apart_from_its_slice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
