// The evaluator: renders a template's AST with Jinja's scoping (for bodies and macro calls
// get their own scope; if does not) and dbt's `return()`.
#include <algorithm>

#include "frazil/transform/jinja_internal.h"

namespace frazil::transform::jinja {
namespace detail {

// A scope: the variables `set` (or a loop, or a macro's arguments) assigned in it.
struct Frame {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;
};

namespace {

// Macro calls nested deeper than this fail: recursion without end must be an error, not a
// stack overflow. Thread-local so that it also counts calls made through Value::Call.
constexpr int kMaxCallDepth = 100;
thread_local int g_call_depth = 0;

// return(), break and continue unwind through the Result error path; the signal says which
// (an error with a signal set is not an error).
enum class Signal { kNone, kReturn, kBreak, kContinue };

struct Context {
  std::shared_ptr<EnvState> env;
  const std::map<std::string, Value>* locals = nullptr;
  Signal signal = Signal::kNone;
  Value return_value;
  std::string return_where;  // "<name>:<line>" of the return() call
};

std::unexpected<Error> Unwind() {
  return MakeError(ErrorKind::kInternal, "jinja control flow escaped its construct");
}

class Renderer {
 public:
  Renderer(Context& ctx, std::shared_ptr<const TemplateAst> tmpl)
      : ctx_(ctx), tmpl_(std::move(tmpl)) {}

  Status Exec(const Body& body, const std::shared_ptr<Frame>& frame, std::string& out) {
    for (const StmtPtr& s : body) FRZ_RETURN_IF_ERROR(ExecStmt(*s, frame, out));
    return Ok();
  }

  Result<Value> CallMacro(const MacroRef& m, const CallArgs& args, int call_line);

 private:
  std::unexpected<Error> Fail(int line, const std::string& what) const {
    return MakeError(ErrorKind::kInvalidArgument, Where(line) + ": " + what);
  }
  std::string Where(int line) const { return tmpl_->name + ":" + std::to_string(line); }
  // An error from a built-in or host function, located at `line`.
  std::unexpected<Error> At(int line, Error e) const {
    if (ctx_.signal != Signal::kNone) return std::unexpected(std::move(e));
    e.message = Where(line) + ": " + e.message;
    return std::unexpected(std::move(e));
  }

  Value Lookup(const std::string& name, const Frame* frame) const {
    for (const Frame* f = frame; f != nullptr; f = f->parent.get()) {
      auto it = f->vars.find(name);
      if (it != f->vars.end()) return it->second;
    }
    if (ctx_.locals != nullptr) {
      auto it = ctx_.locals->find(name);
      if (it != ctx_.locals->end()) return it->second;
    }
    auto it = ctx_.env->globals.find(name);
    if (it != ctx_.env->globals.end()) return it->second;
    return BuiltinGlobal(name);
  }

  Status ExecStmt(const Stmt& s, const std::shared_ptr<Frame>& frame, std::string& out);
  Status ExecFor(const ForStmt& s, const std::shared_ptr<Frame>& frame, std::string& out);
  Status Assign(const std::vector<std::string>& targets, const Value& v, Frame& frame, int line);
  Result<Value> Eval(const Expr& e, const std::shared_ptr<Frame>& frame);
  Result<CallArgs> EvalArgs(const ArgList& args, const std::shared_ptr<Frame>& frame);
  Result<Value> EvalCall(const CallExpr& e, const std::shared_ptr<Frame>& frame);
  Result<Value> EvalSlice(const SliceExpr& e, const std::shared_ptr<Frame>& frame);
  Result<Value> EvalCompare(const CompareExpr& e, const std::shared_ptr<Frame>& frame);
  Result<Value> Filter(const FilterExpr& f, const Value& input,
                       const std::shared_ptr<Frame>& frame);
  Result<Value> Invoke(const CallableData& c, const CallArgs& args, int line);

  Context& ctx_;
  std::shared_ptr<const TemplateAst> tmpl_;  // the template whose nodes run, for locations
};

// `a.b.c` for messages about a missing attribute of a named thing; else the type.
std::string Describe(const Expr& e, const Value& v) {
  if (e.kind == Expr::Kind::kName) return static_cast<const NameExpr&>(e).name;
  if (e.kind == Expr::Kind::kGetattr) {
    const auto& g = static_cast<const GetattrExpr&>(e);
    std::string inner = Describe(*g.object, Value());
    if (!inner.ends_with(" object")) return inner + "." + g.attr;
  }
  return TypeName(v) + " object";
}

Value MakeLoop(const std::vector<Value>& items, size_t i) {
  int64_t n = static_cast<int64_t>(items.size());
  int64_t idx = static_cast<int64_t>(i);
  auto d = std::make_shared<DictData>();
  d->flavor = DictFlavor::kObject;
  d->display = "<LoopContext " + std::to_string(idx + 1) + "/" + std::to_string(n) + ">";
  d->Set("index", Value(idx + 1));
  d->Set("index0", Value(idx));
  d->Set("revindex", Value(n - idx));
  d->Set("revindex0", Value(n - idx - 1));
  d->Set("first", Value(i == 0));
  d->Set("last", Value(idx == n - 1));
  d->Set("length", Value(n));
  d->Set("depth", Value(1));
  d->Set("depth0", Value(0));
  if (i > 0) d->Set("previtem", items[i - 1]);
  if (idx + 1 < n) d->Set("nextitem", items[i + 1]);
  d->Set("cycle", Value::Callable("cycle", [i](const CallArgs& args) -> Result<Value> {
           if (args.positional.empty()) return Invalid("loop.cycle(): no items for cycling given");
           return args.positional[i % args.positional.size()];
         }));
  return ValueAccess::FromDictData(std::move(d));
}

Status Renderer::ExecStmt(const Stmt& s, const std::shared_ptr<Frame>& frame, std::string& out) {
  switch (s.kind) {
    case Stmt::Kind::kText:
      out += static_cast<const TextStmt&>(s).text;
      return Ok();
    case Stmt::Kind::kOutput: {
      FRZ_ASSIGN_OR_RETURN(Value v, Eval(*static_cast<const OutputStmt&>(s).expr, frame));
      if (v.IsUndefined() && !ValueAccess::IsLenient(v)) return Fail(s.line, v.UndefinedMessage());
      out += v.ToString();
      return Ok();
    }
    case Stmt::Kind::kIf: {
      const auto& node = static_cast<const IfStmt&>(s);
      for (const auto& [cond, body] : node.branches) {
        FRZ_ASSIGN_OR_RETURN(Value c, Eval(*cond, frame));
        if (c.IsTruthy()) return Exec(body, frame, out);
      }
      return Exec(node.otherwise, frame, out);
    }
    case Stmt::Kind::kFor:
      return ExecFor(static_cast<const ForStmt&>(s), frame, out);
    case Stmt::Kind::kSet: {
      const auto& node = static_cast<const SetStmt&>(s);
      FRZ_ASSIGN_OR_RETURN(Value v, Eval(*node.value, frame));
      if (node.attr.empty()) return Assign(node.targets, v, *frame, s.line);
      Value ns = Lookup(node.targets[0], frame.get());
      DictData* d = ValueAccess::Dict(ns);
      if (ns.IsUndefined()) return Fail(s.line, ns.UndefinedMessage());
      if (d == nullptr || d->flavor != DictFlavor::kNamespace) {
        return Fail(s.line,
                    "cannot assign attribute on non-namespace object '" + node.targets[0] + "'");
      }
      d->Set(node.attr, std::move(v));
      return Ok();
    }
    case Stmt::Kind::kSetBlock: {
      const auto& node = static_cast<const SetBlockStmt&>(s);
      std::string text;
      FRZ_RETURN_IF_ERROR(Exec(node.body, frame, text));
      Value v(std::move(text));
      for (const auto& f : node.filters) {
        FRZ_ASSIGN_OR_RETURN(v, Filter(*f, v, frame));
      }
      frame->vars[node.target] = std::move(v);
      return Ok();
    }
    case Stmt::Kind::kMacro: {
      const auto& node = static_cast<const MacroStmt&>(s);
      auto ref = std::make_shared<MacroRef>();
      ref->tmpl = tmpl_;
      ref->def = &node;
      ref->closure = frame;
      ref->env = ctx_.env;
      frame->vars[node.name] = ValueAccess::Macro(node.name, std::move(ref));
      return Ok();
    }
    case Stmt::Kind::kDo: {
      FRZ_ASSIGN_OR_RETURN(Value unused, Eval(*static_cast<const DoStmt&>(s).expr, frame));
      return Ok();
    }
    case Stmt::Kind::kBreak:
    case Stmt::Kind::kContinue:
      ctx_.signal = s.kind == Stmt::Kind::kBreak ? Signal::kBreak : Signal::kContinue;
      return Unwind();
  }
  return Ok();
}

Status Renderer::Assign(const std::vector<std::string>& targets, const Value& v, Frame& frame,
                        int line) {
  if (targets.size() == 1) {
    frame.vars[targets[0]] = v;
    return Ok();
  }
  if (v.IsUndefined()) return Fail(line, v.UndefinedMessage());
  auto items = Iterate(v);
  if (!items) return Fail(line, "cannot unpack non-iterable " + TypeName(v) + " object");
  if (items->size() != targets.size()) {
    return Fail(
        line, items->size() < targets.size()
                  ? "not enough values to unpack (expected " + std::to_string(targets.size()) +
                        ", got " + std::to_string(items->size()) + ")"
                  : "too many values to unpack (expected " + std::to_string(targets.size()) + ")");
  }
  for (size_t i = 0; i < targets.size(); ++i) frame.vars[targets[i]] = (*items)[i];
  return Ok();
}

Status Renderer::ExecFor(const ForStmt& s, const std::shared_ptr<Frame>& frame, std::string& out) {
  FRZ_ASSIGN_OR_RETURN(Value seq, Eval(*s.iter, frame));
  if (seq.IsUndefined()) return Fail(s.line, seq.UndefinedMessage());
  auto iterated = Iterate(seq);
  if (!iterated) return At(s.line, iterated.error());
  std::vector<Value> items = std::move(*iterated);  // a copy: the body may change the list
  if (s.filter) {
    std::vector<Value> kept;
    for (const Value& item : items) {
      auto f = std::make_shared<Frame>();
      f->parent = frame;
      FRZ_RETURN_IF_ERROR(Assign(s.targets, item, *f, s.line));
      FRZ_ASSIGN_OR_RETURN(Value c, Eval(*s.filter, f));
      if (c.IsTruthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    auto f = std::make_shared<Frame>();
    f->parent = frame;
    return Exec(s.otherwise, f, out);
  }
  for (size_t i = 0; i < items.size(); ++i) {
    // Each iteration has its own scope: a `set` in the body neither leaks out of the loop nor
    // carries over to the next iteration.
    auto f = std::make_shared<Frame>();
    f->parent = frame;
    FRZ_RETURN_IF_ERROR(Assign(s.targets, items[i], *f, s.line));
    f->vars["loop"] = MakeLoop(items, i);
    Status st = Exec(s.body, f, out);
    if (st) continue;
    if (ctx_.signal == Signal::kContinue) {
      ctx_.signal = Signal::kNone;
      continue;
    }
    if (ctx_.signal == Signal::kBreak) {
      ctx_.signal = Signal::kNone;
      break;
    }
    return st;
  }
  return Ok();
}

Result<CallArgs> Renderer::EvalArgs(const ArgList& args, const std::shared_ptr<Frame>& frame) {
  CallArgs out;
  for (const ExprPtr& e : args.positional) {
    FRZ_ASSIGN_OR_RETURN(Value v, Eval(*e, frame));
    out.positional.push_back(std::move(v));
  }
  for (const auto& [k, e] : args.kwargs) {
    FRZ_ASSIGN_OR_RETURN(Value v, Eval(*e, frame));
    out.kwargs.emplace_back(k, std::move(v));
  }
  return out;
}

Result<Value> Renderer::Filter(const FilterExpr& f, const Value& input,
                               const std::shared_ptr<Frame>& frame) {
  FRZ_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(f.args, frame));
  if (f.name != "default" && f.name != "d") {
    if (input.IsUndefined()) return Fail(f.line, input.UndefinedMessage());
    for (const Value& a : args.positional) {
      if (a.IsUndefined()) return Fail(f.line, a.UndefinedMessage());
    }
    for (const auto& [k, a] : args.kwargs) {
      if (a.IsUndefined()) return Fail(f.line, a.UndefinedMessage());
    }
  }
  auto r = ApplyFilter(f.name, input, args);
  if (!r) return At(f.line, r.error());
  return r;
}

Result<Value> Renderer::Invoke(const CallableData& c, const CallArgs& args, int line) {
  if (c.special == Special::kReturn) {
    if (args.positional.size() > 1 || !args.kwargs.empty()) {
      return Fail(line, "return() takes exactly one argument");
    }
    ctx_.return_value = args.positional.empty() ? Value::None() : args.positional[0];
    ctx_.return_where = Where(line);
    ctx_.signal = Signal::kReturn;
    return Unwind();
  }
  if (c.macro) return CallMacro(*c.macro, args, line);
  for (const Value& a : args.positional) {
    if (a.IsUndefined()) return Fail(line, a.UndefinedMessage());
  }
  for (const auto& [k, a] : args.kwargs) {
    if (a.IsUndefined()) return Fail(line, a.UndefinedMessage());
  }
  auto r = c.fn(args);
  if (!r) return At(line, r.error());
  return r;
}

Result<Value> Renderer::EvalCall(const CallExpr& e, const std::shared_ptr<Frame>& frame) {
  FRZ_ASSIGN_OR_RETURN(Value callee, Eval(*e.callee, frame));
  if (callee.IsUndefined()) return Fail(e.line, callee.UndefinedMessage());
  const CallableData* c = ValueAccess::Callable(callee);
  if (c == nullptr) return Fail(e.line, "'" + TypeName(callee) + "' object is not callable");
  FRZ_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e.args, frame));
  return Invoke(*c, args, e.line);
}

Result<Value> Renderer::CallMacro(const MacroRef& m, const CallArgs& args, int call_line) {
  const MacroStmt& def = *m.def;
  if (g_call_depth >= kMaxCallDepth) {
    return Fail(call_line, "maximum macro call depth (" + std::to_string(kMaxCallDepth) +
                               ") exceeded calling '" + def.name + "'");
  }
  ++g_call_depth;
  struct DepthRestore {
    ~DepthRestore() { --g_call_depth; }
  } restore;

  auto frame = std::make_shared<Frame>();
  frame->parent = m.closure.lock();
  std::vector<bool> given(def.params.size(), false);
  std::vector<Value> extra;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < def.params.size()) {
      frame->vars[def.params[i].first] = args.positional[i];
      given[i] = true;
    } else {
      extra.push_back(args.positional[i]);
    }
  }
  if (!extra.empty() && !def.uses_varargs) {
    return Fail(call_line, "macro '" + def.name + "' takes not more than " +
                               std::to_string(def.params.size()) + " argument(s)");
  }
  std::vector<std::pair<std::string, Value>> extra_kwargs;
  for (const auto& [k, v] : args.kwargs) {
    auto it = std::find_if(def.params.begin(), def.params.end(),
                           [&](const auto& p) { return p.first == k; });
    if (it == def.params.end()) {
      if (!def.uses_kwargs)
        return Fail(call_line, "macro '" + def.name + "' takes no keyword argument '" + k + "'");
      extra_kwargs.emplace_back(k, v);
      continue;
    }
    size_t i = static_cast<size_t>(it - def.params.begin());
    if (given[i])
      return Fail(call_line,
                  "macro '" + def.name + "' got multiple values for argument '" + k + "'");
    frame->vars[k] = v;
    given[i] = true;
  }
  Renderer body(ctx_, m.tmpl);  // the macro's own template names its errors
  for (size_t i = 0; i < def.params.size(); ++i) {
    if (given[i]) continue;
    const auto& [name, default_expr] = def.params[i];
    if (default_expr) {
      FRZ_ASSIGN_OR_RETURN(Value v, body.Eval(*default_expr, frame));
      frame->vars[name] = std::move(v);
    } else {
      frame->vars[name] = Value::Undefined("'" + name + "' is undefined");
    }
  }
  if (def.uses_varargs) frame->vars["varargs"] = ValueAccess::Tuple(std::move(extra));
  if (def.uses_kwargs) frame->vars["kwargs"] = Value::Dict(std::move(extra_kwargs));
  std::string out;
  Status st = body.Exec(def.body, frame, out);
  if (!st) {
    if (ctx_.signal != Signal::kReturn) return std::unexpected(st.error());
    ctx_.signal = Signal::kNone;
    Value v = std::move(ctx_.return_value);
    ctx_.return_value = Value();
    return v;
  }
  return Value(std::move(out));
}

Result<Value> Renderer::EvalSlice(const SliceExpr& e, const std::shared_ptr<Frame>& frame) {
  FRZ_ASSIGN_OR_RETURN(Value obj, Eval(*e.object, frame));
  if (obj.IsUndefined()) return Fail(e.line, obj.UndefinedMessage());
  int64_t bounds[3] = {0, 0, 1};
  bool given[3] = {false, false, false};
  const ExprPtr* parts[3] = {&e.start, &e.stop, &e.step};
  for (int k = 0; k < 3; ++k) {
    if (!*parts[k]) continue;
    FRZ_ASSIGN_OR_RETURN(Value v, Eval(**parts[k], frame));
    if (v.IsNone()) continue;
    if (v.kind() != Value::Kind::kInt && v.kind() != Value::Kind::kBool) {
      return Fail(e.line, "slice indices must be integers or None, not '" + TypeName(v) + "'");
    }
    bounds[k] = v.AsInt();
    given[k] = true;
  }
  int64_t step = bounds[2];
  if (step == 0) return Fail(e.line, "slice step cannot be zero");
  std::vector<Value> items;
  bool is_string = obj.kind() == Value::Kind::kString;
  if (is_string) {
    for (std::string& c : Utf8Chars(obj.AsString())) items.emplace_back(std::move(c));
  } else if (obj.kind() == Value::Kind::kList) {
    items = obj.AsList();
  } else {
    return Fail(e.line, "'" + TypeName(obj) + "' object is not subscriptable");
  }
  // Python's PySlice_AdjustIndices.
  int64_t n = static_cast<int64_t>(items.size());
  auto adjust = [&](int64_t v, bool has, int64_t dflt) {
    if (!has) return dflt;
    if (v < 0) {
      v += n;
      if (v < 0) v = step < 0 ? -1 : 0;
    } else if (v >= n) {
      v = step < 0 ? n - 1 : n;
    }
    return v;
  };
  int64_t start = adjust(bounds[0], given[0], step < 0 ? n - 1 : 0);
  int64_t stop = adjust(bounds[1], given[1], step < 0 ? -1 : n);
  std::vector<Value> picked;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
    picked.push_back(items[static_cast<size_t>(i)]);
  if (is_string) {
    std::string s;
    for (const Value& c : picked) s += c.AsString();
    return Value(std::move(s));
  }
  return obj.IsTuple() ? ValueAccess::Tuple(std::move(picked)) : Value::List(std::move(picked));
}

Result<Value> Renderer::EvalCompare(const CompareExpr& e, const std::shared_ptr<Frame>& frame) {
  FRZ_ASSIGN_OR_RETURN(Value left, Eval(*e.first, frame));
  for (const auto& [op, expr] : e.rest) {
    FRZ_ASSIGN_OR_RETURN(Value right, Eval(*expr, frame));
    bool ok;
    if (op == "==" || op == "!=") {
      ok = (left == right) == (op == "==");
    } else if (op == "in" || op == "notin") {
      if (right.IsUndefined()) return Fail(e.line, right.UndefinedMessage());
      auto r = Contains(right, left);
      if (!r) return At(e.line, r.error());
      ok = *r == (op == "in");
    } else {
      if (left.IsUndefined()) return Fail(e.line, left.UndefinedMessage());
      if (right.IsUndefined()) return Fail(e.line, right.UndefinedMessage());
      auto c = CompareValues(left, right, op);
      if (!c) return At(e.line, c.error());
      ok = op == "<" ? *c < 0 : op == "<=" ? *c <= 0 : op == ">" ? *c > 0 : *c >= 0;
    }
    if (!ok) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Result<Value> Renderer::Eval(const Expr& e, const std::shared_ptr<Frame>& frame) {
  switch (e.kind) {
    case Expr::Kind::kConst:
      return static_cast<const ConstExpr&>(e).value;
    case Expr::Kind::kName: {
      const std::string& name = static_cast<const NameExpr&>(e).name;
      return Lookup(name, frame.get());
    }
    case Expr::Kind::kGetattr: {
      const auto& g = static_cast<const GetattrExpr&>(e);
      FRZ_ASSIGN_OR_RETURN(Value obj, Eval(*g.object, frame));
      if (obj.IsUndefined()) return obj;  // still names what was undefined first
      Value v = GetAttribute(obj, g.attr);
      if (v.IsUndefined() && !ValueAccess::HasMessage(v)) {
        return Value::Undefined("'" + Describe(*g.object, obj) + "' has no attribute '" + g.attr +
                                "'");
      }
      return v;
    }
    case Expr::Kind::kGetitem: {
      const auto& g = static_cast<const GetitemExpr&>(e);
      FRZ_ASSIGN_OR_RETURN(Value obj, Eval(*g.object, frame));
      if (obj.IsUndefined()) return obj;
      FRZ_ASSIGN_OR_RETURN(Value key, Eval(*g.index, frame));
      if (key.IsUndefined()) return Fail(e.line, key.UndefinedMessage());
      Value v = GetItem(obj, key);
      if (v.IsUndefined() && !ValueAccess::HasMessage(v)) {
        std::string what = key.kind() == Value::Kind::kString ? "attribute " + key.Repr()
                                                              : "element " + key.Repr();
        return Value::Undefined("'" + Describe(*g.object, obj) + "' has no " + what);
      }
      return v;
    }
    case Expr::Kind::kSlice:
      return EvalSlice(static_cast<const SliceExpr&>(e), frame);
    case Expr::Kind::kCall:
      return EvalCall(static_cast<const CallExpr&>(e), frame);
    case Expr::Kind::kFilter: {
      const auto& f = static_cast<const FilterExpr&>(e);
      FRZ_ASSIGN_OR_RETURN(Value input, Eval(*f.input, frame));
      return Filter(f, input, frame);
    }
    case Expr::Kind::kTest: {
      const auto& t = static_cast<const TestExpr&>(e);
      FRZ_ASSIGN_OR_RETURN(Value input, Eval(*t.input, frame));
      FRZ_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(t.args, frame));
      auto r = ApplyTest(t.name, input, args);
      if (!r) return At(e.line, r.error());
      return Value(*r != t.negated);
    }
    case Expr::Kind::kUnary: {
      const auto& u = static_cast<const UnaryExpr&>(e);
      FRZ_ASSIGN_OR_RETURN(Value v, Eval(*u.operand, frame));
      if (u.op == "not") return Value(!v.IsTruthy());
      if (v.IsUndefined()) return Fail(e.line, v.UndefinedMessage());
      if (v.kind() == Value::Kind::kDouble)
        return Value(u.op == "-" ? -v.AsDouble() : v.AsDouble());
      if (v.kind() == Value::Kind::kInt || v.kind() == Value::Kind::kBool) {
        if (u.op == "+") return Value(v.AsInt());
        if (v.AsInt() == INT64_MIN) return Fail(e.line, "integer overflow in unary -");
        return Value(-v.AsInt());
      }
      return Fail(e.line, "bad operand type for unary " + u.op + ": '" + TypeName(v) + "'");
    }
    case Expr::Kind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      FRZ_ASSIGN_OR_RETURN(Value left, Eval(*b.left, frame));
      if (b.op == "and") return left.IsTruthy() ? Eval(*b.right, frame) : left;
      if (b.op == "or") return left.IsTruthy() ? left : Eval(*b.right, frame);
      FRZ_ASSIGN_OR_RETURN(Value right, Eval(*b.right, frame));
      if (b.op == "~") {
        for (const Value* v : {&left, &right}) {
          if (v->IsUndefined() && !ValueAccess::IsLenient(*v))
            return Fail(e.line, v->UndefinedMessage());
        }
      } else {
        if (left.IsUndefined()) return Fail(e.line, left.UndefinedMessage());
        if (right.IsUndefined()) return Fail(e.line, right.UndefinedMessage());
      }
      auto r = BinaryOp(b.op, left, right);
      if (!r) return At(e.line, r.error());
      return r;
    }
    case Expr::Kind::kCompare:
      return EvalCompare(static_cast<const CompareExpr&>(e), frame);
    case Expr::Kind::kCond: {
      const auto& c = static_cast<const CondExpr&>(e);
      FRZ_ASSIGN_OR_RETURN(Value test, Eval(*c.test, frame));
      if (test.IsTruthy()) return Eval(*c.then, frame);
      if (c.otherwise) return Eval(*c.otherwise, frame);
      // Jinja's plain Undefined: `{{ ',' if not loop.last }}` renders nothing.
      return ValueAccess::LenientUndefined("the inline if-expression on line " +
                                           std::to_string(e.line) +
                                           " evaluated to false and no else section was defined");
    }
    case Expr::Kind::kList:
    case Expr::Kind::kTuple: {
      std::vector<Value> items;
      for (const ExprPtr& item : static_cast<const ListExpr&>(e).items) {
        FRZ_ASSIGN_OR_RETURN(Value v, Eval(*item, frame));
        items.push_back(std::move(v));
      }
      return e.kind == Expr::Kind::kTuple ? ValueAccess::Tuple(std::move(items))
                                          : Value::List(std::move(items));
    }
    case Expr::Kind::kDict: {
      std::vector<std::pair<std::string, Value>> items;
      for (const auto& [k, v] : static_cast<const DictExpr&>(e).items) {
        FRZ_ASSIGN_OR_RETURN(Value key, Eval(*k, frame));
        if (key.kind() != Value::Kind::kString) {
          return Fail(e.line, "dict keys must be strings, not '" + TypeName(key) + "'");
        }
        FRZ_ASSIGN_OR_RETURN(Value value, Eval(*v, frame));
        items.emplace_back(key.AsString(), std::move(value));
      }
      return Value::Dict(std::move(items));
    }
  }
  return Fail(e.line, "unknown expression");
}

}  // namespace

Result<Value> CallMacroDetached(const MacroRef& macro, const CallArgs& args) {
  std::shared_ptr<EnvState> env = macro.env.lock();
  if (!env) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "macro '" + macro.def->name + "' outlived the environment it belongs to");
  }
  Context ctx;
  ctx.env = std::move(env);
  Renderer r(ctx, macro.tmpl);
  return r.CallMacro(macro, args, macro.def->line);
}

}  // namespace detail

Environment::Environment() : state_(std::make_shared<detail::EnvState>()) {}
Environment::~Environment() = default;
Environment::Environment(Environment&&) noexcept = default;
Environment& Environment::operator=(Environment&&) noexcept = default;

void Environment::SetGlobal(std::string name, Value v) {
  state_->globals[std::move(name)] = std::move(v);
}

Value Environment::GetGlobal(std::string_view name) const {
  auto it = state_->globals.find(std::string(name));
  return it == state_->globals.end() ? Value() : it->second;
}

Status Environment::AddMacros(const Template& t) {
  for (const auto& s : t.ast_->body) {
    if (s->kind != detail::Stmt::Kind::kMacro) continue;
    const auto* def = static_cast<const detail::MacroStmt*>(s.get());
    auto ref = std::make_shared<detail::MacroRef>();
    ref->tmpl = t.ast_;
    ref->def = def;
    ref->env = state_;
    state_->globals[def->name] = detail::ValueAccess::Macro(def->name, std::move(ref));
  }
  return Ok();
}

Result<std::string> Environment::Render(const Template& t,
                                        const std::map<std::string, Value>& locals) {
  detail::Context ctx;
  ctx.env = state_;
  ctx.locals = &locals;
  detail::Renderer r(ctx, t.ast_);
  auto root = std::make_shared<detail::Frame>();
  std::string out;
  Status st = r.Exec(t.ast_->body, root, out);
  if (!st) {
    if (ctx.signal == detail::Signal::kReturn) {
      return MakeError(ErrorKind::kInvalidArgument,
                       ctx.return_where + ": return() called outside of a macro");
    }
    return std::unexpected(st.error());
  }
  return out;
}

}  // namespace frazil::transform::jinja
