// The S3 FileIO: Amazon S3 and S3-compatible stores (MinIO, Versity, Ceph, ...) over the
// HTTP client (io/http_client.h) with SigV4 signing (io/sigv4.h). docs/s3.md describes the
// requests it makes, its retries and its checksums.
//
// Locations are `s3://bucket/key` (`s3a://` and `s3n://` are read as `s3://`). Every request
// is retried on throttling, 5xx, timeouts and dropped connections with exponential backoff
// and full jitter; every upload carries its CRC-32C (or is signed with its SHA-256), so the
// store rejects a body that changed on the way. Large files go up as multipart uploads of `part_size` parts, several
// at once, read from disk part by part (memory stays at part_size x upload_concurrency).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/io/file_io.h"
#include "frazil/io/http_client.h"
#include "frazil/io/sigv4.h"

namespace frazil::io {

enum class S3Addressing {
  kAuto,         // path style with a custom endpoint, virtual host style on AWS
  kPath,         // http://endpoint/bucket/key
  kVirtualHost,  // http://bucket.endpoint/key
};

struct S3Options {
  // "http://127.0.0.1:9000" or "https://minio.example:9000"; empty: AWS,
  // https://s3.<region>.amazonaws.com.
  std::string endpoint;
  std::string region = "us-east-1";
  S3Addressing addressing = S3Addressing::kAuto;
  // Empty access key: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN from the
  // environment (read once, by Make()).
  AwsCredentials credentials;

  int64_t part_size = int64_t{16} << 20;  // multipart above this; 5 MiB .. 5 GiB
  // Object data carries x-amz-checksum-crc32c (checked by the store) and is signed as
  // UNSIGNED-PAYLOAD; false: its SHA-256 is signed instead (stores without the S3 checksum
  // headers). Both let the store reject a body changed on the way.
  bool crc32c_checksums = true;
  int upload_concurrency = 4;              // parts of one file in flight at once

  int max_attempts = 10;                                // per request, including the first
  std::chrono::milliseconds base_backoff{100};          // first retry waits up to this
  std::chrono::milliseconds max_backoff{5'000};         // cap of one wait
  std::chrono::milliseconds request_timeout{60'000};    // one attempt (a 16 MiB part at 0.3 MB/s)
  std::chrono::milliseconds connect_timeout{10'000};

  // Where DuckDB writes data files before they are uploaded (WriteDir). Empty: no data
  // writes (metadata-only use).
  std::string staging_dir;

  std::string ca_file;     // PEM bundle for https endpoints (empty: the system's)
  bool verify_tls = true;

  std::shared_ptr<HttpTransport> transport;              // default: libcurl
  std::function<int64_t()> now_seconds;                  // signing clock; default: the system's
  std::function<void(std::chrono::milliseconds)> sleep;  // backoff waits; default: sleep_for
};

struct S3Location {
  std::string bucket;
  std::string key;  // no leading '/'; may be empty (the bucket itself)
};

// `s3://bucket/key` (or s3a / s3n) -> {bucket, key}. Errors: InvalidArgument for another
// scheme or an empty bucket.
Result<S3Location> ParseS3Location(std::string_view location);
// True for s3://, s3a:// and s3n:// locations.
bool IsS3Location(std::string_view location);

// Counters of one S3FileIO, for metrics and tests.
struct S3Stats {
  int64_t requests = 0;  // attempts sent (including retries)
  int64_t retries = 0;
  int64_t bytes_uploaded = 0;
  int64_t bytes_downloaded = 0;
};

class S3FileIO final : public FileIO {
 public:
  // Errors: InvalidArgument for a bad endpoint, part size or missing credentials.
  static Result<std::unique_ptr<S3FileIO>> Make(S3Options options);
  ~S3FileIO() override;

  Result<std::string> Read(std::string_view location) override;
  Result<std::string> ReadRange(std::string_view location, int64_t offset, int64_t length) override;
  // A single signed PUT, or a multipart upload above part_size.
  Status Write(std::string_view location, std::string_view data) override;
  // A PUT with If-None-Match: *; a store without conditional writes (501) falls back to a
  // HEAD then PUT (not atomic; frazil only creates files with unique names).
  Status WriteNew(std::string_view location, std::string_view data) override;
  Result<bool> Exists(std::string_view location) override;
  Result<int64_t> Size(std::string_view location) override;
  Status Delete(std::string_view location) override;
  // ListObjectsV2 of `prefix` as a directory (a '/' is added), every page.
  Result<std::vector<FileInfo>> List(std::string_view prefix) override;
  std::string LocalPath(std::string_view) const override { return ""; }
  // s3://bucket/key, for DuckDB's httpfs (configured with DuckDbSecretSql()).
  std::string ScanPath(std::string_view location) const override;
  Result<std::string> WriteDir(std::string_view dir_location) override;
  Result<std::string> Publish(std::string_view dir_location, const std::string& local_path) override;
  // DeleteObjects, 1000 keys a request, per bucket.
  Status DeleteMany(const std::vector<std::string>& locations) override;
  // ListMultipartUploads + AbortMultipartUpload.
  Result<int64_t> AbortIncompleteUploads(std::string_view prefix, int64_t before_ms) override;

  // Uploads the local file `local_path` to `location`, streaming it from disk.
  Status PutFile(const std::string& local_path, std::string_view location);
  // Downloads `location` into the local file `local_path` (replaced atomically, not
  // fsynced: a copy, not the data of record), ranges of part_size several at once; returns
  // the size.
  Result<int64_t> GetFile(std::string_view location, const std::string& local_path);

  // `CREATE OR REPLACE SECRET <name> (TYPE s3, ...)`: DuckDB's httpfs reaching the same store
  // with the same credentials. Contains the secret key: never log it.
  std::string DuckDbSecretSql(std::string_view name) const;

  const S3Options& options() const;
  // True when requests address buckets in the path (S3Addressing resolved).
  bool path_style() const;
  S3Stats stats() const;
  // Prometheus text of stats(): frazil_s3_requests_total, frazil_s3_retries_total,
  // frazil_s3_uploaded_bytes_total, frazil_s3_downloaded_bytes_total.
  std::string MetricsText() const;

 private:
  struct Impl;
  explicit S3FileIO(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The retry wait before attempt `attempt` (2 = first retry): uniformly random in
// [0, min(max_backoff, base_backoff * 2^(attempt-2))] ("full jitter").
std::chrono::milliseconds S3Backoff(int attempt, std::chrono::milliseconds base, std::chrono::milliseconds cap);

// --- XML helpers of the S3 responses, exposed for tests ---

// The text of every <tag>...</tag> element in `xml` (not nested in itself), entities decoded.
std::vector<std::string> XmlElements(std::string_view xml, std::string_view tag);
// The raw (undecoded) inner XML of every <tag>...</tag>.
std::vector<std::string_view> XmlBlocks(std::string_view xml, std::string_view tag);
// XML entity decoding: &amp; &lt; &gt; &quot; &apos; &#N; &#xN;.
std::string XmlUnescape(std::string_view text);
// The reverse, for request bodies.
std::string XmlEscape(std::string_view text);

}  // namespace frazil::io
