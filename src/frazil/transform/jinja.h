// A Jinja2-subset template engine for dbt-style SQL models: a lexer, a parser to an AST and
// an evaluator. The supported subset is written down in docs/templating.md; anything outside
// it is rejected at parse time with "<name>:<line>: unsupported tag '<tag>'".
//
//   FRZ_ASSIGN_OR_RETURN(auto t, jinja::Template::Parse(sql, "models/orders.sql"));
//   jinja::Environment env;
//   env.SetGlobal("ref", jinja::Value::Callable("ref", MyRef));
//   FRZ_ASSIGN_OR_RETURN(std::string compiled, env.Render(t, {{"target", target}}));
//
// Errors never escape as exceptions; every error is "<template name>:<line>: <what>".
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "frazil/base/result.h"

namespace frazil::transform::jinja {

class Value;

// The arguments of a call: `f(1, 2, x=3)` has positional {1, 2} and kwargs {x: 3}.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> kwargs;

  // The keyword argument `name`, or nullptr if it was not passed.
  const Value* Kwarg(std::string_view name) const;
};

// A host function callable from templates. An error is reported at the call site as
// "<name>:<line>: <message>" with the error's kind kept.
using Function = std::function<Result<Value>(const CallArgs&)>;

namespace detail {
struct ListData;
struct DictData;
struct CallableData;
struct ValueAccess;
}  // namespace detail

// A template value. Copies are cheap: lists, dicts and callables are shared references (as in
// Python, `list.append` through one copy is seen by every copy); scalars are copied.
class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kDouble, kString, kList, kDict, kCallable };

  Value();  // undefined
  static Value None();
  // An undefined value whose use is reported as `what` (e.g. "'foo' is undefined").
  static Value Undefined(std::string what);
  Value(bool b);
  Value(int64_t i);
  Value(int i);
  Value(double d);
  Value(std::string s);
  Value(std::string_view s);
  Value(const char* s);
  static Value List(std::vector<Value> items);
  // Keys are unique (a later duplicate replaces the earlier value); iteration keeps the order
  // of first insertion.
  static Value Dict(std::vector<std::pair<std::string, Value>> items);
  static Value Callable(std::string name, Function fn);
  // An object: a dict of attributes that renders as `display` (e.g. a relation with
  // attributes schema/name/identifier, rendering as its SQL name). kind() is kDict; attribute
  // and subscript access work as for dicts, but dict methods (items(), get(), ...) do not.
  static Value Object(std::vector<std::pair<std::string, Value>> attributes, std::string display);

  Kind kind() const { return kind_; }
  bool IsUndefined() const { return kind_ == Kind::kUndefined; }
  bool IsNone() const { return kind_ == Kind::kNone; }
  bool IsObject() const;  // made by Object() or namespace()
  bool IsTuple() const;   // a kList made by a tuple literal or items(); renders as (a, b)

  // Python truthiness: undefined, none, false, 0, 0.0, '' and empty lists/dicts are false.
  bool IsTruthy() const;
  // As rendered by {{ }}: None -> "None", true -> "True", 1.0 -> "1.0", strings as they are,
  // lists/dicts like Python's repr (['a', 1], {'k': None}), objects as their display.
  // Undefined renders as "" here; the evaluator reports rendering an undefined as an error.
  std::string ToString() const;
  // Python's repr(): strings quoted ('it''s' -> "it's"), everything else as ToString().
  std::string Repr() const;
  // For an undefined value: why it is undefined ("'foo' is undefined").
  std::string UndefinedMessage() const;

  // Accessors return a neutral value (false, 0, "", empty) for a value of another kind.
  bool AsBool() const;                                               // kBool
  int64_t AsInt() const;                                             // kInt, kBool
  double AsDouble() const;                                           // kDouble, kInt, kBool
  const std::string& AsString() const;                               // kString
  const std::vector<Value>& AsList() const;                          // kList
  const std::vector<std::pair<std::string, Value>>& AsDict() const;  // kDict (objects too)
  // A dict's item or an object's attribute; undefined if missing or not a dict.
  Value Get(std::string_view key) const;
  // The name given to Callable() (or the macro's name).
  const std::string& CallableName() const;
  // Calls a kCallable value. A macro called this way renders with the globals of the
  // Environment it was registered in (no per-render locals). Errors: InvalidArgument for a
  // value that is not callable or an environment that no longer exists; the function's error.
  Result<Value> Call(const CallArgs& args) const;

  // Python equality: 1 == 1.0 == True, lists and dicts by content; undefined == undefined.
  friend bool operator==(const Value& a, const Value& b);

 private:
  friend struct detail::ValueAccess;
  using Payload = std::variant<std::monostate, bool, int64_t, double, std::string,
                               std::shared_ptr<detail::ListData>, std::shared_ptr<detail::DictData>,
                               std::shared_ptr<detail::CallableData>>;
  Kind kind_;
  // An undefined that renders as "" (Jinja's plain Undefined, as from `a if c` without
  // else) instead of failing.
  bool lenient_ = false;
  Payload payload_;  // kUndefined keeps its message in the string alternative
};

namespace detail {
struct TemplateAst;
struct EnvState;
}  // namespace detail

// A parsed template. Cheap to copy (the AST is shared and immutable).
class Template {
 public:
  // Parses `source`; `name` (a file path) is used in error messages.
  // Errors: InvalidArgument "<name>:<line>: <what>" for syntax errors and for constructs
  // outside the subset (e.g. "<name>:3: unsupported tag 'extends'").
  static Result<Template> Parse(std::string_view source, std::string name);

  const std::string& name() const;
  // The names of the top-level {% macro %} definitions, in source order.
  std::vector<std::string> MacroNames() const;

 private:
  friend class Environment;
  explicit Template(std::shared_ptr<const detail::TemplateAst> ast) : ast_(std::move(ast)) {}
  std::shared_ptr<const detail::TemplateAst> ast_;
};

// Globals and macros shared by renders. Move-only: macros registered here refer back to it.
// Several threads may Render() at once if nobody calls SetGlobal/AddMacros meanwhile and the
// templates do not mutate lists or dicts they share (values are shared, not copied).
class Environment {
 public:
  Environment();
  ~Environment();
  Environment(Environment&&) noexcept;
  Environment& operator=(Environment&&) noexcept;
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  // Sets (or replaces) a global. The engine's own globals (range, dict, namespace, return)
  // can be shadowed.
  void SetGlobal(std::string name, Value v);
  // The global `name`, undefined if unset.
  Value GetGlobal(std::string_view name) const;
  // Registers the template's top-level macros as global callables (later definitions
  // replace earlier ones). A macro renders in the context of the render that calls it: it
  // sees the globals and the Render() locals, not the variables of the calling template.
  Status AddMacros(const Template& t);
  // Renders `t` with `locals` layered over the globals. Errors: InvalidArgument
  // "<name>:<line>: <what>" (undefined variable rendered or called, type errors, division by
  // zero, recursion too deep, ...); a Function's error keeps its kind, message prefixed with
  // the location of the call.
  Result<std::string> Render(const Template& t, const std::map<std::string, Value>& locals = {});

 private:
  std::shared_ptr<detail::EnvState> state_;
};

}  // namespace frazil::transform::jinja
