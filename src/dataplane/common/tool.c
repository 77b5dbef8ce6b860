/* SPDX-License-Identifier: Apache-2.0 */
/* Helper programs with their failures as diagnostics; see tool.h. */
#include "dataplane/common/tool.h"

#include <errno.h>
#include <string.h>

#include "core/diag.h"
#include "core/exec.h"

int dp_tool_run(char *const argv[], const char *in, const char *who, const char *what,
		struct diag *d)
{
	struct exec_result res;
	int r = exec_run(argv, in, in ? strlen(in) : 0, 0, &res);

	if (r < 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s: cannot run %s (%s): %s", who,
			 argv[0], what, strerror(-r));
		return r;
	}
	if (res.status != 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s: %s failed (status %d): %s", who,
			 what, res.status, res.err ? res.err : "");
		r = -EIO;
	}
	exec_result_done(&res);
	return r;
}

int dp_tool_run_quiet(char *const argv[], char **out)
{
	struct exec_result res;
	int r = exec_run(argv, NULL, 0, out != NULL, &res);

	if (r < 0)
		return r;
	r = res.status == 0 ? 0 : -EIO;
	if (out) {
		*out = res.out;
		res.out = NULL;
	}
	exec_result_done(&res);
	return r;
}
