/* SPDX-License-Identifier: Apache-2.0 */
/* The ebpf mode's tc side; see tc.h.  With loader.c, the only files that talk to libbpf. */
#include "dataplane/ebpf/tc.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/sysctl.h"
#include "core/util.h"
#include "dataplane/ebpf/loader.h"
#include "dataplane/ebpf/snat_ports.h"
#include "dataplane/ebpf/tc_nat.skel.h" /* generated: bpftool gen skeleton */

#define WHO "ebpf"
/* tcx came with Linux 6.6; the build's uapi headers (6.1) do not name it yet. */
#define KR_BPF_TCX_INGRESS 46
#define KR_BPF_LINK_TYPE_TCX 11
#define LINK_PREFIX "link-tc-"

struct ebpf_tc {
	struct tc_nat_bpf *skel;
	char *root;
	char *devices;              /* the --tc-devices list, or NULL: every interface but lo */
	unsigned *done;             /* ifindexes this process attached (or moved) */
	size_t n_done, cap_done;
};

/* A shared map: the socket programs' pinned one (their loader ran first). */
static int reuse_pinned(struct bpf_map *map, const char *root, struct diag *d)
{
	char path[PATH_MAX];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", root, bpf_map__name(map));
	fd = bpf_obj_get(path);
	if (fd < 0) {
		r = -errno;
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, WHO ": the tc program needs %s: %s", path,
			 strerror(-r));
		return r;
	}
	r = bpf_map__reuse_fd(map, fd);
	close(fd);
	return r;
}

/*
 * The SNAT ports for the program (its rodata, before loading): outside the
 * ephemeral range of the network namespace kroute runs in, read once at
 * start (snat_ports.h says why).
 */
static void snat_ports(struct tc_nat_bpf *skel, struct diag *d)
{
	const char *name = "net/ipv4/ip_local_port_range";
	unsigned lo = 32768, hi = 60999; /* the kernel's default */
	struct ebpf_snat_ports sp;
	char text[64];
	int r;

	r = sysctl_read(name, text, sizeof(text));
	if (r < 0 || ebpf_ephemeral_parse(text, &lo, &hi) < 0) {
		diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
			 WHO ": /proc/sys/%s: %s; taking the kernel's default 32768-60999 for the"
			 " node's ephemeral ports", name, r < 0 ? strerror(-r) : "not two port numbers");
		lo = 32768;
		hi = 60999;
	}
	switch (ebpf_snat_ports_pick(lo, hi, &sp)) {
	case EBPF_SNAT_ABOVE:
		break;
	case EBPF_SNAT_BELOW:
		diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
			 WHO ": the node's ephemeral ports %u-%u leave fewer than %u ports above them;"
			 " traffic from outside is masqueraded with ports %u-%u", lo, hi,
			 EBPF_SNAT_MIN_PORTS, sp.min, sp.max);
		break;
	case EBPF_SNAT_OVERLAP:
		diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
			 WHO ": the node's ephemeral ports %u-%u leave fewer than %u ports outside"
			 " them; traffic from outside is masqueraded with ports %u-%u, which the"
			 " node's own connections use too: a NodePort connection may meet one of"
			 " them in TIME_WAIT at the endpoint and be delayed (narrow"
			 " net.ipv4.ip_local_port_range)", lo, hi, EBPF_SNAT_MIN_PORTS, sp.min, sp.max);
		break;
	}
	skel->rodata->snat_port_min = (__u16)sp.min;
	skel->rodata->snat_port_max = (__u16)sp.max;
}

int ebpf_tc_open(const char *bpf_root, const char *devices, struct ebpf_tc **ret, struct diag *d)
{
	struct ebpf_tc *t = xcalloc(1, sizeof(*t));
	char path[PATH_MAX];
	int r;

	t->skel = tc_nat_bpf__open();
	if (!t->skel) {
		r = -errno;
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, WHO ": opening the tc BPF object: %s",
			 strerror(-r));
		free(t);
		return r;
	}
	r = reuse_pinned(t->skel->maps.kr_services, bpf_root, d);
	if (!r)
		r = reuse_pinned(t->skel->maps.kr_slots, bpf_root, d);
	if (r < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/kr_ct", bpf_root);
	bpf_map__set_pin_path(t->skel->maps.kr_ct, path);
	snprintf(path, sizeof(path), "%s/kr_tc_affinity", bpf_root);
	bpf_map__set_pin_path(t->skel->maps.kr_tc_affinity, path);
	snat_ports(t->skel, d);
	r = tc_nat_bpf__load(t->skel);
	if (r < 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
			 WHO ": the kernel refused the tc program: %s; traffic from outside the node"
			 " needs bpf_fib_lookup's BPF_FIB_LOOKUP_SRC (Linux 6.7 or later) and tcx"
			 " (6.6), or a map pinned under %s by another version of kroute (kroute"
			 " cleanup removes it)", strerror(-r), bpf_root);
		goto fail;
	}
	t->root = xstrdup(bpf_root);
	t->devices = devices ? xstrdup(devices) : NULL;
	*ret = t;
	return 0;
fail:
	tc_nat_bpf__destroy(t->skel);
	free(t);
	return r;
}

void ebpf_tc_close(struct ebpf_tc *t)
{
	if (!t)
		return;
	tc_nat_bpf__destroy(t->skel); /* the pins keep maps and links */
	free(t->root);
	free(t->devices);
	free(t->done);
	free(t);
}

static bool is_done(const struct ebpf_tc *t, unsigned ifindex)
{
	for (size_t i = 0; i < t->n_done; i++)
		if (t->done[i] == ifindex)
			return true;
	return false;
}

/* name is in the comma-separated list. */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && !memcmp(p, name, n))
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

/* A pinned tcx link of this interface (a pin of a vanished one is removed). */
static bool same_interface(const struct bpf_link_info *info, const void *ifindex)
{
	/* a tcx link's info is {ifindex, attach_type}, laid out as netns's {netns_ino, attach_type} */
	return info->type == KR_BPF_LINK_TYPE_TCX && info->netns.netns_ino == *(const unsigned *)ifindex;
}

/*
 * The tcx link of ifindex to the program: a link pinned by an earlier run
 * gets the new program in place; else a new link, pinned.
 */
static int attach_one(struct ebpf_tc *t, unsigned ifindex, const char *name, struct diag *d)
{
	int prog = bpf_program__fd(t->skel->progs.kr_tc_ingress);
	char path[PATH_MAX];
	int fd, r;

	snprintf(path, sizeof(path), "%s/" LINK_PREFIX "%u", t->root, ifindex);
	r = ebpf_pinned_link_reuse(path, prog, same_interface, &ifindex);
	if (r < 0)
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, WHO ": replacing the tc program of %s: %s",
			 name, strerror(-r));
	if (r)
		return r < 0 ? r : 0;
	fd = bpf_link_create(prog, (int)ifindex, KR_BPF_TCX_INGRESS, NULL);
	if (fd < 0) {
		r = -errno;
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
			 WHO ": attaching the tc program to %s (tcx ingress): %s%s", name, strerror(-r),
			 r == -EINVAL ? " (tcx needs Linux 6.6 or later)" : "");
		return r;
	}
	r = bpf_obj_pin(fd, path);
	if (r < 0) {
		r = -errno;
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, WHO ": pinning %s: %s", path,
			 strerror(-r));
	}
	close(fd); /* the pin holds it (on failure, closing detaches it) */
	return r;
}

/* Pins of links whose interface is gone (a deleted pod's veth). */
static void remove_stale(const struct ebpf_tc *t, const struct if_nameindex *ifs)
{
	DIR *dir = opendir(t->root);
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		unsigned long ifindex;
		char *end;
		bool found = false;

		if (strncmp(de->d_name, LINK_PREFIX, strlen(LINK_PREFIX)))
			continue;
		ifindex = strtoul(de->d_name + strlen(LINK_PREFIX), &end, 10);
		if (*end)
			continue;
		for (const struct if_nameindex *i = ifs; i->if_index; i++)
			found |= i->if_index == ifindex;
		if (!found)
			unlinkat(dirfd(dir), de->d_name, 0);
	}
	closedir(dir);
}

int ebpf_tc_check_devices(const char *devices, struct diag *d)
{
	char *list = xstrdup(devices), *save = NULL;
	int r = 0;

	for (char *n = strtok_r(list, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
		if (!if_nametoindex(n)) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
				 WHO ": --tc-devices: no interface %s here", n);
			r = -ENODEV;
		}
	}
	free(list);
	return r;
}

int ebpf_tc_attach(struct ebpf_tc *t, struct diag *d)
{
	struct if_nameindex *ifs = if_nameindex();
	int r = 0;

	if (!ifs) {
		r = -errno;
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, WHO ": listing interfaces: %s",
			 strerror(-r));
		return r;
	}
	for (struct if_nameindex *i = ifs; i->if_index; i++) {
		if (is_done(t, i->if_index))
			continue;
		if (t->devices ? !listed(t->devices, i->if_name) : !strcmp(i->if_name, "lo"))
			continue;
		r = attach_one(t, i->if_index, i->if_name, d);
		if (r == -ENODEV || r == -ENXIO) {
			r = 0; /* gone meanwhile */
			continue;
		}
		if (r < 0)
			goto out;
		VEC_PUSH(t->done, t->n_done, t->cap_done, i->if_index);
	}
	remove_stale(t, ifs);
out:
	if_freenameindex(ifs);
	return r;
}

int ebpf_tc_ranges(struct ebpf_tc *t, const struct ebpf_plan *from, const struct ebpf_plan *to,
		   bool add, size_t *written, struct diag *d)
{
	/* add: to's keys missing in from; delete: from's keys missing in to */
	const struct ebpf_plan *have = add ? to : from, *other = add ? from : to;
	int fd = bpf_map__fd(t->skel->maps.kr_src_ranges);
	const struct kr_range_key **done = xcalloc(have->n_ranges + 1, sizeof(*done));
	size_t n_done = 0, j = 0;
	uint32_t one = 1;
	int r = 0;

	for (size_t i = 0; i < have->n_ranges; i++) {
		int c = 1;

		while (j < other->n_ranges && (c = ebpf_range_cmp(&other->ranges[j], &have->ranges[i])) < 0)
			j++;
		if (j < other->n_ranges && !c)
			continue;
		r = add ? bpf_map_update_elem(fd, &have->ranges[i], &one, BPF_ANY)
			: bpf_map_delete_elem(fd, &have->ranges[i]);
		if (r < 0 && !add && errno == ENOENT)
			r = 0; /* gone already */
		if (r < 0) {
			r = -errno;
			break;
		}
		done[n_done++] = &have->ranges[i];
	}
	if (r < 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
			 WHO ": writing the source ranges map: %s%s; the changes of this sync were undone",
			 strerror(-r), r == -E2BIG || r == -ENOMEM ? " (the map is full)" : "");
		while (n_done--)
			if (add)
				bpf_map_delete_elem(fd, done[n_done]);
			else
				bpf_map_update_elem(fd, done[n_done], &one, BPF_ANY);
	} else {
		*written += n_done;
	}
	free(done);
	return r;
}

int ebpf_tc_read_ranges(struct ebpf_tc *t, struct ebpf_plan *p, struct diag *d)
{
	int fd = bpf_map__fd(t->skel->maps.kr_src_ranges);
	struct kr_range_key k, next;
	bool first = true;

	/* an LPM trie has no batch lookup: walked key by key */
	while (!bpf_map_get_next_key(fd, first ? NULL : &k, &next)) {
		VEC_PUSH(p->ranges, p->n_ranges, p->cap_ranges, next);
		k = next;
		first = false;
	}
	if (errno != ENOENT) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, WHO ": reading the source ranges back: %s",
			 strerror(errno));
		return -errno;
	}
	if (p->n_ranges)
		qsort(p->ranges, p->n_ranges, sizeof(*p->ranges), ebpf_range_cmp);
	return 0;
}
