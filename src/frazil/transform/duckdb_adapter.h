// A fake Adapter for unit tests: models are plain tables of an in-memory DuckDB database
// (schema = namespace). Each table carries a hidden column with the "snapshot" that added
// the row, so pinned and incremental reads behave like the warehouse's for appends.
// `fail_next_materialize` injects a write failure (as a crash before the commit would).
#pragma once

#include <map>
#include <memory>

#include "frazil/engine/duckdb.h"
#include "frazil/transform/adapter.h"

namespace frazil::transform {

class DuckDbAdapter : public Adapter {
 public:
  static Result<std::unique_ptr<DuckDbAdapter>> Make();

  Result<RelationState> Describe(const catalog::TableIdentifier& id) override;
  Result<std::string> Read(const ReadSpec& spec) override;
  std::string QualifiedName(const catalog::TableIdentifier& id) override;
  Result<Rows> Query(const std::string& sql, std::vector<std::string>* column_names) override;
  Result<MaterializeResult> Materialize(const MaterializeRequest& request) override;
  Status CreateView(const catalog::TableIdentifier& id, const std::string& sql) override;
  Result<MaterializeResult> LoadSeed(const catalog::TableIdentifier& id, const std::string& csv_path,
                                     const std::map<std::string, std::string>& column_types) override;

  // Test helpers: run SQL directly; create a source table from a query (as one append).
  Status Execute(const std::string& sql) { return con_.Execute(sql); }
  Result<MaterializeResult> Append(const catalog::TableIdentifier& id, const std::string& sql);
  int fail_next_materialize = 0;  // > 0: the next N writes fail before changing anything
  const std::map<std::string, std::string>& summary_of(const catalog::TableIdentifier& id) { return tables_[id].summary; }

 private:
  struct TableState {
    int64_t snapshot = 0;          // 0: none yet
    int64_t last_rewrite = 0;      // the last snapshot that was not an append
    std::map<std::string, std::string> summary;
    bool view = false;
  };
  DuckDbAdapter(engine::Database db, engine::Connection con) : db_(std::move(db)), con_(std::move(con)) {}
  std::string Name(const catalog::TableIdentifier& id) const;

  engine::Database db_;
  engine::Connection con_;
  std::map<catalog::TableIdentifier, TableState> tables_;
  int64_t next_snapshot_ = 1;
};

}  // namespace frazil::transform
