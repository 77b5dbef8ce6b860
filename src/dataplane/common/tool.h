/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running a data plane's helper program (ip, nft) through core/exec.h and
 * reporting a failure as a diagnostic that names the mode and what was
 * being done, the way every mode reports it.
 */
#ifndef KROUTE_DATAPLANE_COMMON_TOOL_H
#define KROUTE_DATAPLANE_COMMON_TOOL_H

struct diag;

/*
 * Runs argv with in (NULL: nothing) on stdin.  On failure adds an error
 * "<who>: <what> failed (status N): <stderr>" to d and returns a negative
 * errno (-EIO for a non-zero exit status).
 */
int dp_tool_run(char *const argv[], const char *in, const char *who, const char *what,
		struct diag *d);
/*
 * Runs a helper whose failure is expected (probing, deleting what may be
 * absent): 0 when it exited 0, a negative errno otherwise, nothing
 * reported.  With out, its stdout (owned, may be NULL).
 */
int dp_tool_run_quiet(char *const argv[], char **out);

#endif
