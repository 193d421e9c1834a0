#include "frazil/io/s3_file_io.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>

#include "frazil/base/log.h"
#include "frazil/base/random.h"
#include "frazil/base/strings.h"
#include "frazil/io/crc32c.h"
#include "frazil/io/posix_file.h"

namespace frazil::io {
namespace {

constexpr int64_t kMinPartSize = int64_t{5} << 20;
constexpr int64_t kMaxPartSize = int64_t{5} << 30;
constexpr int kMaxParts = 10000;
constexpr size_t kDeleteBatch = 1000;

// Reads exactly [offset, offset + length) of `fd` (fewer bytes only at end of file).
Result<std::string> PRead(int fd, const std::string& path, int64_t offset, int64_t length) {
  std::string out;
  int err = 0;
  // No zero-filling of a buffer the read overwrites anyway (parts are 16 MiB).
  out.resize_and_overwrite(static_cast<size_t>(length), [&](char* buf, size_t size) {
    size_t got = 0;
    while (got < size) {
      ssize_t n = ::pread(fd, buf + got, size - got, static_cast<off_t>(offset + int64_t(got)));
      if (n < 0) {
        if (errno == EINTR) continue;
        err = errno;
        break;
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    return got;
  });
  if (err != 0) return std::unexpected(SysError("read", path, err));
  return out;
}

std::string Md5Base64(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

// "2009-10-12T17:50:30.000Z" -> epoch milliseconds (0 when malformed).
int64_t ParseIsoTimeMs(std::string_view text) {
  std::tm tm{};
  int ms = 0;
  std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec) != 6) {
    return 0;
  }
  size_t dot = s.find('.');
  if (dot != std::string::npos) ms = std::atoi(s.substr(dot + 1, 3).c_str());
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return int64_t(timegm(&tm)) * 1000 + ms;
}


// The error S3 put in a response body (<Error><Code>...</Code><Message>...</Message>).
struct S3ErrorBody {
  std::string code;
  std::string message;
};

S3ErrorBody ParseErrorBody(std::string_view body) {
  S3ErrorBody e;
  auto codes = XmlElements(body, "Code");
  auto messages = XmlElements(body, "Message");
  if (!codes.empty()) e.code = codes.front();
  if (!messages.empty()) e.message = messages.front();
  return e;
}

bool RetryableStatus(int status, const std::string& code) {
  if (status == 429 || status == 500 || status == 502 || status == 503 || status == 504) return true;
  return status == 400 && (code == "RequestTimeout" || code == "InternalError");
}

}  // namespace


struct S3FileIO::Impl {
  S3Options options;
  std::string scheme;     // "http" / "https"
  std::string host;       // host[:port] of the endpoint
  bool path_style = true;
  std::atomic<int64_t> requests{0}, retries{0}, uploaded{0}, downloaded{0};

  // One S3 request before signing.
  struct Call {
    std::string method = "GET";
    S3Location where;
    std::string query;  // already encoded: "uploads", "partNumber=1&uploadId=..."
    HttpFields headers;
    std::string body;
    bool idempotent = true;
    // Object data: signed as UNSIGNED-PAYLOAD and checked by the store through the
    // x-amz-checksum-crc32c header instead (S3Options::crc32c_checksums), which costs both
    // sides a fraction of SHA-256.
    bool object_data = false;
  };

  std::string Url(const S3Location& loc, const std::string& query) const {
    std::string url = scheme + "://";
    std::string path = loc.key.empty() ? "/" : "/" + UriEncode(loc.key, false);
    if (path_style) {
      url += host + "/" + loc.bucket + (loc.key.empty() ? "" : path);
    } else {
      url += loc.bucket + "." + host + path;
    }
    if (!query.empty()) url += "?" + query;
    return url;
  }

  std::string Name(const S3Location& loc) const { return "s3://" + loc.bucket + (loc.key.empty() ? "" : "/" + loc.key); }

  int64_t Now() const { return options.now_seconds ? options.now_seconds() : int64_t(std::time(nullptr)); }

  // A failed attempt that will be retried: a warning, so a struggling store shows in the log.
  void LogRetry(std::string_view what, const S3Location& where, int attempt, const std::string& error) const {
    if (attempt >= options.max_attempts) return;  // the caller gets the error instead
    Log(LogLevel::kWarn, "s3 request failed, retrying",
        {{"op", std::string(what)}, {"location", Name(where)}, {"attempt", std::to_string(attempt)},
         {"of", std::to_string(options.max_attempts)}, {"error", error}});
  }

  // Sends `call` until it gets an answer that is not worth retrying; returns that answer
  // (which may be a 4xx) or the last failure. `what` names the operation in messages.
  // The body is moved into the request once and sent again as is on every retry.
  Result<HttpResponse> Send(Call call, std::string_view what) {
    std::string payload_hash;
    if (call.object_data && options.crc32c_checksums) {
      if (!call.headers.Has("x-amz-checksum-crc32c")) call.headers.Set("x-amz-checksum-crc32c", Crc32cBase64(call.body));
      payload_hash = std::string(kUnsignedPayload);
    } else {
      payload_hash = Sha256Hex(call.body);
    }
    HttpRequest req;
    req.method = call.method;
    req.url = Url(call.where, call.query);
    req.body = std::move(call.body);
    req.timeout = options.request_timeout;
    req.connect_timeout = options.connect_timeout;
    req.ca_file = options.ca_file;
    req.verify_tls = options.verify_tls;
    req.idempotent = call.idempotent;
    Error last{ErrorKind::kIOError, ""};
    for (int attempt = 1; attempt <= options.max_attempts; ++attempt) {
      if (attempt > 1) {
        retries.fetch_add(1, std::memory_order_relaxed);
        auto wait = S3Backoff(attempt, options.base_backoff, options.max_backoff);
        if (options.sleep) options.sleep(wait);
        else std::this_thread::sleep_for(wait);
      }
      req.headers = call.headers;  // signed afresh (x-amz-date) on every attempt
      FRZ_RETURN_IF_ERROR(SignRequestV4(&req, options.credentials, options.region, "s3", Now(), payload_hash));
      requests.fetch_add(1, std::memory_order_relaxed);
      auto resp = options.transport->Send(req);
      if (!resp) {
        if (resp.error().kind != ErrorKind::kIOError) return std::unexpected(resp.error());
        last = resp.error();
        LogRetry(what, call.where, attempt, last.message);
        continue;
      }
      if (resp->status >= 200 && resp->status < 300) {
        return resp;
      }
      S3ErrorBody err = ParseErrorBody(resp->body);
      if (RetryableStatus(resp->status, err.code)) {
        last = Error{ErrorKind::kIOError, "HTTP " + std::to_string(resp->status) +
                                              (err.code.empty() ? "" : " " + err.code) +
                                              (err.message.empty() ? "" : ": " + err.message)};
        LogRetry(what, call.where, attempt, last.message);
        continue;
      }
      return resp;
    }
    return MakeError(ErrorKind::kIOError, std::string(what) + " " + Name(call.where) + ": gave up after " +
                                              std::to_string(options.max_attempts) + " attempts: " + last.message);
  }

  // The error for a final non-2xx answer.
  Error Fail(const HttpResponse& resp, std::string_view what, const S3Location& where) const {
    S3ErrorBody err = ParseErrorBody(resp.body);
    std::string detail = "HTTP " + std::to_string(resp.status) + (err.code.empty() ? "" : " " + err.code) +
                         (err.message.empty() ? "" : ": " + err.message);
    std::string msg = std::string(what) + " " + Name(where) + ": " + detail;
    ErrorKind kind = ErrorKind::kIOError;
    if (err.code == "NoSuchBucket") {
      return Error{ErrorKind::kNotFound, std::string(what) + " " + Name(where) + ": bucket '" + where.bucket +
                                             "' does not exist at " + scheme + "://" + host + " (" + detail + ")"};
    }
    if (err.code == "InvalidAccessKeyId" || err.code == "XAdminUserNotFound" || err.code == "SignatureDoesNotMatch") {
      // Some stores answer an unknown key with 404; it is a credentials problem either way.
      return Error{ErrorKind::kForbidden, msg + " (check the s3 credentials: s3.access_key_id, s3.secret_access_key)"};
    }
    switch (resp.status) {
      case 404: kind = ErrorKind::kNotFound; break;
      case 403:
        kind = ErrorKind::kForbidden;
        msg += " (check the s3 credentials and the bucket's policy)";
        break;
      case 401: kind = ErrorKind::kNotAuthorized; break;
      case 412: kind = ErrorKind::kAlreadyExists; break;
      case 416: kind = ErrorKind::kCorrupt; break;
      case 400: kind = ErrorKind::kInvalidArgument; break;
      case 501: kind = ErrorKind::kUnsupported; break;
      default: break;
    }
    return Error{kind, std::move(msg)};
  }

  Result<HttpResponse> SendOk(Call call, std::string_view what) {
    S3Location where = call.where;
    FRZ_ASSIGN_OR_RETURN(HttpResponse resp, Send(std::move(call), what));
    if (resp.status < 200 || resp.status >= 300) return std::unexpected(Fail(resp, what, where));
    return resp;
  }

  Status PutObject(const S3Location& where, std::string body, bool if_none_match) {
    Call call;
    call.method = "PUT";
    call.where = where;
    call.headers.Set("Content-Type", "application/octet-stream");
    if (if_none_match) call.headers.Set("If-None-Match", "*");
    int64_t size = int64_t(body.size());
    call.body = std::move(body);
    call.object_data = true;
    FRZ_RETURN_IF_ERROR(SendOk(std::move(call), "put"));
    uploaded.fetch_add(size, std::memory_order_relaxed);
    return Ok();
  }

  // Multipart upload of `size` bytes whose part n (1-based) `read_part(offset, length)` gives.
  Status MultipartUpload(const S3Location& where, int64_t size,
                         const std::function<Result<std::string>(int64_t, int64_t)>& read_part) {
    int64_t part_size = options.part_size;
    while ((size + part_size - 1) / part_size > kMaxParts) part_size *= 2;
    const int parts = int((size + part_size - 1) / part_size);

    Call create;
    create.method = "POST";
    create.where = where;
    create.query = "uploads";
    create.headers.Set("Content-Type", "application/octet-stream");
    if (options.crc32c_checksums) create.headers.Set("x-amz-checksum-algorithm", "CRC32C");
    FRZ_ASSIGN_OR_RETURN(HttpResponse created, SendOk(std::move(create), "create multipart upload"));
    auto ids = XmlElements(created.body, "UploadId");
    if (ids.empty() || ids.front().empty()) {
      return MakeError(ErrorKind::kIOError, "create multipart upload " + Name(where) + ": the answer has no UploadId");
    }
    const std::string upload_id = ids.front();
    const std::string id_query = "uploadId=" + UriEncode(upload_id, true);

    std::vector<std::string> etags(static_cast<size_t>(parts));
    std::vector<std::string> checksums(static_cast<size_t>(parts));  // CRC32C of each part, base64
    std::atomic<int> next{0};
    std::mutex mu;
    std::optional<Error> failure;
    auto worker = [&] {
      while (true) {
        {
          std::lock_guard<std::mutex> l(mu);
          if (failure) return;
        }
        int n = next.fetch_add(1);
        if (n >= parts) return;
        int64_t offset = int64_t(n) * part_size;
        auto data = read_part(offset, std::min(part_size, size - offset));
        Result<HttpResponse> resp = data ? Result<HttpResponse>() : std::unexpected(data.error());
        if (data) {
          Call put;
          put.method = "PUT";
          put.where = where;
          put.query = "partNumber=" + std::to_string(n + 1) + "&" + id_query;
          int64_t len = int64_t(data->size());
          put.body = std::move(*data);
          put.object_data = true;
          if (options.crc32c_checksums) {
            // Computed here to be repeated in the completion; Send() sees it already set.
            put.headers.Set("x-amz-checksum-crc32c", Crc32cBase64(put.body));
            checksums[size_t(n)] = put.headers.Get("x-amz-checksum-crc32c");
          }
          resp = SendOk(std::move(put), "upload part " + std::to_string(n + 1) + " of");
          if (resp) uploaded.fetch_add(len, std::memory_order_relaxed);
        }
        if (resp && !resp->headers.Has("ETag")) {
          resp = MakeError(ErrorKind::kIOError, "upload part " + std::to_string(n + 1) + " of " + Name(where) + ": no ETag in the answer");
        }
        std::lock_guard<std::mutex> l(mu);
        if (!resp) {
          if (!failure) failure = resp.error();
          return;
        }
        etags[size_t(n)] = resp->headers.Get("ETag");
      }
    };
    {
      int threads = std::max(1, std::min(options.upload_concurrency, parts));
      std::vector<std::jthread> pool;
      for (int i = 1; i < threads; ++i) pool.emplace_back(worker);
      worker();
    }
    if (failure) {
      AbortUpload(where, upload_id);
      return std::unexpected(*failure);
    }

    Call complete;
    complete.method = "POST";
    complete.where = where;
    complete.query = id_query;
    complete.headers.Set("Content-Type", "application/xml");
    complete.body = "<CompleteMultipartUpload>";
    for (int i = 0; i < parts; ++i) {
      complete.body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber>" +
                       (checksums[size_t(i)].empty() ? "" : "<ChecksumCRC32C>" + checksums[size_t(i)] + "</ChecksumCRC32C>") +
                       "<ETag>" + XmlEscape(etags[size_t(i)]) +
                       "</ETag></Part>";
    }
    complete.body += "</CompleteMultipartUpload>";
    // A 200 may still carry an <Error> (S3 sends the status before the work is done).
    for (int round = 0; round < 3; ++round) {
      if (round > 0) {  // after a 200 carrying a retryable <Error>: back off as Send() does
        retries.fetch_add(1, std::memory_order_relaxed);
        auto wait = S3Backoff(round + 1, options.base_backoff, options.max_backoff);
        if (options.sleep) options.sleep(wait);
        else std::this_thread::sleep_for(wait);
      }
      auto resp = Send(complete, "complete multipart upload");
      if (resp && resp->status == 200 && resp->body.find("<Error>") == std::string::npos) return Ok();
      if (resp && resp->status == 404 && ParseErrorBody(resp->body).code == "NoSuchUpload") {
        // An earlier attempt whose answer was lost may have completed it: check the object.
        auto got = Head(where);
        if (got && *got == size) return Ok();
      }
      if (resp && resp->status == 200) {
        S3ErrorBody e = ParseErrorBody(resp->body);
        if (e.code == "InternalError" || e.code == "SlowDown" || e.code == "ServiceUnavailable") continue;
      }
      AbortUpload(where, upload_id);
      if (!resp) return std::unexpected(resp.error());
      return std::unexpected(Fail(*resp, "complete multipart upload", where));
    }
    AbortUpload(where, upload_id);
    return MakeError(ErrorKind::kIOError, "complete multipart upload " + Name(where) + ": the store kept failing it");
  }

  bool AbortUpload(const S3Location& where, const std::string& upload_id) {
    Call abort;
    abort.method = "DELETE";
    abort.where = where;
    abort.query = "uploadId=" + UriEncode(upload_id, true);
    auto resp = Send(abort, "abort multipart upload");
    bool ok = resp && (resp->status < 300 || resp->status == 404);
    if (!ok) {
      Log(LogLevel::kWarn, "could not abort a multipart upload; remove-orphans will", { {"location", Name(where)},
                   {"error", resp ? std::to_string(resp->status) : resp.error().message}});
    }
    return ok;
  }

  // The object's size; NotFound if absent.
  Result<int64_t> Head(const S3Location& where) {
    Call call;
    call.method = "HEAD";
    call.where = where;
    FRZ_ASSIGN_OR_RETURN(HttpResponse resp, Send(call, "head"));
    if (resp.status == 404) return MakeError(ErrorKind::kNotFound, "s3 object " + Name(where) + " does not exist");
    if (resp.status < 200 || resp.status >= 300) return std::unexpected(Fail(resp, "head", where));
    const std::string* len = resp.headers.Find("Content-Length");
    if (len == nullptr) return MakeError(ErrorKind::kIOError, "head " + Name(where) + ": no Content-Length in the answer");
    return std::strtoll(len->c_str(), nullptr, 10);
  }

  Result<std::string> GetRange(const S3Location& where, int64_t offset, int64_t length) {
    Call call;
    call.where = where;
    call.headers.Set("Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1));
    FRZ_ASSIGN_OR_RETURN(HttpResponse resp, Send(call, "read"));
    if (resp.status == 416) {
      return MakeError(ErrorKind::kCorrupt, "read " + Name(where) + ": bytes " + std::to_string(offset) + ".." +
                                                std::to_string(offset + length) + " lie beyond its end");
    }
    if (resp.status < 200 || resp.status >= 300) return std::unexpected(Fail(resp, "read", where));
    if (resp.status == 200) {  // the store ignored Range: cut it out ourselves
      if (int64_t(resp.body.size()) < offset + length) {
        return MakeError(ErrorKind::kCorrupt, "read " + Name(where) + ": " + std::to_string(resp.body.size()) +
                                                  " bytes, wanted up to " + std::to_string(offset + length));
      }
      return resp.body.substr(size_t(offset), size_t(length));
    }
    downloaded.fetch_add(int64_t(resp.body.size()), std::memory_order_relaxed);
    if (int64_t(resp.body.size()) != length) {
      return MakeError(ErrorKind::kCorrupt, "read " + Name(where) + ": got " + std::to_string(resp.body.size()) +
                                                " bytes of the " + std::to_string(length) + " asked for at offset " +
                                                std::to_string(offset));
    }
    return std::move(resp.body);
  }
};

S3FileIO::S3FileIO(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
S3FileIO::~S3FileIO() = default;

Result<std::unique_ptr<S3FileIO>> S3FileIO::Make(S3Options options) {
  auto impl = std::make_unique<Impl>();
  if (options.region.empty()) {
    const char* r = std::getenv("AWS_REGION");
    if (r == nullptr) r = std::getenv("AWS_DEFAULT_REGION");
    options.region = r != nullptr ? r : "us-east-1";
  }
  if (options.credentials.access_key_id.empty()) {
    const char* id = std::getenv("AWS_ACCESS_KEY_ID");
    const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
    const char* token = std::getenv("AWS_SESSION_TOKEN");
    if (id == nullptr || secret == nullptr || *id == '\0' || *secret == '\0') {
      return MakeError(ErrorKind::kInvalidArgument,
                       "S3 needs credentials: set s3.access_key_id and s3.secret_access_key (or secret_access_key_env) "
                       "in the configuration, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment");
    }
    options.credentials.access_key_id = id;
    options.credentials.secret_access_key = secret;
    options.credentials.session_token = token != nullptr ? token : "";
  }
  if (options.part_size < kMinPartSize || options.part_size > kMaxPartSize) {
    return MakeError(ErrorKind::kInvalidArgument, "s3 part size " + std::to_string(options.part_size) +
                                                      " is outside 5 MiB .. 5 GiB (S3's limits for multipart parts)");
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  std::string endpoint = options.endpoint.empty() ? "https://s3." + options.region + ".amazonaws.com" : options.endpoint;
  while (endpoint.ends_with('/')) endpoint.pop_back();
  size_t sep = endpoint.find("://");
  if (sep == std::string::npos || (endpoint.substr(0, sep) != "http" && endpoint.substr(0, sep) != "https") ||
      endpoint.size() == sep + 3 || endpoint.find('/', sep + 3) != std::string::npos) {
    return MakeError(ErrorKind::kInvalidArgument, "s3 endpoint '" + RedactUrl(options.endpoint) +
                                                      "': expected http(s)://host[:port] with no path");
  }
  impl->scheme = endpoint.substr(0, sep);
  impl->host = endpoint.substr(sep + 3);
  impl->path_style = options.addressing == S3Addressing::kPath ||
                     (options.addressing == S3Addressing::kAuto && !options.endpoint.empty());
  if (!options.transport) options.transport = NewCurlTransport();
  impl->options = std::move(options);
  return std::unique_ptr<S3FileIO>(new S3FileIO(std::move(impl)));
}

const S3Options& S3FileIO::options() const { return impl_->options; }
bool S3FileIO::path_style() const { return impl_->path_style; }

std::string S3FileIO::MetricsText() const {
  S3Stats s = stats();
  std::string out;
  auto counter = [&out](const char* name, const char* help, int64_t value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
           std::to_string(value) + "\n";
  };
  counter("frazil_s3_requests_total", "S3 requests sent, retries included.", s.requests);
  counter("frazil_s3_retries_total", "S3 requests sent again after a throttle, 5xx, timeout or dropped connection.",
          s.retries);
  counter("frazil_s3_uploaded_bytes_total", "Object bytes uploaded to S3.", s.bytes_uploaded);
  counter("frazil_s3_downloaded_bytes_total", "Object bytes frazil downloaded from S3 (DuckDB's reads not included).",
          s.bytes_downloaded);
  return out;
}

S3Stats S3FileIO::stats() const {
  return S3Stats{impl_->requests.load(), impl_->retries.load(), impl_->uploaded.load(), impl_->downloaded.load()};
}

Result<std::string> S3FileIO::Read(std::string_view location) {
  FRZ_ASSIGN_OR_RETURN(S3Location where, ParseS3Location(location));
  Impl::Call call;
  call.where = where;
  FRZ_ASSIGN_OR_RETURN(HttpResponse resp, impl_->SendOk(call, "read"));
  impl_->downloaded.fetch_add(int64_t(resp.body.size()), std::memory_order_relaxed);
  if (const std::string* len = resp.headers.Find("Content-Length")) {
    if (std::strtoll(len->c_str(), nullptr, 10) != int64_t(resp.body.size())) {
      return MakeError(ErrorKind::kCorrupt, "read " + std::string(location) + ": got " + std::to_string(resp.body.size()) +
                                                " bytes, Content-Length says " + std::string(*len));
    }
  }
  return std::move(resp.body);
}

Result<std::string> S3FileIO::ReadRange(std::string_view location, int64_t offset, int64_t length) {
  FRZ_ASSIGN_OR_RETURN(S3Location where, ParseS3Location(location));
  if (offset < 0 || length < 0) return MakeError(ErrorKind::kInvalidArgument, "negative range of " + std::string(location));
  if (length == 0) return std::string();
  return impl_->GetRange(where, offset, length);
}

Status S3FileIO::Write(std::string_view location, std::string_view data) {
  FRZ_ASSIGN_OR_RETURN(S3Location where, ParseS3Location(location));
  if (int64_t(data.size()) <= impl_->options.part_size) return impl_->PutObject(where, std::string(data), false);
  return impl_->MultipartUpload(where, int64_t(data.size()), [&](int64_t offset, int64_t length) -> Result<std::string> {
    return std::string(data.substr(size_t(offset), size_t(length)));
  });
}

Status S3FileIO::WriteNew(std::string_view location, std::string_view data) {
  FRZ_ASSIGN_OR_RETURN(S3Location where, ParseS3Location(location));
  auto put = impl_->PutObject(where, std::string(data), true);
  if (put) return Ok();
  if (put.error().kind == ErrorKind::kAlreadyExists) {
    // Either another writer made it, or our own earlier attempt did and its answer was
    // lost (the retry then fails the condition): the content tells.
    auto existing = Read(location);
    if (existing && *existing == data) return Ok();
    return MakeError(ErrorKind::kAlreadyExists, std::string(location) + " already exists");
  }
  if (put.error().kind != ErrorKind::kUnsupported) return put;
  // No conditional writes at this store (501 NotImplemented).
  FRZ_ASSIGN_OR_RETURN(bool exists, Exists(location));
  if (exists) return MakeError(ErrorKind::kAlreadyExists, std::string(location) + " already exists");
  return impl_->PutObject(where, std::string(data), false);
}

Result<bool> S3FileIO::Exists(std::string_view location) {
  FRZ_ASSIGN_OR_RETURN(S3Location where, ParseS3Location(location));
  auto size = impl_->Head(where);
  if (size) return true;
  if (size.error().kind == ErrorKind::kNotFound) return false;
  return std::unexpected(size.error());
}

Result<int64_t> S3FileIO::Size(std::string_view location) {
  FRZ_ASSIGN_OR_RETURN(S3Location where, ParseS3Location(location));
  return impl_->Head(where);
}

Status S3FileIO::Delete(std::string_view location) {
  FRZ_ASSIGN_OR_RETURN(S3Location where, ParseS3Location(location));
  Impl::Call call;
  call.method = "DELETE";
  call.where = where;
  FRZ_ASSIGN_OR_RETURN(HttpResponse resp, impl_->Send(call, "delete"));
  if (resp.status == 404 && ParseErrorBody(resp.body).code != "NoSuchBucket") return Ok();
  if (resp.status < 200 || resp.status >= 300) return std::unexpected(impl_->Fail(resp, "delete", where));
  return Ok();
}

Result<std::vector<FileInfo>> S3FileIO::List(std::string_view prefix) {
  FRZ_ASSIGN_OR_RETURN(S3Location where, ParseS3Location(prefix));
  std::string key_prefix = where.key;
  if (!key_prefix.empty() && !key_prefix.ends_with('/')) key_prefix += '/';
  std::string scheme_bucket = std::string(prefix.substr(0, prefix.find("://"))) + "://" + where.bucket + "/";
  std::vector<FileInfo> out;
  std::string token;
  while (true) {
    Impl::Call call;
    call.where = S3Location{where.bucket, ""};
    call.query = "list-type=2&prefix=" + UriEncode(key_prefix, true);
    if (!token.empty()) call.query = "continuation-token=" + UriEncode(token, true) + "&" + call.query;
    FRZ_ASSIGN_OR_RETURN(HttpResponse resp, impl_->SendOk(call, "list"));
    for (std::string_view block : XmlBlocks(resp.body, "Contents")) {
      auto keys = XmlElements(block, "Key");
      if (keys.empty()) continue;
      FileInfo info;
      info.location = scheme_bucket + keys.front();
      auto sizes = XmlElements(block, "Size");
      if (!sizes.empty()) info.size = std::strtoll(sizes.front().c_str(), nullptr, 10);
      auto times = XmlElements(block, "LastModified");
      if (!times.empty()) info.modified_ms = ParseIsoTimeMs(times.front());
      out.push_back(std::move(info));
    }
    auto truncated = XmlElements(resp.body, "IsTruncated");
    auto next = XmlElements(resp.body, "NextContinuationToken");
    if (truncated.empty() || truncated.front() != "true") break;
    if (next.empty() || next.front().empty()) {
      return MakeError(ErrorKind::kIOError, "list " + std::string(prefix) + ": the store says the listing is truncated but gave no continuation token");
    }
    token = next.front();
  }
  return out;
}

std::string S3FileIO::ScanPath(std::string_view location) const {
  auto where = ParseS3Location(location);
  if (!where) return "";
  return "s3://" + where->bucket + "/" + where->key;
}

Result<std::string> S3FileIO::WriteDir(std::string_view dir_location) {
  if (impl_->options.staging_dir.empty()) {
    return MakeError(ErrorKind::kUnsupported, "cannot write data files under " + std::string(dir_location) +
                                                  ": no local staging directory is configured for S3 uploads");
  }
  std::string dir = (std::filesystem::path(impl_->options.staging_dir) / NewUuid()).string();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError(ErrorKind::kIOError, "cannot create staging directory " + dir + ": " + ec.message());
  return dir;
}

Result<std::string> S3FileIO::Publish(std::string_view dir_location, const std::string& local_path) {
  namespace fs = std::filesystem;
  fs::path local = fs::path(local_path).lexically_normal();
  // The file's path inside the WriteDir() directory it was written to (a partitioned write
  // puts files in subdirectories such as `__pid=3/`, all with the same names), kept in the
  // location so that no two files of one write share a key.
  fs::path staging = fs::path(impl_->options.staging_dir).lexically_normal();
  fs::path rel = impl_->options.staging_dir.empty() ? fs::path() : local.lexically_relative(staging);
  fs::path write_dir;  // staging/<one WriteDir>
  if (!rel.empty() && *rel.begin() != ".." && std::distance(rel.begin(), rel.end()) >= 2) {
    write_dir = staging / *rel.begin();
    rel = local.lexically_relative(write_dir);
  } else {
    rel = local.filename();
  }
  std::string location = JoinLocation(dir_location, rel.generic_string());
  FRZ_RETURN_IF_ERROR(PutFile(local_path, location));
  std::error_code ec;
  fs::remove(local, ec);
  // Empty directories of that WriteDir, up to and including it (never one of the caller's).
  if (!write_dir.empty()) {
    for (fs::path d = local.parent_path(); d.string().size() >= write_dir.string().size(); d = d.parent_path()) {
      if (!fs::remove(d, ec)) break;  // not empty (or gone): stop
      if (d == write_dir) break;
    }
  }
  return location;
}

Status S3FileIO::PutFile(const std::string& local_path, std::string_view location) {
  FRZ_ASSIGN_OR_RETURN(S3Location where, ParseS3Location(location));
  Fd fd(::open(local_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected(SysError("open", local_path, errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::unexpected(SysError("stat", local_path, errno));
  int64_t size = st.st_size;
  auto read = [&](int64_t offset, int64_t length) -> Result<std::string> {
    FRZ_ASSIGN_OR_RETURN(std::string data, PRead(fd.get(), local_path, offset, length));
    if (int64_t(data.size()) != length) {
      return MakeError(ErrorKind::kIOError, local_path + " shrank while it was being uploaded to " + std::string(location));
    }
    return data;
  };
  if (size <= impl_->options.part_size) {
    FRZ_ASSIGN_OR_RETURN(std::string data, read(0, size));
    return impl_->PutObject(where, std::move(data), false);
  }
  return impl_->MultipartUpload(where, size, read);
}

Result<int64_t> S3FileIO::GetFile(std::string_view location, const std::string& local_path) {
  FRZ_ASSIGN_OR_RETURN(S3Location where, ParseS3Location(location));
  FRZ_ASSIGN_OR_RETURN(int64_t size, impl_->Head(where));
  std::string tmp = local_path + ".part-" + NewUuid().substr(0, 8);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return std::unexpected(SysError("create", tmp, errno));
  const int64_t chunk = impl_->options.part_size;
  const int chunks = int((size + chunk - 1) / chunk);
  std::atomic<int> next{0};
  std::mutex mu;
  std::optional<Error> failure;
  auto worker = [&] {
    while (true) {
      int n = next.fetch_add(1);
      if (n >= chunks) return;
      {
        std::lock_guard<std::mutex> l(mu);
        if (failure) return;
      }
      int64_t offset = int64_t(n) * chunk;
      auto data = impl_->GetRange(where, offset, std::min(chunk, size - offset));
      Status st = data ? Ok() : Status(std::unexpected(data.error()));
      if (data) {
        size_t done = 0;
        while (done < data->size()) {
          ssize_t w = ::pwrite(fd.get(), data->data() + done, data->size() - done, off_t(offset + int64_t(done)));
          if (w < 0) {
            if (errno == EINTR) continue;
            st = std::unexpected(SysError("write", tmp, errno));
            break;
          }
          done += size_t(w);
        }
      }
      if (!st) {
        std::lock_guard<std::mutex> l(mu);
        if (!failure) failure = st.error();
        return;
      }
    }
  };
  {
    int threads = std::max(1, std::min(impl_->options.upload_concurrency, chunks));
    std::vector<std::jthread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back(worker);
    worker();
  }
  if (!failure && ::rename(tmp.c_str(), local_path.c_str()) != 0) failure = SysError("rename", local_path, errno);
  if (failure) {
    ::unlink(tmp.c_str());
    return std::unexpected(*failure);
  }
  return size;
}

Status S3FileIO::DeleteMany(const std::vector<std::string>& locations) {
  std::map<std::string, std::vector<std::string>> by_bucket;
  for (const auto& l : locations) {
    FRZ_ASSIGN_OR_RETURN(S3Location where, ParseS3Location(l));
    by_bucket[where.bucket].push_back(where.key);
  }
  for (const auto& [bucket, keys] : by_bucket) {
    for (size_t start = 0; start < keys.size(); start += kDeleteBatch) {
      Impl::Call call;
      call.method = "POST";
      call.where = S3Location{bucket, ""};
      call.query = "delete";
      call.headers.Set("Content-Type", "application/xml");
      call.body = "<Delete><Quiet>true</Quiet>";
      for (size_t i = start; i < std::min(keys.size(), start + kDeleteBatch); ++i) {
        call.body += "<Object><Key>" + XmlEscape(keys[i]) + "</Key></Object>";
      }
      call.body += "</Delete>";
      call.headers.Set("Content-MD5", Md5Base64(call.body));
      FRZ_ASSIGN_OR_RETURN(HttpResponse resp, impl_->SendOk(call, "delete objects in"));
      for (std::string_view e : XmlBlocks(resp.body, "Error")) {
        auto code = XmlElements(e, "Code");
        if (!code.empty() && code.front() == "NoSuchKey") continue;
        auto key = XmlElements(e, "Key");
        auto msg = XmlElements(e, "Message");
        return MakeError(ErrorKind::kIOError, "delete s3://" + bucket + "/" + (key.empty() ? "?" : key.front()) + ": " +
                                                  (code.empty() ? "error" : code.front()) +
                                                  (msg.empty() ? "" : ": " + msg.front()));
      }
    }
  }
  return Ok();
}

Result<int64_t> S3FileIO::AbortIncompleteUploads(std::string_view prefix, int64_t before_ms) {
  FRZ_ASSIGN_OR_RETURN(S3Location where, ParseS3Location(prefix));
  int64_t aborted = 0;
  std::string key_marker, id_marker;
  while (true) {
    Impl::Call call;
    call.where = S3Location{where.bucket, ""};
    call.query = "uploads&prefix=" + UriEncode(where.key, true);
    if (!key_marker.empty()) {
      call.query = "key-marker=" + UriEncode(key_marker, true) + "&prefix=" + UriEncode(where.key, true) + "&uploads" +
                   (id_marker.empty() ? "" : "&upload-id-marker=" + UriEncode(id_marker, true));
    }
    FRZ_ASSIGN_OR_RETURN(HttpResponse resp, impl_->SendOk(call, "list multipart uploads in"));
    for (std::string_view block : XmlBlocks(resp.body, "Upload")) {
      auto keys = XmlElements(block, "Key");
      auto ids = XmlElements(block, "UploadId");
      auto initiated = XmlElements(block, "Initiated");
      if (keys.empty() || ids.empty()) continue;
      int64_t started = initiated.empty() ? 0 : ParseIsoTimeMs(initiated.front());
      if (started >= before_ms) continue;
      if (impl_->AbortUpload(S3Location{where.bucket, keys.front()}, ids.front())) ++aborted;
    }
    auto truncated = XmlElements(resp.body, "IsTruncated");
    if (truncated.empty() || truncated.front() != "true") break;
    auto nk = XmlElements(resp.body, "NextKeyMarker");
    auto ni = XmlElements(resp.body, "NextUploadIdMarker");
    if (nk.empty() || (nk.front() == key_marker && (ni.empty() || ni.front() == id_marker))) break;
    key_marker = nk.front();
    id_marker = ni.empty() ? "" : ni.front();
  }
  return aborted;
}

std::string S3FileIO::DuckDbSecretSql(std::string_view name) const {
  auto q = [](std::string_view s) {
    std::string out = "'";
    for (char c : s) {
      if (c == '\'') out += '\'';
      out += c;
    }
    return out + "'";
  };
  const S3Options& o = impl_->options;
  std::string sql = "CREATE OR REPLACE SECRET " + std::string(name) + " (TYPE s3, KEY_ID " +
                    q(o.credentials.access_key_id) + ", SECRET " + q(o.credentials.secret_access_key) +
                    ", REGION " + q(o.region) + ", ENDPOINT " + q(impl_->host) + ", URL_STYLE " +
                    q(impl_->path_style ? "path" : "vhost") + ", USE_SSL " +
                    (impl_->scheme == "https" ? "true" : "false");
  if (!o.credentials.session_token.empty()) sql += ", SESSION_TOKEN " + q(o.credentials.session_token);
  return sql + ")";
}

}  // namespace frazil::io
