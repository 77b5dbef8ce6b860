/* SPDX-License-Identifier: Apache-2.0 */
/* The service-address interface (kroute0, kube-ipvs0); see dummy_link.h. */
#include "dataplane/common/dummy_link.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/diag.h"
#include "core/ifaddr.h"
#include "core/sbuf.h"
#include "core/util.h"
#include "dataplane/common/tool.h"

bool dummy_link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

/* The interface's flags (IFF_UP...), 0 when it does not exist. */
static unsigned link_flags(const char *name)
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

int dummy_link_ensure(const char *ip, const char *name, const char *who, bool *created,
		      struct diag *d)
{
	char *add[] = { (char *)ip, "link", "add", (char *)name, "type", "dummy", NULL };
	char *add_bridge[] = { (char *)ip, "link", "add", (char *)name, "type", "bridge", NULL };
	char *up[] = { (char *)ip, "link", "set", (char *)name, "up", NULL };
	char *what;
	int r = 0;

	*created = false;
	if (!dummy_link_exists(name)) {
		/* A kernel without the dummy driver (some minimal builds): an empty bridge. */
		if (dp_tool_run_quiet(add, NULL) < 0) {
			what = xasprintf("creating the %s interface (dummy or bridge)", name);
			r = dp_tool_run(add_bridge, NULL, who, what, d);
			free(what);
			if (r < 0)
				return r;
		}
		*created = true;
	}
	if (link_flags(name) & IFF_UP)
		return 0;
	what = xasprintf("setting %s up", name);
	r = dp_tool_run(up, NULL, who, what, d);
	free(what);
	return r;
}

void dummy_link_addrs(const char *name, struct addr **ret, size_t *ret_n)
{
	/* IPv6 link-local addresses need a scope and hold no service (a bridge gets one). */
	ifaddr_list(IFADDR_ONLY, name, true, ret, ret_n);
	if (*ret_n) /* qsort's array must not be NULL, even when empty */
		qsort(*ret, *ret_n, sizeof(**ret), addr_cmp_qsort);
}

/* v sorted by addr_cmp: thousands of VIPs are compared at every sync. */
static bool has_addr(const struct addr *v, size_t n, const struct addr *a)
{
	return n && bsearch(a, v, n, sizeof(*v), addr_cmp_qsort);
}

static void batch_line(struct sbuf *b, const char *verb, const struct addr *a, const char *name)
{
	char s[ADDR_STRLEN];

	addr_format(a, s);
	sbuf_printf(b, "address %s %s/%d dev %s%s\n", verb, s, a->family == AF_INET6 ? 128 : 32,
		    name,
		    /* nodad: a VIP is on every node by design; DAD would only delay it. */
		    a->family == AF_INET6 && verb[0] == 'a' ? " nodad" : "");
}

int dummy_link_set_addrs(const char *ip, const char *name, const struct addr *want, size_t n,
			 bool exact, const char *who, struct diag *d)
{
	char *argv[] = { (char *)ip, "-batch", "-", NULL };
	struct sbuf script = { 0 };
	struct addr *have;
	size_t n_have;
	int r = 0;

	dummy_link_addrs(name, &have, &n_have);
	for (size_t i = 0; i < n; i++)
		if (!has_addr(have, n_have, &want[i]))
			batch_line(&script, "add", &want[i], name);
	for (size_t i = 0; i < n_have && exact; i++)
		if (!has_addr(want, n, &have[i]))
			batch_line(&script, "del", &have[i], name);
	free(have);
	if (script.len) {
		char *what = xasprintf("updating the addresses of %s", name);

		r = dp_tool_run(argv, sbuf_cstr(&script), who, what, d);
		free(what);
	}
	sbuf_free(&script);
	return r;
}

int dummy_link_delete(const char *ip, const char *name, const char *who, struct diag *d)
{
	char *argv[] = { (char *)ip, "link", "del", (char *)name, NULL };
	char *what;
	int r;

	if (!dummy_link_exists(name))
		return 0;
	what = xasprintf("removing %s", name);
	r = dp_tool_run(argv, NULL, who, what, d);
	free(what);
	return r;
}
