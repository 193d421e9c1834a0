// The built-in filters (`x | join(', ')`), with Jinja2's argument names and results.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <unordered_map>

#include "frazil/transform/jinja_internal.h"

namespace frazil::transform::jinja::detail {
namespace {

// Case folding for the case-insensitive filters (sort, unique, min, max).
Value Fold(const Value& v, bool case_sensitive) {
  if (case_sensitive || v.kind() != Value::Kind::kString) return v;
  return Value(AsciiLower(v.AsString()));
}

// `a.b.0`: Jinja's attribute getter for filters' attribute= arguments.
Value GetPath(const Value& item, std::string_view path) {
  Value cur = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string_view part = path.substr(start, dot == std::string_view::npos ? dot : dot - start);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(),
                                               [](char c) { return c >= '0' && c <= '9'; });
    if (digits) {
      cur = GetItem(
          cur, Value(static_cast<int64_t>(std::strtoll(std::string(part).c_str(), nullptr, 10))));
    } else {
      Value v = GetItem(cur, Value(part));
      cur = v.IsUndefined() ? GetAttribute(cur, part) : v;
    }
    if (dot == std::string_view::npos) return cur;
    start = dot + 1;
  }
}

namespace {

// ---- filters ----

using FilterFn = Result<Value> (*)(const Value& input, const CallArgs& args);

Result<Value> FilterDefault(const Value& in, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind("default", args, {"default_value", "boolean"}));
  if (in.IsUndefined() || (p.Flag("boolean") && !in.IsTruthy()))
    return p.Or("default_value", Value(""));
  return in;
}

Result<Value> FilterJoin(const Value& in, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind("join", args, {"d", "attribute"}));
  FRZ_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(in));
  std::string sep = p.Or("d", Value("")).ToString();
  const Value* attr = p.Get("attribute");
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    Value item = attr != nullptr ? GetPath(items[i], attr->ToString()) : items[i];
    if (item.IsUndefined()) return Invalid("join(): item " + std::to_string(i) + " is undefined");
    if (i > 0) out += sep;
    out += item.ToString();
  }
  return Value(std::move(out));
}

Result<Value> FilterLength(const Value& in, const CallArgs& args) {
  FRZ_RETURN_IF_ERROR(Params::Bind("length", args, {}));
  switch (in.kind()) {
    case Value::Kind::kString:
      return Value(static_cast<int64_t>(Utf8Length(in.AsString())));
    case Value::Kind::kList:
      return Value(static_cast<int64_t>(in.AsList().size()));
    case Value::Kind::kDict:
      if (!in.IsObject()) return Value(static_cast<int64_t>(in.AsDict().size()));
      break;
    default:
      break;
  }
  return Invalid("object of type '" + TypeName(in) + "' has no len()");
}

Result<Value> FilterList(const Value& in, const CallArgs& args) {
  FRZ_RETURN_IF_ERROR(Params::Bind("list", args, {}));
  FRZ_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(in));
  return Value::List(std::move(items));
}

// Python's int(str, base) for base 10/16/8/2, with the surrounding whitespace and
// underscores between digits it allows.
std::optional<int64_t> ParseInt(std::string_view s, int base) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.size() > 2 && s[0] == '0') {
    char p = static_cast<char>(s[1] | 0x20);
    if ((p == 'x' && base == 16) || (p == 'o' && base == 8) || (p == 'b' && base == 2))
      s.remove_prefix(2);
  }
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  bool prev_digit = false;
  for (char c : s) {
    if (c == '_' && prev_digit) {
      prev_digit = false;
      continue;
    }
    int d = c >= '0' && c <= '9'                     ? c - '0'
            : (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? (c | 0x20) - 'a' + 10
                                                     : 99;
    if (d >= base) return std::nullopt;
    if (v > (static_cast<uint64_t>(INT64_MAX) + 1 - static_cast<uint64_t>(d)) /
                static_cast<uint64_t>(base))
      return std::nullopt;
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
    prev_digit = true;
  }
  if (!prev_digit) return std::nullopt;
  if (!neg && v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
}

// Python's float(str): decimal or scientific, inf, nan, surrounding whitespace.
std::optional<double> ParseFloat(std::string_view s) {
  std::string t;
  for (char c : s) {
    if (c != '_') t += c;
  }
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  size_t start = 0;
  while (start < t.size() && std::isspace(static_cast<unsigned char>(t[start]))) ++start;
  if (start == t.size()) return std::nullopt;
  std::string body = AsciiLower(t.substr(start));
  std::string_view unsigned_body = body;
  if (!unsigned_body.empty() && (unsigned_body[0] == '+' || unsigned_body[0] == '-'))
    unsigned_body.remove_prefix(1);
  if (unsigned_body.starts_with("0x")) return std::nullopt;  // strtod would accept hex
  char* end = nullptr;
  double d = std::strtod(body.c_str(), &end);
  if (end != body.c_str() + body.size()) return std::nullopt;
  return d;
}

Result<Value> FilterInt(const Value& in, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind("int", args, {"default", "base"}));
  Value def = p.Or("default", Value(0));
  FRZ_ASSIGN_OR_RETURN(int64_t base, p.Int("int", "base", 10));
  switch (in.kind()) {
    case Value::Kind::kBool:
    case Value::Kind::kInt:
      return Value(in.AsInt());
    case Value::Kind::kDouble: {
      double d = std::trunc(in.AsDouble());
      if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return def;
      return Value(static_cast<int64_t>(d));
    }
    case Value::Kind::kString: {
      if (auto i = ParseInt(in.AsString(), static_cast<int>(base))) return Value(*i);
      auto d = ParseFloat(in.AsString());
      if (d && std::isfinite(*d) && std::fabs(*d) < 9.2e18)
        return Value(static_cast<int64_t>(std::trunc(*d)));
      return def;
    }
    default:
      return def;
  }
}

Result<Value> FilterFloat(const Value& in, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind("float", args, {"default"}));
  Value def = p.Or("default", Value(0.0));
  switch (in.kind()) {
    case Value::Kind::kBool:
    case Value::Kind::kInt:
    case Value::Kind::kDouble:
      return Value(in.AsDouble());
    case Value::Kind::kString:
      if (auto d = ParseFloat(in.AsString())) return Value(*d);
      return def;
    default:
      return def;
  }
}

Result<Value> FirstOrLast(const Value& in, const CallArgs& args, bool first) {
  FRZ_RETURN_IF_ERROR(Params::Bind(first ? "first" : "last", args, {}));
  FRZ_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(in));
  if (items.empty()) {
    return Value::Undefined(std::string("No ") + (first ? "first" : "last") +
                            " item, sequence was empty.");
  }
  return first ? items.front() : items.back();
}

// Sort keys of `items`: the item itself or its attribute(s), case-folded unless asked not to.
std::vector<std::vector<Value>> SortKeys(const std::vector<Value>& items, const Value* attribute,
                                         bool case_sensitive) {
  std::vector<std::string> paths;
  if (attribute != nullptr && !attribute->IsNone()) {
    std::string a = attribute->ToString();
    for (size_t start = 0;;) {
      size_t comma = a.find(',', start);
      paths.push_back(a.substr(start, comma == std::string::npos ? comma : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  std::vector<std::vector<Value>> keys;
  for (const Value& item : items) {
    std::vector<Value> k;
    if (paths.empty()) k.push_back(Fold(item, case_sensitive));
    for (const std::string& path : paths) k.push_back(Fold(GetPath(item, path), case_sensitive));
    keys.push_back(std::move(k));
  }
  return keys;
}

// Lexicographic comparison of two sort keys.
Result<int> CompareKeys(const std::vector<Value>& a, const std::vector<Value>& b) {
  for (size_t k = 0; k < a.size() && k < b.size(); ++k) {
    FRZ_ASSIGN_OR_RETURN(int c, CompareValues(a[k], b[k], "<"));
    if (c != 0) return c;
  }
  return 0;
}

// Orders `order` (indices into keys) stably; the first comparison error is returned.
Status SortIndices(const std::vector<std::vector<Value>>& keys, bool reverse,
                   std::vector<size_t>& order) {
  order.resize(keys.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::optional<Error> error;
  auto less = [&](size_t a, size_t b) {
    if (error) return false;  // after an error, a consistent "equal" keeps the sort in bounds
    auto c = reverse ? CompareKeys(keys[b], keys[a]) : CompareKeys(keys[a], keys[b]);
    if (!c) {
      error = c.error();
      return false;
    }
    return *c < 0;
  };
  std::stable_sort(order.begin(), order.end(), less);
  if (error) return std::unexpected(*error);
  return Ok();
}

Result<Value> FilterSort(const Value& in, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(Params p,
                       Params::Bind("sort", args, {"reverse", "case_sensitive", "attribute"}));
  FRZ_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(in));
  std::vector<size_t> order;
  FRZ_RETURN_IF_ERROR(SortIndices(SortKeys(items, p.Get("attribute"), p.Flag("case_sensitive")),
                                  p.Flag("reverse"), order));
  std::vector<Value> out;
  for (size_t i : order) out.push_back(items[i]);
  return Value::List(std::move(out));
}

Result<Value> FilterUnique(const Value& in, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind("unique", args, {"case_sensitive", "attribute"}));
  FRZ_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(in));
  auto keys = SortKeys(items, p.Get("attribute"), p.Flag("case_sensitive"));
  std::vector<Value> out;
  std::vector<const std::vector<Value>*> seen;
  for (size_t i = 0; i < items.size(); ++i) {
    bool dup = std::any_of(seen.begin(), seen.end(), [&](const auto* k) { return *k == keys[i]; });
    if (dup) continue;
    seen.push_back(&keys[i]);
    out.push_back(items[i]);
  }
  return Value::List(std::move(out));
}

Result<Value> MinOrMax(const Value& in, const CallArgs& args, bool max) {
  FRZ_ASSIGN_OR_RETURN(Params p,
                       Params::Bind(max ? "max" : "min", args, {"case_sensitive", "attribute"}));
  FRZ_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(in));
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  auto keys = SortKeys(items, p.Get("attribute"), p.Flag("case_sensitive"));
  size_t best = 0;  // the first of the smallest or largest, as Python's min() and max()
  for (size_t i = 1; i < items.size(); ++i) {
    FRZ_ASSIGN_OR_RETURN(int c, CompareKeys(keys[i], keys[best]));
    if (max ? c > 0 : c < 0) best = i;
  }
  return items[best];
}

Result<Value> FilterSum(const Value& in, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind("sum", args, {"attribute", "start"}));
  FRZ_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(in));
  Value total = p.Or("start", Value(0));
  const Value* attr = p.Get("attribute");
  for (const Value& item : items) {
    Value v = attr != nullptr ? GetPath(item, attr->ToString()) : item;
    if (v.IsUndefined()) return Invalid("sum(): an item is undefined");
    FRZ_ASSIGN_OR_RETURN(total, BinaryOp("+", total, v));
  }
  return total;
}

Result<Value> FilterReverse(const Value& in, const CallArgs& args) {
  FRZ_RETURN_IF_ERROR(Params::Bind("reverse", args, {}));
  if (in.kind() == Value::Kind::kString) {
    std::vector<std::string> chars = Utf8Chars(in.AsString());
    std::string out;
    for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
    return Value(std::move(out));
  }
  FRZ_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(in));
  std::reverse(items.begin(), items.end());
  return Value::List(std::move(items));
}

Result<Value> FilterToJson(const Value& in, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind("tojson", args, {"indent"}));
  FRZ_ASSIGN_OR_RETURN(int64_t indent, p.Int("tojson", "indent", -1));
  FRZ_ASSIGN_OR_RETURN(std::string json,
                       ToJson(in, static_cast<int>(std::clamp<int64_t>(indent, -1, 64))));
  return Value(std::move(json));
}

Result<Value> FilterAbs(const Value& in, const CallArgs& args) {
  FRZ_RETURN_IF_ERROR(Params::Bind("abs", args, {}));
  if (in.kind() == Value::Kind::kDouble) return Value(std::fabs(in.AsDouble()));
  if (in.kind() == Value::Kind::kInt || in.kind() == Value::Kind::kBool) {
    if (in.AsInt() == INT64_MIN) return Invalid("integer overflow in abs()");
    return Value(in.AsInt() < 0 ? -in.AsInt() : in.AsInt());
  }
  return Invalid("bad operand type for abs(): '" + TypeName(in) + "'");
}

Result<Value> FilterRound(const Value& in, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind("round", args, {"precision", "method"}));
  FRZ_ASSIGN_OR_RETURN(int64_t precision, p.Int("round", "precision", 0));
  FRZ_ASSIGN_OR_RETURN(std::string method, p.Str("round", "method", "common"));
  if (method != "common" && method != "ceil" && method != "floor") {
    return Invalid("round(): method must be common, ceil or floor");
  }
  if (in.kind() != Value::Kind::kInt && in.kind() != Value::Kind::kBool &&
      in.kind() != Value::Kind::kDouble) {
    return Invalid("type " + TypeName(in) + " doesn't define __round__ method");
  }
  precision = std::clamp<int64_t>(precision, -308, 308);
  if (method == "common") {
    if (in.kind() != Value::Kind::kDouble && precision >= 0) return Value(in.AsInt());
    double x = in.AsDouble();
    if (!std::isfinite(x)) return Value(x);
    if (precision >= 0) {
      // printf rounds the exact binary value half-to-even, as Python's round() does.
      char buf[512];
      std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::min<int64_t>(precision, 100)),
                    x);
      return Value(std::strtod(buf, nullptr));
    }
    double scale = std::pow(10.0, static_cast<double>(-precision));
    double r = std::nearbyint(x / scale) * scale;
    if (in.kind() != Value::Kind::kDouble) return Value(static_cast<int64_t>(r));
    return Value(r);
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double scaled = in.AsDouble() * scale;
  return Value((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

std::string Capitalize(const std::string& s) {
  std::string out = AsciiLower(s);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z')
    out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

// Jinja's title: words start after whitespace, '-', '(', '{', '[' or '<'.
std::string JinjaTitle(const std::string& s) {
  std::string out;
  bool word_start = true;
  for (char c : s) {
    bool sep = std::isspace(static_cast<unsigned char>(c)) || c == '-' || c == '(' || c == '{' ||
               c == '[' || c == '<';
    if (sep) {
      out += c;
      word_start = true;
    } else if (word_start) {
      out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
      word_start = false;
    } else {
      out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
  }
  return out;
}

Result<Value> FilterIndent(const Value& in, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind("indent", args, {"width", "first", "blank"}));
  Value width = p.Or("width", Value(4));
  std::string indention;
  if (width.kind() == Value::Kind::kString) {
    indention = width.AsString();
  } else if (width.kind() == Value::Kind::kInt) {
    indention.assign(static_cast<size_t>(std::clamp<int64_t>(width.AsInt(), 0, 1024)), ' ');
  } else {
    return Invalid("indent(): width must be an integer or a string");
  }
  // Jinja appends a newline and splits into lines, so a trailing newline is kept.
  std::string s = in.ToString() + "\n";
  std::vector<std::string> lines;
  std::string cur;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' || s[i] == '\r') {
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      lines.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += s[i];
    }
  }
  if (!cur.empty()) lines.push_back(std::move(cur));
  std::string rv;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) rv += '\n';
    bool indent_line = i > 0 && (p.Flag("blank") || !lines[i].empty());
    if (indent_line) rv += indention;
    rv += lines[i];
  }
  if (p.Flag("first")) rv = indention + rv;
  return Value(std::move(rv));
}

Result<Value> FilterReplace(const Value& in, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind("replace", args, {"old", "new", "count"}, 2));
  CallArgs method_args;
  method_args.positional = {p.Or("old", Value()).ToString(), p.Or("new", Value()).ToString()};
  if (const Value* c = p.Get("count")) method_args.positional.push_back(*c);
  return CallMethod(Value(in.ToString()), "replace", method_args);
}

Result<Value> FilterTrim(const Value& in, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(Params p, Params::Bind("trim", args, {"chars"}));
  CallArgs method_args;
  if (const Value* c = p.Get("chars")) method_args.positional.push_back(*c);
  return CallMethod(Value(in.ToString()), "strip", method_args);
}

Result<Value> FilterMap(const Value& in, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(in));
  std::vector<Value> out;
  if (const Value* attr = args.Kwarg("attribute")) {
    if (!args.positional.empty()) return Invalid("map(): pass either a filter name or attribute=");
    const Value* def = args.Kwarg("default");
    for (const auto& [k, unused] : args.kwargs) {
      if (k != "attribute" && k != "default")
        return Invalid("map(): unexpected keyword argument '" + k + "'");
    }
    for (const Value& item : items) {
      Value v = GetPath(item, attr->ToString());
      out.push_back(v.IsUndefined() && def != nullptr ? *def : v);
    }
    return Value::List(std::move(out));
  }
  if (args.positional.empty() || args.positional[0].kind() != Value::Kind::kString) {
    return Invalid("map(): a filter name or attribute= is required");
  }
  const std::string& name = args.positional[0].AsString();
  if (!IsFilter(name)) return Invalid("map(): no filter named '" + name + "'");
  CallArgs rest{{args.positional.begin() + 1, args.positional.end()}, args.kwargs};
  for (const Value& item : items) {
    FRZ_ASSIGN_OR_RETURN(Value v, ApplyFilter(name, item, rest));
    out.push_back(std::move(v));
  }
  return Value::List(std::move(out));
}

// select/reject/selectattr/rejectattr: keep the items for which the test (truthiness if none
// is named) is `keep`.
Result<Value> FilterSelect(const Value& in, const CallArgs& args, bool by_attr, bool keep) {
  FRZ_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(in));
  size_t next = 0;
  std::string attr;
  if (by_attr) {
    if (args.positional.empty()) return Invalid("selectattr(): an attribute name is required");
    attr = args.positional[next++].ToString();
  }
  std::string test;
  if (next < args.positional.size()) test = args.positional[next++].ToString();
  if (!test.empty() && !IsTest(test)) return Invalid("no test named '" + test + "'");
  CallArgs test_args{
      {args.positional.begin() + static_cast<std::ptrdiff_t>(next), args.positional.end()},
      args.kwargs};
  std::vector<Value> out;
  for (const Value& item : items) {
    Value v = by_attr ? GetPath(item, attr) : item;
    bool ok;
    if (test.empty()) {
      ok = v.IsTruthy();
    } else {
      FRZ_ASSIGN_OR_RETURN(ok, ApplyTest(test, v, test_args));
    }
    if (ok == keep) out.push_back(item);
  }
  return Value::List(std::move(out));
}

Result<Value> FilterItems(const Value& in, const CallArgs& args) {
  FRZ_RETURN_IF_ERROR(Params::Bind("items", args, {}));
  if (in.kind() != Value::Kind::kDict || in.IsObject())
    return Invalid("items(): a dict is required, not '" + TypeName(in) + "'");
  return CallMethod(in, "items", {});
}

template <std::string (*F)(std::string_view)>
Result<Value> StringFilter(const Value& in, const CallArgs& args) {
  if (!args.positional.empty() || !args.kwargs.empty())
    return Invalid("this filter takes no arguments");
  return Value(F(in.ToString()));
}
std::string Identity(std::string_view s) { return std::string(s); }
std::string CapitalizeCopy(std::string_view s) { return Capitalize(std::string(s)); }
std::string TitleCopy(std::string_view s) { return JinjaTitle(std::string(s)); }

const std::unordered_map<std::string_view, FilterFn>& Filters() {
  static const auto* filters = new std::unordered_map<std::string_view, FilterFn>{
      {"abs", FilterAbs},
      {"capitalize", StringFilter<CapitalizeCopy>},
      {"count", FilterLength},
      {"d", FilterDefault},
      {"default", FilterDefault},
      {"first", [](const Value& in, const CallArgs& a) { return FirstOrLast(in, a, true); }},
      {"float", FilterFloat},
      {"indent", FilterIndent},
      {"int", FilterInt},
      {"items", FilterItems},
      {"join", FilterJoin},
      {"last", [](const Value& in, const CallArgs& a) { return FirstOrLast(in, a, false); }},
      {"length", FilterLength},
      {"list", FilterList},
      {"lower", StringFilter<AsciiLower>},
      {"map", FilterMap},
      {"max", [](const Value& in, const CallArgs& a) { return MinOrMax(in, a, true); }},
      {"min", [](const Value& in, const CallArgs& a) { return MinOrMax(in, a, false); }},
      {"reject",
       [](const Value& in, const CallArgs& a) { return FilterSelect(in, a, false, false); }},
      {"rejectattr",
       [](const Value& in, const CallArgs& a) { return FilterSelect(in, a, true, false); }},
      {"replace", FilterReplace},
      {"reverse", FilterReverse},
      {"round", FilterRound},
      {"safe", StringFilter<Identity>},
      {"select",
       [](const Value& in, const CallArgs& a) { return FilterSelect(in, a, false, true); }},
      {"selectattr",
       [](const Value& in, const CallArgs& a) { return FilterSelect(in, a, true, true); }},
      {"sort", FilterSort},
      {"string", StringFilter<Identity>},
      {"sum", FilterSum},
      {"title", StringFilter<TitleCopy>},
      {"tojson", FilterToJson},
      {"trim", FilterTrim},
      {"unique", FilterUnique},
      {"upper", StringFilter<AsciiUpper>},
  };
  return *filters;
}

}  // namespace

}  // namespace

bool IsFilter(std::string_view name) { return Filters().contains(name); }

Result<Value> ApplyFilter(std::string_view name, const Value& input, const CallArgs& args) {
  auto it = Filters().find(name);
  if (it == Filters().end()) return Invalid("no filter named '" + std::string(name) + "'");
  if (name != "default" && name != "d" && input.IsUndefined())
    return Invalid(input.UndefinedMessage());
  return it->second(input, args);
}

}  // namespace frazil::transform::jinja::detail
