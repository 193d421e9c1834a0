#include "frazil/pg/pg.h"

#include <libpq-fe.h>
#include <sys/select.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <regex>

namespace frazil::pg {
namespace {

// Server errors carry a SQLSTATE; its class decides whether retrying can help.
ErrorKind KindForSqlState(std::string_view state) {
  if (state == "42704") return ErrorKind::kNotFound;                  // undefined_object (a slot)
  if (state.starts_with("08") || state.starts_with("57P")) return ErrorKind::kIOError;  // connection, shutdown
  if (state == "53100") return ErrorKind::kIOError;                   // disk_full
  // object_in_use: the slot is still held by a walsender of a process that just died;
  // PostgreSQL releases it within moments, so retrying helps.
  if (state == "55006") return ErrorKind::kIOError;
  return ErrorKind::kInvalidArgument;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

PgResult& PgResult::operator=(PgResult&& o) noexcept {
  if (this != &o) {
    if (res_ != nullptr) PQclear(res_);
    res_ = o.res_;
    o.res_ = nullptr;
  }
  return *this;
}
PgResult::~PgResult() {
  if (res_ != nullptr) PQclear(res_);
}
int PgResult::rows() const { return res_ ? PQntuples(res_) : 0; }
int PgResult::columns() const { return res_ ? PQnfields(res_) : 0; }
bool PgResult::IsNull(int row, int column) const { return PQgetisnull(res_, row, column) != 0; }
std::string_view PgResult::Get(int row, int column) const {
  return std::string_view(PQgetvalue(res_, row, column), static_cast<size_t>(PQgetlength(res_, row, column)));
}
std::optional<std::string> PgResult::GetOptional(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return std::string(Get(row, column));
}
int PgResult::Column(std::string_view name) const { return PQfnumber(res_, std::string(name).c_str()); }
int64_t PgResult::affected_rows() const {
  const char* n = res_ ? PQcmdTuples(res_) : nullptr;
  return (n == nullptr || *n == '\0') ? 0 : std::strtoll(n, nullptr, 10);
}

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& conninfo, bool replication,
                                                           const std::string& options,
                                                           const std::string& application_name) {
  std::vector<const char*> keys = {"dbname", "application_name"};
  std::vector<const char*> values = {conninfo.c_str(), application_name.c_str()};
  if (replication) {
    keys.push_back("replication");
    values.push_back("database");
  }
  if (!options.empty()) {
    keys.push_back("options");
    values.push_back(options.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  pg_conn* conn = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (conn == nullptr) return MakeError(ErrorKind::kIOError, "cannot allocate a PostgreSQL connection");
  std::unique_ptr<PgConnection> c(new PgConnection(conn));
  if (PQstatus(conn) != CONNECTION_OK) {
    return MakeError(ErrorKind::kIOError, "cannot connect to PostgreSQL at " + c->Describe() + " (" +
                                              RedactConninfo(conninfo) + "): " + Trim(PQerrorMessage(conn)));
  }
  return c;
}

PgConnection::~PgConnection() {
  FreeCopyBuffer();
  if (conn_ != nullptr) PQfinish(conn_);
}

std::string PgConnection::Describe() const {
  const char* host = PQhost(conn_);
  const char* port = PQport(conn_);
  const char* db = PQdb(conn_);
  return std::string(host ? host : "?") + ":" + (port ? port : "?") + "/" + (db ? db : "?");
}
int PgConnection::server_version() const { return PQserverVersion(conn_); }
bool PgConnection::ok() const { return PQstatus(conn_) == CONNECTION_OK; }
bool PgConnection::in_transaction() const { return PQtransactionStatus(conn_) != PQTRANS_IDLE; }

Status PgConnection::ErrorFromConn(std::string_view what) const {
  ErrorKind kind = PQstatus(conn_) == CONNECTION_OK ? ErrorKind::kInvalidArgument : ErrorKind::kIOError;
  return MakeError(kind, std::string(what) + " on " + Describe() + ": " + Trim(PQerrorMessage(conn_)));
}

namespace {
Result<PgResult> CheckResult(pg_result* raw, pg_conn* conn, std::string_view sql, const std::string& where,
                             std::string* sqlstate) {
  PgResult res(raw);
  ExecStatusType st = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
    return res;
  }
  std::string state;
  std::string message;
  if (raw != nullptr) {
    const char* s = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
    if (s) state = s;
    message = Trim(PQresultErrorMessage(raw));
  }
  if (message.empty()) message = Trim(PQerrorMessage(conn));
  if (sqlstate) *sqlstate = state;
  ErrorKind kind = state.empty() ? ErrorKind::kIOError : KindForSqlState(state);
  std::string shown(sql.substr(0, 200));
  return MakeError(kind, "PostgreSQL " + where + " failed running `" + shown + "`: " + message +
                             (state.empty() ? "" : " (SQLSTATE " + state + ")"));
}
}  // namespace

Result<PgResult> PgConnection::Exec(std::string_view sql, std::string* sqlstate) {
  return CheckResult(PQexec(conn_, std::string(sql).c_str()), conn_, sql, Describe(), sqlstate);
}

Result<PgResult> PgConnection::ExecParams(std::string_view sql, const std::vector<std::optional<std::string>>& params,
                                         std::string* sqlstate) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  pg_result* raw = PQexecParams(conn_, std::string(sql).c_str(), static_cast<int>(values.size()), nullptr,
                                values.data(), nullptr, nullptr, 0);
  return CheckResult(raw, conn_, sql, Describe(), sqlstate);
}

Status PgConnection::CopyOut(std::string_view sql, const std::function<Status(std::string_view)>& on_row) {
  FRZ_ASSIGN_OR_RETURN(auto start, Exec(sql));
  (void)start;
  Status failed = Ok();
  while (true) {
    char* buf = nullptr;
    int n = PQgetCopyData(conn_, &buf, /*async=*/0);
    if (n > 0) {
      if (failed) failed = on_row(std::string_view(buf, static_cast<size_t>(n)));
      PQfreemem(buf);
      continue;
    }
    if (n == -2) return ErrorFromConn("COPY");
    break;  // -1: done; the final result follows
  }
  pg_result* res;
  Status final_status = Ok();
  while ((res = PQgetResult(conn_)) != nullptr) {
    auto checked = CheckResult(res, conn_, sql, Describe(), nullptr);
    if (!checked && final_status) final_status = std::unexpected(checked.error());
  }
  if (!failed) return failed;
  return final_status;
}

Status PgConnection::StartCopyBoth(std::string_view sql, std::string* sqlstate) {
  FRZ_ASSIGN_OR_RETURN(auto res, Exec(sql, sqlstate));
  (void)res;
  if (PQsetnonblocking(conn_, 1) != 0) return ErrorFromConn("set non-blocking");
  return Ok();
}

void PgConnection::FreeCopyBuffer() {
  if (copy_buffer_ != nullptr) PQfreemem(copy_buffer_);
  copy_buffer_ = nullptr;
}

Result<std::optional<std::string_view>> PgConnection::ReadCopyData(int timeout_ms, std::string* sqlstate) {
  FreeCopyBuffer();
  // Round 0: what libpq has buffered; round 1: after reading what the socket has (no wait:
  // under load there is always more); round 2: after waiting for the socket.
  for (int round = 0; round < 3; ++round) {
    char* buf = nullptr;
    int n = PQgetCopyData(conn_, &buf, /*async=*/1);
    if (n > 0) {
      copy_buffer_ = buf;
      return std::optional<std::string_view>(std::string_view(buf, static_cast<size_t>(n)));
    }
    if (n == -2) return std::unexpected(ErrorFromConn("replication stream").error());
    if (n == -1) {
      // The stream ended: the server's reason is in the final result.
      pg_result* res = PQgetResult(conn_);
      std::string reason = "the server ended the replication stream";
      if (res != nullptr) {
        auto checked = CheckResult(res, conn_, "START_REPLICATION", Describe(), sqlstate);
        if (!checked) reason = checked.error().message;
        while ((res = PQgetResult(conn_)) != nullptr) PQclear(res);
      }
      return MakeError(ErrorKind::kIOError, reason);
    }
    if (round == 2) break;
    if (round == 1) {
      // n == 0 after a read: wait for the socket.
      int fd = PQsocket(conn_);
      if (fd < 0) return MakeError(ErrorKind::kIOError, "replication connection to " + Describe() + " is closed");
      fd_set in;
      FD_ZERO(&in);
      FD_SET(fd, &in);
      timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
      int r = select(fd + 1, &in, nullptr, nullptr, &tv);
      if (r < 0) {
        if (errno == EINTR) return std::optional<std::string_view>();
        return MakeError(ErrorKind::kIOError, "waiting for the replication stream: " + std::string(strerror(errno)));
      }
      if (r == 0) return std::optional<std::string_view>();
    }
    if (PQconsumeInput(conn_) == 0) return std::unexpected(ErrorFromConn("replication stream").error());
  }
  return std::optional<std::string_view>();
}

Status PgConnection::PutCopyData(std::string_view data) {
  if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) <= 0) return ErrorFromConn("send to server");
  // Non-blocking: flush until written (status updates are tiny, this rarely loops).
  for (int i = 0; i < 1000; ++i) {
    int r = PQflush(conn_);
    if (r == 0) return Ok();
    if (r < 0) return ErrorFromConn("send to server");
    int fd = PQsocket(conn_);
    fd_set out;
    FD_ZERO(&out);
    FD_SET(fd, &out);
    timeval tv{0, 10000};
    select(fd + 1, nullptr, &out, nullptr, &tv);
  }
  return MakeError(ErrorKind::kIOError, "could not send to " + Describe() + " within 10 s");
}

std::string PgQuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string PgQuoteLiteral(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string PgQualifiedName(std::string_view schema, std::string_view table) {
  return PgQuoteIdentifier(schema) + "." + PgQuoteIdentifier(table);
}

std::string RedactConninfo(const std::string& conninfo) {
  // URL form: postgresql://user:secret@host -> postgresql://user:***@host
  static const std::regex url_password(R"(^(postgres(?:ql)?://[^:/@]*):[^@]*@)");
  static const std::regex kv_password(R"((^|\s)password\s*=\s*('([^'\\]|\\.)*'|\S+))");
  std::string out = std::regex_replace(conninfo, url_password, "$1:***@");
  out = std::regex_replace(out, kv_password, "$1password=***");
  static const std::regex url_param(R"(([?&]password=)[^&]*)");
  return std::regex_replace(out, url_param, "$1***");
}

}  // namespace frazil::pg
