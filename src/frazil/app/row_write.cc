// WriteRows: deletes by key, overwrite, schema change and inserted rows in one snapshot.
#include <set>

#include "frazil/app/table_ops.h"
#include "frazil/base/log.h"
#include "frazil/base/random.h"
#include "frazil/engine/parquet_writer.h"
#include "frazil/engine/table_scan.h"
#include "frazil/iceberg/snapshot_producer.h"
#include "frazil/iceberg/table_update.h"

namespace frazil::app {
namespace {

struct TempTable {
  engine::Connection& con;
  std::string name;
  ~TempTable() { (void)con.Execute("DROP TABLE IF EXISTS " + name); }
};

// The position deletes that remove the rows of `table` whose `keys` match a row of
// `keys_sql`: one delete file per data file, or the data file itself (and its delete files)
// when none of its rows survive.
struct KeyDeletes {
  std::vector<iceberg::DataFile> delete_files;
  std::vector<int> spec_ids;
  std::set<std::string> removed;
  int64_t rows = 0;
};
Result<KeyDeletes> DeleteByKeys(Warehouse& w, engine::Connection& con, const catalog::LoadedTable& table,
                                const RowWrite& write) {
  KeyDeletes out;
  const auto* snap = table.metadata.current_snapshot();
  if (snap == nullptr) return out;
  iceberg::ScanOptions so_plan;
  so_plan.snapshot_id = snap->snapshot_id;
  FRZ_ASSIGN_OR_RETURN(auto plan, iceberg::PlanScan(table.metadata, w.io(), so_plan));
  engine::ScanSqlOptions so;
  so.with_row_position = true;
  so.columns_match_names = ColumnsMatchNames(table.metadata);
  FRZ_ASSIGN_OR_RETURN(std::string scan, engine::ScanSql(plan.schema, plan.tasks,
                                                         [&w](const std::string& loc) { return w.io().ScanPath(loc); }, so));
  std::string on;
  for (const auto& k : write.delete_keys) {
    if (!on.empty()) on += " AND ";
    on += "t." + engine::QuoteIdentifier(k) + " = k." + engine::QuoteIdentifier(k);
  }
  const std::string file_col = engine::kFilePathColumn;
  const std::string pos_col = engine::kRowPositionColumn;
  // Every row's position, flagged when its key matches; the per-file counts tell which
  // files lose all their rows.
  TempTable positions{con, "__frazil_keydel_" + NewUuid().substr(0, 8)};
  FRZ_RETURN_IF_ERROR(con.Execute("CREATE TEMP TABLE " + positions.name + " AS SELECT t." + file_col + " AS f, t." + pos_col +
                                  " AS p, k.__frazil_hit IS NOT NULL AS hit FROM (" + scan + ") AS t LEFT JOIN (SELECT DISTINCT *, "
                                  "true AS __frazil_hit FROM (" + write.delete_keys_sql + ")) AS k ON " + on));
  std::map<std::string, const iceberg::FileScanTask*> task_of;  // by the path DuckDB reads (ScanPath)
  for (const auto& t : plan.tasks) task_of[w.io().ScanPath(t.data_file.file_path)] = &t;
  FRZ_ASSIGN_OR_RETURN(auto counts, con.Query("SELECT f, count(*) FILTER (WHERE hit), count(*) FROM " + positions.name +
                                              " GROUP BY 1 HAVING count(*) FILTER (WHERE hit) > 0 ORDER BY 1"));
  const std::string data_dir = iceberg::DataDir(table.metadata);
  FRZ_ASSIGN_OR_RETURN(std::string local_dir, w.io().WriteDir(data_dir));
  for (const auto& row : counts.FetchAll()) {
    const std::string& local = *row[0];
    const iceberg::FileScanTask* task = task_of.at(local);
    const std::string& path = task->data_file.file_path;
    int64_t n = std::stoll(*row[1]);
    out.rows += n;
    if (n == std::stoll(*row[2])) {
      out.removed.insert(path);
      for (const auto& d : task->position_deletes) {
        if (d.referenced_data_file == path) out.removed.insert(d.file_path);
      }
      continue;
    }
    FRZ_ASSIGN_OR_RETURN(auto files, engine::WritePositionDeletes(
                                         con, "SELECT " + engine::QuoteLiteral(path) + ", p FROM " + positions.name +
                                                  " WHERE hit AND f = " + engine::QuoteLiteral(local),
                                         local_dir));
    FRZ_RETURN_IF_ERROR(engine::PublishFiles(w.io(), data_dir, &files));
    for (auto& f : files) {
      f.partition = task->data_file.partition;
      f.referenced_data_file = path;
      out.delete_files.push_back(std::move(f));
      out.spec_ids.push_back(task->spec_id);
    }
  }
  return out;
}

}  // namespace

Result<RowWriteResult> WriteRows(Warehouse& w, engine::Connection& con, const RowWrite& write) {
  FRZ_ASSIGN_OR_RETURN(auto lease, w.catalog().AcquireWriteLease(false));  // our files stay ours until the commit ends
  const auto& id = write.id;
  FRZ_ASSIGN_OR_RETURN(auto table, w.catalog().LoadTable(id));
  const auto* snap = table.metadata.current_snapshot();
  std::optional<int64_t> current = snap ? std::optional<int64_t>(snap->snapshot_id) : std::nullopt;
  if (write.check_expected && current != write.expected_snapshot_id) {
    return MakeError(ErrorKind::kCommitFailed, id.ToString() + " changed (snapshot " +
                                                   (current ? std::to_string(*current) : "none") + ") since it was read");
  }
  // The metadata the new files are written against: the schema change applied first.
  std::vector<iceberg::TableUpdate> schema_updates;
  iceberg::TableMetadata target = table.metadata;
  const iceberg::Schema* old_schema = table.metadata.current_schema();
  if (old_schema == nullptr) return MakeError(ErrorKind::kCorrupt, id.ToString() + ": metadata has no current schema");
  if (write.schema && !write.schema->SameStructure(*old_schema)) {
    iceberg::Schema s = *write.schema;
    int last_id = std::max(table.metadata.last_column_id, s.HighestFieldId());
    schema_updates.push_back(iceberg::upd::AddSchema{s, last_id});
    schema_updates.push_back(iceberg::upd::SetCurrentSchema{-1});
    FRZ_ASSIGN_OR_RETURN(target, iceberg::ApplyUpdates(&table.metadata, schema_updates, w.clock().NowMillis()));
  }
  const iceberg::Schema* schema = target.current_schema();
  const iceberg::PartitionSpec* spec = target.default_spec();
  if (schema == nullptr || spec == nullptr) return MakeError(ErrorKind::kCorrupt, id.ToString() + ": metadata has no schema or spec");

  KeyDeletes deletes;
  if (!write.overwrite && !write.delete_keys_sql.empty()) {
    FRZ_ASSIGN_OR_RETURN(deletes, DeleteByKeys(w, con, table, write));
  }
  std::vector<iceberg::DataFile> data_files;
  if (!write.insert_sql.empty()) {
    auto files = WriteQueryFiles(w, con, id, target, *schema, write.insert_sql);
    if (!files) {
      for (const auto& f : deletes.delete_files) (void)w.io().Delete(f.file_path);
      return std::unexpected(files.error());
    }
    data_files = std::move(*files);
  }
  auto cleanup = [&] {
    for (const auto& f : deletes.delete_files) (void)w.io().Delete(f.file_path);
    for (const auto& f : data_files) (void)w.io().Delete(f.file_path);
  };
  iceberg::SnapshotChanges c;
  c.spec_id = spec->spec_id;
  c.added_data_files = data_files;
  c.added_delete_files = deletes.delete_files;
  c.delete_spec_ids = deletes.spec_ids;
  c.removed_files = deletes.removed;
  c.extra_summary = write.summary;
  int64_t deleted_rows = deletes.rows;
  if (write.overwrite && snap != nullptr) {
    auto live = iceberg::ReadLiveFiles(table.metadata, *snap, w.io());
    if (!live) {
      cleanup();
      return std::unexpected(live.error());
    }
    for (const auto& lf : *live) c.removed_files.insert(lf.entry.data_file.file_path);
    deleted_rows = snap->summary.count("total-records") ? std::stoll(snap->summary.at("total-records")) : 0;
    if (snap->summary.count("total-position-deletes")) deleted_rows -= std::stoll(snap->summary.at("total-position-deletes"));
  }
  if (c.added_data_files.empty() && c.added_delete_files.empty() && c.removed_files.empty() && schema_updates.empty()) {
    return RowWriteResult{};  // nothing changes: no empty snapshot
  }
  c.operation = (c.removed_files.empty() && c.added_delete_files.empty()) ? "append"
                : (c.added_data_files.empty() && !write.overwrite)        ? "delete"
                                                                          : "overwrite";
  auto produced = iceberg::ProduceSnapshot(target, w.io(), c, w.clock().NowMillis());
  if (!produced) {
    cleanup();
    return std::unexpected(produced.error());
  }
  std::vector<iceberg::TableRequirement> reqs = produced->requirements;
  std::vector<iceberg::TableUpdate> updates = schema_updates;
  if (!schema_updates.empty()) reqs.push_back(iceberg::req::AssertCurrentSchemaId{table.metadata.current_schema_id});
  updates.insert(updates.end(), produced->updates.begin(), produced->updates.end());
  auto committed = w.catalog().CommitTable(id, reqs, updates);
  if (!committed) {
    if (committed.error().kind != ErrorKind::kCommitStateUnknown) {
      cleanup();
      for (const auto& f : produced->written_files) (void)w.io().Delete(f);
    }
    return std::unexpected(committed.error());
  }
  RowWriteResult r;
  r.snapshot_id = produced->snapshot.snapshot_id;
  for (const auto& f : data_files) r.rows_inserted += f.record_count;
  r.rows_deleted = deleted_rows;
  return r;
}

}  // namespace frazil::app
