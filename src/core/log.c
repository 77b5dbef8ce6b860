/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's log lines, text or JSON, with klog's verbosity levels; see log.h. */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/diag.h"
#include "core/sbuf.h"
#include "core/util.h"

#define LOG_MSG_MAX 1024

/* Set once by log_setup() before the threads that log exist; read-only after. */
static unsigned log_verbosity;
static enum log_format log_fmt = LOG_FORMAT_TEXT;

void log_setup(unsigned verbosity, enum log_format format)
{
	log_verbosity = verbosity;
	log_fmt = format;
}

bool log_enabled(unsigned v)
{
	return v <= log_verbosity;
}

int log_format_parse(const char *s, enum log_format *ret)
{
	if (streq(s, "text"))
		*ret = LOG_FORMAT_TEXT;
	else if (streq(s, "json"))
		*ret = LOG_FORMAT_JSON;
	else
		return -EINVAL;
	return 0;
}

const char *log_format_name(enum log_format f)
{
	return f == LOG_FORMAT_JSON ? "json" : "text";
}

/* "daemon/run.c" of "../src/daemon/run.c": zap's short caller, relative to src/. */
static const char *short_caller(const char *file)
{
	const char *p = strstr(file, "src/");

	while (p && strstr(p + 1, "src/"))
		p = strstr(p + 1, "src/");
	return p ? p + 4 : file;
}

static void add_kv_text(struct sbuf *b, const struct log_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sbuf_printf(b, " %s=", kv[i].key);
		if (kv[i].str)
			sbuf_add_json_str(b, kv[i].str);
		else
			sbuf_printf(b, "%lld", kv[i].num);
	}
}

static void add_kv_json(struct sbuf *b, const struct log_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		SBUF_ADDL(b, ",");
		sbuf_add_json_str(b, kv[i].key);
		SBUF_ADDL(b, ":");
		if (kv[i].str)
			sbuf_add_json_str(b, kv[i].str);
		else
			sbuf_printf(b, "%lld", kv[i].num);
	}
}

/* One line into b (newline included), in the configured format. */
static void format_line(struct sbuf *b, const char *file, int line, enum log_severity sev,
			unsigned v, const struct log_kv *kv, size_t n, const char *msg)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (log_fmt == LOG_FORMAT_JSON) {
		/* component-base's epochMillisTimeEncoder: float milliseconds since the epoch. */
		sbuf_printf(b, "{\"ts\":%lld.%06ld,\"caller\":\"%s:%d\",\"msg\":",
			    (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, ts.tv_nsec % 1000000,
			    short_caller(file), line);
		sbuf_add_json_str(b, msg);
		if (sev == LOG_SEV_INFO)
			sbuf_printf(b, ",\"v\":%u", v);
		add_kv_json(b, kv, n);
		SBUF_ADDL(b, "}\n");
		return;
	}
	if (sev == LOG_SEV_ERROR_UNSTAMPED) {
		sbuf_adds(b, msg);
	} else {
		struct tm tm;
		char stamp[32];

		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		sbuf_printf(b, "kroute %s.%03ld: %s", stamp, ts.tv_nsec / 1000000, msg);
	}
	add_kv_text(b, kv, n);
	sbuf_addc(b, '\n');
}

static void write_line(const char *file, int line, enum log_severity sev, unsigned v,
		       const struct log_kv *kv, size_t n, const char *msg)
{
	struct sbuf b = { 0 };

	format_line(&b, file, line, sev, v, kv, n, msg);
	/* One fwrite per line: stdio locks the stream, so threads do not interleave. */
	fwrite(b.p, 1, b.len, stderr);
	sbuf_free(&b);
}

void log_write(const char *file, int line, enum log_severity sev, unsigned v,
	       const struct log_kv *kv, size_t n, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX];
	va_list ap;

	if (sev == LOG_SEV_INFO && !log_enabled(v))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	write_line(file, line, sev, v, kv, n, msg);
}

void log_diag(const struct diag *d)
{
	if (log_fmt == LOG_FORMAT_TEXT) {
		diag_print(d, stderr);
		return;
	}
	for (size_t i = 0; i < d->n; i++) {
		const struct diag_msg *m = &d->msgs[i];
		struct log_kv kv[4];
		size_t n = 0;

		if (m->file)
			kv[n++] = (struct log_kv){ .key = "file", .str = m->file };
		if (m->line > 0)
			kv[n++] = (struct log_kv){ .key = "line", .num = m->line };
		if (m->object)
			kv[n++] = (struct log_kv){ .key = "object", .str = m->object };
		if (m->path)
			kv[n++] = (struct log_kv){ .key = "field", .str = m->path };
		write_line(__FILE__, __LINE__, m->level == DIAG_ERROR ? LOG_SEV_ERROR : LOG_SEV_INFO,
			   0, kv, n, m->text);
	}
	if (d->n_dropped) {
		struct log_kv kv = { .key = "dropped", .num = (long long)d->n_dropped };

		write_line(__FILE__, __LINE__, LOG_SEV_INFO, 0, &kv, 1, "more messages not shown");
	}
}
