// Turns a project's templates into SQL. Two passes, as dbt does:
//  - Parse: every model is rendered once without touching data (`execute` is false,
//    `is_incremental()` false, `ref`/`source` return placeholders) to learn its `config()`
//    and the nodes it refers to: the DAG.
//  - Compile: one model, just before it runs: every relation it reads is pinned to the
//    table's current snapshot through the adapter (and recorded, so the commit can say what
//    it read), `this` is the target, and `new_rows(rel)` is the part of `rel` appended since
//    the snapshot of `rel` this model's last commit recorded.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "frazil/transform/adapter.h"
#include "frazil/transform/project.h"

namespace frazil::transform {

// A node of the DAG: "model.<name>", "seed.<name>" or "source.<source>.<table>".
struct Node {
  std::string key;
  NodeKind kind = NodeKind::kModel;
  std::string name;  // the model or seed name; "<source>.<table>" for sources
  catalog::TableIdentifier table;
  const Model* model = nullptr;
  const Seed* seed = nullptr;
  const SourceTable* source = nullptr;
  NodeConfig config;
  std::vector<std::string> depends_on;  // node keys, in the order first referenced
};

// Summary keys of a model's commits.
inline constexpr const char* kSummaryModel = "frazil.model";
inline constexpr const char* kSummaryReadPrefix = "frazil.read.";  // + "ns.table" -> snapshot id or "none"

struct CompileOptions {
  std::map<std::string, jinja::Value> vars;      // --vars, over the project's vars
  std::map<std::string, std::string> env;        // for env_var()
  bool full_refresh = false;
};

// The outcome of compiling one model for a run.
struct CompiledModel {
  std::string sql;
  bool incremental = false;  // is_incremental() was true
  std::optional<int64_t> target_snapshot_id;
  // Every table read, with the snapshot it was pinned to (nullopt: empty).
  std::map<catalog::TableIdentifier, std::optional<int64_t>> reads;
};

class Compiler {
 public:
  // Parses every enabled model. Errors: InvalidArgument naming the file and line (template
  // errors, config errors, a ref to an unknown model, a cycle).
  static Result<Compiler> Make(const Project& project, CompileOptions options);

  const Project& project() const { return *project_; }
  // Every node (models, seeds, sources referred to), by key.
  const std::map<std::string, Node>& nodes() const { return nodes_; }
  // Node keys in an order where every node follows the nodes it depends on.
  const std::vector<std::string>& order() const { return order_; }

  // dbt's node selection: `name`, `+name` (with ancestors), `name+` (with descendants),
  // `tag:x`, `path:models/staging`, `config.materialized:table`, `*`; several selectors
  // are a union; `exclude` removes. Empty `select` = all models. Returns keys in `order()`;
  // seeds only with `include_seeds`, sources only with `include_sources`.
  // Errors: InvalidArgument for a selector that matches nothing.
  Result<std::vector<std::string>> Select(const std::vector<std::string>& select,
                                          const std::vector<std::string>& exclude, bool include_seeds,
                                          bool include_sources = false) const;

  // Compiles a model for execution against `adapter` (see the file comment).
  Result<CompiledModel> Compile(const Node& node, Adapter& adapter);
  // Compiles a data test's SQL (failing rows) with relations pinned like a model's.
  Result<std::string> CompileTest(const DataTestSpec& test, Adapter& adapter);
  // A model's SQL as the parse pass sees it (placeholders `ns.table` for relations), for
  // `models compile` without touching data.
  Result<std::string> CompileOffline(const Node& node);

  // The enabled data tests (a test on a disabled model is disabled too).
  const std::vector<const DataTestSpec*>& tests() const { return tests_; }
  // The node key a test is attached to ("" for singular tests).
  std::string TestTargetKey(const DataTestSpec& test) const;
  // The node keys a test reads (its target and, for relationships / singular, the others).
  std::vector<std::string> TestDependencies(const DataTestSpec& test) const;

 private:
  struct RenderState;
  Compiler() = default;
  Status Parse();
  Result<std::string> Render(const Node& node, RenderState& state);
  Result<std::string> RenderTemplate(const jinja::Template& t, const Node* node, RenderState& state);
  void InstallGlobals(const Node* node, RenderState& state);
  Result<std::string> RelationSql(const Node& target, RenderState& state, bool only_new);
  catalog::TableIdentifier TableOf(const std::string& schema, const std::string& name) const;

  const Project* project_ = nullptr;
  CompileOptions options_;
  std::unique_ptr<jinja::Environment> env_;
  std::map<std::string, Node> nodes_;
  std::vector<std::string> order_;
  std::map<std::string, std::set<std::string>> test_deps_;  // test name -> node keys
  std::vector<const DataTestSpec*> tests_;
};

// Strips trailing semicolons and whitespace (a model's SELECT is embedded in other SQL).
std::string TrimSql(std::string sql);

}  // namespace frazil::transform
