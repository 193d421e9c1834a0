#include "frazil/iceberg/type.h"

#include <array>
#include <cctype>
#include <charconv>
#include <string_view>

#include <nlohmann/json.hpp>

#include "frazil/base/strings.h"

namespace frazil::iceberg {
namespace {

constexpr int kTypeIdCount = static_cast<int>(TypeId::kMap) + 1;
constexpr int kMaxDecimalPrecision = 38;

struct PrimitiveName {
  std::string_view name;
  TypeId id;
};

// Names of the non-parameterized primitive types, as written in schema JSON.
constexpr std::array<PrimitiveName, 11> kPrimitiveNames = {{
    {"boolean", TypeId::kBoolean},
    {"int", TypeId::kInt},
    {"long", TypeId::kLong},
    {"float", TypeId::kFloat},
    {"double", TypeId::kDouble},
    {"date", TypeId::kDate},
    {"time", TypeId::kTime},
    {"timestamp", TypeId::kTimestamp},
    {"timestamptz", TypeId::kTimestampTz},
    {"string", TypeId::kString},
    {"uuid", TypeId::kUuid},
}};

std::string_view SimpleName(TypeId id) {
  if (id == TypeId::kBinary) return "binary";
  for (const auto& p : kPrimitiveNames) {
    if (p.id == id) return p.name;
  }
  return "";
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Parses a whole (trimmed) decimal integer; nullopt unless it is only digits.
std::optional<int> ParseInt(std::string_view s) {
  s = Trim(s);
  int value = 0;
  if (s.empty()) return std::nullopt;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

bool JsonPtrEquals(const std::shared_ptr<const nlohmann::json>& a,
                   const std::shared_ptr<const nlohmann::json>& b) {
  if (!a || !b) return !a && !b;
  return *a == *b;
}

bool FieldEquals(const NestedField& a, const NestedField& b) {
  if (a.id != b.id || a.name != b.name || a.required != b.required || a.doc != b.doc) return false;
  if (!JsonPtrEquals(a.initial_default, b.initial_default)) return false;
  if (!JsonPtrEquals(a.write_default, b.write_default)) return false;
  if (!a.type || !b.type) return !a.type && !b.type;
  return TypeEquals(*a.type, *b.type);
}

std::string TypeName(const TypePtr& type) { return type ? type->ToString() : "<null>"; }

}  // namespace

std::string Type::ToString() const {
  switch (id) {
    case TypeId::kDecimal:
      return "decimal(" + std::to_string(precision) + ", " + std::to_string(scale) + ")";
    case TypeId::kFixed:
      return "fixed[" + std::to_string(length) + "]";
    case TypeId::kStruct: {
      std::string out = "struct<";
      for (size_t i = 0; i < fields.size(); ++i) {
        const NestedField& f = fields[i];
        if (i > 0) out += ", ";
        out += std::to_string(f.id) + ": " + f.name + ": " + (f.required ? "required " : "optional ") +
               TypeName(f.type);
      }
      return out + ">";
    }
    case TypeId::kList:
      return "list<" + (fields.empty() ? std::string("?") : TypeName(fields[0].type)) + ">";
    case TypeId::kMap:
      if (fields.size() < 2) return "map<?>";
      return "map<" + TypeName(fields[0].type) + ", " + TypeName(fields[1].type) + ">";
    default:
      return std::string(SimpleName(id));
  }
}

TypePtr Primitive(TypeId id) {
  // One immutable instance per id; parameterized and nested ids get a degenerate instance
  // (use Decimal/Fixed/Struct/List/Map to build real ones).
  static const std::array<TypePtr, kTypeIdCount> kSingletons = [] {
    std::array<TypePtr, kTypeIdCount> out;
    for (int i = 0; i < kTypeIdCount; ++i) {
      auto t = std::make_shared<Type>();
      t->id = static_cast<TypeId>(i);
      out[i] = std::move(t);
    }
    return out;
  }();
  int index = static_cast<int>(id);
  if (index < 0 || index >= kTypeIdCount) return nullptr;
  return kSingletons[index];
}

TypePtr Decimal(int precision, int scale) {
  auto t = std::make_shared<Type>();
  t->id = TypeId::kDecimal;
  t->precision = precision;
  t->scale = scale;
  return t;
}

TypePtr Fixed(int length) {
  auto t = std::make_shared<Type>();
  t->id = TypeId::kFixed;
  t->length = length;
  return t;
}

TypePtr Struct(std::vector<NestedField> fields) {
  auto t = std::make_shared<Type>();
  t->id = TypeId::kStruct;
  t->fields = std::move(fields);
  return t;
}

TypePtr List(int element_id, TypePtr element, bool element_required) {
  auto t = std::make_shared<Type>();
  t->id = TypeId::kList;
  NestedField f;
  f.id = element_id;
  f.name = "element";
  f.required = element_required;
  f.type = std::move(element);
  t->fields.push_back(std::move(f));
  return t;
}

TypePtr Map(int key_id, TypePtr key, int value_id, TypePtr value, bool value_required) {
  auto t = std::make_shared<Type>();
  t->id = TypeId::kMap;
  NestedField k;
  k.id = key_id;
  k.name = "key";
  k.required = true;  // map keys are always required
  k.type = std::move(key);
  NestedField v;
  v.id = value_id;
  v.name = "value";
  v.required = value_required;
  v.type = std::move(value);
  t->fields.push_back(std::move(k));
  t->fields.push_back(std::move(v));
  return t;
}

Result<TypePtr> ParsePrimitiveType(std::string_view name) {
  const std::string lower = AsciiLower(Trim(name));
  std::string_view s = lower;
  for (const auto& p : kPrimitiveNames) {
    if (s == p.name) return Primitive(p.id);
  }
  if (s == "binary") return Primitive(TypeId::kBinary);

  if (s.starts_with("decimal")) {
    std::string_view rest = Trim(s.substr(7));
    size_t comma = rest.find(',');
    if (rest.size() >= 2 && rest.front() == '(' && rest.back() == ')' && comma != std::string_view::npos) {
      auto precision = ParseInt(rest.substr(1, comma - 1));
      auto scale = ParseInt(rest.substr(comma + 1, rest.size() - comma - 2));
      if (precision && scale) {
        if (*precision < 1 || *precision > kMaxDecimalPrecision || *scale < 0) {
          return MakeError(ErrorKind::kInvalidArgument,
                           "decimal precision must be 1..38 and scale >= 0: '" + std::string(name) + "'");
        }
        return Decimal(*precision, *scale);
      }
    }
    return MakeError(ErrorKind::kInvalidArgument, "malformed decimal type: '" + std::string(name) + "'");
  }
  if (s.starts_with("fixed")) {
    std::string_view rest = Trim(s.substr(5));
    if (rest.size() >= 2 && rest.front() == '[' && rest.back() == ']') {
      auto length = ParseInt(rest.substr(1, rest.size() - 2));
      if (length && *length > 0) return Fixed(*length);
    }
    return MakeError(ErrorKind::kInvalidArgument, "malformed fixed type: '" + std::string(name) + "'");
  }
  if (s == "timestamp_ns" || s == "timestamptz_ns" || s == "variant" || s == "unknown" ||
      s.starts_with("geometry") || s.starts_with("geography")) {
    return MakeError(ErrorKind::kUnsupported, "Iceberg v3 type not supported: '" + std::string(name) + "'");
  }
  return MakeError(ErrorKind::kInvalidArgument, "unknown primitive type: '" + std::string(name) + "'");
}

bool TypeEquals(const Type& a, const Type& b) {
  if (&a == &b) return true;
  if (a.id != b.id) return false;
  switch (a.id) {
    case TypeId::kDecimal:
      return a.precision == b.precision && a.scale == b.scale;
    case TypeId::kFixed:
      return a.length == b.length;
    case TypeId::kStruct:
    case TypeId::kList:
    case TypeId::kMap:
      if (a.fields.size() != b.fields.size()) return false;
      for (size_t i = 0; i < a.fields.size(); ++i) {
        if (!FieldEquals(a.fields[i], b.fields[i])) return false;
      }
      return true;
    default:
      return true;
  }
}

bool IsPromotionAllowed(const Type& from, const Type& to) {
  if (TypeEquals(from, to)) return true;
  if (from.id == TypeId::kInt && to.id == TypeId::kLong) return true;
  if (from.id == TypeId::kFloat && to.id == TypeId::kDouble) return true;
  if (from.id == TypeId::kDecimal && to.id == TypeId::kDecimal) {
    return from.scale == to.scale && to.precision >= from.precision;
  }
  return false;
}

}  // namespace frazil::iceberg
