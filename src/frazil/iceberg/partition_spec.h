// Partition specs and sort orders (spec "Partitioning", "Sorting").
#pragma once

#include <string>
#include <vector>

#include "frazil/iceberg/schema.h"
#include "frazil/iceberg/transform.h"

namespace frazil::iceberg {

inline constexpr int kFirstPartitionFieldId = 1000;  // unpartitioned: last-partition-id 999

struct PartitionField {
  int source_id = 0;
  int field_id = 0;  // >= 1000
  std::string name;
  Transform transform;
  bool operator==(const PartitionField&) const = default;
};

struct PartitionSpec {
  int spec_id = 0;
  std::vector<PartitionField> fields;

  bool is_unpartitioned() const;  // no fields, or only void transforms
  // The partition tuple's struct type (field ids = partition field ids, all optional),
  // computed from the transforms' result types over `schema`. Errors: InvalidArgument if a
  // source column is missing or has a type the transform cannot take.
  Result<TypePtr> PartitionType(const Schema& schema) const;
  // Same fields (ignoring spec id)?
  bool CompatibleWith(const PartitionSpec& other) const { return fields == other.fields; }
  int LastFieldId() const;  // 999 if no fields
};

struct SortField {
  int source_id = 0;
  Transform transform;
  bool ascending = true;
  bool nulls_first = true;
  bool operator==(const SortField&) const = default;
};

struct SortOrder {
  int order_id = 0;  // 0 = unsorted
  std::vector<SortField> fields;
};

}  // namespace frazil::iceberg
