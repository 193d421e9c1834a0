#include "frazil/iceberg/snapshot_producer.h"

#include <algorithm>

#include "frazil/base/random.h"
#include "frazil/iceberg/scan.h"

namespace frazil::iceberg {
namespace {

int64_t SummaryInt(const Snapshot* s, const char* key) {
  if (s == nullptr) return 0;
  auto it = s->summary.find(key);
  if (it == s->summary.end()) return 0;
  try {
    return std::stoll(it->second);
  } catch (...) {
    return 0;
  }
}

struct Totals {
  int64_t records = 0, files_size = 0, data_files = 0, delete_files = 0, pos_deletes = 0,
          eq_deletes = 0;
  void Add(const DataFile& f, int sign) {
    files_size += sign * f.file_size_in_bytes;
    if (f.content == FileContent::kData) {
      records += sign * f.record_count;
      data_files += sign;
    } else {
      delete_files += sign;
      (f.content == FileContent::kPositionDeletes ? pos_deletes : eq_deletes) += sign * f.record_count;
    }
  }
};

// Writes one manifest of `entries` and returns its manifest-list entry.
Result<ManifestFile> WriteOne(const TableMetadata& base, io::FileIO& io, int spec_id,
                              ManifestContent content, const std::vector<ManifestEntry>& entries,
                              int64_t snapshot_id, int64_t sequence_number,
                              std::vector<std::string>* written) {
  const Schema* schema = base.current_schema();
  const PartitionSpec* spec = base.spec_by_id(spec_id);
  if (schema == nullptr || spec == nullptr) {
    return MakeError(ErrorKind::kInvalidArgument, "table has no schema or partition spec " + std::to_string(spec_id));
  }
  ManifestContext ctx{base.format_version, *schema, *spec, content};
  FRZ_ASSIGN_OR_RETURN(std::string bytes, WriteManifest(ctx, entries));
  std::string path = io::JoinLocation(MetadataDir(base), NewUuid() + "-m0.avro");
  FRZ_RETURN_IF_ERROR(io.WriteNew(path, bytes));
  written->push_back(path);

  ManifestFile mf;
  mf.manifest_path = path;
  mf.manifest_length = static_cast<int64_t>(bytes.size());
  mf.partition_spec_id = spec_id;
  mf.content = content;
  mf.sequence_number = sequence_number;
  mf.added_snapshot_id = snapshot_id;
  int64_t min_seq = sequence_number;
  for (const auto& e : entries) {
    int64_t rows = e.data_file.record_count;
    switch (e.status) {
      case EntryStatus::kAdded: mf.added_files_count++; mf.added_rows_count += rows; break;
      case EntryStatus::kExisting: mf.existing_files_count++; mf.existing_rows_count += rows; break;
      case EntryStatus::kDeleted: mf.deleted_files_count++; mf.deleted_rows_count += rows; break;
    }
    if (e.status != EntryStatus::kDeleted && e.sequence_number) min_seq = std::min(min_seq, *e.sequence_number);
  }
  mf.min_sequence_number = min_seq;
  FRZ_ASSIGN_OR_RETURN(mf.partitions, SummarizePartitions(*spec, *schema, entries));
  return mf;
}

// A string that is equal for equal partition tuples (for counting changed partitions).
std::string PartitionKey(const std::vector<Datum>& tuple) {
  std::string key;
  for (const auto& d : tuple) {
    key += std::to_string(d.index());
    key.push_back(':');
    std::visit(
        [&key](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) key += v;
          else if constexpr (std::is_same_v<T, Bytes>) key += v.data;
          else if constexpr (std::is_same_v<T, Decimal128>) key += std::to_string(static_cast<int64_t>(v.unscaled >> 64)) + "," + std::to_string(static_cast<uint64_t>(v.unscaled));
          else if constexpr (std::is_same_v<T, std::monostate>) key += "null";
          else key += std::to_string(v);
        },
        d);
    key.push_back('\x1f');
  }
  return key;
}

// Keeps the manifest list short as commits accumulate (the Java implementation's
// commit.manifest-merge.enabled / commit.manifest.min-count-to-merge, default 100): once a
// spec has that many data manifests, the ones below the target size are rewritten as one
// manifest of EXISTING entries. Without this, every commit would read and write a manifest
// list that grows by one entry per commit.
Status MergeSmallManifests(const TableMetadata& base, io::FileIO& io, const Snapshot& snap,
                           std::vector<ManifestFile>* manifests, std::vector<std::string>* written) {
  if (base.Property("commit.manifest-merge.enabled", "true") == "false") return Ok();
  const int64_t min_count = std::max<int64_t>(2, base.PropertyInt("commit.manifest.min-count-to-merge", 100));
  const int64_t target = base.PropertyInt("commit.manifest.target-size-bytes", 8 << 20);
  std::map<int, std::vector<size_t>> small_by_spec;
  for (size_t i = 0; i < manifests->size(); ++i) {
    const auto& mf = (*manifests)[i];
    if (mf.content == ManifestContent::kData && mf.manifest_length < target) small_by_spec[mf.partition_spec_id].push_back(i);
  }
  std::set<size_t> merged_away;
  std::vector<ManifestFile> merged;
  for (const auto& [spec_id, idx] : small_by_spec) {
    if (static_cast<int64_t>(idx.size()) < min_count) continue;
    std::vector<ManifestEntry> entries;
    for (size_t i : idx) {
      FRZ_ASSIGN_OR_RETURN(auto part, ReadManifestEntries(base, (*manifests)[i], io));
      for (auto& e : part) {
        if (e.status == EntryStatus::kDeleted) continue;
        e.status = EntryStatus::kExisting;  // keeps its (now explicit) ids and sequence numbers
        entries.push_back(std::move(e));
      }
      merged_away.insert(i);
    }
    FRZ_ASSIGN_OR_RETURN(ManifestFile mf, WriteOne(base, io, spec_id, ManifestContent::kData, entries, snap.snapshot_id,
                                                   snap.sequence_number, written));
    merged.push_back(std::move(mf));
  }
  if (merged_away.empty()) return Ok();
  std::vector<ManifestFile> kept = std::move(merged);
  for (size_t i = 0; i < manifests->size(); ++i) {
    if (!merged_away.count(i)) kept.push_back(std::move((*manifests)[i]));
  }
  *manifests = std::move(kept);
  return Ok();
}

}  // namespace

std::string MetadataDir(const TableMetadata& m) {
  auto it = m.properties.find("write.metadata.path");
  if (it != m.properties.end()) return it->second;
  return io::JoinLocation(m.location, "metadata");
}

std::string DataDir(const TableMetadata& m) {
  auto it = m.properties.find("write.data.path");
  if (it != m.properties.end()) return it->second;
  return io::JoinLocation(m.location, "data");
}

Result<ProducedSnapshot> ProduceSnapshot(const TableMetadata& base, io::FileIO& io,
                                         const SnapshotChanges& changes, int64_t now_ms) {
  const Snapshot* parent = base.snapshot_for_ref(changes.branch);
  ProducedSnapshot out;
  Snapshot& snap = out.snapshot;
  snap.snapshot_id = NewPositiveId();
  while (base.snapshot_by_id(snap.snapshot_id) != nullptr) snap.snapshot_id = NewPositiveId();
  if (parent) snap.parent_snapshot_id = parent->snapshot_id;
  snap.sequence_number = base.last_sequence_number + 1;
  snap.timestamp_ms = std::max(now_ms, parent ? parent->timestamp_ms : 0);
  snap.schema_id = base.current_schema_id;

  Totals added, removed;
  std::vector<ManifestFile> manifests;

  // Carry over the parent's manifests; rewrite those holding removed files.
  std::set<std::string> still_to_remove = changes.removed_files;
  if (parent != nullptr) {
    FRZ_ASSIGN_OR_RETURN(auto parent_manifests, ReadSnapshotManifests(*parent, io));
    for (auto& mf : parent_manifests) {
      if (still_to_remove.empty()) {
        manifests.push_back(mf);
        continue;
      }
      FRZ_ASSIGN_OR_RETURN(auto entries, ReadManifestEntries(base, mf, io));
      bool touched = false;
      std::vector<ManifestEntry> kept;
      for (auto& e : entries) {
        if (e.status == EntryStatus::kDeleted) continue;  // drop old tombstones
        if (still_to_remove.erase(e.data_file.file_path) > 0) {
          touched = true;
          removed.Add(e.data_file, 1);
          e.status = EntryStatus::kDeleted;
          e.snapshot_id = snap.snapshot_id;
        } else {
          e.status = EntryStatus::kExisting;
        }
        kept.push_back(std::move(e));
      }
      if (!touched) {
        manifests.push_back(mf);
        continue;
      }
      FRZ_ASSIGN_OR_RETURN(ManifestFile rewritten,
                           WriteOne(base, io, mf.partition_spec_id, mf.content, kept,
                                    snap.snapshot_id, snap.sequence_number, &out.written_files));
      manifests.push_back(std::move(rewritten));
    }
  }
  if (!still_to_remove.empty()) {
    return MakeError(ErrorKind::kInvalidArgument, "cannot remove " + *still_to_remove.begin() +
                                                      ": not a live file of the table's current snapshot");
  }

  auto new_entries = [&](const std::vector<DataFile>& files) {
    std::vector<ManifestEntry> entries;
    for (const auto& f : files) {
      ManifestEntry e;
      e.status = EntryStatus::kAdded;
      e.snapshot_id = snap.snapshot_id;
      e.data_file = f;
      added.Add(f, 1);
      entries.push_back(std::move(e));
    }
    return entries;
  };
  FRZ_RETURN_IF_ERROR(MergeSmallManifests(base, io, snap, &manifests, &out.written_files));

  std::vector<ManifestFile> new_manifests;
  if (!changes.added_data_files.empty()) {
    FRZ_ASSIGN_OR_RETURN(ManifestFile mf,
                         WriteOne(base, io, changes.spec_id, ManifestContent::kData,
                                  new_entries(changes.added_data_files), snap.snapshot_id,
                                  snap.sequence_number, &out.written_files));
    new_manifests.push_back(std::move(mf));
  }
  if (!changes.added_delete_files.empty()) {
    // One delete manifest per partition spec.
    std::map<int, std::vector<DataFile>> by_spec;
    for (size_t i = 0; i < changes.added_delete_files.size(); ++i) {
      int spec_id = i < changes.delete_spec_ids.size() ? changes.delete_spec_ids[i] : changes.spec_id;
      by_spec[spec_id].push_back(changes.added_delete_files[i]);
    }
    for (const auto& [spec_id, files] : by_spec) {
      FRZ_ASSIGN_OR_RETURN(ManifestFile mf,
                           WriteOne(base, io, spec_id, ManifestContent::kDeletes, new_entries(files),
                                    snap.snapshot_id, snap.sequence_number, &out.written_files));
      new_manifests.push_back(std::move(mf));
    }
  }
  // New manifests first, as the Java implementation orders them.
  manifests.insert(manifests.begin(), new_manifests.begin(), new_manifests.end());

  std::string op = changes.operation;
  if (op.empty()) {
    bool adds_data = !changes.added_data_files.empty();
    bool adds_deletes = !changes.added_delete_files.empty();
    bool removes = !changes.removed_files.empty();
    if (adds_data && !adds_deletes && !removes) op = "append";
    else if (!adds_data && (adds_deletes || removes)) op = "delete";
    else op = "overwrite";
  }

  auto& sm = snap.summary;
  sm = changes.extra_summary;
  sm["operation"] = op;
  auto put = [&sm](const char* k, int64_t v) { sm[k] = std::to_string(v); };
  std::set<std::string> partitions;
  for (const auto* files : {&changes.added_data_files, &changes.added_delete_files}) {
    for (const auto& f : *files) {
      std::string key = PartitionKey(f.partition);
      partitions.insert(key);
    }
  }
  if (added.data_files) put("added-data-files", added.data_files);
  if (added.records) put("added-records", added.records);
  if (added.delete_files) put("added-delete-files", added.delete_files);
  if (added.pos_deletes) put("added-position-deletes", added.pos_deletes);
  if (added.eq_deletes) put("added-equality-deletes", added.eq_deletes);
  put("added-files-size", added.files_size);
  if (removed.data_files) put("deleted-data-files", removed.data_files);
  if (removed.records) put("deleted-records", removed.records);
  if (removed.delete_files) put("removed-delete-files", removed.delete_files);
  if (removed.pos_deletes) put("removed-position-deletes", removed.pos_deletes);
  if (removed.files_size) put("removed-files-size", removed.files_size);
  put("changed-partition-count", static_cast<int64_t>(partitions.size()));
  put("total-records", SummaryInt(parent, "total-records") + added.records - removed.records);
  put("total-files-size", SummaryInt(parent, "total-files-size") + added.files_size - removed.files_size);
  put("total-data-files", SummaryInt(parent, "total-data-files") + added.data_files - removed.data_files);
  put("total-delete-files", SummaryInt(parent, "total-delete-files") + added.delete_files - removed.delete_files);
  put("total-position-deletes", SummaryInt(parent, "total-position-deletes") + added.pos_deletes - removed.pos_deletes);
  put("total-equality-deletes", SummaryInt(parent, "total-equality-deletes") + added.eq_deletes - removed.eq_deletes);

  FRZ_ASSIGN_OR_RETURN(std::string list_bytes,
                       WriteManifestList(base.format_version, snap.snapshot_id, snap.parent_snapshot_id,
                                         snap.sequence_number, manifests));
  std::string list_path = io::JoinLocation(
      MetadataDir(base), "snap-" + std::to_string(snap.snapshot_id) + "-1-" + NewUuid() + ".avro");
  FRZ_RETURN_IF_ERROR(io.WriteNew(list_path, list_bytes));
  out.written_files.push_back(list_path);
  snap.manifest_list = list_path;

  out.requirements.push_back(req::AssertTableUuid{base.table_uuid});
  out.requirements.push_back(req::AssertRefSnapshotId{
      changes.branch, parent ? std::optional<int64_t>(parent->snapshot_id) : std::nullopt});
  out.updates.push_back(upd::AddSnapshot{snap});
  SnapshotRef ref;
  ref.snapshot_id = snap.snapshot_id;
  ref.is_branch = true;
  if (auto it = base.refs.find(changes.branch); it != base.refs.end()) {
    ref = it->second;
    ref.snapshot_id = snap.snapshot_id;
  }
  out.updates.push_back(upd::SetSnapshotRef{changes.branch, ref});
  return out;
}

}  // namespace frazil::iceberg
