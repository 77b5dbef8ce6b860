/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for kroute run --config (src/daemon/config.c): arbitrary
 * bytes as a KubeProxyConfiguration, read as YAML and as JSON into kroute
 * run's options (every flag table, as --config fills them).  When a read
 * succeeds, the effective configuration is written as --write-config-to
 * writes it and read again: that must succeed too (the writer only writes
 * values its reader takes) and write the same document.  Everything is
 * freed: with LeakSanitizer on, a leak is a finding.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/sbuf.h"
#include "daemon/run_flags.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_and_write_back(const char *buf, size_t len, bool json)
{
	struct run_cfg cfg, again;
	struct sbuf first = { 0 }, second = { 0 };

	if (run_cfg_init(&cfg) < 0)
		abort();
	if (run_cfg_apply_config_buffer(&cfg, "fuzz", buf, len, json) < 0) {
		run_cfg_done(&cfg);
		return;
	}
	run_cfg_write_config(&cfg, &first);
	if (run_cfg_init(&again) < 0)
		abort();
	if (run_cfg_apply_config_buffer(&again, "written", first.p, first.len, false) < 0)
		abort(); /* what --write-config-to writes must read back */
	run_cfg_write_config(&again, &second);
	if (second.len != first.len || memcmp(second.p, first.p, first.len))
		abort(); /* and give the same document */
	sbuf_free(&first);
	sbuf_free(&second);
	run_cfg_done(&again);
	run_cfg_done(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	read_and_write_back((const char *)data, size, false);
	read_and_write_back((const char *)data, size, true);
	return 0;
}
