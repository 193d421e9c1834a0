#include "frazil/cdc/source_admin.h"

#include <map>

#include "frazil/base/log.h"

namespace frazil::cdc {
namespace {

std::pair<std::string, std::string> SplitTableName(const std::string& name) {
  auto dot = name.find('.');
  if (dot == std::string::npos) return {"public", name};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

Result<int64_t> ToInt(std::string_view s, const char* what) {
  try {
    return std::stoll(std::string(s));
  } catch (...) {
    return MakeError(ErrorKind::kInternal, std::string("unexpected ") + what + " from PostgreSQL: " + std::string(s));
  }
}

}  // namespace

Status CheckSource(PgConnection& conn) {
  if (conn.server_version() < 140000) {
    return MakeError(ErrorKind::kUnsupported, "PostgreSQL " + std::to_string(conn.server_version() / 10000) + " at " +
                                                  conn.Describe() +
                                                  " is too old: frazil needs PostgreSQL 14 or newer (pgoutput protocol 2)");
  }
  FRZ_ASSIGN_OR_RETURN(auto wal, conn.Exec("SHOW wal_level"));
  if (wal.Get(0, 0) != "logical") {
    return MakeError(ErrorKind::kInvalidArgument,
                     "wal_level is '" + std::string(wal.Get(0, 0)) + "' on " + conn.Describe() +
                         ": logical replication needs wal_level = logical (set it in postgresql.conf or with "
                         "ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)");
  }
  FRZ_ASSIGN_OR_RETURN(auto role, conn.Exec("SELECT current_user, rolreplication OR rolsuper FROM pg_roles "
                                            "WHERE rolname = current_user"));
  if (role.rows() == 1 && role.Get(0, 1) != "t") {
    std::string user(role.Get(0, 0));
    return MakeError(ErrorKind::kInvalidArgument, "role '" + user + "' on " + conn.Describe() +
                                                      " may not use replication: run ALTER ROLE " +
                                                      PgQuoteIdentifier(user) + " REPLICATION as a superuser");
  }
  return Ok();
}

Result<bool> PublicationExists(PgConnection& conn, const std::string& publication) {
  FRZ_ASSIGN_OR_RETURN(auto r, conn.ExecParams("SELECT 1 FROM pg_publication WHERE pubname = $1", {publication}));
  return r.rows() > 0;
}

Result<bool> EnsurePublication(PgConnection& conn, const std::string& publication,
                               const std::vector<std::string>& tables) {
  FRZ_ASSIGN_OR_RETURN(bool exists, PublicationExists(conn, publication));
  if (exists) return false;
  std::string sql = "CREATE PUBLICATION " + PgQuoteIdentifier(publication);
  if (tables.empty()) {
    sql += " FOR ALL TABLES";
  } else {
    sql += " FOR TABLE ";
    for (size_t i = 0; i < tables.size(); ++i) {
      auto [schema, table] = SplitTableName(tables[i]);
      sql += (i ? ", " : "") + PgQualifiedName(schema, table);
    }
  }
  FRZ_RETURN_IF_ERROR(conn.Exec(sql));
  Log(LogLevel::kInfo, "created publication", {{"publication", publication}, {"sql", sql}});
  return true;
}

Result<std::vector<PgType>> ResolveTypes(PgConnection& conn, const std::vector<std::pair<uint32_t, int32_t>>& types) {
  std::vector<PgType> out;
  std::vector<uint32_t> lookup;
  for (const auto& [oid, typmod] : types) {
    PgType t;
    t.oid = oid;
    t.typmod = typmod;
    out.push_back(t);
    if (!IsBuiltinScalar(oid)) lookup.push_back(oid);
  }
  if (lookup.empty()) return out;
  FRZ_ASSIGN_OR_RETURN(auto r, conn.Exec(ResolveTypeSql(lookup)));
  std::map<uint32_t, PgType> facts;
  for (int i = 0; i < r.rows(); ++i) {
    PgType t;
    FRZ_ASSIGN_OR_RETURN(int64_t oid, ToInt(r.Get(i, 0), "type oid"));
    t.oid = static_cast<uint32_t>(oid);
    t.typtype = r.Get(i, 1).empty() ? 'b' : r.Get(i, 1)[0];
    t.category = r.Get(i, 2).empty() ? 0 : r.Get(i, 2)[0];
    if (!r.IsNull(i, 3)) {
      FRZ_ASSIGN_OR_RETURN(int64_t base, ToInt(r.Get(i, 3), "base type"));
      t.base_oid = static_cast<uint32_t>(base);
    }
    if (!r.IsNull(i, 4)) {
      FRZ_ASSIGN_OR_RETURN(int64_t bt, ToInt(r.Get(i, 4), "base typmod"));
      t.base_typmod = static_cast<int32_t>(bt);
    }
    if (!r.IsNull(i, 5)) {
      FRZ_ASSIGN_OR_RETURN(int64_t el, ToInt(r.Get(i, 5), "element type"));
      t.element_oid = static_cast<uint32_t>(el);
    }
    t.name = std::string(r.Get(i, 6));
    facts[t.oid] = t;
  }
  for (auto& t : out) {
    auto it = facts.find(t.oid);
    if (it == facts.end()) continue;
    int32_t typmod = t.typmod;
    t = it->second;
    t.typmod = typmod;
  }
  return out;
}

Status FillMissingValues(PgConnection& conn, SourceTable& table) {
  FRZ_ASSIGN_OR_RETURN(auto r, conn.ExecParams("SELECT attname, (attmissingval::text::text[])[1] FROM pg_attribute "
                                               "WHERE attrelid = $1 AND atthasmissing AND NOT attisdropped",
                                               {std::to_string(table.oid)}));
  for (int i = 0; i < r.rows(); ++i) {
    for (auto& c : table.columns) {
      if (c.name == r.Get(i, 0) && !r.IsNull(i, 1)) c.missing_value = std::string(r.Get(i, 1));
    }
  }
  return Ok();
}

Result<std::vector<std::string>> PrimaryKeyColumns(PgConnection& conn, uint32_t oid) {
  FRZ_ASSIGN_OR_RETURN(auto r, conn.ExecParams("SELECT a.attname FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) "
                                               "WITH ORDINALITY AS k(attnum, n) JOIN pg_attribute a ON a.attrelid = "
                                               "i.indrelid AND a.attnum = k.attnum WHERE i.indrelid = $1 AND "
                                               "i.indisprimary ORDER BY k.n",
                                               {std::to_string(oid)}));
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.Get(i, 0));
  return out;
}

Result<std::vector<SourceTable>> ListPublishedTables(PgConnection& conn, const std::string& publication) {
  FRZ_ASSIGN_OR_RETURN(bool exists, PublicationExists(conn, publication));
  if (!exists) {
    return MakeError(ErrorKind::kNotFound,
                     "publication '" + publication + "' does not exist on " + conn.Describe() +
                         " (was it dropped?): `frazil run` creates a missing publication when it starts; changes made "
                         "while it was missing were not published");
  }
  FRZ_ASSIGN_OR_RETURN(
      auto tables,
      conn.ExecParams("SELECT c.oid, n.nspname, c.relname, c.relreplident FROM pg_publication_tables pt "
                      "JOIN pg_namespace n ON n.nspname = pt.schemaname "
                      "JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename "
                      "WHERE pt.pubname = $1 ORDER BY 2, 3",
                      {publication}));
  std::vector<SourceTable> out;
  for (int i = 0; i < tables.rows(); ++i) {
    SourceTable t;
    FRZ_ASSIGN_OR_RETURN(int64_t oid, ToInt(tables.Get(i, 0), "table oid"));
    t.oid = static_cast<uint32_t>(oid);
    t.schema = std::string(tables.Get(i, 1));
    t.name = std::string(tables.Get(i, 2));
    t.replica_identity = tables.Get(i, 3).empty() ? 'd' : tables.Get(i, 3)[0];
    // Key columns: the primary key (identity default), the identity index (i), every
    // column (full), none (nothing) - the same flags pgoutput puts in Relation messages.
    FRZ_ASSIGN_OR_RETURN(
        auto cols,
        conn.ExecParams(
            "SELECT a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull, "
            "  CASE c.relreplident WHEN 'f' THEN true WHEN 'n' THEN false ELSE EXISTS ("
            "    SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND a.attnum = ANY(i.indkey) AND "
            "    CASE c.relreplident WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END) END "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
            "ORDER BY a.attnum",
            {std::to_string(t.oid)}));
    std::vector<std::pair<uint32_t, int32_t>> types;
    for (int j = 0; j < cols.rows(); ++j) {
      SourceColumn c;
      FRZ_ASSIGN_OR_RETURN(int64_t attnum, ToInt(cols.Get(j, 0), "attnum"));
      c.attnum = static_cast<int>(attnum);
      c.name = std::string(cols.Get(j, 1));
      FRZ_ASSIGN_OR_RETURN(int64_t typid, ToInt(cols.Get(j, 2), "atttypid"));
      FRZ_ASSIGN_OR_RETURN(int64_t typmod, ToInt(cols.Get(j, 3), "atttypmod"));
      c.not_null = cols.Get(j, 4) == "t";
      c.is_key = cols.Get(j, 5) == "t";
      types.emplace_back(static_cast<uint32_t>(typid), static_cast<int32_t>(typmod));
      t.columns.push_back(std::move(c));
    }
    FRZ_ASSIGN_OR_RETURN(auto resolved, ResolveTypes(conn, types));
    for (size_t j = 0; j < resolved.size(); ++j) t.columns[j].type = resolved[j];
    FRZ_ASSIGN_OR_RETURN(t.primary_key, PrimaryKeyColumns(conn, t.oid));
    FRZ_RETURN_IF_ERROR(FillMissingValues(conn, t));
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::optional<SlotInfo>> GetSlot(PgConnection& conn, const std::string& slot) {
  FRZ_ASSIGN_OR_RETURN(
      auto r, conn.ExecParams("SELECT slot_name, plugin, database, temporary, active, confirmed_flush_lsn, "
                              "restart_lsn, wal_status, current_database(), slot_type "
                              "FROM pg_replication_slots WHERE slot_name = $1",
                              {slot}));
  if (r.rows() == 0) return std::optional<SlotInfo>();
  SlotInfo s;
  s.name = std::string(r.Get(0, 0));
  s.plugin = std::string(r.Get(0, 1));
  s.database = std::string(r.Get(0, 2));
  s.temporary = r.Get(0, 3) == "t";
  s.active = r.Get(0, 4) == "t";
  if (!r.IsNull(0, 5)) {
    FRZ_ASSIGN_OR_RETURN(s.confirmed_flush, ParseLsn(r.Get(0, 5)));
  }
  if (!r.IsNull(0, 6)) {
    FRZ_ASSIGN_OR_RETURN(s.restart, ParseLsn(r.Get(0, 6)));
  }
  s.wal_status = std::string(r.Get(0, 7));
  if (r.Get(0, 9) != "logical" || s.plugin != "pgoutput" || s.database != r.Get(0, 8)) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "replication slot '" + slot + "' on " + conn.Describe() + " belongs to something else (" +
                         std::string(r.Get(0, 9)) + " slot, plugin '" + s.plugin + "', database '" + s.database +
                         "'): choose another source.slot name or drop it");
  }
  return std::optional<SlotInfo>(s);
}

Result<CreatedSlot> CreateSlot(PgConnection& replication_conn, const std::string& slot, bool temporary,
                               bool export_snapshot) {
  std::string sql = "CREATE_REPLICATION_SLOT " + PgQuoteIdentifier(slot) + (temporary ? " TEMPORARY" : "") +
                    " LOGICAL pgoutput " + (export_snapshot ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT");
  FRZ_ASSIGN_OR_RETURN(auto r, replication_conn.Exec(sql));
  CreatedSlot out;
  FRZ_ASSIGN_OR_RETURN(out.consistent_point, ParseLsn(r.Get(0, 1)));
  if (!r.IsNull(0, 2)) out.snapshot_name = std::string(r.Get(0, 2));
  return out;
}

Status DropSlot(PgConnection& conn, const std::string& slot) {
  FRZ_RETURN_IF_ERROR(conn.ExecParams("SELECT pg_drop_replication_slot($1)", {slot}));
  return Ok();
}

Status DropPublication(PgConnection& conn, const std::string& publication) {
  FRZ_RETURN_IF_ERROR(conn.Exec("DROP PUBLICATION IF EXISTS " + PgQuoteIdentifier(publication)));
  return Ok();
}

Result<Lsn> CurrentWalLsn(PgConnection& conn) {
  FRZ_ASSIGN_OR_RETURN(auto r, conn.Exec("SELECT pg_current_wal_lsn()"));
  return ParseLsn(r.Get(0, 0));
}

}  // namespace frazil::cdc
