#include "frazil/server/http.h"

#include <algorithm>
#include <exception>
#include <nlohmann/json.hpp>

#include "frazil/base/log.h"

namespace frazil::server {
namespace {

// Fields per request head (and per trailer section); more is a 431.
constexpr size_t kMaxFields = 256;
// A chunk-size line (size and extensions) longer than this is malformed.
constexpr size_t kMaxChunkLine = 4096;
constexpr size_t kMaxMethod = 32;


// RFC 9110 tchar: the characters of methods and field names.
bool IsTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

// True if `partial`, the start of a request line, can no longer become a valid one.
bool BadMethodPrefix(std::string_view partial) {
  if (partial.empty() || partial == "\r") return false;  // "\r": an empty line, or one to come
  std::string_view start = partial.substr(0, kMaxMethod + 1);
  std::string_view method = start.substr(0, start.find(' '));
  return method.empty() || method.size() > kMaxMethod || !std::ranges::all_of(method, IsTchar);
}

bool IsToken(std::string_view s) { return !s.empty() && std::ranges::all_of(s, IsTchar); }

// Control characters other than HTAB (obs-text, bytes >= 0x80, is allowed in values).
bool IsCtl(char c) {
  auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits a comma-separated field value into trimmed, non-empty elements.
std::vector<std::string_view> SplitList(std::string_view v) {
  std::vector<std::string_view> out;
  while (true) {
    size_t comma = v.find(',');
    std::string_view item = TrimOws(v.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) return out;
    v.remove_prefix(comma + 1);
  }
}

std::string_view DefaultErrorType(int status) {
  switch (status) {
    case 400:
      return "BadRequestException";
    case 401:
      return "NotAuthorizedException";
    case 403:
      return "ForbiddenException";
    case 404:
      return "NotFoundException";
    case 405:
      return "MethodNotAllowedException";
    case 406:
      return "UnsupportedOperationException";
    case 408:
      return "RequestTimeoutException";
    case 409:
      return "ConflictException";
    case 413:
      return "PayloadTooLargeException";
    case 414:
      return "UriTooLongException";
    case 417:
      return "ExpectationFailedException";
    case 431:
      return "RequestHeaderFieldsTooLargeException";
    case 500:
      return "ServiceFailureException";
    case 501:
      return "NotImplementedException";
    case 503:
      return "ServiceUnavailableException";
    case 505:
      return "HttpVersionNotSupportedException";
    default:
      return status >= 500 ? "ServiceFailureException" : "BadRequestException";
  }
}

}  // namespace

// ----- HttpRequest -----------------------------------------------------------------------

std::optional<std::string_view> HttpRequest::QueryParam(std::string_view name) const {
  for (const auto& [k, v] : query_params) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::vector<std::string_view> HttpRequest::QueryParams(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [k, v] : query_params) {
    if (k == name) out.push_back(v);
  }
  return out;
}

std::string_view HttpRequest::PathParam(std::string_view name) const {
  for (const auto& [k, v] : path_params) {
    if (k == name) return v;
  }
  return {};
}

Result<nlohmann::json> HttpRequest::JsonBody() const {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    return MakeError(ErrorKind::kInvalidArgument,
                     std::string("request body is not valid JSON: ") + e.what());
  }
}

// ----- HttpResponse ----------------------------------------------------------------------

HttpResponse HttpResponse::Json(int status, const nlohmann::json& value) {
  return RawJson(status, value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

HttpResponse HttpResponse::RawJson(int status, std::string serialized) {
  HttpResponse r;
  r.status = status;
  r.headers.Add("Content-Type", "application/json");
  r.body = std::move(serialized);
  return r;
}

HttpResponse HttpResponse::Text(int status, std::string body, std::string_view content_type) {
  HttpResponse r;
  r.status = status;
  r.headers.Add("Content-Type", std::string(content_type));
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::ErrorJson(int status, std::string_view message, std::string_view type) {
  nlohmann::json error = {{"message", std::string(message)},
                          {"type", std::string(type.empty() ? DefaultErrorType(status) : type)},
                          {"code", status}};
  return Json(status, nlohmann::json{{"error", std::move(error)}});
}

HttpResponse HttpResponse::FromError(const Error& error) {
  auto [status, type] = HttpStatusFor(error.kind);
  return ErrorJson(status, error.message, type);
}

std::pair<int, std::string_view> HttpStatusFor(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return {400, "BadRequestException"};
    case ErrorKind::kNotFound:
      return {404, "NotFoundException"};
    case ErrorKind::kNoSuchNamespace:
      return {404, "NoSuchNamespaceException"};
    case ErrorKind::kNoSuchTable:
      return {404, "NoSuchTableException"};
    case ErrorKind::kAlreadyExists:
      return {409, "AlreadyExistsException"};
    case ErrorKind::kNamespaceNotEmpty:
      return {409, "NamespaceNotEmptyException"};
    case ErrorKind::kCommitFailed:
      return {409, "CommitFailedException"};
    case ErrorKind::kUnsupported:
      return {406, "UnsupportedOperationException"};
    case ErrorKind::kCommitStateUnknown:
      return {500, "CommitStateUnknownException"};
    case ErrorKind::kNotAuthorized:
      return {401, "NotAuthorizedException"};
    case ErrorKind::kForbidden:
      return {403, "ForbiddenException"};
    case ErrorKind::kCorrupt:
    case ErrorKind::kIOError:
    case ErrorKind::kInternal:
      return {500, "ServiceFailureException"};
  }
  return {500, "ServiceFailureException"};
}

std::string_view HttpReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 419:
      return "Authentication Timeout";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

Result<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      int hi = i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
      int lo = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return MakeError(ErrorKind::kInvalidArgument, "malformed percent-encoding");
      }
      char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '\0') return MakeError(ErrorKind::kInvalidArgument, "percent-encoded NUL");
      out.push_back(decoded);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// ----- Parsing ---------------------------------------------------------------------------

HttpParseResult ParseHttpRequest(std::string_view buffer, const HttpParseLimits& limits) {
  HttpRequestParser parser(limits);
  return parser.Parse(buffer);
}

void HttpRequestParser::Reset() { *this = HttpRequestParser(limits_); }

bool HttpRequestParser::Reject(int status, std::string message) {
  Fail(status, std::move(message));
  return false;
}

HttpParseResult HttpRequestParser::Fail(int status, std::string message) {
  stage_ = Stage::kError;
  error_ = HttpParseResult{};
  error_.kind = HttpParseResult::Kind::kError;
  error_.error_status = status;
  error_.error_message = std::move(message);
  error_.method = request_.method;
  error_.path = request_.path;
  return error_;
}

bool HttpRequestParser::ParseRequestLine(std::string_view line) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Reject(400, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  if (!IsToken(method) || method.size() > kMaxMethod) {
    return Reject(400, "malformed request line: bad method");
  }
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Reject(400, "malformed request line");
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (version.size() != 8 || !version.starts_with("HTTP/") || !digit(version[5]) ||
      version[6] != '.' || !digit(version[7])) {
    return Reject(400, "malformed request line: bad HTTP version");
  }
  if (version[5] != '1') return Reject(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  request_.method = std::string(method);
  request_.version_minor = version[7] == '0' ? 0 : 1;
  if (target.empty() || std::ranges::any_of(target, [](char c) { return IsCtl(c) || c == ' '; })) {
    return Reject(400, "malformed request target");
  }
  if (target.find('#') != std::string_view::npos) {
    return Reject(400, "request target has a fragment");
  }
  request_.target = std::string(target);
  std::string_view rest = target;
  if (target == "*") {
    if (method != "OPTIONS") return Reject(400, "request target * is only for OPTIONS");
    request_.path = "*";
    return true;
  }
  if (rest.front() != '/') {
    // absolute-form (RFC 9112 3.2.2): servers must accept it; the authority is dropped.
    size_t scheme_end = rest.find("://");
    std::string_view scheme = rest.substr(0, scheme_end);
    if (scheme_end == std::string_view::npos ||
        !(EqualsIgnoreCase(scheme, "http") || EqualsIgnoreCase(scheme, "https"))) {
      return Reject(400, "request target must be a path starting with '/'");
    }
    rest.remove_prefix(scheme_end + 3);
    size_t path_start = rest.find_first_of("/?");
    rest = path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  }
  size_t q = rest.find('?');
  std::string_view path = rest.substr(0, q);
  request_.path = path.empty() ? "/" : std::string(path);
  if (q != std::string_view::npos) request_.query = std::string(rest.substr(q + 1));
  std::string_view p = request_.path;
  p.remove_prefix(1);
  if (!p.empty() || request_.path != "/") {
    while (true) {
      size_t slash = p.find('/');
      auto seg = PercentDecode(p.substr(0, slash));
      if (!seg) return Reject(400, "malformed path: " + seg.error().message);
      request_.segments.push_back(std::move(*seg));
      if (slash == std::string_view::npos) break;
      p.remove_prefix(slash + 1);
    }
  }
  std::string_view query = request_.query;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    auto key = PercentDecode(item.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? "" : item.substr(eq + 1), true);
    if (!key || !value) return Reject(400, "malformed query string");
    request_.query_params.emplace_back(std::move(*key), std::move(*value));
  }
  return true;
}

bool HttpRequestParser::ParseField(std::string_view line, HttpHeaders* into) {
  if (into->size() >= kMaxFields) return Reject(431, "too many header fields");
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return Reject(400, "malformed header field");
  // Whitespace before the colon or at the line's start (obsolete folding) is rejected: it is
  // how requests are smuggled past proxies that read it differently.
  std::string_view name = line.substr(0, colon);
  if (!IsToken(name)) return Reject(400, "malformed header field name");
  std::string_view value = TrimOws(line.substr(colon + 1));
  if (std::ranges::any_of(value, IsCtl)) {
    return Reject(400, "invalid character in header field " + std::string(name));
  }
  into->Add(std::string(name), std::string(value));
  return true;
}

bool HttpRequestParser::FinishHead() {
  const HttpHeaders& h = request_.headers;
  if (request_.version_minor == 1 && h.GetAll("Host").size() != 1) {
    return Reject(400, "an HTTP/1.1 request needs exactly one Host header");
  }
  auto te = h.GetAll("Transfer-Encoding");
  auto cl = h.GetAll("Content-Length");
  bool chunked = false;
  if (!te.empty()) {
    if (request_.version_minor == 0) return Reject(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (!cl.empty()) return Reject(400, "both Content-Length and Transfer-Encoding");
    std::vector<std::string_view> codings;
    for (auto v : te) {
      for (auto c : SplitList(v)) codings.push_back(c);
    }
    if (codings.empty() || !EqualsIgnoreCase(codings.back(), "chunked")) {
      return Reject(400, "Transfer-Encoding must end with chunked");
    }
    if (codings.size() > 1) return Reject(501, "only Transfer-Encoding: chunked is supported");
    chunked = true;
  }
  std::optional<size_t> length;
  for (auto v : cl) {
    for (auto item : SplitList(v)) {
      if (!std::ranges::all_of(item, [](char c) { return c >= '0' && c <= '9'; })) {
        return Reject(400, "malformed Content-Length");
      }
      size_t n = 0;
      for (char c : item) {
        n = n * 10 + static_cast<size_t>(c - '0');
        if (n > limits_.max_body_bytes) {
          return Reject(
              413, "request body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes");
        }
      }
      if (length && *length != n) return Reject(400, "conflicting Content-Length values");
      length = n;
    }
    if (!length) return Reject(400, "malformed Content-Length");
  }
  if (const std::string* expect = h.Find("Expect")) {
    if (!EqualsIgnoreCase(TrimOws(*expect), "100-continue")) {
      return Reject(417, "unsupported expectation (only 100-continue)");
    }
    expect_continue_ = request_.version_minor == 1;
  }
  body_start_ = pos_;
  if (chunked) {
    stage_ = Stage::kChunkSize;
  } else if (length.value_or(0) > 0) {
    content_length_ = *length;
    stage_ = Stage::kBody;
  } else {
    stage_ = Stage::kDone;
  }
  return true;
}

size_t HttpRequestParser::FindNewline(std::string_view buf) {
  // Bytes from pos_ to scanned_ are known to hold no '\n': a line arriving a byte at a time
  // is scanned once, not once per byte.
  size_t nl = buf.find('\n', std::max(pos_, scanned_));
  scanned_ = nl == std::string_view::npos ? buf.size() : nl;
  return nl;
}

HttpParseResult HttpRequestParser::Parse(std::string_view buf) {
  if (stage_ == Stage::kError) return error_;
  if (stage_ == Stage::kDone) {
    // Parse() after kComplete without Reset(): a caller bug, reported rather than repeated.
    return Fail(500, "request parser reused without Reset()");
  }
  HttpParseResult more;
  auto need_more = [&](bool head_complete) {
    more.kind = HttpParseResult::Kind::kNeedMore;
    more.head_complete = head_complete;
    more.expect_continue = head_complete && expect_continue_;
    more.method = request_.method;
    more.path = request_.path;
    return more;
  };
  while (stage_ == Stage::kHead) {
    size_t nl = FindNewline(buf);
    // Garbage is rejected as soon as it cannot start a request line, not at the size limit
    // (checked first so that the outcome does not depend on how the bytes were split).
    if (!have_request_line_ &&
        BadMethodPrefix(buf.substr(pos_, nl == std::string_view::npos ? nl : nl - pos_))) {
      return Fail(400, "malformed request line: bad method");
    }
    if (nl == std::string_view::npos) {
      if (buf.size() > limits_.max_header_bytes) {
        return have_request_line_ ? Fail(431, "request header fields too large")
                                  : Fail(414, "request line too long");
      }
      return need_more(false);
    }
    if (nl + 1 > limits_.max_header_bytes) {
      return have_request_line_ ? Fail(431, "request header fields too large")
                                : Fail(414, "request line too long");
    }
    if (nl == pos_ || buf[nl - 1] != '\r') return Fail(400, "header line not terminated by CRLF");
    std::string_view line = buf.substr(pos_, nl - 1 - pos_);
    pos_ = nl + 1;
    if (!have_request_line_) {
      if (line.empty()) continue;  // RFC 9112 2.2: ignore empty lines before a request
      if (!ParseRequestLine(line)) return error_;
      have_request_line_ = true;
    } else if (line.empty()) {
      if (!FinishHead()) return error_;
    } else if (!ParseField(line, &request_.headers)) {
      return error_;
    }
  }
  if (stage_ == Stage::kBody) {
    if (buf.size() - pos_ < content_length_) return need_more(true);
    request_.body.assign(buf.substr(pos_, content_length_));
    pos_ += content_length_;
    stage_ = Stage::kDone;
  }
  HttpHeaders trailers;
  while (stage_ != Stage::kDone) {
    switch (stage_) {
      case Stage::kChunkSize: {
        // Framing bytes beyond the body itself; bounded so 1-byte chunks cannot make the
        // server buffer several times the body limit.
        size_t overhead = pos_ - body_start_ - request_.body.size();
        if (overhead > std::max<size_t>(limits_.max_body_bytes, 64 << 10)) {
          return Fail(413, "chunked body framing too large");
        }
        size_t nl = FindNewline(buf);
        if (nl == std::string_view::npos) {
          if (buf.size() - pos_ > kMaxChunkLine) return Fail(400, "malformed chunk size line");
          return need_more(true);
        }
        if (nl - pos_ > kMaxChunkLine || nl == pos_ || buf[nl - 1] != '\r') {
          return Fail(400, "malformed chunk size line");
        }
        std::string_view line = buf.substr(pos_, nl - 1 - pos_);
        size_t size = 0;
        size_t i = 0;
        for (; i < line.size() && HexValue(line[i]) >= 0; ++i) {
          size = size * 16 + static_cast<size_t>(HexValue(line[i]));
          if (size > limits_.max_body_bytes) {
            return Fail(
                413, "request body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes");
          }
        }
        if (i == 0) return Fail(400, "malformed chunk size");
        std::string_view ext = line.substr(i);
        while (!ext.empty() && (ext.front() == ' ' || ext.front() == '\t')) ext.remove_prefix(1);
        if ((!ext.empty() && ext.front() != ';') || std::ranges::any_of(ext, IsCtl)) {
          return Fail(400, "malformed chunk extension");
        }
        if (size > limits_.max_body_bytes - request_.body.size()) {
          return Fail(413,
                      "request body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes");
        }
        pos_ = nl + 1;
        if (size == 0) {
          trailer_start_ = pos_;
          stage_ = Stage::kTrailers;
        } else {
          chunk_left_ = size;
          stage_ = Stage::kChunkData;
        }
        break;
      }
      case Stage::kChunkData: {
        size_t take = std::min(chunk_left_, buf.size() - pos_);
        request_.body.append(buf.substr(pos_, take));
        pos_ += take;
        chunk_left_ -= take;
        if (chunk_left_ > 0) return need_more(true);
        stage_ = Stage::kChunkEnd;
        break;
      }
      case Stage::kChunkEnd: {
        if (buf.size() - pos_ < 2) return need_more(true);
        if (buf[pos_] != '\r' || buf[pos_ + 1] != '\n')
          return Fail(400, "chunk not followed by CRLF");
        pos_ += 2;
        stage_ = Stage::kChunkSize;
        break;
      }
      case Stage::kTrailers: {
        size_t nl = FindNewline(buf);
        size_t end = nl == std::string_view::npos ? buf.size() : nl + 1;
        if (end - trailer_start_ > limits_.max_header_bytes)
          return Fail(431, "trailer fields too large");
        if (nl == std::string_view::npos) return need_more(true);
        if (nl == pos_ || buf[nl - 1] != '\r')
          return Fail(400, "trailer line not terminated by CRLF");
        std::string_view line = buf.substr(pos_, nl - 1 - pos_);
        pos_ = nl + 1;
        if (line.empty()) {
          stage_ = Stage::kDone;
        } else if (!ParseField(line, &trailers)) {
          return error_;
        }
        // Trailers are checked and dropped: nothing frazil serves needs them, and merging
        // them into the headers after the fact is how checks get bypassed.
        break;
      }
      default:
        return Fail(500, "request parser in an impossible state");
    }
  }
  HttpParseResult done;
  done.kind = HttpParseResult::Kind::kComplete;
  done.consumed = pos_;
  done.method = request_.method;
  done.path = request_.path;
  done.request = std::move(request_);
  request_ = HttpRequest{};
  return done;
}

// ----- Router ----------------------------------------------------------------------------

Status Router::Add(std::string_view method, std::string_view pattern, HttpHandler handler) {
  std::string where = std::string(method) + " " + std::string(pattern);
  if (!IsToken(method))
    return MakeError(ErrorKind::kInvalidArgument, "route " + where + ": bad method");
  if (!handler) return MakeError(ErrorKind::kInvalidArgument, "route " + where + ": no handler");
  if (!pattern.starts_with('/')) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "route " + where + ": pattern must start with '/'");
  }
  Route route{std::string(method), std::string(pattern), {}, std::move(handler)};
  std::string_view p = pattern.substr(1);
  if (pattern != "/") {
    while (true) {
      size_t slash = p.find('/');
      std::string_view seg = p.substr(0, slash);
      Segment s;
      if (seg.starts_with('{')) {
        if (!seg.ends_with('}') || seg.size() < 3 ||
            seg.substr(1, seg.size() - 2).find_first_of("{}") != std::string_view::npos) {
          return MakeError(ErrorKind::kInvalidArgument,
                           "route " + where + ": malformed parameter " + std::string(seg));
        }
        s.param = true;
        s.text = std::string(seg.substr(1, seg.size() - 2));
        for (const auto& other : route.segments) {
          if (other.param && other.text == s.text) {
            return MakeError(ErrorKind::kInvalidArgument,
                             "route " + where + ": parameter {" + s.text + "} twice");
          }
        }
      } else {
        if (seg.find_first_of("{}") != std::string_view::npos) {
          return MakeError(ErrorKind::kInvalidArgument,
                           "route " + where + ": malformed segment " + std::string(seg));
        }
        s.text = std::string(seg);
      }
      route.segments.push_back(std::move(s));
      if (slash == std::string_view::npos) break;
      p.remove_prefix(slash + 1);
    }
  }
  for (const auto& r : routes_) {
    if (r.method != route.method || r.segments.size() != route.segments.size()) continue;
    bool same = true;
    for (size_t i = 0; i < r.segments.size() && same; ++i) {
      const auto& a = r.segments[i];
      const auto& b = route.segments[i];
      same = a.param == b.param && (a.param || a.text == b.text);
    }
    if (same) {
      return MakeError(ErrorKind::kInvalidArgument,
                       "route " + where + " duplicates " + r.method + " " + r.pattern);
    }
  }
  routes_.push_back(std::move(route));
  return Ok();
}

bool Router::Matches(const Route& route, const std::vector<std::string>& segments) {
  if (route.segments.size() != segments.size()) return false;
  for (size_t i = 0; i < segments.size(); ++i) {
    const Segment& s = route.segments[i];
    if (s.param ? segments[i].empty() : s.text != segments[i]) return false;
  }
  return true;
}

bool Router::MoreSpecific(const Route& a, const Route& b) {
  for (size_t i = 0; i < a.segments.size() && i < b.segments.size(); ++i) {
    if (a.segments[i].param != b.segments[i].param) return !a.segments[i].param;
  }
  return false;
}

HttpResponse Router::Handle(HttpRequest& request) const {
  const Route* exact = nullptr;
  const Route* get_for_head = nullptr;
  std::vector<std::string> allowed;
  bool head = request.method == "HEAD";
  for (const auto& r : routes_) {
    if (request.path == "*") break;  // OPTIONS *: about the server, not a resource
    if (!Matches(r, request.segments)) continue;
    allowed.push_back(r.method);
    if (r.method == request.method) {
      if (!exact || MoreSpecific(r, *exact)) exact = &r;
    } else if (head && r.method == "GET") {
      if (!get_for_head || MoreSpecific(r, *get_for_head)) get_for_head = &r;
    }
  }
  const Route* route = exact ? exact : get_for_head;
  if (!route) {
    if (allowed.empty()) {
      return HttpResponse::ErrorJson(404, "no route for " + request.method + " " + request.path);
    }
    if (std::ranges::find(allowed, "GET") != allowed.end()) allowed.emplace_back("HEAD");
    std::ranges::sort(allowed);
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
    std::string allow;
    for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
    HttpResponse r =
        HttpResponse::ErrorJson(405, "method " + request.method + " is not allowed for " +
                                         request.path + " (allowed: " + allow + ")");
    r.headers.Set("Allow", allow);
    return r;
  }
  request.path_params.clear();
  for (size_t i = 0; i < route->segments.size(); ++i) {
    if (route->segments[i].param)
      request.path_params.emplace_back(route->segments[i].text, request.segments[i]);
  }
  try {
    Result<HttpResponse> r = route->handler(request);
    if (!r) return HttpResponse::FromError(r.error());
    return std::move(*r);
  } catch (const std::exception& e) {
    Log(LogLevel::kError, "HTTP handler threw",
        {{"method", request.method}, {"route", route->pattern}, {"error", e.what()}});
    return HttpResponse::ErrorJson(500, std::string("internal error: ") + e.what());
  } catch (...) {
    Log(LogLevel::kError, "HTTP handler threw",
        {{"method", request.method}, {"route", route->pattern}});
    return HttpResponse::ErrorJson(500, "internal error");
  }
}

}  // namespace frazil::server
