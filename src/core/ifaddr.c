/* SPDX-License-Identifier: Apache-2.0 */
/* Interface addresses; see ifaddr.h. */
#include "core/ifaddr.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "core/util.h"

void ifaddr_list(enum ifaddr_filter filter, const char *name, bool skip_link_local,
		 struct addr **ret, size_t *ret_n)
{
	struct ifaddrs *ifa, *i;
	size_t cap = 0;

	*ret = NULL;
	*ret_n = 0;
	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i; i = i->ifa_next) {
		struct addr a = { 0 };
		bool named;

		if (!i->ifa_addr)
			continue;
		named = name && streq(i->ifa_name, name);
		if ((filter == IFADDR_ONLY && !named) || (filter == IFADDR_EXCEPT && named))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			a.family = AF_INET;
			memcpy(a.bytes, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *a6 = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

			if (skip_link_local && IN6_IS_ADDR_LINKLOCAL(a6))
				continue;
			a.family = AF_INET6;
			memcpy(a.bytes, a6, 16);
		} else {
			continue;
		}
		VEC_PUSH(*ret, *ret_n, cap, a);
	}
	freeifaddrs(ifa);
}
