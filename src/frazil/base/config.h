// frazil's configuration: one YAML file (default ./frazil.yaml, optional), every key
// overridable by an environment variable FRAZIL_<SECTION>_<KEY> (upper case, '.' -> '_'),
// e.g. FRAZIL_WAREHOUSE, FRAZIL_LOG_LEVEL. Command-line flags override both.
#pragma once

#include <cstdint>
#include <map>
#include <string>

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
  // Logging.
  std::string log_level = "info";
  std::string log_format = "text";  // or "json"

  std::string source_file;  // the YAML file this came from, if any

  // The catalog database path (catalog_uri or <warehouse>/catalog.db).
  std::string CatalogPath() const;
};

// Reads `path` (empty: ./frazil.yaml if it exists, else defaults), then applies
// environment overrides from `env` (normally the process environment).
// Errors: InvalidArgument naming the file, key and line for a malformed file or value; an
// unknown key is an error too (a typo must not be silently ignored).
Result<Config> LoadConfig(const std::string& path, const std::map<std::string, std::string>& env);
std::map<std::string, std::string> ProcessEnvironment();

}  // namespace frazil
