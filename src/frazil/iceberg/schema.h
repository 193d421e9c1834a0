// A schema: a struct of nested fields with unique ids (spec "Schemas").
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "frazil/iceberg/type.h"

namespace frazil::iceberg {

class Schema {
 public:
  Schema() = default;
  Schema(int schema_id, std::vector<NestedField> fields, std::vector<int> identifier_field_ids = {});

  int schema_id() const { return schema_id_; }
  void set_schema_id(int id) { schema_id_ = id; }
  const std::vector<NestedField>& fields() const { return fields_; }
  const std::vector<int>& identifier_field_ids() const { return identifier_field_ids_; }
  // The schema as a struct type (for nested traversal).
  TypePtr AsStruct() const;

  // Any field at any depth, by id; nullptr if absent.
  const NestedField* FindField(int field_id) const;
  // A top-level or nested field by dotted name ("a.b"), case-sensitive; nullptr if absent.
  const NestedField* FindField(std::string_view dotted_name) const;
  // The dotted full name of a field id ("location.lat", list element "tags.element").
  std::optional<std::string> FindName(int field_id) const;
  // The highest field id used anywhere in the schema (0 if none).
  int HighestFieldId() const;
  // Checks ids unique and > 0, names unique per struct, identifier fields valid.
  Status Validate() const;

  bool SameStructure(const Schema& other) const;  // equal fields, ignoring schema id

 private:
  // Builds the id and name indexes. Indexed fields are copies (cheap: types are shared
  // immutable pointers), so a Schema can be copied and moved with the defaults.
  void Index();
  int schema_id_ = 0;
  std::vector<NestedField> fields_;
  std::vector<int> identifier_field_ids_;
  std::map<int, NestedField> by_id_;
  std::map<std::string, int, std::less<>> by_name_;
  std::map<int, std::string> name_of_;
  int highest_ = 0;
};

}  // namespace frazil::iceberg
