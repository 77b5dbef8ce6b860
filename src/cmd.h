/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the commands of src/ (main.c: explain; cmd_lint.c: lint) share:
 * reading the cluster from files or from the API server, with the
 * messages and exit codes of the command line.  Only the command-line
 * files include this.
 */
#ifndef KROUTE_CMD_H
#define KROUTE_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "model/model.h"
#include "store/store.h"

#define EXIT_USAGE 2

/* Where a command reads the cluster: -f PATH..., or --kubeconfig / --master / in-cluster. */
struct cmd_input {
	const char **paths;
	size_t n_paths, cap_paths;
	const char *kubeconfig, *master;
	bool api; /* set by cmd_input_check() */
};

/*
 * Decides between files and the API (in-cluster when neither -f nor a
 * client flag is given and the environment says so).  Returns 0, or
 * -EINVAL after printing the problem, prefixed with "kroute CMD".
 */
int cmd_input_check(struct cmd_input *in, const char *cmd);
/*
 * Loads the input into *ret: the files into c, or the API server's objects
 * listed once into store (then *ret points into store).  node names the
 * Node the API source lists; NULL lists every Node.  Returns 0 or the exit
 * code (after printing what went wrong).
 */
int cmd_input_load(const struct cmd_input *in, const char *node, const char *proxy_name,
		   struct cluster *c, struct store *store, struct cluster **ret);

/* getopt values of the input flags; a command's own start above them. */
enum { CMD_OPT_KUBECONFIG = 1000, CMD_OPT_MASTER };
/* The input flags' getopt_long rows (-f is "f:" in the short options). */
#define CMD_INPUT_LONGOPTS                                                      \
	{ "filename", required_argument, NULL, 'f' },                           \
	{ "output", required_argument, NULL, 'o' },                             \
	{ "kubeconfig", required_argument, NULL, CMD_OPT_KUBECONFIG },          \
	{ "master", required_argument, NULL, CMD_OPT_MASTER }

/* -f, -o, --kubeconfig and --master into in / *output; false for any other option. */
bool cmd_input_option(struct cmd_input *in, const char **output, int opt, const char *arg);
/*
 * After getopt: no argument left over, the input given (usage printed when
 * it is not) and -o table or json.  0, or -EINVAL after printing the problem.
 */
int cmd_args_done(int argc, char **argv, struct cmd_input *in, const char *cmd,
		  const char *output, void (*usage)(FILE *f));

int cmd_lint(int argc, char **argv);
int cmd_sim(int argc, char **argv);

#endif
