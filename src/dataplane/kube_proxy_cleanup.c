/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `kroute cleanup --kube-proxy`: removes what `kube-proxy --cleanup`
 * (v1.36: cmd/kube-proxy/app/server_linux.go platformCleanup with
 * cleanupAndExit) removes, so kroute can replace kube-proxy on a node that
 * ran it.  Per iptables family (IPv6 only where ip6tables works):
 *  - the iptables mode's chains (pkg/proxy/iptables/cleanup.go): nat
 *    KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING, KUBE-MARK-MASQ and every
 *    KUBE-SVC-/SVL-/EXT-/FW-/SEP- chain; filter KUBE-SERVICES,
 *    KUBE-EXTERNAL-SERVICES, KUBE-FORWARD, KUBE-NODEPORTS,
 *    KUBE-PROXY-FIREWALL; KUBE-PROXY-CANARY in mangle, nat and filter;
 *  - the IPVS mode's chains (pkg/proxy/ipvs/cleanup.go): nat KUBE-NODE-PORT,
 *    KUBE-LOAD-BALANCER; filter KUBE-NODE-PORT, KUBE-SOURCE-RANGES-FIREWALL,
 *    KUBE-IPVS-FILTER, KUBE-IPVS-OUT-FILTER;
 * each with every rule that jumps to it from a chain that stays; then the
 * nftables mode's tables `ip kube-proxy` and `ip6 kube-proxy`
 * (pkg/proxy/nftables/cleanup.go) and the IPVS mode's kube-ipvs0 link.
 * KUBE-FIREWALL stays, as kube-proxy leaves it (kubelet's, historically).
 * Not removed: IPVS virtual servers and kube-proxy's ipsets (kroute has no
 * IPVS or ipset client yet; docs/deploy.md says how to remove them).
 *
 * Where kube-proxy deletes the jumps it knows by their exact rule, this
 * deletes every rule whose target (-j or -g) is a chain being removed: the
 * same rules on a node kube-proxy programmed, and a chain someone else
 * jumps to can still be deleted.  One iptables-restore --noflush per table
 * applies all of it at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/exec.h"
#include "core/sbuf.h"
#include "core/util.h"
#include "dataplane/common/dummy_link.h"
#include "dataplane/common/nft_script.h"
#include "dataplane/dataplane.h"
#include "dataplane/kube_proxy_cleanup.h"

#define WHO "kube-proxy cleanup"

/* kube-proxy's fixed chains, by table (both its iptables and its IPVS mode). */
static const char *const kp_chains[][2] = {
	{ "nat", "KUBE-SERVICES" },          { "nat", "KUBE-NODEPORTS" },
	{ "nat", "KUBE-POSTROUTING" },       { "nat", "KUBE-MARK-MASQ" },
	{ "nat", "KUBE-PROXY-CANARY" },      { "nat", "KUBE-NODE-PORT" },
	{ "nat", "KUBE-LOAD-BALANCER" },
	{ "filter", "KUBE-SERVICES" },       { "filter", "KUBE-EXTERNAL-SERVICES" },
	{ "filter", "KUBE-FORWARD" },        { "filter", "KUBE-NODEPORTS" },
	{ "filter", "KUBE-PROXY-FIREWALL" }, { "filter", "KUBE-PROXY-CANARY" },
	{ "filter", "KUBE-NODE-PORT" },      { "filter", "KUBE-SOURCE-RANGES-FIREWALL" },
	{ "filter", "KUBE-IPVS-FILTER" },    { "filter", "KUBE-IPVS-OUT-FILTER" },
	{ "mangle", "KUBE-PROXY-CANARY" },
};

/* The per-service chains of its iptables mode (nat only): isServiceChainName(). */
static const char *const kp_service_prefixes[] = {
	"KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-",
};

static bool kp_removes(const char *table, const char *chain, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(kp_chains); i++)
		if (streq(kp_chains[i][0], table) && strlen(kp_chains[i][1]) == len &&
		    !memcmp(kp_chains[i][1], chain, len))
			return true;
	for (size_t i = 0; streq(table, "nat") && i < ARRAY_SIZE(kp_service_prefixes); i++) {
		size_t n = strlen(kp_service_prefixes[i]);

		if (len > n && !strncmp(chain, kp_service_prefixes[i], n))
			return true;
	}
	return false;
}

/* The word after the rule's last " -j " or " -g " (its target), or NULL. */
static const char *rule_target(const char *line, size_t len, size_t *target_len)
{
	for (size_t i = len; i >= 4; i--) {
		const char *p = line + i - 4;

		if (p[0] == ' ' && p[1] == '-' && (p[2] == 'j' || p[2] == 'g') && p[3] == ' ') {
			*target_len = strcspn(p + 4, " \n");
			return p + 4;
		}
	}
	return NULL;
}

/* See kube_proxy_cleanup.h. */
void kube_proxy_cleanup_input(const char *table, const char *save, struct sbuf *in)
{
	struct sbuf flush = { 0 }, jumps = { 0 }, del = { 0 };

	for (const char *line = save; *line;) {
		size_t len = strcspn(line, "\n");

		if (line[0] == ':') {
			size_t n = strcspn(line + 1, " \n");

			if (kp_removes(table, line + 1, n)) {
				sbuf_add(&flush, line, n + 1);
				SBUF_ADDL(&flush, " - [0:0]\n");
				SBUF_ADDL(&del, "-X ");
				sbuf_add(&del, line + 1, n);
				sbuf_addc(&del, '\n');
			}
		} else if (!strncmp(line, "-A ", 3)) {
			size_t from_len = strcspn(line + 3, " \n"), to_len;
			const char *to = rule_target(line, len, &to_len);

			if (to && kp_removes(table, to, to_len) && !kp_removes(table, line + 3, from_len)) {
				SBUF_ADDL(&jumps, "-D ");
				sbuf_add(&jumps, line + 3, len - 3);
				sbuf_addc(&jumps, '\n');
			}
		}
		line += len + (line[len] == '\n');
	}
	if (flush.len) {
		sbuf_printf(in, "*%s\n", table);
		sbuf_add(in, flush.p, flush.len);
		if (jumps.len) /* sbuf_add() takes no NULL, even for 0 bytes */
			sbuf_add(in, jumps.p, jumps.len);
		sbuf_add(in, del.p, del.len);
		SBUF_ADDL(in, "COMMIT\n");
	}
	sbuf_free(&flush);
	sbuf_free(&jumps);
	sbuf_free(&del);
}

/*
 * One family (cmd: iptables or ip6tables).  Returns 0, -ENOENT when the
 * family's iptables-save does not work here (nothing to clean), or another
 * negative errno with an error in d.
 */
static int kp_cleanup_family(const char *cmd, struct diag *d)
{
	static const char *const tables[] = { "nat", "filter", "mangle" };
	char *save_cmd = xasprintf("%s-save", cmd), *restore_cmd = xasprintf("%s-restore", cmd);
	struct sbuf in = { 0 };
	struct exec_result res;
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
		char *argv[] = { save_cmd, "-t", (char *)tables[i], NULL };

		if (exec_run(argv, NULL, 0, 1, &res) < 0 || res.status != 0) {
			exec_result_done(&res);
			/* No nat table: the family does not work here.  No mangle: nothing there. */
			if (i == 0) {
				r = -ENOENT;
				goto out;
			}
			continue;
		}
		kube_proxy_cleanup_input(tables[i], res.out ? res.out : "", &in);
		exec_result_done(&res);
	}
	if (in.len) {
		/* -w: wait for the xtables lock as kube-proxy does, not fail at once. */
		char *argv[] = { restore_cmd, "-w", "5", "--noflush", NULL };

		r = exec_run(argv, in.p, in.len, 0, &res);
		if (r < 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, WHO ": cannot run %s: %s",
				 restore_cmd, strerror(-r));
		} else {
			if (res.status != 0) {
				diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
					 WHO ": %s failed (status %d): %s", restore_cmd, res.status,
					 res.err ? res.err : "");
				r = -EIO;
			}
			exec_result_done(&res);
		}
	}
out:
	sbuf_free(&in);
	free(save_cmd);
	free(restore_cmd);
	return r;
}

int kube_proxy_cleanup(const struct dp_opts *opts, struct diag *d)
{
	int r = kp_cleanup_family("iptables", d), r6;

	/* IPv4 must work (a node without iptables-save cannot be checked); IPv6 where it does. */
	if (r == -ENOENT) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
			 WHO ": iptables-save -t nat failed; kube-proxy's chains were not checked");
		r = -EIO;
	}
	r6 = kp_cleanup_family("ip6tables", d);
	if (r6 < 0 && r6 != -ENOENT)
		r = r6;
	if (nft_table_delete(opts->nft, "ip", "kube-proxy", WHO, d) < 0)
		r = -EIO;
	if (nft_table_delete(opts->nft, "ip6", "kube-proxy", WHO, d) < 0)
		r = -EIO;
	if (dummy_link_delete(opts->ip, "kube-ipvs0", WHO, d) < 0)
		r = -EIO;
	return r;
}
