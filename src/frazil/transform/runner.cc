#include "frazil/transform/runner.h"

#include <chrono>
#include <filesystem>
#include <set>

#include "frazil/base/log.h"

namespace frazil::transform {
namespace {

constexpr int kMaxModelAttempts = 3;

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

WriteMode ModeOf(const NodeConfig& c) {
  std::string s = c.incremental_strategy;
  if (s.empty()) s = c.unique_key.empty() ? "append" : "merge";
  if (s == "merge") return WriteMode::kMerge;
  if (s == "delete+insert") return WriteMode::kDeleteInsert;
  return WriteMode::kAppend;
}

void Tally(RunReport& r, const NodeResult& n) {
  if (n.status == "error" || n.status == "fail") r.errors++;
  if (n.status == "warn") r.warnings++;
  if (n.status == "skipped") r.skipped++;
}

// One model: compile against the adapter, then write. A commit conflict (another writer
// moved the target after it was read) recompiles and writes again.
Status RunModel(Compiler& compiler, Adapter& adapter, const Node& node, const RunOptions& o, NodeResult& out) {
  const NodeConfig& c = node.config;
  out.materialized = c.materialized;
  if (c.materialized == "ephemeral") {
    out.message = "ephemeral: inlined where it is used";
    return Ok();
  }
  if (c.materialized == "view") {
    FRZ_ASSIGN_OR_RETURN(CompiledModel m, compiler.Compile(node, adapter));
    return adapter.CreateView(node.table, m.sql);
  }
  for (int attempt = 1;; ++attempt) {
    FRZ_ASSIGN_OR_RETURN(CompiledModel m, compiler.Compile(node, adapter));
    MaterializeRequest req;
    req.target = node.table;
    req.select_sql = m.sql;
    req.mode = m.incremental ? ModeOf(c) : WriteMode::kReplace;
    req.unique_key = c.unique_key;
    req.merge_update_columns = c.merge_update_columns;
    req.on_schema_change = c.on_schema_change;
    req.partition_by = c.partition_by;
    req.expected_snapshot_id = m.target_snapshot_id;
    req.summary[kSummaryModel] = node.name;
    if (!o.run_id.empty()) req.summary["frazil.run-id"] = o.run_id;
    for (const auto& [id, snap] : m.reads) {
      req.summary[std::string(kSummaryReadPrefix) + id.ToString()] = snap ? std::to_string(*snap) : "none";
    }
    if ((req.mode == WriteMode::kMerge || req.mode == WriteMode::kDeleteInsert) && req.unique_key.empty()) {
      return MakeError(ErrorKind::kInvalidArgument, node.model->path + ": incremental_strategy '" + c.incremental_strategy +
                                                        "' needs a unique_key");
    }
    if (c.materialized == "incremental") out.materialized = m.incremental ? "incremental" : "incremental (full)";
    auto written = adapter.Materialize(req);
    if (written) {
      out.rows = written->rows_inserted;
      out.rows_deleted = written->rows_deleted;
      out.snapshot_id = written->snapshot_id;
      return Ok();
    }
    if (written.error().kind != ErrorKind::kCommitFailed || attempt >= kMaxModelAttempts) {
      return std::unexpected(written.error());
    }
    Log(LogLevel::kInfo, "model target changed during the run; running it again",
        {{"model", node.name}, {"attempt", std::to_string(attempt)}, {"reason", written.error().message}});
  }
}

template <typename Fn>
RunReport RunNodes(Compiler& compiler, const std::vector<std::string>& keys, const RunOptions& o, const char* kind, Fn fn) {
  RunReport report;
  std::set<std::string> broken;  // failed or skipped in this run
  for (size_t i = 0; i < keys.size(); ++i) {
    const Node& node = compiler.nodes().at(keys[i]);
    NodeResult r;
    r.key = node.key;
    r.name = node.name;
    r.kind = kind;
    r.materialized = node.config.materialized;
    r.relation = node.table.ToString();
    if (o.progress) o.progress(r, i, keys.size(), false);
    auto t0 = std::chrono::steady_clock::now();
    std::string upstream_failure;
    for (const auto& d : node.depends_on) {
      if (broken.count(d)) upstream_failure = d;
    }
    if (o.cancel != nullptr && o.cancel->load()) {
      r.status = "skipped";
      r.message = "canceled";
      broken.insert(node.key);
    } else if (!upstream_failure.empty()) {
      r.status = "skipped";
      r.message = "upstream " + upstream_failure + " failed";
      broken.insert(node.key);
    } else {
      Status s = fn(node, r);
      r.status = s ? "success" : "error";
      if (!s) {
        // Name the file the node comes from, unless the message already does.
        std::string where = node.model ? node.model->path : node.seed ? node.seed->path : "";
        r.message = (where.empty() || s.error().message.starts_with(where)) ? s.error().message : where + ": " + s.error().message;
        broken.insert(node.key);
        Log(LogLevel::kError, std::string(kind) + " failed", {{"node", node.name}, {"error", r.message}});
      }
    }
    r.seconds = SecondsSince(t0);
    Tally(report, r);
    if (o.progress) o.progress(r, i, keys.size(), true);
    report.results.push_back(std::move(r));
  }
  return report;
}

}  // namespace

Result<RunReport> RunModels(Compiler& compiler, Adapter& adapter, const RunOptions& o) {
  FRZ_ASSIGN_OR_RETURN(auto keys, compiler.Select(o.select, o.exclude, false));
  return RunNodes(compiler, keys, o, "model", [&](const Node& node, NodeResult& r) {
    return RunModel(compiler, adapter, node, o, r);
  });
}

Result<RunReport> RunSeeds(Compiler& compiler, Adapter& adapter, const RunOptions& o) {
  FRZ_ASSIGN_OR_RETURN(auto keys, compiler.Select(o.select, o.exclude, true));
  std::vector<std::string> seeds;
  for (const auto& k : keys) {
    if (compiler.nodes().at(k).kind == NodeKind::kSeed) seeds.push_back(k);
  }
  const std::string root = compiler.project().root;
  return RunNodes(compiler, seeds, o, "seed", [&](const Node& node, NodeResult& r) -> Status {
    std::string path = (std::filesystem::path(root) / node.seed->path).string();
    auto loaded = adapter.LoadSeed(node.table, path, node.config.column_types);
    if (!loaded) return std::unexpected(loaded.error());
    r.rows = loaded->rows_inserted;
    r.snapshot_id = loaded->snapshot_id;
    return Ok();
  });
}

Result<RunReport> RunTests(Compiler& compiler, Adapter& adapter, const RunOptions& o) {
  FRZ_ASSIGN_OR_RETURN(auto keys, compiler.Select(o.select, o.exclude, true, true));
  std::set<std::string> selected(keys.begin(), keys.end());
  bool everything = o.select.empty() && o.exclude.empty();
  RunReport report;
  // A test runs when any node it reads is selected (dbt's "eager" indirect selection).
  std::vector<const DataTestSpec*> tests;
  for (const DataTestSpec* t : compiler.tests()) {
    bool run = everything;
    for (const auto& d : compiler.TestDependencies(*t)) run = run || selected.count(d) > 0;
    if (run) tests.push_back(t);
  }
  for (size_t i = 0; i < tests.size(); ++i) {
    const DataTestSpec& t = *tests[i];
    NodeResult r;
    r.key = "test." + t.name;
    r.name = t.name;
    r.kind = "test";
    r.materialized = t.kind;
    r.relation = t.target;
    if (o.progress) o.progress(r, i, tests.size(), false);
    auto t0 = std::chrono::steady_clock::now();
    auto sql = compiler.CompileTest(t, adapter);
    Result<Rows> rows = sql ? adapter.Query("SELECT count(*) FROM (\n" + *sql + "\n) AS failures")
                            : Result<Rows>(std::unexpected(sql.error()));
    if (!rows) {
      r.status = "error";
      r.message = t.path + ": " + rows.error().message;
    } else {
      r.failures = (!rows->empty() && (*rows)[0][0]) ? std::stoll(*(*rows)[0][0]) : 0;
      r.status = r.failures == 0 ? "pass" : (t.severity == "warn" ? "warn" : "fail");
      if (r.failures > 0) r.message = std::to_string(r.failures) + " failing row(s); the query: " + *sql;
    }
    r.seconds = SecondsSince(t0);
    Tally(report, r);
    if (o.progress) o.progress(r, i, tests.size(), true);
    report.results.push_back(std::move(r));
  }
  return report;
}

}  // namespace frazil::transform
