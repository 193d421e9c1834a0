// A minimal HTTP endpoint serving Prometheus metrics (GET /metrics, text exposition format
// 0.0.4) for long-running frazil processes (`frazil run`). One background thread, one
// connection at a time: a scrape every few seconds is all it serves. The full HTTP server
// (REST catalog, admin API) will take its place.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "frazil/base/result.h"

namespace frazil::server {

class MetricsServer {
 public:
  // Listens on `listen` ("host:port" or ":port"; port 0 picks a free one) and answers
  // GET /metrics with `render()` (called on the server thread: it must be thread-safe).
  // Errors: InvalidArgument for a malformed address; IOError when it cannot bind.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& listen, std::function<std::string()> render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }

 private:
  MetricsServer() = default;
  void Serve();
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::function<std::string()> render_;
  struct Thread;
  std::unique_ptr<Thread> thread_;
};

}  // namespace frazil::server
