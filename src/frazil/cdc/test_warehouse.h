// A throwaway warehouse for CDC tests: a directory, local FileIO, an SQLite catalog, an
// in-memory DuckDB, and the CdcContext over them. Removed with the object.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "frazil/base/clock.h"
#include "frazil/catalog/sqlite_catalog.h"
#include "frazil/cdc/raw_table.h"
#include "frazil/engine/duckdb.h"
#include "frazil/io/file_io.h"

namespace frazil::cdc {

struct TestWarehouse {
  // Errors: the catalog's or DuckDB's, if they cannot be opened.
  static Result<std::unique_ptr<TestWarehouse>> Create(const std::string& name) {
    std::unique_ptr<TestWarehouse> w(new TestWarehouse);
    w->dir = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(w->dir);
    std::filesystem::create_directories(w->dir);
    w->io = std::shared_ptr<io::FileIO>(io::NewLocalFileIO());
    catalog::SqliteCatalogOptions o;
    o.path = (w->dir / "catalog.db").string();
    o.warehouse = "file://" + w->dir.string();
    FRZ_ASSIGN_OR_RETURN(w->catalog, catalog::SqliteCatalog::Make(o, w->io));
    FRZ_ASSIGN_OR_RETURN(auto db, engine::Database::Open());
    w->db = std::make_unique<engine::Database>(std::move(db));
    w->ctx.catalog = w->catalog.get();
    w->ctx.io = w->io.get();
    w->ctx.db = w->db.get();
    w->ctx.clock = &Clock::System();
    w->ctx.spill_dir = (w->dir / "spill").string();
    return w;
  }
  ~TestWarehouse() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::filesystem::path dir;
  std::shared_ptr<io::FileIO> io;
  std::unique_ptr<catalog::Catalog> catalog;
  std::unique_ptr<engine::Database> db;
  CdcContext ctx;

 private:
  TestWarehouse() = default;
};

}  // namespace frazil::cdc
