/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run --config FILE: kube-proxy's KubeProxyConfiguration
 * (kubeproxy.config.k8s.io/v1alpha1, YAML or JSON) read into the same
 * options the command line sets, through one table that names, for every
 * field of the type, the flag it sets (config.c).  And --write-config-to:
 * the effective options written back as such a document.
 *
 * How fields are treated, as kube-proxy treats them where it says:
 *   - a field whose flag kroute has sets it, unless that flag is on the
 *     command line (flags override the file);
 *   - a known field whose flag kroute lacks (or that has none) is warned
 *     about by name when it is set, and ignored;
 *   - null, and a Go zero value ("", 0, false, "0s", empty list) of a
 *     field that is not a pointer in the Go type, is "not set": kube-proxy
 *     defaults those, so kubeadm's documents full of zero values warn about
 *     nothing;
 *   - an unknown field: kube-proxy's strict decoding fails and it retries
 *     v1alpha1 leniently, logging the failure and ignoring the field; kroute
 *     warns, naming the field, and ignores it;
 *   - a value of the wrong type or out of range, a bad apiVersion or kind,
 *     or not one document: an error with the file, the line (YAML) and the
 *     field.
 * Nothing here prints: problems go into a struct diag.
 */
#ifndef KROUTE_DAEMON_CONFIG_H
#define KROUTE_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/diag.h"
#include "core/sbuf.h"

struct opt_spec;
struct run_cfg;

#define CONFIG_API_VERSION "kubeproxy.config.k8s.io/v1alpha1"
#define CONFIG_KIND "KubeProxyConfiguration"

/* One flag kroute run knows: its row, the struct it fills, its mode (-1: shared). */
struct flag_ref {
	const struct opt_spec *spec;
	void *opts;
	int mode;
	bool seen;          /* given on the command line */
};

/* The flag named name (or spelled so by its alias) among refs, or NULL. */
struct flag_ref *flag_ref_find(struct flag_ref *refs, size_t n, const char *name);

/*
 * Reads the KubeProxyConfiguration in buf (YAML, or JSON when json) and sets
 * every supported field's flag that is not seen in refs.  cmdline_mode is
 * --mode from the command line (NULL when absent): with the file's mode it
 * decides which of the iptables/ipvs/nftables sections apply, as kube-proxy's
 * conversion does.  Strings set into cfg are kept in cfg->config_strs.
 * Returns 0 (warnings may be in d) or -EINVAL with the errors in d.
 */
int config_apply_buffer(const char *name, const char *buf, size_t len, bool json,
			struct flag_ref *refs, size_t n, const char *cmdline_mode,
			struct run_cfg *cfg, struct diag *d);
/* The same for a file ("-": standard input); I/O errors are reported in d. */
int config_apply_file(const char *path, struct flag_ref *refs, size_t n,
		      const char *cmdline_mode, struct run_cfg *cfg, struct diag *d);

/*
 * Appends the effective options as a KubeProxyConfiguration YAML document:
 * every field whose flag kroute has, with kroute's value (fields of the
 * sections the mode does not use are left out, as are unset strings).
 */
void config_write(struct sbuf *out, struct flag_ref *refs, size_t n, const struct run_cfg *cfg);

/* Calls fn for every field config_write() writes, with its value as YAML text. */
void config_each_value(struct flag_ref *refs, size_t n, const struct run_cfg *cfg,
		       void (*fn)(const char *field, const char *value, void *arg), void *arg);

#endif
