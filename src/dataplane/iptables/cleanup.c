/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `kroute cleanup` for the iptables mode: removes the jumps from the
 * built-in chains, then flushes and deletes kroute's chains (the fixed ones
 * and every per-service chain), in both families, and nothing else.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "core/diag.h"
#include "core/exec.h"
#include "core/util.h"
#include "dataplane/iptables/apply.h"
#include "dataplane/iptables/options.h"

/* The fixed chains kroute declares; cleanup removes them and their jumps. */
static const char *const top_chains[][2] = {
	{ "filter", "KUBE-SERVICES" },      { "filter", "KUBE-EXTERNAL-SERVICES" },
	{ "filter", "KUBE-FORWARD" },       { "filter", "KUBE-NODEPORTS" },
	{ "filter", "KUBE-PROXY-FIREWALL" }, { "filter", "KUBE-FIREWALL" },
	{ "nat", "KUBE-SERVICES" },
	{ "nat", "KUBE-NODEPORTS" },        { "nat", "KUBE-POSTROUTING" },
	{ "nat", "KUBE-MARK-MASQ" },
};

/* The jumps first, so the chains become unreferenced. */
static void delete_jumps(const char *cmd)
{
	for (size_t i = 0; i < ipt_n_jump_rules; i++) {
		const struct ipt_jump_rule *j = &ipt_jump_rules[i];
		char *argv[32];

		/*
		 * KUBE-FIREWALL goes too: kubelet no longer creates it (1.25+),
		 * kube-proxy does, and kroute replaces kube-proxy.
		 */
		ipt_rule_argv(cmd, j->table, "-D", j->chain, NULL, j->args, argv, ARRAY_SIZE(argv));
		/* Repeat: an older run may have inserted a jump twice. */
		for (int tries = 0; tries < 8; tries++) {
			struct exec_result res;
			int status;

			if (exec_run(argv, NULL, 0, 0, &res) < 0)
				break;
			status = res.status;
			exec_result_done(&res);
			if (status != 0)
				break;
		}
	}
}

/* One table's part of the cleanup input: declare (flush) every kroute chain it has, then -X each. */
static void cleanup_table(const char *save, const char *table, const struct strmap *svc,
			  struct sbuf *in)
{
	bool nat = streq(table, "nat");
	struct strmap have;

	strmap_init(&have);
	(void)kernel_chains(save, table, &have);
	sbuf_printf(in, "*%s\n", table);
	for (int pass = 0; pass < 2; pass++) {
		/* Pass 0 flushes (declares) every chain, pass 1 deletes them. */
		const char *pre = pass ? "-X " : ":", *post = pass ? "\n" : " - [0:0]\n";

		for (size_t i = 0; i < ARRAY_SIZE(top_chains); i++) {
			if (!streq(top_chains[i][0], table) || !strmap_get(&have, top_chains[i][1]))
				continue;
			sbuf_adds(in, pre);
			sbuf_adds(in, top_chains[i][1]);
			sbuf_adds(in, post);
		}
		for (size_t s = 0; nat && s < svc->cap; s++) {
			if (!svc->slots[s].key)
				continue;
			sbuf_adds(in, pre);
			sbuf_adds(in, svc->slots[s].key);
			sbuf_adds(in, post);
		}
	}
	SBUF_ADDL(in, "COMMIT\n");
	owned_keys_clear(&have);
	strmap_done(&have);
}

/* Removes kroute's chains and jumps for one family; leaves every other rule alone. */
static int cleanup_family(const char *cmd, const char *save, const char *restore,
			  struct diag *d)
{
	struct strmap svc;
	struct sbuf in = { 0 };
	struct exec_result res;
	char *argv[8];
	int r;

	delete_jumps(cmd);
	strmap_init(&svc);
	(void)kernel_table(save, "nat", &svc, NULL);
	cleanup_table(save, "filter", &svc, &in);
	cleanup_table(save, "nat", &svc, &in);
	ipt_restore_argv(restore, argv);
	r = exec_run(argv, in.p, in.len, 0, &res);
	if (r == 0 && res.status != 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s cleanup failed: %s", cmd, res.err);
		r = -EIO;
	} else if (r < 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "cannot run %s: %s", restore,
			 strerror(-r));
	}
	exec_result_done(&res);
	owned_keys_clear(&svc);
	strmap_done(&svc);
	sbuf_free(&in);
	return r;
}

int ipt_cleanup(const struct dp_opts *opts, struct diag *d)
{
	const struct ipt_mode_opts *mo = opts->mode_opts;
	struct diag d6;
	int r = cleanup_family("iptables", "iptables-save", mo->iptables_restore, d);

	/* IPv6: only when ip6tables works here; its absence is not an error. */
	diag_init(&d6);
	if (cleanup_family("ip6tables", "ip6tables-save", mo->ip6tables_restore, &d6) < 0 &&
	    r == 0) {
		struct exec_result res;
		char *argv[] = { "ip6tables-save", "-t", "nat", NULL };

		if (exec_run(argv, NULL, 0, 1, &res) == 0 && res.status == 0) {
			diag_move(d, &d6);
			r = -EIO;
		}
		exec_result_done(&res);
	}
	diag_done(&d6);
	return r;
}
