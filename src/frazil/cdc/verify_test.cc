// `frazil verify` against a real PostgreSQL. Mirrors are built by hand (a catalog table with
// the mirror properties, rows written with engine::WriteParquet and committed) so that every
// kind of difference, and changes committed after the source snapshot, can be staged.
#include "frazil/cdc/verify.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "frazil/pg/test_pg_cluster.h"
#include "frazil/cdc/test_warehouse.h"
#include "frazil/iceberg/snapshot_producer.h"

namespace frazil::cdc {
namespace {

using pg::TestPgCluster;

constexpr Lsn kFar = Lsn{0xFF} << 32;  // FF/0: past every source snapshot of these tests

using Kind = VerifyDifference::Kind;

class VerifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto pg = TestPgCluster::Start();
    ASSERT_TRUE(pg) << pg.error().ToString();
    pg_ = pg->release();
    ASSERT_TRUE(pg_->Exec("CREATE PUBLICATION frazil_pub FOR ALL TABLES"));
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    auto wh = TestWarehouse::Create("frazil-verify-" + std::to_string(getpid()) + "-" +
                                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(wh) << wh.error().ToString();
    wh_ = std::move(*wh);
    dir_ = wh_->dir;
    io_ = wh_->io.get();
    catalog_ = wh_->catalog.get();
    db_ = wh_->db.get();
    ctx_ = wh_->ctx;
    for (const char* ns : {"raw_data", "mirror"}) ASSERT_TRUE(catalog_->CreateNamespace({ns}, {}));
  }
  void TearDown() override { wh_.reset(); }

  VerifyOptions Options() const {
    VerifyOptions o;
    o.conninfo = pg_->conninfo();
    o.slot = "no_such_slot";
    o.timeout_ms = 5000;
    o.poll_ms = 20;
    o.attempts = 2;
    o.retry_wait_ms = 10;
    return o;
  }

  SourceTable Source(const std::string& name) {
    auto conn = PgConnection::Connect(pg_->conninfo(), false, PgSessionOptions());
    EXPECT_TRUE(conn) << conn.error().ToString();
    auto tables = ListPublishedTables(**conn, publication_);
    EXPECT_TRUE(tables) << tables.error().ToString();
    for (const auto& t : *tables) {
      if (t.name == name) return t;
    }
    ADD_FAILURE() << "table " << name << " is not published";
    return {};
  }

  // Creates `table` with `schema` and `properties`, and commits the rows of `rows_sql` (a
  // DuckDB query of the schema's columns in order) when given.
  void MakeTable(const std::string& table, const iceberg::Schema& schema,
                 catalog::Properties properties, const std::string& rows_sql) {
    auto id = catalog::TableIdentifier::Parse(table);
    ASSERT_TRUE(id);
    auto created = catalog_->CreateTable(*id, schema, iceberg::PartitionSpec{},
                                         iceberg::SortOrder{}, std::nullopt, properties);
    ASSERT_TRUE(created) << created.error().ToString();
    if (rows_sql.empty()) return;
    auto con = engine::Connection::Open(*db_);
    ASSERT_TRUE(con);
    auto files = engine::WriteParquet(*con, rows_sql, schema,
                                      io_->LocalPath(iceberg::DataDir(created->metadata)));
    ASSERT_TRUE(files) << files.error().ToString() << "\n" << rows_sql;
    if (files->empty()) return;
    iceberg::SnapshotChanges changes;
    changes.added_data_files = *files;
    for (auto& f : changes.added_data_files) f.file_path = "file://" + f.file_path;
    changes.extra_summary = {{"frazil.lsn", properties["frazil.lsn"]}};
    auto produced =
        iceberg::ProduceSnapshot(created->metadata, *io_, changes, Clock::System().NowMillis());
    ASSERT_TRUE(produced) << produced.error().ToString();
    auto committed = catalog_->CommitTable(*id, produced->requirements, produced->updates);
    ASSERT_TRUE(committed) << committed.error().ToString();
  }

  // raw_data.<name> and mirror.<name> for public.<name>, both at `lsn`: the mirror's rows are
  // `mirror_rows` (a query of the source columns), the raw table's `raw_rows` (a query of the
  // raw schema's columns: source columns, _op, _lsn, _commit_lsn, _txid, _commit_ts, _seq, _old).
  void MakeMirror(const std::string& name, const std::string& mirror_rows, const std::string& key,
                  Lsn lsn = kFar, const std::string& raw_rows = "") {
    SourceTable source = Source(name);
    auto raw_schema = NewRawSchema(source);
    ASSERT_TRUE(raw_schema) << raw_schema.error().ToString();
    std::vector<iceberg::NestedField> fields;
    for (const auto& f : raw_schema->fields()) {
      if (!IsChangelogColumn(f.name)) fields.push_back(f);
    }
    std::string qualified = source.QualifiedName();
    MakeTable("raw_data." + name, *raw_schema,
              {{"frazil.lsn", FormatLsn(lsn)}, {"frazil.source-table", qualified}}, raw_rows);
    MakeTable("mirror." + name, iceberg::Schema(0, fields),
              {{"frazil.lsn", FormatLsn(lsn)},
               {"frazil.source-table", qualified},
               {"frazil.mirror-of", "raw_data." + name},
               {"frazil.key", key}},
              mirror_rows);
  }

  Result<VerifyReport> Verify(const std::string& table, VerifyOptions options) {
    FRZ_ASSIGN_OR_RETURN(auto id, ResolveMirror(*catalog_, table, "mirror"));
    return VerifyMirror(ctx_, options, id);
  }
  Result<VerifyReport> Verify(const std::string& table) { return Verify(table, Options()); }

  static TestPgCluster* pg_;
  std::string publication_ = "frazil_pub";  // the publication Source() reads
  std::unique_ptr<TestWarehouse> wh_;
  std::filesystem::path dir_;
  io::FileIO* io_ = nullptr;
  catalog::Catalog* catalog_ = nullptr;
  engine::Database* db_ = nullptr;
  CdcContext ctx_;
};

TestPgCluster* VerifyTest::pg_ = nullptr;

std::string KeyText(const VerifyDifference& d) {
  std::string out;
  for (const auto& [name, value] : d.key)
    out += (out.empty() ? "" : ",") + name + "=" + value.value_or("NULL");
  return out;
}

TEST_F(VerifyTest, EqualTablesAreEqual) {
  ASSERT_TRUE(
      pg_->Exec("CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric(12,2));"
                "INSERT INTO accounts VALUES (1, 'ann', 10.50), (2, 'bob', 0), (3, NULL, -7.25)"));
  MakeMirror("accounts",
             "SELECT * FROM (VALUES (3, NULL, -7.25), (1, 'ann', 10.50), (2, 'bob', 0))", "id");
  auto r = Verify("accounts");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->equal);
  EXPECT_EQ(r->table, "mirror.accounts");
  EXPECT_EQ(r->source, "public.accounts");
  EXPECT_GT(r->lsn, 0u);
  EXPECT_EQ(r->mirror_lsn, kFar);
  EXPECT_TRUE(r->mirror_snapshot_id.has_value());
  EXPECT_EQ(r->key_columns, std::vector<std::string>{"id"});
  EXPECT_EQ(r->source_rows, 3);
  EXPECT_EQ(r->mirror_rows, 3);
  EXPECT_EQ(r->source_checksum.size(), 32u);
  EXPECT_EQ(r->source_checksum, r->mirror_checksum);
  EXPECT_EQ(r->excluded_keys, 0);
  EXPECT_EQ(r->attempts, 1);
  EXPECT_TRUE(r->differences.empty());
  // The slot is temporary and gone once verify returns.
  EXPECT_EQ(*pg_->Exec(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'frazil_verify_%'"),
            "0");
}

TEST_F(VerifyTest, MissingExtraAndChangedRowsAreReportedByKey) {
  ASSERT_TRUE(
      pg_->Exec("CREATE TABLE orders (id int PRIMARY KEY, item text, amount numeric(10,2));"
                "INSERT INTO orders VALUES (1, 'a', 1), (2, 'b', 20), (3, 'c', 3), (4, 'd', 4)"));
  MakeMirror("orders", "SELECT * FROM (VALUES (1, 'a', 1), (2, 'b', 99), (4, 'd', 4), (5, 'e', 5))",
             "id");
  auto r = Verify("public.orders");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(r->equal);
  EXPECT_EQ(r->source_rows, 4);
  EXPECT_EQ(r->mirror_rows, 4);
  EXPECT_NE(r->source_checksum, r->mirror_checksum);
  EXPECT_EQ(r->missing_in_mirror, 1);
  EXPECT_EQ(r->extra_in_mirror, 1);
  EXPECT_EQ(r->different_values, 1);
  ASSERT_EQ(r->differences.size(), 3u);
  EXPECT_EQ(r->differences[0].kind, Kind::kDifferentValues);
  EXPECT_EQ(KeyText(r->differences[0]), "id=2");
  ASSERT_EQ(r->differences[0].columns.size(), 1u);
  EXPECT_EQ(r->differences[0].columns[0].name, "amount");
  EXPECT_EQ(r->differences[0].columns[0].source, "20.00");
  EXPECT_EQ(r->differences[0].columns[0].mirror, "99.00");
  EXPECT_EQ(r->differences[1].kind, Kind::kMissingInMirror);
  EXPECT_EQ(KeyText(r->differences[1]), "id=3");
  EXPECT_EQ(r->differences[2].kind, Kind::kExtraInMirror);
  EXPECT_EQ(KeyText(r->differences[2]), "id=5");

  auto options = Options();
  options.max_keys = 1;  // lists fewer, still counts all
  auto few = Verify("orders", options);
  ASSERT_TRUE(few) << few.error().ToString();
  EXPECT_EQ(few->differences.size(), 1u);
  EXPECT_EQ(few->missing_in_mirror + few->extra_in_mirror + few->different_values, 3);
}

TEST_F(VerifyTest, TablesWithoutKeyCompareWholeRowsAsMultisets) {
  ASSERT_TRUE(
      pg_->Exec("CREATE TABLE events (msg text, n int);"
                "INSERT INTO events VALUES ('a', 1), ('a', 1), ('b', NULL);"
                "CREATE TABLE quiet (msg text)"));
  MakeMirror("events", "SELECT * FROM (VALUES ('a', 1), ('b', NULL), ('c', 3))", "");
  MakeMirror("quiet", "", "");  // empty on both sides, the mirror without a snapshot
  auto r = Verify("mirror.events");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(r->equal);
  EXPECT_TRUE(r->key_columns.empty());
  ASSERT_EQ(r->differences.size(), 2u);
  EXPECT_EQ(r->differences[0].kind, Kind::kMissingInMirror);  // the second ('a', 1)
  EXPECT_EQ(KeyText(r->differences[0]), "msg=a,n=1");
  EXPECT_EQ(r->differences[1].kind, Kind::kExtraInMirror);
  EXPECT_EQ(KeyText(r->differences[1]), "msg=c,n=3");

  auto quiet = Verify("quiet");
  ASSERT_TRUE(quiet) << quiet.error().ToString();
  EXPECT_TRUE(quiet->equal);
  EXPECT_FALSE(quiet->mirror_snapshot_id.has_value());
  EXPECT_EQ(quiet->source_rows, 0);
  EXPECT_EQ(quiet->source_checksum, std::string(32, '0'));
}

TEST_F(VerifyTest, ValuesAreTypedAsCdcTypesThem) {
  ASSERT_TRUE(pg_->Exec(
      "CREATE TABLE typed (id int PRIMARY KEY, amount numeric(10,2), at timestamptz, note text, "
      "data bytea, "
      "tags text[], nums int[], \"Odd Name\" bigint, big numeric);"
      "INSERT INTO typed VALUES "
      "(1, 1234.50, '2024-05-01 12:00:00.5+02', E'tab\\there\\nnew line \\\\ back', '\\x00ff0a', "
      "'{\"a b\",NULL,\"q\\\"\"}', '{{1,2},{3,4}}', -5, 'NaN'),"
      "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"));
  std::string row1 =
      "(1, 1234.50::DECIMAL(10,2), TIMESTAMPTZ '2024-05-01 10:00:00.5+00', 'tab' || chr(9) || "
      "'here' || chr(10) || "
      "'new line \\ back', '\\x00\\xFF\\x0A'::BLOB, '{\"a b\",NULL,\"q\\\"\"}', '{{1,2},{3,4}}', "
      "-5, 'NaN')";
  std::string row2 = "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)";
  MakeMirror("typed", "SELECT * FROM (VALUES " + row1 + ", " + row2 + ")", "id");
  auto r = Verify("typed");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->equal) << (r->differences.empty() ? "" : KeyText(r->differences[0]));
  EXPECT_TRUE(r->schema_differences.empty());

  // One microsecond off, one byte off: both named.
  ASSERT_TRUE(pg_->Exec(
      "UPDATE typed SET at = at + interval '1 microsecond', data = '\\x00ff0b' WHERE id = 1"));
  auto changed = Verify("typed");
  ASSERT_TRUE(changed) << changed.error().ToString();
  ASSERT_EQ(changed->differences.size(), 1u);
  std::string cols;
  for (const auto& c : changed->differences[0].columns) {
    cols += c.name + ": " + c.source.value_or("NULL") + " / " + c.mirror.value_or("NULL") + "\n";
  }
  ASSERT_EQ(changed->differences[0].columns.size(), 2u) << cols;
  EXPECT_EQ(changed->differences[0].columns[0].name, "at");
  EXPECT_EQ(changed->differences[0].columns[1].name, "data");
}

TEST_F(VerifyTest, ColumnsOnOneSideOnlyMakeThemDiffer) {
  ASSERT_TRUE(
      pg_->Exec("CREATE TABLE wide (id int PRIMARY KEY, a int); INSERT INTO wide VALUES (1, 1)"));
  MakeMirror("wide", "SELECT 1, 1", "id");
  ASSERT_TRUE(pg_->Exec("ALTER TABLE wide ADD COLUMN b int DEFAULT 5"));  // no change streamed yet
  auto r = Verify("wide");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(r->equal);
  EXPECT_TRUE(r->differences.empty());  // the columns both have agree
  ASSERT_EQ(r->schema_differences.size(), 1u);
  EXPECT_EQ(r->schema_differences[0], "column b is in the source but not in the mirror");
}

TEST_F(VerifyTest, PartitionedTablesPublishedThroughTheirRootHoldTheirPartitionsRows) {
  ASSERT_TRUE(pg_->Exec(
      "CREATE TABLE parted (id int, r int, PRIMARY KEY (id, r)) PARTITION BY RANGE (r);"
      "CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);"
      "CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (10) TO (20);"
      "INSERT INTO parted VALUES (1, 1), (2, 12);"
      "CREATE PUBLICATION via_root FOR TABLE parted WITH (publish_via_partition_root = true)"));
  publication_ = "via_root";
  MakeMirror("parted", "SELECT * FROM (VALUES (1, 1), (2, 12))", "id,r");
  auto options = Options();
  options.publication = "via_root";
  auto r = Verify("parted", options);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->equal);
  EXPECT_EQ(r->source_rows, 2);
  EXPECT_EQ(r->key_columns, (std::vector<std::string>{"id", "r"}));
}

TEST_F(VerifyTest, KeysChangedAfterTheSourceSnapshotAreLeftOut) {
  ASSERT_TRUE(
      pg_->Exec("CREATE TABLE busy (id int PRIMARY KEY, v text);"
                "INSERT INTO busy VALUES (1, 'one'), (2, 'two'), (3, 'three')"));
  // The mirror holds three changes committed after any source snapshot (commit LSN FE/0 in
  // [C, FF/0)): id 2 updated, id 9 inserted, id 3 re-keyed to 10.
  std::string raw_meta = ", NULL, NULL, 0, ";  // _txid, _commit_ts, _seq
  std::string far = std::to_string(kFar - (Lsn{1} << 32));
  std::string raw_rows =
      "SELECT * FROM (VALUES "
      "(2, 'TWO', 'u', " +
      far + ", " + far + raw_meta +
      "NULL),"
      "(9, 'nine', 'c', " +
      far + ", " + far + raw_meta +
      "NULL),"
      "(10, 'three', 'u', " +
      far + ", " + far + raw_meta + "{'id': 3, 'v': NULL}))";
  MakeMirror("busy", "SELECT * FROM (VALUES (1, 'one'), (2, 'TWO'), (9, 'nine'), (10, 'three'))",
             "id", kFar, raw_rows);
  auto r = Verify("busy");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->equal);
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(r->excluded_keys, 4);  // 2, 9, 10 and the old key 3
  EXPECT_EQ(r->source_rows, 1);
  EXPECT_EQ(r->mirror_rows, 1);
}

TEST_F(VerifyTest, TruncateAfterTheSourceSnapshotIsTooBusy) {
  ASSERT_TRUE(pg_->Exec("CREATE TABLE trunc (id int PRIMARY KEY)"));
  std::string far = std::to_string(kFar - 1);
  MakeMirror("trunc", "", "id", kFar,
             "SELECT NULL, 't', " + far + ", " + far + ", 0, NULL, 0, NULL");
  auto r = Verify("trunc");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("source too busy"), std::string::npos) << r.error().message;
}

TEST_F(VerifyTest, MirrorBehindTheSourceTimesOutWithWhereBothAre) {
  ASSERT_TRUE(pg_->Exec("CREATE TABLE behind (id int PRIMARY KEY)"));
  MakeMirror("behind", "", "id", /*lsn=*/1);
  auto options = Options();
  options.timeout_ms = 200;
  auto r = Verify("behind", options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kIOError);
  EXPECT_NE(r.error().message.find("mirror at 0/1, source at "), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("frazil run"), std::string::npos) << r.error().message;
}

TEST_F(VerifyTest, StoppedSlotWithoutPendingChangesMeansTheMirrorIsCurrent) {
  ASSERT_TRUE(pg_->Exec(
      "CREATE TABLE stopped (id int PRIMARY KEY, v int); INSERT INTO stopped VALUES (1, 1)"));
  auto lsn =
      pg_->Exec("SELECT lsn FROM pg_create_logical_replication_slot('stopped_slot', 'pgoutput')");
  ASSERT_TRUE(lsn) << lsn.error().ToString();
  auto at = ParseLsn(*lsn);
  ASSERT_TRUE(at);
  MakeMirror("stopped", "SELECT 1, 1", "id", *at);
  ASSERT_TRUE(
      pg_->Exec("CREATE TABLE other (id int); INSERT INTO other VALUES (1)"));  // not this table
  auto options = Options();
  options.slot = "stopped_slot";
  auto r = Verify("stopped", options);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->equal);
  EXPECT_EQ(r->mirror_lsn, *at);

  ASSERT_TRUE(pg_->Exec("UPDATE stopped SET v = 2"));  // waits in the slot: the mirror is behind
  auto behind = Verify("stopped", options);
  ASSERT_FALSE(behind);
  EXPECT_NE(behind.error().message.find("holds 1 change(s) to public.stopped"), std::string::npos)
      << behind.error().message;
  ASSERT_TRUE(pg_->Exec("SELECT pg_drop_replication_slot('stopped_slot')"));
}

TEST_F(VerifyTest, NamesResolveToTheMirror) {
  auto schema = iceberg::Schema(
      0, {iceberg::NestedField{
             1, "id", false, iceberg::Primitive(iceberg::TypeId::kInt), {}, nullptr, nullptr}});
  MakeTable("mirror.accounts", schema, {{"frazil.mirror-of", "raw_data.accounts"}}, "");
  MakeTable("mirror.sales__orders", schema, {{"frazil.mirror-of", "raw_data.sales__orders"}}, "");
  MakeTable("raw_data.accounts", schema, {{"frazil.source-table", "public.accounts"}}, "");
  for (const char* name : {"accounts", "mirror.accounts", "public.accounts", "public.Accounts"}) {
    auto id = ResolveMirror(*catalog_, name, "mirror");
    ASSERT_TRUE(id) << name << ": " << id.error().ToString();
    EXPECT_EQ(id->ToString(), "mirror.accounts") << name;
  }
  auto orders = ResolveMirror(*catalog_, "sales.orders", "mirror");
  ASSERT_TRUE(orders) << orders.error().ToString();
  EXPECT_EQ(orders->ToString(), "mirror.sales__orders");

  auto raw = ResolveMirror(*catalog_, "raw_data.accounts", "mirror");
  ASSERT_FALSE(raw);
  EXPECT_EQ(raw.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(raw.error().message.find("its mirror is mirror.accounts"), std::string::npos)
      << raw.error().message;

  auto none = ResolveMirror(*catalog_, "sales.nothing", "mirror");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, ErrorKind::kNoSuchTable);
  EXPECT_NE(none.error().message.find("tried sales.nothing, mirror.sales__nothing"),
            std::string::npos)
      << none.error().message;
}

}  // namespace
}  // namespace frazil::cdc
