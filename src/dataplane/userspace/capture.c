/* SPDX-License-Identifier: Apache-2.0 */
/* kroute0, the nft table and the transparent-socket routing; see capture.h. */
#include "dataplane/userspace/capture.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/diag.h"
#include "core/exec.h"
#include "core/ifaddr.h"
#include "core/util.h"
#include "dataplane/dataplane.h"
#include "dataplane/userspace/plan.h"

/*
 * IPv6 link-local addresses need a scope and no service listens there (a
 * bridge gets one from the kernel): skipped.
 */
static void collect_addrs(enum ifaddr_filter which, struct addr **ret, size_t *ret_n)
{
	ifaddr_list(which, US_IFNAME, true, ret, ret_n);
}

void us_capture_local_addrs(bool with_vips, struct addr **ret, size_t *ret_n)
{
	collect_addrs(with_vips ? IFADDR_ALL : IFADDR_EXCEPT, ret, ret_n);
}

/* Runs a helper; on failure adds an error naming what failed. */
static int run(char *const argv[], const char *in, struct diag *d, const char *what)
{
	struct exec_result res;
	int r = exec_run(argv, in, in ? strlen(in) : 0, 0, &res);

	if (r < 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "userspace: cannot run %s (%s): %s",
			 argv[0], what, strerror(-r));
		return r;
	}
	if (res.status != 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "userspace: %s failed (status %d): %s",
			 what, res.status, res.err ? res.err : "");
		r = -EIO;
	}
	exec_result_done(&res);
	return r;
}

/* Runs a helper whose failure is expected (probing, deleting what may be absent). */
static int run_quiet(char *const argv[], char **out)
{
	struct exec_result res;
	int r = exec_run(argv, NULL, 0, out != NULL, &res);

	if (r < 0)
		return r;
	r = res.status == 0 ? 0 : -EIO;
	if (out) {
		*out = res.out;
		res.out = NULL;
	}
	exec_result_done(&res);
	return r;
}

/* v sorted by addr_cmp: thousands of VIPs are compared at every sync. */
static bool has_addr(const struct addr *v, size_t n, const struct addr *a)
{
	return n && bsearch(a, v, n, sizeof(*v), addr_cmp_qsort);
}

/* The interface's flags (IFF_UP...), 0 when it does not exist. */
static unsigned if_flags(const char *name)
{
	struct ifaddrs *ifa, *i;
	unsigned flags = 0;

	if (getifaddrs(&ifa) < 0)
		return 0;
	for (i = ifa; i; i = i->ifa_next)
		if (streq(i->ifa_name, name))
			flags |= i->ifa_flags;
	freeifaddrs(ifa);
	return flags;
}

static void append(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);

	*buf = xgrow(*buf, cap, *len + n + 1, 1);
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

int us_capture_vips(const struct dp_opts *o, const struct addr *vips, size_t n, bool add_only,
		    struct diag *d)
{
	char *script = NULL;
	size_t len = 0, cap = 0, n_have;
	struct addr *have;
	int r = 0;

	if (!if_nametoindex(US_IFNAME)) {
		char *add[] = { (char *)o->ip, "link", "add", US_IFNAME, "type", "dummy", NULL };
		char *add_bridge[] = { (char *)o->ip, "link", "add", US_IFNAME, "type", "bridge", NULL };

		/*
		 * A kernel without the dummy driver (some minimal builds): an
		 * empty bridge is up, has carrier and forwards nothing, which
		 * is all an address holder needs.
		 */
		if (run_quiet(add, NULL) < 0) {
			r = run(add_bridge, NULL, d, "creating the " US_IFNAME " interface (dummy or bridge)");
			if (r < 0)
				return r;
		}
	}
	if (!(if_flags(US_IFNAME) & IFF_UP))
		append(&script, &len, &cap, "link set " US_IFNAME " up\n");
	collect_addrs(IFADDR_ONLY, &have, &n_have);
	if (n_have) /* qsort's array must not be NULL, even when empty */
		qsort(have, n_have, sizeof(*have), addr_cmp_qsort);
	for (size_t i = 0; i < n; i++) {
		char a[ADDR_STRLEN], line[128];

		if (has_addr(have, n_have, &vips[i]))
			continue;
		addr_format(&vips[i], a);
		/* nodad: a VIP is on every node by design; DAD would only delay it. */
		snprintf(line, sizeof(line), "address add %s/%d dev %s%s\n", a,
			 vips[i].family == AF_INET6 ? 128 : 32, US_IFNAME,
			 vips[i].family == AF_INET6 ? " nodad" : "");
		append(&script, &len, &cap, line);
	}
	for (size_t i = 0; i < n_have && !add_only; i++) {
		char a[ADDR_STRLEN], line[128];

		if (has_addr(vips, n, &have[i]))
			continue;
		addr_format(&have[i], a);
		snprintf(line, sizeof(line), "address del %s/%d dev %s\n", a,
			 have[i].family == AF_INET6 ? 128 : 32, US_IFNAME);
		append(&script, &len, &cap, line);
	}
	free(have);
	if (len) {
		char *argv[] = { (char *)o->ip, "-batch", "-", NULL };

		r = run(argv, script, d, "updating the addresses of " US_IFNAME);
	}
	free(script);
	return r;
}

int us_capture_nft(const struct dp_opts *o, const char *script, struct diag *d)
{
	char *argv[] = { (char *)o->nft, "-f", "-", NULL };

	return run(argv, script, d, "nft (table inet " US_NFT_TABLE ")");
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
		r = run(route, NULL, &tmp, "the local route for transparent sockets");
		if (r == 0) {
			if (run_quiet(show, &out) < 0 || !out || !strstr(out, "lookup"))
				r = run(rule, NULL, &tmp, "the fwmark rule for transparent sockets");
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
	char *nft_list[] = { (char *)o->nft, "list", "table", "inet", US_NFT_TABLE, NULL };
	char *nft_del[] = { (char *)o->nft, "delete", "table", "inet", US_NFT_TABLE, NULL };
	char *link_del[] = { (char *)o->ip, "link", "del", US_IFNAME, NULL };
	int ret = 0;

	snprintf(mark, sizeof(mark), "0x%x/0x%x", US_TPROXY_MARK, US_TPROXY_MARK);
	snprintf(table, sizeof(table), "%d", US_TPROXY_TABLE);
	snprintf(prio, sizeof(prio), "%d", US_TPROXY_PRIO);
	if (o->nft && run_quiet(nft_list, NULL) == 0 && run(nft_del, NULL, d, "removing the nft table") < 0)
		ret = -EIO;
	if (if_nametoindex(US_IFNAME) && run(link_del, NULL, d, "removing " US_IFNAME) < 0)
		ret = -EIO;
	for (size_t i = 0; i < ARRAY_SIZE(fam); i++) {
		char *rule_del[] = { (char *)o->ip, (char *)fam[i], "rule", "del", "fwmark", mark,
				     "lookup", table, "priority", prio, NULL };
		char *show[] = { (char *)o->ip, (char *)fam[i], "route", "show", "table", table, NULL };
		char *flush[] = { (char *)o->ip, (char *)fam[i], "route", "flush", "table", table, NULL };
		char *out = NULL;

		/* Absent rules are the normal case: delete until there is none. */
		for (int k = 0; k < 16 && run_quiet(rule_del, NULL) == 0; k++)
			;
		if (run_quiet(show, &out) == 0 && out && *out && run_quiet(flush, NULL) < 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
				 "userspace: cannot flush routing table %s", table);
			ret = -EIO;
		}
		free(out);
	}
	return ret;
}
