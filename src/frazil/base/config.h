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
  // Where tables live: a local directory (default ./warehouse) or, later, s3://bucket/prefix.
  std::string warehouse = "./warehouse";
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
  // Prometheus metrics of long-running commands (`frazil run`): "host:port" to serve
  // GET /metrics on; empty = off.
  std::string metrics_listen;
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

  std::string source_file;  // the YAML file this came from, if any

  // The catalog database path (catalog_uri or <warehouse>/catalog.db).
  std::string CatalogPath() const;
};

// Reads `path` (empty: ./frazil.yaml if it exists, else defaults), then applies
// environment overrides from `env` (normally the process environment).
// Errors: InvalidArgument naming the file, key and line for a malformed file or value; an
// unknown key is an error too (a typo must not be silently ignored).
Result<Config> LoadConfig(const std::string& path, const std::map<std::string, std::string>& env);
// The process environment's variables whose names start with `prefix` ("" = all).
std::map<std::string, std::string> ProcessEnvironment(std::string_view prefix = "FRAZIL_");

}  // namespace frazil
