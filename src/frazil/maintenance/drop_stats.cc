#include "frazil/maintenance/drop_stats.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "frazil/base/log.h"
#include "frazil/iceberg/table_update.h"

namespace frazil::maintenance {
namespace {

struct Plan {
  std::vector<DroppedStatistics> entries;
  std::vector<std::string> properties;
  std::vector<iceberg::TableUpdate> updates;
};

Plan MakePlan(const iceberg::TableMetadata& m) {
  Plan p;
  for (bool partition : {false, true}) {
    std::set<int64_t> snapshots;
    for (const nlohmann::json& s : partition ? m.partition_statistics : m.statistics) {
      DroppedStatistics d;
      d.partition_statistics = partition;
      if (s.contains("snapshot-id") && s["snapshot-id"].is_number_integer()) d.snapshot_id = s["snapshot-id"].get<int64_t>();
      d.file.kind = FileKind::kStatistics;
      if (s.contains("statistics-path") && s["statistics-path"].is_string()) d.file.location = s["statistics-path"].get<std::string>();
      for (const char* key : {"file-size-in-bytes", "file-size"}) {
        if (s.contains(key) && s[key].is_number_integer()) d.file.size = s[key].get<int64_t>();
      }
      snapshots.insert(d.snapshot_id);
      p.entries.push_back(std::move(d));
    }
    for (int64_t id : snapshots) {
      if (partition) p.updates.push_back(iceberg::upd::RemovePartitionStatistics{id});
      else p.updates.push_back(iceberg::upd::RemoveStatistics{id});
    }
  }
  for (const auto& [key, value] : m.properties) {
    if (key.starts_with(kTrinoNdvPropertyPrefix)) p.properties.push_back(key);
  }
  if (!p.properties.empty()) p.updates.push_back(iceberg::upd::RemoveProperties{p.properties});
  return p;
}

}  // namespace

int64_t DropStatsResult::Bytes() const {
  int64_t n = 0;
  for (const auto& e : entries) n += std::max<int64_t>(e.file.size, 0);
  return n;
}

int64_t DropStatsResult::Failed() const {
  return std::count_if(entries.begin(), entries.end(), [](const DroppedStatistics& e) { return !e.error.empty(); });
}

Result<DropStatsResult> DropExtendedStats(catalog::Catalog& catalog, io::FileIO& io,
                                          const catalog::TableIdentifier& id, const DropStatsOptions& options) {
  DropStatsResult result;
  result.dry_run = options.dry_run;
  for (int attempt = 1;; ++attempt) {
    FRZ_ASSIGN_OR_RETURN(catalog::LoadedTable table, catalog.LoadTable(id));
    Plan plan = MakePlan(table.metadata);
    result.entries = plan.entries;
    result.removed_properties = plan.properties;
    if (plan.updates.empty() || options.dry_run) return result;

    if (options.before_commit) options.before_commit();
    result.attempts = attempt;
    auto committed = catalog.CommitTable(id, {iceberg::req::AssertTableUuid{table.metadata.table_uuid}}, plan.updates);
    if (!committed) {
      const Error& e = committed.error();
      if (e.kind == ErrorKind::kCommitFailed && attempt < options.max_attempts) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10 * attempt));
        continue;
      }
      if (e.kind == ErrorKind::kCommitStateUnknown) {
        return MakeError(e.kind, e.message + " (drop-stats deleted no file; run it again to finish)");
      }
      return std::unexpected(e);
    }

    // Delete only what the committed metadata no longer names (a concurrent writer may
    // have set the same file again).
    FileSet still;
    AddStatisticsFiles(committed->metadata, nullptr, &still);
    std::set<std::string> done;
    for (DroppedStatistics& d : result.entries) {
      if (d.file.location.empty()) continue;
      const std::string key = NormalizeLocation(d.file.location);
      if (still.contains(key) || !done.insert(key).second) continue;
      if (Status s = io.Delete(d.file.location); s) {
        d.deleted = true;
      } else {
        d.error = s.error().message;
        Log(LogLevel::kWarn, "drop-stats: could not delete a statistics file",
            {{"file", d.file.location}, {"error", d.error}});
      }
    }
    return result;
  }
}

}  // namespace frazil::maintenance
