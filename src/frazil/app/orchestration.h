// The orchestrator wired to a warehouse (`frazil run`, `frazil assets`, `frazil runs`,
// `frazil materialize`): the asset graph from the catalog and the models project, table
// versions from the catalog, runs executed by the model runner and the maintenance
// operations, jobs and schedules from frazil.yaml (docs/orchestrator.md).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "frazil/app/warehouse.h"
#include "frazil/orchestrator/orchestrator.h"
#include "frazil/transform/compiler.h"
#include "frazil/transform/project.h"

namespace frazil::app {

// A loaded models project with its parse pass done (heap-allocated: the compiler points
// into the project).
struct ModelProject {
  transform::Project project;
  std::optional<transform::Compiler> compiler;
};
// Errors: the project's and the parse pass's (naming file and line).
Result<std::unique_ptr<ModelProject>> LoadModelProject(const std::string& dir, transform::CompileOptions options);
// The project directory configured for the warehouse ("" when none).
std::string ConfiguredModelsDir(const Warehouse& w);

// A table's data version: the id of the newest snapshot on main that changed rows
// (compactions and manifest rewrites, operation "replace", do not count); "0" for a table
// without snapshots.
std::string DataVersion(const iceberg::TableMetadata& metadata);

// Per upstream table: the oldest snapshot any model's last commit recorded reading from it
// (`frazil.read.<table>`). Expiry keeps these and everything after them, so incremental
// models can still read what was appended since.
Result<std::map<std::string, std::vector<int64_t>>> ModelReadPositions(Warehouse& w);

// The warehouse's assets: every catalog table as a source asset, plus the project's
// models (tables and incrementals; views and ephemerals are folded into their readers'
// dependencies) with their dependencies and automation policies from the configuration.
Result<orchestrator::AssetGraph> BuildAssetGraph(Warehouse& w, const ModelProject* project);

// Versions of every catalog table (cached per metadata file).
class WarehouseObserver final : public orchestrator::AssetObserver {
 public:
  explicit WarehouseObserver(Warehouse& w) : w_(w) {}
  Result<std::map<std::string, std::string>> Versions() override;

 private:
  Warehouse& w_;
  std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::string>> cache_;  // table -> (metadata location, version)
};

// Runs materialize runs with the model runner and maintenance tasks with the maintenance
// operations. Tasks: materialize, compact, expire-snapshots, remove-orphans,
// rewrite-manifests, drop-stats, cleanup (docs/orchestrator.md lists their params).
class WarehouseExecutor final : public orchestrator::Executor {
 public:
  explicit WarehouseExecutor(Warehouse& w, std::string models_dir) : w_(w), models_dir_(std::move(models_dir)) {}
  Status Execute(const orchestrator::Job& job, orchestrator::RunContext& ctx) override;

 private:
  Status Materialize(const orchestrator::Job& job, orchestrator::RunContext& ctx);
  Status Maintain(const orchestrator::Job& job, orchestrator::RunContext& ctx);
  Warehouse& w_;
  std::string models_dir_;
  std::mutex models_mu_;  // model runs share the model store and one DuckDB connection each
};

// The known task names.
const std::vector<std::string>& KnownTasks();

// Everything the orchestrator needs, built from the warehouse's configuration.
struct Orchestration {
  std::unique_ptr<ModelProject> project;
  std::unique_ptr<orchestrator::SqliteRunStore> store;
  std::unique_ptr<WarehouseObserver> observer;
  std::unique_ptr<WarehouseExecutor> executor;
  std::unique_ptr<orchestrator::Orchestrator> orchestrator;
};
// Errors: the project's, the configuration's (unknown task, bad cron, unknown asset), the
// store's.
Result<std::unique_ptr<Orchestration>> MakeOrchestration(Warehouse& w, const Clock& clock,
                                                         orchestrator::OrchestratorOptions options = {});

}  // namespace frazil::app
