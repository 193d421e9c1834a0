#include "frazil/cdc/mirror_table.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "frazil/base/clock.h"
#include "frazil/base/log.h"
#include "frazil/base/strings.h"
#include "frazil/cdc/pg_types.h"
#include "frazil/engine/row_buffer.h"
#include "frazil/engine/table_scan.h"
#include "frazil/engine/types.h"
#include "frazil/iceberg/scan.h"
#include "frazil/iceberg/snapshot_producer.h"
#include "frazil/iceberg/table_update.h"

namespace frazil::cdc {
namespace {

using engine::QuoteIdentifier;

// A key column's value as text that does not depend on session settings.
// The name an old field gets while a rewrite reads it beside the new schema.
std::string OldFieldName(int id) { return "__frazil_old_" + std::to_string(id); }

std::string KeyPartSql(const iceberg::NestedField& f, const std::string& expr) {
  if (f.type->id == iceberg::TypeId::kTimestampTz) return "CAST(epoch_us(" + expr + ") AS VARCHAR)";
  return "CAST(" + expr + " AS VARCHAR)";
}

}  // namespace

bool MirrorOptions::Wants(const std::string& schema, const std::string& table) const {
  if (!enabled) return false;
  std::string qualified = AsciiLower(schema + "." + table);
  for (const auto& e : exclude) {
    std::string x = AsciiLower(e);
    if (x.find('.') == std::string::npos) x = "public." + x;
    if (x == qualified) return false;
  }
  return true;
}

iceberg::Schema MirrorSchema(const iceberg::Schema& raw_schema) {
  std::vector<iceberg::NestedField> fields;
  for (const auto& f : raw_schema.fields()) {
    if (!IsChangelogColumn(f.name)) fields.push_back(f);
  }
  return iceberg::Schema(raw_schema.schema_id(), std::move(fields));
}

Result<std::unique_ptr<MirrorTable>> MirrorTable::Open(const Deps& deps, const MirrorOptions& options,
                                                       engine::Connection& con, const catalog::TableIdentifier& id,
                                                       const catalog::TableIdentifier& raw_id,
                                                       const catalog::LoadedTable& raw, const SourceTable& source,
                                                       const std::string& slot) {
  std::unique_ptr<MirrorTable> m(new MirrorTable(deps, options));
  m->id_ = id;
  m->raw_id_ = raw_id;
  auto& catalog = *deps.catalog;
  const iceberg::Schema* raw_schema = raw.metadata.current_schema();
  if (raw_schema == nullptr) return MakeError(ErrorKind::kCorrupt, "raw table of " + id.ToString() + " has no schema");
  m->SetSource(source);
  FRZ_ASSIGN_OR_RETURN(bool exists, catalog.TableExists(id));
  if (!exists) {
    FRZ_RETURN_IF_ERROR(EnsureNamespace(catalog, id.ns));
    std::string key = m->KeyProperty();
    auto created = catalog.CreateTable(
        id, MirrorSchema(*raw_schema), iceberg::PartitionSpec{}, iceberg::SortOrder{}, std::nullopt,
        {{kSlotProperty, slot}, {kSourceProperty, source.QualifiedName()}, {kMirrorKeyProperty, key},
         {kMirrorOfProperty, raw_id.ToString()}});
    if (!created && created.error().kind != ErrorKind::kAlreadyExists) return std::unexpected(created.error());
    if (created) {
      Log(LogLevel::kInfo, "created mirror table", {{"table", id.ToString()}, {"source", source.QualifiedName()}});
    }
  }
  FRZ_ASSIGN_OR_RETURN(m->table_, catalog.LoadTable(id));
  const auto& md = m->table_.metadata;
  auto fed_from = md.properties.find(kSourceProperty);
  if (fed_from != md.properties.end() && fed_from->second != source.QualifiedName()) {
    return MakeError(ErrorKind::kInvalidArgument, "mirror table " + id.ToString() + " already mirrors " +
                                                      fed_from->second + ", not " + source.QualifiedName() +
                                                      ": use another source.mirror_namespace");
  }
  FRZ_RETURN_IF_ERROR(m->LoadState());
  if (m->mode_ == MirrorMode::kInsertOnly) {
    Log(LogLevel::kWarn,
        "source table has no primary key or replica identity: its mirror is insert-only (PostgreSQL refuses its "
        "updates and deletes while it is published)",
        {{"table", id.ToString()}, {"source", source.QualifiedName()}});
  }
  // Follow the raw table's schema.
  FRZ_RETURN_IF_ERROR(m->UpdateSource(con, source, *raw_schema, raw.metadata.last_column_id));
  m->previous_from_wal_ = false;  // today's definition: the next Relation message may be older
  Lsn raw_lsn = 0, mirror_lsn = 0;
  if (auto it = raw.metadata.properties.find(kLsnProperty); it != raw.metadata.properties.end()) {
    raw_lsn = ParseLsn(it->second).value_or(0);
  }
  if (auto it = md.properties.find(kLsnProperty); it != md.properties.end()) {
    mirror_lsn = ParseLsn(it->second).value_or(0);
  }
  if (mirror_lsn > raw_lsn) {
    return MakeError(ErrorKind::kCorrupt, "mirror table " + id.ToString() + " is at LSN " + FormatLsn(mirror_lsn) +
                                              ", ahead of its raw table (" + FormatLsn(raw_lsn) +
                                              "): was the raw table replaced? Drop the mirror to rebuild it");
  }
  if (mirror_lsn < raw_lsn) {
    // Replay the raw table's committed changes the mirror has not seen.
    Log(LogLevel::kInfo, "bringing the mirror table up to its raw table",
        {{"table", id.ToString()}, {"from", FormatLsn(mirror_lsn)}, {"to", FormatLsn(raw_lsn)}});
    FRZ_ASSIGN_OR_RETURN(auto plan, iceberg::PlanScan(raw.metadata, *deps.io, {}));
    FRZ_ASSIGN_OR_RETURN(std::string scan,
                         engine::ScanSql(*raw_schema, plan.tasks,
                                         [&deps](const std::string& loc) { return deps.io->ScanPath(loc); }));
    std::string l = std::to_string(mirror_lsn);
    std::string sql = mirror_lsn == 0 ? scan
                                      : "SELECT * FROM (" + scan + ") WHERE (_op <> 'r' AND _commit_lsn >= " + l +
                                            ") OR (_op = 'r' AND _commit_lsn > " + l + ")";
    FRZ_RETURN_IF_ERROR(m->Apply(con, sql));
    FRZ_ASSIGN_OR_RETURN(auto commit, m->PrepareCommit(raw_lsn, {}));
    FRZ_ASSIGN_OR_RETURN(auto committed, catalog.CommitTransaction({commit}));
    m->Committed(committed[0]);
  }
  return m;
}

MirrorTable::~MirrorTable() { SaveIndex(); }

void MirrorTable::SetSource(const SourceTable& source) {
  source_ = source;
  std::vector<std::string> keys;
  for (const auto& c : source.columns) {
    if (c.is_key) keys.push_back(c.name);
  }
  MirrorMode mode = MirrorMode::kInsertOnly;
  bool pk_usable = !source.primary_key.empty();
  for (const auto& k : source.primary_key) {
    bool found = false;
    for (const auto& c : source.columns) found = found || c.name == k;
    pk_usable = pk_usable && found;
  }
  if (source.replica_identity == 'f' && pk_usable) {
    // Every column is identity, but the primary key still identifies a row.
    mode = MirrorMode::kKeyed;
    keys = source.primary_key;
  } else if (source.replica_identity == 'f') {
    mode = MirrorMode::kMultiset;
    keys.clear();
    for (const auto& c : source.columns) keys.push_back(c.name);
  } else if ((source.replica_identity == 'd' || source.replica_identity == 'i') && !keys.empty()) {
    mode = MirrorMode::kKeyed;
  } else {
    keys.clear();
  }
  if (mode != mode_ || keys != key_columns_) index_valid_ = false;  // rebuilt before the next Apply
  mode_ = mode;
  key_columns_ = std::move(keys);
}

const iceberg::Schema& MirrorTable::schema() const {
  return pending_schema_ ? *pending_schema_ : *table_.metadata.current_schema();
}

Status MirrorTable::UpdateSource(engine::Connection& con, const SourceTable& source, const iceberg::Schema& raw_schema,
                                 int last_column_id) {
  std::string signature = KeySignature();
  iceberg::Schema old = schema();
  SourceTable previous = source_;
  SetSource(source);
  iceberg::Schema next = MirrorSchema(raw_schema);
  // Columns whose PostgreSQL type changed but map to the same Iceberg type (text ->
  // varchar, a new typmod) keep their field, but PostgreSQL rewrote their values.
  std::set<std::string> retyped;
  for (const auto& c : previous_from_wal_ ? source.columns : std::vector<SourceColumn>{}) {
    for (const auto& p : previous.columns) {
      if (p.name == c.name && (p.type.oid != c.type.oid || p.type.typmod != c.type.typmod)) retyped.insert(c.name);
    }
  }
  bool changed = !next.SameStructure(old);
  if (changed) {
    pending_schema_ = next;
    pending_last_column_id_ = std::max({last_column_id, table_.metadata.last_column_id, next.HighestFieldId()});
    pending_ = true;
  }
  key_fields_.clear();
  for (const auto& k : key_columns_) {
    if (const auto* f = schema().FindField(std::string_view(k))) key_fields_.push_back(*f);
  }
  if (KeySignature() != signature) index_valid_ = false;  // rebuilt before the next change
  previous_from_wal_ = true;
  if (!changed && retyped.empty()) return Ok();
  // Fields new to the mirror: what the rows it already holds read for them. PostgreSQL
  // changed those rows without logging them (a retype rewrites the table; an added
  // column's constant default is stored once, as the "missing value").
  std::map<std::string, std::string> fills;  // new field -> SQL over the old fields
  bool any_rows = false;
  for (const auto& f : files_) any_rows = any_rows || f.live;
  if (!any_rows) return Ok();
  std::vector<const iceberg::NestedField*> added;
  std::set<std::string> keys(key_columns_.begin(), key_columns_.end());
  for (const auto& f : next.fields()) {
    // Key columns are never refilled: they are what rows are matched by.
    if (old.FindField(f.id) == nullptr || (retyped.count(f.name) && !keys.count(f.name))) added.push_back(&f);
  }
  if (added.empty()) return Ok();
  bool key_kept = true;  // the key columns read as before (a retyped key is derived below)
  for (const auto& k : key_fields_) key_kept = key_kept && old.FindField(k.id) != nullptr;
  if (mode_ == MirrorMode::kKeyed && deps_.read_source && key_kept) {
    // Today's values may not fit a definition replayed from the past (a later retype):
    // then those rows changed since, and deriving the values is as good.
    auto fetched = FetchFromSource(con, added);
    Status done = fetched ? Status(Ok()) : Status(std::unexpected(fetched.error()));
    if (fetched) {
      for (const auto* f : added) fills[f->name] = "__frazil_src." + QuoteIdentifier(f->name);
      done = RewriteAll(con, old, fills, *fetched);
      if (done) return Ok();
      fills.clear();
    }
    Log(LogLevel::kInfo, "new columns of a mirrored table not taken from the source; deriving them",
        {{"table", id_.ToString()}, {"reason", done.error().message.substr(0, 300)}});
  }
  for (const auto& f : next.fields()) {
    if (old.FindField(f.id) != nullptr) continue;
    const auto* was = old.FindField(std::string_view(f.name));
    const SourceColumn* col = nullptr;
    for (const auto& c : source.columns) {
      if (c.name == f.name) col = &c;
    }
    if (was != nullptr) {
      fills[f.name] = "TRY_CAST(" + QuoteIdentifier(OldFieldName(was->id)) + " AS " + engine::IcebergTypeToDuckDb(*f.type) + ")";
      Log(LogLevel::kWarn,
          "a column of a mirrored table changed type: the mirror converts its rows with DuckDB's cast; values "
          "PostgreSQL converted otherwise (ALTER ... USING) are not known to frazil until the rows change (check "
          "with frazil verify)",
          {{"table", id_.ToString()}, {"column", f.name}, {"type", f.type->ToString()}});
    } else if (col != nullptr && col->missing_value) {
      FRZ_ASSIGN_OR_RETURN(fills[f.name], CastSql(col->type, engine::QuoteLiteral(*col->missing_value)));
    }
  }
  if (fills.empty()) return Ok();
  return RewriteAll(con, old, fills, "");
}

// Reads the key and `fields` of every source row into a temporary table and returns the
// join that matches them to the mirror's rows (alias __frazil_src).
Result<std::string> MirrorTable::FetchFromSource(engine::Connection& con,
                                                 const std::vector<const iceberg::NestedField*>& fields) {
  std::vector<const SourceColumn*> cols;
  auto column = [&](const std::string& name) -> const SourceColumn* {
    for (const auto& c : source_.columns) {
      if (c.name == name) return &c;
    }
    return nullptr;
  };
  for (const auto& k : key_fields_) cols.push_back(column(k.name));
  for (const auto* f : fields) cols.push_back(column(f->name));
  std::string select, text_cols, typed;
  for (size_t i = 0; i < cols.size(); ++i) {
    if (cols[i] == nullptr) return MakeError(ErrorKind::kInternal, "a mirror column is not a source column");
    select += (i ? ", " : "") + PgQuoteIdentifier(cols[i]->name);
    text_cols += (i ? ", " : "") + std::string("c") + std::to_string(i) + " VARCHAR";
    FRZ_ASSIGN_OR_RETURN(auto cast, CastSql(cols[i]->type, "c" + std::to_string(i)));
    typed += (i ? ", " : "") + cast + " AS " + QuoteIdentifier(i < key_fields_.size() ? "__frazil_key" + std::to_string(i)
                                                                                      : cols[i]->name);
  }
  std::string table = "frazil_mirror_source";
  FRZ_RETURN_IF_ERROR(con.Execute("CREATE OR REPLACE TEMP TABLE " + table + " (" + text_cols + ")"));
  {
    FRZ_ASSIGN_OR_RETURN(auto app, engine::Appender::Open(con, table));
    std::vector<std::optional<std::string_view>> values;
    std::vector<std::string> scratch;
    FRZ_RETURN_IF_ERROR(deps_.read_source(
        "SELECT " + select + " FROM " + PgQuoteIdentifier(source_.schema) + "." + PgQuoteIdentifier(source_.name),
        [&](std::string_view line) -> Status {
          FRZ_RETURN_IF_ERROR(ParseCopyTextLine(line, cols.size(), values, scratch));
          for (const auto& v : values) FRZ_RETURN_IF_ERROR(v ? app.AppendString(*v) : app.AppendNull());
          return app.EndRow();
        }));
    FRZ_RETURN_IF_ERROR(app.Close());
  }
  std::string on;
  for (size_t i = 0; i < key_fields_.size(); ++i) {
    on += (i ? " AND " : "") + std::string("__frazil_m.") + QuoteIdentifier(key_fields_[i].name) +
          " IS NOT DISTINCT FROM __frazil_src." +
          QuoteIdentifier("__frazil_key" + std::to_string(i));
  }
  Log(LogLevel::kInfo, "read new columns of a mirrored table from the source", {{"table", id_.ToString()}});
  return " LEFT JOIN (SELECT " + typed + " FROM " + table + ") __frazil_src ON " + on;
}

// Rewrites every row, computing the `fills` columns from the old schema's fields.
Status MirrorTable::RewriteAll(engine::Connection& con, const iceberg::Schema& old,
                               const std::map<std::string, std::string>& fills, const std::string& join_sql) {
  pending_ = true;
  const iceberg::Schema& next = schema();
  std::vector<iceberg::NestedField> merged = next.fields();
  for (const auto& f : old.fields()) {
    if (next.FindField(f.id) != nullptr) continue;
    iceberg::NestedField renamed = f;
    renamed.name = OldFieldName(f.id);
    merged.push_back(std::move(renamed));
  }
  std::vector<iceberg::DataFile> deletes;
  for (const auto& d : delete_files_) {
    if (d.live) deletes.push_back(d.file);
  }
  std::vector<iceberg::FileScanTask> tasks;
  std::vector<uint32_t> old_files;
  for (uint32_t n = 0; n < files_.size(); ++n) {
    if (!files_[n].live) continue;
    iceberg::FileScanTask t;
    t.data_file = files_[n].file;
    t.spec_id = table_.metadata.default_spec_id;
    t.position_deletes = deletes;
    tasks.push_back(std::move(t));
    old_files.push_back(n);
  }
  FRZ_ASSIGN_OR_RETURN(std::string scan,
                       engine::ScanSql(iceberg::Schema(0, merged), tasks,
                                       [this](const std::string& loc) { return deps_.io->ScanPath(loc); }));
  std::string list;
  for (const auto& f : next.fields()) {
    auto fill = fills.find(f.name);
    list += (list.empty() ? "" : ", ") + (fill != fills.end() ? fill->second : "__frazil_m." + QuoteIdentifier(f.name));
  }
  FRZ_ASSIGN_OR_RETURN(std::string stage, WriteDir());
  auto written = engine::WriteParquet(con, "SELECT " + list + " FROM (" + scan + ") __frazil_m" + join_sql, next,
                                      stage, deps_.write);
  if (!join_sql.empty()) (void)con.Execute("DROP TABLE IF EXISTS frazil_mirror_source");
  if (written) written = Published(std::move(*written));
  if (!written) {
    return MakeError(written.error().kind, "rewriting mirror table " + id_.ToString() + " for its new columns: " +
                                               written.error().message);
  }
  for (uint32_t n : old_files) RemoveFile(n);
  for (auto& d : delete_files_) {
    if (!d.live) continue;
    d.live = false;
    if (!d.committed) (void)deps_.io->Delete(d.file.file_path);
  }
  std::vector<uint32_t> added;
  for (auto& f : *written) added.push_back(AddFile(std::move(f)));
  index_.Clear();
  FRZ_RETURN_IF_ERROR(IndexNewFiles(con, added, nullptr));
  index_valid_ = true;
  pending_ = true;
  Log(LogLevel::kInfo, "rewrote the mirror table with the values its rows have for new columns",
      {{"table", id_.ToString()}, {"files", std::to_string(added.size())}});
  return Ok();
}

// Rows are written sorted by key (min/max pruning for readers). Not by float keys: DuckDB
// 1.5.5 turns -0.0 into 0.0 in a column it sorts a materialized table by.
std::string MirrorTable::OrderSql() const {
  std::string order;
  if (mode_ != MirrorMode::kKeyed) return order;
  for (const auto& f : key_fields_) {
    if (f.type->id == iceberg::TypeId::kFloat || f.type->id == iceberg::TypeId::kDouble) return "";
    order += (order.empty() ? " ORDER BY " : ", ") + QuoteIdentifier(f.name);
  }
  return order;
}

std::string MirrorTable::KeyProperty() const {
  std::string key;
  for (const auto& k : key_columns_) key += (key.empty() ? "" : ",") + k;
  return key;
}

std::string MirrorTable::KeySignature() const {
  std::string sig = mode_ == MirrorMode::kKeyed ? "keyed:" : mode_ == MirrorMode::kMultiset ? "multiset:" : "none:";
  for (const auto& f : key_fields_) sig += std::to_string(f.id) + "/" + f.name + "/" + f.type->ToString() + ";";
  return sig;
}

std::string MirrorTable::KeySql(const std::string& qualifier) const {
  if (key_fields_.size() == 1) {
    return "COALESCE('v' || " + KeyPartSql(key_fields_[0], qualifier + QuoteIdentifier(key_fields_[0].name)) + ", 'n')";
  }
  std::string out;
  for (const auto& f : key_fields_) {
    std::string v = KeyPartSql(f, qualifier + QuoteIdentifier(f.name));
    out += (out.empty() ? "" : " || ") + std::string("COALESCE(CAST(length(") + v + ") AS VARCHAR) || ':' || " + v +
           ", 'n')";
  }
  return out.empty() ? "''" : out;
}

Result<std::string> MirrorTable::WriteDir() const { return deps_.io->WriteDir(iceberg::DataDir(table_.metadata)); }

Result<std::vector<iceberg::DataFile>> MirrorTable::Published(std::vector<iceberg::DataFile> files) const {
  FRZ_RETURN_IF_ERROR(engine::PublishFiles(*deps_.io, iceberg::DataDir(table_.metadata), &files));
  return files;
}

uint32_t MirrorTable::AddFile(iceberg::DataFile file) {
  auto n = static_cast<uint32_t>(files_.size());
  file_numbers_[file.file_path] = n;
  files_.push_back(FileState{std::move(file), 0, true, false});
  return n;
}

void MirrorTable::RemoveFile(uint32_t n) {
  auto& f = files_[n];
  if (!f.live) return;
  f.live = false;
  if (!f.committed) (void)deps_.io->Delete(f.file.file_path);  // never referenced by a commit
  pending_ = true;
}

Status MirrorTable::LoadState() {
  files_.clear();
  file_numbers_.clear();
  delete_files_.clear();
  pending_schema_.reset();
  pending_ = false;
  index_valid_ = false;
  const auto* snap = table_.metadata.current_snapshot();
  base_snapshot_id_ = snap ? std::optional<int64_t>(snap->snapshot_id) : std::nullopt;
  if (snap == nullptr) {
    index_.Clear();
    index_valid_ = true;
    return Ok();
  }
  FRZ_ASSIGN_OR_RETURN(auto live, iceberg::ReadLiveFiles(table_.metadata, *snap, *deps_.io));
  for (auto& lf : live) {
    if (lf.entry.data_file.content == iceberg::FileContent::kData) {
      uint32_t n = AddFile(lf.entry.data_file);
      files_[n].committed = true;
    } else if (lf.entry.data_file.content == iceberg::FileContent::kPositionDeletes) {
      delete_files_.push_back(DeleteFileState{lf.entry.data_file, true, true});
    } else {
      return MakeError(ErrorKind::kUnsupported, "mirror table " + id_.ToString() +
                                                    " has equality delete files (written by another engine): frazil "
                                                    "maintains mirrors with position deletes only; drop the mirror to "
                                                    "rebuild it");
    }
  }
  return Ok();
}

std::vector<iceberg::FileScanTask> MirrorTable::LiveTasks() const {
  std::vector<iceberg::DataFile> deletes;
  for (const auto& d : delete_files_) {
    if (d.live) deletes.push_back(d.file);
  }
  std::vector<iceberg::FileScanTask> tasks;
  for (const auto& f : files_) {
    if (!f.live) continue;
    iceberg::FileScanTask t;
    t.data_file = f.file;
    t.spec_id = table_.metadata.default_spec_id;
    if (f.deleted > 0 || !index_valid_) t.position_deletes = deletes;
    tasks.push_back(std::move(t));
  }
  return tasks;
}

Result<std::string> MirrorTable::CurrentRowsSql() const {
  return engine::ScanSql(schema(), LiveTasks(), [this](const std::string& loc) { return deps_.io->ScanPath(loc); });
}

Status MirrorTable::Truncate() {
  for (uint32_t n = 0; n < files_.size(); ++n) RemoveFile(n);
  for (auto& d : delete_files_) {
    if (!d.live) continue;
    d.live = false;
    if (!d.committed) (void)deps_.io->Delete(d.file.file_path);
  }
  index_.Clear();
  index_valid_ = true;
  pending_ = true;
  return Ok();
}

Status MirrorTable::WriteDeletes(engine::Connection& con, const std::vector<RowLocation>& rows) {
  if (rows.empty()) return Ok();
  FRZ_RETURN_IF_ERROR(engine::RegisterRowBufferFunction(con));
  engine::RowBuffer buf({{"file_path", engine::RowBuffer::Type::kVarchar}, {"pos", engine::RowBuffer::Type::kBigint}});
  for (const auto& loc : rows) {
    buf.AppendString(files_[loc.file].file.file_path);
    buf.AppendInt64(static_cast<int64_t>(loc.pos));
    buf.EndRow();
    ++files_[loc.file].deleted;
  }
  FRZ_ASSIGN_OR_RETURN(std::string stage, WriteDir());
  FRZ_ASSIGN_OR_RETURN(auto staged,
                       engine::WritePositionDeletes(con, "SELECT file_path, pos FROM " + buf.sql() + " ORDER BY 1, 2",
                                                    stage, deps_.write));
  FRZ_ASSIGN_OR_RETURN(auto written, Published(std::move(staged)));
  for (auto& d : written) {
    delete_files_.push_back(DeleteFileState{std::move(d), true, false});
  }
  pending_ = true;
  return Ok();
}

// Adds the rows of new data files to the index: read back their keys with row positions.
// With `replaced` (sorted file numbers), the rows moved from those files (a rewrite).
Status MirrorTable::IndexNewFiles(engine::Connection& con, const std::vector<uint32_t>& files,
                                  const std::vector<uint32_t>* replaced) {
  if (mode_ == MirrorMode::kInsertOnly || files.empty()) return Ok();
  for (uint32_t n : files) {
    std::string local = deps_.io->ScanPath(files_[n].file.file_path);
    FRZ_ASSIGN_OR_RETURN(auto q, con.Query("SELECT " + KeySql("") + ", CAST(file_row_number AS BIGINT) FROM read_parquet(" +
                                           engine::QuoteLiteral(local) + ", file_row_number = true)"));
    while (auto chunk = q.NextChunk()) {
      for (size_t r = 0; r < chunk->size(); ++r) {
        std::string_view key = chunk->GetStringView(0, r);
        RowLocation to{n, static_cast<uint64_t>(chunk->GetInt64(1, r))};
        if (replaced == nullptr) {
          index_.Insert(key, to);
        } else if (!index_.Move(key, *replaced, to)) {
          return MakeError(ErrorKind::kInternal, "rewriting mirror table " + id_.ToString() +
                                                     ": a rewritten row's key is not in the index");
        }
      }
    }
  }
  return Ok();
}

Status MirrorTable::Apply(engine::Connection& con, const std::string& raw_sql) {
  FRZ_RETURN_IF_ERROR(EnsureIndex(con));
  // From here the index and files may differ from the committed state: a failure part-way
  // must make DiscardPending return to it (and rebuild the index).
  pending_ = true;
  const auto& sch = schema();
  std::string cols;
  for (const auto& f : sch.fields()) cols += (cols.empty() ? "" : ", ") + QuoteIdentifier(f.name);
  if (cols.empty()) return Ok();
  // What the batch holds: updates/deletes, and the last truncate.
  FRZ_ASSIGN_OR_RETURN(auto info,
                       con.Query("SELECT count(*) FILTER (WHERE _op IN ('u', 'd')), count(*) FILTER (WHERE _op IN ('r', "
                                 "'c')), m.l, m.s FROM (SELECT *, max({'l': _commit_lsn, 's': _seq}) FILTER (WHERE _op = "
                                 "'t') OVER () AS m FROM (" + raw_sql + ")) GROUP BY m.l, m.s"));
  if (info.row_count() == 0) return Ok();  // no rows at all
  int64_t changes = info.GetInt64(0, 0);
  int64_t inserts = info.GetInt64(1, 0);
  std::string filtered = raw_sql;
  if (!info.IsNull(2, 0)) {
    std::string l = std::to_string(info.GetInt64(2, 0)), s = std::to_string(info.GetInt64(3, 0));
    FRZ_RETURN_IF_ERROR(Truncate());
    filtered = "SELECT * FROM (" + raw_sql + ") WHERE _commit_lsn > " + l + " OR (_commit_lsn = " + l + " AND _seq > " +
               s + ")";
    FRZ_ASSIGN_OR_RETURN(auto after, con.Query("SELECT count(*) FILTER (WHERE _op IN ('u', 'd')), count(*) FILTER "
                                               "(WHERE _op IN ('r', 'c')) FROM (" + filtered + ")"));
    changes = after.GetInt64(0, 0);
    inserts = after.GetInt64(1, 0);
  }
  if (changes > 0 && mode_ == MirrorMode::kInsertOnly) {
    return MakeError(ErrorKind::kCorrupt, "an update or delete of " + source_.QualifiedName() +
                                              " arrived, but the table has no replica identity; its mirror " +
                                              id_.ToString() + " cannot locate rows");
  }
  std::string order = OrderSql();
  std::string rows_sql;  // the rows to write
  std::string delta = "frazil_mirror_delta";
  bool have_delta = false;
  if (changes == 0) {
    if (inserts == 0) return Maintain(con);
    rows_sql = "SELECT " + cols + " FROM (" + filtered + ") WHERE _op IN ('r', 'c')" + order;
    if (mode_ == MirrorMode::kKeyed && index_.size() > 0) {
      // Inserts of keys the mirror already holds cannot come from PostgreSQL, except
      // after a replay: treat them as updates.
      changes = 1;
    }
  }
  if (changes > 0) {
    std::string new_key = KeySql(""), old_key = KeySql("_old.");
    std::string ev;
    if (mode_ == MirrorMode::kKeyed) {
      // A delete's row columns hold the old key (or row); an update that changes the key
      // has the old one in _old.
      ev = "SELECT " + new_key + " AS __k, _op <> 'd' AS __ins, _commit_lsn AS __l, _seq AS __s, 1 AS __sub, " + cols +
           " FROM r WHERE _op IN ('r', 'c', 'u', 'd') UNION ALL SELECT " + old_key + ", false, _commit_lsn, _seq, 0, " +
           cols + " FROM r WHERE _op = 'u' AND _old IS NOT NULL AND " + old_key + " IS DISTINCT FROM " + new_key;
      FRZ_RETURN_IF_ERROR(con.Execute(
          "CREATE OR REPLACE TEMP TABLE " + delta + " AS WITH r AS (" + filtered + "), ev AS (" + ev +
          ") SELECT * FROM ev QUALIFY row_number() OVER (PARTITION BY __k ORDER BY __l DESC NULLS LAST, __s DESC NULLS "
          "LAST, __sub DESC) = 1"));
    } else {
      ev = "SELECT " + new_key + " AS __k, CASE WHEN _op = 'd' THEN -1 ELSE 1 END AS __n, " + cols +
           " FROM r WHERE _op IN ('r', 'c', 'u', 'd') UNION ALL SELECT " + old_key + ", -1, " + cols +
           " FROM r WHERE _op = 'u'";
      std::string any;
      for (const auto& f : sch.fields()) {
        any += ", any_value(" + QuoteIdentifier(f.name) + ") FILTER (WHERE __n > 0) AS " + QuoteIdentifier(f.name);
      }
      FRZ_RETURN_IF_ERROR(con.Execute("CREATE OR REPLACE TEMP TABLE " + delta + " AS WITH r AS (" + filtered +
                                      "), ev AS (" + ev + ") SELECT __k, CAST(sum(__n) AS BIGINT) AS __d" + any +
                                      " FROM ev GROUP BY __k HAVING sum(__n) <> 0"));
    }
    have_delta = true;
    // Locate and delete the current rows of every touched key.
    std::vector<RowLocation> deletes;
    std::string keys_sql = mode_ == MirrorMode::kKeyed ? "SELECT __k, CAST(1 AS BIGINT) FROM " + delta
                                                       : "SELECT __k, -__d FROM " + delta + " WHERE __d < 0";
    FRZ_ASSIGN_OR_RETURN(auto keys, con.Query(keys_sql));
    while (auto chunk = keys.NextChunk()) {
      for (size_t r = 0; r < chunk->size(); ++r) {
        std::string_view k = chunk->GetStringView(0, r);
        int64_t n = chunk->GetInt64(1, r);
        for (int64_t i = 0; i < n; ++i) {
          auto loc = index_.Erase(k);
          if (loc) {
            deletes.push_back(*loc);
          } else if (mode_ == MirrorMode::kMultiset) {
            return MakeError(ErrorKind::kCorrupt,
                             "a delete of " + source_.QualifiedName() + " removes a row its mirror " + id_.ToString() +
                                 " does not hold (the mirror is out of step: check it with frazil verify; dropping "
                                 "the mirror table rebuilds it from the raw table)");
          }
        }
      }
    }
    FRZ_RETURN_IF_ERROR(WriteDeletes(con, deletes));
    rows_sql = mode_ == MirrorMode::kKeyed
                   ? "SELECT " + cols + " FROM " + delta + " WHERE __ins" + order
                   : "SELECT " + cols + " FROM (SELECT *, unnest(range(__d)) FROM " + delta + " WHERE __d > 0)";
  }
  if (!rows_sql.empty()) {
    FRZ_ASSIGN_OR_RETURN(std::string stage, WriteDir());
    auto written = engine::WriteParquet(con, rows_sql, sch, stage, deps_.write);
    if (written) written = Published(std::move(*written));
    if (!written) {
      if (have_delta) (void)con.Execute("DROP TABLE IF EXISTS " + delta);
      return MakeError(written.error().kind, "writing mirror table " + id_.ToString() + ": " + written.error().message);
    }
    std::vector<uint32_t> added;
    for (auto& f : *written) added.push_back(AddFile(std::move(f)));
    pending_ = true;
    FRZ_RETURN_IF_ERROR(IndexNewFiles(con, added, nullptr));
  }
  if (have_delta) FRZ_RETURN_IF_ERROR(con.Execute("DROP TABLE IF EXISTS " + delta));
  return Maintain(con);
}

// Keeps reads fast: files mostly deleted are rewritten, small files merged in size tiers,
// delete files folded into one when they accumulate.
Status MirrorTable::Maintain(engine::Connection& con) {
  std::vector<uint32_t> rewrite;
  std::map<int, std::vector<uint32_t>> tiers;
  bool any_deleted = false;
  for (uint32_t n = 0; n < files_.size(); ++n) {
    auto& f = files_[n];
    if (!f.live) continue;
    if (f.deleted >= f.file.record_count) {
      RemoveFile(n);  // nothing left in it
      continue;
    }
    if (f.deleted > 0 && static_cast<double>(f.deleted) > options_.rewrite_ratio * static_cast<double>(f.file.record_count)) {
      rewrite.push_back(n);
      continue;
    }
    any_deleted = any_deleted || f.deleted > 0;
    if (f.file.file_size_in_bytes < options_.target_file_bytes / 2) {
      int tier = static_cast<int>(std::log2(std::max<double>(1.0, static_cast<double>(f.file.file_size_in_bytes) / 65536.0)) / 3);
      tiers[tier].push_back(n);
    }
  }
  for (auto& [tier, files] : tiers) {
    if (static_cast<int>(files.size()) >= options_.merge_fanin) rewrite.insert(rewrite.end(), files.begin(), files.end());
  }
  if (!rewrite.empty()) {
    std::sort(rewrite.begin(), rewrite.end());
    FRZ_RETURN_IF_ERROR(Rewrite(con, rewrite));
    any_deleted = false;
    for (const auto& f : files_) any_deleted = any_deleted || (f.live && f.deleted > 0);
  }
  int live_deletes = 0;
  for (const auto& d : delete_files_) live_deletes += d.live ? 1 : 0;
  if (live_deletes > 0 && (!any_deleted || live_deletes > options_.max_delete_files)) {
    FRZ_RETURN_IF_ERROR(FoldDeletes(con));
  }
  return Ok();
}

Status MirrorTable::Rewrite(engine::Connection& con, const std::vector<uint32_t>& files) {
  std::vector<iceberg::DataFile> deletes;
  for (const auto& d : delete_files_) {
    if (d.live) deletes.push_back(d.file);
  }
  std::vector<iceberg::FileScanTask> tasks;
  int64_t rows = 0;
  for (uint32_t n : files) {
    iceberg::FileScanTask t;
    t.data_file = files_[n].file;
    t.spec_id = table_.metadata.default_spec_id;
    if (files_[n].deleted > 0) t.position_deletes = deletes;
    rows += files_[n].file.record_count - files_[n].deleted;
    tasks.push_back(std::move(t));
  }
  FRZ_ASSIGN_OR_RETURN(std::string scan, engine::ScanSql(schema(), tasks, [this](const std::string& loc) {
                         return deps_.io->ScanPath(loc);
                       }));
  std::string order = OrderSql();
  FRZ_ASSIGN_OR_RETURN(std::string stage, WriteDir());
  auto written = engine::WriteParquet(con, "SELECT * FROM (" + scan + ")" + order, schema(), stage, deps_.write);
  if (written) written = Published(std::move(*written));
  if (!written) {
    return MakeError(written.error().kind, "rewriting data files of mirror table " + id_.ToString() + ": " +
                                               written.error().message);
  }
  std::vector<uint32_t> added;
  for (auto& f : *written) added.push_back(AddFile(std::move(f)));
  FRZ_RETURN_IF_ERROR(IndexNewFiles(con, added, &files));
  for (uint32_t n : files) RemoveFile(n);
  Log(LogLevel::kDebug, "rewrote mirror data files",
      {{"table", id_.ToString()}, {"files", std::to_string(files.size())}, {"rows", std::to_string(rows)}});
  return Ok();
}

Status MirrorTable::FoldDeletes(engine::Connection& con) {
  std::string list;
  for (const auto& d : delete_files_) {
    if (d.live) list += (list.empty() ? "" : ", ") + engine::QuoteLiteral(deps_.io->ScanPath(d.file.file_path));
  }
  std::vector<iceberg::DataFile> written;
  bool any_deleted = false;
  for (const auto& f : files_) any_deleted = any_deleted || (f.live && f.deleted > 0);
  if (any_deleted) {
    FRZ_RETURN_IF_ERROR(engine::RegisterRowBufferFunction(con));
    engine::RowBuffer live({{"path", engine::RowBuffer::Type::kVarchar}});
    for (const auto& f : files_) {
      if (f.live && f.deleted > 0) {
        live.AppendString(f.file.file_path);
        live.EndRow();
      }
    }
    FRZ_ASSIGN_OR_RETURN(std::string stage, WriteDir());
    FRZ_ASSIGN_OR_RETURN(auto staged, engine::WritePositionDeletes(
                                          con,
                                          "SELECT DISTINCT file_path, pos FROM read_parquet([" + list +
                                              "]) WHERE file_path IN (SELECT path FROM " + live.sql() + ") ORDER BY 1, 2",
                                          stage, deps_.write));
    FRZ_ASSIGN_OR_RETURN(written, Published(std::move(staged)));
  }
  for (auto& d : delete_files_) {
    if (!d.live) continue;
    d.live = false;
    if (!d.committed) (void)deps_.io->Delete(d.file.file_path);
  }
  for (auto& d : written) {
    delete_files_.push_back(DeleteFileState{std::move(d), true, false});
  }
  pending_ = true;
  return Ok();
}

Result<catalog::TableCommit> MirrorTable::PrepareCommit(Lsn lsn, const std::map<std::string, std::string>& summary) {
  LsnCommit c{pending_schema_, pending_last_column_id_, {}, {}};
  auto& changes = c.changes;
  for (const auto& f : files_) {
    if (f.live && !f.committed) changes.added_data_files.push_back(f.file);
    if (!f.live && f.committed) changes.removed_files.insert(f.file.file_path);
  }
  for (const auto& d : delete_files_) {
    if (d.live && !d.committed) changes.added_delete_files.push_back(d.file);
    if (!d.live && d.committed) changes.removed_files.insert(d.file.file_path);
  }
  changes.extra_summary = summary;
  auto key = table_.metadata.properties.find(kMirrorKeyProperty);
  if (key == table_.metadata.properties.end() || key->second != KeyProperty()) {
    c.properties[kMirrorKeyProperty] = KeyProperty();
  }
  return PrepareLsnCommit(id_, table_.metadata, *deps_.io, deps_.clock->NowMillis(), std::move(c), lsn);
}

void MirrorTable::Committed(const catalog::LoadedTable& table) {
  table_ = table;
  const auto* snap = table_.metadata.current_snapshot();
  base_snapshot_id_ = snap ? std::optional<int64_t>(snap->snapshot_id) : std::nullopt;
  // The pending state is now the committed one. Dead file entries are dropped (and the
  // index renumbered) once they outnumber the live ones.
  size_t dead = 0;
  for (auto& f : files_) {
    f.committed = f.live;  // a removed file is gone from the table now
    dead += f.live ? 0 : 1;
  }
  if (dead > 1024 && dead > files_.size() - dead) {
    std::vector<FileState> kept;
    std::vector<uint32_t> renumber(files_.size(), 0);
    for (uint32_t n = 0; n < files_.size(); ++n) {
      if (!files_[n].live) continue;
      renumber[n] = static_cast<uint32_t>(kept.size());
      kept.push_back(std::move(files_[n]));
    }
    index_.RenumberFiles(renumber);
    files_ = std::move(kept);
    file_numbers_.clear();
    for (uint32_t n = 0; n < files_.size(); ++n) file_numbers_[files_[n].file.file_path] = n;
  }
  std::vector<DeleteFileState> deletes;
  for (auto& d : delete_files_) {
    if (!d.live) continue;
    d.committed = true;
    deletes.push_back(std::move(d));
  }
  delete_files_ = std::move(deletes);
  pending_schema_.reset();
  pending_ = false;
}

Status MirrorTable::Reload() {
  FRZ_ASSIGN_OR_RETURN(auto loaded, deps_.catalog->LoadTable(id_));
  const auto* snap = loaded.metadata.current_snapshot();
  std::optional<int64_t> current = snap ? std::optional<int64_t>(snap->snapshot_id) : std::nullopt;
  if (current != base_snapshot_id_) {
    return MakeError(ErrorKind::kCommitFailed, "mirror table " + id_.ToString() +
                                                   " was changed by another writer while frazil was applying changes "
                                                   "to it; restart frazil (it rebuilds the mirror's state)");
  }
  table_ = std::move(loaded);
  return Ok();
}

void MirrorTable::DiscardPending() {
  if (!pending_) return;  // the state is the committed one (and the index stays valid)
  for (auto& f : files_) {
    if (f.live && !f.committed) (void)deps_.io->Delete(f.file.file_path);
  }
  for (auto& d : delete_files_) {
    if (d.live && !d.committed) (void)deps_.io->Delete(d.file.file_path);
  }
  auto s = LoadState();  // back to the committed state; the index is rebuilt when next needed
  if (!s) Log(LogLevel::kWarn, "reloading a mirror table's files failed", {{"table", id_.ToString()}, {"error", s.error().message}});
}

}  // namespace frazil::cdc
