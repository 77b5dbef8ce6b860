/* SPDX-License-Identifier: Apache-2.0 */
/* The ebpf mode's kernel side; see loader.h.  The only file that talks to libbpf. */
#include "dataplane/ebpf/loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/util.h"
#include "dataplane/ebpf/sock_lb.skel.h" /* generated: bpftool gen skeleton */

#define WHO "ebpf"
#define BPF_FS_MAGIC_ 0xcafe4a11
#define CGROUP2_MAGIC_ 0x63677270

struct ebpf_kernel {
	struct sock_lb_bpf *skel;
	int services_fd, slots_fd, state_fd;
	uint32_t drop_services;     /* as last written to kr_state */
	bool drop_known;
};

/* libbpf's messages: the last warning kept, for the error a failed load reports. */
static char libbpf_last[1024];

/* fmt is libbpf's own format string, given with its arguments (clang's -Wformat-nonliteral). */
__attribute__((format(printf, 2, 0)))
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[sizeof(libbpf_last)];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	if (n)
		memcpy(libbpf_last, line, n + 1);
	return 0;
}

static void err(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void err(struct diag *d, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, WHO ": %s", msg);
}

/* root, or its nearest existing ancestor, is on a bpffs (created by bpf_root_make, once all is checked). */
static int bpf_root_ready(const char *root, struct diag *d)
{
	char p[PATH_MAX];
	struct statfs fs;
	char *slash;

	if (snprintf(p, sizeof(p), "%s", root) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	while (statfs(p, &fs) < 0) {
		slash = strrchr(p, '/');
		if (errno != ENOENT || !slash || slash == p) {
			err(d, "--bpf-root %s: %s", root, strerror(errno));
			return -errno;
		}
		*slash = '\0';
	}
	if ((unsigned long)fs.f_type != BPF_FS_MAGIC_) {
		err(d, "--bpf-root %s: %s is not a BPF filesystem (mount one: mount -t bpf bpf %s)",
		    root, p, p);
		return -ENOTSUP;
	}
	return 0;
}

static int bpf_root_make(const char *root, struct diag *d)
{
	if (mkdir(root, 0700) < 0 && errno != EEXIST) {
		err(d, "--bpf-root %s: %s", root, strerror(errno));
		return -errno;
	}
	return 0;
}

static int cgroup_open(const char *path, struct diag *d, uint64_t *ret_id)
{
	struct statfs fs;
	struct stat st;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		err(d, "--cgroup-root %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstatfs(fd, &fs) < 0 || (unsigned long)fs.f_type != CGROUP2_MAGIC_ || fstat(fd, &st) < 0) {
		err(d, "--cgroup-root %s: not a cgroup v2 directory (the socket programs attach to"
		    " a cgroup2 hierarchy: mount -t cgroup2 none DIR)", path);
		close(fd);
		return -ENOTSUP;
	}
	*ret_id = st.st_ino; /* a cgroup2 directory's inode number is the cgroup's id */
	close(fd);
	return 0;
}

int ebpf_pinned_link_reuse(const char *path, int prog_fd,
			   bool (*keep)(const struct bpf_link_info *info, const void *arg), const void *arg)
{
	struct bpf_link_info info;
	uint32_t len = sizeof(info);
	int fd = bpf_obj_get(path), r;

	if (fd < 0)
		return 0;
	memset(&info, 0, sizeof(info));
	r = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (!r && keep(&info, arg)) {
		r = bpf_link_update(fd, prog_fd, NULL);
		close(fd);
		return r < 0 ? r : 1;
	}
	close(fd);
	unlink(path);
	return 0;
}

static bool same_cgroup(const struct bpf_link_info *info, const void *cg_id)
{
	return info->type == BPF_LINK_TYPE_CGROUP && info->cgroup.cgroup_id == *(const uint64_t *)cg_id;
}

/*
 * Attaches prog to the cgroup: a link pinned by an earlier run to the same
 * cgroup gets the new program in place (bpf_link_update); one to another
 * cgroup is unpinned (detached) first.
 */
static int attach(struct bpf_program *prog, const char *root, const char *cgroup, uint64_t cg_id,
		  struct diag *d)
{
	char path[PATH_MAX];
	struct bpf_link *link;
	int fd, r;

	snprintf(path, sizeof(path), "%s/link-%s", root, bpf_program__name(prog));
	r = ebpf_pinned_link_reuse(path, bpf_program__fd(prog), same_cgroup, &cg_id);
	if (r < 0)
		err(d, "replacing the program of %s: %s", path, strerror(-r));
	if (r)
		return r < 0 ? r : 0;
	fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	link = bpf_program__attach_cgroup(prog, fd);
	close(fd);
	if (!link) {
		r = -errno;
		err(d, "attaching %s to %s: %s (%s)", bpf_program__name(prog), cgroup, strerror(-r),
		    libbpf_last);
		return r;
	}
	r = bpf_link__pin(link, path);
	bpf_link__destroy(link); /* the pin holds it */
	if (r < 0)
		err(d, "pinning %s: %s", path, strerror(-r));
	return r;
}

int ebpf_kernel_open(const char *bpf_root, const char *cgroup_root, unsigned max_services,
		     struct ebpf_kernel **ret, struct diag *d)
{
	struct ebpf_kernel *k;
	struct bpf_program *prog;
	struct bpf_map *map;
	uint64_t cg_id = 0;
	int r;

	libbpf_set_print(libbpf_print);
	r = bpf_root_ready(bpf_root, d);
	if (r < 0)
		return r;
	r = cgroup_open(cgroup_root, d, &cg_id);
	if (r < 0)
		return r;
	r = bpf_root_make(bpf_root, d);
	if (r < 0)
		return r;
	k = xcalloc(1, sizeof(*k));
	k->skel = sock_lb_bpf__open();
	if (!k->skel) {
		r = -errno;
		err(d, "opening the BPF object: %s", strerror(-r));
		free(k);
		return r;
	}
	bpf_object__for_each_map(map, k->skel->obj) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", bpf_root, bpf_map__name(map));
		bpf_map__set_pin_path(map, path);
	}
	if (max_services)
		bpf_map__set_max_entries(k->skel->maps.kr_services, max_services);
	libbpf_last[0] = '\0';
	r = sock_lb_bpf__load(k->skel);
	if (r < 0) {
		err(d, "the kernel refused the socket programs: %s (%s); the mode needs BPF with"
		    " cgroup v2 sock_addr hooks (connect, sendmsg, recvmsg, getpeername: Linux 5.8"
		    " or later), bpf_set_retval (5.18) and CAP_BPF/CAP_NET_ADMIN, or a map pinned"
		    " under %s by another version of kroute (kroute cleanup removes it)",
		    strerror(-r), libbpf_last[0] ? libbpf_last : "no detail", bpf_root);
		sock_lb_bpf__destroy(k->skel);
		free(k);
		return r;
	}
	bpf_object__for_each_program(prog, k->skel->obj) {
		r = attach(prog, bpf_root, cgroup_root, cg_id, d);
		if (r < 0) {
			sock_lb_bpf__destroy(k->skel);
			free(k);
			return r;
		}
	}
	k->services_fd = bpf_map__fd(k->skel->maps.kr_services);
	k->slots_fd = bpf_map__fd(k->skel->maps.kr_slots);
	k->state_fd = bpf_map__fd(k->skel->maps.kr_state);
	*ret = k;
	return 0;
}

void ebpf_kernel_close(struct ebpf_kernel *k)
{
	if (!k)
		return;
	sock_lb_bpf__destroy(k->skel); /* the pins keep maps and links */
	free(k);
}

/* One batch of updates (values non-NULL) or deletes; on a failure *done says how many went in. */
static int batch(int fd, bool update, const void *keys, const void *values, size_t n, size_t *done)
{
	uint32_t count = (uint32_t)n;
	int r;

	*done = 0;
	if (!n)
		return 0;
	r = update ? bpf_map_update_batch(fd, keys, values, &count, NULL)
		   : bpf_map_delete_batch(fd, keys, &count, NULL);
	*done = r < 0 ? count : n;
	return r;
}

/* An undo record: the key and what to put back (or delete). */
struct undo {
	int fd;
	size_t ksize, vsize;
	uint8_t key[sizeof(struct kr_svc_key)];
	uint8_t val[sizeof(struct kr_backend)];
	bool restore; /* else delete */
};

struct undo_log {
	struct undo *v;
	size_t n, cap;
};

static void undo_push(struct undo_log *u, int fd, const void *key, size_t ksize, const void *old,
		      size_t vsize)
{
	struct undo x = { .fd = fd, .ksize = ksize, .vsize = vsize, .restore = old != NULL };

	memcpy(x.key, key, ksize);
	if (old)
		memcpy(x.val, old, vsize);
	VEC_PUSH(u->v, u->n, u->cap, x);
}

static void undo_run(struct undo_log *u)
{
	while (u->n) {
		struct undo *x = &u->v[--u->n];

		if (x->restore)
			bpf_map_update_elem(x->fd, x->key, x->val, BPF_ANY);
		else
			bpf_map_delete_elem(x->fd, x->key);
	}
}

static int apply_slots(struct ebpf_kernel *k, const struct ebpf_slot_op *ops, size_t n, bool update,
		       struct undo_log *u, size_t *written)
{
	struct kr_slot_key *keys = xcalloc(n ? n : 1, sizeof(*keys));
	struct kr_backend *vals = xcalloc(n ? n : 1, sizeof(*vals));
	size_t done;
	int r;

	for (size_t i = 0; i < n; i++) {
		keys[i] = ops[i].e.k;
		vals[i] = ops[i].e.v;
	}
	r = batch(k->slots_fd, update, keys, update ? vals : NULL, n, &done);
	for (size_t i = 0; i < done; i++)
		undo_push(u, k->slots_fd, &keys[i], sizeof(keys[i]),
			  ops[i].had_old ? &ops[i].old : NULL, sizeof(struct kr_backend));
	*written += done;
	free(keys);
	free(vals);
	return r;
}

static int apply_svcs(struct ebpf_kernel *k, const struct ebpf_svc_op *ops, size_t n, bool update,
		      struct undo_log *u, size_t *written)
{
	struct kr_svc_key *keys = xcalloc(n ? n : 1, sizeof(*keys));
	struct kr_svc *vals = xcalloc(n ? n : 1, sizeof(*vals));
	const struct ebpf_svc_op **src = xcalloc(n ? n : 1, sizeof(*src));
	size_t m = 0, done;
	int r;

	for (size_t i = 0; i < n; i++) {
		if ((ops[i].kind == EBPF_OP_UPDATE) != update)
			continue;
		src[m] = &ops[i];
		keys[m] = ops[i].e.k;
		vals[m++] = ops[i].e.v;
	}
	r = batch(k->services_fd, update, keys, update ? vals : NULL, m, &done);
	for (size_t i = 0; i < done; i++)
		undo_push(u, k->services_fd, &keys[i], sizeof(keys[i]),
			  src[i]->had_old ? &src[i]->old : NULL, sizeof(struct kr_svc));
	*written += done;
	free(keys);
	free(vals);
	free(src);
	return r;
}

int ebpf_kernel_apply(struct ebpf_kernel *k, const struct ebpf_diff *df, uint32_t drop_services,
		      int (*between)(void *arg, struct diag *d), void *arg, size_t *ret_ops,
		      struct diag *d)
{
	struct undo_log u = { 0 };
	struct kr_state st = { .drop_services = drop_services };
	uint32_t zero = 0;
	const char *what;
	int r;

	*ret_ops = 0;
	/* more drop services first: the filter must look before a drop entry exists */
	if (!k->drop_known || drop_services > k->drop_services) {
		what = "the state map";
		r = bpf_map_update_elem(k->state_fd, &zero, &st, BPF_ANY);
		if (r < 0)
			goto fail;
	}
	what = "the slots map";
	r = apply_slots(k, df->slot_up, df->n_slot_up, true, &u, ret_ops);
	if (r < 0)
		goto fail;
	if (between && (r = between(arg, d)) < 0)
		goto undo; /* it said why */
	what = "the services map";
	r = apply_svcs(k, df->svc, df->n_svc, true, &u, ret_ops);
	if (r < 0)
		goto fail;
	r = apply_svcs(k, df->svc, df->n_svc, false, &u, ret_ops);
	if (r < 0)
		goto fail;
	what = "the slots map";
	r = apply_slots(k, df->slot_del, df->n_slot_del, false, &u, ret_ops);
	if (r < 0)
		goto fail;
	if (k->drop_known && drop_services < k->drop_services) {
		what = "the state map";
		r = bpf_map_update_elem(k->state_fd, &zero, &st, BPF_ANY);
		if (r < 0)
			goto fail;
	}
	k->drop_services = drop_services;
	k->drop_known = true;
	free(u.v);
	return 0;
fail:
	err(d, "writing %s: %s%s; the changes of this sync were undone", what, strerror(-r),
	    r == -E2BIG || r == -ENOMEM ? " (the map is full)" : "");
undo:
	undo_run(&u);
	free(u.v);
	k->drop_known = false; /* written again next time */
	return r;
}

/* Every entry of a hash map, in batches. */
static int read_map(int fd, size_t ksize, size_t vsize, void **ret_keys, void **ret_vals, size_t *ret_n)
{
	size_t cap = 4096, n = 0;
	uint8_t *keys = xcalloc(cap, ksize), *vals = xcalloc(cap, vsize);
	uint64_t in = 0, out = 0;
	bool first = true;
	int r;

	for (;;) {
		uint32_t count = 1024;

		if (n + count > cap) {
			cap *= 2;
			keys = xrealloc(keys, cap * ksize);
			vals = xrealloc(vals, cap * vsize);
		}
		r = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys + n * ksize,
					 vals + n * vsize, &count, NULL);
		first = false;
		if (r < 0 && r != -ENOENT) {
			free(keys);
			free(vals);
			return r;
		}
		n += count;
		if (r == -ENOENT)
			break;
		in = out;
	}
	*ret_keys = keys;
	*ret_vals = vals;
	*ret_n = n;
	return 0;
}

int ebpf_kernel_read(struct ebpf_kernel *k, struct ebpf_plan *ret, struct diag *d)
{
	void *keys, *vals;
	size_t n;
	int r;

	ebpf_plan_init(ret);
	r = read_map(k->services_fd, sizeof(struct kr_svc_key), sizeof(struct kr_svc), &keys, &vals, &n);
	if (r < 0)
		goto fail;
	ret->svcs = xcalloc(n ? n : 1, sizeof(*ret->svcs));
	for (size_t i = 0; i < n; i++) {
		ret->svcs[i].k = ((struct kr_svc_key *)keys)[i];
		ret->svcs[i].v = ((struct kr_svc *)vals)[i];
		ret->drop_services += ret->svcs[i].k.scope == KR_SCOPE_SOCKET &&
				      (ret->svcs[i].v.flags & KR_SVC_DROP);
	}
	ret->n_svcs = ret->cap_svcs = n;
	free(keys);
	free(vals);
	r = read_map(k->slots_fd, sizeof(struct kr_slot_key), sizeof(struct kr_backend), &keys, &vals, &n);
	if (r < 0)
		goto fail;
	ret->slots = xcalloc(n ? n : 1, sizeof(*ret->slots));
	for (size_t i = 0; i < n; i++) {
		ret->slots[i].k = ((struct kr_slot_key *)keys)[i];
		ret->slots[i].v = ((struct kr_backend *)vals)[i];
	}
	ret->n_slots = ret->cap_slots = n;
	free(keys);
	free(vals);
	ebpf_plan_sort(ret);
	return 0;
fail:
	err(d, "reading the maps back: %s", strerror(-r));
	ebpf_plan_done(ret);
	return r;
}

int ebpf_kernel_cleanup(const char *bpf_root, struct diag *d)
{
	DIR *dir = opendir(bpf_root);
	struct dirent *de;
	int r = 0;

	if (!dir)
		return errno == ENOENT ? 0 : (err(d, "--bpf-root %s: %s", bpf_root, strerror(errno)), -errno);
	/* links first: unpinning the last reference detaches the program */
	for (int pass = 0; pass < 2; pass++) {
		rewinddir(dir);
		while ((de = readdir(dir))) {
			bool link = !strncmp(de->d_name, "link-", 5);

			if (de->d_name[0] == '.' || link != (pass == 0))
				continue;
			if (pass == 1 && strncmp(de->d_name, "kr_", 3))
				continue; /* not ours */
			if (unlinkat(dirfd(dir), de->d_name, 0) < 0 && errno != ENOENT) {
				err(d, "removing %s/%s: %s", bpf_root, de->d_name, strerror(errno));
				r = -errno;
			}
		}
	}
	closedir(dir);
	if (rmdir(bpf_root) < 0 && errno != ENOENT && errno != ENOTEMPTY) {
		err(d, "removing %s: %s", bpf_root, strerror(errno));
		r = -errno;
	}
	return r;
}
