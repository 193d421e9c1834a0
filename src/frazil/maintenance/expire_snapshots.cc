#include "frazil/maintenance/expire_snapshots.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <set>
#include <thread>

#include "frazil/base/log.h"
#include "frazil/iceberg/table_update.h"

namespace frazil::maintenance {
namespace {

struct Plan {
  int64_t cutoff_ms = 0;
  int retain_last = 0;
  std::set<int64_t> expired;
  std::vector<std::string> removed_refs;
  std::vector<iceberg::TableRequirement> requirements;
  std::vector<iceberg::TableUpdate> updates;
};

Result<Plan> MakePlan(const iceberg::TableMetadata& m, int64_t now_ms, const ExpireOptions& options) {
  Plan p;
  p.cutoff_ms = options.older_than_ms.value_or(now_ms - m.PropertyInt(kMaxSnapshotAgeProperty, kDefaultMaxSnapshotAgeMs));
  p.retain_last = options.retain_last.value_or(
      static_cast<int>(m.PropertyInt(kMinSnapshotsToKeepProperty, kDefaultMinSnapshotsToKeep)));
  if (p.retain_last < 1) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "retain-last must be at least 1 (the head of every branch is always kept), got " +
                         std::to_string(p.retain_last));
  }
  const int64_t default_ref_age = m.PropertyInt(kMaxRefAgeProperty, std::numeric_limits<int64_t>::max());

  std::set<int64_t> retained;
  std::set<int64_t> on_kept_history;  // snapshots some kept ref reaches
  for (const auto& [name, ref] : m.refs) {
    const iceberg::Snapshot* head = m.snapshot_by_id(ref.snapshot_id);
    if (head == nullptr) continue;  // a dangling ref protects nothing (and loses nothing)
    if (name != iceberg::kMainBranch) {
      int64_t max_age = ref.max_ref_age_ms.value_or(default_ref_age);
      if (max_age >= 0 && now_ms - head->timestamp_ms > max_age) {
        p.removed_refs.push_back(name);
        continue;
      }
    }
    retained.insert(head->snapshot_id);
    on_kept_history.insert(head->snapshot_id);
    if (!ref.is_branch) continue;
    const int min_keep = ref.min_snapshots_to_keep.value_or(p.retain_last);
    const int64_t branch_cutoff = ref.max_snapshot_age_ms ? now_ms - *ref.max_snapshot_age_ms : p.cutoff_ms;
    int kept = 0;
    bool keeping = true;
    for (const iceberg::Snapshot* s : m.Ancestors(ref.snapshot_id)) {
      on_kept_history.insert(s->snapshot_id);
      if (keeping && (kept < min_keep || s->timestamp_ms >= branch_cutoff)) {
        retained.insert(s->snapshot_id);
        ++kept;
      } else {
        keeping = false;  // everything older than the first expired ancestor goes too
      }
    }
  }
  for (const iceberg::Snapshot& s : m.snapshots) {
    if (!on_kept_history.contains(s.snapshot_id) && s.timestamp_ms >= p.cutoff_ms) retained.insert(s.snapshot_id);
  }
  // Protected read positions: the snapshot itself and main's history after it.
  if (!options.retain_from_snapshot_ids.empty()) {
    const std::set<int64_t> from(options.retain_from_snapshot_ids.begin(), options.retain_from_snapshot_ids.end());
    std::vector<int64_t> since;  // main's ancestors newer than the one being checked
    if (const iceberg::Snapshot* head = m.snapshot_for_ref(iceberg::kMainBranch)) {
      for (const iceberg::Snapshot* s : m.Ancestors(head->snapshot_id)) {
        since.push_back(s->snapshot_id);
        if (from.contains(s->snapshot_id)) retained.insert(since.begin(), since.end());
      }
    }
    for (int64_t id : from) {
      if (m.snapshot_by_id(id) != nullptr) retained.insert(id);
    }
  }
  for (const iceberg::Snapshot& s : m.snapshots) {
    if (!retained.contains(s.snapshot_id)) p.expired.insert(s.snapshot_id);
  }

  if (p.expired.empty() && p.removed_refs.empty()) return p;
  p.requirements.push_back(iceberg::req::AssertTableUuid{m.table_uuid});
  for (const auto& [name, ref] : m.refs) {
    p.requirements.push_back(iceberg::req::AssertRefSnapshotId{name, ref.snapshot_id});
  }
  for (const std::string& name : p.removed_refs) p.updates.push_back(iceberg::upd::RemoveSnapshotRef{name});
  if (!p.expired.empty()) {
    p.updates.push_back(iceberg::upd::RemoveSnapshots{std::vector<int64_t>(p.expired.begin(), p.expired.end())});
  }
  return p;
}

// The files of the expired snapshots that no snapshot of `after` reaches. Reading an expired
// snapshot's files is best effort (what cannot be read is left for remove-orphans); reading
// a retained one must succeed, or nothing is returned.
Result<std::vector<ReferencedFile>> Unreachable(const iceberg::TableMetadata& before,
                                                const iceberg::TableMetadata& after, const std::set<int64_t>& expired,
                                                io::FileIO& io) {
  FileSet reachable;
  FRZ_RETURN_IF_ERROR(AddSnapshotFiles(after, AllSnapshotIds(after), io, /*all_entries=*/false, &reachable));
  AddStatisticsFiles(after, nullptr, &reachable);

  FileSet candidates;
  for (int64_t id : expired) {
    if (Status s = AddSnapshotFiles(before, {id}, io, /*all_entries=*/true, &candidates); !s) {
      Log(LogLevel::kWarn, "cannot read an expired snapshot's files; they are left for remove-orphans",
          {{"snapshot", std::to_string(id)}, {"error", s.error().message}});
    }
  }
  AddStatisticsFiles(before, &expired, &candidates);

  std::vector<ReferencedFile> out;
  for (auto& [key, file] : candidates) {
    if (!reachable.contains(key)) out.push_back(file);
  }
  // Data first, then the metadata that pointed at it: a crash part-way leaves only files no
  // snapshot references, which remove-orphans finds.
  auto rank = [](FileKind k) {
    switch (k) {
      case FileKind::kDataFile: return 0;
      case FileKind::kDeleteFile: return 1;
      case FileKind::kStatistics: return 2;
      case FileKind::kManifest: return 3;
      case FileKind::kManifestList: return 4;
      case FileKind::kMetadata: return 5;
    }
    return 6;
  };
  std::stable_sort(out.begin(), out.end(), [&](const ReferencedFile& a, const ReferencedFile& b) {
    return rank(a.kind) < rank(b.kind);
  });
  for (ReferencedFile& f : out) {
    if (f.size < 0) {
      if (auto size = io.Size(f.location)) f.size = *size;
    }
  }
  return out;
}

void Fill(ExpireResult* r, const Plan& p, const iceberg::TableMetadata& m) {
  r->cutoff_ms = p.cutoff_ms;
  r->retain_last = p.retain_last;
  r->removed_refs = p.removed_refs;
  r->expired_snapshot_ids.clear();
  for (const iceberg::Snapshot& s : m.snapshots) {
    if (p.expired.contains(s.snapshot_id)) r->expired_snapshot_ids.push_back(s.snapshot_id);
  }
}

}  // namespace

int64_t ExpireResult::Count(FileKind kind) const {
  return std::count_if(files.begin(), files.end(), [&](const ExpiredFile& f) { return f.file.kind == kind; });
}

int64_t ExpireResult::Bytes() const {
  int64_t n = 0;
  for (const ExpiredFile& f : files) n += std::max<int64_t>(f.file.size, 0);
  return n;
}

int64_t ExpireResult::Failed() const {
  return std::count_if(files.begin(), files.end(), [](const ExpiredFile& f) { return !f.error.empty(); });
}

Result<ExpireResult> ExpireSnapshots(catalog::Catalog& catalog, io::FileIO& io, const Clock& clock,
                                     const catalog::TableIdentifier& id, const ExpireOptions& options) {
  ExpireResult result;
  result.dry_run = options.dry_run;
  for (int attempt = 1;; ++attempt) {
    FRZ_ASSIGN_OR_RETURN(catalog::LoadedTable table, catalog.LoadTable(id));
    const int64_t now_ms = clock.NowMillis();
    FRZ_ASSIGN_OR_RETURN(Plan plan, MakePlan(table.metadata, now_ms, options));
    Fill(&result, plan, table.metadata);
    if (plan.updates.empty()) return result;

    if (options.dry_run) {
      FRZ_ASSIGN_OR_RETURN(iceberg::TableMetadata after, iceberg::ApplyUpdates(&table.metadata, plan.updates, now_ms));
      FRZ_ASSIGN_OR_RETURN(auto files, Unreachable(table.metadata, after, plan.expired, io));
      for (auto& f : files) result.files.push_back(ExpiredFile{std::move(f), false, ""});
      return result;
    }

    if (options.before_commit) options.before_commit();
    result.attempts = attempt;
    auto committed = catalog.CommitTable(id, plan.requirements, plan.updates);
    if (!committed) {
      const Error& e = committed.error();
      if (e.kind == ErrorKind::kCommitFailed && attempt < options.max_attempts) {
        Log(LogLevel::kInfo, "expire-snapshots: a concurrent commit moved a ref, planning again",
            {{"table", id.ToString()}, {"attempt", std::to_string(attempt)}});
        std::this_thread::sleep_for(std::chrono::milliseconds(10 * attempt));
        continue;
      }
      if (e.kind == ErrorKind::kCommitStateUnknown) {
        return MakeError(e.kind, e.message + " (expire-snapshots deleted no file; run it again to finish)");
      }
      return std::unexpected(e);
    }

    auto files = Unreachable(table.metadata, committed->metadata, plan.expired, io);
    if (!files) {
      result.cleanup_skipped = files.error().message;
      Log(LogLevel::kWarn, "expire-snapshots committed but deleted no file",
          {{"table", id.ToString()}, {"error", files.error().message}});
      return result;
    }
    std::vector<std::string> doomed;
    for (const ReferencedFile& f : *files) doomed.push_back(f.location);
    auto failed = io::DeleteFiles(io, doomed);  // in batches (S3: 1000 keys a request)
    for (ReferencedFile& f : *files) {
      auto it = failed.find(f.location);
      result.files.push_back(ExpiredFile{std::move(f), it == failed.end(), it == failed.end() ? "" : it->second});
    }
    return result;
  }
}

}  // namespace frazil::maintenance
