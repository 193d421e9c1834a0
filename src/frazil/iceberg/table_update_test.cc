#include "frazil/iceberg/table_update.h"

#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "frazil/base/random.h"

namespace frazil::iceberg {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr int64_t kNow = 1'700'000'000'000;

TypePtr Long() { return Primitive(TypeId::kLong); }
TypePtr String() { return Primitive(TypeId::kString); }

// A schema with deliberately odd ids, as a user or DDL translation might produce.
Schema UserSchema() {
  std::vector<NestedField> loc = {{.id = 71, .name = "lat", .type = Primitive(TypeId::kDouble)},
                                  {.id = 72, .name = "lon", .type = Primitive(TypeId::kDouble)}};
  return Schema(
      5,
      {{.id = 10, .name = "id", .required = true, .type = Long()},
       {.id = 20, .name = "name", .type = String(), .doc = "display name"},
       {.id = 30, .name = "tags", .type = List(31, String(), false)},
       {.id = 40, .name = "attrs", .type = Map(41, String(), 42, Long(), true)},
       {.id = 70, .name = "loc", .type = Struct(loc)}},
      {10});
}

TableMetadata NewTable() {
  PartitionSpec spec{.spec_id = 9,
                     .fields = {{.source_id = 20, .field_id = 5000, .name = "name",
                                 .transform = Transform{}}}};
  SortOrder order{.order_id = 0,
                  .fields = {{.source_id = 10, .transform = Transform{}, .ascending = false}}};
  auto m = NewTableMetadata(UserSchema(), spec, order, "s3://bucket/t",
                            {{"owner", "me"}, {"uuid", "reserved"}}, 2, kNow);
  EXPECT_TRUE(m.has_value()) << m.error().ToString();
  return m.has_value() ? *m : TableMetadata{};
}

Snapshot MakeSnapshot(int64_t id, std::optional<int64_t> parent, int64_t seq, int64_t ts) {
  return Snapshot{.snapshot_id = id,
                  .parent_snapshot_id = parent,
                  .sequence_number = seq,
                  .timestamp_ms = ts,
                  .manifest_list = "s3://bucket/t/metadata/snap-" + std::to_string(id) + ".avro",
                  .summary = {{"operation", "append"}},
                  .schema_id = 0};
}

// The table after two appends committed the way a writer commits them.
TableMetadata TableWithTwoSnapshots() {
  TableMetadata m = NewTable();
  auto r = ApplyUpdates(&m,
                        {upd::AddSnapshot{MakeSnapshot(11, std::nullopt, 1, kNow + 1)},
                         upd::SetSnapshotRef{"main", SnapshotRef{.snapshot_id = 11}}},
                        kNow + 2);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  r = ApplyUpdates(&*r,
                   {upd::AddSnapshot{MakeSnapshot(22, 11, 2, kNow + 3)},
                    upd::SetSnapshotRef{"main", SnapshotRef{.snapshot_id = 22}}},
                   kNow + 4);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return *r;
}

TEST(NewTableMetadata, AssignsFreshIdsLikeJava) {
  TableMetadata m = NewTable();
  EXPECT_EQ(m.format_version, 2);
  std::array<uint8_t, 16> bytes;
  EXPECT_TRUE(ParseUuid(m.table_uuid, &bytes)) << m.table_uuid;
  EXPECT_EQ(m.location, "s3://bucket/t");
  EXPECT_EQ(m.last_updated_ms, kNow);
  EXPECT_EQ(m.last_sequence_number, 0);
  const Schema& s = *m.current_schema();
  EXPECT_EQ(s.schema_id(), 0);
  // Top-level fields first (1..5), then nested ones in order, as Java and PyIceberg do.
  ASSERT_EQ(s.fields().size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.fields()[i].id, i + 1);
  EXPECT_EQ(s.fields()[1].doc, "display name");
  EXPECT_EQ(s.fields()[2].type->element().id, 6);
  EXPECT_EQ(s.fields()[3].type->key().id, 7);
  EXPECT_EQ(s.fields()[3].type->value().id, 8);
  EXPECT_TRUE(s.fields()[3].type->value().required);
  EXPECT_EQ(s.fields()[4].type->fields[0].id, 9);
  EXPECT_EQ(s.fields()[4].type->fields[1].id, 10);
  EXPECT_EQ(m.last_column_id, 10);
  EXPECT_EQ(s.identifier_field_ids(), std::vector<int>{1});

  const PartitionSpec& spec = *m.default_spec();
  EXPECT_EQ(spec.spec_id, 0);
  ASSERT_EQ(spec.fields.size(), 1u);
  EXPECT_EQ(spec.fields[0].source_id, 2);
  EXPECT_EQ(spec.fields[0].field_id, 1000);
  EXPECT_EQ(m.last_partition_id, 1000);

  ASSERT_EQ(m.sort_orders.size(), 1u);
  EXPECT_EQ(m.default_sort_order_id, 1);
  EXPECT_EQ(m.sort_orders[0].fields[0].source_id, 1);
  EXPECT_FALSE(m.sort_orders[0].fields[0].ascending);

  EXPECT_EQ(m.properties, (std::map<std::string, std::string>{{"owner", "me"}}));
  EXPECT_FALSE(m.current_snapshot_id.has_value());
  EXPECT_TRUE(m.refs.empty());
  // Serializable as is.
  auto again = TableMetadataFromJson(TableMetadataToJson(m));
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ(TableMetadataToJson(*again), TableMetadataToJson(m));
}

TEST(NewTableMetadata, UnpartitionedUnsortedAndVersionProperty) {
  auto m = NewTableMetadata(UserSchema(), PartitionSpec{}, SortOrder{}, "/tmp/t",
                            {{"format-version", "1"}}, 2, kNow);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->format_version, 1);
  EXPECT_TRUE(m->properties.empty());
  EXPECT_EQ(m->last_partition_id, 999);
  EXPECT_EQ(m->default_sort_order_id, 0);
  EXPECT_EQ(m->sort_orders.size(), 1u);
  EXPECT_NE(NewTable().table_uuid, NewTable().table_uuid);
}

TEST(NewTableMetadata, Errors) {
  PartitionSpec bad_spec{.fields = {{.source_id = 99, .field_id = 1000, .name = "x"}}};
  auto m = NewTableMetadata(UserSchema(), bad_spec, SortOrder{}, "/t", {}, 2, kNow);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_THAT(m.error().message, HasSubstr("99"));
  m = NewTableMetadata(UserSchema(), PartitionSpec{}, SortOrder{}, "", {}, 2, kNow);
  EXPECT_FALSE(m.has_value());
  m = NewTableMetadata(UserSchema(), PartitionSpec{}, SortOrder{}, "/t", {}, 7, kNow);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().kind, ErrorKind::kUnsupported);
}

// ---- Requirements ------------------------------------------------------------------------

void ExpectCommitFailed(const Status& s, const std::string& message) {
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().kind, ErrorKind::kCommitFailed);
  EXPECT_EQ(s.error().message, message);
}

TEST(CheckRequirements, PassWhenMetadataMatches) {
  TableMetadata m = TableWithTwoSnapshots();
  EXPECT_TRUE(CheckRequirements(&m, {req::AssertTableUuid{m.table_uuid},
                                     req::AssertRefSnapshotId{"main", 22},
                                     req::AssertRefSnapshotId{"dev", std::nullopt},
                                     req::AssertLastAssignedFieldId{10},
                                     req::AssertCurrentSchemaId{0},
                                     req::AssertLastAssignedPartitionId{1000},
                                     req::AssertDefaultSpecId{0},
                                     req::AssertDefaultSortOrderId{1}}));
  EXPECT_TRUE(CheckRequirements(nullptr, {req::AssertCreate{}}));
  EXPECT_TRUE(CheckRequirements(&m, {}));
}

TEST(CheckRequirements, FailuresNameTheRequirement) {
  TableMetadata m = TableWithTwoSnapshots();
  ExpectCommitFailed(CheckRequirements(&m, {req::AssertCreate{}}),
                     "Requirement failed: table already exists");
  ExpectCommitFailed(CheckRequirements(nullptr, {req::AssertCurrentSchemaId{0}}),
                     "Requirement failed: table does not exist");
  ExpectCommitFailed(CheckRequirements(&m, {req::AssertTableUuid{"other"}}),
                     "Requirement failed: UUID does not match: expected other != " +
                         m.table_uuid);
  ExpectCommitFailed(CheckRequirements(&m, {req::AssertRefSnapshotId{"main", 11}}),
                     "Requirement failed: branch main has changed: expected id 11 != 22");
  ExpectCommitFailed(CheckRequirements(&m, {req::AssertRefSnapshotId{"main", std::nullopt}}),
                     "Requirement failed: branch main was created concurrently");
  ExpectCommitFailed(CheckRequirements(&m, {req::AssertRefSnapshotId{"dev", 5}}),
                     "Requirement failed: branch or tag dev is missing, expected 5");
  ExpectCommitFailed(CheckRequirements(&m, {req::AssertLastAssignedFieldId{9}}),
                     "Requirement failed: last assigned field id changed: expected id 9 != 10");
  ExpectCommitFailed(CheckRequirements(&m, {req::AssertCurrentSchemaId{1}}),
                     "Requirement failed: current schema changed: expected id 1 != 0");
  ExpectCommitFailed(
      CheckRequirements(&m, {req::AssertLastAssignedPartitionId{999}}),
      "Requirement failed: last assigned partition id changed: expected id 999 != 1000");
  ExpectCommitFailed(CheckRequirements(&m, {req::AssertDefaultSpecId{3}}),
                     "Requirement failed: default partition spec changed: expected id 3 != 0");
  ExpectCommitFailed(CheckRequirements(&m, {req::AssertDefaultSortOrderId{0}}),
                     "Requirement failed: default sort order changed: expected id 0 != 1");
  // The first failing requirement is reported.
  ExpectCommitFailed(CheckRequirements(&m, {req::AssertCurrentSchemaId{0},
                                            req::AssertDefaultSpecId{3},
                                            req::AssertCurrentSchemaId{1}}),
                     "Requirement failed: default partition spec changed: expected id 3 != 0");
  m.refs["v1"] = SnapshotRef{.snapshot_id = 11, .is_branch = false};
  ExpectCommitFailed(CheckRequirements(&m, {req::AssertRefSnapshotId{"v1", 22}}),
                     "Requirement failed: tag v1 has changed: expected id 22 != 11");
}

// ---- Updates -----------------------------------------------------------------------------

Result<TableMetadata> Apply(const TableMetadata& base, std::vector<TableUpdate> updates) {
  return ApplyUpdates(&base, updates, kNow + 100);
}

TEST(ApplyUpdates, SnapshotsRefsAndLog) {
  TableMetadata m = TableWithTwoSnapshots();
  EXPECT_EQ(m.last_sequence_number, 2);
  EXPECT_EQ(m.current_snapshot_id, 22);
  EXPECT_EQ(m.last_updated_ms, kNow + 4);
  ASSERT_EQ(m.snapshot_log.size(), 2u);
  EXPECT_EQ(m.snapshot_log[0].timestamp_ms, kNow + 1);  // the snapshot's own time
  EXPECT_EQ(m.snapshot_log[1].snapshot_id, 22);
  EXPECT_EQ(m.refs.at("main").snapshot_id, 22);

  // Rollback to an older snapshot logs the commit time.
  auto rolled = Apply(m, {upd::SetSnapshotRef{"main", SnapshotRef{.snapshot_id = 11}}});
  ASSERT_TRUE(rolled.has_value()) << rolled.error().ToString();
  EXPECT_EQ(rolled->current_snapshot_id, 11);
  ASSERT_EQ(rolled->snapshot_log.size(), 3u);
  EXPECT_EQ(rolled->snapshot_log[2].timestamp_ms, kNow + 100);
  // Setting main to where it already is changes nothing.
  auto same = Apply(m, {upd::SetSnapshotRef{"main", SnapshotRef{.snapshot_id = 22}}});
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(same->snapshot_log.size(), 2u);

  // A tag does not move main.
  auto tagged = Apply(m, {upd::SetSnapshotRef{"v1", SnapshotRef{.snapshot_id = 11,
                                                                 .is_branch = false}}});
  ASSERT_TRUE(tagged.has_value());
  EXPECT_EQ(tagged->current_snapshot_id, 22);
  EXPECT_FALSE(tagged->refs.at("v1").is_branch);
  EXPECT_EQ(tagged->snapshot_log.size(), 2u);

  auto unknown = Apply(m, {upd::SetSnapshotRef{"main", SnapshotRef{.snapshot_id = 99}}});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_FALSE(Apply(m, {upd::SetSnapshotRef{"main", SnapshotRef{.snapshot_id = 11,
                                                                   .is_branch = false}}}));
}

TEST(ApplyUpdates, AddSnapshotChecksSequenceAndId) {
  TableMetadata m = TableWithTwoSnapshots();
  auto stale = Apply(m, {upd::AddSnapshot{MakeSnapshot(33, 22, 2, kNow + 5)}});
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().kind, ErrorKind::kCommitFailed);
  EXPECT_THAT(stale.error().message, HasSubstr("sequence number 2"));
  auto duplicate = Apply(m, {upd::AddSnapshot{MakeSnapshot(22, 22, 3, kNow + 5)}});
  ASSERT_FALSE(duplicate.has_value());
  EXPECT_EQ(duplicate.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_THAT(duplicate.error().message, HasSubstr("22"));
  // A staged snapshot (no ref update) leaves main and the log alone.
  auto staged = Apply(m, {upd::AddSnapshot{MakeSnapshot(33, 22, 3, kNow + 5)}});
  ASSERT_TRUE(staged.has_value()) << staged.error().ToString();
  EXPECT_EQ(staged->last_sequence_number, 3);
  EXPECT_EQ(staged->current_snapshot_id, 22);
  EXPECT_EQ(staged->snapshots.size(), 3u);
  EXPECT_EQ(staged->snapshot_log.size(), 2u);
  // v1 tables have no sequence numbers.
  TableMetadata v1 = m;
  v1.format_version = 1;
  EXPECT_TRUE(Apply(v1, {upd::AddSnapshot{MakeSnapshot(44, 22, 0, kNow + 5)}}).has_value());
  // The base is untouched.
  EXPECT_EQ(m.snapshots.size(), 2u);
}

TEST(ApplyUpdates, RowLineageInV3) {
  TableMetadata m = NewTable();
  m.format_version = 3;
  m.next_row_id = 0;
  Snapshot s = MakeSnapshot(5, std::nullopt, 1, kNow);
  s.first_row_id = 0;
  s.added_rows = 30;
  auto r = Apply(m, {upd::AddSnapshot{s}});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->next_row_id, 30);
}

TEST(ApplyUpdates, RemoveSnapshotsDropsRefsStatsAndOlderHistory) {
  TableMetadata m = TableWithTwoSnapshots();
  m.refs["old"] = SnapshotRef{.snapshot_id = 11};
  m.statistics.push_back({{"snapshot-id", 11}, {"statistics-path", "a.puffin"}});
  m.statistics.push_back({{"snapshot-id", 22}, {"statistics-path", "b.puffin"}});
  m.partition_statistics.push_back({{"snapshot-id", 11}, {"statistics-path", "p.parquet"}});
  auto r = Apply(m, {upd::RemoveSnapshots{{11}}});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->snapshots.size(), 1u);
  EXPECT_FALSE(r->refs.contains("old"));
  EXPECT_EQ(r->current_snapshot_id, 22);
  ASSERT_EQ(r->statistics.size(), 1u);
  EXPECT_EQ(r->statistics[0]["snapshot-id"], 22);
  EXPECT_TRUE(r->partition_statistics.empty());
  ASSERT_EQ(r->snapshot_log.size(), 1u);
  EXPECT_EQ(r->snapshot_log[0].snapshot_id, 22);

  auto all = Apply(m, {upd::RemoveSnapshots{{11, 22}}});
  ASSERT_TRUE(all.has_value());
  EXPECT_FALSE(all->current_snapshot_id.has_value());
  EXPECT_TRUE(all->refs.empty());
  EXPECT_TRUE(all->snapshot_log.empty());
}

TEST(ApplyUpdates, RemoveSnapshotRef) {
  TableMetadata m = TableWithTwoSnapshots();
  m.refs["dev"] = SnapshotRef{.snapshot_id = 11};
  auto r = Apply(m, {upd::RemoveSnapshotRef{"dev"}});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->refs.contains("dev"));
  EXPECT_EQ(r->current_snapshot_id, 22);
  r = Apply(m, {upd::RemoveSnapshotRef{"main"}});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->current_snapshot_id.has_value());
  EXPECT_EQ(r->snapshots.size(), 2u);
}

TEST(ApplyUpdates, SchemaEvolution) {
  TableMetadata m = NewTable();
  std::vector<NestedField> fields = m.current_schema()->fields();
  fields.push_back({.id = 11, .name = "note", .type = String()});
  auto r = Apply(m, {upd::AddSchema{Schema(0, fields, {1}), std::nullopt},
                     upd::SetCurrentSchema{-1}});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->current_schema_id, 1);
  EXPECT_EQ(r->schemas.size(), 2u);
  EXPECT_EQ(r->last_column_id, 11);
  // Re-adding an identical schema reuses its id.
  auto again = Apply(*r, {upd::AddSchema{Schema(7, m.current_schema()->fields(), {1}), 11},
                          upd::SetCurrentSchema{-1}});
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ(again->schemas.size(), 2u);
  EXPECT_EQ(again->current_schema_id, 0);
  // Dropping a column never lowers last-column-id.
  EXPECT_EQ(again->last_column_id, 11);
  auto remove = Apply(*again, {upd::RemoveSchemas{{1}}});
  ASSERT_TRUE(remove.has_value());
  EXPECT_EQ(remove->schemas.size(), 1u);
  EXPECT_FALSE(Apply(*again, {upd::RemoveSchemas{{0}}}).has_value());  // current
  EXPECT_FALSE(Apply(m, {upd::SetCurrentSchema{-1}}).has_value());     // none added
  EXPECT_FALSE(Apply(m, {upd::SetCurrentSchema{5}}).has_value());      // unknown
  Schema duplicate_ids(0, {{.id = 1, .name = "a", .type = Long()},
                           {.id = 1, .name = "b", .type = Long()}});
  auto invalid = Apply(m, {upd::AddSchema{duplicate_ids, std::nullopt}});
  ASSERT_FALSE(invalid.has_value());
  EXPECT_EQ(invalid.error().kind, ErrorKind::kInvalidArgument);
}

TEST(ApplyUpdates, PartitionSpecEvolution) {
  TableMetadata m = NewTable();
  PartitionSpec spec{.spec_id = 0,
                     .fields = {m.default_spec()->fields[0],
                                {.source_id = 1, .field_id = 1001, .name = "id_bucket",
                                 .transform = Transform{TransformKind::kBucket, 16}}}};
  auto r = Apply(m, {upd::AddSpec{spec}, upd::SetDefaultSpec{-1}});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->default_spec_id, 1);
  EXPECT_EQ(r->partition_specs.size(), 2u);
  EXPECT_EQ(r->last_partition_id, 1001);
  // The same fields again reuse spec 1; the last-partition-id stays the max.
  auto again = Apply(*r, {upd::AddSpec{spec}, upd::SetDefaultSpec{0}});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->partition_specs.size(), 2u);
  EXPECT_EQ(again->default_spec_id, 0);
  EXPECT_EQ(again->last_partition_id, 1001);
  auto removed = Apply(*again, {upd::RemovePartitionSpecs{{1}}});
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->partition_specs.size(), 1u);
  EXPECT_FALSE(Apply(*again, {upd::RemovePartitionSpecs{{0}}}).has_value());  // default
  EXPECT_FALSE(Apply(m, {upd::SetDefaultSpec{4}}).has_value());
  PartitionSpec bad{.fields = {{.source_id = 42, .field_id = 1001, .name = "x"}}};
  EXPECT_FALSE(Apply(m, {upd::AddSpec{bad}}).has_value());
}

TEST(ApplyUpdates, SortOrders) {
  TableMetadata m = NewTable();
  SortOrder order{.fields = {{.source_id = 2, .transform = Transform{}}}};
  auto r = Apply(m, {upd::AddSortOrder{order}, upd::SetDefaultSortOrder{-1}});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->default_sort_order_id, 2);
  auto unsorted = Apply(*r, {upd::AddSortOrder{SortOrder{}}, upd::SetDefaultSortOrder{-1}});
  ASSERT_TRUE(unsorted.has_value());
  EXPECT_EQ(unsorted->default_sort_order_id, 0);  // unsorted is always order 0
  auto reuse = Apply(*r, {upd::AddSortOrder{order}});
  ASSERT_TRUE(reuse.has_value());
  EXPECT_EQ(reuse->sort_orders.size(), 2u);
  EXPECT_FALSE(Apply(m, {upd::SetDefaultSortOrder{9}}).has_value());
  SortOrder bad{.fields = {{.source_id = 77}}};
  EXPECT_FALSE(Apply(m, {upd::AddSortOrder{bad}}).has_value());
}

TEST(ApplyUpdates, UuidVersionLocationProperties) {
  TableMetadata m = NewTable();
  EXPECT_TRUE(Apply(m, {upd::AssignUuid{m.table_uuid}}).has_value());
  EXPECT_FALSE(Apply(m, {upd::AssignUuid{"other"}}).has_value());

  auto v3 = Apply(m, {upd::UpgradeFormatVersion{3}});
  ASSERT_TRUE(v3.has_value());
  EXPECT_EQ(v3->format_version, 3);
  EXPECT_FALSE(Apply(*v3, {upd::UpgradeFormatVersion{2}}).has_value());
  EXPECT_FALSE(Apply(m, {upd::UpgradeFormatVersion{4}}).has_value());

  auto moved = Apply(m, {upd::SetLocation{"s3://other/t"}});
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->location, "s3://other/t");
  EXPECT_FALSE(Apply(m, {upd::SetLocation{""}}).has_value());

  auto props = Apply(m, {upd::SetProperties{{{"a", "1"}, {"b", "2"}, {"snapshot-count", "9"}}},
                         upd::RemoveProperties{{"b", "owner", "never-set"}}});
  ASSERT_TRUE(props.has_value());
  EXPECT_EQ(props->properties, (std::map<std::string, std::string>{{"a", "1"}}));
  auto upgrade = Apply(m, {upd::SetProperties{{{"format-version", "3"}}}});
  ASSERT_TRUE(upgrade.has_value());
  EXPECT_EQ(upgrade->format_version, 3);
  EXPECT_FALSE(upgrade->properties.contains("format-version"));
  EXPECT_FALSE(Apply(m, {upd::SetProperties{{{"format-version", "x"}}}}).has_value());
}

TEST(ApplyUpdates, Statistics) {
  TableMetadata m = TableWithTwoSnapshots();
  json stats = {{"snapshot-id", 22}, {"statistics-path", "s.puffin"}, {"file-size-in-bytes", 10}};
  json newer = stats;
  newer["statistics-path"] = "t.puffin";
  auto r = Apply(m, {upd::SetStatistics{stats}, upd::SetStatistics{newer},
                     upd::SetPartitionStatistics{{{"snapshot-id", 22}, {"statistics-path", "p"}}}});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->statistics.size(), 1u);  // replaced, not appended
  EXPECT_EQ(r->statistics[0]["statistics-path"], "t.puffin");
  EXPECT_EQ(r->partition_statistics.size(), 1u);
  auto removed = Apply(*r, {upd::RemoveStatistics{22}, upd::RemovePartitionStatistics{22}});
  ASSERT_TRUE(removed.has_value());
  EXPECT_TRUE(removed->statistics.empty());
  EXPECT_TRUE(removed->partition_statistics.empty());
  EXPECT_FALSE(Apply(m, {upd::SetStatistics{json{{"path", "x"}}}}).has_value());
}

// The update list Java and PyIceberg send to create a table through REST.
std::vector<TableUpdate> CreateUpdates(const TableMetadata& fresh) {
  return {upd::AssignUuid{fresh.table_uuid},
          upd::UpgradeFormatVersion{2},
          upd::AddSchema{*fresh.current_schema(), fresh.last_column_id},
          upd::SetCurrentSchema{-1},
          upd::AddSpec{*fresh.default_spec()},
          upd::SetDefaultSpec{-1},
          upd::AddSortOrder{fresh.sort_orders[0]},
          upd::SetDefaultSortOrder{-1},
          upd::SetLocation{fresh.location},
          upd::SetProperties{fresh.properties}};
}

TEST(ApplyUpdates, CreateTableFromNothing) {
  TableMetadata fresh = NewTable();
  auto created = ApplyUpdates(nullptr, CreateUpdates(fresh), kNow);
  ASSERT_TRUE(created.has_value()) << created.error().ToString();
  EXPECT_EQ(TableMetadataToJson(*created), TableMetadataToJson(fresh));

  // Without uuid, spec or order: defaults are filled in.
  auto minimal = ApplyUpdates(nullptr,
                              {upd::AddSchema{*fresh.current_schema(), std::nullopt},
                               upd::SetCurrentSchema{-1}, upd::SetLocation{"/t"}},
                              kNow);
  ASSERT_TRUE(minimal.has_value()) << minimal.error().ToString();
  EXPECT_FALSE(minimal->table_uuid.empty());
  EXPECT_EQ(minimal->format_version, 2);
  EXPECT_EQ(minimal->default_spec()->fields.size(), 0u);
  EXPECT_EQ(minimal->last_partition_id, 999);
  EXPECT_EQ(minimal->sort_orders.size(), 1u);

  auto no_location = ApplyUpdates(nullptr, {upd::AddSchema{*fresh.current_schema(), 10}}, kNow);
  ASSERT_FALSE(no_location.has_value());
  EXPECT_THAT(no_location.error().message, HasSubstr("location"));
  EXPECT_FALSE(ApplyUpdates(nullptr, {upd::SetLocation{"/t"}}, kNow).has_value());
}

// ---- JSON --------------------------------------------------------------------------------

TEST(UpdateJson, EveryRequirementRoundTrips) {
  std::vector<std::pair<TableRequirement, json>> cases = {
      {req::AssertCreate{}, {{"type", "assert-create"}}},
      {req::AssertTableUuid{"u"}, {{"type", "assert-table-uuid"}, {"uuid", "u"}}},
      {req::AssertRefSnapshotId{"main", 5},
       {{"type", "assert-ref-snapshot-id"}, {"ref", "main"}, {"snapshot-id", 5}}},
      {req::AssertRefSnapshotId{"main", std::nullopt},
       {{"type", "assert-ref-snapshot-id"}, {"ref", "main"}, {"snapshot-id", nullptr}}},
      {req::AssertLastAssignedFieldId{3},
       {{"type", "assert-last-assigned-field-id"}, {"last-assigned-field-id", 3}}},
      {req::AssertCurrentSchemaId{1},
       {{"type", "assert-current-schema-id"}, {"current-schema-id", 1}}},
      {req::AssertLastAssignedPartitionId{1001},
       {{"type", "assert-last-assigned-partition-id"}, {"last-assigned-partition-id", 1001}}},
      {req::AssertDefaultSpecId{2}, {{"type", "assert-default-spec-id"}, {"default-spec-id", 2}}},
      {req::AssertDefaultSortOrderId{1},
       {{"type", "assert-default-sort-order-id"}, {"default-sort-order-id", 1}}},
  };
  for (const auto& [requirement, expected] : cases) {
    EXPECT_EQ(RequirementToJson(requirement), expected);
    auto parsed = RequirementFromJson(expected);
    ASSERT_TRUE(parsed.has_value()) << expected.dump() << ": " << parsed.error().ToString();
    EXPECT_EQ(parsed->index(), requirement.index());
    EXPECT_EQ(RequirementToJson(*parsed), expected);
  }
}

TEST(UpdateJson, EveryUpdateRoundTrips) {
  TableMetadata m = TableWithTwoSnapshots();
  std::vector<TableUpdate> updates = CreateUpdates(m);
  updates.push_back(upd::AddSnapshot{m.snapshots[1]});
  updates.push_back(upd::SetSnapshotRef{"v1", SnapshotRef{.snapshot_id = 22, .is_branch = false,
                                                          .max_ref_age_ms = 5}});
  updates.push_back(upd::RemoveSnapshots{{11, 22}});
  updates.push_back(upd::RemoveSnapshotRef{"v1"});
  updates.push_back(upd::RemoveProperties{{"a", "b"}});
  updates.push_back(upd::SetStatistics{json{{"snapshot-id", 22}, {"statistics-path", "s"}}});
  updates.push_back(upd::RemoveStatistics{22});
  updates.push_back(upd::SetPartitionStatistics{json{{"snapshot-id", 22}}});
  updates.push_back(upd::RemovePartitionStatistics{22});
  updates.push_back(upd::RemovePartitionSpecs{{1, 2}});
  updates.push_back(upd::RemoveSchemas{{3}});
  std::set<size_t> kinds;
  for (const TableUpdate& u : updates) {
    kinds.insert(u.index());
    json j = UpdateToJson(u);
    ASSERT_TRUE(j.contains("action")) << j.dump();
    auto parsed = UpdateFromJson(j);
    ASSERT_TRUE(parsed.has_value()) << j.dump() << ": " << parsed.error().ToString();
    EXPECT_EQ(parsed->index(), u.index());
    EXPECT_EQ(UpdateToJson(*parsed), j);
  }
  EXPECT_EQ(kinds.size(), std::variant_size_v<TableUpdate>);
}

TEST(UpdateJson, RestShapes) {
  EXPECT_EQ(UpdateToJson(upd::SetSnapshotRef{"main", SnapshotRef{.snapshot_id = 7}}),
            (json{{"action", "set-snapshot-ref"}, {"ref-name", "main"}, {"snapshot-id", 7},
                  {"type", "branch"}}));
  EXPECT_EQ(UpdateToJson(upd::SetProperties{{{"k", "v"}}}),
            (json{{"action", "set-properties"}, {"updates", {{"k", "v"}}}}));
  json add_schema = UpdateToJson(upd::AddSchema{UserSchema(), 80});
  EXPECT_EQ(add_schema["last-column-id"], 80);
  EXPECT_EQ(add_schema["schema"]["schema-id"], 5);
  EXPECT_EQ(add_schema["schema"]["type"], "struct");
  // A PyIceberg add-snapshot body.
  json body = {{"action", "add-snapshot"},
               {"snapshot",
                {{"snapshot-id", 3}, {"sequence-number", 1}, {"timestamp-ms", 5},
                 {"manifest-list", "m.avro"}, {"summary", {{"operation", "append"}}},
                 {"schema-id", 0}}}};
  auto parsed = UpdateFromJson(body);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().ToString();
  EXPECT_EQ(std::get<upd::AddSnapshot>(*parsed).snapshot.manifest_list, "m.avro");
}

void ExpectInvalid(const Result<TableUpdate>& r, const std::string& text) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument) << r.error().ToString();
  EXPECT_THAT(r.error().message, HasSubstr(text));
}

TEST(UpdateJson, Errors) {
  ExpectInvalid(UpdateFromJson({{"action", "enable-magic"}}), "enable-magic");
  ExpectInvalid(UpdateFromJson({{"type", "add-schema"}}), "'action'");
  ExpectInvalid(UpdateFromJson({{"action", "set-current-schema"}, {"schema-id", "1"}}),
                "'schema-id'");
  ExpectInvalid(UpdateFromJson({{"action", "add-snapshot"}, {"snapshot", {{"snapshot-id", 1}}}}),
                "'snapshot.timestamp-ms'");
  ExpectInvalid(UpdateFromJson({{"action", "add-schema"},
                                {"schema", {{"type", "struct"}, {"fields", {{{"id", 1}}}}}}}),
                "'schema.fields[0].name'");
  ExpectInvalid(UpdateFromJson({{"action", "remove-snapshots"}, {"snapshot-ids", {1, "2"}}}),
                "'snapshot-ids[1]'");
  ExpectInvalid(UpdateFromJson({{"action", "set-properties"}, {"updates", {{"k", 1}}}}),
                "'updates.k'");
  ExpectInvalid(UpdateFromJson({{"action", "set-snapshot-ref"}, {"ref-name", "main"},
                                {"snapshot-id", 1}, {"type", "twig"}}),
                "'type'");
  ExpectInvalid(UpdateFromJson(json::array()), "<root>");
  auto r = RequirementFromJson({{"type", "assert-nothing"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr("assert-nothing"));
  r = RequirementFromJson({{"type", "assert-current-schema-id"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr("'current-schema-id'"));
}

}  // namespace
}  // namespace frazil::iceberg
