// The catalog logic shared by every store of the Iceberg JDBC catalog layout (tables
// iceberg_tables and iceberg_namespace_properties; docs/catalog.md): namespace rules, table
// creation and location defaults, the commit protocol (load, check requirements, apply
// updates, write the new metadata file, compare-and-swap the pointer, retry), purge and the
// metadata cache. A store (SqliteCatalog, PostgresCatalog) supplies only connections that run
// SQL (SqlSession) and its write lease.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/base/clock.h"
#include "frazil/catalog/catalog.h"
#include "frazil/io/file_io.h"

namespace frazil::catalog {

// One connection of a store, held for one catalog operation (never two at once by one
// thread). SQL uses `?` placeholders bound to text parameters, in the dialect both SQLite
// and PostgreSQL accept.
class SqlSession {
 public:
  using Row = std::vector<std::optional<std::string>>;
  virtual ~SqlSession() = default;

  // Runs a query and returns all rows (NULL = nullopt). `what` names the catalog operation
  // in error messages. Errors: AlreadyExists for a unique-key violation; IOError when the
  // database cannot be reached or is locked; others with the database's message.
  virtual Result<std::vector<Row>> Query(std::string_view sql, const std::vector<std::string>& params,
                                         std::string_view what) = 0;
  // Runs a statement and returns the number of rows it changed. Errors as Query.
  virtual Result<int64_t> Exec(std::string_view sql, const std::vector<std::string>& params,
                               std::string_view what) = 0;
  // Starts a write transaction. Errors as Query.
  virtual Status Begin(std::string_view what) = 0;
  // Commits. Errors: CommitStateUnknown when the transaction may have committed; any other
  // kind means it definitely did not (and it is no longer open).
  virtual Status Commit(std::string_view what) = 0;
  // Best effort; the transaction is over afterwards either way.
  virtual void Rollback(std::string_view what) = 0;
  // Whether `table` (as the session's queries resolve it) has `column`. Errors as Query.
  virtual Result<bool> HasColumn(std::string_view table, std::string_view column) = 0;
};

// Points in a commit where a test hook may inject a fault (JdbcCatalog::SetCommitHook).
enum class CommitPoint {
  kBeforeSwap,    // new metadata files written, no transaction open yet
  kBeforeCommit,  // pointers swapped inside the open transaction, COMMIT not sent
  kAfterSwap,     // pointer swapped and committed
};

// The options every store has.
struct JdbcCatalogConfig {
  std::string name;             // the catalog_name column
  std::string warehouse;        // root of default table locations
  int max_commit_attempts = 20; // compare-and-swap races retried before CommitFailed
  Clock* clock = nullptr;       // nullptr = Clock::System()
};

// The JDBC layout's DDL (schema V1, as Java's JdbcCatalog and PyIceberg's SqlCatalog create
// it). IF NOT EXISTS keeps a layout a peer created first (V0 included).
inline constexpr std::string_view kCreateIcebergTablesSql =
    "CREATE TABLE IF NOT EXISTS iceberg_tables ("
    "catalog_name VARCHAR(255) NOT NULL, "
    "table_namespace VARCHAR(255) NOT NULL, "
    "table_name VARCHAR(255) NOT NULL, "
    "metadata_location VARCHAR(1000), "
    "previous_metadata_location VARCHAR(1000), "
    "iceberg_type VARCHAR(5), "
    "PRIMARY KEY (catalog_name, table_namespace, table_name))";
inline constexpr std::string_view kCreateNamespacePropertiesSql =
    "CREATE TABLE IF NOT EXISTS iceberg_namespace_properties ("
    "catalog_name VARCHAR(255) NOT NULL, "
    "namespace VARCHAR(255) NOT NULL, "
    "property_key VARCHAR(255) NOT NULL, "
    "property_value VARCHAR(1000), "
    "PRIMARY KEY (catalog_name, namespace, property_key))";

class JdbcCatalog : public Catalog {
 public:
  // Test hook run at each CommitPoint of every commit. An error at kBeforeSwap or
  // kBeforeCommit fails the commit definitely (rolled back, its files deleted); an error at
  // kAfterSwap turns the outcome into CommitStateUnknown (the swap did happen; nothing is
  // deleted).
  void SetCommitHook(std::function<Status(CommitPoint)> hook);

  // Whether the layout has the iceberg_type column (JDBC schema V1); without it (V0) the
  // catalog neither writes nor filters that column.
  bool has_type_column() const { return has_type_column_; }

  const std::string& name() const final { return config_.name; }
  Result<std::vector<Namespace>> ListNamespaces(const Namespace& parent) final;
  Status CreateNamespace(const Namespace& ns, const Properties& properties) final;
  Result<Properties> LoadNamespaceMetadata(const Namespace& ns) final;
  Result<bool> NamespaceExists(const Namespace& ns) final;
  Status DropNamespace(const Namespace& ns) final;
  Status UpdateNamespaceProperties(const Namespace& ns, const std::vector<std::string>& removals,
                                   const Properties& updates) final;
  Result<std::vector<TableIdentifier>> ListTables(const Namespace& ns) final;
  Result<LoadedTable> CreateTable(const TableIdentifier& id, const iceberg::Schema& schema,
                                  const iceberg::PartitionSpec& spec, const iceberg::SortOrder& order,
                                  const std::optional<std::string>& location,
                                  const Properties& properties) final;
  Result<LoadedTable> LoadTable(const TableIdentifier& id) final;
  Result<bool> TableExists(const TableIdentifier& id) final;
  Result<LoadedTable> CommitTable(const TableIdentifier& id,
                                  const std::vector<iceberg::TableRequirement>& requirements,
                                  const std::vector<iceberg::TableUpdate>& updates) final;
  Result<std::vector<LoadedTable>> CommitTransaction(const std::vector<TableCommit>& commits) final;
  Status DropTable(const TableIdentifier& id, bool purge) final;
  Status RenameTable(const TableIdentifier& from, const TableIdentifier& to) final;
  Result<LoadedTable> RegisterTable(const TableIdentifier& id, const std::string& metadata_location) final;

 protected:
  // Checks the config (name, FileIO) and fills defaults. Errors: InvalidArgument.
  static Status Validate(std::string_view store, JdbcCatalogConfig& config, const io::FileIO* file_io);
  JdbcCatalog(JdbcCatalogConfig config, std::shared_ptr<io::FileIO> file_io)
      : config_(std::move(config)), file_io_(std::move(file_io)) {}

  // A connection for one operation; released by destruction.
  virtual Result<std::unique_ptr<SqlSession>> OpenSession() = 0;
  // Detects the layout (V1 or V0) on `session`; stores call it once from Make after creating
  // the tables.
  Status DetectLayout(SqlSession& session);

  const JdbcCatalogConfig& config() const { return config_; }

 private:
  struct Prepared;

  std::string TypeFilter() const;
  std::string InsertTableSql() const;  // binds catalog, namespace, name, metadata_location
  // BEGIN, `body`, COMMIT. `body` returns false to roll back without an error (a lost race).
  // Errors from `body` or BEGIN are definite failures (rolled back); COMMIT's are the
  // session's (CommitStateUnknown when it may have committed).
  static Result<bool> InTransaction(SqlSession& s, std::string_view what,
                                    const std::function<Result<bool>()>& body);
  // The metadata_location of a table row; nullopt if there is no such table.
  Result<std::optional<std::string>> CurrentLocation(SqlSession& s, const TableIdentifier& id);
  Result<bool> NamespaceExistsIn(SqlSession& s, const std::string& ns);
  // Inserts the row of a new table. Errors: NoSuchNamespace, AlreadyExists naming the table.
  Status InsertTableRow(SqlSession& s, const TableIdentifier& id, const std::string& metadata_location,
                        std::string_view what);
  Result<LoadedTable> ReadMetadata(const std::string& location);
  Result<std::vector<LoadedTable>> Commit(std::vector<TableCommit> commits);
  Result<std::vector<Prepared>> PrepareCommits(const std::vector<TableCommit>& commits,
                                               std::vector<std::string>* written);
  // Swaps every prepared pointer in one transaction; false when another writer won a swap.
  Result<bool> Swap(const std::vector<Prepared>& prepared);
  void DeleteFiles(const std::vector<std::string>& locations);
  // Every file reachable from the table's metadata and under its data/ and metadata/.
  std::vector<std::string> TableFiles(const std::string& metadata_location, const LoadedTable* loaded);
  Status RunHook(CommitPoint point);

  JdbcCatalogConfig config_;
  std::shared_ptr<io::FileIO> file_io_;
  bool has_type_column_ = false;  // set once by DetectLayout, before any other use
  std::mutex hook_mu_;
  std::function<Status(CommitPoint)> hook_;  // guarded by hook_mu_

  // Parsed metadata by file location. Metadata files are immutable, so an entry can never be
  // stale; it saves re-parsing a large metadata.json (one entry per snapshot) on every load
  // and commit.
  void CacheMetadata(const std::string& location, const iceberg::TableMetadata& metadata);
  static constexpr size_t kMetadataCacheSize = 16;
  std::mutex cache_mu_;
  std::deque<std::pair<std::string, std::shared_ptr<const iceberg::TableMetadata>>> cache_;  // guarded by cache_mu_
};

}  // namespace frazil::catalog
