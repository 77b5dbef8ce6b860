/* SPDX-License-Identifier: Apache-2.0 */
/* Writing and applying one nft table; see nft_script.h. */
#include "dataplane/common/nft_script.h"

#include <stdlib.h>

#include "core/diag.h"
#include "core/util.h"
#include "dataplane/common/tool.h"

void nft_table_begin(struct sbuf *b, const char *family, const char *table)
{
	sbuf_printf(b, "table %s %s\ndelete table %s %s\ntable %s %s {\n", family, table, family,
		    table, family, table);
}

void nft_table_end(struct sbuf *b)
{
	SBUF_ADDL(b, "}\n");
}

void nft_chain_begin(struct sbuf *b, const char *name, const char *type, const char *hook,
		     const char *priority, const char *policy)
{
	sbuf_printf(b, "\tchain %s {\n", name);
	if (hook)
		sbuf_printf(b, "\t\ttype %s hook %s priority %s; policy %s;\n", type, hook,
			    priority, policy);
}

void nft_chain_end(struct sbuf *b)
{
	SBUF_ADDL(b, "\t}\n");
}

void nft_rule(struct sbuf *b, const char *rule)
{
	SBUF_ADDL(b, "\t\t");
	sbuf_adds(b, rule);
	sbuf_addc(b, '\n');
}

void nft_set_begin(struct sbuf *b, const char *name, const char *key_type,
		   const char *value_type, const char *flags, bool *first)
{
	sbuf_printf(b, "\t%s %s {\n\t\ttype %s", value_type ? "map" : "set", name, key_type);
	if (value_type)
		sbuf_printf(b, " : %s", value_type);
	SBUF_ADDL(b, ";\n");
	if (flags)
		sbuf_printf(b, "\t\tflags %s;\n", flags);
	*first = true;
}

void nft_element(struct sbuf *b, const char *element, bool *first)
{
	if (*first)
		SBUF_ADDL(b, "\t\telements = { ");
	else
		SBUF_ADDL(b, ",\n\t\t\t     ");
	sbuf_adds(b, element);
	*first = false;
}

void nft_set_end(struct sbuf *b, bool first)
{
	if (!first)
		SBUF_ADDL(b, " }\n");
	SBUF_ADDL(b, "\t}\n");
}

int nft_apply(const char *nft, const char *script, const char *who, const char *what,
	      struct diag *d)
{
	char *argv[] = { (char *)nft, "-f", "-", NULL };
	char *msg = xasprintf("nft (%s)", what);
	int r = dp_tool_run(argv, script, who, msg, d);

	free(msg);
	return r;
}

int nft_table_delete(const char *nft, const char *family, const char *table, const char *who,
		     struct diag *d)
{
	char *list[] = { (char *)nft, "list", "table", (char *)family, (char *)table, NULL };
	char *del[] = { (char *)nft, "delete", "table", (char *)family, (char *)table, NULL };

	if (dp_tool_run_quiet(list, NULL) < 0)
		return 0; /* not there (or no nft): nothing to delete */
	return dp_tool_run(del, NULL, who, "removing the nft table", d);
}
