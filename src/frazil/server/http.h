// HTTP/1.1 messages, the request parser and the router that frazil's HTTP APIs (orchestrator
// API, Iceberg REST catalog, /metrics) are mounted on. The server that moves the bytes is in
// http_server.h; what it supports and its limits are in docs/http.md.
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "frazil/base/http_headers.h"
#include "frazil/base/result.h"

namespace frazil::server {

using frazil::EqualsIgnoreCase;
using frazil::HttpHeaders;

struct HttpRequest {
  std::string method;  // as sent; methods are case-sensitive ("GET")
  std::string target;  // the request-target as sent ("/v1/a%1Fb/tables?pageSize=10")
  std::string path;    // the path of the target, still percent-encoded ("/v1/a%1Fb/tables")
  // `path` split at '/' and percent-decoded: {"v1", "a\x1f" "b", "tables"}. "/" is {}; a
  // trailing slash gives a last empty segment. An encoded "%2F" stays inside its segment.
  std::vector<std::string> segments;
  std::string query;  // the raw query, without '?'
  // Decoded query parameters in order ('+' is a space); "a&b=1" is {"a", ""}, {"b", "1"}.
  std::vector<std::pair<std::string, std::string>> query_params;
  int version_minor = 1;       // HTTP/1.<version_minor>: 0 or 1
  HttpHeaders headers;         // trailers of a chunked body are not included
  std::string body;            // de-chunked
  std::string remote_address;  // "127.0.0.1:53412" or "[::1]:53412"; set by the server
  bool loopback = false;       // the peer is 127.0.0.0/8 or ::1; set by the server
  bool tls = false;            // the request came over TLS; set by the server
  // The `{name}` segments of the matched route, decoded; set by the Router.
  std::vector<std::pair<std::string, std::string>> path_params;

  // The first query parameter named `name`, or nullopt.
  std::optional<std::string_view> QueryParam(std::string_view name) const;
  // Every value of query parameter `name`, in order.
  std::vector<std::string_view> QueryParams(std::string_view name) const;
  // The value of path parameter `{name}` (empty if the route has no such parameter).
  std::string_view PathParam(std::string_view name) const;
  // The body parsed as JSON. Errors: InvalidArgument (-> 400) when it is not valid JSON.
  Result<nlohmann::json> JsonBody() const;
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;  // Content-Length, Connection and Date are the server's business
  std::string body;

  // `value` serialized (invalid UTF-8 replaced), Content-Type: application/json.
  static HttpResponse Json(int status, const nlohmann::json& value);
  // A body that already is serialized JSON, sent as is (a string is not JSON-quoted).
  // Braced lists still go to the overload above: Json(200, {{"id", 7}}).
  template <typename S>
  requires(!std::same_as<std::remove_cvref_t<S>, nlohmann::json> &&
           std::convertible_to<S, std::string_view>) static HttpResponse
      Json(int status, S&& serialized) {
    return RawJson(status, std::string(std::string_view(serialized)));
  }
  static HttpResponse RawJson(int status, std::string serialized);
  // Content-Type: text/plain; charset=utf-8 (or `content_type`).
  static HttpResponse Text(int status, std::string body,
                           std::string_view content_type = "text/plain; charset=utf-8");
  // The error shape of the Iceberg REST spec, used for every error frazil answers:
  //   {"error": {"message": <message>, "type": <type>, "code": <status>}}
  // An empty `type` is derived from the status (400 "BadRequestException", 404
  // "NotFoundException", 500 "ServiceFailureException", ...).
  static HttpResponse ErrorJson(int status, std::string_view message, std::string_view type = {});
  // An Error as an error response; see HttpStatusFor.
  static HttpResponse FromError(const Error& error);
};

// The status and error type an ErrorKind is answered with: InvalidArgument 400
// BadRequestException; NotFound 404 NotFoundException; NoSuchNamespace / NoSuchTable 404
// NoSuch{Namespace,Table}Exception; AlreadyExists / NamespaceNotEmpty / CommitFailed 409
// {AlreadyExists,NamespaceNotEmpty,CommitFailed}Exception; Unsupported 406
// UnsupportedOperationException; CommitStateUnknown 500 CommitStateUnknownException;
// NotAuthorized 401 NotAuthorizedException; Forbidden 403 ForbiddenException; Corrupt /
// IOError / Internal 500 ServiceFailureException.
std::pair<int, std::string_view> HttpStatusFor(ErrorKind kind);

// "OK", "Not Found", ...; "Unknown" for a code it does not know.
std::string_view HttpReasonPhrase(int status);

// Percent-decodes `s`; with `plus_is_space` ('+' -> ' ') for query strings. Errors:
// InvalidArgument for a malformed escape or an encoded NUL.
Result<std::string> PercentDecode(std::string_view s, bool plus_is_space = false);

// ---------------------------------------------------------------------------------------
// Parsing. A request is parsed from the bytes received so far: complete (and how many bytes
// it used; the rest belong to the next, pipelined request), incomplete, or malformed (with
// the status to answer: 400, 413, 414, 417, 431, 501, 505). Recognised: request line in
// origin form (absolute form accepted, its authority dropped; "*"), header fields (no
// obsolete line folding), Content-Length and Transfer-Encoding: chunked bodies (chunk
// extensions ignored, trailers parsed and dropped), Expect: 100-continue. HTTP/1.1 requests
// must carry exactly one Host field.

struct HttpParseLimits {
  size_t max_header_bytes = size_t{64} << 10;  // request line + fields (and trailers apart)
  size_t max_body_bytes = size_t{16} << 20;    // the decoded body
};

struct HttpParseResult {
  enum class Kind { kNeedMore, kComplete, kError };
  Kind kind = Kind::kNeedMore;
  HttpRequest request;        // kComplete
  size_t consumed = 0;        // kComplete: bytes of the buffer that made up this request
  int error_status = 0;       // kError
  std::string error_message;  // kError: says what was wrong, safe to send to the client
  // kNeedMore: the head is complete, carries Expect: 100-continue and the body is still to
  // come; the server then sends "100 Continue".
  bool expect_continue = false;
  // kNeedMore: the head has been read (for the server's timeouts).
  bool head_complete = false;
  // Method and path once the request line has been read (for logging errors).
  std::string method, path;
};

// Parses one request from the start of `buffer`.
HttpParseResult ParseHttpRequest(std::string_view buffer, const HttpParseLimits& limits = {});

// The same parse, resumable: each call passes the bytes received since the request began
// (the previous call's bytes plus any new ones, never fewer or different), and work already
// done is not repeated, so a body arriving in many small reads costs linear time. After a
// kComplete result, drop `consumed` bytes from the buffer and call Reset(). A kError result
// is final until Reset(). Not thread-safe; one per connection.
class HttpRequestParser {
 public:
  explicit HttpRequestParser(HttpParseLimits limits = {}) : limits_(limits) {}
  HttpParseResult Parse(std::string_view buffer);
  void Reset();

 private:
  enum class Stage { kHead, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailers, kDone, kError };
  HttpParseResult Fail(int status, std::string message);
  bool Reject(int status, std::string message);  // Fail(), then false
  bool ParseRequestLine(std::string_view line);
  bool ParseField(std::string_view line, HttpHeaders* into);
  bool FinishHead();
  size_t FindNewline(std::string_view buf);

  HttpParseLimits limits_;
  Stage stage_ = Stage::kHead;
  size_t pos_ = 0;      // bytes of the buffer consumed so far
  size_t scanned_ = 0;  // bytes searched for the end of the current line
  bool have_request_line_ = false;
  size_t content_length_ = 0;
  size_t chunk_left_ = 0;
  size_t body_start_ = 0;
  size_t trailer_start_ = 0;
  bool expect_continue_ = false;
  HttpRequest request_;
  HttpParseResult error_;
};

// ---------------------------------------------------------------------------------------
// Routing.

// A route handler. Returning an Error answers it through HttpResponse::FromError; a handler
// that throws is answered 500. Handlers run on the server's worker threads, concurrently.
using HttpHandler = std::function<Result<HttpResponse>(const HttpRequest&)>;

// Routes by method and path pattern. A pattern is "/" or "/seg/seg/..." where a segment is
// a literal (matched against the decoded path segment) or "{name}" (matches one non-empty
// segment; its decoded value becomes the path parameter `name`). Where several patterns
// match a path, the one with a literal at the first position where they differ wins.
// Unknown path -> 404; a known path with another method -> 405 with Allow; HEAD is answered
// by the GET route (the server drops the body) unless a HEAD route exists.
//
// Thread-safety: Add() is not thread-safe; build the router, then hand it to the server,
// after which Handle() runs concurrently on const state.
class Router {
 public:
  // Errors: InvalidArgument for a malformed method or pattern, or a route that duplicates
  // one already added (same method, same pattern up to parameter names).
  Status Add(std::string_view method, std::string_view pattern, HttpHandler handler);
  Status Get(std::string_view pattern, HttpHandler h) { return Add("GET", pattern, std::move(h)); }
  Status Post(std::string_view pattern, HttpHandler h) {
    return Add("POST", pattern, std::move(h));
  }
  Status Put(std::string_view pattern, HttpHandler h) { return Add("PUT", pattern, std::move(h)); }
  Status Delete(std::string_view pattern, HttpHandler h) {
    return Add("DELETE", pattern, std::move(h));
  }

  // Dispatches `request` (filling request.path_params) and returns the response; never
  // throws: errors and exceptions from handlers become error responses.
  HttpResponse Handle(HttpRequest& request) const;

  size_t size() const { return routes_.size(); }

 private:
  struct Segment {
    bool param = false;
    std::string text;  // literal, or parameter name
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    HttpHandler handler;
  };
  static bool Matches(const Route& route, const std::vector<std::string>& segments);
  static bool MoreSpecific(const Route& a, const Route& b);
  std::vector<Route> routes_;
};

}  // namespace frazil::server
