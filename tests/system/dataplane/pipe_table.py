# SPDX-License-Identifier: Apache-2.0
"""The "A | B | C" tables the kube-proxy comparisons read
(intended-differences.table here and in tests/k8s/kpdiff/): one entry a
line, '|'-separated fields, '#' comments and blank lines skipped."""
import sys


def read(path, fields):
    """Yields (where, [field, ...]) for each entry of PATH; exits naming the
    file and line when an entry has not exactly FIELDS non-empty fields."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = [p.strip() for p in text.split("|")]
            if len(parts) != len(fields) or not all(parts):
                sys.exit(f"{path}:{n}: expected '{' | '.join(fields)}'")
            yield f"{path}:{n}", parts
