// Manifest files (spec "Manifests"): Avro record manifest_entry with every Iceberg field id.
#include "frazil/iceberg/manifest.h"

#include <nlohmann/json.hpp>
#include <string>

#include "frazil/iceberg/avro.h"
#include "frazil/iceberg/table_metadata.h"

namespace frazil::iceberg {
namespace {

using avro::AvroFile;
using avro::AvroType;
using avro::AvroValue;
using OJson = nlohmann::ordered_json;


// An Iceberg int-keyed map as Avro: array of k<id>_v<id> records with logicalType map.
OJson IntMap(int key_id, int value_id, std::string_view value_type) {
  OJson record = {
      {"type", "record"},
      {"name", "k" + std::to_string(key_id) + "_v" + std::to_string(value_id)},
      {"fields",
       OJson::array({{{"name", "key"}, {"type", "int"}, {"field-id", key_id}},
                     {{"name", "value"}, {"type", value_type}, {"field-id", value_id}}})}};
  return {{"type", "array"}, {"items", std::move(record)}, {"logicalType", "map"}};
}

OJson List(int element_id, std::string_view element_type) {
  return {{"type", "array"}, {"items", element_type}, {"element-id", element_id}};
}

// Smallest number of bytes whose two's complement holds every unscaled value of precision p.
int DecimalBytes(int precision) {
  // 10^p - 1 < 2^(8n-1)  <=>  log2(10^p) <= 8n - 1 (10^p is never a power of two for p>0).
  for (int n = 1; n < 64; ++n) {
    long double max = 1;
    for (int i = 0; i < 8 * n - 1; ++i) max *= 2;
    long double pow10 = 1;
    for (int i = 0; i < precision; ++i) pow10 *= 10;
    if (pow10 <= max) return n;
  }
  return 16;
}

// The Avro type of a partition value (spec Appendix A, "Avro").
Result<OJson> PartitionAvroType(const NestedField& field) {
  const Type& t = *field.type;
  const std::string fixed_name = "fixed_" + std::to_string(field.id);
  switch (t.id) {
    case TypeId::kBoolean:
      return OJson("boolean");
    case TypeId::kInt:
      return OJson("int");
    case TypeId::kLong:
      return OJson("long");
    case TypeId::kFloat:
      return OJson("float");
    case TypeId::kDouble:
      return OJson("double");
    case TypeId::kDate:
      return OJson{{"type", "int"}, {"logicalType", "date"}};
    case TypeId::kTime:
      return OJson{{"type", "long"}, {"logicalType", "time-micros"}};
    case TypeId::kTimestamp:
      return OJson{{"type", "long"}, {"logicalType", "timestamp-micros"}, {"adjust-to-utc", false}};
    case TypeId::kTimestampTz:
      return OJson{{"type", "long"}, {"logicalType", "timestamp-micros"}, {"adjust-to-utc", true}};
    case TypeId::kString:
      return OJson("string");
    case TypeId::kBinary:
      return OJson("bytes");
    case TypeId::kFixed:
      return OJson{{"type", "fixed"}, {"name", fixed_name}, {"size", t.length}};
    case TypeId::kUuid:
      return OJson{{"type", "fixed"}, {"name", fixed_name}, {"size", 16}, {"logicalType", "uuid"}};
    case TypeId::kDecimal:
      return OJson{{"type", "fixed"},
                   {"name", fixed_name},
                   {"size", DecimalBytes(t.precision)},
                   {"logicalType", "decimal"},
                   {"precision", t.precision},
                   {"scale", t.scale}};
    default:
      return MakeError(ErrorKind::kInvalidArgument,
                       "partition field " + field.name + " has nested type");
  }
}

Result<AvroValue> PartitionValueToAvro(const NestedField& field, const Datum& d) {
  if (IsNull(d)) return AvroValue::Null();
  const Type& t = *field.type;
  auto mismatch = [&]() {
    return MakeError(ErrorKind::kInvalidArgument,
                     "partition value for " + field.name + " does not match type " + t.ToString());
  };
  switch (t.id) {
    case TypeId::kBoolean:
      if (auto* v = std::get_if<bool>(&d)) return AvroValue::Bool(*v);
      return mismatch();
    case TypeId::kInt:
    case TypeId::kDate:
      if (auto* v = std::get_if<int32_t>(&d)) return AvroValue::Int(*v);
      return mismatch();
    case TypeId::kLong:
    case TypeId::kTime:
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz:
      if (auto* v = std::get_if<int64_t>(&d)) return AvroValue::Long(*v);
      return mismatch();
    case TypeId::kFloat:
      if (auto* v = std::get_if<float>(&d)) return AvroValue::Float(*v);
      return mismatch();
    case TypeId::kDouble:
      if (auto* v = std::get_if<double>(&d)) return AvroValue::Double(*v);
      return mismatch();
    case TypeId::kString:
      if (auto* v = std::get_if<std::string>(&d)) return AvroValue::String(*v);
      return mismatch();
    case TypeId::kBinary:
      if (auto* v = std::get_if<Bytes>(&d)) return AvroValue::Bytes(v->data);
      return mismatch();
    case TypeId::kFixed:
    case TypeId::kUuid: {
      auto* v = std::get_if<Bytes>(&d);
      size_t size = t.id == TypeId::kUuid ? 16 : static_cast<size_t>(t.length);
      if (v == nullptr || v->data.size() != size) return mismatch();
      return AvroValue::Fixed(v->data);
    }
    case TypeId::kDecimal: {
      auto* v = std::get_if<Decimal128>(&d);
      if (v == nullptr) return mismatch();
      // Big-endian two's complement, sign-extended to the fixed size.
      int n = DecimalBytes(t.precision);
      std::string out(static_cast<size_t>(n), '\0');
      unsigned __int128 u = static_cast<unsigned __int128>(v->unscaled);
      // The low n bytes of the 128-bit two's complement are the sign-extended value as long
      // as it fits n bytes, which the precision guarantees; check it anyway.
      if (n < 16) {
        const __int128 limit = static_cast<__int128>(1) << (8 * n - 1);
        if (v->unscaled >= limit || v->unscaled < -limit) return mismatch();
      }
      for (int i = n - 1; i >= 0; --i) {
        out[static_cast<size_t>(i)] = static_cast<char>(static_cast<uint8_t>(u & 0xff));
        u >>= 8;
      }
      return AvroValue::Fixed(std::move(out));
    }
    default:
      return mismatch();
  }
}

Result<Datum> PartitionValueFromAvro(const NestedField& field, const AvroValue& v) {
  if (v.is_null()) return Datum{};
  const Type& t = *field.type;
  auto corrupt = [&]() {
    return MakeError(ErrorKind::kCorrupt,
                     "manifest: partition value " + field.name + " of Avro type " +
                         std::string(avro::AvroTypeName(v.type)) + " is not a " + t.ToString());
  };
  auto is_int = v.type == AvroType::kInt || v.type == AvroType::kLong;
  auto is_fp = v.type == AvroType::kFloat || v.type == AvroType::kDouble;
  auto is_binary =
      v.type == AvroType::kBytes || v.type == AvroType::kFixed || v.type == AvroType::kString;
  switch (t.id) {
    case TypeId::kBoolean:
      if (v.type == AvroType::kBoolean) return Datum(v.bool_value);
      return corrupt();
    case TypeId::kInt:
    case TypeId::kDate:
      if (is_int && v.long_value >= INT32_MIN && v.long_value <= INT32_MAX) {
        return Datum(static_cast<int32_t>(v.long_value));
      }
      return corrupt();
    case TypeId::kLong:
    case TypeId::kTime:
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz:
      if (is_int) return Datum(v.long_value);
      return corrupt();
    case TypeId::kFloat:
      if (is_fp) return Datum(static_cast<float>(v.double_value));
      return corrupt();
    case TypeId::kDouble:
      if (is_fp) return Datum(v.double_value);
      return corrupt();
    case TypeId::kString:
      if (is_binary) return Datum(v.bytes);
      return corrupt();
    case TypeId::kBinary:
    case TypeId::kFixed:
    case TypeId::kUuid:
      if (is_binary) return Datum(Bytes{v.bytes});
      return corrupt();
    case TypeId::kDecimal: {
      if (!is_binary || v.bytes.empty() || v.bytes.size() > 16) return corrupt();
      __int128 x = static_cast<int8_t>(v.bytes[0]);  // sign-extends
      for (size_t i = 1; i < v.bytes.size(); ++i) x = x * 256 + static_cast<uint8_t>(v.bytes[i]);
      return Datum(Decimal128{x});
    }
    default:
      return corrupt();
  }
}

AvroValue CountsToAvro(const std::map<int, int64_t>& m) {
  AvroValue arr = AvroValue::Array();
  for (const auto& [k, v] : m)
    arr.items.push_back(
        AvroValue::Record().Add("key", AvroValue::Int(k)).Add("value", AvroValue::Long(v)));
  return arr;
}

AvroValue BoundsToAvro(const std::map<int, std::string>& m) {
  AvroValue arr = AvroValue::Array();
  for (const auto& [k, v] : m)
    arr.items.push_back(
        AvroValue::Record().Add("key", AvroValue::Int(k)).Add("value", AvroValue::Bytes(v)));
  return arr;
}

// Optional collections are written as null when empty, as Java does.
AvroValue OrNull(AvroValue arr) { return arr.items.empty() ? AvroValue::Null() : std::move(arr); }

Status ReadIntMap(const AvroValue& v, std::string_view name, std::map<int, int64_t>* counts,
                  std::map<int, std::string>* bounds) {
  auto bad = [&]() {
    return MakeError(ErrorKind::kCorrupt, "manifest: malformed " + std::string(name));
  };
  if (v.type == AvroType::kArray) {
    for (const AvroValue& item : v.items) {
      const AvroValue* key = item.FindNonNull("key");
      const AvroValue* value = item.Find("value");
      if (key == nullptr || value == nullptr || key->type != AvroType::kInt) return bad();
      if (counts != nullptr) {
        if (value->type != AvroType::kLong && value->type != AvroType::kInt) return bad();
        (*counts)[static_cast<int>(key->long_value)] = value->long_value;
      } else {
        if (value->type != AvroType::kBytes) return bad();
        (*bounds)[static_cast<int>(key->long_value)] = value->bytes;
      }
    }
    return Ok();
  }
  return bad();
}

Result<int64_t> ReqLong(const AvroValue& rec, std::string_view name, std::string_view what) {
  auto v = rec.FindLong(name);
  if (!v)
    return MakeError(ErrorKind::kCorrupt, std::string(what) + ": missing " + std::string(name));
  return *v;
}

const avro::AvroSchema* NonNullBranch(const avro::AvroSchema* s) {
  if (s->type != AvroType::kUnion) return s;
  for (const auto& b : s->branches) {
    if (b->type != AvroType::kNull) return b.get();
  }
  return s;
}

Result<std::vector<Datum>> ReadPartition(const AvroValue& rec, const avro::AvroSchema* rec_schema,
                                         const Type& partition_type) {
  std::vector<Datum> out;
  out.reserve(partition_type.fields.size());
  for (const NestedField& f : partition_type.fields) {
    // Resolve by field id first (names of partition fields may be renamed), then by name.
    const AvroValue* value = nullptr;
    if (rec_schema != nullptr && rec_schema->type == AvroType::kRecord) {
      for (size_t i = 0; i < rec_schema->fields.size() && i < rec.entries.size(); ++i) {
        if (rec_schema->fields[i].field_id == f.id) value = &rec.entries[i].second;
      }
    }
    if (value == nullptr) value = rec.Find(f.name);
    if (value == nullptr) {
      out.emplace_back();  // absent (e.g. a field added to the spec later): null
      continue;
    }
    FRZ_ASSIGN_OR_RETURN(Datum d, PartitionValueFromAvro(f, *value));
    out.push_back(std::move(d));
  }
  return out;
}

Result<DataFile> ReadDataFile(const AvroValue& rec, const avro::AvroSchema* partition_schema,
                              const Type& partition_type) {
  DataFile df;
  constexpr std::string_view kWhat = "manifest data_file";
  if (auto c = rec.FindLong("content")) {
    if (*c < 0 || *c > 2)
      return MakeError(ErrorKind::kCorrupt,
                       "manifest: bad data_file content " + std::to_string(*c));
    df.content = static_cast<FileContent>(*c);
  }
  auto path = rec.FindBytes("file_path");
  if (!path) return MakeError(ErrorKind::kCorrupt, "manifest data_file: missing file_path");
  df.file_path = *path;
  df.file_format = rec.FindBytes("file_format").value_or("PARQUET");
  const AvroValue* partition = rec.Find("partition");
  if (partition == nullptr || partition->type != AvroType::kRecord) {
    if (!partition_type.fields.empty())
      return MakeError(ErrorKind::kCorrupt, "manifest data_file: missing partition");
    df.partition.clear();
  } else {
    FRZ_ASSIGN_OR_RETURN(df.partition, ReadPartition(*partition, partition_schema, partition_type));
  }
  FRZ_ASSIGN_OR_RETURN(df.record_count, ReqLong(rec, "record_count", kWhat));
  FRZ_ASSIGN_OR_RETURN(df.file_size_in_bytes, ReqLong(rec, "file_size_in_bytes", kWhat));
  const std::pair<const char*, std::map<int, int64_t>*> counts[] = {
      {"column_sizes", &df.column_sizes},
      {"value_counts", &df.value_counts},
      {"null_value_counts", &df.null_value_counts},
      {"nan_value_counts", &df.nan_value_counts}};
  for (const auto& [name, target] : counts) {
    if (const AvroValue* v = rec.FindNonNull(name))
      FRZ_RETURN_IF_ERROR(ReadIntMap(*v, name, target, nullptr));
  }
  if (const AvroValue* v = rec.FindNonNull("lower_bounds")) {
    FRZ_RETURN_IF_ERROR(ReadIntMap(*v, "lower_bounds", nullptr, &df.lower_bounds));
  }
  if (const AvroValue* v = rec.FindNonNull("upper_bounds")) {
    FRZ_RETURN_IF_ERROR(ReadIntMap(*v, "upper_bounds", nullptr, &df.upper_bounds));
  }
  df.key_metadata = rec.FindBytes("key_metadata");
  if (const AvroValue* v = rec.FindNonNull("split_offsets");
      v != nullptr && v->type == AvroType::kArray) {
    for (const AvroValue& item : v->items) df.split_offsets.push_back(item.long_value);
  }
  if (const AvroValue* v = rec.FindNonNull("equality_ids");
      v != nullptr && v->type == AvroType::kArray) {
    for (const AvroValue& item : v->items)
      df.equality_ids.push_back(static_cast<int>(item.long_value));
  }
  if (auto v = rec.FindLong("sort_order_id")) df.sort_order_id = static_cast<int>(*v);
  df.referenced_data_file = rec.FindBytes("referenced_data_file");
  df.first_row_id = rec.FindLong("first_row_id");
  df.content_offset = rec.FindLong("content_offset");
  df.content_size_in_bytes = rec.FindLong("content_size_in_bytes");
  return df;
}

}  // namespace

Result<std::string> WriteManifest(const ManifestContext& ctx,
                                  const std::vector<ManifestEntry>& entries) {
  if (ctx.format_version < 2 || ctx.format_version > 3) {
    return MakeError(ErrorKind::kUnsupported, "manifest: writing format version " +
                                                  std::to_string(ctx.format_version) +
                                                  " is not supported");
  }
  const bool v3 = ctx.format_version >= 3;
  FRZ_ASSIGN_OR_RETURN(TypePtr partition_type, ctx.spec.PartitionType(ctx.schema));

  OJson partition_fields = OJson::array();
  for (const NestedField& f : partition_type->fields) {
    FRZ_ASSIGN_OR_RETURN(OJson t, PartitionAvroType(f));
    partition_fields.push_back(avro::IcebergField(f.name, f.id, std::move(t), false));
  }
  OJson data_file_fields = OJson::array();
  data_file_fields.push_back(
      avro::IcebergField("content", 134, "int", true,
            "Contents of the file: 0=data, 1=position deletes, 2=equality deletes"));
  data_file_fields.push_back(
      avro::IcebergField("file_path", 100, "string", true, "Location URI with FS scheme"));
  data_file_fields.push_back(
      avro::IcebergField("file_format", 101, "string", true, "File format name: avro, orc, or parquet"));
  data_file_fields.push_back(
      avro::IcebergField("partition", 102, {{"type", "record"}, {"name", "r102"}, {"fields", partition_fields}},
            true, "Partition data tuple, schema based on the partition spec"));
  data_file_fields.push_back(
      avro::IcebergField("record_count", 103, "long", true, "Number of records in the file"));
  data_file_fields.push_back(
      avro::IcebergField("file_size_in_bytes", 104, "long", true, "Total file size in bytes"));
  data_file_fields.push_back(avro::IcebergField("column_sizes", 108, IntMap(117, 118, "long"), false,
                                   "Map of column id to total size on disk"));
  data_file_fields.push_back(avro::IcebergField("value_counts", 109, IntMap(119, 120, "long"), false,
                                   "Map of column id to total count, including null and NaN"));
  data_file_fields.push_back(avro::IcebergField("null_value_counts", 110, IntMap(121, 122, "long"), false,
                                   "Map of column id to null value count"));
  data_file_fields.push_back(avro::IcebergField("nan_value_counts", 137, IntMap(138, 139, "long"), false,
                                   "Map of column id to number of NaN values in the column"));
  data_file_fields.push_back(avro::IcebergField("lower_bounds", 125, IntMap(126, 127, "bytes"), false,
                                   "Map of column id to lower bound"));
  data_file_fields.push_back(avro::IcebergField("upper_bounds", 128, IntMap(129, 130, "bytes"), false,
                                   "Map of column id to upper bound"));
  data_file_fields.push_back(
      avro::IcebergField("key_metadata", 131, "bytes", false, "Encryption key metadata blob"));
  data_file_fields.push_back(
      avro::IcebergField("split_offsets", 132, List(133, "long"), false, "Splittable offsets"));
  data_file_fields.push_back(
      avro::IcebergField("equality_ids", 135, List(136, "int"), false, "Equality comparison field IDs"));
  data_file_fields.push_back(avro::IcebergField("sort_order_id", 140, "int", false, "Sort order ID"));
  if (v3)
    data_file_fields.push_back(
        avro::IcebergField("first_row_id", 142, "long", false,
              "The first row ID assigned to the first row in the data file"));
  data_file_fields.push_back(avro::IcebergField(
      "referenced_data_file", 143, "string", false,
      "Fully qualified location (URI with FS scheme) of a data file that all deletes reference"));
  if (v3) {
    data_file_fields.push_back(avro::IcebergField("content_offset", 144, "long", false,
                                     "The offset in the file where the content starts"));
    data_file_fields.push_back(avro::IcebergField("content_size_in_bytes", 145, "long", false,
                                     "The length of referenced content stored in the file"));
  }
  OJson schema_json = {
      {"type", "record"},
      {"name", "manifest_entry"},
      {"fields",
       OJson::array(
           {avro::IcebergField("status", 0, "int", true), avro::IcebergField("snapshot_id", 1, "long", false),
            avro::IcebergField("sequence_number", 3, "long", false),
            avro::IcebergField("file_sequence_number", 4, "long", false),
            avro::IcebergField("data_file", 2,
                  {{"type", "record"}, {"name", "r2"}, {"fields", data_file_fields}}, true)})}};

  std::vector<std::pair<std::string, std::string>> header = {
      {"schema", SchemaToJson(ctx.schema).dump()},
      {"schema-id", std::to_string(ctx.schema.schema_id())},
      {"partition-spec", PartitionSpecToJson(ctx.spec).at("fields").dump()},
      {"partition-spec-id", std::to_string(ctx.spec.spec_id)},
      {"format-version", std::to_string(ctx.format_version)},
      {"content", ctx.content == ManifestContent::kData ? "data" : "deletes"},
  };
  FRZ_ASSIGN_OR_RETURN(auto writer,
                       avro::AvroFileWriter::Make(schema_json.dump(), std::move(header)));

  for (size_t i = 0; i < entries.size(); ++i) {
    const ManifestEntry& e = entries[i];
    const DataFile& df = e.data_file;
    const bool is_data = df.content == FileContent::kData;
    if (is_data != (ctx.content == ManifestContent::kData)) {
      return MakeError(ErrorKind::kInvalidArgument,
                       "manifest: entry " + std::to_string(i) + " (" + df.file_path +
                           ") has the wrong content for this manifest");
    }
    if (df.partition.size() != partition_type->fields.size()) {
      return MakeError(ErrorKind::kInvalidArgument,
                       "manifest: entry " + df.file_path + " has " +
                           std::to_string(df.partition.size()) + " partition values, spec " +
                           std::to_string(ctx.spec.spec_id) + " has " +
                           std::to_string(partition_type->fields.size()) + " fields");
    }
    AvroValue partition = AvroValue::Record();
    for (size_t p = 0; p < df.partition.size(); ++p) {
      const NestedField& f = partition_type->fields[p];
      FRZ_ASSIGN_OR_RETURN(AvroValue v, PartitionValueToAvro(f, df.partition[p]));
      partition.Add(f.name, std::move(v));
    }
    auto opt_long = [](const std::optional<int64_t>& v) {
      return v ? AvroValue::Long(*v) : AvroValue::Null();
    };
    AvroValue split_offsets = AvroValue::Array();
    for (int64_t o : df.split_offsets) split_offsets.items.push_back(AvroValue::Long(o));
    AvroValue equality_ids = AvroValue::Array();
    for (int id : df.equality_ids) equality_ids.items.push_back(AvroValue::Int(id));

    AvroValue data_file = AvroValue::Record();
    data_file.Add("content", AvroValue::Int(static_cast<int>(df.content)))
        .Add("file_path", AvroValue::String(df.file_path))
        .Add("file_format", AvroValue::String(df.file_format))
        .Add("partition", std::move(partition))
        .Add("record_count", AvroValue::Long(df.record_count))
        .Add("file_size_in_bytes", AvroValue::Long(df.file_size_in_bytes))
        .Add("column_sizes", OrNull(CountsToAvro(df.column_sizes)))
        .Add("value_counts", OrNull(CountsToAvro(df.value_counts)))
        .Add("null_value_counts", OrNull(CountsToAvro(df.null_value_counts)))
        .Add("nan_value_counts", OrNull(CountsToAvro(df.nan_value_counts)))
        .Add("lower_bounds", OrNull(BoundsToAvro(df.lower_bounds)))
        .Add("upper_bounds", OrNull(BoundsToAvro(df.upper_bounds)))
        .Add("key_metadata",
             df.key_metadata ? AvroValue::Bytes(*df.key_metadata) : AvroValue::Null())
        .Add("split_offsets", OrNull(std::move(split_offsets)))
        .Add("equality_ids", OrNull(std::move(equality_ids)))
        .Add("sort_order_id",
             df.sort_order_id ? AvroValue::Int(*df.sort_order_id) : AvroValue::Null())
        .Add("referenced_data_file", df.referenced_data_file
                                         ? AvroValue::String(*df.referenced_data_file)
                                         : AvroValue::Null());
    if (v3) {
      data_file.Add("first_row_id", opt_long(df.first_row_id))
          .Add("content_offset", opt_long(df.content_offset))
          .Add("content_size_in_bytes", opt_long(df.content_size_in_bytes));
    }
    AvroValue entry = AvroValue::Record();
    entry.Add("status", AvroValue::Int(static_cast<int>(e.status)))
        .Add("snapshot_id", opt_long(e.snapshot_id))
        .Add("sequence_number", opt_long(e.sequence_number))
        .Add("file_sequence_number", opt_long(e.file_sequence_number))
        .Add("data_file", std::move(data_file));
    FRZ_RETURN_IF_ERROR(writer.Append(entry));
  }
  return writer.Finish();
}

Result<std::vector<ManifestEntry>> ReadManifest(std::string_view bytes, const Schema& schema,
                                                const PartitionSpec& spec) {
  FRZ_ASSIGN_OR_RETURN(AvroFile file, avro::ReadAvroFile(bytes));
  FRZ_ASSIGN_OR_RETURN(TypePtr partition_type, spec.PartitionType(schema));
  // The writer's r102 schema carries the partition field ids.
  const avro::AvroSchema* partition_schema = nullptr;
  if (file.schema->type != AvroType::kRecord)
    return MakeError(ErrorKind::kCorrupt, "manifest: schema is not a record");
  if (int i = file.schema->FieldIndex("data_file"); i >= 0) {
    const avro::AvroSchema* df =
        NonNullBranch(file.schema->fields[static_cast<size_t>(i)].type.get());
    if (int p = df->FieldIndex("partition"); p >= 0) {
      partition_schema = NonNullBranch(df->fields[static_cast<size_t>(p)].type.get());
    }
  }
  std::vector<ManifestEntry> entries;
  entries.reserve(file.records.size());
  for (size_t i = 0; i < file.records.size(); ++i) {
    const AvroValue& rec = file.records[i];
    ManifestEntry e;
    auto status = rec.FindLong("status");
    if (!status || *status < 0 || *status > 2) {
      return MakeError(ErrorKind::kCorrupt,
                       "manifest: entry " + std::to_string(i) + " has no valid status");
    }
    e.status = static_cast<EntryStatus>(*status);
    e.snapshot_id = rec.FindLong("snapshot_id");
    e.sequence_number = rec.FindLong("sequence_number");
    e.file_sequence_number = rec.FindLong("file_sequence_number");
    const AvroValue* df = rec.FindNonNull("data_file");
    if (df == nullptr || df->type != AvroType::kRecord) {
      return MakeError(ErrorKind::kCorrupt,
                       "manifest: entry " + std::to_string(i) + " has no data_file");
    }
    auto data_file = ReadDataFile(*df, partition_schema, *partition_type);
    if (!data_file) {
      return MakeError(data_file.error().kind,
                       data_file.error().message + " (entry " + std::to_string(i) + ")");
    }
    e.data_file = std::move(*data_file);
    entries.push_back(std::move(e));
  }
  return entries;
}

void InheritManifestValues(const ManifestFile& manifest, std::vector<ManifestEntry>* entries) {
  for (ManifestEntry& e : *entries) {
    if (!e.snapshot_id) e.snapshot_id = manifest.added_snapshot_id;
    // Only entries added by the manifest's snapshot inherit its sequence number; v1
    // manifests (no sequence numbers) have sequence number 0 in the manifest list.
    const bool added_here =
        e.status == EntryStatus::kAdded || e.snapshot_id == manifest.added_snapshot_id;
    if (added_here) {
      if (!e.sequence_number) e.sequence_number = manifest.sequence_number;
      if (!e.file_sequence_number) e.file_sequence_number = manifest.sequence_number;
    }
  }
}

}  // namespace frazil::iceberg
