// Prometheus metrics (GET /metrics, text exposition format 0.0.4) for long-running frazil
// processes (`frazil run`): either a route on a Router that serves other APIs too
// (AddMetricsRoute), or a server of its own (MetricsServer).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "frazil/base/result.h"
#include "frazil/server/http.h"
#include "frazil/server/http_server.h"

namespace frazil::server {

// Adds GET (and so HEAD) /metrics answering `render()` as text/plain; version=0.0.4.
// `render` runs on the server's worker threads: it must be thread-safe.
// Errors: InvalidArgument when the router already has GET /metrics.
Status AddMetricsRoute(Router& router, std::function<std::string()> render);

// An HttpServer that serves only /metrics (one worker: scrapes are serialized).
class MetricsServer {
 public:
  // Listens on `listen` ("host:port" or ":port"; port 0 picks a free one) and answers
  // GET /metrics with `render()` (called on the server's thread: it must be thread-safe).
  // Errors: InvalidArgument for a malformed address; IOError when it cannot bind.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                      std::function<std::string()> render);
  ~MetricsServer() = default;
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return http_->port(); }

 private:
  explicit MetricsServer(std::unique_ptr<HttpServer> http) : http_(std::move(http)) {}
  std::unique_ptr<HttpServer> http_;
};

}  // namespace frazil::server
