#include "frazil/catalog/sqlite_catalog.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace frazil::catalog {

// A SQLite connection for one operation: holds mu_ until destroyed.
class SqliteCatalog::Session final : public SqlSession {
 public:
  Session(std::mutex& mu, sqlite::Database& db) : lock_(mu), db_(db) {}
  ~Session() override {
    // An operation that returned early (an error between BEGIN and COMMIT without Rollback)
    // must not leave the shared connection inside a transaction.
    if (db_.InTransaction()) (void)db_.Exec("ROLLBACK", "end session");
  }

  Result<std::vector<Row>> Query(std::string_view sql, const std::vector<std::string>& params,
                                 std::string_view what) override {
    FRZ_ASSIGN_OR_RETURN(sqlite::Statement stmt, Bound(sql, params, what));
    std::vector<Row> rows;
    while (true) {
      FRZ_ASSIGN_OR_RETURN(sqlite::Step step, stmt.Next());
      if (step == sqlite::Step::kDone) return rows;
      Row row;
      for (int i = 0; i < stmt.columns(); ++i) row.push_back(stmt.Text(i));
      rows.push_back(std::move(row));
    }
  }

  Result<int64_t> Exec(std::string_view sql, const std::vector<std::string>& params,
                       std::string_view what) override {
    FRZ_ASSIGN_OR_RETURN(sqlite::Statement stmt, Bound(sql, params, what));
    FRZ_RETURN_IF_ERROR(stmt.Run());
    return db_.Changes();
  }

  // BEGIN IMMEDIATE takes the write lock up front, so the reads of a transaction see the
  // state its writes apply to.
  Status Begin(std::string_view what) override { return db_.Exec("BEGIN IMMEDIATE", what); }

  Status Commit(std::string_view what) override {
    Status commit = db_.Exec("COMMIT", what);
    if (commit) return Ok();
    if (db_.last_failure() == sqlite::Failure::kBusy && db_.InTransaction()) {
      // SQLite keeps the transaction open after a busy COMMIT: rolling back is definite.
      (void)db_.Exec("ROLLBACK", what);
      return std::unexpected(commit.error());
    }
    if (db_.InTransaction()) (void)db_.Exec("ROLLBACK", what);
    return MakeError(ErrorKind::kCommitStateUnknown,
                     "commit state unknown after failed COMMIT: " + commit.error().message);
  }

  void Rollback(std::string_view what) override {
    if (db_.InTransaction()) (void)db_.Exec("ROLLBACK", what);
  }

  Result<bool> HasColumn(std::string_view table, std::string_view column) override {
    return db_.HasColumn(table, column);
  }

 private:
  Result<sqlite::Statement> Bound(std::string_view sql, const std::vector<std::string>& params,
                                  std::string_view what) {
    FRZ_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_.Prepare(sql, what));
    int index = 1;
    for (const std::string& value : params) FRZ_RETURN_IF_ERROR(stmt.Bind(index++, std::string_view(value)));
    return stmt;
  }

  std::unique_lock<std::mutex> lock_;
  sqlite::Database& db_;
};

SqliteCatalog::SqliteCatalog(SqliteCatalogOptions options, std::shared_ptr<io::FileIO> file_io,
                             sqlite::Database db)
    : JdbcCatalog(JdbcCatalogConfig{.name = options.name,
                                    .warehouse = options.warehouse,
                                    .max_commit_attempts = options.max_commit_attempts,
                                    .clock = options.clock},
                  std::move(file_io)),
      options_(std::move(options)),
      db_(std::move(db)) {}

Result<std::unique_ptr<SqliteCatalog>> SqliteCatalog::Make(SqliteCatalogOptions options,
                                                           std::shared_ptr<io::FileIO> file_io) {
  if (options.path.empty()) return MakeError(ErrorKind::kInvalidArgument, "sqlite catalog: empty path");
  JdbcCatalogConfig config{.name = options.name, .max_commit_attempts = options.max_commit_attempts,
                           .clock = options.clock};
  FRZ_RETURN_IF_ERROR(Validate("sqlite catalog", config, file_io.get()));
  options.max_commit_attempts = config.max_commit_attempts;
  options.clock = config.clock;
  FRZ_ASSIGN_OR_RETURN(sqlite::Database db, sqlite::Database::Open(options.path, options.busy_timeout_ms));
  if (options.wal && options.path != ":memory:") {
    // Best effort: another connection in the middle of a transaction makes it fail, and the
    // catalog still works in rollback-journal mode.
    (void)db.Exec("PRAGMA journal_mode=WAL", "enable WAL");
  }
  if (options.create_tables) {
    FRZ_RETURN_IF_ERROR(db.Exec(kCreateIcebergTablesSql, "create iceberg_tables"));
    FRZ_RETURN_IF_ERROR(db.Exec(kCreateNamespacePropertiesSql, "create iceberg_namespace_properties"));
  }
  std::unique_ptr<SqliteCatalog> catalog(new SqliteCatalog(std::move(options), std::move(file_io), std::move(db)));
  FRZ_ASSIGN_OR_RETURN(auto session, catalog->OpenSession());
  FRZ_RETURN_IF_ERROR(catalog->DetectLayout(*session));
  session.reset();
  return catalog;
}

Result<std::unique_ptr<SqlSession>> SqliteCatalog::OpenSession() {
  return std::unique_ptr<SqlSession>(new Session(mu_, db_));
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

}  // namespace frazil::catalog
