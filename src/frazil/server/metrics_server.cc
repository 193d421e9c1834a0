#include "frazil/server/metrics_server.h"

#include "frazil/base/log.h"

namespace frazil::server {

Status AddMetricsRoute(Router& router, std::function<std::string()> render) {
  return router.Get("/metrics", [render = std::move(render)](const HttpRequest&) {
    return HttpResponse::Text(200, render(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                            std::function<std::string()> render) {
  Router router;
  FRZ_RETURN_IF_ERROR(AddMetricsRoute(router, std::move(render)));
  HttpServerOptions options;
  options.worker_threads = 1;
  options.max_connections = 64;
  // A scrape every few seconds would drown the log at info.
  options.access_log = [](const HttpAccessLogEntry& e) { LogHttpAccess(e, LogLevel::kDebug); };
  FRZ_ASSIGN_OR_RETURN(auto http, HttpServer::Start(listen, std::move(router), std::move(options)));
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(http)));
}

}  // namespace frazil::server
