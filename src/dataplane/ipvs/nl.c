/* SPDX-License-Identifier: Apache-2.0 */
/* IPVS generic netlink on a socket (nl.h). */
#include "dataplane/ipvs/nl.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>

#include "core/diag.h"
#include "core/util.h"
#include "dataplane/common/nlmsg.h"
#include "dataplane/ipvs/msg.h"

#define RECV_BUF (1u << 16)
#define ERRORS_SHOWN 5

static int send_buf(struct ipvs_nl *n, const struct ipvs_msgbuf *b)
{
	ssize_t r = mnl_socket_sendto(n->sock, b->buf, b->len);

	return r < 0 ? -errno : 0;
}

/*
 * Reads the kernel's answers and hands each message to fn until fn returns
 * non-zero: > 0 done, < 0 an error (returned).
 */
static int recv_until(struct ipvs_nl *n, int (*fn)(const struct nlmsghdr *nlh, void *data),
		      void *data)
{
	char *buf = xmalloc(RECV_BUF);
	int r = 0;

	while (!r) {
		ssize_t len = mnl_socket_recvfrom(n->sock, buf, RECV_BUF);

		if (len < 0) {
			r = -errno;
			break;
		}
		r = nlmsg_walk(buf, (size_t)len, fn, data);
	}
	free(buf);
	return r < 0 ? r : 0;
}

/* The family lookup's answer, then its ack. */
static int on_family(const struct nlmsghdr *nlh, void *data)
{
	struct ipvs_nl *n = data;

	if (nlh->nlmsg_type == NLMSG_ERROR)
		return nlmsg_error(nlh) ? nlmsg_error(nlh) : 1;
	if (nlh->nlmsg_type == GENL_ID_CTRL)
		(void)ipvs_msg_decode_family(nlh, &n->family_id);
	return 0;
}

int ipvs_nl_open(struct ipvs_nl *n, const char *who, struct diag *d)
{
	struct ipvs_msgbuf b = { 0 };
	int one = 1, r = 0, size = 1 << 22;
	bool got;

	*n = (struct ipvs_nl){ .seq = 1 };
	n->sock = mnl_socket_open(NETLINK_GENERIC);
	if (!n->sock || mnl_socket_bind(n->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s: cannot open a generic netlink socket: %s",
			 who, strerror(errno));
		ipvs_nl_close(n);
		goto out;
	}
	/* Acks carry no copy of the request; room for a batch's acks. */
	(void)setsockopt(mnl_socket_get_fd(n->sock), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (setsockopt(mnl_socket_get_fd(n->sock), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(mnl_socket_get_fd(n->sock), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	ipvs_msg_get_family(&b, n->seq++);
	r = send_buf(n, &b);
	if (r >= 0)
		r = recv_until(n, on_family, n);
	got = n->family_id != 0;
	if (got && r >= 0)
		goto out;
	if (r == -ENOENT || (r >= 0 && !got)) {
		r = -EPROTONOSUPPORT;
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
			 "%s: this kernel has no IP Virtual Server (the IPVS generic netlink family does not"
			 " exist, and loading the ip_vs module did not make it): load it (modprobe ip_vs, with"
			 " the ip_vs_rr, ip_vs_wrr, ip_vs_sh... schedulers the services use) or run another"
			 " --mode (iptables, nftables)", who);
	} else {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s: cannot resolve the IPVS netlink family: %s",
			 who, strerror(-r));
	}
	ipvs_nl_close(n);
out:
	ipvs_msgbuf_done(&b);
	return r < 0 ? r : 0;
}

void ipvs_nl_close(struct ipvs_nl *n)
{
	if (n->sock)
		mnl_socket_close(n->sock);
	n->sock = NULL;
}

static void report(const struct ipvs_op *op, int err, const char *who, size_t *shown,
		   struct diag *d)
{
	char k[IPVS_KEY_LEN], dest[ADDR_PORT_STRLEN] = "";

	if ((*shown)++ >= ERRORS_SHOWN)
		return;
	ipvs_key_format(&op->key, k);
	if (op->kind >= IPVS_OP_ADD_DEST)
		addr_port_format(&op->dest.addr, op->dest.port, dest);
	diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s: %s %s%s%s%s%s failed: %s", who,
		 ipvs_op_name(op->kind), k, *dest ? " -> " : "", dest,
		 op->kind == IPVS_OP_ADD_SVC || op->kind == IPVS_OP_SET_SVC ? " scheduler " : "",
		 op->kind == IPVS_OP_ADD_SVC || op->kind == IPVS_OP_SET_SVC ? op->conf.sched : "",
		 strerror(-err));
}

struct acks {
	const struct ipvs_ops *ops;
	size_t first, count, acked, shown;
	uint32_t seq0;
	const char *who;
	struct ipvs_apply_info *info;
	struct diag *d;
	int ret;
};

/* One batch's acks: each failure named (the first few), done when all came. */
static int on_ack(const struct nlmsghdr *nlh, void *data)
{
	struct acks *a = data;
	size_t i = nlh->nlmsg_seq - a->seq0;

	if (nlh->nlmsg_type != NLMSG_ERROR || i >= a->count)
		return 0;
	a->acked++;
	if (nlmsg_error(nlh)) {
		a->info->failed++;
		report(&a->ops->v[a->first + i], nlmsg_error(nlh), a->who, &a->shown, a->d);
		if (!a->ret)
			a->ret = nlmsg_error(nlh);
	}
	return a->acked == a->count;
}

int ipvs_nl_apply(struct ipvs_nl *n, const struct ipvs_ops *ops, const char *who,
		  struct ipvs_apply_info *info, struct diag *d)
{
	struct ipvs_msgbuf b = { 0 };
	size_t shown = 0;
	int ret = 0;

	*info = (struct ipvs_apply_info){ 0 };
	for (size_t first = 0; first < ops->n; first += IPVS_BATCH_MSGS) {
		size_t count = ops->n - first < IPVS_BATCH_MSGS ? ops->n - first : IPVS_BATCH_MSGS;
		uint32_t seq0 = n->seq;
		int r;

		ipvs_msgbuf_reset(&b);
		for (size_t i = 0; i < count; i++)
			ipvs_msg_op(&b, n->family_id, n->seq++, &ops->v[first + i]);
		info->msgs += b.n_msgs;
		info->bytes += b.len;
		info->batches++;
		r = send_buf(n, &b);
		if (r < 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s: sending %zu IPVS requests: %s", who,
				 count, strerror(-r));
			ret = r;
			break;
		}
		struct acks a = { .ops = ops, .first = first, .count = count, .seq0 = seq0, .who = who,
				  .info = info, .d = d, .shown = shown };

		r = recv_until(n, on_ack, &a);
		shown = a.shown;
		if (r < 0)
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s: reading the kernel's answers: %s",
				 who, strerror(-r));
		if (r < 0 && !ret)
			ret = r;
		if (a.ret < 0 && !ret)
			ret = a.ret;
	}
	if (shown > ERRORS_SHOWN)
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s: %zu more IPVS requests failed", who,
			 shown - ERRORS_SHOWN);
	ipvs_msgbuf_done(&b);
	return ret;
}

struct dump_run {
	uint32_t seq;
	int (*fn)(const struct ipvs_decoded *m, void *data);
	void *data;
};

static int on_dump(const struct nlmsghdr *nlh, void *data)
{
	struct dump_run *x = data;
	struct ipvs_decoded m;

	if (nlh->nlmsg_seq != x->seq)
		return 0;
	if (nlh->nlmsg_type == NLMSG_DONE)
		return 1;
	if (nlh->nlmsg_type == NLMSG_ERROR)
		return nlmsg_error(nlh) ? nlmsg_error(nlh) : 1;
	return ipvs_msg_decode(nlh, &m) == 0 ? x->fn(&m, x->data) : 0;
}

/* Runs a dump request (in b) and hands every answer to fn. */
static int dump(struct ipvs_nl *n, struct ipvs_msgbuf *b, uint32_t seq,
		int (*fn)(const struct ipvs_decoded *m, void *data), void *data)
{
	struct dump_run x = { .seq = seq, .fn = fn, .data = data };
	int r = send_buf(n, b);

	return r < 0 ? r : recv_until(n, on_dump, &x);
}

struct dump_ctx {
	int family;
	struct ipvs_table *t;
	struct ipvs_svc *svc;
};

static int on_service(const struct ipvs_decoded *m, void *data)
{
	struct dump_ctx *x = data;
	struct ipvs_svc s = { .key = m->key, .conf = m->conf };

	/* Not another family's, nor a fwmark service outside kroute's marks. */
	if (!m->has_svc || m->key.family != x->family || ipvs_table_get(x->t, &m->key) ||
	    (m->fwmark && (m->fwmark & IPVS_FWMARK_MASK) != IPVS_FWMARK_BASE))
		return 0;
	ipvs_table_add(x->t, &s);
	return 0;
}

static int on_dest(const struct ipvs_decoded *m, void *data)
{
	struct ipvs_svc *s = ((struct dump_ctx *)data)->svc;
	size_t cap = s->n_dests;

	if (!m->has_dest)
		return 0;
	s->dests = xgrow(s->dests, &cap, s->n_dests + 1, sizeof(*s->dests));
	s->dests[s->n_dests] = m->dest;
	s->dests[s->n_dests].conns = m->active_conns + m->inactive_conns;
	s->n_dests++;
	return 0;
}

static int dest_cmp_qsort(const void *a, const void *b)
{
	return ipvs_dest_cmp(a, b);
}

static int dump_dests(struct ipvs_nl *n, struct ipvs_svc *s)
{
	struct ipvs_msgbuf b = { 0 };
	struct dump_ctx x = { .svc = s };
	uint32_t seq = n->seq++;
	int r;

	free(s->dests);
	s->dests = NULL;
	s->n_dests = 0;
	ipvs_msg_get_dests(&b, n->family_id, seq, &s->key);
	r = dump(n, &b, seq, on_dest, &x);
	ipvs_msgbuf_done(&b);
	if (s->n_dests)
		qsort(s->dests, s->n_dests, sizeof(*s->dests), dest_cmp_qsort);
	return r;
}

int ipvs_nl_dump(struct ipvs_nl *n, int family, struct ipvs_table *t, struct diag *d)
{
	struct ipvs_msgbuf b = { 0 };
	struct dump_ctx x = { .family = family, .t = t };
	uint32_t seq = n->seq++;
	int r;

	ipvs_msg_get_services(&b, n->family_id, seq);
	r = dump(n, &b, seq, on_service, &x);
	ipvs_msgbuf_done(&b);
	for (size_t i = 0; r >= 0 && i < t->n; i++)
		r = dump_dests(n, &t->v[i]);
	if (r < 0)
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "ipvs: reading the kernel's virtual services: %s",
			 strerror(-r));
	ipvs_table_sort(t);
	return r;
}

int ipvs_nl_read_conns(struct ipvs_nl *n, struct ipvs_svc *s)
{
	struct ipvs_svc now = { .key = s->key };
	int r = dump_dests(n, &now);

	for (size_t i = 0; r >= 0 && i < s->n_dests; i++) {
		struct ipvs_dest *d = &s->dests[i];

		if (!d->drain_since)
			continue;
		d->conns = 0; /* gone from the kernel: nothing to wait for */
		for (size_t k = 0; k < now.n_dests; k++)
			if (!ipvs_dest_cmp(&now.dests[k], d))
				d->conns = now.dests[k].conns;
	}
	ipvs_svc_done(&now);
	return r;
}

struct one_ack {
	uint32_t seq;
};

static int on_one_ack(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq != ((struct one_ack *)data)->seq)
		return 0;
	return nlmsg_error(nlh) ? nlmsg_error(nlh) : 1;
}

int ipvs_nl_set_timeouts(struct ipvs_nl *n, uint32_t tcp, uint32_t tcpfin, uint32_t udp,
			 const char *who, struct diag *d)
{
	struct ipvs_msgbuf b = { 0 };
	struct one_ack a = { .seq = n->seq++ };
	int r;

	ipvs_msg_set_timeouts(&b, n->family_id, a.seq, tcp, tcpfin, udp);
	r = send_buf(n, &b);
	if (r >= 0)
		r = recv_until(n, on_one_ack, &a);
	if (r < 0)
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s: setting the IPVS timeouts: %s", who,
			 strerror(-r));
	ipvs_msgbuf_done(&b);
	return r;
}
