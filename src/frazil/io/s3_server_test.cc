// The S3 FileIO against a real S3 server (Versity S3 Gateway, io/test_s3_server.h) over the
// curl transport. A missing server binary fails these tests; they never skip.
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
#include "frazil/io/s3_test_util.h"

namespace frazil::io {
namespace {

using namespace s3test;  // NOLINT: test helpers

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
  std::unique_ptr<S3FileIO> Make(S3Options o) { return MakeS3(std::move(o)); }
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
