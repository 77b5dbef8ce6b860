/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The traffic description (docs/sim.md), one statement a line, # comments:
 *
 *   pods NODE NS/NAME[:PORT] RPS [clients=N]
 *   external NODE NS/NAME[:PORT] RPS [clients=N]
 *   latency same-node|same-zone|cross-zone MS
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sim/sim.h"

#define SIM_DEFAULT_CLIENTS 100u
#define SIM_MAX_RPS 10000000u

static int fail(char *err, size_t errlen, const char *name, unsigned lineno, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t errlen, const char *name, unsigned lineno, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "%s:%u: ", name, lineno);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*ret = (uint32_t)v;
	return true;
}

static bool parse_ms(const char *s, double *ret)
{
	char *end;
	double v;

	if (*s < '0' || *s > '9')
		return false;
	v = strtod(s, &end);
	if (*end || v < 0 || v > 1e6)
		return false;
	*ret = v;
	return true;
}

static int parse_latency(char **tok, size_t n, struct sim_traffic *t, const char *name,
			 unsigned lineno, char *err, size_t errlen)
{
	double *slot = NULL;

	if (n != 3)
		return fail(err, errlen, name, lineno, "expected: latency same-node|same-zone|cross-zone MS");
	if (streq(tok[1], "same-node"))
		slot = &t->ms_same_node;
	else if (streq(tok[1], "same-zone"))
		slot = &t->ms_same_zone;
	else if (streq(tok[1], "cross-zone"))
		slot = &t->ms_cross_zone;
	if (!slot)
		return fail(err, errlen, name, lineno, "\"%s\" is not same-node, same-zone or cross-zone", tok[1]);
	if (!parse_ms(tok[2], slot))
		return fail(err, errlen, name, lineno, "\"%s\" is not a latency in milliseconds", tok[2]);
	return 0;
}

static int parse_flow(char **tok, size_t n, struct sim_traffic *t, const char *name,
		      unsigned lineno, char *err, size_t errlen)
{
	struct sim_line l = { .from = streq(tok[0], "pods") ? SIM_FROM_PODS : SIM_FROM_EXTERNAL,
			      .clients = SIM_DEFAULT_CLIENTS, .lineno = lineno };
	char *colon;

	if (n < 4 || n > 5)
		return fail(err, errlen, name, lineno, "expected: %s NODE NAMESPACE/NAME[:PORT] RPS [clients=N]", tok[0]);
	if (!strchr(tok[2], '/'))
		return fail(err, errlen, name, lineno, "\"%s\" is not NAMESPACE/NAME[:PORT]", tok[2]);
	if (!parse_u32(tok[3], 1, SIM_MAX_RPS, &l.rps))
		return fail(err, errlen, name, lineno, "\"%s\" is not a request rate (1..%u)", tok[3], SIM_MAX_RPS);
	if (n == 5 && (strncmp(tok[4], "clients=", 8) || !parse_u32(tok[4] + 8, 1, SIM_MAX_RPS, &l.clients)))
		return fail(err, errlen, name, lineno, "\"%s\" is not clients=N (1..%u)", tok[4], SIM_MAX_RPS);
	colon = strchr(tok[2], ':');
	if (colon && !colon[1])
		return fail(err, errlen, name, lineno, "\"%s\" has an empty port", tok[2]);
	l.node = xstrdup(tok[1]);
	l.service = colon ? xstrndup(tok[2], (size_t)(colon - tok[2])) : xstrdup(tok[2]);
	l.port = colon ? xstrdup(colon + 1) : NULL;
	VEC_PUSH(t->v, t->n, t->cap, l);
	return 0;
}

int sim_traffic_parse(const char *name, const char *text, struct sim_traffic *t, char *err,
		      size_t errlen)
{
	char *copy = xstrdup(text), *save = NULL, *line;
	unsigned lineno = 0;
	int r = 0;

	*t = (struct sim_traffic){ .ms_same_node = 0, .ms_same_zone = 0.2, .ms_cross_zone = 1.0 };
	/* strtok_r would skip empty lines and so miscount them: walk by hand. */
	for (line = copy; r == 0 && line; line = save) {
		char *tok[8], *p, *s2 = NULL;
		size_t n = 0;

		save = strchr(line, '\n');
		if (save)
			*save++ = '\0';
		lineno++;
		p = strchr(line, '#');
		if (p)
			*p = '\0';
		for (p = strtok_r(line, " \t\r", &s2); p && n < 8; p = strtok_r(NULL, " \t\r", &s2))
			tok[n++] = p;
		if (!n)
			continue;
		if (n == 8)
			r = fail(err, errlen, name, lineno, "too many words");
		else if (streq(tok[0], "pods") || streq(tok[0], "external"))
			r = parse_flow(tok, n, t, name, lineno, err, errlen);
		else if (streq(tok[0], "latency"))
			r = parse_latency(tok, n, t, name, lineno, err, errlen);
		else
			r = fail(err, errlen, name, lineno, "\"%s\": a line starts with pods, external or latency", tok[0]);
	}
	free(copy);
	if (r == 0 && !t->n)
		r = fail(err, errlen, name, lineno, "no traffic (a pods or external line)");
	if (r < 0)
		sim_traffic_done(t);
	return r;
}

void sim_traffic_done(struct sim_traffic *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].node);
		free(t->v[i].service);
		free(t->v[i].port);
	}
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}
