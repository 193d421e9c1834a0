#!/usr/bin/env bash
# Installs everything frazil needs to build, test, demo and benchmark. Idempotent: every
# step checks a stamp or the installed state first, so a second run takes seconds.
# Versions are pinned here and nowhere else.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEPS=$ROOT/.deps
mkdir -p "$DEPS"

DUCKDB_VERSION=1.5.5
DUCKDB_NPM_LIB="@duckdb/node-bindings-linux-x64@1.5.5-r.5"
DUCKDB_NPM_HEADER="duckdb@1.4.4"   # its duckdb.h (C API) still serves 1.5.5
PYICEBERG_VERSION=0.12.0
PYARROW_VERSION=21.0.0
PYSPARK_VERSION=3.5.7
ICEBERG_SPARK_RUNTIME="org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.0"
# Iceberg's S3FileIO and the AWS SDK for Spark (tests/interop/test_s3_warehouse.py): the same
# Iceberg version as the runtime jar.
ICEBERG_AWS_BUNDLE="org.apache.iceberg:iceberg-aws-bundle:${ICEBERG_SPARK_RUNTIME##*:}"
SQLITE_JDBC="org.xerial:sqlite-jdbc:3.46.1.3"
VERSITYGW_VERSION=1.8.0   # the S3 server of the tests (Apache-2.0), built from the Go module proxy

APT_PACKAGES=(build-essential cmake ninja-build pkg-config nlohmann-json3-dev libsqlite3-dev
  libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev
  libbenchmark-dev libpq-dev libcurl4-openssl-dev libssl-dev zlib1g-dev libsnappy-dev
  clang-format clang-tidy time bc postgresql-15 sqlite3 openjdk-17-jre-headless maven tzdata)

log() { printf '[deps] %s\n' "$*"; }

# --- Debian packages --------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- DuckDB (library + C header) --------------------------------------------------------
if [[ ! -f $DEPS/duckdb/stamp-$DUCKDB_VERSION ]]; then
  log "DuckDB $DUCKDB_VERSION"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$DUCKDB_NPM_LIB" >/dev/null && npm pack --silent "$DUCKDB_NPM_HEADER" >/dev/null)
  rm -rf "$DEPS/duckdb" && mkdir -p "$DEPS/duckdb/lib" "$DEPS/duckdb/include"
  tar xzf "$tmp"/duckdb-node-bindings-linux-x64-*.tgz -C "$tmp" package/libduckdb.so
  mv "$tmp/package/libduckdb.so" "$DEPS/duckdb/lib/"
  tar xzf "$tmp"/duckdb-1.4.4.tgz -C "$tmp" package/src/duckdb/src/include/duckdb.h
  mv "$tmp/package/src/duckdb/src/include/duckdb.h" "$DEPS/duckdb/include/"
  rm -rf "$tmp"
  touch "$DEPS/duckdb/stamp-$DUCKDB_VERSION"
fi

# --- Python peers (.venv) ---------------------------------------------------------------
PY_REQS="pytest==8.4.2 pytest-timeout==2.4.0 pyiceberg[sql-sqlite,pyarrow]==$PYICEBERG_VERSION pyarrow==$PYARROW_VERSION duckdb==$DUCKDB_VERSION duckdb-extension-iceberg==$DUCKDB_VERSION duckdb-extension-httpfs==$DUCKDB_VERSION pyspark==$PYSPARK_VERSION pyyaml==6.0.2 pytz==2025.2 duckdb-extension-avro==$DUCKDB_VERSION schemathesis==4.32.5 psycopg2-binary==2.9.13"
stamp=$(echo "$PY_REQS" | md5sum | cut -c1-12)
if [[ ! -f $ROOT/.venv/stamp-$stamp ]]; then
  log "python venv"
  [[ -x $ROOT/.venv/bin/python ]] || python3 -m venv "$ROOT/.venv"
  "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check $PY_REQS
  rm -f "$ROOT"/.venv/stamp-* && touch "$ROOT/.venv/stamp-$stamp"
fi

# --- DuckDB's httpfs extension, where `SET extension_directory` finds it -----------------
# The PyPI package duckdb-extension-httpfs (in PY_REQS) ships the build matching
# DUCKDB_VERSION; DuckDB looks for <extension_directory>/v<version>/<platform>/<name>.duckdb_extension.
httpfs_src=$(echo "$ROOT"/.venv/lib/python3*/site-packages)/duckdb_extension_httpfs/extensions/v$DUCKDB_VERSION/httpfs.duckdb_extension
case $(uname -m) in aarch64|arm64) duckdb_platform=linux_arm64 ;; *) duckdb_platform=linux_amd64 ;; esac
httpfs_dst=$DEPS/duckdb/extensions/v$DUCKDB_VERSION/$duckdb_platform/httpfs.duckdb_extension
if [[ ! -f $httpfs_dst ]] || ! cmp -s "$httpfs_src" "$httpfs_dst"; then
  log "DuckDB httpfs extension"
  [[ -f $httpfs_src ]] || { log "missing $httpfs_src (duckdb-extension-httpfs==$DUCKDB_VERSION in .venv)"; exit 1; }
  mkdir -p "$(dirname "$httpfs_dst")"
  cp "$httpfs_src" "$httpfs_dst.tmp" && mv "$httpfs_dst.tmp" "$httpfs_dst"
fi

# --- versitygw: the S3 server the tests run on loopback (posix backend) -------------------
if [[ ! -x $DEPS/bin/versitygw || ! -f $DEPS/bin/stamp-versitygw-$VERSITYGW_VERSION ]]; then
  log "versitygw $VERSITYGW_VERSION (go install, a few minutes)"
  GO=/usr/local/go/bin/go
  [[ -x $GO ]] || GO=$(command -v go || true)
  [[ -n $GO ]] || { log "Go not found (neither /usr/local/go/bin/go nor \`go\` on PATH): versitygw $VERSITYGW_VERSION needs Go >= 1.25 to build"; exit 1; }
  mkdir -p "$DEPS/bin"
  rm -f "$DEPS"/bin/stamp-versitygw-*
  # The -X flags are what versitygw's own Makefile sets, so `versitygw --version` names it.
  GOBIN=$DEPS/bin GOFLAGS=-buildvcs=false "$GO" install \
    -ldflags "-X=main.Version=v$VERSITYGW_VERSION -X=main.Build=goproxy" \
    "github.com/versity/versitygw/cmd/versitygw@v$VERSITYGW_VERSION"
  touch "$DEPS/bin/stamp-versitygw-$VERSITYGW_VERSION"
fi

# --- Spark's Iceberg runtime and the SQLite JDBC driver (Maven Central) -------------------
jar_of() { # group:artifact:version -> path in the local Maven repository
  local g a v; IFS=: read -r g a v <<<"$1"
  echo "$HOME/.m2/repository/${g//.//}/$a/$v/$a-$v.jar"
}
mkdir -p "$DEPS/jars"
for art in "$ICEBERG_SPARK_RUNTIME" "$ICEBERG_AWS_BUNDLE" "$SQLITE_JDBC"; do
  jar=$(jar_of "$art")
  if [[ ! -f $DEPS/jars/$(basename "$jar") ]]; then
    log "maven $art"
    [[ -f $jar ]] || mvn -q dependency:get -Dtransitive=false -Dartifact="$art" >/dev/null
    cp "$jar" "$DEPS/jars/"
  fi
done

# --- dbt-duckdb, the oracle for `frazil models` (.venv-dbt) ------------------------------
# A venv of its own: dbt-core pins protobuf, jinja2, networkx, ... which must not move the
# test peers in .venv. tests/interop/test_models_oracle.py runs .venv-dbt/bin/dbt.
DBT_REQS="dbt-core==1.11.16 dbt-duckdb==1.11.1 dbt-adapters==1.24.5 dbt-common==1.39.0 duckdb==$DUCKDB_VERSION"
stamp=$(echo "$DBT_REQS" | md5sum | cut -c1-12)
if [[ ! -f $ROOT/.venv-dbt/stamp-$stamp ]]; then
  log "dbt venv"
  [[ -x $ROOT/.venv-dbt/bin/python ]] || python3 -m venv "$ROOT/.venv-dbt"
  "$ROOT/.venv-dbt/bin/pip" install -q --disable-pip-version-check $DBT_REQS
  rm -f "$ROOT"/.venv-dbt/stamp-* && touch "$ROOT/.venv-dbt/stamp-$stamp"
fi
log "ok"
