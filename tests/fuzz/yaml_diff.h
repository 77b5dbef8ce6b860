/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fast YAML path's differential check (src/source/yaml_fast.c): one
 * input read by libyaml alone, by doc_read_yaml() (fast path, libyaml from
 * the first document it does not take) and by doc_read_yaml_chunked() in
 * small pieces must give the same objects (every node's type, line, text,
 * value and keys, in order), the same messages and the same result.
 * Used by the fuzz_yaml_fast target and by the unit test test_yaml_fast.
 */
#ifndef KROUTE_TESTS_YAML_DIFF_H
#define KROUTE_TESTS_YAML_DIFF_H

#include <stddef.h>
#include <stdint.h>

/*
 * 0 when the three reads agree; otherwise prints both sides to stderr and
 * returns -1.  bits picks the limits (small ones now and then, so limit
 * messages are compared too) and the chunk size of the piecewise read.
 */
int yaml_diff_check(const char *buf, size_t len, uint32_t bits);

/* The serialised outcome of libyaml's read alone (for tests that want to look). */
char *yaml_diff_reference(const char *buf, size_t len);

#endif
