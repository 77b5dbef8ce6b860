/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A list page decoded as its bytes arrive (source/kube/list.c): the same
 * objects, reports, resourceVersion and continue token whatever the chunk
 * size; an item decoded as soon as its last byte arrives; memory one item,
 * not the page; pages that are not lists refused with a report.  fuzz_watch
 * checks the same against jansson on arbitrary bytes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/sbuf.h"
#include "core/util.h"
#include "kube_test.h"
#include "model/model.h"
#include "source/kube/event.h"
#include "source/kube/list.h"

static void test_list_page(void **state)
{
	static const char page[] =
		"{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"40\",\"continue\":\"abc\"},"
		"\"items\":[" SVC_ITEM("x", "10.96.0.20") "," SVC_ITEM("y", "not-an-ip") ",7]}";
	struct cluster objs;
	struct diag d;
	char *rv = NULL, *cont = NULL;

	cluster_init(&objs);
	diag_init(&d);
	assert_int_equal(kube_list_page(&kube_kinds[0], page, strlen(page), "/api/v1/services", &objs,
					&rv, &cont, &d), 0);
	/* Items come without kind: they are given it.  The refused one is reported and left out. */
	assert_int_equal(objs.n_services, 1);
	assert_string_equal(objs.services[0]->key, "default/x");
	assert_true(diag_has(&d, "Service default/y"));
	assert_true(diag_has(&d, "items[2] is not an object"));
	assert_string_equal(rv, "40");
	assert_string_equal(cont, "abc");
	assert_int_equal(kube_list_page(&kube_kinds[0], "{\"items\":3}", 11, "/api/v1/services", &objs,
					&rv, &cont, &d), -EINVAL);
	assert_int_equal(kube_list_page(&kube_kinds[0], "{\"it", 4, "/api/v1/services", &objs, &rv,
					&cont, &d), -EINVAL);
	cluster_done(&objs);
	free(rv);
	free(cont);
	diag_done(&d);
}

/* One page fed in chunks of chunk bytes: the result of kube_list_finish(), objects in objs. */
static int feed_chunks(const char *page, size_t chunk, struct cluster *objs, char **rv,
		       char **cont, struct diag *d)
{
	struct kube_list l = { .max_value = 4096 };
	size_t len = strlen(page);
	int r = 0;

	kube_list_begin(&l, &kube_kinds[0], "/api/v1/services", objs, d);
	for (size_t off = 0; off < len && r == 0; off += chunk)
		r = kube_list_feed(&l, page + off, len - off < chunk ? len - off : chunk);
	if (r == 0)
		r = kube_list_finish(&l, rv, cont);
	kube_list_done(&l);
	return r;
}

static void test_list_stream(void **state)
{
	/* metadata after items, a string holding brackets, escapes and a comma, white space. */
	static const char page[] =
		" { \"apiVersion\" : \"v1\", \"items\" : [ " SVC_ITEM("x", "10.96.0.20") " ,\n"
		"{\"metadata\":{\"name\":\"y\",\"namespace\":\"default\",\"annotations\":{\"a\":"
		"\"}]\\\",{[\"}},\"spec\":{\"clusterIP\":\"10.96.0.21\",\"ports\":[{\"port\":80}]}} ,"
		"[1] , \"s\", null ] , \"metadata\" : {\"resourceVersion\":\"41\"} } \n";
	struct kube_list l = { 0 };
	struct cluster objs;
	struct diag d;
	char *rv = NULL, *cont = xstrdup("old");
	const char *second;

	/* Every chunk size gives the same objects and the same reports. */
	for (size_t chunk = 1; chunk <= sizeof(page); chunk++) {
		cluster_init(&objs);
		diag_init(&d);
		assert_int_equal(feed_chunks(page, chunk, &objs, &rv, &cont, &d), 0);
		assert_int_equal(objs.n_services, 2);
		assert_non_null(cluster_find_service(&objs, "default/y"));
		assert_int_equal(d.n_errors, 3);
		assert_true(diag_has(&d, "items[2] is not an object"));
		assert_true(diag_has(&d, "items[3] is not an object"));
		assert_true(diag_has(&d, "items[4] is not an object"));
		assert_string_equal(rv, "41");
		assert_null(cont);
		cluster_done(&objs);
		diag_done(&d);
	}

	/* An item is decoded as soon as its last byte arrives, before the page is complete. */
	cluster_init(&objs);
	diag_init(&d);
	second = strstr(page, " ,\n");
	kube_list_begin(&l, &kube_kinds[0], "/api/v1/services", &objs, &d);
	assert_int_equal(kube_list_feed(&l, page, (size_t)(second - page) - 1), 0);
	assert_int_equal(objs.n_services, 0);
	assert_int_equal(kube_list_feed(&l, second - 1, 1), 0);
	assert_int_equal(objs.n_services, 1);
	/* Ending there: the page is incomplete, reported; a list begun again starts afresh. */
	assert_int_equal(kube_list_finish(&l, &rv, &cont), -EINVAL);
	assert_true(diag_has(&d, "the response ends early"));
	kube_list_begin(&l, &kube_kinds[0], "/api/v1/services", &objs, &d);
	assert_int_equal(kube_list_feed(&l, "{\"items\":null}", 14), 0);
	assert_int_equal(kube_list_finish(&l, &rv, &cont), 0);
	kube_list_done(&l);
	cluster_done(&objs);
	diag_done(&d);
	free(rv);
	free(cont);
}

/*
 * Memory is the objects kept plus one item, never the page: 4,000 items (a
 * 1 MB page, every item refused by the decoder so none is kept) fed in 4 KiB
 * chunks leave the scan's buffer at one item's size.
 */
static void test_list_stream_bounded(void **state)
{
	static const char item[] = "{\"metadata\":{\"name\":\"x\",\"namespace\":\"default\"},"
				   "\"spec\":{\"clusterIP\":\"bad\",\"ports\":[{\"port\":80}]},"
				   "\"pad\":\"....................................................."
				   ".......................................................\"}";
	struct kube_list l = { 0 };
	struct cluster objs;
	struct diag d;
	struct sbuf b = { 0 };
	char *page, *rv = NULL, *cont = NULL;
	size_t len;

	SBUF_ADDL(&b, "{\"items\":[");
	for (int i = 0; i < 4000; i++) {
		if (i)
			sbuf_addc(&b, ',');
		sbuf_adds(&b, item);
	}
	SBUF_ADDL(&b, "]}");
	page = sbuf_cstr(&b);
	len = strlen(page);
	assert_true(len > 4000 * (sizeof(item) - 1));
	cluster_init(&objs);
	diag_init(&d);
	d.max_msgs = 1;
	kube_list_begin(&l, &kube_kinds[0], "/api/v1/services", &objs, &d);
	for (size_t off = 0; off < len; off += 4096) {
		assert_int_equal(kube_list_feed(&l, page + off, len - off < 4096 ? len - off : 4096), 0);
		assert_true(l.cap <= 2 * sizeof(item));
	}
	assert_int_equal(kube_list_finish(&l, &rv, &cont), 0);
	assert_int_equal(l.n_items, 4000);
	assert_int_equal(d.n_errors, 4000);
	assert_int_equal(objs.n_services, 0);
	kube_list_done(&l);
	cluster_done(&objs);
	diag_done(&d);
	sbuf_free(&b);
	free(rv);
	free(cont);
}

/* Pages that are not lists: refused with a report, whatever the chunk size. */
static void test_list_stream_refused(void **state)
{
	static const struct {
		const char *page;
		const char *message;
	} bad[] = {
		{ "[]", "not a JSON object" },
		{ "{\"kind\":\"List\"}", "no items array" },
		{ "{\"items\":{}}", "no items array" },
		{ "{\"items\":[],\"items\":[]}", "duplicate object key \"items\"" },
		{ "{\"metadata\":{},\"metadata\":{}, \"items\":[]}", "duplicate object key \"metadata\"" },
		{ "{\"items\":[" SVC_ITEM("x", "10.96.0.20") "]} x", "data after the list" },
		{ "{\"items\":[{\"a\":1,\"a\":2}]}", "duplicate object key near '\"a\"' (items[0]," },
		{ "{\"items\":[{\"a\":]}", "invalid JSON" },
		{ "{\"items\":[1,]}", "invalid JSON" },
		{ "{\"items\":[1 2]}", "',' or ']' expected" },
		{ "{\"items\" []}", "':' expected" },
		{ "{\"items\":[],}", "a member name expected" },
		{ "{\"kind\":tru,\"items\":[]}", "invalid JSON" },
		{ "{\"items\":[\"" /* an item over max_value (4096): */, "larger than the limit" },
		{ "{\"items\":[{\"metadata\":{\"name\":\"x\"", "the response ends early" },
	};
	char big[8192];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		for (size_t chunk = 1; chunk <= 7; chunk += 6) {
			const char *page = bad[i].page;
			struct cluster objs;
			struct diag d;
			char *rv = NULL, *cont = NULL;

			if (strstr(bad[i].message, "larger")) {
				memset(big, 'a', sizeof(big) - 1);
				big[sizeof(big) - 1] = '\0';
				memcpy(big, page, strlen(page));
				page = big;
			}
			cluster_init(&objs);
			diag_init(&d);
			assert_int_equal(feed_chunks(page, chunk, &objs, &rv, &cont, &d), -EINVAL);
			if (!diag_has(&d, bad[i].message))
				fail_msg("page %zu (%s), chunk %zu: no report \"%s\"", i, page, chunk,
					 bad[i].message);
			assert_null(rv);
			cluster_done(&objs);
			diag_done(&d);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_page),
		cmocka_unit_test(test_list_stream),
		cmocka_unit_test(test_list_stream_refused),
		cmocka_unit_test(test_list_stream_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
