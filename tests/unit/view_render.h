/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A view as text, to compare two views (an updated one against one built
 * from scratch): the iptables mode's full restore input, which holds every
 * port view's endpoints, routes and actions.  Include after <cmocka.h>.
 */
#ifndef KROUTE_TESTS_VIEW_RENDER_H
#define KROUTE_TESTS_VIEW_RENDER_H

#include "dataplane/iptables/render.h"
#include "policy/policy.h"

/* Owned by the caller. */
static inline char *view_render(const struct node_view *v)
{
	struct ipt_opts o;
	char *buf;
	size_t len;

	ipt_opts_init(&o);
	assert_int_equal(ipt_render_full(v, &o, &buf, &len), 0);
	return buf;
}

#endif
