#include "frazil/base/http_headers.h"

namespace frazil {

namespace {
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

void HttpHeaders::Add(std::string name, std::string value) { fields_.emplace_back(std::move(name), std::move(value)); }

void HttpHeaders::Set(std::string name, std::string value) {
  Remove(name);
  Add(std::move(name), std::move(value));
}

size_t HttpHeaders::Remove(std::string_view name) {
  return std::erase_if(fields_, [&](const Field& f) { return EqualsIgnoreCase(f.first, name); });
}

const std::string* HttpHeaders::Find(std::string_view name) const {
  for (const auto& f : fields_) {
    if (EqualsIgnoreCase(f.first, name)) return &f.second;
  }
  return nullptr;
}

std::string HttpHeaders::Get(std::string_view name, std::string_view fallback) const {
  const std::string* v = Find(name);
  return v ? *v : std::string(fallback);
}

std::vector<std::string_view> HttpHeaders::GetAll(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& f : fields_) {
    if (EqualsIgnoreCase(f.first, name)) out.push_back(f.second);
  }
  return out;
}

}  // namespace frazil
