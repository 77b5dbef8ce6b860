/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the Kubernetes API source's stream decoder
 * (src/source/kube/event.c): arbitrary bytes as a watch response, cut into
 * lines as they would arrive in chunks (the first byte picks the kind and
 * the chunk size), every line decoded as an event into the kind's pending
 * changes, which are then committed to a store; the same bytes are also
 * decoded as one list page.  Everything is freed: with LeakSanitizer on, a
 * leak is a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "source/kube/event.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	struct kube_changes changes;
	char *rv;
	struct diag d;
};

static void on_line(const char *line, size_t len, void *userdata)
{
	struct ctx *c = userdata;

	(void)kube_event_apply(&c->changes, line, len, "fuzz", &c->rv, &c->d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct kube_kind_info *info;
	struct kube_lines lines = { .max_line = 4096 };
	struct ctx c = { 0 };
	struct store st;
	struct store_batch b;
	struct store_delta delta;
	struct cluster page;
	char *cont = NULL;
	size_t chunk;

	if (size < 1)
		return 0;
	info = &kube_kinds[data[0] % 3];
	chunk = (size_t)(data[0] >> 2) + 1;
	data++;
	size--;
	kube_changes_init(&c.changes, info);
	diag_init(&c.d);
	c.d.max_msgs = 64;
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (kube_lines_feed(&lines, (const char *)data + off, n, on_line, &c) < 0)
			kube_lines_reset(&lines);
	}
	store_init(&st);
	store_batch_init(&b, "kubernetes");
	store_delta_init(&delta);
	kube_changes_to_batch(&c.changes, &b);
	(void)store_commit(&st, &b, &c.d, &delta);
	store_delta_done(&delta);
	store_batch_done(&b);
	store_done(&st);

	cluster_init(&page);
	(void)kube_list_page(info, (const char *)data, size, "fuzz", &page, &c.rv, &cont, &c.d);
	cluster_done(&page);

	free(cont);
	free(c.rv);
	kube_lines_done(&lines);
	kube_changes_done(&c.changes);
	diag_done(&c.d);
	return 0;
}
