// The asset graph: every table the orchestrator knows (raw and mirror tables written by CDC,
// models written by the model runner, other tables), with the edges "reads from". Built once
// per configuration; immutable and safe to share between threads.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "frazil/base/result.h"

namespace frazil::orchestrator {

enum class AssetKind {
  kSource,  // written outside the orchestrator (CDC raw and mirror tables, loaded tables)
  kModel,   // materialized by a run of the orchestrator (a SQL model)
};
std::string_view AssetKindName(AssetKind kind);

// When a model runs on its own because an upstream table changed (docs/orchestrator.md).
struct AutomationPolicy {
  bool automatic = true;  // false: only schedules and `frazil materialize` run it
  // Wait until no upstream change was seen for this long (a burst of commits becomes one run)...
  int64_t debounce_ms = 500;
  // ...but never longer than this after the first change it has not consumed.
  int64_t max_delay_ms = 3000;
  // At least this long between the starts of two runs of the asset.
  int64_t min_interval_ms = 0;
  // Freshness target: a change older than this that the asset has not consumed makes it
  // overdue (metric frazil_asset_overdue, `frazil assets`).
  int64_t freshness_target_ms = 60000;
};

struct Asset {
  std::string key;                // "ns.table"
  AssetKind kind = AssetKind::kSource;
  std::vector<std::string> deps;  // keys of the assets it reads
  std::string group;              // for display: the model's folder or the table's namespace
  std::string description;
  AutomationPolicy policy;
};

class AssetGraph {
 public:
  AssetGraph() = default;
  // Errors: InvalidArgument for an empty or duplicate key, a dependency on an unknown asset,
  // a source asset with dependencies, or a cycle (naming the assets on it).
  static Result<AssetGraph> Make(std::vector<Asset> assets);

  // Every asset, upstream before downstream (ties in key order).
  const std::vector<Asset>& assets() const { return assets_; }
  const Asset* Find(const std::string& key) const;
  // The assets reading `key` directly.
  const std::vector<std::string>& Dependents(const std::string& key) const;
  // `keys` and everything downstream of them, upstream first.
  std::vector<std::string> WithDownstream(const std::set<std::string>& keys) const;
  // Everything upstream of `key` (not including it).
  std::set<std::string> Upstream(const std::string& key) const;
  // Position in assets() (upstream first); -1 if unknown.
  int Order(const std::string& key) const;

 private:
  std::vector<Asset> assets_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::vector<std::string>> dependents_;
};

}  // namespace frazil::orchestrator
