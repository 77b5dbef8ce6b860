/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes API source (source/kube/): the pure event decoder (lines,
 * events) directly (list pages: test_kube_list.c), then the whole source
 * against a fake HTTP server on 127.0.0.1 that serves paginated lists (the
 * first node page broken after a complete item) and hostile watch streams
 * (a malformed line, an event of unknown type, an object the decoder
 * refuses, an ERROR 410, a truncated event, an event over 16 MiB).  Bad input is
 * reported and skipped; it never crashes the source or empties the store.
 * The real API server is tested in tests/k8s/test_api_source.sh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/loop.h"
#include "core/util.h"
#include "source/kube/config.h"
#include "source/kube/event.h"
#include "source/kube/kube.h"
#include "store/store.h"
#include "kube_test.h"

#define SVC(name, rv, port)                                                                \
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"" name           \
	"\",\"namespace\":\"default\",\"resourceVersion\":\"" rv "\"},\"spec\":{\"clusterIP\":" \
	"\"10.96.0.10\",\"ports\":[{\"port\":" port ",\"protocol\":\"TCP\"}]}}"

/* ---- the pure decoder ---- */

struct lines_seen {
	char got[8][64];
	size_t n;
};

static void collect_line(const char *line, size_t len, void *userdata)
{
	struct lines_seen *s = userdata;

	assert_true(s->n < 8 && len < 64);
	memcpy(s->got[s->n], line, len);
	s->got[s->n++][len] = '\0';
}

static void test_lines(void **state)
{
	struct kube_lines l = { .max_line = 10 };
	struct lines_seen s = { 0 };

	/* Lines split across chunks, blank lines skipped, the unfinished tail kept. */
	assert_int_equal(kube_lines_feed(&l, "ab", 2, collect_line, &s), 0);
	assert_int_equal(kube_lines_feed(&l, "c\n\nde\nf", 7, collect_line, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.got[0], "abc");
	assert_string_equal(s.got[1], "de");
	assert_int_equal(kube_lines_feed(&l, "g\n", 2, collect_line, &s), 0);
	assert_string_equal(s.got[2], "fg");
	/* A line over the bound: refused, in one chunk or across several. */
	assert_int_equal(kube_lines_feed(&l, "0123456789A\n", 12, collect_line, &s), -EMSGSIZE);
	assert_int_equal(kube_lines_feed(&l, "012345", 6, collect_line, &s), 0);
	assert_int_equal(kube_lines_feed(&l, "6789AB", 6, collect_line, &s), -EMSGSIZE);
	/* After a reset the stream goes on. */
	assert_int_equal(kube_lines_feed(&l, "ok\n", 3, collect_line, &s), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.got[3], "ok");
	kube_lines_done(&l);
}

static enum kube_event_result apply(struct kube_changes *c, const char *line, char **rv,
				    struct diag *d)
{
	return kube_event_apply(c, line, strlen(line), "/api/v1/services", rv, d);
}

static void test_events(void **state)
{
	struct kube_changes c;
	struct store st;
	struct store_batch b;
	struct store_delta delta;
	struct diag d;
	char *rv = NULL;

	kube_changes_init(&c, &kube_kinds[0]);
	diag_init(&d);
	assert_int_equal(apply(&c, "{\"type\":\"ADDED\",\"object\":" SVC("a", "5", "80") "}", &rv, &d),
			 KUBE_EVENT_APPLIED);
	assert_string_equal(rv, "5");
	assert_int_equal(apply(&c, "{\"type\":\"ADDED\",\"object\":" SVC("b", "6", "80") "}", &rv, &d),
			 KUBE_EVENT_APPLIED);
	assert_int_equal(d.n_errors, 0);
	/* Malformed JSON, no object, an unknown type, a refused object: each reported and skipped. */
	assert_int_equal(apply(&c, "{\"type\":\"ADDED\",\"object\":{", &rv, &d), KUBE_EVENT_SKIPPED);
	assert_true(diag_has(&d, "not valid JSON"));
	assert_int_equal(apply(&c, "{\"type\":\"ADDED\"}", &rv, &d), KUBE_EVENT_SKIPPED);
	assert_int_equal(apply(&c, "[1]", &rv, &d), KUBE_EVENT_SKIPPED);
	assert_int_equal(apply(&c, "{\"type\":\"RENAMED\",\"object\":" SVC("a", "7", "80") "}", &rv, &d),
			 KUBE_EVENT_SKIPPED);
	assert_true(diag_has(&d, "unknown type \"RENAMED\""));
	assert_int_equal(apply(&c, "{\"type\":\"MODIFIED\",\"object\":" SVC("b", "8", "70000") "}",
			       &rv, &d), KUBE_EVENT_SKIPPED);
	/* The decoder's own message, naming the object and the field. */
	assert_true(diag_has(&d, "Service default/b: spec.ports[0].port"));
	assert_string_equal(rv, "8"); /* a refused object still moves the watch on */
	assert_int_equal(apply(&c, "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Node\",\"apiVersion\":"
			       "\"v1\",\"metadata\":{\"name\":\"n\"}}}", &rv, &d), KUBE_EVENT_SKIPPED);
	assert_true(diag_has(&d, "another kind (Node)"));
	assert_int_equal(apply(&c, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Service\","
			       "\"metadata\":{\"resourceVersion\":\"12\"}}}", &rv, &d),
			 KUBE_EVENT_BOOKMARK);
	assert_string_equal(rv, "12");
	assert_int_equal(apply(&c, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
			       "\"message\":\"too old\"}}", &rv, &d), KUBE_EVENT_GONE);
	assert_int_equal(apply(&c, "{\"type\":\"ERROR\",\"object\":{\"code\":500}}", &rv, &d),
			 KUBE_EVENT_FAILED);

	/* What is pending reaches the store: a and b. */
	store_init(&st);
	store_batch_init(&b, "kubernetes");
	store_delta_init(&delta);
	kube_changes_to_batch(&c, &b);
	assert_true(kube_changes_empty(&c));
	assert_int_equal(store_commit(&st, &b, &d, &delta), 0);
	store_delta_done(&delta);
	assert_int_equal(st.cluster.n_services, 2);
	assert_non_null(cluster_find_service(&st.cluster, "default/b"));

	/* A delete, then a list page replacing everything. */
	assert_int_equal(apply(&c, "{\"type\":\"DELETED\",\"object\":" SVC("a", "13", "80") "}", &rv,
			       &d), KUBE_EVENT_APPLIED);
	store_delta_init(&delta);
	kube_changes_to_batch(&c, &b);
	assert_int_equal(store_commit(&st, &b, &d, &delta), 0);
	store_delta_done(&delta);
	assert_int_equal(st.cluster.n_services, 1);
	assert_null(cluster_find_service(&st.cluster, "default/a"));

	store_batch_done(&b);
	store_done(&st);
	kube_changes_done(&c);
	free(rv);
	diag_done(&d);
}

/* ---- client config ---- */

static char *write_tmp(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static int load(const char *dir, const char *text, struct kube_config *c, struct diag *d)
{
	char *path = write_tmp(dir, "kubeconfig", text);
	int r = kube_config_load(path, NULL, c, d);

	free(path);
	return r;
}

#define KC_HEAD "apiVersion: v1\nkind: Config\ncurrent-context: b\n" \
		"contexts:\n- {name: a, context: {cluster: x, user: x}}\n" \
		"- {name: b, context: {cluster: k, user: u}}\n"

static const struct {
	const char *body;
	const char *message;
} refused[] = {
	{ "clusters:\n- {name: k, cluster: {server: 'https://h'}}\n"
	  "users:\n- {name: u, user: {exec: {command: aws}}}\n",
	  "exec credential plugins are not supported" },
	{ "clusters:\n- {name: k, cluster: {server: 'https://h'}}\nusers: []\n",
	  "no users entry is named \"u\"" },
	{ "clusters:\n- {name: k, cluster: {server: 'https://h', certificate-authority-data: '!!'}}\n"
	  "users:\n- {name: u, user: {}}\n",
	  "not valid base64" },
	{ "clusters:\n- {name: k, cluster: {server: 'https://h'}}\n"
	  "users:\n- {name: u, user: {client-key: k}}\n",
	  "a client key without a client certificate" },
	{ "clusters:\n- {name: k, cluster: {server: 'ftp://h'}}\nusers:\n- {name: u, user: {}}\n",
	  "not an http:// or https:// URL" },
};

static void test_config(void **state)
{
	char dir[] = "/tmp/kroute-test-kube.XXXXXX";
	struct kube_config c;
	struct diag d;

	assert_non_null(mkdtemp(dir));
	diag_init(&d);
	/* The current context's cluster and user; relative paths resolve beside the file; base64 data. */
	assert_int_equal(load(dir, KC_HEAD
			      "clusters:\n- {name: k, cluster: {server: 'https://10.0.0.1:6443/',"
			      " certificate-authority: pki/ca.crt}}\n"
			      "users:\n- {name: u, user: {tokenFile: tok, client-certificate-data:"
			      " aGVsbG8=, client-key: /abs/key}}\n", &c, &d), 0);
	assert_string_equal(c.server, "https://10.0.0.1:6443");
	assert_non_null(strstr(c.ca.file, dir));
	assert_non_null(strstr(c.ca.file, "/pki/ca.crt"));
	assert_false(c.insecure);
	assert_null(c.token);
	assert_string_equal(c.cert.data, "hello");
	assert_int_equal(c.cert.len, 5);
	assert_string_equal(c.key.file, "/abs/key");
	/* The token file is read at each request: a rotated token is seen. */
	free(write_tmp(dir, "tok", "first\n"));
	{
		char *t = kube_config_token(&c, &d);

		assert_string_equal(t, "first");
		free(t);
		free(write_tmp(dir, "tok", "second"));
		t = kube_config_token(&c, &d);
		assert_string_equal(t, "second");
		free(t);
	}
	kube_config_done(&c);
	/* insecure-skip-tls-verify only when the file says so; --master overrides the server. */
	assert_int_equal(load(dir, KC_HEAD
			      "clusters:\n- {name: k, cluster: {server: 'https://h', insecure-skip-tls-verify: true}}\n"
			      "users:\n- {name: u, user: {token: abc}}\n", &c, &d), 0);
	assert_true(c.insecure);
	assert_string_equal(c.token, "abc");
	kube_config_done(&c);
	assert_int_equal(d.n_errors, 0);
	/* Refused: exec plugins, a missing user, bad base64, a key without a certificate, a bad URL. */
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char *text = xasprintf(KC_HEAD "%s", refused[i].body);

		assert_int_equal(load(dir, text, &c, &d), -EINVAL);
		if (!diag_has(&d, refused[i].message))
			fail_msg("case %zu: no \"%s\"", i, refused[i].message);
		free(text);
	}
	/* In-cluster: the service account's files, an IPv6 host in brackets. */
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	setenv("KROUTE_SERVICEACCOUNT_DIR", dir, 1);
	assert_true(kube_config_in_cluster());
	assert_int_equal(kube_config_load(NULL, NULL, &c, &d), 0);
	assert_string_equal(c.server, "https://[fd00::1]:443");
	assert_non_null(strstr(c.token_file, "/token"));
	assert_non_null(strstr(c.ca.file, "/ca.crt"));
	kube_config_done(&c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv("KROUTE_SERVICEACCOUNT_DIR");
	diag_done(&d);
	{
		char *cmd = xasprintf("rm -rf %s", dir);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
}

/* ---- the source against a fake API server ---- */

struct fake {
	int lfd;
	uint16_t port;
	pthread_t acceptor;
	pthread_t conns[64];
	atomic_int n_conns;
	atomic_bool stop;
	atomic_int service_lists, slice_lists, slice_watches, service_watches, node_lists, node_watches;
};

struct conn {
	struct fake *f;
	int fd;
};

static void send_all(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

static void send_head(int fd)
{
	send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n");
}

static void send_bad_request(int fd)
{
	send_all(fd, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n{\"message\":\"selector\"}");
}

/* Holds a watch open (no events) until the test ends. */
static void hold(struct fake *f)
{
	while (!f->stop)
		usleep(20000);
}

static void serve_services(struct fake *f, int fd, const char *req)
{
	/* kube-proxy's selectors. */
	if (!strstr(req, "labelSelector=%21service.kubernetes.io%2Fservice-proxy-name&"
			 "fieldSelector=spec.clusterIP%21%3DNone&")) {
		send_bad_request(fd);
		return;
	}
	if (!strstr(req, "watch=1")) {
		f->service_lists++;
		send_head(fd);
		if (!strstr(req, "continue=")) /* page 1 of 2 */
			send_all(fd, "{\"metadata\":{\"continue\":\"p2\",\"resourceVersion\":\"20\"},"
				     "\"items\":[" SVC_ITEM("a", "10.96.0.11") "]}");
		else
			send_all(fd, "{\"metadata\":{\"resourceVersion\":\"20\"},\"items\":["
				     SVC_ITEM("b", "10.96.0.12") "]}");
		return;
	}
	if (f->service_watches++ > 0 || !strstr(req, "resourceVersion=20")) {
		hold(f);
		return;
	}
	/* Hostile stream: every bad event is skipped, the good ones around it count. */
	send_head(fd);
	send_all(fd, "{\"type\":\"ADDED\",\"object\":" SVC("c", "21", "81") "}\n"
		     "this is not json\n"
		     "{\"type\":\"SURPRISE\",\"object\":" SVC("a", "22", "82") "}\n"
		     "{\"type\":\"MODIFIED\",\"object\":" SVC("b", "23", "99999") "}\n"
		     "{\"type\":\"DELETED\",\"object\":" SVC("a", "24", "80") "}\n"
		     "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Serv");
	/* ... and the connection ends in the middle of an event. */
}

static void serve_slices(struct fake *f, int fd, const char *req)
{
	if (!strstr(req, "labelSelector=%21service.kubernetes.io%2Fheadless&")) {
		send_bad_request(fd);
		return;
	}
	if (!strstr(req, "watch=1")) {
		f->slice_lists++;
		send_head(fd);
		send_all(fd, "{\"metadata\":{\"resourceVersion\":\"30\"},\"items\":[]}");
		return;
	}
	if (f->slice_watches++ > 0) {
		hold(f);
		return;
	}
	send_head(fd);
	send_all(fd, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
		     "\"message\":\"too old resource version\"}}\n");
}

/*
 * The first node list is broken after a complete item (streamed: that item is
 * already decoded when the page fails, and must not stay); the first node
 * watch sends an event longer than any the source accepts.
 */
static void serve_nodes(struct fake *f, int fd, const char *req)
{
	char *big;

	if (!strstr(req, "watch=1")) {
		send_head(fd);
		if (f->node_lists++ == 0)
			send_all(fd, "{\"metadata\":{\"resourceVersion\":\"31\"},\"items\":"
				     "[{\"metadata\":{\"name\":\"ghost\"}} x]}");
		else
			send_all(fd, "{\"metadata\":{\"resourceVersion\":\"31\"},\"items\":"
				     "[{\"metadata\":{\"name\":\"n1\"}}]}");
		return;
	}
	if (f->node_watches++ > 0) {
		hold(f);
		return;
	}
	big = xmalloc(KUBE_MAX_LINE + 2);
	memset(big, 'x', KUBE_MAX_LINE + 1);
	big[KUBE_MAX_LINE + 1] = '\0';
	send_head(fd);
	send_all(fd, "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"");
	send_all(fd, big);
	free(big);
}

static void *serve_conn(void *arg)
{
	struct conn *c = arg;
	char req[4096] = "";
	size_t len = 0;

	while (len < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
		ssize_t n = recv(c->fd, req + len, sizeof(req) - 1 - len, 0);

		if (n <= 0)
			break;
		len += (size_t)n;
		req[len] = '\0';
	}
	if (strstr(req, "GET /api/v1/services?"))
		serve_services(c->f, c->fd, req);
	else if (strstr(req, "GET /apis/discovery.k8s.io/v1/endpointslices?"))
		serve_slices(c->f, c->fd, req);
	else if (strstr(req, "GET /api/v1/nodes?fieldSelector=metadata.name%3Dn1&"))
		serve_nodes(c->f, c->fd, req);
	else {
		send_all(c->fd, "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
	}
	close(c->fd);
	free(c);
	return NULL;
}

static void *accept_loop(void *arg)
{
	struct fake *f = arg;

	for (;;) {
		int fd = accept(f->lfd, NULL, NULL);
		struct conn *c;

		if (fd < 0 || f->stop) {
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		assert_true(f->n_conns < 64);
		c = xcalloc(1, sizeof(*c));
		c->f = f;
		c->fd = fd;
		pthread_create(&f->conns[f->n_conns++], NULL, serve_conn, c);
	}
}

static void fake_start(struct fake *f)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	memset(f, 0, sizeof(*f));
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 64), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
	f->port = ntohs(sa.sin_port);
	pthread_create(&f->acceptor, NULL, accept_loop, f);
}

static void fake_stop(struct fake *f)
{
	f->stop = true;
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->acceptor, NULL);
	close(f->lfd);
	for (int i = 0; i < f->n_conns; i++)
		pthread_join(f->conns[i], NULL);
}

struct watcher {
	struct diag reports;
	int changes;
};

static void on_changed(struct source *src, void *userdata)
{
	((struct watcher *)userdata)->changes++;
}

static void on_report(struct diag *d, void *userdata)
{
	diag_move(&((struct watcher *)userdata)->reports, d);
}

static void refresh(struct source *src, struct store *st, struct diag *d)
{
	struct store_delta delta;

	store_delta_init(&delta);
	assert_int_equal(src->ops->refresh(src, st, false, d, &delta), 0);
	store_delta_done(&delta);
}

static void test_source_hostile_server(void **state)
{
	struct fake f;
	struct watcher w = { 0 };
	struct kube_source_opts o = { .node = "n1", .report = on_report, .report_userdata = &w };
	struct loop *l;
	struct store st;
	struct source *src;
	struct diag d;
	char *master;

	fake_start(&f);
	master = xasprintf("http://127.0.0.1:%u", f.port);
	o.master = master;
	diag_init(&w.reports);
	diag_init(&d);
	store_init(&st);
	assert_int_equal(loop_new(&l), 0);
	src = kube_source_new(&o, &d);
	assert_non_null(src);
	assert_false(src->ops->has_synced(src));
	assert_int_equal(src->ops->attach(src, l, on_changed, &w, &d), 0);
	/* Until the slices were listed twice (410), the service stream played and the node listed. */
	for (int i = 0; i < 500 && (f.slice_lists < 2 || f.service_watches < 2 || f.node_lists < 3 ||
				    !src->ops->has_synced(src)); i++)
		assert_int_equal(loop_run_once(l, 20), 0);
	assert_true(src->ops->has_synced(src));
	assert_int_equal(f.service_lists, 2); /* two pages */
	assert_int_equal(f.slice_lists, 2);   /* listed again after the ERROR 410 */
	assert_true(f.service_watches >= 2);  /* watched again after the truncated stream */
	assert_int_equal(f.node_lists, 3);    /* again after the broken page and the over-long event */
	for (int i = 0; i < 10; i++)
		assert_int_equal(loop_run_once(l, 10), 0);
	refresh(src, &st, &d);
	/* b (page 2) and c (watched) stay; a was deleted; the refused b update left b as it was. */
	assert_int_equal(st.cluster.n_services, 2);
	assert_non_null(cluster_find_service(&st.cluster, "default/b"));
	assert_non_null(cluster_find_service(&st.cluster, "default/c"));
	assert_null(cluster_find_service(&st.cluster, "default/a"));
	assert_int_equal(cluster_find_service(&st.cluster, "default/b")->ports[0].port, 80);
	assert_non_null(cluster_find_node(&st.cluster, "n1"));
	assert_null(cluster_find_node(&st.cluster, "ghost"));
	assert_true(diag_has(&w.reports, "',' or ']' expected after an item"));
	assert_true(diag_has(&w.reports, "listing nodes: the response is not a list"));
	assert_true(diag_has(&w.reports, "not valid JSON"));
	assert_true(diag_has(&w.reports, "unknown type \"SURPRISE\""));
	assert_true(diag_has(&w.reports, "Service default/b: spec.ports[0].port"));
	assert_true(diag_has(&w.reports, "is gone (410); listing again"));
	assert_true(diag_has(&w.reports, "watching nodes: an event longer than 16777216 bytes"));
	assert_true(w.changes > 0);
	fake_stop(&f);
	src->ops->free(src);
	loop_free(l);
	store_done(&st);
	diag_done(&w.reports);
	diag_done(&d);
	free(master);
}

/* Nothing listens: explain's wait fails at once (fail_fast) with curl's reason. */
static void test_source_unreachable(void **state)
{
	struct fake f;
	struct kube_source_opts o = { .node = "n1", .fail_fast = true };
	struct loop *l;
	struct source *src;
	struct diag d;
	char *master;

	/* A port that was free a moment ago. */
	fake_start(&f);
	fake_stop(&f);
	master = xasprintf("http://127.0.0.1:%u", f.port);
	o.master = master;
	diag_init(&d);
	assert_int_equal(loop_new(&l), 0);
	src = kube_source_new(&o, &d);
	assert_non_null(src);
	assert_int_equal(src->ops->attach(src, l, on_changed, &(struct watcher){ 0 }, &d), 0);
	assert_int_equal(kube_source_wait_synced(src, l, 10ull * 1000000000, &d), -EIO);
	assert_true(diag_has(&d, "Couldn't connect"));
	src->ops->free(src);
	loop_free(l);
	diag_done(&d);
	free(master);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_source_hostile_server),
		cmocka_unit_test(test_source_unreachable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
