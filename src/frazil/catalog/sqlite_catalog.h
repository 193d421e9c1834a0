// The embedded SQL catalog: a SQLite file with exactly the tables of Iceberg's JDBC catalog
// (org.apache.iceberg.jdbc.JdbcCatalog) and PyIceberg's SqlCatalog, so that Spark, Flink,
// PyIceberg and frazil can all open the same file (docs/catalog.md).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "frazil/base/clock.h"
#include "frazil/catalog/jdbc_catalog.h"
#include "frazil/catalog/sqlite.h"
#include "frazil/io/file_io.h"

namespace frazil::catalog {

struct SqliteCatalogOptions {
  std::string name = "frazil";  // the catalog_name column; several catalogs may share a file
  std::string path;             // SQLite file, or ":memory:"
  std::string warehouse;        // root of default table locations ("file:///srv/wh", "/srv/wh")
  int busy_timeout_ms = 10000;  // how long to wait for another connection's lock
  int max_commit_attempts = 20; // compare-and-swap races retried before CommitFailed
  bool create_tables = true;    // create iceberg_tables / iceberg_namespace_properties if absent
  // Switch the file to write-ahead logging (persistent; every peer handles it). Without it a
  // reader that keeps a statement open -- Spark's JdbcCatalog does -- blocks all writers.
  bool wal = true;
  Clock* clock = nullptr;       // stamps last-updated-ms; nullptr = Clock::System()
};

class SqliteCatalog final : public JdbcCatalog {
 public:
  // Opens or creates the catalog database. If the tables exist without the iceberg_type
  // column (JDBC "V0" layout) the catalog works in that layout and does not alter it.
  // Errors: IOError; InvalidArgument for an empty path or name.
  static Result<std::unique_ptr<SqliteCatalog>> Make(SqliteCatalogOptions options,
                                                     std::shared_ptr<io::FileIO> file_io);

  // flock(2) on "<path>.writers" (nullptr for ":memory:").
  Result<std::unique_ptr<WriteLease>> AcquireWriteLease(bool exclusive) override;

 protected:
  // Locks mu_ for the session's lifetime: SQLite runs one statement sequence at a time.
  Result<std::unique_ptr<SqlSession>> OpenSession() override;

 private:
  class Session;

  SqliteCatalog(SqliteCatalogOptions options, std::shared_ptr<io::FileIO> file_io, sqlite::Database db);

  SqliteCatalogOptions options_;
  std::mutex mu_;        // held by the one open Session
  sqlite::Database db_;  // guarded by mu_
};

}  // namespace frazil::catalog
