// FakeS3: an in-memory S3 behind FakeHttpTransport for the S3 FileIO's unit tests. It
// re-verifies every request's SigV4 signature and its body's SHA-256 or CRC-32C, and lets a
// test intercept requests (throttling, 5xx, errors in 200 answers, lost responses).
#pragma once

#include "frazil/io/crc32c.h"
#include "frazil/io/http_client.h"
#include "frazil/io/s3_test_util.h"
#include "frazil/io/sigv4.h"

namespace frazil::io::s3test {

constexpr int64_t kNow = 1'700'000'000;  // the fake's signing clock (seconds)

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

}  // namespace frazil::io::s3test
