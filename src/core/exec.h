/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running a helper program (iptables-restore, iptables-save, nft, conntrack,
 * ip): argv only, never a shell; optional stdin buffer; stdout and stderr
 * captured (bounded).  The one place kroute forks.
 *
 * What the child gets: an empty signal mask and the default disposition for
 * every signal (not the agent's blocked SIGTERM/SIGINT/SIGHUP nor its
 * ignored SIGPIPE), its own process group, and stdin/stdout/stderr as pipes.
 * Every run is bounded in time: when the limit passes, the child's whole
 * process group is killed with SIGKILL, so a grandchild that holds the pipes
 * cannot keep the agent waiting either.
 *
 * The caller must ignore SIGPIPE (main() does): a child that exits without
 * reading all of its stdin makes the write fail with EPIPE.  SIGCHLD must not
 * be ignored: the child has to stay a zombie until exec_run() reaps it, so
 * that its pid (its process group) cannot be reused before the kill.
 */
#ifndef KROUTE_CORE_EXEC_H
#define KROUTE_CORE_EXEC_H

#include <stddef.h>

/*
 * The limit exec_run() gives a helper.  Measured here: an iptables-restore of
 * 10,000 services takes about 15 s, and the iptables helpers may wait 5 s for
 * the xtables lock first (kube-proxy's `-w 5 -W 100000`); 60 s leaves room for
 * a node three times slower than that.  A legitimate run must never hit the
 * limit: a big restore that always times out would fail every sync (so a
 * restore's limit grows with its input, exec_limit_for_input()).  A stuck
 * helper holds the sync loop (and SIGTERM handling) for at most this long.
 */
#define EXEC_LIMIT_DEFAULT_MS 60000u

struct exec_result {
	int status;      /* exit status, or 128+signal; -1 when it could not run */
	char *out;       /* owned, NUL-terminated; NULL when not captured */
	size_t out_len;
	char *err;       /* owned, NUL-terminated */
	size_t err_len;
};

/*
 * Runs argv[0] (searched in PATH) with in[0..in_len) on stdin, for at most
 * limit_ms milliseconds (> 0).  Captures stdout when want_out.
 *
 * Returns 0 when it ran to its end (see res->status; free res with
 * exec_result_done()).  Otherwise returns a negative errno, res->status is -1
 * and res owns nothing:
 *   -ETIMEDOUT  the limit passed; the child's process group was killed with
 *               SIGKILL and the child reaped;
 *   -EINVAL     limit_ms is 0;
 *   other       it could not be started (-ENOENT: no such program), or
 *               waiting for it failed (then it was killed and its pipes
 *               closed, like on a timeout).
 */
int exec_run_limit(char *const argv[], const char *in, size_t in_len, int want_out,
		   unsigned int limit_ms, struct exec_result *res);

/*
 * A limit for a helper whose work grows with its input: EXEC_LIMIT_DEFAULT_MS
 * plus ms_per_line for every line of in[0..in_len), at most UINT_MAX.  A fixed
 * limit that a big legitimate input always exceeds fails every sync forever
 * (an iptables-restore of 10,000 services x 10 endpoints took 82-170 s here).
 */
unsigned int exec_limit_for_input(const char *in, size_t in_len, unsigned int ms_per_line);

/* exec_run_limit() with EXEC_LIMIT_DEFAULT_MS. */
int exec_run(char *const argv[], const char *in, size_t in_len, int want_out,
	     struct exec_result *res);

void exec_result_done(struct exec_result *res);

#endif
