// Runs a compiled project against an adapter: models in dependency order (each model one
// atomic commit recording what it read), seeds, and data tests. A failed node skips the
// nodes downstream of it; the others still run, as dbt does.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "frazil/transform/adapter.h"
#include "frazil/transform/compiler.h"

namespace frazil::transform {

struct NodeResult {
  std::string key;           // "model.x", "seed.x", "test.x"
  std::string name;
  std::string kind;          // model | seed | test
  std::string materialized;  // view | table | incremental (full|incremental) | ephemeral | seed | test kind
  std::string relation;      // "ns.table"
  std::string status;        // success | error | skipped | pass | fail | warn
  std::string message;
  int64_t rows = 0;          // rows inserted (models, seeds)
  int64_t rows_deleted = 0;  // merge / delete+insert
  int64_t failures = 0;      // tests: failing rows
  int64_t snapshot_id = 0;
  double seconds = 0;
};

struct RunReport {
  std::vector<NodeResult> results;
  int errors = 0;     // error + fail (severity error)
  int warnings = 0;
  int skipped = 0;
  bool ok() const { return errors == 0; }
};

struct RunOptions {
  std::vector<std::string> select;
  std::vector<std::string> exclude;
  std::string run_id;  // recorded in each commit's summary (frazil.run-id)
  // When set and true, the nodes not started yet are skipped ("canceled"); the node in
  // progress finishes (its commit is all or nothing).
  const std::atomic<bool>* cancel = nullptr;
  // Called before (done = false) and after (done = true) each node.
  std::function<void(const NodeResult& result, size_t index, size_t total, bool done)> progress;
};

// Models (not seeds) of the selection. Errors: only a bad selection; node failures are in
// the report.
Result<RunReport> RunModels(Compiler& compiler, Adapter& adapter, const RunOptions& options);
// Seeds of the selection.
Result<RunReport> RunSeeds(Compiler& compiler, Adapter& adapter, const RunOptions& options);
// Data tests on the selected nodes (a test runs when any node it reads is selected).
Result<RunReport> RunTests(Compiler& compiler, Adapter& adapter, const RunOptions& options);

}  // namespace frazil::transform
