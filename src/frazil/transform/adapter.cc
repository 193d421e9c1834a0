#include "frazil/transform/adapter.h"

#include "frazil/engine/duckdb.h"

namespace frazil::transform {

std::string SeedSelectSql(const std::string& csv_path, const std::map<std::string, std::string>& column_types) {
  std::string types;
  for (const auto& [c, t] : column_types) {
    types += (types.empty() ? "" : ", ") + engine::QuoteLiteral(c) + ": " + engine::QuoteLiteral(t);
  }
  return "SELECT * FROM read_csv(" + engine::QuoteLiteral(csv_path) + ", header = true, auto_detect = true" +
         (types.empty() ? "" : ", types = {" + types + "}") + ")";
}

}  // namespace frazil::transform
