// The composition root for one warehouse: configuration -> FileIO, catalog and engine.
#pragma once

#include <memory>
#include <string>

#include "frazil/base/clock.h"
#include "frazil/base/config.h"
#include "frazil/catalog/catalog.h"
#include "frazil/engine/duckdb.h"
#include "frazil/io/file_io.h"

namespace frazil::app {

// The catalog of `config` (catalog.uri): a SQLite file (default <warehouse>/catalog.db),
// PostgreSQL (postgresql://...) or a REST catalog (http(s)://...). `root` is the warehouse
// location ("file:///abs/dir") new tables are created under.
// Errors: InvalidArgument for an unknown URI form; IOError when the store cannot be reached.
Result<std::unique_ptr<catalog::Catalog>> OpenCatalog(const Config& config, const std::string& root,
                                                      std::shared_ptr<io::FileIO> io);

class Warehouse {
 public:
  // Opens (creating the directory and catalog if needed) the warehouse of `config`.
  // Errors: IOError if the directory or catalog cannot be created.
  static Result<std::unique_ptr<Warehouse>> Open(const Config& config);

  const Config& config() const { return config_; }
  io::FileIO& io() { return *io_; }
  catalog::Catalog& catalog() { return *catalog_; }
  engine::Database& db() { return *db_; }
  Clock& clock() { return *clock_; }
  // The warehouse root as a location ("file:///abs/dir").
  const std::string& root() const { return root_; }
  // The warehouse root as a local directory path.
  const std::string& local_root() const { return local_root_; }

 private:
  Warehouse() = default;
  Config config_;
  std::string root_;
  std::string local_root_;
  std::shared_ptr<io::FileIO> io_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<engine::Database> db_;
  Clock* clock_ = &Clock::System();
};

}  // namespace frazil::app
