#!/usr/bin/env bash
# pgbench against PostgreSQL 15 and AionDB side by side, on this machine.
#
#   benches/pgbench_vs_pg.sh            # scale 2, 10 s per run, 4 clients
#   SCALE=2 SECONDS_PER_RUN=10 CLIENTS=4 THREADS=2 ROUNDS=5 benches/pgbench_vs_pg.sh
#
# PostgreSQL runs as the postgres user in a throwaway cluster (initdb in a
# temporary directory, synchronous_commit=off, port $PG_PORT); AionDB runs
# the release binary with --ephemeral on $AION_PORT. Both are initialised
# with `pgbench -i -s $SCALE`, then get the same workloads: TPC-B, -S
# (simple protocol) and -S -M prepared. Prints the TPS of each and the
# ratio aiondb/PostgreSQL; everything it started is stopped at the end.
#
# The select-only workloads also run against `wire_ceiling` (skip with
# CEILING=0; benches/src/bin/wire_ceiling.rs), a server that answers with
# canned rows and does no database work, serving its sockets the
# cheapest way we know (an epoll loop per CPU, each client served on its
# own CPU): its TPS is about the most any server can get from pgbench on
# this machine, since pgbench and the kernel's socket work share the same
# cores. The last column is that
# ceiling over PostgreSQL's TPS, about the highest ratio the aiondb column
# could show in that round.
#
# The workloads run $ROUNDS times (5), PostgreSQL and aiondb back to back
# in each round; the last lines give the median of each round's ratio
# (both servers' TPS move by 10-30% from run to run on this VM, so one
# round says little).
#
# Then the durable comparison (skip with DURABLE=0): PostgreSQL restarted
# with synchronous_commit=on, AionDB on `--storage-backend durable` with
# WAL commit policy `always` (every COMMIT fsynced, group commit), both
# re-initialised, and TPC-B with $DURABLE_CLIENTS clients (8) and 2 threads.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-2}
SECS=${SECONDS_PER_RUN:-10}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
DURABLE=${DURABLE:-1}
DURABLE_CLIENTS=${DURABLE_CLIENTS:-8}
CEILING=${CEILING:-1}
ROUNDS=${ROUNDS:-5}
PG_PORT=${PG_PORT:-5499}
AION_PORT=${AION_PORT:-5498}
CEILING_PORT=${CEILING_PORT:-5497}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
AION_USER=bench
AION_PASSWORD='Bench-Passw0rd!'

for tool in pgbench "$PG_BIN/initdb" "$PG_BIN/pg_ctl" runuser python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

if [ -z "${AIONDB_BIN:-}" ]; then
    cargo build --release -p aiondb >&2
    [ "$CEILING" = 1 ] && cargo build --release -p aiondb-bench --bin wire_ceiling >&2
    target=$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    AIONDB_BIN="$target/release/aiondb"
fi

CEILING_BIN=${CEILING_BIN:-$(dirname "$AIONDB_BIN")/wire_ceiling}
if [ "$CEILING" = 1 ] && [ ! -x "$CEILING_BIN" ]; then
    echo "no $CEILING_BIN (cargo build --release -p aiondb-bench --bin wire_ceiling): skipping the ceiling runs" >&2
    CEILING=0
fi

work=$(mktemp -d /tmp/pgbench-vs-pg.XXXXXX)
chown postgres "$work"
aion_pid=""
ceiling_pid=""
# Stops the background process $1 (if any) and waits for it.
stop() {
    if [ -n "$1" ]; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi
}
cleanup() {
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
    stop "$aion_pid"
    stop "$ceiling_pid"
    rm -rf "$work"
}
trap cleanup EXIT

echo "starting PostgreSQL 15 on 127.0.0.1:$PG_PORT (synchronous_commit=off)" >&2
runuser -u postgres -- "$PG_BIN/initdb" -D "$work/pg" -A trust -U postgres >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
    -o "-p $PG_PORT -k $work -c listen_addresses=127.0.0.1 -c synchronous_commit=off" start >/dev/null

# Waits (up to 10 s) until aiondb answers on $AION_PORT.
wait_for_aiondb() {
    for _ in $(seq 1 100); do
        PGPASSWORD=$AION_PASSWORD psql -h 127.0.0.1 -p "$AION_PORT" -U "$AION_USER" -d aiondb -X -q -c 'select 1' >/dev/null 2>&1 && return
        sleep 0.1
    done
}
# PostgreSQL's TPS, aiondb's TPS -> aiondb / PostgreSQL, two decimals.
ratio_of() {
    python3 -c "import sys; p, a = float(sys.argv[1] or 0), float(sys.argv[2] or 0); print(f'{a / p:.2f}' if p else '-')" "$1" "$2"
}

echo "starting aiondb ($AIONDB_BIN) on 127.0.0.1:$AION_PORT" >&2
RUST_LOG=warn "$AIONDB_BIN" --ephemeral --no-observability --listen-addr "127.0.0.1:$AION_PORT" \
    --bootstrap-user "$AION_USER" --bootstrap-password "$AION_PASSWORD" >"$work/aiondb.log" 2>&1 &
aion_pid=$!
wait_for_aiondb

if [ "$CEILING" = 1 ]; then
    "$CEILING_BIN" "127.0.0.1:$CEILING_PORT" 2>/dev/null &
    ceiling_pid=$!
fi

pg() { pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@" postgres; }
aion() { PGPASSWORD=$AION_PASSWORD pgbench -h 127.0.0.1 -p "$AION_PORT" -U "$AION_USER" "$@" aiondb; }
ceiling() { pgbench -h 127.0.0.1 -p "$CEILING_PORT" -U bench -n "$@" ceiling; }
tps() { sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p'; }

echo "pgbench -i -s $SCALE on both" >&2
pg -i -s "$SCALE" -q 2>&1 | tail -1 | sed 's/^/  postgresql: /' >&2
aion -i -s "$SCALE" -q 2>&1 | tail -1 | sed 's/^/  aiondb:     /' >&2

printf '%-5s %-22s %12s %12s %8s %12s %11s\n' round workload postgresql aiondb ratio ceiling ceiling/pg
for round in $(seq 1 "$ROUNDS"); do
    for w in "tpc-b|" "select-only|-S" "select-only prepared|-S -M prepared"; do
        name=${w%%|*}
        args=${w#*|}
        # shellcheck disable=SC2086
        p=$(pg -c "$CLIENTS" -j "$THREADS" -T "$SECS" $args 2>/dev/null | tps)
        # shellcheck disable=SC2086
        a=$(aion -c "$CLIENTS" -j "$THREADS" -T "$SECS" $args 2>/dev/null | tps)
        c=""
        if [ "$CEILING" = 1 ] && [ -n "$args" ]; then
            # shellcheck disable=SC2086
            c=$(ceiling -c "$CLIENTS" -j "$THREADS" -T "$SECS" $args 2>/dev/null | tps)
        fi
        cratio=$([ -n "$c" ] && ratio_of "$p" "$c" || echo -)
        printf '%-5s %-22s %12s %12s %8s %12s %11s\n' "$round" "$name" "${p:--}" "${a:--}" \
            "$(ratio_of "$p" "$a")" "${c:--}" "$cratio"
        echo "$name|$p|$a|$c" >>"$work/rounds"
    done
done
if [ "$ROUNDS" -gt 1 ]; then
    # Ratios are paired within a round (the host's speed drifts between
    # rounds for both servers alike); the median of them is the figure.
    python3 - "$work/rounds" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, p, a, c = line.rstrip("\n").split("|")
    rows.setdefault(name, []).append((p, a, c))
def ratios(pairs):
    return [float(x) / float(p) for p, x in pairs if p and x and float(p) > 0]
def med(v):
    return f"{statistics.median(v):.2f}" if v else "-"
for name, rs in rows.items():
    ra = ratios([(p, a) for p, a, _ in rs])
    rc = ratios([(p, c) for p, _, c in rs])
    print(f"{'med':<5} {name:<22} {'':>12} {'':>12} {med(ra):>8} {'':>12} {med(rc):>11}")
PY
fi
stop "$ceiling_pid"
ceiling_pid=""

[ "$DURABLE" = 1 ] || exit 0

echo "restarting PostgreSQL with synchronous_commit=on; aiondb on the durable backend (policy always)" >&2
stop "$aion_pid"
aion_pid=""
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$work/pg" -m fast stop >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
    -o "-p $PG_PORT -k $work -c listen_addresses=127.0.0.1 -c synchronous_commit=on" start >/dev/null
mkdir -p "$work/aion-data"
AIONDB_STORAGE_DURABLE_WAL_COMMIT_POLICY=always RUST_LOG=warn "$AIONDB_BIN" \
    --storage-backend durable --data-dir "$work/aion-data" --allow-unencrypted-storage \
    --no-observability --listen-addr "127.0.0.1:$AION_PORT" \
    --bootstrap-user "$AION_USER" --bootstrap-password "$AION_PASSWORD" >"$work/aiondb-durable.log" 2>&1 &
aion_pid=$!
wait_for_aiondb
pg -i -s "$SCALE" -q >/dev/null 2>&1
aion -i -s "$SCALE" -q >/dev/null 2>&1
printf '%-22s %12s %12s %8s\n' "durable workload" "pg sync=on" "aiondb" ratio
p=$(pg -c "$DURABLE_CLIENTS" -j 2 -T "$SECS" 2>/dev/null | tps)
a=$(aion -c "$DURABLE_CLIENTS" -j 2 -T "$SECS" 2>/dev/null | tps)
ratio=$(ratio_of "$p" "$a")
printf '%-22s %12s %12s %8s\n' "tpc-b -c $DURABLE_CLIENTS (fsync)" "${p:--}" "${a:--}" "$ratio"
