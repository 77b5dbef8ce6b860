/* SPDX-License-Identifier: Apache-2.0 */
/* Connected UDP sockets to a removed endpoint, aborted; see udp_abort.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* setns */
#endif
#include "dataplane/ebpf/udp_abort.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/util.h"
#include "dataplane/ebpf/udp_abort.skel.h" /* generated: bpftool gen skeleton */

#define WHO "ebpf"

struct ebpf_udp_abort {
	struct udp_abort_bpf *skel;
	struct bpf_link *iter;
	char *cgroup_root;
	int gone_fd;
};

struct ebpf_udp_abort *ebpf_udp_abort_open(const char *bpf_root, const char *cgroup_root,
					   struct diag *d)
{
	struct ebpf_udp_abort *ua = xcalloc(1, sizeof(*ua));
	char path[PATH_MAX];
	int r;

	ua->skel = udp_abort_bpf__open();
	if (!ua->skel) {
		r = -errno;
		goto fail;
	}
	/* the socket programs' kr_revnat (pinned), not a map of its own */
	snprintf(path, sizeof(path), "%s/kr_revnat", bpf_root);
	bpf_map__set_pin_path(ua->skel->maps.kr_revnat, path);
	r = udp_abort_bpf__load(ua->skel);
	if (r < 0)
		goto fail;
	ua->iter = bpf_program__attach_iter(ua->skel->progs.kr_udp_abort, NULL);
	if (!ua->iter) {
		r = -errno;
		goto fail;
	}
	ua->gone_fd = bpf_map__fd(ua->skel->maps.kr_gone);
	ua->cgroup_root = xstrdup(cgroup_root);
	return ua;
fail:
	diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
		 WHO ": cannot load the UDP socket iterator (%s): this kernel cannot abort sockets"
		 " from BPF (bpf_sock_destroy and iter/udp: Linux 6.5 or later), so a connected UDP"
		 " socket keeps sending to its endpoint after the endpoint is removed, until the"
		 " application connects again", strerror(-r));
	ebpf_udp_abort_close(ua);
	return NULL;
}

void ebpf_udp_abort_close(struct ebpf_udp_abort *ua)
{
	if (!ua)
		return;
	bpf_link__destroy(ua->iter);
	udp_abort_bpf__destroy(ua->skel);
	free(ua->cgroup_root);
	free(ua);
}

/* The network namespaces to visit: open descriptors, each namespace once. */
struct netns {
	int fd;
	ino_t ino;
};

struct netns_set {
	struct netns *v;
	size_t n, cap;
};

static void netns_add(struct netns_set *s, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return; /* the process exited */
	if (fstat(fd, &st) < 0) {
		close(fd);
		return;
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].ino == st.st_ino) {
			close(fd);
			return;
		}
	VEC_PUSH(s->v, s->n, s->cap, ((struct netns){ .fd = fd, .ino = st.st_ino }));
}

/* Every process of the cgroup dir and below: its network namespace. */
static void netns_of_cgroup(struct netns_set *s, const char *dir, int depth)
{
	char path[PATH_MAX], line[32];
	struct dirent *de;
	DIR *dp;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(path, sizeof(path), "/proc/%s/ns/net", line);
			netns_add(s, path);
		}
		fclose(f);
	}
	if (depth >= 64 || !(dp = opendir(dir)))
		return;
	while ((de = readdir(dp))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path))
			netns_of_cgroup(s, path, depth + 1);
	}
	closedir(dp);
}

struct walk {
	struct netns_set *ns;
	int link_fd;
	int err;      /* the first failure, negative errno */
	size_t failed;
};

/* Runs the iterator once in each namespace (in a thread of its own: it setns()es). */
static void *walk_thread(void *arg)
{
	struct walk *w = arg;
	char buf[64];

	for (size_t i = 0; i < w->ns->n; i++) {
		int fd;
		ssize_t r;

		if (setns(w->ns->v[i].fd, CLONE_NEWNET) < 0 ||
		    (fd = bpf_iter_create(w->link_fd)) < 0) {
			w->err = w->err ? w->err : -errno;
			w->failed++;
			continue;
		}
		while ((r = read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
			;
		if (r < 0) {
			w->err = w->err ? w->err : -errno;
			w->failed++;
		}
		close(fd);
	}
	return NULL;
}

long ebpf_udp_abort_run(struct ebpf_udp_abort *ua, const struct kr_backend *gone, size_t n,
			struct diag *d)
{
	struct netns_set ns = { 0 };
	struct walk w = { .ns = &ns, .link_fd = bpf_link__fd(ua->iter) };
	uint64_t before = ua->skel->bss->aborted;
	uint8_t *ones;
	uint32_t count;
	pthread_t t;
	int r;

	if (!n)
		return 0;
	if (n > KR_MAX_GONE)
		n = KR_MAX_GONE; /* the rest: their sockets wait for the application */
	ones = xcalloc(n, 1);
	memset(ones, 1, n);
	count = (uint32_t)n;
	r = bpf_map_update_batch(ua->gone_fd, gone, ones, &count, NULL);
	free(ones);
	if (r < 0)
		goto out;
	netns_add(&ns, "/proc/thread-self/ns/net");
	netns_of_cgroup(&ns, ua->cgroup_root, 0);
	r = -pthread_create(&t, NULL, walk_thread, &w);
	if (!r)
		pthread_join(t, NULL);
	for (size_t i = 0; i < ns.n; i++)
		close(ns.v[i].fd);
	free(ns.v);
	if (!r && w.failed)
		diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
			 WHO ": aborting connected UDP sockets of removed endpoints: %zu of %zu network"
			 " namespaces not visited (%s)", w.failed, ns.n, strerror(-w.err));
out:
	count = (uint32_t)n;
	bpf_map_delete_batch(ua->gone_fd, gone, &count, NULL);
	if (r < 0) {
		diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
			 WHO ": aborting connected UDP sockets of removed endpoints: %s", strerror(-r));
		return r;
	}
	return (long)(ua->skel->bss->aborted - before);
}
