#include "frazil/catalog/jdbc_catalog.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>
#include <utility>

#include "frazil/base/random.h"
#include "frazil/catalog/metadata_files.h"
#include "frazil/iceberg/manifest.h"

namespace frazil::catalog {
namespace {

using Rows = std::vector<SqlSession::Row>;

// Both peers record a created namespace by this property, so that an empty namespace exists.
constexpr const char* kExistsProperty = "exists";

// LIKE pattern for "children of ns", with '!' as the escape character like the peers.
std::string ChildPattern(std::string_view ns) {
  std::string out;
  for (char c : ns) {
    if (c == '!' || c == '_' || c == '%') out.push_back('!');
    out.push_back(c);
  }
  return out + ".%";
}

Namespace SplitNamespace(std::string_view text) {
  Namespace out;
  size_t start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    out.emplace_back(text.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

bool HasAssertCreate(const std::vector<iceberg::TableRequirement>& requirements) {
  return std::any_of(requirements.begin(), requirements.end(), [](const auto& r) {
    return std::holds_alternative<iceberg::req::AssertCreate>(r);
  });
}

std::string StripTrailingSlashes(std::string location) {
  while (location.size() > 1 && location.back() == '/') location.pop_back();
  return location;
}

Error NoSuchNamespace(const std::string& ns) {
  return Error{ErrorKind::kNoSuchNamespace, "Namespace does not exist: " + ns};
}
Error NoSuchTable(const TableIdentifier& id) {
  return Error{ErrorKind::kNoSuchTable, "Table does not exist: " + id.ToString()};
}

}  // namespace

struct JdbcCatalog::Prepared {
  TableIdentifier id;
  std::optional<std::string> base_location;  // nullopt: the commit creates the table
  bool noop = false;                          // no updates: only the requirements matter
  LoadedTable result;
};

Status JdbcCatalog::Validate(std::string_view store, JdbcCatalogConfig& config, const io::FileIO* file_io) {
  if (config.name.empty()) return MakeError(ErrorKind::kInvalidArgument, std::string(store) + ": empty catalog name");
  if (file_io == nullptr) return MakeError(ErrorKind::kInvalidArgument, std::string(store) + ": no FileIO");
  if (config.max_commit_attempts < 1) config.max_commit_attempts = 1;
  if (config.clock == nullptr) config.clock = &Clock::System();
  return Ok();
}

Status JdbcCatalog::DetectLayout(SqlSession& session) {
  FRZ_ASSIGN_OR_RETURN(has_type_column_, session.HasColumn("iceberg_tables", "iceberg_type"));
  return Ok();
}

void JdbcCatalog::SetCommitHook(std::function<Status(CommitPoint)> hook) {
  std::lock_guard lock(hook_mu_);
  hook_ = std::move(hook);
}

Status JdbcCatalog::RunHook(CommitPoint point) {
  std::function<Status(CommitPoint)> hook;
  {
    std::lock_guard lock(hook_mu_);
    hook = hook_;
  }
  return hook ? hook(point) : Ok();
}

std::string JdbcCatalog::TypeFilter() const {
  // Rows of views (iceberg_type 'VIEW', written by Java) are not tables.
  return has_type_column_ ? " AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)" : "";
}

std::string JdbcCatalog::InsertTableSql() const {
  return std::string("INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, "
                     "metadata_location, previous_metadata_location") +
         (has_type_column_ ? ", iceberg_type) VALUES (?, ?, ?, ?, NULL, 'TABLE')"
                           : ") VALUES (?, ?, ?, ?, NULL)");
}

Result<bool> JdbcCatalog::InTransaction(SqlSession& s, std::string_view what,
                                        const std::function<Result<bool>()>& body) {
  FRZ_RETURN_IF_ERROR(s.Begin(what));
  Result<bool> proceed = body();
  if (!proceed || !*proceed) {
    // Nothing is durable before COMMIT, so failing here is a definite failure even if the
    // rollback itself fails.
    s.Rollback(what);
    return proceed;
  }
  FRZ_RETURN_IF_ERROR(s.Commit(what));
  return true;
}

Result<std::optional<std::string>> JdbcCatalog::CurrentLocation(SqlSession& s, const TableIdentifier& id) {
  FRZ_ASSIGN_OR_RETURN(
      Rows rows, s.Query("SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ? AND "
                         "table_namespace = ? AND table_name = ?" + TypeFilter(),
                         {config_.name, NamespaceToString(id.ns), id.name}, "load table"));
  if (rows.empty()) return std::optional<std::string>();
  std::optional<std::string> location = rows[0].at(0);
  if (!location || location->empty()) {
    return MakeError(ErrorKind::kCorrupt, "catalog row of " + id.ToString() + " has no metadata_location");
  }
  return location;
}

Result<bool> JdbcCatalog::NamespaceExistsIn(SqlSession& s, const std::string& ns) {
  static constexpr std::string_view kQueries[] = {
      "SELECT 1 FROM iceberg_tables WHERE catalog_name = ? AND "
      "(table_namespace = ? OR table_namespace LIKE ? ESCAPE '!') LIMIT 1",
      "SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name = ? AND "
      "(namespace = ? OR namespace LIKE ? ESCAPE '!') LIMIT 1",
  };
  for (std::string_view sql : kQueries) {
    FRZ_ASSIGN_OR_RETURN(Rows rows, s.Query(sql, {config_.name, ns, ChildPattern(ns)}, "namespace exists"));
    if (!rows.empty()) return true;
  }
  return false;
}

Status JdbcCatalog::InsertTableRow(SqlSession& s, const TableIdentifier& id, const std::string& metadata_location,
                                   std::string_view what) {
  std::string ns_text = NamespaceToString(id.ns);
  FRZ_ASSIGN_OR_RETURN(bool ns_exists, NamespaceExistsIn(s, ns_text));
  if (!ns_exists) return std::unexpected(NoSuchNamespace(ns_text));
  Result<int64_t> inserted = s.Exec(InsertTableSql(), {config_.name, ns_text, id.name, metadata_location}, what);
  if (!inserted && inserted.error().kind == ErrorKind::kAlreadyExists) {
    return MakeError(ErrorKind::kAlreadyExists, "Table already exists: " + id.ToString());
  }
  if (!inserted) return std::unexpected(inserted.error());
  return Ok();
}

void JdbcCatalog::CacheMetadata(const std::string& location, const iceberg::TableMetadata& metadata) {
  auto entry = std::make_shared<const iceberg::TableMetadata>(metadata);
  std::lock_guard lock(cache_mu_);
  cache_.emplace_front(location, std::move(entry));
  if (cache_.size() > kMetadataCacheSize) cache_.pop_back();
}

Result<LoadedTable> JdbcCatalog::ReadMetadata(const std::string& location) {
  {
    std::lock_guard lock(cache_mu_);
    for (const auto& [loc, md] : cache_) {
      if (loc == location) return LoadedTable{location, *md};
    }
  }
  Result<std::string> bytes = file_io_->Read(location);
  if (!bytes) {
    return MakeError(bytes.error().kind, "read metadata file " + location + ": " + bytes.error().message);
  }
  Result<iceberg::TableMetadata> metadata = iceberg::TableMetadataFromJsonString(*bytes);
  if (!metadata) {
    return MakeError(ErrorKind::kCorrupt, "metadata file " + location + ": " + metadata.error().message);
  }
  CacheMetadata(location, *metadata);
  return LoadedTable{location, std::move(*metadata)};
}

// --- Namespaces ---

Result<std::vector<Namespace>> JdbcCatalog::ListNamespaces(const Namespace& parent) {
  Namespace normalized_parent;
  if (!parent.empty()) {
    FRZ_ASSIGN_OR_RETURN(normalized_parent, NormalizeNamespace(parent));
  }
  FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
  if (!normalized_parent.empty()) {
    FRZ_ASSIGN_OR_RETURN(bool exists, NamespaceExistsIn(*s, NamespaceToString(normalized_parent)));
    if (!exists) return std::unexpected(NoSuchNamespace(NamespaceToString(normalized_parent)));
  }
  FRZ_ASSIGN_OR_RETURN(Rows rows,
                       s->Query("SELECT table_namespace FROM iceberg_tables WHERE catalog_name = ? UNION "
                                "SELECT namespace FROM iceberg_namespace_properties WHERE catalog_name = ?",
                                {config_.name, config_.name}, "list namespaces"));
  std::set<Namespace> children;
  for (const auto& row : rows) {
    const std::optional<std::string>& text = row.at(0);
    if (!text || text->empty()) continue;  // Java allows tables without a namespace
    Namespace ns = SplitNamespace(*text);
    if (ns.size() <= normalized_parent.size()) continue;
    if (!std::equal(normalized_parent.begin(), normalized_parent.end(), ns.begin())) continue;
    ns.resize(normalized_parent.size() + 1);
    children.insert(std::move(ns));
  }
  return std::vector<Namespace>(children.begin(), children.end());
}

Status JdbcCatalog::CreateNamespace(const Namespace& ns, const Properties& properties) {
  FRZ_ASSIGN_OR_RETURN(Namespace normalized, NormalizeNamespace(ns));
  std::string text = NamespaceToString(normalized);
  Properties all = properties;
  all[kExistsProperty] = "true";
  FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
  Result<bool> done = InTransaction(*s, "create namespace", [&]() -> Result<bool> {
    FRZ_ASSIGN_OR_RETURN(bool exists, NamespaceExistsIn(*s, text));
    if (exists) return MakeError(ErrorKind::kAlreadyExists, "Namespace already exists: " + text);
    for (const auto& [key, value] : all) {
      Result<int64_t> inserted =
          s->Exec("INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, "
                  "property_value) VALUES (?, ?, ?, ?)",
                  {config_.name, text, key, value}, "create namespace");
      // A concurrent creator won (its marker row committed after our existence check).
      if (!inserted && inserted.error().kind == ErrorKind::kAlreadyExists) {
        return MakeError(ErrorKind::kAlreadyExists, "Namespace already exists: " + text);
      }
      if (!inserted) return std::unexpected(inserted.error());
    }
    return true;
  });
  if (!done) return std::unexpected(done.error());
  return Ok();
}

Result<Properties> JdbcCatalog::LoadNamespaceMetadata(const Namespace& ns) {
  FRZ_ASSIGN_OR_RETURN(Namespace normalized, NormalizeNamespace(ns));
  std::string text = NamespaceToString(normalized);
  FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
  FRZ_ASSIGN_OR_RETURN(bool exists, NamespaceExistsIn(*s, text));
  if (!exists) return std::unexpected(NoSuchNamespace(text));
  FRZ_ASSIGN_OR_RETURN(Rows rows, s->Query("SELECT property_key, property_value FROM iceberg_namespace_properties "
                                           "WHERE catalog_name = ? AND namespace = ?",
                                           {config_.name, text}, "load namespace properties"));
  Properties out;
  for (const auto& row : rows) {
    if (row.at(0)) out[*row[0]] = row.at(1).value_or("");
  }
  return out;
}

Result<bool> JdbcCatalog::NamespaceExists(const Namespace& ns) {
  FRZ_ASSIGN_OR_RETURN(Namespace normalized, NormalizeNamespace(ns));
  FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
  return NamespaceExistsIn(*s, NamespaceToString(normalized));
}

Status JdbcCatalog::DropNamespace(const Namespace& ns) {
  FRZ_ASSIGN_OR_RETURN(Namespace normalized, NormalizeNamespace(ns));
  std::string text = NamespaceToString(normalized);
  FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
  Result<bool> done = InTransaction(*s, "drop namespace", [&]() -> Result<bool> {
    FRZ_ASSIGN_OR_RETURN(bool exists, NamespaceExistsIn(*s, text));
    if (!exists) return std::unexpected(NoSuchNamespace(text));
    // Any row in or below the namespace (tables, views, child namespaces) keeps it alive.
    static constexpr std::string_view kQueries[] = {
        "SELECT 1 FROM iceberg_tables WHERE catalog_name = ? AND "
        "(table_namespace = ? OR table_namespace LIKE ? ESCAPE '!') LIMIT 1",
        "SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name = ? AND "
        "namespace <> ? AND namespace LIKE ? ESCAPE '!' LIMIT 1",
    };
    for (std::string_view sql : kQueries) {
      FRZ_ASSIGN_OR_RETURN(Rows rows, s->Query(sql, {config_.name, text, ChildPattern(text)}, "drop namespace"));
      if (!rows.empty()) {
        return MakeError(ErrorKind::kNamespaceNotEmpty,
                         "Namespace " + text + " is not empty (it holds tables or namespaces)");
      }
    }
    FRZ_ASSIGN_OR_RETURN(int64_t deleted,
                         s->Exec("DELETE FROM iceberg_namespace_properties WHERE catalog_name = ? AND namespace = ?",
                                 {config_.name, text}, "drop namespace"));
    (void)deleted;
    return true;
  });
  if (!done) return std::unexpected(done.error());
  return Ok();
}

Status JdbcCatalog::UpdateNamespaceProperties(const Namespace& ns, const std::vector<std::string>& removals,
                                              const Properties& updates) {
  FRZ_ASSIGN_OR_RETURN(Namespace normalized, NormalizeNamespace(ns));
  std::string text = NamespaceToString(normalized);
  for (const std::string& key : removals) {
    if (updates.contains(key)) {
      return MakeError(ErrorKind::kInvalidArgument, "property both removed and updated: " + key);
    }
  }
  FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
  Result<bool> done = InTransaction(*s, "update namespace properties", [&]() -> Result<bool> {
    FRZ_ASSIGN_OR_RETURN(bool exists, NamespaceExistsIn(*s, text));
    if (!exists) return std::unexpected(NoSuchNamespace(text));
    static constexpr std::string_view kDelete =
        "DELETE FROM iceberg_namespace_properties WHERE catalog_name = ? AND namespace = ? AND property_key = ?";
    for (const std::string& key : removals) {
      // The marker row is what keeps an empty namespace in existence.
      if (key == kExistsProperty) continue;
      FRZ_RETURN_IF_ERROR(s->Exec(kDelete, {config_.name, text, key}, "update namespace properties"));
    }
    // Delete + insert: the one upsert both dialects spell the same way.
    for (const auto& [key, value] : updates) {
      FRZ_RETURN_IF_ERROR(s->Exec(kDelete, {config_.name, text, key}, "update namespace properties"));
      FRZ_RETURN_IF_ERROR(s->Exec("INSERT INTO iceberg_namespace_properties (catalog_name, namespace, "
                                  "property_key, property_value) VALUES (?, ?, ?, ?)",
                                  {config_.name, text, key, value}, "update namespace properties"));
    }
    return true;
  });
  if (!done) return std::unexpected(done.error());
  return Ok();
}

// --- Tables ---

Result<std::vector<TableIdentifier>> JdbcCatalog::ListTables(const Namespace& ns) {
  FRZ_ASSIGN_OR_RETURN(Namespace normalized, NormalizeNamespace(ns));
  std::string text = NamespaceToString(normalized);
  FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
  FRZ_ASSIGN_OR_RETURN(bool exists, NamespaceExistsIn(*s, text));
  if (!exists) return std::unexpected(NoSuchNamespace(text));
  FRZ_ASSIGN_OR_RETURN(Rows rows, s->Query("SELECT table_name FROM iceberg_tables WHERE catalog_name = ? "
                                           "AND table_namespace = ?" + TypeFilter() + " ORDER BY table_name",
                                           {config_.name, text}, "list tables"));
  std::vector<TableIdentifier> out;
  for (const auto& row : rows) out.push_back(TableIdentifier{normalized, row.at(0).value_or("")});
  return out;
}

Result<LoadedTable> JdbcCatalog::CreateTable(const TableIdentifier& id_in, const iceberg::Schema& schema,
                                             const iceberg::PartitionSpec& spec, const iceberg::SortOrder& order,
                                             const std::optional<std::string>& location,
                                             const Properties& properties) {
  FRZ_ASSIGN_OR_RETURN(TableIdentifier id, TableIdentifier::Of(id_in.ns, id_in.name));
  FRZ_ASSIGN_OR_RETURN(auto lease, AcquireWriteLease(false));  // the first metadata file
  std::string ns_text = NamespaceToString(id.ns);
  Properties props = properties;
  FRZ_ASSIGN_OR_RETURN(int format_version, TakeFormatVersion(&props));
  std::string table_location;
  {
    FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
    FRZ_ASSIGN_OR_RETURN(bool ns_exists, NamespaceExistsIn(*s, ns_text));
    if (!ns_exists) return std::unexpected(NoSuchNamespace(ns_text));
    FRZ_ASSIGN_OR_RETURN(std::optional<std::string> current, CurrentLocation(*s, id));
    if (current) return MakeError(ErrorKind::kAlreadyExists, "Table already exists: " + id.ToString());
    if (location && !location->empty()) {
      table_location = StripTrailingSlashes(*location);
    } else {
      FRZ_ASSIGN_OR_RETURN(Rows rows, s->Query("SELECT property_value FROM iceberg_namespace_properties "
                                               "WHERE catalog_name = ? AND namespace = ? AND property_key = ?",
                                               {config_.name, ns_text, kNamespaceLocationProperty},
                                               "load namespace location"));
      std::string ns_location;
      if (!rows.empty()) ns_location = StripTrailingSlashes(rows[0].at(0).value_or(""));
      if (ns_location.empty() && config_.warehouse.empty()) {
        return MakeError(ErrorKind::kInvalidArgument, "no location for " + id.ToString() + ": catalog has no warehouse");
      }
      table_location = DefaultTableLocation(config_.warehouse, id, ns_location);
    }
  }
  FRZ_ASSIGN_OR_RETURN(iceberg::TableMetadata metadata,
                       iceberg::NewTableMetadata(schema, spec, order, table_location, props, format_version,
                                                 config_.clock->NowMillis()));
  std::string metadata_location = NewMetadataLocation(metadata, 0);
  FRZ_RETURN_IF_ERROR(file_io_->WriteNew(metadata_location, iceberg::TableMetadataToJsonString(metadata)));

  Result<bool> done = [&]() -> Result<bool> {
    FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
    return InTransaction(*s, "create table", [&]() -> Result<bool> {
      FRZ_RETURN_IF_ERROR(InsertTableRow(*s, id, metadata_location, "create table"));
      return true;
    });
  }();
  if (!done) {
    if (done.error().kind != ErrorKind::kCommitStateUnknown) DeleteFiles({metadata_location});
    return std::unexpected(done.error());
  }
  return LoadedTable{metadata_location, std::move(metadata)};
}

Result<LoadedTable> JdbcCatalog::LoadTable(const TableIdentifier& id_in) {
  FRZ_ASSIGN_OR_RETURN(TableIdentifier id, TableIdentifier::Of(id_in.ns, id_in.name));
  std::optional<std::string> location;
  {
    FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
    FRZ_ASSIGN_OR_RETURN(location, CurrentLocation(*s, id));
  }
  if (!location) return std::unexpected(NoSuchTable(id));
  return ReadMetadata(*location);
}

Result<bool> JdbcCatalog::TableExists(const TableIdentifier& id_in) {
  FRZ_ASSIGN_OR_RETURN(TableIdentifier id, TableIdentifier::Of(id_in.ns, id_in.name));
  FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
  FRZ_ASSIGN_OR_RETURN(std::optional<std::string> location, CurrentLocation(*s, id));
  return location.has_value();
}

Result<LoadedTable> JdbcCatalog::CommitTable(const TableIdentifier& id,
                                             const std::vector<iceberg::TableRequirement>& requirements,
                                             const std::vector<iceberg::TableUpdate>& updates) {
  FRZ_ASSIGN_OR_RETURN(std::vector<LoadedTable> tables, Commit({TableCommit{id, requirements, updates}}));
  return std::move(tables.front());
}

Result<std::vector<LoadedTable>> JdbcCatalog::CommitTransaction(const std::vector<TableCommit>& commits) {
  return Commit(commits);
}

Result<std::vector<JdbcCatalog::Prepared>> JdbcCatalog::PrepareCommits(const std::vector<TableCommit>& commits,
                                                                       std::vector<std::string>* written) {
  std::vector<Prepared> out;
  for (const TableCommit& commit : commits) {
    Prepared p{.id = commit.id};
    bool ns_exists = true;
    {
      FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
      FRZ_ASSIGN_OR_RETURN(p.base_location, CurrentLocation(*s, commit.id));
      if (!p.base_location) {
        FRZ_ASSIGN_OR_RETURN(ns_exists, NamespaceExistsIn(*s, NamespaceToString(commit.id.ns)));
      }
    }
    std::optional<LoadedTable> current;
    if (p.base_location) {
      FRZ_ASSIGN_OR_RETURN(LoadedTable loaded, ReadMetadata(*p.base_location));
      current = std::move(loaded);
    } else if (!HasAssertCreate(commit.requirements)) {
      return std::unexpected(NoSuchTable(commit.id));
    }
    const iceberg::TableMetadata* base = current ? &current->metadata : nullptr;
    FRZ_RETURN_IF_ERROR(iceberg::CheckRequirements(base, commit.requirements));
    if (current && commit.updates.empty()) {
      p.noop = true;
      p.result = std::move(*current);
      out.push_back(std::move(p));
      continue;
    }
    if (!current && !ns_exists) return std::unexpected(NoSuchNamespace(NamespaceToString(commit.id.ns)));
    FRZ_ASSIGN_OR_RETURN(iceberg::TableMetadata next,
                         iceberg::ApplyUpdates(base, commit.updates, config_.clock->NowMillis()));
    if (next.location.empty()) {
      if (config_.warehouse.empty()) {
        return MakeError(ErrorKind::kInvalidArgument, "no location for " + commit.id.ToString());
      }
      next.location = DefaultTableLocation(config_.warehouse, commit.id, "");
    }
    if (next.table_uuid.empty()) next.table_uuid = NewUuid();
    int64_t version = 0;
    if (current) {
      AppendMetadataLog(&next, current->metadata_location, current->metadata.last_updated_ms);
      version = std::max<int64_t>(ParseMetadataVersion(current->metadata_location), -1) + 1;
    }
    std::string location = NewMetadataLocation(next, version);
    FRZ_RETURN_IF_ERROR(file_io_->WriteNew(location, iceberg::TableMetadataToJsonString(next)));
    written->push_back(location);
    CacheMetadata(location, next);
    p.result = LoadedTable{std::move(location), std::move(next)};
    out.push_back(std::move(p));
  }
  return out;
}

Result<bool> JdbcCatalog::Swap(const std::vector<Prepared>& prepared) {
  FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
  // Rows are locked in one global order (by identifier), so two transactions over the same
  // tables cannot deadlock on PostgreSQL's row locks.
  std::vector<const Prepared*> ordered;
  for (const Prepared& p : prepared) ordered.push_back(&p);
  std::sort(ordered.begin(), ordered.end(), [](const Prepared* a, const Prepared* b) { return a->id < b->id; });
  return InTransaction(*s, "commit table", [&]() -> Result<bool> {
    for (const Prepared* pp : ordered) {
      const Prepared& p = *pp;
      std::string ns_text = NamespaceToString(p.id.ns);
      if (!p.base_location) {
        Result<int64_t> inserted =
            s->Exec(InsertTableSql(), {config_.name, ns_text, p.id.name, p.result.metadata_location},
                    "commit create table");
        // Someone created it first: the next attempt's assert-create check reports it.
        if (!inserted && inserted.error().kind == ErrorKind::kAlreadyExists) return false;
        if (!inserted) return std::unexpected(inserted.error());
        continue;
      }
      // A no-op's requirements were checked against base_location: it must still be current
      // at COMMIT. The identity UPDATE checks that and (PostgreSQL) locks the row until then.
      const std::string& next = p.noop ? *p.base_location : p.result.metadata_location;
      FRZ_ASSIGN_OR_RETURN(
          int64_t changed,
          s->Exec(p.noop ? "UPDATE iceberg_tables SET metadata_location = ? WHERE catalog_name = ? AND "
                           "table_namespace = ? AND table_name = ? AND metadata_location = ?" + TypeFilter()
                         : "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ? "
                           "WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND "
                           "metadata_location = ?" + TypeFilter(),
                  p.noop ? std::vector<std::string>{next, config_.name, ns_text, p.id.name, *p.base_location}
                         : std::vector<std::string>{next, *p.base_location, config_.name, ns_text, p.id.name,
                                                    *p.base_location},
                  "commit table"));
      if (changed == 0) return false;  // another writer swapped first
    }
    FRZ_RETURN_IF_ERROR(RunHook(CommitPoint::kBeforeCommit));
    return true;
  });
}

Result<std::vector<LoadedTable>> JdbcCatalog::Commit(std::vector<TableCommit> commits) {
  if (commits.empty()) return std::vector<LoadedTable>();
  FRZ_ASSIGN_OR_RETURN(auto lease, AcquireWriteLease(false));  // the new metadata files
  std::set<TableIdentifier> seen;
  for (TableCommit& commit : commits) {
    FRZ_ASSIGN_OR_RETURN(commit.id, TableIdentifier::Of(commit.id.ns, commit.id.name));
    if (!seen.insert(commit.id).second) {
      return MakeError(ErrorKind::kInvalidArgument, "table committed twice: " + commit.id.ToString());
    }
  }
  for (int attempt = 1; attempt <= config_.max_commit_attempts; ++attempt) {
    std::vector<std::string> written;
    Result<std::vector<Prepared>> prepared = PrepareCommits(commits, &written);
    if (!prepared) {
      DeleteFiles(written);
      return std::unexpected(prepared.error());
    }
    // A single no-op: nothing to swap, the requirements held on the current metadata.
    if (prepared->size() == 1 && prepared->front().noop) return std::vector<LoadedTable>{prepared->front().result};
    if (Status hook = RunHook(CommitPoint::kBeforeSwap); !hook) {
      DeleteFiles(written);
      return std::unexpected(hook.error());
    }
    Result<bool> swapped = Swap(*prepared);
    if (!swapped) {
      if (swapped.error().kind != ErrorKind::kCommitStateUnknown) DeleteFiles(written);
      return std::unexpected(swapped.error());
    }
    if (!*swapped) {
      DeleteFiles(written);
      // Lost the race: back off a little (randomized, growing) before reloading.
      int64_t cap_ms = std::min<int64_t>(int64_t{1} << std::min(attempt, 6), 50);
      std::this_thread::sleep_for(std::chrono::milliseconds(1 + NewPositiveId() % cap_ms));
      continue;
    }
    if (Status hook = RunHook(CommitPoint::kAfterSwap); !hook) {
      return MakeError(ErrorKind::kCommitStateUnknown, "commit state unknown: " + hook.error().message);
    }
    std::vector<LoadedTable> out;
    for (Prepared& p : *prepared) out.push_back(std::move(p.result));
    return out;
  }
  return MakeError(ErrorKind::kCommitFailed, "lost the metadata compare-and-swap " +
                                                 std::to_string(config_.max_commit_attempts) +
                                                 " times to concurrent writers");
}

void JdbcCatalog::DeleteFiles(const std::vector<std::string>& locations) {
  // Best effort: a file left behind is an orphan for orphan-file removal, not an error.
  (void)io::DeleteFiles(*file_io_, locations);
}

Status JdbcCatalog::DropTable(const TableIdentifier& id_in, bool purge) {
  FRZ_ASSIGN_OR_RETURN(TableIdentifier id, TableIdentifier::Of(id_in.ns, id_in.name));
  std::optional<std::string> location;
  {
    FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
    FRZ_ASSIGN_OR_RETURN(location, CurrentLocation(*s, id));
  }
  if (!location) return std::unexpected(NoSuchTable(id));
  std::optional<LoadedTable> loaded;
  if (purge) {
    Result<LoadedTable> read = ReadMetadata(*location);
    if (read) loaded = std::move(*read);
  }
  {
    FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
    Result<bool> done = InTransaction(*s, "drop table", [&]() -> Result<bool> {
      FRZ_ASSIGN_OR_RETURN(int64_t deleted, s->Exec("DELETE FROM iceberg_tables WHERE catalog_name = ? AND "
                                                    "table_namespace = ? AND table_name = ?" + TypeFilter(),
                                                    {config_.name, NamespaceToString(id.ns), id.name}, "drop table"));
      if (deleted == 0) return std::unexpected(NoSuchTable(id));
      return true;
    });
    if (!done) return std::unexpected(done.error());
  }
  if (purge) DeleteFiles(TableFiles(*location, loaded ? &*loaded : nullptr));
  return Ok();
}

std::vector<std::string> JdbcCatalog::TableFiles(const std::string& metadata_location, const LoadedTable* loaded) {
  std::set<std::string> files{metadata_location};
  std::string table_location;
  if (loaded != nullptr) {
    const iceberg::TableMetadata& m = loaded->metadata;
    table_location = m.location;
    for (const auto& entry : m.metadata_log) files.insert(entry.metadata_file);
    for (const auto* stats : {&m.statistics, &m.partition_statistics}) {
      for (const nlohmann::json& s : *stats) {
        if (s.contains("statistics-path") && s["statistics-path"].is_string()) {
          files.insert(s["statistics-path"].get<std::string>());
        }
      }
    }
    const iceberg::Schema* schema = m.current_schema();
    for (const iceberg::Snapshot& snapshot : m.snapshots) {
      if (snapshot.manifest_list.empty()) continue;
      files.insert(snapshot.manifest_list);
      Result<std::string> list_bytes = file_io_->Read(snapshot.manifest_list);
      if (!list_bytes) continue;
      Result<std::vector<iceberg::ManifestFile>> manifests = iceberg::ReadManifestList(*list_bytes);
      if (!manifests) continue;
      for (const iceberg::ManifestFile& manifest : *manifests) {
        if (!files.insert(manifest.manifest_path).second) continue;  // already walked
        const iceberg::PartitionSpec* spec = m.spec_by_id(manifest.partition_spec_id);
        if (schema == nullptr || spec == nullptr) continue;
        Result<std::string> bytes = file_io_->Read(manifest.manifest_path);
        if (!bytes) continue;
        Result<std::vector<iceberg::ManifestEntry>> entries = iceberg::ReadManifest(*bytes, *schema, *spec);
        if (!entries) continue;
        for (const auto& entry : *entries) files.insert(entry.data_file.file_path);
      }
    }
  } else {
    // Unreadable metadata: the table folder is the parent of its metadata folder.
    size_t slash = metadata_location.rfind("/metadata/");
    if (slash != std::string::npos) table_location = metadata_location.substr(0, slash);
  }
  if (!table_location.empty()) {
    for (const char* folder : {"data", "metadata"}) {
      Result<std::vector<io::FileInfo>> listed = file_io_->List(io::JoinLocation(table_location, folder));
      if (!listed) continue;
      for (const io::FileInfo& info : *listed) files.insert(info.location);
    }
  }
  return std::vector<std::string>(files.begin(), files.end());
}

Status JdbcCatalog::RenameTable(const TableIdentifier& from_in, const TableIdentifier& to_in) {
  FRZ_ASSIGN_OR_RETURN(TableIdentifier from, TableIdentifier::Of(from_in.ns, from_in.name));
  FRZ_ASSIGN_OR_RETURN(TableIdentifier to, TableIdentifier::Of(to_in.ns, to_in.name));
  FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
  Result<bool> done = InTransaction(*s, "rename table", [&]() -> Result<bool> {
    FRZ_ASSIGN_OR_RETURN(std::optional<std::string> current, CurrentLocation(*s, from));
    if (!current) return std::unexpected(NoSuchTable(from));
    std::string to_ns = NamespaceToString(to.ns);
    FRZ_ASSIGN_OR_RETURN(bool ns_exists, NamespaceExistsIn(*s, to_ns));
    if (!ns_exists) return std::unexpected(NoSuchNamespace(to_ns));
    Result<int64_t> renamed =
        s->Exec("UPDATE iceberg_tables SET table_namespace = ?, table_name = ? WHERE "
                "catalog_name = ? AND table_namespace = ? AND table_name = ?" + TypeFilter(),
                {to_ns, to.name, config_.name, NamespaceToString(from.ns), from.name}, "rename table");
    // The primary key also covers views of the same name.
    if (!renamed && renamed.error().kind == ErrorKind::kAlreadyExists) {
      return MakeError(ErrorKind::kAlreadyExists, "Table already exists: " + to.ToString());
    }
    if (!renamed) return std::unexpected(renamed.error());
    if (*renamed == 0) return std::unexpected(NoSuchTable(from));
    return true;
  });
  if (!done) return std::unexpected(done.error());
  return Ok();
}

Result<LoadedTable> JdbcCatalog::RegisterTable(const TableIdentifier& id_in, const std::string& metadata_location) {
  FRZ_ASSIGN_OR_RETURN(TableIdentifier id, TableIdentifier::Of(id_in.ns, id_in.name));
  FRZ_ASSIGN_OR_RETURN(LoadedTable loaded, ReadMetadata(metadata_location));
  FRZ_ASSIGN_OR_RETURN(auto s, OpenSession());
  Result<bool> done = InTransaction(*s, "register table", [&]() -> Result<bool> {
    FRZ_RETURN_IF_ERROR(InsertTableRow(*s, id, metadata_location, "register table"));
    return true;
  });
  if (!done) return std::unexpected(done.error());
  return loaded;
}

}  // namespace frazil::catalog
