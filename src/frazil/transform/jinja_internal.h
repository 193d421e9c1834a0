// Internals of the Jinja engine shared by its .cc files: value payloads, tokens, the AST and
// the built-in filters, tests, methods and globals. Not part of the public API (jinja.h).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/transform/jinja.h"

namespace frazil::transform::jinja::detail {

// ---- Value payloads ------------------------------------------------------------------------

struct ListData {
  std::vector<Value> items;
  bool is_tuple = false;
};

enum class DictFlavor { kDict, kObject, kNamespace };

struct DictData {
  std::vector<std::pair<std::string, Value>> items;
  std::unordered_map<std::string, size_t> index;  // key -> position in items
  DictFlavor flavor = DictFlavor::kDict;
  std::string display;  // how an object renders

  const Value* Find(std::string_view key) const;
  void Set(std::string key, Value v);
  bool Erase(std::string_view key);
};

struct MacroStmt;
struct Frame;

// A macro value: its definition (kept alive with the AST that holds it), the scope it was
// defined in (weak: a scope holding its own macros must not keep itself alive), and the
// environment it belongs to, for calls from outside a render.
struct MacroRef {
  std::shared_ptr<const TemplateAst> tmpl;
  const MacroStmt* def = nullptr;
  std::weak_ptr<Frame> closure;
  std::weak_ptr<EnvState> env;
};

enum class Special { kNone, kReturn };

struct CallableData {
  std::string name;
  Function fn;  // empty for macros and specials
  std::shared_ptr<const MacroRef> macro;
  Special special = Special::kNone;
};

struct ValueAccess {
  static ListData* List(const Value& v);          // nullptr unless kList
  static DictData* Dict(const Value& v);          // nullptr unless kDict
  static CallableData* Callable(const Value& v);  // nullptr unless kCallable
  static Value Tuple(std::vector<Value> items);
  static Value Namespace(std::vector<std::pair<std::string, Value>> attributes);
  static Value FromDictData(std::shared_ptr<DictData> d);
  static Value Macro(std::string name, std::shared_ptr<const MacroRef> macro);
  static Value SpecialCallable(std::string name, Special special);
  // Whether an undefined value carries a message (missing attributes and items do not: the
  // evaluator words those, naming the expression).
  static bool HasMessage(const Value& v);
  // An undefined value that renders as "" and concatenates as "" (Jinja's plain Undefined);
  // other uses fail with `what`.
  static Value LenientUndefined(std::string what);
  static bool IsLenient(const Value& v);
};

// Python's name of the value's type, for error messages: 'int', 'str', 'list', 'NoneType'...
std::string TypeName(const Value& v);
// Python's repr() of a float: 1.0, 0.1, 1e+16, inf, nan.
std::string FormatDouble(double d);
// Python's repr() of a string: 'a', "it's", 'a\n'.
std::string ReprString(std::string_view s);
// Python ordering for <, <=, >, >=: numbers with numbers, strings with strings, lists and
// tuples lexicographically. Returns <0, 0, >0. Errors: InvalidArgument naming both types
// and `op`.
Result<int> CompareValues(const Value& a, const Value& b, std::string_view op);
// The code points of a UTF-8 string, one string each (invalid bytes stand for themselves).
std::vector<std::string> Utf8Chars(std::string_view s);
size_t Utf8Length(std::string_view s);
// ASCII case mapping (other bytes unchanged), as the engine's lower/upper do.
std::string AsciiLower(std::string_view s);
std::string AsciiUpper(std::string_view s);

// ---- Environment state ---------------------------------------------------------------------

struct EnvState {
  std::unordered_map<std::string, Value> globals;
};

// ---- Tokens --------------------------------------------------------------------------------

enum class Tok {
  kData,        // template text between tags
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,
  kInt,
  kFloat,
  kOp,  // text holds the operator: + - * / // % ** ~ ( ) [ ] { } , . : | = == != < <= > >=
  kEof,
};

struct Token {
  Tok type;
  int line;
  std::string text;  // data, name, decoded string or operator
  int64_t int_value = 0;
  double float_value = 0;
};

// Splits `source` into tokens, applying whitespace control and {% raw %}. Errors:
// InvalidArgument "<name>:<line>: <what>" (unterminated tags, strings or comments, bad
// characters).
Result<std::vector<Token>> Lex(std::string_view source, const std::string& name);

// ---- AST -----------------------------------------------------------------------------------

struct Expr {
  enum class Kind {
    kConst,
    kName,
    kGetattr,
    kGetitem,
    kSlice,
    kCall,
    kFilter,
    kTest,
    kUnary,
    kBinary,
    kCompare,
    kCond,
    kList,
    kTuple,
    kDict,
  };
  Expr(Kind k, int l) : kind(k), line(l) {}
  virtual ~Expr() = default;
  Kind kind;
  int line;
};
using ExprPtr = std::unique_ptr<Expr>;

struct ArgList {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct ConstExpr : Expr {
  ConstExpr(int l, Value v) : Expr(Kind::kConst, l), value(std::move(v)) {}
  Value value;  // scalars only: literals of lists and dicts build a new value each time
};
struct NameExpr : Expr {
  NameExpr(int l, std::string n) : Expr(Kind::kName, l), name(std::move(n)) {}
  std::string name;
};
struct GetattrExpr : Expr {
  GetattrExpr(int l, ExprPtr o, std::string a)
      : Expr(Kind::kGetattr, l), object(std::move(o)), attr(std::move(a)) {}
  ExprPtr object;
  std::string attr;
};
struct GetitemExpr : Expr {
  GetitemExpr(int l, ExprPtr o, ExprPtr i)
      : Expr(Kind::kGetitem, l), object(std::move(o)), index(std::move(i)) {}
  ExprPtr object, index;
};
struct SliceExpr : Expr {
  explicit SliceExpr(int l) : Expr(Kind::kSlice, l) {}
  ExprPtr object, start, stop, step;  // any of start/stop/step may be null
};
struct CallExpr : Expr {
  explicit CallExpr(int l) : Expr(Kind::kCall, l) {}
  ExprPtr callee;
  ArgList args;
};
struct FilterExpr : Expr {
  explicit FilterExpr(int l) : Expr(Kind::kFilter, l) {}
  ExprPtr input;  // null in a filtered block set: the block's text is the input
  std::string name;
  ArgList args;
};
struct TestExpr : Expr {
  explicit TestExpr(int l) : Expr(Kind::kTest, l) {}
  ExprPtr input;
  std::string name;
  ArgList args;
  bool negated = false;
};
struct UnaryExpr : Expr {
  UnaryExpr(int l, std::string o, ExprPtr e)
      : Expr(Kind::kUnary, l), op(std::move(o)), operand(std::move(e)) {}
  std::string op;  // "-", "+", "not"
  ExprPtr operand;
};
struct BinaryExpr : Expr {
  BinaryExpr(int l, std::string o, ExprPtr a, ExprPtr b)
      : Expr(Kind::kBinary, l), op(std::move(o)), left(std::move(a)), right(std::move(b)) {}
  std::string op;  // + - * / // % ** ~ and or
  ExprPtr left, right;
};
struct CompareExpr : Expr {
  explicit CompareExpr(int l) : Expr(Kind::kCompare, l) {}
  ExprPtr first;
  std::vector<std::pair<std::string, ExprPtr>> rest;  // op: == != < <= > >= in notin
};
struct CondExpr : Expr {
  explicit CondExpr(int l) : Expr(Kind::kCond, l) {}
  ExprPtr test, then, otherwise;  // otherwise may be null: undefined
};
struct ListExpr : Expr {  // also tuples (Kind::kTuple)
  ListExpr(Kind k, int l) : Expr(k, l) {}
  std::vector<ExprPtr> items;
};
struct DictExpr : Expr {
  explicit DictExpr(int l) : Expr(Kind::kDict, l) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct Stmt {
  enum class Kind { kText, kOutput, kIf, kFor, kSet, kSetBlock, kMacro, kDo, kBreak, kContinue };
  Stmt(Kind k, int l) : kind(k), line(l) {}
  virtual ~Stmt() = default;
  Kind kind;
  int line;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct TextStmt : Stmt {
  TextStmt(int l, std::string t) : Stmt(Kind::kText, l), text(std::move(t)) {}
  std::string text;
};
struct OutputStmt : Stmt {
  OutputStmt(int l, ExprPtr e) : Stmt(Kind::kOutput, l), expr(std::move(e)) {}
  ExprPtr expr;
};
struct IfStmt : Stmt {
  explicit IfStmt(int l) : Stmt(Kind::kIf, l) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, elif...
  Body otherwise;
};
struct ForStmt : Stmt {
  explicit ForStmt(int l) : Stmt(Kind::kFor, l) {}
  std::vector<std::string> targets;  // one name, or several to unpack
  ExprPtr iter;
  ExprPtr filter;  // `for x in xs if cond`; may be null
  Body body;
  Body otherwise;
};
struct SetStmt : Stmt {
  explicit SetStmt(int l) : Stmt(Kind::kSet, l) {}
  std::vector<std::string> targets;  // names; or one name with `attr` set (ns.attr)
  std::string attr;
  ExprPtr value;
};
struct SetBlockStmt : Stmt {
  explicit SetBlockStmt(int l) : Stmt(Kind::kSetBlock, l) {}
  std::string target;
  std::vector<std::unique_ptr<FilterExpr>> filters;  // applied in order to the text
  Body body;
};
struct MacroStmt : Stmt {
  explicit MacroStmt(int l) : Stmt(Kind::kMacro, l) {}
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // default may be null
  Body body;
  bool uses_varargs = false;  // the body names `varargs`: extra positional args allowed
  bool uses_kwargs = false;   // the body names `kwargs`: unknown keyword args allowed
};
struct DoStmt : Stmt {
  DoStmt(int l, ExprPtr e) : Stmt(Kind::kDo, l), expr(std::move(e)) {}
  ExprPtr expr;
};

struct TemplateAst {
  std::string name;
  Body body;
};

// Parses a template. Errors: InvalidArgument "<name>:<line>: <what>".
Result<std::shared_ptr<TemplateAst>> ParseTemplate(std::string_view source, std::string name);

// ---- Built-ins (jinja_filters.cc, jinja_globals.cc, jinja_methods.cc) -------------------------
// Errors from these carry no location; the evaluator adds it.

inline std::unexpected<Error> Invalid(std::string what) {
  return MakeError(ErrorKind::kInvalidArgument, std::move(what));
}

// Binds call arguments to parameter names like Python does. Bind's errors: InvalidArgument
// "<fn>() ..." for too many, unknown, repeated or missing arguments.
class Params {
 public:
  static Result<Params> Bind(std::string_view fn, const CallArgs& args,
                             std::initializer_list<std::string_view> names, size_t required = 0);
  // The argument bound to `name`, or nullptr.
  const Value* Get(std::string_view name) const;
  Value Or(std::string_view name, Value def) const;
  bool Flag(std::string_view name) const;  // truthiness; false if not passed
  // An integer argument (`def` if not passed or none). Errors: InvalidArgument for other types.
  Result<int64_t> Int(std::string_view fn, std::string_view name, int64_t def) const;
  // A string argument (`def` if not passed). Errors: InvalidArgument for other types.
  Result<std::string> Str(std::string_view fn, std::string_view name, std::string def) const;

 private:
  std::vector<std::pair<std::string_view, const Value*>> bound_;
};

// Calls the method `name` of str, list or dict `obj` (which it may mutate: lists and dicts are
// shared). Errors: InvalidArgument for an unknown method, bad arguments or a failing method.
Result<Value> CallMethod(const Value& obj, std::string_view name, const CallArgs& args);

bool IsFilter(std::string_view name);
bool IsTest(std::string_view name);
Result<Value> ApplyFilter(std::string_view name, const Value& input, const CallArgs& args);
Result<bool> ApplyTest(std::string_view name, const Value& input, const CallArgs& args);
// `obj.name`: a dict's method or item, an object's attribute, a str/list method (bound to
// obj). Undefined if there is none (`what` unset: the caller words the message).
Value GetAttribute(const Value& obj, std::string_view name);
// `obj[key]`: list/str index (negative from the end), dict item. Undefined if missing.
Value GetItem(const Value& obj, const Value& key);
// The engine's globals: range, dict, namespace, return. Undefined if `name` is none of them.
Value BuiltinGlobal(std::string_view name);
// The items `for` iterates over: list items, dict keys, str characters. Errors for others.
Result<std::vector<Value>> Iterate(const Value& v);

// Arithmetic and concatenation: + - * / // % ** ~ with Python's rules (int64 overflow is an
// error rather than a bigint). Errors: InvalidArgument (types, division by zero, overflow).
Result<Value> BinaryOp(std::string_view op, const Value& a, const Value& b);
// `item in container`. Errors: InvalidArgument for a container that cannot hold `item`.
Result<bool> Contains(const Value& container, const Value& item);
// JSON the way Jinja's tojson filter writes it: keys sorted, ", " and ": " separators (or
// `indent` spaces per level when indent >= 0), non-ASCII and <>&' escaped as \uXXXX.
// Errors: InvalidArgument for values JSON cannot hold (undefined, callables, objects, cycles).
Result<std::string> ToJson(const Value& v, int indent);

// Calls a macro outside a render (Value::Call). Defined in jinja_render.cc.
Result<Value> CallMacroDetached(const MacroRef& macro, const CallArgs& args);

}  // namespace frazil::transform::jinja::detail
