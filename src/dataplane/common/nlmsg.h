/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Walking the kernel's netlink answers, for every data plane that speaks
 * netlink itself (nftables, IPVS).  Pure: a receive buffer in, messages out.
 * Our own length checks, because libmnl's mnl_nlmsg_ok() takes a length of
 * 2 GiB or more as negative and lets it pass (found by fuzz_ipvs_msg).
 */
#ifndef KROUTE_DATAPLANE_COMMON_NLMSG_H
#define KROUTE_DATAPLANE_COMMON_NLMSG_H

#include <stddef.h>
#include <linux/netlink.h>

/*
 * Hands each message of a receive buffer to fn until fn returns non-zero
 * (returned); 0 at the buffer's end.  A message whose length is short or
 * runs past the buffer stops the walk with -EBADMSG.
 */
int nlmsg_walk(const void *buf, size_t len, int (*fn)(const struct nlmsghdr *nlh, void *data),
	       void *data);
/* An NLMSG_ERROR's error: 0 (an ack) or a negative errno; -EBADMSG when it is too short. */
int nlmsg_error(const struct nlmsghdr *nlh);

#endif
