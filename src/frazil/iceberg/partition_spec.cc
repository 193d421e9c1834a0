#include "frazil/iceberg/partition_spec.h"

#include <algorithm>

namespace frazil::iceberg {

bool PartitionSpec::is_unpartitioned() const {
  return std::all_of(fields.begin(), fields.end(),
                     [](const PartitionField& f) { return f.transform.kind == TransformKind::kVoid; });
}

Result<TypePtr> PartitionSpec::PartitionType(const Schema& schema) const {
  std::vector<NestedField> out;
  out.reserve(fields.size());
  for (const PartitionField& pf : fields) {
    const NestedField* source = schema.FindField(pf.source_id);
    if (source == nullptr) {
      return MakeError(ErrorKind::kInvalidArgument, "partition field '" + pf.name + "' references source column id " +
                                                        std::to_string(pf.source_id) + " missing from the schema");
    }
    auto result_type = pf.transform.ResultType(source->type);
    if (!result_type) {
      return MakeError(ErrorKind::kInvalidArgument,
                       "partition field '" + pf.name + "': " + result_type.error().message);
    }
    NestedField f;
    f.id = pf.field_id;
    f.name = pf.name;
    f.required = false;
    f.type = *std::move(result_type);
    out.push_back(std::move(f));
  }
  return Struct(std::move(out));
}

int PartitionSpec::LastFieldId() const {
  int last = kFirstPartitionFieldId - 1;
  for (const PartitionField& f : fields) last = std::max(last, f.field_id);
  return last;
}

}  // namespace frazil::iceberg
