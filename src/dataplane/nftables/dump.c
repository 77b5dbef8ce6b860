/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading our table back (resync.h), only for the full resync: chains,
 * rules (their tags), sets and their elements, each a netlink dump filtered
 * to our table.  Never on a normal sync.
 */
#include <netinet/in.h> /* before the kernel's headers: glibc's in.h must come first */
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "core/diag.h"
#include "core/util.h"
#include "dataplane/nftables/nl.h"
#include "dataplane/nftables/resync.h"

#define DUMP_BUF (1u << 16)

struct reader {
	struct mnl_socket *nl;
	char *buf;
	uint32_t seq;
	int family;
	struct nft_kstate *k;
	struct nft_kset *cur;       /* the set whose elements are being read */
};

/* One dump request (type, built by build from obj) and its answers through cb. */
static int dump(struct reader *rd, uint16_t type, void *obj,
		void (*build)(struct nlmsghdr *, void *), mnl_cb_t cb)
{
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(rd->buf, type, (uint16_t)rd->family,
						     NLM_F_DUMP, ++rd->seq);
	uint32_t portid = mnl_socket_get_portid(rd->nl);
	ssize_t n;
	int r;

	build(nlh, obj);
	if (mnl_socket_sendto(rd->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while ((n = mnl_socket_recvfrom(rd->nl, rd->buf, DUMP_BUF)) > 0) {
		r = mnl_cb_run(rd->buf, (size_t)n, rd->seq, portid, cb, rd);
		if (r < 0)
			return -errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
	return n < 0 ? -errno : 0;
}

static void build_table(struct nlmsghdr *nlh, void *o)
{
	nftnl_table_nlmsg_build_payload(nlh, o);
}

static void build_chain(struct nlmsghdr *nlh, void *o)
{
	nftnl_chain_nlmsg_build_payload(nlh, o);
}

static void build_rule(struct nlmsghdr *nlh, void *o)
{
	nftnl_rule_nlmsg_build_payload(nlh, o);
}

static void build_set(struct nlmsghdr *nlh, void *o)
{
	nftnl_set_nlmsg_build_payload(nlh, o);
}

static void build_elems(struct nlmsghdr *nlh, void *o)
{
	nftnl_set_elems_nlmsg_build_payload(nlh, o);
}

static bool ours(const char *table)
{
	return table && streq(table, NFT_TABLE);
}

static int on_table(const struct nlmsghdr *nlh, void *data)
{
	struct reader *rd = data;
	struct nftnl_table *t = nftnl_table_alloc();

	if (nftnl_table_nlmsg_parse(nlh, t) == 0 && ours(nftnl_table_get_str(t, NFTNL_TABLE_NAME)))
		rd->cur = (struct nft_kset *)1; /* found (the reader's cursor is free here) */
	nftnl_table_free(t);
	return MNL_CB_OK;
}

static int on_chain(const struct nlmsghdr *nlh, void *data)
{
	struct reader *rd = data;
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 && ours(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE)))
		(void)nft_kstate_chain(rd->k, nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

static int on_rule(const struct nlmsghdr *nlh, void *data)
{
	struct reader *rd = data;
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (nftnl_rule_nlmsg_parse(nlh, r) == 0 && ours(nftnl_rule_get_str(r, NFTNL_RULE_TABLE))) {
		struct nft_kchain *c = nft_kstate_chain(rd->k, nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
		uint32_t len = 0;
		const void *ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
		uint64_t tag = nft_rule_tag_get(ud, len);

		VEC_PUSH(c->tags, c->n, c->cap, tag);
	}
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

static int on_set(const struct nlmsghdr *nlh, void *data)
{
	struct reader *rd = data;
	struct nftnl_set *s = nftnl_set_alloc();

	if (nftnl_set_nlmsg_parse(nlh, s) == 0 && ours(nftnl_set_get_str(s, NFTNL_SET_TABLE))) {
		uint32_t flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS);
		struct nft_kset *ks;

		/* Anonymous sets belong to someone's rule; a chain rewrite replaces them. */
		if (!(flags & NFT_SET_ANONYMOUS)) {
			ks = nft_kstate_set(rd->k, nftnl_set_get_str(s, NFTNL_SET_NAME));
			ks->flags = flags;
			ks->key_len = nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN);
			if (nftnl_set_is_set(s, NFTNL_SET_DATA_LEN))
				ks->data_len = nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN);
			if (nftnl_set_is_set(s, NFTNL_SET_DESC_SIZE))
				ks->size = nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE);
			if (nftnl_set_is_set(s, NFTNL_SET_TIMEOUT))
				ks->timeout_ms = nftnl_set_get_u64(s, NFTNL_SET_TIMEOUT);
		}
	}
	nftnl_set_free(s);
	return MNL_CB_OK;
}

static enum nft_verdict verdict_of(int code)
{
	switch (code) {
	case NF_ACCEPT:
		return NV_ACCEPT;
	case NF_DROP:
		return NV_DROP;
	case NFT_RETURN:
		return NV_RETURN;
	case NFT_JUMP:
		return NV_JUMP;
	default:
		return NV_GOTO;
	}
}

static int on_elem(struct nftnl_set_elem *e, void *data)
{
	struct reader *rd = data;
	struct nft_elem *m = nft_set_elem(&rd->cur->set);
	uint32_t len = 0;
	const void *p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);

	if (p)
		memcpy(m->key, p, MIN(len, sizeof(m->key)));
	p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &len);
	if (p)
		memcpy(m->data, p, MIN(len, sizeof(m->data)));
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT)) {
		m->verdict = (uint8_t)verdict_of((int)nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT));
		p = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
		/* A name longer than any of ours: kept as nothing of ours, so it is repaired. */
		if (p && strlen(p) < sizeof(m->chain))
			memcpy(m->chain, p, strlen(p) + 1);
		else if (p)
			memcpy(m->chain, "\001long", sizeof("\001long"));
	}
	return 0;
}

static int on_elems(const struct nlmsghdr *nlh, void *data)
{
	struct reader *rd = data;
	struct nftnl_set *s = nftnl_set_alloc();

	if (nftnl_set_elems_nlmsg_parse(nlh, s) == 0)
		nftnl_set_elem_foreach(s, on_elem, rd);
	nftnl_set_free(s);
	return MNL_CB_OK;
}

static int read_all(struct reader *rd)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_set *s = nftnl_set_alloc();
	int ret;

	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NFT_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE);
	ret = dump(rd, NFT_MSG_GETCHAIN, c, build_chain, on_chain);
	if (ret >= 0)
		ret = dump(rd, NFT_MSG_GETRULE, r, build_rule, on_rule);
	if (ret >= 0)
		ret = dump(rd, NFT_MSG_GETSET, s, build_set, on_set);
	for (size_t i = 0; ret >= 0 && i < rd->k->sets.cap; i++) {
		struct nft_kset *ks = rd->k->sets.slots[i].value;

		if (!rd->k->sets.slots[i].key || (ks->flags & NFT_SET_EVAL))
			continue; /* dynamic sets: the kernel's to fill */
		nftnl_set_set_str(s, NFTNL_SET_NAME, ks->set.name);
		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)rd->family);
		rd->cur = ks;
		ret = dump(rd, NFT_MSG_GETSETELEM, s, build_elems, on_elems);
	}
	nftnl_chain_free(c);
	nftnl_rule_free(r);
	nftnl_set_free(s);
	return ret;
}

int nft_table_exists(int family)
{
	struct reader rd = { .family = family, .seq = (uint32_t)time(NULL) };
	struct nftnl_table *t;
	int r;

	rd.nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!rd.nl || mnl_socket_bind(rd.nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		if (rd.nl)
			mnl_socket_close(rd.nl);
		return r == -EPROTONOSUPPORT || r == -EAFNOSUPPORT ? 0 : r;
	}
	rd.buf = xmalloc(DUMP_BUF);
	t = nftnl_table_alloc();
	r = dump(&rd, NFT_MSG_GETTABLE, t, build_table, on_table);
	nftnl_table_free(t);
	free(rd.buf);
	mnl_socket_close(rd.nl);
	if (r == -EPROTONOSUPPORT || r == -EAFNOSUPPORT || r == -ENOENT)
		return 0;
	return r < 0 ? r : rd.cur != NULL;
}

int nft_table_read(int family, struct nft_kstate *k, struct diag *d)
{
	struct reader rd = { .family = family, .k = k, .seq = (uint32_t)time(NULL) };
	int r;

	rd.nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!rd.nl || mnl_socket_bind(rd.nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		if (rd.nl)
			mnl_socket_close(rd.nl);
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
			 "nftables: cannot open a netfilter netlink socket: %s", strerror(-r));
		return r;
	}
	rd.buf = xmalloc(DUMP_BUF);
	r = read_all(&rd);
	if (r < 0 && r != -ENOENT)
		diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
			 "nftables: cannot read table " NFT_TABLE " back: %s", strerror(-r));
	free(rd.buf);
	mnl_socket_close(rd.nl);
	return r;
}
