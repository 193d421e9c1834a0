// An HTTP/1.1 client on libcurl, behind the HttpTransport interface so that callers (the REST
// catalog client, later the S3 FileIO) can be tested with a fake or a fault-injecting
// transport. Bodies are whole strings for now; streaming uploads and downloads would add a
// body source / sink to HttpRequest without changing Send().
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frazil/base/http_headers.h"
#include "frazil/base/result.h"

namespace frazil::io {

using HttpFields = frazil::HttpHeaders;

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, POST, PUT, DELETE, ...
  std::string url;             // http(s)://host[:port]/path[?query]
  HttpFields headers;
  std::string body;            // sent when non-empty (or always for POST / PUT)
  // The whole exchange (connect, send, receive) must finish within `timeout`; connecting
  // within `connect_timeout`.
  std::chrono::milliseconds timeout{60'000};
  std::chrono::milliseconds connect_timeout{10'000};
  // PEM bundle of trusted CAs for https (empty: the system's); `verify_tls` false skips
  // certificate and host name checks (tests against self-signed servers only).
  std::string ca_file;
  bool verify_tls = true;
  // false: the request is never sent over a reused keep-alive connection. A request on a
  // reused connection that the server closed is silently re-sent by libcurl; for a request
  // that must not run twice (a catalog commit) that would turn "state unknown" into a
  // second, conflicting attempt.
  bool idempotent = true;
};

struct HttpResponse {
  int status = 0;
  HttpFields headers;  // of the final response (not of a 100 Continue)
  std::string body;    // empty for HEAD
};

// How far a failed request got. A request that was never sent cannot have had an effect;
// any other transport failure (timeout or reset after sending, a truncated response) may
// have: the server may have acted on it.
enum class HttpFailure { kNotSent, kMaybeSent };

// The IOError a transport returns when no complete response arrived:
//   "HTTP POST https://host/v1/x: <detail> (request not sent)"
// `url` is shown without its query string and user info, so secrets in either never reach
// a message or a log. Headers are never part of a message.
Error HttpTransportError(HttpFailure failure, std::string_view method, std::string_view url,
                         std::string_view detail);
// kNotSent only for an error made by HttpTransportError(kNotSent, ...); every other error
// counts as kMaybeSent (the conservative answer).
HttpFailure HttpFailureOf(const Error& error);
// `url` without query string, fragment and user info: what may appear in messages.
std::string RedactUrl(std::string_view url);

// Contract: Send() performs one exchange and returns the response whatever its status
// (4xx/5xx are responses, not errors). Redirects are not followed. Safe to call from many
// threads at once.
// Errors: InvalidArgument for a malformed request (bad URL scheme, empty method); IOError
// from HttpTransportError for connection failures, TLS failures and timeouts.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

// The libcurl transport. Each thread keeps one curl handle (and so its keep-alive
// connections) for its requests; curl_global_init runs once per process.
std::shared_ptr<HttpTransport> NewCurlTransport();

// A transport that answers from a function, for unit tests.
class FakeHttpTransport final : public HttpTransport {
 public:
  using Handler = std::function<Result<HttpResponse>(const HttpRequest&)>;
  explicit FakeHttpTransport(Handler handler) : handler_(std::move(handler)) {}
  Result<HttpResponse> Send(const HttpRequest& request) override { return handler_(request); }

 private:
  Handler handler_;
};

// Wraps a transport and fails chosen requests, for fault tests: a request whose method and
// URL match is either not sent (kNotSent: the inner transport never sees it) or sent and its
// response lost (kMaybeSent: the inner transport answers, the caller gets an IOError).
class FaultInjectingHttpTransport final : public HttpTransport {
 public:
  explicit FaultInjectingHttpTransport(std::shared_ptr<HttpTransport> inner) : inner_(std::move(inner)) {}

  // The next `count` requests with method `method` (empty: any) whose URL contains
  // `url_fragment` fail as `failure`.
  void FailNext(HttpFailure failure, std::string method, std::string url_fragment, int count = 1);
  void Clear();
  // Requests that reached the inner transport.
  int forwarded() const;

  Result<HttpResponse> Send(const HttpRequest& request) override;

 private:
  struct Rule {
    HttpFailure failure;
    std::string method;
    std::string url_fragment;
    int remaining;
  };
  std::shared_ptr<HttpTransport> inner_;
  mutable std::mutex mu_;
  std::vector<Rule> rules_;  // guarded by mu_
  int forwarded_ = 0;        // guarded by mu_
};

// "a b/c" -> "a%20b%2Fc": every byte except RFC 3986 unreserved characters
// (A-Z a-z 0-9 - . _ ~) percent-encoded with upper-case hex.
std::string PercentEncode(std::string_view s);
// application/x-www-form-urlencoded body from ordered key/value pairs.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace frazil::io
