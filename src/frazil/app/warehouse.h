// The composition root for one warehouse: configuration -> FileIO, catalog and engine.
#pragma once

#include <memory>
#include <string>

#include "frazil/base/clock.h"
#include "frazil/base/config.h"
#include "frazil/catalog/catalog.h"
#include "frazil/engine/duckdb.h"
#include "frazil/io/file_io.h"
#include "frazil/io/s3_file_io.h"

namespace frazil::app {

// The catalog of `config` (catalog.uri): a SQLite file (default <state_dir>/catalog.db),
// PostgreSQL (postgresql://...) or a REST catalog (http(s)://...). `root` is the warehouse
// location ("file:///abs/dir", "s3://bucket/prefix") new tables are created under.
// Errors: InvalidArgument for an unknown URI form; IOError when the store cannot be reached.
Result<std::unique_ptr<catalog::Catalog>> OpenCatalog(const Config& config, const std::string& root,
                                                      const std::string& state_dir, std::shared_ptr<io::FileIO> io);

class Warehouse {
 public:
  // Opens (creating the directory and catalog if needed) the warehouse of `config`: a local
  // directory, or s3://bucket/prefix (S3 FileIO; DuckDB reads through httpfs).
  // Errors: IOError if the directory or catalog cannot be created; InvalidArgument for
  // missing S3 credentials.
  static Result<std::unique_ptr<Warehouse>> Open(const Config& config);

  const Config& config() const { return config_; }
  io::FileIO& io() { return *io_; }
  // The S3 FileIO of an s3:// warehouse; nullptr for a local one.
  io::S3FileIO* s3() { return s3_.get(); }
  catalog::Catalog& catalog() { return *catalog_; }
  engine::Database& db() { return *db_; }
  Clock& clock() { return *clock_; }
  // The warehouse root as a location ("file:///abs/dir", "s3://bucket/prefix").
  const std::string& root() const { return root_; }
  // frazil's local state directory (state_dir): the warehouse directory itself for a local
  // warehouse; SQLite stores, CDC state and spill files live under it.
  const std::string& local_root() const { return local_root_; }

 private:
  Warehouse() = default;
  Config config_;
  std::string root_;
  std::string local_root_;
  std::shared_ptr<io::FileIO> io_;
  std::shared_ptr<io::S3FileIO> s3_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<engine::Database> db_;
  Clock* clock_ = &Clock::System();
};

}  // namespace frazil::app
