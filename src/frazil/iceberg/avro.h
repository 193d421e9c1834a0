// A small Apache Avro 1.11 implementation, just what Iceberg manifests need (no libavro:
// Debian's drops the `field-id` / `logicalType` schema attributes and cannot write custom
// header metadata, see docs/reference iceberg.md section 6).
//
//  - AvroSchema: parsed from Avro schema JSON; keeps the Iceberg attributes field-id,
//    element-id, key-id, value-id, logicalType, precision, scale, adjust-to-utc.
//  - AvroValue: a generic value tree. Unions are transparent: a value decoded from a union
//    is the chosen branch's value with `branch` set; when encoding, a value with branch -1
//    goes to the first branch of a matching type (so Long(5) encodes as ["null","long"]).
//  - Binary encoding / decoding driven by the writer's schema (zig-zag varints, etc.).
//  - Object container files: magic "Obj\x01", metadata map (avro.schema = the exact schema
//    text supplied, avro.codec, extra keys), 16-byte sync marker, blocks. Codecs: null,
//    deflate (raw, no zlib header), snappy (block + 4-byte big-endian CRC32).
//
// Every read is bounds-checked; malformed or truncated input gives ErrorKind::kCorrupt
// with the offset (and block number) where decoding failed.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frazil/base/result.h"

namespace frazil::iceberg::avro {

enum class AvroType {
  kNull,
  kBoolean,
  kInt,
  kLong,
  kFloat,
  kDouble,
  kBytes,
  kString,
  kRecord,
  kEnum,
  kArray,
  kMap,
  kUnion,
  kFixed,
};

std::string_view AvroTypeName(AvroType type);

struct AvroSchema;
using AvroSchemaPtr = std::shared_ptr<const AvroSchema>;

struct AvroField {
  std::string name;
  AvroSchemaPtr type;
  std::optional<int> field_id;  // Iceberg "field-id"
  bool has_default = false;
  std::string default_json;  // the "default" value as compact JSON text, if any
};

struct AvroSchema {
  AvroType type = AvroType::kNull;
  std::string name;                     // record / enum / fixed: full name (namespace.name)
  std::string logical_type;             // "date", "decimal", "map", "uuid", ... (empty = none)
  int precision = 0;                    // decimal
  int scale = 0;                        // decimal
  std::optional<bool> adjust_to_utc;    // Iceberg timestamps
  int size = 0;                         // fixed
  std::vector<AvroField> fields;        // record
  std::vector<std::string> symbols;     // enum
  AvroSchemaPtr items;                  // array items, map values
  std::vector<AvroSchemaPtr> branches;  // union
  std::optional<int> element_id;        // array "element-id"
  std::optional<int> key_id;            // map "key-id"
  std::optional<int> value_id;          // map "value-id"

  // Index of a record field by name, -1 if absent.
  int FieldIndex(std::string_view field_name) const;
  // Index of the union's "null" branch, -1 if none.
  int NullBranch() const;
};

// Parses Avro schema JSON (primitive names, named type references, records, enums, arrays,
// maps, unions, fixed). Errors: InvalidArgument for a malformed schema, Unsupported for a
// recursive type.
Result<AvroSchemaPtr> ParseAvroSchema(std::string_view json_text);

struct AvroValue {
  AvroType type = AvroType::kNull;
  int branch = -1;  // union branch it was decoded from / must be encoded as (-1 = pick)
  bool bool_value = false;
  int64_t long_value = 0;        // int, long, enum index
  double double_value = 0;       // float, double
  std::string bytes;             // bytes, string, fixed, enum symbol (when decoded)
  std::vector<AvroValue> items;  // array items
  // record fields (in schema order when decoded) or map entries
  std::vector<std::pair<std::string, AvroValue>> entries;

  static AvroValue Null() { return AvroValue{}; }
  static AvroValue Bool(bool v);
  static AvroValue Int(int32_t v);
  static AvroValue Long(int64_t v);
  static AvroValue Float(float v);
  static AvroValue Double(double v);
  static AvroValue Bytes(std::string v);
  static AvroValue String(std::string v);
  static AvroValue Fixed(std::string v);
  static AvroValue Enum(int index);
  static AvroValue Record();
  static AvroValue Array();
  static AvroValue Map();

  bool is_null() const { return type == AvroType::kNull; }
  // Appends a record field or map entry; returns *this for chaining.
  AvroValue& Add(std::string key, AvroValue value);
  // A record field or map entry by name; nullptr if absent.
  const AvroValue* Find(std::string_view key) const;
  // As Find, but nullptr also when the field is present and null.
  const AvroValue* FindNonNull(std::string_view key) const;
  // A non-null int/long field's value; nullopt if absent, null or of another type.
  std::optional<int64_t> FindLong(std::string_view key) const;
  // A non-null bytes/string/fixed field's bytes; nullopt if absent, null or another type.
  std::optional<std::string> FindBytes(std::string_view key) const;
};

// Binary encoding of one value. Errors: InvalidArgument if the value does not fit the
// schema (wrong type, int out of range, missing record field without a null default,
// fixed of the wrong size, no matching union branch).
Status EncodeAvro(const AvroSchema& schema, const AvroValue& value, std::string* out);

// Decodes one value starting at data[*pos], advancing *pos. `base_offset` is added to
// offsets in error messages. Errors: Corrupt.
Result<AvroValue> DecodeAvro(const AvroSchema& schema, std::string_view data, size_t* pos,
                             size_t base_offset = 0);

// Zig-zag varint primitives (exposed for tests).
void EncodeAvroLong(int64_t value, std::string* out);
// Errors: Corrupt if truncated or longer than 10 bytes.
Result<int64_t> DecodeAvroLong(std::string_view data, size_t* pos);

enum class AvroCodec { kNull, kDeflate, kSnappy };

// Writes an object container file in memory.
class AvroFileWriter {
 public:
  // `schema_json` is stored verbatim as "avro.schema"; `metadata` adds header keys in the
  // order given (keys starting with "avro." are rejected). Errors: InvalidArgument.
  static Result<AvroFileWriter> Make(std::string schema_json,
                                     std::vector<std::pair<std::string, std::string>> metadata,
                                     AvroCodec codec = AvroCodec::kDeflate);

  const AvroSchema& schema() const { return *schema_; }
  // Encodes a record into the current block (blocks are flushed at ~1 MiB).
  Status Append(const AvroValue& value);
  // The whole file. The writer must not be used afterwards.
  Result<std::string> Finish();

  // Tests only: a fixed sync marker for reproducible output.
  void set_sync_marker(std::string marker16) { sync_ = std::move(marker16); }

 private:
  AvroFileWriter() = default;
  Status FlushBlock();

  std::string schema_json_;
  AvroSchemaPtr schema_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  AvroCodec codec_ = AvroCodec::kDeflate;
  std::string sync_;
  std::string blocks_;   // encoded, framed blocks
  std::string pending_;  // records of the current block, uncompressed
  int64_t pending_count_ = 0;
};

struct AvroFile {
  std::map<std::string, std::string, std::less<>> metadata;  // header, incl. avro.*
  std::string schema_json;                                   // the writer's schema text
  AvroSchemaPtr schema;                                      // parsed writer schema
  AvroCodec codec = AvroCodec::kNull;
  std::vector<AvroValue> records;
};

// Reads a whole object container file. Errors: Corrupt (bad magic, truncated header or
// block, bad sync marker, undecodable block, CRC mismatch), Unsupported for an unknown
// codec.
Result<AvroFile> ReadAvroFile(std::string_view bytes);

// A record field of an Iceberg Avro schema: {"name", "field-id", "type"} where an optional
// field is the union ["null", type] with default null, plus "doc" when given.
nlohmann::ordered_json IcebergField(std::string_view name, int id, nlohmann::ordered_json type, bool required,
                                    std::string_view doc = {});

}  // namespace frazil::iceberg::avro
