/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the IPVS mode's reader of the kernel's generic
 * netlink answers (src/dataplane/ipvs/msg.c): arbitrary bytes as a receive
 * buffer of netlink messages, walked with nlmsg_walk() as nl.c walks
 * one, errors read with nlmsg_error(), each other message given to the
 * IPVS decoder (services, dests with their connection counts, the
 * timeouts) and to the controller's family-id decoder.  The kernel is
 * trusted less than that: a malformed answer must be refused, never read
 * past its end.
 */
#include <linux/netlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/common/nlmsg.h"
#include "dataplane/ipvs/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_msg(const struct nlmsghdr *nlh, void *data)
{
	struct ipvs_decoded d;
	uint16_t id;

	(void)data;
	if (nlh->nlmsg_type == NLMSG_ERROR)
		return nlmsg_error(nlh) > 0; /* never: an error is <= 0 */
	if (ipvs_msg_decode(nlh, &d) == 0 && d.has_svc && d.svc_full)
		/* The scheduler's name is a C string whatever the kernel sent. */
		(void)strlen(d.conf.sched);
	(void)ipvs_msg_decode_family(nlh, &id);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A receive buffer is aligned for struct nlmsghdr; the fuzzer's bytes are not. */
	void *buf;

	if (size > 1 << 20)
		return 0;
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (nlmsg_walk(buf, size, on_msg, NULL) > 0)
		abort();
	free(buf);
	return 0;
}
