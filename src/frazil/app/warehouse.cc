#include "frazil/app/warehouse.h"

#include <filesystem>

#include "frazil/catalog/sqlite_catalog.h"

namespace frazil::app {

Result<std::unique_ptr<Warehouse>> Warehouse::Open(const Config& config) {
  std::unique_ptr<Warehouse> w(new Warehouse());
  w->config_ = config;
  std::string dir = io::StripFileScheme(config.warehouse);
  if (dir.find("://") != std::string::npos) {
    return MakeError(ErrorKind::kUnsupported, "warehouse " + config.warehouse + ": only local directories are supported so far");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError(ErrorKind::kIOError, "cannot create warehouse directory " + dir + ": " + ec.message());
  dir = std::filesystem::canonical(dir, ec).string();
  if (ec) return MakeError(ErrorKind::kIOError, "warehouse directory " + dir + ": " + ec.message());
  w->root_ = "file://" + dir;
  w->local_root_ = dir;
  w->io_ = std::shared_ptr<io::FileIO>(io::NewLocalFileIO());

  Config resolved = config;
  resolved.warehouse = dir;
  catalog::SqliteCatalogOptions opts;
  opts.name = config.catalog_name;
  opts.path = resolved.CatalogPath();
  opts.warehouse = w->root_;
  FRZ_ASSIGN_OR_RETURN(auto cat, catalog::SqliteCatalog::Make(opts, w->io_));
  w->catalog_ = std::move(cat);

  engine::DatabaseOptions dbo;
  dbo.threads = config.threads;
  dbo.memory_limit = config.memory_limit;
  dbo.temp_directory = dir + "/.frazil/tmp";  // DuckDB spills here, not into the working directory
  FRZ_ASSIGN_OR_RETURN(auto db, engine::Database::Open(dbo));
  w->db_ = std::make_unique<engine::Database>(std::move(db));
  return w;
}

}  // namespace frazil::app
