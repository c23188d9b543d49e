#!/usr/bin/env bash
# Recovery time of the durable backend for a WAL of about $WAL_MB MiB (1024).
#
#   benches/recovery_time.sh            # ~1 GiB of WAL
#   WAL_MB=256 benches/recovery_time.sh
#
# Writes rows (1 KiB each, 50 MiB per transaction) into a fresh data
# directory with checkpoints held off, kills the server with SIGKILL so
# nothing is checkpointed at shutdown, then times a restart until the server
# accepts queries (replay plus the checkpoint that follows recovery), and
# checks the row count.
set -euo pipefail
cd "$(dirname "$0")/.."

WAL_MB=${WAL_MB:-1024}
PORT=${AION_PORT:-5497}
USER_=bench
PASSWORD='Bench-Passw0rd!'
if [ -z "${AIONDB_BIN:-}" ]; then
    cargo build --release -p aiondb >&2
    target=$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    AIONDB_BIN="$target/release/aiondb"
fi
work=$(mktemp -d /tmp/aiondb-recovery.XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

start() {
    AIONDB_STORAGE_DURABLE_WAL_SEGMENT_BYTES=1073741824 AIONDB_STORAGE_CHECKPOINT_INTERVAL_MS=86400000 \
    RUST_LOG=info "$AIONDB_BIN" --storage-backend durable --data-dir "$work/data" \
        --allow-unencrypted-storage --no-observability --listen-addr "127.0.0.1:$PORT" \
        --bootstrap-user "$USER_" --bootstrap-password "$PASSWORD" >>"$work/aiondb.log" 2>&1 &
    pid=$!
}
sql() { PGPASSWORD=$PASSWORD psql -h 127.0.0.1 -p "$PORT" -U "$USER_" -d aiondb -X -q -A -t -c "$1"; }
wait_ready() {
    for _ in $(seq 1 6000); do
        sql 'select 1' >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "server did not come up" >&2; tail "$work/aiondb.log" >&2; exit 1
}

start; wait_ready
sql "CREATE TABLE filler (id bigint PRIMARY KEY, payload text)"
batches=$(( WAL_MB / 50 ))
for b in $(seq 0 $(( batches - 1 ))); do
    sql "INSERT INTO filler SELECT g, repeat(md5(g::text), 31) FROM generate_series($(( b * 50000 + 1 )), $(( (b + 1) * 50000 ))) g"
done
wal_bytes=$(du -sb "$work/data/wal" | cut -f1)
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
t0=$(date +%s.%N)
start; wait_ready
t1=$(date +%s.%N)
rows=$(sql "SELECT count(*) FROM filler")
python3 -c "import sys; w, t0, t1, rows = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]; print(f'WAL {w / 1048576:.0f} MiB, {rows} rows: recovered and serving in {t1 - t0:.1f} s ({w / 1048576 / (t1 - t0):.0f} MiB/s)')" "$wal_bytes" "$t0" "$t1" "$rows"
grep -E 'recovery|checkpoint' "$work/aiondb.log" | tail -5 >&2
