// `frazil assets`, `frazil runs list | show | logs | cancel`, `frazil materialize`: the
// orchestrator's state and history (docs/orchestrator.md).
#include <chrono>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "frazil/app/orchestration.h"
#include "frazil/cli/commands.h"
#include "frazil/cli/output.h"

namespace frazil::cli {
namespace {

using orchestrator::RunRecord;
using orchestrator::RunStatus;

struct OrchArgs {
  std::string format = "table";
  std::string status;
  std::string job;
  std::string asset;
  int limit = 20;
  int64_t run_id = 0;
  bool follow = false;
  std::vector<std::string> assets;
  bool downstream = false;
  bool full_refresh = false;
  bool test = false;
  std::string run_job;
  bool no_wait = false;
};

std::string Time(int64_t ms) {
  if (ms <= 0) return "";
  std::time_t t = ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string Seconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", ms / 1000.0);
  return buf;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

OutputFormat Format(const std::string& f) { return *ParseOutputFormat(f == "json" ? "json" : "table"); }

Result<std::unique_ptr<app::Orchestration>> ForCli(app::Warehouse& w) {
  orchestrator::OrchestratorOptions o;
  o.sensors = false;
  o.schedules = false;
  o.inline_execution = true;
  return app::MakeOrchestration(w, w.clock(), o);
}


int PrintRun(const RunRecord& r, const std::string& format) {
  if (format == "json") {
    std::cout << orchestrator::RunRecordJson(r).dump(2) << "\n";
    return 0;
  }
  std::cout << "run " << r.id << ": " << orchestrator::RunStatusName(r.status) << "\n"
            << "  job       " << r.job << " (" << r.trigger << ", attempt " << r.attempt << " of " << r.max_attempts << ")\n"
            << "  assets    " << Joined(r.assets) << "\n";
  if (!r.params.empty()) {
    std::string p;
    for (const auto& [k, v] : r.params) p += (p.empty() ? "" : ", ") + k + "=" + v;
    std::cout << "  params    " << p << "\n";
  }
  std::cout << "  queued    " << Time(r.created_ms) << " UTC\n";
  if (r.started_ms) std::cout << "  started   " << Time(r.started_ms) << " UTC by " << r.owner << "\n";
  if (r.finished_ms) {
    std::cout << "  finished  " << Time(r.finished_ms) << " UTC ("
              << Seconds(r.finished_ms - (r.started_ms ? r.started_ms : r.created_ms)) << " s)\n";
  }
  if (!r.succeeded.empty()) std::cout << "  succeeded " << Joined(r.succeeded) << "\n";
  if (!r.failed.empty()) std::cout << "  failed    " << Joined(r.failed) << "\n";
  if (r.retry_of) std::cout << "  retry of  run " << *r.retry_of << "\n";
  if (!r.error.empty()) std::cout << "  error     " << r.error << "\n";
  return 0;
}

int PrintLogs(orchestrator::RunStore& store, int64_t id, bool follow, const Clock& clock) {
  int64_t after = 0;
  for (;;) {
    auto lines = store.Logs(id, after, 1000);
    if (!lines) return Fail(lines.error());
    for (const auto& l : *lines) {
      std::cout << Time(l.ts_ms) << " " << LogLevelName(l.level) << " " << l.message << "\n";
      after = l.seq;
    }
    std::cout.flush();
    if (!follow) return 0;
    auto run = store.Get(id);
    if (!run) return Fail(run.error());
    if (orchestrator::IsFinished(run->status) && lines->empty()) return 0;
    (void)clock;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

}  // namespace

void AddOrchestratorCommands(CLI::App& app, const WarehouseRunner& with_warehouse) {
  static OrchArgs a;

  auto* assets = app.add_subcommand("assets", "List the tables the orchestrator knows: models with freshness, and their inputs");
  assets->footer(
      "Every catalog table is an asset; the models of models.project are assets that the orchestrator\n"
      "inside `frazil run` materializes when their inputs change (docs/orchestrator.md).\n"
      "stale: a model has inputs with changes it has not consumed yet; overdue: stale for longer than\n"
      "its freshness target (orchestrator.freshness_target, or per asset in orchestrator.assets).\n\n"
      "Examples:\n"
      "  frazil assets\n"
      "  frazil assets --format json");
  assets->add_option("--format", a.format, "Output: table or json")->check(CLI::IsMember({"table", "json"}));
  assets->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) {
      auto o = ForCli(w);
      if (!o) return Fail(o.error());
      auto& orch = *(*o)->orchestrator;
      if (auto s = orch.Observe(); !s) return Fail(s.error());
      Rows rows;
      rows.columns = {"asset", "kind", "version", "state", "last_success", "last_run", "last_status", "runs", "failures",
                      "depends_on"};
      rows.raw_json = {false, false, false, false, false, true, false, true, true, false};
      const int64_t now = w.clock().NowMillis();
      for (const auto& s : orch.Assets()) {
        const auto* asset = orch.graph().Find(s.key);
        std::string state;
        if (s.kind == orchestrator::AssetKind::kModel) {
          state = s.active ? "running" : s.overdue ? "overdue" : s.stale ? "stale" : "fresh";
          if (s.stale && s.stale_since_ms > 0 && now > s.stale_since_ms) state += " " + Seconds(now - s.stale_since_ms) + " s";
        }
        rows.rows.push_back({s.key, std::string(orchestrator::AssetKindName(s.kind)), s.version.empty() ? "missing" : s.version,
                             state, Time(s.last_success_ms), s.last_run_id ? std::optional(std::to_string(s.last_run_id)) : std::nullopt,
                             s.last_status, std::to_string(s.runs), std::to_string(s.failures), Joined(asset->deps)});
      }
      Render(rows, Format(a.format), std::cout);
      return 0;
    });
  });

  auto* runs = app.add_subcommand("runs", "Run history of the orchestrator: list, show, logs, cancel");
  runs->require_subcommand(1);
  runs->footer(
      "Runs are kept in <warehouse>/.frazil/runs.db across restarts (orchestrator.run_retention, default 30d).\n"
      "Statuses: queued, running, succeeded, failed, canceled, timed_out, interrupted (its process died;\n"
      "retried). Examples:\n"
      "  frazil runs list --status failed\n"
      "  frazil runs show 42\n"
      "  frazil runs logs 42 --follow\n"
      "  frazil runs cancel 42");
  auto* list = runs->add_subcommand("list", "Newest runs first");
  list->add_option("--status", a.status, "Only runs with this status");
  list->add_option("--job", a.job, "Only runs of this job ('materialize' for model runs)");
  list->add_option("--asset", a.asset, "Only runs that include this asset (ns.table)");
  list->add_option("-n,--limit", a.limit, "How many (default 20)");
  list->add_option("--format", a.format, "Output: table or json")->check(CLI::IsMember({"table", "json"}));
  list->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) {
      auto store = orchestrator::SqliteRunStore::Open(orchestrator::SqliteRunStore::PathIn(w.local_root()));
      if (!store) return Fail(store.error());
      orchestrator::RunFilter f;
      if (!a.status.empty()) {
        auto st = orchestrator::ParseRunStatus(a.status);
        if (!st) return Fail(st.error());
        f.status = *st;
      }
      f.job = a.job;
      f.asset = a.asset;
      f.limit = a.limit;
      auto list = (*store)->List(f);
      if (!list) return Fail(list.error());
      if (a.format == "json") {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& r : *list) out.push_back(orchestrator::RunRecordJson(r));
        std::cout << out.dump(2) << "\n";
        return 0;
      }
      Rows rows;
      rows.columns = {"id", "job", "trigger", "status", "attempt", "queued", "seconds", "assets", "error"};
      rows.raw_json = {true, false, false, false, true, false, true, false, false};
      for (const auto& r : *list) {
        std::string secs = r.finished_ms && r.started_ms ? Seconds(r.finished_ms - r.started_ms) : "";
        std::string assets = Joined(r.assets);
        if (assets.size() > 60) assets = assets.substr(0, 57) + "...";
        std::string err = r.error.size() > 80 ? r.error.substr(0, 77) + "..." : r.error;
        rows.rows.push_back({std::to_string(r.id), r.job, r.trigger, std::string(orchestrator::RunStatusName(r.status)),
                             std::to_string(r.attempt), Time(r.created_ms), secs, assets, err});
      }
      Render(rows, Format(a.format), std::cout);
      return 0;
    });
  });
  auto* show = runs->add_subcommand("show", "One run in full");
  show->add_option("run", a.run_id, "The run id")->required();
  show->add_option("--format", a.format, "Output: table or json")->check(CLI::IsMember({"table", "json"}));
  show->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) {
      auto store = orchestrator::SqliteRunStore::Open(orchestrator::SqliteRunStore::PathIn(w.local_root()));
      if (!store) return Fail(store.error());
      auto r = (*store)->Get(a.run_id);
      if (!r) return Fail(r.error());
      return PrintRun(*r, a.format);
    });
  });
  auto* logs = runs->add_subcommand("logs", "A run's log lines");
  logs->add_option("run", a.run_id, "The run id")->required();
  logs->add_flag("-f,--follow", a.follow, "Keep printing until the run finishes");
  logs->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) {
      auto store = orchestrator::SqliteRunStore::Open(orchestrator::SqliteRunStore::PathIn(w.local_root()));
      if (!store) return Fail(store.error());
      if (auto r = (*store)->Get(a.run_id); !r) return Fail(r.error());
      return PrintLogs(**store, a.run_id, a.follow, w.clock());
    });
  });
  auto* cancel = runs->add_subcommand("cancel", "Cancel a queued or running run (the model in progress finishes its commit)");
  cancel->add_option("run", a.run_id, "The run id")->required();
  cancel->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) {
      auto store = orchestrator::SqliteRunStore::Open(orchestrator::SqliteRunStore::PathIn(w.local_root()));
      if (!store) return Fail(store.error());
      if (auto s = (*store)->RequestCancel(a.run_id); !s) return Fail(s.error());
      std::cerr << "cancel requested for run " << a.run_id
                << " (the process running it stops it at its next check; `frazil runs show " << a.run_id << "`)\n";
      return 0;
    });
  });

  auto* mat = app.add_subcommand("materialize", "Run models now (and record the run), or a configured job");
  mat->footer(
      "Queues a run in the run history and runs it in this process (if `frazil run` picks it up first,\n"
      "this waits for it). Assets are model tables (ns.table) or model names.\n\n"
      "Examples:\n"
      "  frazil materialize vault.h_users                 # one model\n"
      "  frazil materialize parsed.users --downstream     # and everything that reads it\n"
      "  frazil materialize --full-refresh                # every model, rebuilt\n"
      "  frazil materialize --job nightly_compaction      # a job from orchestrator.jobs");
  mat->add_option("assets", a.assets, "Models to run (default: all)");
  mat->add_flag("--downstream", a.downstream, "Also run every model downstream of them");
  mat->add_flag("--full-refresh", a.full_refresh, "Rebuild incremental models from scratch (a backfill)");
  mat->add_flag("--test", a.test, "Run the data tests of the models afterwards");
  mat->add_option("--job", a.run_job, "Run this configured job instead (orchestrator.jobs)");
  mat->add_flag("--no-wait", a.no_wait, "Only queue the run (a running `frazil run` executes it)");
  mat->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) {
      auto o = ForCli(w);
      if (!o) return Fail(o.error());
      auto& orch = *(*o)->orchestrator;
      std::vector<std::string> keys;
      for (const auto& name : a.assets) {
        std::string key = name;
        if (!orch.graph().Find(name)) {
          for (const auto& asset : orch.graph().assets()) {
            if (asset.kind == orchestrator::AssetKind::kModel && asset.description == name) key = asset.key;
          }
        }
        keys.push_back(key);
      }
      std::map<std::string, std::string> params;
      if (a.full_refresh) params["full_refresh"] = "true";
      if (a.test) params["test"] = "true";
      std::string job = a.run_job.empty() ? orchestrator::kMaterializeJob : a.run_job;
      auto id = orch.Launch(job, keys, params, a.full_refresh ? "backfill" : "manual", a.downstream);
      if (!id) return Fail(id.error());
      std::cerr << "run " << *id << " queued\n";
      if (a.no_wait) {
        std::cout << *id << "\n";
        return 0;
      }
      auto ran = orch.RunNow(*id);
      if (!ran) return Fail(ran.error());
      auto& store = *(*o)->store;
      if (!*ran) {
        // Its log lines went to this process's log when it ran here; follow them otherwise.
        std::cerr << "run " << *id << " was started by another process; following it\n";
        if (int rc = PrintLogs(store, *id, true, w.clock()); rc != 0) return rc;
      }
      auto r = store.Get(*id);
      if (!r) return Fail(r.error());
      PrintRun(*r, "table");
      return r->status == RunStatus::kSucceeded ? 0 : 1;
    });
  });
}

}  // namespace frazil::cli
