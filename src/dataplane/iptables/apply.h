/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The iptables apply layer's own declarations, shared by its files and by
 * nothing else: dp_iptables.c (the ops and the sync's steps), restore.c
 * (building the iptables-restore input), kernel.c (reading the kernel's
 * chains, the jumps from the built-in chains, the helpers' command lines)
 * and cleanup.c (`kroute cleanup`).  See README.md, "The apply layer".
 */
#ifndef KROUTE_DATAPLANE_IPTABLES_APPLY_H
#define KROUTE_DATAPLANE_IPTABLES_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sbuf.h"
#include "core/strmap.h"
#include "dataplane/common/conntrack.h"
#include "dataplane/dataplane.h"
#include "dataplane/iptables/frag.h"
#include "dataplane/iptables/render.h"

struct diag;

/* What is applied for one IP family: iptables for IPv4, ip6tables for IPv6. */
struct family_state {
	int family;
	const char *cmd, *save;      /* iptables / ip6tables, and -save */
	const char *restore;         /* from dp_opts (tests wrap it) */
	bool synced;                 /* a sync of this family succeeded since start */
	bool force_full;             /* the last sync failed: the next rewrites everything */
	bool large_cluster;          /* the comment setting the cached fragments have */
	struct strmap mirror;        /* "table/chain" -> (uintptr) rules hash as applied; keys owned */
	struct strmap frags;         /* port view id (hex) -> struct ipt_frag *, as applied */
	uint64_t gen;                /* sync counter: a fragment not seen this sync is gone */
	struct ipt_frag **list;      /* this sync's fragments in view order (kept: no churn) */
	bool *fresh;                 /* list[i] was rendered this sync */
	size_t cap_list;
	struct conntrack_udp_mirror udp; /* UDP ports as applied, for the conntrack flush */
	size_t rules, chains;
};

/* A mirror change to make once the restore succeeded. */
struct pending {
	char *key;                   /* "table/chain", owned */
	uint64_t hash;               /* 0: the chain is deleted */
};

/* The restore input of one sync, built table by table. */
struct restore_input {
	struct sbuf out;             /* the whole input */
	struct sbuf rules;           /* the current table's rules (after its declarations) */
	struct sbuf tail;            /* the current table's -X lines (after its rules) */
	struct pending *pend;
	size_t n_pend, cap_pend;
};

/* One sync of one family: what its steps hand each other. */
struct sync_run {
	bool full;                   /* rewrite every chain, delete stale ones the kernel has */
	struct ipt_opts o;
	struct addr *locals;         /* the host's addresses, for --nodeport-addresses */
	struct ipt_base base;        /* the shared chains and their fixed rules */
	struct ipt_chains work;      /* the renderer's workspace for this sync's fragments */
	size_t n_list, n_fresh;      /* fragments in fs->list, of which rendered now */
	struct strmap kernel;        /* per-service nat chains iptables-save listed (full syncs) */
	struct strmap builtin;       /* "table|-A CHAIN ..." rules of the built-in chains (full) */
	struct strmap current;       /* own chains rendered this sync -> their fragment */
	struct restore_input in;
	size_t n_chains;             /* chains the ruleset declares */
};

/* restore.c */
void restore_input_build(const struct family_state *fs, struct sync_run *s);
void restore_input_done(struct restore_input *in);

/* kernel.c */
/*
 * The command lines of the iptables programs.  Every iptables, ip6tables and
 * *-restore call waits for the xtables lock at most 5 s, polling every
 * 100,000 us (kube-proxy's `-w 5 -W 100000`): a bare -w waits forever, so a
 * lock another program never releases would freeze the agent (and its
 * SIGTERM handling) instead of failing the sync, which is then retried as a
 * full sync.  iptables-save takes no lock and no -w.
 */
#define IPT_WAIT_ARGS "-w", "5", "-W", "100000"
/* `restore -w 5 -W 100000 --noflush` into argv (at least 8 slots), NULL-terminated. */
void ipt_restore_argv(const char *restore, char *argv[]);
/*
 * `cmd -w 5 -W 100000 -t table op chain [position] args...` into argv (cap
 * slots), NULL-terminated; position is NULL unless op is -I.
 */
void ipt_rule_argv(const char *cmd, const char *table, const char *op, const char *chain,
		   const char *position, const char *const *args, char *argv[], size_t cap);
/*
 * Reads one table with iptables-save: the per-service chains (into svc, when
 * given) and the rules of the built-in chains as "table|-A CHAIN ..." lines
 * (into builtin, when given).  Keys are owned by the maps.
 */
int kernel_table(const char *save, const char *table, struct strmap *svc,
		 struct strmap *builtin);
/* Every chain name table has (iptables-save), into have (keys owned). */
int kernel_chains(const char *save, const char *table, struct strmap *have);
/* Checks each jump the base's chains need and inserts the missing ones first. */
int ensure_jumps(const char *cmd, const struct ipt_base *base, const struct strmap *present,
		 struct diag *d);
/* Frees the keys of a map whose keys are owned, and empties it. */
void owned_keys_clear(struct strmap *m);

/* cleanup.c */
int ipt_cleanup(const struct dp_opts *opts, struct diag *d);

#endif
