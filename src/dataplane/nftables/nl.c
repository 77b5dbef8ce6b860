/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One sync = one nf_tables batch (nl.h).  Messages follow the changes'
 * phases (diff.h); a set's run of element changes goes in as few messages
 * as fit (each under 64 KiB, the limit of a netlink attribute).  Errors
 * come back as NLMSG_ERROR answers carrying the failed message's sequence
 * number, which names what it did.  The kernel runs the whole batch inside
 * sendmsg(), so once it returns every answer is queued on the socket.
 */
#include "dataplane/nftables/nl.h"

#include <errno.h>
#include <netinet/in.h> /* before the kernel's headers: glibc's in.h must come first */
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "core/diag.h"
#include "core/strmap.h"
#include "core/util.h"
#include "dataplane/common/nlmsg.h"
#include "dataplane/nftables/expr.h"
#include "dataplane/nftables/resync.h"
#include "dataplane/nftables/text.h"

#define BATCH_PAGE (1u << 20)
#define MSG_MAX (1u << 17)          /* the largest message we write: an element chunk */
#define ELEM_CHUNK_BYTES 48000u     /* elements per message: under the 64 KiB attribute limit */

/* nft's datatype ids, so `nft list` shows keys by type */
enum { T_VERDICT = 1, T_MARK = 19 /* host byte order: numgen and jhash results */, T_IPADDR = 7, T_IP6ADDR = 8, T_PROTO = 12, T_PORT = 13 };

static uint32_t concat_type(const uint32_t *t, size_t n)
{
	uint32_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 6 | t[i];
	return v;
}

enum msg_kind {
	M_BEGIN, M_COMMIT, M_TABLE_ADD, M_TABLE_DEL, M_CHAIN_ADD, M_CHAIN_DEL, M_FLUSH, M_RULE,
	M_SET_ADD, M_SET_DEL, M_ELEMS_ADD, M_ELEMS_DEL,
};

static void what(struct nft_batch *b, enum msg_kind kind, const struct nft_op *op, size_t count)
{
	b->what = xgrow(b->what, &b->cap_what, b->n_what + 1, sizeof(*b->what));
	b->what[b->n_what++] = (struct nft_msg_what){ .op = op, .count = (uint32_t)count,
						      .kind = (uint8_t)kind };
}

static struct nlmsghdr *hdr(struct nft_batch *b, uint16_t type, uint16_t flags,
			    enum msg_kind kind, const struct nft_op *op, size_t count)
{
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->b), type,
						     (uint16_t)b->family, flags, b->seq++);

	what(b, kind, op, count);
	return nlh;
}

static void done_msg(struct nft_batch *b, struct nlmsghdr *nlh)
{
	b->bytes += nlh->nlmsg_len;
	b->msgs++;
	nftnl_batch_update(b->b);
}

static const char *tname(const struct nft_batch *b)
{
	return b->table ? b->table : NFT_TABLE;
}

static void msg_table(struct nft_batch *b, uint16_t type, uint16_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	nftnl_table_set_str(t, NFTNL_TABLE_NAME, tname(b));
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, (uint32_t)b->family);
	nlh = hdr(b, type, flags, type == NFT_MSG_DELTABLE ? M_TABLE_DEL : M_TABLE_ADD, NULL, 0);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	done_msg(b, nlh);
}

static struct nftnl_chain *chain_obj(const struct nft_batch *b, const char *name)
{
	struct nftnl_chain *c = nftnl_chain_alloc();

	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, tname(b));
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)b->family);
	return c;
}

static void msg_chain(struct nft_batch *b, uint16_t type, const struct nft_op *op,
		      const struct nft_chain *def)
{
	struct nftnl_chain *c = chain_obj(b, op->name);
	struct nlmsghdr *nlh;

	if (def && def->type) {
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, def->type);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)def->hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, def->prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = hdr(b, type, type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0,
		  type == NFT_MSG_NEWCHAIN ? M_CHAIN_ADD : M_CHAIN_DEL, op, 0);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	done_msg(b, nlh);
}

/* Flushing a chain is deleting its rules: DELRULE naming only the chain. */
static void msg_flush(struct nft_batch *b, const struct nft_op *op)
{
	const char *name = op->name;
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, tname(b));
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, name);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)b->family);
	nlh = hdr(b, NFT_MSG_DELRULE, 0, M_FLUSH, op, 0);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	done_msg(b, nlh);
}

uint64_t nft_rule_tag(const struct nft_rule *r)
{
	return fnv1a_update(0xcbf29ce484222325ull, r->x, r->n * sizeof(*r->x));
}

/* A userdata type past nft's (comment 0, ebpf 1): nft skips it. */
#define TAG_UDATA_TYPE 0xb7

void nft_rule_tag_put(uint8_t buf[NFT_TAG_UDATA_LEN], uint64_t tag)
{
	buf[0] = TAG_UDATA_TYPE;
	buf[1] = sizeof(tag);
	memcpy(buf + 2, &tag, sizeof(tag));
}

uint64_t nft_rule_tag_get(const void *ud, uint32_t len)
{
	const uint8_t *p = ud;
	uint64_t tag = 0;

	if (p && len == NFT_TAG_UDATA_LEN && p[0] == TAG_UDATA_TYPE && p[1] == sizeof(tag))
		memcpy(&tag, p + 2, sizeof(tag));
	return tag;
}

static void msg_rule(struct nft_batch *b, const struct nft_op *op)
{
	const char *chain = op->name;
	const struct nft_rule *m = op->rule;
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;
	uint8_t tag[NFT_TAG_UDATA_LEN];

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, tname(b));
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)b->family);
	/* The drift check compares these tags with the mirror's rules. */
	nft_rule_tag_put(tag, nft_rule_tag(m));
	nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, tag, sizeof(tag));
	nft_rule_exprs(r, b->family, m);
	nlh = hdr(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, M_RULE, op, 0);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	done_msg(b, nlh);
}

static struct nftnl_set *set_obj(const struct nft_batch *b, const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();

	nftnl_set_set_str(s, NFTNL_SET_TABLE, tname(b));
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)b->family);
	return s;
}

static void set_types(struct nftnl_set *s, const struct nft_set *def, int family)
{
	uint32_t ip = family == AF_INET6 ? T_IP6ADDR : T_IPADDR, t[4];

	switch (def->kind) {
	case NS_SVC_VMAP:
		t[0] = ip, t[1] = T_PROTO, t[2] = T_PORT;
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, concat_type(t, 3));
		break;
	case NS_PORT_VMAP:
	case NS_PORT_SET:
		t[0] = T_PROTO, t[1] = T_PORT;
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, concat_type(t, 2));
		break;
	case NS_ADDR_PAIRS:
		t[0] = ip, t[1] = ip;
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, concat_type(t, 2));
		break;
	case NS_ADDRS:
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, ip);
		break;
	case NS_AFFINITY: /* endpoint id (two words) . client */
		t[0] = T_MARK, t[1] = T_MARK, t[2] = ip;
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, concat_type(t, 3));
		break;
	case NS_SVC_SET:
		t[0] = ip, t[1] = T_PROTO, t[2] = T_PORT;
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, concat_type(t, 3));
		break;
	case NS_PICK_EPS: /* addr . proto . port . slot */
		t[0] = ip, t[1] = T_PROTO, t[2] = T_PORT, t[3] = T_MARK;
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, concat_type(t, 4));
		break;
	default: /* the service's id (two 4-byte words) . slot */
		t[0] = T_MARK, t[1] = T_MARK, t[2] = T_MARK;
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, concat_type(t, 3));
		break;
	}
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, (uint32_t)nft_key_len(def->kind, family));
	if (def->kind == NS_SVC_VMAP || def->kind == NS_PORT_VMAP || def->kind == NS_EP_VMAP) {
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	} else if (def->kind == NS_EP_MAP || def->kind == NS_PICK_EPS) {
		t[0] = ip, t[1] = T_PORT;
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, concat_type(t, 2));
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, (uint32_t)nft_data_len(def->kind, family));
	} else if (def->kind == NS_AFFINITY) {
		nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, (uint64_t)def->timeout_s * 1000);
	}
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, nft_set_flags(def->kind));
	if (def->size)
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, def->size);
}

static void msg_set(struct nft_batch *b, uint16_t type, const struct nft_op *op,
		    const struct nft_set *def)
{
	struct nftnl_set *s = set_obj(b, op->name);
	struct nlmsghdr *nlh;

	if (def) {
		set_types(s, def, b->family);
		nftnl_set_set_u32(s, NFTNL_SET_ID, b->seq);
	}
	nlh = hdr(b, type, def ? NLM_F_CREATE : 0, def ? M_SET_ADD : M_SET_DEL, op, 0);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	done_msg(b, nlh);
}

/*
 * One element's attributes, written straight into the message (as
 * libnftnl's set element payload lays them out): a full sync writes a
 * million at 50,000 services, and a libnftnl object per element (allocated,
 * filled, copied, freed) took longer than the writing.
 */
static void elem_attrs(struct nlmsghdr *nlh, const struct nft_op *op, int family, bool add)
{
	const struct nft_elem *m = op->elem;
	size_t dlen = nft_data_len(op->in->kind, family);
	struct nlattr *e = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM), *n;

	n = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, nft_key_len(op->in->kind, family), m->key);
	mnl_attr_nest_end(nlh, n);
	if (add && dlen) {
		n = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
		mnl_attr_put(nlh, NFTA_DATA_VALUE, dlen, m->data);
		mnl_attr_nest_end(nlh, n);
	} else if (add && m->verdict) {
		struct nlattr *v;

		n = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
		v = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
		mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl((uint32_t)nft_verdict_code(m->verdict)));
		if (m->verdict == NV_JUMP || m->verdict == NV_GOTO)
			mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN, m->chain);
		mnl_attr_nest_end(nlh, v);
		mnl_attr_nest_end(nlh, n);
	}
	mnl_attr_nest_end(nlh, e);
}

/* ops[i..] of one set, as few messages as fit; returns how many ops it took. */
static size_t msg_elems(struct nft_batch *b, const struct nft_op *ops, size_t n, bool add)
{
	size_t per = ELEM_CHUNK_BYTES / (nft_key_len(ops[0].in->kind, b->family) + 64), k = 0;
	const char *set = nft_op_set(&ops[0]);
	struct nlmsghdr *nlh;
	struct nlattr *list;

	while (k < n && k < per && (ops[k].in == ops[0].in || streq(nft_op_set(&ops[k]), set)))
		k++;
	nlh = hdr(b, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, add ? NLM_F_CREATE : 0,
		  add ? M_ELEMS_ADD : M_ELEMS_DEL, &ops[0], k);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, tname(b));
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	for (size_t i = 0; i < k; i++)
		elem_attrs(nlh, &ops[i], b->family, add);
	mnl_attr_nest_end(nlh, list);
	done_msg(b, nlh);
	return k;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * A set's elements together (one message holds one set's), sets in name
 * order, each set's elements in the order the diff made them.  A counting
 * sort over the few hundred set names: a full sync has a quarter of a
 * million element changes at 10,000 services, and qsort with strcmp took
 * 50 ms of them.  Consecutive ops mostly name the same string (a slice's
 * elements), so its group is looked up once per run.
 */
static void group_by_set(struct nft_op *ops, size_t n)
{
	struct strmap idx;
	const char **names = NULL, *last = NULL;
	size_t n_names = 0, cap_names = 0, *start, *rank, *group = xmalloc(n * sizeof(*group)), g = 0;
	struct nft_op *out;

	strmap_init(&idx);
	for (size_t i = 0; i < n; i++) {
		if (nft_op_set(&ops[i]) != last) {
			last = nft_op_set(&ops[i]);
			g = (size_t)(uintptr_t)strmap_get(&idx, last);
			if (!g) {
				VEC_PUSH(names, n_names, cap_names, last);
				g = n_names;
				strmap_put(&idx, last, (void *)(uintptr_t)g);
			}
		}
		group[i] = g - 1;
	}
	/* Groups in name order (rank[g]: group g's place), then where each place starts. */
	qsort(names, n_names, sizeof(*names), name_cmp);
	rank = xmalloc((n_names + 1) * sizeof(*rank));
	start = xcalloc(n_names + 1, sizeof(*start));
	for (size_t r = 0; r < n_names; r++)
		rank[(size_t)(uintptr_t)strmap_get(&idx, names[r]) - 1] = r;
	for (size_t i = 0; i < n; i++)
		if ((group[i] = rank[group[i]]) + 1 < n_names)
			start[group[i] + 1]++;
	for (size_t r = 1; r < n_names; r++)
		start[r] += start[r - 1];
	out = xmalloc(n * sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[start[group[i]]++] = ops[i];
	memcpy(ops, out, n * sizeof(*ops));
	free(out);
	free(start);
	free(rank);
	free(group);
	free(names);
	strmap_done(&idx);
}

static void encode_phase(struct nft_batch *b, enum nft_phase ph, struct nft_op *ops, size_t n)
{
	if (n && (ph == PH_DEL_ELEMS || ph == PH_ADD_ELEMS))
		group_by_set(ops, n);
	for (size_t i = 0; i < n;) {
		const struct nft_op *op = &ops[i];

		switch (ph) {
		case PH_TABLE:
			/*
			 * "create": created if missing.  "reset": created,
			 * deleted, created again.  "delete": created, deleted
			 * (a missing table is no error).
			 */
			msg_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
			if (streq(op->name, "create"))
				break;
			msg_table(b, NFT_MSG_DELTABLE, 0);
			if (streq(op->name, "reset"))
				msg_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
			break;
		case PH_DEL_ELEMS:
		case PH_ADD_ELEMS:
			i += msg_elems(b, op, n - i, ph == PH_ADD_ELEMS);
			continue;
		case PH_FLUSH_CHAINS:
			msg_flush(b, op);
			break;
		case PH_DEL_SETS:
			msg_set(b, NFT_MSG_DELSET, op, NULL);
			break;
		case PH_DEL_CHAINS:
			msg_chain(b, NFT_MSG_DELCHAIN, op, NULL);
			break;
		case PH_ADD_SETS:
			msg_set(b, NFT_MSG_NEWSET, op, op->set);
			break;
		case PH_ADD_CHAINS:
			msg_chain(b, NFT_MSG_NEWCHAIN, op, op->chain);
			break;
		case PH_ADD_RULES:
			msg_rule(b, op);
			break;
		default:
			break;
		}
		i++;
	}
}

void nft_batch_encode(struct nft_batch *b, int family, const struct nft_changes *ch)
{
	nft_batch_encode_in(b, family, NULL, false, ch);
}

void nft_batch_encode_in(struct nft_batch *b, int family, const char *table, bool drop,
			 const struct nft_changes *ch)
{
	*b = (struct nft_batch){ .family = family, .table = table };
	b->b = nftnl_batch_alloc(BATCH_PAGE, MSG_MAX);
	b->seq0 = b->seq = (uint32_t)time(NULL);
	nftnl_batch_begin(nftnl_batch_buffer(b->b), b->seq++);
	what(b, M_BEGIN, NULL, 0);
	b->bytes += NLMSG_ALIGN(sizeof(struct nlmsghdr)) + NLMSG_ALIGN(sizeof(struct nfgenmsg));
	nftnl_batch_update(b->b);
	for (int ph = 0; ph < PH_N; ph++)
		encode_phase(b, (enum nft_phase)ph, ch->ops[ph], ch->n[ph]);
	if (drop)
		msg_table(b, NFT_MSG_DELTABLE, 0);
	nftnl_batch_end(nftnl_batch_buffer(b->b), b->seq++);
	what(b, M_COMMIT, NULL, 0);
	b->bytes += NLMSG_ALIGN(sizeof(struct nlmsghdr)) + NLMSG_ALIGN(sizeof(struct nfgenmsg));
	nftnl_batch_update(b->b);
}

void nft_batch_done(struct nft_batch *b)
{
	if (b->b)
		nftnl_batch_free(b->b);
	free(b->what);
	*b = (struct nft_batch){ 0 };
}

void nft_batch_what(const struct nft_batch *b, size_t i, struct sbuf *out)
{
	const struct nft_msg_what *w = &b->what[i];
	const struct nft_op *op = w->op;
	bool add = w->kind == M_ELEMS_ADD;

	switch ((enum msg_kind)w->kind) {
	case M_BEGIN:
		SBUF_ADDL(out, "beginning the batch");
		break;
	case M_COMMIT:
		SBUF_ADDL(out, "committing the batch");
		break;
	case M_TABLE_ADD:
	case M_TABLE_DEL:
		sbuf_printf(out, "%s table %s", w->kind == M_TABLE_DEL ? "deleting" : "adding", tname(b));
		break;
	case M_CHAIN_ADD:
	case M_CHAIN_DEL:
		sbuf_printf(out, "%s chain %s%s", w->kind == M_CHAIN_ADD ? "adding" : "deleting",
			    op->name, w->kind == M_CHAIN_ADD && op->chain && op->chain->type ?
			    " (a base chain: a hook)" : "");
		break;
	case M_FLUSH:
		sbuf_printf(out, "flushing chain %s", op->name);
		break;
	case M_RULE:
		sbuf_printf(out, "adding a rule to chain %s", op->name);
		break;
	case M_SET_ADD:
	case M_SET_DEL:
		sbuf_printf(out, "%s set %s", w->kind == M_SET_ADD ? "adding" : "deleting", op->name);
		break;
	case M_ELEMS_ADD:
	case M_ELEMS_DEL:
		sbuf_printf(out, "%s %u element%s %s set %s", add ? "adding" : "deleting", w->count,
			    w->count == 1 ? "" : "s", add ? "to" : "from", nft_op_set(op));
		if (op->in->in_map[0]) /* a slice: named too */
			sbuf_printf(out, " (%s%s)", op->in->name, w->count > 1 ? ", ..." : "");
		break;
	}
}

/* What message seq did; a rule with its text, so an unsupported expression shows. */
static char *describe(const struct nft_batch *b, uint32_t seq)
{
	uint32_t i = seq - b->seq0;
	struct sbuf s = { 0 };

	if (i >= b->n_what)
		return xstrdup("an unknown message");
	nft_batch_what(b, i, &s);
	if (b->what[i].kind == M_RULE) {
		SBUF_ADDL(&s, " (");
		nft_rule_text(&s, b->what[i].op->rule, b->family);
		sbuf_addc(&s, ')');
	}
	return sbuf_cstr(&s);
}

/* What one receive buffer's answers report to: the batch, and the first error. */
struct answers {
	const struct nft_batch *b;
	const char *who;
	struct diag *d;
	int ret;
};

/* One answer: an NLMSG_ERROR with an error names its message. */
static int on_answer(const struct nlmsghdr *nlh, void *data)
{
	struct answers *a = data;
	int e;
	char *desc;

	if (nlh->nlmsg_type != NLMSG_ERROR || !(e = nlmsg_error(nlh)))
		return 0;
	desc = describe(a->b, nlh->nlmsg_seq);
	diag_add(a->d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s: the kernel refused %s: %s%s",
		 a->who, desc, strerror(-e),
		 e == -EOPNOTSUPP || e == -ENOENT ?
		 " (does this kernel have nf_tables with numgen, fib, nat, jhash,"
		 " dynset and concatenated set keys?)" : "");
	free(desc);
	if (!a->ret)
		a->ret = e;
	return 0;
}

/* The kernel's answers, every one read (lengths checked by nlmsg_walk). */
static int read_answers(struct mnl_socket *nl, const struct nft_batch *b, const char *who,
			struct diag *d)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct answers a = { .b = b, .who = who, .d = d };

	for (;;) {
		ssize_t n = recv(mnl_socket_get_fd(nl), buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? a.ret : -errno;
		if (nlmsg_walk(buf, (size_t)n, on_answer, &a) < 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
				 "%s: a malformed netlink answer from the kernel", who);
			return -EBADMSG;
		}
	}
}

static struct mnl_socket *open_nl(const char *who, struct diag *d)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
			 "%s: cannot open a netfilter netlink socket: %s", who, strerror(e));
		if (nl)
			mnl_socket_close(nl);
		errno = e;
		return NULL;
	}
	return nl;
}

int nft_batch_send_on(struct nft_conn *c, struct nft_batch *b, const char *who, struct diag *d)
{
	int n_iov = nftnl_batch_iovec_len(b->b), r, size = (int)b->bytes + 65536;
	struct iovec *iov = xcalloc((size_t)n_iov, sizeof(*iov));
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct msghdr msg = { .msg_name = &snl, .msg_namelen = sizeof(snl), .msg_iov = iov,
			      .msg_iovlen = (size_t)n_iov };

	if (!c->nl)
		c->nl = open_nl(who, d);
	if (!c->nl) {
		r = -errno;
		free(iov);
		return r;
	}
	nftnl_batch_iovec(b->b, iov, (uint32_t)n_iov);
	/* A batch is one datagram: the socket's send buffer must hold it all. */
	if (size > c->sndbuf) {
		if (setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_SNDBUFFORCE, &size,
			       sizeof(size)) < 0)
			(void)setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_SNDBUF, &size,
					 sizeof(size));
		c->sndbuf = size;
	}
	if (sendmsg(mnl_socket_get_fd(c->nl), &msg, 0) < 0) {
		r = -errno;
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s: cannot send %zu bytes to nf_tables: %s",
			 who, b->bytes, strerror(-r));
	} else {
		r = read_answers(c->nl, b, who, d);
	}
	/* After a failure, the next batch starts on a fresh socket (nothing left to read on it). */
	if (r < 0)
		nft_conn_close(c);
	free(iov);
	return r;
}

void nft_conn_close(struct nft_conn *c)
{
	if (c->nl)
		mnl_socket_close(c->nl);
	*c = (struct nft_conn){ 0 };
}

int nft_batch_send(struct nft_batch *b, const char *who, struct diag *d)
{
	struct nft_conn c = { 0 };
	int r = nft_batch_send_on(&c, b, who, d);

	nft_conn_close(&c);
	return r;
}

int nftables_table_delete(int family, struct diag *d)
{
	struct nft_changes ch = { 0 };
	struct nft_op reset = { .name = "delete" };
	struct nft_batch b;
	int r = nft_table_exists(family);

	/* Not there (or no nf_tables in this kernel): nothing to do, nothing to report. */
	if (r <= 0) {
		if (r < 0)
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
				 "nftables cleanup: cannot list the tables: %s", strerror(-r));
		return r;
	}
	/* Created, then deleted: a table that went meanwhile is no error. */
	ch.ops[PH_TABLE] = &reset;
	ch.n[PH_TABLE] = 1;
	nft_batch_encode(&b, family, &ch);
	r = nft_batch_send(&b, "nftables cleanup", d);
	nft_batch_done(&b);
	return r;
}
