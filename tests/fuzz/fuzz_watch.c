/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the Kubernetes API source's stream decoder
 * (src/source/kube/event.c): arbitrary bytes as a watch response, cut into
 * lines as they would arrive in chunks (the first byte picks the kind and
 * the chunk size), every line decoded as an event into the kind's pending
 * changes, which are then committed to a store; the same bytes are also
 * decoded as one list page, whole and streamed in those chunks (kube_list),
 * and as one JSON text by jansson (what the list decoder did before it
 * streamed), which must all agree: a list or not, and then the same
 * objects and the same number of reports.  Last, the bytes go to
 * doc_parse_json_fast(): whatever it accepts, jansson must accept too and
 * convert to the very same doc tree.  Everything is freed: with LeakSanitizer on, a leak is a finding.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "source/doc.h"
#include "source/kube/event.h"
#include "source/kube/list.h"
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

static size_t n_objects(const struct cluster *c)
{
	return c->n_services + c->n_slices + c->n_nodes;
}

/*
 * The page parsed whole by jansson, its items decoded one by one: -EINVAL
 * when it is not a list.  *too_deep when jansson's own nesting limit refused
 * it (an item nested just below that limit is accepted on its own).
 */
static int list_oracle(const struct kube_kind_info *info, const char *data, size_t size,
		       struct cluster *objs, struct diag *d, bool *too_deep)
{
	json_error_t jerr;
	json_t *root = json_loadb(data, size, JSON_REJECT_DUPLICATES, &jerr), *items, *item;
	size_t i;

	*too_deep = !root && strstr(jerr.text, "depth");
	items = json_object_get(root, "items");
	if (!json_is_array(items) && !json_is_null(items)) {
		json_decref(root);
		return -EINVAL;
	}
	json_array_foreach(items, i, item) {
		if (json_is_object(item))
			kube_decode_item(info, item, "fuzz", objs, d);
		else
			diag_add(d, DIAG_ERROR, "fuzz", 0, NULL, NULL, "not an object");
	}
	json_decref(root);
	return 0;
}

/* The page decoded whole, in chunks, and by the oracle: all must agree. */
static void list_both(const struct kube_kind_info *info, const char *data, size_t size,
		      size_t chunk)
{
	struct cluster whole, streamed, oracle;
	struct diag dw, ds, dor;
	bool too_deep;
	struct kube_list l = { .max_value = 4096 };
	char *rv_w = NULL, *rv_s = NULL, *cont_w = NULL, *cont_s = NULL;
	int rw, rs = 0, ro;

	cluster_init(&whole);
	cluster_init(&streamed);
	cluster_init(&oracle);
	diag_init(&dw);
	diag_init(&ds);
	diag_init(&dor);
	ro = list_oracle(info, data, size, &oracle, &dor, &too_deep);
	rw = kube_list_page(info, data, size, "fuzz", &whole, &rv_w, &cont_w, &dw);
	kube_list_begin(&l, info, "fuzz", &streamed, &ds);
	for (size_t off = 0; off < size && rs == 0; off += chunk)
		rs = kube_list_feed(&l, data + off, size - off < chunk ? size - off : chunk);
	if (rs == 0)
		rs = kube_list_finish(&l, &rv_s, &cont_s);
	kube_list_done(&l);
	/* Only an item over 4096 bytes (the streamed limit here) may tell them apart. */
	if (size <= 4096 && (rw != rs || (rw == 0 && (n_objects(&whole) != n_objects(&streamed) ||
						      dw.n != ds.n ||
						      !rv_w != !rv_s || !cont_w != !cont_s))))
		abort();
	if (!too_deep && (ro != rw || (rw == 0 && (n_objects(&whole) != n_objects(&oracle) ||
						   dw.n != dor.n))))
		abort();
	free(rv_w);
	free(rv_s);
	free(cont_w);
	free(cont_s);
	cluster_done(&whole);
	cluster_done(&streamed);
	cluster_done(&oracle);
	diag_done(&dw);
	diag_done(&ds);
	diag_done(&dor);
}

static bool doc_same(const struct doc *a, const struct doc *b)
{
	if (a->type != b->type || a->n != b->n || a->i != b->i || a->b != b->b ||
	    a->line != b->line || a->weight != b->weight || !a->text != !b->text ||
	    (a->text && strcmp(a->text, b->text)) || !a->keys != !b->keys)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if ((a->keys && strcmp(a->keys[i], b->keys[i])) || !doc_same(a->v[i], b->v[i]))
			return false;
	return true;
}

static int check_same(const struct doc *obj, void *userdata)
{
	if (!doc_same(obj, userdata))
		abort();
	return 1; /* seen */
}

/* What the fast parser accepts, jansson accepts and converts to the same tree. */
static void fast_vs_jansson(const char *data, size_t size)
{
	struct doc *fast = doc_parse_json_fast(data, size, doc_default_limits.max_depth);
	struct diag d;
	struct doc_reader r = {
		.file = "fuzz",
		.limits = &doc_default_limits,
		.diag = &d,
		.on_object = check_same,
	};
	json_t *j;

	if (!fast)
		return;
	diag_init(&d);
	r.userdata = fast;
	j = json_loadb(data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!j || doc_read_json_value(&r, j) != 1)
		abort();
	json_decref(j);
	doc_unref(fast);
	diag_done(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct kube_kind_info *info;
	struct kube_lines lines = { .max_line = 4096 };
	struct ctx c = { 0 };
	struct store st;
	struct store_batch b;
	struct store_delta delta;
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

	list_both(info, (const char *)data, size, chunk);
	fast_vs_jansson((const char *)data, size);

	free(cont);
	free(c.rv);
	kube_lines_done(&lines);
	kube_changes_done(&c.changes);
	diag_done(&c.d);
	return 0;
}
