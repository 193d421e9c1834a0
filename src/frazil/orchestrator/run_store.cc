#include "frazil/orchestrator/run_store.h"

#include <filesystem>
#include <nlohmann/json.hpp>

namespace frazil::orchestrator {

namespace {

using catalog::sqlite::Step;

constexpr const char* kColumns =
    "id, job, trigger, assets, params, status, attempt, max_attempts, retry_of, created_ms, not_before_ms, started_ms,"
    " finished_ms, timeout_ms, error, cancel_requested, owner, heartbeat_ms, succeeded, failed";

std::string ToJson(const std::vector<std::string>& v) { return nlohmann::json(v).dump(); }
std::string ToJson(const std::map<std::string, std::string>& m) { return nlohmann::json(m).dump(); }

template <typename T>
T FromJson(const std::optional<std::string>& text) {
  if (!text || text->empty()) return T{};
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return T{};
  try {
    return j.get<T>();
  } catch (const std::exception&) {
    return T{};
  }
}

}  // namespace

std::string_view RunStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kQueued: return "queued";
    case RunStatus::kRunning: return "running";
    case RunStatus::kSucceeded: return "succeeded";
    case RunStatus::kFailed: return "failed";
    case RunStatus::kCanceled: return "canceled";
    case RunStatus::kTimedOut: return "timed_out";
    case RunStatus::kInterrupted: return "interrupted";
  }
  return "?";
}

Result<RunStatus> ParseRunStatus(std::string_view name) {
  for (auto s : {RunStatus::kQueued, RunStatus::kRunning, RunStatus::kSucceeded, RunStatus::kFailed, RunStatus::kCanceled,
                 RunStatus::kTimedOut, RunStatus::kInterrupted}) {
    if (RunStatusName(s) == name) return s;
  }
  return MakeError(ErrorKind::kInvalidArgument,
                   "unknown run status '" + std::string(name) +
                       "' (queued, running, succeeded, failed, canceled, timed_out, interrupted)");
}

nlohmann::json RunRecordJson(const RunRecord& r) {
  return {{"id", r.id},
          {"job", r.job},
          {"trigger", r.trigger},
          {"status", std::string(orchestrator::RunStatusName(r.status))},
          {"assets", r.assets},
          {"params", r.params},
          {"attempt", r.attempt},
          {"max_attempts", r.max_attempts},
          {"retry_of", r.retry_of ? nlohmann::json(*r.retry_of) : nlohmann::json()},
          {"created_ms", r.created_ms},
          {"not_before_ms", r.not_before_ms},
          {"started_ms", r.started_ms},
          {"finished_ms", r.finished_ms},
          {"timeout_ms", r.timeout_ms},
          {"error", r.error},
          {"cancel_requested", r.cancel_requested},
          {"owner", r.owner},
          {"succeeded", r.succeeded},
          {"failed", r.failed}};
}

std::string SqliteRunStore::PathIn(const std::string& warehouse_dir) {
  return (std::filesystem::path(warehouse_dir) / ".frazil" / "runs.db").string();
}

Result<std::unique_ptr<SqliteRunStore>> SqliteRunStore::Open(const std::string& path) {
  if (path != ":memory:") {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  }
  FRZ_ASSIGN_OR_RETURN(auto db, catalog::sqlite::Database::Open(path, 10000));
  for (const char* sql : {
           "PRAGMA journal_mode=WAL",
           "CREATE TABLE IF NOT EXISTS frazil_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL,"
           " trigger TEXT NOT NULL, assets TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL,"
           " attempt INTEGER NOT NULL, max_attempts INTEGER NOT NULL, retry_of INTEGER, created_ms INTEGER NOT NULL,"
           " not_before_ms INTEGER NOT NULL, started_ms INTEGER NOT NULL, finished_ms INTEGER NOT NULL,"
           " timeout_ms INTEGER NOT NULL, error TEXT NOT NULL, cancel_requested INTEGER NOT NULL, owner TEXT NOT NULL,"
           " heartbeat_ms INTEGER NOT NULL, succeeded TEXT NOT NULL, failed TEXT NOT NULL)",
           "CREATE INDEX IF NOT EXISTS frazil_runs_status ON frazil_runs (status)",
           "CREATE TABLE IF NOT EXISTS frazil_run_logs (run_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
           " ts_ms INTEGER NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL, PRIMARY KEY (run_id, seq))",
           "CREATE TABLE IF NOT EXISTS frazil_orchestrator_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
       }) {
    FRZ_RETURN_IF_ERROR(db.Exec(sql, "create the run store"));
  }
  return std::unique_ptr<SqliteRunStore>(new SqliteRunStore(std::move(db)));
}

namespace {

Status BindRun(catalog::sqlite::Statement& st, const RunRecord& r) {
  FRZ_RETURN_IF_ERROR(st.Bind(2, r.job));
  FRZ_RETURN_IF_ERROR(st.Bind(3, r.trigger));
  FRZ_RETURN_IF_ERROR(st.Bind(4, ToJson(r.assets)));
  FRZ_RETURN_IF_ERROR(st.Bind(5, ToJson(r.params)));
  FRZ_RETURN_IF_ERROR(st.Bind(6, RunStatusName(r.status)));
  FRZ_RETURN_IF_ERROR(st.Bind(7, int64_t{r.attempt}));
  FRZ_RETURN_IF_ERROR(st.Bind(8, int64_t{r.max_attempts}));
  FRZ_RETURN_IF_ERROR(r.retry_of ? st.Bind(9, *r.retry_of) : st.BindNull(9));
  FRZ_RETURN_IF_ERROR(st.Bind(10, r.created_ms));
  FRZ_RETURN_IF_ERROR(st.Bind(11, r.not_before_ms));
  FRZ_RETURN_IF_ERROR(st.Bind(12, r.started_ms));
  FRZ_RETURN_IF_ERROR(st.Bind(13, r.finished_ms));
  FRZ_RETURN_IF_ERROR(st.Bind(14, r.timeout_ms));
  FRZ_RETURN_IF_ERROR(st.Bind(15, r.error));
  FRZ_RETURN_IF_ERROR(st.Bind(16, int64_t{r.cancel_requested ? 1 : 0}));
  FRZ_RETURN_IF_ERROR(st.Bind(17, r.owner));
  FRZ_RETURN_IF_ERROR(st.Bind(18, r.heartbeat_ms));
  FRZ_RETURN_IF_ERROR(st.Bind(19, ToJson(r.succeeded)));
  return st.Bind(20, ToJson(r.failed));
}

Result<RunRecord> ReadRun(const catalog::sqlite::Statement& st) {
  RunRecord r;
  r.id = st.Int(0);
  r.job = st.Text(1).value_or("");
  r.trigger = st.Text(2).value_or("");
  r.assets = FromJson<std::vector<std::string>>(st.Text(3));
  r.params = FromJson<std::map<std::string, std::string>>(st.Text(4));
  FRZ_ASSIGN_OR_RETURN(r.status, ParseRunStatus(st.Text(5).value_or("")));
  r.attempt = static_cast<int>(st.Int(6));
  r.max_attempts = static_cast<int>(st.Int(7));
  if (st.Text(8)) r.retry_of = st.Int(8);
  r.created_ms = st.Int(9);
  r.not_before_ms = st.Int(10);
  r.started_ms = st.Int(11);
  r.finished_ms = st.Int(12);
  r.timeout_ms = st.Int(13);
  r.error = st.Text(14).value_or("");
  r.cancel_requested = st.Int(15) != 0;
  r.owner = st.Text(16).value_or("");
  r.heartbeat_ms = st.Int(17);
  r.succeeded = FromJson<std::vector<std::string>>(st.Text(18));
  r.failed = FromJson<std::vector<std::string>>(st.Text(19));
  return r;
}

}  // namespace

Result<int64_t> SqliteRunStore::Create(RunRecord run) {
  std::lock_guard lock(mu_);
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare(std::string("INSERT INTO frazil_runs (") + kColumns +
                                                ") VALUES (NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
                                                " ?15, ?16, ?17, ?18, ?19, ?20) RETURNING id",
                                            "queue a run"));
  FRZ_RETURN_IF_ERROR(BindRun(st, run));
  FRZ_ASSIGN_OR_RETURN(auto step, st.Next());
  if (step != Step::kRow) return MakeError(ErrorKind::kInternal, "queue a run: no id returned");
  return st.Int(0);
}

Status SqliteRunStore::Update(const RunRecord& run) {
  std::lock_guard lock(mu_);
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("UPDATE frazil_runs SET job = ?2, trigger = ?3, assets = ?4, params = ?5,"
                                            " status = ?6, attempt = ?7, max_attempts = ?8, retry_of = ?9,"
                                            " created_ms = ?10, not_before_ms = ?11, started_ms = ?12, finished_ms = ?13,"
                                            " timeout_ms = ?14, error = ?15,"
                                            " cancel_requested = max(cancel_requested, ?16), owner = ?17,"
                                            " heartbeat_ms = ?18, succeeded = ?19, failed = ?20 WHERE id = ?1",
                                            "update a run"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, run.id));
  FRZ_RETURN_IF_ERROR(BindRun(st, run));
  FRZ_RETURN_IF_ERROR(st.Run());
  if (db_.Changes() == 0) return MakeError(ErrorKind::kNotFound, "no run " + std::to_string(run.id));
  return Ok();
}

Result<std::vector<RunRecord>> SqliteRunStore::Select(const std::string& where, const std::vector<std::string>& args,
                                                      int limit) {
  std::string sql = std::string("SELECT ") + kColumns + " FROM frazil_runs" + (where.empty() ? "" : " WHERE " + where);
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare(sql + (limit > 0 ? " LIMIT " + std::to_string(limit) : ""), "list runs"));
  for (size_t i = 0; i < args.size(); ++i) FRZ_RETURN_IF_ERROR(st.Bind(static_cast<int>(i + 1), args[i]));
  std::vector<RunRecord> out;
  for (;;) {
    FRZ_ASSIGN_OR_RETURN(auto step, st.Next());
    if (step == Step::kDone) break;
    FRZ_ASSIGN_OR_RETURN(auto r, ReadRun(st));
    out.push_back(std::move(r));
  }
  return out;
}

Result<RunRecord> SqliteRunStore::Get(int64_t id) {
  std::lock_guard lock(mu_);
  FRZ_ASSIGN_OR_RETURN(auto runs, Select("id = ?1", {std::to_string(id)}, 1));
  if (runs.empty()) return MakeError(ErrorKind::kNotFound, "no run " + std::to_string(id));
  return std::move(runs[0]);
}

Result<std::vector<RunRecord>> SqliteRunStore::List(const RunFilter& f) {
  std::lock_guard lock(mu_);
  std::string where = "1 = 1";
  std::vector<std::string> args;
  auto arg = [&](std::string v) {
    args.push_back(std::move(v));
    return "?" + std::to_string(args.size());
  };
  if (f.status) where += " AND status = " + arg(std::string(RunStatusName(*f.status)));
  if (!f.job.empty()) where += " AND job = " + arg(f.job);
  if (!f.asset.empty()) where += " AND EXISTS (SELECT 1 FROM json_each(assets) WHERE value = " + arg(f.asset) + ")";
  if (f.before_id > 0) where += " AND id < CAST(" + arg(std::to_string(f.before_id)) + " AS INTEGER)";
  return Select(where + " ORDER BY id DESC", args, f.limit);
}

Result<std::vector<RunRecord>> SqliteRunStore::Active() {
  std::lock_guard lock(mu_);
  return Select("status IN ('queued', 'running') ORDER BY id", {}, 0);
}

Result<bool> SqliteRunStore::Claim(int64_t id, const std::string& owner, int64_t now_ms, int64_t live_since_ms) {
  std::lock_guard lock(mu_);
  // One UPDATE: the overlap check and the claim happen under SQLite's write lock together.
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("UPDATE frazil_runs SET status = 'running', owner = ?2, started_ms = ?3,"
                                            " heartbeat_ms = ?3 WHERE id = ?1 AND status = 'queued'"
                                            " AND cancel_requested = 0 AND NOT EXISTS ("
                                            "  SELECT 1 FROM frazil_runs o WHERE o.status = 'running' AND o.id <> ?1"
                                            "   AND o.heartbeat_ms >= ?4 AND (json_array_length(o.assets) = 0"
                                            "   OR json_array_length((SELECT assets FROM frazil_runs WHERE id = ?1)) = 0"
                                            "   OR EXISTS (SELECT 1 FROM json_each(o.assets) a WHERE a.value IN"
                                            "    (SELECT value FROM json_each((SELECT assets FROM frazil_runs WHERE id = ?1))))))",
                                            "start a run"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, id));
  FRZ_RETURN_IF_ERROR(st.Bind(2, owner));
  FRZ_RETURN_IF_ERROR(st.Bind(3, now_ms));
  FRZ_RETURN_IF_ERROR(st.Bind(4, live_since_ms));
  FRZ_RETURN_IF_ERROR(st.Run());
  return db_.Changes() == 1;
}

Status SqliteRunStore::RequestCancel(int64_t id) {
  std::lock_guard lock(mu_);
  FRZ_ASSIGN_OR_RETURN(auto runs, Select("id = ?1", {std::to_string(id)}, 1));
  if (runs.empty()) return MakeError(ErrorKind::kNotFound, "no run " + std::to_string(id));
  if (IsFinished(runs[0].status)) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "run " + std::to_string(id) + " has already finished (" + std::string(RunStatusName(runs[0].status)) + ")");
  }
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("UPDATE frazil_runs SET cancel_requested = 1 WHERE id = ?1", "cancel a run"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, id));
  return st.Run();
}

Status SqliteRunStore::AppendLog(int64_t run_id, int64_t ts_ms, LogLevel level, const std::string& message) {
  std::lock_guard lock(mu_);
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("INSERT INTO frazil_run_logs SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3, ?4"
                                            " FROM frazil_run_logs WHERE run_id = ?1",
                                            "append to a run's log"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, run_id));
  FRZ_RETURN_IF_ERROR(st.Bind(2, ts_ms));
  FRZ_RETURN_IF_ERROR(st.Bind(3, LogLevelName(level)));
  FRZ_RETURN_IF_ERROR(st.Bind(4, message));
  return st.Run();
}

Result<std::vector<RunLogLine>> SqliteRunStore::Logs(int64_t run_id, int64_t after_seq, int limit) {
  std::lock_guard lock(mu_);
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT seq, ts_ms, level, message FROM frazil_run_logs WHERE run_id = ?1"
                                            " AND seq > ?2 ORDER BY seq LIMIT ?3",
                                            "read a run's log"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, run_id));
  FRZ_RETURN_IF_ERROR(st.Bind(2, after_seq));
  FRZ_RETURN_IF_ERROR(st.Bind(3, int64_t{limit}));
  std::vector<RunLogLine> out;
  for (;;) {
    FRZ_ASSIGN_OR_RETURN(auto step, st.Next());
    if (step == Step::kDone) break;
    RunLogLine l;
    l.seq = st.Int(0);
    l.ts_ms = st.Int(1);
    l.level = ParseLogLevel(st.Text(2).value_or("info")).value_or(LogLevel::kInfo);
    l.message = st.Text(3).value_or("");
    out.push_back(std::move(l));
  }
  return out;
}

Result<std::optional<std::string>> SqliteRunStore::GetState(const std::string& key) {
  std::lock_guard lock(mu_);
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT value FROM frazil_orchestrator_state WHERE key = ?1", "read state"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, key));
  FRZ_ASSIGN_OR_RETURN(auto step, st.Next());
  if (step == Step::kDone) return std::optional<std::string>();
  return st.Text(0);
}

Status SqliteRunStore::PutState(const std::string& key, const std::string& value) {
  std::lock_guard lock(mu_);
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("INSERT INTO frazil_orchestrator_state VALUES (?1, ?2)"
                                            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                                            "write state"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, key));
  FRZ_RETURN_IF_ERROR(st.Bind(2, value));
  return st.Run();
}

Result<int64_t> SqliteRunStore::Prune(int64_t before_ms) {
  std::lock_guard lock(mu_);
  const std::string finished = "status NOT IN ('queued', 'running') AND finished_ms < ?1";
  FRZ_ASSIGN_OR_RETURN(auto logs, db_.Prepare("DELETE FROM frazil_run_logs WHERE run_id IN (SELECT id FROM frazil_runs WHERE " +
                                                  finished + ")",
                                              "prune run logs"));
  FRZ_RETURN_IF_ERROR(logs.Bind(1, before_ms));
  FRZ_RETURN_IF_ERROR(logs.Run());
  FRZ_ASSIGN_OR_RETURN(auto runs, db_.Prepare("DELETE FROM frazil_runs WHERE " + finished, "prune runs"));
  FRZ_RETURN_IF_ERROR(runs.Bind(1, before_ms));
  FRZ_RETURN_IF_ERROR(runs.Run());
  return db_.Changes();
}

}  // namespace frazil::orchestrator
