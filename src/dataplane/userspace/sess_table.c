/* SPDX-License-Identifier: Apache-2.0 */
/* UDP sessions by client, seeded against hash flooding; see sess_table.h. */
#include "dataplane/userspace/sess_table.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/util.h"
#include "dataplane/userspace/worker_int.h"
#include "sched/sched.h"

#define SESS_TABLE_MIN 1024

static uint64_t secret[2];
static pthread_once_t secret_once = PTHREAD_ONCE_INIT;

static void secret_init(void)
{
	uint8_t *p = (uint8_t *)secret;
	size_t got = 0;

	/* Never blocks after boot; GRND_NONBLOCK then only fails this early in boot. */
	while (got < sizeof(secret)) {
		ssize_t n = getrandom(p + got, sizeof(secret) - got, GRND_NONBLOCK);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof(secret)) {
		/* Still different per process and per start: better than a fixed key. */
		secret[0] ^= mono_ns() * 0x9e3779b97f4a7c15ull;
		secret[1] ^= (uint64_t)(uintptr_t)&got ^ ((uint64_t)getpid() << 32);
	}
}

uint64_t us_sess_hash(const struct us_wl *wl, const struct addr *a, uint16_t port)
{
	/* Packed: listener, family, port, address (only the family's bytes). */
	uint8_t buf[sizeof(uintptr_t) + 3 + 16];
	uintptr_t id = (uintptr_t)wl;
	size_t alen = a->family == AF_INET6 ? 16 : 4;

	pthread_once(&secret_once, secret_init);
	memcpy(buf, &id, sizeof(id));
	buf[sizeof(id)] = (uint8_t)a->family;
	buf[sizeof(id) + 1] = (uint8_t)(port >> 8);
	buf[sizeof(id) + 2] = (uint8_t)port;
	memcpy(buf + sizeof(id) + 3, a->bytes, alen);
	return sched_siphash(secret[0], secret[1], buf, sizeof(id) + 3 + alen, 1, 3);
}

void us_sess_table_init(struct us_sess_table *t)
{
	t->cap = SESS_TABLE_MIN;
	t->n = 0;
	t->v = xcalloc(t->cap, sizeof(*t->v));
}

void us_sess_table_done(struct us_sess_table *t)
{
	free(t->v);
	*t = (struct us_sess_table){ 0 };
}

struct us_sess *us_sess_table_find(const struct us_sess_table *t, uint64_t h,
				   const struct us_wl *wl, const struct addr *a, uint16_t port)
{
	for (struct us_sess *s = t->v[h & (t->cap - 1)]; s; s = s->hnext)
		if (s->hash == h && s->wl == wl && s->client_port == port && addr_eq(&s->client_addr, a))
			return s;
	return NULL;
}

static void grow(struct us_sess_table *t)
{
	size_t ncap = t->cap * 2;
	struct us_sess **nv = xcalloc(ncap, sizeof(*nv));

	for (size_t i = 0; i < t->cap; i++) {
		struct us_sess *e = t->v[i], *next;

		for (; e; e = next) {
			next = e->hnext;
			e->hnext = nv[e->hash & (ncap - 1)];
			nv[e->hash & (ncap - 1)] = e;
		}
	}
	free(t->v);
	t->v = nv;
	t->cap = ncap;
}

void us_sess_table_insert(struct us_sess_table *t, struct us_sess *s)
{
	size_t b;

	if (t->n + 1 > t->cap)
		grow(t);
	b = s->hash & (t->cap - 1);
	s->hnext = t->v[b];
	t->v[b] = s;
	t->n++;
}

void us_sess_table_remove(struct us_sess_table *t, struct us_sess *s)
{
	for (struct us_sess **pp = &t->v[s->hash & (t->cap - 1)]; *pp; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			t->n--;
			return;
		}
}
