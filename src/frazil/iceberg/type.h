// Iceberg types (spec "Schemas and Data Types"): primitives, decimal(p,s), fixed[L] and the
// nested struct / list / map types. Every nested field carries a stable field id.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "frazil/base/result.h"

namespace frazil::iceberg {

enum class TypeId {
  kBoolean,
  kInt,
  kLong,
  kFloat,
  kDouble,
  kDecimal,
  kDate,
  kTime,
  kTimestamp,
  kTimestampTz,
  kString,
  kUuid,
  kFixed,
  kBinary,
  kStruct,
  kList,
  kMap,
};

struct Type;
using TypePtr = std::shared_ptr<const Type>;

struct NestedField {
  int id = 0;
  std::string name;
  bool required = false;
  TypePtr type;
  std::string doc;  // empty = none
  // Default values (v3 spec; kept as JSON single-value serialization when present).
  std::shared_ptr<const nlohmann::json> initial_default;
  std::shared_ptr<const nlohmann::json> write_default;
};

struct Type {
  TypeId id = TypeId::kBoolean;
  int precision = 0;  // decimal
  int scale = 0;      // decimal
  int length = 0;     // fixed
  // struct: its fields; list: one field "element"; map: two fields "key", "value".
  std::vector<NestedField> fields;

  bool is_primitive() const { return id != TypeId::kStruct && id != TypeId::kList && id != TypeId::kMap; }
  bool is_nested() const { return !is_primitive(); }
  const NestedField& element() const { return fields.at(0); }  // list
  const NestedField& key() const { return fields.at(0); }      // map
  const NestedField& value() const { return fields.at(1); }    // map

  // Primitive type names as in the spec: "long", "decimal(10, 2)", "fixed[16]".
  // Nested types render as "struct<...>" (for messages only; JSON form is separate).
  std::string ToString() const;
};

// Factories. Primitive types are shared singletons.
TypePtr Primitive(TypeId id);
TypePtr Decimal(int precision, int scale);
TypePtr Fixed(int length);
TypePtr Struct(std::vector<NestedField> fields);
TypePtr List(int element_id, TypePtr element, bool element_required);
TypePtr Map(int key_id, TypePtr key, int value_id, TypePtr value, bool value_required);

// Parses a primitive type name ("int", "decimal(9,2)", "fixed[4]", "timestamptz").
Result<TypePtr> ParsePrimitiveType(std::string_view name);

bool TypeEquals(const Type& a, const Type& b);

// Whether `from` may be promoted to `to` by schema evolution (int->long, float->double,
// decimal(P,S)->decimal(P',S) with P' >= P, and identity).
bool IsPromotionAllowed(const Type& from, const Type& to);

}  // namespace frazil::iceberg
