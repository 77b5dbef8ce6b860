/* SPDX-License-Identifier: Apache-2.0 */
/* Reading the cluster for a command: files or the API server (cmd.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "core/util.h"
#include "core/diag.h"
#include "core/loop.h"
#include "source/kube/config.h"
#include "source/kube/kube.h"
#include "source/manifest.h"

bool cmd_input_option(struct cmd_input *in, const char **output, int opt, const char *arg)
{
	switch (opt) {
	case 'f':
		VEC_PUSH(in->paths, in->n_paths, in->cap_paths, arg);
		return true;
	case 'o':
		*output = arg;
		return true;
	case CMD_OPT_KUBECONFIG:
		in->kubeconfig = arg;
		return true;
	case CMD_OPT_MASTER:
		in->master = arg;
		return true;
	default:
		return false;
	}
}

int cmd_args_done(int argc, char **argv, struct cmd_input *in, const char *cmd,
		  const char *output, void (*usage)(FILE *f))
{
	int r;

	if (optind < argc) {
		fprintf(stderr, "kroute %s: unexpected argument \"%s\"\n", cmd, argv[optind]);
		return -EINVAL;
	}
	r = cmd_input_check(in, cmd);
	if (r == -ENODATA)
		usage(stderr);
	if (r < 0)
		return -EINVAL;
	if (!streq(output, "table") && !streq(output, "json")) {
		fprintf(stderr, "kroute %s: -o must be table or json, got \"%s\"\n", cmd, output);
		return -EINVAL;
	}
	return 0;
}

int cmd_input_check(struct cmd_input *in, const char *cmd)
{
	in->api = in->kubeconfig || in->master || (!in->n_paths && kube_config_in_cluster());
	if (in->api && in->n_paths) {
		fprintf(stderr, "kroute %s: -f and --kubeconfig/--master exclude each other\n", cmd);
		return -EINVAL;
	}
	if (!in->n_paths && !in->api) {
		fprintf(stderr, "kroute %s: -f PATH is required (or --kubeconfig PATH, --master URL)\n",
			cmd);
		return -ENODATA;
	}
	return 0;
}

static void on_api_changed(struct source *src, void *userdata)
{
}

/*
 * The API server's objects, listed once (kroute run's source, stopped after
 * its first lists), into store.  0, -EINVAL (bad client config), -EIO or
 * -ETIMEDOUT, with the problems in d.
 */
static int load_api(const char *kubeconfig, const char *master, const char *node,
		    const char *proxy_name, struct store *store, struct diag *d)
{
	struct kube_source_opts ko = {
		.kubeconfig = kubeconfig, .master = master, .node = node,
		.service_proxy_name = proxy_name, .fail_fast = true,
	};
	struct store_delta delta;
	struct source *src = kube_source_new(&ko, d);
	struct loop *l = NULL;
	int r;

	if (!src)
		return -EINVAL;
	r = loop_new(&l);
	if (r == 0)
		r = src->ops->attach(src, l, on_api_changed, NULL, d);
	if (r == 0)
		r = kube_source_wait_synced(src, l, 60 * 1000000000ull, d);
	if (r == 0) {
		store_delta_init(&delta);
		r = src->ops->refresh(src, store, false, d, &delta);
		store_delta_done(&delta);
	}
	src->ops->free(src);
	loop_free(l);
	return r;
}

int cmd_input_load(const struct cmd_input *in, const char *node, const char *proxy_name,
		   struct cluster *c, struct store *store, struct cluster **ret)
{
	struct diag d;
	int r;

	diag_init(&d);
	if (in->api)
		r = load_api(in->kubeconfig, in->master, node, proxy_name, store, &d);
	else
		r = manifest_load(in->paths, in->n_paths, NULL, c, &d);
	diag_print(&d, stderr);
	if (r == -EIO || r == -ETIMEDOUT) {
		fprintf(stderr, "kroute: cannot read the cluster from the API server\n");
		diag_done(&d);
		return EXIT_FAILURE;
	}
	if (r < 0) {
		fprintf(stderr, "kroute: %zu error%s; nothing loaded\n", d.n_errors,
			d.n_errors == 1 ? "" : "s");
		diag_done(&d);
		return EXIT_USAGE;
	}
	diag_done(&d);
	*ret = in->api ? &store->cluster : c;
	return 0;
}
