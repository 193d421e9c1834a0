// Small helpers shared by the iceberg unit tests.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>

#include "frazil/iceberg/type.h"

namespace frazil::iceberg::testing {

// A string of raw bytes: Raw({0x00, 0xff}).
inline std::string Raw(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

// A schema field.
inline NestedField Field(int id, std::string name, TypePtr type, bool required = false) {
  NestedField f;
  f.id = id;
  f.name = std::move(name);
  f.type = std::move(type);
  f.required = required;
  return f;
}

}  // namespace frazil::iceberg::testing
