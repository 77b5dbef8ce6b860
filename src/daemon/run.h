/* SPDX-License-Identifier: Apache-2.0 */
/* kroute run and kroute cleanup: the node agent's command-line entry points. */
#ifndef KROUTE_DAEMON_RUN_H
#define KROUTE_DAEMON_RUN_H

#include <stdint.h>

int run_main(int argc, char **argv);
int cleanup_main(int argc, char **argv);

#endif
