/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsers for kroute.io/scheduler, kroute.io/scheduler-flags and
 * kroute.io/endpoint-weights; the grammar is in sched_config.h. Pure
 * functions: no I/O, no globals, errors as one line in the caller's buffer
 * naming the offending token (quoted, cut at TOKEN_SHOW bytes).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_config.h"
#include "sched/sched_internal.h"

#define TOKEN_SHOW 64

/* A token of the input: [p, p + len), blanks trimmed. */
struct token {
	const char *p;
	size_t len;
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static struct token trim(const char *p, size_t len)
{
	while (len && is_blank(*p)) {
		p++;
		len--;
	}
	while (len && is_blank(p[len - 1]))
		len--;
	return (struct token){ p, len };
}

/* Printable, bounded copy of a token for messages. */
static const char *show(struct token t, char *buf, size_t size)
{
	size_t n = t.len < size - 4 ? t.len : size - 4;
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (t.p[i] >= 0x20 && t.p[i] < 0x7f) ? t.p[i] : '?';
	if (n < t.len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static bool tok_eq(struct token t, const char *s)
{
	return strlen(s) == t.len && memcmp(t.p, s, t.len) == 0;
}

/* Decimal digits only, value <= max. */
static bool parse_uint(struct token t, uint32_t max, uint32_t *ret_value)
{
	uint64_t v = 0;

	if (!t.len)
		return false;
	for (size_t i = 0; i < t.len; i++) {
		if (t.p[i] < '0' || t.p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(t.p[i] - '0');
		if (v > max)
			return false;
	}
	*ret_value = (uint32_t)v;
	return true;
}

/*
 * Split s at commas. Calls fn for each trimmed token with its 1-based
 * position; stops at the first error. An empty or all-blank s has no tokens.
 */
static int for_each_token(const char *s, int (*fn)(struct token t, size_t pos, void *arg),
			  void *arg)
{
	struct token all = trim(s, strlen(s));
	const char *p = all.p, *end = all.p + all.len;
	size_t pos = 1;

	if (!all.len)
		return 0;
	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		int r = fn(trim(p, (size_t)(stop - p)), pos++, arg);

		if (r < 0)
			return r;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static void list_names(char *buf, size_t size)
{
	size_t off = 0;
	const struct sched_info *info;

	buf[0] = '\0';
	for (size_t i = 0; (info = sched_info_get(i)); i++) {
		int w = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", info->name);

		if (w < 0 || (size_t)w >= size - off)
			break;
		off += (size_t)w;
	}
}

/*
 * kroute.io/scheduler. On success *ret_name points at the registry's
 * constant name. -EINVAL when empty or unknown; the message lists the valid
 * names.
 */
int sched_parse_name(const char *s, const char **ret_name, char *err, size_t errlen)
{
	struct token t = trim(s ? s : "", s ? strlen(s) : 0);
	const struct sched_info *info;
	char names[256], shown[TOKEN_SHOW + 4];

	list_names(names, sizeof(names));
	if (!t.len)
		return fail(err, errlen, "empty scheduler name; valid: %s", names);
	for (size_t i = 0; (info = sched_info_get(i)); i++) {
		if (tok_eq(t, info->name)) {
			*ret_name = info->name;
			return 0;
		}
	}
	return fail(err, errlen, "unknown scheduler \"%s\"; valid: %s",
		    show(t, shown, sizeof(shown)), names);
}

struct flags_ctx {
	uint32_t flags;
	uint32_t maglev_size, mh_size;
	char *err;
	size_t errlen;
};

static const struct {
	const char *name;
	uint32_t flag;
} flag_names[] = {
	{ "sh-fallback", SCHED_F_SH_FALLBACK },
	{ "sh-port", SCHED_F_SH_PORT },
	{ "mh-fallback", SCHED_F_MH_FALLBACK },
	{ "mh-port", SCHED_F_MH_PORT },
};

#define VALID_FLAGS                                                                                \
	"sh-fallback, sh-port, mh-fallback, mh-port, maglev-table-size=N, mh-table-size=N"
#define MH_SIZES "251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071"

static int flag_token(struct token t, size_t pos, void *arg)
{
	struct flags_ctx *c = arg;
	char shown[TOKEN_SHOW + 4];
	const char *eq;
	struct token key, val;
	uint32_t v;

	if (!t.len)
		return fail(c->err, c->errlen, "empty scheduler flag at position %zu; valid: %s",
			    pos, VALID_FLAGS);
	for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (tok_eq(t, flag_names[i].name)) {
			c->flags |= flag_names[i].flag;
			return 0;
		}
	}
	eq = memchr(t.p, '=', t.len);
	if (!eq)
		goto unknown;
	key = trim(t.p, (size_t)(eq - t.p));
	val = trim(eq + 1, (size_t)(t.p + t.len - eq - 1));
	if (tok_eq(key, "maglev-table-size")) {
		if (!parse_uint(val, SCHED_MAGLEV_MAX_SIZE, &v) || v < SCHED_MAGLEV_MIN_SIZE ||
		    !sched_is_prime(v))
			return fail(c->err, c->errlen,
				    "invalid scheduler flag \"%s\": maglev-table-size must be a "
				    "prime between %u and %u",
				    show(t, shown, sizeof(shown)), SCHED_MAGLEV_MIN_SIZE,
				    SCHED_MAGLEV_MAX_SIZE);
		if (c->maglev_size && c->maglev_size != v)
			return fail(c->err, c->errlen,
				    "invalid scheduler flag \"%s\": maglev-table-size given twice",
				    show(t, shown, sizeof(shown)));
		c->maglev_size = v;
		return 0;
	}
	if (tok_eq(key, "mh-table-size")) {
		if (!parse_uint(val, UINT32_MAX, &v) || !sched_mh_tab_index(v))
			return fail(c->err, c->errlen,
				    "invalid scheduler flag \"%s\": mh-table-size must be one "
				    "of %s",
				    show(t, shown, sizeof(shown)), MH_SIZES);
		if (c->mh_size && c->mh_size != v)
			return fail(c->err, c->errlen,
				    "invalid scheduler flag \"%s\": mh-table-size given twice",
				    show(t, shown, sizeof(shown)));
		c->mh_size = v;
		return 0;
	}
unknown:
	return fail(c->err, c->errlen, "unknown scheduler flag \"%s\"; valid: %s",
		    show(t, shown, sizeof(shown)), VALID_FLAGS);
}

/*
 * kroute.io/scheduler-flags. On success cfg->flags is replaced by the parsed
 * set and the table sizes are set when given (left alone otherwise); on
 * error cfg is untouched. -EINVAL with a message naming the token.
 */
int sched_parse_flags(const char *s, struct sched_config *cfg, char *err, size_t errlen)
{
	struct flags_ctx c = { .err = err, .errlen = errlen };
	int r = for_each_token(s ? s : "", flag_token, &c);

	if (r < 0)
		return r;
	cfg->flags = c.flags;
	if (c.maglev_size)
		cfg->maglev_table_size = c.maglev_size;
	if (c.mh_size)
		cfg->mh_table_size = c.mh_size;
	return 0;
}

struct weights_ctx {
	struct sched_weight_rule *rules;
	size_t n;
	char *err;
	size_t errlen;
};

static bool parse_addr(struct token t, int family, uint8_t out[16])
{
	char buf[INET6_ADDRSTRLEN + 1];

	if (!t.len || t.len >= sizeof(buf))
		return false;
	memcpy(buf, t.p, t.len);
	buf[t.len] = '\0';
	memset(out, 0, 16);
	return inet_pton(family, buf, out) == 1;
}

static int weight_token(struct token t, size_t pos, void *arg)
{
	struct weights_ctx *c = arg;
	struct sched_weight_rule rule = { 0 };
	char shown[TOKEN_SHOW + 4], shown2[TOKEN_SHOW + 4];
	const char *eq, *colon;
	struct token lhs, addr = { NULL, 0 }, port = { NULL, 0 }, weight;
	uint32_t v;

	if (!t.len)
		return fail(c->err, c->errlen, "empty endpoint weight entry at position %zu", pos);
	if (c->n == SCHED_WEIGHT_RULES_MAX)
		return fail(c->err, c->errlen,
			    "too many endpoint weight entries (max %d) at \"%s\"",
			    SCHED_WEIGHT_RULES_MAX, show(t, shown, sizeof(shown)));
	eq = memrchr(t.p, '=', t.len);
	if (!eq)
		return fail(c->err, c->errlen,
			    "invalid endpoint weight \"%s\": expected address[:port]=weight",
			    show(t, shown, sizeof(shown)));
	lhs = trim(t.p, (size_t)(eq - t.p));
	weight = trim(eq + 1, (size_t)(t.p + t.len - eq - 1));

	if (lhs.len && lhs.p[0] == '[') {
		const char *close = memchr(lhs.p, ']', lhs.len);
		const char *after;

		if (!close)
			goto bad_addr;
		addr = (struct token){ lhs.p + 1, (size_t)(close - lhs.p - 1) };
		after = close + 1;
		if (after < lhs.p + lhs.len) {
			if (*after != ':') {
				addr = lhs;
				goto bad_addr;
			}
			port = (struct token){ after + 1, (size_t)(lhs.p + lhs.len - after - 1) };
			if (!port.len)
				goto bad_port;
		}
		rule.family = AF_INET6;
	} else {
		colon = memchr(lhs.p, ':', lhs.len);
		if (colon && memchr(colon + 1, ':', (size_t)(lhs.p + lhs.len - colon - 1))) {
			addr = lhs; /* bare IPv6 */
			rule.family = AF_INET6;
		} else if (colon) {
			addr = (struct token){ lhs.p, (size_t)(colon - lhs.p) };
			port = (struct token){ colon + 1, (size_t)(lhs.p + lhs.len - colon - 1) };
			if (!port.len)
				goto bad_port;
			rule.family = AF_INET;
		} else {
			addr = lhs;
			rule.family = AF_INET;
		}
	}
	if (!parse_addr(addr, rule.family, rule.addr))
		goto bad_addr;
	if (port.len) {
		if (!parse_uint(port, 65535, &v) || v == 0)
			goto bad_port;
		rule.port = (uint16_t)v;
	}
	if (!parse_uint(weight, SCHED_WEIGHT_MAX, &v))
		return fail(c->err, c->errlen,
			    "invalid endpoint weight \"%s\": weight \"%s\" must be 0..%u",
			    show(t, shown, sizeof(shown)), show(weight, shown2, sizeof(shown2)),
			    SCHED_WEIGHT_MAX);
	rule.weight = v;
	for (size_t i = 0; i < c->n; i++) {
		const struct sched_weight_rule *o = &c->rules[i];

		if (o->family == rule.family && o->port == rule.port &&
		    memcmp(o->addr, rule.addr, 16) == 0)
			return fail(c->err, c->errlen,
				    "duplicate endpoint weight \"%s\" at position %zu: \"%s\" is "
				    "already given",
				    show(t, shown, sizeof(shown)), pos,
				    show(lhs, shown2, sizeof(shown2)));
	}
	c->rules[c->n++] = rule;
	return 0;

bad_addr:
	return fail(c->err, c->errlen, "invalid endpoint weight \"%s\": bad address \"%s\"",
		    show(t, shown, sizeof(shown)), show(addr.p ? addr : lhs, shown2,
								    sizeof(shown2)));
bad_port:
	return fail(c->err, c->errlen,
		    "invalid endpoint weight \"%s\": port \"%s\" must be 1..65535",
		    show(t, shown, sizeof(shown)), show(port, shown2, sizeof(shown2)));
}

/*
 * kroute.io/endpoint-weights. On success *ret_rules is a malloc'ed array
 * owned by the caller (free()), NULL when *ret_n is 0. Errors: -EINVAL with
 * a message naming the token (also for more than SCHED_WEIGHT_RULES_MAX
 * entries), -ENOMEM.
 */
int sched_parse_weights(const char *s, struct sched_weight_rule **ret_rules, size_t *ret_n,
			char *err, size_t errlen)
{
	struct weights_ctx c = { .err = err, .errlen = errlen };
	size_t commas = 1;
	int r;

	s = s ? s : "";
	for (const char *p = s; *p; p++)
		commas += *p == ',';
	if (commas > SCHED_WEIGHT_RULES_MAX + 1)
		commas = SCHED_WEIGHT_RULES_MAX + 1;
	c.rules = calloc(commas, sizeof(*c.rules));
	if (!c.rules)
		return -ENOMEM;
	r = for_each_token(s, weight_token, &c);
	if (r < 0) {
		free(c.rules);
		return r;
	}
	if (!c.n) {
		free(c.rules);
		c.rules = NULL;
	}
	*ret_rules = c.rules;
	*ret_n = c.n;
	return 0;
}

/*
 * Set the weight of every destination a rule matches: an address:port rule
 * first, else an address-only rule; others are left alone. Returns how many
 * destinations got a weight. Call sched_prepare() afterwards.
 */
size_t sched_weights_apply(const struct sched_weight_rule *rules, size_t n_rules,
			   struct sched_dest *dests, size_t n_dests)
{
	size_t applied = 0;

	for (size_t i = 0; i < n_dests; i++) {
		struct sched_dest *d = &dests[i];
		const struct sched_weight_rule *any = NULL, *exact = NULL;
		size_t alen = sched_addr_len(d->family);

		for (size_t j = 0; j < n_rules && !exact; j++) {
			const struct sched_weight_rule *rl = &rules[j];

			if (rl->family != d->family || memcmp(rl->addr, d->addr, alen) != 0)
				continue;
			if (rl->port == d->port)
				exact = rl;
			else if (!rl->port)
				any = rl;
		}
		if (exact || any) {
			d->weight = (exact ? exact : any)->weight;
			applied++;
		}
	}
	return applied;
}
