// The libcurl transport. Every curl call and curl error code of frazil is in this file.
#include "frazil/io/http_client.h"

#include <curl/curl.h>

#include <cstdlib>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>
#include <optional>

namespace frazil::io {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

constexpr std::string_view kNotSentMarker = " (request not sent)";
constexpr std::string_view kMaybeSentMarker = " (request sent, no complete response)";

// --- RAII over the curl handles: one owner each ---

struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

class CurlHeaderList {
 public:
  CurlHeaderList() = default;
  CurlHeaderList(const CurlHeaderList&) = delete;
  CurlHeaderList& operator=(const CurlHeaderList&) = delete;
  ~CurlHeaderList() { curl_slist_free_all(list_); }

  bool Append(const std::string& line) {
    curl_slist* next = curl_slist_append(list_, line.c_str());
    if (next == nullptr) return false;
    list_ = next;
    return true;
  }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

void GlobalInit() {
  // curl_global_init is not thread-safe before 7.84 and must run once.
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)rc;
}

// One handle per thread, reused so keep-alive connections and the DNS cache survive between
// requests. Taken out while in use so a nested Send (none today) would get its own.
thread_local CurlEasy tls_handle;

CurlEasy TakeHandle() {
  if (tls_handle) {
    CurlEasy h = std::move(tls_handle);
    curl_easy_reset(h.get());
    return h;
  }
  return CurlEasy(curl_easy_init());
}

void ReturnHandle(CurlEasy h) { tls_handle = std::move(h); }

// Failures that happen before the first byte of the request leaves: resolving, connecting,
// the TLS handshake. A timeout or a send error counts only when curl reports no request
// bytes sent.
bool FailedBeforeSending(CURLcode rc, curl_off_t request_bytes) {
  switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
      return request_bytes == 0;
    default:
      return false;
  }
}

struct Received {
  HttpResponse response;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Received*>(user);
  r->response.body.append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Received*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    r->response.headers = HttpFields();  // a new response (after 100 Continue)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(Trim(line.substr(0, colon)));
    std::string value(Trim(line.substr(colon + 1)));
    if (EqualsIgnoreCase(name, "Content-Length")) {
      // One allocation for the body instead of growing it chunk by chunk (bounded: a
      // lying header cannot make us reserve more than 1 GiB up front).
      long long n = std::atoll(value.c_str());
      if (n > 0 && n <= (1LL << 30)) r->response.body.reserve(static_cast<size_t>(n));
    }
    r->response.headers.Add(std::move(name), std::move(value));
  }
  return size * n;
}

bool ValidToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return c > 32 && c < 127 && c != ':' && c != '(' && c != ')' && c != ',' && c != ';';
  });
}

bool ValidFieldValue(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

class CurlTransport final : public HttpTransport {
 public:
  CurlTransport() { GlobalInit(); }

  Result<HttpResponse> Send(const HttpRequest& req) override {
    if (!ValidToken(req.method)) {
      return MakeError(ErrorKind::kInvalidArgument, "HTTP request with a malformed method");
    }
    if (!req.url.starts_with("http://") && !req.url.starts_with("https://")) {
      return MakeError(ErrorKind::kInvalidArgument,
                       "HTTP " + req.method + " " + RedactUrl(req.url) + ": the URL must start with http:// or https://");
    }
    CurlEasy handle = TakeHandle();
    if (!handle) {
      return std::unexpected(HttpTransportError(HttpFailure::kNotSent, req.method, req.url, "curl_easy_init failed"));
    }
    CURL* h = handle.get();

    CurlHeaderList headers;
    // No "Expect: 100-continue" round trip for larger bodies.
    bool ok = headers.Append("Expect:");
    for (const auto& [name, value] : req.headers) {
      if (!ValidToken(name) || !ValidFieldValue(value)) {
        return MakeError(ErrorKind::kInvalidArgument,
                         "HTTP " + req.method + " " + RedactUrl(req.url) + ": malformed header field " +
                             (ValidToken(name) ? name : std::string("(unprintable name)")));
      }
      // "Name;" is curl's way to send a field with an empty value.
      ok = ok && headers.Append(value.empty() ? name + ";" : name + ": " + value);
    }
    if (!ok) return std::unexpected(HttpTransportError(HttpFailure::kNotSent, req.method, req.url, "out of memory"));

    Received received;
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for timeouts: threads
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    // 512 KiB reads instead of 16 KiB: a 16 MiB object range in 32 calls, not 1000.
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
    // Send the path as given: "a/./b" and "a/../b" are S3 keys, and the path was signed as is.
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &received);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &received);
    if (!req.idempotent) curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    if (!req.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, req.ca_file.c_str());
    if (!req.verify_tls) {
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    bool with_body = !req.body.empty() || req.method == "POST" || req.method == "PUT";
    if (req.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (req.method == "GET" && !with_body) {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
      if (with_body) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
      }
      if (req.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }

    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
      curl_off_t sent = 0;
      curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
      std::string detail = curl_easy_strerror(rc);
      if (errbuf[0] != '\0') detail += std::string(": ") + std::string(Trim(errbuf));
      // A failed handle may hold a broken connection; do not keep it.
      return std::unexpected(HttpTransportError(
          FailedBeforeSending(rc, sent) ? HttpFailure::kNotSent : HttpFailure::kMaybeSent, req.method, req.url,
          detail));
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    received.response.status = static_cast<int>(status);
    // Options pointing at this call's buffers are cleared by the next curl_easy_reset.
    ReturnHandle(std::move(handle));
    return std::move(received.response);
  }
};

}  // namespace

std::string RedactUrl(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  size_t scheme = url.find("://");
  size_t authority = scheme == std::string_view::npos ? 0 : scheme + 3;
  size_t path = url.find('/', authority);
  std::string_view host_part = url.substr(authority, path == std::string_view::npos ? url.npos : path - authority);
  size_t at = host_part.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, authority)) + std::string(url.substr(authority + at + 1));
}

Error HttpTransportError(HttpFailure failure, std::string_view method, std::string_view url,
                         std::string_view detail) {
  std::string message = "HTTP " + std::string(method) + " " + RedactUrl(url) + ": " + std::string(detail);
  message += failure == HttpFailure::kNotSent ? kNotSentMarker : kMaybeSentMarker;
  return Error{ErrorKind::kIOError, std::move(message)};
}

HttpFailure HttpFailureOf(const Error& error) {
  return error.kind == ErrorKind::kIOError && std::string_view(error.message).ends_with(kNotSentMarker)
             ? HttpFailure::kNotSent
             : HttpFailure::kMaybeSent;
}

std::shared_ptr<HttpTransport> NewCurlTransport() { return std::make_shared<CurlTransport>(); }

void FaultInjectingHttpTransport::FailNext(HttpFailure failure, std::string method,
                                           std::string url_fragment, int count) {
  std::lock_guard<std::mutex> l(mu_);
  rules_.push_back(Rule{failure, std::move(method), std::move(url_fragment), count});
}

void FaultInjectingHttpTransport::Clear() {
  std::lock_guard<std::mutex> l(mu_);
  rules_.clear();
}

int FaultInjectingHttpTransport::forwarded() const {
  std::lock_guard<std::mutex> l(mu_);
  return forwarded_;
}

Result<HttpResponse> FaultInjectingHttpTransport::Send(const HttpRequest& request) {
  std::optional<HttpFailure> failure;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (Rule& rule : rules_) {
      if (rule.remaining > 0 && (rule.method.empty() || rule.method == request.method) &&
          request.url.find(rule.url_fragment) != std::string::npos) {
        --rule.remaining;
        failure = rule.failure;
        break;
      }
    }
    if (failure != HttpFailure::kNotSent) ++forwarded_;
  }
  if (failure == HttpFailure::kNotSent) {
    return std::unexpected(HttpTransportError(HttpFailure::kNotSent, request.method, request.url,
                                              "injected connection failure"));
  }
  auto response = inner_->Send(request);
  if (failure == HttpFailure::kMaybeSent) {
    return std::unexpected(HttpTransportError(HttpFailure::kMaybeSent, request.method, request.url,
                                              "injected loss of the response"));
  }
  return response;
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out.push_back('&');
    out += PercentEncode(k);
    out.push_back('=');
    out += PercentEncode(v);
  }
  return out;
}

}  // namespace frazil::io
