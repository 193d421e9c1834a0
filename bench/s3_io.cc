// One upload or download of a local file through frazil's S3 FileIO, for bench/s3.py:
//
//   s3_io put|get <endpoint> <bucket/key> <local file> [--part-size MiB] [--concurrency N]
//
// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. `put` is S3FileIO::PutFile
// (a single PUT up to the part size, else a multipart upload with N parts in flight),
// `get` is S3FileIO::GetFile (ranged GETs of the part size). Prints one JSON line:
// {"op", "bytes", "seconds", "MBps", "requests", "retries"} (MBps: 10^6 bytes per second;
// seconds: the transfer alone, not process start-up).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "frazil/io/s3_file_io.h"

using namespace frazil;

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: s3_io put|get <endpoint> <bucket/key> <local file> [--part-size MiB] [--concurrency N]\n"
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
