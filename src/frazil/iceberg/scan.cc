#include "frazil/iceberg/scan.h"

#include <set>

#include <algorithm>
#include <map>

namespace frazil::iceberg {
namespace {

// Could a value range [lo, hi] satisfy `term`? Unknown (missing bounds) -> true.
bool RangeMayMatch(const FilterTerm& term, const std::optional<Datum>& lo, const std::optional<Datum>& hi,
                   std::optional<int64_t> null_count, std::optional<int64_t> value_count) {
  switch (term.op) {
    case FilterOp::kIsNull:
      return !null_count || *null_count > 0;
    case FilterOp::kNotNull:
      return !(null_count && value_count && *null_count == *value_count);
    default:
      break;
  }
  if (IsNull(term.value)) return true;
  if (null_count && value_count && *null_count == *value_count) return false;  // all null
  switch (term.op) {
    case FilterOp::kEq:
      return !(lo && CompareDatum(term.value, *lo) < 0) && !(hi && CompareDatum(term.value, *hi) > 0);
    case FilterOp::kLt:
      return !(lo && CompareDatum(*lo, term.value) >= 0);
    case FilterOp::kLtEq:
      return !(lo && CompareDatum(*lo, term.value) > 0);
    case FilterOp::kGt:
      return !(hi && CompareDatum(*hi, term.value) <= 0);
    case FilterOp::kGtEq:
      return !(hi && CompareDatum(*hi, term.value) < 0);
    default:
      return true;
  }
}

std::optional<Datum> Decode(const Type& type, const std::optional<std::string>& bytes) {
  if (!bytes) return std::nullopt;
  auto d = DecodeBound(type, *bytes);
  if (!d) return std::nullopt;
  return *d;
}

std::optional<Datum> FromMap(const Type& type, const std::map<int, std::string>& m, int id) {
  auto it = m.find(id);
  if (it == m.end()) return std::nullopt;
  return Decode(type, it->second);
}

template <typename M>
std::optional<int64_t> Count(const M& m, int id) {
  auto it = m.find(id);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

// The filter term on a partition field implied by a term on its source column, if the
// transform allows it (projection: identity any op; order-preserving transforms turn
// strict comparisons into inclusive ones).
std::optional<FilterTerm> ProjectToPartition(const FilterTerm& term, const PartitionField& pf,
                                             const Type& source_type) {
  if (pf.source_id != term.field_id) return std::nullopt;
  if (term.op == FilterOp::kIsNull || term.op == FilterOp::kNotNull) {
    if (pf.transform.kind == TransformKind::kVoid) return std::nullopt;
    return FilterTerm{pf.field_id, term.op, {}};
  }
  if (pf.transform.kind == TransformKind::kBucket) {
    if (term.op != FilterOp::kEq) return std::nullopt;
  } else if (!pf.transform.PreservesOrder()) {
    return std::nullopt;
  }
  auto v = pf.transform.Apply(source_type, term.value);
  if (!v) return std::nullopt;
  FilterOp op = term.op;
  if (pf.transform.kind != TransformKind::kIdentity) {
    if (op == FilterOp::kLt) op = FilterOp::kLtEq;
    if (op == FilterOp::kGt) op = FilterOp::kGtEq;
  }
  return FilterTerm{pf.field_id, op, *v};
}

bool SamePartition(const DataFile& a, const DataFile& b) { return a.partition == b.partition; }

}  // namespace

Result<std::vector<ManifestFile>> ReadSnapshotManifests(const Snapshot& snapshot, io::FileIO& io) {
  auto bytes = io.Read(snapshot.manifest_list);
  if (!bytes) {
    return MakeError(bytes.error().kind, "reading manifest list of snapshot " + std::to_string(snapshot.snapshot_id) +
                                             ": " + bytes.error().message);
  }
  auto list = ReadManifestList(*bytes);
  if (!list) {
    return MakeError(list.error().kind, "manifest list " + snapshot.manifest_list + ": " + list.error().message);
  }
  return list;
}

Result<std::vector<ManifestEntry>> ReadManifestEntries(const TableMetadata& metadata, const ManifestFile& mf,
                                                       io::FileIO& io) {
  const PartitionSpec* spec = metadata.spec_by_id(mf.partition_spec_id);
  if (spec == nullptr) {
    return MakeError(ErrorKind::kCorrupt, "manifest " + mf.manifest_path + " refers to unknown partition spec " +
                                              std::to_string(mf.partition_spec_id));
  }
  auto bytes = io.Read(mf.manifest_path);
  if (!bytes) return MakeError(bytes.error().kind, "reading manifest: " + bytes.error().message);
  // Partition source columns may have been dropped from the current schema; search all.
  const Schema* schema = metadata.current_schema();
  for (const auto& s : metadata.schemas) {
    bool has_all = true;
    for (const auto& pf : spec->fields) has_all = has_all && s.FindField(pf.source_id) != nullptr;
    if (has_all) {
      schema = &s;
      if (s.schema_id() == metadata.current_schema_id) break;
    }
  }
  auto entries = ReadManifest(*bytes, *schema, *spec);
  if (!entries) {
    return MakeError(entries.error().kind, "manifest " + mf.manifest_path + ": " + entries.error().message);
  }
  InheritManifestValues(mf, &*entries);
  return entries;
}

Result<std::vector<LiveFile>> ReadLiveFiles(const TableMetadata& metadata, const Snapshot& snapshot, io::FileIO& io) {
  FRZ_ASSIGN_OR_RETURN(auto manifests, ReadSnapshotManifests(snapshot, io));
  std::vector<LiveFile> out;
  for (const auto& mf : manifests) {
    FRZ_ASSIGN_OR_RETURN(auto entries, ReadManifestEntries(metadata, mf, io));
    for (auto& e : entries) {
      if (e.status == EntryStatus::kDeleted) continue;
      out.push_back(LiveFile{std::move(e), mf.partition_spec_id});
    }
  }
  return out;
}

Result<ScanPlan> PlanScan(const TableMetadata& metadata, io::FileIO& io, const ScanOptions& options) {
  ScanPlan plan;
  const Snapshot* snap = nullptr;
  bool use_snapshot_schema = false;
  if (options.snapshot_id) {
    snap = metadata.snapshot_by_id(*options.snapshot_id);
    if (!snap) return MakeError(ErrorKind::kNotFound, "table has no snapshot " + std::to_string(*options.snapshot_id));
    use_snapshot_schema = true;
  } else if (options.ref) {
    if (!metadata.refs.count(*options.ref)) return MakeError(ErrorKind::kNotFound, "table has no branch or tag '" + *options.ref + "'");
    snap = metadata.snapshot_for_ref(*options.ref);
    use_snapshot_schema = !metadata.refs.at(*options.ref).is_branch;
  } else if (options.as_of_ms) {
    snap = metadata.snapshot_as_of(*options.as_of_ms);
    if (!snap) {
      return MakeError(ErrorKind::kNotFound, "table had no snapshot at or before timestamp " + std::to_string(*options.as_of_ms) + " ms");
    }
    use_snapshot_schema = true;
  } else {
    snap = metadata.snapshot_for_ref(kMainBranch);
  }
  const Schema* schema = metadata.current_schema();
  if (use_snapshot_schema && snap && snap->schema_id) {
    if (const Schema* s = metadata.schema_by_id(*snap->schema_id)) schema = s;
  }
  if (schema == nullptr) return MakeError(ErrorKind::kCorrupt, "table metadata has no current schema");
  plan.schema = *schema;
  plan.snapshot = snap;
  if (snap == nullptr) return plan;

  // Incremental read: the snapshots after `appended_after_snapshot_id`, all appends or
  // replaces (compaction, manifest rewrites: same rows, other files). The rows are the data
  // files each append added, read from that append's own manifests: a later compaction may
  // have moved them out of the head's files, but they stay reachable from the append.
  std::set<int64_t> appended_by;
  std::vector<const Snapshot*> appends;
  if (options.appended_after_snapshot_id) {
    const int64_t from = *options.appended_after_snapshot_id;
    const Snapshot* s = snap;
    while (s != nullptr && s->snapshot_id != from) {
      if (s->operation() == "replace") {
        s = s->parent_snapshot_id ? metadata.snapshot_by_id(*s->parent_snapshot_id) : nullptr;
        continue;
      }
      if (s->operation() != "append") {
        return MakeError(ErrorKind::kInvalidArgument, "snapshot " + std::to_string(s->snapshot_id) + " (operation '" +
                                                          s->operation() + "') changed existing rows after snapshot " +
                                                          std::to_string(from) + ", so the new rows since then cannot be read on their own");
      }
      appended_by.insert(s->snapshot_id);
      appends.push_back(s);
      s = s->parent_snapshot_id ? metadata.snapshot_by_id(*s->parent_snapshot_id) : nullptr;
    }
    if (s == nullptr) {
      return MakeError(ErrorKind::kInvalidArgument, "snapshot " + std::to_string(from) + " is not an ancestor of snapshot " +
                                                        std::to_string(snap->snapshot_id) + " (rolled back or expired)");
    }
    if (appended_by.empty()) return plan;
  }

  std::vector<ManifestFile> manifests;
  if (appends.empty()) {
    FRZ_ASSIGN_OR_RETURN(manifests, ReadSnapshotManifests(*snap, io));
  } else {
    std::set<std::string> seen;
    for (const Snapshot* a : appends) {
      FRZ_ASSIGN_OR_RETURN(auto own, ReadSnapshotManifests(*a, io));
      for (auto& mf : own) {
        if (mf.added_snapshot_id == a->snapshot_id && mf.content == ManifestContent::kData &&
            seen.insert(mf.manifest_path).second) {
          manifests.push_back(std::move(mf));
        }
      }
    }
  }
  plan.manifests_total = static_cast<int64_t>(manifests.size());

  struct Candidate {
    DataFile file;
    int spec_id;
    int64_t seq;
  };
  std::vector<Candidate> data, pos_deletes, eq_deletes;
  for (const auto& mf : manifests) {
    const PartitionSpec* spec = metadata.spec_by_id(mf.partition_spec_id);
    // Manifest-level pruning with the partition summaries.
    std::vector<std::pair<size_t, FilterTerm>> part_terms;
    if (spec != nullptr) {
      for (const auto& term : options.filter) {
        const NestedField* src = schema->FindField(term.field_id);
        if (!src) continue;
        for (size_t i = 0; i < spec->fields.size(); ++i) {
          if (auto pt = ProjectToPartition(term, spec->fields[i], *src->type)) part_terms.emplace_back(i, *pt);
        }
      }
    }
    auto part_type = spec ? spec->PartitionType(*schema) : Result<TypePtr>(MakeError(ErrorKind::kInternal, ""));
    if (mf.content == ManifestContent::kData && part_type && !part_terms.empty()) {
      bool may = true;
      for (const auto& [i, pt] : part_terms) {
        if (i >= mf.partitions.size()) continue;
        const auto& summ = mf.partitions[i];
        const Type& t = *(*part_type)->fields[i].type;
        if (pt.op == FilterOp::kIsNull) {
          may = may && summ.contains_null;
          continue;
        }
        if (pt.op == FilterOp::kNotNull) continue;
        if (!summ.lower_bound && !summ.upper_bound && !summ.contains_null) continue;
        if (!summ.lower_bound && !summ.upper_bound) {
          may = false;  // only nulls, and the term needs a value
          continue;
        }
        may = may && RangeMayMatch(pt, Decode(t, summ.lower_bound), Decode(t, summ.upper_bound), std::nullopt, std::nullopt);
      }
      if (!may) {
        plan.manifests_skipped++;
        continue;
      }
    }
    FRZ_ASSIGN_OR_RETURN(auto entries, ReadManifestEntries(metadata, mf, io));
    for (auto& e : entries) {
      if (e.status == EntryStatus::kDeleted) continue;
      int64_t seq = e.sequence_number.value_or(mf.sequence_number);
      switch (e.data_file.content) {
        case FileContent::kData: {
          bool may = appended_by.empty() ||
                     (e.status == EntryStatus::kAdded && e.snapshot_id && appended_by.count(*e.snapshot_id));
          // Partition-value pruning.
          if (part_type) {
            for (const auto& [i, pt] : part_terms) {
              if (i >= e.data_file.partition.size()) continue;
              const Datum& pv = e.data_file.partition[i];
              std::optional<Datum> v = IsNull(pv) ? std::nullopt : std::optional<Datum>(pv);
              int64_t nulls = IsNull(pv) ? 1 : 0;
              may = may && RangeMayMatch(pt, v, v, nulls, 1);
            }
          }
          // Column-bounds pruning.
          for (const auto& term : options.filter) {
            if (!may) break;
            const NestedField* f = schema->FindField(term.field_id);
            if (!f || !f->type->is_primitive()) continue;
            may = RangeMayMatch(term, FromMap(*f->type, e.data_file.lower_bounds, term.field_id),
                                FromMap(*f->type, e.data_file.upper_bounds, term.field_id),
                                Count(e.data_file.null_value_counts, term.field_id),
                                Count(e.data_file.value_counts, term.field_id));
          }
          if (!may) {
            plan.files_skipped++;
            continue;
          }
          data.push_back({std::move(e.data_file), mf.partition_spec_id, seq});
          break;
        }
        case FileContent::kPositionDeletes:
          pos_deletes.push_back({std::move(e.data_file), mf.partition_spec_id, seq});
          break;
        case FileContent::kEqualityDeletes:
          eq_deletes.push_back({std::move(e.data_file), mf.partition_spec_id, seq});
          break;
      }
    }
  }

  // Position delete files that name exactly one data file (referenced_data_file, or equal
  // file_path bounds) are indexed by that path; the rest match by partition.
  std::multimap<std::string, const Candidate*> pos_by_path;
  std::vector<const Candidate*> pos_by_partition;
  for (const auto& d : pos_deletes) {
    std::optional<std::string> target = d.file.referenced_data_file;
    if (!target) {
      auto lo = d.file.lower_bounds.find(kDeleteFilePathFieldId);
      auto hi = d.file.upper_bounds.find(kDeleteFilePathFieldId);
      if (lo != d.file.lower_bounds.end() && hi != d.file.upper_bounds.end() && lo->second == hi->second) {
        target = lo->second;
      }
    }
    if (target) {
      pos_by_path.emplace(*target, &d);
    } else {
      pos_by_partition.push_back(&d);
    }
  }
  for (auto& c : data) {
    FileScanTask task;
    task.spec_id = c.spec_id;
    task.data_sequence_number = c.seq;
    auto [b, e] = pos_by_path.equal_range(c.file.file_path);
    for (auto it = b; it != e; ++it) {
      if (it->second->seq >= c.seq) task.position_deletes.push_back(it->second->file);
    }
    for (const Candidate* d : pos_by_partition) {
      if (d->seq < c.seq) continue;
      if (d->spec_id == c.spec_id && SamePartition(d->file, c.file)) task.position_deletes.push_back(d->file);
    }
    for (const auto& d : eq_deletes) {
      if (d.seq <= c.seq) continue;
      const PartitionSpec* ds = metadata.spec_by_id(d.spec_id);
      bool global = ds == nullptr || ds->is_unpartitioned();
      if (global || (d.spec_id == c.spec_id && SamePartition(d.file, c.file))) task.equality_deletes.push_back(d.file);
    }
    task.data_file = std::move(c.file);
    plan.tasks.push_back(std::move(task));
  }
  return plan;
}

}  // namespace frazil::iceberg
