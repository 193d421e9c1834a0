#include "frazil/cdc/verify.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "frazil/base/log.h"
#include "frazil/base/random.h"
#include "frazil/cdc/changelog.h"
#include "frazil/cdc/pg_types.h"
#include "frazil/cdc/pgoutput.h"
#include "frazil/cdc/pipeline.h"
#include "frazil/cdc/source_admin.h"
#include "frazil/engine/table_scan.h"
#include "frazil/iceberg/scan.h"

namespace frazil::cdc {
namespace {

// Mirror table properties (docs/mirror.md).
constexpr int64_t kStageBytes = 64 << 20;  // source rows staged in memory before they go to DuckDB

using engine::QuoteIdentifier;

// `q."a", q."b"` (without a qualifier `"a", "b"`); `as_text` casts each to VARCHAR, which
// prints values as DuckDB does (the C API's own rendering loses some, e.g. timestamptz).
std::string ColumnList(const std::vector<std::string>& names, const std::string& qualifier = "",
                       bool as_text = false) {
  std::string out;
  for (const auto& n : names) {
    std::string col = (qualifier.empty() ? "" : qualifier + ".") + QuoteIdentifier(n);
    out += (out.empty() ? "" : ", ") + (as_text ? "CAST(" + col + " AS VARCHAR)" : col);
  }
  return out;
}

// Rows of `a` and `b` with the same key (NULL matches NULL).
std::string KeyMatch(const std::vector<std::string>& keys, const std::string& a,
                     const std::string& b) {
  std::string out;
  for (const auto& k : keys) {
    out += (out.empty() ? "" : " AND ") + a + "." + QuoteIdentifier(k) + " IS NOT DISTINCT FROM " +
           b + "." + QuoteIdentifier(k);
  }
  return out;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::string Seconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", static_cast<double>(ms) / 1000.0);
  return buf;
}

Result<engine::QueryResult> Query(engine::Connection& con, const std::string& sql,
                                  const std::string& what) {
  auto r = con.Query(sql);
  if (!r) return MakeError(r.error().kind, what + ": " + r.error().message);
  return r;
}

// A source snapshot: a connection in a REPEATABLE READ transaction on the snapshot that a
// temporary slot exported at `lsn` (transactions committed before it are visible, none after).
struct SourceSnapshot {
  std::unique_ptr<PgConnection> conn;
  Lsn lsn = 0;
};

Result<SourceSnapshot> TakeSourceSnapshot(const std::string& conninfo) {
  FRZ_ASSIGN_OR_RETURN(auto repl,
                       PgConnection::Connect(conninfo, true, PgSessionOptions(), "frazil-verify"));
  std::string slot = "frazil_verify_" + std::to_string(NewPositiveId() % 1000000000);
  auto created = CreateSlot(*repl, slot, /*temporary=*/true, /*export_snapshot=*/true);
  if (!created) {
    return MakeError(created.error().kind, "creating the temporary replication slot " + slot +
                                               " on " + repl->Describe() + ": " +
                                               created.error().message);
  }
  SourceSnapshot out;
  out.lsn = created->consistent_point;
  FRZ_ASSIGN_OR_RETURN(out.conn,
                       PgConnection::Connect(conninfo, false, PgSessionOptions(), "frazil-verify"));
  FRZ_RETURN_IF_ERROR(out.conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  FRZ_RETURN_IF_ERROR(
      out.conn->Exec("SET TRANSACTION SNAPSHOT " + PgQuoteLiteral(created->snapshot_name)));
  // The transaction holds the snapshot now; the slot would only hold WAL back (it also goes
  // away with its connection).
  (void)repl->Exec("DROP_REPLICATION_SLOT " + PgQuoteIdentifier(slot));
  return out;
}

Result<SourceTable> FindSource(PgConnection& conn, const std::string& publication,
                               const std::string& name) {
  FRZ_ASSIGN_OR_RETURN(auto tables, ListPublishedTables(conn, publication));
  for (auto& t : tables) {
    if (t.QualifiedName() == name) return std::move(t);
  }
  return MakeError(ErrorKind::kNotFound, "source table " + name + " is not in publication " +
                                             publication + " on " + conn.Describe() +
                                             " (dropped, or removed from the publication?)");
}

// Changes to table `oid` in transactions committed before `upto` that are still waiting in
// frazil's slot (inactive: `frazil run` is stopped), decoded by the server without consuming
// them. Errors: the server's (e.g. the slot became active meanwhile).
Result<int64_t> PendingChanges(PgConnection& conn, const std::string& slot,
                               const std::string& publication, Lsn upto, uint32_t oid) {
  char relid[16];
  std::snprintf(relid, sizeof relid, "\\x%08x", oid);
  // Inserts, updates and deletes carry the relation OID at bytes 1..4 (protocol 1); truncates
  // list theirs and are decoded here.
  FRZ_ASSIGN_OR_RETURN(
      auto r,
      conn.ExecParams(
          "SELECT count(*) FILTER (WHERE get_byte(data, 0) <> 84), "
          "string_agg(encode(data, 'hex'), ',') FILTER (WHERE get_byte(data, 0) = 84) "
          "FROM pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, NULL, 'proto_version', '1', "
          "'publication_names', $3) WHERE get_byte(data, 0) = 84 OR "
          "(get_byte(data, 0) IN (73, 85, 68) AND substring(data FROM 2 FOR 4) = $4::bytea)",
          {slot, FormatLsn(upto), PgQuoteIdentifier(publication), std::string(relid)}));
  int64_t changes = std::stoll(std::string(r.Get(0, 0)));
  for (const auto& hex : SplitList(std::string(r.Get(0, 1)))) {
    std::string bytes;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
      bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    FRZ_ASSIGN_OR_RETURN(auto msg, DecodePgOutput(bytes, false));
    if (const auto* t = std::get_if<TruncateMsg>(&msg)) {
      for (uint32_t id : t->relation_ids) changes += id == oid ? 1 : 0;
    }
  }
  return changes;
}

// The mirror state to compare: `snapshot_id` holds every change of the table committed
// before `lsn` and none at or after it.
struct MirrorAt {
  catalog::LoadedTable table;
  std::optional<int64_t> snapshot_id;
  Lsn lsn = 0;
};

// Waits until the mirror holds every change committed before `c` (docs/mirror.md, "Checking
// a mirror"), then picks its earliest snapshot at or after `c`.
Result<MirrorAt> WaitForMirror(CdcContext& ctx, const VerifyOptions& o, PgConnection& control,
                               const catalog::TableIdentifier& id, const std::string& slot,
                               const SourceTable& source_table, Lsn c) {
  const std::string source = source_table.QualifiedName();
  int64_t deadline = ctx.clock->MonotonicNanos() + o.timeout_ms * 1000000;
  bool peeked = false;
  while (true) {
    // The slot first: what it confirmed was committed before it was confirmed.
    FRZ_ASSIGN_OR_RETURN(auto info, GetSlot(control, slot));
    FRZ_ASSIGN_OR_RETURN(auto table, ctx.catalog->LoadTable(id));
    const auto& md = table.metadata;
    MirrorAt at{table, md.current_snapshot_id, ResumeLsn(md)};
    if (at.lsn >= c) {
      Lsn best = 0;
      if (md.current_snapshot_id) {
        for (const auto* s : md.Ancestors(*md.current_snapshot_id)) {  // newest first
          auto it = s->summary.find(kLsnProperty);
          auto lsn = it == s->summary.end() ? Result<Lsn>(0) : ParseLsn(it->second);
          if (lsn && *lsn >= c &&
              (best == 0 || *lsn < best)) {  // ties: the newest (last of one commit)
            best = *lsn;
            at.snapshot_id = s->snapshot_id;
          }
        }
      }
      if (best != 0) at.lsn = best;
      return at;
    }
    // A mirror in step with its raw table and behind `c` is current when nothing changed
    // the table since: frazil confirmed past `c` (a quiet table), or, with `frazil run`
    // stopped, its slot holds no change of the table from before `c`.
    auto raw_id = catalog::TableIdentifier::Parse(md.Property(kMirrorOfProperty, ""));
    auto raw = raw_id ? ctx.catalog->LoadTable(*raw_id)
                      : Result<catalog::LoadedTable>(std::unexpected(raw_id.error()));
    bool in_step = raw && ResumeLsn(raw->metadata) == at.lsn;
    if (in_step && info && info->confirmed_flush.value_or(0) >= c) return at;
    if (in_step && info && !info->active && !peeked) {
      peeked = true;
      auto pending = PendingChanges(control, slot, o.publication, c, source_table.oid);
      if (pending && *pending == 0) return at;
      if (pending) {
        return MakeError(ErrorKind::kIOError,
                         "replication slot " + slot + " holds " + std::to_string(*pending) +
                             " change(s) to " + source + " committed before the source snapshot (" +
                             FormatLsn(c) + ") that " + id.ToString() + " (at " +
                             FormatLsn(at.lsn) +
                             ") does not have yet, and `frazil run` is not running: "
                             "start it and verify again");
      }
    }
    if (ctx.clock->MonotonicNanos() >= deadline) {
      return MakeError(ErrorKind::kIOError, id.ToString() + " did not catch up with " + source +
                                                " within " + Seconds(o.timeout_ms) +
                                                ": mirror at " + FormatLsn(at.lsn) +
                                                ", source at " + FormatLsn(c) +
                                                ". Is `frazil run` running? (`frazil status` shows "
                                                "its progress; --timeout waits longer)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(o.poll_ms));
  }
}

// The columns both sides have with the same type, in mirror order.
struct Columns {
  iceberg::Schema schema;            // those mirror fields
  std::vector<SourceColumn> source;  // their source columns
  std::vector<std::string> names;
  std::vector<std::string> keys;  // frazil.key, or every column (rows identified as a whole)
  std::vector<std::string> differences;
};

Result<Columns> MatchColumns(const iceberg::Schema& mirror, const SourceTable& source,
                             const std::vector<std::string>& key) {
  Columns out;
  std::vector<iceberg::NestedField> fields;
  for (const auto& f : mirror.fields()) {
    const SourceColumn* col = nullptr;
    for (const auto& c : source.columns) col = c.name == f.name ? &c : col;
    if (col == nullptr) {
      out.differences.push_back("column " + f.name + " is in the mirror but not in the source");
      continue;
    }
    FRZ_ASSIGN_OR_RETURN(auto mapping, MapPgType(col->type));
    if (mapping.type->ToString() != f.type->ToString()) {
      out.differences.push_back("column " + f.name + " is " + f.type->ToString() +
                                " in the mirror, " + mapping.type->ToString() + " in the source (" +
                                col->type.name + ")");
      continue;
    }
    fields.push_back(f);
    out.source.push_back(*col);
    out.names.push_back(f.name);
  }
  for (const auto& c : source.columns) {
    if (std::ranges::none_of(mirror.fields(), [&](const auto& f) { return f.name == c.name; })) {
      out.differences.push_back("column " + c.name + " is in the source but not in the mirror");
    }
  }
  if (out.names.empty()) {
    return MakeError(ErrorKind::kUnsupported, "the mirror and source " + source.QualifiedName() +
                                                  " have no column in common");
  }
  bool keyed = !key.empty() && std::ranges::all_of(key, [&](const std::string& k) {
    return std::ranges::find(out.names, k) != out.names.end();
  });
  out.keys = keyed ? key : out.names;
  out.schema = iceberg::Schema(0, std::move(fields));
  return out;
}

// Changes the raw table holds with commit LSN in [c, l): in the mirror, not in the source
// snapshot. Their keys (new and old) go to temp table verify_excluded.
struct Window {
  int64_t changes = 0;
  bool truncate = false;
};

Result<Window> ReadWindow(CdcContext& ctx, engine::Connection& con, const MirrorAt& at, Lsn c,
                          const std::vector<std::string>& keys) {
  if (at.lsn <= c) return Window{};
  std::string raw_name = at.table.metadata.Property(kMirrorOfProperty, "");
  FRZ_ASSIGN_OR_RETURN(auto raw_id, catalog::TableIdentifier::Parse(raw_name));
  auto raw = ctx.catalog->LoadTable(raw_id);
  if (!raw) {
    return MakeError(ErrorKind::kNotFound, "raw table " + raw_name +
                                               " of the mirror cannot be read (" +
                                               raw.error().message +
                                               "): it tells which changes the mirror has that "
                                               "the source snapshot does not");
  }
  iceberg::ScanOptions so;
  if (const auto* f =
          raw->metadata.current_schema()->FindField(std::string_view(kCommitLsnColumn))) {
    so.filter = {{f->id, iceberg::FilterOp::kGtEq, iceberg::Datum(static_cast<int64_t>(c))},
                 {f->id, iceberg::FilterOp::kLt, iceberg::Datum(static_cast<int64_t>(at.lsn))}};
  }
  FRZ_ASSIGN_OR_RETURN(auto plan, iceberg::PlanScan(raw->metadata, *ctx.io, so));
  FRZ_ASSIGN_OR_RETURN(auto scan,
                       engine::ScanSql(plan.schema, plan.tasks,
                                       [&](const std::string& l) { return ctx.io->ScanPath(l); }));
  std::string what = "reading the changes of " + raw_name + " between " + FormatLsn(c) + " and " +
                     FormatLsn(at.lsn);
  FRZ_RETURN_IF_ERROR(Query(con,
                            "CREATE OR REPLACE TEMP TABLE verify_window AS SELECT * FROM (" + scan +
                                ") WHERE _commit_lsn >= " + std::to_string(c) +
                                " AND _commit_lsn < " + std::to_string(at.lsn),
                            what));
  std::string old_keys;
  for (const auto& k : keys) {
    old_keys += (old_keys.empty() ? "" : ", ") + std::string("struct_extract(_old, ") +
                engine::QuoteLiteral(k) + ") AS " + QuoteIdentifier(k);
  }
  FRZ_RETURN_IF_ERROR(Query(con,
                            "CREATE OR REPLACE TEMP TABLE verify_excluded AS SELECT " +
                                ColumnList(keys) +
                                " FROM verify_window WHERE _op <> 't' UNION SELECT " + old_keys +
                                " FROM verify_window WHERE _old IS NOT NULL",
                            what));
  FRZ_ASSIGN_OR_RETURN(
      auto r,
      Query(con, "SELECT count(*), count(*) FILTER (WHERE _op = 't') FROM verify_window", what));
  return Window{r.GetInt64(0, 0), r.GetInt64(1, 0) > 0};
}

// Copies the source rows (in the snapshot) into temp table verify_source, through the same
// staging and casts as CDC's initial copy.
Status LoadSource(engine::Connection& con, PgConnection& pg, const SourceTable& table,
                  const Columns& cols) {
  FRZ_ASSIGN_OR_RETURN(auto layout, MakeLayout(cols.source, cols.schema));
  FRZ_ASSIGN_OR_RETURN(auto buffer, ChangeBuffer::Create(con, cols.source.size()));
  std::string insert = "INSERT INTO verify_source SELECT " + layout.select_list +
                       " FROM (SELECT * FROM " + buffer->sql() + ")";
  std::string select;
  for (const auto& c : cols.source)
    select += (select.empty() ? "" : ", ") + PgQuoteIdentifier(c.name);
  std::vector<std::optional<std::string_view>> fields;
  std::vector<std::string> scratch;
  RowMeta meta;
  meta.op = 'r';
  auto flush = [&]() -> Status {
    if (buffer->rows() == 0) return Ok();
    FRZ_RETURN_IF_ERROR(con.Execute(insert));
    buffer->Clear();
    return Ok();
  };
  // ONLY: an inheritance child is a table of its own (published and mirrored apart); a
  // partitioned table published through its root holds its partitions' rows.
  FRZ_ASSIGN_OR_RETURN(auto kind, pg.ExecParams("SELECT relkind FROM pg_class WHERE oid = $1",
                                                {std::to_string(table.oid)}));
  std::string only = kind.rows() == 1 && kind.Get(0, 0) == "p" ? "" : "ONLY ";
  Status copied = pg.CopyOut(
      "COPY (SELECT " + select + " FROM " + only + PgQualifiedName(table.schema, table.name) +
          ") TO STDOUT",
      [&](std::string_view line) -> Status {
        FRZ_RETURN_IF_ERROR(ParseCopyTextLine(line, cols.source.size(), fields, scratch));
        FRZ_RETURN_IF_ERROR(buffer->AppendFields(meta, fields));
        return buffer->bytes() >= kStageBytes ? flush() : Ok();
      });
  if (copied) copied = flush();
  if (!copied)
    return MakeError(copied.error().kind,
                     "reading " + table.QualifiedName() + ": " + copied.error().message);
  return Ok();
}

std::string RowKey(engine::QueryResult& r, size_t row, const std::vector<size_t>& columns) {
  std::string key;
  for (size_t c : columns) {
    auto v = r.GetString(c, row);
    key += v ? "v" + std::to_string(v->size()) + ":" + *v : std::string("n");
  }
  return key;
}

// Counts the differing keys of verify_missing / verify_extra and lists the first max_keys.
Status ReportDifferences(engine::Connection& con, const Columns& cols, int max_keys,
                         VerifyReport& report) {
  const auto& keys = cols.keys;
  std::string k = ColumnList(keys);
  FRZ_RETURN_IF_ERROR(con.Execute(
      "CREATE OR REPLACE TEMP TABLE verify_keys AS SELECT " + k +
      ", bool_or(__frazil_side = 's') AS __frazil_s, bool_or(__frazil_side = 'm') AS __frazil_m "
      "FROM (SELECT " +
      k + ", 's' AS __frazil_side FROM verify_missing UNION ALL SELECT " + k +
      ", 'm' FROM verify_extra) GROUP BY " + k +
      ";"
      "CREATE OR REPLACE TEMP TABLE verify_shown AS SELECT * FROM verify_keys ORDER BY " +
      k + " LIMIT " + std::to_string(std::max(0, max_keys))));
  FRZ_ASSIGN_OR_RETURN(
      auto counts,
      con.Query("SELECT count(*) FILTER (WHERE __frazil_s AND NOT __frazil_m), count(*) "
                "FILTER (WHERE __frazil_m AND NOT __frazil_s), count(*) FILTER (WHERE "
                "__frazil_s AND __frazil_m) FROM verify_keys"));
  report.missing_in_mirror = counts.GetInt64(0, 0);
  report.extra_in_mirror = counts.GetInt64(1, 0);
  report.different_values = counts.GetInt64(2, 0);
  // Both images of the keys whose values differ, to name the columns.
  std::string match = KeyMatch(keys, "t", "k") + " AND k.__frazil_s AND k.__frazil_m";
  FRZ_ASSIGN_OR_RETURN(auto rows,
                       con.Query("SELECT 's', " + ColumnList(cols.names, "t", true) +
                                 " FROM verify_missing t SEMI JOIN verify_shown k ON " + match +
                                 " UNION ALL SELECT 'm', " + ColumnList(cols.names, "t", true) +
                                 " FROM verify_extra t SEMI JOIN verify_shown k ON " + match));
  std::vector<size_t> key_at;  // key columns in `rows` (after the side column)
  for (const auto& key : keys) {
    for (size_t i = 0; i < cols.names.size(); ++i) {
      if (cols.names[i] == key) key_at.push_back(i + 1);
    }
  }
  std::map<std::string, std::pair<size_t, size_t>> images;  // key -> (source row, mirror row)
  for (size_t i = 0; i < rows.row_count(); ++i) {
    auto& [s, m] = images.try_emplace(RowKey(rows, i, key_at), SIZE_MAX, SIZE_MAX).first->second;
    (rows.GetString(0, i) == "s" ? s : m) = i;
  }
  FRZ_ASSIGN_OR_RETURN(
      auto shown,
      con.Query("SELECT " + ColumnList(keys, "k", true) +
                ", __frazil_s, __frazil_m FROM verify_shown k ORDER BY " + ColumnList(keys, "k")));
  std::vector<size_t> shown_keys(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) shown_keys[i] = i;
  for (size_t i = 0; i < shown.row_count(); ++i) {
    VerifyDifference d;
    bool s = shown.GetBool(keys.size(), i), m = shown.GetBool(keys.size() + 1, i);
    d.kind = s && m ? VerifyDifference::Kind::kDifferentValues
             : s    ? VerifyDifference::Kind::kMissingInMirror
                    : VerifyDifference::Kind::kExtraInMirror;
    for (size_t c = 0; c < keys.size(); ++c) d.key.emplace_back(keys[c], shown.GetString(c, i));
    auto it = images.find(RowKey(shown, i, shown_keys));
    if (s && m && it != images.end() && it->second.first != SIZE_MAX &&
        it->second.second != SIZE_MAX) {
      for (size_t c = 0; c < cols.names.size(); ++c) {
        auto sv = rows.GetString(c + 1, it->second.first),
             mv = rows.GetString(c + 1, it->second.second);
        if (sv != mv) d.columns.push_back({cols.names[c], sv, mv});
      }
    }
    report.differences.push_back(std::move(d));
  }
  return Ok();
}

}  // namespace

std::string_view VerifyKindName(VerifyDifference::Kind kind) {
  switch (kind) {
    case VerifyDifference::Kind::kMissingInMirror:
      return "missing in mirror";
    case VerifyDifference::Kind::kExtraInMirror:
      return "extra in mirror";
    case VerifyDifference::Kind::kDifferentValues:
      return "different values";
  }
  return "?";
}

Result<catalog::TableIdentifier> ResolveMirror(catalog::Catalog& catalog, std::string_view arg,
                                               const std::string& mirror_ns) {
  std::vector<Result<catalog::TableIdentifier>> candidates;
  size_t dot = arg.find('.');
  if (dot == std::string_view::npos) {
    candidates.push_back(catalog::TableIdentifier::Of({mirror_ns}, arg));
  } else {
    candidates.push_back(catalog::TableIdentifier::Parse(arg));
    candidates.push_back(catalog::TableIdentifier::Of(
        {mirror_ns},
        RawTableName(std::string(arg.substr(0, dot)), std::string(arg.substr(dot + 1)))));
  }
  std::string tried;
  for (const auto& id : candidates) {
    if (!id || tried.find(id->ToString()) != std::string::npos) continue;
    auto exists = catalog.TableExists(*id);
    if (!exists && exists.error().kind != ErrorKind::kNoSuchNamespace)
      return std::unexpected(exists.error());
    if (!exists || !*exists) {
      tried += (tried.empty() ? "" : ", ") + id->ToString();
      continue;
    }
    FRZ_ASSIGN_OR_RETURN(auto table, catalog.LoadTable(*id));
    const auto& props = table.metadata.properties;
    if (!props.count(kMirrorOfProperty)) {
      std::string source = table.metadata.Property(kSourceProperty, "");
      size_t sdot = source.find('.');
      std::string hint =
          sdot == std::string::npos
              ? ""
              : " (it is the raw changelog table of " + source + "; its mirror is " + mirror_ns +
                    "." + RawTableName(source.substr(0, sdot), source.substr(sdot + 1)) + ")";
      return MakeError(
          ErrorKind::kInvalidArgument,
          id->ToString() + " is not a mirror table: it has no " + kMirrorOfProperty + " property" + hint);
    }
    return *id;
  }
  return MakeError(
      ErrorKind::kNoSuchTable,
      "no mirror table for '" + std::string(arg) + "' (tried " +
          (tried.empty() ? "nothing" : tried) +
          "): mirrors are kept by `frazil run` with source.mirror on; `frazil table list " +
          mirror_ns + "` lists them");
}

Result<VerifyReport> VerifyMirror(CdcContext& ctx, const VerifyOptions& o,
                                  const catalog::TableIdentifier& id) {
  FRZ_ASSIGN_OR_RETURN(auto first, ctx.catalog->LoadTable(id));
  const auto& md = first.metadata;
  VerifyReport report;
  report.table = id.ToString();
  report.source = md.Property(kSourceProperty, "");
  if (report.source.empty() || !md.properties.count(kMirrorOfProperty)) {
    return MakeError(ErrorKind::kInvalidArgument, report.table + " is not a mirror table (no " +
                                                      kMirrorOfProperty + " or " + kSourceProperty +
                                                      " property)");
  }
  const std::string slot = md.Property(kSlotProperty, o.slot);
  const std::vector<std::string> key = SplitList(md.Property(kMirrorKeyProperty, ""));
  FRZ_ASSIGN_OR_RETURN(auto con, engine::Connection::Open(*ctx.db));
  FRZ_ASSIGN_OR_RETURN(
      auto control, PgConnection::Connect(o.conninfo, false, PgSessionOptions(), "frazil-verify"));

  SourceSnapshot snap;
  SourceTable source;
  MirrorAt at;
  Columns cols;
  Window window;
  iceberg::ScanPlan plan;
  for (int attempt = 1;; ++attempt) {
    FRZ_ASSIGN_OR_RETURN(snap, TakeSourceSnapshot(o.conninfo));
    FRZ_ASSIGN_OR_RETURN(source, FindSource(*snap.conn, o.publication, report.source));
    FRZ_ASSIGN_OR_RETURN(at, WaitForMirror(ctx, o, *control, id, slot, source, snap.lsn));
    iceberg::ScanOptions so;
    so.snapshot_id = at.snapshot_id;
    FRZ_ASSIGN_OR_RETURN(plan, iceberg::PlanScan(at.table.metadata, *ctx.io, so));
    FRZ_ASSIGN_OR_RETURN(cols, MatchColumns(plan.schema, source, key));
    FRZ_ASSIGN_OR_RETURN(window, ReadWindow(ctx, con, at, snap.lsn, cols.keys));
    report.attempts = attempt;
    if (window.changes == 0 || attempt >= o.attempts) break;
    Log(LogLevel::kInfo, "the table changed while verifying; taking a new source snapshot",
        {{"table", report.table},
         {"changes", std::to_string(window.changes)},
         {"attempt", std::to_string(attempt)}});
    std::this_thread::sleep_for(std::chrono::milliseconds(o.retry_wait_ms << (attempt - 1)));
  }
  if (window.truncate) {
    return MakeError(ErrorKind::kIOError,
                     "source too busy: " + report.source +
                         " was truncated between the source snapshot (" + FormatLsn(snap.lsn) +
                         ") and the mirror state compared (" + FormatLsn(at.lsn) + ") after " +
                         std::to_string(report.attempts) +
                         " attempts, and a truncate cannot be left out by key; verify again when "
                         "it is quieter");
  }
  report.lsn = snap.lsn;
  report.mirror_snapshot_id = at.snapshot_id;
  report.mirror_lsn = at.lsn;
  report.schema_differences = cols.differences;
  if (!key.empty() && cols.keys == key) report.key_columns = key;

  FRZ_ASSIGN_OR_RETURN(auto scan,
                       engine::ScanSql(plan.schema, plan.tasks,
                                       [&](const std::string& l) { return ctx.io->ScanPath(l); }));
  std::string columns = ColumnList(cols.names);
  FRZ_RETURN_IF_ERROR(Query(
      con,
      "CREATE OR REPLACE TEMP VIEW verify_mirror AS SELECT " + columns + " FROM (" + scan +
          ");CREATE OR REPLACE TEMP TABLE verify_source AS SELECT * FROM verify_mirror LIMIT 0",
      "reading " + report.table));
  FRZ_RETURN_IF_ERROR(LoadSource(con, *snap.conn, source, cols));
  snap.conn.reset();  // ends the source transaction

  std::string s = "verify_source", m = "verify_mirror";
  if (window.changes > 0) {
    FRZ_ASSIGN_OR_RETURN(auto excluded, con.Query("SELECT count(*) FROM verify_excluded"));
    report.excluded_keys = excluded.GetInt64(0, 0);
    std::string on = " t ANTI JOIN verify_excluded x ON " + KeyMatch(cols.keys, "t", "x") + ")";
    s = "(SELECT t.* FROM verify_source" + on;
    m = "(SELECT t.* FROM verify_mirror" + on;
    Log(LogLevel::kInfo, "keys changed while verifying are left out",
        {{"table", report.table}, {"keys", std::to_string(report.excluded_keys)}});
  }
  std::string checksum =
      "count(*), lpad(lower(hex(coalesce(sum(hash(" + columns + ")), 0)::HUGEINT)), 32, '0')";
  FRZ_ASSIGN_OR_RETURN(auto sums, Query(con,
                                        "SELECT * FROM (SELECT " + checksum + " FROM " + s +
                                            "), (SELECT " + checksum + " FROM " + m + ")",
                                        "comparing " + report.table + " with " + report.source));
  report.source_rows = sums.GetInt64(0, 0);
  report.source_checksum = sums.GetString(1, 0).value_or("");
  report.mirror_rows = sums.GetInt64(2, 0);
  report.mirror_checksum = sums.GetString(3, 0).value_or("");
  FRZ_RETURN_IF_ERROR(Query(con,
                            "CREATE OR REPLACE TEMP TABLE verify_missing AS SELECT * FROM " + s +
                                " EXCEPT ALL SELECT * FROM " + m +
                                ";CREATE OR REPLACE TEMP TABLE verify_extra AS SELECT * FROM " + m +
                                " EXCEPT ALL SELECT * FROM " + s,
                            "comparing " + report.table + " with " + report.source));
  FRZ_RETURN_IF_ERROR(ReportDifferences(con, cols, o.max_keys, report));
  report.equal = report.schema_differences.empty() &&
                 report.missing_in_mirror + report.extra_in_mirror + report.different_values == 0;
  return report;
}

}  // namespace frazil::cdc
