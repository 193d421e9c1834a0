// The model runner's adapter for a warehouse: models read Iceberg tables at pinned
// snapshots (incrementally with new_rows()), and each model's result is one Iceberg commit
// through WriteRows (schema changes, key deletes and new rows together). Views are stored
// in the ModelStore and expanded by frazil's SQL (sql_session.h).
#pragma once

#include <memory>

#include "frazil/app/model_store.h"
#include "frazil/app/warehouse.h"
#include "frazil/engine/duckdb.h"
#include "frazil/transform/adapter.h"

namespace frazil::app {

class WarehouseAdapter : public transform::Adapter {
 public:
  // Errors: IOError opening the store or a DuckDB connection.
  static Result<std::unique_ptr<WarehouseAdapter>> Make(Warehouse& w);

  Result<transform::RelationState> Describe(const catalog::TableIdentifier& id) override;
  Result<std::string> Read(const transform::ReadSpec& spec) override;
  std::string QualifiedName(const catalog::TableIdentifier& id) override;
  Result<transform::Rows> Query(const std::string& sql, std::vector<std::string>* column_names) override;
  Result<transform::MaterializeResult> Materialize(const transform::MaterializeRequest& request) override;
  Status CreateView(const catalog::TableIdentifier& id, const std::string& sql) override;
  Result<transform::MaterializeResult> LoadSeed(const catalog::TableIdentifier& id, const std::string& csv_path,
                                                const std::map<std::string, std::string>& column_types) override;

  ModelStore& store() { return *store_; }
  engine::Connection& connection() { return con_; }

 private:
  WarehouseAdapter(Warehouse& w, std::unique_ptr<ModelStore> store, engine::Connection con)
      : w_(w), store_(std::move(store)), con_(std::move(con)) {}
  Result<bool> IsView(const catalog::TableIdentifier& id);

  Warehouse& w_;
  std::unique_ptr<ModelStore> store_;
  engine::Connection con_;
  int reads_ = 0;
};

}  // namespace frazil::app
