// Attribute access and the Python methods of str, list and dict that dbt projects call
// (`name.upper()`, `cols.append(c)`, `config.get('x', 'y')`, `d.items()`).
#include <algorithm>
#include <string>

#include "frazil/transform/jinja_internal.h"

namespace frazil::transform::jinja::detail {
namespace {

constexpr std::string_view kStrMethods[] = {
    "upper",      "lower",    "strip", "lstrip", "rstrip",     "replace", "split",
    "startswith", "endswith", "join",  "title",  "capitalize", "find",    "count"};
constexpr std::string_view kListMethods[] = {"append", "extend", "pop",   "insert",
                                             "index",  "count",  "remove"};
constexpr std::string_view kTupleMethods[] = {"index", "count"};
constexpr std::string_view kDictMethods[] = {"items",  "keys", "values",     "get",
                                             "update", "pop",  "setdefault", "copy"};

template <size_t N>
bool In(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

bool HasMethod(const Value& obj, std::string_view name) {
  switch (obj.kind()) {
    case Value::Kind::kString:
      return In(kStrMethods, name);
    case Value::Kind::kList:
      return obj.IsTuple() ? In(kTupleMethods, name) : In(kListMethods, name);
    case Value::Kind::kDict:
      return !obj.IsObject() && In(kDictMethods, name);
    default:
      return false;
  }
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string Strip(const std::string& s, const Value* chars, bool left, bool right) {
  std::vector<std::string> cps = Utf8Chars(s);
  auto strip_me = [&](const std::string& c) {
    if (chars == nullptr || chars->IsNone()) return c.size() == 1 && IsSpace(c[0]);
    std::vector<std::string> set = Utf8Chars(chars->ToString());
    return std::find(set.begin(), set.end(), c) != set.end();
  };
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && strip_me(cps[b])) ++b;
  }
  if (right) {
    while (e > b && strip_me(cps[e - 1])) --e;
  }
  std::string out;
  for (size_t i = b; i < e; ++i) out += cps[i];
  return out;
}

// Python's str.replace, including an empty `old` (inserted between every character).
std::string Replace(const std::string& s, const std::string& old, const std::string& repl,
                    int64_t count) {
  std::string out;
  if (old.empty()) {
    std::vector<std::string> cps = Utf8Chars(s);
    int64_t done = 0;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || done < count) {
        out += repl;
        ++done;
      }
      if (i < cps.size()) out += cps[i];
    }
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t hit = s.find(old, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += repl;
    pos = hit + old.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

Result<Value> Split(const std::string& s, const Value* sep_value, int64_t maxsplit) {
  std::vector<Value> parts;
  if (sep_value == nullptr || sep_value->IsNone()) {
    size_t i = 0, n = s.size();
    while (true) {
      while (i < n && IsSpace(s[i])) ++i;
      if (i >= n) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t e = n;
        while (e > i && IsSpace(s[e - 1])) --e;
        parts.emplace_back(s.substr(i, e - i));
        break;
      }
      size_t j = i;
      while (j < n && !IsSpace(s[j])) ++j;
      parts.emplace_back(s.substr(i, j - i));
      i = j;
    }
    return Value::List(std::move(parts));
  }
  if (sep_value->kind() != Value::Kind::kString) {
    return Invalid("split(): separator must be a string or None, not '" + TypeName(*sep_value) +
                   "'");
  }
  const std::string& sep = sep_value->AsString();
  if (sep.empty()) return Invalid("split(): empty separator");
  size_t pos = 0;
  while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
    size_t hit = s.find(sep, pos);
    if (hit == std::string::npos) break;
    parts.emplace_back(s.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  parts.emplace_back(s.substr(pos));
  return Value::List(std::move(parts));
}

// startswith/endswith: a string or a tuple/list of strings.
Result<Value> Affix(const std::string& s, const Value& affix, bool prefix) {
  std::vector<Value> options =
      affix.kind() == Value::Kind::kList ? affix.AsList() : std::vector<Value>{affix};
  for (const Value& o : options) {
    if (o.kind() != Value::Kind::kString) {
      return Invalid(std::string(prefix ? "startswith" : "endswith") +
                     "(): expected a string or a tuple of strings, not '" + TypeName(o) + "'");
    }
    if (prefix ? s.starts_with(o.AsString()) : s.ends_with(o.AsString())) return Value(true);
  }
  return Value(false);
}

std::string PyTitle(const std::string& s) {
  std::string out;
  bool prev_cased = false;
  for (char c : s) {
    bool lower = c >= 'a' && c <= 'z', upper = c >= 'A' && c <= 'Z';
    if (lower && !prev_cased) c = static_cast<char>(c - 'a' + 'A');
    if (upper && prev_cased) c = static_cast<char>(c - 'A' + 'a');
    prev_cased = lower || upper;
    out += c;
  }
  return out;
}

Result<Value> StrMethod(const std::string& s, std::string_view name, const CallArgs& args) {
  std::string fn = "str." + std::string(name);
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    FRZ_RETURN_IF_ERROR(Params::Bind(fn, args, {}));
    if (name == "upper") return Value(AsciiUpper(s));
    if (name == "lower") return Value(AsciiLower(s));
    if (name == "title") return Value(PyTitle(s));
    std::string out = AsciiLower(s);
    if (!out.empty() && out[0] >= 'a' && out[0] <= 'z')
      out[0] = static_cast<char>(out[0] - 'a' + 'A');
    return Value(std::move(out));
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind(fn, args, {"chars"}));
    return Value(Strip(s, p.Get("chars"), name != "rstrip", name != "lstrip"));
  }
  if (name == "replace") {
    FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind(fn, args, {"old", "new", "count"}, 2));
    FRZ_ASSIGN_OR_RETURN(std::string old, p.Str(fn, "old", ""));
    FRZ_ASSIGN_OR_RETURN(std::string repl, p.Str(fn, "new", ""));
    FRZ_ASSIGN_OR_RETURN(int64_t count, p.Int(fn, "count", -1));
    return Value(Replace(s, old, repl, count));
  }
  if (name == "split") {
    FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind(fn, args, {"sep", "maxsplit"}));
    FRZ_ASSIGN_OR_RETURN(int64_t maxsplit, p.Int(fn, "maxsplit", -1));
    return Split(s, p.Get("sep"), maxsplit);
  }
  if (name == "startswith" || name == "endswith") {
    FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind(fn, args, {"affix"}, 1));
    return Affix(s, *p.Get("affix"), name == "startswith");
  }
  if (name == "join") {
    FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind(fn, args, {"iterable"}, 1));
    FRZ_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(*p.Get("iterable")));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].kind() != Value::Kind::kString) {
        return Invalid("str.join(): sequence item " + std::to_string(i) + ": expected str, " +
                       TypeName(items[i]) + " found");
      }
      if (i > 0) out += s;
      out += items[i].AsString();
    }
    return Value(std::move(out));
  }
  if (name == "find" || name == "count") {
    FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind(fn, args, {"sub"}, 1));
    FRZ_ASSIGN_OR_RETURN(std::string sub, p.Str(fn, "sub", ""));
    if (name == "find") {
      size_t hit = s.find(sub);
      if (hit == std::string::npos) return Value(-1);
      return Value(static_cast<int64_t>(Utf8Length(std::string_view(s).substr(0, hit))));
    }
    if (sub.empty()) return Value(static_cast<int64_t>(Utf8Length(s) + 1));
    int64_t n = 0;
    for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size()))
      ++n;
    return Value(n);
  }
  return Invalid("'str' object has no method '" + std::string(name) + "'");
}

Result<Value> ListMethod(ListData& list, std::string_view name, const CallArgs& args) {
  std::string fn = "list." + std::string(name);
  auto& items = list.items;
  if (name == "append") {
    FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind(fn, args, {"item"}, 1));
    items.push_back(*p.Get("item"));
    return Value::None();
  }
  if (name == "extend") {
    FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind(fn, args, {"iterable"}, 1));
    FRZ_ASSIGN_OR_RETURN(std::vector<Value> more, Iterate(*p.Get("iterable")));
    items.insert(items.end(), more.begin(), more.end());
    return Value::None();
  }
  if (name == "pop") {
    FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind(fn, args, {"index"}));
    FRZ_ASSIGN_OR_RETURN(int64_t i, p.Int(fn, "index", -1));
    int64_t n = static_cast<int64_t>(items.size());
    if (n == 0) return Invalid("pop from empty list");
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Invalid("pop index out of range");
    Value v = items[static_cast<size_t>(i)];
    items.erase(items.begin() + i);
    return v;
  }
  if (name == "insert") {
    FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind(fn, args, {"index", "item"}, 2));
    FRZ_ASSIGN_OR_RETURN(int64_t i, p.Int(fn, "index", 0));
    int64_t n = static_cast<int64_t>(items.size());
    if (i < 0) i = std::max<int64_t>(0, i + n);
    i = std::min(i, n);
    items.insert(items.begin() + i, *p.Get("item"));
    return Value::None();
  }
  if (name == "index" || name == "count" || name == "remove") {
    FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind(fn, args, {"item"}, 1));
    const Value& x = *p.Get("item");
    if (name == "count")
      return Value(static_cast<int64_t>(std::count(items.begin(), items.end(), x)));
    auto it = std::find(items.begin(), items.end(), x);
    if (it == items.end()) return Invalid(x.Repr() + " is not in list");
    if (name == "index") return Value(static_cast<int64_t>(it - items.begin()));
    items.erase(it);
    return Value::None();
  }
  return Invalid("'list' object has no method '" + std::string(name) + "'");
}

Result<Value> DictMethod(const Value& obj, DictData& dict, std::string_view name,
                         const CallArgs& args) {
  std::string fn = "dict." + std::string(name);
  if (name == "items" || name == "keys" || name == "values" || name == "copy") {
    FRZ_RETURN_IF_ERROR(Params::Bind(fn, args, {}));
    if (name == "copy") return Value::Dict(obj.AsDict());
    std::vector<Value> out;
    for (const auto& [k, v] : dict.items) {
      if (name == "items") out.push_back(ValueAccess::Tuple({Value(k), v}));
      if (name == "keys") out.emplace_back(k);
      if (name == "values") out.push_back(v);
    }
    return Value::List(std::move(out));
  }
  if (name == "get" || name == "setdefault" || name == "pop") {
    FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind(fn, args, {"key", "default"}, 1));
    const Value& key = *p.Get("key");
    const Value* found = key.kind() == Value::Kind::kString ? dict.Find(key.AsString()) : nullptr;
    if (name == "get") return found != nullptr ? *found : p.Or("default", Value::None());
    if (name == "setdefault") {
      if (found != nullptr) return *found;
      if (key.kind() != Value::Kind::kString)
        return Invalid("dict keys must be strings, not '" + TypeName(key) + "'");
      Value v = p.Or("default", Value::None());
      dict.Set(key.AsString(), v);
      return v;
    }
    if (found == nullptr) {
      if (const Value* def = p.Get("default")) return *def;
      return Invalid("KeyError: " + key.Repr());
    }
    Value v = *found;
    dict.Erase(key.AsString());
    return v;
  }
  if (name == "update") {
    if (args.positional.size() > 1)
      return Invalid("dict.update() takes at most 1 positional argument");
    if (args.positional.size() == 1) {
      const Value& other = args.positional[0];
      if (other.kind() != Value::Kind::kDict || other.IsObject()) {
        return Invalid("dict.update(): expected a dict, not '" + TypeName(other) + "'");
      }
      std::vector<std::pair<std::string, Value>> copy = other.AsDict();  // may be dict itself
      for (auto& [k, v] : copy) dict.Set(std::move(k), std::move(v));
    }
    for (const auto& [k, v] : args.kwargs) dict.Set(k, v);
    return Value::None();
  }
  return Invalid("'dict' object has no method '" + std::string(name) + "'");
}

}  // namespace

Result<Params> Params::Bind(std::string_view fn, const CallArgs& args,
                            std::initializer_list<std::string_view> names, size_t required) {
  Params p;
  std::vector<std::string_view> n(names);
  if (args.positional.size() > n.size()) {
    return Invalid(std::string(fn) + "() takes at most " + std::to_string(n.size()) +
                   " argument(s) (" + std::to_string(args.positional.size()) + " given)");
  }
  for (size_t i = 0; i < args.positional.size(); ++i)
    p.bound_.emplace_back(n[i], &args.positional[i]);
  for (const auto& [k, v] : args.kwargs) {
    if (std::find(n.begin(), n.end(), k) == n.end()) {
      return Invalid(std::string(fn) + "() got an unexpected keyword argument '" + k + "'");
    }
    if (p.Get(k) != nullptr) {
      return Invalid(std::string(fn) + "() got multiple values for argument '" + k + "'");
    }
    p.bound_.emplace_back(std::find(n.begin(), n.end(), k)[0], &v);
  }
  for (size_t i = 0; i < required; ++i) {
    if (p.Get(n[i]) == nullptr) {
      return Invalid(std::string(fn) + "() missing required argument '" + std::string(n[i]) + "'");
    }
  }
  return p;
}

const Value* Params::Get(std::string_view name) const {
  for (const auto& [k, v] : bound_) {
    if (k == name) return v;
  }
  return nullptr;
}

Value Params::Or(std::string_view name, Value def) const {
  const Value* v = Get(name);
  return v != nullptr ? *v : def;
}

bool Params::Flag(std::string_view name) const {
  const Value* v = Get(name);
  return v != nullptr && v->IsTruthy();
}

Result<int64_t> Params::Int(std::string_view fn, std::string_view name, int64_t def) const {
  const Value* v = Get(name);
  if (v == nullptr || v->IsNone()) return def;
  if (v->kind() != Value::Kind::kInt && v->kind() != Value::Kind::kBool) {
    return Invalid(std::string(fn) + "(): '" + std::string(name) + "' must be an integer, not '" +
                   TypeName(*v) + "'");
  }
  return v->AsInt();
}

Result<std::string> Params::Str(std::string_view fn, std::string_view name, std::string def) const {
  const Value* v = Get(name);
  if (v == nullptr) return def;
  if (v->kind() != Value::Kind::kString) {
    return Invalid(std::string(fn) + "(): '" + std::string(name) + "' must be a string, not '" +
                   TypeName(*v) + "'");
  }
  return v->AsString();
}

Result<std::vector<Value>> Iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kList:
      return v.AsList();
    case Value::Kind::kDict:
      if (!v.IsObject()) {
        std::vector<Value> keys;
        for (const auto& [k, unused] : v.AsDict()) keys.emplace_back(k);
        return keys;
      }
      break;
    case Value::Kind::kString: {
      std::vector<Value> chars;
      for (std::string& c : Utf8Chars(v.AsString())) chars.emplace_back(std::move(c));
      return chars;
    }
    case Value::Kind::kUndefined:
      return Invalid(v.UndefinedMessage());
    default:
      break;
  }
  return Invalid("'" + TypeName(v) + "' object is not iterable");
}

Value GetItem(const Value& obj, const Value& key) {
  if (obj.kind() == Value::Kind::kDict) {
    if (key.kind() != Value::Kind::kString) return Value::Undefined("");
    const Value* v = ValueAccess::Dict(obj)->Find(key.AsString());
    return v != nullptr ? *v : Value::Undefined("");
  }
  if (key.kind() != Value::Kind::kInt && key.kind() != Value::Kind::kBool)
    return Value::Undefined("");
  int64_t i = key.AsInt();
  if (obj.kind() == Value::Kind::kList) {
    const auto& items = obj.AsList();
    int64_t n = static_cast<int64_t>(items.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::Undefined("");
    return items[static_cast<size_t>(i)];
  }
  if (obj.kind() == Value::Kind::kString) {
    std::vector<std::string> chars = Utf8Chars(obj.AsString());
    int64_t n = static_cast<int64_t>(chars.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::Undefined("");
    return Value(std::move(chars[static_cast<size_t>(i)]));
  }
  return Value::Undefined("");
}

Value GetAttribute(const Value& obj, std::string_view name) {
  if (HasMethod(obj, name)) {
    return Value::Callable(std::string(name), [obj, n = std::string(name)](const CallArgs& args) {
      return CallMethod(obj, n, args);
    });
  }
  if (const DictData* d = ValueAccess::Dict(obj)) {
    const Value* v = d->Find(name);
    if (v != nullptr) return *v;
  }
  return Value::Undefined("");
}

Result<Value> CallMethod(const Value& obj, std::string_view name, const CallArgs& args) {
  if (!HasMethod(obj, name)) {
    return Invalid("'" + TypeName(obj) + "' object has no method '" + std::string(name) + "'");
  }
  if (obj.kind() == Value::Kind::kString) return StrMethod(obj.AsString(), name, args);
  if (ListData* l = ValueAccess::List(obj)) return ListMethod(*l, name, args);
  return DictMethod(obj, *ValueAccess::Dict(obj), name, args);
}

}  // namespace frazil::transform::jinja::detail
