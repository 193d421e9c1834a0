// Move-only RAII wrappers around libpq's PGconn and PGresult. libpq's errors become
// Results here and nowhere else; messages never contain the password of a conninfo.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/base/result.h"

struct pg_conn;
struct pg_result;

namespace frazil::pg {

class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(pg_result* res) : res_(res) {}
  PgResult(PgResult&& o) noexcept : res_(o.res_) { o.res_ = nullptr; }
  PgResult& operator=(PgResult&& o) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  int rows() const;
  int columns() const;
  bool IsNull(int row, int column) const;
  // The text value of a cell ("" for NULL).
  std::string_view Get(int row, int column) const;
  std::optional<std::string> GetOptional(int row, int column) const;
  // Column index by name, -1 if absent.
  int Column(std::string_view name) const;
  // Rows an INSERT/UPDATE/DELETE changed (PQcmdTuples); 0 for other commands.
  int64_t affected_rows() const;

 private:
  pg_result* res_ = nullptr;
};

// What kind of failure a libpq error is, so callers can tell retryable from fatal.
// The SQLSTATE is in the message as well.
struct PgErrorInfo {
  std::string sqlstate;  // e.g. "42501" (insufficient privilege), "42704" (undefined object)
};

class PgConnection {
 public:
  // Connects with `conninfo` (key=value or postgresql:// URL). `replication` adds
  // replication=database (the walsender protocol with SQL). `options` is appended as the
  // libpq `options` parameter (session GUCs). `application_name` names the session in
  // pg_stat_activity / pg_stat_replication.
  // Errors: IOError "cannot connect to PostgreSQL at <host:port/db>: <libpq message>".
  static Result<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo, bool replication,
                                                       const std::string& options = "",
                                                       const std::string& application_name = "frazil");
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one statement (or a replication command) and returns its rows.
  // Errors: InvalidArgument/NotFound/IOError... with PostgreSQL's message and SQLSTATE;
  // `sqlstate` (optional) receives the SQLSTATE of a server error.
  Result<PgResult> Exec(std::string_view sql, std::string* sqlstate = nullptr);
  // As Exec with text parameters $1..$n (nullopt = NULL).
  Result<PgResult> ExecParams(std::string_view sql, const std::vector<std::optional<std::string>>& params,
                              std::string* sqlstate = nullptr);

  // Runs `COPY ... TO STDOUT` and hands each CopyData row (one text-format line, with its
  // newline) to `on_row`; stops with its error if it fails.
  Status CopyOut(std::string_view sql, const std::function<Status(std::string_view)>& on_row);

  // Starts a CopyBoth stream (START_REPLICATION). Then use ReadCopyData / PutCopyData.
  Status StartCopyBoth(std::string_view sql, std::string* sqlstate = nullptr);
  // Waits up to `timeout_ms` for one CopyData message. Returns nullopt on timeout. The
  // view stays valid until the next call (libpq's buffer, no copy).
  // Errors: IOError when the stream ends or the connection breaks (with the server's
  // final error, e.g. the slot was dropped).
  Result<std::optional<std::string_view>> ReadCopyData(int timeout_ms, std::string* sqlstate = nullptr);
  Status PutCopyData(std::string_view data);

  // "host:port/dbname", for messages (never the password).
  std::string Describe() const;
  int server_version() const;
  bool ok() const;
  // Whether the session is inside a transaction block (or its state is unknown), i.e. not
  // idle and reusable as is.
  bool in_transaction() const;

 private:
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  Status ErrorFromConn(std::string_view what) const;
  void FreeCopyBuffer();
  pg_conn* conn_ = nullptr;
  char* copy_buffer_ = nullptr;  // the last message ReadCopyData returned
};

// SQL quoting (standard_conforming_strings on).
std::string PgQuoteIdentifier(std::string_view name);
std::string PgQuoteLiteral(std::string_view value);
// "schema.table" with both parts quoted.
std::string PgQualifiedName(std::string_view schema, std::string_view table);

// The conninfo with any password removed, for logs and messages.
std::string RedactConninfo(const std::string& conninfo);

}  // namespace frazil::pg
