// One upload or download of a local file through frazil's S3 FileIO, for bench/s3.py:
//
//   s3_io put|get <endpoint> <bucket/key> <local file> [--part-size MiB] [--concurrency N]
//         [--transport tuned]
//
// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. `put` is S3FileIO::PutFile
// (a single PUT up to the part size, else a multipart upload with N parts in flight),
// `get` is S3FileIO::GetFile (ranged GETs of the part size). Prints one JSON line:
// {"op", "bytes", "seconds", "MBps", "requests", "retries"} (MBps: 10^6 bytes per second;
// seconds: the transfer alone, not process start-up).
//
// --transport tuned: an experiment, not frazil's code path. S3FileIO over a libcurl transport
// that differs from frazil's (io/http_client.cc) only in buffer handling: 512 KiB receive
// buffer (libcurl's default is 16 KiB), 2 MiB upload buffer (default 64 KiB), and a response
// body reserved to its Content-Length instead of grown by appends. It measures what those
// would buy; see bench/s3.py.
#include <strings.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <curl/curl.h>

#include <memory>

#include "frazil/io/s3_file_io.h"

using namespace frazil;

namespace {

struct Received {
  io::HttpResponse response;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  static_cast<Received*>(user)->response.body.append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Received*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    r->response.headers = io::HttpFields();
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    auto trim = [](std::string_view v) {
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r' || v.back() == '\n')) v.remove_suffix(1);
      return std::string(v);
    };
    std::string name = trim(line.substr(0, colon));
    std::string value = trim(line.substr(colon + 1));
    if (strcasecmp(name.c_str(), "Content-Length") == 0) r->response.body.reserve(std::strtoull(value.c_str(), nullptr, 10));
    r->response.headers.Add(std::move(name), std::move(value));
  }
  return size * n;
}

// The experiment of --transport tuned (plain http only; no TLS options, no failure kinds).
class TunedCurlTransport final : public io::HttpTransport {
 public:
  TunedCurlTransport() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  Result<io::HttpResponse> Send(const io::HttpRequest& req) override {
    thread_local std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle(curl_easy_init(), &curl_easy_cleanup);
    CURL* h = handle.get();
    curl_easy_reset(h);
    curl_slist* headers = curl_slist_append(nullptr, "Expect:");
    for (const auto& [name, value] : req.headers) {
      headers = curl_slist_append(headers, (value.empty() ? name + ";" : name + ": " + value).c_str());
    }
    Received received;
    curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &received);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &received);
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
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      return std::unexpected(io::HttpTransportError(io::HttpFailure::kMaybeSent, req.method, req.url, curl_easy_strerror(rc)));
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    received.response.status = static_cast<int>(status);
    return std::move(received.response);
  }
};

int Usage() {
  std::fprintf(stderr,
               "usage: s3_io put|get <endpoint> <bucket/key> <local file> [--part-size MiB] [--concurrency N]\n"
               "             [--transport tuned]\n"
               "credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) return Usage();
  std::string op = argv[1];
  if (op != "put" && op != "get") return Usage();
  io::S3Options options;
  options.endpoint = argv[2];
  std::string location = std::string("s3://") + argv[3];
  std::string local = argv[4];
  for (int i = 5; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    if (a == "--part-size") {
      options.part_size = std::atoll(argv[++i]) << 20;
    } else if (a == "--concurrency") {
      options.upload_concurrency = std::atoi(argv[++i]);
    } else if (a == "--transport" && std::string(argv[i + 1]) == "tuned") {
      ++i;
      options.transport = std::make_shared<TunedCurlTransport>();
    } else {
      return Usage();
    }
  }
  // Make() reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when no key is given.
  auto s3 = io::S3FileIO::Make(std::move(options));
  if (!s3) {
    std::fprintf(stderr, "s3_io: %s\n", s3.error().ToString().c_str());
    return 1;
  }
  auto start = std::chrono::steady_clock::now();
  int64_t bytes = 0;
  if (op == "put") {
    std::error_code ec;
    bytes = static_cast<int64_t>(std::filesystem::file_size(local, ec));
    if (ec) {
      std::fprintf(stderr, "s3_io: %s: %s\n", local.c_str(), ec.message().c_str());
      return 1;
    }
    auto st = (*s3)->PutFile(local, location);
    if (!st) {
      std::fprintf(stderr, "s3_io: put: %s\n", st.error().ToString().c_str());
      return 1;
    }
  } else {
    auto n = (*s3)->GetFile(location, local);
    if (!n) {
      std::fprintf(stderr, "s3_io: get: %s\n", n.error().ToString().c_str());
      return 1;
    }
    bytes = *n;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto stats = (*s3)->stats();
  std::printf("{\"op\": \"%s\", \"bytes\": %lld, \"seconds\": %.4f, \"MBps\": %.1f, \"requests\": %lld, \"retries\": %lld}\n",
              op.c_str(), static_cast<long long>(bytes), seconds, seconds > 0 ? bytes / seconds / 1e6 : 0.0,
              static_cast<long long>(stats.requests), static_cast<long long>(stats.retries));
  return 0;
}
