# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The files source for the data-plane tests (the default): kroute reads the
# manifests under $M itself (-f), and sees each change the engine or the front
# end writes there.

# Capabilities (dataplane/README.md lists them all):
#   manifest-files  kroute reads the manifest files, so a file the API server
#                   would refuse (a bad manifest) can reach it
SOURCE_CAPS=(manifest-files)
SOURCE_CMDS=()

# dp_source_start: nothing to start; the front end calls it once $M holds the nodes.
dp_source_start() { :; }
# dp_source_args: sets SOURCE_ARGS, the kroute run / explain flags that read this source.
dp_source_args() { SOURCE_ARGS=(-f "$M"); }
# dp_publish FILE...: FILE under $M changed; kroute reads it itself.
dp_publish() { :; }
# dp_unpublish KIND NAMESPACE/NAME: an object whose document or file is gone from $M.
dp_unpublish() { :; }
