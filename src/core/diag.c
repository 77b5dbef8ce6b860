/* SPDX-License-Identifier: Apache-2.0 */
/* Collected diagnostics; see diag.h. */
#include "core/diag.h"

#include <stdarg.h>
#include <stdlib.h>

#include "core/util.h"

void diag_init(struct diag *d)
{
	*d = (struct diag){ .max_msgs = 1000 };
}

static void msg_done(struct diag_msg *m)
{
	free(m->file);
	free(m->object);
	free(m->path);
	free(m->text);
}

void diag_done(struct diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		msg_done(&d->msgs[i]);
	free(d->msgs);
	*d = (struct diag){ .max_msgs = d->max_msgs };
}

void diag_add(struct diag *d, enum diag_level level, const char *file, int line,
	      const char *object, const char *path, const char *fmt, ...)
{
	struct diag_msg m;
	va_list ap;

	if (level == DIAG_ERROR)
		d->n_errors++;
	if (d->max_msgs && d->n >= d->max_msgs) {
		d->n_dropped++;
		return;
	}
	m.level = level;
	m.file = file ? xstrdup(file) : NULL;
	m.line = line;
	m.object = object && *object ? xstrdup(object) : NULL;
	m.path = path && *path ? xstrdup(path) : NULL;
	va_start(ap, fmt);
	if (vasprintf(&m.text, fmt, ap) < 0)
		m.text = xstrdup("(message lost: out of memory)");
	va_end(ap);
	VEC_PUSH(d->msgs, d->n, d->cap, m);
}

void diag_move(struct diag *dst, struct diag *src)
{
	for (size_t i = 0; i < src->n; i++) {
		if (dst->max_msgs && dst->n >= dst->max_msgs) {
			dst->n_dropped++;
			msg_done(&src->msgs[i]);
			continue;
		}
		VEC_PUSH(dst->msgs, dst->n, dst->cap, src->msgs[i]);
	}
	dst->n_errors += src->n_errors;
	dst->n_dropped += src->n_dropped;
	free(src->msgs);
	*src = (struct diag){ .max_msgs = src->max_msgs };
}

static const char *level_name(enum diag_level l)
{
	switch (l) {
	case DIAG_ERROR:
		return "error";
	case DIAG_WARNING:
		return "warning";
	case DIAG_NOTE:
		break;
	}
	return "note";
}

void diag_msg_format(const struct diag_msg *m, char *buf, size_t len)
{
	int off = 0;

#define APPEND(...)                                                             \
	do {                                                                    \
		int r_ = snprintf(buf + off, (size_t)off < len ? len - off : 0, \
				  __VA_ARGS__);                                 \
		if (r_ > 0)                                                     \
			off += r_;                                              \
	} while (0)
	if (m->file) {
		APPEND("%s", m->file);
		if (m->line > 0)
			APPEND(":%d", m->line);
		APPEND(": ");
	}
	APPEND("%s: ", level_name(m->level));
	if (m->object)
		APPEND("%s: ", m->object);
	if (m->path)
		APPEND("%s: ", m->path);
	APPEND("%s", m->text);
#undef APPEND
}

void diag_print(const struct diag *d, FILE *f)
{
	char buf[4096];

	for (size_t i = 0; i < d->n; i++) {
		diag_msg_format(&d->msgs[i], buf, sizeof(buf));
		fprintf(f, "kroute: %s\n", buf);
	}
	if (d->n_dropped)
		fprintf(f, "kroute: ... and %zu more messages\n", d->n_dropped);
}
