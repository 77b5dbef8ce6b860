#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Side by side: every scenario row's outcome in each mode of one data-plane
run (engine.sh's dp_record files, outcomes/MODE.tsv), the reference modes (the
real kube-proxy) against kroute's modes.  Prints one line per row with each
mode's outcome, then every difference between a reference mode and a kroute
mode with the reason intended-differences.table gives for it, and exits 1 when
a difference is not listed there, or when an entry there names modes that all
ran and matched nothing (the table must stay true).

  compare-outcomes.py --intended FILE --reference MODE [--reference MODE...] OUTCOMES.tsv...

A difference, for one row, between reference R and kroute mode K:
  - one ran the row and the other skipped it (a capability one has: the
    entry is "cap:NAME", or the row itself);
  - the row held in one and not in the other (ok versus fail);
  - neither held and the outcomes differ.
Both holding is no difference: the row's expectation is what both did (their
outcome sets, printed, may still differ where the expectation allows a
choice).  With no kroute mode in the run, a reference mode is compared with
the table itself (pseudo-mode "table": every row holds), which entries for
every kroute mode ("*") cover.
"""
import argparse
import fnmatch
import os
import sys

import pipe_table


def load_outcomes(path):
    rows = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                sys.exit(f"{path}:{n}: expected 5 tab-separated fields, got {len(parts)}")
            lineno, verdict, outcomes, seen, what = parts
            if not lineno.isdigit():
                sys.exit(f"{path}:{n}: bad line number '{lineno}'")
            if verdict not in ("ok", "fail") and not verdict.startswith("skip:"):
                sys.exit(f"{path}:{n}: bad verdict '{verdict}'")
            rows[(int(lineno), what)] = (verdict, outcomes, seen)
    return rows


class Entry:
    def __init__(self, where, refs, kroute, row, reason):
        self.where, self.refs, self.kroute, self.row, self.reason = where, refs, kroute, row, reason
        self.used = False

    def covers_modes(self, ref, mode):
        return (any(fnmatch.fnmatchcase(ref, p) for p in self.refs)
                and any(fnmatch.fnmatchcase(mode, p) for p in self.kroute))


def load_intended(path):
    entries = []
    for where, (refs, kroute, row, reason) in pipe_table.read(
            path, ["REFERENCES", "KROUTE-MODES", "ROW", "REASON"]):
        entries.append(Entry(where, refs.split(","), kroute.split(","), row, reason))
    return entries


def cls(verdict):
    return "skip" if verdict.startswith("skip:") else verdict


def cap_of(verdict):
    return verdict.split(":", 1)[1].lstrip("!")


def cell(v):
    verdict, outcomes, seen = v
    if verdict.startswith("skip:"):
        return f"skip({verdict[5:]})"
    text = outcomes if seen == "-" else f"{outcomes} seen {seen}"
    return text if verdict == "ok" else f"FAIL {text}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--intended", required=True)
    ap.add_argument("--reference", action="append", default=[])
    ap.add_argument("outcomes", nargs="+")
    args = ap.parse_args()
    modes = {}
    for path in args.outcomes:
        modes[os.path.basename(path).removesuffix(".tsv")] = load_outcomes(path)
    refs = [m for m in modes if m in args.reference]
    if not refs:
        sys.exit("compare-outcomes: no reference mode among the outcomes")
    kroute = [m for m in modes if m not in refs]
    entries = load_intended(args.intended)
    keys = sorted(set().union(*(set(r) for r in modes.values())))
    order = refs + kroute

    print("== every row, every mode (" + " | ".join(order) + ")")
    for key in keys:
        cells = [cell(modes[m][key]) if key in modes[m] else "(not run)" for m in order]
        print(f"{key[0]:4d} {key[1][:70]}")
        print("       " + " | ".join(cells))

    print("== differences from the reference")
    unlisted = 0
    intended = {}
    table_mode = ("ok", "-", "-")
    for key in keys:
        lineno, what = key
        for r in refs:
            if key not in modes[r]:
                continue
            vr = modes[r][key]
            others = [(k, modes[k].get(key)) for k in kroute] or [("table", table_mode)]
            for k, vk in others:
                if vk is None:
                    continue
                cr, ck = cls(vr[0]), cls(vk[0])
                if cr == ck == "ok" or cr == ck == "skip":
                    continue
                if cr == ck == "fail" and vr[1:] == vk[1:]:
                    continue
                names = {what}
                if "skip" in (cr, ck):
                    names.add("cap:" + cap_of(vr[0] if cr == "skip" else vk[0]))
                match = None
                for e in entries:
                    if e.row in names and (e.covers_modes(r, k) if k != "table" else "*" in e.kroute
                                           and any(fnmatch.fnmatchcase(r, p) for p in e.refs)):
                        match = e
                        break
                pair = f"{r} {cell(vr)} / {k} {cell(vk)}"
                if match:
                    match.used = True
                    intended.setdefault((lineno, what, match.where, match.reason), []).append(pair)
                else:
                    unlisted += 1
                    print(f"NOT INTENDED: line {lineno}: {what}: {pair}")
    for (lineno, what, where, reason), pairs in intended.items():
        print(f"intended: line {lineno}: {what}\n    " + "\n    ".join(pairs) +
              f"\n    because: {reason} ({os.path.basename(where)})")

    # An entry whose every named mode ran, for a row that ran, and that
    # matched nothing no longer says something true.
    stale = 0
    whats = {what for _, what in keys}
    for e in entries:
        if e.used or not kroute:
            continue
        named_ran = all(any(fnmatch.fnmatchcase(m, p) for m in refs) for p in e.refs) and \
            all(any(fnmatch.fnmatchcase(m, p) for m in kroute) for p in e.kroute)
        row_ran = e.row.startswith("cap:") or e.row in whats
        if named_ran and row_ran:
            stale += 1
            print(f"STALE: {e.where}: '{e.row}' is listed, but those modes do not differ there")
    print(f"compare-outcomes: {len(keys)} rows, {len(modes)} modes; "
          f"{unlisted} difference(s) not intended, {stale} stale entr{'y' if stale == 1 else 'ies'}")
    return 1 if unlisted or stale else 0


if __name__ == "__main__":
    sys.exit(main())
