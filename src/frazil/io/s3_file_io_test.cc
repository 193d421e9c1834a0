// The S3 FileIO, two ways:
//  - S3Fake*: against a small in-memory S3 behind FakeHttpTransport (FakeS3 below), which
//    checks every request's SigV4 signature and x-amz-content-sha256, and lets a test inject
//    throttling, 5xx, errors in 200 answers and lost responses;
//  - S3Server*: against a real S3 server (Versity S3 Gateway, io/test_s3_server.h) over the
//    curl transport. A missing server binary fails these tests; they never skip.
#include "frazil/io/s3_file_io.h"
#include "frazil/io/crc32c.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "frazil/base/strings.h"
#include "frazil/io/http_client.h"
#include "frazil/io/sigv4.h"
#include "frazil/io/test_s3_server.h"

namespace frazil::io {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kNow = 1'700'000'000;  // the signing clock of the fake tests

// --- helpers -------------------------------------------------------------------------------

std::string Digest(std::string_view data, const EVP_MD* md) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  return std::string(reinterpret_cast<const char*>(out), len);
}
std::string Md5Hex(std::string_view data) { return HexEncode(Digest(data, EVP_md5())); }
std::string Md5B64(std::string_view data) { return Base64Encode(Digest(data, EVP_md5())); }

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
  }
  return out;
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding only ('+' stays a plus, as S3 reads paths and SigV4 queries).
std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && Hex(s[i + 1]) >= 0 && Hex(s[i + 2]) >= 0) {
      out += static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string IsoTime(int64_t ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

std::string ReadLocalFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void WriteLocalFile(const std::string& path, std::string_view data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "frazil-s3-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// Sets (or unsets, for nullopt) an environment variable and restores it on destruction.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string Err(const Error& e) { return e.ToString(); }
template <typename T>
std::string Err(const Result<T>& r) {
  return r ? std::string("(ok)") : r.error().ToString();
}

// --- the fake S3 ---------------------------------------------------------------------------

// One request as the fake understood it.
struct Seen {
  std::string method;
  std::string url;
  std::string host;
  std::string bucket;
  std::string key;
  std::map<std::string, std::string> query;  // decoded
  HttpFields headers;
  size_t body_size = 0;
  std::string body;  // only when small (< 1 MiB)

  bool Has(const std::string& q) const { return query.contains(q); }
};

// An in-memory S3 of one endpoint: objects, multipart uploads, ListObjectsV2 (2 keys a page),
// ListMultipartUploads (2 uploads a page), DeleteObjects (at most 1000 keys, Content-MD5
// required). Understands path-style (host == endpoint_host) and virtual-host-style
// (host == <bucket>.<endpoint_host>) URLs. Every request must carry a valid SigV4
// Authorization for `creds` / `region` at kNow and an x-amz-content-sha256 equal to the
// body's SHA-256: violations are collected in problems(). Thread-safe.
class FakeS3 {
 public:
  struct Upload {
    std::string bucket;
    std::string key;
    int64_t initiated_ms = 0;
    std::map<int, std::string> parts;
  };
  // Runs before the fake handles a request; an answer replaces the fake's (the request then
  // has no effect). Called without the fake's lock held.
  using Intercept = std::function<std::optional<HttpResponse>(const Seen&)>;

  explicit FakeS3(std::string endpoint_host = "s3.test:9000", std::string region = "us-east-1")
      : endpoint_host_(std::move(endpoint_host)), region_(std::move(region)) {}

  std::shared_ptr<HttpTransport> transport() {
    return std::make_shared<FakeHttpTransport>([this](const HttpRequest& r) { return Handle(r); });
  }

  AwsCredentials creds{"AKIDFAKE", "fake/secret+key=", ""};
  int64_t signing_time = kNow;

  void set_intercept(Intercept i) {
    std::lock_guard<std::mutex> l(mu_);
    intercept_ = std::move(i);
  }
  void set_conditional_writes(bool on) {
    std::lock_guard<std::mutex> l(mu_);
    conditional_writes_ = on;
  }
  void set_now_ms(int64_t ms) {
    std::lock_guard<std::mutex> l(mu_);
    now_ms_ = ms;
  }
  void AddBucket(const std::string& b) {
    std::lock_guard<std::mutex> l(mu_);
    buckets_.insert(b);
  }
  void Put(const std::string& bucket, const std::string& key, std::string data) {
    std::lock_guard<std::mutex> l(mu_);
    objects_[{bucket, key}] = std::move(data);
  }
  std::optional<std::string> Get(const std::string& bucket, const std::string& key) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = objects_.find({bucket, key});
    if (it == objects_.end()) return std::nullopt;
    return it->second;
  }
  size_t object_count() const {
    std::lock_guard<std::mutex> l(mu_);
    return objects_.size();
  }
  std::string StartUpload(const std::string& bucket, const std::string& key, int64_t initiated_ms) {
    std::lock_guard<std::mutex> l(mu_);
    return NewUpload(bucket, key, initiated_ms);
  }
  std::map<std::string, Upload> uploads() const {
    std::lock_guard<std::mutex> l(mu_);
    return uploads_;
  }
  std::vector<Seen> seen() const {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }
  // Requests matching method (empty: any) and, when given, having query parameter `q`.
  int Count(const std::string& method, const std::string& q = "") const {
    std::lock_guard<std::mutex> l(mu_);
    return static_cast<int>(std::count_if(seen_.begin(), seen_.end(), [&](const Seen& s) {
      return (method.empty() || s.method == method) && (q.empty() || s.Has(q));
    }));
  }
  std::vector<std::string> problems() const {
    std::lock_guard<std::mutex> l(mu_);
    return problems_;
  }
  std::vector<size_t> delete_batches() const {
    std::lock_guard<std::mutex> l(mu_);
    return delete_batches_;
  }
  // DeleteObjects answers an <Error> with `code` for `key`.
  void FailDeleteOf(const std::string& key, const std::string& code) {
    std::lock_guard<std::mutex> l(mu_);
    delete_errors_[key] = code;
  }

  static HttpResponse Xml(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.headers.Set("Content-Type", "application/xml");
    r.headers.Set("Content-Length", std::to_string(body.size()));
    r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + std::move(body);
    r.headers.Set("Content-Length", std::to_string(r.body.size()));
    return r;
  }
  static HttpResponse Error(int status, const std::string& code, const std::string& message) {
    return Xml(status, "<Error><Code>" + code + "</Code><Message>" + XmlEscape(message) +
                           "</Message><RequestId>FAKE</RequestId></Error>");
  }

 private:
  Result<HttpResponse> Handle(const HttpRequest& req) {
    Seen s = Parse(req);
    Intercept intercept;
    {
      std::lock_guard<std::mutex> l(mu_);
      CheckSignature(req);
      seen_.push_back(s);
      intercept = intercept_;
    }
    if (intercept) {
      if (auto answer = intercept(s)) return *answer;
    }
    std::lock_guard<std::mutex> l(mu_);
    return Serve(s, req);
  }

  Seen Parse(const HttpRequest& req) {
    Seen s;
    s.method = req.method;
    s.url = req.url;
    s.headers = req.headers;
    s.body_size = req.body.size();
    if (req.body.size() < size_t(kMiB)) s.body = req.body;
    std::string_view url = req.url;
    size_t scheme = url.find("://");
    size_t path_at = url.find('/', scheme + 3);
    s.host =
        std::string(url.substr(scheme + 3, path_at == url.npos ? url.npos : path_at - scheme - 3));
    std::string_view rest = path_at == url.npos ? "/" : url.substr(path_at);
    size_t q = rest.find('?');
    std::string_view path = rest.substr(0, q);
    if (q != rest.npos) {
      std::string_view query = rest.substr(q + 1);
      while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view kv = query.substr(0, amp);
        size_t eq = kv.find('=');
        s.query[PercentDecode(kv.substr(0, eq))] =
            eq == kv.npos ? "" : PercentDecode(kv.substr(eq + 1));
        if (amp == query.npos) break;
        query.remove_prefix(amp + 1);
      }
    }
    if (s.host == endpoint_host_) {  // path style: /bucket/key
      std::string_view p = path.substr(1);
      size_t slash = p.find('/');
      s.bucket = PercentDecode(p.substr(0, slash));
      if (slash != p.npos) s.key = PercentDecode(p.substr(slash + 1));
    } else if (s.host.ends_with("." + endpoint_host_)) {
      s.bucket = s.host.substr(0, s.host.size() - endpoint_host_.size() - 1);
      s.key = PercentDecode(path.substr(1));
    } else {
      std::lock_guard<std::mutex> l(mu_);
      problems_.push_back("request to an unknown host: " + req.url);
    }
    return s;
  }

  // Re-signs a copy of the request and compares (caller holds mu_).
  void CheckSignature(const HttpRequest& req) {
    std::string what = req.method + " " + req.url;
    const std::string* auth = req.headers.Find("Authorization");
    if (auth == nullptr) {
      problems_.push_back(what + ": no Authorization");
      return;
    }
    // The body is protected either by its signed SHA-256 or, unsigned, by a CRC-32C header.
    const std::string payload = req.headers.Get("x-amz-content-sha256");
    if (payload == kUnsignedPayload) {
      if (!req.headers.Has("x-amz-checksum-crc32c")) {
        problems_.push_back(what + ": UNSIGNED-PAYLOAD without x-amz-checksum-crc32c");
      } else if (req.headers.Get("x-amz-checksum-crc32c") != Crc32cBase64(req.body)) {
        problems_.push_back(what + ": x-amz-checksum-crc32c is not the body's CRC-32C");
      }
    } else if (payload != Sha256Hex(req.body)) {
      problems_.push_back(what + ": x-amz-content-sha256 is not the body's SHA-256");
    }
    HttpRequest copy = req;
    copy.headers.Remove("Authorization");
    Status st = SignRequestV4(&copy, creds, region_, "s3", signing_time,
                              payload == kUnsignedPayload ? std::string(kUnsignedPayload) : Sha256Hex(req.body));
    if (!st) {
      problems_.push_back(what + ": cannot re-sign: " + st.error().ToString());
    } else if (copy.headers.Get("Authorization") != *auth) {
      problems_.push_back(what + ": bad signature: " + *auth + " expected " +
                          copy.headers.Get("Authorization"));
    }
  }

  std::string NewUpload(const std::string& bucket, const std::string& key, int64_t initiated_ms) {
    // Characters that need encoding in a query: the client must send the id encoded.
    std::string id = "up+" + std::to_string(++next_upload_) + "/id=";
    uploads_[id] = Upload{bucket, key, initiated_ms, {}};
    return id;
  }

  // Caller holds mu_.
  HttpResponse Serve(const Seen& s, const HttpRequest& req) {
    if (!buckets_.contains(s.bucket)) {
      return Error(404, "NoSuchBucket", "The specified bucket does not exist");
    }
    if (s.key.empty()) {
      if (s.method == "GET" && s.Has("list-type")) return ListObjects(s);
      if (s.method == "GET" && s.Has("uploads")) return ListUploads(s);
      if (s.method == "POST" && s.Has("delete")) return DeleteObjects(s, req);
      return Error(400, "FakeUnsupported", "the fake does not do " + s.method + " " + s.url);
    }
    auto obj = std::make_pair(s.bucket, s.key);
    if (s.method == "PUT" && s.Has("partNumber")) {
      auto up = uploads_.find(s.query.at("uploadId"));
      if (up == uploads_.end() || up->second.key != s.key)
        return Error(404, "NoSuchUpload", "no such upload");
      int n = std::atoi(s.query.at("partNumber").c_str());
      up->second.parts[n] = req.body;
      HttpResponse r;
      r.status = 200;
      r.headers.Set("ETag", "\"" + Md5Hex(req.body) + "\"");
      return r;
    }
    if (s.method == "PUT") {
      if (s.headers.Has("If-None-Match")) {
        if (!conditional_writes_)
          return Error(501, "NotImplemented", "conditional writes are not implemented");
        if (objects_.contains(obj))
          return Error(412, "PreconditionFailed", "At least one of the preconditions failed");
      }
      objects_[obj] = req.body;
      HttpResponse r;
      r.status = 200;
      r.headers.Set("ETag", "\"" + Md5Hex(req.body) + "\"");
      return r;
    }
    if (s.method == "GET" || s.method == "HEAD") {
      auto it = objects_.find(obj);
      if (it == objects_.end()) {
        if (s.method == "HEAD") return HttpResponse{404, {}, ""};
        return Error(404, "NoSuchKey", "The specified key does not exist.");
      }
      const std::string& data = it->second;
      HttpResponse r;
      r.status = 200;
      r.headers.Set("ETag", "\"" + Md5Hex(data) + "\"");
      if (s.method == "HEAD") {
        r.headers.Set("Content-Length", std::to_string(data.size()));
        return r;
      }
      std::string range = s.headers.Get("Range");
      if (!range.empty()) {
        int64_t first = 0, last = 0;
        if (std::sscanf(range.c_str(), "bytes=%ld-%ld", &first, &last) != 2 || last < first) {
          return Error(400, "FakeBadRange", "bad range " + range);
        }
        if (first >= int64_t(data.size()))
          return Error(416, "InvalidRange", "The requested range is not satisfiable");
        last = std::min<int64_t>(last, int64_t(data.size()) - 1);
        r.status = 206;
        r.body = data.substr(size_t(first), size_t(last - first + 1));
        r.headers.Set("Content-Range", "bytes " + std::to_string(first) + "-" +
                                           std::to_string(last) + "/" +
                                           std::to_string(data.size()));
      } else {
        r.body = data;
      }
      r.headers.Set("Content-Length", std::to_string(r.body.size()));
      return r;
    }
    if (s.method == "DELETE" && s.Has("uploadId")) {
      if (uploads_.erase(s.query.at("uploadId")) == 0)
        return Error(404, "NoSuchUpload", "no such upload");
      return HttpResponse{204, {}, ""};
    }
    if (s.method == "DELETE") {
      objects_.erase(obj);
      return HttpResponse{204, {}, ""};
    }
    if (s.method == "POST" && s.Has("uploads")) {
      std::string id = NewUpload(s.bucket, s.key, now_ms_);
      return Xml(200, "<InitiateMultipartUploadResult><Bucket>" + s.bucket + "</Bucket><Key>" +
                          XmlEscape(s.key) + "</Key><UploadId>" + XmlEscape(id) +
                          "</UploadId></InitiateMultipartUploadResult>");
    }
    if (s.method == "POST" && s.Has("uploadId")) return Complete(s, req);
    return Error(400, "FakeUnsupported", "the fake does not do " + s.method + " " + s.url);
  }

  HttpResponse Complete(const Seen& s, const HttpRequest& req) {
    auto up = uploads_.find(s.query.at("uploadId"));
    if (up == uploads_.end() || up->second.key != s.key)
      return Error(404, "NoSuchUpload", "no such upload");
    std::string data;
    int previous = 0;
    auto blocks = XmlBlocks(req.body, "Part");
    if (blocks.empty()) return Error(400, "MalformedXML", "no parts");
    for (size_t i = 0; i < blocks.size(); ++i) {
      auto numbers = XmlElements(blocks[i], "PartNumber");
      auto etags = XmlElements(blocks[i], "ETag");
      if (numbers.size() != 1 || etags.size() != 1) return Error(400, "MalformedXML", "bad part");
      int n = std::atoi(numbers[0].c_str());
      if (n <= previous) return Error(400, "InvalidPartOrder", "parts out of order");
      previous = n;
      auto part = up->second.parts.find(n);
      if (part == up->second.parts.end() || etags[0] != "\"" + Md5Hex(part->second) + "\"") {
        return Error(400, "InvalidPart",
                     "part " + std::to_string(n) + " missing or its ETag differs");
      }
      if (i + 1 < blocks.size() && int64_t(part->second.size()) < 5 * kMiB) {
        return Error(400, "EntityTooSmall", "a part other than the last is below 5 MiB");
      }
      data += part->second;
    }
    objects_[{s.bucket, s.key}] = std::move(data);
    uploads_.erase(up);
    return Xml(200, "<CompleteMultipartUploadResult><Location>http://x/" + XmlEscape(s.key) +
                        "</Location><Bucket>" + s.bucket + "</Bucket><Key>" + XmlEscape(s.key) +
                        "</Key><ETag>&quot;abc-" + std::to_string(blocks.size()) +
                        "&quot;</ETag></CompleteMultipartUploadResult>");
  }

  HttpResponse ListObjects(const Seen& s) {
    std::string prefix = s.query.contains("prefix") ? s.query.at("prefix") : "";
    std::string after;
    if (s.Has("continuation-token")) {
      std::string token = s.query.at("continuation-token");
      auto decoded = token.starts_with("tok/") ? Base64Decode(token.substr(4)) : std::nullopt;
      if (!decoded)
        return Error(400, "InvalidArgument", "The continuation token provided is incorrect");
      after = *decoded;
    }
    std::string contents;
    int count = 0;
    bool truncated = false;
    std::string last;
    for (auto it = objects_.lower_bound({s.bucket, ""});
         it != objects_.end() && it->first.first == s.bucket; ++it) {
      const std::string& key = it->first.second;
      if (!key.starts_with(prefix) || (!after.empty() && key <= after)) continue;
      if (count == 2) {
        truncated = true;
        break;
      }
      ++count;
      last = key;
      contents += "<Contents><Key>" + XmlEscape(key) +
                  "</Key><LastModified>2024-02-03T04:05:06.789Z</LastModified>" + "<ETag>&quot;" +
                  Md5Hex(it->second) + "&quot;</ETag><Size>" + std::to_string(it->second.size()) +
                  "</Size><StorageClass>STANDARD</StorageClass></Contents>";
    }
    std::string body =
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>" + s.bucket +
        "</Name><Prefix>" + XmlEscape(prefix) + "</Prefix><KeyCount>" + std::to_string(count) +
        "</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>" + (truncated ? "true" : "false") +
        "</IsTruncated>" + contents;
    if (truncated)
      body += "<NextContinuationToken>tok/" + Base64Encode(last) + "</NextContinuationToken>";
    return Xml(200, body + "</ListBucketResult>");
  }

  HttpResponse ListUploads(const Seen& s) {
    std::string prefix = s.query.contains("prefix") ? s.query.at("prefix") : "";
    std::string key_marker = s.query.contains("key-marker") ? s.query.at("key-marker") : "";
    std::string id_marker =
        s.query.contains("upload-id-marker") ? s.query.at("upload-id-marker") : "";
    std::vector<std::pair<std::string, std::string>> all;  // (key, id), sorted
    for (const auto& [id, u] : uploads_) {
      if (u.bucket == s.bucket && u.key.starts_with(prefix)) all.emplace_back(u.key, id);
    }
    std::sort(all.begin(), all.end());
    std::string body = "<ListMultipartUploadsResult><Bucket>" + s.bucket + "</Bucket><KeyMarker>" +
                       XmlEscape(key_marker) + "</KeyMarker><UploadIdMarker>" +
                       XmlEscape(id_marker) + "</UploadIdMarker><Prefix>" + XmlEscape(prefix) +
                       "</Prefix><MaxUploads>2</MaxUploads>";
    int count = 0;
    bool truncated = false;
    std::pair<std::string, std::string> last;
    std::string uploads;
    for (const auto& [key, id] : all) {
      if (!key_marker.empty()) {
        if (key < key_marker) continue;
        if (key == key_marker && (id_marker.empty() || id <= id_marker)) continue;
      }
      if (count == 2) {
        truncated = true;
        break;
      }
      ++count;
      last = {key, id};
      uploads += "<Upload><Key>" + XmlEscape(key) + "</Key><UploadId>" + XmlEscape(id) +
                 "</UploadId><Initiator><ID>x</ID></Initiator><StorageClass>STANDARD</"
                 "StorageClass><Initiated>" +
                 IsoTime(uploads_.at(id).initiated_ms) + "</Initiated></Upload>";
    }
    body += "<IsTruncated>" + std::string(truncated ? "true" : "false") + "</IsTruncated>";
    if (truncated) {
      body += "<NextKeyMarker>" + XmlEscape(last.first) + "</NextKeyMarker><NextUploadIdMarker>" +
              XmlEscape(last.second) + "</NextUploadIdMarker>";
    }
    return Xml(200, body + uploads + "</ListMultipartUploadsResult>");
  }

  HttpResponse DeleteObjects(const Seen& s, const HttpRequest& req) {
    const std::string* md5 = req.headers.Find("Content-MD5");
    if (md5 == nullptr)
      return Error(400, "InvalidRequest", "Missing required header for this request: Content-MD5");
    if (*md5 != Md5B64(req.body))
      return Error(400, "BadDigest", "The Content-MD5 you specified did not match");
    auto keys = XmlElements(req.body, "Key");
    if (keys.size() > 1000) return Error(400, "MalformedXML", "more than 1000 keys");
    delete_batches_.push_back(keys.size());
    std::string errors;
    for (const auto& k : keys) {
      auto e = delete_errors_.find(k);
      if (e != delete_errors_.end()) {
        errors += "<Error><Key>" + XmlEscape(k) + "</Key><Code>" + e->second +
                  "</Code><Message>injected</Message></Error>";
        continue;
      }
      objects_.erase({s.bucket, k});
    }
    return Xml(200, "<DeleteResult>" + errors + "</DeleteResult>");
  }

  const std::string endpoint_host_;
  const std::string region_;
  mutable std::mutex mu_;
  Intercept intercept_;
  bool conditional_writes_ = true;
  int64_t now_ms_ = kNow * 1000;
  std::set<std::string> buckets_{"b"};
  std::map<std::pair<std::string, std::string>, std::string> objects_;
  std::map<std::string, Upload> uploads_;
  int next_upload_ = 0;
  std::map<std::string, std::string> delete_errors_;
  std::vector<size_t> delete_batches_;
  std::vector<Seen> seen_;
  std::vector<std::string> problems_;
};

// A fixture with a FakeS3 and options pointing at it (path style, part size 5 MiB, a
// recorded, instant backoff).
class S3FakeTest : public ::testing::Test {
 protected:
  S3Options Options() {
    S3Options o;
    o.endpoint = "http://s3.test:9000";
    o.credentials = fake_.creds;
    o.transport = fake_.transport();
    o.part_size = 5 * kMiB;
    o.now_seconds = [] { return kNow; };
    o.sleep = [this](milliseconds w) {
      std::lock_guard<std::mutex> l(waits_mu_);
      waits_.push_back(w);
    };
    return o;
  }
  std::unique_ptr<S3FileIO> Make(S3Options o) {
    auto io = S3FileIO::Make(std::move(o));
    EXPECT_TRUE(io) << Err(io);
    return io ? std::move(*io) : nullptr;
  }
  std::unique_ptr<S3FileIO> Make() { return Make(Options()); }
  std::vector<milliseconds> waits() {
    std::lock_guard<std::mutex> l(waits_mu_);
    return waits_;
  }
  void TearDown() override {
    for (const auto& p : fake_.problems()) ADD_FAILURE() << "fake S3: " << p;
  }

  FakeS3 fake_;
  std::mutex waits_mu_;
  std::vector<milliseconds> waits_;
};

// --- locations -----------------------------------------------------------------------------

TEST(S3LocationTest, ParsesS3Locations) {
  auto a = ParseS3Location("s3://bucket/a/b/c.parquet");
  ASSERT_TRUE(a) << Err(a);
  EXPECT_EQ(a->bucket, "bucket");
  EXPECT_EQ(a->key, "a/b/c.parquet");
  for (const char* loc : {"s3a://bucket/k", "s3n://bucket/k"}) {
    auto r = ParseS3Location(loc);
    ASSERT_TRUE(r) << loc << ": " << Err(r);
    EXPECT_EQ(r->bucket, "bucket");
    EXPECT_EQ(r->key, "k");
    EXPECT_TRUE(IsS3Location(loc));
  }
  auto bucket_only = ParseS3Location("s3://bucket");
  ASSERT_TRUE(bucket_only);
  EXPECT_EQ(bucket_only->bucket, "bucket");
  EXPECT_EQ(bucket_only->key, "");
  auto trailing = ParseS3Location("s3://bucket/dir/");
  ASSERT_TRUE(trailing);
  EXPECT_EQ(trailing->key, "dir/");
}

TEST(S3LocationTest, RejectsOtherSchemesAndEmptyBuckets) {
  for (const char* loc : {"gs://bucket/k", "file:///tmp/x", "/tmp/x", "S3://bucket/k",
                          "s3:/bucket/k", "", "s3://", "s3:///key", "http://bucket/k"}) {
    auto r = ParseS3Location(loc);
    ASSERT_FALSE(r) << "'" << loc << "' parsed";
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument) << loc;
  }
  EXPECT_FALSE(IsS3Location("/tmp/x"));
  EXPECT_FALSE(IsS3Location("gs://b/k"));
  EXPECT_TRUE(IsS3Location("s3://b/k"));
}

TEST_F(S3FakeTest, MakeRejectsBadEndpointsAndPartSizes) {
  for (const char* endpoint :
       {"ftp://host", "host:9000", "http://", "http://host/path", "https://host/a/"}) {
    S3Options o = Options();
    o.endpoint = endpoint;
    auto io = S3FileIO::Make(o);
    ASSERT_FALSE(io) << endpoint;
    EXPECT_EQ(io.error().kind, ErrorKind::kInvalidArgument) << endpoint;
  }
  for (int64_t size : {int64_t{1} << 20, 5 * kMiB - 1, (int64_t{5} << 30) + 1}) {
    S3Options o = Options();
    o.part_size = size;
    auto io = S3FileIO::Make(o);
    ASSERT_FALSE(io) << size;
    EXPECT_EQ(io.error().kind, ErrorKind::kInvalidArgument);
    EXPECT_NE(io.error().message.find("part size"), std::string::npos) << io.error().message;
  }
  S3Options o = Options();
  o.endpoint = "http://s3.test:9000/";  // a trailing slash is fine
  EXPECT_TRUE(S3FileIO::Make(o));
}

// --- addressing ----------------------------------------------------------------------------

TEST_F(S3FakeTest, PathStyleUrlsWithACustomEndpoint) {
  auto io = Make();
  ASSERT_TRUE(io);
  EXPECT_TRUE(io->path_style());
  ASSERT_TRUE(io->Write("s3://b/a/b.txt", "hello"));
  ASSERT_TRUE(io->List("s3://b/a"));
  auto seen = fake_.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "PUT");
  EXPECT_EQ(seen[0].url, "http://s3.test:9000/b/a/b.txt");
  EXPECT_EQ(seen[0].headers.Get("Host"), "s3.test:9000");
  EXPECT_EQ(seen[1].method, "GET");
  EXPECT_TRUE(seen[1].url.starts_with("http://s3.test:9000/b?")) << seen[1].url;
  EXPECT_EQ(seen[1].query.at("list-type"), "2");
  EXPECT_EQ(seen[1].query.at("prefix"), "a/");
  EXPECT_EQ(fake_.Get("b", "a/b.txt"), "hello");
}

TEST_F(S3FakeTest, VirtualHostUrlsWhenAsked) {
  S3Options o = Options();
  o.addressing = S3Addressing::kVirtualHost;
  auto io = Make(o);
  ASSERT_TRUE(io);
  EXPECT_FALSE(io->path_style());
  ASSERT_TRUE(io->Write("s3://b/a/b.txt", "hello"));
  ASSERT_TRUE(io->List("s3://b"));
  auto seen = fake_.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].url, "http://b.s3.test:9000/a/b.txt");
  EXPECT_EQ(seen[0].headers.Get("Host"), "b.s3.test:9000");
  EXPECT_TRUE(seen[1].url.starts_with("http://b.s3.test:9000/?")) << seen[1].url;
  EXPECT_EQ(fake_.Get("b", "a/b.txt"), "hello");
}

TEST(S3AwsTest, VirtualHostOnAwsByDefault) {
  FakeS3 fake("s3.eu-west-1.amazonaws.com", "eu-west-1");
  S3Options o;
  o.region = "eu-west-1";
  o.credentials = fake.creds;
  o.transport = fake.transport();
  o.now_seconds = [] { return kNow; };
  auto io = S3FileIO::Make(o);
  ASSERT_TRUE(io) << Err(io);
  EXPECT_FALSE((*io)->path_style());
  ASSERT_TRUE((*io)->Write("s3://b/k.json", "{}"));
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].url, "https://b.s3.eu-west-1.amazonaws.com/k.json");
  EXPECT_NE(seen[0].headers.Get("Authorization").find("/eu-west-1/s3/aws4_request"),
            std::string::npos);
  EXPECT_NE((*io)->DuckDbSecretSql("s").find("URL_STYLE 'vhost'"), std::string::npos);
  EXPECT_NE((*io)->DuckDbSecretSql("s").find("USE_SSL true"), std::string::npos);
  for (const auto& p : fake.problems()) ADD_FAILURE() << p;
}

TEST_F(S3FakeTest, KeysWithSpacesUnicodeAndPlusRoundTrip) {
  auto io = Make();
  ASSERT_TRUE(io);
  const std::vector<std::string> keys = {"dir/a b+c.txt", "dir/ünïcødé €.parquet",
                                         "dir/100%&=?#'\"<x>;,.txt",
                                         "dir/tilde~ and (parens) [brackets]"};
  for (const auto& key : keys) {
    std::string loc = "s3://b/" + key;
    ASSERT_TRUE(io->Write(loc, "data of " + key)) << key;
    auto got = io->Read(loc);
    ASSERT_TRUE(got) << key << ": " << Err(got);
    EXPECT_EQ(*got, "data of " + key);
    EXPECT_EQ(fake_.Get("b", key), "data of " + key) << "stored under another key";
    auto exists = io->Exists(loc);
    ASSERT_TRUE(exists);
    EXPECT_TRUE(*exists) << key;
  }
  auto seen = fake_.seen();
  EXPECT_EQ(seen[0].url, "http://s3.test:9000/b/dir/a%20b%2Bc.txt");
  for (const auto& s : seen) {
    std::string path = s.url.substr(0, s.url.find('?'));
    EXPECT_EQ(path.find(' '), std::string::npos) << s.url;
    EXPECT_EQ(path.find('#'), std::string::npos) << s.url;
  }
  auto list = io->List("s3://b/dir");
  ASSERT_TRUE(list) << Err(list);
  std::set<std::string> listed;
  for (const auto& f : *list) listed.insert(f.location);
  std::set<std::string> expected;
  for (const auto& k : keys) expected.insert("s3://b/" + k);
  EXPECT_EQ(listed, expected);
  ASSERT_TRUE(io->DeleteMany({"s3://b/" + keys[0], "s3://b/" + keys[1]}));
  ASSERT_TRUE(io->Delete("s3://b/" + keys[2]));
  ASSERT_TRUE(io->Delete("s3://b/" + keys[3]));
  EXPECT_EQ(fake_.object_count(), 0u);
}

// --- reads ---------------------------------------------------------------------------------

TEST_F(S3FakeTest, ReadAndReadRange) {
  auto io = Make();
  ASSERT_TRUE(io);
  fake_.Put("b", "f", "0123456789");
  auto all = io->Read("s3://b/f");
  ASSERT_TRUE(all) << Err(all);
  EXPECT_EQ(*all, "0123456789");
  auto mid = io->ReadRange("s3://b/f", 2, 4);
  ASSERT_TRUE(mid) << Err(mid);
  EXPECT_EQ(*mid, "2345");
  EXPECT_EQ(fake_.seen().back().headers.Get("Range"), "bytes=2-5");
  auto tail = io->ReadRange("s3://b/f", 6, 4);
  ASSERT_TRUE(tail) << Err(tail);
  EXPECT_EQ(*tail, "6789");
  auto empty = io->ReadRange("s3://b/f", 3, 0);
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, "");

  auto past_end = io->ReadRange("s3://b/f", 8, 4);  // S3: 206 with 2 bytes
  ASSERT_FALSE(past_end);
  EXPECT_EQ(past_end.error().kind, ErrorKind::kCorrupt) << Err(past_end);
  auto beyond = io->ReadRange("s3://b/f", 10, 1);  // S3: 416
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().kind, ErrorKind::kCorrupt) << Err(beyond);
  EXPECT_NE(beyond.error().message.find("s3://b/f"), std::string::npos) << Err(beyond);

  auto negative = io->ReadRange("s3://b/f", -1, 2);
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error().kind, ErrorKind::kInvalidArgument);

  auto missing = io->Read("s3://b/missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound) << Err(missing);
  auto missing_range = io->ReadRange("s3://b/missing", 0, 1);
  ASSERT_FALSE(missing_range);
  EXPECT_EQ(missing_range.error().kind, ErrorKind::kNotFound) << Err(missing_range);
  EXPECT_TRUE(waits().empty()) << "nothing here is worth a retry";
}

TEST_F(S3FakeTest, ReadRangeCutsOutOfA200WhenTheStoreIgnoresRange) {
  auto io = Make();
  ASSERT_TRUE(io);
  fake_.set_intercept([](const Seen& s) -> std::optional<HttpResponse> {
    HttpResponse r{200, {}, "0123456789"};
    r.headers.Set("Content-Length", "10");
    if (s.method == "GET") return r;
    return std::nullopt;
  });
  auto mid = io->ReadRange("s3://b/f", 3, 2);
  ASSERT_TRUE(mid) << Err(mid);
  EXPECT_EQ(*mid, "34");
  auto past = io->ReadRange("s3://b/f", 9, 2);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().kind, ErrorKind::kCorrupt);
}

TEST_F(S3FakeTest, ReadOfATruncatedBodyIsCorrupt) {
  auto io = Make();
  ASSERT_TRUE(io);
  fake_.set_intercept([](const Seen&) -> std::optional<HttpResponse> {
    HttpResponse r{200, {}, "short"};
    r.headers.Set("Content-Length", "100");
    return r;
  });
  auto got = io->Read("s3://b/f");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind, ErrorKind::kCorrupt) << Err(got);
}

TEST_F(S3FakeTest, ExistsAndSize) {
  auto io = Make();
  ASSERT_TRUE(io);
  fake_.Put("b", "dir/f", std::string(1234, 'x'));
  auto e = io->Exists("s3://b/dir/f");
  ASSERT_TRUE(e) << Err(e);
  EXPECT_TRUE(*e);
  auto size = io->Size("s3://b/dir/f");
  ASSERT_TRUE(size) << Err(size);
  EXPECT_EQ(*size, 1234);
  EXPECT_EQ(fake_.seen().back().method, "HEAD");
  auto absent = io->Exists("s3://b/dir/none");
  ASSERT_TRUE(absent) << Err(absent);
  EXPECT_FALSE(*absent);
  auto dir = io->Exists("s3://b/dir");  // a "directory" is not an object
  ASSERT_TRUE(dir);
  EXPECT_FALSE(*dir);
  auto no_size = io->Size("s3://b/dir/none");
  ASSERT_FALSE(no_size);
  EXPECT_EQ(no_size.error().kind, ErrorKind::kNotFound);
  auto bad = io->Exists("gs://b/x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidArgument);
}

// --- writes --------------------------------------------------------------------------------

TEST_F(S3FakeTest, SmallWriteIsOnePut) {
  auto io = Make();
  ASSERT_TRUE(io);
  ASSERT_TRUE(io->Write("s3://b/small", "abc"));
  ASSERT_TRUE(io->Write("s3://b/empty", ""));
  EXPECT_EQ(fake_.Get("b", "small"), "abc");
  EXPECT_EQ(fake_.Get("b", "empty"), "");
  EXPECT_EQ(fake_.Count("PUT"), 2);
  EXPECT_EQ(fake_.Count("POST"), 0);
  EXPECT_EQ(io->stats().bytes_uploaded, 3);
  // Exactly part_size: still a single PUT.
  std::string exact(size_t(5 * kMiB), 'p');
  ASSERT_TRUE(io->Write("s3://b/exact", exact));
  EXPECT_EQ(fake_.Count("POST"), 0);
  EXPECT_EQ(fake_.Get("b", "exact"), exact);
}

TEST_F(S3FakeTest, UploadsCarryACrc32cOrASignedSha256) {
  // Default: object data unsigned, with its CRC-32C for the store to check; multipart
  // uploads declare the algorithm and repeat each part's checksum in the completion.
  auto io = Make();
  ASSERT_TRUE(io);
  ASSERT_TRUE(io->Write("s3://b/small", "abc"));
  ASSERT_TRUE(io->Write("s3://b/big", RandomBytes(size_t(11 * kMiB), 3)));
  int parts = 0;
  for (const Seen& r : fake_.seen()) {
    if (r.method == "PUT") {
      EXPECT_EQ(r.headers.Get("x-amz-content-sha256"), kUnsignedPayload) << r.url;
      EXPECT_TRUE(r.headers.Has("x-amz-checksum-crc32c")) << r.url;
      parts += r.Has("partNumber") ? 1 : 0;
    } else if (r.method == "POST" && r.Has("uploads")) {
      EXPECT_EQ(r.headers.Get("x-amz-checksum-algorithm"), "CRC32C");
    } else if (r.method == "POST" && r.Has("uploadId")) {
      EXPECT_NE(r.body.find("<ChecksumCRC32C>"), std::string::npos) << r.body;
    }
  }
  EXPECT_EQ(parts, 3);
  // sha256: every body signed, no checksum header (stores without S3's checksum headers).
  S3Options o = Options();
  o.crc32c_checksums = false;
  auto signed_io = Make(o);
  ASSERT_TRUE(signed_io);
  size_t before = fake_.seen().size();
  ASSERT_TRUE(signed_io->Write("s3://b/small2", "abc"));
  auto seen = fake_.seen();
  ASSERT_GT(seen.size(), before);
  EXPECT_EQ(seen.back().headers.Get("x-amz-content-sha256"), Sha256Hex("abc"));
  EXPECT_FALSE(seen.back().headers.Has("x-amz-checksum-crc32c"));
  EXPECT_EQ(fake_.Get("b", "small2"), "abc");
}

TEST_F(S3FakeTest, MultipartWriteOf12MiBIsThreeParts) {
  auto io = Make();
  ASSERT_TRUE(io);
  std::string data = RandomBytes(size_t(12 * kMiB), 1);
  Status st = io->Write("s3://b/big.bin", data);
  ASSERT_TRUE(st) << Err(st.error());
  auto stored = fake_.Get("b", "big.bin");
  ASSERT_TRUE(stored);
  EXPECT_TRUE(*stored == data) << "content differs after the multipart upload";
  EXPECT_EQ(fake_.Count("POST", "uploads"), 1);
  EXPECT_EQ(fake_.Count("PUT", "partNumber"), 3);
  EXPECT_EQ(fake_.Count("POST", "uploadId"), 1);
  EXPECT_EQ(fake_.Count("DELETE"), 0);
  std::multiset<size_t> part_sizes;
  for (const auto& s : fake_.seen()) {
    if (s.Has("partNumber")) {
      part_sizes.insert(s.body_size);
      EXPECT_EQ(s.query.at("uploadId"), "up+1/id=")
          << "the upload id must be percent-encoded: " << s.url;
    }
  }
  EXPECT_EQ(part_sizes,
            (std::multiset<size_t>{size_t(5 * kMiB), size_t(5 * kMiB), size_t(2 * kMiB)}));
  EXPECT_TRUE(fake_.uploads().empty());
  EXPECT_EQ(io->stats().bytes_uploaded, 12 * kMiB);
  auto back = io->Read("s3://b/big.bin");
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == data);
}

TEST_F(S3FakeTest, WriteNewIsConditional) {
  auto io = Make();
  ASSERT_TRUE(io);
  ASSERT_TRUE(io->WriteNew("s3://b/m.json", "v1"));
  EXPECT_EQ(fake_.seen().back().headers.Get("If-None-Match"), "*");
  EXPECT_EQ(fake_.Get("b", "m.json"), "v1");

  Status again = io->WriteNew("s3://b/m.json", "v2");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kAlreadyExists) << Err(again.error());
  EXPECT_NE(again.error().message.find("s3://b/m.json"), std::string::npos);
  EXPECT_EQ(fake_.Get("b", "m.json"), "v1");

  // The same bytes already there (our own earlier attempt whose answer was lost): Ok.
  Status same = io->WriteNew("s3://b/m.json", "v1");
  EXPECT_TRUE(same) << Err(same.error());
  EXPECT_TRUE(waits().empty());
}

TEST_F(S3FakeTest, WriteNewAfterALostAnswerIsOk) {
  auto inner = fake_.transport();
  auto faulty = std::make_shared<FaultInjectingHttpTransport>(inner);
  faulty->FailNext(HttpFailure::kMaybeSent, "PUT", "/b/m.json", 1);
  S3Options o = Options();
  o.transport = faulty;
  auto io = Make(o);
  ASSERT_TRUE(io);
  // The first PUT lands, its answer is lost; the retry gets 412; the content is ours.
  Status st = io->WriteNew("s3://b/m.json", "mine");
  EXPECT_TRUE(st) << Err(st.error());
  EXPECT_EQ(fake_.Get("b", "m.json"), "mine");
  EXPECT_EQ(fake_.Count("PUT"), 2);
}

TEST_F(S3FakeTest, WriteNewFallsBackWithoutConditionalWrites) {
  fake_.set_conditional_writes(false);
  auto io = Make();
  ASSERT_TRUE(io);
  Status st = io->WriteNew("s3://b/n.json", "v1");
  ASSERT_TRUE(st) << Err(st.error());
  EXPECT_EQ(fake_.Get("b", "n.json"), "v1");
  auto seen = fake_.seen();
  ASSERT_EQ(seen.size(), 3u);  // PUT If-None-Match (501), HEAD (404), PUT
  EXPECT_EQ(seen[0].method, "PUT");
  EXPECT_TRUE(seen[0].headers.Has("If-None-Match"));
  EXPECT_EQ(seen[1].method, "HEAD");
  EXPECT_EQ(seen[2].method, "PUT");
  EXPECT_FALSE(seen[2].headers.Has("If-None-Match"));

  Status again = io->WriteNew("s3://b/n.json", "v2");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kAlreadyExists) << Err(again.error());
  EXPECT_EQ(fake_.Get("b", "n.json"), "v1");
  EXPECT_TRUE(waits().empty()) << "501 is not retried";
}

// --- delete and list ---------------------------------------------------------------------

TEST_F(S3FakeTest, DeleteOfAMissingObjectIsOk) {
  auto io = Make();
  ASSERT_TRUE(io);
  fake_.Put("b", "x", "1");
  ASSERT_TRUE(io->Delete("s3://b/x"));
  EXPECT_FALSE(fake_.Get("b", "x"));
  Status again = io->Delete("s3://b/x");
  EXPECT_TRUE(again) << Err(again.error());
  // A store that answers 404 NoSuchKey (not S3, some others): Ok too.
  fake_.set_intercept(
      [](const Seen&) { return std::optional(FakeS3::Error(404, "NoSuchKey", "no such key")); });
  Status on_404 = io->Delete("s3://b/x");
  EXPECT_TRUE(on_404) << Err(on_404.error());
}

TEST_F(S3FakeTest, ListPaginatesAndTreatsThePrefixAsADirectory) {
  auto io = Make();
  ASSERT_TRUE(io);
  for (int i = 0; i < 5; ++i)
    fake_.Put("b", "dir/f" + std::to_string(i), std::string(size_t(i + 1), 'x'));
  fake_.Put("b", "dir2/other", "y");
  fake_.Put("b", "dir", "the object named like the directory");
  fake_.Put("b", "dirt", "z");
  auto list = io->List("s3://b/dir");
  ASSERT_TRUE(list) << Err(list);
  ASSERT_EQ(list->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ((*list)[size_t(i)].location, "s3://b/dir/f" + std::to_string(i));
    EXPECT_EQ((*list)[size_t(i)].size, i + 1);
    EXPECT_EQ((*list)[size_t(i)].modified_ms, 1706933106789) << "2024-02-03T04:05:06.789Z";
  }
  EXPECT_EQ(fake_.Count("GET", "list-type"), 3) << "5 keys at 2 a page";
  EXPECT_EQ(fake_.Count("GET", "continuation-token"), 2);

  // With the trailing slash, and with another scheme: the same files, in that scheme.
  auto slash = io->List("s3a://b/dir/");
  ASSERT_TRUE(slash) << Err(slash);
  ASSERT_EQ(slash->size(), 5u);
  EXPECT_EQ(slash->front().location, "s3a://b/dir/f0");

  auto whole = io->List("s3://b");
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->size(), 8u);
  auto none = io->List("s3://b/nothing");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(S3FakeTest, ListFailsOnATruncatedPageWithoutAToken) {
  auto io = Make();
  ASSERT_TRUE(io);
  fake_.set_intercept([](const Seen&) {
    return std::optional(
        FakeS3::Xml(200, "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"));
  });
  auto list = io->List("s3://b/dir");
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().kind, ErrorKind::kIOError);
}

TEST_F(S3FakeTest, DeleteManyBatchesOf1000WithContentMd5) {
  auto io = Make();
  ASSERT_TRUE(io);
  std::vector<std::string> locations;
  for (int i = 0; i < 1500; ++i) {
    std::string key = "many/" + std::to_string(i) + (i % 7 == 0 ? " & <odd>" : "");
    fake_.Put("b", key, "x");
    locations.push_back("s3://b/" + key);
  }
  fake_.Put("b", "keep", "k");
  for (int i = 0; i < 10; ++i) locations.push_back("s3://b/missing/" + std::to_string(i));
  Status st = io->DeleteMany(locations);
  ASSERT_TRUE(st) << Err(st.error());
  EXPECT_EQ(fake_.object_count(), 1u);
  EXPECT_EQ(fake_.delete_batches(), (std::vector<size_t>{1000, 510}));
  int posts = 0;
  for (const auto& s : fake_.seen()) {
    if (s.method != "POST") continue;
    ++posts;
    EXPECT_TRUE(s.Has("delete"));
    EXPECT_TRUE(s.headers.Has("Content-MD5"));
  }
  EXPECT_EQ(posts, 2);
  EXPECT_TRUE(io->DeleteMany({}));
  EXPECT_EQ(fake_.Count("POST"), 2) << "nothing to delete: no request";
}

TEST_F(S3FakeTest, DeleteManyGroupsByBucketAndReportsPerKeyErrors) {
  fake_.AddBucket("c");
  auto io = Make();
  ASSERT_TRUE(io);
  fake_.Put("b", "1", "x");
  fake_.Put("c", "2", "x");
  fake_.Put("b", "gone", "x");
  fake_.FailDeleteOf("gone", "NoSuchKey");  // not an error
  ASSERT_TRUE(io->DeleteMany({"s3://b/1", "s3://c/2", "s3://b/gone"}));
  EXPECT_EQ(fake_.delete_batches(), (std::vector<size_t>{2, 1}));
  fake_.Put("b", "locked", "x");
  fake_.FailDeleteOf("locked", "AccessDenied");
  Status st = io->DeleteMany({"s3://b/locked"});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("s3://b/locked"), std::string::npos) << Err(st.error());
  EXPECT_NE(st.error().message.find("AccessDenied"), std::string::npos) << Err(st.error());
  Status bad = io->DeleteMany({"s3://b/x", "gs://b/y"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(S3FakeTest, AbortIncompleteUploadsByAge) {
  auto io = Make();
  ASSERT_TRUE(io);
  const int64_t day = 86'400'000;
  const int64_t now = kNow * 1000;
  std::set<std::string> old_ids;
  for (int i = 0; i < 3; ++i)
    old_ids.insert(fake_.StartUpload("b", "t/old" + std::to_string(i), now - 2 * day));
  old_ids.insert(fake_.StartUpload("b", "t/old0", now - 3 * day));  // two uploads of one key
  std::string young = fake_.StartUpload("b", "t/young", now - 1000);
  std::string elsewhere = fake_.StartUpload("b", "u/old", now - 2 * day);
  auto n = io->AbortIncompleteUploads("s3://b/t/", now - day);
  ASSERT_TRUE(n) << Err(n);
  EXPECT_EQ(*n, 4);
  auto left = fake_.uploads();
  EXPECT_EQ(left.size(), 2u);
  EXPECT_TRUE(left.contains(young));
  EXPECT_TRUE(left.contains(elsewhere));
  std::set<std::string> aborted;
  for (const auto& s : fake_.seen()) {
    if (s.method == "DELETE") aborted.insert(s.query.at("uploadId"));
  }
  EXPECT_EQ(aborted, old_ids);
  EXPECT_GE(fake_.Count("GET", "uploads"), 3) << "5 uploads under t/ at 2 a page";
  auto none = io->AbortIncompleteUploads("s3://b/t/", now - day);
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0);
}

// --- files ---------------------------------------------------------------------------------

TEST_F(S3FakeTest, PutFileAndGetFileOf11MiB) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  std::string data = RandomBytes(size_t(11 * kMiB), 2);
  WriteLocalFile(tmp / "in.bin", data);
  auto io = Make();
  ASSERT_TRUE(io);
  Status put = io->PutFile(tmp / "in.bin", "s3://b/files/in.bin");
  ASSERT_TRUE(put) << Err(put.error());
  EXPECT_EQ(fake_.Count("PUT", "partNumber"), 3);
  auto stored = fake_.Get("b", "files/in.bin");
  ASSERT_TRUE(stored);
  EXPECT_TRUE(*stored == data);

  auto got = io->GetFile("s3://b/files/in.bin", tmp / "out.bin");
  ASSERT_TRUE(got) << Err(got);
  EXPECT_EQ(*got, 11 * kMiB);
  EXPECT_TRUE(ReadLocalFile(tmp / "out.bin") == data);
  EXPECT_EQ(fake_.Count("GET"), 3) << "ranges of part_size";
  // The ranges, plus the XML answers of the multipart upload.
  EXPECT_GE(io->stats().bytes_downloaded, 11 * kMiB);
  EXPECT_LT(io->stats().bytes_downloaded, 11 * kMiB + 4096);

  auto missing = io->GetFile("s3://b/files/none", tmp / "none.bin");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  Status no_file = io->PutFile(tmp / "does-not-exist", "s3://b/x");
  ASSERT_FALSE(no_file);
  EXPECT_EQ(no_file.error().kind, ErrorKind::kNotFound);
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path()))
    names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"in.bin", "out.bin"})) << "no temporary files left";
}

TEST_F(S3FakeTest, GetFileFailureLeavesNoFile) {
  TempDir tmp;
  auto io = Make();
  ASSERT_TRUE(io);
  fake_.Put("b", "f", RandomBytes(size_t(11 * kMiB), 3));
  fake_.set_intercept([](const Seen& s) -> std::optional<HttpResponse> {
    if (s.method == "GET" && s.headers.Get("Range").starts_with("bytes=5242880-")) {
      return FakeS3::Error(403, "AccessDenied", "Access Denied");
    }
    return std::nullopt;
  });
  auto got = io->GetFile("s3://b/f", tmp / "out.bin");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind, ErrorKind::kForbidden);
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

TEST_F(S3FakeTest, PublishUploadsThenRemovesTheLocalFile) {
  TempDir tmp;
  S3Options o = Options();
  o.staging_dir = tmp / "staging";
  auto io = Make(o);
  ASSERT_TRUE(io);
  auto dir = io->WriteDir("s3://b/t/data");
  ASSERT_TRUE(dir) << Err(dir);
  EXPECT_TRUE(dir->starts_with(tmp / "staging/")) << *dir;
  EXPECT_TRUE(std::filesystem::is_directory(*dir));
  auto dir2 = io->WriteDir("s3://b/t/data");
  ASSERT_TRUE(dir2);
  EXPECT_NE(*dir, *dir2) << "a fresh directory each time";
  std::string local = *dir + "/00000-a.parquet";
  WriteLocalFile(local, "PAR1...PAR1");
  auto loc = io->Publish("s3://b/t/data", local);
  ASSERT_TRUE(loc) << Err(loc);
  EXPECT_EQ(*loc, "s3://b/t/data/00000-a.parquet");
  EXPECT_EQ(fake_.Get("b", "t/data/00000-a.parquet"), "PAR1...PAR1");
  EXPECT_FALSE(std::filesystem::exists(local));
  EXPECT_FALSE(std::filesystem::exists(*dir)) << "the emptied staging directory is removed";
  EXPECT_EQ(io->ScanPath(*loc), "s3://b/t/data/00000-a.parquet");
  EXPECT_EQ(io->ScanPath("s3a://b/x"), "s3://b/x");
  EXPECT_EQ(io->LocalPath(*loc), "");

  // A failed upload keeps the local file (the caller removes what it wrote).
  std::string local2 = *dir2 + "/00001-b.parquet";
  WriteLocalFile(local2, "PAR1");
  fake_.set_intercept([](const Seen&) {
    return std::optional(FakeS3::Error(403, "AccessDenied", "Access Denied"));
  });
  auto failed = io->Publish("s3://b/t/data", local2);
  ASSERT_FALSE(failed);
  EXPECT_TRUE(std::filesystem::exists(local2));

  S3Options no_staging = Options();
  auto io2 = Make(no_staging);
  auto unsupported = io2->WriteDir("s3://b/t/data");
  ASSERT_FALSE(unsupported);
  EXPECT_EQ(unsupported.error().kind, ErrorKind::kUnsupported);
}

// --- retries and errors ------------------------------------------------------------------

TEST_F(S3FakeTest, SlowDownTwiceThenSuccess) {
  auto io = Make();
  ASSERT_TRUE(io);
  std::atomic<int> throttled{0};
  fake_.set_intercept([&](const Seen& s) -> std::optional<HttpResponse> {
    if (s.method == "PUT" && throttled < 2) {
      ++throttled;
      return FakeS3::Error(503, "SlowDown", "Please reduce your request rate.");
    }
    return std::nullopt;
  });
  Status st = io->Write("s3://b/k", "v");
  ASSERT_TRUE(st) << Err(st.error());
  EXPECT_EQ(fake_.Get("b", "k"), "v");
  EXPECT_EQ(fake_.Count("PUT"), 3);
  auto w = waits();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_LE(w[0], milliseconds(100));
  EXPECT_LE(w[1], milliseconds(200));
  EXPECT_EQ(io->stats().requests, 3);
  EXPECT_EQ(io->stats().retries, 2);
}

TEST_F(S3FakeTest, RetriesThrottlingAnd5xxButNot4xx) {
  for (int status : {429, 500, 502, 504}) {
    FakeS3 fake;
    int calls = 0;
    fake.set_intercept([&](const Seen&) -> std::optional<HttpResponse> {
      if (calls++ == 0) return FakeS3::Error(status, "X", "transient");
      return std::nullopt;
    });
    S3Options o = Options();
    o.transport = fake.transport();
    auto io = Make(o);
    fake.Put("b", "k", "v");
    auto got = io->Read("s3://b/k");
    EXPECT_TRUE(got) << status << ": " << Err(got);
    EXPECT_EQ(calls, 2) << status;
  }
  // 400 RequestTimeout is S3's "your upload was too slow": retried.
  int calls = 0;
  fake_.set_intercept([&](const Seen&) -> std::optional<HttpResponse> {
    if (calls++ == 0)
      return FakeS3::Error(400, "RequestTimeout", "Your socket connection was not read from");
    return std::nullopt;
  });
  auto io = Make();
  EXPECT_TRUE(io->Write("s3://b/k", "v"));
  EXPECT_EQ(calls, 2);
}

TEST_F(S3FakeTest, InternalErrorInA200CompleteIsRetried) {
  auto io = Make();
  ASSERT_TRUE(io);
  std::atomic<int> failed{0};
  fake_.set_intercept([&](const Seen& s) -> std::optional<HttpResponse> {
    if (s.method == "POST" && s.Has("uploadId") && failed == 0) {
      ++failed;
      return FakeS3::Xml(
          200,
          "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please "
          "try again.</Message></Error>");
    }
    return std::nullopt;
  });
  std::string data = RandomBytes(size_t(11 * kMiB), 4);
  Status st = io->Write("s3://b/big", data);
  ASSERT_TRUE(st) << Err(st.error());
  EXPECT_EQ(fake_.Count("POST", "uploadId"), 2);
  auto stored = fake_.Get("b", "big");
  ASSERT_TRUE(stored);
  EXPECT_TRUE(*stored == data);
  EXPECT_TRUE(fake_.uploads().empty());
  EXPECT_EQ(waits().size(), 1u) << "the retry waits like any other";
}

TEST_F(S3FakeTest, AnotherErrorInA200CompleteFailsAndAborts) {
  auto io = Make();
  ASSERT_TRUE(io);
  fake_.set_intercept([&](const Seen& s) -> std::optional<HttpResponse> {
    if (s.method == "POST" && s.Has("uploadId")) {
      return FakeS3::Xml(
          200, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
    }
    return std::nullopt;
  });
  Status st = io->Write("s3://b/big", RandomBytes(size_t(6 * kMiB), 5));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("AccessDenied"), std::string::npos) << Err(st.error());
  EXPECT_EQ(fake_.Count("POST", "uploadId"), 1) << "not worth retrying";
  EXPECT_EQ(fake_.Count("DELETE", "uploadId"), 1);
  EXPECT_TRUE(fake_.uploads().empty());
}

TEST_F(S3FakeTest, LostCompleteAnswerIsCheckedWithHead) {
  auto faulty = std::make_shared<FaultInjectingHttpTransport>(fake_.transport());
  faulty->FailNext(HttpFailure::kMaybeSent, "POST", "uploadId=", 1);
  S3Options o = Options();
  o.transport = faulty;
  auto io = Make(o);
  ASSERT_TRUE(io);
  std::string data = RandomBytes(size_t(7 * kMiB), 6);
  Status st = io->Write("s3://b/big", data);
  ASSERT_TRUE(st) << Err(st.error());
  EXPECT_EQ(fake_.Get("b", "big"), data);
  EXPECT_EQ(fake_.Count("HEAD"), 1);
  EXPECT_EQ(fake_.Count("DELETE"), 0);
}

TEST_F(S3FakeTest, TransportErrorsAreRetried) {
  auto faulty = std::make_shared<FaultInjectingHttpTransport>(fake_.transport());
  S3Options o = Options();
  o.transport = faulty;
  auto io = Make(o);
  ASSERT_TRUE(io);
  faulty->FailNext(HttpFailure::kMaybeSent, "PUT", "/b/k", 1);
  Status st = io->Write("s3://b/k", "v");
  ASSERT_TRUE(st) << Err(st.error());
  EXPECT_EQ(fake_.Count("PUT"), 2) << "the lost one reached the store too";
  faulty->FailNext(HttpFailure::kNotSent, "GET", "/b/k", 2);
  auto got = io->Read("s3://b/k");
  ASSERT_TRUE(got) << Err(got);
  EXPECT_EQ(*got, "v");
  EXPECT_EQ(fake_.Count("GET"), 1);
  EXPECT_EQ(waits().size(), 3u);
  // A failing part is retried, and the upload still completes.
  faulty->FailNext(HttpFailure::kMaybeSent, "PUT", "partNumber=2", 2);
  std::string data = RandomBytes(size_t(12 * kMiB), 7);
  Status big = io->Write("s3://b/big", data);
  ASSERT_TRUE(big) << Err(big.error());
  EXPECT_EQ(fake_.Get("b", "big"), data);
}

TEST_F(S3FakeTest, GivesUpAfterMaxAttemptsNamingTheLocation) {
  S3Options o = Options();
  o.max_attempts = 4;
  o.base_backoff = milliseconds(10);
  o.max_backoff = milliseconds(25);
  auto io = Make(o);
  ASSERT_TRUE(io);
  fake_.set_intercept(
      [](const Seen&) { return std::optional(FakeS3::Error(503, "SlowDown", "Please reduce")); });
  auto got = io->Read("s3://b/dir/k.json");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind, ErrorKind::kIOError);
  EXPECT_NE(got.error().message.find("s3://b/dir/k.json"), std::string::npos) << Err(got);
  EXPECT_NE(got.error().message.find("4 attempts"), std::string::npos) << Err(got);
  EXPECT_NE(got.error().message.find("SlowDown"), std::string::npos) << Err(got);
  EXPECT_EQ(fake_.Count("GET"), 4);
  auto w = waits();
  ASSERT_EQ(w.size(), 3u);
  for (auto x : w) EXPECT_LE(x, milliseconds(25));

  // Transport failures too.
  auto dead = std::make_shared<FakeHttpTransport>([](const HttpRequest& r) -> Result<HttpResponse> {
    return std::unexpected(
        HttpTransportError(HttpFailure::kNotSent, r.method, r.url, "Connection refused"));
  });
  o.transport = dead;
  auto io2 = Make(o);
  Status st = io2->Write("s3://b/other key", "x");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::kIOError);
  EXPECT_NE(st.error().message.find("s3://b/other key"), std::string::npos) << Err(st.error());
  EXPECT_NE(st.error().message.find("Connection refused"), std::string::npos) << Err(st.error());
}

TEST_F(S3FakeTest, ForbiddenIsNotRetried) {
  auto io = Make();
  ASSERT_TRUE(io);
  fake_.set_intercept([](const Seen&) {
    return std::optional(FakeS3::Error(403, "AccessDenied", "Access Denied"));
  });
  auto got = io->Read("s3://b/k");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind, ErrorKind::kForbidden) << Err(got);
  EXPECT_NE(got.error().message.find("credentials"), std::string::npos) << Err(got);
  EXPECT_NE(got.error().message.find("s3://b/k"), std::string::npos) << Err(got);
  EXPECT_EQ(fake_.seen().size(), 1u);
  EXPECT_TRUE(waits().empty());
  EXPECT_EQ(io->stats().retries, 0);
  Status w = io->Write("s3://b/k", "v");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind, ErrorKind::kForbidden);
  EXPECT_EQ(fake_.seen().size(), 2u);
}

TEST_F(S3FakeTest, OtherTransportErrorsAreNotRetried) {
  int calls = 0;
  S3Options o = Options();
  o.transport =
      std::make_shared<FakeHttpTransport>([&](const HttpRequest&) -> Result<HttpResponse> {
        ++calls;
        return MakeError(ErrorKind::kInvalidArgument, "malformed header");
      });
  auto io = Make(o);
  auto got = io->Read("s3://b/k");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(calls, 1);
}

TEST_F(S3FakeTest, NotFoundAndNoSuchBucket) {
  auto io = Make();
  ASSERT_TRUE(io);
  auto missing = io->Read("s3://b/nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  EXPECT_NE(missing.error().message.find("s3://b/nope"), std::string::npos) << Err(missing);

  auto read = io->Read("s3://nobucket/k");
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().kind, ErrorKind::kNotFound) << Err(read);
  EXPECT_NE(read.error().message.find("'nobucket'"), std::string::npos) << Err(read);
  Status write = io->Write("s3://nobucket/k", "v");
  ASSERT_FALSE(write);
  EXPECT_EQ(write.error().kind, ErrorKind::kNotFound);
  EXPECT_NE(write.error().message.find("nobucket"), std::string::npos) << Err(write.error());
  // Deleting from a bucket that does not exist is an error, unlike deleting a missing key.
  Status del = io->Delete("s3://nobucket/k");
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().kind, ErrorKind::kNotFound);
  auto list = io->List("s3://nobucket/dir");
  ASSERT_FALSE(list);
  EXPECT_NE(list.error().message.find("nobucket"), std::string::npos) << Err(list);
  EXPECT_TRUE(waits().empty());
}

TEST_F(S3FakeTest, FailingPartAbortsTheUpload) {
  auto io = Make();
  ASSERT_TRUE(io);
  fake_.set_intercept([](const Seen& s) -> std::optional<HttpResponse> {
    if (s.method == "PUT" && s.Has("partNumber") && s.query.at("partNumber") == "2") {
      return FakeS3::Error(403, "AccessDenied", "Access Denied");
    }
    return std::nullopt;
  });
  Status st = io->Write("s3://b/big", RandomBytes(size_t(12 * kMiB), 8));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::kForbidden) << Err(st.error());
  EXPECT_NE(st.error().message.find("part 2"), std::string::npos) << Err(st.error());
  EXPECT_EQ(fake_.Count("DELETE", "uploadId"), 1);
  EXPECT_EQ(fake_.Count("POST", "uploadId"), 0) << "never completed";
  EXPECT_TRUE(fake_.uploads().empty());
  EXPECT_FALSE(fake_.Get("b", "big"));
}

TEST_F(S3FakeTest, CompleteFailureAbortsTheUpload) {
  auto io = Make();
  ASSERT_TRUE(io);
  fake_.set_intercept([](const Seen& s) -> std::optional<HttpResponse> {
    if (s.method == "POST" && s.Has("uploadId"))
      return FakeS3::Error(400, "InvalidPart", "One or more parts");
    return std::nullopt;
  });
  Status st = io->Write("s3://b/big", RandomBytes(size_t(6 * kMiB), 9));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::kInvalidArgument) << Err(st.error());
  EXPECT_EQ(fake_.Count("DELETE", "uploadId"), 1);
  EXPECT_TRUE(fake_.uploads().empty());
}

// --- backoff, XML ----------------------------------------------------------------------------

TEST(S3BackoffTest, FullJitterWithinACapThatGrows) {
  EXPECT_EQ(S3Backoff(1, milliseconds(100), milliseconds(5000)), milliseconds(0));
  std::map<int, milliseconds> max_seen;
  for (int attempt = 2; attempt <= 40; ++attempt) {
    const milliseconds ceiling =
        std::min(milliseconds(5000), milliseconds(int64_t{100} << std::min(attempt - 2, 20)));
    for (int i = 0; i < 300; ++i) {
      milliseconds w = S3Backoff(attempt, milliseconds(100), milliseconds(5000));
      ASSERT_GE(w, milliseconds(0));
      ASSERT_LE(w, ceiling) << "attempt " << attempt;
      max_seen[attempt] = std::max(max_seen[attempt], w);
    }
  }
  // 300 uniform draws: the largest is near the ceiling.
  EXPECT_LE(max_seen[2], milliseconds(100));
  EXPECT_GT(max_seen[4], milliseconds(200)) << "attempt 4 may wait up to 400 ms";
  EXPECT_GT(max_seen[7], milliseconds(2000));
  EXPECT_GT(max_seen[40], milliseconds(4000));
  // A cap below the base wins; a zero base never waits.
  for (int i = 0; i < 100; ++i) {
    EXPECT_LE(S3Backoff(2, milliseconds(100), milliseconds(10)), milliseconds(10));
    EXPECT_EQ(S3Backoff(9, milliseconds(0), milliseconds(10)), milliseconds(0));
  }
  // Very high attempt numbers do not overflow.
  EXPECT_LE(S3Backoff(1'000'000, milliseconds(1000), milliseconds(20'000)), milliseconds(20'000));
}

TEST(S3XmlTest, ElementsAndBlocks) {
  std::string xml =
      "<ListMultipartUploadsResult><KeyMarker>km</KeyMarker><Key>a&amp;b</Key><Keys>no</Keys>"
      "<Key/><Key xmlns=\"x\">c "
      "&lt;d&gt;</Key><NextKeyMarker>nk</NextKeyMarker></ListMultipartUploadsResult>";
  EXPECT_EQ(XmlElements(xml, "Key"), (std::vector<std::string>{"a&b", "", "c <d>"}));
  EXPECT_EQ(XmlElements(xml, "KeyMarker"), (std::vector<std::string>{"km"}));
  EXPECT_EQ(XmlElements(xml, "NextKeyMarker"), (std::vector<std::string>{"nk"}));
  EXPECT_TRUE(XmlElements(xml, "Missing").empty());
  auto blocks = XmlBlocks(
      "<R><Upload><Key>k1</Key></Upload><Upload><Key>k&amp;2</Key></Upload></R>", "Upload");
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0], "<Key>k1</Key>");
  EXPECT_EQ(blocks[1], "<Key>k&amp;2</Key>") << "blocks are raw";
  EXPECT_TRUE(XmlElements("<Key>unterminated", "Key").empty());
  EXPECT_TRUE(XmlElements("<Key", "Key").empty());
}

TEST(S3XmlTest, UnescapeAndEscape) {
  EXPECT_EQ(XmlUnescape("&amp;&lt;&gt;&quot;&apos;"), "&<>\"'");
  EXPECT_EQ(XmlUnescape("&#65;&#x42;&#X43;"), "ABC");
  EXPECT_EQ(XmlUnescape("&#xE9;&#x20AC;&#x1F600;"), "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_EQ(XmlUnescape("&#13;&#10;"), "\r\n");
  EXPECT_EQ(XmlUnescape("a &bogus; b"), "a &bogus; b");
  EXPECT_EQ(XmlUnescape("fish & chips"), "fish & chips");
  EXPECT_EQ(XmlUnescape("&amp;lt;"), "&lt;") << "decoded once";
  EXPECT_EQ(XmlEscape("a&b<c>\"d'\r"), "a&amp;b&lt;c&gt;&quot;d&apos;&#13;");
  for (std::string s : {"plain", "a & b < c > d \" e ' f", "ünï €\r\n", "&amp; already"}) {
    EXPECT_EQ(XmlUnescape(XmlEscape(s)), s);
  }
}

// --- credentials and DuckDB ---------------------------------------------------------------

TEST(S3CredentialsTest, FromTheEnvironment) {
  FakeS3 fake;
  fake.creds = AwsCredentials{"AKIDENV", "env/secret+x", "session-token-123"};
  S3Options o;
  o.endpoint = "http://s3.test:9000";
  o.region = "";
  o.transport = fake.transport();
  o.now_seconds = [] { return kNow; };
  {
    ScopedEnv id("AWS_ACCESS_KEY_ID", "AKIDENV");
    ScopedEnv secret("AWS_SECRET_ACCESS_KEY", "env/secret+x");
    ScopedEnv token("AWS_SESSION_TOKEN", "session-token-123");
    ScopedEnv region("AWS_REGION", "us-east-1");
    auto io = S3FileIO::Make(o);
    ASSERT_TRUE(io) << Err(io);
    EXPECT_EQ((*io)->options().credentials.access_key_id, "AKIDENV");
    EXPECT_EQ((*io)->options().credentials.secret_access_key, "env/secret+x");
    EXPECT_EQ((*io)->options().credentials.session_token, "session-token-123");
    EXPECT_EQ((*io)->options().region, "us-east-1");
    ASSERT_TRUE((*io)->Write("s3://b/k", "v"));
    auto seen = fake.seen();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].headers.Get("x-amz-security-token"), "session-token-123");
    EXPECT_TRUE(seen[0].headers.Get("Authorization").find("Credential=AKIDENV/") !=
                std::string::npos);
    EXPECT_NE((*io)->DuckDbSecretSql("s").find("SESSION_TOKEN 'session-token-123'"),
              std::string::npos);
  }
  for (const auto& p : fake.problems()) ADD_FAILURE() << p;
  {
    ScopedEnv id("AWS_ACCESS_KEY_ID", std::nullopt);
    ScopedEnv secret("AWS_SECRET_ACCESS_KEY", std::nullopt);
    auto io = S3FileIO::Make(o);
    ASSERT_FALSE(io);
    EXPECT_EQ(io.error().kind, ErrorKind::kInvalidArgument);
    EXPECT_NE(io.error().message.find("AWS_ACCESS_KEY_ID"), std::string::npos) << Err(io);
    EXPECT_NE(io.error().message.find("credentials"), std::string::npos) << Err(io);
  }
  {
    ScopedEnv id("AWS_ACCESS_KEY_ID", "AKID");
    ScopedEnv secret("AWS_SECRET_ACCESS_KEY", "");
    auto io = S3FileIO::Make(o);
    ASSERT_FALSE(io) << "an empty secret is no secret";
    EXPECT_EQ(io.error().kind, ErrorKind::kInvalidArgument);
  }
  {
    // Credentials in the options win over the environment.
    ScopedEnv id("AWS_ACCESS_KEY_ID", "AKIDENV");
    ScopedEnv secret("AWS_SECRET_ACCESS_KEY", "env-secret");
    S3Options given = o;
    given.credentials = AwsCredentials{"AKIDOPT", "opt-secret", ""};
    auto io = S3FileIO::Make(given);
    ASSERT_TRUE(io);
    EXPECT_EQ((*io)->options().credentials.access_key_id, "AKIDOPT");
  }
}

TEST(S3DuckDbTest, SecretSql) {
  S3Options o;
  o.endpoint = "http://127.0.0.1:9000";
  o.region = "eu-central-1";
  o.credentials = AwsCredentials{"AKID", "se'cret", ""};
  o.transport = std::make_shared<FakeHttpTransport>([](const HttpRequest&) {
    return HttpResponse{200, {}, ""};
  });
  auto io = S3FileIO::Make(o);
  ASSERT_TRUE(io) << Err(io);
  std::string sql = (*io)->DuckDbSecretSql("frazil_s3");
  EXPECT_TRUE(sql.starts_with("CREATE OR REPLACE SECRET frazil_s3 (TYPE s3")) << sql;
  EXPECT_NE(sql.find("ENDPOINT '127.0.0.1:9000'"), std::string::npos) << sql;
  EXPECT_NE(sql.find("URL_STYLE 'path'"), std::string::npos) << sql;
  EXPECT_NE(sql.find("USE_SSL false"), std::string::npos) << sql;
  EXPECT_NE(sql.find("KEY_ID 'AKID'"), std::string::npos) << sql;
  EXPECT_NE(sql.find("SECRET 'se''cret'"), std::string::npos) << sql;
  EXPECT_NE(sql.find("REGION 'eu-central-1'"), std::string::npos) << sql;
  EXPECT_EQ(sql.find("SESSION_TOKEN"), std::string::npos) << sql;
  EXPECT_TRUE(sql.ends_with(")")) << sql;
}

// --- against a real S3 server -------------------------------------------------------------------

// A signed request straight to the server (for what S3FileIO does not do: starting a
// multipart upload and leaving it, listing uploads).
Result<HttpResponse> SignedSend(const TestS3Server& s3, std::string method,
                                const std::string& path_and_query, std::string body = "") {
  HttpRequest req;
  req.method = std::move(method);
  req.url = s3.endpoint() + path_and_query;
  req.body = std::move(body);
  req.timeout = milliseconds(30'000);
  FRZ_RETURN_IF_ERROR(
      SignRequestV4(&req, s3.credentials(), s3.region(), "s3", int64_t(std::time(nullptr)), ""));
  return NewCurlTransport()->Send(req);
}

// Keys of the pending multipart uploads under `prefix` of bucket "warehouse".
std::vector<std::string> PendingUploads(const TestS3Server& s3, const std::string& prefix) {
  auto resp = SignedSend(s3, "GET", "/warehouse?uploads&prefix=" + UriEncode(prefix, true));
  EXPECT_TRUE(resp) << Err(resp);
  if (!resp) return {};
  EXPECT_EQ(resp->status, 200) << resp->body;
  std::vector<std::string> keys;
  for (auto block : XmlBlocks(resp->body, "Upload")) {
    auto k = XmlElements(block, "Key");
    if (!k.empty()) keys.push_back(k.front());
  }
  return keys;
}

class S3ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s3 = TestS3Server::Start();
    ASSERT_TRUE(s3) << "the test S3 server did not start: " << Err(s3);
    s3_ = std::move(*s3);
  }
  void TearDown() override {
    if (HasFailure() && s3_)
      std::cerr << "--- versitygw log tail ---\n" << Tail(s3_->ServerLog()) << "\n";
  }
  static std::string Tail(const std::string& s) {
    return s.size() > 6000 ? s.substr(s.size() - 6000) : s;
  }

  S3Options Options() const {
    S3Options o;
    o.endpoint = s3_->endpoint();
    o.region = s3_->region();
    o.credentials = s3_->credentials();
    o.part_size = 5 * kMiB;
    o.request_timeout = milliseconds(60'000);
    return o;
  }
  std::unique_ptr<S3FileIO> Make(S3Options o) {
    auto io = S3FileIO::Make(std::move(o));
    EXPECT_TRUE(io) << Err(io);
    return io ? std::move(*io) : nullptr;
  }
  std::unique_ptr<S3FileIO> Make() { return Make(Options()); }

  std::unique_ptr<TestS3Server> s3_;
};

TEST_F(S3ServerTest, WriteReadRangeListDelete) {
  auto io = Make();
  ASSERT_TRUE(io);
  ASSERT_TRUE(io->Write("s3://warehouse/t/dir/a.json", "0123456789"));
  ASSERT_TRUE(io->Write("s3://warehouse/t/dir/b.json", "b"));
  ASSERT_TRUE(io->Write("s3://warehouse/t/dir/sub/c.json", "cc"));
  ASSERT_TRUE(io->Write("s3://warehouse/t/dir2/x.json", "x"));
  ASSERT_TRUE(io->Write("s3://warehouse/t/empty", ""));

  auto a = io->Read("s3://warehouse/t/dir/a.json");
  ASSERT_TRUE(a) << Err(a);
  EXPECT_EQ(*a, "0123456789");
  EXPECT_TRUE(std::filesystem::exists(s3_->root_dir() + "/warehouse/t/dir/a.json"));
  auto empty = io->Read("s3://warehouse/t/empty");
  ASSERT_TRUE(empty) << Err(empty);
  EXPECT_EQ(*empty, "");
  auto range = io->ReadRange("s3://warehouse/t/dir/a.json", 3, 4);
  ASSERT_TRUE(range) << Err(range);
  EXPECT_EQ(*range, "3456");
  auto tail = io->ReadRange("s3://warehouse/t/dir/a.json", 7, 3);
  ASSERT_TRUE(tail) << Err(tail);
  EXPECT_EQ(*tail, "789");
  auto past = io->ReadRange("s3://warehouse/t/dir/a.json", 8, 5);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().kind, ErrorKind::kCorrupt) << Err(past);
  auto beyond = io->ReadRange("s3://warehouse/t/dir/a.json", 20, 5);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().kind, ErrorKind::kCorrupt) << Err(beyond);

  auto size = io->Size("s3://warehouse/t/dir/a.json");
  ASSERT_TRUE(size) << Err(size);
  EXPECT_EQ(*size, 10);
  auto exists = io->Exists("s3://warehouse/t/dir/b.json");
  ASSERT_TRUE(exists) << Err(exists);
  EXPECT_TRUE(*exists);
  auto absent = io->Exists("s3://warehouse/t/dir/none.json");
  ASSERT_TRUE(absent) << Err(absent);
  EXPECT_FALSE(*absent);
  auto missing = io->Read("s3://warehouse/t/dir/none.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound) << Err(missing);

  auto list = io->List("s3://warehouse/t/dir");
  ASSERT_TRUE(list) << Err(list);
  std::map<std::string, int64_t> listed;
  for (const auto& f : *list) {
    listed[f.location] = f.size;
    EXPECT_GT(f.modified_ms, (int64_t(std::time(nullptr)) - 3600) * 1000) << f.location;
  }
  EXPECT_EQ(listed, (std::map<std::string, int64_t>{{"s3://warehouse/t/dir/a.json", 10},
                                                    {"s3://warehouse/t/dir/b.json", 1},
                                                    {"s3://warehouse/t/dir/sub/c.json", 2}}));

  ASSERT_TRUE(io->Delete("s3://warehouse/t/dir/a.json"));
  Status again = io->Delete("s3://warehouse/t/dir/a.json");
  EXPECT_TRUE(again) << Err(again.error());
  auto gone = io->Exists("s3://warehouse/t/dir/a.json");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);

  auto no_bucket = io->Read("s3://nobucket/k");
  ASSERT_FALSE(no_bucket);
  EXPECT_EQ(no_bucket.error().kind, ErrorKind::kNotFound) << Err(no_bucket);
  EXPECT_NE(no_bucket.error().message.find("nobucket"), std::string::npos) << Err(no_bucket);
}

TEST_F(S3ServerTest, OddKeysRoundTrip) {
  auto io = Make();
  ASSERT_TRUE(io);
  const std::vector<std::string> keys = {"odd/a b+c.txt", "odd/ünïcødé €.parquet",
                                         "odd/100%&=;,'()!$@.txt", "odd/tilde~*"};
  for (const auto& key : keys) {
    std::string loc = "s3://warehouse/" + key;
    Status st = io->Write(loc, "data of " + key);
    ASSERT_TRUE(st) << key << ": " << Err(st.error());
    auto got = io->Read(loc);
    ASSERT_TRUE(got) << key << ": " << Err(got);
    EXPECT_EQ(*got, "data of " + key);
    EXPECT_TRUE(std::filesystem::exists(s3_->root_dir() + "/warehouse/" + key)) << key;
  }
  auto list = io->List("s3://warehouse/odd");
  ASSERT_TRUE(list) << Err(list);
  std::set<std::string> listed, expected;
  for (const auto& f : *list) listed.insert(f.location);
  for (const auto& k : keys) expected.insert("s3://warehouse/" + k);
  EXPECT_EQ(listed, expected);
  std::vector<std::string> locs(expected.begin(), expected.end());
  Status del = io->DeleteMany(locs);
  ASSERT_TRUE(del) << Err(del.error());
  auto after = io->List("s3://warehouse/odd");
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->empty());
}

TEST_F(S3ServerTest, MultipartOf12MiB) {
  auto io = Make();
  ASSERT_TRUE(io);
  std::string data = RandomBytes(size_t(12 * kMiB), 11);
  Status st = io->Write("s3://warehouse/t/big.bin", data);
  ASSERT_TRUE(st) << Err(st.error());
  auto size = io->Size("s3://warehouse/t/big.bin");
  ASSERT_TRUE(size) << Err(size);
  EXPECT_EQ(*size, 12 * kMiB);
  auto back = io->Read("s3://warehouse/t/big.bin");
  ASSERT_TRUE(back) << Err(back);
  EXPECT_TRUE(*back == data) << "content differs";
  auto part = io->ReadRange("s3://warehouse/t/big.bin", 5 * kMiB - 3, 6);
  ASSERT_TRUE(part);
  EXPECT_EQ(*part, data.substr(size_t(5 * kMiB - 3), 6));
  EXPECT_TRUE(PendingUploads(*s3_, "t/").empty());
}

TEST_F(S3ServerTest, WriteNewTwiceIsAlreadyExists) {
  auto io = Make();
  ASSERT_TRUE(io);
  Status first = io->WriteNew("s3://warehouse/t/v1.metadata.json", "one");
  ASSERT_TRUE(first) << Err(first.error());
  EXPECT_EQ(io->stats().requests, 1)
      << "one conditional PUT (versitygw does If-None-Match), no HEAD fallback";
  Status second = io->WriteNew("s3://warehouse/t/v1.metadata.json", "two");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind, ErrorKind::kAlreadyExists) << Err(second.error());
  auto got = io->Read("s3://warehouse/t/v1.metadata.json");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "one");
  Status same = io->WriteNew("s3://warehouse/t/v1.metadata.json", "one");
  EXPECT_TRUE(same) << Err(same.error());
}

TEST_F(S3ServerTest, DeleteManyOfMoreThan1000) {
  auto io = Make();
  ASSERT_TRUE(io);
  constexpr int kKeys = 1010;
  std::vector<std::string> locs;
  for (int i = 0; i < kKeys; ++i) locs.push_back("s3://warehouse/many/k" + std::to_string(i));
  std::atomic<int> next{0}, failures{0};
  {
    std::vector<std::jthread> writers;
    for (int t = 0; t < 8; ++t) {
      writers.emplace_back([&] {
        for (int i = next++; i < kKeys; i = next++) {
          if (!io->Write(locs[size_t(i)], "x")) ++failures;
        }
      });
    }
  }
  ASSERT_EQ(failures, 0);
  ASSERT_TRUE(io->Write("s3://warehouse/keep", "k"));
  locs.push_back("s3://warehouse/many/never-written");
  Status st = io->DeleteMany(locs);
  ASSERT_TRUE(st) << Err(st.error());
  auto left = io->List("s3://warehouse/many");
  ASSERT_TRUE(left) << Err(left);
  EXPECT_TRUE(left->empty()) << left->size() << " left";
  auto keep = io->Exists("s3://warehouse/keep");
  ASSERT_TRUE(keep);
  EXPECT_TRUE(*keep);
}

TEST_F(S3ServerTest, FailedMultipartIsAbortedAndOrphansAreAbortedByAge) {
  // A write whose part 2 cannot be sent: the upload is aborted.
  auto faulty = std::make_shared<FaultInjectingHttpTransport>(NewCurlTransport());
  faulty->FailNext(HttpFailure::kNotSent, "PUT", "partNumber=2", 1000);
  S3Options o = Options();
  o.transport = faulty;
  o.max_attempts = 2;
  o.base_backoff = milliseconds(1);
  o.max_backoff = milliseconds(5);
  auto io = Make(o);
  ASSERT_TRUE(io);
  Status st = io->Write("s3://warehouse/up/failed.bin", RandomBytes(size_t(12 * kMiB), 12));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("s3://warehouse/up/failed.bin"), std::string::npos)
      << Err(st.error());
  EXPECT_TRUE(PendingUploads(*s3_, "up/").empty()) << "the failed upload was not aborted";
  auto none = io->Exists("s3://warehouse/up/failed.bin");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);

  // Orphans (a process died mid-upload): started by hand.
  for (const char* key : {"up/orphan1.bin", "up/dir/orphan2.bin", "other/orphan3.bin"}) {
    auto created = SignedSend(*s3_, "POST", "/warehouse/" + std::string(key) + "?uploads");
    ASSERT_TRUE(created) << Err(created);
    ASSERT_EQ(created->status, 200) << created->body;
    ASSERT_FALSE(XmlElements(created->body, "UploadId").empty()) << created->body;
  }
  EXPECT_EQ(PendingUploads(*s3_, "up/").size(), 2u);
  const int64_t now_ms = int64_t(std::time(nullptr)) * 1000;
  auto young = io->AbortIncompleteUploads("s3://warehouse/up/", now_ms - 3'600'000);
  ASSERT_TRUE(young) << Err(young);
  EXPECT_EQ(*young, 0) << "started after the cutoff: kept";
  EXPECT_EQ(PendingUploads(*s3_, "up/").size(), 2u);
  auto old = io->AbortIncompleteUploads("s3://warehouse/up/", now_ms + 60'000);
  ASSERT_TRUE(old) << Err(old);
  EXPECT_EQ(*old, 2);
  EXPECT_TRUE(PendingUploads(*s3_, "up/").empty());
  EXPECT_EQ(PendingUploads(*s3_, "other/"), (std::vector<std::string>{"other/orphan3.bin"}));
}

TEST_F(S3ServerTest, PutFileAndGetFileOf40MiB) {
  TempDir tmp;
  std::string data = RandomBytes(size_t(40 * kMiB), 13);
  WriteLocalFile(tmp / "in.bin", data);
  auto io = Make();
  ASSERT_TRUE(io);
  Status put = io->PutFile(tmp / "in.bin", "s3://warehouse/files/in.bin");
  ASSERT_TRUE(put) << Err(put.error());
  auto got = io->GetFile("s3://warehouse/files/in.bin", tmp / "out.bin");
  ASSERT_TRUE(got) << Err(got);
  EXPECT_EQ(*got, 40 * kMiB);
  std::string back = ReadLocalFile(tmp / "out.bin");
  EXPECT_EQ(back.size(), data.size());
  EXPECT_TRUE(back == data) << "downloaded bytes differ";
  EXPECT_TRUE(PendingUploads(*s3_, "files/").empty());

  // Publish from a staging directory.
  S3Options o = Options();
  o.staging_dir = tmp / "staging";
  auto io2 = Make(o);
  auto dir = io2->WriteDir("s3://warehouse/files/data");
  ASSERT_TRUE(dir) << Err(dir);
  WriteLocalFile(*dir + "/part-0.parquet", data.substr(0, size_t(6 * kMiB)));
  auto loc = io2->Publish("s3://warehouse/files/data", *dir + "/part-0.parquet");
  ASSERT_TRUE(loc) << Err(loc);
  EXPECT_EQ(*loc, "s3://warehouse/files/data/part-0.parquet");
  EXPECT_FALSE(std::filesystem::exists(*dir));
  auto size = io2->Size(*loc);
  ASSERT_TRUE(size) << Err(size);
  EXPECT_EQ(*size, 6 * kMiB);
}

TEST_F(S3ServerTest, StoppedServerFailsWithTheLocation) {
  auto io = Make();
  ASSERT_TRUE(io);
  ASSERT_TRUE(io->Write("s3://warehouse/t/x.json", "x"));
  ASSERT_TRUE(s3_->Stop());
  S3Options o = Options();
  o.max_attempts = 3;
  o.base_backoff = milliseconds(5);
  o.max_backoff = milliseconds(20);
  o.connect_timeout = milliseconds(2000);
  auto quick = Make(o);
  auto start = std::chrono::steady_clock::now();
  auto got = quick->Read("s3://warehouse/t/x.json");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind, ErrorKind::kIOError) << Err(got);
  EXPECT_NE(got.error().message.find("s3://warehouse/t/x.json"), std::string::npos) << Err(got);
  EXPECT_NE(got.error().message.find("3 attempts"), std::string::npos) << Err(got);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(quick->stats().requests, 3);
  Status w = quick->Write("s3://warehouse/t/y.json", "y");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind, ErrorKind::kIOError);
  EXPECT_NE(w.error().message.find("s3://warehouse/t/y.json"), std::string::npos) << Err(w.error());

  // Back up: the same data.
  ASSERT_TRUE(s3_->StartAgain());
  auto again = io->Read("s3://warehouse/t/x.json");
  ASSERT_TRUE(again) << Err(again);
  EXPECT_EQ(*again, "x");
}

// Calls `before` (once, on the first request it matches) before forwarding a request.
class HookTransport final : public HttpTransport {
 public:
  HookTransport(std::shared_ptr<HttpTransport> inner, std::function<bool(const HttpRequest&)> match,
                std::function<void()> before)
      : inner_(std::move(inner)), match_(std::move(match)), before_(std::move(before)) {}
  Result<HttpResponse> Send(const HttpRequest& r) override {
    if (match_(r) && !fired_.exchange(true)) before_();
    return inner_->Send(r);
  }

 private:
  std::shared_ptr<HttpTransport> inner_;
  std::function<bool(const HttpRequest&)> match_;
  std::function<void()> before_;
  std::atomic<bool> fired_{false};
};

TEST_F(S3ServerTest, WriteSurvivesAServerRestart) {
  // When part 3 is about to be sent, a background thread stops the server and starts it
  // again; part 3 is held back until the server is down, so it meets a dead server and
  // must be retried (default retries) until the server is back.
  std::mutex mu;
  std::condition_variable cv;
  bool down = false;
  Status restarted = Ok();
  std::jthread restarter;
  auto before = [&] {
    restarter = std::jthread([&] {
      Status stopped = s3_->Stop();
      {
        std::lock_guard<std::mutex> l(mu);
        down = true;
      }
      cv.notify_all();
      Status st = stopped ? s3_->Restart() : stopped;
      std::lock_guard<std::mutex> l(mu);
      restarted = st;
    });
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return down; });
  };
  auto match = [](const HttpRequest& r) {
    return r.url.find("partNumber=3&") != std::string::npos;
  };
  S3Options o = Options();
  o.transport = std::make_shared<HookTransport>(NewCurlTransport(), match, before);
  auto io = Make(o);
  ASSERT_TRUE(io);
  ASSERT_EQ(io->options().max_attempts, 10);
  std::string data = RandomBytes(size_t(30 * kMiB), 14);
  Status st = io->Write("s3://warehouse/t/restart.bin", data);
  if (restarter.joinable()) restarter.join();
  ASSERT_TRUE(down) << "the restart never happened";
  ASSERT_TRUE(restarted) << Err(restarted.error());
  ASSERT_TRUE(st) << Err(st.error());
  EXPECT_GT(io->stats().retries, 0);
  auto back = io->Read("s3://warehouse/t/restart.bin");
  ASSERT_TRUE(back) << Err(back);
  EXPECT_TRUE(*back == data) << "content differs after the restart";
}

TEST_F(S3ServerTest, WrongSecretIsForbidden) {
  S3Options o = Options();
  o.credentials.secret_access_key = "not-the-secret";
  auto io = Make(o);
  ASSERT_TRUE(io);
  auto got = io->Read("s3://warehouse/t/x.json");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind, ErrorKind::kForbidden) << Err(got);
  EXPECT_NE(got.error().message.find("credentials"), std::string::npos) << Err(got);
  EXPECT_EQ(io->stats().requests, 1) << "not retried";
  Status w = io->Write("s3://warehouse/t/x.json", "x");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind, ErrorKind::kForbidden) << Err(w.error());
  // An unknown access key: AWS answers 403 InvalidAccessKeyId, versitygw 404
  // XAdminUserNotFound; either way it fails at once.
  S3Options unknown = Options();
  unknown.credentials.access_key_id = "nobody";
  auto io2 = Make(unknown);
  auto l = io2->List("s3://warehouse/t");
  ASSERT_FALSE(l);
  EXPECT_EQ(io2->stats().requests, 1) << Err(l);
}

}  // namespace
}  // namespace frazil::io
