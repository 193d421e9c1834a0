#include "frazil/iceberg/manifest.h"

#include <gtest/gtest.h>

#include "frazil/iceberg/test_util.h"

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "frazil/iceberg/avro.h"
#include "frazil/iceberg/table_metadata.h"

namespace frazil::iceberg {
namespace {

using testing::Field;

std::string ReadResource(const std::string& rel) {
  std::ifstream in(std::string(FRAZIL_TEST_RESOURCES) + "/" + rel, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes `bytes` to $FRAZIL_AVRO_DUMP_DIR/<name> when set, for checking with PyIceberg
// (tests/interop/check_frazil_avro.py).
void MaybeDump(const std::string& name, const std::string& bytes) {
  if (const char* dir = std::getenv("FRAZIL_AVRO_DUMP_DIR")) {
    std::ofstream(std::string(dir) + "/" + name, std::ios::binary) << bytes;
  }
}

Schema WideSchema() {
  return Schema(
      3, {Field(1, "id", Primitive(TypeId::kLong), true), Field(2, "i", Primitive(TypeId::kInt)),
          Field(3, "d", Primitive(TypeId::kDate)), Field(4, "ts", Primitive(TypeId::kTimestamp)),
          Field(5, "tstz", Primitive(TypeId::kTimestampTz)), Field(6, "s", Primitive(TypeId::kString)),
          Field(7, "bin", Primitive(TypeId::kBinary)), Field(8, "fx", Fixed(3)),
          Field(9, "u", Primitive(TypeId::kUuid)), Field(10, "dec", Decimal(10, 2)),
          Field(11, "b", Primitive(TypeId::kBoolean)), Field(12, "f", Primitive(TypeId::kFloat)),
          Field(13, "dbl", Primitive(TypeId::kDouble)), Field(14, "t", Primitive(TypeId::kTime))});
}

PartitionSpec WideSpec() {
  PartitionSpec spec;
  spec.spec_id = 2;
  const std::pair<int, const char*> identity[] = {
      {2, "i"}, {3, "d"},    {4, "ts"}, {5, "tstz"}, {6, "s"},    {7, "bin"}, {8, "fx"},
      {9, "u"}, {10, "dec"}, {11, "b"}, {12, "f"},   {13, "dbl"}, {14, "t"}};
  int next = 1000;
  for (const auto& [source, name] : identity) {
    spec.fields.push_back(
        PartitionField{source, next++, name, Transform{TransformKind::kIdentity, 0}});
  }
  spec.fields.push_back(
      PartitionField{1, next++, "id_bucket", Transform{TransformKind::kBucket, 16}});
  return spec;
}

std::vector<Datum> WidePartition(int k) {
  return {Datum(int32_t{-5 + k}),
          Datum(int32_t{17486}),
          Datum(int64_t{1510871468000001}),
          Datum(int64_t{-1}),
          Datum(std::string("s") + std::to_string(k)),
          Datum(Bytes{std::string("\x00\x01", 2)}),
          Datum(Bytes{"abc"}),
          Datum(Bytes{std::string(16, '\x7f')}),
          Datum(Decimal128{k == 0 ? -1420 : 99999999}),
          Datum(true),
          Datum(1.25f),
          Datum(k == 0 ? std::nan("") : -0.5),
          Datum(int64_t{3600000000}),
          Datum(int32_t{7})};
}

ManifestEntry WideEntry(int k) {
  ManifestEntry e;
  e.status = k == 0 ? EntryStatus::kAdded : EntryStatus::kExisting;
  if (k != 0) {
    e.snapshot_id = 42;
    e.sequence_number = 3;
    e.file_sequence_number = 4;
  }
  DataFile& df = e.data_file;
  df.file_path = "s3://b/t/data/f" + std::to_string(k) + ".parquet";
  df.partition = WidePartition(k);
  df.record_count = 100 + k;
  df.file_size_in_bytes = 4096;
  df.column_sizes = {{1, 10}, {6, 20}};
  df.value_counts = {{1, 100}};
  df.null_value_counts = {{1, 0}, {6, 3}};
  df.nan_value_counts = {{13, 1}};
  df.lower_bounds = {{1, std::string("\x01\0\0\0\0\0\0\0", 8)}};
  df.upper_bounds = {{1, std::string("\x09\0\0\0\0\0\0\0", 8)}, {6, "zz"}};
  df.key_metadata = k == 0 ? std::optional<std::string>("km") : std::nullopt;
  df.split_offsets = {4, 1 << 20};
  df.sort_order_id = 0;
  return e;
}

TEST(Manifest, RoundTripsEveryPartitionTypeAndField) {
  ManifestContext ctx{2, WideSchema(), WideSpec(), ManifestContent::kData};
  std::vector<ManifestEntry> entries = {WideEntry(0), WideEntry(1)};
  entries[1].data_file.partition[13] = Datum();  // null bucket
  auto bytes = WriteManifest(ctx, entries);
  ASSERT_TRUE(bytes.has_value()) << bytes.error().ToString();
  MaybeDump("frazil_manifest.avro", *bytes);

  auto read = ReadManifest(*bytes, ctx.schema, ctx.spec);
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  ASSERT_EQ(read->size(), 2u);
  const ManifestEntry& a = (*read)[0];
  EXPECT_EQ(a.status, EntryStatus::kAdded);
  EXPECT_EQ(a.snapshot_id, std::nullopt);
  EXPECT_EQ(a.sequence_number, std::nullopt);
  EXPECT_EQ(a.data_file.content, FileContent::kData);
  EXPECT_EQ(a.data_file.file_path, "s3://b/t/data/f0.parquet");
  EXPECT_EQ(a.data_file.file_format, "PARQUET");
  EXPECT_EQ(a.data_file.record_count, 100);
  EXPECT_EQ(a.data_file.file_size_in_bytes, 4096);
  EXPECT_EQ(a.data_file.column_sizes, entries[0].data_file.column_sizes);
  EXPECT_EQ(a.data_file.value_counts, entries[0].data_file.value_counts);
  EXPECT_EQ(a.data_file.null_value_counts, entries[0].data_file.null_value_counts);
  EXPECT_EQ(a.data_file.nan_value_counts, entries[0].data_file.nan_value_counts);
  EXPECT_EQ(a.data_file.lower_bounds, entries[0].data_file.lower_bounds);
  EXPECT_EQ(a.data_file.upper_bounds, entries[0].data_file.upper_bounds);
  EXPECT_EQ(a.data_file.key_metadata, "km");
  EXPECT_EQ(a.data_file.split_offsets, (std::vector<int64_t>{4, 1 << 20}));
  EXPECT_TRUE(a.data_file.equality_ids.empty());
  EXPECT_EQ(a.data_file.sort_order_id, 0);
  EXPECT_EQ(a.data_file.referenced_data_file, std::nullopt);
  ASSERT_EQ(a.data_file.partition.size(), 14u);
  for (size_t i = 0; i < 14; ++i) {
    if (i == 11) {
      ASSERT_TRUE(std::holds_alternative<double>(a.data_file.partition[i]));
      EXPECT_TRUE(std::isnan(std::get<double>(a.data_file.partition[i])));
    } else {
      EXPECT_EQ(a.data_file.partition[i], entries[0].data_file.partition[i])
          << "partition field " << i;
    }
  }
  const ManifestEntry& b = (*read)[1];
  EXPECT_EQ(b.status, EntryStatus::kExisting);
  EXPECT_EQ(b.snapshot_id, 42);
  EXPECT_EQ(b.sequence_number, 3);
  EXPECT_EQ(b.file_sequence_number, 4);
  EXPECT_EQ(b.data_file.key_metadata, std::nullopt);
  EXPECT_EQ(b.data_file.partition[8], Datum(Decimal128{99999999}));
  EXPECT_TRUE(IsNull(b.data_file.partition[13]));
}

TEST(Manifest, HeaderAndAvroSchemaCarryIcebergIds) {
  ManifestContext ctx{2, WideSchema(), WideSpec(), ManifestContent::kData};
  auto bytes = WriteManifest(ctx, {WideEntry(0)});
  ASSERT_TRUE(bytes.has_value());
  auto file = avro::ReadAvroFile(*bytes);
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->codec, avro::AvroCodec::kDeflate);
  EXPECT_EQ(file->metadata.at("format-version"), "2");
  EXPECT_EQ(file->metadata.at("content"), "data");
  EXPECT_EQ(file->metadata.at("schema-id"), "3");
  EXPECT_EQ(file->metadata.at("partition-spec-id"), "2");
  auto spec_json = nlohmann::json::parse(file->metadata.at("partition-spec"));
  ASSERT_TRUE(spec_json.is_array());
  ASSERT_EQ(spec_json.size(), 14u);
  EXPECT_EQ(spec_json[13]["transform"], "bucket[16]");
  EXPECT_EQ(spec_json[13]["field-id"], 1013);
  auto schema_json = nlohmann::json::parse(file->metadata.at("schema"));
  EXPECT_EQ(schema_json["fields"].size(), 14u);

  const avro::AvroSchema& s = *file->schema;
  EXPECT_EQ(s.name, "manifest_entry");
  std::vector<std::pair<std::string, int>> top = {{"status", 0},
                                                  {"snapshot_id", 1},
                                                  {"sequence_number", 3},
                                                  {"file_sequence_number", 4},
                                                  {"data_file", 2}};
  ASSERT_EQ(s.fields.size(), top.size());
  for (size_t i = 0; i < top.size(); ++i) {
    EXPECT_EQ(s.fields[i].name, top[i].first);
    EXPECT_EQ(s.fields[i].field_id, top[i].second);
  }
  const avro::AvroSchema& df = *s.fields[4].type;
  EXPECT_EQ(df.name, "r2");
  const std::vector<std::pair<std::string, int>> ids = {
      {"content", 134},          {"file_path", 100},           {"file_format", 101},
      {"partition", 102},        {"record_count", 103},        {"file_size_in_bytes", 104},
      {"column_sizes", 108},     {"value_counts", 109},        {"null_value_counts", 110},
      {"nan_value_counts", 137}, {"lower_bounds", 125},        {"upper_bounds", 128},
      {"key_metadata", 131},     {"split_offsets", 132},       {"equality_ids", 135},
      {"sort_order_id", 140},    {"referenced_data_file", 143}};
  ASSERT_EQ(df.fields.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(df.fields[i].name, ids[i].first);
    EXPECT_EQ(df.fields[i].field_id, ids[i].second) << ids[i].first;
  }
  EXPECT_EQ(df.fields[0].type->type, avro::AvroType::kInt);  // content required in v2
  const avro::AvroSchema& sizes = *df.fields[6].type->branches[1];
  EXPECT_EQ(sizes.logical_type, "map");
  EXPECT_EQ(sizes.items->name, "k117_v118");
  EXPECT_EQ(sizes.items->fields[0].field_id, 117);
  EXPECT_EQ(sizes.items->fields[1].field_id, 118);
  EXPECT_EQ(df.fields[13].type->branches[1]->element_id, 133);
  EXPECT_EQ(df.fields[14].type->branches[1]->element_id, 136);

  const avro::AvroSchema& part = *df.fields[3].type;
  EXPECT_EQ(part.name, "r102");
  ASSERT_EQ(part.fields.size(), 14u);
  for (size_t i = 0; i < part.fields.size(); ++i) {
    EXPECT_EQ(part.fields[i].field_id, 1000 + static_cast<int>(i));
    EXPECT_EQ(part.fields[i].type->NullBranch(), 0);  // all optional
    EXPECT_EQ(part.fields[i].default_json, "null");
  }
  auto branch = [&](size_t i) { return part.fields[i].type->branches[1]; };
  EXPECT_EQ(branch(1)->logical_type, "date");
  EXPECT_EQ(branch(2)->logical_type, "timestamp-micros");
  EXPECT_EQ(branch(2)->adjust_to_utc, false);
  EXPECT_EQ(branch(3)->adjust_to_utc, true);
  EXPECT_EQ(branch(5)->type, avro::AvroType::kBytes);
  EXPECT_EQ(branch(6)->type, avro::AvroType::kFixed);
  EXPECT_EQ(branch(6)->size, 3);
  EXPECT_EQ(branch(7)->logical_type, "uuid");
  EXPECT_EQ(branch(7)->size, 16);
  EXPECT_EQ(branch(8)->logical_type, "decimal");
  EXPECT_EQ(branch(8)->size, 5);  // decimal(10, 2): minimal bytes
  EXPECT_EQ(branch(8)->precision, 10);
  EXPECT_EQ(branch(12)->logical_type, "time-micros");
  EXPECT_EQ(branch(13)->type, avro::AvroType::kInt);  // bucket result
}

TEST(Manifest, DeleteManifestsAndValidation) {
  ManifestContext ctx{2, WideSchema(), PartitionSpec{}, ManifestContent::kDeletes};
  ManifestEntry e;
  e.data_file.content = FileContent::kPositionDeletes;
  e.data_file.file_path = "/d/pos.parquet";
  e.data_file.record_count = 3;
  e.data_file.referenced_data_file = "/d/data.parquet";
  ManifestEntry eq = e;
  eq.data_file.content = FileContent::kEqualityDeletes;
  eq.data_file.equality_ids = {1, 6};
  auto bytes = WriteManifest(ctx, {e, eq});
  ASSERT_TRUE(bytes.has_value()) << bytes.error().ToString();
  auto file = avro::ReadAvroFile(*bytes);
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->metadata.at("content"), "deletes");
  EXPECT_EQ(file->metadata.at("partition-spec"), "[]");
  auto read = ReadManifest(*bytes, ctx.schema, ctx.spec);
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0].data_file.content, FileContent::kPositionDeletes);
  EXPECT_EQ((*read)[0].data_file.referenced_data_file, "/d/data.parquet");
  EXPECT_EQ((*read)[1].data_file.content, FileContent::kEqualityDeletes);
  EXPECT_EQ((*read)[1].data_file.equality_ids, (std::vector<int>{1, 6}));

  // A data file in a delete manifest.
  ManifestEntry data = e;
  data.data_file.content = FileContent::kData;
  auto wrong = WriteManifest(ctx, {data});
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().kind, ErrorKind::kInvalidArgument);
  // A partition tuple that does not match the spec.
  ManifestContext data_ctx{2, WideSchema(), WideSpec(), ManifestContent::kData};
  ManifestEntry short_tuple = WideEntry(0);
  short_tuple.data_file.partition.pop_back();
  EXPECT_EQ(WriteManifest(data_ctx, {short_tuple}).error().kind, ErrorKind::kInvalidArgument);
  ManifestEntry wrong_type = WideEntry(0);
  wrong_type.data_file.partition[0] = Datum(std::string("x"));
  EXPECT_EQ(WriteManifest(data_ctx, {wrong_type}).error().kind, ErrorKind::kInvalidArgument);
  ManifestEntry big_decimal = WideEntry(0);
  big_decimal.data_file.partition[8] = Datum(Decimal128{static_cast<__int128>(1) << 40});
  EXPECT_EQ(WriteManifest(data_ctx, {big_decimal}).error().kind, ErrorKind::kInvalidArgument);
}

TEST(Manifest, TruncatedManifestIsCorrupt) {
  ManifestContext ctx{2, WideSchema(), WideSpec(), ManifestContent::kData};
  auto bytes = WriteManifest(ctx, {WideEntry(0), WideEntry(1)});
  ASSERT_TRUE(bytes.has_value());
  for (size_t cut : {size_t{0}, size_t{3}, bytes->size() / 2, bytes->size() - 1}) {
    auto r = ReadManifest(std::string_view(*bytes).substr(0, cut), ctx.schema, ctx.spec);
    ASSERT_FALSE(r.has_value()) << cut;
    EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt) << r.error().ToString();
  }
}

TEST(Manifest, InheritsSnapshotAndSequenceNumbers) {
  ManifestFile m;
  m.added_snapshot_id = 77;
  m.sequence_number = 9;
  std::vector<ManifestEntry> entries = {WideEntry(0), WideEntry(1)};
  ManifestEntry added_no_seq = WideEntry(0);
  added_no_seq.snapshot_id = 77;
  entries.push_back(added_no_seq);
  InheritManifestValues(m, &entries);
  EXPECT_EQ(entries[0].snapshot_id, 77);
  EXPECT_EQ(entries[0].sequence_number, 9);
  EXPECT_EQ(entries[0].file_sequence_number, 9);
  EXPECT_EQ(entries[1].snapshot_id, 42);  // explicit values stay
  EXPECT_EQ(entries[1].sequence_number, 3);
  EXPECT_EQ(entries[1].file_sequence_number, 4);
  EXPECT_EQ(entries[2].sequence_number, 9);
}

// A v1 manifest (no content, no sequence numbers, block_size_in_bytes present, an unknown
// extra field) as older Java writers produce it.
TEST(Manifest, ReadsV1Manifests) {
  const std::string schema = R"({"type":"record","name":"manifest_entry","fields":[
    {"name":"status","type":"int","field-id":0},
    {"name":"snapshot_id","type":"long","field-id":1},
    {"name":"data_file","field-id":2,"type":{"type":"record","name":"r2","fields":[
      {"name":"file_path","type":"string","field-id":100},
      {"name":"file_format","type":"string","field-id":101},
      {"name":"partition","field-id":102,"type":{"type":"record","name":"r102","fields":[
        {"name":"renamed","type":["null","int"],"default":null,"field-id":1000}]}},
      {"name":"record_count","type":"long","field-id":103},
      {"name":"file_size_in_bytes","type":"long","field-id":104},
      {"name":"block_size_in_bytes","type":"long","field-id":105},
      {"name":"something_new","type":["null","string"],"default":null}]}}]})";
  auto writer =
      avro::AvroFileWriter::Make(schema, {{"format-version", "1"}}, avro::AvroCodec::kNull);
  ASSERT_TRUE(writer.has_value());
  using avro::AvroValue;
  AvroValue part = AvroValue::Record().Add("renamed", AvroValue::Int(5));
  AvroValue df = AvroValue::Record()
                     .Add("file_path", AvroValue::String("/x.parquet"))
                     .Add("file_format", AvroValue::String("PARQUET"))
                     .Add("partition", part)
                     .Add("record_count", AvroValue::Long(3))
                     .Add("file_size_in_bytes", AvroValue::Long(30))
                     .Add("block_size_in_bytes", AvroValue::Long(67108864))
                     .Add("something_new", AvroValue::String("?"));
  ASSERT_TRUE(writer
                  ->Append(AvroValue::Record()
                               .Add("status", AvroValue::Int(0))
                               .Add("snapshot_id", AvroValue::Long(5))
                               .Add("data_file", df))
                  .has_value());
  auto bytes = writer->Finish();
  ASSERT_TRUE(bytes.has_value());
  Schema table(0, {Field(1, "x", Primitive(TypeId::kInt))});
  PartitionSpec spec{0, {PartitionField{1, 1000, "x", Transform{}}}};
  auto read = ReadManifest(*bytes, table, spec);
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  ASSERT_EQ(read->size(), 1u);
  const ManifestEntry& e = (*read)[0];
  EXPECT_EQ(e.status, EntryStatus::kExisting);
  EXPECT_EQ(e.snapshot_id, 5);
  EXPECT_EQ(e.sequence_number, std::nullopt);
  EXPECT_EQ(e.data_file.content, FileContent::kData);
  ASSERT_EQ(e.data_file.partition.size(), 1u);
  EXPECT_EQ(e.data_file.partition[0], Datum(int32_t{5}));  // matched by field id
  EXPECT_EQ(e.data_file.record_count, 3);
  ManifestFile v1_list_entry;  // v1: sequence number 0
  v1_list_entry.added_snapshot_id = 5;
  InheritManifestValues(v1_list_entry, &*read);
  EXPECT_EQ((*read)[0].sequence_number, 0);
}

ManifestFile SampleManifestFile(int k) {
  ManifestFile m;
  m.manifest_path = "s3://b/t/metadata/m" + std::to_string(k) + ".avro";
  m.manifest_length = 5000 + k;
  m.partition_spec_id = 2;
  m.content = k == 0 ? ManifestContent::kData : ManifestContent::kDeletes;
  m.sequence_number = 7;
  m.min_sequence_number = 3;
  m.added_snapshot_id = 1234567890123;
  m.added_files_count = 1;
  m.existing_files_count = 2;
  m.deleted_files_count = 3;
  m.added_rows_count = 10;
  m.existing_rows_count = 20;
  m.deleted_rows_count = 30;
  m.partitions = {PartitionFieldSummary{false, false, std::string("a"), std::string("z")},
                  PartitionFieldSummary{true, std::nullopt, std::nullopt, std::nullopt}};
  if (k == 1) m.key_metadata = "key";
  return m;
}

TEST(ManifestList, RoundTripsWithHeader) {
  std::vector<ManifestFile> manifests = {SampleManifestFile(0), SampleManifestFile(1)};
  auto bytes = WriteManifestList(2, 99, std::nullopt, 7, manifests);
  ASSERT_TRUE(bytes.has_value()) << bytes.error().ToString();
  MaybeDump("frazil_manifest_list.avro", *bytes);
  auto file = avro::ReadAvroFile(*bytes);
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->metadata.at("snapshot-id"), "99");
  EXPECT_EQ(file->metadata.at("parent-snapshot-id"), "null");
  EXPECT_EQ(file->metadata.at("sequence-number"), "7");
  EXPECT_EQ(file->metadata.at("format-version"), "2");
  const avro::AvroSchema& s = *file->schema;
  EXPECT_EQ(s.name, "manifest_file");
  const int added = s.FieldIndex("added_snapshot_id");
  ASSERT_GE(added, 0);
  EXPECT_EQ(s.fields[added].field_id, 503);
  EXPECT_EQ(s.fields[added].type->type, avro::AvroType::kLong);  // required
  const avro::AvroSchema& parts = *s.fields[s.FieldIndex("partitions")].type->branches[1];
  EXPECT_EQ(parts.element_id, 508);
  EXPECT_EQ(parts.items->name, "r508");
  EXPECT_EQ(parts.items->fields[0].field_id, 509);
  EXPECT_EQ(parts.items->fields[0].type->type, avro::AvroType::kBoolean);
  EXPECT_EQ(parts.items->fields[1].field_id, 518);
  EXPECT_EQ(s.fields[s.FieldIndex("key_metadata")].field_id, 519);
  EXPECT_EQ(s.FieldIndex("first_row_id"), -1);  // v3 only

  auto read = ReadManifestList(*bytes);
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  ASSERT_EQ(read->size(), 2u);
  for (int k = 0; k < 2; ++k) {
    const ManifestFile& m = (*read)[k];
    const ManifestFile want = SampleManifestFile(k);
    EXPECT_EQ(m.manifest_path, want.manifest_path);
    EXPECT_EQ(m.manifest_length, want.manifest_length);
    EXPECT_EQ(m.partition_spec_id, 2);
    EXPECT_EQ(m.content, want.content);
    EXPECT_EQ(m.sequence_number, 7);
    EXPECT_EQ(m.min_sequence_number, 3);
    EXPECT_EQ(m.added_snapshot_id, 1234567890123);
    EXPECT_EQ(m.added_files_count, 1);
    EXPECT_EQ(m.existing_files_count, 2);
    EXPECT_EQ(m.deleted_files_count, 3);
    EXPECT_EQ(m.added_rows_count, 10);
    EXPECT_EQ(m.existing_rows_count, 20);
    EXPECT_EQ(m.deleted_rows_count, 30);
    EXPECT_EQ(m.key_metadata, want.key_metadata);
    ASSERT_EQ(m.partitions.size(), 2u);
    EXPECT_FALSE(m.partitions[0].contains_null);
    EXPECT_EQ(m.partitions[0].contains_nan, false);
    EXPECT_EQ(m.partitions[0].lower_bound, "a");
    EXPECT_EQ(m.partitions[0].upper_bound, "z");
    EXPECT_TRUE(m.partitions[1].contains_null);
    EXPECT_EQ(m.partitions[1].contains_nan, std::nullopt);
    EXPECT_EQ(m.partitions[1].lower_bound, std::nullopt);
  }

  auto with_parent = WriteManifestList(3, 100, 99, 8, manifests);
  ASSERT_TRUE(with_parent.has_value());
  auto file3 = avro::ReadAvroFile(*with_parent);
  ASSERT_TRUE(file3.has_value());
  EXPECT_EQ(file3->metadata.at("parent-snapshot-id"), "99");
  EXPECT_EQ(file3->metadata.at("format-version"), "3");
  EXPECT_EQ(file3->schema->fields[file3->schema->FieldIndex("first_row_id")].field_id, 520);

  auto truncated = ReadManifestList(std::string_view(*bytes).substr(0, bytes->size() - 5));
  ASSERT_FALSE(truncated.has_value());
  EXPECT_EQ(truncated.error().kind, ErrorKind::kCorrupt);
}

TEST(ManifestList, SummarizesPartitions) {
  Schema schema(0, {Field(1, "id", Primitive(TypeId::kLong)), Field(2, "s", Primitive(TypeId::kString)),
                    Field(3, "x", Primitive(TypeId::kDouble))});
  PartitionSpec spec{
      0,
      {PartitionField{2, 1000, "s", Transform{}}, PartitionField{3, 1001, "x", Transform{}},
       PartitionField{1, 1002, "b", Transform{TransformKind::kBucket, 4}}}};
  auto entry = [](Datum s, Datum x, Datum b) {
    ManifestEntry e;
    e.data_file.partition = {std::move(s), std::move(x), std::move(b)};
    return e;
  };
  std::vector<ManifestEntry> entries = {
      entry(Datum(std::string("m")), Datum(2.0), Datum(int32_t{3})),
      entry(Datum(std::string("c")), Datum(std::nan("")), Datum()),
      entry(Datum(std::string("x")), Datum(-1.0), Datum(int32_t{0}))};
  auto summary = SummarizePartitions(spec, schema, entries);
  ASSERT_TRUE(summary.has_value()) << summary.error().ToString();
  ASSERT_EQ(summary->size(), 3u);
  EXPECT_FALSE((*summary)[0].contains_null);
  EXPECT_EQ((*summary)[0].contains_nan, false);
  EXPECT_EQ((*summary)[0].lower_bound, "c");
  EXPECT_EQ((*summary)[0].upper_bound, "x");
  EXPECT_EQ((*summary)[1].contains_nan, true);
  auto minus_one = EncodeBound(*Primitive(TypeId::kDouble), Datum(-1.0));
  ASSERT_TRUE(minus_one.has_value());
  EXPECT_EQ((*summary)[1].lower_bound, *minus_one);
  EXPECT_TRUE((*summary)[2].contains_null);
  EXPECT_EQ((*summary)[2].lower_bound, std::string("\0\0\0\0", 4));
  EXPECT_EQ((*summary)[2].upper_bound, std::string("\x03\0\0\0", 4));

  entries[0].data_file.partition.pop_back();
  EXPECT_FALSE(SummarizePartitions(spec, schema, entries).has_value());
}

// Golden files written by PyIceberg 0.12 (tests/resources/avro/make_fixtures.py).
TEST(ManifestGolden, ReadsPyIcebergManifestAndList) {
  auto metadata = TableMetadataFromJsonString(ReadResource("avro/pyiceberg_metadata.json"));
  ASSERT_TRUE(metadata.has_value()) << metadata.error().ToString();
  const Schema* schema = metadata->current_schema();
  const PartitionSpec* spec = metadata->default_spec();
  ASSERT_NE(schema, nullptr);
  ASSERT_NE(spec, nullptr);
  ASSERT_EQ(metadata->snapshots.size(), 1u);
  const int64_t snapshot_id = metadata->snapshots[0].snapshot_id;
  EXPECT_EQ(snapshot_id, 7528797929106144764);

  auto list = ReadManifestList(ReadResource("avro/pyiceberg_manifest_list.avro"));
  ASSERT_TRUE(list.has_value()) << list.error().ToString();
  ASSERT_EQ(list->size(), 1u);
  const ManifestFile& mf = (*list)[0];
  EXPECT_TRUE(mf.manifest_path.ends_with("-m0.avro")) << mf.manifest_path;
  EXPECT_EQ(mf.manifest_length, 4860);
  EXPECT_EQ(mf.partition_spec_id, 0);
  EXPECT_EQ(mf.content, ManifestContent::kData);
  EXPECT_EQ(mf.sequence_number, 1);
  EXPECT_EQ(mf.min_sequence_number, 1);
  EXPECT_EQ(mf.added_snapshot_id, snapshot_id);
  EXPECT_EQ(mf.added_files_count, 1);
  EXPECT_EQ(mf.existing_files_count, 0);
  EXPECT_EQ(mf.added_rows_count, 2);
  ASSERT_EQ(mf.partitions.size(), 2u);
  EXPECT_FALSE(mf.partitions[0].contains_null);
  EXPECT_EQ(mf.partitions[0].contains_nan, false);
  EXPECT_EQ(mf.partitions[0].lower_bound, "iceberg");
  EXPECT_EQ(mf.partitions[1].upper_bound, std::string("ND\0\0", 4));  // 17486 = 2017-11-16

  const std::string manifest_bytes = ReadResource("avro/pyiceberg_manifest.avro");
  ASSERT_EQ(static_cast<int64_t>(manifest_bytes.size()), mf.manifest_length);
  auto entries = ReadManifest(manifest_bytes, *schema, *spec);
  ASSERT_TRUE(entries.has_value()) << entries.error().ToString();
  ASSERT_EQ(entries->size(), 1u);
  const ManifestEntry& e = (*entries)[0];
  EXPECT_EQ(e.status, EntryStatus::kAdded);
  EXPECT_EQ(e.sequence_number, std::nullopt);  // inherited
  const DataFile& df = e.data_file;
  EXPECT_EQ(df.content, FileContent::kData);
  EXPECT_NE(df.file_path.find("/data/category=iceberg/d=2017-11-16/"), std::string::npos)
      << df.file_path;
  EXPECT_EQ(df.file_format, "PARQUET");
  ASSERT_EQ(df.partition.size(), 2u);
  EXPECT_EQ(df.partition[0], Datum(std::string("iceberg")));
  EXPECT_EQ(df.partition[1], Datum(int32_t{17486}));
  EXPECT_EQ(df.record_count, 2);
  EXPECT_EQ(df.file_size_in_bytes, 2036);
  EXPECT_EQ(df.value_counts.at(1), 2);
  EXPECT_EQ(df.null_value_counts.at(2), 0);
  EXPECT_EQ(df.lower_bounds.at(1), std::string("\x22\0\0\0\0\0\0\0", 8));  // 34
  EXPECT_EQ(df.upper_bounds.at(1), std::string("\x23\0\0\0\0\0\0\0", 8));  // 35
  EXPECT_EQ(df.lower_bounds.at(2), "iceberg");
  EXPECT_EQ(df.split_offsets, std::vector<int64_t>{4});
  EXPECT_EQ(df.sort_order_id, std::nullopt);

  std::vector<ManifestEntry> inherited = *entries;
  InheritManifestValues(mf, &inherited);
  EXPECT_EQ(inherited[0].sequence_number, 1);
  EXPECT_EQ(inherited[0].snapshot_id, snapshot_id);

  // Our summary of PyIceberg's entries equals the summary PyIceberg wrote.
  auto summary = SummarizePartitions(*spec, *schema, *entries);
  ASSERT_TRUE(summary.has_value()) << summary.error().ToString();
  ASSERT_EQ(summary->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ((*summary)[i].contains_null, mf.partitions[i].contains_null);
    EXPECT_EQ((*summary)[i].lower_bound, mf.partitions[i].lower_bound);
    EXPECT_EQ((*summary)[i].upper_bound, mf.partitions[i].upper_bound);
  }

  // Rewriting PyIceberg's entries with frazil and reading them back gives the same data.
  ManifestContext ctx{2, *schema, *spec, ManifestContent::kData};
  auto rewritten = WriteManifest(ctx, *entries);
  ASSERT_TRUE(rewritten.has_value()) << rewritten.error().ToString();
  auto reread = ReadManifest(*rewritten, *schema, *spec);
  ASSERT_TRUE(reread.has_value());
  EXPECT_EQ((*reread)[0].data_file.partition, df.partition);
  EXPECT_EQ((*reread)[0].data_file.upper_bounds, df.upper_bounds);
  EXPECT_EQ((*reread)[0].data_file.column_sizes, df.column_sizes);
}

}  // namespace
}  // namespace frazil::iceberg
