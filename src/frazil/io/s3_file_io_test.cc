// The S3 FileIO against a small in-memory S3 behind FakeHttpTransport (FakeS3, fake_s3.h), which
// checks every request's SigV4 signature and its body's SHA-256 or CRC-32C, and lets a test
// inject throttling, 5xx, errors in 200 answers and lost responses. The same FileIO against a
// real S3 server: s3_server_test.cc.
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
#include "frazil/io/fake_s3.h"
#include "frazil/io/s3_test_util.h"

namespace frazil::io {
namespace {

using namespace s3test;  // NOLINT: test helpers


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
  std::unique_ptr<S3FileIO> Make(S3Options o) { return MakeS3(std::move(o)); }
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

}  // namespace
}  // namespace frazil::io
