// The REST catalog's request and response bodies (spec components CreateTableRequest,
// CommitTableRequest, LoadTableResult, ...): parsing with errors that name the field, and
// JSON building. Parsing errors are InvalidArgument (-> 400 BadRequestException).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "frazil/base/result.h"
#include "frazil/catalog/catalog.h"
#include "frazil/iceberg/table_metadata.h"
#include "frazil/iceberg/table_update.h"
#include "frazil/server/http.h"

namespace frazil::rest {

// Sent by frazil's own REST client (RestCatalog): such a request may commit to the tables
// `frazil run` writes, which other clients may only read (docs/rest-catalog.md). A guard
// against accidents, not an authorization: OAuth2 grants decide who may write at all.
inline constexpr const char* kFrazilClientHeader = "X-Frazil-Client";

// Multi-level namespaces travel as one path segment or query value, levels joined by 0x1F.
catalog::Namespace SplitNamespace(std::string_view joined);
std::string JoinNamespace(const catalog::Namespace& ns);

// The `{ns}` / `{table}` path parameters, validated and lowercased.
Result<catalog::Namespace> PathNamespace(const server::HttpRequest& req);
Result<catalog::TableIdentifier> PathTable(const server::HttpRequest& req);

// {"namespace": [...], "name": "..."}
nlohmann::json IdentifierToJson(const catalog::TableIdentifier& id);
Result<catalog::TableIdentifier> IdentifierFromJson(const nlohmann::json& j, std::string_view path);

// The body as a JSON object; `what` names the request type in errors.
Result<nlohmann::json> ParseBody(std::string_view body, std::string_view what);

struct CreateNamespaceRequest {
  catalog::Namespace ns;
  catalog::Properties properties;
};
Result<CreateNamespaceRequest> ParseCreateNamespace(std::string_view body);

struct UpdateNamespacePropertiesRequest {
  std::vector<std::string> removals;  // no duplicates (400)
  catalog::Properties updates;
};
Result<UpdateNamespacePropertiesRequest> ParseUpdateNamespaceProperties(std::string_view body);

struct CreateTableRequest {
  std::string name;
  std::optional<std::string> location;
  iceberg::Schema schema;
  iceberg::PartitionSpec spec;  // unpartitioned when absent
  iceberg::SortOrder order;     // unsorted when absent
  bool stage_create = false;
  catalog::Properties properties;
};
Result<CreateTableRequest> ParseCreateTable(std::string_view body);

struct RegisterTableRequest {
  std::string name;
  std::string metadata_location;
  bool overwrite = false;
};
Result<RegisterTableRequest> ParseRegisterTable(std::string_view body);

struct RenameTableRequest {
  catalog::TableIdentifier source;
  catalog::TableIdentifier destination;
};
Result<RenameTableRequest> ParseRenameTable(std::string_view body);

// One table's requirements and updates (CommitTableRequest, or an entry of
// CommitTransactionRequest's table-changes, where the identifier is required).
struct TableChange {
  std::optional<catalog::TableIdentifier> identifier;
  std::vector<iceberg::TableRequirement> requirements;
  std::vector<iceberg::TableUpdate> updates;
};
Result<TableChange> ParseTableChange(const nlohmann::json& j, std::string_view path, bool require_identifier);
Result<std::vector<catalog::TableCommit>> ParseCommitTransaction(std::string_view body);

// ?snapshots=all|refs (absent = all).
enum class SnapshotMode { kAll, kRefs };
Result<SnapshotMode> ParseSnapshotMode(std::optional<std::string_view> value);

// LoadTableResult: {"metadata-location" (omitted when empty: a staged table), "metadata",
// "config": {}}. With kRefs only the snapshots a branch or tag points at are included.
nlohmann::json LoadTableResultJson(const std::string& metadata_location,
                                   const iceberg::TableMetadata& metadata, SnapshotMode mode);

}  // namespace frazil::rest
