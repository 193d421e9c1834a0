#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for tests, the demo and benchmarks: the one way every part of
# frazil (C++ tests, pytest, `make demo`, bench/) starts a source database.
#
#   scripts/pg_cluster.sh start    <dir> [port]            create (if needed) and start; prints the conninfo
#   scripts/pg_cluster.sh stop     <dir> [fast|immediate|smart]   stop (immediate = crash, no checkpoint)
#   scripts/pg_cluster.sh restart  <dir> [fast|immediate]  stop + start on the same port; prints the conninfo
#   scripts/pg_cluster.sh conninfo <dir>                   prints the conninfo (cluster may be stopped)
#   scripts/pg_cluster.sh status   <dir>                   exit 0 if running, 3 if not
#   scripts/pg_cluster.sh destroy  <dir>                   stop (immediate) and rm -rf <dir> (only a cluster dir)
#
#   CONNINFO=$(scripts/pg_cluster.sh start /tmp/frazil-pg-1)
#   psql "$CONNINFO" -c 'SHOW wal_level'                  # logical
#
# `start` and `conninfo` print exactly one line on stdout, a libpq conninfo
#   host=<dir> port=<port> user=postgres dbname=postgres
# (host is the unix-socket directory; the server also listens on 127.0.0.1:<port>, where
# the same conninfo works with host=127.0.0.1). Everything else goes to stderr. `start` is
# idempotent: on a running cluster it only prints the conninfo again. Without a port it picks
# a free one (and retries with another one if it loses a race for it); a restart keeps it.
#
# Layout of <dir>: data/ (PGDATA), postgres.log (server log), .s.PGSQL.<port> (socket),
# initdb.log. Settings: trust authentication (local + 127.0.0.1, replication included),
# superuser `postgres`, UTF8, locale C, wal_level=logical, 20 slots / 20 WAL senders,
# logical_decoding_work_mem=64MB, wal_sender_timeout=60s, shared_buffers=128MB,
# max_connections=100, fsync ON (tests crash the server with `stop immediate`; commits
# must survive). initdb runs with --no-sync: that only skips flushing the fresh cluster to
# disk, which matters for an OS crash, never for a server crash.
#
# Requirements on <dir>:
#   - an absolute or relative path without whitespace or quotes, short enough for a unix
#     socket path (<dir>/.s.PGSQL.<port> must stay under 107 bytes);
#   - PostgreSQL refuses to run as root. Run as root, this script makes <dir> belong to the
#     OS user `postgres` (override: PG_CLUSTER_OS_USER) and runs initdb/pg_ctl through
#     runuser, so every parent of <dir> must be searchable by that user: use a directory
#     under /tmp (e.g. mktemp -d /tmp/frazil-pg-XXXXXX), never one under /root or under
#     pytest's 0700 /tmp/pytest-of-root. Run as any other user, everything runs as that
#     user and <dir> stays that user's.
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin), PG_CLUSTER_OS_USER (default postgres).
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
OS_USER=${PG_CLUSTER_OS_USER:-postgres}
export LC_ALL=C LANG=C
unset PGDATA PGHOST PGPORT PGUSER PGDATABASE PGOPTIONS PGSERVICE

die() { printf 'pg_cluster.sh: %s\n' "$*" >&2; exit 1; }
usage() {
  echo "usage:" >&2
  sed -n '/^#   scripts\/pg_cluster.sh start/,/^#   scripts\/pg_cluster.sh destroy/s/^# \{0,3\}//p' "$0" >&2
  exit 2
}

# Runs a PostgreSQL server program as the cluster's OS user, with no file descriptor but
# 0-2: a postmaster would otherwise inherit and hold for its whole life whatever the caller
# left open (our lock on fd 9, a pipe a test harness waits on for EOF, ...).
as_pg() {
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      ((fd > 2)) && eval "exec $fd>&-"
    done
    if ((EUID == 0)); then
      exec runuser -u "$OS_USER" -- "$@"
    else
      exec "$@"
    fi
  )
}

# --- arguments ----------------------------------------------------------------------------
(($# >= 2)) || usage
CMD=$1
DIR_ARG=$2
shift 2
case $DIR_ARG in
  *[[:space:]\'\"\\]*) die "the cluster directory must not contain whitespace, quotes or backslashes: '$DIR_ARG'" ;;
  '') die "empty cluster directory" ;;
esac
DIR=$(realpath -m -- "$DIR_ARG")
[[ $DIR != / ]] || die "refusing to use / as a cluster directory"
DATA=$DIR/data
CONF=$DATA/frazil.conf   # the settings this script owns (included from postgresql.conf)
LOG=$DIR/postgres.log
cd /  # the server programs run as another user, who may not be able to enter our cwd

[[ -x $PG_BIN/pg_ctl ]] || die "no PostgreSQL at $PG_BIN (install postgresql-15: make deps, or set PG_BIN)"
if ((EUID == 0)); then
  id -u "$OS_USER" >/dev/null 2>&1 || die "running as root needs the OS user '$OS_USER' (the postgresql-15 package creates it) to run the server"
fi

have_cluster() { [[ -f $DATA/PG_VERSION ]]; }
is_running() { have_cluster && as_pg "$PG_BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1; }
saved_port() { sed -n "s/^port = \([0-9]\+\)$/\1/p" "$CONF" 2>/dev/null | tail -n 1; }
print_conninfo() { printf 'host=%s port=%s user=postgres dbname=postgres\n' "$DIR" "$(saved_port)"; }

# A port nobody listens on, outside Linux's ephemeral range (32768-60999) so that client
# connections of this machine do not grab it between our check and the server's bind.
pick_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "found no free TCP port"
}

write_conf() { # port
  local tmp=$CONF.tmp
  cat >"$tmp" <<EOF
# Written by scripts/pg_cluster.sh; rewritten on every start.
port = $1
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
unix_socket_permissions = 0777
max_connections = 100
shared_buffers = 128MB
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
wal_sender_timeout = 60s
logical_decoding_work_mem = 64MB
fsync = on
full_page_writes = on
max_wal_size = 1GB
log_line_prefix = '%m [%p] %q%a '
log_min_messages = warning
log_checkpoints = off
EOF
  if ((EUID == 0)); then chown "$OS_USER:" "$tmp"; fi
  mv -f "$tmp" "$CONF"
}

prepare_dir() {
  (( ${#DIR} + 15 <= 107 )) || die "cluster directory path too long for a unix socket (${#DIR} bytes, at most 92): $DIR"
  local created=""
  [[ -d $DIR ]] || created=1
  mkdir -p "$DIR"
  if ((EUID == 0)); then
    chown "$OS_USER:" "$DIR"
    chmod 0755 "$DIR"  # the socket lives here: let any local user connect (trust auth, throwaway)
    if ! runuser -u "$OS_USER" -- test -w "$DIR" -a -x "$DIR"; then
      local p=$DIR bad=""
      while [[ $p != / ]]; do
        p=$(dirname "$p")
        runuser -u "$OS_USER" -- test -x "$p" || bad=$p
      done
      [[ -z $created ]] || rmdir "$DIR"
      die "the OS user '$OS_USER' cannot reach $DIR${bad:+ (it may not enter $bad)}: PostgreSQL cannot run as root, so every parent directory must be searchable by '$OS_USER'; use a directory under /tmp"
    fi
  fi
}

init_cluster() {
  [[ ! -e $DATA ]] || [[ -z $(ls -A "$DATA") ]] || die "$DATA exists but holds no cluster (no PG_VERSION); remove it or use another directory"
  if ! as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C \
      --no-sync --no-instructions >"$DIR/initdb.log" 2>&1; then
    cat "$DIR/initdb.log" >&2
    die "initdb failed for $DATA"
  fi
  printf "\n# frazil test cluster\ninclude 'frazil.conf'\n" >>"$DATA/postgresql.conf"
}

# Starts the server on `port`; returns 0 on success, 10 if the port was taken, 1 otherwise.
try_start() { # port
  write_conf "$1"
  local before=0
  [[ -f $LOG ]] && before=$(stat -c %s "$LOG")
  if as_pg "$PG_BIN/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 300 -s >/dev/null 2>"$DIR/pg_ctl.err"; then
    return 0
  fi
  local new
  new=$(tail -c +$((before + 1)) "$LOG" 2>/dev/null || true)
  if grep -q -e 'could not bind' -e 'Address already in use' -e 'could not create any TCP/IP sockets' <<<"$new"; then
    return 10
  fi
  cat "$DIR/pg_ctl.err" >&2
  printf '%s\n' "$new" | tail -n 30 >&2
  return 1
}

do_start() { # [port]
  local want=${1:-}
  [[ -z $want || $want =~ ^[0-9]+$ ]] || die "bad port '$want'"
  prepare_dir
  # One start at a time per directory (concurrent callers then see the cluster running).
  exec 9>>"$DIR/.pg_cluster.lock"
  flock 9
  if is_running; then
    if [[ -n $want && $want != "$(saved_port)" ]]; then
      die "cluster in $DIR already runs on port $(saved_port), not $want"
    fi
    print_conninfo
    return
  fi
  have_cluster || init_cluster
  local port=${want:-$(saved_port)} rc attempt
  [[ -n $port ]] || port=$(pick_port)
  for attempt in 1 2 3 4 5 6 7 8; do
    rc=0
    try_start "$port" || rc=$?
    if ((rc == 0)); then
      print_conninfo
      return
    fi
    if ((rc == 10)) && [[ -z $want ]]; then
      printf 'pg_cluster.sh: port %s is taken, trying another (attempt %s)\n' "$port" "$attempt" >&2
      port=$(pick_port)
      continue
    fi
    ((rc == 10)) && die "port $port is already in use"
    die "could not start the cluster in $DIR (log: $LOG)"
  done
  die "could not find a free port after several attempts"
}

do_stop() { # [mode]
  local mode=${1:-fast}
  case $mode in fast | immediate | smart) ;; *) die "bad stop mode '$mode' (fast, immediate or smart)" ;; esac
  have_cluster || return 0
  is_running || return 0
  if ! as_pg "$PG_BIN/pg_ctl" stop -D "$DATA" -m "$mode" -w -t 300 -s >&2; then
    is_running && die "could not stop the cluster in $DIR"
  fi
  return 0
}

case $CMD in
  start)
    (($# <= 1)) || usage
    do_start "${1:-}"
    ;;
  stop)
    (($# <= 1)) || usage
    do_stop "${1:-fast}"
    ;;
  restart)
    (($# <= 1)) || usage
    have_cluster || die "no cluster in $DIR"
    port=$(saved_port)
    do_stop "${1:-fast}"
    do_start "$port"
    ;;
  conninfo)
    (($# == 0)) || usage
    have_cluster && [[ -n $(saved_port) ]] || die "no cluster in $DIR"
    print_conninfo
    ;;
  status)
    (($# == 0)) || usage
    if is_running; then echo running; else echo stopped; exit 3; fi
    ;;
  destroy)
    (($# == 0)) || usage
    if [[ -e $DIR ]]; then
      # Only what this script made: a typo must not wipe an unrelated directory.
      [[ -e $DIR/.pg_cluster.lock || -e $DATA || -z $(ls -A "$DIR") ]] ||
        die "$DIR does not look like a cluster directory of this script; not removing it"
      do_stop immediate
      rm -rf -- "$DIR"
    fi
    ;;
  *) usage ;;
esac
