#!/bin/bash
# Min and median of 7 runs of point_profile (single runs move by 10-20% on
# a shared host).
#   benches/point_profile.sh ROWS select|insert [N]
# ROWS sizes the table (AIONDB_PROFILE_ROWS), N the statements per run.
# BIN overrides the binary (default target/release/point_profile).
set -euo pipefail
rows=${1:?usage: point_profile.sh ROWS select|insert [N]}
mode=${2:?usage: point_profile.sh ROWS select|insert [N]}
n=${3:-1000000}
case "$mode" in select|insert) ;; *) echo "mode must be select or insert" >&2; exit 2 ;; esac
bin=${BIN:-${CARGO_TARGET_DIR:-target}/release/point_profile}
for _ in 1 2 3 4 5 6 7; do
    AIONDB_PROFILE_ROWS=$rows "$bin" "$n" "$mode" | grep -oE "$mode [0-9.]+" | awk '{print $2}'
done | sort -n | awk -v m="$mode" '{a[NR]=$1} END {printf "%s: min %s us, median %s us\n", m, a[1], a[4]}'
