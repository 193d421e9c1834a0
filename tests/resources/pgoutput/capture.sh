#!/usr/bin/env bash
# Regenerates the golden pgoutput captures in this folder from a throwaway PostgreSQL
# cluster: basic.hex (protocol 1), stream.hex (protocol 2, streaming 'on') and binary.hex
# (protocol 2, binary 'true'). See README.md for what each capture contains.
#
# usage: capture.sh [output dir]    env: PG_BIN (default /usr/lib/postgresql/15/bin),
#                                        PORT (default 55487), PYTHON (default python3)
# Run as root (the server runs as user postgres) or as a user that may run initdb.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="$(cd "${1:-$here}" && pwd)"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PORT="${PORT:-55487}"
PYTHON="${PYTHON:-python3}"

work="$(mktemp -d /tmp/frazil-pgcapture.XXXXXX)"
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$work"
  as_pg=(runuser -u postgres --)
fi
cleanup() {
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"${as_pg[@]}" "$PG_BIN/initdb" -D "$work/data" -U postgres --auth=trust >"$work/initdb.log"
cat >>"$work/data/postgresql.conf" <<EOF
wal_level = logical
max_replication_slots = 4
max_wal_senders = 4
logical_decoding_work_mem = 64kB
listen_addresses = ''
port = $PORT
unix_socket_directories = '$work'
EOF
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null

psql() { "${as_pg[@]}" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$PORT" -d postgres "$@" >/dev/null; }
slot() { psql -c "SELECT 1 FROM pg_create_logical_replication_slot('$1', 'pgoutput')"; }

psql <<'SQL'
CREATE TABLE t (id int PRIMARY KEY, name text, big text, amount numeric(10,2));
ALTER TABLE t ALTER COLUMN big SET STORAGE EXTERNAL;  -- stored out of line, uncompressed
CREATE TABLE full_t (id int, v varchar(20));
ALTER TABLE full_t REPLICA IDENTITY FULL;
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TABLE moods (id int PRIMARY KEY, m mood);
-- pad is not published (column list) but counts against logical_decoding_work_mem, so a
-- few dozen rows make a transaction big enough to be streamed.
CREATE TABLE s (id int PRIMARY KEY, pad char(1500) DEFAULT 'x');
CREATE TABLE bin_t (id int PRIMARY KEY, n numeric, ts timestamptz, b bytea, big text);
ALTER TABLE bin_t ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE PUBLICATION pub FOR TABLE t, full_t, moods, s (id);
CREATE PUBLICATION pub_bin FOR TABLE bin_t;
SELECT pg_replication_origin_create('frazil_origin');
SQL

# Each slot is created right before its workload, so it sees only that workload.
slot basic
psql <<'SQL'
INSERT INTO t VALUES (1, 'alice', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 100) g), 12.50),
                     (2, NULL, 'small', NULL);
UPDATE t SET name = 'alicia' WHERE id = 1;  -- big arrives as 'u'
UPDATE t SET id = 10 WHERE id = 1;          -- key changed: old key tuple 'K'
BEGIN;
INSERT INTO full_t VALUES (1, 'a');
UPDATE full_t SET v = 'b' WHERE id = 1;     -- replica identity full: old row 'O'
DELETE FROM full_t WHERE id = 1;
COMMIT;
DELETE FROM t WHERE id = 10;
INSERT INTO moods VALUES (1, 'happy');      -- Type message for the enum
BEGIN;
INSERT INTO moods VALUES (2, 'sad');
SELECT pg_logical_emit_message(true, 'frazil', 'ALTER TABLE moods ...');
COMMIT;
SELECT pg_logical_emit_message(false, 'frazil-nt', E'\\x00ff'::bytea);
TRUNCATE t, full_t RESTART IDENTITY CASCADE;
SELECT pg_replication_origin_session_setup('frazil_origin');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/1234ABCD', '2024-01-02 03:04:05+00');
INSERT INTO full_t VALUES (2, 'from origin');
COMMIT;
SELECT pg_replication_origin_session_reset();
SELECT pg_logical_emit_message(false, 'frazil-end', 'basic');
SQL

slot stream
psql <<'SQL'
BEGIN;                                      -- streamed, committed, one subtransaction aborted
INSERT INTO s (id) SELECT g FROM generate_series(1, 60) g;
SAVEPOINT sp;
INSERT INTO s (id) SELECT g FROM generate_series(101, 160) g;
ROLLBACK TO SAVEPOINT sp;
INSERT INTO s (id) VALUES (1000);
COMMIT;
BEGIN;                                      -- streamed, then aborted
INSERT INTO s (id) SELECT g FROM generate_series(2001, 2060) g;
ROLLBACK;
SELECT pg_logical_emit_message(false, 'frazil-end', 'stream');
SQL

slot bin
psql <<'SQL'
INSERT INTO bin_t VALUES (1, 3.25, '2024-01-02 03:04:05.678901+00', '\x00ff10',
                          (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 100) g));
UPDATE bin_t SET n = -1 WHERE id = 1;
SELECT pg_logical_emit_message(false, 'frazil-end', 'binary');
SQL

sock="$work/.s.PGSQL.$PORT"
"$PYTHON" "$here/capture.py" "$sock" basic \
  "proto_version '1', publication_names 'pub', messages 'true'" "$out/basic.hex"
"$PYTHON" "$here/capture.py" "$sock" stream \
  "proto_version '2', publication_names 'pub', messages 'true', streaming 'on'" "$out/stream.hex"
"$PYTHON" "$here/capture.py" "$sock" bin \
  "proto_version '2', publication_names 'pub_bin', messages 'true', binary 'true'" "$out/binary.hex"
