#include "frazil/iceberg/avro.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace frazil::iceberg::avro {
namespace {

std::string Varint(int64_t v) {
  std::string out;
  EncodeAvroLong(v, &out);
  return out;
}

TEST(AvroVarint, KnownEncodings) {
  EXPECT_EQ(Varint(0), std::string("\x00", 1));
  EXPECT_EQ(Varint(-1), "\x01");
  EXPECT_EQ(Varint(1), "\x02");
  EXPECT_EQ(Varint(-64), "\x7f");
  EXPECT_EQ(Varint(64), "\x80\x01");
  EXPECT_EQ(Varint(std::numeric_limits<int64_t>::max()),
            "\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01");
  EXPECT_EQ(Varint(std::numeric_limits<int64_t>::min()),
            "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
}

TEST(AvroVarint, RoundTripsEdgeValues) {
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{63}, int64_t{-64}, int64_t{64},
                    int64_t{-65}, int64_t{INT32_MAX}, int64_t{INT32_MIN},
                    std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    std::string enc = Varint(v);
    size_t pos = 0;
    auto dec = DecodeAvroLong(enc, &pos);
    ASSERT_TRUE(dec.has_value()) << v;
    EXPECT_EQ(*dec, v);
    EXPECT_EQ(pos, enc.size());
  }
}

TEST(AvroVarint, RejectsTruncatedAndOverlong) {
  size_t pos = 0;
  auto r = DecodeAvroLong("\x80", &pos);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
  EXPECT_EQ(pos, 0u);  // not advanced on error
  pos = 0;
  r = DecodeAvroLong(std::string(11, '\x80') + "\x01", &pos);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
  pos = 0;
  r = DecodeAvroLong("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", &pos);  // 65 bits
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
}

constexpr std::string_view kSchema = R"({
  "type": "record", "name": "r", "namespace": "ns",
  "fields": [
    {"name": "i", "type": "int", "field-id": 1},
    {"name": "opt", "type": ["null", "long"], "default": null, "field-id": 2},
    {"name": "d", "type": {"type": "int", "logicalType": "date"}, "field-id": 3},
    {"name": "f", "type": "float"},
    {"name": "dbl", "type": "double"},
    {"name": "b", "type": "boolean"},
    {"name": "by", "type": "bytes"},
    {"name": "s", "type": "string"},
    {"name": "fx", "type": {"type": "fixed", "name": "f4", "size": 4, "logicalType": "decimal",
                            "precision": 9, "scale": 2}},
    {"name": "fx2", "type": "f4"},
    {"name": "e", "type": {"type": "enum", "name": "color", "symbols": ["RED", "GREEN"]}},
    {"name": "arr", "type": {"type": "array", "items": "long", "element-id": 7}},
    {"name": "m", "type": {"type": "map", "values": "string", "key-id": 8, "value-id": 9}},
    {"name": "kv", "type": ["null", {"type": "array", "logicalType": "map", "items":
        {"type": "record", "name": "k1_v2", "fields": [
          {"name": "key", "type": "int", "field-id": 1}, {"name": "value", "type": "long", "field-id": 2}]}}],
     "default": null},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros", "adjust-to-utc": true}}
  ]})";

TEST(AvroSchema, ParsesIcebergAttributes) {
  auto schema = ParseAvroSchema(kSchema);
  ASSERT_TRUE(schema.has_value()) << schema.error().ToString();
  const AvroSchema& s = **schema;
  EXPECT_EQ(s.type, AvroType::kRecord);
  EXPECT_EQ(s.name, "ns.r");
  ASSERT_EQ(s.fields.size(), 15u);
  EXPECT_EQ(s.fields[0].field_id, 1);
  EXPECT_EQ(s.fields[3].field_id, std::nullopt);
  EXPECT_TRUE(s.fields[1].has_default);
  EXPECT_EQ(s.fields[1].default_json, "null");
  EXPECT_EQ(s.fields[1].type->type, AvroType::kUnion);
  EXPECT_EQ(s.fields[1].type->NullBranch(), 0);
  EXPECT_EQ(s.fields[2].type->logical_type, "date");
  const AvroSchema& fx = *s.fields[8].type;
  EXPECT_EQ(fx.type, AvroType::kFixed);
  EXPECT_EQ(fx.size, 4);
  EXPECT_EQ(fx.precision, 9);
  EXPECT_EQ(fx.scale, 2);
  EXPECT_EQ(s.fields[9].type.get(), s.fields[8].type.get());  // named reference
  EXPECT_EQ(s.fields[10].type->symbols, (std::vector<std::string>{"RED", "GREEN"}));
  EXPECT_EQ(s.fields[11].type->element_id, 7);
  EXPECT_EQ(s.fields[12].type->key_id, 8);
  EXPECT_EQ(s.fields[12].type->value_id, 9);
  const AvroSchema& kv = *s.fields[13].type->branches[1];
  EXPECT_EQ(kv.logical_type, "map");
  EXPECT_EQ(kv.items->fields[1].field_id, 2);
  EXPECT_EQ(s.fields[14].type->adjust_to_utc, true);
  EXPECT_EQ(s.FieldIndex("s"), 7);
  EXPECT_EQ(s.FieldIndex("nope"), -1);
}

TEST(AvroSchema, RejectsBadSchemas) {
  EXPECT_FALSE(ParseAvroSchema("{").has_value());
  EXPECT_FALSE(
      ParseAvroSchema(R"({"type":"record","name":"a","fields":[{"name":"x","type":"nope"}]})")
          .has_value());
  EXPECT_FALSE(ParseAvroSchema(R"({"type":"fixed","name":"f"})").has_value());
  EXPECT_FALSE(ParseAvroSchema("[]").has_value());
  auto rec = ParseAvroSchema(
      R"({"type":"record","name":"a","fields":[{"name":"x","type":["null","a"]}]})");
  ASSERT_FALSE(rec.has_value());
  EXPECT_EQ(rec.error().kind, ErrorKind::kUnsupported);
}

AvroValue SampleRecord(int i) {
  AvroValue kv = AvroValue::Array();
  kv.items.push_back(
      AvroValue::Record().Add("key", AvroValue::Int(3)).Add("value", AvroValue::Long(-7)));
  AvroValue arr = AvroValue::Array();
  arr.items = {AvroValue::Long(1), AvroValue::Long(-1LL << 40)};
  AvroValue m = AvroValue::Map();
  m.Add("a", AvroValue::String("x")).Add("", AvroValue::String(""));
  AvroValue r = AvroValue::Record();
  r.Add("i", AvroValue::Int(i))
      .Add("opt", i % 2 ? AvroValue::Long(int64_t{1} << 50) : AvroValue::Null())
      .Add("d", AvroValue::Int(17486))
      .Add("f", AvroValue::Float(1.5f))
      .Add("dbl", AvroValue::Double(-2.25))
      .Add("b", AvroValue::Bool(true))
      .Add("by", AvroValue::Bytes(std::string("\x00\xff", 2)))
      .Add("s", AvroValue::String("h\xc3\xa9llo"))
      .Add("fx", AvroValue::Fixed(std::string("\x00\x00\x05\x8c", 4)))
      .Add("fx2", AvroValue::Fixed("abcd"))
      .Add("e", AvroValue::Enum(1))
      .Add("arr", arr)
      .Add("m", m)
      .Add("kv", kv)
      .Add("ts", AvroValue::Long(1510871468000001));
  return r;
}

void ExpectSample(const AvroValue& v, int i) {
  ASSERT_EQ(v.type, AvroType::kRecord);
  EXPECT_EQ(v.Find("i")->long_value, i);
  if (i % 2) {
    EXPECT_EQ(v.Find("opt")->long_value, int64_t{1} << 50);
    EXPECT_EQ(v.Find("opt")->branch, 1);
  } else {
    EXPECT_TRUE(v.Find("opt")->is_null());
    EXPECT_EQ(v.FindNonNull("opt"), nullptr);
  }
  EXPECT_EQ(v.Find("d")->long_value, 17486);
  EXPECT_EQ(v.Find("f")->double_value, 1.5);
  EXPECT_EQ(v.Find("dbl")->double_value, -2.25);
  EXPECT_TRUE(v.Find("b")->bool_value);
  EXPECT_EQ(v.Find("by")->bytes, std::string("\x00\xff", 2));
  EXPECT_EQ(v.Find("s")->bytes, "h\xc3\xa9llo");
  EXPECT_EQ(v.Find("fx")->bytes, std::string("\x00\x00\x05\x8c", 4));
  EXPECT_EQ(v.Find("e")->bytes, "GREEN");
  ASSERT_EQ(v.Find("arr")->items.size(), 2u);
  EXPECT_EQ(v.Find("arr")->items[1].long_value, -1LL << 40);
  EXPECT_EQ(v.Find("m")->Find("a")->bytes, "x");
  ASSERT_NE(v.Find("m")->Find(""), nullptr);
  const AvroValue* kv = v.FindNonNull("kv");
  ASSERT_NE(kv, nullptr);
  ASSERT_EQ(kv->items.size(), 1u);
  EXPECT_EQ(kv->items[0].Find("value")->long_value, -7);
  EXPECT_EQ(v.Find("ts")->long_value, 1510871468000001);
}

TEST(AvroCodec, RoundTripsEveryType) {
  auto schema = ParseAvroSchema(kSchema);
  ASSERT_TRUE(schema.has_value());
  for (int i : {0, 1}) {
    std::string buf;
    ASSERT_TRUE(EncodeAvro(**schema, SampleRecord(i), &buf).has_value());
    size_t pos = 0;
    auto v = DecodeAvro(**schema, buf, &pos);
    ASSERT_TRUE(v.has_value()) << v.error().ToString();
    EXPECT_EQ(pos, buf.size());
    ExpectSample(*v, i);
    // Every strict prefix is truncated data.
    for (size_t n = 0; n < buf.size(); ++n) {
      size_t p = 0;
      auto t = DecodeAvro(**schema, std::string_view(buf).substr(0, n), &p);
      ASSERT_FALSE(t.has_value()) << n;
      EXPECT_EQ(t.error().kind, ErrorKind::kCorrupt);
    }
  }
}

TEST(AvroCodec, KnownBytes) {
  auto schema = ParseAvroSchema(
      R"({"type":"record","name":"x","fields":[{"name":"a","type":"long"},{"name":"b","type":["null","string"]}]})");
  ASSERT_TRUE(schema.has_value());
  std::string buf;
  ASSERT_TRUE(
      EncodeAvro(**schema,
                 AvroValue::Record().Add("a", AvroValue::Int(1)).Add("b", AvroValue::String("foo")),
                 &buf)
          .has_value());
  EXPECT_EQ(buf,
            "\x02\x02\x06"
            "foo");
  // A missing field with a null default encodes as the null branch.
  buf.clear();
  ASSERT_TRUE(
      EncodeAvro(**schema, AvroValue::Record().Add("a", AvroValue::Long(-1)), &buf).has_value());
  EXPECT_EQ(buf, std::string("\x01\x00", 2));
}

TEST(AvroCodec, RejectsValuesThatDoNotFit) {
  auto schema = ParseAvroSchema(kSchema);
  ASSERT_TRUE(schema.has_value());
  std::string buf;
  AvroValue bad_fixed = SampleRecord(1);
  for (auto& [k, v] : bad_fixed.entries) {
    if (k == "fx") v = AvroValue::Fixed("abc");
  }
  auto st = EncodeAvro(**schema, bad_fixed, &buf);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_FALSE(
      EncodeAvro(**schema, AvroValue::Record().Add("i", AvroValue::Int(1)), &buf).has_value());
  auto int_schema = ParseAvroSchema(R"("int")");
  ASSERT_TRUE(int_schema.has_value());
  EXPECT_FALSE(EncodeAvro(**int_schema, AvroValue::Long(int64_t{1} << 40), &buf).has_value());
  EXPECT_FALSE(EncodeAvro(**int_schema, AvroValue::String("1"), &buf).has_value());
}

TEST(AvroCodec, DecodeRejectsBadUnionIndexAndLengths) {
  auto schema = ParseAvroSchema(R"(["null","string"])");
  ASSERT_TRUE(schema.has_value());
  size_t pos = 0;
  auto r = DecodeAvro(**schema, "\x04", &pos);  // branch 2
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
  EXPECT_NE(r.error().message.find("offset"), std::string::npos);
  pos = 0;
  r = DecodeAvro(**schema, "\x02\x03", &pos);  // negative string length
  ASSERT_FALSE(r.has_value());
  pos = 0;
  auto arr = ParseAvroSchema(R"({"type":"array","items":"long"})");
  ASSERT_TRUE(arr.has_value());
  r = DecodeAvro(**arr, "\xfe\xff\xff\xff\x0f\x02", &pos);  // 2^31-1 items in 1 byte
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
  // Negative block count: the block's byte size follows.
  pos = 0;
  r = DecodeAvro(**arr, std::string("\x03\x04\x02\x04\x00", 5), &pos);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->items.size(), 2u);
  EXPECT_EQ(r->items[1].long_value, 2);
}

class AvroFileTest : public ::testing::TestWithParam<AvroCodec> {};

TEST_P(AvroFileTest, RoundTripsWithHeaderAndManyBlocks) {
  std::string schema_text(kSchema);
  auto writer =
      AvroFileWriter::Make(schema_text, {{"format-version", "2"}, {"content", "data"}}, GetParam());
  ASSERT_TRUE(writer.has_value()) << writer.error().ToString();
  // Enough records for several 1 MiB blocks.
  AvroValue big = SampleRecord(1);
  for (auto& [k, v] : big.entries) {
    if (k == "s") v = AvroValue::String(std::string(100000, 'z'));
  }
  const int n = 30;
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(writer->Append(i == 5 ? big : SampleRecord(i)).has_value());
  }
  // A rejected record leaves the file intact.
  EXPECT_FALSE(writer->Append(AvroValue::Int(1)).has_value());
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(writer->Append(big).has_value());
  auto bytes = writer->Finish();
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(bytes->substr(0, 4), std::string("Obj\x01", 4));

  auto file = ReadAvroFile(*bytes);
  ASSERT_TRUE(file.has_value()) << file.error().ToString();
  EXPECT_EQ(file->schema_json, schema_text);
  EXPECT_EQ(file->metadata.at("avro.schema"), schema_text);
  EXPECT_EQ(file->metadata.at("format-version"), "2");
  EXPECT_EQ(file->metadata.at("content"), "data");
  EXPECT_EQ(file->codec, GetParam());
  ASSERT_EQ(file->records.size(), static_cast<size_t>(n + 30));
  for (int i = 0; i < n; ++i) {
    if (i != 5) ExpectSample(file->records[i], i);
  }
  EXPECT_EQ(file->records[5].Find("s")->bytes.size(), 100000u);
  EXPECT_EQ(file->records[n + 29].Find("s")->bytes.size(), 100000u);
}

INSTANTIATE_TEST_SUITE_P(Codecs, AvroFileTest,
                         ::testing::Values(AvroCodec::kNull, AvroCodec::kDeflate,
                                           AvroCodec::kSnappy));

Result<std::string> SmallFile(AvroCodec codec) {
  FRZ_ASSIGN_OR_RETURN(auto writer,
                       AvroFileWriter::Make(std::string(kSchema), {{"k", "v"}}, codec));
  writer.set_sync_marker("0123456789abcdef");
  for (int i = 0; i < 3; ++i) FRZ_RETURN_IF_ERROR(writer.Append(SampleRecord(i)));
  return writer.Finish();
}

TEST(AvroFile, EveryTruncationIsCorrupt) {
  for (AvroCodec codec : {AvroCodec::kNull, AvroCodec::kDeflate, AvroCodec::kSnappy}) {
    auto bytes = SmallFile(codec);
    ASSERT_TRUE(bytes.has_value());
    ASSERT_TRUE(ReadAvroFile(*bytes).has_value());
    // A file cut right after its header is a valid empty file.
    const size_t header_end = bytes->find("0123456789abcdef") + 16;
    auto empty = ReadAvroFile(std::string_view(*bytes).substr(0, header_end));
    ASSERT_TRUE(empty.has_value());
    EXPECT_TRUE(empty->records.empty());
    for (size_t n = 0; n < bytes->size(); ++n) {
      if (n == header_end) continue;
      auto r = ReadAvroFile(std::string_view(*bytes).substr(0, n));
      ASSERT_FALSE(r.has_value()) << "prefix " << n;
      EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt) << r.error().ToString();
    }
  }
}

TEST(AvroFile, DetectsCorruption) {
  auto bytes = SmallFile(AvroCodec::kDeflate);
  ASSERT_TRUE(bytes.has_value());
  std::string bad = *bytes;
  bad[0] = 'X';
  auto r = ReadAvroFile(bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
  EXPECT_NE(r.error().message.find("magic"), std::string::npos);

  // The last 16 bytes are the sync marker after the only block.
  bad = *bytes;
  bad[bad.size() - 1] ^= 1;
  r = ReadAvroFile(bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("sync"), std::string::npos);
  EXPECT_NE(r.error().message.find("block 0"), std::string::npos);

  // Garbage in the deflate stream.
  bad = *bytes;
  for (size_t i = bad.size() - 40; i < bad.size() - 20; ++i) bad[i] = static_cast<char>(0xff);
  r = ReadAvroFile(bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);

  // A snappy block whose CRC does not match.
  auto snappy = SmallFile(AvroCodec::kSnappy);
  ASSERT_TRUE(snappy.has_value());
  bad = *snappy;
  bad[bad.size() - 17] ^= 0x55;  // last CRC byte
  r = ReadAvroFile(bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("CRC"), std::string::npos);

  // An uncompressed record with an out-of-range union index names its block and offset.
  auto plain = SmallFile(AvroCodec::kNull);
  ASSERT_TRUE(plain.has_value());
  size_t header_end = plain->find("0123456789abcdef") + 16;
  bad = *plain;
  // Block: count varint (1 byte), size varint (1-2 bytes); then record 0 starts with
  // field i (int 0 = 0x00) and opt (union index).
  size_t p = header_end;
  ASSERT_TRUE(DecodeAvroLong(bad, &p).has_value());
  ASSERT_TRUE(DecodeAvroLong(bad, &p).has_value());
  bad[p + 1] = '\x08';
  r = ReadAvroFile(bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
  EXPECT_NE(r.error().message.find("union index"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("block 0"), std::string::npos) << r.error().message;
}

// Single-byte corruption anywhere must give an error or a decodable file, never a crash
// (run under ASan/UBSan with FRAZIL_SANITIZE).
TEST(AvroFile, SurvivesByteFlips) {
  for (AvroCodec codec : {AvroCodec::kNull, AvroCodec::kDeflate, AvroCodec::kSnappy}) {
    auto bytes = SmallFile(codec);
    ASSERT_TRUE(bytes.has_value());
    for (size_t i = 0; i < bytes->size(); ++i) {
      for (uint8_t x : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
        std::string bad = *bytes;
        bad[i] = static_cast<char>(static_cast<uint8_t>(bad[i]) ^ x);
        auto r = ReadAvroFile(bad);
        if (!r.has_value()) {
          EXPECT_TRUE(r.error().kind == ErrorKind::kCorrupt ||
                      r.error().kind == ErrorKind::kUnsupported)
              << r.error().ToString();
        }
      }
    }
  }
}

TEST(AvroFile, WriterRejectsReservedKeysAndBadSchema) {
  EXPECT_FALSE(AvroFileWriter::Make(std::string(kSchema), {{"avro.codec", "x"}}).has_value());
  EXPECT_FALSE(AvroFileWriter::Make("{", {}).has_value());
}

}  // namespace
}  // namespace frazil::iceberg::avro
