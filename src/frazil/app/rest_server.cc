#include "frazil/app/rest_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "frazil/base/log.h"
#include "frazil/server/metrics_server.h"

namespace frazil::app {

namespace {

// Reads the signing key file, creating it (0600, exclusively) with a fresh key if absent.
Result<std::string> LoadOrCreateKey(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return MakeError(ErrorKind::kIOError, "cannot create " + std::filesystem::path(path).parent_path().string() + ": " + ec.message());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    std::string key = rest::NewSigningKey();
    bool ok = ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      ::unlink(path.c_str());
      return MakeError(ErrorKind::kIOError, "cannot write the REST token key " + path);
    }
    return key;
  }
  if (errno != EEXIST) return MakeError(ErrorKind::kIOError, "cannot create the REST token key " + path + ": " + std::strerror(errno));
  // Another process may be writing it right now: wait until it is complete.
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string key = ss.str();
    while (!key.empty() && (key.back() == '\n' || key.back() == ' ')) key.pop_back();
    if (key.size() >= 32) return key;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return MakeError(ErrorKind::kIOError, "the REST token key " + path + " is shorter than 32 characters; delete it to make a new one");
}

}  // namespace

bool IsLoopbackListen(std::string_view listen) {
  std::string_view host = listen;
  if (host.starts_with("[")) {
    host = host.substr(1, host.find(']') == std::string_view::npos ? std::string_view::npos : host.find(']') - 1);
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

server::HttpServerOptions HttpOptionsFor(const Config& config) {
  server::HttpServerOptions o;
  o.max_body_bytes = static_cast<size_t>(config.rest.max_request_bytes);
  o.tls_cert_file = config.http_tls_cert;
  o.tls_key_file = config.http_tls_key;
  return o;
}

Result<std::unique_ptr<rest::RestCatalogService>> MakeRestService(Warehouse& w, std::string_view listen) {
  const Config::Rest& rc = w.config().rest;
  rest::RestServiceOptions o;
  o.warehouse = w.root();
  o.allowed_locations = rc.allowed_locations;
  bool loopback = IsLoopbackListen(listen);
  o.auth.required = rc.auth == "oauth2" || (rc.auth == "auto" && !loopback);
  if (rc.auth == "none" && !loopback) {
    Log(LogLevel::kWarn, "REST catalog without authentication on a non-loopback address (rest.auth: none)",
        {{"listen", std::string(listen)}});
  }
  if (o.auth.required && rc.clients.empty()) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "the REST catalog on " + std::string(listen) +
                         " requires authentication (rest.auth: " + rc.auth +
                         ") but rest.clients is empty: add clients with id, secret and access, listen on 127.0.0.1, "
                         "or set rest.auth: none to serve without authentication");
  }
  for (const auto& c : rc.clients) {
    rest::RestClientGrant g;
    g.id = c.id;
    g.access = c.access == "read-only" ? rest::Access::kReadOnly : rest::Access::kReadWrite;
    if (!c.secret_env.empty()) {
      const char* v = std::getenv(c.secret_env.c_str());
      if (v == nullptr || *v == '\0') {
        return MakeError(ErrorKind::kInvalidArgument,
                         "rest.clients: the secret of client '" + c.id + "' is read from $" + c.secret_env + ", which is not set");
      }
      g.secret = v;
    } else {
      g.secret = c.secret;
    }
    o.auth.clients.push_back(std::move(g));
  }
  o.auth.token_ttl_seconds = std::max<int64_t>(1, rc.token_ttl_ms / 1000);
  if (!rc.token_key.empty()) {
    o.auth.signing_key = rc.token_key;
  } else {
    FRZ_ASSIGN_OR_RETURN(o.auth.signing_key, LoadOrCreateKey(w.local_root() + "/.frazil/rest-token.key"));
  }
  if (io::S3FileIO* s3 = w.s3()) {
    // What Spark's, PyIceberg's and DuckDB's S3 FileIOs need to reach the same objects.
    const io::S3Options& so = s3->options();
    if (!so.endpoint.empty()) o.storage_config["s3.endpoint"] = so.endpoint;
    o.storage_config["s3.path-style-access"] = s3->path_style() ? "true" : "false";
    o.storage_config["s3.region"] = so.region;
    o.storage_config["client.region"] = so.region;
    if (rc.vend_credentials) {
      const Config::S3& c = w.config().s3;
      bool own = c.vended_access_key_id.empty();
      if (!own && c.vended_secret_access_key.empty()) {
        return MakeError(ErrorKind::kInvalidArgument, "s3.vended_access_key_id is set but s3.vended_secret_access_key is not");
      }
      o.storage_credentials["s3.access-key-id"] = own ? so.credentials.access_key_id : c.vended_access_key_id;
      o.storage_credentials["s3.secret-access-key"] = own ? so.credentials.secret_access_key : c.vended_secret_access_key;
      const std::string& token = own ? so.credentials.session_token : c.vended_session_token;
      if (!token.empty()) o.storage_credentials["s3.session-token"] = token;
    }
  }
  return rest::RestCatalogService::Make(w.catalog(), std::move(o));
}

Status ServeCatalog(Warehouse& w, const std::string& listen, const std::atomic<bool>& stop,
                    const std::function<void(const std::string& url)>& on_ready) {
  FRZ_ASSIGN_OR_RETURN(auto service, MakeRestService(w, listen));
  server::Router router;
  FRZ_RETURN_IF_ERROR(service->AddRoutes(router));
  rest::RestCatalogService* svc = service.get();
  FRZ_RETURN_IF_ERROR(server::AddMetricsRoute(
      router, [svc, &w] { return svc->MetricsText() + (w.s3() != nullptr ? w.s3()->MetricsText() : ""); }));
  FRZ_RETURN_IF_ERROR(router.Get("/healthz", [&w](const server::HttpRequest&) -> Result<server::HttpResponse> {
    // Healthy when the catalog store answers.
    FRZ_RETURN_IF_ERROR(w.catalog().ListNamespaces({}));
    return server::HttpResponse::Json(200, nlohmann::json{{"status", "ok"}});
  }));
  server::HttpServerOptions options = HttpOptionsFor(w.config());
  options.worker_threads = 8;
  FRZ_ASSIGN_OR_RETURN(auto http, server::HttpServer::Start(listen, std::move(router), options));
  std::string scheme = w.config().http_tls_cert.empty() ? "http" : "https";
  std::string url = scheme + "://" + http->address();
  Log(LogLevel::kInfo, "serving the Iceberg REST catalog",
      {{"url", url}, {"warehouse", w.root()}, {"catalog", w.catalog().name()}});
  if (on_ready) on_ready(url);
  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Log(LogLevel::kInfo, "stopping the REST catalog server");
  http->Stop();
  return Ok();
}

}  // namespace frazil::app
