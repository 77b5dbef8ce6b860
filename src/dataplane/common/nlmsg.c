/* SPDX-License-Identifier: Apache-2.0 */
/* Walking the kernel's netlink answers; see nlmsg.h. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "dataplane/common/nlmsg.h"

int nlmsg_walk(const void *buf, size_t len, int (*fn)(const struct nlmsghdr *nlh, void *data),
	       void *data)
{
	const uint8_t *p = buf;

	while (len >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)p;
		size_t n = nlh->nlmsg_len, step;
		int r;

		if (n < sizeof(*nlh) || n > len)
			return -EBADMSG;
		r = fn(nlh, data);
		if (r)
			return r;
		step = NLMSG_ALIGN(n);
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return 0;
}

int nlmsg_error(const struct nlmsghdr *nlh)
{
	int e;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(e)))
		return -EBADMSG;
	memcpy(&e, NLMSG_DATA(nlh), sizeof(e));
	return e > 0 ? -EBADMSG : e;
}
