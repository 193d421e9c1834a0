// HTTP header fields, shared by frazil's HTTP server (server/http.h) and client
// (io/http_client.h).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace frazil {

// True if `a` and `b` are equal ignoring ASCII case.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Header fields in arrival order; names compare case-insensitively, repeated names are kept.
class HttpHeaders {
 public:
  using Field = std::pair<std::string, std::string>;

  HttpHeaders() = default;
  HttpHeaders(std::initializer_list<Field> fields) : fields_(fields) {}

  // Appends a field (a repeated name is kept as a second field).
  void Add(std::string name, std::string value);
  // Replaces every field named `name` with one field.
  void Set(std::string name, std::string value);
  // Removes every field named `name`; returns how many there were.
  size_t Remove(std::string_view name);
  // The first field named `name`, or nullptr.
  const std::string* Find(std::string_view name) const;
  // The first field named `name`, or `fallback`.
  std::string Get(std::string_view name, std::string_view fallback = {}) const;
  std::vector<std::string_view> GetAll(std::string_view name) const;
  bool Has(std::string_view name) const { return Find(name) != nullptr; }

  size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  std::vector<Field>::const_iterator begin() const { return fields_.begin(); }
  std::vector<Field>::const_iterator end() const { return fields_.end(); }

 private:
  std::vector<Field> fields_;
};

}  // namespace frazil
