#include "frazil/catalog/catalog.h"

#include <cctype>

namespace frazil::catalog {

Result<std::string> NormalizeName(std::string_view name, bool namespace_level) {
  const char* what = namespace_level ? "namespace level" : "table name";
  if (name.empty()) return MakeError(ErrorKind::kInvalidArgument, std::string("empty ") + what);
  // The SQL layout's columns are VARCHAR(255).
  if (name.size() > 255) {
    return MakeError(ErrorKind::kInvalidArgument, std::string(what) + " longer than 255 bytes");
  }
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return MakeError(ErrorKind::kInvalidArgument,
                       std::string(what) + " contains a control character: '" + std::string(name) + "'");
    }
    if (c == '/' || (namespace_level && c == '.')) {
      return MakeError(ErrorKind::kInvalidArgument,
                       std::string(what) + " contains '" + c + "': '" + std::string(name) + "'");
    }
    out.push_back(static_cast<char>(std::tolower(u)));
  }
  if (out.find("..") != std::string::npos || out == ".") {
    return MakeError(ErrorKind::kInvalidArgument, std::string(what) + " contains '..': '" + out + "'");
  }
  return out;
}

Result<Namespace> NormalizeNamespace(const Namespace& ns) {
  if (ns.empty()) return MakeError(ErrorKind::kInvalidArgument, "empty namespace");
  Namespace out;
  out.reserve(ns.size());
  for (const std::string& level : ns) {
    FRZ_ASSIGN_OR_RETURN(std::string normalized, NormalizeName(level, /*namespace_level=*/true));
    out.push_back(std::move(normalized));
  }
  return out;
}

std::string NamespaceToString(const Namespace& ns) {
  std::string out;
  for (size_t i = 0; i < ns.size(); ++i) {
    if (i > 0) out.push_back('.');
    out += ns[i];
  }
  return out;
}

std::string TableIdentifier::ToString() const {
  return ns.empty() ? name : NamespaceToString(ns) + "." + name;
}

Result<TableIdentifier> TableIdentifier::Parse(std::string_view dotted) {
  Namespace parts;
  size_t start = 0;
  while (true) {
    size_t dot = dotted.find('.', start);
    parts.emplace_back(dotted.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (parts.size() < 2) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "table identifier needs a namespace: '" + std::string(dotted) + "'");
  }
  std::string name = std::move(parts.back());
  parts.pop_back();
  return Of(parts, name);
}

Result<TableIdentifier> TableIdentifier::Of(const Namespace& ns, std::string_view name) {
  FRZ_ASSIGN_OR_RETURN(Namespace normalized_ns, NormalizeNamespace(ns));
  FRZ_ASSIGN_OR_RETURN(std::string normalized_name, NormalizeName(name, /*namespace_level=*/false));
  return TableIdentifier{std::move(normalized_ns), std::move(normalized_name)};
}

Result<int> TakeFormatVersion(Properties* properties) {
  auto it = properties->find("format-version");
  if (it == properties->end()) return 2;
  if (it->second != "1" && it->second != "2" && it->second != "3") {
    return MakeError(ErrorKind::kInvalidArgument, "unsupported format-version: " + it->second);
  }
  int v = it->second[0] - '0';
  properties->erase(it);
  return v;
}

}  // namespace frazil::catalog
