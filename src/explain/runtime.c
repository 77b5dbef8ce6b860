/* SPDX-License-Identifier: Apache-2.0 */
/* The proxy's status file, for explain; see runtime.h. */
#include "explain/runtime.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static bool get_u64(json_t *o, const char *k, uint64_t *ret)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*ret = (uint64_t)json_integer_value(v);
	return true;
}

static int load_set(json_t *js, struct runtime_set *set)
{
	json_t *key = json_object_get(js, "key"), *eps = json_object_get(js, "endpoints");
	size_t i;
	json_t *je;

	if (!json_is_string(key) || !json_is_array(eps))
		return -EINVAL;
	set->key = xstrdup(json_string_value(key));
	set->eps = xcalloc(json_array_size(eps) + 1, sizeof(*set->eps));
	json_array_foreach(eps, i, je) {
		struct runtime_ep *e = &set->eps[set->n_eps];
		json_t *k = json_object_get(je, "endpoint");

		if (!json_is_string(k) || !get_u64(je, "active", &e->active) ||
		    !get_u64(je, "connections", &e->connections) ||
		    !get_u64(je, "failures", &e->failures) ||
		    !get_u64(je, "ejections", &e->ejections) ||
		    !get_u64(je, "ejected_for_ms", &e->ejected_for_ms))
			return -EINVAL;
		e->key = xstrdup(json_string_value(k));
		e->ejected = json_is_true(json_object_get(je, "ejected"));
		set->n_eps++;
	}
	return 0;
}

static int from_root(json_t *root, const char *name, struct runtime_status *ret, char *err,
		     size_t err_len)
{
	json_t *svcs = json_object_get(root, "services"), *mode = json_object_get(root, "mode"), *js;
	size_t i;

	if (!json_is_array(svcs) || !json_is_string(mode)) {
		snprintf(err, err_len, "%s: not a kroute status file (no \"mode\" and \"services\")",
			 name);
		return -EINVAL;
	}
	ret->mode = xstrdup(json_string_value(mode));
	ret->sets = xcalloc(json_array_size(svcs) + 1, sizeof(*ret->sets));
	json_array_foreach(svcs, i, js) {
		struct runtime_set *set = &ret->sets[ret->n_sets++];

		if (load_set(js, set) < 0) {
			snprintf(err, err_len, "%s: services[%zu]: missing or mistyped fields", name, i);
			return -EINVAL;
		}
		strmap_put(&ret->index, set->key, set);
	}
	return 0;
}

static int load_root(json_t *root, const json_error_t *je, const char *name,
		     struct runtime_status *ret, char *err, size_t err_len)
{
	int r;

	if (!root) {
		snprintf(err, err_len, "%s:%d: %s", name, je->line, je->text);
		return -EINVAL;
	}
	r = from_root(root, name, ret, err, err_len);
	json_decref(root);
	return r;
}

int runtime_status_load(const char *path, struct runtime_status *ret, char *err, size_t err_len)
{
	json_error_t je;

	*ret = (struct runtime_status){ .path = xstrdup(path) };
	strmap_init(&ret->index);
	return load_root(json_load_file(path, JSON_REJECT_DUPLICATES, &je), &je, path, ret, err,
			 err_len);
}

int runtime_status_load_buffer(const char *name, const char *buf, size_t len,
			       struct runtime_status *ret, char *err, size_t err_len)
{
	json_error_t je;

	*ret = (struct runtime_status){ .path = xstrdup(name) };
	strmap_init(&ret->index);
	return load_root(json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je), &je, name, ret, err,
			 err_len);
}

void runtime_status_done(struct runtime_status *st)
{
	for (size_t i = 0; i < st->n_sets; i++) {
		for (size_t k = 0; k < st->sets[i].n_eps; k++)
			free(st->sets[i].eps[k].key);
		free(st->sets[i].eps);
		free(st->sets[i].key);
	}
	free(st->sets);
	free(st->mode);
	free(st->path);
	strmap_done(&st->index);
	*st = (struct runtime_status){ 0 };
}

const struct runtime_ep *runtime_status_find(const struct runtime_status *st,
					     const struct port_view *pv, bool local,
					     const char *ep_key)
{
	char *key = port_view_set_key(pv, local);
	const struct runtime_set *set = strmap_get(&st->index, key);

	free(key);
	for (size_t i = 0; set && i < set->n_eps; i++)
		if (streq(set->eps[i].key, ep_key))
			return &set->eps[i];
	return NULL;
}
