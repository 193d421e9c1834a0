#include "frazil/rest/messages.h"

#include <algorithm>
#include <set>

#include "frazil/iceberg/json_fields.h"

namespace frazil::rest {

namespace jf = iceberg::json_fields;
using nlohmann::json;

namespace {

Error Invalid(std::string message) { return Error{ErrorKind::kInvalidArgument, std::move(message)}; }

std::string Where(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}

Result<std::vector<std::string>> StringArray(const json& j, std::string_view what) {
  if (!j.is_array()) return std::unexpected(Invalid(std::string(what) + " must be an array of strings"));
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) return std::unexpected(Invalid(std::string(what) + " must be an array of strings"));
    out.push_back(e.get<std::string>());
  }
  return out;
}

Result<catalog::Properties> StringMap(const json& j, std::string_view what) {
  if (!j.is_object()) return std::unexpected(Invalid(std::string(what) + " must be an object of strings"));
  catalog::Properties out;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) {
      return std::unexpected(Invalid(std::string(what) + "['" + k + "'] must be a string"));
    }
    out[k] = v.get<std::string>();
  }
  return out;
}

Result<std::string> RequiredString(const json& j, std::string_view path, std::string_view key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::unexpected(Invalid(Where(path, key) + " is required"));
  if (!it->is_string()) return std::unexpected(Invalid(Where(path, key) + " must be a string"));
  return it->get<std::string>();
}

Result<bool> OptionalBool(const json& j, std::string_view path, std::string_view key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return false;
  if (!it->is_boolean()) return std::unexpected(Invalid(Where(path, key) + " must be a boolean"));
  return it->get<bool>();
}

}  // namespace

catalog::Namespace SplitNamespace(std::string_view joined) {
  catalog::Namespace ns;
  size_t pos = 0;
  while (true) {
    size_t sep = joined.find('\x1f', pos);
    ns.emplace_back(joined.substr(pos, sep == std::string_view::npos ? std::string_view::npos : sep - pos));
    if (sep == std::string_view::npos) break;
    pos = sep + 1;
  }
  return ns;
}

std::string JoinNamespace(const catalog::Namespace& ns) {
  std::string out;
  for (size_t i = 0; i < ns.size(); ++i) {
    if (i) out += '\x1f';
    out += ns[i];
  }
  return out;
}

Result<catalog::Namespace> PathNamespace(const server::HttpRequest& req) {
  return catalog::NormalizeNamespace(SplitNamespace(req.PathParam("ns")));
}

Result<catalog::TableIdentifier> PathTable(const server::HttpRequest& req) {
  return catalog::TableIdentifier::Of(SplitNamespace(req.PathParam("ns")), req.PathParam("table"));
}

json IdentifierToJson(const catalog::TableIdentifier& id) { return {{"namespace", id.ns}, {"name", id.name}}; }

Result<catalog::TableIdentifier> IdentifierFromJson(const json& j, std::string_view path) {
  if (!j.is_object()) return std::unexpected(Invalid(std::string(path) + " must be an object {namespace, name}"));
  auto ns_it = j.find("namespace");
  if (ns_it == j.end()) return std::unexpected(Invalid(Where(path, "namespace") + " is required"));
  FRZ_ASSIGN_OR_RETURN(std::vector<std::string> ns, StringArray(*ns_it, Where(path, "namespace")));
  FRZ_ASSIGN_OR_RETURN(std::string name, RequiredString(j, path, "name"));
  return catalog::TableIdentifier::Of(ns, name);
}

Result<json> ParseBody(std::string_view body, std::string_view what) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::unexpected(Invalid(std::string(what) + ": the body is not valid JSON"));
  if (!j.is_object()) return std::unexpected(Invalid(std::string(what) + ": the body must be a JSON object"));
  return j;
}

Result<CreateNamespaceRequest> ParseCreateNamespace(std::string_view body) {
  FRZ_ASSIGN_OR_RETURN(json j, ParseBody(body, "CreateNamespaceRequest"));
  CreateNamespaceRequest r;
  auto ns = j.find("namespace");
  if (ns == j.end()) return std::unexpected(Invalid("CreateNamespaceRequest: 'namespace' is required"));
  FRZ_ASSIGN_OR_RETURN(r.ns, StringArray(*ns, "CreateNamespaceRequest: 'namespace'"));
  if (auto p = j.find("properties"); p != j.end() && !p->is_null()) {
    FRZ_ASSIGN_OR_RETURN(r.properties, StringMap(*p, "CreateNamespaceRequest: 'properties'"));
  }
  return r;
}

Result<UpdateNamespacePropertiesRequest> ParseUpdateNamespaceProperties(std::string_view body) {
  FRZ_ASSIGN_OR_RETURN(json j, ParseBody(body, "UpdateNamespacePropertiesRequest"));
  UpdateNamespacePropertiesRequest r;
  if (auto p = j.find("removals"); p != j.end()) {
    FRZ_ASSIGN_OR_RETURN(r.removals, StringArray(*p, "UpdateNamespacePropertiesRequest: 'removals'"));
  }
  if (auto p = j.find("updates"); p != j.end()) {
    FRZ_ASSIGN_OR_RETURN(r.updates, StringMap(*p, "UpdateNamespacePropertiesRequest: 'updates'"));
  }
  std::set<std::string> unique(r.removals.begin(), r.removals.end());
  if (unique.size() != r.removals.size()) {
    return std::unexpected(Invalid("UpdateNamespacePropertiesRequest: 'removals' lists a key twice"));
  }
  return r;
}

Result<CreateTableRequest> ParseCreateTable(std::string_view body) {
  constexpr std::string_view kWhat = "CreateTableRequest";
  FRZ_ASSIGN_OR_RETURN(json j, ParseBody(body, kWhat));
  CreateTableRequest r;
  FRZ_ASSIGN_OR_RETURN(r.name, RequiredString(j, kWhat, "name"));
  if (auto it = j.find("location"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return std::unexpected(Invalid("CreateTableRequest.location must be a string"));
    if (!it->get<std::string>().empty()) r.location = it->get<std::string>();
  }
  auto schema = j.find("schema");
  if (schema == j.end() || schema->is_null()) return std::unexpected(Invalid("CreateTableRequest.schema is required"));
  if (!schema->is_object()) return std::unexpected(Invalid("CreateTableRequest.schema must be an object"));
  auto parsed_schema = iceberg::SchemaFromJson(*schema);
  if (!parsed_schema) return std::unexpected(Invalid("CreateTableRequest.schema: " + parsed_schema.error().message));
  r.schema = std::move(*parsed_schema);
  if (auto it = j.find("partition-spec"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return std::unexpected(Invalid("CreateTableRequest.partition-spec must be an object"));
    auto spec = iceberg::PartitionSpecFromJson(*it);
    if (!spec) return std::unexpected(Invalid("CreateTableRequest.partition-spec: " + spec.error().message));
    r.spec = std::move(*spec);
  }
  if (auto it = j.find("write-order"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return std::unexpected(Invalid("CreateTableRequest.write-order must be an object"));
    json order = *it;
    if (!order.contains("order-id")) order["order-id"] = order.value("fields", json::array()).empty() ? 0 : 1;
    auto parsed = iceberg::SortOrderFromJson(order);
    if (!parsed) return std::unexpected(Invalid("CreateTableRequest.write-order: " + parsed.error().message));
    r.order = std::move(*parsed);
  }
  FRZ_ASSIGN_OR_RETURN(r.stage_create, OptionalBool(j, kWhat, "stage-create"));
  if (auto it = j.find("properties"); it != j.end() && !it->is_null()) {
    FRZ_ASSIGN_OR_RETURN(r.properties, StringMap(*it, "CreateTableRequest.properties"));
  }
  return r;
}

Result<RegisterTableRequest> ParseRegisterTable(std::string_view body) {
  constexpr std::string_view kWhat = "RegisterTableRequest";
  FRZ_ASSIGN_OR_RETURN(json j, ParseBody(body, kWhat));
  RegisterTableRequest r;
  FRZ_ASSIGN_OR_RETURN(r.name, RequiredString(j, kWhat, "name"));
  FRZ_ASSIGN_OR_RETURN(r.metadata_location, RequiredString(j, kWhat, "metadata-location"));
  FRZ_ASSIGN_OR_RETURN(r.overwrite, OptionalBool(j, kWhat, "overwrite"));
  return r;
}

Result<RenameTableRequest> ParseRenameTable(std::string_view body) {
  FRZ_ASSIGN_OR_RETURN(json j, ParseBody(body, "RenameTableRequest"));
  auto src = j.find("source");
  auto dst = j.find("destination");
  if (src == j.end()) return std::unexpected(Invalid("RenameTableRequest.source is required"));
  if (dst == j.end()) return std::unexpected(Invalid("RenameTableRequest.destination is required"));
  RenameTableRequest r;
  FRZ_ASSIGN_OR_RETURN(r.source, IdentifierFromJson(*src, "RenameTableRequest.source"));
  FRZ_ASSIGN_OR_RETURN(r.destination, IdentifierFromJson(*dst, "RenameTableRequest.destination"));
  return r;
}

Result<TableChange> ParseTableChange(const json& j, std::string_view path, bool require_identifier) {
  if (!j.is_object()) return std::unexpected(Invalid(std::string(path) + " must be an object"));
  TableChange c;
  if (auto it = j.find("identifier"); it != j.end() && !it->is_null()) {
    FRZ_ASSIGN_OR_RETURN(c.identifier, IdentifierFromJson(*it, Where(path, "identifier")));
  } else if (require_identifier) {
    return std::unexpected(Invalid(Where(path, "identifier") + " is required"));
  }
  auto reqs = j.find("requirements");
  auto upds = j.find("updates");
  if (reqs == j.end() || !reqs->is_array()) return std::unexpected(Invalid(Where(path, "requirements") + " must be an array"));
  if (upds == j.end() || !upds->is_array()) return std::unexpected(Invalid(Where(path, "updates") + " must be an array"));
  for (size_t i = 0; i < reqs->size(); ++i) {
    auto r = iceberg::RequirementFromJson((*reqs)[i]);
    if (!r) return std::unexpected(Invalid(Where(path, "requirements") + "[" + std::to_string(i) + "]: " + r.error().message));
    c.requirements.push_back(std::move(*r));
  }
  for (size_t i = 0; i < upds->size(); ++i) {
    auto u = iceberg::UpdateFromJson((*upds)[i]);
    if (!u) return std::unexpected(Invalid(Where(path, "updates") + "[" + std::to_string(i) + "]: " + u.error().message));
    c.updates.push_back(std::move(*u));
  }
  return c;
}

Result<std::vector<catalog::TableCommit>> ParseCommitTransaction(std::string_view body) {
  FRZ_ASSIGN_OR_RETURN(json j, ParseBody(body, "CommitTransactionRequest"));
  auto changes = j.find("table-changes");
  if (changes == j.end() || !changes->is_array()) {
    return std::unexpected(Invalid("CommitTransactionRequest.table-changes must be an array"));
  }
  if (changes->empty()) return std::unexpected(Invalid("CommitTransactionRequest.table-changes is empty"));
  std::vector<catalog::TableCommit> out;
  std::set<catalog::TableIdentifier> seen;
  for (size_t i = 0; i < changes->size(); ++i) {
    std::string path = "CommitTransactionRequest.table-changes[" + std::to_string(i) + "]";
    FRZ_ASSIGN_OR_RETURN(TableChange c, ParseTableChange((*changes)[i], path, true));
    if (!seen.insert(*c.identifier).second) {
      return std::unexpected(Invalid(path + ": table " + c.identifier->ToString() + " appears twice"));
    }
    out.push_back(catalog::TableCommit{*c.identifier, std::move(c.requirements), std::move(c.updates)});
  }
  return out;
}

Result<SnapshotMode> ParseSnapshotMode(std::optional<std::string_view> value) {
  if (!value || value->empty() || *value == "all") return SnapshotMode::kAll;
  if (*value == "refs") return SnapshotMode::kRefs;
  return std::unexpected(Invalid("snapshots must be 'all' or 'refs', got '" + std::string(*value) + "'"));
}

json LoadTableResultJson(const std::string& metadata_location, const iceberg::TableMetadata& metadata,
                         SnapshotMode mode) {
  json md = iceberg::TableMetadataToJson(metadata);
  if (mode == SnapshotMode::kRefs && md.contains("snapshots")) {
    std::set<int64_t> referenced;
    for (const auto& [name, ref] : metadata.refs) referenced.insert(ref.snapshot_id);
    json kept = json::array();
    for (const auto& s : md["snapshots"]) {
      if (referenced.contains(s.value("snapshot-id", int64_t{0}))) kept.push_back(s);
    }
    md["snapshots"] = std::move(kept);
  }
  json out = {{"metadata", std::move(md)}, {"config", json::object()}};
  if (!metadata_location.empty()) out["metadata-location"] = metadata_location;
  return out;
}

}  // namespace frazil::rest
