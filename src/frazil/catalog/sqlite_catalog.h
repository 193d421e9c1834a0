// The embedded SQL catalog: a SQLite file with exactly the tables of Iceberg's JDBC catalog
// (org.apache.iceberg.jdbc.JdbcCatalog) and PyIceberg's SqlCatalog, so that Spark, Flink,
// PyIceberg and frazil can all open the same file (docs/catalog.md).
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "frazil/base/clock.h"
#include "frazil/catalog/catalog.h"
#include "frazil/catalog/sqlite.h"
#include "frazil/io/file_io.h"

namespace frazil::catalog {

struct SqliteCatalogOptions {
  std::string name = "frazil";  // the catalog_name column; several catalogs may share a file
  std::string path;             // SQLite file, or ":memory:"
  std::string warehouse;        // root of default table locations ("file:///srv/wh", "/srv/wh")
  int busy_timeout_ms = 10000;  // how long to wait for another connection's lock
  int max_commit_attempts = 20; // compare-and-swap races retried before CommitFailed
  bool create_tables = true;    // create iceberg_tables / iceberg_namespace_properties if absent
  // Switch the file to write-ahead logging (persistent; every peer handles it). Without it a
  // reader that keeps a statement open -- Spark's JdbcCatalog does -- blocks all writers.
  bool wal = true;
  Clock* clock = nullptr;       // stamps last-updated-ms; nullptr = Clock::System()
};

// Points in a commit where a test hook may inject a fault (SqliteCatalog::SetCommitHook).
enum class CommitPoint {
  kBeforeSwap,  // new metadata files written, pointer not swapped yet
  kAfterSwap,   // pointer swapped and committed in SQLite
};

class SqliteCatalog final : public Catalog {
 public:
  // Opens or creates the catalog database. If the tables exist without the iceberg_type
  // column (JDBC "V0" layout) the catalog works in that layout and does not alter it.
  // Errors: IOError; InvalidArgument for an empty path or name.
  static Result<std::unique_ptr<SqliteCatalog>> Make(SqliteCatalogOptions options,
                                                     std::shared_ptr<io::FileIO> file_io);

  // Test hook run at each CommitPoint of every commit. An error at kBeforeSwap fails the
  // commit definitely (its files are deleted); an error at kAfterSwap turns the outcome into
  // CommitStateUnknown (the swap did happen; nothing is deleted).
  void SetCommitHook(std::function<Status(CommitPoint)> hook);

  // Whether the database has the iceberg_type column (JDBC schema V1).
  bool has_type_column() const { return has_type_column_; }

  const std::string& name() const override { return options_.name; }
  Result<std::vector<Namespace>> ListNamespaces(const Namespace& parent) override;
  Status CreateNamespace(const Namespace& ns, const Properties& properties) override;
  Result<Properties> LoadNamespaceMetadata(const Namespace& ns) override;
  Result<bool> NamespaceExists(const Namespace& ns) override;
  Status DropNamespace(const Namespace& ns) override;
  Status UpdateNamespaceProperties(const Namespace& ns, const std::vector<std::string>& removals,
                                   const Properties& updates) override;
  Result<std::vector<TableIdentifier>> ListTables(const Namespace& ns) override;
  Result<LoadedTable> CreateTable(const TableIdentifier& id, const iceberg::Schema& schema,
                                  const iceberg::PartitionSpec& spec, const iceberg::SortOrder& order,
                                  const std::optional<std::string>& location,
                                  const Properties& properties) override;
  Result<LoadedTable> LoadTable(const TableIdentifier& id) override;
  // flock(2) on "<path>.writers" (nullptr for ":memory:").
  Result<std::unique_ptr<WriteLease>> AcquireWriteLease(bool exclusive) override;
  Result<bool> TableExists(const TableIdentifier& id) override;
  Result<LoadedTable> CommitTable(const TableIdentifier& id,
                                  const std::vector<iceberg::TableRequirement>& requirements,
                                  const std::vector<iceberg::TableUpdate>& updates) override;
  Result<std::vector<LoadedTable>> CommitTransaction(const std::vector<TableCommit>& commits) override;
  Status DropTable(const TableIdentifier& id, bool purge) override;
  Status RenameTable(const TableIdentifier& from, const TableIdentifier& to) override;
  Result<LoadedTable> RegisterTable(const TableIdentifier& id,
                                    const std::string& metadata_location) override;

 private:
  struct Prepared;

  SqliteCatalog(SqliteCatalogOptions options, std::shared_ptr<io::FileIO> file_io, sqlite::Database db)
      : options_(std::move(options)), file_io_(std::move(file_io)), db_(std::move(db)) {}

  Status InitTables();
  std::string TypeFilter() const;
  std::string InsertTableSql() const;  // binds catalog, namespace, name, metadata_location
  // Inserts the catalog row of a new table (inside a transaction, mu_ held).
  // Errors: NoSuchNamespace, AlreadyExists naming the table.
  Status InsertTableRowLocked(const TableIdentifier& id, const std::string& ns_text,
                              const std::string& metadata_location, const char* operation);
  // The metadata_location of a table row; nullopt if there is no such table.
  Result<std::optional<std::string>> CurrentLocation(const TableIdentifier& id);
  Result<LoadedTable> ReadMetadata(const std::string& location);
  Result<bool> NamespaceExistsLocked(const std::string& ns);
  // The helpers below expect mu_ to be held by the caller.
  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT. `body` returns false to roll back without
  // an error (a lost race). Errors from `body` or BEGIN are definite failures (rolled back);
  // a failed COMMIT other than "busy" is CommitStateUnknown.
  Result<bool> InTransaction(std::string_view what, const std::function<Result<bool>()>& body);
  Result<std::vector<LoadedTable>> Commit(std::vector<TableCommit> commits);
  Result<std::vector<Prepared>> PrepareCommits(const std::vector<TableCommit>& commits,
                                               std::vector<std::string>* written);
  void DeleteFiles(const std::vector<std::string>& locations);
  Status RunHook(CommitPoint point);

  SqliteCatalogOptions options_;
  std::shared_ptr<io::FileIO> file_io_;
  std::mutex mu_;                // serializes use of db_ (one statement sequence at a time)
  sqlite::Database db_;          // guarded by mu_
  bool has_type_column_ = false;
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
