#include "frazil/transform/duckdb_adapter.h"

namespace frazil::transform {
namespace {
constexpr const char* kSnapColumn = "__fake_snapshot";
}

Result<std::unique_ptr<DuckDbAdapter>> DuckDbAdapter::Make() {
  FRZ_ASSIGN_OR_RETURN(auto db, engine::Database::Open());
  FRZ_ASSIGN_OR_RETURN(auto con, engine::Connection::Open(db));
  return std::unique_ptr<DuckDbAdapter>(new DuckDbAdapter(std::move(db), std::move(con)));
}

std::string DuckDbAdapter::Name(const catalog::TableIdentifier& id) const {
  return engine::QuoteIdentifier(catalog::NamespaceToString(id.ns)) + "." + engine::QuoteIdentifier(id.name);
}

std::string DuckDbAdapter::QualifiedName(const catalog::TableIdentifier& id) { return Name(id); }

Result<RelationState> DuckDbAdapter::Describe(const catalog::TableIdentifier& id) {
  RelationState s;
  auto it = tables_.find(id);
  if (it == tables_.end()) return s;
  s.exists = true;
  s.is_view = it->second.view;
  if (it->second.snapshot) s.snapshot_id = it->second.snapshot;
  s.summary = it->second.summary;
  return s;
}

Result<std::string> DuckDbAdapter::Read(const ReadSpec& spec) {
  auto it = tables_.find(spec.id);
  if (it == tables_.end()) return MakeError(ErrorKind::kNotFound, spec.id.ToString() + " does not exist");
  if (it->second.view) return Name(spec.id);
  std::string where = std::string(kSnapColumn) + " <= " + std::to_string(spec.snapshot_id.value_or(0));
  if (spec.after_snapshot_id) {
    if (*spec.after_snapshot_id < it->second.last_rewrite) {
      return MakeError(ErrorKind::kInvalidArgument, spec.id.ToString() + " was rewritten after snapshot " +
                                                        std::to_string(*spec.after_snapshot_id));
    }
    where += " AND " + std::string(kSnapColumn) + " > " + std::to_string(*spec.after_snapshot_id);
  }
  return "(SELECT * EXCLUDE (" + std::string(kSnapColumn) + ") FROM " + Name(spec.id) + " WHERE " + where + ")";
}

Result<Rows> DuckDbAdapter::Query(const std::string& sql, std::vector<std::string>* column_names) {
  FRZ_ASSIGN_OR_RETURN(auto r, con_.Query(sql));
  if (column_names) {
    column_names->clear();
    for (size_t i = 0; i < r.column_count(); ++i) column_names->push_back(r.column_name(i));
  }
  return r.FetchAll();
}

Status DuckDbAdapter::CreateView(const catalog::TableIdentifier& id, const std::string& sql) {
  FRZ_RETURN_IF_ERROR(con_.Execute("CREATE SCHEMA IF NOT EXISTS " + engine::QuoteIdentifier(catalog::NamespaceToString(id.ns))));
  if (tables_.count(id) && !tables_[id].view) FRZ_RETURN_IF_ERROR(con_.Execute("DROP TABLE " + Name(id)));
  FRZ_RETURN_IF_ERROR(con_.Execute("CREATE OR REPLACE VIEW " + Name(id) + " AS " + sql));
  tables_[id] = TableState{};
  tables_[id].view = true;
  return Ok();
}

Result<MaterializeResult> DuckDbAdapter::Append(const catalog::TableIdentifier& id, const std::string& sql) {
  MaterializeRequest r;
  r.target = id;
  r.select_sql = sql;
  r.mode = tables_.count(id) ? WriteMode::kAppend : WriteMode::kReplace;
  auto it = tables_.find(id);
  if (it != tables_.end() && it->second.snapshot) r.expected_snapshot_id = it->second.snapshot;
  return Materialize(r);
}

Result<MaterializeResult> DuckDbAdapter::Materialize(const MaterializeRequest& req) {
  if (fail_next_materialize > 0) {
    --fail_next_materialize;
    return MakeError(ErrorKind::kIOError, "injected write failure for " + req.target.ToString());
  }
  auto found = tables_.find(req.target);
  std::optional<int64_t> current;
  if (found != tables_.end() && found->second.snapshot) current = found->second.snapshot;
  if (current != req.expected_snapshot_id) {
    return MakeError(ErrorKind::kCommitFailed, req.target.ToString() + " moved since it was read");
  }
  const bool existed = found != tables_.end();
  auto& st = tables_[req.target];
  const std::string name = Name(req.target);
  const int64_t snap = next_snapshot_++;
  MaterializeResult out;
  out.snapshot_id = snap;
  FRZ_RETURN_IF_ERROR(con_.Execute("BEGIN"));
  auto body = [&]() -> Status {
    FRZ_RETURN_IF_ERROR(con_.Execute("CREATE OR REPLACE TEMP TABLE __fake_rows AS " + req.select_sql));
    FRZ_ASSIGN_OR_RETURN(auto n, con_.Query("SELECT count(*) FROM __fake_rows"));
    out.rows_inserted = n.GetInt64(0, 0);
    std::string on;
    for (const auto& k : req.unique_key) {
      on += (on.empty() ? "" : " AND ") + ("t." + engine::QuoteIdentifier(k) + " = n." + engine::QuoteIdentifier(k));
    }
    FRZ_RETURN_IF_ERROR(con_.Execute("CREATE SCHEMA IF NOT EXISTS " + engine::QuoteIdentifier(catalog::NamespaceToString(req.target.ns))));
    if (req.mode == WriteMode::kReplace || st.view) {
      if (st.view) FRZ_RETURN_IF_ERROR(con_.Execute("DROP VIEW " + name));
      st.view = false;
      FRZ_RETURN_IF_ERROR(con_.Execute("CREATE OR REPLACE TABLE " + name + " AS SELECT *, " + std::to_string(snap) +
                                       "::BIGINT AS " + kSnapColumn + " FROM __fake_rows"));
      st.last_rewrite = snap;
      return Ok();
    }
    if (req.mode == WriteMode::kMerge || req.mode == WriteMode::kDeleteInsert) {
      FRZ_ASSIGN_OR_RETURN(auto d, con_.Query("SELECT count(*) FROM " + name + " t WHERE EXISTS (SELECT 1 FROM __fake_rows n WHERE " + on + ")"));
      out.rows_deleted = d.GetInt64(0, 0);
      if (req.mode == WriteMode::kMerge && req.merge_update_columns) {
        // Matched rows keep the columns not listed.
        FRZ_ASSIGN_OR_RETURN(auto cols, con_.Query("SELECT column_name FROM (DESCRIBE __fake_rows)"));
        std::string set;
        for (size_t i = 0; i < cols.row_count(); ++i) {
          std::string c = *cols.GetString(0, i);
          bool listed = false;
          for (const auto& u : *req.merge_update_columns) listed = listed || u == c;
          if (!listed) set += (set.empty() ? "" : ", ") + engine::QuoteIdentifier(c) + " = t." + engine::QuoteIdentifier(c);
        }
        if (!set.empty()) {
          FRZ_RETURN_IF_ERROR(con_.Execute("UPDATE __fake_rows AS n SET " + set + " FROM " + name + " AS t WHERE " + on));
        }
      }
      FRZ_RETURN_IF_ERROR(con_.Execute("DELETE FROM " + name + " AS t WHERE EXISTS (SELECT 1 FROM __fake_rows n WHERE " + on + ")"));
      st.last_rewrite = snap;
    }
    return con_.Execute("INSERT INTO " + name + " BY NAME SELECT *, " + std::to_string(snap) + "::BIGINT AS " + kSnapColumn +
                        " FROM __fake_rows");
  };
  Status s = body();
  if (!s) {
    (void)con_.Execute("ROLLBACK");
    if (!existed) tables_.erase(req.target);
    return std::unexpected(s.error());
  }
  FRZ_RETURN_IF_ERROR(con_.Execute("COMMIT"));
  st.snapshot = snap;
  st.summary = req.summary;
  return out;
}

Result<MaterializeResult> DuckDbAdapter::LoadSeed(const catalog::TableIdentifier& id, const std::string& csv_path,
                                                  const std::map<std::string, std::string>& column_types) {
  MaterializeRequest r;
  r.target = id;
  r.select_sql = SeedSelectSql(csv_path, column_types);
  auto it = tables_.find(id);
  if (it != tables_.end() && it->second.snapshot) r.expected_snapshot_id = it->second.snapshot;
  return Materialize(r);
}

}  // namespace frazil::transform
