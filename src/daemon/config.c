/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KubeProxyConfiguration v1alpha1 into kroute run's options, and back; see
 * config.h.  The field list is kube-proxy's (k8s.io/kube-proxy/config/
 * v1alpha1 of Kubernetes 1.36, and component-base's ClientConnection and
 * LoggingConfiguration); the only thing this file knows about kroute's
 * options is the flag name on each row, resolved in the flag tables when the
 * file is read, so a flag a mode adds later needs nothing here.
 */
#include "daemon/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/opt.h"
#include "core/util.h"
#include "daemon/run_flags.h"
#include "dataplane/dataplane.h"
#include "source/doc.h"
#include "source/manifest.h"

/* A config file is small; this bounds what a mistaken path can make kroute read. */
#define CONFIG_MAX_BYTES (1u << 20)
#define FIELD_PATH_MAX 128

/* The JSON type of a field in the Go struct (what its decoder accepts). */
enum cfg_type {
	CT_STRUCT,      /* a nested struct: a mapping of the fields below it */
	CT_STR,
	CT_BOOL,
	CT_INT32,
	CT_UINT32,
	CT_NUMBER,      /* float32 */
	CT_DURATION,    /* metav1.Duration: a string for time.ParseDuration */
	CT_STRLIST,
	CT_BOOLMAP,     /* map[string]bool */
	CT_ANY,         /* a type kroute does not look into (vmodule, logging options) */
};

/* Which proxy mode a field is used in (kube-proxy's v1alpha1 conversion). */
enum cfg_when {
	WHEN_ANY,
	WHEN_IPTABLES,  /* any mode but ipvs and nftables */
	WHEN_IPVS,
	WHEN_NFTABLES,
	WHEN_WINDOWS,   /* never: kube-proxy reads these only on Windows */
};

struct cfg_field {
	const char *path;       /* "iptables.masqueradeBit" */
	enum cfg_type type;
	/*
	 * The kroute run flag (name or alias) the field sets; NULL for none.
	 * A flag no table registers (yet) makes the field unsupported: warned.
	 */
	const char *flag;
	bool pointer;           /* a Go pointer: only null is unset, a zero value is a value */
	/* A value meaning what kroute does anyway: set to it, the field is not warned about. */
	const char *kroute_does;
	enum cfg_when when;
	/* --write-config-to's value of a flag its kind cannot show (OPT_CUSTOM); NULL: not written. */
	void (*write)(struct sbuf *out, const struct run_cfg *cfg);
};

static void write_cidrs(struct sbuf *out, const struct cidr *v, size_t n, bool list)
{
	char buf[ADDR_STRLEN + 4];
	struct sbuf joined = { 0 };

	if (list)
		SBUF_ADDL(out, "[");
	for (size_t i = 0; i < n; i++) {
		cidr_format(&v[i], buf);
		if (list) {
			if (i)
				SBUF_ADDL(out, ", ");
			sbuf_add_yaml_str(out, buf);
		} else {
			if (i)
				sbuf_addc(&joined, ',');
			sbuf_adds(&joined, buf);
		}
	}
	if (list)
		SBUF_ADDL(out, "]");
	else
		sbuf_add_yaml_str(out, joined.len ? sbuf_cstr(&joined) : "");
	sbuf_free(&joined);
}

static void write_cluster_cidr(struct sbuf *out, const struct run_cfg *cfg)
{
	write_cidrs(out, cfg->cluster_cidrs, cfg->n_cluster_cidrs, false);
}

static void write_nodeport_addresses(struct sbuf *out, const struct run_cfg *cfg)
{
	write_cidrs(out, cfg->nodeport_cidrs, cfg->n_nodeport_cidrs, true);
}

static void write_scheduler(struct sbuf *out, const struct run_cfg *cfg)
{
	sbuf_add_yaml_str(out, cfg->po.lb.sched_name ? cfg->po.lb.sched_name : "");
}

static void write_healthz_bind(struct sbuf *out, const struct run_cfg *cfg)
{
	sbuf_add_yaml_str(out, cfg->healthz_bind ? cfg->healthz_bind : "");
}

static void write_metrics_bind(struct sbuf *out, const struct run_cfg *cfg)
{
	sbuf_add_yaml_str(out, cfg->metrics_bind ? cfg->metrics_bind : "");
}

static void write_logging_format(struct sbuf *out, const struct run_cfg *cfg)
{
	sbuf_add_yaml_str(out, log_format_name(cfg->log_format));
}

/*
 * Every field of KubeProxyConfiguration v1alpha1, a struct's row before its
 * fields (--write-config-to writes them in this order).  The flags named
 * are kube-proxy's where kube-proxy has one, so a mode that adds that flag
 * makes its field work.
 */
/* A row: the path, the Go type, then what else it has (.flag, .pointer, ...). */
#define F(p, t, ...) { .path = (p), .type = (t), __VA_ARGS__ }

static const struct cfg_field cfg_fields[] = {
	F("featureGates", CT_BOOLMAP),
	F("clientConnection", CT_STRUCT),
	F("clientConnection.kubeconfig", CT_STR, .flag = "kubeconfig"),
	F("clientConnection.acceptContentTypes", CT_STR),
	F("clientConnection.contentType", CT_STR),
	F("clientConnection.qps", CT_NUMBER),
	F("clientConnection.burst", CT_INT32),
	F("logging", CT_STRUCT),
	F("logging.format", CT_STR, .flag = "logging-format", .write = write_logging_format),
	F("logging.verbosity", CT_UINT32, .flag = "v"),
	F("logging.flushFrequency", CT_ANY),
	F("logging.vmodule", CT_ANY),
	F("logging.options", CT_ANY),
	F("hostnameOverride", CT_STR, .flag = "hostname-override"),
	/* kube-proxy takes the node's primary IP from its Node object when this is unset. */
	F("bindAddress", CT_STR, .kroute_does = "0.0.0.0"),
	F("healthzBindAddress", CT_STR, .flag = "healthz-bind-address", .write = write_healthz_bind),
	F("metricsBindAddress", CT_STR, .flag = "metrics-bind-address", .write = write_metrics_bind),
	F("bindAddressHardFail", CT_BOOL),
	F("enableProfiling", CT_BOOL),
	F("showHiddenMetricsForVersion", CT_STR),
	F("mode", CT_STR, .flag = "mode"),
	F("iptables", CT_STRUCT),
	F("iptables.masqueradeBit", CT_INT32, .flag = "iptables-masquerade-bit", .pointer = true),
	F("iptables.masqueradeAll", CT_BOOL, .flag = "masquerade-all", .when = WHEN_IPTABLES),
	F("iptables.localhostNodePorts", CT_BOOL, .flag = "iptables-localhost-nodeports",
	  .pointer = true),
	F("iptables.snatNodeInternalIP", CT_BOOL, .pointer = true, .kroute_does = "false"),
	F("iptables.syncPeriod", CT_DURATION, .flag = "iptables-sync-period",
	  .when = WHEN_IPTABLES),
	F("iptables.minSyncPeriod", CT_DURATION, .flag = "iptables-min-sync-period",
	  .when = WHEN_IPTABLES),
	F("ipvs", CT_STRUCT),
	F("ipvs.syncPeriod", CT_DURATION, .flag = "ipvs-sync-period", .when = WHEN_IPVS),
	F("ipvs.minSyncPeriod", CT_DURATION, .flag = "ipvs-min-sync-period",
	  .when = WHEN_IPVS),
	/* kroute's --scheduler takes IPVS's scheduler names (and more), in any mode that has one. */
	F("ipvs.scheduler", CT_STR, .flag = "scheduler", .write = write_scheduler),
	F("ipvs.excludeCIDRs", CT_STRLIST, .flag = "ipvs-exclude-cidrs", .when = WHEN_IPVS),
	F("ipvs.strictARP", CT_BOOL, .flag = "ipvs-strict-arp", .when = WHEN_IPVS),
	F("ipvs.tcpTimeout", CT_DURATION, .flag = "ipvs-tcp-timeout", .when = WHEN_IPVS),
	F("ipvs.tcpFinTimeout", CT_DURATION, .flag = "ipvs-tcpfin-timeout", .when = WHEN_IPVS),
	F("ipvs.udpTimeout", CT_DURATION, .flag = "ipvs-udp-timeout", .when = WHEN_IPVS),
	F("nftables", CT_STRUCT),
	F("nftables.masqueradeBit", CT_INT32, .flag = "nftables-masquerade-bit", .pointer = true,
	  .when = WHEN_NFTABLES),
	F("nftables.masqueradeAll", CT_BOOL, .flag = "masquerade-all", .when = WHEN_NFTABLES),
	F("nftables.syncPeriod", CT_DURATION, .flag = "iptables-sync-period",
	  .when = WHEN_NFTABLES),
	F("nftables.minSyncPeriod", CT_DURATION, .flag = "iptables-min-sync-period",
	  .when = WHEN_NFTABLES),
	F("winkernel", CT_STRUCT),
	F("winkernel.networkName", CT_STR, .when = WHEN_WINDOWS),
	F("winkernel.sourceVip", CT_STR, .when = WHEN_WINDOWS),
	F("winkernel.enableDSR", CT_BOOL, .when = WHEN_WINDOWS),
	F("winkernel.rootHnsEndpointName", CT_STR, .when = WHEN_WINDOWS),
	F("winkernel.forwardHealthCheckVip", CT_BOOL, .when = WHEN_WINDOWS),
	/* kroute detects local traffic by the cluster CIDR(s), kube-proxy's default. */
	F("detectLocalMode", CT_STR, .flag = "detect-local-mode", .kroute_does = "ClusterCIDR"),
	F("detectLocal", CT_STRUCT),
	F("detectLocal.bridgeInterface", CT_STR, .flag = "pod-bridge-interface"),
	F("detectLocal.interfaceNamePrefix", CT_STR, .flag = "pod-interface-name-prefix"),
	F("clusterCIDR", CT_STR, .flag = "cluster-cidr", .write = write_cluster_cidr),
	F("nodePortAddresses", CT_STRLIST, .flag = "nodeport-addresses",
	  .write = write_nodeport_addresses),
	F("oomScoreAdj", CT_INT32, .flag = "oom-score-adj", .pointer = true),
	F("conntrack", CT_STRUCT),
	/* 0: leave the kernel's conntrack limits alone, which is what kroute does. */
	F("conntrack.maxPerCore", CT_INT32, .flag = "conntrack-max-per-core", .pointer = true,
	  .kroute_does = "0"),
	F("conntrack.min", CT_INT32, .flag = "conntrack-min", .pointer = true),
	F("conntrack.tcpEstablishedTimeout", CT_DURATION,
	  .flag = "conntrack-tcp-timeout-established", .pointer = true),
	F("conntrack.tcpCloseWaitTimeout", CT_DURATION,
	  .flag = "conntrack-tcp-timeout-close-wait", .pointer = true),
	F("conntrack.tcpBeLiberal", CT_BOOL, .flag = "conntrack-tcp-be-liberal"),
	F("conntrack.udpTimeout", CT_DURATION, .flag = "conntrack-udp-timeout"),
	F("conntrack.udpStreamTimeout", CT_DURATION, .flag = "conntrack-udp-timeout-stream"),
	F("configSyncPeriod", CT_DURATION, .flag = "config-sync-period"),
	F("portRange", CT_STR),
	F("windowsRunAsService", CT_BOOL, .when = WHEN_WINDOWS),
};

#undef F

struct flag_ref *flag_ref_find(struct flag_ref *refs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(refs[i].spec->name, name) ||
		    (refs[i].spec->alias && streq(refs[i].spec->alias, name)))
			return &refs[i];
	return NULL;
}

static const struct cfg_field *field_find(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(cfg_fields); i++)
		if (streq(cfg_fields[i].path, path))
			return &cfg_fields[i];
	return NULL;
}

static bool when_holds(enum cfg_when when, const char *mode)
{
	bool ipvs = mode && streq(mode, "ipvs"), nft = mode && streq(mode, "nftables");

	switch (when) {
	case WHEN_ANY:
		return true;
	case WHEN_IPTABLES:
		return !ipvs && !nft;
	case WHEN_IPVS:
		return ipvs;
	case WHEN_NFTABLES:
		return nft;
	case WHEN_WINDOWS:
		break;
	}
	return false;
}

/* The state of reading one document. */
struct cfg_dec {
	const char *file;
	struct diag *d;
	struct flag_ref *refs;
	size_t n_refs;
	const char *mode;       /* the effective mode: the command line's, else the file's */
	struct run_cfg *cfg;
	size_t n_docs;
};

static int line_of(const struct cfg_dec *x, const struct doc *at)
{
	return at ? at->line : 0;
}

static const char *type_wanted(enum cfg_type t)
{
	switch (t) {
	case CT_STRUCT:
		return "a mapping";
	case CT_STR:
		return "a string";
	case CT_BOOL:
		return "a boolean (true or false)";
	case CT_INT32:
		return "an integer (int32)";
	case CT_UINT32:
		return "a non-negative integer (uint32)";
	case CT_NUMBER:
		return "a number";
	case CT_DURATION:
		return "a duration string (e.g. \"30s\", \"1m30s\")";
	case CT_STRLIST:
		return "a list of strings";
	case CT_BOOLMAP:
		return "a mapping of names to booleans";
	case CT_ANY:
		break;
	}
	return "a value";
}

/* Does v have the JSON type f's Go field decodes?  Null always does (unset). */
static bool type_ok(const struct cfg_field *f, const struct doc *v)
{
	if (v->type == DOC_NULL || f->type == CT_ANY)
		return true;
	switch (f->type) {
	case CT_STRUCT:
		return v->type == DOC_MAP;
	case CT_STR:
	case CT_DURATION:
		return v->type == DOC_STR;
	case CT_BOOL:
		return v->type == DOC_BOOL;
	case CT_INT32:
		return v->type == DOC_INT && v->i >= INT32_MIN && v->i <= INT32_MAX;
	case CT_UINT32:
		return v->type == DOC_INT && v->i >= 0 && v->i <= UINT32_MAX;
	case CT_NUMBER:
		return v->type == DOC_INT || v->type == DOC_FLOAT;
	case CT_STRLIST:
	case CT_BOOLMAP:
		if (v->type != (f->type == CT_STRLIST ? DOC_SEQ : DOC_MAP))
			return false;
		for (size_t i = 0; i < v->n; i++)
			if (v->v[i]->type != (f->type == CT_STRLIST ? DOC_STR : DOC_BOOL))
				return false;
		return true;
	case CT_ANY:
		break;
	}
	return true;
}

/*
 * A Go zero value: false, 0, "", an empty list or mapping.  A duration's
 * zero is any spelling of 0 ("0s", "0m"); deep: every leaf of a mapping or
 * list is zero (the logging options kroute does not look into, which
 * kube-proxy writes as infoBufferSize: "0"), a string "0" counting as one.
 */
static bool is_zero(const struct doc *v, bool duration, bool deep)
{
	int64_t ns;
	char err[8];

	switch (v->type) {
	case DOC_NULL:
		return true;
	case DOC_BOOL:
		return !v->b;
	case DOC_INT:
		return v->i == 0;
	case DOC_FLOAT:
		return strtod(v->text, NULL) == 0;
	case DOC_STR:
		if (!*v->text)
			return true;
		return (duration || deep) &&
		       opt_parse_go_duration(v->text, &ns, err, sizeof(err)) == 0 && ns == 0;
	case DOC_MAP:
	case DOC_SEQ:
		for (size_t i = 0; deep && i < v->n; i++)
			if (!is_zero(v->v[i], false, true))
				return false;
		return deep || v->n == 0;
	}
	return false;
}

/* Null, or a Go zero value of a field that is not a pointer: kube-proxy defaults it. */
static bool is_unset(const struct cfg_field *f, const struct doc *v)
{
	if (v->type == DOC_NULL)
		return true;
	return !f->pointer && is_zero(v, f->type == CT_DURATION, f->type == CT_ANY);
}

/* The value as the flag takes it; owned by cfg->config_strs. */
static const char *flag_text(struct cfg_dec *x, const struct doc *v)
{
	struct sbuf b = { 0 };
	char *s;

	switch (v->type) {
	case DOC_BOOL:
		sbuf_adds(&b, v->b ? "true" : "false");
		break;
	case DOC_INT:
		sbuf_printf(&b, "%lld", v->i);
		break;
	case DOC_SEQ:
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				sbuf_addc(&b, ',');
			sbuf_adds(&b, v->v[i]->text);
		}
		break;
	default:
		sbuf_adds(&b, v->text ? v->text : "");
		break;
	}
	s = xstrdup(sbuf_cstr(&b));
	sbuf_free(&b);
	VEC_PUSH(x->cfg->config_strs, x->cfg->n_config_strs, x->cfg->cap_config_strs, s);
	return s;
}

/* A set field: its flag takes the value, unless the command line gave that flag. */
static void apply_field(struct cfg_dec *x, const struct cfg_field *f, const struct doc *v)
{
	struct flag_ref *ref = f->flag ? flag_ref_find(x->refs, x->n_refs, f->flag) : NULL;
	char err[512];
	const char *arg;

	if (!ref) {
		diag_add(x->d, DIAG_WARNING, x->file, line_of(x, v), NULL, NULL,
			 "field %s is not supported by kroute and is ignored", f->path);
		return;
	}
	if (ref->seen)
		return;
	arg = flag_text(x, v);
	if (opt_set(ref->spec, ref->opts, arg, err, sizeof(err)) < 0) {
		diag_add(x->d, DIAG_ERROR, x->file, line_of(x, v), NULL, f->path, "\"%s\": %s",
			 arg, err);
		return;
	}
	/* The flag's own checks pass any name; the mode is the one value checked later. */
	if (streq(ref->spec->name, "mode") && !dataplane_find(arg)) {
		struct sbuf names = { 0 };

		for (size_t i = 0; dataplane_all[i]; i++)
			sbuf_printf(&names, "%s%s", i ? ", " : "", dataplane_all[i]->name);
		diag_add(x->d, DIAG_ERROR, x->file, line_of(x, v), NULL, f->path,
			 "unknown mode \"%s\" (kroute has: %s)", arg, sbuf_cstr(&names));
		sbuf_free(&names);
	}
}

static void walk(struct cfg_dec *x, const struct doc *map, const char *prefix)
{
	for (size_t i = 0; i < map->n; i++) {
		const struct doc *v = map->v[i];
		const struct cfg_field *f;
		char path[FIELD_PATH_MAX];

		if (!prefix && (streq(map->keys[i], "apiVersion") || streq(map->keys[i], "kind")))
			continue;
		snprintf(path, sizeof(path), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
			 map->keys[i]);
		f = field_find(path);
		if (!f) {
			diag_add(x->d, DIAG_WARNING, x->file, line_of(x, v), NULL, NULL,
				 "unknown field \"%s\", ignored (kube-proxy reads v1alpha1 leniently"
				 " when its strict decoding fails, and ignores it too)", path);
			continue;
		}
		if (!type_ok(f, v)) {
			if (v->type == DOC_INT && (f->type == CT_INT32 || f->type == CT_UINT32))
				diag_add(x->d, DIAG_ERROR, x->file, line_of(x, v), NULL, path,
					 "%lld is out of range for %s", v->i, type_wanted(f->type));
			else
				diag_add(x->d, DIAG_ERROR, x->file, line_of(x, v), NULL, path,
					 "must be %s, not %s", type_wanted(f->type),
					 doc_type_name(v->type));
			continue;
		}
		if (f->type == CT_STRUCT) {
			if (v->type == DOC_MAP)
				walk(x, v, path);
			continue;
		}
		if (f->type == CT_DURATION && v->type == DOC_STR) {
			int64_t ns;
			char err[256];

			if (opt_parse_go_duration(v->text, &ns, err, sizeof(err)) < 0) {
				diag_add(x->d, DIAG_ERROR, x->file, line_of(x, v), NULL, path,
					 "\"%s\": %s", v->text, err);
				continue;
			}
		}
		if (is_unset(f, v) || !when_holds(f->when, x->mode))
			continue;
		if (f->kroute_does && v->text && streq(v->text, f->kroute_does))
			continue;
		apply_field(x, f, v);
	}
}

/* apiVersion and kind, as the universal decoder checks them. */
static bool check_type_meta(struct cfg_dec *x, const struct doc *obj)
{
	const struct doc *api = doc_get(obj, "apiVersion"), *kind = doc_get(obj, "kind");
	bool ok = true;

	if (!api || api->type != DOC_STR || !streq(api->text, CONFIG_API_VERSION)) {
		diag_add(x->d, DIAG_ERROR, x->file, line_of(x, api ? api : obj), NULL, "apiVersion",
			 "%s%s%s: kroute reads " CONFIG_API_VERSION, api ? "\"" : "missing",
			 api && api->text ? api->text : "", api ? "\"" : "");
		ok = false;
	}
	if (!kind || kind->type != DOC_STR || !streq(kind->text, CONFIG_KIND)) {
		diag_add(x->d, DIAG_ERROR, x->file, line_of(x, kind ? kind : obj), NULL, "kind",
			 "%s%s%s: must be " CONFIG_KIND, kind ? "\"" : "missing",
			 kind && kind->text ? kind->text : "", kind ? "\"" : "");
		ok = false;
	}
	return ok;
}

static int on_document(const struct doc *obj, void *userdata)
{
	struct cfg_dec *x = userdata;
	const struct doc *mode;

	if (++x->n_docs > 1) {
		diag_add(x->d, DIAG_ERROR, x->file, obj->line, NULL, NULL,
			 "more than one document: a config file holds one " CONFIG_KIND);
		return -EINVAL;
	}
	if (obj->type != DOC_MAP) {
		diag_add(x->d, DIAG_ERROR, x->file, obj->line, NULL, NULL,
			 "must be a mapping (a " CONFIG_KIND "), not %s", doc_type_name(obj->type));
		return 0;
	}
	if (!check_type_meta(x, obj))
		return 0;
	mode = doc_get(obj, "mode");
	if (!x->mode && mode && mode->type == DOC_STR)
		x->mode = mode->text;
	walk(x, obj, NULL);
	return 0;
}

int config_apply_buffer(const char *name, const char *buf, size_t len, bool json,
			struct flag_ref *refs, size_t n, const char *cmdline_mode,
			struct run_cfg *cfg, struct diag *d)
{
	struct cfg_dec x = {
		.file = name, .d = d, .refs = refs, .n_refs = n, .mode = cmdline_mode, .cfg = cfg,
	};
	struct doc_reader r = {
		.file = name,
		.limits = &doc_default_limits,
		.diag = d,
		.on_object = on_document,
		.userdata = &x,
	};
	size_t errors = d->n_errors;
	int ret;

	ret = json ? doc_read_json(&r, buf, len) : doc_read_yaml(&r, buf, len);
	if (ret == 0 && x.n_docs == 0)
		diag_add(d, DIAG_ERROR, name, 0, NULL, NULL, "no " CONFIG_KIND " in the file");
	return ret < 0 || d->n_errors > errors ? -EINVAL : 0;
}

int config_apply_file(const char *path, struct flag_ref *refs, size_t n,
		      const char *cmdline_mode, struct run_cfg *cfg, struct diag *d)
{
	char *buf;
	size_t len;
	int r;

	r = manifest_read_file(path, CONFIG_MAX_BYTES, &buf, &len, d);
	if (r < 0)
		return -EINVAL;
	r = config_apply_buffer(streq(path, "-") ? "<stdin>" : path, buf, len,
				manifest_looks_like_json(path, buf, len), refs, n, cmdline_mode,
				cfg, d);
	free(buf);
	return r;
}

/* The YAML text of f's effective value into out; false when it has none to show. */
static bool value_text(const struct cfg_field *f, const struct flag_ref *ref,
		       const struct run_cfg *cfg, struct sbuf *out)
{
	const void *field = (const char *)ref->opts + ref->spec->offset;
	char buf[64];

	if (f->write) {
		f->write(out, cfg);
		return true;
	}
	switch (ref->spec->kind) {
	case OPT_SWITCH:
	case OPT_BOOL:
		sbuf_adds(out, *(const bool *)field ? "true" : "false");
		return true;
	case OPT_UINT:
		sbuf_printf(out, "%u", *(const unsigned *)field);
		return true;
	case OPT_DURATION:
		opt_format_duration(*(const uint64_t *)field, buf, sizeof(buf));
		sbuf_add_yaml_str(out, buf);
		return true;
	case OPT_STRING:
		if (!*(const char *const *)field)
			return false;
		sbuf_add_yaml_str(out, *(const char *const *)field);
		return true;
	case OPT_CUSTOM:
		break;
	}
	return false;
}

void config_each_value(struct flag_ref *refs, size_t n, const struct run_cfg *cfg,
		       void (*fn)(const char *field, const char *value, void *arg), void *arg)
{
	for (size_t i = 0; i < ARRAY_SIZE(cfg_fields); i++) {
		const struct cfg_field *f = &cfg_fields[i];
		struct flag_ref *ref = f->flag ? flag_ref_find(refs, n, f->flag) : NULL;
		struct sbuf v = { 0 };

		if (ref && when_holds(f->when, cfg->mode) && value_text(f, ref, cfg, &v))
			fn(f->path, sbuf_cstr(&v), arg);
		sbuf_free(&v);
	}
}

struct writer {
	struct sbuf *out;
	char section[FIELD_PATH_MAX];   /* the struct whose fields are being written */
};

static void write_one(const char *field, const char *value, void *arg)
{
	struct writer *w = arg;
	const char *dot = strchr(field, '.');
	size_t slen = dot ? (size_t)(dot - field) : 0;

	if (dot && (strlen(w->section) != slen || strncmp(w->section, field, slen))) {
		snprintf(w->section, sizeof(w->section), "%.*s", (int)slen, field);
		sbuf_printf(w->out, "%s:\n", w->section);
	} else if (!dot) {
		w->section[0] = '\0';
	}
	sbuf_printf(w->out, "%s%s: %s\n", dot ? "  " : "", dot ? dot + 1 : field, value);
}

void config_write(struct sbuf *out, struct flag_ref *refs, size_t n, const struct run_cfg *cfg)
{
	struct writer w = { .out = out };

	SBUF_ADDL(out, "apiVersion: " CONFIG_API_VERSION "\nkind: " CONFIG_KIND "\n");
	config_each_value(refs, n, cfg, write_one, &w);
}
