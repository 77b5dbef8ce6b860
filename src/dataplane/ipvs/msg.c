/* SPDX-License-Identifier: Apache-2.0 */
/* IPVS generic netlink messages, encoded and decoded (msg.h). */
#include "dataplane/ipvs/msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>

#include "core/util.h"

#define MSG_ROOM 512 /* the largest message written here, with margin */

void ipvs_msgbuf_reset(struct ipvs_msgbuf *b)
{
	b->len = 0;
	b->n_msgs = 0;
}

void ipvs_msgbuf_done(struct ipvs_msgbuf *b)
{
	free(b->buf);
	*b = (struct ipvs_msgbuf){ 0 };
}

const char *ipvs_op_name(enum ipvs_op_kind k)
{
	switch (k) {
	case IPVS_OP_DEL_SVC:
		return "delete service";
	case IPVS_OP_ADD_SVC:
		return "add service";
	case IPVS_OP_SET_SVC:
		return "edit service";
	case IPVS_OP_ADD_DEST:
		return "add real server";
	case IPVS_OP_SET_DEST:
		return "edit real server";
	case IPVS_OP_DEL_DEST:
		break;
	}
	return "delete real server";
}

static struct nlmsghdr *begin(struct ipvs_msgbuf *b, uint16_t type, uint16_t flags, uint32_t seq,
			      uint8_t cmd, uint8_t version)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;

	b->buf = xgrow(b->buf, &b->cap, b->len + MSG_ROOM, 1);
	memset(b->buf + b->len, 0, MSG_ROOM);
	nlh = mnl_nlmsg_put_header(b->buf + b->len);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = version;
	return nlh;
}

static void end(struct ipvs_msgbuf *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->n_msgs++;
}

static void put_addr(struct nlmsghdr *nlh, uint16_t type, const struct addr *a)
{
	/* union nf_inet_addr, as ipvsadm sends it: IPv4 in the first 4 of 16 bytes. */
	uint8_t raw[16] = { 0 };

	memcpy(raw, a->bytes, a->family == AF_INET ? 4 : 16);
	mnl_attr_put(nlh, type, sizeof(raw), raw);
}

static void put_svc(struct nlmsghdr *nlh, const struct ipvs_svc_key *k,
		    const struct ipvs_svc_conf *conf)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, IPVS_CMD_ATTR_SERVICE);

	mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_AF, k->family);
	if (k->fwmark) {
		mnl_attr_put_u32(nlh, IPVS_SVC_ATTR_FWMARK, k->fwmark);
	} else {
		mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_PROTOCOL, k->proto);
		put_addr(nlh, IPVS_SVC_ATTR_ADDR, &k->addr);
		mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_PORT, htons(k->port));
	}
	if (conf) {
		struct ip_vs_flags f = { .flags = conf->flags, .mask = ~0u };

		mnl_attr_put_strz(nlh, IPVS_SVC_ATTR_SCHED_NAME, conf->sched);
		mnl_attr_put(nlh, IPVS_SVC_ATTR_FLAGS, sizeof(f), &f);
		mnl_attr_put_u32(nlh, IPVS_SVC_ATTR_TIMEOUT, conf->timeout);
		/* Persistence per client address: all of it (a /32 mask, or 128 bits). */
		mnl_attr_put_u32(nlh, IPVS_SVC_ATTR_NETMASK, k->family == AF_INET ? ~0u : 128);
	}
	mnl_attr_nest_end(nlh, nest);
}

static void put_dest(struct nlmsghdr *nlh, const struct ipvs_dest *d, bool full)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, IPVS_CMD_ATTR_DEST);

	put_addr(nlh, IPVS_DEST_ATTR_ADDR, &d->addr);
	mnl_attr_put_u16(nlh, IPVS_DEST_ATTR_PORT, htons(d->port));
	if (full) {
		mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_FWD_METHOD, IP_VS_CONN_F_MASQ);
		mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_WEIGHT, d->weight);
		mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_U_THRESH, 0);
		mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_L_THRESH, 0);
		mnl_attr_put_u16(nlh, IPVS_DEST_ATTR_ADDR_FAMILY, d->addr.family);
	}
	mnl_attr_nest_end(nlh, nest);
}

static uint8_t op_cmd(enum ipvs_op_kind k)
{
	switch (k) {
	case IPVS_OP_DEL_SVC:
		return IPVS_CMD_DEL_SERVICE;
	case IPVS_OP_ADD_SVC:
		return IPVS_CMD_NEW_SERVICE;
	case IPVS_OP_SET_SVC:
		return IPVS_CMD_SET_SERVICE;
	case IPVS_OP_ADD_DEST:
		return IPVS_CMD_NEW_DEST;
	case IPVS_OP_SET_DEST:
		return IPVS_CMD_SET_DEST;
	case IPVS_OP_DEL_DEST:
		break;
	}
	return IPVS_CMD_DEL_DEST;
}

void ipvs_msg_op(struct ipvs_msgbuf *b, uint16_t family_id, uint32_t seq, const struct ipvs_op *op)
{
	struct nlmsghdr *nlh = begin(b, family_id, NLM_F_REQUEST | NLM_F_ACK, seq, op_cmd(op->kind),
				     IPVS_GENL_VERSION);
	bool svc_full = op->kind == IPVS_OP_ADD_SVC || op->kind == IPVS_OP_SET_SVC;

	put_svc(nlh, &op->key, svc_full ? &op->conf : NULL);
	if (op->kind >= IPVS_OP_ADD_DEST)
		put_dest(nlh, &op->dest, op->kind != IPVS_OP_DEL_DEST);
	end(b, nlh);
}

void ipvs_msg_get_services(struct ipvs_msgbuf *b, uint16_t family_id, uint32_t seq)
{
	end(b, begin(b, family_id, NLM_F_REQUEST | NLM_F_DUMP, seq, IPVS_CMD_GET_SERVICE,
		     IPVS_GENL_VERSION));
}

void ipvs_msg_get_dests(struct ipvs_msgbuf *b, uint16_t family_id, uint32_t seq,
			const struct ipvs_svc_key *k)
{
	struct nlmsghdr *nlh = begin(b, family_id, NLM_F_REQUEST | NLM_F_DUMP, seq,
				     IPVS_CMD_GET_DEST, IPVS_GENL_VERSION);

	put_svc(nlh, k, NULL);
	end(b, nlh);
}

void ipvs_msg_set_timeouts(struct ipvs_msgbuf *b, uint16_t family_id, uint32_t seq, uint32_t tcp,
			   uint32_t tcpfin, uint32_t udp)
{
	struct nlmsghdr *nlh = begin(b, family_id, NLM_F_REQUEST | NLM_F_ACK, seq,
				     IPVS_CMD_SET_CONFIG, IPVS_GENL_VERSION);

	/* The kernel keeps a timeout it is given as 0. */
	mnl_attr_put_u32(nlh, IPVS_CMD_ATTR_TIMEOUT_TCP, tcp);
	mnl_attr_put_u32(nlh, IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, tcpfin);
	mnl_attr_put_u32(nlh, IPVS_CMD_ATTR_TIMEOUT_UDP, udp);
	end(b, nlh);
}

void ipvs_msg_get_family(struct ipvs_msgbuf *b, uint32_t seq)
{
	struct nlmsghdr *nlh = begin(b, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq,
				     CTRL_CMD_GETFAMILY, 1);

	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, IPVS_GENL_NAME);
	end(b, nlh);
}

/* Attribute tables: tb[type] for each attribute of a nest (the last one of a type wins). */
struct attrs {
	const struct nlattr *tb[32];
};

static int collect(const struct nlattr *a, void *data)
{
	struct attrs *t = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type < ARRAY_SIZE(t->tb))
		t->tb[type] = a;
	return MNL_CB_OK;
}

static bool u32_ok(const struct nlattr *a)
{
	return !a || mnl_attr_get_payload_len(a) >= 4;
}

static bool u16_ok(const struct nlattr *a)
{
	return !a || mnl_attr_get_payload_len(a) >= 2;
}

static int get_addr(const struct nlattr *a, uint8_t family, struct addr *ret)
{
	size_t want = family == AF_INET ? 4 : 16;

	if (!a || mnl_attr_get_payload_len(a) < want || (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	*ret = (struct addr){ .family = family };
	memcpy(ret->bytes, mnl_attr_get_payload(a), want);
	return 0;
}

static int decode_svc(const struct nlattr *nest, struct ipvs_decoded *ret)
{
	struct attrs t = { 0 };

	if (mnl_attr_parse_nested(nest, collect, &t) < 0 || !u16_ok(t.tb[IPVS_SVC_ATTR_AF]) ||
	    !u16_ok(t.tb[IPVS_SVC_ATTR_PROTOCOL]) || !u16_ok(t.tb[IPVS_SVC_ATTR_PORT]) ||
	    !u32_ok(t.tb[IPVS_SVC_ATTR_FWMARK]) || !u32_ok(t.tb[IPVS_SVC_ATTR_TIMEOUT]) ||
	    !u32_ok(t.tb[IPVS_SVC_ATTR_NETMASK]))
		return -EINVAL;
	ret->has_svc = true;
	if (!t.tb[IPVS_SVC_ATTR_AF])
		return -EINVAL;
	ret->key.family = (uint8_t)mnl_attr_get_u16(t.tb[IPVS_SVC_ATTR_AF]);
	if (t.tb[IPVS_SVC_ATTR_FWMARK]) {
		ret->fwmark = mnl_attr_get_u32(t.tb[IPVS_SVC_ATTR_FWMARK]);
		ret->key.fwmark = ret->fwmark;
	} else {
		if (!t.tb[IPVS_SVC_ATTR_PROTOCOL] || !t.tb[IPVS_SVC_ATTR_PORT] ||
		    get_addr(t.tb[IPVS_SVC_ATTR_ADDR], ret->key.family, &ret->key.addr) < 0)
			return -EINVAL;
		ret->key.proto = (uint8_t)mnl_attr_get_u16(t.tb[IPVS_SVC_ATTR_PROTOCOL]);
		ret->key.port = ntohs(mnl_attr_get_u16(t.tb[IPVS_SVC_ATTR_PORT]));
	}
	if (t.tb[IPVS_SVC_ATTR_SCHED_NAME] && t.tb[IPVS_SVC_ATTR_FLAGS] &&
	    t.tb[IPVS_SVC_ATTR_TIMEOUT] && t.tb[IPVS_SVC_ATTR_NETMASK]) {
		const struct nlattr *s = t.tb[IPVS_SVC_ATTR_SCHED_NAME];
		struct ip_vs_flags f;
		size_t n = mnl_attr_get_payload_len(s);

		if (mnl_attr_get_payload_len(t.tb[IPVS_SVC_ATTR_FLAGS]) < sizeof(f))
			return -EINVAL;
		memcpy(&f, mnl_attr_get_payload(t.tb[IPVS_SVC_ATTR_FLAGS]), sizeof(f));
		if (n >= sizeof(ret->conf.sched))
			n = sizeof(ret->conf.sched) - 1;
		memcpy(ret->conf.sched, mnl_attr_get_payload(s), n);
		ret->conf.sched[n] = '\0';
		/* The kernel adds its own bits (HASHED) to what it was given. */
		ret->conf.flags = f.flags & ~(uint32_t)IP_VS_SVC_F_HASHED;
		ret->conf.timeout = mnl_attr_get_u32(t.tb[IPVS_SVC_ATTR_TIMEOUT]);
		ret->netmask = mnl_attr_get_u32(t.tb[IPVS_SVC_ATTR_NETMASK]);
		ret->svc_full = true;
	}
	return 0;
}

static int decode_dest(const struct nlattr *nest, uint8_t svc_family, struct ipvs_decoded *ret)
{
	struct attrs t = { 0 };
	uint8_t family = svc_family;

	if (mnl_attr_parse_nested(nest, collect, &t) < 0 || !u16_ok(t.tb[IPVS_DEST_ATTR_PORT]) ||
	    !u16_ok(t.tb[IPVS_DEST_ATTR_ADDR_FAMILY]) || !u32_ok(t.tb[IPVS_DEST_ATTR_FWD_METHOD]) ||
	    !u32_ok(t.tb[IPVS_DEST_ATTR_WEIGHT]) || !u32_ok(t.tb[IPVS_DEST_ATTR_ACTIVE_CONNS]) ||
	    !u32_ok(t.tb[IPVS_DEST_ATTR_INACT_CONNS]) || !t.tb[IPVS_DEST_ATTR_PORT])
		return -EINVAL;
	if (t.tb[IPVS_DEST_ATTR_ADDR_FAMILY])
		family = (uint8_t)mnl_attr_get_u16(t.tb[IPVS_DEST_ATTR_ADDR_FAMILY]);
	if (get_addr(t.tb[IPVS_DEST_ATTR_ADDR], family, &ret->dest.addr) < 0)
		return -EINVAL;
	ret->has_dest = true;
	ret->dest.port = ntohs(mnl_attr_get_u16(t.tb[IPVS_DEST_ATTR_PORT]));
	if (t.tb[IPVS_DEST_ATTR_WEIGHT])
		ret->dest.weight = mnl_attr_get_u32(t.tb[IPVS_DEST_ATTR_WEIGHT]);
	if (t.tb[IPVS_DEST_ATTR_FWD_METHOD])
		ret->fwd_method = mnl_attr_get_u32(t.tb[IPVS_DEST_ATTR_FWD_METHOD]);
	ret->dest_full = t.tb[IPVS_DEST_ATTR_FWD_METHOD] && t.tb[IPVS_DEST_ATTR_WEIGHT] &&
			 t.tb[IPVS_DEST_ATTR_U_THRESH] && t.tb[IPVS_DEST_ATTR_L_THRESH];
	if (t.tb[IPVS_DEST_ATTR_ACTIVE_CONNS])
		ret->active_conns = mnl_attr_get_u32(t.tb[IPVS_DEST_ATTR_ACTIVE_CONNS]);
	if (t.tb[IPVS_DEST_ATTR_INACT_CONNS])
		ret->inactive_conns = mnl_attr_get_u32(t.tb[IPVS_DEST_ATTR_INACT_CONNS]);
	return 0;
}

int ipvs_msg_decode(const struct nlmsghdr *nlh, struct ipvs_decoded *ret)
{
	struct attrs t = { 0 };
	const struct genlmsghdr *g;

	*ret = (struct ipvs_decoded){ 0 };
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*g)))
		return -EINVAL;
	g = mnl_nlmsg_get_payload(nlh);
	ret->cmd = g->cmd;
	if (mnl_attr_parse(nlh, sizeof(*g), collect, &t) < 0)
		return -EINVAL;
	if (!u32_ok(t.tb[IPVS_CMD_ATTR_TIMEOUT_TCP]) || !u32_ok(t.tb[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN]) ||
	    !u32_ok(t.tb[IPVS_CMD_ATTR_TIMEOUT_UDP]))
		return -EINVAL;
	if (t.tb[IPVS_CMD_ATTR_SERVICE] && decode_svc(t.tb[IPVS_CMD_ATTR_SERVICE], ret) < 0)
		return -EINVAL;
	/* A dest dump's answers carry the dest alone; its family is the service's (asked). */
	if (t.tb[IPVS_CMD_ATTR_DEST] &&
	    decode_dest(t.tb[IPVS_CMD_ATTR_DEST], ret->has_svc ? ret->key.family : AF_INET, ret) < 0)
		return -EINVAL;
	if (t.tb[IPVS_CMD_ATTR_TIMEOUT_TCP])
		ret->timeout_tcp = mnl_attr_get_u32(t.tb[IPVS_CMD_ATTR_TIMEOUT_TCP]);
	if (t.tb[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN])
		ret->timeout_tcpfin = mnl_attr_get_u32(t.tb[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN]);
	if (t.tb[IPVS_CMD_ATTR_TIMEOUT_UDP])
		ret->timeout_udp = mnl_attr_get_u32(t.tb[IPVS_CMD_ATTR_TIMEOUT_UDP]);
	return 0;
}

int ipvs_msg_decode_family(const struct nlmsghdr *nlh, uint16_t *ret_id)
{
	struct attrs t = { 0 };

	if (nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN) ||
	    mnl_attr_parse(nlh, GENL_HDRLEN, collect, &t) < 0)
		return -EINVAL;
	if (!t.tb[CTRL_ATTR_FAMILY_ID] || mnl_attr_get_payload_len(t.tb[CTRL_ATTR_FAMILY_ID]) < 2)
		return -ENOENT;
	*ret_id = mnl_attr_get_u16(t.tb[CTRL_ATTR_FAMILY_ID]);
	return 0;
}

