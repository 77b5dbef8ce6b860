/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packet in -> packet out tests of the ebpf mode's tc program
 * (src/dataplane/ebpf/bpf/tc_nat.bpf.c) with BPF_PROG_TEST_RUN: the object
 * is loaded with fresh maps, the test writes services, slots and source
 * ranges as kroute's planner would, runs hand-made frames through the
 * program and checks every field of what comes out, checksums recomputed
 * from scratch.  The SNAT ports are set to a small range (SNAT_MIN-SNAT_MAX,
 * in the program's rodata, as kroute sets them) so the test can fill it:
 * an entry's age is faked by writing its last-use time from here.
 * Run by test_ebpf_tc.sh inside a network namespace whose
 * routes the program's FIB lookups use (the node's address and its routes
 * to the endpoints); the device the frames "arrive on" is argv[2].
 *
 * usage: tc_nat_run OBJECT DEVICE   (root; prints one line per check)
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/ebpf/bpf/maps.h"

/* the SNAT ports the test loads the program with: 8, all outside the ephemeral 32768-60999 */
#define SNAT_MIN 61000
#define SNAT_MAX 61007

static int passed, failed;
static int prog_fd, ifindex;
static int svc_fd, slot_fd, range_fd, ct_fd;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (ok)
		passed++;
	else
		failed++;
}

/* ---- frames ---- */

struct frame {
	uint8_t b[2048];
	uint32_t len;
};

struct flow {
	int family;
	uint8_t proto;
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t tcp_flags; /* 0x02 SYN, 0x12 SYN+ACK, 0x10 ACK */
	bool udp_no_csum;
};

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static size_t l3len(int family) { return family == AF_INET ? 20 : 40; }
static size_t alen(int family) { return family == AF_INET ? 4 : 16; }

/* The L4 checksum over the pseudo header and the segment: 0 when the one in the frame is right. */
static uint16_t l4_verify(const struct frame *f, int family)
{
	const uint8_t *ip = f->b + 14, *l4 = ip + l3len(family);
	size_t n = f->len - 14 - l3len(family);
	uint32_t s = 0;
	uint8_t proto = family == AF_INET ? ip[9] : ip[6];

	s = sum16(family == AF_INET ? ip + 12 : ip + 8, 2 * alen(family), s);
	s += proto;
	s += (uint32_t)n;
	s = sum16(l4, n, s);
	return fold(s);
}

static uint16_t ip_verify(const struct frame *f)
{
	return fold(sum16(f->b + 14, 20, 0));
}

/* The ICMPv6 checksum over the pseudo header and the message: 0 when the one in the frame is right. */
static uint16_t icmp6_verify(const struct frame *f)
{
	const uint8_t *ip = f->b + 14;
	uint32_t n = (uint32_t)(ip[4] << 8 | ip[5]), s;

	s = sum16(ip + 8, 32, 0);
	s += n + 58;
	return fold(sum16(ip + 40, n, s));
}

/* The frame of fl; a UDP datagram carries udp_data bytes ("ping", then a pattern; 0: just "ping"). */
static void build_sized(struct frame *f, const struct flow *fl, size_t udp_data)
{
	uint8_t *ip = f->b + 14, *l4;
	size_t hl = l3len(fl->family),
	       l4n = fl->proto == IPPROTO_TCP ? 20 : 8 + (udp_data ? udp_data : 4);
	uint16_t c;

	memset(f, 0, sizeof(*f));
	memcpy(f->b, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	f->b[12] = fl->family == AF_INET ? 0x08 : 0x86;
	f->b[13] = fl->family == AF_INET ? 0x00 : 0xdd;
	l4 = ip + hl;
	if (fl->family == AF_INET) {
		ip[0] = 0x45;
		ip[2] = (uint8_t)((hl + l4n) >> 8);
		ip[3] = (uint8_t)(hl + l4n);
		ip[8] = 64;
		ip[9] = fl->proto;
		inet_pton(AF_INET, fl->src, ip + 12);
		inet_pton(AF_INET, fl->dst, ip + 16);
		c = fold(sum16(ip, 20, 0));
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	} else {
		ip[0] = 0x60;
		ip[4] = (uint8_t)(l4n >> 8);
		ip[5] = (uint8_t)l4n;
		ip[6] = fl->proto;
		ip[7] = 64;
		inet_pton(AF_INET6, fl->src, ip + 8);
		inet_pton(AF_INET6, fl->dst, ip + 24);
	}
	l4[0] = (uint8_t)(fl->sport >> 8);
	l4[1] = (uint8_t)fl->sport;
	l4[2] = (uint8_t)(fl->dport >> 8);
	l4[3] = (uint8_t)fl->dport;
	if (fl->proto == IPPROTO_TCP) {
		l4[4] = 0x11; /* a sequence number */
		l4[12] = 5 << 4;
		l4[13] = fl->tcp_flags;
		l4[14] = 0xff;
	} else {
		l4[4] = (uint8_t)(l4n >> 8);
		l4[5] = (uint8_t)l4n;
		memcpy(l4 + 8, "ping", 4);
		for (size_t i = 4; i < l4n - 8; i++)
			l4[8 + i] = (uint8_t)(i * 7);
	}
	f->len = (uint32_t)(14 + hl + l4n);
	if (!(fl->proto == IPPROTO_UDP && fl->udp_no_csum)) {
		size_t off = fl->proto == IPPROTO_TCP ? 16 : 6;

		c = l4_verify(f, fl->family); /* over a zero checksum field: the checksum itself */
		l4[off] = (uint8_t)(c >> 8);
		l4[off + 1] = (uint8_t)c;
	}
}

static void build(struct frame *f, const struct flow *fl) { build_sized(f, fl, 0); }

/* Runs the program over in; its verdict, and the frame it leaves in out. */
static int run(const struct frame *in, struct frame *out)
{
	struct __sk_buff ctx = { .ifindex = (uint32_t)ifindex, .ingress_ifindex = (uint32_t)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->b, .data_size_in = in->len,
		    .data_out = out->b, .data_size_out = sizeof(out->b), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	int r;

	memset(out, 0, sizeof(*out));
	r = bpf_prog_test_run_opts(prog_fd, &o);
	if (r < 0) {
		fprintf(stderr, "tc_nat_run: BPF_PROG_TEST_RUN: %s\n", strerror(-r));
		exit(1);
	}
	out->len = o.data_size_out;
	return (int)o.retval;
}

/* What a frame carries: addresses as text, ports in host order. */
struct seen {
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	uint16_t sport, dport;
	bool l4_ok, ip_ok;
};

static void read_frame(const struct frame *f, int family, struct seen *s)
{
	const uint8_t *ip = f->b + 14, *l4 = ip + l3len(family);
	const uint8_t *l4csum = l4 + (ip[family == AF_INET ? 9 : 6] == IPPROTO_TCP ? 16 : 6);

	inet_ntop(family, family == AF_INET ? ip + 12 : ip + 8, s->src, sizeof(s->src));
	inet_ntop(family, family == AF_INET ? ip + 16 : ip + 24, s->dst, sizeof(s->dst));
	s->sport = (uint16_t)(l4[0] << 8 | l4[1]);
	s->dport = (uint16_t)(l4[2] << 8 | l4[3]);
	s->ip_ok = family != AF_INET || ip_verify(f) == 0;
	/* a UDP datagram without a checksum keeps none */
	s->l4_ok = (ip[9] == IPPROTO_UDP && family == AF_INET && !l4csum[0] && !l4csum[1]) ||
		   l4_verify(f, family) == 0;
}

/* ---- the maps, as the planner writes them ---- */

static struct kr_svc_key svc_key(int family, const char *addr, uint16_t port, uint8_t proto)
{
	struct kr_svc_key k;

	memset(&k, 0, sizeof(k));
	inet_pton(family, addr, k.addr.b);
	k.port = htons(port);
	k.proto = proto;
	k.family = (uint8_t)family;
	k.scope = KR_SCOPE_OUTSIDE;
	return k;
}

static void add_svc(const struct kr_svc_key *k, uint32_t id, uint32_t count, uint32_t flags)
{
	struct kr_svc v = { .id = id, .count = count, .flags = flags };

	if (bpf_map_update_elem(svc_fd, k, &v, BPF_ANY) < 0) {
		perror("tc_nat_run: kr_services");
		exit(1);
	}
}

static void add_slot(uint32_t id, uint32_t slot, int family, const char *addr, uint16_t port)
{
	struct kr_slot_key k = { .id = id, .slot = slot };
	struct kr_backend b;

	memset(&b, 0, sizeof(b));
	inet_pton(family, addr, b.addr.b);
	b.port = htons(port);
	b.family = (uint8_t)family;
	if (bpf_map_update_elem(slot_fd, &k, &b, BPF_ANY) < 0) {
		perror("tc_nat_run: kr_slots");
		exit(1);
	}
}

static void add_range(const struct kr_svc_key *svc, const char *addr, unsigned plen)
{
	struct kr_range_key k;
	uint32_t one = 1;

	memset(&k, 0, sizeof(k));
	k.prefixlen = (uint32_t)KR_RANGE_SVC_BITS + plen;
	k.svc = *svc;
	inet_pton(svc->family, addr, k.src.b);
	if (bpf_map_update_elem(range_fd, &k, &one, BPF_ANY) < 0) {
		perror("tc_nat_run: kr_src_ranges");
		exit(1);
	}
}

static bool translated(int verdict) { return verdict == TC_ACT_REDIRECT || verdict == TC_ACT_OK; }

/* One packet through the program: checks verdict, addresses, ports and checksums. */
static void expect(const char *what, const struct flow *in, const char *src, uint16_t sport,
		   const char *dst, uint16_t dport, uint16_t *ret_sport)
{
	struct frame f, out;
	struct seen s;
	int v;

	build(&f, in);
	v = run(&f, &out);
	read_frame(&out, in->family, &s);
	check(translated(v) && !strcmp(s.src, src) && (!sport || s.sport == sport) &&
	      !strcmp(s.dst, dst) && s.dport == dport && s.ip_ok && s.l4_ok && out.len == f.len,
	      "%s: verdict %d, %s:%u -> %s:%u (want %s:%u -> %s:%u), checksums %s/%s", what, v,
	      s.src, s.sport, s.dst, s.dport, src, sport, dst, dport, s.ip_ok ? "ok" : "BAD",
	      s.l4_ok ? "ok" : "BAD");
	if (ret_sport)
		*ret_sport = s.sport;
}

static void expect_verdict(const char *what, const struct flow *in, int want)
{
	struct frame f, out;
	int v;

	build(&f, in);
	v = run(&f, &out);
	check(v == want, "%s: verdict %d (want %d)", what, v, want);
}

static bool snat_port_ok(uint16_t port) { return port >= SNAT_MIN && port <= SNAT_MAX; }

/* A variable of the object's .rodata set before loading (what the skeleton does for kroute). */
static void set_rodata_u16(struct bpf_object *obj, const char *name, uint16_t v)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, ".rodata");
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *sec;
	const struct btf_var_secinfo *vs;
	const void *init;
	uint8_t *data;
	size_t size;
	int id;

	id = map && btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
	init = map ? bpf_map__initial_value(map, &size) : NULL;
	if (id < 0 || !init) {
		fprintf(stderr, "tc_nat_run: the object has no .rodata\n");
		exit(1);
	}
	sec = btf__type_by_id(btf, (uint32_t)id);
	vs = btf_var_secinfos(sec);
	for (unsigned i = 0; i < btf_vlen(sec); i++) {
		const struct btf_type *var = btf__type_by_id(btf, vs[i].type);

		if (strcmp(btf__name_by_offset(btf, var->name_off), name) || vs[i].size != 2)
			continue;
		data = malloc(size);
		memcpy(data, init, size);
		memcpy(data + vs[i].offset, &v, 2);
		if (bpf_map__set_initial_value(map, data, size) < 0) {
			fprintf(stderr, "tc_nat_run: setting %s failed\n", name);
			exit(1);
		}
		free(data);
		return;
	}
	fprintf(stderr, "tc_nat_run: no variable %s in .rodata\n", name);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns()'s clock */
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The kr_ct key of a packet of fl (as the program parses it). */
static struct kr_ct_key ct_key(const struct flow *fl)
{
	struct kr_ct_key k;

	memset(&k, 0, sizeof(k));
	inet_pton(fl->family, fl->src, k.src.b);
	inet_pton(fl->family, fl->dst, k.dst.b);
	k.sport = htons(fl->sport);
	k.dport = htons(fl->dport);
	k.proto = fl->proto;
	k.family = (uint8_t)fl->family;
	return k;
}

/* The kr_ct entry of fl's packets: true and *ret, or false when there is none. */
static bool ct_get(const struct flow *fl, struct kr_ct *ret)
{
	struct kr_ct_key k = ct_key(fl);

	return bpf_map_lookup_elem(ct_fd, &k, ret) == 0;
}

/* fl's entry last used age_s seconds ago (an old timestamp written from here). */
static void ct_age(const struct flow *fl, unsigned age_s)
{
	struct kr_ct_key k = ct_key(fl);
	struct kr_ct c;

	if (bpf_map_lookup_elem(ct_fd, &k, &c) < 0) {
		fprintf(stderr, "tc_nat_run: no kr_ct entry to age for %s:%u\n", fl->src, fl->sport);
		exit(1);
	}
	c.last_ns = now_ns() - (uint64_t)age_s * 1000000000ULL;
	if (bpf_map_update_elem(ct_fd, &k, &c, BPF_EXIST) < 0) {
		perror("tc_nat_run: kr_ct");
		exit(1);
	}
}

/*
 * 10. The SNAT range full, and flows timing out: NodePort 30090 (its own
 * endpoint, so no earlier flow holds a port toward it) from 8 clients takes
 * all 8 ports; a 9th is dropped while every flow lives, then gets the port
 * of the one flow past its timeout: an established flow idle 1 h, a flow
 * whose reply direction alone is old, a half-closed one 30 s old, a reset
 * one 5 s old and one the endpoint closed first 30 s old (its TIME_WAIT)
 * keep theirs.  With no port free, the one the endpoint closed, idle over
 * 10 s, is given up rather than the SYN dropped.
 */
static void snat_ports_full(void)
{
	struct kr_svc_key np = svc_key(AF_INET, "192.168.50.12", 30090, IPPROTO_TCP);
	struct flow fl[12], reply[8];
	char src[12][32], what[128];
	uint16_t port[12] = { 0 };
	bool distinct = true, both;
	struct kr_ct c = { 0 }, r = { 0 };
	int i, j;

	add_svc(&np, 5, 1, KR_SVC_SNAT);
	add_slot(5, 0, AF_INET, "10.244.2.7", 9090);
	for (i = 0; i < 12; i++) {
		snprintf(src[i], sizeof(src[i]), "192.168.50.%d", 110 + i);
		fl[i] = (struct flow){ AF_INET, IPPROTO_TCP, src[i], "192.168.50.12", 50000, 30090, 0x02, false };
	}
	for (i = 0; i < 8; i++) {
		snprintf(what, sizeof(what), "range of 8 ports: client %d of 8 translated", i);
		expect(what, &fl[i], "192.168.50.12", 0, "10.244.2.7", 9090, &port[i]);
		for (j = 0; j < i; j++)
			distinct &= port[j] != port[i];
		distinct &= snat_port_ok(port[i]);
		reply[i] = (struct flow){ AF_INET, IPPROTO_TCP, "10.244.2.7", "192.168.50.12", 9090, port[i], 0x12, false };
	}
	check(distinct, "the 8 flows hold the 8 ports %u-%u, each its own", SNAT_MIN, SNAT_MAX);
	expect_verdict("client 8 while all 8 flows live: dropped (it retransmits)", &fl[8], TC_ACT_SHOT);

	/* 0 answered; 2 half closed by the client; 4 reset by the endpoint; 5 closed by the endpoint first */
	expect("client 0's flow answered", &reply[0], "192.168.50.12", 30090, src[0], 50000, NULL);
	both = ct_get(&fl[0], &c) && ct_get(&reply[0], &r);
	check(both && c.state == KR_CT_REPLIED && r.state == KR_CT_REPLIED,
	      "an answer marks the flow, both ways (states %#x/%#x)", c.state, r.state);
	fl[2].tcp_flags = 0x11; /* FIN+ACK */
	expect("client 2 closes its side (FIN)", &fl[2], "192.168.50.12", port[2], "10.244.2.7", 9090, NULL);
	both = ct_get(&fl[2], &c) && ct_get(&reply[2], &r);
	check(both && c.state == KR_CT_FIN_CLIENT && r.state == KR_CT_FIN_CLIENT,
	      "the client's FIN marks the flow, both ways (states %#x/%#x)", c.state, r.state);
	reply[4].tcp_flags = 0x14; /* RST+ACK */
	expect("client 4's flow reset by the endpoint", &reply[4], "192.168.50.12", 30090, src[4], 50000, NULL);
	both = ct_get(&fl[4], &c) && ct_get(&reply[4], &r);
	check(both && (c.state & KR_CT_RST) && (r.state & KR_CT_RST),
	      "a RST marks the flow, both ways (states %#x/%#x)", c.state, r.state);
	reply[5].tcp_flags = 0x11;
	expect("the endpoint closes client 5's flow first", &reply[5], "192.168.50.12", 30090, src[5], 50000, NULL);
	fl[5].tcp_flags = 0x11;
	expect("then client 5", &fl[5], "192.168.50.12", port[5], "10.244.2.7", 9090, NULL);
	both = ct_get(&fl[5], &c) && ct_get(&reply[5], &r);
	check(both && c.state == r.state &&
	      (c.state & (KR_CT_FIN_CLIENT | KR_CT_FIN_ENDPOINT | KR_CT_ENDPOINT_FIRST)) ==
		      (KR_CT_FIN_CLIENT | KR_CT_FIN_ENDPOINT | KR_CT_ENDPOINT_FIRST),
	      "both FINs, the endpoint's first, both ways (states %#x/%#x)", c.state, r.state);

	/* ages: only client 3's flow (a SYN, 120 s: lives 60 s) is past its timeout */
	ct_age(&fl[0], 3600);
	ct_age(&reply[0], 3600);
	ct_age(&reply[1], 600);
	ct_age(&fl[2], 30);
	ct_age(&reply[2], 30);
	ct_age(&fl[3], 120);
	ct_age(&reply[3], 120);
	ct_age(&fl[4], 5);
	ct_age(&reply[4], 5);
	ct_age(&fl[5], 9);
	ct_age(&reply[5], 9);
	expect("client 8 again: translated", &fl[8], "192.168.50.12", 0, "10.244.2.7", 9090, &port[8]);
	check(port[8] == port[3],
	      "it got the port of the flow that timed out (%u; want client 3's %u), none of a live one's",
	      port[8], port[3]);
	check(!ct_get(&fl[3], &c), "the timed-out flow's forward entry is gone with its port");
	expect("client 8's reply goes to it", &reply[3], "192.168.50.12", 30090, src[8], 50000, NULL);
	expect("the established flow, idle 1 h, still translated", &reply[0], "192.168.50.12", 30090, src[0],
	       50000, NULL);
	expect_verdict("client 9: dropped (every flow lives; the endpoint's TIME_WAIT flow idle only 9 s)",
		       &fl[9], TC_ACT_SHOT);
	ct_age(&fl[5], 30);
	ct_age(&reply[5], 30);
	expect("client 9 again, the TIME_WAIT flow idle 30 s: its port given up rather than the SYN dropped",
	       &fl[9], "192.168.50.12", port[5], "10.244.2.7", 9090, NULL);
	expect_verdict("client 10: dropped (the reset flow idle 5 s lives 10 s)", &fl[10], TC_ACT_SHOT);
	ct_age(&fl[4], 11);
	ct_age(&reply[4], 11);
	expect("the reset flow past its 10 s: client 10 gets its port", &fl[10], "192.168.50.12", port[4],
	       "10.244.2.7", 9090, NULL);
	/* client 3 (its port taken, its entries gone) sends again: a new flow, and no port is free */
	fl[3].tcp_flags = 0x10;
	expect_verdict("the timed-out flow's client again: a new flow, dropped (no port free)", &fl[3],
		       TC_ACT_SHOT);
	/* client 2's half-closed flow past 120 s: client 11 gets its port */
	ct_age(&fl[2], 121);
	ct_age(&reply[2], 121);
	expect("the half-closed flow past its 120 s: client 11 gets its port", &fl[11], "192.168.50.12",
	       port[2], "10.244.2.7", 9090, NULL);
}

/*
 * A packet to an IPv6 service without endpoints: it must come back as an
 * ICMPv6 port unreachable from the service address to the sender, out of
 * the interface it came in on, quoting the packet up to 1232 bytes.
 */
static void expect_reject6(const char *what, const struct flow *in, size_t udp_data)
{
	struct frame f, out;
	const uint8_t *ip = out.b + 14, *icmp = ip + 40;
	uint32_t want_quote, plen;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	int v;

	build_sized(&f, in, udp_data);
	want_quote = f.len - 14 > 1232 ? 1232 : f.len - 14;
	v = run(&f, &out);
	plen = (uint32_t)(ip[4] << 8 | ip[5]);
	inet_ntop(AF_INET6, ip + 8, src, sizeof(src));
	inet_ntop(AF_INET6, ip + 24, dst, sizeof(dst));
	check(v == TC_ACT_REDIRECT && out.b[12] == 0x86 && out.b[13] == 0xdd && ip[0] >> 4 == 6 &&
	      ip[6] == 58 && ip[7] == 64 && plen == 8 + want_quote && out.len == 14 + 40 + plen &&
	      icmp[0] == 1 && icmp[1] == 4 && !memcmp(icmp + 4, "\0\0\0\0", 4) &&
	      !memcmp(ip + 8, f.b + 14 + 24, 16) && !memcmp(ip + 24, f.b + 14 + 8, 16) &&
	      icmp6_verify(&out) == 0 && !memcmp(icmp + 8, f.b + 14, want_quote) &&
	      !memcmp(out.b, f.b + 6, 6) && !memcmp(out.b + 6, f.b, 6),
	      "%s: an ICMPv6 port unreachable back to the client (verdict %d, %u bytes, payload %u"
	      " (want %u), hop limit %u, type %u code %u, %s -> %s, checksum %s, %s quoted, MACs swapped)",
	      what, v, out.len, plen, 8 + want_quote, ip[7], icmp[0], icmp[1], src, dst,
	      icmp6_verify(&out) ? "BAD" : "ok",
	      memcmp(icmp + 8, f.b + 14, want_quote) ? "NOT" : "the packet");
}

/* ---- ICMP errors about a translated flow ---- */

/*
 * An ICMP(v6) error from src to dst (type, code and the word after the
 * checksum: an MTU, or 0) quoting the whole IP packet of q.
 */
static void build_icmp_error(struct frame *f, int family, const char *src, const char *dst,
			     uint8_t type, uint8_t code, uint32_t word, const struct frame *q)
{
	uint8_t *ip = f->b + 14, *icmp = ip + l3len(family);
	uint32_t qlen = q->len - 14, n = 8 + qlen;
	uint16_t c;

	memset(f, 0, sizeof(*f));
	memcpy(f->b, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x03", 12);
	f->b[12] = family == AF_INET ? 0x08 : 0x86;
	f->b[13] = family == AF_INET ? 0x00 : 0xdd;
	icmp[0] = type;
	icmp[1] = code;
	icmp[4] = (uint8_t)(word >> 24);
	icmp[5] = (uint8_t)(word >> 16);
	icmp[6] = (uint8_t)(word >> 8);
	icmp[7] = (uint8_t)word;
	memcpy(icmp + 8, q->b + 14, qlen);
	if (family == AF_INET) {
		ip[0] = 0x45;
		ip[2] = (uint8_t)((20 + n) >> 8);
		ip[3] = (uint8_t)(20 + n);
		ip[8] = 64;
		ip[9] = IPPROTO_ICMP;
		inet_pton(AF_INET, src, ip + 12);
		inet_pton(AF_INET, dst, ip + 16);
		c = fold(sum16(ip, 20, 0));
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
		c = fold(sum16(icmp, n, 0));
	} else {
		ip[0] = 0x60;
		ip[4] = (uint8_t)(n >> 8);
		ip[5] = (uint8_t)n;
		ip[6] = 58;
		ip[7] = 64;
		inet_pton(AF_INET6, src, ip + 8);
		inet_pton(AF_INET6, dst, ip + 24);
		f->len = 14 + 40 + n;
		c = icmp6_verify(f); /* over a zero checksum field: the checksum itself */
	}
	icmp[2] = (uint8_t)(c >> 8);
	icmp[3] = (uint8_t)c;
	f->len = (uint32_t)(14 + l3len(family) + n);
}

/*
 * An error about a translated flow: it must come out from osrc to odst,
 * quoting the packet as its sender sent it (isrc:isport -> idst:idport),
 * with its type, code, word and length kept and every checksum right: the
 * error's IP (IPv4) and ICMP(v6) checksums, the quoted packet's IP (IPv4)
 * and TCP/UDP checksum (the whole packet is quoted, so it can be checked).
 */
static void expect_icmp(const char *what, const struct frame *err, int family, const char *osrc,
			const char *odst, const char *isrc, uint16_t isport, const char *idst,
			uint16_t idport)
{
	struct frame out, quoted;
	const uint8_t *ip = out.b + 14, *icmp = ip + l3len(family), *in = icmp + 8;
	size_t hl = l3len(family), n;
	char os[INET6_ADDRSTRLEN], od[INET6_ADDRSTRLEN];
	struct seen s;
	bool icmp_ok, ip_ok, kept;
	int v;

	v = run(err, &out);
	n = out.len - 14 - hl;
	inet_ntop(family, family == AF_INET ? ip + 12 : ip + 8, os, sizeof(os));
	inet_ntop(family, family == AF_INET ? ip + 16 : ip + 24, od, sizeof(od));
	icmp_ok = family == AF_INET ? fold(sum16(icmp, n, 0)) == 0 : icmp6_verify(&out) == 0;
	ip_ok = family != AF_INET || ip_verify(&out) == 0;
	kept = out.len == err->len && !memcmp(icmp, err->b + 14 + hl, 2) &&
	       !memcmp(icmp + 4, err->b + 14 + hl + 4, 4);
	/* the quoted packet as a frame of its own, for read_frame's checks */
	memset(&quoted, 0, sizeof(quoted));
	memcpy(quoted.b, err->b, 14);
	memcpy(quoted.b + 14, in, n - 8);
	quoted.len = (uint32_t)(14 + n - 8);
	read_frame(&quoted, family, &s);
	check(translated(v) && kept && !strcmp(os, osrc) && !strcmp(od, odst) && ip_ok && icmp_ok &&
	      !strcmp(s.src, isrc) && s.sport == isport && !strcmp(s.dst, idst) &&
	      s.dport == idport && s.ip_ok && s.l4_ok,
	      "%s: verdict %d, %s -> %s (want %s -> %s), type/code/word/length %s, checksums %s/%s,"
	      " quoting %s:%u -> %s:%u (want %s:%u -> %s:%u), its checksums %s/%s",
	      what, v, os, od, osrc, odst, kept ? "kept" : "CHANGED", ip_ok ? "ok" : "BAD",
	      icmp_ok ? "ok" : "BAD", s.src, s.sport, s.dst, s.dport, isrc, isport, idst, idport,
	      s.ip_ok ? "ok" : "BAD", s.l4_ok ? "ok" : "BAD");
}

/*
 * An ICMP error (from -> to: type, code, word) quoting a packet as the tc
 * program sent it on (the flows of main's steps 3, 4 and 8), and what must
 * come out: the error from osrc to odst quoting isrc:isport -> idst:idport;
 * osrc NULL: the error passes untouched.
 */
/* Ports in icmp_cases that stand for the SNAT port the tc program picked for a flow of main's steps. */
enum { SNAT_OF_UDP = 1, SNAT_OF_V6 = 2 };

struct icmp_case {
	const char *what;
	struct flow quoted;
	const char *from, *to;
	uint8_t type, code;
	uint32_t word;
	const char *osrc, *odst, *isrc;
	uint16_t isport;
	const char *idst;
	uint16_t idport;
};

static const struct icmp_case icmp_cases[] = {
	{ "the endpoint's port unreachable about a UDP NodePort flow (SNAT): back to the client, from the NodePort",
	  { AF_INET, IPPROTO_UDP, "192.168.50.12", "10.244.2.5", SNAT_OF_UDP, 8080, 0, false },
	  "10.244.2.5", "192.168.50.12", 3, 3, 0,
	  "192.168.50.12", "192.168.50.100", "192.168.50.100", 40100, "192.168.50.12", 30080 },
	{ "a router's fragmentation needed (MTU 1400) about an ETP Local TCP flow: the quoted segment put back, from the LB IP",
	  { AF_INET, IPPROTO_TCP, "192.168.50.100", "10.244.1.5", 40001, 8080, 0x10, false },
	  "10.244.1.1", "192.168.50.100", 3, 4, 1400,
	  "198.51.100.9", "192.168.50.100", "192.168.50.100", 40001, "198.51.100.9", 80 },
	{ "the client's port unreachable about a reply: on to the endpoint, from the SNAT address",
	  { AF_INET, IPPROTO_UDP, "192.168.50.12", "192.168.50.100", 30080, 40100, 0, false },
	  "192.168.50.100", "192.168.50.12", 3, 3, 0,
	  "192.168.50.12", "10.244.2.5", "10.244.2.5", 8080, "192.168.50.12", SNAT_OF_UDP },
	{ "IPv6: the endpoint's packet too big (MTU 1280) about a NodePort flow: back to the client, from the NodePort",
	  { AF_INET6, IPPROTO_TCP, "fd00:50::12", "fd00:244:2::5", SNAT_OF_V6, 8080, 0x10, false },
	  "fd00:244:2::5", "fd00:50::12", 2, 0, 1280,
	  "fd00:50::12", "fd00:50::100", "fd00:50::100", 40006, "fd00:50::12", 30080 },
	{ "IPv6: the client's destination unreachable about a reply: on to the endpoint",
	  { AF_INET6, IPPROTO_TCP, "fd00:50::12", "fd00:50::100", 30080, 40006, 0x12, false },
	  "fd00:50::100", "fd00:50::12", 1, 1, 0,
	  "fd00:50::12", "fd00:244:2::5", "fd00:244:2::5", 8080, "fd00:50::12", SNAT_OF_V6 },
	{ "an ICMP error about no translated flow",
	  { AF_INET, IPPROTO_UDP, "192.168.50.12", "10.244.2.5", 40999, 8080, 0, false },
	  "10.244.2.5", "192.168.50.12", 3, 3, 0, NULL, NULL, NULL, 0, NULL, 0 },
	{ "an ICMP error not addressed to the quoted packet's source",
	  { AF_INET, IPPROTO_UDP, "192.168.50.12", "10.244.2.5", SNAT_OF_UDP, 8080, 0, false },
	  "10.244.2.5", "192.168.50.99", 3, 3, 0, NULL, NULL, NULL, 0, NULL, 0 },
};

/* port, or the SNAT port it stands for (SNAT_OF_*) */
static uint16_t snat_of(uint16_t port, uint16_t udp, uint16_t v6)
{
	return port == SNAT_OF_UDP ? udp : port == SNAT_OF_V6 ? v6 : port;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct kr_svc_key np, np_udp, lb_local, lbsr, drop, empty, np6, empty6, empty6_udp;
	uint16_t sport1 = 0, sport2 = 0, sport_udp = 0, sport6 = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: tc_nat_run OBJECT DEVICE\n");
		return 2;
	}
	ifindex = (int)if_nametoindex(argv[2]);
	if (!ifindex) {
		fprintf(stderr, "tc_nat_run: no device %s\n", argv[2]);
		return 1;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (obj) {
		set_rodata_u16(obj, "snat_port_min", SNAT_MIN);
		set_rodata_u16(obj, "snat_port_max", SNAT_MAX);
	}
	if (!obj || bpf_object__load(obj) < 0) {
		fprintf(stderr, "tc_nat_run: loading %s failed\n", argv[1]);
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, "kr_tc_ingress");
	prog_fd = bpf_program__fd(prog);
	svc_fd = bpf_object__find_map_fd_by_name(obj, "kr_services");
	slot_fd = bpf_object__find_map_fd_by_name(obj, "kr_slots");
	range_fd = bpf_object__find_map_fd_by_name(obj, "kr_src_ranges");
	ct_fd = bpf_object__find_map_fd_by_name(obj, "kr_ct");

	/* NodePort 30080/tcp, ETP Cluster: one endpoint on another node, SNAT */
	np = svc_key(AF_INET, "192.168.50.12", 30080, IPPROTO_TCP);
	add_svc(&np, 1, 1, KR_SVC_SNAT);
	add_slot(1, 0, AF_INET, "10.244.2.5", 8080);
	/* the same over UDP */
	np_udp = svc_key(AF_INET, "192.168.50.12", 30080, IPPROTO_UDP);
	add_svc(&np_udp, 3, 1, KR_SVC_SNAT);
	add_slot(3, 0, AF_INET, "10.244.2.5", 8080);
	/* LB IP, ETP Local: the local endpoint, no SNAT */
	lb_local = svc_key(AF_INET, "198.51.100.9", 80, IPPROTO_TCP);
	add_svc(&lb_local, 2, 1, 0);
	add_slot(2, 0, AF_INET, "10.244.1.5", 8080);
	/* LB IP with loadBalancerSourceRanges 192.168.50.100/32 */
	lbsr = svc_key(AF_INET, "198.51.100.10", 80, IPPROTO_TCP);
	add_svc(&lbsr, 1, 1, KR_SVC_SNAT | KR_SVC_RANGES);
	add_range(&lbsr, "192.168.50.100", 32);
	/* ETP Local without a local endpoint; no endpoint at all */
	drop = svc_key(AF_INET, "192.168.50.12", 30081, IPPROTO_TCP);
	add_svc(&drop, 0, 0, KR_SVC_DROP);
	empty = svc_key(AF_INET, "192.168.50.12", 30082, IPPROTO_TCP);
	add_svc(&empty, 0, 0, KR_SVC_REJECT);
	/* an IPv6 NodePort, ETP Cluster */
	np6 = svc_key(AF_INET6, "fd00:50::12", 30080, IPPROTO_TCP);
	add_svc(&np6, 4, 1, KR_SVC_SNAT);
	add_slot(4, 0, AF_INET6, "fd00:244:2::5", 8080);
	/* an IPv6 NodePort without endpoints, TCP and UDP */
	empty6 = svc_key(AF_INET6, "fd00:50::12", 30082, IPPROTO_TCP);
	add_svc(&empty6, 0, 0, KR_SVC_REJECT);
	empty6_udp = svc_key(AF_INET6, "fd00:50::12", 30082, IPPROTO_UDP);
	add_svc(&empty6_udp, 0, 0, KR_SVC_REJECT);

	/* 1. ETP Cluster: DNAT to the endpoint, SNAT to the node with a port of the SNAT range */
	expect("NodePort, ETP Cluster: DNAT and SNAT to the node's address",
	       &(struct flow){ AF_INET, IPPROTO_TCP, "192.168.50.100", "192.168.50.12", 40000, 30080, 0x02, false },
	       "192.168.50.12", 0, "10.244.2.5", 8080, &sport1);
	check(snat_port_ok(sport1), "its SNAT port %u is in the range set, %u-%u (not the client's 40000,"
	      " no port of the node's ephemeral range)", sport1, SNAT_MIN, SNAT_MAX);
	expect("the flow's next packet: the same translation",
	       &(struct flow){ AF_INET, IPPROTO_TCP, "192.168.50.100", "192.168.50.12", 40000, 30080, 0x10, false },
	       "192.168.50.12", sport1, "10.244.2.5", 8080, NULL);
	expect("the endpoint's reply: back to the client, from the NodePort",
	       &(struct flow){ AF_INET, IPPROTO_TCP, "10.244.2.5", "192.168.50.12", 8080, sport1, 0x12, false },
	       "192.168.50.12", 30080, "192.168.50.100", 40000, NULL);
	/* 2. another client with the same port: another SNAT port */
	expect("a second client on the same port: SNAT to another port",
	       &(struct flow){ AF_INET, IPPROTO_TCP, "192.168.50.101", "192.168.50.12", 40000, 30080, 0x02, false },
	       "192.168.50.12", 0, "10.244.2.5", 8080, &sport2);
	check(sport2 != sport1 && snat_port_ok(sport2),
	      "the second client's SNAT port %u is another one (the first's: %u), in %u-%u", sport2,
	      sport1, SNAT_MIN, SNAT_MAX);
	expect("its reply goes to the second client",
	       &(struct flow){ AF_INET, IPPROTO_TCP, "10.244.2.5", "192.168.50.12", 8080, sport2, 0x12, false },
	       "192.168.50.12", 30080, "192.168.50.101", 40000, NULL);
	expect("the first client's replies still go to it",
	       &(struct flow){ AF_INET, IPPROTO_TCP, "10.244.2.5", "192.168.50.12", 8080, sport1, 0x10, false },
	       "192.168.50.12", 30080, "192.168.50.100", 40000, NULL);
	/* 3. UDP, with and without a checksum */
	expect("UDP NodePort: translated, checksum valid",
	       &(struct flow){ AF_INET, IPPROTO_UDP, "192.168.50.100", "192.168.50.12", 40100, 30080, 0, false },
	       "192.168.50.12", 0, "10.244.2.5", 8080, &sport_udp);
	check(snat_port_ok(sport_udp), "UDP: the SNAT port %u is in %u-%u", sport_udp, SNAT_MIN, SNAT_MAX);
	expect("UDP reply: translated back",
	       &(struct flow){ AF_INET, IPPROTO_UDP, "10.244.2.5", "192.168.50.12", 8080, sport_udp, 0, false },
	       "192.168.50.12", 30080, "192.168.50.100", 40100, NULL);
	expect("UDP without a checksum: translated, still none",
	       &(struct flow){ AF_INET, IPPROTO_UDP, "192.168.50.100", "192.168.50.12", 40101, 30080, 0, true },
	       "192.168.50.12", 0, "10.244.2.5", 8080, NULL);
	/* 4. ETP Local: the client's address kept */
	expect("LB IP, ETP Local: DNAT only, the client's address kept",
	       &(struct flow){ AF_INET, IPPROTO_TCP, "192.168.50.100", "198.51.100.9", 40001, 80, 0x02, false },
	       "192.168.50.100", 40001, "10.244.1.5", 8080, NULL);
	expect("its reply: from the LB IP",
	       &(struct flow){ AF_INET, IPPROTO_TCP, "10.244.1.5", "192.168.50.100", 8080, 40001, 0x12, false },
	       "198.51.100.9", 80, "192.168.50.100", 40001, NULL);
	/* 5. sourceRanges */
	expect("LB IP with sourceRanges, a client inside them: translated",
	       &(struct flow){ AF_INET, IPPROTO_TCP, "192.168.50.100", "198.51.100.10", 40002, 80, 0x02, false },
	       "192.168.50.12", 0, "10.244.2.5", 8080, NULL);
	expect_verdict("LB IP with sourceRanges, a client outside them: dropped",
		       &(struct flow){ AF_INET, IPPROTO_TCP, "192.168.50.102", "198.51.100.10", 40002, 80, 0x02, false },
		       TC_ACT_SHOT);
	/* 6. drop and reject */
	expect_verdict("ETP Local without a local endpoint: dropped",
		       &(struct flow){ AF_INET, IPPROTO_TCP, "192.168.50.100", "192.168.50.12", 40003, 30081, 0x02, false },
		       TC_ACT_SHOT);
	{
		struct frame f, out;
		const uint8_t *ip = out.b + 14, *icmp = ip + 20, *quote = icmp + 8;
		struct flow fl = { AF_INET, IPPROTO_TCP, "192.168.50.100", "192.168.50.12", 40004, 30082, 0x02, false };
		char src[16], dst[16];
		int v;

		build(&f, &fl);
		v = run(&f, &out);
		inet_ntop(AF_INET, ip + 12, src, sizeof(src));
		inet_ntop(AF_INET, ip + 16, dst, sizeof(dst));
		check(v == TC_ACT_REDIRECT && out.len == 14 + 20 + 8 + 28 && ip[9] == IPPROTO_ICMP &&
		      icmp[0] == 3 && icmp[1] == 3 && !strcmp(src, "192.168.50.12") &&
		      !strcmp(dst, "192.168.50.100") && ip_verify(&out) == 0 &&
		      fold(sum16(icmp, 8 + 28, 0)) == 0 && !memcmp(quote, f.b + 14, 28) &&
		      !memcmp(out.b, f.b + 6, 6) && !memcmp(out.b + 6, f.b, 6),
		      "no endpoint: an ICMP port unreachable back to the client (verdict %d, %u bytes,"
		      " type %u code %u, %s -> %s, checksums %s/%s, the SYN quoted, MACs swapped)", v,
		      out.len, icmp[0], icmp[1], src, dst, ip_verify(&out) ? "BAD" : "ok",
		      fold(sum16(icmp, 36, 0)) ? "BAD" : "ok");
	}
	/* 7. not a service: untouched */
	{
		struct frame f, out;
		struct flow fl = { AF_INET, IPPROTO_TCP, "192.168.50.100", "192.168.50.12", 40005, 22, 0x02, false };
		int v;

		build(&f, &fl);
		v = run(&f, &out);
		check(v == TC_ACT_OK && out.len == f.len && !memcmp(out.b, f.b, f.len),
		      "a packet to no service passes untouched (verdict %d)", v);
	}
	/* 8. IPv6 */
	expect("IPv6 NodePort, ETP Cluster: DNAT and SNAT, checksum valid",
	       &(struct flow){ AF_INET6, IPPROTO_TCP, "fd00:50::100", "fd00:50::12", 40006, 30080, 0x02, false },
	       "fd00:50::12", 0, "fd00:244:2::5", 8080, &sport6);
	check(snat_port_ok(sport6), "IPv6: the SNAT port %u is in %u-%u", sport6, SNAT_MIN, SNAT_MAX);
	expect("IPv6 reply: translated back",
	       &(struct flow){ AF_INET6, IPPROTO_TCP, "fd00:244:2::5", "fd00:50::12", 8080, sport6, 0x12, false },
	       "fd00:50::12", 30080, "fd00:50::100", 40006, NULL);
	/* 8b. IPv6 reject: an ICMPv6 port unreachable quoting what fits in 1280 bytes */
	expect_reject6("IPv6 TCP SYN to a service without endpoints",
		       &(struct flow){ AF_INET6, IPPROTO_TCP, "fd00:50::100", "fd00:50::12", 40007, 30082, 0x02, false }, 0);
	expect_reject6("IPv6 UDP to a service without endpoints",
		       &(struct flow){ AF_INET6, IPPROTO_UDP, "fd00:50::100", "fd00:50::12", 40008, 30082, 0, false }, 0);
	expect_reject6("IPv6 UDP datagram of 1400 bytes: quoted up to the 1280-byte minimum MTU",
		       &(struct flow){ AF_INET6, IPPROTO_UDP, "fd00:50::100", "fd00:50::12", 40009, 30082, 0, false }, 1400);
	expect_verdict("IPv6 from a multicast source to a service without endpoints: dropped, no error",
		       &(struct flow){ AF_INET6, IPPROTO_UDP, "ff02::1", "fd00:50::12", 40010, 30082, 0, false },
		       TC_ACT_SHOT);
	/* 8c. ICMP errors about translated flows, as conntrack translates RELATED packets */
	for (size_t i = 0; i < sizeof(icmp_cases) / sizeof(icmp_cases[0]); i++) {
		struct icmp_case cc = icmp_cases[i];
		const struct icmp_case *c = &cc;
		struct frame q, e, out;
		int v;

		cc.quoted.sport = snat_of(cc.quoted.sport, sport_udp, sport6);
		cc.idport = snat_of(cc.idport, sport_udp, sport6);

		build(&q, &c->quoted);
		build_icmp_error(&e, c->quoted.family, c->from, c->to, c->type, c->code, c->word, &q);
		if (c->osrc) {
			expect_icmp(c->what, &e, c->quoted.family, c->osrc, c->odst, c->isrc, c->isport,
				    c->idst, c->idport);
			continue;
		}
		v = run(&e, &out);
		check(v == TC_ACT_OK && out.len == e.len && !memcmp(out.b, e.b, e.len),
		      "%s: passes untouched (verdict %d)", c->what, v);
	}
	/* 9. the endpoint goes: the flow's next packet moves to the slot's new endpoint */
	add_slot(1, 0, AF_INET, "10.244.2.6", 8080);
	expect("the endpoint replaced: the flow's next packet goes to the new one",
	       &(struct flow){ AF_INET, IPPROTO_TCP, "192.168.50.100", "192.168.50.12", 40000, 30080, 0x10, false },
	       "192.168.50.12", 0, "10.244.2.6", 8080, NULL);

	snat_ports_full();

	bpf_object__close(obj);
	printf("tc_nat: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
