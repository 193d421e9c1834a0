#include "frazil/app/orchestration.h"

#include <fnmatch.h>

#include <filesystem>

#include "frazil/app/model_adapter.h"
#include "frazil/base/config.h"
#include "frazil/base/strings.h"
#include "frazil/cdc/mirror_table.h"
#include "frazil/maintenance/compact.h"
#include "frazil/maintenance/drop_stats.h"
#include "frazil/maintenance/expire_snapshots.h"
#include "frazil/maintenance/orphan_files.h"
#include "frazil/maintenance/reachability.h"
#include "frazil/maintenance/rewrite_manifests.h"
#include "frazil/transform/runner.h"

namespace frazil::app {

namespace {

using orchestrator::Asset;
using orchestrator::AssetKind;
using orchestrator::Job;
using orchestrator::RunContext;

bool Matches(const std::string& pattern, const std::string& key) {
  if (pattern == key) return true;
  return fnmatch(pattern.c_str(), key.c_str(), 0) == 0;
}

Result<std::vector<catalog::TableIdentifier>> AllTables(catalog::Catalog& catalog) {
  std::vector<catalog::TableIdentifier> out;
  std::vector<catalog::Namespace> todo = {catalog::Namespace{}};
  while (!todo.empty()) {
    catalog::Namespace ns = std::move(todo.back());
    todo.pop_back();
    FRZ_ASSIGN_OR_RETURN(auto children, catalog.ListNamespaces(ns));
    for (auto& c : children) todo.push_back(std::move(c));
    if (ns.empty()) continue;
    FRZ_ASSIGN_OR_RETURN(auto tables, catalog.ListTables(ns));
    for (auto& t : tables) out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.ToString() < b.ToString(); });
  return out;
}

// The tables a job's asset patterns name (all tables when there are none).
Result<std::vector<catalog::TableIdentifier>> ExpandTables(Warehouse& w, const std::vector<std::string>& patterns) {
  FRZ_ASSIGN_OR_RETURN(auto all, AllTables(w.catalog()));
  if (patterns.empty()) return all;
  std::vector<catalog::TableIdentifier> out;
  for (const auto& t : all) {
    for (const auto& p : patterns) {
      if (Matches(p, t.ToString())) {
        out.push_back(t);
        break;
      }
    }
  }
  return out;
}

// The tables a node reads: views and ephemerals are not tables, so whoever reads one reads
// its inputs.
void TablesRead(const std::map<std::string, transform::Node>& nodes, const std::string& key,
                std::set<catalog::TableIdentifier>& out) {
  for (const auto& d : nodes.at(key).depends_on) {
    const auto& dn = nodes.at(d);
    bool folded = dn.kind == transform::NodeKind::kModel &&
                  (dn.config.materialized == "view" || dn.config.materialized == "ephemeral");
    if (folded) {
      TablesRead(nodes, d, out);
    } else {
      out.insert(dn.table);
    }
  }
}

std::string Param(const Job& job, const std::string& key, const std::string& fallback = "") {
  auto it = job.params.find(key);
  return it == job.params.end() ? fallback : it->second;
}

Result<std::optional<int64_t>> SizeParam(const Job& job, const std::string& key) {
  std::string v = Param(job, key);
  if (v.empty()) return std::optional<int64_t>();
  FRZ_ASSIGN_OR_RETURN(int64_t n, ParseByteSize(v));
  return std::optional<int64_t>(n);
}

bool BoolParam(const Job& job, const std::string& key) {
  std::string v = Param(job, key);
  return v == "true" || v == "yes" || v == "1" || v == "on";
}

std::string Mb(int64_t bytes) { return std::to_string(bytes / 1048576.0).substr(0, 6) + " MiB"; }

}  // namespace

const std::vector<std::string>& KnownTasks() {
  static const std::vector<std::string> tasks = {orchestrator::kMaterializeJob, "compact", "expire-snapshots",
                                                 "remove-orphans", "rewrite-manifests", "drop-stats", "cleanup"};
  return tasks;
}

Result<std::unique_ptr<ModelProject>> LoadModelProject(const std::string& dir, transform::CompileOptions options) {
  auto out = std::make_unique<ModelProject>();
  FRZ_ASSIGN_OR_RETURN(out->project, transform::LoadProject(dir));
  FRZ_ASSIGN_OR_RETURN(auto c, transform::Compiler::Make(out->project, std::move(options)));
  out->compiler.emplace(std::move(c));
  return out;
}

std::string ConfiguredModelsDir(const Warehouse& w) { return w.config().models_project; }

std::string DataVersion(const iceberg::TableMetadata& md) {
  const iceberg::Snapshot* s = md.current_snapshot();
  while (s != nullptr && s->operation() == "replace") {
    s = s->parent_snapshot_id ? md.snapshot_by_id(*s->parent_snapshot_id) : nullptr;
  }
  return s ? std::to_string(s->snapshot_id) : "0";
}

Result<std::map<std::string, std::vector<int64_t>>> ModelReadPositions(Warehouse& w) {
  std::map<std::string, std::vector<int64_t>> out;
  FRZ_ASSIGN_OR_RETURN(auto tables, AllTables(w.catalog()));
  const std::string prefix = transform::kSummaryReadPrefix;
  for (const auto& id : tables) {
    auto loaded = w.catalog().LoadTable(id);
    if (!loaded) continue;  // dropped meanwhile
    const auto& md = loaded->metadata;
    // The newest model commit on main (later maintenance commits carry its keys too).
    for (const iceberg::Snapshot* s = md.current_snapshot(); s != nullptr;
         s = s->parent_snapshot_id ? md.snapshot_by_id(*s->parent_snapshot_id) : nullptr) {
      if (!s->summary.count(transform::kSummaryModel)) continue;
      for (const auto& [k, v] : s->summary) {
        if (!k.starts_with(prefix) || v == "none") continue;
        try {
          out[k.substr(prefix.size())].push_back(std::stoll(v));
        } catch (const std::exception&) {
        }
      }
      break;
    }
  }
  return out;
}

Result<orchestrator::AssetGraph> BuildAssetGraph(Warehouse& w, const ModelProject* project) {
  const auto& cfg = w.config().orchestrator;
  std::map<std::string, Asset> assets;
  FRZ_ASSIGN_OR_RETURN(auto tables, AllTables(w.catalog()));
  for (const auto& t : tables) {
    Asset a;
    a.key = t.ToString();
    a.kind = AssetKind::kSource;
    a.group = catalog::NamespaceToString(t.ns);
    assets[a.key] = std::move(a);
  }
  if (project && project->compiler) {
    const auto& nodes = project->compiler->nodes();
    for (const auto& key : project->compiler->order()) {
      const auto& n = nodes.at(key);
      if (n.kind != transform::NodeKind::kModel) continue;
      if (n.config.materialized == "view" || n.config.materialized == "ephemeral") continue;
      Asset a;
      a.key = n.table.ToString();
      a.kind = AssetKind::kModel;
      a.group = n.model ? std::filesystem::path(n.model->path).parent_path().string() : "";
      a.description = n.name;
      std::set<catalog::TableIdentifier> read;
      TablesRead(nodes, key, read);
      std::set<std::string> deps;
      for (const auto& t : read) deps.insert(t.ToString());
      a.deps.assign(deps.begin(), deps.end());
      a.policy.debounce_ms = cfg.debounce_ms;
      a.policy.max_delay_ms = cfg.max_delay_ms;
      a.policy.min_interval_ms = cfg.min_interval_ms;
      a.policy.freshness_target_ms = cfg.freshness_target_ms;
      for (const auto& p : cfg.assets) {
        if (!Matches(p.match, a.key) && !Matches(p.match, n.name) && !Matches(p.match, a.group)) continue;
        if (p.automatic >= 0) a.policy.automatic = p.automatic == 1;
        if (p.debounce_ms >= 0) a.policy.debounce_ms = p.debounce_ms;
        if (p.max_delay_ms >= 0) a.policy.max_delay_ms = p.max_delay_ms;
        if (p.min_interval_ms >= 0) a.policy.min_interval_ms = p.min_interval_ms;
        if (p.freshness_target_ms >= 0) a.policy.freshness_target_ms = p.freshness_target_ms;
      }
      assets[a.key] = std::move(a);
    }
    // Inputs not in the catalog yet (a raw table CDC has not created, a seed not loaded).
    std::vector<std::string> missing;
    for (const auto& [k, a] : assets) {
      for (const auto& d : a.deps) {
        if (!assets.count(d)) missing.push_back(d);
      }
    }
    for (const auto& d : missing) {
      Asset a;
      a.key = d;
      a.kind = AssetKind::kSource;
      a.group = d.substr(0, d.rfind('.'));
      assets.emplace(d, std::move(a));
    }
  }
  std::vector<Asset> list;
  for (auto& [k, a] : assets) list.push_back(std::move(a));
  return orchestrator::AssetGraph::Make(std::move(list));
}

Result<std::map<std::string, std::string>> WarehouseObserver::Versions() {
  FRZ_ASSIGN_OR_RETURN(auto tables, AllTables(w_.catalog()));
  std::map<std::string, std::string> out;
  std::lock_guard lock(mu_);
  std::map<std::string, std::pair<std::string, std::string>> cache;
  for (const auto& id : tables) {
    auto loaded = w_.catalog().LoadTable(id);
    if (!loaded) {
      if (loaded.error().kind == ErrorKind::kNoSuchTable) continue;  // dropped meanwhile
      return std::unexpected(loaded.error());
    }
    const std::string key = id.ToString();
    auto it = cache_.find(key);
    std::string version = it != cache_.end() && it->second.first == loaded->metadata_location ? it->second.second
                                                                                               : DataVersion(loaded->metadata);
    cache[key] = {loaded->metadata_location, version};
    out[key] = std::move(version);
  }
  cache_ = std::move(cache);
  return out;
}

Status WarehouseExecutor::Execute(const Job& job, RunContext& ctx) {
  if (job.task == orchestrator::kMaterializeJob) return Materialize(job, ctx);
  return Maintain(job, ctx);
}

Status WarehouseExecutor::Materialize(const Job& job, RunContext& ctx) {
  if (models_dir_.empty()) {
    return MakeError(ErrorKind::kInvalidArgument, "no models project is configured (models.project in frazil.yaml)");
  }
  std::lock_guard lock(models_mu_);
  transform::CompileOptions copts;
  copts.env = ProcessEnvironment("");
  copts.full_refresh = BoolParam(job, "full_refresh");
  // Loaded per run: edits to the project's SQL take effect at the next run.
  FRZ_ASSIGN_OR_RETURN(auto project, LoadModelProject(models_dir_, std::move(copts)));
  auto& compiler = *project->compiler;
  std::map<std::string, std::string> name_of;  // table key -> model name
  for (const auto& [key, n] : compiler.nodes()) {
    if (n.kind == transform::NodeKind::kModel) name_of[n.table.ToString()] = n.name;
  }
  transform::RunOptions o;
  for (const auto& a : job.assets) {
    auto it = name_of.find(a);
    if (it == name_of.end()) {
      ctx.AssetFailed(a, "no model writes " + a + " any more (the project changed)");
      continue;
    }
    o.select.push_back(it->second);
  }
  if (o.select.empty()) return MakeError(ErrorKind::kInvalidArgument, "nothing to materialize");
  // View models are not assets (they have no table), but something must define them, as
  // `frazil models run` does: a run also (re)defines every view that reads one of its models
  // (directly or through other views and ephemerals), and every view not defined yet. Cheap
  // (a plan, no rows), and edits to a view's SQL take effect with its inputs' next run.
  std::set<std::string> selected_tables(job.assets.begin(), job.assets.end());
  FRZ_ASSIGN_OR_RETURN(auto adapter, WarehouseAdapter::Make(w_));
  std::set<std::string> defined;
  if (auto views = adapter->store().ListViews()) {
    for (const auto& v : *views) defined.insert(v.id.ToString());
  }
  std::set<std::string> view_keys;
  {
    const auto& nodes = compiler.nodes();
    for (const auto& key : compiler.order()) {
      const auto& n = nodes.at(key);
      if (n.kind != transform::NodeKind::kModel || n.config.materialized != "view") continue;
      std::set<catalog::TableIdentifier> in;
      TablesRead(nodes, key, in);
      bool reads_selected = false, ready = true;
      for (const auto& t : in) {
        bool selected = selected_tables.count(t.ToString()) > 0;
        reads_selected = reads_selected || selected;
        // A view over a table that does not exist yet cannot be defined (nor read).
        ready = ready && (selected || w_.catalog().LoadTable(t).has_value());
      }
      if (ready && (reads_selected || !defined.count(n.table.ToString()))) {
        o.select.push_back(n.name);
        view_keys.insert(n.table.ToString());
      }
    }
  }
  o.run_id = "run-" + std::to_string(ctx.run().id);
  o.cancel = &ctx.cancel_flag();
  o.progress = [&](const transform::NodeResult& r, size_t i, size_t total, bool done) {
    if (!done) return;
    ctx.Log(r.status == "success" ? LogLevel::kInfo : LogLevel::kWarn,
            std::to_string(i + 1) + "/" + std::to_string(total) + " " + r.status + " " + r.relation + " (" +
                std::to_string(r.rows) + " rows in, " + std::to_string(r.rows_deleted) + " out, " +
                std::to_string(r.seconds).substr(0, 5) + " s)" + (r.message.empty() ? "" : ": " + r.message));
  };
  (void)adapter->store().BeginRun(o.run_id, "orchestrator " + ctx.run().trigger, w_.clock().NowMillis());
  FRZ_ASSIGN_OR_RETURN(auto report, transform::RunModels(compiler, *adapter, o));
  if (BoolParam(job, "test") && report.ok()) {
    FRZ_ASSIGN_OR_RETURN(auto tests, transform::RunTests(compiler, *adapter, o));
    for (auto& r : tests.results) report.results.push_back(std::move(r));
    report.errors += tests.errors;
  }
  int errors = 0;
  for (const auto& r : report.results) {
    (void)adapter->store().AddResult(o.run_id, r);
    if (r.kind != "model") {
      if (r.status == "fail" || r.status == "error") ++errors;
      continue;
    }
    if (view_keys.count(r.relation)) {
      // Not an asset of the run: a failure fails the run (and is logged), nothing else.
      if (r.status != "success" && r.message != "canceled") {
        ctx.Log(LogLevel::kError, "view " + r.relation + " failed: " + r.message);
        ++errors;
      }
      continue;
    }
    if (r.status == "success") {
      ctx.AssetSucceeded(r.relation);
    } else if (r.message != "canceled") {
      ctx.AssetFailed(r.relation, r.message);
      ++errors;
    }
  }
  (void)adapter->store().FinishRun(o.run_id, errors ? "error" : "success", w_.clock().NowMillis());
  // Merges (hubs, links) add a position-delete file per data file they touch on every run:
  // left alone, reads and later merges slow down run after run. Compact such a table here,
  // in the run that holds it, once it has enough small files or delete files.
  const auto& cfg = w_.config().orchestrator;
  for (const auto& r : report.results) {
    if (r.kind != "model" || r.status != "success" || r.materialized != "incremental" || ctx.cancelled()) continue;
    if (cfg.compact_models_delete_files <= 0) break;
    auto id = catalog::TableIdentifier::Parse(r.relation);
    if (!id) continue;
    auto table = w_.catalog().LoadTable(*id);
    if (!table || !table->metadata.current_snapshot()) continue;
    const auto& summary = table->metadata.current_snapshot()->summary;
    auto total = [&](const char* key) -> int64_t {
      auto it = summary.find(key);
      try {
        return it == summary.end() ? 0 : std::stoll(it->second);
      } catch (const std::exception&) {
        return 0;
      }
    };
    const int64_t deletes = total("total-delete-files"), files = total("total-data-files");
    if (deletes < cfg.compact_models_delete_files && files < cfg.compact_models_data_files) continue;
    auto c = maintenance::CompactTable(w_.catalog(), w_.io(), w_.db(), w_.clock(), *id, {});
    if (c) {
      ctx.Log(LogLevel::kInfo, "compacted " + r.relation + ": " + std::to_string(files) + " data and " +
                                   std::to_string(deletes) + " delete file(s) -> " + std::to_string(c->data_after.files) +
                                   " and " + std::to_string(c->deletes_after.files));
    } else {
      ctx.Log(LogLevel::kWarn, "compacting " + r.relation + " failed (the model's result stands): " + c.error().message);
    }
  }
  if (ctx.cancelled()) return MakeError(ErrorKind::kInternal, "canceled");
  if (errors) return MakeError(ErrorKind::kInternal, std::to_string(errors) + " node(s) failed (see the run's log)");
  return Ok();
}

Status WarehouseExecutor::Maintain(const Job& job, RunContext& ctx) {
  const std::string& task = job.task;
  if (std::find(KnownTasks().begin(), KnownTasks().end(), task) == KnownTasks().end()) {
    return MakeError(ErrorKind::kInvalidArgument, "unknown task '" + task + "'");
  }
  if (task == "cleanup") {
    FRZ_ASSIGN_OR_RETURN(int64_t window, ParseDurationMs(Param(job, "older_than", "1d"), "older_than"));
    const int64_t cutoff = w_.clock().NowMillis() - window;
    int removed = 0;
    // DuckDB spill files a killed process left behind (the live ones are younger).
    std::error_code ec;
    const auto tmp = std::filesystem::path(w_.local_root()) / ".frazil" / "tmp";
    for (std::filesystem::directory_iterator it(tmp, ec), end; it != end && !ec; it.increment(ec)) {
      auto mtime = std::filesystem::last_write_time(it->path(), ec);
      if (ec) continue;
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::file_clock::to_sys(mtime).time_since_epoch())
                    .count();
      if (ms < cutoff && std::filesystem::remove_all(it->path(), ec) > 0) ++removed;
    }
    ctx.Log(LogLevel::kInfo, "removed " + std::to_string(removed) + " stale temporary file(s) from " + tmp.string());
    // Run history past orchestrator.run_retention.
    FRZ_ASSIGN_OR_RETURN(auto store, orchestrator::SqliteRunStore::Open(orchestrator::SqliteRunStore::PathIn(w_.local_root())));
    FRZ_ASSIGN_OR_RETURN(int64_t pruned, store->Prune(w_.clock().NowMillis() - w_.config().orchestrator.run_retention_ms));
    ctx.Log(LogLevel::kInfo, "pruned " + std::to_string(pruned) + " finished run(s) older than the run retention");
    return Ok();
  }
  std::vector<std::string> patterns = job.assets;
  for (const auto& p : SplitList(Param(job, "tables"))) patterns.push_back(p);
  FRZ_ASSIGN_OR_RETURN(auto tables, ExpandTables(w_, patterns));
  std::map<std::string, std::vector<int64_t>> reads;
  if (task == "expire-snapshots") {
    FRZ_ASSIGN_OR_RETURN(reads, ModelReadPositions(w_));
  }
  int failures = 0;
  for (const auto& id : tables) {
    if (ctx.cancelled()) return MakeError(ErrorKind::kInternal, "canceled");
    const std::string key = id.ToString();
    Status s = Ok();
    if (task == "compact" || task == "rewrite-manifests") {
      // Both commit a new snapshot. `frazil run` applies changes to a mirror table on top of
      // the snapshot it last committed and stops when another writer moved it ("changed by
      // another writer ... restart frazil"); it keeps its mirrors compact itself.
      auto loaded = w_.catalog().LoadTable(id);
      if (loaded && loaded->metadata.properties.count(cdc::kMirrorOfProperty)) {
        ctx.Log(LogLevel::kInfo, key + ": skipped (a mirror table: frazil run keeps it compact as it applies changes)");
        continue;
      }
    }
    if (task == "compact") {
      maintenance::CompactOptions o;
      auto target = SizeParam(job, "target_file_size");
      auto threshold = SizeParam(job, "file_size_threshold");
      if (!target) return std::unexpected(target.error());
      if (!threshold) return std::unexpected(threshold.error());
      o.target_file_size_bytes = *target;
      if (*threshold) o.file_size_threshold_bytes = **threshold;
      if (!Param(job, "delete_file_threshold").empty()) o.delete_file_threshold = std::stoi(Param(job, "delete_file_threshold"));
      auto r = maintenance::CompactTable(w_.catalog(), w_.io(), w_.db(), w_.clock(), id, o);
      if (r) {
        if (r->snapshot_id) {
          ctx.Log(LogLevel::kInfo, key + ": " + std::to_string(r->rewritten.files) + " data file(s) and " +
                                       std::to_string(r->removed_deletes.files) + " delete file(s) -> " +
                                       std::to_string(r->written.files) + " (" + Mb(r->written.bytes) + ", " +
                                       std::to_string(r->live_rows) + " rows); now " + std::to_string(r->data_after.files) +
                                       " data file(s)");
        }
        ctx.AssetSucceeded(key);
      } else {
        s = std::unexpected(r.error());
      }
    } else if (task == "expire-snapshots") {
      maintenance::ExpireOptions o;
      if (!Param(job, "older_than").empty()) {
        FRZ_ASSIGN_OR_RETURN(o.older_than_ms, maintenance::ParseCutoff(Param(job, "older_than"), w_.clock().NowMillis()));
      }
      if (!Param(job, "retain_last").empty()) o.retain_last = std::stoi(Param(job, "retain_last"));
      if (auto it = reads.find(key); it != reads.end()) o.retain_from_snapshot_ids = it->second;
      auto r = maintenance::ExpireSnapshots(w_.catalog(), w_.io(), w_.clock(), id, o);
      if (r) {
        if (!r->expired_snapshot_ids.empty()) {
          ctx.Log(LogLevel::kInfo, key + ": expired " + std::to_string(r->expired_snapshot_ids.size()) + " snapshot(s), deleted " +
                                       std::to_string(r->files.size() - r->Failed()) + " file(s) (" + Mb(r->Bytes()) + ")");
        }
        ctx.AssetSucceeded(key);
      } else {
        s = std::unexpected(r.error());
      }
    } else if (task == "remove-orphans") {
      maintenance::OrphanOptions o;
      const int64_t now = w_.clock().NowMillis();
      if (!Param(job, "older_than").empty()) {
        FRZ_ASSIGN_OR_RETURN(o.older_than_ms, maintenance::ParseCutoff(Param(job, "older_than"), now));
      }
      // frazil's own writers hold the catalog's write lease from their first file to the end
      // of their commit, so their in-flight files are safe whatever the window. Writers
      // frazil does not control (Spark, PyIceberg) are protected only by the window: the
      // param safety_window (default 0s) sets a floor for jobs on tables they write.
      FRZ_ASSIGN_OR_RETURN(int64_t safety, ParseDurationMs(Param(job, "safety_window", "0s"), "safety_window"));
      if (safety > 0 && o.older_than_ms && *o.older_than_ms > now - safety) o.older_than_ms = now - safety;
      auto r = maintenance::RemoveOrphanFiles(w_.catalog(), w_.io(), w_.clock(), id, o);
      if (r) {
        if (!r->orphans.empty()) {
          ctx.Log(LogLevel::kInfo, key + ": removed " + std::to_string(r->orphans.size() - r->Failed()) + " orphan file(s) (" +
                                       Mb(r->Bytes()) + ")");
        }
        ctx.AssetSucceeded(key);
      } else {
        s = std::unexpected(r.error());
      }
    } else if (task == "rewrite-manifests") {
      maintenance::RewriteManifestsOptions o;
      auto target = SizeParam(job, "target_manifest_size");
      if (!target) return std::unexpected(target.error());
      o.target_manifest_size_bytes = *target;
      auto r = maintenance::RewriteManifests(w_.catalog(), w_.io(), w_.clock(), id, o);
      if (r) {
        if (r->snapshot_id) {
          ctx.Log(LogLevel::kInfo, key + ": " + std::to_string(r->manifests_before) + " manifest(s) -> " +
                                       std::to_string(r->manifests_after));
        }
        ctx.AssetSucceeded(key);
      } else {
        s = std::unexpected(r.error());
      }
    } else if (task == "drop-stats") {
      auto r = maintenance::DropExtendedStats(w_.catalog(), w_.io(), id, {});
      if (r) {
        if (!r->entries.empty() || !r->removed_properties.empty()) {
          ctx.Log(LogLevel::kInfo, key + ": dropped " + std::to_string(r->entries.size()) + " statistics file(s) and " +
                                       std::to_string(r->removed_properties.size()) + " property(ies)");
        }
        ctx.AssetSucceeded(key);
      } else {
        s = std::unexpected(r.error());
      }
    }
    if (!s) {
      if (s.error().kind == ErrorKind::kNoSuchTable) continue;  // dropped meanwhile
      ctx.AssetFailed(key, s.error().message);
      ++failures;
    }
  }
  ctx.Log(LogLevel::kInfo, task + " on " + std::to_string(tables.size()) + " table(s), " + std::to_string(failures) + " failed");
  if (failures) return MakeError(ErrorKind::kInternal, task + " failed on " + std::to_string(failures) + " table(s)");
  return Ok();
}

Result<std::unique_ptr<Orchestration>> MakeOrchestration(Warehouse& w, const Clock& clock,
                                                         orchestrator::OrchestratorOptions options) {
  const auto& cfg = w.config().orchestrator;
  auto o = std::make_unique<Orchestration>();
  std::string dir = ConfiguredModelsDir(w);
  if (!dir.empty()) {
    transform::CompileOptions copts;
    copts.env = ProcessEnvironment("");
    FRZ_ASSIGN_OR_RETURN(o->project, LoadModelProject(dir, std::move(copts)));
  }
  FRZ_ASSIGN_OR_RETURN(auto graph, BuildAssetGraph(w, o->project.get()));
  std::vector<Job> jobs;
  for (const auto& j : cfg.jobs) {
    if (std::find(KnownTasks().begin(), KnownTasks().end(), j.task) == KnownTasks().end()) {
      std::string known;
      for (const auto& t : KnownTasks()) known += (known.empty() ? "" : ", ") + t;
      return MakeError(ErrorKind::kInvalidArgument, "job " + j.name + ": unknown task '" + j.task + "' (" + known + ")");
    }
    Job job;
    job.name = j.name;
    job.task = j.task;
    job.params = j.params;
    job.max_attempts = j.max_attempts > 0 ? j.max_attempts : cfg.max_attempts;
    job.timeout_ms = j.timeout_ms;
    job.description = j.description;
    if (j.task == orchestrator::kMaterializeJob) {
      // Patterns select models (by table key, model name or folder).
      for (const auto& a : graph.assets()) {
        if (a.kind != AssetKind::kModel) continue;
        for (const auto& p : j.assets) {
          if (Matches(p, a.key) || Matches(p, a.description) || Matches(p, a.group)) {
            job.assets.push_back(a.key);
            break;
          }
        }
      }
      if (!j.assets.empty() && job.assets.empty()) {
        return MakeError(ErrorKind::kInvalidArgument, "job " + j.name + ": no model matches " + j.assets.front());
      }
    } else {
      // Table patterns: expanded again when the job runs (tables come and go); the tables
      // known now are the run's assets, so it never runs beside a run writing one of them
      // (a run without assets would wait for every other run).
      std::string tables;
      for (const auto& p : j.assets) tables += (tables.empty() ? "" : ",") + p;
      if (tables.empty() && j.task != "cleanup") tables = "*";  // every table
      if (!tables.empty()) job.params["tables"] = tables;
      for (const auto& a : graph.assets()) {
        for (const auto& p : j.assets.empty() && j.task != "cleanup" ? std::vector<std::string>{"*"} : j.assets) {
          if (Matches(p, a.key)) {
            job.assets.push_back(a.key);
            break;
          }
        }
      }
    }
    jobs.push_back(std::move(job));
  }
  std::vector<orchestrator::Schedule> schedules;
  for (const auto& s : cfg.schedules) schedules.push_back({s.name, s.cron, s.time_zone, s.job, s.enabled});
  FRZ_ASSIGN_OR_RETURN(o->store, orchestrator::SqliteRunStore::Open(orchestrator::SqliteRunStore::PathIn(w.local_root())));
  o->observer = std::make_unique<WarehouseObserver>(w);
  o->executor = std::make_unique<WarehouseExecutor>(w, dir);
  options.max_concurrent_runs = cfg.max_concurrent_runs;
  options.poll_interval_ms = cfg.poll_interval_ms;
  options.retry_backoff_ms = cfg.retry_backoff_ms;
  options.sensor_max_attempts = cfg.max_attempts;
  FRZ_ASSIGN_OR_RETURN(o->orchestrator, orchestrator::Orchestrator::Make(std::move(graph), std::move(jobs), std::move(schedules),
                                                                         *o->store, *o->executor, *o->observer, clock,
                                                                         std::move(options)));
  return o;
}

}  // namespace frazil::app
