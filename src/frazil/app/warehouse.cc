#include "frazil/app/warehouse.h"

#include <filesystem>

#include "frazil/base/log.h"
#include "frazil/catalog/pg_catalog.h"
#include "frazil/catalog/sqlite_catalog.h"
#include "frazil/rest/rest_catalog.h"

namespace frazil::app {

Result<std::unique_ptr<catalog::Catalog>> OpenCatalog(const Config& config, const std::string& root,
                                                      std::shared_ptr<io::FileIO> io) {
  const std::string& uri = config.catalog_uri;
  if (uri.starts_with("postgresql://") || uri.starts_with("postgres://")) {
    catalog::PostgresCatalogOptions opts;
    opts.conninfo = uri;
    opts.name = config.catalog_name;
    opts.warehouse = root;
    FRZ_ASSIGN_OR_RETURN(auto cat, catalog::PostgresCatalog::Make(opts, std::move(io)));
    return std::unique_ptr<catalog::Catalog>(std::move(cat));
  }
  if (uri.starts_with("http://") || uri.starts_with("https://")) {
    rest::RestCatalogOptions opts;
    opts.name = config.catalog_name;
    opts.uri = uri;
    opts.credential = config.catalog_credential;
    FRZ_ASSIGN_OR_RETURN(auto cat, rest::RestCatalog::Make(std::move(opts)));
    return std::unique_ptr<catalog::Catalog>(std::move(cat));
  }
  if (uri.find("://") != std::string::npos && !uri.starts_with("sqlite:") && !uri.starts_with("file://")) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "catalog.uri '" + pg::RedactConninfo(uri) + "': expected a SQLite file path, postgresql://... or http(s)://... (a REST catalog)");
  }
  Config resolved = config;
  resolved.warehouse = io::StripFileScheme(root);
  if (resolved.catalog_uri.starts_with("file://")) resolved.catalog_uri = io::StripFileScheme(resolved.catalog_uri);
  catalog::SqliteCatalogOptions opts;
  opts.name = config.catalog_name;
  opts.path = resolved.CatalogPath();
  opts.warehouse = root;
  FRZ_ASSIGN_OR_RETURN(auto cat, catalog::SqliteCatalog::Make(opts, std::move(io)));
  return std::unique_ptr<catalog::Catalog>(std::move(cat));
}

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

  FRZ_ASSIGN_OR_RETURN(w->catalog_, OpenCatalog(config, w->root_, w->io_));

  engine::DatabaseOptions dbo;
  dbo.threads = config.threads;
  dbo.memory_limit = config.memory_limit;
  dbo.temp_directory = dir + "/.frazil/tmp";  // DuckDB spills here, not into the working directory
  FRZ_ASSIGN_OR_RETURN(auto db, engine::Database::Open(dbo));
  w->db_ = std::make_unique<engine::Database>(std::move(db));
  return w;
}

}  // namespace frazil::app
