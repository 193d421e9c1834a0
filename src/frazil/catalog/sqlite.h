// Move-only RAII wrappers for SQLite's `sqlite3` and `sqlite3_stmt`. SQLite errors become a
// Result here and nowhere else; every message names the SQL operation that failed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "frazil/base/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace frazil::catalog::sqlite {

// How a failed SQLite call failed, for callers that must tell "nothing happened" from
// "something may have happened".
enum class Failure {
  kNone,
  kBusy,   // SQLITE_BUSY / SQLITE_LOCKED after the busy timeout: the statement did nothing
  kOther,  // I/O error, disk full, corruption, constraint, misuse...
};

enum class Step { kRow, kDone };

class Statement {
 public:
  Statement() = default;
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds 1-based parameters. Errors: Internal (a bind only fails on misuse).
  Status Bind(int index, std::string_view text);
  Status Bind(int index, int64_t value);
  Status BindNull(int index);

  // Runs one step. Errors: IOError (busy: "database is locked"), AlreadyExists for a
  // uniqueness violation, Corrupt for a corrupt database; `last_failure()` tells which.
  Result<Step> Next();
  // Steps until done. Same errors as Next.
  Status Run();
  // Column values of the current row (0-based); nullopt for SQL NULL.
  std::optional<std::string> Text(int column) const;
  int64_t Int(int column) const;
  // Number of result columns of the statement.
  int columns() const;
  // Rewinds for another execution, keeping the bindings.
  void Reset();

  Failure last_failure() const { return last_failure_; }
  const std::string& sql() const { return what_; }

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string what)
      : db_(db), stmt_(stmt), what_(std::move(what)) {}
  Error MakeFailure(int code, std::string_view op);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string what_;  // the SQL operation, for error messages
  Failure last_failure_ = Failure::kNone;
};

class Database {
 public:
  Database() = default;
  ~Database();
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Opens (creating if absent) a database file, or ":memory:". Waits up to
  // `busy_timeout_ms` for locks held by other connections. Errors: IOError.
  static Result<Database> Open(const std::string& path, int busy_timeout_ms);

  // Prepares one statement. `what` names the operation in error messages (e.g.
  // "commit table"). Errors: Internal (bad SQL), IOError.
  Result<Statement> Prepare(std::string_view sql, std::string_view what);
  // Runs statements without results. Errors as Statement::Next.
  Status Exec(std::string_view sql, std::string_view what);
  // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  int64_t Changes() const;
  // Whether a table has a column (PRAGMA table_info). Errors: IOError.
  Result<bool> HasColumn(std::string_view table, std::string_view column);
  // Whether a transaction is open on this connection.
  bool InTransaction() const;

  Failure last_failure() const { return last_failure_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
  Failure last_failure_ = Failure::kNone;
};

}  // namespace frazil::catalog::sqlite
