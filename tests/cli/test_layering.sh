#!/usr/bin/env bash
# The dependency direction is written down once, in each src/ folder's README
# ("May include: `core/`, `model/` ..."); this test holds the code to it.
# Every #include "dir/file.h" in a folder must name the folder itself, a
# subfolder of it, or a prefix its README allows.  A folder without such a
# line fails: every folder says what it may include.
set -uo pipefail
src=${KROUTE_SRC:?KROUTE_SRC is the source root}/src
fail=0
checked=0

while IFS= read -r dir; do
	rel=${dir#"$src"/}
	[ "$dir" = "$src" ] && continue
	readme=$dir/README.md
	if [ ! -f "$readme" ]; then
		echo "FAIL: src/$rel has no README.md"
		fail=1
		continue
	fi
	line=$(grep -m1 '^May include:' "$readme" || true)
	if [ -z "$line" ]; then
		echo "FAIL: src/$rel/README.md has no 'May include:' line"
		fail=1
		continue
	fi
	# Allowed prefixes: the backticked paths on that line, plus the folder itself.
	mapfile -t allowed < <(grep -o '`[a-z0-9_/.]*`' <<<"$line" | tr -d '`')
	allowed+=("$rel/")
	for f in "$dir"/*.[ch]; do
		[ -e "$f" ] || continue
		while IFS= read -r inc; do
			ok=0
			for a in "${allowed[@]}"; do
				[[ $inc == "$a"* ]] && { ok=1; break; }
			done
			checked=$((checked + 1))
			if [ "$ok" -eq 0 ]; then
				echo "FAIL: ${f#"$src"/} includes \"$inc\"; src/$rel/README.md allows: ${allowed[*]}"
				fail=1
			fi
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" | grep '/')
	done
done < <(find "$src" -type d | sort)

echo "layering: $checked includes checked"
exit "$fail"
