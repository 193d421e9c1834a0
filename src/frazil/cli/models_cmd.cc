// `frazil models list | compile | run | seed | test | build | docs | history`.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "frazil/app/model_adapter.h"
#include "frazil/base/config.h"
#include "frazil/base/random.h"
#include "frazil/cli/commands.h"
#include "frazil/cli/models_docs.h"
#include "frazil/cli/output.h"
#include "frazil/transform/compiler.h"
#include "frazil/transform/runner.h"

namespace frazil::cli {
namespace {

struct ModelArgs {
  std::string project;  // empty: models.project of the configuration, else "."
  std::vector<std::string> select;
  std::vector<std::string> exclude;
  std::string vars;
  bool full_refresh = false;
  std::string format = "text";
};

struct Loaded {
  transform::Project project;
  std::optional<transform::Compiler> compiler;
};

// Loads and parses the project (heap-allocated: the compiler points into the project).
Result<std::unique_ptr<Loaded>> LoadAndParse(const ModelArgs& a, const app::Warehouse& w) {
  auto out = std::make_unique<Loaded>();
  std::string dir = !a.project.empty() ? a.project : !w.config().models_project.empty() ? w.config().models_project : ".";
  FRZ_ASSIGN_OR_RETURN(out->project, transform::LoadProject(dir));
  transform::CompileOptions opts;
  opts.env = ProcessEnvironment("");  // env_var() sees the whole environment, as in dbt
  opts.full_refresh = a.full_refresh;
  if (!a.vars.empty()) {
    FRZ_ASSIGN_OR_RETURN(auto v, transform::ParseYamlValue(a.vars, "--vars"));
    if (v.kind() != transform::jinja::Value::Kind::kDict) {
      return MakeError(ErrorKind::kInvalidArgument, "--vars must be a YAML mapping, e.g. --vars '{start_date: 2026-01-01}'");
    }
    for (const auto& [k, val] : v.AsDict()) opts.vars[k] = val;
  }
  FRZ_ASSIGN_OR_RETURN(auto c, transform::Compiler::Make(out->project, std::move(opts)));
  out->compiler.emplace(std::move(c));
  return out;
}

std::string StatusWord(const transform::NodeResult& r) {
  if (r.status == "success") return "OK";
  if (r.status == "pass") return "PASS";
  if (r.status == "fail") return "FAIL";
  if (r.status == "warn") return "WARN";
  if (r.status == "skipped") return "SKIP";
  return "ERROR";
}

std::string Describe(const transform::NodeResult& r) {
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2fs", r.seconds);
  std::string what;
  if (r.kind == "test") {
    what = r.status == "pass" ? "" : (r.status == "error" ? r.message : std::to_string(r.failures) + " failing rows");
  } else if (r.status == "success") {
    if (r.materialized == "view") {
      what = "view";
    } else if (r.materialized == "ephemeral") {
      what = "ephemeral";
    } else {
      what = std::to_string(r.rows) + " rows" + (r.rows_deleted ? ", " + std::to_string(r.rows_deleted) + " replaced/deleted" : "");
      if (r.snapshot_id) what += ", snapshot " + std::to_string(r.snapshot_id);
    }
  } else {
    what = r.message;
  }
  return "[" + what + (what.empty() ? "" : " in ") + secs + "]";
}

// Prints one line per node as it finishes (dbt style), and a summary.
transform::RunOptions Options(const ModelArgs& a, const std::string& run_id, bool json) {
  transform::RunOptions o;
  o.select = a.select;
  o.exclude = a.exclude;
  o.run_id = run_id;
  if (!json) {
    o.progress = [](const transform::NodeResult& r, size_t i, size_t total, bool done) {
      if (!done) return;
      std::string label = r.kind == "test" ? "test " + r.name
                                           : r.materialized + " " + r.kind + " " + r.relation;
      std::cout << (i + 1) << " of " << total << " " << StatusWord(r) << " " << label << " " << Describe(r) << std::endl;
    };
  }
  return o;
}

nlohmann::json ToJson(const transform::NodeResult& r) {
  return {{"node", r.key},         {"name", r.name},       {"kind", r.kind},
          {"materialized", r.materialized}, {"relation", r.relation}, {"status", r.status},
          {"message", r.message},  {"rows", r.rows},        {"rows_deleted", r.rows_deleted},
          {"failures", r.failures}, {"snapshot_id", r.snapshot_id}, {"seconds", r.seconds}};
}

int Finish(app::WarehouseAdapter& adapter, const std::string& run_id, app::Warehouse& w,
           const std::vector<transform::RunReport>& reports, bool json) {
  int errors = 0, warnings = 0, skipped = 0, total = 0;
  nlohmann::json results = nlohmann::json::array();
  for (const auto& rep : reports) {
    errors += rep.errors;
    warnings += rep.warnings;
    skipped += rep.skipped;
    for (const auto& r : rep.results) {
      ++total;
      (void)adapter.store().AddResult(run_id, r);
      results.push_back(ToJson(r));
    }
  }
  (void)adapter.store().FinishRun(run_id, errors ? "error" : "success", w.clock().NowMillis());
  if (json) {
    std::cout << nlohmann::json{{"run_id", run_id}, {"results", results}, {"errors", errors}, {"warnings", warnings},
                                {"skipped", skipped}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "\nDone. " << (total - errors - warnings - skipped) << " ok, " << errors << " error(s), " << warnings
              << " warning(s), " << skipped << " skipped. Run " << run_id << " (frazil models history " << run_id << ")\n";
    for (const auto& rep : reports) {
      for (const auto& r : rep.results) {
        if (r.status == "error" || r.status == "fail") std::cerr << "  " << StatusWord(r) << " " << r.name << ": " << r.message << "\n";
      }
    }
  }
  return errors ? 1 : 0;
}

using Step = Result<transform::RunReport> (*)(transform::Compiler&, transform::Adapter&, const transform::RunOptions&);

int RunSteps(app::Warehouse& w, const ModelArgs& a, const std::string& command, const std::vector<Step>& steps) {
  auto loaded = LoadAndParse(a, w);
  if (!loaded) return Fail(loaded.error());
  auto adapter = app::WarehouseAdapter::Make(w);
  if (!adapter) return Fail(adapter.error());
  std::string run_id = NewUuid();
  if (auto s = (*adapter)->store().BeginRun(run_id, command, w.clock().NowMillis()); !s) return Fail(s.error());
  bool json = a.format == "json";
  std::vector<transform::RunReport> reports;
  for (Step step : steps) {
    auto report = step(*(*loaded)->compiler, **adapter, Options(a, run_id, json));
    if (!report) {
      (void)(*adapter)->store().FinishRun(run_id, "error", w.clock().NowMillis());
      return Fail(report.error());
    }
    bool failed = !report->ok();
    reports.push_back(std::move(*report));
    if (failed && command == "build") break;  // build stops at the first failing stage
  }
  return Finish(**adapter, run_id, w, reports, json);
}

void AddCommon(CLI::App* c, ModelArgs& a, bool select, bool refresh) {
  c->add_option("--project", a.project,
                 "The project directory (with dbt_project.yml); default: models.project of frazil.yaml "
                 "(FRAZIL_MODELS_PROJECT), else the current directory");
  if (select) {
    c->add_option("-s,--select", a.select,
                  "Nodes to include: name, +name (and ancestors), name+ (and descendants), tag:x, path:models/x, "
                  "config.materialized:table, * (repeatable)");
    c->add_option("--exclude", a.exclude, "Nodes to leave out (same syntax; repeatable)");
  }
  c->add_option("--vars", a.vars, "YAML mapping overriding the project's vars, e.g. '{start: 2026-01-01}'");
  if (refresh) c->add_flag("--full-refresh", a.full_refresh, "Rebuild incremental models (and seeds) from scratch");
  c->add_option("--format", a.format, "Output: text or json")->check(CLI::IsMember({"text", "json"}));
}

}  // namespace

void AddModelsCommand(CLI::App& app, const WarehouseRunner& with_warehouse) {
  auto* models = app.add_subcommand("models", "SQL models: a dbt-style project (raw -> parsed -> Data Vault) run on Iceberg tables");
  models->require_subcommand(1);
  models->footer(
      "A project is a folder with dbt_project.yml, models/**/*.sql (+ YAML properties, sources and tests),\n"
      "macros/, seeds/*.csv, tests/*.sql and data_vault/*.yml (docs/models.md, docs/data-vault.md).\n"
      "Each model run is one Iceberg commit that records the snapshots it read.\n\n"
      "Examples:\n"
      "  frazil models list --project examples/bank/models\n"
      "  frazil models run --project examples/bank/models --select +s_accounts\n"
      "  frazil models test --project examples/bank/models\n"
      "  frazil models docs --project examples/bank/models --output lineage.html");
  static ModelArgs a;  // one subcommand runs per process

  auto* list = models->add_subcommand("list", "List the models, seeds and sources with their materialization and dependencies");
  AddCommon(list, a, true, false);
  list->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) {
      auto loaded = LoadAndParse(a, w);
      if (!loaded) return Fail(loaded.error());
      auto& c = *(*loaded)->compiler;
      auto keys = c.Select(a.select, a.exclude, true);
      if (!keys) return Fail(keys.error());
      Rows rows;
      rows.columns = {"node", "materialized", "relation", "depends_on"};
      rows.raw_json = {false, false, false, false};
      for (const auto& k : *keys) {
        const auto& n = c.nodes().at(k);
        std::string deps;
        for (const auto& d : n.depends_on) deps += (deps.empty() ? "" : ", ") + d;
        rows.rows.push_back({k, n.config.materialized, n.table.ToString(), deps});
      }
      Render(rows, *ParseOutputFormat(a.format == "json" ? "json" : "table"), std::cout);
      return 0;
    });
  });

  auto* compile = models->add_subcommand("compile", "Print the SQL of each selected model (templates rendered, refs as ns.table)");
  AddCommon(compile, a, true, false);
  compile->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) {
      auto loaded = LoadAndParse(a, w);
      if (!loaded) return Fail(loaded.error());
      auto& c = *(*loaded)->compiler;
      auto keys = c.Select(a.select, a.exclude, false);
      if (!keys) return Fail(keys.error());
      for (const auto& k : *keys) {
        const auto& n = c.nodes().at(k);
        auto sql = c.CompileOffline(n);
        if (!sql) return Fail(sql.error());
        std::cout << "-- " << k << " (" << n.config.materialized << " -> " << n.table.ToString() << ", " << n.model->path
                  << ")\n"
                  << *sql << "\n\n";
      }
      return 0;
    });
  });

  auto* run = models->add_subcommand("run", "Run the selected models in dependency order, each as one Iceberg commit");
  AddCommon(run, a, true, true);
  run->callback([with_warehouse] { with_warehouse([](app::Warehouse& w) { return RunSteps(w, a, "run", {&transform::RunModels}); }); });

  auto* seed = models->add_subcommand("seed", "Load the project's seeds (seeds/*.csv) into tables");
  AddCommon(seed, a, true, true);
  seed->callback([with_warehouse] { with_warehouse([](app::Warehouse& w) { return RunSteps(w, a, "seed", {&transform::RunSeeds}); }); });

  auto* test = models->add_subcommand("test", "Run the data tests (unique, not_null, accepted_values, relationships, tests/*.sql)");
  AddCommon(test, a, true, false);
  test->footer("Exit code 1 when a test with severity error fails; results are kept (frazil models history).");
  test->callback([with_warehouse] { with_warehouse([](app::Warehouse& w) { return RunSteps(w, a, "test", {&transform::RunTests}); }); });

  auto* build = models->add_subcommand("build", "Seed, run and test the selection, stopping at the first failing stage");
  AddCommon(build, a, true, true);
  build->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) {
      return RunSteps(w, a, "build", {&transform::RunSeeds, &transform::RunModels, &transform::RunTests});
    });
  });

  static std::string docs_output;
  auto* docs = models->add_subcommand("docs", "Write the project's documentation: lineage, columns and tests (HTML or JSON)");
  AddCommon(docs, a, false, false);
  docs->add_option("-o,--output", docs_output, "Write to this file (default: standard output)");
  docs->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) {
      auto loaded = LoadAndParse(a, w);
      if (!loaded) return Fail(loaded.error());
      auto doc = a.format == "json" ? DocsJson(w, *(*loaded)->compiler) : DocsHtml(w, *(*loaded)->compiler);
      if (!doc) return Fail(doc.error());
      if (docs_output.empty()) {
        std::cout << *doc;
      } else {
        std::ofstream out(docs_output);
        out << *doc;
        if (!out) return Fail(Error{ErrorKind::kIOError, "cannot write " + docs_output});
        std::cerr << "wrote " << docs_output << "\n";
      }
      return 0;
    });
  });

  static std::string history_run;
  static int history_limit = 20;
  auto* history = models->add_subcommand("history", "Past model runs, or one run's results per node and test");
  history->add_option("run", history_run, "A run id (from the list) to show in full");
  history->add_option("--limit", history_limit, "How many runs to list");
  history->add_option("--format", a.format, "Output: text or json")->check(CLI::IsMember({"text", "json"}));
  history->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) {
      auto store = app::ModelStore::Open(app::ModelStore::PathIn(w.local_root()));
      if (!store) return Fail(store.error());
      auto fmt = *ParseOutputFormat(a.format == "json" ? "json" : "table");
      Rows rows;
      if (history_run.empty()) {
        auto runs = (*store)->ListRuns(history_limit);
        if (!runs) return Fail(runs.error());
        rows.columns = {"run_id", "command", "started_ms", "finished_ms", "status"};
        rows.raw_json = {false, false, true, true, false};
        for (const auto& r : *runs) {
          rows.rows.push_back({r.run_id, r.command, std::to_string(r.started_ms), std::to_string(r.finished_ms), r.status});
        }
      } else {
        auto run = (*store)->LoadRun(history_run);
        if (!run) return Fail(run.error());
        rows.columns = {"node", "status", "materialized", "relation", "rows", "failures", "snapshot_id", "seconds", "message"};
        rows.raw_json = {false, false, false, false, true, true, true, true, false};
        for (const auto& r : run->results) {
          rows.rows.push_back({r.key, r.status, r.materialized, r.relation, std::to_string(r.rows), std::to_string(r.failures),
                               std::to_string(r.snapshot_id), std::to_string(r.seconds), r.message});
        }
      }
      Render(rows, fmt, std::cout);
      return 0;
    });
  });
}

}  // namespace frazil::cli
