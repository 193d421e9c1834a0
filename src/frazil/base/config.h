// frazil's configuration: one YAML file (default ./frazil.yaml, optional), every key
// overridable by an environment variable FRAZIL_<SECTION>_<KEY> (upper case, '.' -> '_'),
// e.g. FRAZIL_WAREHOUSE, FRAZIL_LOG_LEVEL. Command-line flags override both.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/base/result.h"

namespace frazil {

struct Config {
  // Where tables live: a local directory (default ./warehouse) or s3://bucket/prefix
  // (docs/s3.md).
  std::string warehouse = "./warehouse";
  // frazil's own local state (the default SQLite catalog, run history, CDC spill files,
  // staging of uploads): empty = <warehouse> for a local warehouse, ./frazil-state/<bucket>/
  // <prefix> for an object-store warehouse.
  std::string state_dir;
  // Object storage (warehouse s3://...; docs/s3.md).
  struct S3 {
    std::string endpoint;            // http(s)://host:port; empty = AWS
    std::string region;              // empty: AWS_REGION, else us-east-1
    std::string addressing = "auto"; // auto (path with an endpoint, else virtual-host) | path | virtual-host
    std::string access_key_id;       // empty: AWS_ACCESS_KEY_ID etc. from the environment
    std::string secret_access_key;   // or secret_access_key_env: the variable holding it
    std::string session_token;
    int64_t part_size = 16LL << 20;  // multipart uploads above this
    std::string checksum = "crc32c"; // crc32c (x-amz-checksum-crc32c) | sha256 (signed payload)
    int upload_concurrency = 4;
    int max_attempts = 10;           // per request, with exponential backoff and jitter
    int64_t request_timeout_ms = 60'000;  // one attempt, connect to last byte
    int64_t connect_timeout_ms = 10'000;
    bool verify_tls = true;
    std::string ca_file;
    // The keys the REST catalog vends to its clients (rest.vend_credentials); empty = the
    // warehouse's own. Give clients a key pair limited to what they may do.
    std::string vended_access_key_id;
    std::string vended_secret_access_key;
    std::string vended_session_token;
  } s3;
  // The embedded catalog: SQLite file (default <warehouse>/catalog.db) and catalog name
  // (the JDBC catalog's catalog_name column).
  std::string catalog_uri;
  std::string catalog_name = "frazil";
  // Writers.
  int64_t target_file_size_bytes = 512LL * 1024 * 1024;
  std::string parquet_compression = "zstd";
  // Engine.
  int threads = 0;              // 0 = all cores
  std::string memory_limit;     // DuckDB syntax, e.g. "4GB"; empty = DuckDB's default
  std::string extension_directory;  // DuckDB extensions (httpfs for S3); empty = .deps/duckdb/extensions
  // The HTTP endpoint of long-running commands (`frazil run`): "host:port" serving Prometheus
  // GET /metrics and the orchestrator API (/api/...); empty = off. Keys http.listen and
  // metrics.listen both set it.
  std::string metrics_listen;
  // TLS for http.listen (PEM files); both empty = plain HTTP.
  std::string http_tls_cert;
  std::string http_tls_key;
  // A REST catalog (catalog.uri http(s)://...): OAuth2 client credentials "id:secret".
  std::string catalog_credential;
  // SQL models (docs/models.md): the project directory `frazil models` uses by default.
  std::string models_project;
  // Logging.
  std::string log_level = "info";
  std::string log_format = "text";  // or "json"

  // CDC source (frazil run): PostgreSQL and what to replicate (docs/configuration.md).
  struct Source {
    std::string conninfo;                 // libpq key=value or postgresql:// URL
    std::string publication = "frazil_pub";
    std::string slot = "frazil_slot";
    std::vector<std::string> tables;      // for the publication frazil creates; empty = all
    std::string ns = "raw_data";          // namespace of the raw changelog tables
    std::string snapshot = "initial";     // initial | never | initial_only
    int snapshot_workers = 2;
    int64_t commit_interval_ms = 500;
    bool streaming = true;
    bool ddl_capture = false;             // install an event trigger that captures renames
    // Current-state mirror tables (docs/mirror.md).
    bool mirror = true;                    // keep a mirror table of every replicated table
    std::string mirror_namespace = "mirror";
    std::vector<std::string> mirror_exclude;  // source tables ("schema.table" or "table") without a mirror
    double mirror_rewrite_ratio = 0.2;     // rewrite a mirror data file once this fraction of it is deleted
    int64_t mirror_target_file_mb = 128;   // mirror data files are merged up to about this size
  } source;

  // The orchestrator inside `frazil run` (docs/orchestrator.md): models kept fresh when
  // their upstream tables change, jobs on cron schedules.
  struct Orchestrator {
    bool enabled = true;                   // runs when a models project or a schedule is configured
    int max_concurrent_runs = 2;
    int64_t poll_interval_ms = 1000;
    int64_t debounce_ms = 500;             // defaults of every model's automation policy
    int64_t max_delay_ms = 3000;
    int64_t min_interval_ms = 0;
    int64_t freshness_target_ms = 60000;
    int max_attempts = 3;                  // of sensor runs and jobs that do not say
    int64_t retry_backoff_ms = 5000;
    int64_t run_retention_ms = 30LL * 24 * 3600 * 1000;  // finished runs older than this are pruned
    // After an incremental model's run, compact its table when it has this many delete files
    // or data files (0: never): merges add delete files every run (docs/orchestrator.md).
    int compact_models_delete_files = 16;
    int compact_models_data_files = 64;
    // Per-asset overrides: `match` is a table ("vault.h_users"), a namespace ("vault.*") or a
    // glob; later entries win. Unset fields (-1) keep the defaults.
    struct AssetPolicy {
      std::string match;
      int automatic = -1;  // -1 unset, 0 false, 1 true
      int64_t debounce_ms = -1, max_delay_ms = -1, min_interval_ms = -1, freshness_target_ms = -1;
    };
    std::vector<AssetPolicy> assets;
    struct Job {
      std::string name;
      std::string task;                    // materialize | compact | expire-snapshots | remove-orphans | rewrite-manifests | drop-stats | cleanup
      std::vector<std::string> assets;     // tables or models; globs like "raw_data.*"; empty = all
      std::map<std::string, std::string> params;
      int max_attempts = -1;               // -1: orchestrator.max_attempts
      int64_t timeout_ms = 0;
      std::string description;
    };
    std::vector<Job> jobs;
    struct Schedule {
      std::string name;
      std::string cron;
      std::string time_zone = "UTC";
      std::string job;
      bool enabled = true;
    };
    std::vector<Schedule> schedules;
  } orchestrator;

  // The Iceberg REST catalog server (`frazil serve`, and `frazil run` on http.listen);
  // docs/rest-catalog.md.
  struct Rest {
    bool enabled = true;          // frazil run serves it when http.listen is set
    std::string auth = "auto";    // auto (none on loopback, else oauth2) | none | oauth2
    struct Client {
      std::string id;
      std::string secret;         // or secret_env: the variable holding it
      std::string secret_env;
      std::string access = "read-write";  // or read-only
    };
    std::vector<Client> clients;
    int64_t token_ttl_ms = 3600 * 1000;
    std::string token_key;        // token signing key; empty = <warehouse>/.frazil/rest-token.key
    std::vector<std::string> allowed_locations;  // table locations allowed besides the warehouse
    int64_t max_request_bytes = 16LL << 20;
    // Vend S3 credentials to clients that ask (X-Iceberg-Access-Delegation: vended-credentials).
    bool vend_credentials = true;
  } rest;

  std::string source_file;  // the YAML file this came from, if any

  // The catalog database path (catalog_uri or <warehouse>/catalog.db).
  std::string CatalogPath() const;
};

// "500ms", "2s", "5m", "1h", "7d" or plain milliseconds -> milliseconds.
// Errors: InvalidArgument naming `what`.
Result<int64_t> ParseDurationMs(const std::string& text, const std::string& what);

// Reads `path` (empty: ./frazil.yaml if it exists, else defaults), then applies
// environment overrides from `env` (normally the process environment).
// Errors: InvalidArgument naming the file, key and line for a malformed file or value; an
// unknown key is an error too (a typo must not be silently ignored).
Result<Config> LoadConfig(const std::string& path, const std::map<std::string, std::string>& env);
// The process environment's variables whose names start with `prefix` ("" = all).
std::map<std::string, std::string> ProcessEnvironment(std::string_view prefix = "FRAZIL_");

}  // namespace frazil
