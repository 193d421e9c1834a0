#include "frazil/app/warehouse.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "frazil/base/log.h"
#include "frazil/catalog/pg_catalog.h"
#include "frazil/catalog/sqlite_catalog.h"
#include "frazil/io/s3_file_io.h"
#include "frazil/rest/rest_catalog.h"

namespace frazil::app {

Result<std::unique_ptr<catalog::Catalog>> OpenCatalog(const Config& config, const std::string& root,
                                                      const std::string& state_dir, std::shared_ptr<io::FileIO> io) {
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
  resolved.warehouse = state_dir;  // the default SQLite file lives with frazil's local state
  if (resolved.catalog_uri.starts_with("file://")) resolved.catalog_uri = io::StripFileScheme(resolved.catalog_uri);
  catalog::SqliteCatalogOptions opts;
  opts.name = config.catalog_name;
  opts.path = resolved.CatalogPath();
  opts.warehouse = root;
  FRZ_ASSIGN_OR_RETURN(auto cat, catalog::SqliteCatalog::Make(opts, std::move(io)));
  return std::unique_ptr<catalog::Catalog>(std::move(cat));
}

namespace {

// The local directory of an object-store warehouse's state: state_dir, or
// ./frazil-state/<bucket>/<prefix>.
std::string ObjectStoreStateDir(const Config& config, const io::S3Location& where) {
  if (!config.state_dir.empty()) return config.state_dir;
  std::string dir = "./frazil-state/" + where.bucket;
  if (!where.key.empty()) dir += "/" + where.key;
  return dir;
}

Result<std::shared_ptr<io::S3FileIO>> OpenS3(const Config& config, const std::string& staging_dir) {
  io::S3Options o;
  o.endpoint = config.s3.endpoint;
  o.region = config.s3.region;
  o.addressing = config.s3.addressing == "path"           ? io::S3Addressing::kPath
                 : config.s3.addressing == "virtual-host" ? io::S3Addressing::kVirtualHost
                                                          : io::S3Addressing::kAuto;
  o.credentials.access_key_id = config.s3.access_key_id;
  o.credentials.secret_access_key = config.s3.secret_access_key;
  o.credentials.session_token = config.s3.session_token;
  if (!o.credentials.access_key_id.empty() && o.credentials.secret_access_key.empty()) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "s3.access_key_id is set but s3.secret_access_key is not (set it, or s3.secret_access_key_env)");
  }
  o.part_size = config.s3.part_size;
  o.crc32c_checksums = config.s3.checksum != "sha256";
  o.upload_concurrency = config.s3.upload_concurrency;
  o.max_attempts = config.s3.max_attempts;
  o.request_timeout = std::chrono::milliseconds(config.s3.request_timeout_ms);
  o.connect_timeout = std::chrono::milliseconds(config.s3.connect_timeout_ms);
  o.verify_tls = config.s3.verify_tls;
  o.ca_file = config.s3.ca_file;
  o.staging_dir = staging_dir;
  FRZ_ASSIGN_OR_RETURN(auto s3, io::S3FileIO::Make(std::move(o)));
  return std::shared_ptr<io::S3FileIO>(std::move(s3));
}

// Removes staging directories a crashed writer left (older than a day: a live upload of a
// file is never that slow).
void RemoveStaleStaging(const std::string& staging) {
  std::error_code ec;
  auto cutoff = std::filesystem::file_time_type::clock::now() - std::chrono::hours(24);
  for (std::filesystem::directory_iterator it(staging, ec), end; it != end && !ec; it.increment(ec)) {
    std::error_code e2;
    if (it->last_write_time(e2) < cutoff && !e2) std::filesystem::remove_all(it->path(), e2);
  }
}

}  // namespace

Result<std::unique_ptr<Warehouse>> Warehouse::Open(const Config& config) {
  std::unique_ptr<Warehouse> w(new Warehouse());
  w->config_ = config;
  std::string state;
  if (io::IsS3Location(config.warehouse)) {
    FRZ_ASSIGN_OR_RETURN(io::S3Location where, io::ParseS3Location(config.warehouse));
    while (where.key.ends_with('/')) where.key.pop_back();
    w->root_ = "s3://" + where.bucket + (where.key.empty() ? "" : "/" + where.key);
    state = ObjectStoreStateDir(config, where);
  } else {
    std::string dir = io::StripFileScheme(config.warehouse);
    if (dir.find("://") != std::string::npos) {
      return MakeError(ErrorKind::kUnsupported, "warehouse " + config.warehouse +
                                                    ": expected a local directory or s3://bucket/prefix");
    }
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return MakeError(ErrorKind::kIOError, "cannot create warehouse directory " + dir + ": " + ec.message());
    dir = std::filesystem::canonical(dir, ec).string();
    if (ec) return MakeError(ErrorKind::kIOError, "warehouse directory " + dir + ": " + ec.message());
    w->root_ = "file://" + dir;
    state = config.state_dir.empty() ? dir : config.state_dir;
  }
  std::error_code ec;
  std::filesystem::create_directories(state, ec);
  if (ec) return MakeError(ErrorKind::kIOError, "cannot create state directory " + state + ": " + ec.message());
  state = std::filesystem::canonical(state, ec).string();
  if (ec) return MakeError(ErrorKind::kIOError, "state directory " + state + ": " + ec.message());
  w->local_root_ = state;

  engine::DatabaseOptions dbo;
  dbo.threads = config.threads;
  dbo.memory_limit = config.memory_limit;
  dbo.temp_directory = state + "/.frazil/tmp";  // DuckDB spills here, not into the working directory
  dbo.extension_directory = config.extension_directory;
  if (w->root_.starts_with("s3://")) {
    std::string staging = state + "/.frazil/staging";
    RemoveStaleStaging(staging);
    FRZ_ASSIGN_OR_RETURN(w->s3_, OpenS3(config, staging));
    w->io_ = w->s3_;
    // DuckDB reads the warehouse's Parquet files itself through httpfs (docs/s3.md).
    // Its retries follow s3.max_attempts (exponential: 100 ms, 200 ms, ...), like frazil's own.
    dbo.setup_sql = {"LOAD httpfs", w->s3_->DuckDbSecretSql("frazil_s3"),
                     "SET GLOBAL http_retries = " + std::to_string(std::max(0, config.s3.max_attempts - 1)),
                     "SET GLOBAL http_retry_wait_ms = 100", "SET GLOBAL http_retry_backoff = 2"};
  } else {
    w->io_ = std::shared_ptr<io::FileIO>(io::NewLocalFileIO());
  }

  FRZ_ASSIGN_OR_RETURN(w->catalog_, OpenCatalog(config, w->root_, state, w->io_));
  FRZ_ASSIGN_OR_RETURN(auto db, engine::Database::Open(dbo));
  w->db_ = std::make_unique<engine::Database>(std::move(db));
  return w;
}

}  // namespace frazil::app
