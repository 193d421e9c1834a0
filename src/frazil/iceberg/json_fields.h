// Internal helpers for reading Iceberg JSON documents field by field without exceptions.
// Every error is Corrupt and names the field by its path ("schemas[0].fields[2].id"), so a
// message points at the exact spot of a malformed metadata file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "frazil/base/result.h"

namespace frazil::iceberg::json_fields {

using nlohmann::json;

// "a.b" / "b" when `path` is empty.
std::string Join(std::string_view path, std::string_view key);
// "a[3]".
std::string At(std::string_view path, size_t index);

// Corrupt: "<what> (field 'path')".
std::unexpected<Error> Malformed(std::string_view path, std::string_view what);

// Checks that `value` is an object; `path` names it.
Status ExpectObject(const json& value, std::string_view path);
Status ExpectArray(const json& value, std::string_view path);

// A member that must be present and not null.
Result<const json*> Require(const json& obj, std::string_view path, std::string_view key);
// A member or nullptr when absent or null.
const json* Find(const json& obj, std::string_view key);

Result<int64_t> AsInt64(const json& value, std::string_view path);
Result<int> AsInt(const json& value, std::string_view path);
Result<bool> AsBool(const json& value, std::string_view path);
Result<std::string> AsString(const json& value, std::string_view path);

// Required members of a given type.
Result<int64_t> GetInt64(const json& obj, std::string_view path, std::string_view key);
Result<int> GetInt(const json& obj, std::string_view path, std::string_view key);
Result<bool> GetBool(const json& obj, std::string_view path, std::string_view key);
Result<std::string> GetString(const json& obj, std::string_view path, std::string_view key);

// Optional members: nullopt when absent or null.
Result<std::optional<int64_t>> GetOptionalInt64(const json& obj, std::string_view path,
                                                std::string_view key);
Result<std::optional<int>> GetOptionalInt(const json& obj, std::string_view path,
                                          std::string_view key);

// Turns a Corrupt error (from parsing a document) into InvalidArgument (for request bodies).
Error AsInvalidArgument(Error error);

}  // namespace frazil::iceberg::json_fields
