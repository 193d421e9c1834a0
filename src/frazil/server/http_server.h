// An HTTP/1.1 server on POSIX sockets: one event-loop thread (poll) reads and writes every
// connection without blocking, a small pool of worker threads runs the handlers. Keep-alive,
// pipelining, Content-Length and chunked request bodies, Expect: 100-continue, limits and
// timeouts, graceful stop. docs/http.md lists what it supports and its limits.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "frazil/base/log.h"
#include "frazil/base/result.h"
#include "frazil/server/http.h"
#include "frazil/server/tls.h"

namespace frazil::server {

// One answered request (or one rejected as malformed, with method and path "-" if they were
// never read). Carries no header values and no bodies: Authorization and payloads never
// reach a log.
struct HttpAccessLogEntry {
  std::string_view method;
  std::string_view path;  // without the query string
  int status = 0;
  int64_t duration_us = 0;  // from the request's first byte to the response's last
  size_t request_body_bytes = 0;
  size_t response_body_bytes = 0;
  std::string_view remote_address;
};

// Logs `entry` through base/log.h: "http request method=GET path=/metrics status=200 ...".
void LogHttpAccess(const HttpAccessLogEntry& entry, LogLevel level = LogLevel::kInfo);

struct HttpServerOptions {
  size_t max_body_bytes = size_t{16} << 20;    // larger -> 413
  size_t max_header_bytes = size_t{64} << 10;  // larger -> 431 (414 for the request line)
  // A request's head must arrive within this time of its first byte, and a body must make
  // progress at least this often; otherwise 408 and the connection is closed.
  std::chrono::milliseconds read_timeout{30'000};
  // An idle keep-alive connection is closed (silently) after this.
  std::chrono::milliseconds idle_timeout{60'000};
  // A response that makes no progress for this long is abandoned with its connection.
  std::chrono::milliseconds write_timeout{30'000};
  int worker_threads = 4;  // handlers run on these; at least 1
  // Open connections; beyond this, new ones wait in the listen backlog.
  int max_connections = 256;
  // Called on the event-loop thread after each response is written (and for requests
  // rejected as malformed); must be quick. Empty: no access log.
  std::function<void(const HttpAccessLogEntry&)> access_log = [](const HttpAccessLogEntry& e) {
    LogHttpAccess(e);
  };

  // TLS (docs/http.md): set both files to serve HTTPS only on this port; both empty: plain
  // HTTP. The files are read once, by Start.
  std::string tls_cert_file;  // PEM: the certificate, then any intermediates
  std::string tls_key_file;   // PEM: its private key, unencrypted
  TlsVersion tls_min_version = TlsVersion::kTls12;
  // PEM CA bundle. Non-empty: mutual TLS, a client must present a certificate it signs.
  std::string tls_client_ca_file;
};

// Over TLS everything works as over plain HTTP; the handshake runs in the event loop too.
//
// Thread-safety: Start() returns a running server. The handler (or the Router's handlers)
// runs on the worker threads, up to `worker_threads` at a time, so it must be thread-safe;
// the Router is immutable once passed in. port(), address() and Stop() may be called from
// any thread, but Stop() (and the destructor) must not be called from a handler: it waits
// for the handlers to return.
class HttpServer {
 public:
  // Listens on `listen`: "host:port", ":port" (all interfaces), "[v6]:port"; host is an IP
  // literal, "localhost" (127.0.0.1) or "0.0.0.0"; port 0 picks a free one. Requests go to
  // `router` (or to `handler`, which answers everything; an Error it returns becomes
  // HttpResponse::FromError, an exception a 500).
  // Errors: InvalidArgument for a malformed address or options; IOError naming the address
  // when it cannot bind or listen. With TLS: IOError naming the file when a certificate, key
  // or CA file cannot be read; InvalidArgument naming it when it holds no usable PEM
  // certificate or (unencrypted) key, or when the key does not match the certificate.
  static Result<std::unique_ptr<HttpServer>> Start(std::string_view listen, Router router,
                                                   HttpServerOptions options = {});
  static Result<std::unique_ptr<HttpServer>> Start(std::string_view listen, HttpHandler handler,
                                                   HttpServerOptions options = {});
  // Stop().
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Stops accepting, closes idle connections and those still sending a request, lets the
  // requests already being handled finish and their responses be written (with
  // Connection: close), then joins all threads. Idempotent.
  void Stop();

  int port() const;
  // The bound address, "127.0.0.1:8181" or "[::1]:8181".
  std::string address() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  static Result<std::unique_ptr<Impl>> Bind(std::string_view listen,
                                            const HttpServerOptions& options);
  static Result<std::unique_ptr<HttpServer>> Launch(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace frazil::server
