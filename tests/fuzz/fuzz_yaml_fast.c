/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the fast YAML path (src/source/yaml_fast.c): for any
 * input, reading it with the fast path (whole, and in pieces) must give
 * exactly what libyaml alone gives: objects, lines, messages, result
 * (yaml_diff.c).  A difference aborts.  The seeds (corpus/yaml_fast) are
 * manifests in the block style kubectl prints, which the fast path takes,
 * and near misses it must hand to libyaml.
 */
#include <stdint.h>
#include <stdlib.h>

#include "yaml_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t bits = 2166136261u;

	for (size_t i = 0; i < size; i++)
		bits = (bits ^ data[i]) * 16777619u;
	if (yaml_diff_check((const char *)data, size, bits) < 0)
		abort();
	return 0;
}
