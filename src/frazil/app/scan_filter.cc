#include "frazil/app/scan_filter.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <set>

#include "frazil/base/strings.h"
#include "frazil/engine/types.h"

namespace frazil::app {
namespace {

using nlohmann::json;

// j[key] if it is a string, else "" (the tree mixes strings and objects under "type").
std::string Str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool IsTableRef(const json& j, const catalog::TableIdentifier& id) {
  return j.is_object() && Str(j, "type") == "BASE_TABLE" &&
         AsciiLower(Str(j, "table_name")) == id.name &&
         AsciiLower(Str(j, "schema_name")) == catalog::NamespaceToString(id.ns);
}

// Counts references to the table anywhere in the tree, and remembers the SELECT node whose
// FROM is exactly that table.
void Walk(const json& j, const catalog::TableIdentifier& id, int* refs, const json** select) {
  if (j.is_object()) {
    if (IsTableRef(j, id)) ++*refs;
    if (Str(j, "type") == "SELECT_NODE" && j.contains("from_table") && IsTableRef(j["from_table"], id)) *select = &j;
    for (const auto& [k, v] : j.items()) Walk(v, id, refs, select);
  } else if (j.is_array()) {
    for (const auto& v : j) Walk(v, id, refs, select);
  }
}

void Conjuncts(const json& e, std::vector<const json*>* out) {
  if (e.is_object() && Str(e, "class") == "CONJUNCTION" && Str(e, "type") == "CONJUNCTION_AND") {
    for (const auto& c : e["children"]) Conjuncts(c, out);
  } else if (e.is_object()) {
    out->push_back(&e);
  }
}

// SQL text for a constant (possibly under a CAST); empty if the expression is not one.
std::string ConstantSql(const json& e) {
  std::string cls = Str(e, "class");
  if (cls == "CAST" && e.contains("child")) {
    std::string inner = ConstantSql(e["child"]);
    if (inner.empty() || !e.contains("cast_type")) return "";
    std::string type = Str(e["cast_type"], "id");
    if (type.empty() || !e["cast_type"]["type_info"].is_null()) return "";  // DECIMAL(p,s) etc.: skip
    return "CAST(" + inner + " AS " + type + ")";
  }
  if (cls != "CONSTANT" || !e.contains("value")) return "";
  const json& v = e["value"];
  if (v.value("is_null", true)) return "";
  const json& val = v["value"];
  std::string type = v.contains("type") ? Str(v["type"], "id") : "";
  if (type == "DECIMAL" && val.is_number_integer() && v["type"]["type_info"].is_object()) {
    // The value is unscaled: 1.5 arrives as 15 with scale 1.
    int scale = v["type"]["type_info"].value("scale", 0);
    std::string digits = std::to_string(val.get<int64_t>());
    bool negative = digits[0] == '-';
    if (negative) digits.erase(0, 1);
    if (static_cast<int>(digits.size()) <= scale) digits.insert(0, scale - digits.size() + 1, '0');
    if (scale > 0) digits.insert(digits.size() - scale, ".");
    return "CAST('" + std::string(negative ? "-" : "") + digits + "' AS DECIMAL(38, " + std::to_string(scale) + "))";
  }
  static const std::set<std::string> kPlain = {"VARCHAR", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "DOUBLE", "FLOAT", "BOOLEAN"};
  if (!kPlain.count(type)) return "";
  if (val.is_string()) return engine::QuoteLiteral(val.get<std::string>());
  if (val.is_number_integer() || val.is_number_float() || val.is_boolean()) return val.dump();
  return "";
}

// The column of a COLUMN_REF that names this table's column (unqualified, or qualified by
// the table name or its alias).
const iceberg::NestedField* ColumnOf(const json& e, const iceberg::Schema& schema, const std::string& table_name,
                                     const std::string& alias) {
  if (Str(e, "class") != "COLUMN_REF") return nullptr;
  const auto& names = e["column_names"];
  std::string col;
  if (names.size() == 1) {
    col = names[0];
  } else if (names.size() == 2) {
    std::string q = AsciiLower(names[0].get<std::string>());
    if (q != table_name && q != alias) return nullptr;
    col = names[1];
  } else {
    return nullptr;
  }
  for (const auto& f : schema.fields()) {
    if (AsciiLower(f.name) == AsciiLower(col) && f.type->is_primitive()) return &f;
  }
  return nullptr;
}

// Evaluates a constant to the Datum of the column's Iceberg type, through DuckDB casts.
std::optional<iceberg::Datum> Evaluate(engine::Connection& con, const std::string& constant, const iceberg::Type& t) {
  using iceberg::TypeId;
  std::string c = "CAST(" + constant + " AS " + engine::IcebergTypeToDuckDb(t) + ")";
  std::string expr;
  switch (t.id) {
    case TypeId::kBoolean: expr = "CAST(" + c + " AS INTEGER)"; break;
    case TypeId::kInt:
    case TypeId::kLong: expr = "CAST(" + c + " AS BIGINT)"; break;
    case TypeId::kDate: expr = "CAST(" + c + " - DATE '1970-01-01' AS BIGINT)"; break;
    case TypeId::kTimestamp: expr = "epoch_us(" + c + ")"; break;
    case TypeId::kTimestampTz: expr = "epoch_us(" + c + ")"; break;
    case TypeId::kString: expr = c; break;
    case TypeId::kDecimal:
      if (t.precision > 18) return std::nullopt;
      expr = "CAST(" + c + " * POWER(10, " + std::to_string(t.scale) + ")::DECIMAL(38,0) AS BIGINT)";
      break;
    default: return std::nullopt;  // float/double (NaN ordering), time, uuid, binary: no pruning
  }
  // The second column says whether the cast kept the value: `id > 2.5` on an integer
  // column must not become `id > 3` (it would prune files holding 3).
  auto r = con.Query("SELECT " + expr + ", ((" + constant + ") = " + c + ")");
  if (!r) return std::nullopt;
  auto v = r->GetString(0, 0);
  auto exact = r->GetString(1, 0);
  if (!v || !exact || *exact != "true") return std::nullopt;
  try {
    switch (t.id) {
      case TypeId::kBoolean: return iceberg::Datum(*v != "0");
      case TypeId::kInt:
      case TypeId::kDate: return iceberg::Datum(static_cast<int32_t>(std::stoll(*v)));
      case TypeId::kLong:
      case TypeId::kTimestamp:
      case TypeId::kTimestampTz: return iceberg::Datum(static_cast<int64_t>(std::stoll(*v)));
      case TypeId::kString: return iceberg::Datum(*v);
      case TypeId::kDecimal: return iceberg::Datum(iceberg::Decimal128{std::stoll(*v)});
      default: return std::nullopt;
    }
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<iceberg::FilterOp> OpOf(const std::string& type, bool flipped) {
  using iceberg::FilterOp;
  if (type == "COMPARE_EQUAL") return FilterOp::kEq;
  if (type == "COMPARE_LESSTHAN") return flipped ? FilterOp::kGt : FilterOp::kLt;
  if (type == "COMPARE_LESSTHANOREQUALTO") return flipped ? FilterOp::kGtEq : FilterOp::kLtEq;
  if (type == "COMPARE_GREATERTHAN") return flipped ? FilterOp::kLt : FilterOp::kGt;
  if (type == "COMPARE_GREATERTHANOREQUALTO") return flipped ? FilterOp::kLtEq : FilterOp::kGtEq;
  return std::nullopt;
}

std::vector<iceberg::FilterTerm> ExtractFilterUnchecked(engine::Connection& con, const std::string& sql,
                                                        const catalog::TableIdentifier& id,
                                                        const iceberg::Schema& schema);

}  // namespace

std::vector<iceberg::FilterTerm> ExtractFilter(engine::Connection& con, const std::string& sql,
                                               const catalog::TableIdentifier& id, const iceberg::Schema& schema) {
  try {
    return ExtractFilterUnchecked(con, sql, id, schema);
  } catch (const json::exception&) {
    return {};  // a parse tree shape we did not expect: no pruning, never a wrong result
  }
}

namespace {
std::vector<iceberg::FilterTerm> ExtractFilterUnchecked(engine::Connection& con, const std::string& sql,
                                                        const catalog::TableIdentifier& id,
                                                        const iceberg::Schema& schema) {
  std::vector<iceberg::FilterTerm> terms;
  auto r = con.Query("SELECT json_serialize_sql(" + engine::QuoteLiteral(sql) + ")");
  if (!r) return terms;
  auto text = r->GetString(0, 0);
  if (!text) return terms;
  json tree = json::parse(*text, nullptr, false);
  if (tree.is_discarded() || tree.value("error", false)) return terms;
  int refs = 0;
  const json* select = nullptr;
  Walk(tree, id, &refs, &select);
  if (refs != 1 || select == nullptr || !select->contains("where_clause") || (*select)["where_clause"].is_null()) {
    return terms;
  }
  std::string alias = AsciiLower(Str((*select)["from_table"], "alias"));
  std::vector<const json*> conj;
  Conjuncts((*select)["where_clause"], &conj);
  for (const json* c : conj) {
    if (Str(*c, "class") != "COMPARISON") continue;
    const json& left = (*c)["left"];
    const json& right = (*c)["right"];
    bool flipped = false;
    const iceberg::NestedField* col = ColumnOf(left, schema, id.name, alias);
    std::string constant;
    if (col) {
      constant = ConstantSql(right);
    } else if ((col = ColumnOf(right, schema, id.name, alias))) {
      constant = ConstantSql(left);
      flipped = true;
    }
    if (!col || constant.empty()) continue;
    auto op = OpOf(Str(*c, "type"), flipped);
    if (!op) continue;
    auto value = Evaluate(con, constant, *col->type);
    if (!value) continue;
    terms.push_back(iceberg::FilterTerm{col->id, *op, *value});
  }
  return terms;
}

}  // namespace

}  // namespace frazil::app
