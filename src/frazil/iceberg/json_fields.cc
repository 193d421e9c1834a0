#include "frazil/iceberg/json_fields.h"

#include <limits>

namespace frazil::iceberg::json_fields {
namespace {

const char* TypeName(const json& value) { return value.type_name(); }

}  // namespace

std::string Join(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out(path);
  out += '.';
  out += key;
  return out;
}

std::string At(std::string_view path, size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

std::unexpected<Error> Malformed(std::string_view path, std::string_view what) {
  return MakeError(ErrorKind::kCorrupt,
                   std::string(what) + " (field '" + std::string(path) + "')");
}

Status ExpectObject(const json& value, std::string_view path) {
  if (!value.is_object()) {
    return Malformed(path, std::string("expected an object, got ") + TypeName(value));
  }
  return Ok();
}

Status ExpectArray(const json& value, std::string_view path) {
  if (!value.is_array()) {
    return Malformed(path, std::string("expected an array, got ") + TypeName(value));
  }
  return Ok();
}

Result<const json*> Require(const json& obj, std::string_view path, std::string_view key) {
  FRZ_RETURN_IF_ERROR(ExpectObject(obj, path.empty() ? "<root>" : path));
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return Malformed(Join(path, key), "missing required field");
  }
  return &*it;
}

const json* Find(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<int64_t> AsInt64(const json& value, std::string_view path) {
  if (value.is_number_unsigned()) {
    uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Malformed(path, "integer out of range for a long");
    }
    return static_cast<int64_t>(u);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  return Malformed(path, std::string("expected an integer, got ") + TypeName(value));
}

Result<int> AsInt(const json& value, std::string_view path) {
  FRZ_ASSIGN_OR_RETURN(int64_t v, AsInt64(value, path));
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
    return Malformed(path, "integer out of range for an int");
  }
  return static_cast<int>(v);
}

Result<bool> AsBool(const json& value, std::string_view path) {
  if (!value.is_boolean()) {
    return Malformed(path, std::string("expected a boolean, got ") + TypeName(value));
  }
  return value.get<bool>();
}

Result<std::string> AsString(const json& value, std::string_view path) {
  if (!value.is_string()) {
    return Malformed(path, std::string("expected a string, got ") + TypeName(value));
  }
  return value.get<std::string>();
}

Result<int64_t> GetInt64(const json& obj, std::string_view path, std::string_view key) {
  FRZ_ASSIGN_OR_RETURN(const json* v, Require(obj, path, key));
  return AsInt64(*v, Join(path, key));
}

Result<int> GetInt(const json& obj, std::string_view path, std::string_view key) {
  FRZ_ASSIGN_OR_RETURN(const json* v, Require(obj, path, key));
  return AsInt(*v, Join(path, key));
}

Result<bool> GetBool(const json& obj, std::string_view path, std::string_view key) {
  FRZ_ASSIGN_OR_RETURN(const json* v, Require(obj, path, key));
  return AsBool(*v, Join(path, key));
}

Result<std::string> GetString(const json& obj, std::string_view path, std::string_view key) {
  FRZ_ASSIGN_OR_RETURN(const json* v, Require(obj, path, key));
  return AsString(*v, Join(path, key));
}

Result<std::optional<int64_t>> GetOptionalInt64(const json& obj, std::string_view path,
                                                std::string_view key) {
  const json* v = Find(obj, key);
  if (v == nullptr) return std::optional<int64_t>();
  FRZ_ASSIGN_OR_RETURN(int64_t out, AsInt64(*v, Join(path, key)));
  return std::optional<int64_t>(out);
}

Result<std::optional<int>> GetOptionalInt(const json& obj, std::string_view path,
                                          std::string_view key) {
  const json* v = Find(obj, key);
  if (v == nullptr) return std::optional<int>();
  FRZ_ASSIGN_OR_RETURN(int out, AsInt(*v, Join(path, key)));
  return std::optional<int>(out);
}

Error AsInvalidArgument(Error error) {
  if (error.kind == ErrorKind::kCorrupt) error.kind = ErrorKind::kInvalidArgument;
  return error;
}

}  // namespace frazil::iceberg::json_fields
