#include "frazil/maintenance/rewrite_manifests.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "frazil/base/log.h"
#include "frazil/base/random.h"
#include "frazil/iceberg/scan.h"
#include "frazil/iceberg/snapshot_producer.h"
#include "frazil/maintenance/compact.h"

namespace frazil::maintenance {
namespace {

using iceberg::ManifestContent;
using iceberg::ManifestEntry;
using iceberg::ManifestFile;

// The schema a spec's partition type is computed over: the current one, unless a source
// column was dropped from it (as ReadManifestEntries decides).
const iceberg::Schema* SchemaFor(const iceberg::TableMetadata& m, const iceberg::PartitionSpec& spec) {
  const iceberg::Schema* schema = m.current_schema();
  for (const auto& s : m.schemas) {
    bool has_all = true;
    for (const auto& pf : spec.fields) has_all = has_all && s.FindField(pf.source_id) != nullptr;
    if (has_all) {
      schema = &s;
      if (s.schema_id() == m.current_schema_id) break;
    }
  }
  return schema;
}

// Orders partition tuples: nulls first, then by value.
bool PartitionLess(const std::vector<iceberg::Datum>& a, const std::vector<iceberg::Datum>& b) {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const bool an = iceberg::IsNull(a[i]), bn = iceberg::IsNull(b[i]);
    if (an != bn) return an;
    if (an) continue;
    if (a[i].index() != b[i].index()) return a[i].index() < b[i].index();
    int c = iceberg::CompareDatum(a[i], b[i]);
    if (c != 0) return c < 0;
  }
  return a.size() < b.size();
}

struct GroupPlan {
  ManifestGroup report;
  std::vector<ManifestFile> manifests;
};

std::vector<GroupPlan> PlanGroups(const std::vector<ManifestFile>& manifests, int64_t target, bool force) {
  std::map<std::pair<int, int>, GroupPlan> by_key;
  std::set<std::pair<int, int>> with_empty;  // holding a manifest with no live file (only DELETED entries)
  for (const auto& mf : manifests) {
    if (mf.added_files_count + mf.existing_files_count == 0) {
      with_empty.insert({static_cast<int>(mf.content), mf.partition_spec_id});
    }
    GroupPlan& g = by_key[{static_cast<int>(mf.content), mf.partition_spec_id}];
    g.report.content = mf.content;
    g.report.spec_id = mf.partition_spec_id;
    g.report.manifests_before++;
    g.report.bytes_before += mf.manifest_length;
    g.manifests.push_back(mf);
  }
  std::vector<GroupPlan> out;
  for (auto& [key, g] : by_key) {
    int64_t estimate = std::max<int64_t>(1, (g.report.bytes_before + target - 1) / target);
    g.report.rewritten = force || estimate < g.report.manifests_before || with_empty.contains(key);
    g.report.manifests_after = g.report.rewritten ? static_cast<int>(estimate) : g.report.manifests_before;
    if (!g.report.rewritten) g.report.bytes_after = g.report.bytes_before;
    out.push_back(std::move(g));
  }
  return out;
}

Result<ManifestFile> WriteOneManifest(const iceberg::TableMetadata& m, io::FileIO& io, const GroupPlan& g,
                                      const std::vector<ManifestEntry>& entries, int64_t snapshot_id,
                                      int64_t sequence_number, std::vector<std::string>* written) {
  const iceberg::PartitionSpec* spec = m.spec_by_id(g.report.spec_id);
  if (spec == nullptr) {
    return MakeError(ErrorKind::kCorrupt, "manifest of unknown partition spec " + std::to_string(g.report.spec_id));
  }
  const iceberg::Schema* schema = SchemaFor(m, *spec);
  if (schema == nullptr) return MakeError(ErrorKind::kCorrupt, "table metadata has no current schema");
  iceberg::ManifestContext ctx{m.format_version, *schema, *spec, g.report.content};
  FRZ_ASSIGN_OR_RETURN(std::string bytes, iceberg::WriteManifest(ctx, entries));
  std::string path = io::JoinLocation(iceberg::MetadataDir(m), NewUuid() + "-m0.avro");
  FRZ_RETURN_IF_ERROR(io.WriteNew(path, bytes));
  written->push_back(path);
  ManifestFile mf;
  mf.manifest_path = path;
  mf.manifest_length = static_cast<int64_t>(bytes.size());
  mf.partition_spec_id = g.report.spec_id;
  mf.content = g.report.content;
  mf.sequence_number = sequence_number;
  mf.added_snapshot_id = snapshot_id;
  mf.min_sequence_number = sequence_number;
  for (const auto& e : entries) {
    mf.existing_files_count++;
    mf.existing_rows_count += e.data_file.record_count;
    if (e.sequence_number) mf.min_sequence_number = std::min(mf.min_sequence_number, *e.sequence_number);
  }
  FRZ_ASSIGN_OR_RETURN(mf.partitions, iceberg::SummarizePartitions(*spec, *schema, entries));
  return mf;
}

struct Produced {
  iceberg::Snapshot snapshot;
  std::vector<std::string> written;
  int manifests = 0;
};

// Writes the new manifests and manifest list on top of `head`. On error, what it wrote is
// in `out->written` for the caller to delete.
Status Produce(const iceberg::TableMetadata& m, io::FileIO& io, const iceberg::Snapshot& head,
               std::vector<GroupPlan>* groups, int64_t target,
               int64_t now_ms, Produced* out) {
  iceberg::Snapshot& snap = out->snapshot;
  snap.snapshot_id = NewPositiveId();
  while (m.snapshot_by_id(snap.snapshot_id) != nullptr) snap.snapshot_id = NewPositiveId();
  snap.parent_snapshot_id = head.snapshot_id;
  snap.sequence_number = m.last_sequence_number + 1;
  snap.timestamp_ms = std::max(now_ms, head.timestamp_ms);
  snap.schema_id = m.current_schema_id;

  std::vector<ManifestFile> created, kept;
  int64_t entries_processed = 0, replaced = 0;
  for (GroupPlan& g : *groups) {
    if (!g.report.rewritten) {
      kept.insert(kept.end(), g.manifests.begin(), g.manifests.end());
      continue;
    }
    std::vector<ManifestEntry> entries;
    for (const ManifestFile& mf : g.manifests) {
      FRZ_ASSIGN_OR_RETURN(auto part, iceberg::ReadManifestEntries(m, mf, io));
      for (auto& e : part) {
        if (e.status == iceberg::EntryStatus::kDeleted) continue;
        // Inheritance filled in the ids and sequence numbers of ADDED entries; written
        // explicitly they stay what they were (a data sequence number never changes).
        e.status = iceberg::EntryStatus::kExisting;
        entries.push_back(std::move(e));
      }
    }
    replaced += g.report.manifests_before;
    entries_processed += static_cast<int64_t>(entries.size());
    std::stable_sort(entries.begin(), entries.end(), [](const ManifestEntry& a, const ManifestEntry& b) {
      return PartitionLess(a.data_file.partition, b.data_file.partition);
    });
    // As many manifests as the input bytes need at the target size (live entries only,
    // so usually fewer bytes than that), entries split evenly.
    const int64_t chunks = std::clamp<int64_t>((g.report.bytes_before + target - 1) / target, 1,
                                               std::max<int64_t>(1, static_cast<int64_t>(entries.size())));
    g.report.entries = static_cast<int64_t>(entries.size());
    g.report.manifests_after = 0;
    g.report.bytes_after = 0;
    if (entries.empty()) continue;  // nothing live: the manifests just go
    for (int64_t c = 0; c < chunks; ++c) {
      size_t begin = entries.size() * c / chunks, end = entries.size() * (c + 1) / chunks;
      std::vector<ManifestEntry> chunk(entries.begin() + begin, entries.begin() + end);
      FRZ_ASSIGN_OR_RETURN(ManifestFile mf,
                           WriteOneManifest(m, io, g, chunk, snap.snapshot_id, snap.sequence_number, &out->written));
      g.report.manifests_after++;
      g.report.bytes_after += mf.manifest_length;
      created.push_back(std::move(mf));
    }
  }
  std::vector<ManifestFile> all = created;
  all.insert(all.end(), kept.begin(), kept.end());
  out->manifests = static_cast<int>(all.size());

  snap.summary = CarriedSummary(&head, "rewrite-manifests");
  for (const auto& [k, v] : head.summary) {
    if (k.starts_with("total-")) snap.summary[k] = v;  // no file changes: the totals stay
  }
  snap.summary["operation"] = "replace";
  snap.summary["manifests-created"] = std::to_string(created.size());
  snap.summary["manifests-kept"] = std::to_string(kept.size());
  snap.summary["manifests-replaced"] = std::to_string(replaced);
  snap.summary["entries-processed"] = std::to_string(entries_processed);
  snap.summary["changed-partition-count"] = "0";

  FRZ_ASSIGN_OR_RETURN(std::string list, iceberg::WriteManifestList(m.format_version, snap.snapshot_id,
                                                                     snap.parent_snapshot_id, snap.sequence_number, all));
  std::string list_path = io::JoinLocation(iceberg::MetadataDir(m), "snap-" + std::to_string(snap.snapshot_id) + "-1-" +
                                                                        NewUuid() + ".avro");
  FRZ_RETURN_IF_ERROR(io.WriteNew(list_path, list));
  out->written.push_back(list_path);
  snap.manifest_list = list_path;
  return Ok();
}

}  // namespace

Result<RewriteManifestsResult> RewriteManifests(catalog::Catalog& catalog, io::FileIO& io, const Clock& clock,
                                                const catalog::TableIdentifier& id,
                                                const RewriteManifestsOptions& options) {
  RewriteManifestsResult result;
  result.dry_run = options.dry_run;
  FRZ_ASSIGN_OR_RETURN(auto lease, catalog.AcquireWriteLease(false));  // our files stay ours until the commit ends
  for (int attempt = 1;; ++attempt) {
    FRZ_ASSIGN_OR_RETURN(catalog::LoadedTable table, catalog.LoadTable(id));
    const iceberg::TableMetadata& m = table.metadata;
    if (m.format_version >= 3) {
      return MakeError(ErrorKind::kUnsupported, "rewrite-manifests does not support format version 3 tables yet (" +
                                                    id.ToString() + ")");
    }
    const int64_t target = options.target_manifest_size_bytes.value_or(
        m.PropertyInt(kManifestTargetSizeProperty, kDefaultManifestTargetSize));
    if (target <= 0) return MakeError(ErrorKind::kInvalidArgument, "target manifest size must be positive");
    result.target_manifest_size_bytes = target;
    const iceberg::Snapshot* head = m.snapshot_for_ref(iceberg::kMainBranch);
    if (head == nullptr) return result;
    FRZ_ASSIGN_OR_RETURN(auto manifests, iceberg::ReadSnapshotManifests(*head, io));
    std::vector<GroupPlan> groups = PlanGroups(manifests, target, options.force);
    result.manifests_before = static_cast<int>(manifests.size());
    result.manifests_after = result.manifests_before;
    result.groups.clear();
    const bool any = std::any_of(groups.begin(), groups.end(), [](const GroupPlan& g) { return g.report.rewritten; });
    if (!any || options.dry_run) {
      result.manifests_after = 0;
      for (const auto& g : groups) {
        result.groups.push_back(g.report);
        result.manifests_after += g.report.manifests_after;
      }
      return result;
    }

    Produced produced;
    if (Status s = Produce(m, io, *head, &groups, target, clock.NowMillis(), &produced); !s) {
      for (const auto& f : produced.written) (void)io.Delete(f);
      return MakeError(s.error().kind, "rewriting the manifests of " + id.ToString() + ": " + s.error().message);
    }
    for (const auto& g : groups) result.groups.push_back(g.report);
    result.manifests_after = produced.manifests;

    iceberg::SnapshotRef ref;
    if (auto it = m.refs.find(iceberg::kMainBranch); it != m.refs.end()) ref = it->second;
    ref.snapshot_id = produced.snapshot.snapshot_id;
    ref.is_branch = true;
    std::vector<iceberg::TableRequirement> reqs = {iceberg::req::AssertTableUuid{m.table_uuid},
                                                   iceberg::req::AssertRefSnapshotId{iceberg::kMainBranch, head->snapshot_id}};
    std::vector<iceberg::TableUpdate> updates = {iceberg::upd::AddSnapshot{produced.snapshot},
                                                 iceberg::upd::SetSnapshotRef{iceberg::kMainBranch, ref}};
    if (options.before_commit) options.before_commit();
    result.attempts = attempt;
    auto committed = catalog.CommitTable(id, reqs, updates);
    if (committed) {
      result.snapshot_id = produced.snapshot.snapshot_id;
      return result;
    }
    const Error& e = committed.error();
    if (e.kind == ErrorKind::kCommitStateUnknown) {
      return MakeError(e.kind, e.message + " (rewrite-manifests deleted no file; run it again if needed)");
    }
    for (const auto& f : produced.written) (void)io.Delete(f);
    if (e.kind != ErrorKind::kCommitFailed) return std::unexpected(e);
    if (attempt >= options.max_attempts) {
      return MakeError(ErrorKind::kCommitFailed, "rewrite-manifests " + id.ToString() + ": failed after " +
                                                     std::to_string(attempt) + " attempts: " + e.message);
    }
    Log(LogLevel::kInfo, "rewrite-manifests: a concurrent commit moved main, planning again",
        {{"table", id.ToString()}, {"attempt", std::to_string(attempt)}});
    std::this_thread::sleep_for(std::chrono::milliseconds(10 * attempt));
  }
}

}  // namespace frazil::maintenance
