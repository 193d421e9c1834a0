#include "frazil/cdc/raw_table.h"

#include <chrono>
#include <algorithm>
#include <filesystem>
#include <set>
#include <thread>

#include "frazil/base/kill_point.h"
#include "frazil/base/log.h"
#include "frazil/base/random.h"
#include "frazil/engine/table_scan.h"
#include "frazil/iceberg/scan.h"
#include "frazil/iceberg/snapshot_producer.h"
#include "frazil/iceberg/table_update.h"

namespace frazil::cdc {
namespace {


}  // namespace

Lsn ResumeLsn(const iceberg::TableMetadata& metadata) {
  auto it = metadata.properties.find(kLsnProperty);
  if (it == metadata.properties.end()) return 0;
  auto lsn = ParseLsn(it->second);
  return lsn ? *lsn : 0;
}

Result<std::unique_ptr<RawTable>> RawTable::Open(CdcContext& ctx, engine::Connection& con,
                                                 const catalog::TableIdentifier& id, const SourceTable& source,
                                                 const std::string& slot) {
  std::unique_ptr<RawTable> t(new RawTable(ctx, con));
  t->id_ = id;
  t->slot_ = slot;
  t->source_ = source;
  auto& catalog = *ctx.catalog;
  FRZ_ASSIGN_OR_RETURN(bool exists, catalog.TableExists(id));
  if (!exists) {
    FRZ_RETURN_IF_ERROR(EnsureNamespace(catalog, id.ns));
    FRZ_ASSIGN_OR_RETURN(auto schema, NewRawSchema(source));
    auto created = catalog.CreateTable(id, schema, iceberg::PartitionSpec{}, iceberg::SortOrder{}, std::nullopt,
                                       {{kSlotProperty, slot}, {kSourceProperty, source.QualifiedName()}});
    if (!created && created.error().kind != ErrorKind::kAlreadyExists) return std::unexpected(created.error());
    if (created) Log(LogLevel::kInfo, "created raw table", {{"table", id.ToString()}, {"source", source.QualifiedName()}});
  }
  FRZ_ASSIGN_OR_RETURN(t->table_, catalog.LoadTable(id));
  const auto& md = t->table_.metadata;
  auto owner = md.properties.find(kSlotProperty);
  if (owner != md.properties.end() && owner->second != slot) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "raw table " + id.ToString() + " is fed by replication slot '" + owner->second +
                         "', not '" + slot + "': use another source.namespace or the same slot");
  }
  auto fed_from = md.properties.find(kSourceProperty);
  if (fed_from != md.properties.end() && fed_from->second != source.QualifiedName()) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "raw table " + id.ToString() + " already holds the changes of " + fed_from->second + ", so " +
                         source.QualifiedName() + " cannot use it (raw table names are lowercase): rename one of "
                         "the source tables or take one out of the publication");
  }
  bool has_key = false;
  for (const auto& c : source.columns) has_key = has_key || c.is_key;
  if (source.replica_identity == 'n' || !has_key) {
    Log(LogLevel::kWarn,
        "source table has no replica identity: PostgreSQL rejects its UPDATEs and DELETEs while it is published "
        "(add a primary key or run ALTER TABLE ... REPLICA IDENTITY FULL)",
        {{"source", source.QualifiedName()}});
  }
  t->resume_lsn_ = ResumeLsn(md);
  const iceberg::Schema* current = md.current_schema();
  if (current == nullptr) return MakeError(ErrorKind::kCorrupt, "raw table " + id.ToString() + " has no current schema");
  FRZ_ASSIGN_OR_RETURN(auto evolved, EvolveRawSchema(*current, md.last_column_id, source.columns, {}));
  if (evolved) {
    evolved->set_schema_id(md.NextSchemaId());
    t->pending_last_column_id_ = std::max(md.last_column_id, evolved->HighestFieldId());
    FRZ_ASSIGN_OR_RETURN(t->layout_, MakeLayout(source.columns, *evolved));
    t->pending_schema_ = std::move(evolved);
    // A streaming table replays its definitions from the WAL: this guess from today's
    // catalog is dropped when the first Relation message comes before any row uses it.
    t->schema_from_catalog_ = t->started();
    Log(LogLevel::kInfo, "raw table schema follows the source table",
        {{"table", id.ToString()}, {"source", source.QualifiedName()}});
  } else {
    FRZ_ASSIGN_OR_RETURN(t->layout_, MakeLayout(source.columns, *current));
  }
  FRZ_RETURN_IF_ERROR(t->NewBuffer());
  if (ctx.mirror.Wants(source.schema, source.name)) {
    MirrorTable::Deps deps{ctx.catalog, ctx.io, ctx.clock, ctx.write, ctx.read_source};
    catalog::TableIdentifier mirror_id{catalog::Namespace{ctx.mirror.ns}, id.name};
    FRZ_ASSIGN_OR_RETURN(t->mirror_, MirrorTable::Open(deps, ctx.mirror, con, mirror_id, id, t->table_, source, slot));
    // A table that is streaming gets Relation messages replaying each change of its
    // definition in order, which the mirror follows (with the values its rows take). Only
    // a table not started yet takes today's definition now.
    if (t->pending_schema_ && !t->started()) {
      FRZ_RETURN_IF_ERROR(t->mirror_->UpdateSource(con, source, *t->pending_schema_, t->pending_last_column_id_));
    }
  }
  return t;
}

RawTable::~RawTable() {
  buffer_.reset();
  std::error_code ec;
  for (const auto& [xid, files] : spills_) {
    for (const auto& f : files) std::filesystem::remove(f, ec);
  }
}

Status RawTable::NewBuffer() {
  FRZ_ASSIGN_OR_RETURN(buffer_, ChangeBuffer::Create(con_, layout_.columns.size()));
  return Ok();
}

Result<std::vector<iceberg::DataFile>> RawTable::WriteFiles(engine::Connection& con, const std::string& sql,
                                                            const iceberg::Schema& schema) const {
  const std::string dir = iceberg::DataDir(table_.metadata);
  FRZ_ASSIGN_OR_RETURN(std::string stage, ctx_.io->WriteDir(dir));
  FRZ_ASSIGN_OR_RETURN(auto files, engine::WriteParquet(con, sql, schema, stage, ctx_.write));
  FRZ_RETURN_IF_ERROR(engine::PublishFiles(*ctx_.io, dir, &files));
  return files;
}

// After a failed write: finds the first source column whose values do not convert, so
// the error can name it (the batch's DuckDB error names only the value).
std::string RawTable::FailingColumn(engine::Connection& con, const std::string& from_sql, const Layout& layout) const {
  for (size_t i = 0; i < layout.columns.size(); ++i) {
    for (const char* prefix : {"c", "o"}) {
      auto cast = CastSql(layout.columns[i].type, prefix + std::to_string(i));
      if (!cast) continue;
      auto probe = con.Query("SELECT count(" + *cast + ") FROM (" + from_sql + ")");
      if (!probe) {
        return " (column " + layout.columns[i].name + (prefix[0] == 'o' ? " of the old row" : "") + ", type " +
               (layout.columns[i].type.name.empty() ? std::to_string(layout.columns[i].type.oid)
                                                     : layout.columns[i].type.name) +
               ")";
      }
    }
  }
  return "";
}

Status RawTable::WriteFrom(engine::Connection& con, const std::string& from_sql, const Layout& layout) {
  std::string sql = "SELECT " + layout.select_list + " FROM (" + from_sql + ")";
  auto files = WriteFiles(con, sql, layout.schema);
  if (!files) {
    return MakeError(files.error().kind, "writing changes of " + source_.QualifiedName() + FailingColumn(con, from_sql, layout) +
                                             " into " + id_.ToString() + ": " + files.error().message);
  }
  for (auto& f : *files) pending_files_.push_back(std::move(f));
  return Ok();
}

Result<std::optional<RawTable::Staged>> RawTable::TakeStaged() {
  if (buffer_->rows() == 0) return std::optional<Staged>();
  Staged staged{std::move(buffer_), layout_};
  FRZ_RETURN_IF_ERROR(NewBuffer());
  return std::optional<Staged>(std::move(staged));
}

namespace {

// A row's replica identity key as one string (values joined; NULL distinct from "").
std::string KeyText(const ChangeBuffer& b, size_t row, const std::vector<size_t>& key) {
  std::string out;
  for (size_t k : key) {
    auto v = b.value(row, k);
    out += v ? "v" + std::string(*v) : std::string("n");
    out += '\0';
  }
  return out;
}

// The key the row had before the change: the old image's when it carries the key (an
// update that changed the key), else the row's own.
std::string OldKeyText(const ChangeBuffer& b, size_t row, const std::vector<size_t>& key) {
  std::string out;
  for (size_t k : key) {
    auto v = b.old_value(row, k);
    if (!v) return KeyText(b, row, key);
    out += "v" + std::string(*v);
    out += '\0';
  }
  return out;
}

}  // namespace

// Unchanged TOAST values (an update that did not touch a large value, without a whole old
// row) are filled with the row's previous value: from earlier changes in the same batch,
// else from the row's current image in the mirror table (keyed by the same identity), or
// without a mirror from the latest change of that key already in the raw table. Only string
// and binary columns can be TOASTed and round-trip exactly to PostgreSQL's text form.
Status RawTable::FillUnchangedToast(engine::Connection& con, ChangeBuffer& b, const Layout& layout,
                                    const ChangeBuffer* before) {
  if (!b.has_unchanged_toast()) return Ok();
  const auto& cols = layout.columns;
  std::vector<size_t> key;
  for (size_t i = 0; i < cols.size(); ++i) {
    if (cols[i].is_key) key.push_back(i);
  }
  if (key.empty()) return Ok();  // no identity: reported by the caller
  // Known values per key: column -> value (nullopt inside = NULL).
  std::map<std::string, std::map<size_t, std::optional<std::string>>> known;
  // 1. The latest committed image of each key that needs filling.
  std::set<std::string> wanted;
  std::set<size_t> wanted_columns;
  for (size_t row = 0; row < static_cast<size_t>(b.rows()); ++row) {
    auto unchanged = b.unchanged_columns(row);
    if (unchanged.empty()) continue;
    wanted.insert(OldKeyText(b, row, key));
    wanted_columns.insert(unchanged.begin(), unchanged.end());
  }
  const auto* snap = table_.metadata.current_snapshot();
  bool from_mirror = mirror_ && mirror_->mode() == MirrorMode::kKeyed;
  if ((snap != nullptr || !pending_files_.empty()) && !wanted.empty()) {
    std::string scan;
    if (from_mirror) {
      // The mirror holds each key's current row once every written change is applied.
      FRZ_RETURN_IF_ERROR(ApplyMirror(con));
      FRZ_ASSIGN_OR_RETURN(scan, mirror_->CurrentRowsSql());
    } else {
      // The committed rows, then the files written for this batch but not committed yet.
      FRZ_ASSIGN_OR_RETURN(auto plan, iceberg::PlanScan(table_.metadata, *ctx_.io, {}));
      if (plan.schema.fields().empty()) plan.schema = *table_.metadata.current_schema();
      for (const auto& f : pending_files_) {
        iceberg::FileScanTask task;
        task.data_file = f;
        task.spec_id = table_.metadata.default_spec_id;
        plan.tasks.push_back(std::move(task));
      }
      FRZ_ASSIGN_OR_RETURN(scan, engine::ScanSql(plan.schema, plan.tasks,
                                                 [this](const std::string& loc) { return ctx_.io->ScanPath(loc); }));
    }
    std::string values;
    for (const auto& k : wanted) {
      std::string tuple;
      size_t pos = 0;
      for (size_t i = 0; i < key.size(); ++i) {
        size_t end = k.find('\0', pos);
        std::string part = k.substr(pos, end - pos);
        tuple += (i ? ", " : "") + (part[0] == 'n' ? std::string("NULL") : engine::QuoteLiteral(part.substr(1)));
        pos = end + 1;
      }
      values += (values.empty() ? "(" : ", (") + tuple + ")";
    }
    std::string key_names, join, select_text;
    for (size_t i = 0; i < key.size(); ++i) {
      std::string k = "k" + std::to_string(i);
      key_names += (i ? ", " : "") + k;
      FRZ_ASSIGN_OR_RETURN(auto cast, CastSql(cols[key[i]].type, "w." + k));
      join += (i ? " AND " : "") + std::string("t.") + engine::QuoteIdentifier(cols[key[i]].name) + " IS NOT DISTINCT FROM " + cast;
      select_text += "w." + k + ", ";
    }
    std::vector<size_t> fetch;
    for (size_t c : wanted_columns) {
      const auto* f = layout.schema.FindField(std::string_view(cols[c].name));
      if (f == nullptr) continue;
      std::string col = "t." + engine::QuoteIdentifier(cols[c].name);
      if (f->type->id == iceberg::TypeId::kString) {
        select_text += col + ", ";
      } else if (f->type->id == iceberg::TypeId::kBinary) {
        select_text += "CASE WHEN " + col + " IS NULL THEN NULL ELSE '\\x' || lower(hex(" + col + ")) END, ";
      } else {
        continue;  // not a type PostgreSQL toasts with an exact text form: left unfilled
      }
      fetch.push_back(c);
    }
    if (!fetch.empty()) {
      std::string sql = "SELECT " + select_text + "1 FROM (VALUES " + values + ") w(" + key_names + ") JOIN (" + scan +
                        ") t ON " + join;
      if (!from_mirror) {
        sql += " WHERE t._op IN ('r', 'c', 'u') QUALIFY row_number() OVER (PARTITION BY " + key_names +
               " ORDER BY t._commit_lsn DESC, t._seq DESC) = 1";
      }
      auto q = con.Query(sql);
      if (!q) {
        return MakeError(q.error().kind, "looking up unchanged TOAST values of " + source_.QualifiedName() + " in " +
                                             id_.ToString() + ": " + q.error().message);
      }
      for (const auto& r : q->FetchAll()) {
        std::string k;
        for (size_t i = 0; i < key.size(); ++i) {
          k += r[i] ? "v" + *r[i] : std::string("n");
          k += '\0';
        }
        auto& values_of = known[k];
        for (size_t j = 0; j < fetch.size(); ++j) values_of[fetch[j]] = r[key.size() + j];
      }
    }
  }
  // 2. Walk the earlier staged rows (`before`: history only) and then the batch, in order:
  // each change updates what is known of its key; the batch's unchanged values are filled.
  auto walk = [&](ChangeBuffer& rows, bool fill) {
    for (size_t row = 0; row < static_cast<size_t>(rows.rows()); ++row) {
      std::string k = KeyText(rows, row, key);
      char op = rows.op(row);
      if (op == 'd' || op == 't') {
        if (op == 'd') known.erase(k);
        else known.clear();
        continue;
      }
      std::string before_key = OldKeyText(rows, row, key);
      if (before_key != k) {
        // The key changed: the row's earlier values are under its old key.
        auto moved = known.find(before_key);
        if (moved != known.end()) {
          known[k] = std::move(moved->second);
          known.erase(before_key);
        } else {
          known.erase(k);
        }
      }
      auto& values_of = known[k];
      auto unchanged = rows.unchanged_columns(row);
      std::set<size_t> unknown;
      for (size_t c : unchanged) {
        auto it = values_of.find(c);
        if (it == values_of.end()) {
          unknown.insert(c);
        } else if (fill) {
          rows.Fill(row, c, it->second ? std::optional<std::string_view>(*it->second) : std::nullopt);
        }
      }
      if (fill && unknown.empty() && !unchanged.empty()) rows.ClearUnchanged(row);
      for (size_t c = 0; c < cols.size(); ++c) {
        bool was_unchanged = std::find(unchanged.begin(), unchanged.end(), c) != unchanged.end();
        if (was_unchanged && (!fill || unknown.count(c))) {
          if (unknown.count(c)) values_of.erase(c);
          continue;  // stays as known (or unknown) from before
        }
        auto v = rows.value(row, c);
        values_of[c] = v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
      }
    }
  };
  if (before != nullptr) walk(const_cast<ChangeBuffer&>(*before), false);
  walk(b, true);
  return Ok();
}

Status RawTable::CheckFilled(const ChangeBuffer& b) const {
  auto toast = b.FirstUnresolvedToast();
  if (!toast) return Ok();
  std::string name = toast->first < layout_.columns.size() ? layout_.columns[toast->first].name : "?";
  return MakeError(ErrorKind::kUnsupported,
                   "an update of " + source_.QualifiedName() + " at LSN " + FormatLsn(toast->second) +
                       " did not send the unchanged TOAST value of column " + name +
                       ", and frazil has no earlier image of that row to take it from (it predates the raw table, "
                       "e.g. with snapshot: never): run ALTER TABLE " + source_.QualifiedName() +
                       " REPLICA IDENTITY FULL so PostgreSQL sends it, then restart");
}

Status RawTable::WriteTaken(engine::Connection& con, Staged& staged) {
  FRZ_RETURN_IF_ERROR(FillUnchangedToast(con, *staged.buffer, staged.layout));
  FRZ_RETURN_IF_ERROR(CheckFilled(*staged.buffer));
  return WriteFrom(con, "SELECT * FROM " + staged.buffer->sql(), staged.layout);
}

Status RawTable::WriteStaged() {
  FRZ_ASSIGN_OR_RETURN(auto staged, TakeStaged());
  if (!staged) return Ok();
  return WriteTaken(con_, *staged);
}

Status RawTable::UpdateSource(const SourceTable& next, const std::vector<std::pair<std::string, std::string>>& renames) {
  if (schema_from_catalog_ && buffer_->rows() == 0 && pending_files_.empty() && stream_buffers_.empty()) {
    pending_schema_.reset();
  }
  schema_from_catalog_ = false;
  const iceberg::Schema& current = pending_schema_ ? *pending_schema_ : *table_.metadata.current_schema();
  int last_id = pending_schema_ ? pending_last_column_id_ : table_.metadata.last_column_id;
  FRZ_ASSIGN_OR_RETURN(auto evolved, EvolveRawSchema(current, last_id, next.columns, renames));
  if (!evolved) {
    // Same Iceberg schema, but the staging layout may still differ (e.g. a type change
    // that maps to the same Iceberg type): rebuild the layout for the new casts.
    FRZ_RETURN_IF_ERROR(WriteStaged());
    if (!stream_buffers_.empty() || !spills_.empty()) {
      return MakeError(ErrorKind::kUnsupported, "the definition of " + next.QualifiedName() +
                                                    " changed while a large transaction touching it is in progress");
    }
    FRZ_RETURN_IF_ERROR(ApplyMirror(con_));
    source_ = next;
    FRZ_ASSIGN_OR_RETURN(layout_, MakeLayout(next.columns, current));
    if (mirror_) FRZ_RETURN_IF_ERROR(mirror_->UpdateSource(con_, next, current, last_id));
    return NewBuffer();
  }
  if (!stream_buffers_.empty() || !spills_.empty()) {
    return MakeError(ErrorKind::kUnsupported,
                     "the columns of " + next.QualifiedName() +
                         " changed while a large (streamed) transaction touching it is in progress; restart frazil "
                         "after that transaction ends");
  }
  FRZ_RETURN_IF_ERROR(WriteStaged());
  FRZ_RETURN_IF_ERROR(ApplyMirror(con_));
  evolved->set_schema_id(std::max(table_.metadata.NextSchemaId(), current.schema_id() + 1));
  pending_last_column_id_ = std::max(last_id, evolved->HighestFieldId());
  FRZ_ASSIGN_OR_RETURN(layout_, MakeLayout(next.columns, *evolved));
  pending_schema_ = std::move(evolved);
  source_ = next;
  if (mirror_) FRZ_RETURN_IF_ERROR(mirror_->UpdateSource(con_, next, *pending_schema_, pending_last_column_id_));
  Log(LogLevel::kInfo, "source table changed: evolving the raw table schema",
      {{"table", id_.ToString()}, {"source", next.QualifiedName()}});
  return NewBuffer();
}

Status RawTable::Append(const RowMeta& meta, const Tuple* new_tuple, const Tuple* old_tuple) {
  schema_from_catalog_ = false;
  ChangeBuffer* target = buffer_.get();
  if (meta.stream_xid) {
    auto& b = stream_buffers_[*meta.stream_xid];
    if (!b) {
      FRZ_ASSIGN_OR_RETURN(b, ChangeBuffer::Create(con_, layout_.columns.size()));
    }
    target = b.get();
  }
  auto s = target->Append(meta, new_tuple, old_tuple);
  if (!s) return MakeError(s.error().kind, "staging a change of " + source_.QualifiedName() + " at LSN " +
                                              FormatLsn(meta.lsn) + ": " + s.error().message);
  return Ok();
}

int64_t RawTable::stream_bytes(uint32_t xid) const {
  auto it = stream_buffers_.find(xid);
  return it == stream_buffers_.end() ? 0 : it->second->bytes();
}

Status RawTable::SpillStream(uint32_t xid) {
  auto it = stream_buffers_.find(xid);
  if (it == stream_buffers_.end() || it->second->rows() == 0) return Ok();
  std::error_code ec;
  std::filesystem::create_directories(ctx_.spill_dir, ec);
  auto& files = spills_[xid];
  std::string path = ctx_.spill_dir + "/" + id_.ToString() + "-" + std::to_string(xid) + "-" +
                     std::to_string(files.size()) + "-" + std::to_string(NewPositiveId() % 1000000) + ".parquet";
  // Unchanged TOAST values in spilled rows are not filled (that would need the whole
  // transaction in memory): such a transaction is refused when it commits.
  if (it->second->has_unchanged_toast()) spilled_toast_.insert(xid);
  FRZ_RETURN_IF_ERROR(con_.Execute("COPY (SELECT * FROM " + it->second->sql() + ") TO " + engine::QuoteLiteral(path) +
                                   " (FORMAT parquet, COMPRESSION snappy)"));
  files.push_back(path);
  it->second->Clear();
  return Ok();
}

Status RawTable::CommitStream(uint32_t xid, Lsn commit_lsn, int64_t commit_ts_us, const std::set<uint32_t>& aborted) {
  std::vector<std::string> parts;
  if (spilled_toast_.count(xid)) {
    return MakeError(ErrorKind::kUnsupported,
                     "a large transaction (xid " + std::to_string(xid) + ") updated rows of " + source_.QualifiedName() +
                         " without resending unchanged TOAST values, and frazil cannot fill them in a transaction "
                         "this large: run ALTER TABLE " + source_.QualifiedName() +
                         " REPLICA IDENTITY FULL so PostgreSQL sends them, then restart");
  }
  auto buffer = stream_buffers_.find(xid);
  if (buffer != stream_buffers_.end() && buffer->second->rows() > 0) {
    // Its earlier images: committed rows, this batch's files and staged rows (which all
    // committed before this transaction did).
    FRZ_RETURN_IF_ERROR(FillUnchangedToast(con_, *buffer->second, layout_, buffer_.get()));
    FRZ_RETURN_IF_ERROR(CheckFilled(*buffer->second));
    parts.push_back("SELECT * FROM " + buffer->second->sql());
  }
  auto spill = spills_.find(xid);
  if (spill != spills_.end() && !spill->second.empty()) {
    std::string list;
    for (const auto& f : spill->second) list += (list.empty() ? "" : ", ") + engine::QuoteLiteral(f);
    parts.push_back("SELECT * FROM read_parquet([" + list + "])");
  }
  if (!parts.empty()) {
    std::string from;
    for (const auto& p : parts) from += (from.empty() ? "" : " UNION ALL ") + p;
    std::string filter;
    for (uint32_t sub : aborted) filter += (filter.empty() ? "" : ", ") + std::to_string(sub);
    std::string sql = "SELECT * REPLACE (CAST(" + std::to_string(commit_lsn) + " AS BIGINT) AS _commit_lsn, CAST(" +
                      std::to_string(commit_ts_us) + " AS BIGINT) AS _commit_ts) FROM (" + from + ")" +
                      (filter.empty() ? "" : " WHERE _subxid NOT IN (" + filter + ")");
    FRZ_RETURN_IF_ERROR(WriteFrom(con_, sql, layout_));
  }
  return AbortStream(xid, xid);  // the rows are written: drop the buffer and spill files
}

Status RawTable::AbortStream(uint32_t xid, uint32_t subxid) {
  if (subxid != xid) {
    // Spilled rows of the subtransaction are filtered out when the transaction commits.
    auto it = stream_buffers_.find(xid);
    if (it != stream_buffers_.end()) it->second->DropSubtransaction(subxid);
    return Ok();
  }
  stream_buffers_.erase(xid);
  spilled_toast_.erase(xid);
  auto it = spills_.find(xid);
  if (it != spills_.end()) {
    std::error_code ec;
    for (const auto& f : it->second) std::filesystem::remove(f, ec);
    spills_.erase(it);
  }
  return Ok();
}

Result<std::vector<iceberg::DataFile>> RawTable::WriteBuffer(engine::Connection& con, ChangeBuffer& buffer) const {
  std::string from = "SELECT * FROM " + buffer.sql();
  std::string sql = "SELECT " + layout_.select_list + " FROM (" + from + ")";
  auto files = WriteFiles(con, sql, layout_.schema);
  if (!files) {
    return MakeError(files.error().kind, "writing snapshot rows of " + source_.QualifiedName() +
                                             FailingColumn(con, from, layout_) + " into " + id_.ToString() + ": " +
                                             files.error().message);
  }
  return files;
}

void RawTable::AddPendingFiles(std::vector<iceberg::DataFile> files) {
  for (auto& f : files) pending_files_.push_back(std::move(f));
}

int64_t RawTable::pending_rows() const {
  int64_t n = 0;
  for (const auto& f : pending_files_) n += f.record_count;
  return n;
}

Status RawTable::ApplyMirror(engine::Connection& con) {
  if (!mirror_ || mirror_applied_ >= pending_files_.size()) return Ok();
  std::string list;
  for (size_t i = mirror_applied_; i < pending_files_.size(); ++i) {
    list += (list.empty() ? "" : ", ") + engine::QuoteLiteral(ctx_.io->ScanPath(pending_files_[i].file_path));
  }
  auto s = mirror_->Apply(con, "SELECT * FROM read_parquet([" + list + "])");
  if (!s) {
    return MakeError(s.error().kind, "applying changes of " + source_.QualifiedName() + " to its mirror " +
                                         mirror_->id().ToString() + ": " + s.error().message);
  }
  mirror_applied_ = pending_files_.size();
  return Ok();
}

Result<std::vector<catalog::TableCommit>> RawTable::PrepareCommit(Lsn lsn,
                                                                  const std::map<std::string, std::string>& summary) {
  LsnCommit c{pending_schema_, pending_last_column_id_, {}, {}};
  c.changes.operation = "append";
  c.changes.added_data_files = pending_files_;
  c.changes.extra_summary = summary;
  FRZ_ASSIGN_OR_RETURN(auto commit,
                       PrepareLsnCommit(id_, table_.metadata, *ctx_.io, ctx_.clock->NowMillis(), std::move(c), lsn));
  std::vector<catalog::TableCommit> commits;
  commits.push_back(std::move(commit));
  if (mirror_) {
    FRZ_ASSIGN_OR_RETURN(auto m, mirror_->PrepareCommit(lsn, summary));
    commits.push_back(std::move(m));
  }
  return commits;
}

void RawTable::Committed(std::span<const catalog::LoadedTable> tables, Lsn lsn) {
  table_ = tables[0];
  resume_lsn_ = lsn;
  pending_files_.clear();
  pending_schema_.reset();
  mirror_applied_ = 0;
  if (mirror_ && tables.size() > 1) mirror_->Committed(tables[1]);
}

Result<bool> RawTable::ReloadAfterFailure(Lsn lsn) {
  FRZ_ASSIGN_OR_RETURN(table_, ctx_.catalog->LoadTable(id_));
  resume_lsn_ = ResumeLsn(table_.metadata);
  if (resume_lsn_ >= lsn) {
    // It happened (raw table and mirror are committed together).
    pending_files_.clear();
    pending_schema_.reset();
    mirror_applied_ = 0;
    if (mirror_) {
      FRZ_ASSIGN_OR_RETURN(auto m, ctx_.catalog->LoadTable(mirror_->id()));
      mirror_->Committed(m);
    }
    return true;
  }
  if (mirror_) FRZ_RETURN_IF_ERROR(mirror_->Reload());
  return false;
}

void RawTable::DiscardPending() {
  for (const auto& f : pending_files_) (void)ctx_.io->Delete(f.file_path);
  pending_files_.clear();
  mirror_applied_ = 0;
  if (mirror_) mirror_->DiscardPending();
}

Result<int64_t> CommitTables(CdcContext& ctx, engine::Connection& con, const std::vector<RawTable*>& tables, Lsn lsn,
                             const std::map<std::string, std::string>& summary) {
  std::vector<RawTable*> changed;
  int64_t rows = 0;
  for (auto* t : tables) {
    if (t->HasChanges()) {
      changed.push_back(t);
      rows += t->pending_rows();
    }
  }
  if (changed.empty()) return int64_t{0};
  for (auto* t : changed) FRZ_RETURN_IF_ERROR(t->ApplyMirror(con));
  constexpr int kAttempts = 10;
  for (int attempt = 1;; ++attempt) {
    std::vector<catalog::TableCommit> commits;
    std::vector<size_t> first;  // index of each table's first commit
    for (auto* t : changed) {
      FRZ_ASSIGN_OR_RETURN(auto c, t->PrepareCommit(lsn, summary));
      first.push_back(commits.size());
      for (auto& one : c) commits.push_back(std::move(one));
    }
    first.push_back(commits.size());
    KillPoint("cdc.after_manifests");
    auto committed = ctx.catalog->CommitTransaction(commits);
    if (committed) {
      for (size_t i = 0; i < changed.size(); ++i) {
        changed[i]->Committed(std::span<const catalog::LoadedTable>(committed->data() + first[i], first[i + 1] - first[i]),
                              lsn);
      }
      return rows;
    }
    // The tables' resume LSN says whether the commit happened (its outcome may be unknown).
    bool all = true;
    for (auto* t : changed) {
      FRZ_ASSIGN_OR_RETURN(bool happened, t->ReloadAfterFailure(lsn));
      all = all && happened;
    }
    if (committed.error().kind != ErrorKind::kCommitFailed) {
      if (all) return rows;
      if (attempt >= 3) return std::unexpected(committed.error());
    } else if (attempt >= kAttempts) {
      return MakeError(ErrorKind::kCommitFailed, "committing changes up to LSN " + FormatLsn(lsn) + " failed after " +
                                                     std::to_string(attempt) + " attempts: " + committed.error().message);
    }
    Log(LogLevel::kWarn, "commit of changes failed, retrying",
        {{"lsn", FormatLsn(lsn)}, {"attempt", std::to_string(attempt)}, {"error", committed.error().message}});
    std::this_thread::sleep_for(std::chrono::milliseconds(20 * attempt));
  }
}

}  // namespace frazil::cdc
