/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one Prometheus text-format writer (exposition format 0.0.4), into a
 * core/sbuf: "# HELP" / "# TYPE" lines, samples with labels, histograms
 * with cumulative buckets, _sum and _count.  Label values are escaped (\\,
 * \", \n) and HELP text too (\\, \n); numbers are written as Go's
 * strconv 'g' writes them (shortest form that reads back the same; +Inf,
 * -Inf, NaN).  Names are the caller's literals and are not checked here
 * (promtool check metrics does that in the tests).
 *
 * A family's lines must be written together: prom_family() first, then its
 * samples, before the next family.
 */
#ifndef KROUTE_CORE_PROM_H
#define KROUTE_CORE_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "core/sbuf.h"

struct prom_label {
	const char *name;
	const char *value;
};

/* Buckets are upper bounds, ascending; +Inf is implicit. */
struct prom_histogram {
	const double *bounds;       /* borrowed: usually a static table */
	size_t n_bounds;
	uint64_t *counts;           /* owned: n_bounds, observations <= bounds[i] and > bounds[i-1] */
	uint64_t count;
	double sum;
};

void prom_histogram_init(struct prom_histogram *h, const double *bounds, size_t n_bounds);
void prom_histogram_done(struct prom_histogram *h);
void prom_histogram_observe(struct prom_histogram *h, double v);

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram, untyped). */
void prom_family(struct sbuf *b, const char *name, const char *type, const char *help);
/* name{labels} value */
void prom_sample(struct sbuf *b, const char *name, const struct prom_label *labels, size_t n_labels,
		 double value);
/* The same for an integer count (exact beyond 2^53). */
void prom_sample_u(struct sbuf *b, const char *name, const struct prom_label *labels,
		   size_t n_labels, uint64_t value);
/* A whole family of one unlabelled sample: HELP, TYPE and "name value". */
void prom_single(struct sbuf *b, const char *name, const char *type, const char *help,
		 uint64_t value);
/* name_bucket{labels,le="..."} for every bound and +Inf, then name_sum and name_count. */
void prom_histogram_write(struct sbuf *b, const char *name, const struct prom_label *labels,
			  size_t n_labels, const struct prom_histogram *h);

/* A label value as it goes between the quotes. */
void prom_add_label_value(struct sbuf *b, const char *v);
/* A sample value: the shortest decimal that reads back as v, or +Inf, -Inf, NaN. */
void prom_add_float(struct sbuf *b, double v);

#endif
