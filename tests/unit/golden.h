/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Golden cases for the renderer tests: one folder per case under
 * tests/golden/cases/ with the input manifests, the options (args) and one
 * expected output per renderer (expect.RENDERER).  A renderer's test walks
 * every case that has its expected file, so a new renderer reuses the
 * inputs by adding its own expect files.  Layout and args:
 * tests/golden/README.md.
 */
#ifndef KROUTE_TESTS_GOLDEN_H
#define KROUTE_TESTS_GOLDEN_H

#include <stdbool.h>
#include <stddef.h>

#include "source/manifest.h"

/* One case: its folder and what its args say. */
struct golden_case {
	char *name;
	char *dir;                /* absolute */
	char **inputs;            /* every -f (absolute), then the case's input.yaml if any */
	size_t n_inputs;
	/* kroute flags */
	char *node;               /* --node: required */
	char *cluster_cidr;       /* --cluster-cidr, comma-separated; NULL: not given */
	bool masquerade_all;      /* --masquerade-all */
	char *nodeport_addresses; /* --nodeport-addresses; NULL: not given */
	bool localhost_nodeports; /* --iptables-localhost-nodeports (default true) */
	/* the node, as kroute would find it */
	char *node_addresses;     /* node-addresses: its interfaces' addresses */
	bool large_cluster;       /* large-cluster: more endpoints than kube-proxy's threshold */
	bool conntrack_tcp_be_liberal; /* conntrack-tcp-be-liberal: the sysctl is 1 */
};

/* The source tree ($KROUTE_SRC, else "."). */
const char *golden_src_dir(void);

/* The whole file, NUL-terminated; NULL if it cannot be read. */
char *golden_read_file(const char *path, size_t *ret_len);

/*
 * Every case folder under tests/golden/cases, sorted by name, with its args
 * parsed; a bad args line fails the test.  Only cases with an
 * expect.RENDERER file when renderer is not NULL.
 */
struct golden_case *golden_cases_load(const char *renderer, size_t *ret_n);
void golden_cases_free(struct golden_case *v, size_t n);

/*
 * Fails unless every case folder holds only args, input.yaml and expected
 * files that a test reads, and at least one expected file.
 */
void golden_check_layout(void);

/* The case's expect.RENDERER path (allocated). */
char *golden_expect_path(const struct golden_case *gc, const char *renderer);

/* Loads the case's inputs into c (cluster_init'ed here); fails the test on errors. */
void golden_load_cluster(const struct golden_case *gc, struct cluster *c);

/*
 * Compares got with expect.RENDERER, failing with the first differing line;
 * with UPDATE_GOLDEN=1 rewrites the file first (review the diff).
 */
void golden_compare(const struct golden_case *gc, const char *renderer, const char *got);

#endif
