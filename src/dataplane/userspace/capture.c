/* SPDX-License-Identifier: Apache-2.0 */
/* kroute0, the nft table and the transparent-socket routing; see capture.h. */
#include "dataplane/userspace/capture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/ifaddr.h"
#include "core/util.h"
#include "dataplane/common/dummy_link.h"
#include "dataplane/common/nft_script.h"
#include "dataplane/common/tool.h"
#include "dataplane/dataplane.h"
#include "dataplane/userspace/plan.h"

/*
 * IPv6 link-local addresses need a scope and no service listens there (a
 * bridge gets one from the kernel): skipped.
 */
void us_capture_local_addrs(bool with_vips, struct addr **ret, size_t *ret_n)
{
	ifaddr_list(with_vips ? IFADDR_ALL : IFADDR_EXCEPT, US_IFNAME, true, ret, ret_n);
}

int us_capture_vips(const struct dp_opts *o, const struct addr *vips, size_t n, bool exact,
		    bool *created, struct diag *d)
{
	int r = dummy_link_ensure(o->ip, US_IFNAME, "userspace", created, d);

	return r < 0 ? r : dummy_link_set_addrs(o->ip, US_IFNAME, vips, n, exact, "userspace", d);
}

int us_capture_vips_restore(const struct dp_opts *o, const struct addr *before, size_t n,
			    bool created, struct diag *d)
{
	bool again;

	if (created)
		return dummy_link_delete(o->ip, US_IFNAME, "userspace", d);
	return us_capture_vips(o, before, n, true, &again, d);
}

void us_capture_vips_now(struct addr **ret, size_t *ret_n)
{
	dummy_link_addrs(US_IFNAME, ret, ret_n);
}

int us_capture_nft(const struct dp_opts *o, const char *script, struct diag *d)
{
	return nft_apply(o->nft, script, "userspace", "table inet " US_NFT_TABLE, d);
}

int us_capture_tproxy_routing(const struct dp_opts *o, struct diag *d)
{
	static const char *const fam[] = { "-4", "-6" };
	char mark[32], table[16], prio[16];
	int ret = 0;

	snprintf(mark, sizeof(mark), "0x%x/0x%x", US_TPROXY_MARK, US_TPROXY_MARK);
	snprintf(table, sizeof(table), "%d", US_TPROXY_TABLE);
	snprintf(prio, sizeof(prio), "%d", US_TPROXY_PRIO);
	for (size_t i = 0; i < ARRAY_SIZE(fam); i++) {
		char *show[] = { (char *)o->ip, (char *)fam[i], "rule", "show", "priority", prio, NULL };
		char *out = NULL;
		char *route[] = { (char *)o->ip, (char *)fam[i], "route", "replace", "local",
				  i ? "::/0" : "0.0.0.0/0", "dev", "lo", "table", table, NULL };
		char *rule[] = { (char *)o->ip, (char *)fam[i], "rule", "add", "fwmark", mark,
				 "lookup", table, "priority", prio, NULL };
		struct diag tmp;
		int r;

		diag_init(&tmp);
		r = dp_tool_run(route, NULL, "userspace", "the local route for transparent sockets", &tmp);
		if (r == 0) {
			if (dp_tool_run_quiet(show, &out) < 0 || !out || !strstr(out, "lookup"))
				r = dp_tool_run(rule, NULL, "userspace",
						"the fwmark rule for transparent sockets", &tmp);
		}
		free(out);
		/* IPv6 may be off in this namespace; IPv4 must work. */
		if (r < 0 && i == 0) {
			diag_move(d, &tmp);
			ret = r;
		}
		diag_done(&tmp);
	}
	return ret;
}

int us_capture_cleanup(const struct dp_opts *o, struct diag *d)
{
	static const char *const fam[] = { "-4", "-6" };
	char mark[32], table[16], prio[16];
	int ret = 0;

	snprintf(mark, sizeof(mark), "0x%x/0x%x", US_TPROXY_MARK, US_TPROXY_MARK);
	snprintf(table, sizeof(table), "%d", US_TPROXY_TABLE);
	snprintf(prio, sizeof(prio), "%d", US_TPROXY_PRIO);
	if (o->nft && nft_table_delete(o->nft, "inet", US_NFT_TABLE, "userspace", d) < 0)
		ret = -EIO;
	if (dummy_link_delete(o->ip, US_IFNAME, "userspace", d) < 0)
		ret = -EIO;
	for (size_t i = 0; i < ARRAY_SIZE(fam); i++) {
		char *rule_del[] = { (char *)o->ip, (char *)fam[i], "rule", "del", "fwmark", mark,
				     "lookup", table, "priority", prio, NULL };
		char *show[] = { (char *)o->ip, (char *)fam[i], "route", "show", "table", table, NULL };
		char *flush[] = { (char *)o->ip, (char *)fam[i], "route", "flush", "table", table, NULL };
		char *out = NULL;

		/* Absent rules are the normal case: delete until there is none. */
		for (int k = 0; k < 16 && dp_tool_run_quiet(rule_del, NULL) == 0; k++)
			;
		if (dp_tool_run_quiet(show, &out) == 0 && out && *out && dp_tool_run_quiet(flush, NULL) < 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
				 "userspace: cannot flush routing table %s", table);
			ret = -EIO;
		}
		free(out);
	}
	return ret;
}
