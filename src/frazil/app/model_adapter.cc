#include "frazil/app/model_adapter.h"

#include <set>

#include "frazil/app/sql_session.h"
#include "frazil/app/table_ops.h"
#include "frazil/base/random.h"
#include "frazil/base/strings.h"
#include "frazil/engine/types.h"
#include "frazil/transform/compiler.h"

namespace frazil::app {
namespace {

std::string QuoteId(const catalog::TableIdentifier& id) {
  std::string out;
  for (const auto& n : id.ns) out += engine::QuoteIdentifier(n) + ".";
  return out + engine::QuoteIdentifier(id.name);
}

struct Column {
  std::string name;
  std::string type;  // DuckDB type text
};

Result<std::vector<Column>> Describe(engine::Connection& con, const std::string& relation) {
  FRZ_ASSIGN_OR_RETURN(auto r, con.Query("DESCRIBE SELECT * FROM " + relation));
  std::vector<Column> out;
  for (size_t i = 0; i < r.row_count(); ++i) out.push_back({r.GetString(0, i).value_or(""), r.GetString(1, i).value_or("")});
  return out;
}

const iceberg::NestedField* FieldNamed(const iceberg::Schema& s, const std::string& name) {
  for (const auto& f : s.fields()) {
    if (AsciiLower(f.name) == AsciiLower(name)) return &f;
  }
  return nullptr;
}

// An Iceberg field for a query column: the existing field when the name and the type
// match, else a new field with fresh ids. Types are compared as Iceberg types rendered
// without ids (DESCRIBE says "TIMESTAMP WITH TIME ZONE" where the mapping says
// "TIMESTAMPTZ"; nested types carry field ids).
Result<iceberg::NestedField> FieldFor(const Column& c, const iceberg::Schema* current, engine::TypeInference& inf) {
  if (current != nullptr) {
    if (const auto* f = FieldNamed(*current, c.name)) {
      engine::TypeInference scratch;
      auto as_iceberg = engine::DuckDbTypeToIceberg(c.type, c.name, &scratch);
      if (as_iceberg && engine::IcebergTypeToDuckDb(**as_iceberg) == engine::IcebergTypeToDuckDb(*f->type)) return *f;
    }
  }
  iceberg::NestedField f;
  f.id = inf.next_id++;
  f.name = c.name;
  FRZ_ASSIGN_OR_RETURN(f.type, engine::DuckDbTypeToIceberg(c.type, c.name, &inf));
  return f;
}

}  // namespace

Result<std::unique_ptr<WarehouseAdapter>> WarehouseAdapter::Make(Warehouse& w) {
  FRZ_ASSIGN_OR_RETURN(auto store, ModelStore::Open(ModelStore::PathIn(w.local_root())));
  FRZ_ASSIGN_OR_RETURN(auto con, engine::Connection::Open(w.db()));
  FRZ_RETURN_IF_ERROR(con.Execute("SET TimeZone = 'UTC'"));
  return std::unique_ptr<WarehouseAdapter>(new WarehouseAdapter(w, std::move(store), std::move(con)));
}

Result<bool> WarehouseAdapter::IsView(const catalog::TableIdentifier& id) {
  FRZ_ASSIGN_OR_RETURN(auto views, store_->ListViews());
  for (const auto& v : views) {
    if (v.id == id) return true;
  }
  return false;
}

Result<transform::RelationState> WarehouseAdapter::Describe(const catalog::TableIdentifier& id) {
  transform::RelationState s;
  auto table = w_.catalog().LoadTable(id);
  if (!table) {
    if (table.error().kind != ErrorKind::kNoSuchTable && table.error().kind != ErrorKind::kNoSuchNamespace &&
        table.error().kind != ErrorKind::kNotFound) {
      return std::unexpected(table.error());
    }
    FRZ_ASSIGN_OR_RETURN(s.is_view, IsView(id));
    s.exists = s.is_view;
    return s;
  }
  s.exists = true;
  const auto& m = table->metadata;
  if (const auto* snap = m.current_snapshot()) {
    s.snapshot_id = snap->snapshot_id;
    // The latest commit of a model run in the current snapshot's history: a later commit by
    // another writer (a user's delete, maintenance) does not erase what the model has read.
    for (const auto* a = snap; a != nullptr; a = a->parent_snapshot_id ? m.snapshot_by_id(*a->parent_snapshot_id) : nullptr) {
      if (a->summary.count(transform::kSummaryModel)) {
        s.summary = a->summary;
        break;
      }
    }
  }
  return s;
}

std::string WarehouseAdapter::QualifiedName(const catalog::TableIdentifier& id) { return QuoteId(id); }

Result<std::string> WarehouseAdapter::Read(const transform::ReadSpec& spec) {
  FRZ_ASSIGN_OR_RETURN(auto table, w_.catalog().LoadTable(spec.id));
  iceberg::ScanOptions opts;
  opts.snapshot_id = spec.snapshot_id;
  opts.appended_after_snapshot_id = spec.after_snapshot_id;
  std::string scan;
  if (!spec.snapshot_id) {
    // No snapshot yet: an empty relation with the table's columns.
    const iceberg::Schema* schema = table.metadata.current_schema();
    if (schema == nullptr) return MakeError(ErrorKind::kCorrupt, spec.id.ToString() + ": metadata has no current schema");
    std::string cols;
    for (const auto& f : schema->fields()) {
      cols += (cols.empty() ? "" : ", ") + std::string("CAST(NULL AS ") + engine::IcebergTypeToDuckDb(*f.type) + ") AS " +
              engine::QuoteIdentifier(f.name);
    }
    scan = "SELECT " + cols + " WHERE false";
  } else {
    auto planned = TableScanSql(w_, table, opts);
    if (!planned) return MakeError(planned.error().kind, spec.id.ToString() + ": " + planned.error().message);
    scan = std::move(*planned);
  }
  std::string name = "__frazil_read_" + std::to_string(++reads_);
  FRZ_RETURN_IF_ERROR(con_.Execute("CREATE OR REPLACE TEMP VIEW " + name + " AS " + scan));
  return name;
}

Result<transform::Rows> WarehouseAdapter::Query(const std::string& sql, std::vector<std::string>* column_names) {
  FRZ_ASSIGN_OR_RETURN(auto r, RunSql(w_, con_, sql));
  if (column_names != nullptr) {
    column_names->clear();
    for (size_t i = 0; i < r.column_count(); ++i) column_names->push_back(r.column_name(i));
  }
  return r.FetchAll();
}

Status WarehouseAdapter::CreateView(const catalog::TableIdentifier& id, const std::string& sql) {
  // The definition must plan: run it with no rows through frazil's SQL (views expanded).
  auto probe = RunSql(w_, con_, "SELECT * FROM (\n" + sql + "\n) LIMIT 0");
  if (!probe) return MakeError(probe.error().kind, "view " + id.ToString() + ": " + probe.error().message);
  FRZ_ASSIGN_OR_RETURN(bool table_exists, w_.catalog().TableExists(id));
  if (table_exists) {
    // dbt replaces a table by a view of the same name; so does frazil (keeping the files).
    FRZ_RETURN_IF_ERROR(w_.catalog().DropTable(id, false));
  }
  FRZ_ASSIGN_OR_RETURN(bool ns_exists, w_.catalog().NamespaceExists(id.ns));
  if (!ns_exists) {
    auto s = w_.catalog().CreateNamespace(id.ns, {});
    if (!s && s.error().kind != ErrorKind::kAlreadyExists) return s;
  }
  return store_->PutView(id, sql, w_.clock().NowMillis());
}

Result<transform::MaterializeResult> WarehouseAdapter::Materialize(const transform::MaterializeRequest& req) {
  using transform::WriteMode;
  const auto& id = req.target;
  // The model's rows: computed once into a temp table when a write reads them twice (the
  // keys to delete, then the rows to insert); a replace or append streams them.
  const bool keyed = req.mode == WriteMode::kMerge || req.mode == WriteMode::kDeleteInsert;
  const std::string temp = "__frazil_model_rows";
  const std::string rows = keyed ? temp : "(\n" + req.select_sql + "\n)";
  if (keyed) FRZ_RETURN_IF_ERROR(con_.Execute("CREATE OR REPLACE TEMP TABLE " + temp + " AS " + req.select_sql));
  struct Drop {
    engine::Connection& con;
    std::string name;
    ~Drop() { (void)con.Execute("DROP TABLE IF EXISTS " + name); }
  } drop{con_, temp};
  FRZ_ASSIGN_OR_RETURN(auto columns, app::Describe(con_, rows));
  std::set<std::string> query_cols;
  for (const auto& c : columns) query_cols.insert(AsciiLower(c.name));
  for (const auto& k : req.unique_key) {
    if (!query_cols.count(AsciiLower(k))) {
      return MakeError(ErrorKind::kInvalidArgument, "unique_key column '" + k + "' is not a column of the model's query");
    }
  }

  auto loaded = w_.catalog().LoadTable(id);
  if (!loaded && loaded.error().kind != ErrorKind::kNoSuchTable && loaded.error().kind != ErrorKind::kNoSuchNamespace) {
    return std::unexpected(loaded.error());
  }
  if (!loaded) {
    if (req.expected_snapshot_id) {
      return MakeError(ErrorKind::kCommitFailed, id.ToString() + " was dropped while the model ran");
    }
    FRZ_ASSIGN_OR_RETURN(bool is_view, IsView(id));
    if (is_view) FRZ_RETURN_IF_ERROR(store_->DropView(id));  // a view becomes a table
    engine::TypeInference inf;
    std::vector<iceberg::NestedField> fields;
    inf.next_id = 1;
    for (const auto& c : columns) {
      FRZ_ASSIGN_OR_RETURN(auto f, FieldFor(c, nullptr, inf));
      fields.push_back(std::move(f));
    }
    iceberg::Schema schema(0, std::move(fields));
    iceberg::PartitionSpec spec;
    for (size_t i = 0; i < req.partition_by.size(); ++i) {
      FRZ_ASSIGN_OR_RETURN(auto pf, ParsePartitionField(schema, req.partition_by[i], 1000 + static_cast<int>(i)));
      spec.fields.push_back(pf);
    }
    auto created = CreateTable(w_, id, schema, spec, {{"frazil.model", req.summary.count("frazil.model") ? req.summary.at("frazil.model") : ""}});
    if (!created && created.error().kind != ErrorKind::kAlreadyExists) return std::unexpected(created.error());
    FRZ_ASSIGN_OR_RETURN(loaded, w_.catalog().LoadTable(id));
  }
  const iceberg::Schema* current = loaded->metadata.current_schema();
  if (current == nullptr) return MakeError(ErrorKind::kCorrupt, id.ToString() + ": metadata has no current schema");

  RowWrite write;
  write.id = id;
  write.expected_snapshot_id = req.expected_snapshot_id;
  write.summary = req.summary;
  engine::TypeInference inf;
  inf.next_id = std::max(loaded->metadata.last_column_id, current->HighestFieldId()) + 1;
  std::vector<iceberg::NestedField> fields;
  std::string insert_cols;  // the query columns written
  auto add_insert_col = [&](const std::string& name) {
    insert_cols += (insert_cols.empty() ? "" : ", ") + engine::QuoteIdentifier(name);
  };
  if (req.mode == WriteMode::kReplace) {
    // The table becomes exactly the query: its columns, in its order.
    for (const auto& c : columns) {
      FRZ_ASSIGN_OR_RETURN(auto f, FieldFor(c, current, inf));
      fields.push_back(std::move(f));
      add_insert_col(c.name);
    }
    write.overwrite = true;
  } else {
    // An incremental write keeps the table's columns; on_schema_change decides about the
    // query's other columns.
    std::vector<std::string> added, missing;
    for (const auto& c : columns) {
      if (!FieldNamed(*current, c.name)) added.push_back(c.name);
    }
    for (const auto& f : current->fields()) {
      if (!query_cols.count(AsciiLower(f.name))) missing.push_back(f.name);
    }
    const std::string& mode = req.on_schema_change;
    if (mode == "fail" && (!added.empty() || !missing.empty())) {
      std::string what;
      for (const auto& a : added) what += " +" + a;
      for (const auto& m : missing) what += " -" + m;
      return MakeError(ErrorKind::kInvalidArgument, "the columns of " + id.ToString() +
                                                        " differ from the model's query (on_schema_change: fail):" + what);
    }
    for (const auto& f : current->fields()) {
      bool in_query = query_cols.count(AsciiLower(f.name)) > 0;
      if (mode == "sync_all_columns" && !in_query) continue;
      fields.push_back(f);
      if (in_query) add_insert_col(f.name);
    }
    if (mode == "append_new_columns" || mode == "sync_all_columns") {
      for (const auto& c : columns) {
        if (FieldNamed(*current, c.name)) continue;
        FRZ_ASSIGN_OR_RETURN(auto f, FieldFor(c, nullptr, inf));
        fields.push_back(std::move(f));
        add_insert_col(c.name);
      }
    }
  }
  write.schema = iceberg::Schema(current->schema_id(), fields, current->identifier_field_ids());
  if (!write.schema->Validate()) write.schema = iceberg::Schema(current->schema_id(), fields);

  std::string key_list;
  for (const auto& k : req.unique_key) key_list += (key_list.empty() ? "" : ", ") + engine::QuoteIdentifier(k);
  write.insert_sql = "SELECT " + insert_cols + " FROM " + rows;
  if (req.mode == WriteMode::kMerge || req.mode == WriteMode::kDeleteInsert) {
    write.delete_keys = req.unique_key;
    write.delete_keys_sql = "SELECT DISTINCT " + key_list + " FROM " + rows;
  }
  if (req.mode == WriteMode::kMerge) {
    // A key may match one row of the model's query at most, as in SQL MERGE.
    FRZ_ASSIGN_OR_RETURN(auto dup, con_.Query("SELECT count(*) FROM (SELECT " + key_list + " FROM " + rows +
                                              " GROUP BY ALL HAVING count(*) > 1)"));
    if (dup.GetInt64(0, 0) > 0) {
      return MakeError(ErrorKind::kInvalidArgument, "merge into " + id.ToString() + ": " + std::to_string(dup.GetInt64(0, 0)) +
                                                        " unique_key value(s) appear in more than one row of the model's query");
    }
    if (req.merge_update_columns) {
      // Matched rows change only these columns; the others keep the table's values.
      std::set<std::string> update;
      for (const auto& c : *req.merge_update_columns) update.insert(AsciiLower(c));
      FRZ_ASSIGN_OR_RETURN(std::string target_sql, Read(transform::ReadSpec{id, req.expected_snapshot_id, std::nullopt}));
      std::string on, select;
      for (const auto& k : req.unique_key) {
        on += (on.empty() ? "" : " AND ") + ("n." + engine::QuoteIdentifier(k) + " = t." + engine::QuoteIdentifier(k));
      }
      for (const auto& f : fields) {
        if (!query_cols.count(AsciiLower(f.name))) continue;
        std::string q = engine::QuoteIdentifier(f.name);
        bool keep_old = !update.count(AsciiLower(f.name)) && FieldNamed(*current, f.name) != nullptr;
        select += (select.empty() ? "" : ", ") +
                  (keep_old ? "CASE WHEN t.__frazil_matched THEN t." + q + " ELSE n." + q + " END AS " + q : "n." + q);
      }
      write.insert_sql = "SELECT " + select + " FROM " + rows + " AS n LEFT JOIN (SELECT *, true AS __frazil_matched FROM " +
                         target_sql + ") AS t ON " + on;
    }
  }
  FRZ_ASSIGN_OR_RETURN(auto written, WriteRows(w_, con_, write));
  return transform::MaterializeResult{written.snapshot_id, written.rows_inserted, written.rows_deleted};
}

Result<transform::MaterializeResult> WarehouseAdapter::LoadSeed(const catalog::TableIdentifier& id, const std::string& csv_path,
                                                                const std::map<std::string, std::string>& column_types) {
  transform::MaterializeRequest req;
  req.target = id;
  req.select_sql = transform::SeedSelectSql(csv_path, column_types);
  req.mode = transform::WriteMode::kReplace;
  FRZ_ASSIGN_OR_RETURN(auto state, Describe(id));
  req.expected_snapshot_id = state.snapshot_id;
  req.summary["frazil.seed"] = csv_path;
  return Materialize(req);
}

}  // namespace frazil::app
