/* SPDX-License-Identifier: Apache-2.0 */
/* The API server's address and credentials; see config.h. */
#include "source/kube/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "source/doc.h"

#define MAX_CONFIG_FILE (4u << 20)

bool kube_config_in_cluster(void)
{
	const char *h = getenv("KUBERNETES_SERVICE_HOST");

	return h && *h;
}

static void blob_done(struct kube_blob *b)
{
	free(b->file);
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void kube_config_done(struct kube_config *c)
{
	free(c->server);
	blob_done(&c->ca);
	free(c->token);
	free(c->token_file);
	blob_done(&c->cert);
	blob_done(&c->key);
	free(c->where);
	memset(c, 0, sizeof(*c));
}

/* Reads a whole (small) file; NULL with errno set on failure. */
static char *read_small_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = xmalloc(MAX_CONFIG_FILE + 1);
	size_t n;

	if (!f) {
		free(buf);
		return NULL;
	}
	n = fread(buf, 1, MAX_CONFIG_FILE + 1, f);
	if (ferror(f) || n > MAX_CONFIG_FILE) {
		errno = ferror(f) ? EIO : EFBIG;
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	if (ret_len)
		*ret_len = n;
	return buf;
}

static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Standard base64 (the kubeconfig's *-data fields), whitespace ignored; NULL when invalid. */
static char *b64_decode(const char *s, size_t *ret_len)
{
	char *out = xmalloc(strlen(s) / 4 * 3 + 4);
	unsigned acc = 0, bits = 0, pad = 0;
	size_t n = 0;

	for (; *s; s++) {
		int v;

		if (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
			continue;
		if (*s == '=') {
			pad++;
			continue;
		}
		v = b64_value(*s);
		if (v < 0 || pad) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	out[n] = '\0';
	*ret_len = n;
	return out;
}

/* kubeconfig state while its document is read. */
struct kc {
	const char *path;
	char *dir;                 /* the kubeconfig's directory: relative paths resolve there */
	struct kube_config *c;
	struct diag *d;
	int err;
	bool seen;
};

static void kc_err(struct kc *k, const struct doc *at, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void kc_err(struct kc *k, const struct doc *at, const char *field, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	diag_add(k->d, DIAG_ERROR, k->path, at ? at->line : 0, NULL, field, "%s", text);
	k->err = -EINVAL;
}

static const char *kc_str(struct kc *k, const struct doc *map, const char *key, const char *field)
{
	const struct doc *v = map ? doc_get(map, key) : NULL;

	if (!v || v->type == DOC_NULL)
		return NULL;
	if (v->type != DOC_STR && v->type != DOC_INT && v->type != DOC_FLOAT) {
		kc_err(k, v, field, "expected a string, got %s", doc_type_name(v->type));
		return NULL;
	}
	return v->text;
}

/* The entry of a named list (clusters, contexts, users) called name: its inner map under inner. */
static const struct doc *kc_named(struct kc *k, const struct doc *root, const char *list,
				  const char *name, const char *inner)
{
	const struct doc *seq = doc_get(root, list);

	for (size_t i = 0; seq && seq->type == DOC_SEQ && i < seq->n; i++) {
		const struct doc *e = seq->v[i];
		const struct doc *n = e->type == DOC_MAP ? doc_get(e, "name") : NULL;

		if (n && n->text && streq(n->text, name)) {
			const struct doc *m = doc_get(e, inner);

			if (!m || m->type != DOC_MAP) {
				kc_err(k, e, list, "%s \"%s\" has no %s map", list, name, inner);
				return NULL;
			}
			return m;
		}
	}
	kc_err(k, root, list, "no %s entry is named \"%s\"", list, name);
	return NULL;
}

static char *kc_path(struct kc *k, const char *p)
{
	return p[0] == '/' ? xstrdup(p) : xasprintf("%s/%s", k->dir, p);
}

/* A file field and its -data twin into b. */
static void kc_blob(struct kc *k, const struct doc *map, const char *file_key, const char *data_key,
		    struct kube_blob *b)
{
	const char *file = kc_str(k, map, file_key, file_key);
	const char *data = kc_str(k, map, data_key, data_key);

	if (data) {
		b->data = b64_decode(data, &b->len);
		if (!b->data)
			kc_err(k, doc_get(map, data_key), data_key, "not valid base64");
	} else if (file && *file) {
		b->file = kc_path(k, file);
	}
}

static void kc_user(struct kc *k, const struct doc *user)
{
	const char *token = kc_str(k, user, "token", "token");
	const char *token_file = kc_str(k, user, "tokenFile", "tokenFile");
	const struct doc *v;

	if ((v = doc_get(user, "exec")) && v->type != DOC_NULL)
		kc_err(k, v, "exec", "exec credential plugins are not supported: give the user a"
		       " token, tokenFile or client-certificate and client-key");
	if ((v = doc_get(user, "auth-provider")) && v->type != DOC_NULL)
		kc_err(k, v, "auth-provider", "auth-provider plugins are not supported: give the"
		       " user a token, tokenFile or client-certificate and client-key");
	if ((v = doc_get(user, "username")) && v->type != DOC_NULL)
		kc_err(k, v, "username", "basic authentication is not supported");
	if (token && *token)
		k->c->token = xstrdup(token);
	else if (token_file && *token_file)
		k->c->token_file = kc_path(k, token_file);
	kc_blob(k, user, "client-certificate", "client-certificate-data", &k->c->cert);
	kc_blob(k, user, "client-key", "client-key-data", &k->c->key);
	if (!k->c->cert.file && !k->c->cert.data) {
		if (k->c->key.file || k->c->key.data)
			kc_err(k, user, "client-key", "a client key without a client certificate");
	} else if (!k->c->key.file && !k->c->key.data) {
		kc_err(k, user, "client-certificate", "a client certificate without a client key");
	}
}

static void kc_cluster(struct kc *k, const struct doc *cluster)
{
	const char *server = kc_str(k, cluster, "server", "server");
	const struct doc *insecure = doc_get(cluster, "insecure-skip-tls-verify");

	if (server && *server)
		k->c->server = xstrdup(server);
	kc_blob(k, cluster, "certificate-authority", "certificate-authority-data", &k->c->ca);
	if (insecure && insecure->type == DOC_BOOL)
		k->c->insecure = insecure->b;
	else if (insecure && insecure->type != DOC_NULL)
		kc_err(k, insecure, "insecure-skip-tls-verify", "expected true or false");
	if (k->c->insecure && (k->c->ca.file || k->c->ca.data))
		kc_err(k, insecure, "insecure-skip-tls-verify",
		       "insecure-skip-tls-verify and a certificate authority together (as kubectl,"
		       " refused)");
}

static int kc_on_object(const struct doc *root, void *userdata)
{
	struct kc *k = userdata;
	const char *current, *cluster_name, *user_name;
	const struct doc *ctx, *cluster, *user;

	if (k->seen) {
		kc_err(k, root, NULL, "more than one YAML document");
		return 0;
	}
	k->seen = true;
	current = kc_str(k, root, "current-context", "current-context");
	if (!current || !*current) {
		kc_err(k, root, "current-context", "no current-context");
		return 0;
	}
	k->c->where = xasprintf("kubeconfig %s, context %s", k->path, current);
	ctx = kc_named(k, root, "contexts", current, "context");
	if (!ctx)
		return 0;
	cluster_name = kc_str(k, ctx, "cluster", "context.cluster");
	user_name = kc_str(k, ctx, "user", "context.user");
	cluster = cluster_name ? kc_named(k, root, "clusters", cluster_name, "cluster") : NULL;
	user = user_name && *user_name ? kc_named(k, root, "users", user_name, "user") : NULL;
	if (!cluster_name)
		kc_err(k, ctx, "context.cluster", "context \"%s\" names no cluster", current);
	if (cluster)
		kc_cluster(k, cluster);
	if (user)
		kc_user(k, user);
	return 0;
}

static int load_kubeconfig(const char *path, struct kube_config *c, struct diag *d)
{
	struct kc k = { .path = path, .c = c, .d = d };
	struct doc_reader r = {
		.file = path,
		.limits = &doc_default_limits,
		.diag = d,
		.on_object = kc_on_object,
		.userdata = &k,
	};
	char *slash, *buf;
	size_t len;
	int ret;

	buf = read_small_file(path, &len);
	if (!buf) {
		diag_add(d, DIAG_ERROR, path, 0, NULL, NULL, "cannot read the kubeconfig: %s",
			 strerror(errno));
		return -EINVAL;
	}
	k.dir = xstrdup(path);
	slash = strrchr(k.dir, '/');
	if (slash)
		*(slash == k.dir ? slash + 1 : slash) = '\0';
	else
		strcpy(k.dir, ".");
	ret = doc_read_yaml(&r, buf, len);
	if (!ret && !k.seen)
		kc_err(&k, NULL, NULL, "the kubeconfig is empty");
	free(buf);
	free(k.dir);
	return ret < 0 ? ret : k.err;
}

static int load_in_cluster(struct kube_config *c, struct diag *d)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = getenv("KROUTE_SERVICEACCOUNT_DIR");

	if (!port || !*port) {
		diag_add(d, DIAG_ERROR, "in-cluster config", 0, NULL, NULL,
			 "KUBERNETES_SERVICE_HOST is set but KUBERNETES_SERVICE_PORT is not");
		return -EINVAL;
	}
	dir = dir && *dir ? dir : KUBE_SA_DIR;
	c->server = xasprintf(strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
	c->token_file = xasprintf("%s/token", dir);
	c->ca.file = xasprintf("%s/ca.crt", dir);
	c->where = xstrdup("in-cluster config");
	return 0;
}

int kube_config_load(const char *kubeconfig, const char *master, struct kube_config *c,
		     struct diag *d)
{
	int r = 0;

	memset(c, 0, sizeof(*c));
	if (kubeconfig)
		r = load_kubeconfig(kubeconfig, c, d);
	else if (!master)
		r = load_in_cluster(c, d);
	if (!r && master) {
		free(c->server);
		c->server = xstrdup(master);
		if (!c->where)
			c->where = xasprintf("--master %s", master);
	}
	if (!r && !c->server) {
		diag_add(d, DIAG_ERROR, kubeconfig, 0, NULL, NULL, "no API server address (server)");
		r = -EINVAL;
	}
	if (!r && strncmp(c->server, "https://", 8) && strncmp(c->server, "http://", 7)) {
		diag_add(d, DIAG_ERROR, kubeconfig, 0, NULL, NULL,
			 "the API server address \"%s\" is not an http:// or https:// URL", c->server);
		r = -EINVAL;
	}
	if (r < 0) {
		kube_config_done(c);
		return r;
	}
	while (strlen(c->server) > 8 && c->server[strlen(c->server) - 1] == '/')
		c->server[strlen(c->server) - 1] = '\0';
	return 0;
}

char *kube_config_token(const struct kube_config *c, struct diag *d)
{
	char *buf;

	if (c->token)
		return xstrdup(c->token);
	if (!c->token_file)
		return NULL;
	buf = read_small_file(c->token_file, NULL);
	if (!buf) {
		diag_add(d, DIAG_WARNING, c->token_file, 0, NULL, NULL,
			 "cannot read the token file: %s; sending no token", strerror(errno));
		return NULL;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf;
}
