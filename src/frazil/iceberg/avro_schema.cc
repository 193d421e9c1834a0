// Avro schema JSON parsing and the AvroValue helpers.
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "frazil/iceberg/avro.h"

namespace frazil::iceberg::avro {
namespace {

using Json = nlohmann::json;

std::optional<AvroType> PrimitiveFromName(std::string_view name) {
  if (name == "null") return AvroType::kNull;
  if (name == "boolean") return AvroType::kBoolean;
  if (name == "int") return AvroType::kInt;
  if (name == "long") return AvroType::kLong;
  if (name == "float") return AvroType::kFloat;
  if (name == "double") return AvroType::kDouble;
  if (name == "bytes") return AvroType::kBytes;
  if (name == "string") return AvroType::kString;
  return std::nullopt;
}

// Accepts an integer or a string of digits (some writers quote ids).
Result<std::optional<int>> OptionalId(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<int>();
  if (it->is_number_integer()) {
    int64_t v = it->get<int64_t>();
    if (v < INT32_MIN || v > INT32_MAX) {
      return MakeError(ErrorKind::kInvalidArgument,
                       std::string("avro schema: ") + key + " out of range");
    }
    return std::optional<int>(static_cast<int>(v));
  }
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    try {
      size_t used = 0;
      int v = std::stoi(s, &used);
      if (used == s.size()) return std::optional<int>(v);
    } catch (const std::exception&) {
    }
  }
  return MakeError(ErrorKind::kInvalidArgument,
                   std::string("avro schema: bad ") + key + ": " + it->dump());
}

class SchemaParser {
 public:
  Result<AvroSchemaPtr> Parse(const Json& j, const std::string& enclosing_ns, int depth) {
    if (depth > 64) return MakeError(ErrorKind::kInvalidArgument, "avro schema: nested too deeply");
    if (j.is_string()) return ParseName(j.get<std::string>(), enclosing_ns);
    if (j.is_array()) {
      auto s = std::make_shared<AvroSchema>();
      s->type = AvroType::kUnion;
      for (const Json& b : j) {
        FRZ_ASSIGN_OR_RETURN(AvroSchemaPtr branch, Parse(b, enclosing_ns, depth + 1));
        if (branch->type == AvroType::kUnion) {
          return MakeError(ErrorKind::kInvalidArgument, "avro schema: union directly inside union");
        }
        s->branches.push_back(std::move(branch));
      }
      if (s->branches.empty())
        return MakeError(ErrorKind::kInvalidArgument, "avro schema: empty union");
      return AvroSchemaPtr(s);
    }
    if (!j.is_object())
      return MakeError(ErrorKind::kInvalidArgument, "avro schema: unexpected " + j.dump());
    auto type_it = j.find("type");
    if (type_it == j.end())
      return MakeError(ErrorKind::kInvalidArgument, "avro schema: object without type");
    if (!type_it->is_string()) {
      // {"type": {...}} or {"type": [...]}: a wrapped schema.
      return Parse(*type_it, enclosing_ns, depth + 1);
    }
    const std::string type_name = type_it->get<std::string>();
    auto s = std::make_shared<AvroSchema>();
    if (auto lt = j.find("logicalType"); lt != j.end() && lt->is_string())
      s->logical_type = lt->get<std::string>();
    if (auto p = j.find("precision"); p != j.end() && p->is_number_integer())
      s->precision = p->get<int>();
    if (auto p = j.find("scale"); p != j.end() && p->is_number_integer()) s->scale = p->get<int>();
    if (auto p = j.find("adjust-to-utc"); p != j.end() && p->is_boolean())
      s->adjust_to_utc = p->get<bool>();

    if (auto prim = PrimitiveFromName(type_name)) {
      s->type = *prim;
      return AvroSchemaPtr(s);
    }
    if (type_name == "array") {
      s->type = AvroType::kArray;
      auto items = j.find("items");
      if (items == j.end())
        return MakeError(ErrorKind::kInvalidArgument, "avro schema: array without items");
      FRZ_ASSIGN_OR_RETURN(s->items, Parse(*items, enclosing_ns, depth + 1));
      FRZ_ASSIGN_OR_RETURN(s->element_id, OptionalId(j, "element-id"));
      return AvroSchemaPtr(s);
    }
    if (type_name == "map") {
      s->type = AvroType::kMap;
      auto values = j.find("values");
      if (values == j.end())
        return MakeError(ErrorKind::kInvalidArgument, "avro schema: map without values");
      FRZ_ASSIGN_OR_RETURN(s->items, Parse(*values, enclosing_ns, depth + 1));
      FRZ_ASSIGN_OR_RETURN(s->key_id, OptionalId(j, "key-id"));
      FRZ_ASSIGN_OR_RETURN(s->value_id, OptionalId(j, "value-id"));
      return AvroSchemaPtr(s);
    }
    if (type_name != "record" && type_name != "error" && type_name != "enum" &&
        type_name != "fixed") {
      // A named type reference written as {"type": "r102"}.
      return ParseName(type_name, enclosing_ns);
    }
    // Named types. Iceberg writers omit the record name sometimes (PyIceberg's manifest
    // entry), which Avro tolerates in practice; keep it empty then.
    std::string ns = enclosing_ns;
    if (auto n = j.find("namespace"); n != j.end() && n->is_string()) ns = n->get<std::string>();
    std::string full_name;
    if (auto n = j.find("name"); n != j.end() && n->is_string()) {
      std::string name = n->get<std::string>();
      if (name.find('.') != std::string::npos) {
        full_name = name;
        ns = name.substr(0, name.rfind('.'));
      } else {
        full_name = ns.empty() ? name : ns + "." + name;
      }
    }
    s->name = full_name;
    if (type_name == "fixed") {
      s->type = AvroType::kFixed;
      auto size = j.find("size");
      if (size == j.end() || !size->is_number_integer() || size->get<int64_t>() < 0 ||
          size->get<int64_t>() > (1 << 20)) {
        return MakeError(ErrorKind::kInvalidArgument, "avro schema: fixed needs a valid size");
      }
      s->size = size->get<int>();
    } else if (type_name == "enum") {
      s->type = AvroType::kEnum;
      auto symbols = j.find("symbols");
      if (symbols == j.end() || !symbols->is_array()) {
        return MakeError(ErrorKind::kInvalidArgument, "avro schema: enum without symbols");
      }
      for (const Json& sym : *symbols) {
        if (!sym.is_string())
          return MakeError(ErrorKind::kInvalidArgument, "avro schema: bad enum symbol");
        s->symbols.push_back(sym.get<std::string>());
      }
    } else {
      s->type = AvroType::kRecord;
      if (!full_name.empty()) defining_.insert(full_name);
      auto fields = j.find("fields");
      if (fields == j.end() || !fields->is_array()) {
        return MakeError(ErrorKind::kInvalidArgument, "avro schema: record without fields");
      }
      for (const Json& f : *fields) {
        if (!f.is_object()) return MakeError(ErrorKind::kInvalidArgument, "avro schema: bad field");
        AvroField field;
        auto name = f.find("name");
        auto ftype = f.find("type");
        if (name == f.end() || !name->is_string() || ftype == f.end()) {
          return MakeError(ErrorKind::kInvalidArgument, "avro schema: field needs name and type");
        }
        field.name = name->get<std::string>();
        if (s->FieldIndex(field.name) >= 0) {
          return MakeError(ErrorKind::kInvalidArgument,
                           "avro schema: duplicate field " + field.name);
        }
        FRZ_ASSIGN_OR_RETURN(field.type, Parse(*ftype, ns, depth + 1));
        FRZ_ASSIGN_OR_RETURN(field.field_id, OptionalId(f, "field-id"));
        if (auto d = f.find("default"); d != f.end()) {
          field.has_default = true;
          field.default_json = d->dump();
        }
        s->fields.push_back(std::move(field));
      }
      if (!full_name.empty()) defining_.erase(full_name);
    }
    if (!full_name.empty()) {
      named_[full_name] = s;
      // Also resolvable by its short name, as unqualified references commonly are.
      named_.emplace(full_name.substr(full_name.rfind('.') + 1), s);
    }
    return AvroSchemaPtr(s);
  }

 private:
  Result<AvroSchemaPtr> ParseName(const std::string& name, const std::string& ns) {
    if (auto prim = PrimitiveFromName(name)) {
      auto s = std::make_shared<AvroSchema>();
      s->type = *prim;
      return AvroSchemaPtr(s);
    }
    for (const std::string& candidate : {ns.empty() ? name : ns + "." + name, name}) {
      if (defining_.contains(candidate)) {
        return MakeError(ErrorKind::kUnsupported, "avro schema: recursive type " + name);
      }
      if (auto it = named_.find(candidate); it != named_.end()) return it->second;
    }
    return MakeError(ErrorKind::kInvalidArgument, "avro schema: unknown type " + name);
  }

  std::map<std::string, AvroSchemaPtr> named_;
  std::set<std::string> defining_;
};

}  // namespace

std::string_view AvroTypeName(AvroType type) {
  switch (type) {
    case AvroType::kNull:
      return "null";
    case AvroType::kBoolean:
      return "boolean";
    case AvroType::kInt:
      return "int";
    case AvroType::kLong:
      return "long";
    case AvroType::kFloat:
      return "float";
    case AvroType::kDouble:
      return "double";
    case AvroType::kBytes:
      return "bytes";
    case AvroType::kString:
      return "string";
    case AvroType::kRecord:
      return "record";
    case AvroType::kEnum:
      return "enum";
    case AvroType::kArray:
      return "array";
    case AvroType::kMap:
      return "map";
    case AvroType::kUnion:
      return "union";
    case AvroType::kFixed:
      return "fixed";
  }
  return "?";
}

int AvroSchema::FieldIndex(std::string_view field_name) const {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].name == field_name) return static_cast<int>(i);
  }
  return -1;
}

int AvroSchema::NullBranch() const {
  for (size_t i = 0; i < branches.size(); ++i) {
    if (branches[i]->type == AvroType::kNull) return static_cast<int>(i);
  }
  return -1;
}

Result<AvroSchemaPtr> ParseAvroSchema(std::string_view json_text) {
  Json j;
  try {
    j = Json::parse(json_text);
  } catch (const Json::exception& e) {
    return MakeError(ErrorKind::kInvalidArgument,
                     std::string("avro schema is not JSON: ") + e.what());
  }
  SchemaParser parser;
  return parser.Parse(j, "", 0);
}

AvroValue AvroValue::Bool(bool v) {
  AvroValue r;
  r.type = AvroType::kBoolean;
  r.bool_value = v;
  return r;
}
AvroValue AvroValue::Int(int32_t v) {
  AvroValue r;
  r.type = AvroType::kInt;
  r.long_value = v;
  return r;
}
AvroValue AvroValue::Long(int64_t v) {
  AvroValue r;
  r.type = AvroType::kLong;
  r.long_value = v;
  return r;
}
AvroValue AvroValue::Float(float v) {
  AvroValue r;
  r.type = AvroType::kFloat;
  r.double_value = v;
  return r;
}
AvroValue AvroValue::Double(double v) {
  AvroValue r;
  r.type = AvroType::kDouble;
  r.double_value = v;
  return r;
}
AvroValue AvroValue::Bytes(std::string v) {
  AvroValue r;
  r.type = AvroType::kBytes;
  r.bytes = std::move(v);
  return r;
}
AvroValue AvroValue::String(std::string v) {
  AvroValue r;
  r.type = AvroType::kString;
  r.bytes = std::move(v);
  return r;
}
AvroValue AvroValue::Fixed(std::string v) {
  AvroValue r;
  r.type = AvroType::kFixed;
  r.bytes = std::move(v);
  return r;
}
AvroValue AvroValue::Enum(int index) {
  AvroValue r;
  r.type = AvroType::kEnum;
  r.long_value = index;
  return r;
}
AvroValue AvroValue::Record() {
  AvroValue r;
  r.type = AvroType::kRecord;
  return r;
}
AvroValue AvroValue::Array() {
  AvroValue r;
  r.type = AvroType::kArray;
  return r;
}
AvroValue AvroValue::Map() {
  AvroValue r;
  r.type = AvroType::kMap;
  return r;
}

AvroValue& AvroValue::Add(std::string key, AvroValue value) {
  entries.emplace_back(std::move(key), std::move(value));
  return *this;
}

const AvroValue* AvroValue::Find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

const AvroValue* AvroValue::FindNonNull(std::string_view key) const {
  const AvroValue* v = Find(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

std::optional<int64_t> AvroValue::FindLong(std::string_view key) const {
  const AvroValue* v = FindNonNull(key);
  if (v == nullptr || (v->type != AvroType::kLong && v->type != AvroType::kInt)) return std::nullopt;
  return v->long_value;
}

std::optional<std::string> AvroValue::FindBytes(std::string_view key) const {
  const AvroValue* v = FindNonNull(key);
  if (v == nullptr || (v->type != AvroType::kBytes && v->type != AvroType::kString && v->type != AvroType::kFixed)) {
    return std::nullopt;
  }
  return v->bytes;
}

nlohmann::ordered_json IcebergField(std::string_view name, int id, nlohmann::ordered_json type, bool required,
                                    std::string_view doc) {
  nlohmann::ordered_json f = nlohmann::ordered_json::object();
  f["name"] = name;
  f["field-id"] = id;
  if (required) {
    f["type"] = std::move(type);
  } else {
    f["type"] = nlohmann::ordered_json::array({"null", std::move(type)});
    f["default"] = nullptr;
  }
  if (!doc.empty()) f["doc"] = doc;
  return f;
}

}  // namespace frazil::iceberg::avro
