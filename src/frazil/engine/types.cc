#include "frazil/engine/types.h"

#include <cctype>
#include <charconv>

namespace frazil::engine {

using iceberg::TypeId;
using iceberg::TypePtr;

std::string IcebergTypeToDuckDb(const iceberg::Type& type) {
  switch (type.id) {
    case TypeId::kBoolean: return "BOOLEAN";
    case TypeId::kInt: return "INTEGER";
    case TypeId::kLong: return "BIGINT";
    case TypeId::kFloat: return "FLOAT";
    case TypeId::kDouble: return "DOUBLE";
    case TypeId::kDecimal:
      return "DECIMAL(" + std::to_string(type.precision) + "," + std::to_string(type.scale) + ")";
    case TypeId::kDate: return "DATE";
    case TypeId::kTime: return "TIME";
    case TypeId::kTimestamp: return "TIMESTAMP";
    case TypeId::kTimestampTz: return "TIMESTAMPTZ";
    case TypeId::kString: return "VARCHAR";
    case TypeId::kUuid: return "UUID";
    case TypeId::kFixed:
    case TypeId::kBinary: return "BLOB";
    case TypeId::kStruct: {
      std::string out = "STRUCT(";
      for (size_t i = 0; i < type.fields.size(); ++i) {
        if (i > 0) out += ", ";
        out += QuoteIdentifier(type.fields[i].name) + " " + IcebergTypeToDuckDb(*type.fields[i].type);
      }
      return out + ")";
    }
    case TypeId::kList: return IcebergTypeToDuckDb(*type.element().type) + "[]";
    case TypeId::kMap:
      return "MAP(" + IcebergTypeToDuckDb(*type.key().type) + ", " + IcebergTypeToDuckDb(*type.value().type) +
             ")";
  }
  return "VARCHAR";
}

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits "a INTEGER, b STRUCT(x INT, y INT)" at top-level commas (outside () and quotes).
std::vector<std::string_view> SplitTopLevel(std::string_view s) {
  std::vector<std::string_view> parts;
  int depth = 0;
  char quote = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '(' || c == '[') {
      ++depth;
    } else if (c == ')' || c == ']') {
      --depth;
    } else if (c == ',' && depth == 0) {
      parts.push_back(Trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  parts.push_back(Trim(s.substr(start)));
  return parts;
}

// "name TYPE" or "\"quoted name\" TYPE" -> (name, TYPE).
std::pair<std::string, std::string_view> SplitNameType(std::string_view s) {
  std::string name;
  size_t i = 0;
  if (!s.empty() && s[0] == '"') {
    for (i = 1; i < s.size(); ++i) {
      if (s[i] == '"') {
        if (i + 1 < s.size() && s[i + 1] == '"') {
          name += '"';
          ++i;
        } else {
          ++i;
          break;
        }
      } else {
        name += s[i];
      }
    }
  } else {
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) name += s[i++];
  }
  return {name, Trim(s.substr(i))};
}

bool ParseInt(std::string_view s, int* out) {
  s = Trim(s);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Result<TypePtr> DuckDbTypeToIceberg(std::string_view duckdb_type, std::string_view column,
                                    TypeInference* inference) {
  std::string_view t = Trim(duckdb_type);
  auto unsupported = [&]() {
    return MakeError(ErrorKind::kUnsupported,
                     "column " + std::string(column) + ": DuckDB type " + std::string(t) + " has no Iceberg type");
  };
  auto as_string = [&](std::string_view what) -> Result<TypePtr> {
    inference->notes.push_back(std::string(column) + ": " + std::string(what) + " stored as string");
    return iceberg::Primitive(TypeId::kString);
  };
  // LIST "T[]" and ARRAY "T[n]" become Iceberg lists.
  if (!t.empty() && t.back() == ']') {
    size_t open = t.rfind('[');
    if (open == std::string_view::npos) return unsupported();
    int element_id = inference->next_id++;
    FRZ_ASSIGN_OR_RETURN(TypePtr element, DuckDbTypeToIceberg(t.substr(0, open), column, inference));
    return iceberg::List(element_id, element, false);
  }
  size_t paren = t.find('(');
  std::string head = Upper(Trim(t.substr(0, paren)));
  std::string_view args;
  if (paren != std::string_view::npos) {
    if (t.back() != ')') return unsupported();
    args = t.substr(paren + 1, t.size() - paren - 2);
  }
  if (head == "STRUCT") {
    std::vector<std::pair<std::string, std::string_view>> members;
    for (std::string_view part : SplitTopLevel(args)) members.push_back(SplitNameType(part));
    std::vector<iceberg::NestedField> fields;
    // Ids are assigned to all siblings first, then to their children (Iceberg's convention).
    int first = inference->next_id;
    inference->next_id += static_cast<int>(members.size());
    for (size_t i = 0; i < members.size(); ++i) {
      iceberg::NestedField f;
      f.id = first + static_cast<int>(i);
      f.name = members[i].first;
      FRZ_ASSIGN_OR_RETURN(f.type, DuckDbTypeToIceberg(members[i].second,
                                                       std::string(column) + "." + f.name, inference));
      fields.push_back(std::move(f));
    }
    return iceberg::Struct(std::move(fields));
  }
  if (head == "MAP") {
    auto parts = SplitTopLevel(args);
    if (parts.size() != 2) return unsupported();
    int key_id = inference->next_id++;
    int value_id = inference->next_id++;
    FRZ_ASSIGN_OR_RETURN(TypePtr key, DuckDbTypeToIceberg(parts[0], column, inference));
    FRZ_ASSIGN_OR_RETURN(TypePtr value, DuckDbTypeToIceberg(parts[1], column, inference));
    return iceberg::Map(key_id, key, value_id, value, false);
  }
  if (head == "DECIMAL" || head == "NUMERIC") {
    int p = 18, s = 3;  // DuckDB's default for a bare DECIMAL
    if (!args.empty()) {
      auto parts = SplitTopLevel(args);
      if (parts.empty() || !ParseInt(parts[0], &p)) return unsupported();
      s = 0;
      if (parts.size() > 1 && !ParseInt(parts[1], &s)) return unsupported();
    }
    return iceberg::Decimal(p, s);
  }
  if (head == "ENUM") return as_string("ENUM");
  if (head == "UNION") return as_string("UNION");
  if (!args.empty()) return unsupported();

  if (head == "BOOLEAN" || head == "BOOL") return iceberg::Primitive(TypeId::kBoolean);
  if (head == "TINYINT" || head == "SMALLINT" || head == "INTEGER" || head == "INT" || head == "UTINYINT" ||
      head == "USMALLINT")
    return iceberg::Primitive(TypeId::kInt);
  if (head == "BIGINT" || head == "UINTEGER") return iceberg::Primitive(TypeId::kLong);
  if (head == "HUGEINT" || head == "UHUGEINT") return iceberg::Decimal(38, 0);
  if (head == "UBIGINT") return iceberg::Decimal(20, 0);
  if (head == "FLOAT" || head == "REAL") return iceberg::Primitive(TypeId::kFloat);
  if (head == "DOUBLE") return iceberg::Primitive(TypeId::kDouble);
  if (head == "VARCHAR") return iceberg::Primitive(TypeId::kString);
  if (head == "BLOB") return iceberg::Primitive(TypeId::kBinary);
  if (head == "DATE") return iceberg::Primitive(TypeId::kDate);
  if (head == "TIME") return iceberg::Primitive(TypeId::kTime);
  if (head == "TIMESTAMP" || head == "TIMESTAMP_S" || head == "TIMESTAMP_MS" || head == "TIMESTAMP_NS" ||
      head == "DATETIME")
    return iceberg::Primitive(TypeId::kTimestamp);
  if (head == "TIMESTAMP WITH TIME ZONE" || head == "TIMESTAMPTZ") return iceberg::Primitive(TypeId::kTimestampTz);
  if (head == "UUID") return iceberg::Primitive(TypeId::kUuid);
  if (head == "INTERVAL" || head == "TIME WITH TIME ZONE" || head == "TIMETZ" || head == "BIT" ||
      head == "JSON" || head == "VARINT" || head == "BIGNUM")
    return as_string(head);
  return unsupported();
}

Result<iceberg::Schema> InferSchema(Connection& con, std::string_view select_sql, std::vector<std::string>* notes) {
  FRZ_ASSIGN_OR_RETURN(QueryResult described, con.Query("DESCRIBE " + std::string(select_sql)));
  size_t n = described.row_count();
  std::vector<std::pair<std::string, std::string>> columns;
  for (size_t r = 0; r < n; ++r) {
    columns.emplace_back(described.GetString(0, r).value_or(""), described.GetString(1, r).value_or(""));
  }
  TypeInference inference;
  inference.next_id = static_cast<int>(columns.size()) + 1;
  std::vector<iceberg::NestedField> fields;
  for (size_t i = 0; i < columns.size(); ++i) {
    iceberg::NestedField f;
    f.id = static_cast<int>(i) + 1;
    f.name = columns[i].first;
    FRZ_ASSIGN_OR_RETURN(f.type, DuckDbTypeToIceberg(columns[i].second, f.name, &inference));
    fields.push_back(std::move(f));
  }
  if (notes) *notes = std::move(inference.notes);
  return iceberg::Schema(0, std::move(fields));
}

}  // namespace frazil::engine
