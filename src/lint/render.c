/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The report for people (a table, each finding's message and fix under
 * its row) and for programs (JSON; the keys are an interface, documented
 * in docs/lint.md).  Both write into an sbuf; main.c prints it.
 */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "lint/lint_internal.h"

/* The table names this many nodes of a finding; JSON names them all. */
#define TABLE_MAX_NODES 4

static void pad(struct sbuf *b, size_t have, size_t width)
{
	for (size_t i = have; i < width + 2; i++)
		sbuf_addc(b, ' ');
}

static char *nodes_text(const struct lint_finding *f)
{
	struct sbuf b = { 0 };
	size_t shown = f->n_nodes > TABLE_MAX_NODES ? TABLE_MAX_NODES - 1 : f->n_nodes;

	if (!f->n_nodes)
		SBUF_ADDL(&b, "-");
	for (size_t i = 0; i < shown; i++) {
		if (i)
			SBUF_ADDL(&b, ",");
		sbuf_adds(&b, f->nodes[i]);
	}
	if (shown < f->n_nodes)
		sbuf_printf(&b, " (+%zu more)", f->n_nodes - shown);
	return sbuf_cstr(&b);
}

static char *rule_text(const struct lint_finding *f)
{
	return xasprintf("%s %s", lint_rules[f->rule].id, lint_rules[f->rule].name);
}

static void summary(const struct lint_report *r, struct sbuf *out)
{
	size_t e = r->n_level[LINT_ERROR], w = r->n_level[LINT_WARNING], i = r->n_level[LINT_INFO];

	sbuf_printf(out, "%zu error%s, %zu warning%s, %zu info in %zu service%s on %zu node%s",
		    e, e == 1 ? "" : "s", w, w == 1 ? "" : "s", i, r->n_services,
		    r->n_services == 1 ? "" : "s", r->n_nodes, r->n_nodes == 1 ? "" : "s");
	if (r->n_ignored)
		sbuf_printf(out, " (%zu finding%s of ignored rules not shown)", r->n_ignored,
			    r->n_ignored == 1 ? "" : "s");
	SBUF_ADDL(out, "\n");
}

void lint_render_table(const struct lint_report *r, struct sbuf *out)
{
	size_t w_rule = strlen("RULE"), w_svc = strlen("SERVICE"), w_port = strlen("PORT");

	for (size_t i = 0; i < r->n; i++) {
		char *rule = rule_text(&r->v[i]);

		w_rule = MAX(w_rule, strlen(rule));
		w_svc = MAX(w_svc, strlen(r->v[i].service));
		w_port = MAX(w_port, strlen(r->v[i].port));
		free(rule);
	}
	if (r->n) {
		SBUF_ADDL(out, "LEVEL    ");
		SBUF_ADDL(out, "RULE");
		pad(out, 4, w_rule);
		SBUF_ADDL(out, "SERVICE");
		pad(out, 7, w_svc);
		SBUF_ADDL(out, "PORT");
		pad(out, 4, w_port);
		SBUF_ADDL(out, "NODES\n");
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct lint_finding *f = &r->v[i];
		char *rule = rule_text(f), *nodes = nodes_text(f);

		sbuf_printf(out, "%-9s%s", lint_level_name(f->level), rule);
		pad(out, strlen(rule), w_rule);
		sbuf_adds(out, *f->service ? f->service : "-");
		pad(out, *f->service ? strlen(f->service) : 1, w_svc);
		sbuf_adds(out, *f->port ? f->port : "-");
		pad(out, *f->port ? strlen(f->port) : 1, w_port);
		sbuf_printf(out, "%s\n         %s\n         fix: %s\n", nodes, f->message,
			    lint_rules[f->rule].fix);
		free(rule);
		free(nodes);
	}
	summary(r, out);
}

static void json_key_str(struct sbuf *out, const char *key, const char *val, bool comma)
{
	sbuf_printf(out, "      \"%s\": ", key);
	sbuf_add_json_str(out, val);
	if (comma)
		sbuf_addc(out, ',');
	sbuf_addc(out, '\n');
}

void lint_render_json(const struct lint_report *r, struct sbuf *out)
{
	SBUF_ADDL(out, "{\n  \"summary\": {\n");
	sbuf_printf(out, "    \"errors\": %zu,\n    \"warnings\": %zu,\n    \"infos\": %zu,\n",
		    r->n_level[LINT_ERROR], r->n_level[LINT_WARNING], r->n_level[LINT_INFO]);
	sbuf_printf(out, "    \"ignored\": %zu,\n    \"services\": %zu,\n    \"nodes\": %zu,\n",
		    r->n_ignored, r->n_services, r->n_nodes);
	sbuf_printf(out, "    \"nodes_from_endpoints\": %s\n  },\n",
		    r->nodes_from_endpoints ? "true" : "false");
	SBUF_ADDL(out, "  \"findings\": [");
	for (size_t i = 0; i < r->n; i++) {
		const struct lint_finding *f = &r->v[i];
		const struct lint_rule *rule = &lint_rules[f->rule];

		sbuf_adds(out, i ? ",\n    {\n" : "\n    {\n");
		json_key_str(out, "rule", rule->id, true);
		json_key_str(out, "name", rule->name, true);
		json_key_str(out, "level", lint_level_name(f->level), true);
		json_key_str(out, "service", f->service, true);
		json_key_str(out, "port", f->port, true);
		SBUF_ADDL(out, "      \"nodes\": [");
		for (size_t k = 0; k < f->n_nodes; k++) {
			if (k)
				SBUF_ADDL(out, ", ");
			sbuf_add_json_str(out, f->nodes[k]);
		}
		SBUF_ADDL(out, "],\n");
		json_key_str(out, "message", f->message, true);
		json_key_str(out, "fix", rule->fix, false);
		SBUF_ADDL(out, "    }");
	}
	sbuf_adds(out, r->n ? "\n  ]\n}\n" : "]\n}\n");
}
