/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running a helper program (iptables-restore, iptables-save, conntrack):
 * argv only, never a shell; optional stdin buffer; stdout and stderr
 * captured (bounded).  The one place kroute forks.
 */
#ifndef KROUTE_CORE_EXEC_H
#define KROUTE_CORE_EXEC_H

#include <stddef.h>

struct exec_result {
	int status;      /* exit status, or 128+signal; -1 when it could not run */
	char *out;       /* owned, NUL-terminated; NULL when not captured */
	size_t out_len;
	char *err;       /* owned, NUL-terminated */
	size_t err_len;
};

/*
 * Runs argv[0] (searched in PATH) with in[0..in_len) on stdin.  Captures
 * stdout when want_out.  Returns 0 when it ran (see res->status), or a
 * negative errno when it could not be started.
 */
int exec_run(char *const argv[], const char *in, size_t in_len, int want_out,
	     struct exec_result *res);
void exec_result_done(struct exec_result *res);

#endif
