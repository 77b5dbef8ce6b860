/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes API source; see kube.h. */
#include "source/kube/kube.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/util.h"
#include "source/doc.h"
#include "source/kube/config.h"
#include "source/kube/event.h"
#include "source/kube/list.h"
#include "store/store.h"

#define NS_PER_SEC 1000000000ull
#define LIST_LIMIT 500
#define BACKOFF_BASE_MS 800      /* client-go's reflector: 800 ms doubling to 30 s, jittered */
#define BACKOFF_MAX_MS 30000

struct kube_source;

/* One kind's list + watch. */
struct kube_watch {
	struct kube_source *ks;
	const struct kube_kind_info *info;
	struct kube_changes changes;  /* since the last refresh */
	char *query;                  /* the selector part of the query (escaped) */
	char *rv;                     /* the resourceVersion the watch resumes from */
	char *cont;                   /* the next list page's continue token */
	struct cluster listing;       /* the pages of a list in progress */
	struct kube_list page;        /* the list page arriving, decoded into listing as it comes */
	size_t page_bytes;            /* of that page so far */
	bool synced;                  /* listed once */
	bool watching;                /* the request in flight is a watch (else a list) */
	CURL *easy;                   /* the request in flight, or NULL */
	struct curl_slist *headers;
	char *body;                   /* an error response */
	size_t body_len, body_cap;
	struct kube_lines lines;
	bool gone, ended, too_long, too_big, not_list;
	unsigned failures;            /* in a row, for the backoff */
	struct loop_timer *retry;
};

struct kube_source {
	struct source base;
	struct kube_config cfg;
	const char *node;
	bool fail_fast;
	int failed;                   /* fail_fast: the first failure */
	struct kube_watch w[3];
	CURLM *multi;
	struct loop *loop;
	struct loop_timer *curl_tm;
	source_changed_fn changed;
	void *userdata;
	struct diag pending;          /* reports since the last refresh (or report()) */
	void (*report)(struct diag *d, void *userdata);
	void *report_userdata;
	uint64_t last_contact_ns;     /* the API server last answered (0: never) */
	uint64_t attach_ns;           /* when the first lists started */
	bool listed_note;             /* the first complete lists were reported */
	uint64_t rand_state;          /* xorshift64, seeded per process: jitter differs per node */
};

static void start_list(struct kube_watch *w);
static bool kube_has_synced(const struct source *src);
static void start_watch(struct kube_watch *w);

static void notify(struct kube_source *ks)
{
	if (ks->changed)
		ks->changed(&ks->base, ks->userdata);
}

/* Hands the reports so far to report(), after each round of network work. */
static void flush_reports(struct kube_source *ks)
{
	if (!ks->report || !ks->pending.n)
		return;
	ks->report(&ks->pending, ks->report_userdata);
	diag_done(&ks->pending);
	diag_init(&ks->pending);
}

/* Not random(): unseeded, every node's agent would draw the same "jitter". */
static uint64_t next_rand(struct kube_source *ks)
{
	uint64_t x = ks->rand_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return ks->rand_state = x;
}

/* ---- requests ---- */

static void stop_request(struct kube_watch *w)
{
	if (w->easy) {
		curl_multi_remove_handle(w->ks->multi, w->easy);
		curl_easy_cleanup(w->easy);
		w->easy = NULL;
	}
	curl_slist_free_all(w->headers);
	w->headers = NULL;
	w->body_len = 0;
	w->page_bytes = 0;
	kube_lines_reset(&w->lines);
	w->gone = w->ended = w->too_long = w->too_big = w->not_list = false;
}

static void on_line(const char *line, size_t len, void *userdata)
{
	struct kube_watch *w = userdata;
	struct kube_source *ks = w->ks;

	if (w->gone || w->ended)
		return;
	switch (kube_event_apply(&w->changes, line, len, w->info->path, &w->rv, &ks->pending)) {
	case KUBE_EVENT_APPLIED:
		notify(ks);
		break;
	case KUBE_EVENT_SKIPPED: /* reported */
	case KUBE_EVENT_BOOKMARK:
		break;
	case KUBE_EVENT_GONE:
		w->gone = true;
		break;
	case KUBE_EVENT_FAILED:
		w->ended = true;
		break;
	}
}

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
	struct kube_watch *w = userdata;
	size_t len = size * n;
	long code = 0;

	w->ks->last_contact_ns = mono_ns();
	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &code);
	if (w->watching && code == 200) {
		if (kube_lines_feed(&w->lines, p, len, on_line, w) < 0) {
			w->too_long = true;
			return 0; /* ends the transfer */
		}
		return w->gone || w->ended ? 0 : len;
	}
	if (code == 200) {
		/* A list page, bounded as a file is; its items are decoded as they complete. */
		w->page_bytes += len;
		if (w->page_bytes > doc_default_limits.max_file_size) {
			w->too_big = true;
			return 0;
		}
		if (kube_list_feed(&w->page, p, len) < 0) {
			w->not_list = true; /* reported */
			return 0;
		}
		return len;
	}
	/* An error response, kept for its message. */
	if (w->body_len + len > doc_default_limits.max_file_size) {
		w->too_big = true;
		return 0;
	}
	w->body = xgrow(w->body, &w->body_cap, w->body_len + len + 1, 1);
	memcpy(w->body + w->body_len, p, len);
	w->body_len += len;
	return len;
}

/*
 * A watch the server accepted (its status is 200 once the headers come) ends the run of
 * failures: the next one backs off from the first step again, not from where a failure
 * long ago left it.
 */
static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
	struct kube_watch *w = userdata;
	long code = 0;

	(void)p;
	if (w->watching && curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
	    code == 200)
		w->failures = 0;
	return size * n;
}

static void set_blob(CURL *e, const struct kube_blob *b, CURLoption file_opt, CURLoption blob_opt)
{
	if (b->data) {
		struct curl_blob blob = { b->data, b->len, CURL_BLOB_COPY };

		curl_easy_setopt(e, blob_opt, &blob);
	} else if (b->file) {
		curl_easy_setopt(e, file_opt, b->file);
	}
}

static void start_request(struct kube_watch *w, char *url, bool watching)
{
	struct kube_source *ks = w->ks;
	char *token = kube_config_token(&ks->cfg, &ks->pending), *auth;
	CURL *e = curl_easy_init();
	CURLMcode mr;

	stop_request(w);
	if (!e)
		abort(); /* out of memory, as xmalloc */
	w->watching = watching;
	w->headers = curl_slist_append(NULL, "Accept: application/json");
	if (token) {
		auth = xasprintf("Authorization: Bearer %s", token);
		w->headers = curl_slist_append(w->headers, auth);
		free(auth);
		free(token);
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, w);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, w);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "kroute/" KROUTE_VERSION);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	if (!watching)
		curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
	set_blob(e, &ks->cfg.ca, CURLOPT_CAINFO, CURLOPT_CAINFO_BLOB);
	set_blob(e, &ks->cfg.cert, CURLOPT_SSLCERT, CURLOPT_SSLCERT_BLOB);
	set_blob(e, &ks->cfg.key, CURLOPT_SSLKEY, CURLOPT_SSLKEY_BLOB);
	if (ks->cfg.insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	w->easy = e;
	mr = curl_multi_add_handle(ks->multi, e);
	if (mr != CURLM_OK)
		abort(); /* only misuse (a handle added twice) fails here */
	free(url);
}

static void start_list(struct kube_watch *w)
{
	char *url, *cont = w->cont ? curl_easy_escape(NULL, w->cont, 0) : NULL;

	url = xasprintf("%s%s?%slimit=%d%s%s", w->ks->cfg.server, w->info->path, w->query,
			LIST_LIMIT, cont ? "&continue=" : "", cont ? cont : "");
	curl_free(cont);
	start_request(w, url, false);
	kube_list_begin(&w->page, w->info, w->info->path, &w->listing, &w->ks->pending);
}

static void start_watch(struct kube_watch *w)
{
	char *rv = curl_easy_escape(NULL, w->rv ? w->rv : "", 0);
	/* As client-go: the server ends a watch after 5 to 10 minutes, so connections rotate. */
	unsigned timeout = 300 + (unsigned)(next_rand(w->ks) % 300);
	char *url = xasprintf("%s%s?%swatch=1&allowWatchBookmarks=true&resourceVersion=%s"
			      "&timeoutSeconds=%u", w->ks->cfg.server, w->info->path, w->query, rv,
			      timeout);

	curl_free(rv);
	start_request(w, url, true);
}

/* Lists from scratch (the first list, 410 Gone, a refused batch). */
static void relist(struct kube_watch *w)
{
	free(w->cont);
	w->cont = NULL;
	cluster_done(&w->listing);
	cluster_init(&w->listing);
	start_list(w);
}

static void on_retry(struct loop *l, struct loop_timer *t, void *userdata)
{
	struct kube_watch *w = userdata;

	if (w->synced && w->rv)
		start_watch(w);
	else
		relist(w);
	flush_reports(w->ks);
}

/* The message of an error response (a Status), else its first bytes. */
static char *error_text(struct kube_watch *w, long code, CURLcode res)
{
	json_t *status;
	char *text;

	if (res != CURLE_OK)
		return xstrdup(curl_easy_strerror(res));
	status = w->body_len ? json_loadb(w->body, w->body_len, 0, NULL) : NULL;
	if (json_is_string(json_object_get(status, "message")))
		text = xasprintf("HTTP %ld: %s", code,
				 json_string_value(json_object_get(status, "message")));
	else
		text = xasprintf("HTTP %ld", code);
	json_decref(status);
	return text;
}

/* A failed request: reported with how old the view is; retried after a jittered backoff. */
static void failed(struct kube_watch *w, const char *why)
{
	struct kube_source *ks = w->ks;
	unsigned shift = w->failures < 6 ? w->failures : 6;
	uint64_t ms = (uint64_t)BACKOFF_BASE_MS << shift;
	char age[64];

	w->failures++;
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	ms += next_rand(ks) % (ms / 2 + 1); /* jitter: agents do not retry in step */
	if (ks->last_contact_ns)
		snprintf(age, sizeof(age), "the API server last answered %.0f s ago",
			 (double)(mono_ns() - ks->last_contact_ns) / 1e9);
	else
		snprintf(age, sizeof(age), "the API server has not answered yet");
	if (ks->fail_fast) {
		diag_add(&ks->pending, DIAG_ERROR, ks->cfg.where, 0, NULL, NULL, "%s %s: %s",
			 w->watching ? "watching" : "listing", w->info->resource, why);
		ks->failed = -EIO;
		return;
	}
	diag_add(&ks->pending, DIAG_WARNING, ks->cfg.where, 0, NULL, NULL,
		 "%s %s: %s; %s, %s; retrying in %.1f s",
		 w->watching ? "watching" : "listing", w->info->resource, why, age,
		 kube_has_synced(&ks->base) ? "the last programmed rules stay"
					    : "nothing is programmed before every kind is listed",
		 (double)ms / 1e3);
	loop_timer_arm(w->retry, mono_ns() + ms * 1000000);
}

/*
 * Once every kind has been listed the first time: how long it took and over
 * which HTTP version (libcurl offers HTTP/2 over TLS; the API server takes
 * it), for the agent's log and for bench/bench_api.sh.
 */
static void note_listed(struct kube_source *ks, long http_version)
{
	const char *http = http_version == CURL_HTTP_VERSION_2_0 ? "HTTP/2"
			 : http_version == CURL_HTTP_VERSION_1_1 ? "HTTP/1.1"
			 : http_version == CURL_HTTP_VERSION_1_0 ? "HTTP/1.0" : "HTTP";

	/* Not for explain and --once (fail_fast): their output stays the objects'. */
	if (ks->listed_note || ks->fail_fast || !kube_has_synced(&ks->base))
		return;
	ks->listed_note = true;
	diag_add(&ks->pending, DIAG_NOTE, ks->cfg.where, 0, NULL, NULL,
		 "listed %zu services, %zu EndpointSlices and %zu node(s) in %.0f ms over %s",
		 ks->w[0].changes.listed.n_services, ks->w[1].changes.listed.n_slices,
		 ks->w[2].changes.listed.n_nodes, (double)(mono_ns() - ks->attach_ns) / 1e6, http);
}

/* A list page arrived: the next page, or the list is complete and the watch starts. */
static void list_page_done(struct kube_watch *w)
{
	struct kube_source *ks = w->ks;
	long http_version = 0;

	if (w->not_list || kube_list_finish(&w->page, &w->rv, &w->cont) < 0) {
		stop_request(w);
		free(w->cont);
		w->cont = NULL;
		cluster_done(&w->listing);
		cluster_init(&w->listing);
		failed(w, "the response is not a list");
		return;
	}
	curl_easy_getinfo(w->easy, CURLINFO_HTTP_VERSION, &http_version);
	stop_request(w);
	if (w->cont) {
		start_list(w);
		return;
	}
	/* Complete: it supersedes every change seen before it. */
	kube_changes_clear(&w->changes);
	w->changes.listed = w->listing;
	w->changes.replace = true;
	cluster_init(&w->listing);
	w->synced = true;
	w->failures = 0;
	note_listed(ks, http_version);
	notify(ks);
	start_watch(w);
}

static void request_done(struct kube_watch *w, CURLcode res)
{
	long code = 0;
	char *why;

	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &code);
	if (w->watching) {
		if (w->gone || code == 410) {
			diag_add(&w->ks->pending, DIAG_NOTE, w->ks->cfg.where, 0, NULL, NULL,
				 "watching %s: resourceVersion %s is gone (410); listing again",
				 w->info->resource, w->rv ? w->rv : "");
			stop_request(w);
			relist(w);
			return;
		}
		if (w->too_long) {
			why = xasprintf("an event longer than %u bytes", KUBE_MAX_LINE);
			stop_request(w);
			free(w->rv);
			w->rv = NULL; /* the same event would come again: list instead */
			failed(w, why);
			free(why);
			return;
		}
		if (w->ended || (res == CURLE_OK && code == 200)) {
			/* The server's timeout (or an ERROR event, reported): watch on. */
			w->failures = w->ended ? w->failures + 1 : 0;
			stop_request(w);
			if (w->ended)
				loop_timer_arm(w->retry, mono_ns() + BACKOFF_BASE_MS * 1000000ull);
			else
				start_watch(w);
			return;
		}
	} else if ((res == CURLE_OK || w->not_list) && code == 200) {
		list_page_done(w);
		return;
	} else if (code == 410 && w->cont) {
		/* The continue token expired: the list starts over. */
		stop_request(w);
		relist(w);
		return;
	}
	why = w->too_big ? xasprintf("a response larger than %zu bytes",
				     doc_default_limits.max_file_size)
			 : error_text(w, code, res);
	stop_request(w);
	if (!w->watching) {
		free(w->cont);
		w->cont = NULL;
		cluster_done(&w->listing);
		cluster_init(&w->listing);
	}
	failed(w, why);
	free(why);
}

static void check_done(struct kube_source *ks)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(ks->multi, &left))) {
		struct kube_watch *w = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&w);
		if (w && w->easy == msg->easy_handle)
			request_done(w, msg->data.result);
	}
	flush_reports(ks);
}

/* ---- curl in the loop ---- */

static void on_socket(struct loop *l, int fd, uint32_t events, void *userdata)
{
	struct kube_source *ks = userdata;
	int flags = (events & EPOLLIN ? CURL_CSELECT_IN : 0) |
		    (events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
		    (events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
	int running;

	curl_multi_socket_action(ks->multi, fd, flags, &running);
	check_done(ks);
}

static int on_curl_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct kube_source *ks = userp;
	struct loop_fd *h = socketp;
	uint32_t events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);

	if (what == CURL_POLL_REMOVE) {
		loop_remove_fd(ks->loop, h);
		curl_multi_assign(ks->multi, s, NULL);
		return 0;
	}
	if (h)
		return loop_fd_set_events(ks->loop, h, events) < 0 ? -1 : 0;
	if (loop_add_fd(ks->loop, s, events, on_socket, ks, &h) < 0)
		return -1; /* curl fails the transfer; it is retried */
	curl_multi_assign(ks->multi, s, h);
	return 0;
}

static void on_curl_timer(struct loop *l, struct loop_timer *t, void *userdata)
{
	struct kube_source *ks = userdata;
	int running;

	curl_multi_socket_action(ks->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(ks);
}

static int on_curl_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
	struct kube_source *ks = userp;

	if (timeout_ms < 0)
		loop_timer_disarm(ks->curl_tm);
	else
		loop_timer_arm(ks->curl_tm, mono_ns() + (uint64_t)timeout_ms * 1000000);
	return 0;
}

/* ---- the source ---- */

static int kube_attach(struct source *src, struct loop *l, source_changed_fn changed,
		       void *userdata, struct diag *d)
{
	struct kube_source *ks = (struct kube_source *)src;

	ks->loop = l;
	ks->attach_ns = mono_ns();
	ks->changed = changed;
	ks->userdata = userdata;
	ks->curl_tm = loop_timer_new(l, on_curl_timer, ks);
	curl_multi_setopt(ks->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(ks->multi, CURLMOPT_SOCKETDATA, ks);
	curl_multi_setopt(ks->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer_set);
	curl_multi_setopt(ks->multi, CURLMOPT_TIMERDATA, ks);
	for (size_t i = 0; i < 3; i++) {
		ks->w[i].retry = loop_timer_new(l, on_retry, &ks->w[i]);
		relist(&ks->w[i]);
	}
	return 0;
}

static int kube_refresh(struct source *src, struct store *st, bool reread, struct diag *d,
			struct store_delta *delta)
{
	struct kube_source *ks = (struct kube_source *)src;
	struct store_batch b;
	int r;

	diag_move(d, &ks->pending);
	store_batch_init(&b, src->ops->name);
	b.reread = reread;
	for (size_t i = 0; i < 3; i++)
		kube_changes_to_batch(&ks->w[i].changes, &b);
	r = store_commit(st, &b, d, delta);
	store_batch_done(&b);
	if (r < 0) {
		/* The batch's objects are gone with it: list everything again. */
		for (size_t i = 0; i < 3 && ks->loop; i++) {
			stop_request(&ks->w[i]);
			relist(&ks->w[i]);
		}
		return r;
	}
	delta->origins_total += 3;
	return 0;
}

static bool kube_has_synced(const struct source *src)
{
	const struct kube_source *ks = (const struct kube_source *)src;

	return ks->w[0].synced && ks->w[1].synced && ks->w[2].synced;
}

static void kube_free(struct source *src)
{
	struct kube_source *ks = (struct kube_source *)src;

	if (!ks)
		return;
	for (size_t i = 0; i < 3; i++) {
		struct kube_watch *w = &ks->w[i];

		stop_request(w);
		loop_timer_free(w->retry);
		kube_changes_done(&w->changes);
		cluster_done(&w->listing);
		kube_lines_done(&w->lines);
		kube_list_done(&w->page);
		free(w->query);
		free(w->rv);
		free(w->cont);
		free(w->body);
	}
	loop_timer_free(ks->curl_tm);
	curl_multi_cleanup(ks->multi);
	kube_config_done(&ks->cfg);
	diag_done(&ks->pending);
	free(ks);
}

const struct source_ops kube_source_ops = {
	.name = "kubernetes",
	.origin_noun = "kinds",
	.attach = kube_attach,
	.refresh = kube_refresh,
	.has_synced = kube_has_synced,
	.free = kube_free,
};

/* "NAME=VALUE&", the value escaped. */
static void add_param(char **q, const char *name, const char *value)
{
	char *esc = curl_easy_escape(NULL, value, 0), *old = *q;

	*q = xasprintf("%s%s=%s&", old ? old : "", name, esc);
	curl_free(esc);
	free(old);
}

/*
 * kube-proxy's selectors (cmd/kube-proxy/app/server.go, v1.36): services
 * without a service-proxy-name label and not headless (spec.clusterIP !=
 * None); slices without the headless label; this node by name (every node
 * when node is NULL).  With
 * --service-proxy-name, the services labelled with that name instead.
 */
static char *selector_query(const struct kube_kind_info *info, const char *node,
			    const char *proxy_name)
{
	char *q = NULL, *sel;

	switch (info->kind) {
	case STORE_SERVICE:
		sel = proxy_name ? xasprintf("service.kubernetes.io/service-proxy-name=%s", proxy_name)
				 : xstrdup("!service.kubernetes.io/service-proxy-name");
		add_param(&q, "labelSelector", sel);
		add_param(&q, "fieldSelector", "spec.clusterIP!=None");
		break;
	case STORE_SLICE:
		sel = xstrdup("!service.kubernetes.io/headless");
		add_param(&q, "labelSelector", sel);
		break;
	default:
		/* No node (kroute lint): every Node. */
		if (!node)
			return xstrdup("");
		sel = xasprintf("metadata.name=%s", node);
		add_param(&q, "fieldSelector", sel);
		break;
	}
	free(sel);
	return q;
}

struct source *kube_source_new(const struct kube_source_opts *o, struct diag *d)
{
	struct kube_source *ks;
	struct kube_config cfg;

	if (kube_config_load(o->kubeconfig, o->master, &cfg, d) < 0)
		return NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "cannot initialise libcurl");
		kube_config_done(&cfg);
		return NULL;
	}
	ks = xcalloc(1, sizeof(*ks));
	ks->base.ops = &kube_source_ops;
	ks->cfg = cfg;
	ks->node = o->node;
	ks->fail_fast = o->fail_fast;
	ks->rand_state = (mono_ns() ^ ((uint64_t)getpid() << 32)) | 1;
	ks->report = o->report;
	ks->report_userdata = o->report_userdata;
	diag_init(&ks->pending);
	ks->multi = curl_multi_init();
	if (!ks->multi)
		abort();
	for (size_t i = 0; i < 3; i++) {
		struct kube_watch *w = &ks->w[i];

		w->ks = ks;
		w->info = &kube_kinds[i];
		kube_changes_init(&w->changes, w->info);
		cluster_init(&w->listing);
		w->query = selector_query(w->info, o->node, o->service_proxy_name);
	}
	return &ks->base;
}

int kube_source_wait_synced(struct source *src, struct loop *l, uint64_t timeout_ns,
			    struct diag *d)
{
	struct kube_source *ks = (struct kube_source *)src;
	uint64_t deadline = mono_ns() + timeout_ns;
	int r = 0;

	while (!kube_has_synced(src) && !ks->failed && mono_ns() < deadline && r >= 0)
		r = loop_run_once(l, 100);
	diag_move(d, &ks->pending);
	if (kube_has_synced(src))
		return 0;
	if (!ks->failed)
		diag_add(d, DIAG_ERROR, ks->cfg.where, 0, NULL, NULL,
			 "the API server did not answer every list in %.0f s", (double)timeout_ns / 1e9);
	return ks->failed ? -EIO : -ETIMEDOUT;
}
