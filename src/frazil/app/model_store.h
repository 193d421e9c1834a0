// frazil's own state for SQL models, in `<warehouse>/.frazil/models.db` (SQLite): the
// definitions of view models (frazil sql and later models expand them), and the history of
// `frazil models` runs with one row per node and data test. Format: docs/models.md.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frazil/catalog/catalog.h"
#include "frazil/catalog/sqlite.h"
#include "frazil/transform/runner.h"

namespace frazil::app {

struct StoredView {
  catalog::TableIdentifier id;
  std::string sql;
  int64_t updated_ms = 0;
};

struct StoredRun {
  std::string run_id;
  std::string command;  // run | seed | test | build
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  std::string status;   // success | error | running
  std::vector<transform::NodeResult> results;
};

class ModelStore {
 public:
  // Opens (creating) the store at `path`. Errors: IOError.
  static Result<std::unique_ptr<ModelStore>> Open(const std::string& path);
  // The store's path inside a warehouse directory.
  static std::string PathIn(const std::string& warehouse_dir);

  Status PutView(const catalog::TableIdentifier& id, const std::string& sql, int64_t now_ms);
  Status DropView(const catalog::TableIdentifier& id);
  Result<std::vector<StoredView>> ListViews();

  Status BeginRun(const std::string& run_id, const std::string& command, int64_t now_ms);
  Status AddResult(const std::string& run_id, const transform::NodeResult& r);
  Status FinishRun(const std::string& run_id, const std::string& status, int64_t now_ms);
  // The newest runs first (results filled only by LoadRun).
  Result<std::vector<StoredRun>> ListRuns(int limit);
  // Errors: NotFound.
  Result<StoredRun> LoadRun(const std::string& run_id);
  // The latest result of each data test (for `models test --last`).
  Result<std::vector<transform::NodeResult>> LatestTestResults();

 private:
  explicit ModelStore(catalog::sqlite::Database db) : db_(std::move(db)) {}
  catalog::sqlite::Database db_;
};

}  // namespace frazil::app
