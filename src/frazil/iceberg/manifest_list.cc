// Manifest lists (spec "Manifest Lists"): Avro record manifest_file, ids 500-520.
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "frazil/iceberg/avro.h"
#include "frazil/iceberg/manifest.h"

namespace frazil::iceberg {
namespace {

using avro::AvroType;
using avro::AvroValue;
using OJson = nlohmann::ordered_json;


std::string ManifestListSchema(int format_version) {
  OJson summary = {
      {"type", "record"},
      {"name", "r508"},
      {"fields",
       OJson::array(
           {avro::IcebergField("contains_null", 509, "boolean", true,
                  "True if any file has a null partition value"),
            avro::IcebergField("contains_nan", 518, "boolean", false,
                  "True if any file has a nan partition value"),
            avro::IcebergField("lower_bound", 510, "bytes", false, "Partition lower bound for all files"),
            avro::IcebergField("upper_bound", 511, "bytes", false, "Partition upper bound for all files")})}};
  OJson fields = OJson::array({
      avro::IcebergField("manifest_path", 500, "string", true, "Location URI with FS scheme"),
      avro::IcebergField("manifest_length", 501, "long", true, "Total file size in bytes"),
      avro::IcebergField("partition_spec_id", 502, "int", true, "Spec ID used to write"),
      avro::IcebergField("content", 517, "int", true, "Contents of the manifest: 0=data, 1=deletes"),
      avro::IcebergField("sequence_number", 515, "long", true, "Sequence number when the manifest was added"),
      avro::IcebergField("min_sequence_number", 516, "long", true, "Lowest sequence number in the manifest"),
      avro::IcebergField("added_snapshot_id", 503, "long", true, "Snapshot ID that added the manifest"),
      avro::IcebergField("added_files_count", 504, "int", true, "Added entry count"),
      avro::IcebergField("existing_files_count", 505, "int", true, "Existing entry count"),
      avro::IcebergField("deleted_files_count", 506, "int", true, "Deleted entry count"),
      avro::IcebergField("added_rows_count", 512, "long", true, "Added rows count"),
      avro::IcebergField("existing_rows_count", 513, "long", true, "Existing rows count"),
      avro::IcebergField("deleted_rows_count", 514, "long", true, "Deleted rows count"),
      avro::IcebergField("partitions", 507, {{"type", "array"}, {"items", summary}, {"element-id", 508}}, false,
            "Summary for each partition"),
      avro::IcebergField("key_metadata", 519, "bytes", false, "Encryption key metadata blob"),
  });
  if (format_version >= 3) {
    fields.push_back(avro::IcebergField("first_row_id", 520, "long", false,
                           "Starting row ID to assign to new rows in ADDED data files"));
  }
  OJson schema = {{"type", "record"}, {"name", "manifest_file"}, {"fields", std::move(fields)}};
  return schema.dump();
}

// The first present of several names (v1 writers used "added_data_files_count").
std::optional<int64_t> OptLongAny(const AvroValue& rec,
                                  std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (auto v = rec.FindLong(n)) return v;
  }
  return std::nullopt;
}

bool IsNaN(const Datum& d) {
  if (auto* f = std::get_if<float>(&d)) return std::isnan(*f);
  if (auto* v = std::get_if<double>(&d)) return std::isnan(*v);
  return false;
}

}  // namespace

Result<std::string> WriteManifestList(int format_version, int64_t snapshot_id,
                                      std::optional<int64_t> parent_snapshot_id,
                                      int64_t sequence_number,
                                      const std::vector<ManifestFile>& manifests) {
  if (format_version < 2 || format_version > 3) {
    return MakeError(ErrorKind::kUnsupported, "manifest list: writing format version " +
                                                  std::to_string(format_version) +
                                                  " is not supported");
  }
  std::vector<std::pair<std::string, std::string>> header = {
      {"snapshot-id", std::to_string(snapshot_id)},
      {"parent-snapshot-id", parent_snapshot_id ? std::to_string(*parent_snapshot_id) : "null"},
      {"sequence-number", std::to_string(sequence_number)},
      {"format-version", std::to_string(format_version)},
  };
  FRZ_ASSIGN_OR_RETURN(auto writer, avro::AvroFileWriter::Make(ManifestListSchema(format_version),
                                                               std::move(header)));
  for (const ManifestFile& m : manifests) {
    AvroValue partitions = AvroValue::Array();
    for (const PartitionFieldSummary& s : m.partitions) {
      partitions.items.push_back(
          AvroValue::Record()
              .Add("contains_null", AvroValue::Bool(s.contains_null))
              .Add("contains_nan",
                   s.contains_nan ? AvroValue::Bool(*s.contains_nan) : AvroValue::Null())
              .Add("lower_bound",
                   s.lower_bound ? AvroValue::Bytes(*s.lower_bound) : AvroValue::Null())
              .Add("upper_bound",
                   s.upper_bound ? AvroValue::Bytes(*s.upper_bound) : AvroValue::Null()));
    }
    AvroValue rec = AvroValue::Record();
    rec.Add("manifest_path", AvroValue::String(m.manifest_path))
        .Add("manifest_length", AvroValue::Long(m.manifest_length))
        .Add("partition_spec_id", AvroValue::Int(m.partition_spec_id))
        .Add("content", AvroValue::Int(static_cast<int>(m.content)))
        .Add("sequence_number", AvroValue::Long(m.sequence_number))
        .Add("min_sequence_number", AvroValue::Long(m.min_sequence_number))
        .Add("added_snapshot_id", AvroValue::Long(m.added_snapshot_id))
        .Add("added_files_count", AvroValue::Int(m.added_files_count))
        .Add("existing_files_count", AvroValue::Int(m.existing_files_count))
        .Add("deleted_files_count", AvroValue::Int(m.deleted_files_count))
        .Add("added_rows_count", AvroValue::Long(m.added_rows_count))
        .Add("existing_rows_count", AvroValue::Long(m.existing_rows_count))
        .Add("deleted_rows_count", AvroValue::Long(m.deleted_rows_count))
        .Add("partitions", std::move(partitions))
        .Add("key_metadata",
             m.key_metadata ? AvroValue::Bytes(*m.key_metadata) : AvroValue::Null());
    if (format_version >= 3)
      rec.Add("first_row_id",
              m.first_row_id ? AvroValue::Long(*m.first_row_id) : AvroValue::Null());
    FRZ_RETURN_IF_ERROR(writer.Append(rec));
  }
  return writer.Finish();
}

Result<std::vector<ManifestFile>> ReadManifestList(std::string_view bytes) {
  FRZ_ASSIGN_OR_RETURN(avro::AvroFile file, avro::ReadAvroFile(bytes));
  std::vector<ManifestFile> out;
  out.reserve(file.records.size());
  for (size_t i = 0; i < file.records.size(); ++i) {
    const AvroValue& rec = file.records[i];
    auto missing = [&](std::string_view what) {
      return MakeError(ErrorKind::kCorrupt, "manifest list: entry " + std::to_string(i) +
                                                " has no " + std::string(what));
    };
    ManifestFile m;
    auto path = rec.FindBytes("manifest_path");
    if (!path) return missing("manifest_path");
    m.manifest_path = *path;
    auto length = rec.FindLong("manifest_length");
    if (!length) return missing("manifest_length");
    m.manifest_length = *length;
    auto spec_id = rec.FindLong("partition_spec_id");
    if (!spec_id) return missing("partition_spec_id");
    m.partition_spec_id = static_cast<int>(*spec_id);
    if (auto c = rec.FindLong("content")) {
      if (*c != 0 && *c != 1)
        return MakeError(ErrorKind::kCorrupt, "manifest list: bad content " + std::to_string(*c));
      m.content = static_cast<ManifestContent>(*c);
    }
    // v1 lists have no sequence numbers: everything is sequence number 0.
    m.sequence_number = rec.FindLong("sequence_number").value_or(0);
    m.min_sequence_number = rec.FindLong("min_sequence_number").value_or(0);
    auto added_snapshot = rec.FindLong("added_snapshot_id");
    if (!added_snapshot) return missing("added_snapshot_id");
    m.added_snapshot_id = *added_snapshot;
    m.added_files_count = static_cast<int>(
        OptLongAny(rec, {"added_files_count", "added_data_files_count"}).value_or(0));
    m.existing_files_count = static_cast<int>(
        OptLongAny(rec, {"existing_files_count", "existing_data_files_count"}).value_or(0));
    m.deleted_files_count = static_cast<int>(
        OptLongAny(rec, {"deleted_files_count", "deleted_data_files_count"}).value_or(0));
    m.added_rows_count = rec.FindLong("added_rows_count").value_or(0);
    m.existing_rows_count = rec.FindLong("existing_rows_count").value_or(0);
    m.deleted_rows_count = rec.FindLong("deleted_rows_count").value_or(0);
    if (const AvroValue* parts = rec.FindNonNull("partitions")) {
      if (parts->type != AvroType::kArray)
        return MakeError(ErrorKind::kCorrupt, "manifest list: bad partitions");
      for (const AvroValue& p : parts->items) {
        PartitionFieldSummary s;
        const AvroValue* cn = p.FindNonNull("contains_null");
        if (cn == nullptr || cn->type != AvroType::kBoolean)
          return missing("partitions.contains_null");
        s.contains_null = cn->bool_value;
        if (const AvroValue* nan = p.FindNonNull("contains_nan");
            nan != nullptr && nan->type == AvroType::kBoolean) {
          s.contains_nan = nan->bool_value;
        }
        s.lower_bound = p.FindBytes("lower_bound");
        s.upper_bound = p.FindBytes("upper_bound");
        m.partitions.push_back(std::move(s));
      }
    }
    m.key_metadata = rec.FindBytes("key_metadata");
    m.first_row_id = rec.FindLong("first_row_id");
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<PartitionFieldSummary>> SummarizePartitions(
    const PartitionSpec& spec, const Schema& schema, const std::vector<ManifestEntry>& entries) {
  FRZ_ASSIGN_OR_RETURN(TypePtr partition_type, spec.PartitionType(schema));
  const size_t n = partition_type->fields.size();
  std::vector<PartitionFieldSummary> out(n);
  std::vector<Datum> lower(n), upper(n);
  for (PartitionFieldSummary& s : out) s.contains_nan = false;
  for (const ManifestEntry& e : entries) {
    const std::vector<Datum>& values = e.data_file.partition;
    if (values.size() != n) {
      return MakeError(ErrorKind::kInvalidArgument, "partition summary: " + e.data_file.file_path +
                                                        " has " + std::to_string(values.size()) +
                                                        " partition values, spec has " +
                                                        std::to_string(n));
    }
    for (size_t i = 0; i < n; ++i) {
      const Datum& v = values[i];
      if (IsNull(v)) {
        out[i].contains_null = true;
      } else if (IsNaN(v)) {
        out[i].contains_nan = true;
      } else {
        if (IsNull(lower[i]) || CompareDatum(v, lower[i]) < 0) lower[i] = v;
        if (IsNull(upper[i]) || CompareDatum(v, upper[i]) > 0) upper[i] = v;
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const Type& type = *partition_type->fields[i].type;
    if (!IsNull(lower[i])) {
      FRZ_ASSIGN_OR_RETURN(std::string lo, EncodeBound(type, lower[i]));
      out[i].lower_bound = std::move(lo);
    }
    if (!IsNull(upper[i])) {
      FRZ_ASSIGN_OR_RETURN(std::string hi, EncodeBound(type, upper[i]));
      out[i].upper_bound = std::move(hi);
    }
  }
  return out;
}

}  // namespace frazil::iceberg
