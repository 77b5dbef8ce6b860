/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the API server is and how to authenticate, as kube-proxy finds out:
 * --kubeconfig (its current context: the cluster's server and CA, the
 * user's token, token file or client certificate), --master (overrides the
 * server; alone it is the whole config), or, when neither is given, the
 * in-cluster service account (KUBERNETES_SERVICE_HOST/PORT, the mounted
 * token and ca.crt).
 */
#ifndef KROUTE_SOURCE_KUBE_CONFIG_H
#define KROUTE_SOURCE_KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/diag.h"

/* Bytes (PEM) or a file; both empty when unset. */
struct kube_blob {
	char *file;
	char *data;
	size_t len;
};

struct kube_config {
	char *server;              /* "https://127.0.0.1:6443", no trailing slash */
	struct kube_blob ca;
	bool insecure;             /* insecure-skip-tls-verify: true in the kubeconfig */
	char *token;               /* a bearer token */
	char *token_file;          /* read again for every request (rotated tokens) */
	struct kube_blob cert, key;
	char *where;               /* "kubeconfig FILE, context C", for messages */
};

/* The service-account directory of the in-cluster config (KROUTE_SERVICEACCOUNT_DIR overrides). */
#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Whether the in-cluster config applies (KUBERNETES_SERVICE_HOST set and non-empty). */
bool kube_config_in_cluster(void);

/*
 * Fills c from kubeconfig (a path, or NULL), master (a URL, or NULL) or,
 * with both NULL, the in-cluster environment.  Returns 0, or -EINVAL with
 * the problem in d (c is then freed).
 */
int kube_config_load(const char *kubeconfig, const char *master, struct kube_config *c,
		     struct diag *d);
void kube_config_done(struct kube_config *c);

/* The bearer token to send now: the token, else the token file's first line (NULL when none). */
char *kube_config_token(const struct kube_config *c, struct diag *d);

#endif
