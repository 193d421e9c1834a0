#include "frazil/iceberg/table_metadata.h"

#include <fstream>
#include <functional>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace frazil::iceberg {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(FRAZIL_TEST_RESOURCES) + "/metadata/" + name);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

TableMetadata LoadFixture(const std::string& name) {
  auto m = TableMetadataFromJsonString(ReadFixture(name));
  EXPECT_TRUE(m.has_value()) << name << ": " << m.error().ToString();
  return m.has_value() ? *m : TableMetadata{};
}

// Every key and value of `expected` appears in `actual` (arrays element-wise, same length):
// frazil may add fields a writer left out, but must not lose or change any.
void ExpectContains(const json& expected, const json& actual, const std::string& path) {
  if (expected.is_object()) {
    ASSERT_TRUE(actual.is_object()) << path;
    for (const auto& [key, value] : expected.items()) {
      ASSERT_TRUE(actual.contains(key)) << path << "." << key << " lost";
      ExpectContains(value, actual[key], path + "." + key);
    }
  } else if (expected.is_array()) {
    ASSERT_TRUE(actual.is_array()) << path;
    ASSERT_EQ(expected.size(), actual.size()) << path;
    for (size_t i = 0; i < expected.size(); ++i) {
      ExpectContains(expected[i], actual[i], path + "[" + std::to_string(i) + "]");
    }
  } else {
    EXPECT_EQ(expected, actual) << path;
  }
}

class GoldenTest : public ::testing::TestWithParam<const char*> {};

TEST_P(GoldenTest, RoundTripKeepsEveryField) {
  json golden = json::parse(ReadFixture(GetParam()));
  auto m = TableMetadataFromJson(golden);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  json written = TableMetadataToJson(*m);
  ExpectContains(golden, written, "");
  // Always-written fields are there even when the writer omitted them.
  for (const char* key : {"properties", "current-snapshot-id", "snapshots", "snapshot-log",
                          "metadata-log", "refs", "statistics", "partition-statistics",
                          "sort-orders", "schemas", "partition-specs"}) {
    EXPECT_TRUE(written.contains(key)) << key;
  }
  auto again = TableMetadataFromJsonString(TableMetadataToJsonString(*m));
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ(TableMetadataToJson(*again), written);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenTest,
                         ::testing::Values("pyiceberg_v2.metadata.json", "spark_v2.metadata.json",
                                           "spark_v1.metadata.json"));

TEST(TableMetadataJson, PyIcebergGolden) {
  TableMetadata m = LoadFixture("pyiceberg_v2.metadata.json");
  EXPECT_EQ(m.format_version, 2);
  EXPECT_EQ(m.table_uuid, "56d46197-469f-4fba-814a-23a6dc0707f4");
  EXPECT_EQ(m.last_sequence_number, 3);
  EXPECT_EQ(m.last_column_id, 13);
  ASSERT_EQ(m.schemas.size(), 2u);
  ASSERT_NE(m.current_schema(), nullptr);
  EXPECT_EQ(m.current_schema()->schema_id(), 1);
  const Schema& s0 = *m.schema_by_id(0);
  EXPECT_EQ(s0.identifier_field_ids(), std::vector<int>{1});
  ASSERT_EQ(s0.fields().size(), 7u);
  EXPECT_EQ(s0.fields()[1].doc, "display name");
  EXPECT_TRUE(s0.fields()[0].required);
  EXPECT_EQ(s0.fields()[3].type->id, TypeId::kDecimal);
  EXPECT_EQ(s0.fields()[3].type->precision, 10);
  EXPECT_EQ(s0.fields()[3].type->scale, 2);
  const Type& tags = *s0.fields()[4].type;
  ASSERT_EQ(tags.id, TypeId::kList);
  EXPECT_EQ(tags.element().id, 8);
  EXPECT_FALSE(tags.element().required);
  const Type& attrs = *s0.fields()[5].type;
  ASSERT_EQ(attrs.id, TypeId::kMap);
  EXPECT_EQ(attrs.key().id, 9);
  EXPECT_EQ(attrs.value().id, 10);
  EXPECT_EQ(attrs.value().type->id, TypeId::kDouble);
  ASSERT_EQ(s0.fields()[6].type->id, TypeId::kStruct);
  EXPECT_EQ(s0.fields()[6].type->fields[1].name, "lon");

  ASSERT_EQ(m.partition_specs.size(), 2u);
  EXPECT_EQ(m.default_spec_id, 1);
  EXPECT_EQ(m.last_partition_id, 1001);
  const PartitionSpec& spec = *m.default_spec();
  ASSERT_EQ(spec.fields.size(), 2u);
  EXPECT_EQ(spec.fields[1].transform.kind, TransformKind::kDay);
  EXPECT_EQ(spec.fields[1].source_id, 3);
  EXPECT_EQ(spec.fields[1].field_id, 1001);
  EXPECT_EQ(spec.fields[1].name, "ts_day");

  ASSERT_EQ(m.sort_orders.size(), 1u);
  EXPECT_EQ(m.default_sort_order_id, 1);
  EXPECT_FALSE(m.sort_orders[0].fields[0].ascending);
  EXPECT_FALSE(m.sort_orders[0].fields[0].nulls_first);

  EXPECT_EQ(m.properties.at("owner"), "frazil");
  ASSERT_EQ(m.snapshots.size(), 3u);
  ASSERT_NE(m.current_snapshot(), nullptr);
  EXPECT_EQ(m.current_snapshot()->snapshot_id, 9182384694162101294);
  EXPECT_EQ(m.current_snapshot()->operation(), "delete");
  EXPECT_EQ(m.current_snapshot()->sequence_number, 3);
  EXPECT_EQ(m.current_snapshot()->summary.at("total-records"), "4");
  EXPECT_EQ(m.snapshots[0].operation(), "append");
  EXPECT_FALSE(m.snapshots[0].parent_snapshot_id.has_value());
  EXPECT_EQ(m.snapshots[0].schema_id, 0);
  EXPECT_EQ(m.snapshot_log.size(), 3u);
  EXPECT_EQ(m.metadata_log.size(), 5u);
  EXPECT_EQ(m.refs.at("main").snapshot_id, 9182384694162101294);
  EXPECT_TRUE(m.refs.at("main").is_branch);
}

TEST(TableMetadataJson, SparkV2Golden) {
  TableMetadata m = LoadFixture("spark_v2.metadata.json");
  EXPECT_EQ(m.format_version, 2);
  ASSERT_EQ(m.default_spec()->fields.size(), 3u);
  EXPECT_EQ(m.default_spec()->fields[2].transform.kind, TransformKind::kBucket);
  EXPECT_EQ(m.default_spec()->fields[2].transform.param, 8);
  EXPECT_EQ(m.default_spec()->fields[2].field_id, 1002);
  EXPECT_EQ(m.last_partition_id, 1002);
  ASSERT_EQ(m.sort_orders.size(), 2u);
  EXPECT_TRUE(m.sort_orders[0].fields.empty());
  EXPECT_EQ(m.default_sort_order_id, 1);
  ASSERT_TRUE(m.refs.contains("v1"));
  EXPECT_FALSE(m.refs.at("v1").is_branch);
  EXPECT_EQ(m.snapshot_for_ref("v1"), m.current_snapshot());
  // Foreign summary keys survive.
  EXPECT_EQ(m.current_snapshot()->summary.at("engine-name"), "spark");
  EXPECT_TRUE(m.current_snapshot()->summary.contains("spark.app.id"));
  EXPECT_EQ(m.current_schema()->fields()[2].type->id, TypeId::kTimestampTz);
}

TEST(TableMetadataJson, SparkV1Golden) {
  TableMetadata m = LoadFixture("spark_v1.metadata.json");
  EXPECT_EQ(m.format_version, 1);
  EXPECT_EQ(m.last_sequence_number, 0);
  ASSERT_EQ(m.snapshots.size(), 2u);
  EXPECT_EQ(m.snapshots[1].sequence_number, 0);
  EXPECT_EQ(m.default_spec()->fields[0].field_id, 1000);
  json written = TableMetadataToJson(m);
  EXPECT_FALSE(written.contains("last-sequence-number"));
  EXPECT_TRUE(written.contains("schema"));
  EXPECT_TRUE(written.contains("partition-spec"));
  EXPECT_FALSE(written["snapshots"][0].contains("sequence-number"));
}

TEST(TableMetadataJson, Lookups) {
  TableMetadata m = LoadFixture("pyiceberg_v2.metadata.json");
  std::vector<const Snapshot*> chain = m.Ancestors(9182384694162101294);
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(chain[0]->snapshot_id, 9182384694162101294);
  EXPECT_EQ(chain[2]->snapshot_id, 997492322307429672);
  EXPECT_TRUE(m.Ancestors(42).empty());
  EXPECT_EQ(m.snapshot_by_id(42), nullptr);
  EXPECT_EQ(m.schema_by_id(7), nullptr);
  EXPECT_EQ(m.spec_by_id(7), nullptr);
  EXPECT_EQ(m.snapshot_for_ref("nope"), nullptr);
  // snapshot-log timestamps: ...119 (first), ...141 (second), ...208 (third).
  EXPECT_EQ(m.snapshot_as_of(1795595664118), nullptr);
  EXPECT_EQ(m.snapshot_as_of(1795595664119)->snapshot_id, 997492322307429672);
  EXPECT_EQ(m.snapshot_as_of(1795595664200)->snapshot_id, 2831459473504951815);
  EXPECT_EQ(m.snapshot_as_of(1795595669999)->snapshot_id, 9182384694162101294);
  m.properties["n"] = "42";
  m.properties["bad"] = "42x";
  EXPECT_EQ(m.PropertyInt("n", 7), 42);
  EXPECT_EQ(m.PropertyInt("bad", 7), 7);
  EXPECT_EQ(m.PropertyInt("missing", 7), 7);
  EXPECT_EQ(m.Property("owner", "x"), "frazil");
  EXPECT_EQ(m.Property("missing", "x"), "x");
}

TEST(TableMetadataJson, AncestorsStopsOnCycle) {
  TableMetadata m;
  m.snapshots.push_back(Snapshot{.snapshot_id = 1, .parent_snapshot_id = 2});
  m.snapshots.push_back(Snapshot{.snapshot_id = 2, .parent_snapshot_id = 1});
  EXPECT_EQ(m.Ancestors(1).size(), 2u);
}

void ExpectCorrupt(const Result<TableMetadata>& m, const std::string& field) {
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().kind, ErrorKind::kCorrupt) << m.error().ToString();
  EXPECT_THAT(m.error().message, HasSubstr(field));
}

TEST(TableMetadataJson, BrokenFixtures) {
  auto truncated = TableMetadataFromJsonString(ReadFixture("broken_truncated.metadata.json"));
  ExpectCorrupt(truncated, "not valid JSON");
  ExpectCorrupt(TableMetadataFromJsonString(ReadFixture("broken_missing_field.metadata.json")),
                "'last-column-id'");
  ExpectCorrupt(TableMetadataFromJsonString(ReadFixture("broken_wrong_type.metadata.json")),
                "'schemas[0].fields[1].id'");
  ExpectCorrupt(TableMetadataFromJsonString(ReadFixture("broken_unknown_snapshot.metadata.json")),
                "'current-snapshot-id'");
}

json Golden() { return json::parse(ReadFixture("pyiceberg_v2.metadata.json")); }

TEST(TableMetadataJson, MalformedFieldsNamed) {
  struct Case {
    std::function<void(json&)> damage;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](json& j) { j.erase("format-version"); }, "'format-version'"},
      {[](json& j) { j.erase("table-uuid"); }, "'table-uuid'"},
      {[](json& j) { j.erase("last-sequence-number"); }, "'last-sequence-number'"},
      {[](json& j) { j["location"] = 5; }, "'location'"},
      {[](json& j) { j["schemas"] = json::object(); }, "'schemas'"},
      {[](json& j) { j["schemas"][1]["fields"][4]["type"]["element-id"] = "x"; },
       "'schemas[1].fields[4].type.element-id'"},
      {[](json& j) { j["schemas"][1]["fields"][5]["type"].erase("value"); },
       "'schemas[1].fields[5].type.value'"},
      {[](json& j) { j["schemas"][0]["fields"][0]["type"] = "varchar"; },
       "'schemas[0].fields[0].type'"},
      {[](json& j) { j["schemas"][0]["fields"][0]["type"] = {{"type", "union"}}; },
       "'schemas[0].fields[0].type.type'"},
      {[](json& j) { j["schemas"][0]["fields"][0]["required"] = "yes"; },
       "'schemas[0].fields[0].required'"},
      {[](json& j) { j["current-schema-id"] = 9; }, "'current-schema-id'"},
      {[](json& j) { j["partition-specs"][1]["fields"][1]["transform"] = "weekly"; },
       "'partition-specs[1].fields[1].transform'"},
      {[](json& j) { j["partition-specs"][0]["fields"][0].erase("name"); },
       "'partition-specs[0].fields[0].name'"},
      {[](json& j) { j["default-spec-id"] = 5; }, "'default-spec-id'"},
      {[](json& j) { j.erase("last-partition-id"); }, "'last-partition-id'"},
      {[](json& j) { j["sort-orders"][0]["fields"][0]["direction"] = "up"; },
       "'sort-orders[0].fields[0].direction'"},
      {[](json& j) { j["sort-orders"][0]["fields"][0]["null-order"] = "first"; },
       "'sort-orders[0].fields[0].null-order'"},
      {[](json& j) { j["default-sort-order-id"] = 3; }, "'default-sort-order-id'"},
      {[](json& j) { j["properties"]["owner"] = 1; }, "'properties.owner'"},
      {[](json& j) { j["snapshots"][2].erase("manifest-list"); }, "'snapshots[2].manifest-list'"},
      {[](json& j) { j["snapshots"][1]["summary"]["added-records"] = 2; },
       "'snapshots[1].summary.added-records'"},
      {[](json& j) { j["snapshots"][0]["snapshot-id"] = 1.5; }, "'snapshots[0].snapshot-id'"},
      {[](json& j) { j["snapshot-log"][0].erase("timestamp-ms"); },
       "'snapshot-log[0].timestamp-ms'"},
      {[](json& j) { j["metadata-log"][0]["metadata-file"] = nullptr; },
       "'metadata-log[0].metadata-file'"},
      {[](json& j) { j["refs"]["main"]["type"] = "trunk"; }, "'refs.main.type'"},
      {[](json& j) { j["statistics"] = json::array({json::object()}); },
       "'statistics[0].snapshot-id'"},
      {[](json& j) { j["last-updated-ms"] = "now"; }, "'last-updated-ms'"},
  };
  for (const Case& c : cases) {
    json j = Golden();
    c.damage(j);
    SCOPED_TRACE(c.field);
    ExpectCorrupt(TableMetadataFromJson(j), c.field);
  }
  json not_object = json::array();
  ExpectCorrupt(TableMetadataFromJson(not_object), "<root>");
}

TEST(TableMetadataJson, UnsupportedFormatVersion) {
  json j = Golden();
  j["format-version"] = 4;
  auto m = TableMetadataFromJson(j);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().kind, ErrorKind::kUnsupported);
}

TEST(TableMetadataJson, NoSnapshotAndReservedProperties) {
  json j = Golden();
  j["current-snapshot-id"] = -1;
  j.erase("refs");
  j["snapshots"] = json::array();
  j["snapshot-log"] = json::array();
  j["properties"]["format-version"] = "2";
  j["properties"]["current-snapshot-id"] = "5";
  j["properties"]["uuid"] = "x";
  auto m = TableMetadataFromJson(j);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_FALSE(m->current_snapshot_id.has_value());
  EXPECT_TRUE(m->refs.empty());
  EXPECT_EQ(m->current_snapshot(), nullptr);
  EXPECT_FALSE(m->properties.contains("format-version"));
  EXPECT_FALSE(m->properties.contains("uuid"));
  m->properties["default-sort-order"] = "x";  // never written even if set in memory
  json written = TableMetadataToJson(*m);
  EXPECT_TRUE(written["current-snapshot-id"].is_null());
  EXPECT_EQ(written["properties"], (json{{"owner", "frazil"}, {"write.format.default", "parquet"}}));
  EXPECT_EQ(written["refs"], json::object());
}

TEST(TableMetadataJson, MissingRefsDeriveMain) {
  json j = Golden();
  j.erase("refs");
  auto m = TableMetadataFromJson(j);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  ASSERT_TRUE(m->refs.contains("main"));
  EXPECT_EQ(m->refs.at("main").snapshot_id, 9182384694162101294);
  EXPECT_TRUE(m->refs.at("main").is_branch);
}

TEST(TableMetadataJson, V1WithoutListsIsUpgraded) {
  json j = json::parse(ReadFixture("spark_v1.metadata.json"));
  j.erase("schemas");
  j.erase("current-schema-id");
  j.erase("partition-specs");
  j.erase("default-spec-id");
  j.erase("last-partition-id");
  j.erase("sort-orders");
  j.erase("default-sort-order-id");
  j.erase("refs");
  j.erase("table-uuid");
  for (json& f : j["partition-spec"]) f.erase("field-id");
  auto m = TableMetadataFromJson(j);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  ASSERT_EQ(m->schemas.size(), 1u);
  EXPECT_EQ(m->current_schema()->fields().size(), 2u);
  ASSERT_EQ(m->partition_specs.size(), 1u);
  EXPECT_EQ(m->default_spec()->fields[0].field_id, 1000);
  EXPECT_EQ(m->last_partition_id, 1000);
  ASSERT_EQ(m->sort_orders.size(), 1u);
  EXPECT_EQ(m->default_sort_order_id, 0);
  EXPECT_EQ(m->refs.at("main").snapshot_id, *m->current_snapshot_id);
  EXPECT_TRUE(m->table_uuid.empty());
  json written = TableMetadataToJson(*m);
  EXPECT_FALSE(written.contains("table-uuid"));
  // A v2 table must have a uuid.
  json v2 = Golden();
  v2.erase("table-uuid");
  EXPECT_FALSE(TableMetadataFromJson(v2).has_value());
}

TEST(TypeJson, PrimitiveAndNested) {
  auto decimal = TypeFromJson("decimal(9, 2)");
  ASSERT_TRUE(decimal.has_value()) << decimal.error().ToString();
  EXPECT_EQ(TypeToJson(**decimal), "decimal(9, 2)");
  json map = {{"type", "map"},
              {"key-id", 3},
              {"key", "string"},
              {"value-id", 4},
              {"value",
               {{"type", "list"}, {"element-id", 5}, {"element", "fixed[16]"},
                {"element-required", true}}},
              {"value-required", false}};
  auto type = TypeFromJson(map);
  ASSERT_TRUE(type.has_value()) << type.error().ToString();
  EXPECT_EQ((*type)->value().type->element().type->length, 16);
  EXPECT_TRUE((*type)->value().type->element().required);
  EXPECT_EQ(TypeToJson(**type), map);

  json strct = {{"type", "struct"},
                {"fields",
                 {{{"id", 1}, {"name", "a"}, {"required", false}, {"type", "int"},
                   {"doc", "the a"}, {"initial-default", 34}, {"write-default", 35}}}}};
  auto st = TypeFromJson(strct);
  ASSERT_TRUE(st.has_value()) << st.error().ToString();
  ASSERT_TRUE((*st)->fields[0].initial_default);
  EXPECT_EQ(*(*st)->fields[0].initial_default, 34);
  EXPECT_EQ(TypeToJson(**st), strct);

  auto bad = TypeFromJson({{"type", "list"}, {"element-id", 1}, {"element", "int"}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().kind, ErrorKind::kCorrupt);
  EXPECT_THAT(bad.error().message, HasSubstr("element-required"));
  EXPECT_FALSE(TypeFromJson(42).has_value());
}

TEST(SchemaJson, RoundTripAndIdentifierFields) {
  json j = {{"type", "struct"},
            {"schema-id", 3},
            {"identifier-field-ids", {1}},
            {"fields", {{{"id", 1}, {"name", "id"}, {"required", true}, {"type", "long"}}}}};
  auto s = SchemaFromJson(j);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  EXPECT_EQ(s->schema_id(), 3);
  EXPECT_EQ(SchemaToJson(*s), j);
  j.erase("identifier-field-ids");
  auto plain = SchemaFromJson(j);
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE(SchemaToJson(*plain).contains("identifier-field-ids"));
  j["type"] = "list";
  EXPECT_FALSE(SchemaFromJson(j).has_value());
}

TEST(SpecAndOrderJson, RoundTrip) {
  json spec = {{"spec-id", 2},
               {"fields",
                {{{"source-id", 1}, {"field-id", 1003}, {"name", "b"}, {"transform", "bucket[16]"}},
                 {{"source-id", 2}, {"field-id", 1004}, {"name", "t"}, {"transform", "truncate[4]"}}}}};
  auto s = PartitionSpecFromJson(spec);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  EXPECT_EQ(s->fields[0].transform.param, 16);
  EXPECT_EQ(PartitionSpecToJson(*s), spec);

  json order = {{"order-id", 1},
                {"fields",
                 {{{"transform", "identity"}, {"source-id", 1}, {"direction", "asc"},
                   {"null-order", "nulls-last"}}}}};
  auto o = SortOrderFromJson(order);
  ASSERT_TRUE(o.has_value()) << o.error().ToString();
  EXPECT_TRUE(o->fields[0].ascending);
  EXPECT_FALSE(o->fields[0].nulls_first);
  EXPECT_EQ(SortOrderToJson(*o), order);
  order.erase("order-id");
  EXPECT_FALSE(SortOrderFromJson(order).has_value());
}

TEST(SnapshotJson, RoundTripAndRefs) {
  json snap = {{"snapshot-id", 5},
               {"parent-snapshot-id", 4},
               {"sequence-number", 7},
               {"timestamp-ms", 1000},
               {"manifest-list", "s3://b/m.avro"},
               {"summary", {{"operation", "append"}, {"frazil.lsn", "0/16B3748"}}},
               {"schema-id", 1},
               {"first-row-id", 10},
               {"added-rows", 3}};
  auto s = SnapshotFromJson(snap);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  EXPECT_EQ(s->operation(), "append");
  EXPECT_EQ(s->summary.at("frazil.lsn"), "0/16B3748");
  EXPECT_EQ(SnapshotToJson(*s), snap);
  EXPECT_EQ(Snapshot{}.operation(), "");

  json ref = {{"snapshot-id", 5}, {"type", "tag"}, {"max-ref-age-ms", 100},
              {"min-snapshots-to-keep", 2}, {"max-snapshot-age-ms", 50}};
  auto r = SnapshotRefFromJson(ref);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_FALSE(r->is_branch);
  EXPECT_EQ(r->min_snapshots_to_keep, 2);
  EXPECT_EQ(SnapshotRefToJson(*r), ref);
  ref.erase("snapshot-id");
  EXPECT_FALSE(SnapshotRefFromJson(ref).has_value());
}

}  // namespace
}  // namespace frazil::iceberg
