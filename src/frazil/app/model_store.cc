#include "frazil/app/model_store.h"

#include <filesystem>

namespace frazil::app {

std::string ModelStore::PathIn(const std::string& warehouse_dir) {
  return (std::filesystem::path(warehouse_dir) / ".frazil" / "models.db").string();
}

Result<std::unique_ptr<ModelStore>> ModelStore::Open(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  FRZ_ASSIGN_OR_RETURN(auto db, catalog::sqlite::Database::Open(path, 10000));
  for (const char* sql :
       {"PRAGMA journal_mode=WAL",
        "CREATE TABLE IF NOT EXISTS frazil_views (namespace TEXT NOT NULL, name TEXT NOT NULL, sql TEXT NOT NULL,"
        " updated_ms INTEGER NOT NULL, PRIMARY KEY (namespace, name))",
        "CREATE TABLE IF NOT EXISTS frazil_model_runs (run_id TEXT PRIMARY KEY, command TEXT NOT NULL,"
        " started_ms INTEGER NOT NULL, finished_ms INTEGER, status TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS frazil_model_results (run_id TEXT NOT NULL, seq INTEGER NOT NULL, node TEXT NOT NULL,"
        " name TEXT NOT NULL, kind TEXT NOT NULL, materialized TEXT, relation TEXT, status TEXT NOT NULL, message TEXT,"
        " rows_inserted INTEGER, rows_deleted INTEGER, failures INTEGER, snapshot_id INTEGER, seconds REAL,"
        " PRIMARY KEY (run_id, seq))"}) {
    FRZ_RETURN_IF_ERROR(db.Exec(sql, "create the model store"));
  }
  return std::unique_ptr<ModelStore>(new ModelStore(std::move(db)));
}

Status ModelStore::PutView(const catalog::TableIdentifier& id, const std::string& sql, int64_t now_ms) {
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("INSERT INTO frazil_views VALUES (?1, ?2, ?3, ?4) ON CONFLICT (namespace, name) "
                                            "DO UPDATE SET sql = excluded.sql, updated_ms = excluded.updated_ms",
                                            "store a view"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, catalog::NamespaceToString(id.ns)));
  FRZ_RETURN_IF_ERROR(st.Bind(2, id.name));
  FRZ_RETURN_IF_ERROR(st.Bind(3, sql));
  FRZ_RETURN_IF_ERROR(st.Bind(4, now_ms));
  return st.Run();
}

Status ModelStore::DropView(const catalog::TableIdentifier& id) {
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("DELETE FROM frazil_views WHERE namespace = ?1 AND name = ?2", "drop a view"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, catalog::NamespaceToString(id.ns)));
  FRZ_RETURN_IF_ERROR(st.Bind(2, id.name));
  return st.Run();
}

Result<std::vector<StoredView>> ModelStore::ListViews() {
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT namespace, name, sql, updated_ms FROM frazil_views ORDER BY 1, 2", "list views"));
  std::vector<StoredView> out;
  for (;;) {
    FRZ_ASSIGN_OR_RETURN(auto step, st.Next());
    if (step == catalog::sqlite::Step::kDone) break;
    auto id = catalog::TableIdentifier::Parse(st.Text(0).value_or("") + "." + st.Text(1).value_or(""));
    if (!id) return MakeError(ErrorKind::kCorrupt, "model store: bad view name: " + id.error().message);
    out.push_back({*id, st.Text(2).value_or(""), st.Int(3)});
  }
  return out;
}

Status ModelStore::BeginRun(const std::string& run_id, const std::string& command, int64_t now_ms) {
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("INSERT INTO frazil_model_runs VALUES (?1, ?2, ?3, NULL, 'running')", "record a run"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, run_id));
  FRZ_RETURN_IF_ERROR(st.Bind(2, command));
  FRZ_RETURN_IF_ERROR(st.Bind(3, now_ms));
  return st.Run();
}

Status ModelStore::AddResult(const std::string& run_id, const transform::NodeResult& r) {
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("INSERT INTO frazil_model_results VALUES (?1, (SELECT count(*) FROM "
                                            "frazil_model_results WHERE run_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                            "?11, ?12, ?13)",
                                            "record a node result"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, run_id));
  FRZ_RETURN_IF_ERROR(st.Bind(2, r.key));
  FRZ_RETURN_IF_ERROR(st.Bind(3, r.name));
  FRZ_RETURN_IF_ERROR(st.Bind(4, r.kind));
  FRZ_RETURN_IF_ERROR(st.Bind(5, r.materialized));
  FRZ_RETURN_IF_ERROR(st.Bind(6, r.relation));
  FRZ_RETURN_IF_ERROR(st.Bind(7, r.status));
  FRZ_RETURN_IF_ERROR(st.Bind(8, r.message));
  FRZ_RETURN_IF_ERROR(st.Bind(9, r.rows));
  FRZ_RETURN_IF_ERROR(st.Bind(10, r.rows_deleted));
  FRZ_RETURN_IF_ERROR(st.Bind(11, r.failures));
  FRZ_RETURN_IF_ERROR(st.Bind(12, r.snapshot_id));
  FRZ_RETURN_IF_ERROR(st.Bind(13, std::to_string(r.seconds)));
  return st.Run();
}

Status ModelStore::FinishRun(const std::string& run_id, const std::string& status, int64_t now_ms) {
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("UPDATE frazil_model_runs SET status = ?2, finished_ms = ?3 WHERE run_id = ?1", "finish a run"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, run_id));
  FRZ_RETURN_IF_ERROR(st.Bind(2, status));
  FRZ_RETURN_IF_ERROR(st.Bind(3, now_ms));
  return st.Run();
}

namespace {
transform::NodeResult ResultRow(const catalog::sqlite::Statement& st) {
  transform::NodeResult r;
  r.key = st.Text(0).value_or("");
  r.name = st.Text(1).value_or("");
  r.kind = st.Text(2).value_or("");
  r.materialized = st.Text(3).value_or("");
  r.relation = st.Text(4).value_or("");
  r.status = st.Text(5).value_or("");
  r.message = st.Text(6).value_or("");
  r.rows = st.Int(7);
  r.rows_deleted = st.Int(8);
  r.failures = st.Int(9);
  r.snapshot_id = st.Int(10);
  r.seconds = std::stod(st.Text(11).value_or("0"));
  return r;
}
constexpr const char* kResultColumns =
    "node, name, kind, materialized, relation, status, message, rows_inserted, rows_deleted, failures, snapshot_id, seconds";
}  // namespace

Result<std::vector<StoredRun>> ModelStore::ListRuns(int limit) {
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT run_id, command, started_ms, coalesce(finished_ms, 0), status FROM "
                                            "frazil_model_runs ORDER BY started_ms DESC, run_id DESC LIMIT ?1",
                                            "list runs"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, static_cast<int64_t>(limit)));
  std::vector<StoredRun> out;
  for (;;) {
    FRZ_ASSIGN_OR_RETURN(auto step, st.Next());
    if (step == catalog::sqlite::Step::kDone) break;
    out.push_back({st.Text(0).value_or(""), st.Text(1).value_or(""), st.Int(2), st.Int(3), st.Text(4).value_or(""), {}});
  }
  return out;
}

Result<StoredRun> ModelStore::LoadRun(const std::string& run_id) {
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT run_id, command, started_ms, coalesce(finished_ms, 0), status FROM "
                                            "frazil_model_runs WHERE run_id = ?1",
                                            "load a run"));
  FRZ_RETURN_IF_ERROR(st.Bind(1, run_id));
  FRZ_ASSIGN_OR_RETURN(auto step, st.Next());
  if (step == catalog::sqlite::Step::kDone) return MakeError(ErrorKind::kNotFound, "no model run " + run_id);
  StoredRun run{st.Text(0).value_or(""), st.Text(1).value_or(""), st.Int(2), st.Int(3), st.Text(4).value_or(""), {}};
  FRZ_ASSIGN_OR_RETURN(auto rs, db_.Prepare(std::string("SELECT ") + kResultColumns +
                                                " FROM frazil_model_results WHERE run_id = ?1 ORDER BY seq",
                                            "load run results"));
  FRZ_RETURN_IF_ERROR(rs.Bind(1, run_id));
  for (;;) {
    FRZ_ASSIGN_OR_RETURN(auto s, rs.Next());
    if (s == catalog::sqlite::Step::kDone) break;
    run.results.push_back(ResultRow(rs));
  }
  return run;
}

Result<std::vector<transform::NodeResult>> ModelStore::LatestTestResults() {
  FRZ_ASSIGN_OR_RETURN(auto st, db_.Prepare(std::string("SELECT ") + kResultColumns +
                                                " FROM frazil_model_results r JOIN frazil_model_runs USING (run_id) WHERE kind = "
                                                "'test' AND started_ms = (SELECT max(started_ms) FROM frazil_model_results r2 "
                                                "JOIN frazil_model_runs USING (run_id) WHERE r2.node = r.node) ORDER BY node",
                                            "latest test results"));
  std::vector<transform::NodeResult> out;
  for (;;) {
    FRZ_ASSIGN_OR_RETURN(auto s, st.Next());
    if (s == catalog::sqlite::Step::kDone) break;
    out.push_back(ResultRow(st));
  }
  return out;
}

}  // namespace frazil::app
