/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPVS over generic netlink, the messages alone (pure: no socket): one
 * change to a virtual service or real server (struct ipvs_op) encoded as
 * the kernel's IPVS family reads it (linux/ip_vs.h: a genl header, then
 * IPVS_CMD_ATTR_SERVICE / _DEST nested attributes), appended to a buffer
 * that one sendmsg() hands the kernel whole; the dump requests; and the
 * decoder of the kernel's answers (the dumps' services and dests with
 * their connection counts).  The decoder reads back what the encoder
 * writes, so the unit tests check the encoding without a kernel.
 */
#ifndef KROUTE_DATAPLANE_IPVS_MSG_H
#define KROUTE_DATAPLANE_IPVS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/ipvs/plan.h"

struct nlmsghdr;

enum ipvs_op_kind {
	IPVS_OP_DEL_SVC,
	IPVS_OP_ADD_SVC,
	IPVS_OP_SET_SVC,
	IPVS_OP_ADD_DEST,
	IPVS_OP_SET_DEST,
	IPVS_OP_DEL_DEST,
};

/* One change: the service's key always, its settings (add/set), the dest (dest ops). */
struct ipvs_op {
	enum ipvs_op_kind kind;
	struct ipvs_svc_key key;
	struct ipvs_svc_conf conf;
	struct ipvs_dest dest;
};

/* Messages back to back, as one sendmsg() carries them. */
struct ipvs_msgbuf {
	uint8_t *buf;
	size_t len, cap;
	size_t n_msgs;
};

void ipvs_msgbuf_reset(struct ipvs_msgbuf *b);
void ipvs_msgbuf_done(struct ipvs_msgbuf *b);

/* The op as one request (NLM_F_REQUEST | NLM_F_ACK) of the genl family id, sequence seq. */
void ipvs_msg_op(struct ipvs_msgbuf *b, uint16_t family_id, uint32_t seq, const struct ipvs_op *op);
/* A dump of every virtual service. */
void ipvs_msg_get_services(struct ipvs_msgbuf *b, uint16_t family_id, uint32_t seq);
/* A dump of one virtual service's real servers. */
void ipvs_msg_get_dests(struct ipvs_msgbuf *b, uint16_t family_id, uint32_t seq,
			const struct ipvs_svc_key *k);
/* IPVS_CMD_SET_CONFIG: the TCP, TCP FIN and UDP timeouts in seconds (0: left as they are). */
void ipvs_msg_set_timeouts(struct ipvs_msgbuf *b, uint16_t family_id, uint32_t seq, uint32_t tcp,
			   uint32_t tcpfin, uint32_t udp);
/* The generic netlink controller's CTRL_CMD_GETFAMILY for "IPVS". */
void ipvs_msg_get_family(struct ipvs_msgbuf *b, uint32_t seq);

/* One IPVS message read back. */
struct ipvs_decoded {
	uint8_t cmd;                 /* IPVS_CMD_* */
	bool has_svc, svc_full;      /* the service attribute; with its settings */
	struct ipvs_svc_key key;
	struct ipvs_svc_conf conf;
	uint32_t netmask;
	uint32_t fwmark;             /* a fwmark service: key.fwmark too, the rest of the key unset */
	bool has_dest, dest_full;    /* the dest attribute; with forwarding, weight, thresholds */
	struct ipvs_dest dest;
	uint32_t fwd_method;
	uint32_t active_conns, inactive_conns;
	uint32_t timeout_tcp, timeout_tcpfin, timeout_udp;
};

/* Decodes an IPVS genl message.  0, or -EINVAL for a malformed one. */
int ipvs_msg_decode(const struct nlmsghdr *nlh, struct ipvs_decoded *ret);
/* The family id in the controller's answer.  0, or -EINVAL / -ENOENT. */
int ipvs_msg_decode_family(const struct nlmsghdr *nlh, uint16_t *ret_id);
const char *ipvs_op_name(enum ipvs_op_kind k);

#endif
