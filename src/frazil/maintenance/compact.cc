#include "frazil/maintenance/compact.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "frazil/base/log.h"
#include "frazil/base/random.h"
#include "frazil/engine/parquet_writer.h"
#include "frazil/engine/table_scan.h"
#include "frazil/iceberg/datum.h"
#include "frazil/iceberg/scan.h"
#include "frazil/iceberg/snapshot_producer.h"

namespace frazil::maintenance {
namespace {

using iceberg::DataFile;
using iceberg::FileScanTask;

void AddTo(FileTotals* t, const DataFile& f) {
  t->files++;
  t->bytes += f.file_size_in_bytes;
  t->rows += f.record_count;
}

std::set<std::string> DeletePaths(const FileScanTask& t) {
  std::set<std::string> out;
  for (const auto& d : t.position_deletes) out.insert(d.file_path);
  for (const auto& d : t.equality_deletes) out.insert(d.file_path);
  return out;
}

// Equal for equal (spec, partition tuple); the variant index tells null from the text "null".
std::string GroupKey(int spec_id, const std::vector<iceberg::Datum>& tuple, const iceberg::Type* part_type) {
  std::string key = std::to_string(spec_id);
  for (size_t i = 0; i < tuple.size(); ++i) {
    key += '\x1f' + std::to_string(tuple[i].index()) + ':';
    if (part_type != nullptr && i < part_type->fields.size()) key += iceberg::DatumToString(*part_type->fields[i].type, tuple[i]);
  }
  return key;
}

std::string PartitionText(const iceberg::PartitionSpec& spec, const std::vector<iceberg::Datum>& tuple,
                          const iceberg::Type* part_type) {
  std::string out;
  for (size_t i = 0; i < tuple.size() && i < spec.fields.size(); ++i) {
    if (!out.empty()) out += '/';
    out += spec.fields[i].name + "=";
    if (iceberg::IsNull(tuple[i])) out += "null";
    else if (part_type != nullptr && i < part_type->fields.size()) out += iceberg::DatumToString(*part_type->fields[i].type, tuple[i]);
  }
  return out;
}

// As app::ColumnsMatchNames: files can be read by column name (faster than by field id).
bool ColumnsMatchNames(const iceberg::TableMetadata& m) {
  return m.schemas.size() == 1 && m.schemas[0].schema_id() == 0 && !m.properties.count("schema.name-mapping.default");
}

struct Plan {
  int64_t head_id = 0;
  iceberg::Schema schema;
  std::vector<std::vector<FileScanTask>> tasks;  // per group
  std::vector<CompactGroup> groups;
  FileTotals data_before, deletes_before;
};

Result<Plan> MakePlan(const iceberg::TableMetadata& m, io::FileIO& io, const CompactOptions& o, int64_t target) {
  Plan p;
  const iceberg::Snapshot* head = m.snapshot_for_ref(iceberg::kMainBranch);
  if (head == nullptr) return p;
  p.head_id = head->snapshot_id;
  FRZ_ASSIGN_OR_RETURN(auto live, iceberg::ReadLiveFiles(m, *head, io));
  for (const auto& lf : live) AddTo(lf.entry.data_file.content == iceberg::FileContent::kData ? &p.data_before : &p.deletes_before,
                                    lf.entry.data_file);
  iceberg::ScanOptions so;
  so.snapshot_id = head->snapshot_id;
  FRZ_ASSIGN_OR_RETURN(iceberg::ScanPlan scan, iceberg::PlanScan(m, io, so));
  // Read with the current schema: a time-travel-by-id plan would use the snapshot's.
  if (const iceberg::Schema* current = m.current_schema()) scan.schema = *current;
  p.schema = scan.schema;

  struct Partition {
    int spec_id = 0;
    std::string text;
    std::vector<FileScanTask> candidates;
  };
  std::map<std::string, Partition> partitions;  // ordered: a deterministic plan
  const size_t delete_threshold = static_cast<size_t>(std::max(1, o.delete_file_threshold));
  for (auto& t : scan.tasks) {
    const size_t deletes = t.position_deletes.size() + t.equality_deletes.size();
    const bool small = t.data_file.file_size_in_bytes < o.file_size_threshold_bytes;
    if (!o.rewrite_all && !small && deletes < delete_threshold) continue;
    const iceberg::PartitionSpec* spec = m.spec_by_id(t.spec_id);
    iceberg::TypePtr part_type;
    if (spec != nullptr) {
      if (auto pt = spec->PartitionType(p.schema)) part_type = *pt;
    }
    Partition& part = partitions[GroupKey(t.spec_id, t.data_file.partition, part_type.get())];
    part.spec_id = t.spec_id;
    if (spec != nullptr) part.text = PartitionText(*spec, t.data_file.partition, part_type.get());
    part.candidates.push_back(std::move(t));
  }

  for (auto& [key, part] : partitions) {
    auto has_deletes = [](const FileScanTask& t) { return !t.position_deletes.empty() || !t.equality_deletes.empty(); };
    if (!o.rewrite_all && part.candidates.size() == 1 && !has_deletes(part.candidates[0])) continue;
    // First-fit decreasing: the biggest files first, each into the first bin it fits.
    std::stable_sort(part.candidates.begin(), part.candidates.end(), [](const FileScanTask& a, const FileScanTask& b) {
      return a.data_file.file_size_in_bytes > b.data_file.file_size_in_bytes;
    });
    std::vector<std::vector<FileScanTask>> bins;
    std::vector<int64_t> bin_bytes;
    for (auto& t : part.candidates) {
      size_t b = 0;
      while (b < bins.size() && bin_bytes[b] + t.data_file.file_size_in_bytes > target) ++b;
      if (b == bins.size()) {
        bins.emplace_back();
        bin_bytes.push_back(0);
      }
      bin_bytes[b] += t.data_file.file_size_in_bytes;
      bins[b].push_back(std::move(t));
    }
    for (auto& bin : bins) {
      // A lone file without deletes would be rewritten as itself.
      if (!o.rewrite_all && bin.size() == 1 && !has_deletes(bin[0])) continue;
      CompactGroup g;
      g.spec_id = part.spec_id;
      g.partition = part.text;
      std::set<std::string> deletes;
      for (const auto& t : bin) {
        g.inputs.push_back(t.data_file.file_path);
        AddTo(&g.input, t.data_file);
        deletes.merge(DeletePaths(t));
      }
      g.delete_files = static_cast<int64_t>(deletes.size());
      p.groups.push_back(std::move(g));
      p.tasks.push_back(std::move(bin));
    }
  }
  return p;
}

// The files one plan wrote, and what they were computed from.
struct Written {
  std::string prefix;     // every file name starts with it
  std::string local_dir;  // where DuckDB wrote
  int spec_id = 0;
  std::vector<DataFile> files;
  std::set<std::string> inputs;
  std::map<std::string, std::set<std::string>> applied;  // input -> delete files applied to it
};

// Removes what a write left behind, including files of a write that failed half-way.
void RemoveWritten(io::FileIO& io, const Written& w) {
  for (const auto& f : w.files) (void)io.Delete(f.file_path);
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(w.local_dir, ec), end; it != end && !ec; it.increment(ec)) {
    if (it->path().filename().string().starts_with(w.prefix)) std::filesystem::remove(it->path(), ec);
  }
}

Status WriteGroups(engine::Connection& con, io::FileIO& io, const iceberg::TableMetadata& m, const Plan& p,
                   int64_t target, const CompactOptions& o, CompactResult* result, Written* w) {
  const iceberg::PartitionSpec* spec = m.default_spec();
  if (spec == nullptr) return MakeError(ErrorKind::kCorrupt, "table metadata has no default partition spec");
  w->spec_id = spec->spec_id;
  engine::WriteOptions wo;
  wo.target_file_size_bytes = target;
  wo.compression = m.Property("write.parquet.compression-codec", wo.compression);
  engine::ScanSqlOptions so;
  so.columns_match_names = ColumnsMatchNames(m);
  auto local = [&io](const std::string& loc) { return io.ScanPath(loc); };
  for (size_t i = 0; i < p.tasks.size(); ++i) {
    CompactGroup& g = result->groups[i];
    if (o.on_group) o.on_group(g, static_cast<int>(i), static_cast<int>(p.tasks.size()));
    for (const auto& t : p.tasks[i]) {
      w->inputs.insert(t.data_file.file_path);
      w->applied[t.data_file.file_path] = DeletePaths(t);
    }
    FRZ_ASSIGN_OR_RETURN(std::string sql, engine::ScanSql(p.schema, p.tasks[i], local, so));
    wo.file_prefix = w->prefix + "-g" + std::to_string(i);
    auto files = spec->is_unpartitioned() ? engine::WriteParquet(con, sql, p.schema, w->local_dir, wo)
                                          : engine::WritePartitioned(con, sql, p.schema, *spec, w->local_dir, wo);
    if (!files) return MakeError(files.error().kind, "rewriting group " + std::to_string(i + 1) + ": " + files.error().message);
    if (Status s = engine::PublishFiles(io, iceberg::DataDir(m), &*files); !s) {
      return MakeError(s.error().kind, "rewriting group " + std::to_string(i + 1) + ": " + s.error().message);
    }
    g.output = {};
    for (auto& f : *files) {
      AddTo(&g.output, f);
      w->files.push_back(std::move(f));
    }
  }
  return Ok();
}

// The changes that commit `w` on top of `m` (main's head), or nullopt when a concurrent
// commit removed an input or added a delete file that applies to one: the files written no
// longer hold exactly the live rows.
Result<std::optional<iceberg::SnapshotChanges>> CommitChanges(const iceberg::TableMetadata& m, io::FileIO& io,
                                                              const Written& w, CompactResult* result) {
  const iceberg::Snapshot* head = m.snapshot_for_ref(iceberg::kMainBranch);
  if (head == nullptr) return std::optional<iceberg::SnapshotChanges>();
  iceberg::ScanOptions so;
  so.snapshot_id = head->snapshot_id;
  FRZ_ASSIGN_OR_RETURN(iceberg::ScanPlan scan, iceberg::PlanScan(m, io, so));
  FRZ_ASSIGN_OR_RETURN(auto live, iceberg::ReadLiveFiles(m, *head, io));
  std::set<std::string> needed_deletes;
  size_t inputs_found = 0;
  for (const auto& t : scan.tasks) {
    auto it = w.applied.find(t.data_file.file_path);
    if (it == w.applied.end()) {
      needed_deletes.merge(DeletePaths(t));
      continue;
    }
    ++inputs_found;
    for (const std::string& d : DeletePaths(t)) {
      if (!it->second.contains(d)) {
        Log(LogLevel::kInfo, "compact: a concurrent delete applies to a rewritten file",
            {{"file", t.data_file.file_path}, {"delete_file", d}});
        return std::optional<iceberg::SnapshotChanges>();
      }
    }
  }
  if (inputs_found != w.inputs.size()) {
    Log(LogLevel::kInfo, "compact: a concurrent commit removed a rewritten file");
    return std::optional<iceberg::SnapshotChanges>();
  }

  iceberg::SnapshotChanges c;
  c.operation = "replace";
  c.spec_id = w.spec_id;
  c.added_data_files = w.files;
  c.removed_files = w.inputs;
  c.extra_summary = CarriedSummary(head, "compact");
  result->data_after = {};
  result->deletes_after = {};
  result->removed_deletes = {};
  for (const auto& lf : live) {
    const DataFile& f = lf.entry.data_file;
    if (f.content == iceberg::FileContent::kData) {
      if (!w.inputs.contains(f.file_path)) AddTo(&result->data_after, f);
    } else if (needed_deletes.contains(f.file_path)) {
      AddTo(&result->deletes_after, f);
    } else {
      c.removed_files.insert(f.file_path);
      AddTo(&result->removed_deletes, f);
    }
  }
  for (const auto& f : w.files) AddTo(&result->data_after, f);
  return std::optional<iceberg::SnapshotChanges>(std::move(c));
}

void FillPlan(CompactResult* r, const Plan& p) {
  r->data_before = p.data_before;
  r->deletes_before = p.deletes_before;
  r->data_after = p.data_before;
  r->deletes_after = p.deletes_before;
  r->groups = p.groups;
  r->rewritten = {};
  for (const auto& g : p.groups) {
    r->rewritten.files += g.input.files;
    r->rewritten.bytes += g.input.bytes;
    r->rewritten.rows += g.input.rows;
  }
  r->written = {};
  r->removed_deletes = {};
  r->live_rows = 0;
}

}  // namespace

std::map<std::string, std::string> CarriedSummary(const iceberg::Snapshot* snapshot, const std::string& operation) {
  std::map<std::string, std::string> out;
  if (snapshot != nullptr) {
    for (const auto& [k, v] : snapshot->summary) {
      if (k.starts_with("frazil.")) out[k] = v;
    }
  }
  out[kMaintenanceSummaryKey] = operation;
  return out;
}

Result<CompactResult> CompactTable(catalog::Catalog& catalog, io::FileIO& io, engine::Database& db,
                                   const Clock& clock, const catalog::TableIdentifier& id,
                                   const CompactOptions& options) {
  if (options.file_size_threshold_bytes < 0 || (options.target_file_size_bytes && *options.target_file_size_bytes <= 0)) {
    return MakeError(ErrorKind::kInvalidArgument, "compact: sizes must be positive");
  }
  FRZ_ASSIGN_OR_RETURN(auto lease, catalog.AcquireWriteLease(false));  // our files stay ours until the commit ends
  CompactResult result;
  result.dry_run = options.dry_run;
  FRZ_ASSIGN_OR_RETURN(engine::Connection con, engine::Connection::Open(db));
  std::optional<Written> written;
  auto fail = [&](const Error& e) -> Result<CompactResult> {
    if (written) RemoveWritten(io, *written);
    return std::unexpected(e);
  };

  for (int attempt = 1;; ++attempt) {
    auto table = catalog.LoadTable(id);
    if (!table) return fail(table.error());
    const iceberg::TableMetadata& m = table->metadata;
    if (auto it = m.properties.find(kMirrorOfProperty); it != m.properties.end() && !options.allow_mirror) {
      return fail(Error{ErrorKind::kInvalidArgument,
                        "refusing to compact " + id.ToString() + ": it is a mirror table (frazil.mirror-of = " +
                            it->second + "). `frazil run` keeps mirror tables compact itself, and rewriting their "
                            "files from outside would invalidate the key index it uses to find rows"});
    }
    const int64_t target = options.target_file_size_bytes.value_or(m.PropertyInt(kTargetFileSizeProperty, kDefaultTargetFileSize));
    if (target <= 0) return fail(Error{ErrorKind::kInvalidArgument, "target file size must be positive"});
    result.target_file_size_bytes = target;

    if (!written) {
      auto plan = MakePlan(m, io, options, target);
      if (!plan) return fail(plan.error());
      FillPlan(&result, *plan);
      if (plan->groups.empty() || options.dry_run) return result;
      written.emplace();
      written->prefix = NewUuid();
      auto staged = io.WriteDir(iceberg::DataDir(m));
      if (!staged) return fail(staged.error());
      written->local_dir = *staged;
      if (Status s = WriteGroups(con, io, m, *plan, target, options, &result, &*written); !s) {
        return fail(Error{s.error().kind, "compacting " + id.ToString() + ": " + s.error().message});
      }
      result.written = {};
      for (const auto& f : written->files) AddTo(&result.written, f);
      result.live_rows = result.written.rows;
    }

    auto changes = CommitChanges(m, io, *written, &result);
    if (!changes) return fail(changes.error());
    if (!*changes) {
      // The rows written are no longer exactly the live rows: start over.
      RemoveWritten(io, *written);
      written.reset();
      result.replans++;
      if (attempt >= options.max_attempts) {
        return MakeError(ErrorKind::kCommitFailed, "compact " + id.ToString() + ": concurrent commits changed the files "
                                                   "being rewritten " + std::to_string(attempt) + " times; run it again");
      }
      continue;
    }
    auto produced = iceberg::ProduceSnapshot(m, io, **changes, clock.NowMillis());
    if (!produced) return fail(produced.error());
    if (options.before_commit) options.before_commit();
    result.attempts++;
    auto committed = catalog.CommitTable(id, produced->requirements, produced->updates);
    if (committed) {
      result.snapshot_id = produced->snapshot.snapshot_id;
      return result;
    }
    const Error& e = committed.error();
    if (e.kind == ErrorKind::kCommitStateUnknown) {
      return MakeError(e.kind, e.message + " (compact deleted no file; check `frazil table snapshots " + id.ToString() +
                                   "` and run it again if needed)");
    }
    for (const auto& f : produced->written_files) (void)io.Delete(f);
    if (e.kind != ErrorKind::kCommitFailed) return fail(e);
    if (attempt >= options.max_attempts) {
      return fail(Error{ErrorKind::kCommitFailed, "compact " + id.ToString() + ": failed after " +
                                                      std::to_string(attempt) + " attempts: " + e.message});
    }
    Log(LogLevel::kInfo, "compact: a concurrent commit moved main, checking the rewrite against it",
        {{"table", id.ToString()}, {"attempt", std::to_string(attempt)}});
    std::this_thread::sleep_for(std::chrono::milliseconds(10 * attempt));
  }
}

}  // namespace frazil::maintenance
