/* SPDX-License-Identifier: Apache-2.0 */
/* The Prometheus text-format writer; see prom.h. */
#include "core/prom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/util.h"

void prom_histogram_init(struct prom_histogram *h, const double *bounds, size_t n_bounds)
{
	*h = (struct prom_histogram){ .bounds = bounds, .n_bounds = n_bounds };
	h->counts = xcalloc(n_bounds ? n_bounds : 1, sizeof(*h->counts));
}

void prom_histogram_done(struct prom_histogram *h)
{
	free(h->counts);
	h->counts = NULL;
}

void prom_histogram_observe(struct prom_histogram *h, double v)
{
	for (size_t i = 0; i < h->n_bounds; i++)
		if (v <= h->bounds[i]) {
			h->counts[i]++;
			break;
		}
	h->count++;
	h->sum += v;
}

/* Escapes \ and newline, and " too when quoted (label values; HELP text is not quoted). */
static void add_escaped(struct sbuf *b, const char *s, int quoted)
{
	for (; *s; s++) {
		if (*s == '\\')
			SBUF_ADDL(b, "\\\\");
		else if (*s == '\n')
			SBUF_ADDL(b, "\\n");
		else if (*s == '"' && quoted)
			SBUF_ADDL(b, "\\\"");
		else
			sbuf_addc(b, *s);
	}
}

void prom_add_label_value(struct sbuf *b, const char *v)
{
	add_escaped(b, v, 1);
}

void prom_add_float(struct sbuf *b, double v)
{
	char buf[40];
	int digits, exp;

	if (isnan(v)) {
		SBUF_ADDL(b, "NaN");
		return;
	}
	if (isinf(v)) {
		sbuf_adds(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* The fewest significant digits that read back as v (Go's shortest). */
	for (digits = 1; digits < 17; digits++) {
		snprintf(buf, sizeof(buf), "%.*e", digits - 1, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	snprintf(buf, sizeof(buf), "%.*e", digits - 1, v);
	exp = atoi(strchr(buf, 'e') + 1);
	/*
	 * Go's 'g' with the shortest precision (what Prometheus's client writes)
	 * switches to an exponent below 1e-4 and from 1e+06 on: a Unix time is
	 * "1.7961984e+09", a millisecond "0.001".
	 */
	if (exp >= -4 && exp < 6)
		snprintf(buf, sizeof(buf), "%.*f", MAX(digits - 1 - exp, 0), v);
	sbuf_adds(b, buf);
}

void prom_family(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sbuf_printf(b, "# HELP %s ", name);
	add_escaped(b, help, 0);
	sbuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void add_labels(struct sbuf *b, const struct prom_label *labels, size_t n,
		       const char *le)
{
	if (!n && !le)
		return;
	sbuf_addc(b, '{');
	for (size_t i = 0; i < n; i++) {
		sbuf_printf(b, "%s%s=\"", i ? "," : "", labels[i].name);
		prom_add_label_value(b, labels[i].value);
		sbuf_addc(b, '"');
	}
	if (le)
		sbuf_printf(b, "%sle=\"%s\"", n ? "," : "", le);
	sbuf_addc(b, '}');
}

/* "name{labels} ": a sample up to its value. */
static void sample_head(struct sbuf *b, const char *name, const struct prom_label *labels,
			size_t n_labels)
{
	sbuf_adds(b, name);
	add_labels(b, labels, n_labels, NULL);
	sbuf_addc(b, ' ');
}

void prom_sample(struct sbuf *b, const char *name, const struct prom_label *labels, size_t n_labels,
		 double value)
{
	sample_head(b, name, labels, n_labels);
	prom_add_float(b, value);
	sbuf_addc(b, '\n');
}

void prom_sample_u(struct sbuf *b, const char *name, const struct prom_label *labels,
		   size_t n_labels, uint64_t value)
{
	sample_head(b, name, labels, n_labels);
	sbuf_addu(b, value);
	sbuf_addc(b, '\n');
}

void prom_single(struct sbuf *b, const char *name, const char *type, const char *help,
		 uint64_t value)
{
	prom_family(b, name, type, help);
	prom_sample_u(b, name, NULL, 0, value);
}

void prom_histogram_write(struct sbuf *b, const char *name, const struct prom_label *labels,
			  size_t n_labels, const struct prom_histogram *h)
{
	uint64_t cumulative = 0;
	struct sbuf le = { 0 };

	for (size_t i = 0; i <= h->n_bounds; i++) {
		le.len = 0;
		if (i < h->n_bounds) {
			prom_add_float(&le, h->bounds[i]);
			cumulative += h->counts[i];
		} else {
			SBUF_ADDL(&le, "+Inf");
			cumulative = h->count;
		}
		sbuf_printf(b, "%s_bucket", name);
		add_labels(b, labels, n_labels, sbuf_cstr(&le));
		sbuf_addc(b, ' ');
		sbuf_addu(b, cumulative);
		sbuf_addc(b, '\n');
	}
	sbuf_free(&le);
	sbuf_printf(b, "%s_sum", name);
	add_labels(b, labels, n_labels, NULL);
	sbuf_addc(b, ' ');
	prom_add_float(b, h->sum);
	sbuf_printf(b, "\n%s_count", name);
	add_labels(b, labels, n_labels, NULL);
	sbuf_printf(b, " %llu\n", (unsigned long long)h->count);
}
