#include "frazil/catalog/sqlite_catalog.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

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

using sqlite::Statement;
using sqlite::Step;

// The layout shared with Java's JdbcCatalog (schema V1) and PyIceberg's SqlCatalog. Both
// peers accept tables created by the other, so either may have created the file first; the
// IF NOT EXISTS keeps whatever layout is already there.
constexpr std::string_view kCreateTablesSql =
    "CREATE TABLE IF NOT EXISTS iceberg_tables ("
    "catalog_name VARCHAR(255) NOT NULL, "
    "table_namespace VARCHAR(255) NOT NULL, "
    "table_name VARCHAR(255) NOT NULL, "
    "metadata_location VARCHAR(1000), "
    "previous_metadata_location VARCHAR(1000), "
    "iceberg_type VARCHAR(5), "
    "PRIMARY KEY (catalog_name, table_namespace, table_name))";
constexpr std::string_view kCreateNamespacePropertiesSql =
    "CREATE TABLE IF NOT EXISTS iceberg_namespace_properties ("
    "catalog_name VARCHAR(255) NOT NULL, "
    "namespace VARCHAR(255) NOT NULL, "
    "property_key VARCHAR(255) NOT NULL, "
    "property_value VARCHAR(1000), "
    "PRIMARY KEY (catalog_name, namespace, property_key))";

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

Status BindAll(Statement& stmt, std::initializer_list<std::string_view> values) {
  int index = 1;
  for (std::string_view value : values) FRZ_RETURN_IF_ERROR(stmt.Bind(index++, value));
  return Ok();
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

}  // namespace

struct SqliteCatalog::Prepared {
  TableIdentifier id;
  std::optional<std::string> base_location;  // nullopt: the commit creates the table
  bool noop = false;                          // no updates: only the requirements matter
  LoadedTable result;
};

Result<std::unique_ptr<SqliteCatalog>> SqliteCatalog::Make(SqliteCatalogOptions options,
                                                           std::shared_ptr<io::FileIO> file_io) {
  if (options.path.empty()) return MakeError(ErrorKind::kInvalidArgument, "sqlite catalog: empty path");
  if (options.name.empty()) return MakeError(ErrorKind::kInvalidArgument, "sqlite catalog: empty name");
  if (file_io == nullptr) return MakeError(ErrorKind::kInvalidArgument, "sqlite catalog: no FileIO");
  if (options.max_commit_attempts < 1) options.max_commit_attempts = 1;
  if (options.clock == nullptr) options.clock = &Clock::System();
  FRZ_ASSIGN_OR_RETURN(sqlite::Database db,
                       sqlite::Database::Open(options.path, options.busy_timeout_ms));
  std::unique_ptr<SqliteCatalog> catalog(
      new SqliteCatalog(std::move(options), std::move(file_io), std::move(db)));
  FRZ_RETURN_IF_ERROR(catalog->InitTables());
  return catalog;
}

Status SqliteCatalog::InitTables() {
  std::lock_guard lock(mu_);
  if (options_.wal && options_.path != ":memory:") {
    // Best effort: another connection in the middle of a transaction makes it fail, and the
    // catalog still works in rollback-journal mode.
    (void)db_.Exec("PRAGMA journal_mode=WAL", "enable WAL");
  }
  if (options_.create_tables) {
    FRZ_RETURN_IF_ERROR(db_.Exec(kCreateTablesSql, "create iceberg_tables"));
    FRZ_RETURN_IF_ERROR(db_.Exec(kCreateNamespacePropertiesSql, "create iceberg_namespace_properties"));
  }
  FRZ_ASSIGN_OR_RETURN(has_type_column_, db_.HasColumn("iceberg_tables", "iceberg_type"));
  return Ok();
}

void SqliteCatalog::SetCommitHook(std::function<Status(CommitPoint)> hook) {
  std::lock_guard lock(hook_mu_);
  hook_ = std::move(hook);
}

Status SqliteCatalog::RunHook(CommitPoint point) {
  std::function<Status(CommitPoint)> hook;
  {
    std::lock_guard lock(hook_mu_);
    hook = hook_;
  }
  return hook ? hook(point) : Ok();
}

std::string SqliteCatalog::TypeFilter() const {
  // Rows of views (iceberg_type 'VIEW', written by Java) are not tables.
  return has_type_column_ ? " AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)" : "";
}

Status SqliteCatalog::InsertTableRowLocked(const TableIdentifier& id, const std::string& ns_text,
                                           const std::string& metadata_location, const char* operation) {
  FRZ_ASSIGN_OR_RETURN(bool ns_exists, NamespaceExistsLocked(ns_text));
  if (!ns_exists) return MakeError(ErrorKind::kNoSuchNamespace, "Namespace does not exist: " + ns_text);
  FRZ_ASSIGN_OR_RETURN(Statement insert, db_.Prepare(InsertTableSql(), operation));
  FRZ_RETURN_IF_ERROR(BindAll(insert, {options_.name, ns_text, id.name, metadata_location}));
  Status inserted = insert.Run();
  if (!inserted && inserted.error().kind == ErrorKind::kAlreadyExists) {
    return MakeError(ErrorKind::kAlreadyExists, "Table already exists: " + id.ToString());
  }
  return inserted;
}

std::string SqliteCatalog::InsertTableSql() const {
  return std::string("INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, "
                     "metadata_location, previous_metadata_location") +
         (has_type_column_ ? ", iceberg_type) VALUES (?, ?, ?, ?, NULL, 'TABLE')"
                           : ") VALUES (?, ?, ?, ?, NULL)");
}

Result<bool> SqliteCatalog::InTransaction(std::string_view what,
                                          const std::function<Result<bool>()>& body) {
  // BEGIN IMMEDIATE takes the write lock up front, so the reads in `body` see the state the
  // writes apply to.
  FRZ_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE", what));
  Result<bool> proceed = body();
  if (!proceed || !*proceed) {
    // Nothing is durable before COMMIT, so failing here is a definite failure even if the
    // rollback itself fails.
    (void)db_.Exec("ROLLBACK", what);
    return proceed;
  }
  Status commit = db_.Exec("COMMIT", what);
  if (!commit) {
    if (db_.last_failure() == sqlite::Failure::kBusy && db_.InTransaction()) {
      // SQLite keeps the transaction open after a busy COMMIT: rolling back is definite.
      (void)db_.Exec("ROLLBACK", what);
      return std::unexpected(commit.error());
    }
    if (db_.InTransaction()) (void)db_.Exec("ROLLBACK", what);
    return MakeError(ErrorKind::kCommitStateUnknown,
                     "commit state unknown after failed COMMIT: " + commit.error().message);
  }
  return true;
}

Result<std::optional<std::string>> SqliteCatalog::CurrentLocation(const TableIdentifier& id) {
  FRZ_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ? AND "
                  "table_namespace = ? AND table_name = ?" + TypeFilter(),
                  "load table"));
  FRZ_RETURN_IF_ERROR(BindAll(stmt, {options_.name, NamespaceToString(id.ns), id.name}));
  FRZ_ASSIGN_OR_RETURN(Step step, stmt.Next());
  if (step == Step::kDone) return std::optional<std::string>();
  std::optional<std::string> location = stmt.Text(0);
  if (!location || location->empty()) {
    return MakeError(ErrorKind::kCorrupt, "catalog row of " + id.ToString() + " has no metadata_location");
  }
  return location;
}

void SqliteCatalog::CacheMetadata(const std::string& location, const iceberg::TableMetadata& metadata) {
  auto entry = std::make_shared<const iceberg::TableMetadata>(metadata);
  std::lock_guard lock(cache_mu_);
  cache_.emplace_front(location, std::move(entry));
  if (cache_.size() > kMetadataCacheSize) cache_.pop_back();
}

Result<LoadedTable> SqliteCatalog::ReadMetadata(const std::string& location) {
  {
    std::lock_guard lock(cache_mu_);
    for (const auto& [loc, md] : cache_) {
      if (loc == location) return LoadedTable{location, *md};
    }
  }
  Result<std::string> bytes = file_io_->Read(location);
  if (!bytes) {
    return MakeError(bytes.error().kind,
                     "read metadata file " + location + ": " + bytes.error().message);
  }
  Result<iceberg::TableMetadata> metadata = iceberg::TableMetadataFromJsonString(*bytes);
  if (!metadata) {
    return MakeError(ErrorKind::kCorrupt, "metadata file " + location + ": " + metadata.error().message);
  }
  CacheMetadata(location, *metadata);
  return LoadedTable{location, std::move(*metadata)};
}

Result<bool> SqliteCatalog::NamespaceExistsLocked(const std::string& ns) {
  static constexpr std::string_view kQueries[] = {
      "SELECT 1 FROM iceberg_tables WHERE catalog_name = ? AND "
      "(table_namespace = ? OR table_namespace LIKE ? ESCAPE '!') LIMIT 1",
      "SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name = ? AND "
      "(namespace = ? OR namespace LIKE ? ESCAPE '!') LIMIT 1",
  };
  for (std::string_view sql : kQueries) {
    FRZ_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(sql, "namespace exists"));
    FRZ_RETURN_IF_ERROR(BindAll(stmt, {options_.name, ns, ChildPattern(ns)}));
    FRZ_ASSIGN_OR_RETURN(Step step, stmt.Next());
    if (step == Step::kRow) return true;
  }
  return false;
}

// --- Namespaces ---

Result<std::vector<Namespace>> SqliteCatalog::ListNamespaces(const Namespace& parent) {
  Namespace normalized_parent;
  if (!parent.empty()) {
    FRZ_ASSIGN_OR_RETURN(normalized_parent, NormalizeNamespace(parent));
  }
  std::lock_guard lock(mu_);
  if (!normalized_parent.empty()) {
    FRZ_ASSIGN_OR_RETURN(bool exists, NamespaceExistsLocked(NamespaceToString(normalized_parent)));
    if (!exists) {
      return MakeError(ErrorKind::kNoSuchNamespace,
                       "Namespace does not exist: " + NamespaceToString(normalized_parent));
    }
  }
  FRZ_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("SELECT table_namespace FROM iceberg_tables WHERE catalog_name = ? UNION "
                  "SELECT namespace FROM iceberg_namespace_properties WHERE catalog_name = ?",
                  "list namespaces"));
  FRZ_RETURN_IF_ERROR(BindAll(stmt, {options_.name, options_.name}));
  std::set<Namespace> children;
  while (true) {
    FRZ_ASSIGN_OR_RETURN(Step step, stmt.Next());
    if (step == Step::kDone) break;
    std::optional<std::string> text = stmt.Text(0);
    if (!text || text->empty()) continue;  // Java allows tables without a namespace
    Namespace ns = SplitNamespace(*text);
    if (ns.size() <= normalized_parent.size()) continue;
    if (!std::equal(normalized_parent.begin(), normalized_parent.end(), ns.begin())) continue;
    ns.resize(normalized_parent.size() + 1);
    children.insert(std::move(ns));
  }
  return std::vector<Namespace>(children.begin(), children.end());
}

Status SqliteCatalog::CreateNamespace(const Namespace& ns, const Properties& properties) {
  FRZ_ASSIGN_OR_RETURN(Namespace normalized, NormalizeNamespace(ns));
  std::string text = NamespaceToString(normalized);
  Properties all = properties;
  all[kExistsProperty] = "true";
  std::lock_guard lock(mu_);
  Result<bool> done = InTransaction("create namespace", [&]() -> Result<bool> {
    FRZ_ASSIGN_OR_RETURN(bool exists, NamespaceExistsLocked(text));
    if (exists) return MakeError(ErrorKind::kAlreadyExists, "Namespace already exists: " + text);
    FRZ_ASSIGN_OR_RETURN(
        Statement insert,
        db_.Prepare("INSERT INTO iceberg_namespace_properties (catalog_name, namespace, "
                    "property_key, property_value) VALUES (?, ?, ?, ?)",
                    "create namespace"));
    for (const auto& [key, value] : all) {
      insert.Reset();
      FRZ_RETURN_IF_ERROR(BindAll(insert, {options_.name, text, key, value}));
      FRZ_RETURN_IF_ERROR(insert.Run());
    }
    return true;
  });
  if (!done) return std::unexpected(done.error());
  return Ok();
}

Result<Properties> SqliteCatalog::LoadNamespaceMetadata(const Namespace& ns) {
  FRZ_ASSIGN_OR_RETURN(Namespace normalized, NormalizeNamespace(ns));
  std::string text = NamespaceToString(normalized);
  std::lock_guard lock(mu_);
  FRZ_ASSIGN_OR_RETURN(bool exists, NamespaceExistsLocked(text));
  if (!exists) return MakeError(ErrorKind::kNoSuchNamespace, "Namespace does not exist: " + text);
  FRZ_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("SELECT property_key, property_value FROM iceberg_namespace_properties "
                  "WHERE catalog_name = ? AND namespace = ?",
                  "load namespace properties"));
  FRZ_RETURN_IF_ERROR(BindAll(stmt, {options_.name, text}));
  Properties out;
  while (true) {
    FRZ_ASSIGN_OR_RETURN(Step step, stmt.Next());
    if (step == Step::kDone) break;
    std::optional<std::string> key = stmt.Text(0);
    if (key) out[*key] = stmt.Text(1).value_or("");
  }
  return out;
}

Result<bool> SqliteCatalog::NamespaceExists(const Namespace& ns) {
  FRZ_ASSIGN_OR_RETURN(Namespace normalized, NormalizeNamespace(ns));
  std::lock_guard lock(mu_);
  return NamespaceExistsLocked(NamespaceToString(normalized));
}

Status SqliteCatalog::DropNamespace(const Namespace& ns) {
  FRZ_ASSIGN_OR_RETURN(Namespace normalized, NormalizeNamespace(ns));
  std::string text = NamespaceToString(normalized);
  std::lock_guard lock(mu_);
  Result<bool> done = InTransaction("drop namespace", [&]() -> Result<bool> {
    FRZ_ASSIGN_OR_RETURN(bool exists, NamespaceExistsLocked(text));
    if (!exists) return MakeError(ErrorKind::kNoSuchNamespace, "Namespace does not exist: " + text);
    // Any row in or below the namespace (tables, views, child namespaces) keeps it alive.
    static constexpr std::string_view kQueries[] = {
        "SELECT 1 FROM iceberg_tables WHERE catalog_name = ? AND "
        "(table_namespace = ? OR table_namespace LIKE ? ESCAPE '!') LIMIT 1",
        "SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name = ? AND "
        "namespace <> ? AND namespace LIKE ? ESCAPE '!' LIMIT 1",
    };
    for (std::string_view sql : kQueries) {
      FRZ_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(sql, "drop namespace"));
      FRZ_RETURN_IF_ERROR(BindAll(stmt, {options_.name, text, ChildPattern(text)}));
      FRZ_ASSIGN_OR_RETURN(Step step, stmt.Next());
      if (step == Step::kRow) {
        return MakeError(ErrorKind::kNamespaceNotEmpty,
                         "Namespace " + text + " is not empty (it holds tables or namespaces)");
      }
    }
    FRZ_ASSIGN_OR_RETURN(Statement del,
                         db_.Prepare("DELETE FROM iceberg_namespace_properties WHERE "
                                     "catalog_name = ? AND namespace = ?",
                                     "drop namespace"));
    FRZ_RETURN_IF_ERROR(BindAll(del, {options_.name, text}));
    FRZ_RETURN_IF_ERROR(del.Run());
    return true;
  });
  if (!done) return std::unexpected(done.error());
  return Ok();
}

Status SqliteCatalog::UpdateNamespaceProperties(const Namespace& ns,
                                                const std::vector<std::string>& removals,
                                                const Properties& updates) {
  FRZ_ASSIGN_OR_RETURN(Namespace normalized, NormalizeNamespace(ns));
  std::string text = NamespaceToString(normalized);
  for (const std::string& key : removals) {
    if (updates.contains(key)) {
      return MakeError(ErrorKind::kInvalidArgument, "property both removed and updated: " + key);
    }
  }
  std::lock_guard lock(mu_);
  Result<bool> done = InTransaction("update namespace properties", [&]() -> Result<bool> {
    FRZ_ASSIGN_OR_RETURN(bool exists, NamespaceExistsLocked(text));
    if (!exists) return MakeError(ErrorKind::kNoSuchNamespace, "Namespace does not exist: " + text);
    FRZ_ASSIGN_OR_RETURN(Statement del,
                         db_.Prepare("DELETE FROM iceberg_namespace_properties WHERE "
                                     "catalog_name = ? AND namespace = ? AND property_key = ?",
                                     "update namespace properties"));
    for (const std::string& key : removals) {
      // The marker row is what keeps an empty namespace in existence.
      if (key == kExistsProperty) continue;
      del.Reset();
      FRZ_RETURN_IF_ERROR(BindAll(del, {options_.name, text, key}));
      FRZ_RETURN_IF_ERROR(del.Run());
    }
    FRZ_ASSIGN_OR_RETURN(Statement upsert,
                         db_.Prepare("INSERT OR REPLACE INTO iceberg_namespace_properties "
                                     "(catalog_name, namespace, property_key, property_value) "
                                     "VALUES (?, ?, ?, ?)",
                                     "update namespace properties"));
    for (const auto& [key, value] : updates) {
      upsert.Reset();
      FRZ_RETURN_IF_ERROR(BindAll(upsert, {options_.name, text, key, value}));
      FRZ_RETURN_IF_ERROR(upsert.Run());
    }
    return true;
  });
  if (!done) return std::unexpected(done.error());
  return Ok();
}

// --- Tables ---

Result<std::vector<TableIdentifier>> SqliteCatalog::ListTables(const Namespace& ns) {
  FRZ_ASSIGN_OR_RETURN(Namespace normalized, NormalizeNamespace(ns));
  std::string text = NamespaceToString(normalized);
  std::lock_guard lock(mu_);
  FRZ_ASSIGN_OR_RETURN(bool exists, NamespaceExistsLocked(text));
  if (!exists) return MakeError(ErrorKind::kNoSuchNamespace, "Namespace does not exist: " + text);
  FRZ_ASSIGN_OR_RETURN(Statement stmt,
                       db_.Prepare("SELECT table_name FROM iceberg_tables WHERE catalog_name = ? "
                                   "AND table_namespace = ?" + TypeFilter() + " ORDER BY table_name",
                                   "list tables"));
  FRZ_RETURN_IF_ERROR(BindAll(stmt, {options_.name, text}));
  std::vector<TableIdentifier> out;
  while (true) {
    FRZ_ASSIGN_OR_RETURN(Step step, stmt.Next());
    if (step == Step::kDone) break;
    out.push_back(TableIdentifier{normalized, stmt.Text(0).value_or("")});
  }
  return out;
}

namespace {

class FlockLease final : public WriteLease {
 public:
  explicit FlockLease(int fd) : fd_(fd) {}
  ~FlockLease() override {
    flock(fd_, LOCK_UN);
    close(fd_);
  }
  FlockLease(const FlockLease&) = delete;
  FlockLease& operator=(const FlockLease&) = delete;

 private:
  int fd_;
};

}  // namespace

Result<std::unique_ptr<WriteLease>> SqliteCatalog::AcquireWriteLease(bool exclusive) {
  if (options_.path.empty() || options_.path == ":memory:") return std::unique_ptr<WriteLease>();
  const std::string path = options_.path + ".writers";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return MakeError(ErrorKind::kIOError, "opening the writers' lock " + path + ": " + std::strerror(errno));
  while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    close(fd);
    return MakeError(ErrorKind::kIOError, "locking " + path + ": " + std::strerror(err));
  }
  return std::unique_ptr<WriteLease>(new FlockLease(fd));
}

Result<LoadedTable> SqliteCatalog::CreateTable(const TableIdentifier& id_in,
                                               const iceberg::Schema& schema,
                                               const iceberg::PartitionSpec& spec,
                                               const iceberg::SortOrder& order,
                                               const std::optional<std::string>& location,
                                               const Properties& properties) {
  FRZ_ASSIGN_OR_RETURN(TableIdentifier id, TableIdentifier::Of(id_in.ns, id_in.name));
  FRZ_ASSIGN_OR_RETURN(auto lease, AcquireWriteLease(false));  // the first metadata file
  std::string ns_text = NamespaceToString(id.ns);
  Properties props = properties;
  int format_version = 2;
  if (auto it = props.find("format-version"); it != props.end()) {
    if (it->second != "1" && it->second != "2" && it->second != "3") {
      return MakeError(ErrorKind::kInvalidArgument, "unsupported format-version: " + it->second);
    }
    format_version = it->second[0] - '0';
    props.erase(it);
  }
  std::string table_location;
  {
    std::lock_guard lock(mu_);
    FRZ_ASSIGN_OR_RETURN(bool ns_exists, NamespaceExistsLocked(ns_text));
    if (!ns_exists) return MakeError(ErrorKind::kNoSuchNamespace, "Namespace does not exist: " + ns_text);
    FRZ_ASSIGN_OR_RETURN(std::optional<std::string> current, CurrentLocation(id));
    if (current) return MakeError(ErrorKind::kAlreadyExists, "Table already exists: " + id.ToString());
    if (location && !location->empty()) {
      table_location = StripTrailingSlashes(*location);
    } else {
      std::string ns_location;
      FRZ_ASSIGN_OR_RETURN(Statement stmt,
                           db_.Prepare("SELECT property_value FROM iceberg_namespace_properties "
                                       "WHERE catalog_name = ? AND namespace = ? AND property_key = ?",
                                       "load namespace location"));
      FRZ_RETURN_IF_ERROR(BindAll(stmt, {options_.name, ns_text, kNamespaceLocationProperty}));
      FRZ_ASSIGN_OR_RETURN(Step step, stmt.Next());
      if (step == Step::kRow) ns_location = StripTrailingSlashes(stmt.Text(0).value_or(""));
      if (ns_location.empty() && options_.warehouse.empty()) {
        return MakeError(ErrorKind::kInvalidArgument,
                         "no location for " + id.ToString() + ": catalog has no warehouse");
      }
      table_location = DefaultTableLocation(options_.warehouse, id, ns_location);
    }
  }
  FRZ_ASSIGN_OR_RETURN(iceberg::TableMetadata metadata,
                       iceberg::NewTableMetadata(schema, spec, order, table_location, props,
                                                 format_version, options_.clock->NowMillis()));
  std::string metadata_location = NewMetadataLocation(metadata, 0);
  FRZ_RETURN_IF_ERROR(file_io_->WriteNew(metadata_location, iceberg::TableMetadataToJsonString(metadata)));

  std::lock_guard lock(mu_);
  Result<bool> done = InTransaction("create table", [&]() -> Result<bool> {
    FRZ_RETURN_IF_ERROR(InsertTableRowLocked(id, ns_text, metadata_location, "create table"));
    return true;
  });
  if (!done) {
    if (done.error().kind != ErrorKind::kCommitStateUnknown) DeleteFiles({metadata_location});
    return std::unexpected(done.error());
  }
  return LoadedTable{metadata_location, std::move(metadata)};
}

Result<LoadedTable> SqliteCatalog::LoadTable(const TableIdentifier& id_in) {
  FRZ_ASSIGN_OR_RETURN(TableIdentifier id, TableIdentifier::Of(id_in.ns, id_in.name));
  std::optional<std::string> location;
  {
    std::lock_guard lock(mu_);
    FRZ_ASSIGN_OR_RETURN(location, CurrentLocation(id));
  }
  if (!location) return MakeError(ErrorKind::kNoSuchTable, "Table does not exist: " + id.ToString());
  return ReadMetadata(*location);
}

Result<bool> SqliteCatalog::TableExists(const TableIdentifier& id_in) {
  FRZ_ASSIGN_OR_RETURN(TableIdentifier id, TableIdentifier::Of(id_in.ns, id_in.name));
  std::lock_guard lock(mu_);
  FRZ_ASSIGN_OR_RETURN(std::optional<std::string> location, CurrentLocation(id));
  return location.has_value();
}

Result<LoadedTable> SqliteCatalog::CommitTable(
    const TableIdentifier& id, const std::vector<iceberg::TableRequirement>& requirements,
    const std::vector<iceberg::TableUpdate>& updates) {
  FRZ_ASSIGN_OR_RETURN(std::vector<LoadedTable> tables,
                       Commit({TableCommit{id, requirements, updates}}));
  return std::move(tables.front());
}

Result<std::vector<LoadedTable>> SqliteCatalog::CommitTransaction(const std::vector<TableCommit>& commits) {
  return Commit(commits);
}

Result<std::vector<SqliteCatalog::Prepared>> SqliteCatalog::PrepareCommits(
    const std::vector<TableCommit>& commits, std::vector<std::string>* written) {
  std::vector<Prepared> out;
  for (const TableCommit& commit : commits) {
    Prepared p{.id = commit.id};
    {
      std::lock_guard lock(mu_);
      FRZ_ASSIGN_OR_RETURN(p.base_location, CurrentLocation(commit.id));
    }
    std::optional<LoadedTable> current;
    if (p.base_location) {
      FRZ_ASSIGN_OR_RETURN(LoadedTable loaded, ReadMetadata(*p.base_location));
      current = std::move(loaded);
    } else if (!HasAssertCreate(commit.requirements)) {
      return MakeError(ErrorKind::kNoSuchTable, "Table does not exist: " + commit.id.ToString());
    }
    const iceberg::TableMetadata* base = current ? &current->metadata : nullptr;
    FRZ_RETURN_IF_ERROR(iceberg::CheckRequirements(base, commit.requirements));
    if (current && commit.updates.empty()) {
      p.noop = true;
      p.result = std::move(*current);
      out.push_back(std::move(p));
      continue;
    }
    std::string ns_location;
    if (!current) {
      std::string ns_text = NamespaceToString(commit.id.ns);
      std::lock_guard lock(mu_);
      FRZ_ASSIGN_OR_RETURN(bool ns_exists, NamespaceExistsLocked(ns_text));
      if (!ns_exists) return MakeError(ErrorKind::kNoSuchNamespace, "Namespace does not exist: " + ns_text);
    }
    FRZ_ASSIGN_OR_RETURN(iceberg::TableMetadata next,
                         iceberg::ApplyUpdates(base, commit.updates, options_.clock->NowMillis()));
    if (next.location.empty()) {
      if (options_.warehouse.empty()) {
        return MakeError(ErrorKind::kInvalidArgument, "no location for " + commit.id.ToString());
      }
      next.location = DefaultTableLocation(options_.warehouse, commit.id, "");
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

Result<std::vector<LoadedTable>> SqliteCatalog::Commit(std::vector<TableCommit> commits) {
  if (commits.empty()) return std::vector<LoadedTable>();
  FRZ_ASSIGN_OR_RETURN(auto lease, AcquireWriteLease(false));  // the new metadata files
  std::set<TableIdentifier> seen;
  for (TableCommit& commit : commits) {
    FRZ_ASSIGN_OR_RETURN(commit.id, TableIdentifier::Of(commit.id.ns, commit.id.name));
    if (!seen.insert(commit.id).second) {
      return MakeError(ErrorKind::kInvalidArgument, "table committed twice: " + commit.id.ToString());
    }
  }
  for (int attempt = 1; attempt <= options_.max_commit_attempts; ++attempt) {
    std::vector<std::string> written;
    Result<std::vector<Prepared>> prepared = PrepareCommits(commits, &written);
    if (!prepared) {
      DeleteFiles(written);
      return std::unexpected(prepared.error());
    }
    if (Status hook = RunHook(CommitPoint::kBeforeSwap); !hook) {
      DeleteFiles(written);
      return std::unexpected(hook.error());
    }
    Result<bool> swapped;
    {
      std::lock_guard lock(mu_);
      swapped = InTransaction("commit table", [&]() -> Result<bool> {
        for (const Prepared& p : *prepared) {
          std::string ns_text = NamespaceToString(p.id.ns);
          if (p.noop) {
            // Its requirements were checked against base_location: it must still be current.
            FRZ_ASSIGN_OR_RETURN(std::optional<std::string> now, CurrentLocation(p.id));
            if (now != p.base_location) return false;
          } else if (!p.base_location) {
            FRZ_ASSIGN_OR_RETURN(Statement insert, db_.Prepare(InsertTableSql(), "commit create table"));
            FRZ_RETURN_IF_ERROR(BindAll(insert, {options_.name, ns_text, p.id.name, p.result.metadata_location}));
            Status inserted = insert.Run();
            // Someone created it first: the next attempt's assert-create check reports it.
            if (!inserted && inserted.error().kind == ErrorKind::kAlreadyExists) return false;
            FRZ_RETURN_IF_ERROR(inserted);
          } else {
            FRZ_ASSIGN_OR_RETURN(
                Statement update,
                db_.Prepare("UPDATE iceberg_tables SET metadata_location = ?, "
                            "previous_metadata_location = ? WHERE catalog_name = ? AND "
                            "table_namespace = ? AND table_name = ? AND metadata_location = ?" +
                                TypeFilter(),
                            "commit table"));
            FRZ_RETURN_IF_ERROR(BindAll(update, {p.result.metadata_location, *p.base_location,
                                                 options_.name, ns_text, p.id.name, *p.base_location}));
            FRZ_RETURN_IF_ERROR(update.Run());
            if (db_.Changes() == 0) return false;  // another writer swapped first
          }
        }
        return true;
      });
    }
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
  return MakeError(ErrorKind::kCommitFailed,
                   "lost the metadata compare-and-swap " + std::to_string(options_.max_commit_attempts) +
                       " times to concurrent writers");
}

void SqliteCatalog::DeleteFiles(const std::vector<std::string>& locations) {
  // Best effort: a file left behind is an orphan for orphan-file removal, not an error.
  for (const std::string& location : locations) (void)file_io_->Delete(location);
}

Status SqliteCatalog::DropTable(const TableIdentifier& id_in, bool purge) {
  FRZ_ASSIGN_OR_RETURN(TableIdentifier id, TableIdentifier::Of(id_in.ns, id_in.name));
  std::optional<std::string> location;
  {
    std::lock_guard lock(mu_);
    FRZ_ASSIGN_OR_RETURN(location, CurrentLocation(id));
  }
  if (!location) return MakeError(ErrorKind::kNoSuchTable, "Table does not exist: " + id.ToString());
  std::optional<LoadedTable> loaded;
  if (purge) {
    Result<LoadedTable> read = ReadMetadata(*location);
    if (read) loaded = std::move(*read);
  }
  {
    std::lock_guard lock(mu_);
    Result<bool> done = InTransaction("drop table", [&]() -> Result<bool> {
      FRZ_ASSIGN_OR_RETURN(Statement del,
                           db_.Prepare("DELETE FROM iceberg_tables WHERE catalog_name = ? AND "
                                       "table_namespace = ? AND table_name = ?" + TypeFilter(),
                                       "drop table"));
      FRZ_RETURN_IF_ERROR(BindAll(del, {options_.name, NamespaceToString(id.ns), id.name}));
      FRZ_RETURN_IF_ERROR(del.Run());
      if (db_.Changes() == 0) {
        return MakeError(ErrorKind::kNoSuchTable, "Table does not exist: " + id.ToString());
      }
      return true;
    });
    if (!done) return std::unexpected(done.error());
  }
  if (!purge) return Ok();

  std::set<std::string> files{*location};
  std::string table_location;
  if (loaded) {
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
        Result<std::vector<iceberg::ManifestEntry>> entries =
            iceberg::ReadManifest(*bytes, *schema, *spec);
        if (!entries) continue;
        for (const auto& entry : *entries) files.insert(entry.data_file.file_path);
      }
    }
  } else {
    // Unreadable metadata: the table folder is the parent of its metadata folder.
    size_t slash = location->rfind("/metadata/");
    if (slash != std::string::npos) table_location = location->substr(0, slash);
  }
  if (!table_location.empty()) {
    for (const char* folder : {"data", "metadata"}) {
      Result<std::vector<io::FileInfo>> listed = file_io_->List(io::JoinLocation(table_location, folder));
      if (!listed) continue;
      for (const io::FileInfo& info : *listed) files.insert(info.location);
    }
  }
  DeleteFiles(std::vector<std::string>(files.begin(), files.end()));
  return Ok();
}

Status SqliteCatalog::RenameTable(const TableIdentifier& from_in, const TableIdentifier& to_in) {
  FRZ_ASSIGN_OR_RETURN(TableIdentifier from, TableIdentifier::Of(from_in.ns, from_in.name));
  FRZ_ASSIGN_OR_RETURN(TableIdentifier to, TableIdentifier::Of(to_in.ns, to_in.name));
  std::lock_guard lock(mu_);
  Result<bool> done = InTransaction("rename table", [&]() -> Result<bool> {
    FRZ_ASSIGN_OR_RETURN(std::optional<std::string> current, CurrentLocation(from));
    if (!current) return MakeError(ErrorKind::kNoSuchTable, "Table does not exist: " + from.ToString());
    std::string to_ns = NamespaceToString(to.ns);
    FRZ_ASSIGN_OR_RETURN(bool ns_exists, NamespaceExistsLocked(to_ns));
    if (!ns_exists) return MakeError(ErrorKind::kNoSuchNamespace, "Namespace does not exist: " + to_ns);
    FRZ_ASSIGN_OR_RETURN(
        Statement update,
        db_.Prepare("UPDATE iceberg_tables SET table_namespace = ?, table_name = ? WHERE "
                    "catalog_name = ? AND table_namespace = ? AND table_name = ?" + TypeFilter(),
                    "rename table"));
    FRZ_RETURN_IF_ERROR(
        BindAll(update, {to_ns, to.name, options_.name, NamespaceToString(from.ns), from.name}));
    Status renamed = update.Run();
    // The primary key also covers views of the same name.
    if (!renamed && renamed.error().kind == ErrorKind::kAlreadyExists) {
      return MakeError(ErrorKind::kAlreadyExists, "Table already exists: " + to.ToString());
    }
    FRZ_RETURN_IF_ERROR(renamed);
    if (db_.Changes() == 0) return MakeError(ErrorKind::kNoSuchTable, "Table does not exist: " + from.ToString());
    return true;
  });
  if (!done) return std::unexpected(done.error());
  return Ok();
}

Result<LoadedTable> SqliteCatalog::RegisterTable(const TableIdentifier& id_in,
                                                 const std::string& metadata_location) {
  FRZ_ASSIGN_OR_RETURN(TableIdentifier id, TableIdentifier::Of(id_in.ns, id_in.name));
  FRZ_ASSIGN_OR_RETURN(LoadedTable loaded, ReadMetadata(metadata_location));
  std::string ns_text = NamespaceToString(id.ns);
  std::lock_guard lock(mu_);
  Result<bool> done = InTransaction("register table", [&]() -> Result<bool> {
    FRZ_RETURN_IF_ERROR(InsertTableRowLocked(id, ns_text, metadata_location, "register table"));
    return true;
  });
  if (!done) return std::unexpected(done.error());
  return loaded;
}

}  // namespace frazil::catalog
