/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the iptables apply layer asks the kernel's tools: the chains and
 * built-in rules a table has (iptables-save), and the jumps from the
 * built-in chains (iptables -C / -I).  Also the one place that spells the
 * programs' command lines, so every call is bounded the same way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/exec.h"
#include "core/util.h"
#include "dataplane/iptables/apply.h"

void ipt_restore_argv(const char *restore, char *argv[])
{
	const char *const args[] = { restore, IPT_WAIT_ARGS, "--noflush", NULL };

	memcpy(argv, args, sizeof(args));
}

void ipt_rule_argv(const char *cmd, const char *table, const char *op, const char *chain,
		   const char *position, const char *const *args, char *argv[], size_t cap)
{
	const char *head[] = { cmd, IPT_WAIT_ARGS, "-t", table, op, chain, position };
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(head) && head[i] && n < cap - 1; i++)
		argv[n++] = (char *)head[i];
	for (size_t i = 0; args[i] && n < cap - 1; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
}

void owned_keys_clear(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free((char *)m->slots[i].key);
	strmap_done(m);
	strmap_init(m);
}

static bool is_builtin_chain(const char *name, size_t len)
{
	static const char *const builtin[] = { "PREROUTING", "INPUT", "FORWARD", "OUTPUT",
					       "POSTROUTING" };

	for (size_t i = 0; i < ARRAY_SIZE(builtin); i++)
		if (strlen(builtin[i]) == len && !strncmp(builtin[i], name, len))
			return true;
	return false;
}

static void put_once(struct strmap *m, char *key)
{
	if (strmap_get(m, key))
		free(key);
	else
		strmap_put(m, key, (void *)1);
}

/* iptables-save -t table, its output in res (status checked). */
static int save_table(const char *save, const char *table, struct exec_result *res)
{
	char *argv[] = { (char *)save, "-t", (char *)table, NULL };
	int r = exec_run(argv, NULL, 0, 1, res);

	if (r < 0)
		return r;
	if (res->status != 0) {
		exec_result_done(res);
		return -EIO;
	}
	return 0;
}

/*
 * The per-service chains feed stale detection after a restart; the rules
 * of the built-in chains let the jumps kroute needs be checked without one
 * `iptables -C` each.
 */
int kernel_table(const char *save, const char *table, struct strmap *svc,
		 struct strmap *builtin)
{
	struct exec_result res;
	int r = save_table(save, table, &res);

	if (r < 0)
		return r;
	for (char *line = strtok(res.out, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == ':' && svc) {
			char *sp = strchr(line, ' ');

			if (sp)
				*sp = '\0';
			if (ipt_is_service_chain(line + 1))
				put_once(svc, xstrdup(line + 1));
		} else if (builtin && !strncmp(line, "-A ", 3) &&
			   is_builtin_chain(line + 3, strcspn(line + 3, " "))) {
			put_once(builtin, xasprintf("%s|%s", table, line));
		}
	}
	exec_result_done(&res);
	return 0;
}

int kernel_chains(const char *save, const char *table, struct strmap *have)
{
	struct exec_result res;
	int r = save_table(save, table, &res);

	if (r < 0)
		return r;
	for (char *line = strtok(res.out, "\n"); line; line = strtok(NULL, "\n")) {
		char *sp = strchr(line, ' ');

		if (line[0] == ':' && sp) {
			*sp = '\0';
			put_once(have, xstrdup(line + 1));
		}
	}
	exec_result_done(&res);
	return 0;
}

/* A jump rule as iptables-save prints it: "table|-A CHAIN args", quoting args with spaces. */
static char *jump_line(const struct ipt_jump_rule *j)
{
	struct sbuf b = { 0 };

	sbuf_printf(&b, "%s|-A %s", j->table, j->chain);
	for (size_t a = 0; j->args[a]; a++) {
		if (strchr(j->args[a], ' '))
			sbuf_printf(&b, " \"%s\"", j->args[a]);
		else
			sbuf_printf(&b, " %s", j->args[a]);
	}
	return sbuf_cstr(&b);
}

/* Whether the base declares chain name in table (KUBE-FIREWALL exists only for IPv4 localhost NodePorts). */
static bool base_has(const struct ipt_base *base, const char *table, const char *name)
{
	for (size_t i = 0; i < base->n; i++)
		if (streq(ipt_table_name(base->chains[i].table), table) &&
		    streq(base->chains[i].name, name))
			return true;
	return false;
}

/* Runs argv; 0 when it ran and exited 0, 1 when it ran and failed (res->err says why). */
static int run_status(char *const argv[], struct exec_result *res)
{
	int r = exec_run(argv, NULL, 0, 0, res);

	if (r < 0)
		return r;
	return res->status != 0;
}

/*
 * Jumps already listed in the kernel's built-in chains (the iptables-save
 * output read before the restore, which never touches built-in chains) need
 * no command; any other is checked with -C and inserted with -I.
 */
int ensure_jumps(const char *cmd, const struct ipt_base *base, const struct strmap *present,
		 struct diag *d)
{
	for (size_t i = 0; i < ipt_n_jump_rules; i++) {
		const struct ipt_jump_rule *j = &ipt_jump_rules[i];
		char *argv[32], *line;
		struct exec_result res;
		bool listed;
		int r;

		if (!base_has(base, j->table, j->target))
			continue;
		line = jump_line(j);
		listed = strmap_get(present, line) != NULL;
		free(line);
		if (listed)
			continue;
		ipt_rule_argv(cmd, j->table, "-C", j->chain, NULL, j->args, argv, ARRAY_SIZE(argv));
		r = run_status(argv, &res);
		if (r < 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "cannot run %s: %s", cmd,
				 strerror(-r));
			return r;
		}
		exec_result_done(&res);
		if (r == 0)
			continue;
		/* Insert first, so kroute's jumps come before other rules. */
		ipt_rule_argv(cmd, j->table, "-I", j->chain, "1", j->args, argv, ARRAY_SIZE(argv));
		r = run_status(argv, &res);
		if (r != 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
				 "%s -t %s -I %s ... -j %s failed: %s", cmd, j->table, j->chain,
				 j->target, r < 0 ? strerror(-r) : res.err);
			if (r > 0)
				exec_result_done(&res);
			return -EIO;
		}
		exec_result_done(&res);
	}
	return 0;
}
