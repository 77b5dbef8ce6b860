#!/usr/bin/env bash
# Builds kroute into build/ (optimised, the binary users run: build/kroute).
# With "asan" as the first argument, builds the sanitizer build in build-asan/
# that the unit tests run under (AddressSanitizer + UndefinedBehaviorSanitizer,
# any finding is fatal).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
case "${1:-release}" in
release)
	[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
	ninja -C build -j "$jobs" >/dev/null
	;;
asan)
	[ -f build-asan/build.ninja ] || meson setup build-asan --buildtype=debug \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all >/dev/null
	ninja -C build-asan -j "$jobs" >/dev/null
	;;
fuzz)
	[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz --buildtype=debugoptimized \
		-Dfuzz=true -Dtests=false -Db_lundef=false >/dev/null
	ninja -C build-fuzz -j "$jobs" >/dev/null
	;;
*)
	echo "usage: $0 [release|asan|fuzz]" >&2
	exit 2
	;;
esac
