#include "frazil/catalog/sqlite.h"

#include <sqlite3.h>

#include <utility>

namespace frazil::catalog::sqlite {
namespace {

Failure Classify(int code) {
  int primary = code & 0xff;
  if (primary == SQLITE_OK || primary == SQLITE_ROW || primary == SQLITE_DONE) return Failure::kNone;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Failure::kBusy;
  return Failure::kOther;
}

ErrorKind KindOf(int code) {
  switch (code & 0xff) {
    case SQLITE_CONSTRAINT:
      return ErrorKind::kAlreadyExists;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorKind::kCorrupt;
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_ERROR:
      return ErrorKind::kInternal;
    default:
      return ErrorKind::kIOError;
  }
}

std::string Describe(sqlite3* db, int code) {
  std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  return msg + " (sqlite code " + std::to_string(code) + ")";
}

}  // namespace

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      what_(std::move(other.what_)),
      last_failure_(other.last_failure_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    what_ = std::move(other.what_);
    last_failure_ = other.last_failure_;
  }
  return *this;
}

Error Statement::MakeFailure(int code, std::string_view op) {
  last_failure_ = Classify(code);
  return Error{KindOf(code), "sqlite " + std::string(op) + " for '" + what_ + "': " + Describe(db_, code)};
}

Status Statement::Bind(int index, std::string_view text) {
  int rc = sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) return std::unexpected(MakeFailure(rc, "bind"));
  return Ok();
}

Status Statement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) return std::unexpected(MakeFailure(rc, "bind"));
  return Ok();
}

Status Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) return std::unexpected(MakeFailure(rc, "bind"));
  return Ok();
}

Result<Step> Statement::Next() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    last_failure_ = Failure::kNone;
    return Step::kRow;
  }
  if (rc == SQLITE_DONE) {
    last_failure_ = Failure::kNone;
    return Step::kDone;
  }
  Error error = MakeFailure(rc, "step");
  // A failed step must be reset before the statement can run again.
  sqlite3_reset(stmt_);
  return std::unexpected(std::move(error));
}

Status Statement::Run() {
  while (true) {
    FRZ_ASSIGN_OR_RETURN(Step step, Next());
    if (step == Step::kDone) return Ok();
  }
}

std::optional<std::string> Statement::Text(int column) const {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }
int Statement::columns() const { return sqlite3_column_count(stmt_); }

void Statement::Reset() {
  sqlite3_reset(stmt_);
  last_failure_ = Failure::kNone;
}

Database::~Database() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), last_failure_(other.last_failure_) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    last_failure_ = other.last_failure_;
  }
  return *this;
}

Result<Database> Database::Open(const std::string& path, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Database db(raw);  // owns the handle even when opening failed
  if (rc != SQLITE_OK) {
    return MakeError(ErrorKind::kIOError,
                     "sqlite open '" + path + "': " + Describe(raw, rc));
  }
  sqlite3_extended_result_codes(raw, 1);
  rc = sqlite3_busy_timeout(raw, busy_timeout_ms);
  if (rc != SQLITE_OK) {
    return MakeError(ErrorKind::kIOError, "sqlite busy_timeout '" + path + "': " + Describe(raw, rc));
  }
  return db;
}

Result<Statement> Database::Prepare(std::string_view sql, std::string_view what) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    if (stmt != nullptr) sqlite3_finalize(stmt);
    last_failure_ = Classify(rc);
    return MakeError(KindOf(rc), "sqlite prepare for '" + std::string(what) + "': " + Describe(db_, rc));
  }
  last_failure_ = Failure::kNone;
  return Statement(db_, stmt, std::string(what));
}

Status Database::Exec(std::string_view sql, std::string_view what) {
  FRZ_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql, what));
  Status status = stmt.Run();
  last_failure_ = stmt.last_failure();
  return status;
}

int64_t Database::Changes() const { return sqlite3_changes64(db_); }

Result<bool> Database::HasColumn(std::string_view table, std::string_view column) {
  FRZ_ASSIGN_OR_RETURN(Statement stmt,
                       Prepare("PRAGMA table_info(" + std::string(table) + ")", "inspect catalog schema"));
  while (true) {
    FRZ_ASSIGN_OR_RETURN(Step step, stmt.Next());
    if (step == Step::kDone) return false;
    if (stmt.Text(1) == std::string(column)) return true;
  }
}

bool Database::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

}  // namespace frazil::catalog::sqlite
