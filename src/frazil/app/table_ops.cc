#include "frazil/app/table_ops.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <filesystem>
#include <cctype>
#include <set>

#include "frazil/base/log.h"
#include "frazil/base/random.h"
#include "frazil/base/strings.h"
#include "frazil/engine/parquet_writer.h"
#include "frazil/engine/progress.h"
#include "frazil/engine/table_scan.h"
#include "frazil/engine/types.h"
#include "frazil/iceberg/snapshot_producer.h"
#include "frazil/iceberg/table_update.h"

namespace frazil::app {
namespace {

constexpr int kMaxCommitAttempts = 20;

// Produces and commits one snapshot, rebuilding it from a fresh load after each concurrent
// commit. `make` turns the current table into the changes to commit; data files it refers
// to are written once by the caller, so a retry only rewrites manifests.
template <typename MakeChanges>
Result<WriteResult> CommitSnapshot(Warehouse& w, const catalog::TableIdentifier& id, MakeChanges make) {
  for (int attempt = 1;; ++attempt) {
    FRZ_ASSIGN_OR_RETURN(auto table, w.catalog().LoadTable(id));
    FRZ_ASSIGN_OR_RETURN(iceberg::SnapshotChanges changes, make(table));
    FRZ_ASSIGN_OR_RETURN(auto produced, iceberg::ProduceSnapshot(table.metadata, w.io(), changes, w.clock().NowMillis()));
    auto committed = w.catalog().CommitTable(id, produced.requirements, produced.updates);
    if (committed) {
      WriteResult r;
      r.snapshot_id = produced.snapshot.snapshot_id;
      for (const auto& f : changes.added_data_files) {
        r.rows += f.record_count;
        r.files++;
        r.bytes += f.file_size_in_bytes;
      }
      for (const auto& f : changes.added_delete_files) {
        r.rows += f.record_count;
        r.files++;
        r.bytes += f.file_size_in_bytes;
      }
      return r;
    }
    if (committed.error().kind != ErrorKind::kCommitFailed) {
      // State unknown (or a hard error after the swap may have happened): keep every file.
      return std::unexpected(committed.error());
    }
    for (const auto& f : produced.written_files) (void)w.io().Delete(f);
    if (attempt >= kMaxCommitAttempts) {
      return MakeError(ErrorKind::kCommitFailed, "commit to " + id.ToString() + " failed after " +
                                                     std::to_string(attempt) + " attempts: " + committed.error().message);
    }
    Log(LogLevel::kInfo, "commit conflict, retrying", {{"table", id.ToString()}, {"attempt", std::to_string(attempt)}});
    // Back off with jitter so concurrent writers stop colliding (each retry re-does its
    // manifest writes, so retrying at once tends to lose again).
    int64_t cap_ms = std::min<int64_t>(1000, 10LL << std::min(attempt, 6));
    std::this_thread::sleep_for(std::chrono::milliseconds(NewPositiveId() % cap_ms + 1));
  }
}

// Removes the data files of a failed write (all named <prefix>...).
void RemoveFilesWithPrefix(const std::string& local_dir, const std::string& prefix) {
  std::error_code ec;
  // Partitioned writes put files in sub-folders (DuckDB's PARTITION_BY layout).
  for (std::filesystem::recursive_directory_iterator it(local_dir, ec), end; it != end && !ec; it.increment(ec)) {
    if (it->path().filename().string().starts_with(prefix)) std::filesystem::remove(it->path(), ec);
  }
}

}  // namespace

// The one schema must also be the first one (id 0): a table whose old schemas were removed
// after an evolution keeps one schema with a later id, and its older files may use older names.
bool ColumnsMatchNames(const iceberg::TableMetadata& m) {
  return m.schemas.size() == 1 && m.schemas[0].schema_id() == 0 &&
         !m.properties.count("schema.name-mapping.default");
}

Result<catalog::LoadedTable> CreateTable(Warehouse& w, const catalog::TableIdentifier& id,
                                         const iceberg::Schema& schema, const iceberg::PartitionSpec& spec,
                                         const std::map<std::string, std::string>& properties) {
  auto valid = schema.Validate();
  if (!valid) return MakeError(ErrorKind::kInvalidArgument, "schema of " + id.ToString() + ": " + valid.error().message);
  FRZ_ASSIGN_OR_RETURN(bool ns_exists, w.catalog().NamespaceExists(id.ns));
  if (!ns_exists) {
    auto s = w.catalog().CreateNamespace(id.ns, {});
    if (!s && s.error().kind != ErrorKind::kAlreadyExists) return std::unexpected(s.error());
  }
  return w.catalog().CreateTable(id, schema, spec, iceberg::SortOrder{}, std::nullopt, properties);
}

Result<std::vector<iceberg::DataFile>> WriteQueryFiles(Warehouse& w, engine::Connection& con,
                                                       const catalog::TableIdentifier& id,
                                                       const iceberg::TableMetadata& metadata,
                                                       const iceberg::Schema& schema, const std::string& select_sql,
                                                       ProgressFn progress) {
  const iceberg::PartitionSpec* spec = metadata.default_spec();
  if (spec == nullptr) return MakeError(ErrorKind::kCorrupt, id.ToString() + ": metadata has no default spec");
  // Match the query's columns to the table by name.
  FRZ_ASSIGN_OR_RETURN(auto probe, con.Query("SELECT * FROM (" + select_sql + ") LIMIT 0"));
  std::map<std::string, std::string> query_cols;  // lower name -> actual name
  for (size_t i = 0; i < probe.column_count(); ++i) query_cols[AsciiLower(probe.column_name(i))] = probe.column_name(i);
  std::string projection;
  std::set<std::string> used;
  for (const auto& f : schema.fields()) {
    if (!projection.empty()) projection += ", ";
    auto it = query_cols.find(AsciiLower(f.name));
    if (it == query_cols.end()) {
      if (f.required) {
        return MakeError(ErrorKind::kInvalidArgument, "cannot write to " + id.ToString() + ": required column '" + f.name + "' is missing from the input");
      }
      projection += "NULL";
    } else {
      projection += engine::QuoteIdentifier(it->second);
      used.insert(it->first);
    }
  }
  for (const auto& [lower, name] : query_cols) {
    if (!used.count(lower)) {
      return MakeError(ErrorKind::kInvalidArgument, "cannot write to " + id.ToString() + ": the input has column '" + name +
                                                        "' which the table does not have (add it with `frazil table alter " +
                                                        id.ToString() + " add-column " + name + " <type>`)");
    }
  }
  std::string sql = "SELECT " + projection + " FROM (" + select_sql + ")";
  const std::string data_dir = iceberg::DataDir(metadata);
  FRZ_ASSIGN_OR_RETURN(std::string local_dir, w.io().WriteDir(data_dir));
  engine::WriteOptions opts;
  opts.target_file_size_bytes = metadata.PropertyInt("write.target-file-size-bytes", w.config().target_file_size_bytes);
  opts.compression = metadata.Property("write.parquet.compression-codec", w.config().parquet_compression);
  opts.file_prefix = NewUuid();
  std::optional<engine::ProgressPoller> poller;
  if (progress) {
    poller.emplace(con, [progress](const engine::QueryProgress& p) { progress(p.percentage, p.rows_processed); });
  }
  auto written = spec->is_unpartitioned() ? engine::WriteParquet(con, sql, schema, local_dir, opts)
                                          : engine::WritePartitioned(con, sql, schema, *spec, local_dir, opts);
  poller.reset();
  if (!written) {
    // The write failed part-way (a bad value in row N, a full disk): remove what it wrote.
    RemoveFilesWithPrefix(local_dir, opts.file_prefix);
    return MakeError(written.error().kind, "loading into " + id.ToString() + ": " + written.error().message);
  }
  // Required columns must not receive nulls: the file metrics tell without another scan.
  for (const auto& f : *written) {
    for (const auto& field : schema.fields()) {
      auto it = f.null_value_counts.find(field.id);
      if (field.required && it != f.null_value_counts.end() && it->second > 0) {
        RemoveFilesWithPrefix(local_dir, opts.file_prefix);
        return MakeError(ErrorKind::kInvalidArgument, "cannot write to " + id.ToString() + ": required column '" + field.name +
                                                          "' would receive " + std::to_string(it->second) + " null value(s)");
      }
    }
  }
  if (Status s = engine::PublishFiles(w.io(), data_dir, &*written); !s) {
    return MakeError(s.error().kind, "loading into " + id.ToString() + ": " + s.error().message);
  }
  return std::move(*written);
}

Result<WriteResult> AppendQuery(Warehouse& w, const catalog::TableIdentifier& id, const std::string& select_sql,
                                bool overwrite, ProgressFn progress) {
  FRZ_ASSIGN_OR_RETURN(auto lease, w.catalog().AcquireWriteLease(false));  // our files stay ours until the commit ends
  FRZ_ASSIGN_OR_RETURN(auto table, w.catalog().LoadTable(id));
  const iceberg::Schema* schema = table.metadata.current_schema();
  const iceberg::PartitionSpec* spec = table.metadata.default_spec();
  if (schema == nullptr || spec == nullptr) return MakeError(ErrorKind::kCorrupt, id.ToString() + ": metadata has no current schema or spec");
  FRZ_ASSIGN_OR_RETURN(auto con, engine::Connection::Open(w.db()));
  FRZ_ASSIGN_OR_RETURN(auto files, WriteQueryFiles(w, con, id, table.metadata, *schema, select_sql, progress));
  auto result = CommitDataFiles(w, id, files, spec->spec_id, schema->schema_id(), overwrite);
  if (!result && result.error().kind != ErrorKind::kCommitStateUnknown) {
    // The data files were never referenced by a committed snapshot: remove them, unless
    // the commit's outcome is unknown.
    for (const auto& f : files) (void)w.io().Delete(f.file_path);
  }
  return result;
}

Result<WriteResult> CommitDataFiles(Warehouse& w, const catalog::TableIdentifier& id,
                                    const std::vector<iceberg::DataFile>& files, int spec_id, int schema_id,
                                    bool overwrite) {
  return CommitSnapshot(w, id, [&](const catalog::LoadedTable& current) -> Result<iceberg::SnapshotChanges> {
    if (current.metadata.current_schema_id != schema_id || current.metadata.default_spec_id != spec_id) {
      return MakeError(ErrorKind::kCommitFailed, id.ToString() + " changed schema or partitioning during the write; run it again");
    }
    iceberg::SnapshotChanges c;
    c.spec_id = spec_id;
    c.added_data_files = files;
    if (overwrite) {
      c.operation = "overwrite";
      if (const auto* snap = current.metadata.current_snapshot()) {
        FRZ_ASSIGN_OR_RETURN(auto live, iceberg::ReadLiveFiles(current.metadata, *snap, w.io()));
        for (const auto& lf : live) c.removed_files.insert(lf.entry.data_file.file_path);
      }
    }
    return c;
  });
}

Result<std::string> TableScanSql(Warehouse& w, const catalog::LoadedTable& table, const iceberg::ScanOptions& options) {
  FRZ_ASSIGN_OR_RETURN(auto plan, iceberg::PlanScan(table.metadata, w.io(), options));
  Log(LogLevel::kDebug, "scan planned",
      {{"table", table.metadata.location},
       {"snapshot", plan.snapshot ? std::to_string(plan.snapshot->snapshot_id) : "none"},
       {"filter_terms", std::to_string(options.filter.size())},
       {"files", std::to_string(plan.tasks.size())},
       {"files_skipped", std::to_string(plan.files_skipped)},
       {"manifests_skipped", std::to_string(plan.manifests_skipped) + "/" + std::to_string(plan.manifests_total)}});
  engine::ScanSqlOptions so;
  so.columns_match_names = ColumnsMatchNames(table.metadata);
  return engine::ScanSql(plan.schema, plan.tasks, [&w](const std::string& loc) { return w.io().ScanPath(loc); }, so);
}

Result<WriteResult> DeleteWhere(Warehouse& w, const catalog::TableIdentifier& id, const std::string& predicate) {
  FRZ_ASSIGN_OR_RETURN(auto lease, w.catalog().AcquireWriteLease(false));  // our files stay ours until the commit ends
  FRZ_ASSIGN_OR_RETURN(auto table, w.catalog().LoadTable(id));
  const auto* snap = table.metadata.current_snapshot();
  if (snap == nullptr) return WriteResult{};
  const int64_t base_snapshot = snap->snapshot_id;
  FRZ_ASSIGN_OR_RETURN(auto plan, iceberg::PlanScan(table.metadata, w.io(), {}));
  engine::ScanSqlOptions so;
  so.with_row_position = true;
  so.columns_match_names = ColumnsMatchNames(table.metadata);
  FRZ_ASSIGN_OR_RETURN(std::string scan, engine::ScanSql(plan.schema, plan.tasks,
                                                         [&w](const std::string& loc) { return w.io().ScanPath(loc); }, so));
  FRZ_ASSIGN_OR_RETURN(auto con, engine::Connection::Open(w.db()));
  // One delete file per data file: each names exactly one data file, so readers match it
  // without partition logic, and rewriting that data file later drops its deletes with it.
  std::map<std::string, const iceberg::FileScanTask*> task_of;  // by the path DuckDB reads (ScanPath)
  for (const auto& t : plan.tasks) task_of[w.io().ScanPath(t.data_file.file_path)] = &t;
  std::string matched = "SELECT " + std::string(engine::kFilePathColumn) + ", " + engine::kRowPositionColumn + " FROM (" +
                        scan + ") WHERE (" + predicate + ")";
  const std::string file_col = engine::kFilePathColumn;
  FRZ_ASSIGN_OR_RETURN(auto counts, con.Query("SELECT " + file_col + ", count(*) FILTER (WHERE (" + predicate +
                                                ")) AS matched, count(*) AS live FROM (" + scan + ") GROUP BY 1 "
                                                "HAVING matched > 0 ORDER BY 1"));
  auto rows = counts.FetchAll();
  if (rows.empty()) return WriteResult{};
  // The matching positions, computed once: each delete file below reads its own slice
  // instead of re-scanning the table per affected data file.
  const std::string positions = "__frazil_delete_" + NewUuid().substr(0, 8);
  FRZ_RETURN_IF_ERROR(con.Execute("CREATE TEMP TABLE " + positions + " AS " + matched));
  struct DropTemp {
    engine::Connection& con;
    std::string name;
    ~DropTemp() { (void)con.Execute("DROP TABLE IF EXISTS " + name); }
  } drop_temp{con, positions};
  const std::string data_dir = iceberg::DataDir(table.metadata);
  FRZ_ASSIGN_OR_RETURN(std::string local_dir, w.io().WriteDir(data_dir));
  std::vector<iceberg::DataFile> delete_files;
  std::vector<int> spec_ids;
  std::set<std::string> removed;  // data files whose every live row matched, and their deletes
  int64_t deleted_rows = 0;
  for (const auto& row : rows) {
    const std::string& local = *row[0];
    const auto* task = task_of.at(local);
    const std::string& path = task->data_file.file_path;
    int64_t matched_rows = std::stoll(*row[1]);
    deleted_rows += matched_rows;
    if (matched_rows == std::stoll(*row[2])) {
      // Nothing of this file survives: drop it from the table instead of masking it.
      removed.insert(path);
      for (const auto& d : task->position_deletes) {
        if (d.referenced_data_file == path) removed.insert(d.file_path);
      }
      continue;
    }
    FRZ_ASSIGN_OR_RETURN(auto files, engine::WritePositionDeletes(
                                         con, "SELECT " + engine::QuoteLiteral(path) + ", " + engine::kRowPositionColumn +
                                                  " FROM " + positions + " WHERE " + file_col + " = " +
                                                  engine::QuoteLiteral(local),
                                         local_dir));
    FRZ_RETURN_IF_ERROR(engine::PublishFiles(w.io(), data_dir, &files));
    for (auto& f : files) {
      f.partition = task->data_file.partition;
      f.referenced_data_file = path;
      delete_files.push_back(std::move(f));
      spec_ids.push_back(task->spec_id);
    }
  }
  if (delete_files.empty() && removed.empty()) return WriteResult{};
  auto result = CommitSnapshot(w, id, [&](const catalog::LoadedTable& current) -> Result<iceberg::SnapshotChanges> {
    if (current.metadata.current_snapshot_id != base_snapshot) {
      // Another writer committed in between: the positions computed above may no longer
      // be the rows the predicate selects. Fail rather than delete the wrong rows.
      return MakeError(ErrorKind::kCommitFailed, id.ToString() + " changed while deleting; run the delete again");
    }
    iceberg::SnapshotChanges c;
    c.operation = "delete";
    c.spec_id = spec_ids.empty() ? current.metadata.default_spec_id : spec_ids.front();
    c.added_delete_files = delete_files;
    c.delete_spec_ids = spec_ids;
    c.removed_files = removed;
    return c;
  });
  if (!result && result.error().kind != ErrorKind::kCommitStateUnknown) {
    for (const auto& f : delete_files) (void)w.io().Delete(f.file_path);
  }
  if (result) result->rows = deleted_rows;
  return result;
}

}  // namespace frazil::app
