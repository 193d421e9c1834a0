#include "frazil/cdc/changelog.h"

#include "frazil/iceberg/table_update.h"

#include <map>
#include <set>

#include "frazil/engine/types.h"

namespace frazil::cdc {
namespace {

using iceberg::NestedField;
using iceberg::Primitive;
using iceberg::TypeId;

const std::vector<std::pair<const char*, TypeId>>& MetaColumns() {
  static const std::vector<std::pair<const char*, TypeId>> cols = {
      {kOpColumn, TypeId::kString},   {kLsnColumn, TypeId::kLong},         {kCommitLsnColumn, TypeId::kLong},
      {kTxidColumn, TypeId::kLong},   {kCommitTsColumn, TypeId::kTimestampTz}, {kSeqColumn, TypeId::kLong},
  };
  return cols;
}

std::string StagingValue(size_t i) { return "c" + std::to_string(i); }
std::string StagingOld(size_t i) { return "o" + std::to_string(i); }

Result<iceberg::TypePtr> ColumnType(const SourceColumn& c) {
  FRZ_ASSIGN_OR_RETURN(auto mapping, MapPgType(c.type));
  return mapping.type;
}

// Whether Iceberg lets a column change from `from` to `to` keeping its field id.
bool AllowedPromotion(const iceberg::Type& from, const iceberg::Type& to) {
  if (from.ToString() == to.ToString()) return true;
  if (from.id == TypeId::kInt && to.id == TypeId::kLong) return true;
  if (from.id == TypeId::kFloat && to.id == TypeId::kDouble) return true;
  if (from.id == TypeId::kDecimal && to.id == TypeId::kDecimal) {
    return to.scale == from.scale && to.precision >= from.precision;
  }
  return false;
}

}  // namespace

bool IsChangelogColumn(std::string_view name) {
  if (name == kOldColumn) return true;
  for (const auto& [n, t] : MetaColumns()) {
    if (name == n) return true;
  }
  return false;
}

Result<iceberg::Schema> NewRawSchema(const SourceTable& table) {
  std::vector<NestedField> fields;
  std::vector<NestedField> old_fields;
  int id = 0;
  for (const auto& c : table.columns) {
    if (IsChangelogColumn(c.name)) {
      return MakeError(ErrorKind::kInvalidArgument,
                       "column " + c.name + " of " + table.QualifiedName() +
                           " has the name of a changelog column frazil adds (_op, _lsn, _commit_lsn, _txid, "
                           "_commit_ts, _seq, _old): rename the source column");
    }
    FRZ_ASSIGN_OR_RETURN(auto type, ColumnType(c));
    fields.push_back(NestedField{++id, c.name, false, type, {}, nullptr, nullptr});
  }
  for (const auto& [name, type] : MetaColumns()) {
    bool required = std::string_view(name) == kOpColumn || std::string_view(name) == kLsnColumn;
    fields.push_back(NestedField{++id, name, required, Primitive(type), {}, nullptr, nullptr});
  }
  int old_id = ++id;
  for (const auto& c : table.columns) {
    FRZ_ASSIGN_OR_RETURN(auto type, ColumnType(c));
    old_fields.push_back(NestedField{++id, c.name, false, type, {}, nullptr, nullptr});
  }
  fields.push_back(NestedField{old_id, kOldColumn, false, iceberg::Struct(std::move(old_fields)), {}, nullptr, nullptr});
  iceberg::Schema schema(0, std::move(fields));
  FRZ_RETURN_IF_ERROR(schema.Validate());
  return schema;
}

Result<Layout> MakeLayout(const std::vector<SourceColumn>& columns, const iceberg::Schema& schema) {
  Layout layout;
  layout.columns = columns;
  layout.schema = schema;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < columns.size(); ++i) index[columns[i].name] = i;
  std::string list;
  const std::string* name = nullptr;
  auto add = [&](const std::string& expr) {
    if (!list.empty()) list += ", ";
    list += expr + " AS " + engine::QuoteIdentifier(*name);
  };
  for (const auto& f : schema.fields()) {
    name = &f.name;
    if (f.name == kOldColumn) {
      std::string pack;
      for (const auto& sub : f.type->fields) {
        auto it = index.find(sub.name);
        if (it == index.end()) {
          return MakeError(ErrorKind::kInternal, "raw schema field _old." + sub.name + " has no source column");
        }
        FRZ_ASSIGN_OR_RETURN(auto cast, CastSql(columns[it->second].type, StagingOld(it->second)));
        pack += (pack.empty() ? "" : ", ") + engine::QuoteIdentifier(sub.name) + " := " + cast;
      }
      add(pack.empty() ? "NULL" : "CASE WHEN _has_old THEN struct_pack(" + pack + ") END");
      continue;
    }
    if (f.name == kCommitTsColumn) {
      add("make_timestamptz(_commit_ts)");
      continue;
    }
    if (IsChangelogColumn(f.name)) {
      add(f.name);
      continue;
    }
    auto it = index.find(f.name);
    if (it == index.end()) return MakeError(ErrorKind::kInternal, "raw schema field " + f.name + " has no source column");
    FRZ_ASSIGN_OR_RETURN(auto cast, CastSql(columns[it->second].type, StagingValue(it->second)));
    add(cast);
  }
  layout.select_list = std::move(list);
  return layout;
}

Result<std::optional<iceberg::Schema>> EvolveRawSchema(const iceberg::Schema& current, int last_column_id,
                                                       const std::vector<SourceColumn>& columns,
                                                       const std::vector<std::pair<std::string, std::string>>& renames) {
  std::map<std::string, std::string> renamed_from;  // new name -> old name
  for (const auto& [from, to] : renames) renamed_from[to] = from;
  const NestedField* old_struct = current.FindField(std::string_view(kOldColumn));
  int next_id = last_column_id;
  std::vector<NestedField> fields;
  std::vector<NestedField> old_fields;
  for (const auto& c : columns) {
    if (IsChangelogColumn(c.name)) {
      return MakeError(ErrorKind::kInvalidArgument, "source column " + c.name +
                                                        " has the name of a changelog column frazil adds: rename it");
    }
    FRZ_ASSIGN_OR_RETURN(auto type, ColumnType(c));
    std::string previous = renamed_from.count(c.name) ? renamed_from[c.name] : c.name;
    const NestedField* top = current.FindField(std::string_view(previous));
    const NestedField* old = nullptr;
    if (old_struct) {
      for (const auto& sub : old_struct->type->fields) {
        if (sub.name == previous) old = &sub;
      }
    }
    if (top && !IsChangelogColumn(top->name) && AllowedPromotion(*top->type, *type)) {
      fields.push_back(NestedField{top->id, c.name, false, type, top->doc, nullptr, nullptr});
    } else {
      fields.push_back(NestedField{++next_id, c.name, false, type, {}, nullptr, nullptr});
    }
    if (old && AllowedPromotion(*old->type, *type)) {
      old_fields.push_back(NestedField{old->id, c.name, false, type, old->doc, nullptr, nullptr});
    } else {
      old_fields.push_back(NestedField{++next_id, c.name, false, type, {}, nullptr, nullptr});
    }
  }
  for (const auto& [name, type] : MetaColumns()) {
    const NestedField* f = current.FindField(std::string_view(name));
    if (f == nullptr) return MakeError(ErrorKind::kInvalidArgument, "raw table lacks changelog column " + std::string(name));
    fields.push_back(*f);
  }
  int old_id = old_struct ? old_struct->id : ++next_id;
  fields.push_back(NestedField{old_id, kOldColumn, false, iceberg::Struct(std::move(old_fields)), {}, nullptr, nullptr});
  iceberg::Schema next(current.schema_id() + 1, std::move(fields));
  FRZ_RETURN_IF_ERROR(next.Validate());
  if (next.SameStructure(current)) return std::optional<iceberg::Schema>();
  return std::optional<iceberg::Schema>(std::move(next));
}

namespace {

constexpr size_t kUnchangedColumn = 8;
constexpr size_t kSubxidColumn = 7;

std::vector<engine::RowBuffer::Column> StagingColumns(size_t ncolumns) {
  using T = engine::RowBuffer::Type;
  std::vector<engine::RowBuffer::Column> cols = {
      {"_op", T::kVarchar},       {"_lsn", T::kBigint},    {"_commit_lsn", T::kBigint}, {"_txid", T::kBigint},
      {"_commit_ts", T::kBigint}, {"_seq", T::kBigint},    {"_stream_xid", T::kBigint}, {"_subxid", T::kBigint},
      {"_unchanged", T::kVarchar}, {"_has_old", T::kBoolean}};
  for (size_t i = 0; i < ncolumns; ++i) cols.push_back({StagingValue(i), T::kVarchar});
  for (size_t i = 0; i < ncolumns; ++i) cols.push_back({StagingOld(i), T::kVarchar});
  return cols;
}

}  // namespace

ChangeBuffer::ChangeBuffer(size_t ncolumns) : ncolumns_(ncolumns), rows_(StagingColumns(ncolumns)) {}

Result<std::unique_ptr<ChangeBuffer>> ChangeBuffer::Create(engine::Connection& con, size_t ncolumns) {
  FRZ_RETURN_IF_ERROR(engine::RegisterRowBufferFunction(con));
  return std::unique_ptr<ChangeBuffer>(new ChangeBuffer(ncolumns));
}

void ChangeBuffer::Clear() {
  rows_.Clear();
  unchanged_toast_ = 0;
}

void ChangeBuffer::DropSubtransaction(uint32_t subxid) {
  rows_.Retain([&](size_t row) { return rows_.GetInt64(kSubxidColumn, row) != static_cast<int64_t>(subxid); });
}

constexpr size_t kFirstValueColumn = 10;

char ChangeBuffer::op(size_t row) const { return rows_.GetString(0, row)[0]; }

std::optional<std::string_view> ChangeBuffer::value(size_t row, size_t column) const {
  if (rows_.IsNull(kFirstValueColumn + column, row)) return std::nullopt;
  return rows_.GetString(kFirstValueColumn + column, row);
}

std::optional<std::string_view> ChangeBuffer::old_value(size_t row, size_t column) const {
  size_t col = kFirstValueColumn + ncolumns_ + column;
  if (rows_.IsNull(kUnchangedColumn + 1, row) || rows_.GetInt64(kUnchangedColumn + 1, row) == 0 || rows_.IsNull(col, row)) {
    return std::nullopt;
  }
  return rows_.GetString(col, row);
}

std::vector<size_t> ChangeBuffer::unchanged_columns(size_t row) const {
  std::vector<size_t> out;
  if (rows_.IsNull(kUnchangedColumn, row)) return out;
  std::string_view list = rows_.GetString(kUnchangedColumn, row);
  size_t start = 0;
  while (start < list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    out.push_back(std::stoul(std::string(list.substr(start, comma - start))));
    start = comma + 1;
  }
  return out;
}

void ChangeBuffer::Fill(size_t row, size_t column, std::optional<std::string_view> value) {
  rows_.SetString(kFirstValueColumn + column, row, value);
}

void ChangeBuffer::ClearUnchanged(size_t row) {
  if (rows_.IsNull(kUnchangedColumn, row)) return;
  rows_.SetString(kUnchangedColumn, row, std::nullopt);
  --unchanged_toast_;
}

std::optional<std::pair<size_t, Lsn>> ChangeBuffer::FirstUnresolvedToast() const {
  if (unchanged_toast_ == 0) return std::nullopt;
  for (size_t row = 0; row < rows_.rows(); ++row) {
    if (rows_.IsNull(kUnchangedColumn, row)) continue;
    std::string_view list = rows_.GetString(kUnchangedColumn, row);
    size_t column = std::stoul(std::string(list.substr(0, list.find(','))));
    return std::make_pair(column, static_cast<Lsn>(rows_.GetInt64(1, row)));
  }
  return std::nullopt;
}

void ChangeBuffer::AppendMeta(const RowMeta& meta) {
  char op[1] = {meta.op};
  rows_.AppendString(std::string_view(op, 1));
  rows_.AppendInt64(static_cast<int64_t>(meta.lsn));
  auto opt = [&](auto v) {
    if (v) {
      rows_.AppendInt64(static_cast<int64_t>(*v));
    } else {
      rows_.AppendNull();
    }
  };
  opt(meta.commit_lsn);
  opt(meta.txid);
  opt(meta.commit_ts_us);
  opt(meta.seq);
  opt(meta.stream_xid);
  rows_.AppendInt64(meta.subxid);
}

Status ChangeBuffer::Append(const RowMeta& meta, const Tuple* new_tuple, const Tuple* old_tuple) {
  auto check = [&](const Tuple* t, const char* which) -> Status {
    if (t && t->size() != ncolumns_) {
      return MakeError(ErrorKind::kCorrupt, std::string(which) + " tuple has " + std::to_string(t->size()) +
                                                " columns, the relation " + std::to_string(ncolumns_));
    }
    if (t) {
      for (const auto& v : *t) {
        if (v.kind == ValueKind::kBinary) {
          return MakeError(ErrorKind::kUnsupported, "binary tuple values are not requested by frazil");
        }
      }
    }
    return Ok();
  };
  FRZ_RETURN_IF_ERROR(check(new_tuple, "new"));
  FRZ_RETURN_IF_ERROR(check(old_tuple, "old"));
  AppendMeta(meta);
  std::string unchanged;
  if (new_tuple) {
    for (size_t i = 0; i < ncolumns_; ++i) {
      bool from_old = old_tuple && (*old_tuple)[i].kind == ValueKind::kText;
      if ((*new_tuple)[i].kind == ValueKind::kUnchangedToast && !from_old) {
        unchanged += (unchanged.empty() ? "" : ",") + std::to_string(i);
      }
    }
  }
  if (unchanged.empty()) {
    rows_.AppendNull();
  } else {
    rows_.AppendString(unchanged);
    ++unchanged_toast_;
  }
  rows_.AppendBool(old_tuple != nullptr);
  auto values = [&](const Tuple* t) {
    if (t == nullptr) return rows_.AppendNulls(ncolumns_);
    for (size_t i = 0; i < ncolumns_; ++i) {
      const TupleValue* value = &(*t)[i];
      // An unchanged TOAST value equals the old row's value when PostgreSQL sent the old
      // row (replica identity full detoasts it).
      if (value->kind == ValueKind::kUnchangedToast && old_tuple && (*old_tuple)[i].kind == ValueKind::kText) {
        value = &(*old_tuple)[i];
      }
      if (value->kind == ValueKind::kText) {
        rows_.AppendString(value->data);
      } else {
        rows_.AppendNull();
      }
    }
  };
  values(new_tuple);
  values(old_tuple);
  rows_.EndRow();
  return Ok();
}

Status ChangeBuffer::AppendFields(const RowMeta& meta, std::span<const std::optional<std::string_view>> fields) {
  if (fields.size() != ncolumns_) {
    return MakeError(ErrorKind::kCorrupt, "snapshot row has " + std::to_string(fields.size()) + " fields, expected " +
                                              std::to_string(ncolumns_));
  }
  AppendMeta(meta);
  rows_.AppendNull();
  rows_.AppendBool(false);
  for (const auto& f : fields) {
    if (f) {
      rows_.AppendString(*f);
    } else {
      rows_.AppendNull();
    }
  }
  rows_.AppendNulls(ncolumns_);
  rows_.EndRow();
  return Ok();
}

Status ParseCopyTextLine(std::string_view line, size_t expected, std::vector<std::optional<std::string_view>>& fields,
                         std::vector<std::string>& scratch) {
  fields.clear();
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (scratch.size() < expected) scratch.resize(expected);
  size_t start = 0;
  size_t n = 0;
  while (true) {
    size_t end = line.find('\t', start);
    std::string_view raw = line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (raw == "\\N") {
      fields.emplace_back(std::nullopt);
    } else if (raw.find('\\') == std::string_view::npos) {
      fields.emplace_back(raw);
    } else {
      if (n >= scratch.size()) scratch.resize(n + 1);
      std::string& out = scratch[n];
      out.clear();
      for (size_t i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (c != '\\' || i + 1 >= raw.size()) {
          out += c;
          continue;
        }
        char e = raw[++i];
        switch (e) {
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'v': out += '\v'; break;
          case 'x': {
            int v = 0, digits = 0;
            while (digits < 2 && i + 1 < raw.size() && std::isxdigit(static_cast<unsigned char>(raw[i + 1]))) {
              char h = raw[++i];
              v = v * 16 + (std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
              ++digits;
            }
            if (digits == 0) out += 'x';
            else out += static_cast<char>(v);
            break;
          }
          default:
            if (e >= '0' && e <= '7') {
              int v = e - '0', digits = 1;
              while (digits < 3 && i + 1 < raw.size() && raw[i + 1] >= '0' && raw[i + 1] <= '7') {
                v = v * 8 + (raw[++i] - '0');
                ++digits;
              }
              out += static_cast<char>(v);
            } else {
              out += e;  // \\ and any other escaped character stand for themselves
            }
        }
      }
      fields.emplace_back(std::string_view(out));
    }
    ++n;
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (fields.size() != expected) {
    return MakeError(ErrorKind::kCorrupt, "COPY row has " + std::to_string(fields.size()) + " fields, expected " +
                                              std::to_string(expected));
  }
  return Ok();
}

Status EnsureNamespace(catalog::Catalog& catalog, const catalog::Namespace& ns) {
  FRZ_ASSIGN_OR_RETURN(bool exists, catalog.NamespaceExists(ns));
  if (exists) return Ok();
  auto s = catalog.CreateNamespace(ns, {});
  if (!s && s.error().kind != ErrorKind::kAlreadyExists) return std::unexpected(s.error());
  return Ok();
}

Result<catalog::TableCommit> PrepareLsnCommit(const catalog::TableIdentifier& id, const iceberg::TableMetadata& base,
                                              io::FileIO& io, int64_t now_ms, LsnCommit c, Lsn lsn) {
  catalog::TableCommit commit;
  commit.id = id;
  iceberg::TableMetadata evolved;
  const iceberg::TableMetadata* md = &base;
  if (c.schema) {
    commit.requirements.push_back(iceberg::req::AssertCurrentSchemaId{base.current_schema_id});
    commit.requirements.push_back(iceberg::req::AssertLastAssignedFieldId{base.last_column_id});
    commit.updates.push_back(iceberg::upd::AddSchema{*c.schema, c.last_column_id});
    commit.updates.push_back(iceberg::upd::SetCurrentSchema{-1});
    FRZ_ASSIGN_OR_RETURN(evolved, iceberg::ApplyUpdates(&base, commit.updates, now_ms));
    md = &evolved;
  }
  auto& changes = c.changes;
  if (!changes.added_data_files.empty() || !changes.added_delete_files.empty() || !changes.removed_files.empty()) {
    changes.spec_id = md->default_spec_id;
    changes.extra_summary[kLsnProperty] = FormatLsn(lsn);
    FRZ_ASSIGN_OR_RETURN(auto produced, iceberg::ProduceSnapshot(*md, io, changes, now_ms));
    for (auto& r : produced.requirements) commit.requirements.push_back(std::move(r));
    for (auto& u : produced.updates) commit.updates.push_back(std::move(u));
  } else {
    // Nothing but the LSN moves: guard against a concurrent writer all the same.
    const auto* snap = base.current_snapshot();
    commit.requirements.push_back(iceberg::req::AssertTableUuid{base.table_uuid});
    commit.requirements.push_back(iceberg::req::AssertRefSnapshotId{
        iceberg::kMainBranch, snap ? std::optional<int64_t>(snap->snapshot_id) : std::nullopt});
  }
  c.properties[kLsnProperty] = FormatLsn(lsn);
  commit.updates.push_back(iceberg::upd::SetProperties{std::move(c.properties)});
  return commit;
}

}  // namespace frazil::cdc
