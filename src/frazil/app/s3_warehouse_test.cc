// The warehouse in S3 (a real S3 server: the Versity S3 Gateway, io/test_s3_server.h):
// writes, reads through DuckDB's httpfs, deletes, compaction, expiry and orphan removal
// all work as on a local directory; storage faults fail clearly and leave the table as it
// was; bad settings are named.
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <set>

#include "frazil/app/table_ops.h"
#include "frazil/app/sql_session.h"
#include "frazil/app/warehouse.h"
#include "frazil/base/random.h"
#include "frazil/iceberg/scan.h"
#include "frazil/io/s3_file_io.h"
#include "frazil/io/test_s3_server.h"
#include "frazil/maintenance/compact.h"
#include "frazil/maintenance/expire_snapshots.h"
#include "frazil/maintenance/orphan_files.h"

namespace frazil::app {
namespace {

using iceberg::NestedField;
using iceberg::Primitive;
using iceberg::TypeId;

catalog::TableIdentifier Id(std::string_view dotted) { return *catalog::TableIdentifier::Parse(dotted); }

class S3WarehouseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = io::TestS3Server::Start({"lake"});
    ASSERT_TRUE(s) << s.error().ToString();
    server_ = std::move(*s);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    if (!server_->running()) {
      ASSERT_TRUE(server_->StartAgain());
    }
    state_ = std::filesystem::temp_directory_path() / ("frazil_s3wh_" + NewUuid());
    prefix_ = "t-" + NewUuid().substr(0, 8);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(state_, ec);
  }

  Config S3Config() const {
    Config c;
    c.warehouse = "s3://lake/" + prefix_;
    c.state_dir = state_.string();
    c.threads = 2;
    c.s3.endpoint = server_->endpoint();
    c.s3.access_key_id = server_->access_key();
    c.s3.secret_access_key = server_->secret_key();
    c.s3.region = server_->region();
    return c;
  }

  static iceberg::Schema Schema() {
    return iceberg::Schema(0, {NestedField{.id = 1, .name = "id", .required = false, .type = Primitive(TypeId::kLong)},
                               NestedField{.id = 2, .name = "name", .required = false, .type = Primitive(TypeId::kString)}});
  }

  std::string Value(Warehouse& w, const std::string& sql) {
    auto con = engine::Connection::Open(w.db());
    EXPECT_TRUE(con);
    auto r = RunSql(w, *con, sql);
    EXPECT_TRUE(r) << sql << ": " << r.error().ToString();
    if (!r) return "";
    auto rows = r->FetchAll();
    return rows.size() == 1 && !rows[0].empty() && rows[0][0] ? *rows[0][0] : "?";
  }

  // Every file the table's current snapshot references, read back with HEAD.
  void ExpectReferencedFilesExist(Warehouse& w, const catalog::TableIdentifier& id) {
    auto t = w.catalog().LoadTable(id);
    ASSERT_TRUE(t) << t.error().ToString();
    auto plan = iceberg::PlanScan(t->metadata, w.io(), iceberg::ScanOptions{});
    ASSERT_TRUE(plan) << plan.error().ToString();
    for (const auto& task : plan->tasks) {
      EXPECT_TRUE(task.data_file.file_path.starts_with("s3://lake/" + prefix_ + "/")) << task.data_file.file_path;
      auto exists = w.io().Exists(task.data_file.file_path);
      ASSERT_TRUE(exists) << exists.error().ToString();
      EXPECT_TRUE(*exists) << task.data_file.file_path;
      for (const auto& d : task.position_deletes) EXPECT_TRUE(*w.io().Exists(d.file_path)) << d.file_path;
    }
  }

  static inline std::unique_ptr<io::TestS3Server> server_;
  std::filesystem::path state_;
  std::string prefix_;
};

TEST_F(S3WarehouseTest, WriteReadDeleteCompactExpireAndRemoveOrphans) {
  auto w = Warehouse::Open(S3Config());
  ASSERT_TRUE(w) << w.error().ToString();
  EXPECT_EQ((*w)->root(), "s3://lake/" + prefix_);
  EXPECT_EQ((*w)->local_root(), std::filesystem::canonical(state_).string());
  ASSERT_NE((*w)->s3(), nullptr);
  const auto id = Id("sales.orders");
  ASSERT_TRUE(CreateTable(**w, id, Schema(), iceberg::PartitionSpec{}, {}));
  for (int round = 0; round < 3; ++round) {
    auto r = AppendQuery(**w, id, "SELECT i::BIGINT AS id, 'n' || i AS name FROM range(" + std::to_string(round * 1000) +
                                       ", " + std::to_string((round + 1) * 1000) + ") t(i)",
                         false);
    ASSERT_TRUE(r) << r.error().ToString();
  }
  EXPECT_EQ(Value(**w, "SELECT count(*) FROM sales.orders"), "3000");
  {
    io::S3Stats st = (*w)->s3()->stats();
    EXPECT_GT(st.requests, 0);
    EXPECT_GT(st.bytes_uploaded, 0);
    std::string metrics = (*w)->s3()->MetricsText();
    EXPECT_NE(metrics.find("frazil_s3_requests_total " + std::to_string(st.requests)), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("# TYPE frazil_s3_uploaded_bytes_total counter"), std::string::npos) << metrics;
  }
  EXPECT_EQ(Value(**w, "SELECT sum(id) FROM sales.orders"), std::to_string(2999LL * 3000 / 2));
  ExpectReferencedFilesExist(**w, id);
  // The metadata pointer is an object in the bucket too.
  auto loaded = (*w)->catalog().LoadTable(id);
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(loaded->metadata_location.starts_with("s3://lake/" + prefix_ + "/sales/orders-"));
  EXPECT_TRUE(*(*w)->io().Exists(loaded->metadata_location));

  auto del = DeleteWhere(**w, id, "id % 10 = 0");
  ASSERT_TRUE(del) << del.error().ToString();
  EXPECT_EQ(Value(**w, "SELECT count(*) FROM sales.orders"), "2700");
  ExpectReferencedFilesExist(**w, id);

  maintenance::CompactOptions co;
  co.rewrite_all = true;
  auto compacted = maintenance::CompactTable((*w)->catalog(), (*w)->io(), (*w)->db(), (*w)->clock(), id, co);
  ASSERT_TRUE(compacted) << compacted.error().ToString();
  EXPECT_EQ(Value(**w, "SELECT count(*), sum(id) FROM sales.orders"), "2700");
  ExpectReferencedFilesExist(**w, id);

  // A stray object and an upload left incomplete, both older than the cutoff used below.
  auto* s3 = (*w)->s3();
  const std::string stray = loaded->metadata.location + "/data/stray.parquet";
  ASSERT_TRUE(s3->Write(stray, "not referenced"));
  {
    // A multipart upload a crashed writer started and never finished.
    io::HttpRequest req;
    req.method = "POST";
    req.url = server_->endpoint() + "/lake/" + loaded->metadata.location.substr(std::string("s3://lake/").size()) +
              "/data/partial.parquet?uploads";
    ASSERT_TRUE(io::SignRequestV4(&req, server_->credentials(), server_->region(), "s3", std::time(nullptr), ""));
    auto resp = io::NewCurlTransport()->Send(req);
    ASSERT_TRUE(resp) << resp.error().ToString();
    ASSERT_EQ(resp->status, 200) << resp->body;
  }
  maintenance::ExpireOptions eo;
  eo.older_than_ms = (*w)->clock().NowMillis() + 1000;
  eo.retain_last = 1;
  auto expired = maintenance::ExpireSnapshots((*w)->catalog(), (*w)->io(), (*w)->clock(), id, eo);
  ASSERT_TRUE(expired) << expired.error().ToString();
  maintenance::OrphanOptions oo;
  oo.older_than_ms = (*w)->clock().NowMillis() + 60'000;
  auto orphans = maintenance::RemoveOrphanFiles((*w)->catalog(), (*w)->io(), (*w)->clock(), id, oo);
  ASSERT_TRUE(orphans) << orphans.error().ToString();
  EXPECT_FALSE(*s3->Exists(stray));
  std::set<std::string> removed;
  for (const auto& o : orphans->orphans) removed.insert(o.info.location);
  EXPECT_TRUE(removed.contains(stray));
  EXPECT_EQ(orphans->aborted_uploads, 1) << orphans->upload_error;
  auto again = maintenance::RemoveOrphanFiles((*w)->catalog(), (*w)->io(), (*w)->clock(), id, oo);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->aborted_uploads, 0);
  EXPECT_EQ(Value(**w, "SELECT count(*) FROM sales.orders"), "2700");
  ExpectReferencedFilesExist(**w, id);
  // Nothing is left staged locally.
  std::error_code ec;
  int staged = 0;
  for (std::filesystem::recursive_directory_iterator it(state_ / ".frazil" / "staging", ec), end; it != end && !ec;
       it.increment(ec)) {
    if (it->is_regular_file()) ++staged;
  }
  EXPECT_EQ(staged, 0);
}

TEST_F(S3WarehouseTest, SmallPartitionsOfOneWriteGetAnObjectEach) {
  // Partitions below the target size are written by one DuckDB COPY into per-partition
  // subdirectories whose files share their names: each must still become its own object.
  auto w = Warehouse::Open(S3Config());
  ASSERT_TRUE(w) << w.error().ToString();
  const auto id = Id("p.t");
  iceberg::PartitionSpec spec;
  auto field = ParsePartitionField(Schema(), "bucket(4, id)", 1000);
  ASSERT_TRUE(field) << field.error().ToString();
  spec.fields.push_back(*field);
  ASSERT_TRUE(CreateTable(**w, id, Schema(), spec, {}));
  ASSERT_TRUE(AppendQuery(**w, id, "SELECT i::BIGINT AS id, 'n' || i AS name FROM range(40) t(i)", false));
  EXPECT_EQ(Value(**w, "SELECT count(*) FROM p.t"), "40");
  EXPECT_EQ(Value(**w, "SELECT count(DISTINCT id) FROM p.t"), "40");
  EXPECT_EQ(Value(**w, "SELECT sum(id) FROM p.t"), std::to_string(39 * 40 / 2));
  auto t = (*w)->catalog().LoadTable(id);
  ASSERT_TRUE(t);
  auto plan = iceberg::PlanScan(t->metadata, (*w)->io(), iceberg::ScanOptions{});
  ASSERT_TRUE(plan);
  std::set<std::string> paths;
  for (const auto& task : plan->tasks) paths.insert(task.data_file.file_path);
  EXPECT_EQ(paths.size(), plan->tasks.size());
  EXPECT_EQ(plan->tasks.size(), 4u);
  ExpectReferencedFilesExist(**w, id);
  // Nothing left in the staging area, not even empty directories.
  std::error_code ec;
  EXPECT_TRUE(std::filesystem::is_empty(state_ / ".frazil" / "staging", ec)) << ec.message();
}

TEST_F(S3WarehouseTest, AnotherProcessSeesTheSameTablesThroughTheSameCatalog) {
  {
    auto w = Warehouse::Open(S3Config());
    ASSERT_TRUE(w) << w.error().ToString();
    ASSERT_TRUE(CreateTable(**w, Id("a.t"), Schema(), iceberg::PartitionSpec{}, {}));
    ASSERT_TRUE(AppendQuery(**w, Id("a.t"), "SELECT 7::BIGINT AS id, 'x' AS name", false));
  }
  auto again = Warehouse::Open(S3Config());
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(Value(**again, "SELECT sum(id) FROM a.t"), "7");
}

TEST_F(S3WarehouseTest, StoreDownFailsTheWriteClearlyAndLeavesTheTableAsItWas) {
  Config c = S3Config();
  c.s3.max_attempts = 2;
  auto w = Warehouse::Open(c);
  ASSERT_TRUE(w) << w.error().ToString();
  const auto id = Id("f.t");
  ASSERT_TRUE(CreateTable(**w, id, Schema(), iceberg::PartitionSpec{}, {}));
  ASSERT_TRUE(AppendQuery(**w, id, "SELECT 1::BIGINT AS id, 'a' AS name", false));
  auto before = (*w)->catalog().LoadTable(id);
  ASSERT_TRUE(before);

  ASSERT_TRUE(server_->Stop());
  auto failed = AppendQuery(**w, id, "SELECT 2::BIGINT AS id, 'b' AS name", false);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::kIOError) << failed.error().ToString();
  EXPECT_NE(failed.error().message.find("s3://lake/" + prefix_), std::string::npos) << failed.error().message;
  ASSERT_TRUE(server_->StartAgain());

  auto after = (*w)->catalog().LoadTable(id);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->metadata_location, before->metadata_location);
  EXPECT_EQ(Value(**w, "SELECT count(*) FROM f.t"), "1");
  // The staged copy of the failed write was removed.
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(state_ / ".frazil" / "staging", ec), end; it != end && !ec;
       it.increment(ec)) {
    EXPECT_FALSE(it->is_regular_file()) << it->path();
  }
  // And the store back, writes work again.
  ASSERT_TRUE(AppendQuery(**w, id, "SELECT 2::BIGINT AS id, 'b' AS name", false));
  EXPECT_EQ(Value(**w, "SELECT count(*) FROM f.t"), "2");
}

TEST_F(S3WarehouseTest, BadSettingsAreNamed) {
  {
    Config c = S3Config();
    c.s3.secret_access_key = "wrong-secret";
    auto w = Warehouse::Open(c);
    ASSERT_TRUE(w) << w.error().ToString();  // opening touches nothing in the bucket
    auto t = CreateTable(**w, Id("b.t"), Schema(), iceberg::PartitionSpec{}, {});
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().kind, ErrorKind::kForbidden) << t.error().ToString();
    EXPECT_NE(t.error().message.find("credentials"), std::string::npos) << t.error().message;
    EXPECT_EQ(t.error().message.find("wrong-secret"), std::string::npos) << "the secret must never be shown";
  }
  {
    Config c = S3Config();
    c.warehouse = "s3://no-such-bucket/x";
    auto w = Warehouse::Open(c);
    ASSERT_TRUE(w) << w.error().ToString();
    auto t = CreateTable(**w, Id("b.t"), Schema(), iceberg::PartitionSpec{}, {});
    ASSERT_FALSE(t);
    EXPECT_NE(t.error().message.find("no-such-bucket"), std::string::npos) << t.error().message;
  }
  {
    Config c = S3Config();
    c.s3.access_key_id = "";
    c.s3.secret_access_key = "";
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    auto w = Warehouse::Open(c);
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().kind, ErrorKind::kInvalidArgument);
    EXPECT_NE(w.error().message.find("AWS_ACCESS_KEY_ID"), std::string::npos) << w.error().message;
  }
  {
    Config c = S3Config();
    c.s3.access_key_id = "only-the-id";
    c.s3.secret_access_key = "";
    auto w = Warehouse::Open(c);
    ASSERT_FALSE(w);
    EXPECT_NE(w.error().message.find("s3.secret_access_key"), std::string::npos) << w.error().message;
  }
  {
    // Without DuckDB's httpfs extension an S3 warehouse cannot be read: refused at open.
    Config c = S3Config();
    std::filesystem::create_directories(state_ / "no-extensions");
    c.extension_directory = (state_ / "no-extensions").string();
    auto w = Warehouse::Open(c);
    ASSERT_FALSE(w);
    EXPECT_NE(w.error().message.find("LOAD"), std::string::npos) << w.error().message;
    EXPECT_NE(w.error().message.find("no-extensions"), std::string::npos) << w.error().message;
    EXPECT_EQ(w.error().message.find(server_->secret_key()), std::string::npos);
  }
}

}  // namespace
}  // namespace frazil::app
