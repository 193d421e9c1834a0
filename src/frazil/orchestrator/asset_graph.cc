#include "frazil/orchestrator/asset_graph.h"

#include <algorithm>
#include <queue>

namespace frazil::orchestrator {

std::string_view AssetKindName(AssetKind kind) {
  switch (kind) {
    case AssetKind::kSource:
      return "source";
    case AssetKind::kModel:
      return "model";
  }
  return "?";
}

Result<AssetGraph> AssetGraph::Make(std::vector<Asset> assets) {
  std::map<std::string, size_t> by_key;
  for (size_t i = 0; i < assets.size(); ++i) {
    const auto& a = assets[i];
    if (a.key.empty()) return MakeError(ErrorKind::kInvalidArgument, "an asset has an empty key");
    if (!by_key.emplace(a.key, i).second) return MakeError(ErrorKind::kInvalidArgument, "asset " + a.key + " is defined twice");
  }
  std::map<std::string, int> indegree;
  std::map<std::string, std::vector<std::string>> dependents;
  for (auto& a : assets) {
    std::sort(a.deps.begin(), a.deps.end());
    a.deps.erase(std::unique(a.deps.begin(), a.deps.end()), a.deps.end());
    if (a.kind == AssetKind::kSource && !a.deps.empty()) {
      return MakeError(ErrorKind::kInvalidArgument, "source asset " + a.key + " cannot depend on other assets");
    }
    indegree[a.key] += 0;
    for (const auto& d : a.deps) {
      if (!by_key.count(d)) return MakeError(ErrorKind::kInvalidArgument, "asset " + a.key + " depends on unknown asset " + d);
      if (d == a.key) return MakeError(ErrorKind::kInvalidArgument, "asset " + a.key + " depends on itself");
      indegree[a.key]++;
      dependents[d].push_back(a.key);
    }
  }
  // Kahn's algorithm, smallest key first among the ready ones: a stable order.
  std::priority_queue<std::string, std::vector<std::string>, std::greater<>> ready;
  for (const auto& [k, n] : indegree) {
    if (n == 0) ready.push(k);
  }
  AssetGraph g;
  while (!ready.empty()) {
    std::string k = ready.top();
    ready.pop();
    g.index_[k] = g.assets_.size();
    g.assets_.push_back(std::move(assets[by_key[k]]));
    for (const auto& d : dependents[k]) {
      if (--indegree[d] == 0) ready.push(d);
    }
  }
  if (g.assets_.size() != assets.size()) {
    // The assets left over are on a cycle or downstream of one. Every one of them has a
    // dependency that is left over too, so walking dependencies from any of them must come
    // back to an asset already seen: the cycle, without the assets merely downstream of it.
    std::string at;
    for (const auto& [k, n] : indegree) {
      if (n > 0) {
        at = k;
        break;
      }
    }
    std::vector<std::string> path;
    std::map<std::string, size_t> seen;
    while (!seen.count(at)) {
      seen[at] = path.size();
      path.push_back(at);
      for (const auto& d : assets[by_key[at]].deps) {
        if (indegree[d] > 0) {
          at = d;
          break;
        }
      }
    }
    std::string names;
    for (size_t i = seen[at]; i < path.size(); ++i) names += (names.empty() ? "" : ", ") + path[i];
    return MakeError(ErrorKind::kInvalidArgument, "the asset graph has a cycle through: " + names);
  }
  for (auto& [k, v] : dependents) std::sort(v.begin(), v.end());
  g.dependents_ = std::move(dependents);
  return g;
}

const Asset* AssetGraph::Find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &assets_[it->second];
}

const std::vector<std::string>& AssetGraph::Dependents(const std::string& key) const {
  static const std::vector<std::string> kNone;
  auto it = dependents_.find(key);
  return it == dependents_.end() ? kNone : it->second;
}

std::vector<std::string> AssetGraph::WithDownstream(const std::set<std::string>& keys) const {
  std::set<std::string> all;
  std::vector<std::string> todo(keys.begin(), keys.end());
  while (!todo.empty()) {
    std::string k = std::move(todo.back());
    todo.pop_back();
    if (!index_.count(k) || !all.insert(k).second) continue;
    for (const auto& d : Dependents(k)) todo.push_back(d);
  }
  std::vector<std::string> out(all.begin(), all.end());
  std::sort(out.begin(), out.end(), [&](const std::string& a, const std::string& b) { return Order(a) < Order(b); });
  return out;
}

std::set<std::string> AssetGraph::Upstream(const std::string& key) const {
  std::set<std::string> out;
  std::vector<std::string> todo;
  if (const Asset* a = Find(key)) todo = a->deps;
  while (!todo.empty()) {
    std::string k = std::move(todo.back());
    todo.pop_back();
    if (!out.insert(k).second) continue;
    if (const Asset* a = Find(k)) todo.insert(todo.end(), a->deps.begin(), a->deps.end());
  }
  return out;
}

int AssetGraph::Order(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? -1 : static_cast<int>(it->second);
}

}  // namespace frazil::orchestrator
