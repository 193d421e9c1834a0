// The built-in tests (`x is defined`) and the engine's globals: range, dict, namespace and
// dbt's return.
#include <algorithm>
#include <unordered_map>

#include "frazil/transform/jinja_internal.h"

namespace frazil::transform::jinja::detail {
namespace {

constexpr int64_t kMaxRange = 1'000'000;

// ---- tests ----

using TestFn = Result<bool> (*)(const Value& v, const CallArgs& args);

bool IsNumber(const Value& v) {
  return v.kind() == Value::Kind::kInt || v.kind() == Value::Kind::kDouble ||
         v.kind() == Value::Kind::kBool;
}

Result<Value> OneArg(std::string_view test, const CallArgs& args) {
  if (args.positional.size() != 1 || !args.kwargs.empty()) {
    return Invalid("test '" + std::string(test) + "' takes exactly one argument");
  }
  return args.positional[0];
}

template <int kSign, bool kOrEqual>
Result<bool> CompareTest(const Value& v, const CallArgs& args) {
  FRZ_ASSIGN_OR_RETURN(Value other, OneArg("comparison", args));
  FRZ_ASSIGN_OR_RETURN(int c, CompareValues(v, other, kSign < 0 ? "<" : ">"));
  return (kOrEqual && c == 0) || (kSign < 0 ? c < 0 : c > 0);
}

// Python's str.islower() / isupper(): some cased character, none of the other case.
Result<bool> CaseTest(const Value& v, bool upper) {
  if (v.IsUndefined()) return Invalid(v.UndefinedMessage());
  bool cased = false;
  for (char c : v.ToString()) {
    bool is_lower = c >= 'a' && c <= 'z', is_upper = c >= 'A' && c <= 'Z';
    if (upper ? is_lower : is_upper) return false;
    cased = cased || is_lower || is_upper;
  }
  return cased;
}

// odd/even: `value % 2`, so floats work as in Python (3.0 is odd).
Result<bool> ParityTest(const Value& v, bool odd) {
  if (v.IsUndefined()) return Invalid(v.UndefinedMessage());
  FRZ_ASSIGN_OR_RETURN(Value m, BinaryOp("%", v, Value(2)));
  return m == Value(odd ? 1 : 0);
}

Result<bool> NeedsValue(const Value& v) {
  if (v.IsUndefined()) return Invalid(v.UndefinedMessage());
  return true;
}

const std::unordered_map<std::string_view, TestFn>& Tests() {
  static const auto* tests = new std::unordered_map<std::string_view, TestFn>{
      {"defined", [](const Value& v, const CallArgs&) -> Result<bool> { return !v.IsUndefined(); }},
      {"undefined",
       [](const Value& v, const CallArgs&) -> Result<bool> { return v.IsUndefined(); }},
      {"none", [](const Value& v, const CallArgs&) -> Result<bool> { return v.IsNone(); }},
      {"boolean",
       [](const Value& v, const CallArgs&) -> Result<bool> {
         return v.kind() == Value::Kind::kBool;
       }},
      {"true",
       [](const Value& v, const CallArgs&) -> Result<bool> {
         return v.kind() == Value::Kind::kBool && v.AsBool();
       }},
      {"false",
       [](const Value& v, const CallArgs&) -> Result<bool> {
         return v.kind() == Value::Kind::kBool && !v.AsBool();
       }},
      {"integer",
       [](const Value& v, const CallArgs&) -> Result<bool> {
         return v.kind() == Value::Kind::kInt;
       }},
      {"float",
       [](const Value& v, const CallArgs&) -> Result<bool> {
         return v.kind() == Value::Kind::kDouble;
       }},
      {"number", [](const Value& v, const CallArgs&) -> Result<bool> { return IsNumber(v); }},
      {"string",
       [](const Value& v, const CallArgs&) -> Result<bool> {
         return v.kind() == Value::Kind::kString;
       }},
      {"mapping",
       [](const Value& v, const CallArgs&) -> Result<bool> {
         return v.kind() == Value::Kind::kDict && !v.IsObject();
       }},
      {"iterable",
       [](const Value& v, const CallArgs&) -> Result<bool> {
         return v.kind() == Value::Kind::kList || v.kind() == Value::Kind::kString ||
                (v.kind() == Value::Kind::kDict && !v.IsObject());
       }},
      {"sequence",
       [](const Value& v, const CallArgs&) -> Result<bool> {
         return v.kind() == Value::Kind::kList || v.kind() == Value::Kind::kString ||
                (v.kind() == Value::Kind::kDict && !v.IsObject());
       }},
      {"callable",
       [](const Value& v, const CallArgs&) -> Result<bool> {
         return v.kind() == Value::Kind::kCallable;
       }},
      {"odd", [](const Value& v, const CallArgs&) -> Result<bool> { return ParityTest(v, true); }},
      {"even",
       [](const Value& v, const CallArgs&) -> Result<bool> { return ParityTest(v, false); }},
      {"divisibleby",
       [](const Value& v, const CallArgs& a) -> Result<bool> {
         FRZ_RETURN_IF_ERROR(NeedsValue(v));
         FRZ_ASSIGN_OR_RETURN(Value n, OneArg("divisibleby", a));
         FRZ_ASSIGN_OR_RETURN(Value m, BinaryOp("%", v, n));
         return !m.IsTruthy();
       }},
      {"eq",
       [](const Value& v, const CallArgs& a) -> Result<bool> {
         FRZ_ASSIGN_OR_RETURN(Value o, OneArg("eq", a));
         return v == o;
       }},
      {"equalto",
       [](const Value& v, const CallArgs& a) -> Result<bool> {
         FRZ_ASSIGN_OR_RETURN(Value o, OneArg("equalto", a));
         return v == o;
       }},
      {"ne",
       [](const Value& v, const CallArgs& a) -> Result<bool> {
         FRZ_ASSIGN_OR_RETURN(Value o, OneArg("ne", a));
         return !(v == o);
       }},
      {"lt", CompareTest<-1, false>},
      {"lessthan", CompareTest<-1, false>},
      {"le", CompareTest<-1, true>},
      {"gt", CompareTest<1, false>},
      {"greaterthan", CompareTest<1, false>},
      {"ge", CompareTest<1, true>},
      {"in",
       [](const Value& v, const CallArgs& a) -> Result<bool> {
         FRZ_ASSIGN_OR_RETURN(Value seq, OneArg("in", a));
         if (seq.IsUndefined()) return Invalid(seq.UndefinedMessage());
         return Contains(seq, v);
       }},
      {"sameas",
       [](const Value& v, const CallArgs& a) -> Result<bool> {
         FRZ_ASSIGN_OR_RETURN(Value o, OneArg("sameas", a));
         if (v.kind() != o.kind()) return false;
         if (v.kind() == Value::Kind::kList) return ValueAccess::List(v) == ValueAccess::List(o);
         if (v.kind() == Value::Kind::kDict) return ValueAccess::Dict(v) == ValueAccess::Dict(o);
         return v == o;
       }},
      {"lower", [](const Value& v, const CallArgs&) -> Result<bool> { return CaseTest(v, false); }},
      {"upper", [](const Value& v, const CallArgs&) -> Result<bool> { return CaseTest(v, true); }},
  };
  return *tests;
}

// ---- globals ----

Result<Value> GlobalRange(const CallArgs& args) {
  if (!args.kwargs.empty()) return Invalid("range() takes no keyword arguments");
  if (args.positional.empty() || args.positional.size() > 3) {
    return Invalid("range() expected 1 to 3 arguments, got " +
                   std::to_string(args.positional.size()));
  }
  int64_t v[3] = {0, 0, 1};
  for (size_t i = 0; i < args.positional.size(); ++i) {
    const Value& a = args.positional[i];
    if (a.kind() != Value::Kind::kInt && a.kind() != Value::Kind::kBool) {
      return Invalid("range(): '" + TypeName(a) + "' object cannot be interpreted as an integer");
    }
    v[args.positional.size() == 1 ? 1 : i] = a.AsInt();
  }
  int64_t start = v[0], stop = v[1], step = v[2];
  if (step == 0) return Invalid("range() arg 3 must not be zero");
  std::vector<Value> items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(items.size()) >= kMaxRange) {
      return Invalid("range() too large (more than " + std::to_string(kMaxRange) + " items)");
    }
    items.emplace_back(i);
    if (__builtin_add_overflow(i, step, &i)) break;
    i -= step;
  }
  return Value::List(std::move(items));
}

// dict(...) and namespace(...): an optional mapping, then keyword arguments.
Result<std::vector<std::pair<std::string, Value>>> MappingArgs(std::string_view fn,
                                                               const CallArgs& args) {
  std::vector<std::pair<std::string, Value>> items;
  if (args.positional.size() > 1)
    return Invalid(std::string(fn) + "() takes at most 1 positional argument");
  if (args.positional.size() == 1) {
    const Value& m = args.positional[0];
    if (m.kind() == Value::Kind::kDict && !m.IsObject()) {
      items = m.AsDict();
    } else if (m.kind() == Value::Kind::kList) {
      for (const Value& pair : m.AsList()) {
        if (pair.kind() != Value::Kind::kList || pair.AsList().size() != 2 ||
            pair.AsList()[0].kind() != Value::Kind::kString) {
          return Invalid(std::string(fn) + "(): expected (key, value) pairs with string keys");
        }
        items.emplace_back(pair.AsList()[0].AsString(), pair.AsList()[1]);
      }
    } else {
      return Invalid(std::string(fn) + "(): expected a mapping, not '" + TypeName(m) + "'");
    }
  }
  items.insert(items.end(), args.kwargs.begin(), args.kwargs.end());
  return items;
}

}  // namespace

bool IsTest(std::string_view name) { return Tests().contains(name); }

Result<bool> ApplyTest(std::string_view name, const Value& input, const CallArgs& args) {
  auto it = Tests().find(name);
  if (it == Tests().end()) return Invalid("no test named '" + std::string(name) + "'");
  return it->second(input, args);
}

Value BuiltinGlobal(std::string_view name) {
  static const auto* globals = new std::unordered_map<std::string_view, Value>{
      {"range", Value::Callable("range", GlobalRange)},
      {"dict", Value::Callable("dict",
                               [](const CallArgs& a) -> Result<Value> {
                                 FRZ_ASSIGN_OR_RETURN(auto items, MappingArgs("dict", a));
                                 return Value::Dict(std::move(items));
                               })},
      {"namespace", Value::Callable("namespace",
                                    [](const CallArgs& a) -> Result<Value> {
                                      FRZ_ASSIGN_OR_RETURN(auto items, MappingArgs("namespace", a));
                                      return ValueAccess::Namespace(std::move(items));
                                    })},
      {"return", ValueAccess::SpecialCallable("return", Special::kReturn)},
  };
  auto it = globals->find(name);
  return it == globals->end() ? Value::Undefined("'" + std::string(name) + "' is undefined")
                              : it->second;
}

}  // namespace frazil::transform::jinja::detail
