#include "frazil/iceberg/schema.h"

#include <algorithm>
#include <set>

namespace frazil::iceberg {
namespace {

// Where a field sits, for identifier-field checks.
struct FieldPlace {
  bool in_collection = false;   // inside a list element or a map key/value
  bool optional_parent = false; // some enclosing struct field is optional
};

class Validator {
 public:
  Status Walk(const std::vector<NestedField>& fields, const std::string& prefix, FieldPlace place) {
    std::set<std::string_view> names;
    for (const NestedField& f : fields) {
      const std::string full = prefix + f.name;
      if (f.id <= 0) {
        return MakeError(ErrorKind::kInvalidArgument,
                         "schema field '" + full + "' has non-positive id " + std::to_string(f.id));
      }
      if (f.name.empty()) {
        return MakeError(ErrorKind::kInvalidArgument, "schema field id " + std::to_string(f.id) + " has an empty name");
      }
      if (!names.insert(f.name).second) {
        return MakeError(ErrorKind::kInvalidArgument, "schema has duplicate field name '" + full + "'");
      }
      if (!places_.emplace(f.id, place).second) {
        return MakeError(ErrorKind::kInvalidArgument, "schema has duplicate field id " + std::to_string(f.id) +
                                                          " (at '" + full + "')");
      }
      if (!f.type) {
        return MakeError(ErrorKind::kInvalidArgument, "schema field '" + full + "' has no type");
      }
      fields_[f.id] = &f;
      FRZ_RETURN_IF_ERROR(CheckType(*f.type, full));
      if (f.type->is_nested()) {
        FieldPlace child = place;
        if (f.type->id == TypeId::kStruct) {
          child.optional_parent = place.optional_parent || !f.required;
        } else {
          child.in_collection = true;
        }
        FRZ_RETURN_IF_ERROR(Walk(f.type->fields, full + ".", child));
      }
    }
    return Ok();
  }

  Status CheckIdentifier(int id) const {
    auto it = fields_.find(id);
    if (it == fields_.end()) {
      return MakeError(ErrorKind::kInvalidArgument, "identifier field id " + std::to_string(id) + " is not in the schema");
    }
    const NestedField& f = *it->second;
    const FieldPlace& place = places_.at(id);
    std::string what = "identifier field '" + f.name + "' (id " + std::to_string(id) + ")";
    if (!f.type->is_primitive()) return MakeError(ErrorKind::kInvalidArgument, what + " must be a primitive type");
    if (f.type->id == TypeId::kFloat || f.type->id == TypeId::kDouble) {
      return MakeError(ErrorKind::kInvalidArgument, what + " must not be float or double");
    }
    if (!f.required) return MakeError(ErrorKind::kInvalidArgument, what + " must be required");
    if (place.in_collection) return MakeError(ErrorKind::kInvalidArgument, what + " must not be in a list or map");
    if (place.optional_parent) {
      return MakeError(ErrorKind::kInvalidArgument, what + " must not be nested in an optional struct");
    }
    return Ok();
  }

 private:
  static Status CheckType(const Type& t, const std::string& name) {
    switch (t.id) {
      case TypeId::kDecimal:
        if (t.precision < 1 || t.precision > 38 || t.scale < 0) {
          return MakeError(ErrorKind::kInvalidArgument, "field '" + name + "' has invalid type " + t.ToString());
        }
        return Ok();
      case TypeId::kFixed:
        if (t.length <= 0) {
          return MakeError(ErrorKind::kInvalidArgument, "field '" + name + "' has invalid type " + t.ToString());
        }
        return Ok();
      case TypeId::kList:
        if (t.fields.size() != 1) {
          return MakeError(ErrorKind::kInvalidArgument, "list field '" + name + "' must have exactly one element field");
        }
        return Ok();
      case TypeId::kMap:
        if (t.fields.size() != 2) {
          return MakeError(ErrorKind::kInvalidArgument, "map field '" + name + "' must have a key and a value field");
        }
        return Ok();
      default:
        return Ok();
    }
  }

  std::map<int, FieldPlace> places_;
  std::map<int, const NestedField*> fields_;
};

}  // namespace

Schema::Schema(int schema_id, std::vector<NestedField> fields, std::vector<int> identifier_field_ids)
    : schema_id_(schema_id), fields_(std::move(fields)), identifier_field_ids_(std::move(identifier_field_ids)) {
  Index();
}

void Schema::Index() {
  by_id_.clear();
  by_name_.clear();
  name_of_.clear();
  highest_ = 0;
  // The first occurrence of a duplicate id or name wins
  // (Validate reports duplicates).
  auto walk = [this](auto&& self, const std::vector<NestedField>& fields, const std::string& prefix) -> void {
    for (const NestedField& f : fields) {
      std::string full = prefix + f.name;
      highest_ = std::max(highest_, f.id);
      by_id_.emplace(f.id, f);
      name_of_.emplace(f.id, full);
      by_name_.emplace(full, f.id);
      if (f.type && f.type->is_nested()) self(self, f.type->fields, full + ".");
    }
  };
  walk(walk, fields_, "");
}

TypePtr Schema::AsStruct() const { return Struct(fields_); }

const NestedField* Schema::FindField(int field_id) const {
  auto it = by_id_.find(field_id);
  return it == by_id_.end() ? nullptr : &it->second;
}

const NestedField* Schema::FindField(std::string_view dotted_name) const {
  auto it = by_name_.find(dotted_name);
  return it == by_name_.end() ? nullptr : FindField(it->second);
}

std::optional<std::string> Schema::FindName(int field_id) const {
  auto it = name_of_.find(field_id);
  if (it == name_of_.end()) return std::nullopt;
  return it->second;
}

int Schema::HighestFieldId() const { return highest_; }

Status Schema::Validate() const {
  Validator v;
  FRZ_RETURN_IF_ERROR(v.Walk(fields_, "", FieldPlace{}));
  std::set<int> seen;
  for (int id : identifier_field_ids_) {
    if (!seen.insert(id).second) {
      return MakeError(ErrorKind::kInvalidArgument, "identifier field id " + std::to_string(id) + " listed twice");
    }
    FRZ_RETURN_IF_ERROR(v.CheckIdentifier(id));
  }
  return Ok();
}

bool Schema::SameStructure(const Schema& other) const {
  // Identifier fields are a set: order does not matter.
  std::set<int> mine(identifier_field_ids_.begin(), identifier_field_ids_.end());
  std::set<int> theirs(other.identifier_field_ids_.begin(), other.identifier_field_ids_.end());
  if (mine != theirs) return false;
  return TypeEquals(*AsStruct(), *other.AsStruct());
}

}  // namespace frazil::iceberg
