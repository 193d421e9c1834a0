// The parser: tokens to an AST, following the grammar (and precedence) of Jinja2's parser.py.
// Everything outside the subset fails here, so that a template that parses only fails at
// render time for reasons of data (undefined names, types).
#include <algorithm>
#include <initializer_list>

#include "frazil/transform/jinja_internal.h"

namespace frazil::transform::jinja {
namespace detail {
namespace {

// Deeper nesting than this (of blocks or of expressions) is refused rather than risking the
// stack: no real template comes near it.
constexpr int kMaxNesting = 150;

constexpr std::string_view kUnsupportedTags[] = {"call",       "filter",
                                                 "extends",    "block",
                                                 "include",    "import",
                                                 "from",       "with",
                                                 "autoescape", "trans",
                                                 "pluralize",  "materialization",
                                                 "test",       "docs",
                                                 "snapshot",   "endcall",
                                                 "endfilter",  "endblock",
                                                 "endwith",    "endautoescape",
                                                 "endtrans",   "endmaterialization",
                                                 "endtest",    "enddocs",
                                                 "endsnapshot"};

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& name)
      : toks_(std::move(tokens)), name_(name) {}

  Result<Body> ParseAll() {
    FRZ_ASSIGN_OR_RETURN(Body body, Subparse({}, "", 0));
    if (Cur().type != Tok::kEof) return Fail(Cur().line, "unexpected " + Describe(Cur()));
    return body;
  }

 private:
  struct OpenBlock {
    std::string tag;
    int line;
    std::vector<std::string_view> ends;
  };

  // Counts nesting depth for the lifetime of a parse function.
  class DepthGuard {
   public:
    explicit DepthGuard(int& depth) : depth_(depth) { ++depth_; }
    ~DepthGuard() { --depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;
    bool TooDeep() const { return depth_ > kMaxNesting; }

   private:
    int& depth_;
  };

  const Token& Cur() const { return toks_[i_]; }
  const Token& Look() const { return toks_[std::min(i_ + 1, toks_.size() - 1)]; }
  void Next() {
    if (i_ + 1 < toks_.size()) ++i_;
  }
  bool IsOp(std::string_view op) const { return Cur().type == Tok::kOp && Cur().text == op; }
  bool IsName(std::string_view n) const { return Cur().type == Tok::kName && Cur().text == n; }
  bool SkipOp(std::string_view op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(std::string_view n) {
    if (!IsName(n)) return false;
    Next();
    return true;
  }

  std::unexpected<Error> Fail(int line, const std::string& what) const {
    return MakeError(ErrorKind::kInvalidArgument, name_ + ":" + std::to_string(line) + ": " + what);
  }

  static std::string Describe(const Token& t) {
    switch (t.type) {
      case Tok::kData:
        return "template data";
      case Tok::kVarBegin:
        return "'{{'";
      case Tok::kVarEnd:
        return "end of print statement";
      case Tok::kBlockBegin:
        return "'{%'";
      case Tok::kBlockEnd:
        return "end of statement block";
      case Tok::kName:
        return "'" + t.text + "'";
      case Tok::kString:
        return "string";
      case Tok::kInt:
      case Tok::kFloat:
        return "number";
      case Tok::kOp:
        return "'" + t.text + "'";
      case Tok::kEof:
        return "end of template";
    }
    return "token";
  }

  Status ExpectOp(std::string_view op) {
    if (SkipOp(op)) return Ok();
    return Fail(Cur().line, "expected '" + std::string(op) + "', got " + Describe(Cur()));
  }
  Result<std::string> ExpectName() {
    if (Cur().type != Tok::kName)
      return Fail(Cur().line, "expected a name, got " + Describe(Cur()));
    std::string n = Cur().text;
    Next();
    return n;
  }
  Status ExpectBlockEnd() {
    if (Cur().type == Tok::kBlockEnd) {
      Next();
      return Ok();
    }
    return Fail(Cur().line, "expected end of statement block, got " + Describe(Cur()));
  }

  static std::string JoinEnds(const std::vector<std::string_view>& ends) {
    std::string out;
    for (size_t i = 0; i < ends.size(); ++i) {
      if (i > 0) out += i + 1 == ends.size() ? " or " : ", ";
      out += "'" + std::string(ends[i]) + "'";
    }
    return out;
  }

  // Parses template text and tags up to a {% tag %} named in `ends` and leaves the stream at
  // that name. `tag`/`line`: the block being parsed, for the error when it is never closed.
  Result<Body> Subparse(std::initializer_list<std::string_view> ends, std::string_view tag,
                        int line) {
    DepthGuard guard(depth_);
    if (guard.TooDeep()) return Fail(line, "blocks nested too deeply");
    if (ends.size() > 0) open_.push_back(OpenBlock{std::string(tag), line, ends});
    Body body;
    while (true) {
      const Token& t = Cur();
      if (t.type == Tok::kData) {
        body.push_back(std::make_unique<TextStmt>(t.line, t.text));
        Next();
      } else if (t.type == Tok::kVarBegin) {
        Next();
        FRZ_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple(true, {}, false));
        if (Cur().type != Tok::kVarEnd) {
          return Fail(Cur().line, "expected end of print statement, got " + Describe(Cur()));
        }
        Next();
        body.push_back(std::make_unique<OutputStmt>(t.line, std::move(e)));
      } else if (t.type == Tok::kBlockBegin) {
        Next();
        if (Cur().type == Tok::kName &&
            std::find(ends.begin(), ends.end(), Cur().text) != ends.end()) {
          open_.pop_back();
          return body;
        }
        FRZ_ASSIGN_OR_RETURN(StmtPtr s, ParseStatement());
        body.push_back(std::move(s));
      } else if (t.type == Tok::kEof) {
        if (ends.size() == 0) return body;
        return Fail(line, "'" + std::string(tag) + "' tag is never closed (expected " +
                              JoinEnds(open_.back().ends) + ")");
      } else {
        return Fail(t.line, "unexpected " + Describe(t));
      }
    }
  }

  Result<StmtPtr> ParseStatement() {
    if (Cur().type != Tok::kName)
      return Fail(Cur().line, "expected a tag name, got " + Describe(Cur()));
    const std::string tag = Cur().text;
    int line = Cur().line;
    if (tag == "if") return ParseIf();
    if (tag == "for") return ParseFor();
    if (tag == "set") return ParseSet();
    if (tag == "macro") return ParseMacro();
    if (tag == "do") {
      Next();
      FRZ_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple(true, {}, false));
      FRZ_RETURN_IF_ERROR(ExpectBlockEnd());
      return std::make_unique<DoStmt>(line, std::move(e));
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) return Fail(line, "'" + tag + "' outside of a loop");
      Next();
      FRZ_RETURN_IF_ERROR(ExpectBlockEnd());
      return std::make_unique<Stmt>(tag == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue,
                                    line);
    }
    if (std::find(std::begin(kUnsupportedTags), std::end(kUnsupportedTags), tag) !=
        std::end(kUnsupportedTags)) {
      return Fail(line, "unsupported tag '" + tag + "'");
    }
    if (tag.starts_with("end") || tag == "elif" || tag == "else") {
      if (open_.empty()) return Fail(line, "unexpected '" + tag + "'");
      const OpenBlock& b = open_.back();
      return Fail(line, "unexpected '" + tag + "': the innermost open block is '" + b.tag +
                            "' (line " + std::to_string(b.line) + "), expecting " +
                            JoinEnds(b.ends));
    }
    return Fail(line, "unknown tag '" + tag + "'");
  }

  // After Subparse stopped at an end tag: consumes `{% endx %}`.
  Status CloseBlock() {
    Next();
    return ExpectBlockEnd();
  }

  Result<StmtPtr> ParseIf() {
    auto node = std::make_unique<IfStmt>(Cur().line);
    Next();
    FRZ_ASSIGN_OR_RETURN(ExprPtr cond, ParseTuple(false, {}, false));
    FRZ_RETURN_IF_ERROR(ExpectBlockEnd());
    while (true) {
      FRZ_ASSIGN_OR_RETURN(Body body, Subparse({"elif", "else", "endif"}, "if", node->line));
      node->branches.emplace_back(std::move(cond), std::move(body));
      if (SkipName("elif")) {
        FRZ_ASSIGN_OR_RETURN(cond, ParseTuple(false, {}, false));
        FRZ_RETURN_IF_ERROR(ExpectBlockEnd());
        continue;
      }
      if (SkipName("else")) {
        FRZ_RETURN_IF_ERROR(ExpectBlockEnd());
        FRZ_ASSIGN_OR_RETURN(node->otherwise, Subparse({"endif"}, "if", node->line));
      }
      FRZ_RETURN_IF_ERROR(CloseBlock());
      return node;
    }
  }

  // `a` or `a, b` or `(a, b)`: the names a for loop or a set assigns.
  Result<std::vector<std::string>> ParseTargetNames(std::string_view stop) {
    bool parens = SkipOp("(");
    std::vector<std::string> names;
    while (true) {
      FRZ_ASSIGN_OR_RETURN(std::string n, ExpectName());
      if (std::find(names.begin(), names.end(), n) != names.end()) {
        return Fail(Cur().line, "name '" + n + "' assigned twice");
      }
      names.push_back(std::move(n));
      if (!SkipOp(",")) break;
      if ((parens && IsOp(")")) || IsName(stop)) break;
    }
    if (parens) FRZ_RETURN_IF_ERROR(ExpectOp(")"));
    return names;
  }

  Result<StmtPtr> ParseFor() {
    auto node = std::make_unique<ForStmt>(Cur().line);
    Next();
    FRZ_ASSIGN_OR_RETURN(node->targets, ParseTargetNames("in"));
    if (!SkipName("in")) return Fail(Cur().line, "expected 'in', got " + Describe(Cur()));
    FRZ_ASSIGN_OR_RETURN(node->iter, ParseTuple(false, {"recursive"}, false));
    if (SkipName("if")) {
      FRZ_ASSIGN_OR_RETURN(node->filter, ParseExpression(true));
    }
    if (IsName("recursive")) return Fail(Cur().line, "recursive loops are not supported");
    FRZ_RETURN_IF_ERROR(ExpectBlockEnd());
    ++loop_depth_;
    auto body = Subparse({"endfor", "else"}, "for", node->line);
    --loop_depth_;
    if (!body) return std::unexpected(body.error());
    node->body = std::move(*body);
    if (SkipName("else")) {
      FRZ_RETURN_IF_ERROR(ExpectBlockEnd());
      FRZ_ASSIGN_OR_RETURN(node->otherwise, Subparse({"endfor"}, "for", node->line));
    }
    FRZ_RETURN_IF_ERROR(CloseBlock());
    return node;
  }

  Result<StmtPtr> ParseSet() {
    int line = Cur().line;
    Next();
    if (Cur().type == Tok::kName && Look().type == Tok::kOp && Look().text == ".") {
      auto node = std::make_unique<SetStmt>(line);
      node->targets.push_back(Cur().text);
      Next();
      Next();
      FRZ_ASSIGN_OR_RETURN(node->attr, ExpectName());
      FRZ_RETURN_IF_ERROR(ExpectOp("="));
      FRZ_ASSIGN_OR_RETURN(node->value, ParseTuple(true, {}, false));
      FRZ_RETURN_IF_ERROR(ExpectBlockEnd());
      return node;
    }
    FRZ_ASSIGN_OR_RETURN(std::vector<std::string> targets, ParseTargetNames(""));
    if (SkipOp("=")) {
      auto node = std::make_unique<SetStmt>(line);
      node->targets = std::move(targets);
      FRZ_ASSIGN_OR_RETURN(node->value, ParseTuple(true, {}, false));
      FRZ_RETURN_IF_ERROR(ExpectBlockEnd());
      return node;
    }
    if (targets.size() != 1) return Fail(line, "a block set assigns exactly one name");
    auto node = std::make_unique<SetBlockStmt>(line);
    node->target = targets[0];
    while (IsOp("|")) {
      FRZ_ASSIGN_OR_RETURN(ExprPtr f, ParseFilter(nullptr));
      node->filters.emplace_back(static_cast<FilterExpr*>(f.release()));
    }
    FRZ_RETURN_IF_ERROR(ExpectBlockEnd());
    FRZ_ASSIGN_OR_RETURN(node->body, Subparse({"endset"}, "set", line));
    FRZ_RETURN_IF_ERROR(CloseBlock());
    return node;
  }

  Result<StmtPtr> ParseMacro() {
    auto node = std::make_unique<MacroStmt>(Cur().line);
    Next();
    FRZ_ASSIGN_OR_RETURN(node->name, ExpectName());
    FRZ_RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      if (!node->params.empty()) {
        FRZ_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp(")")) break;
      }
      int pline = Cur().line;
      FRZ_ASSIGN_OR_RETURN(std::string p, ExpectName());
      for (const auto& [existing, unused] : node->params) {
        if (existing == p)
          return Fail(pline, "duplicate argument '" + p + "' in macro '" + node->name + "'");
      }
      ExprPtr def;
      if (SkipOp("=")) {
        FRZ_ASSIGN_OR_RETURN(def, ParseExpression(true));
      } else if (!node->params.empty() && node->params.back().second) {
        return Fail(pline, "non-default argument '" + p + "' follows default argument");
      }
      node->params.emplace_back(std::move(p), std::move(def));
    }
    Next();
    FRZ_RETURN_IF_ERROR(ExpectBlockEnd());
    macros_.push_back(node.get());
    int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;  // a macro body is not inside the loop around its definition
    auto body = Subparse({"endmacro"}, "macro", node->line);
    loop_depth_ = saved_loop_depth;
    macros_.pop_back();
    if (!body) return std::unexpected(body.error());
    node->body = std::move(*body);
    FRZ_RETURN_IF_ERROR(CloseBlock());
    return node;
  }

  // ---- expressions ----

  bool IsTupleEnd(std::initializer_list<std::string_view> extra_ends) const {
    const Token& t = Cur();
    if (t.type == Tok::kVarEnd || t.type == Tok::kBlockEnd || IsOp(")")) return true;
    return t.type == Tok::kName &&
           std::find(extra_ends.begin(), extra_ends.end(), t.text) != extra_ends.end();
  }

  // An expression, or several separated by commas (a tuple).
  Result<ExprPtr> ParseTuple(bool with_condexpr, std::initializer_list<std::string_view> extra_ends,
                             bool explicit_parens) {
    int line = Cur().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) FRZ_RETURN_IF_ERROR(ExpectOp(","));
      if (IsTupleEnd(extra_ends)) break;
      FRZ_ASSIGN_OR_RETURN(ExprPtr e, ParseExpression(with_condexpr));
      items.push_back(std::move(e));
      if (!IsOp(",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens)
        return Fail(Cur().line, "expected an expression, got " + Describe(Cur()));
    }
    auto t = std::make_unique<ListExpr>(Expr::Kind::kTuple, line);
    t->items = std::move(items);
    return t;
  }

  Result<ExprPtr> ParseExpression(bool with_condexpr) {
    DepthGuard guard(depth_);
    if (guard.TooDeep()) return Fail(Cur().line, "expression nested too deeply");
    if (!with_condexpr) return ParseOr();
    int line = Cur().line;
    FRZ_ASSIGN_OR_RETURN(ExprPtr e, ParseOr());
    while (SkipName("if")) {
      auto c = std::make_unique<CondExpr>(line);
      c->then = std::move(e);
      FRZ_ASSIGN_OR_RETURN(c->test, ParseOr());
      if (SkipName("else")) {
        FRZ_ASSIGN_OR_RETURN(c->otherwise, ParseExpression(true));
      }
      e = std::move(c);
      line = Cur().line;
    }
    return e;
  }

  Result<ExprPtr> ParseOr() {
    FRZ_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    while (IsName("or")) {
      int line = Cur().line;
      Next();
      FRZ_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
      left = std::make_unique<BinaryExpr>(line, "or", std::move(left), std::move(right));
    }
    return left;
  }

  Result<ExprPtr> ParseAnd() {
    FRZ_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    while (IsName("and")) {
      int line = Cur().line;
      Next();
      FRZ_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
      left = std::make_unique<BinaryExpr>(line, "and", std::move(left), std::move(right));
    }
    return left;
  }

  Result<ExprPtr> ParseNot() {
    if (IsName("not")) {
      DepthGuard guard(depth_);
      if (guard.TooDeep()) return Fail(Cur().line, "expression nested too deeply");
      int line = Cur().line;
      Next();
      FRZ_ASSIGN_OR_RETURN(ExprPtr e, ParseNot());
      return std::make_unique<UnaryExpr>(line, "not", std::move(e));
    }
    return ParseCompare();
  }

  Result<ExprPtr> ParseCompare() {
    int line = Cur().line;
    FRZ_ASSIGN_OR_RETURN(ExprPtr first, ParseMath1());
    std::unique_ptr<CompareExpr> cmp;
    while (true) {
      std::string op;
      if (Cur().type == Tok::kOp &&
          (Cur().text == "==" || Cur().text == "!=" || Cur().text == "<" || Cur().text == "<=" ||
           Cur().text == ">" || Cur().text == ">=")) {
        op = Cur().text;
        Next();
      } else if (IsName("in")) {
        op = "in";
        Next();
      } else if (IsName("not") && Look().type == Tok::kName && Look().text == "in") {
        op = "notin";
        Next();
        Next();
      } else {
        break;
      }
      if (!cmp) {
        cmp = std::make_unique<CompareExpr>(line);
        cmp->first = std::move(first);
      }
      FRZ_ASSIGN_OR_RETURN(ExprPtr e, ParseMath1());
      cmp->rest.emplace_back(std::move(op), std::move(e));
    }
    if (cmp) return cmp;
    return first;
  }

  // Left-associative binary operators over `operand`.
  template <typename F>
  Result<ExprPtr> ParseBinary(std::initializer_list<std::string_view> ops, F operand) {
    FRZ_ASSIGN_OR_RETURN(ExprPtr left, operand());
    while (Cur().type == Tok::kOp && std::find(ops.begin(), ops.end(), Cur().text) != ops.end()) {
      std::string op = Cur().text;
      int line = Cur().line;
      Next();
      FRZ_ASSIGN_OR_RETURN(ExprPtr right, operand());
      left = std::make_unique<BinaryExpr>(line, op, std::move(left), std::move(right));
    }
    return left;
  }

  Result<ExprPtr> ParseMath1() {
    return ParseBinary({"+", "-"}, [this] { return ParseConcat(); });
  }
  Result<ExprPtr> ParseConcat() {
    return ParseBinary({"~"}, [this] { return ParseMath2(); });
  }
  Result<ExprPtr> ParseMath2() {
    return ParseBinary({"*", "/", "//", "%"}, [this] { return ParsePow(); });
  }
  Result<ExprPtr> ParsePow() {
    return ParseBinary({"**"}, [this] { return ParseUnary(true); });
  }

  Result<ExprPtr> ParseUnary(bool with_filter) {
    DepthGuard guard(depth_);
    if (guard.TooDeep()) return Fail(Cur().line, "expression nested too deeply");
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      std::string op = Cur().text;
      int line = Cur().line;
      Next();
      FRZ_ASSIGN_OR_RETURN(ExprPtr e, ParseUnary(false));
      node = std::make_unique<UnaryExpr>(line, op, std::move(e));
    } else {
      FRZ_ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    FRZ_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
    if (with_filter) {
      FRZ_ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
    }
    return node;
  }

  Result<ExprPtr> ParsePrimary() {
    const Token& t = Cur();
    int line = t.line;
    switch (t.type) {
      case Tok::kName: {
        ExprPtr e;
        if (t.text == "true" || t.text == "True") {
          e = std::make_unique<ConstExpr>(line, Value(true));
        } else if (t.text == "false" || t.text == "False") {
          e = std::make_unique<ConstExpr>(line, Value(false));
        } else if (t.text == "none" || t.text == "None") {
          e = std::make_unique<ConstExpr>(line, Value::None());
        } else {
          if (!macros_.empty() && t.text == "varargs") macros_.back()->uses_varargs = true;
          if (!macros_.empty() && t.text == "kwargs") macros_.back()->uses_kwargs = true;
          e = std::make_unique<NameExpr>(line, t.text);
        }
        Next();
        return e;
      }
      case Tok::kString: {
        std::string s;
        while (Cur().type == Tok::kString) {  // 'a' 'b' is 'ab', as in Python
          s += Cur().text;
          Next();
        }
        return std::make_unique<ConstExpr>(line, Value(std::move(s)));
      }
      case Tok::kInt: {
        Value v(t.int_value);
        Next();
        return std::make_unique<ConstExpr>(line, std::move(v));
      }
      case Tok::kFloat: {
        Value v(t.float_value);
        Next();
        return std::make_unique<ConstExpr>(line, std::move(v));
      }
      case Tok::kOp:
        if (t.text == "(") {
          Next();
          FRZ_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple(true, {}, true));
          FRZ_RETURN_IF_ERROR(ExpectOp(")"));
          return e;
        }
        if (t.text == "[") {
          Next();
          auto list = std::make_unique<ListExpr>(Expr::Kind::kList, line);
          while (!IsOp("]")) {
            if (!list->items.empty()) {
              FRZ_RETURN_IF_ERROR(ExpectOp(","));
              if (IsOp("]")) break;
            }
            FRZ_ASSIGN_OR_RETURN(ExprPtr e, ParseExpression(true));
            list->items.push_back(std::move(e));
          }
          Next();
          return list;
        }
        if (t.text == "{") {
          Next();
          auto dict = std::make_unique<DictExpr>(line);
          while (!IsOp("}")) {
            if (!dict->items.empty()) {
              FRZ_RETURN_IF_ERROR(ExpectOp(","));
              if (IsOp("}")) break;
            }
            FRZ_ASSIGN_OR_RETURN(ExprPtr k, ParseExpression(true));
            FRZ_RETURN_IF_ERROR(ExpectOp(":"));
            FRZ_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression(true));
            dict->items.emplace_back(std::move(k), std::move(v));
          }
          Next();
          return dict;
        }
        break;
      default:
        break;
    }
    return Fail(line, "unexpected " + Describe(t));
  }

  Result<ExprPtr> ParsePostfix(ExprPtr node) {
    while (true) {
      int line = Cur().line;
      if (SkipOp(".")) {
        if (Cur().type == Tok::kName) {
          node = std::make_unique<GetattrExpr>(line, std::move(node), Cur().text);
        } else if (Cur().type == Tok::kInt) {
          node = std::make_unique<GetitemExpr>(
              line, std::move(node), std::make_unique<ConstExpr>(line, Value(Cur().int_value)));
        } else {
          return Fail(line, "expected a name or number after '.', got " + Describe(Cur()));
        }
        Next();
      } else if (SkipOp("[")) {
        FRZ_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node), line));
        FRZ_RETURN_IF_ERROR(ExpectOp("]"));
      } else if (IsOp("(")) {
        FRZ_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  // After `[`: an index or a slice start:stop:step.
  Result<ExprPtr> ParseSubscript(ExprPtr object, int line) {
    ExprPtr first;
    if (!IsOp(":")) {
      FRZ_ASSIGN_OR_RETURN(first, ParseExpression(true));
      if (!IsOp(":")) {
        if (IsOp(",")) return Fail(Cur().line, "tuple subscripts are not supported");
        return std::make_unique<GetitemExpr>(line, std::move(object), std::move(first));
      }
    }
    auto slice = std::make_unique<SliceExpr>(line);
    slice->object = std::move(object);
    slice->start = std::move(first);
    Next();  // the first ':'
    if (!IsOp(":") && !IsOp("]")) {
      FRZ_ASSIGN_OR_RETURN(slice->stop, ParseExpression(true));
    }
    if (SkipOp(":") && !IsOp("]")) {
      FRZ_ASSIGN_OR_RETURN(slice->step, ParseExpression(true));
    }
    return slice;
  }

  Result<ArgList> ParseCallArgs() {
    ArgList args;
    FRZ_RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      if (!args.positional.empty() || !args.kwargs.empty()) {
        FRZ_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp(")")) break;
      }
      if (IsOp("*") || IsOp("**"))
        return Fail(Cur().line, "*args and **kwargs in calls are not supported");
      if (Cur().type == Tok::kName && Look().type == Tok::kOp && Look().text == "=") {
        std::string key = Cur().text;
        int line = Cur().line;
        Next();
        Next();
        for (const auto& [k, unused] : args.kwargs) {
          if (k == key) return Fail(line, "keyword argument repeated: " + key);
        }
        FRZ_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression(true));
        args.kwargs.emplace_back(std::move(key), std::move(v));
      } else {
        if (!args.kwargs.empty())
          return Fail(Cur().line, "positional argument follows keyword argument");
        FRZ_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression(true));
        args.positional.push_back(std::move(v));
      }
    }
    Next();
    return args;
  }

  Result<ExprPtr> ParseCall(ExprPtr callee) {
    auto call = std::make_unique<CallExpr>(Cur().line);
    call->callee = std::move(callee);
    FRZ_ASSIGN_OR_RETURN(call->args, ParseCallArgs());
    return call;
  }

  Result<ExprPtr> ParseFilterExpr(ExprPtr node) {
    while (true) {
      if (IsOp("|")) {
        FRZ_ASSIGN_OR_RETURN(node, ParseFilter(std::move(node)));
      } else if (IsName("is")) {
        FRZ_ASSIGN_OR_RETURN(node, ParseTest(std::move(node)));
      } else if (IsOp("(")) {
        FRZ_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  // At `|`: `| name` or `| name(args)`. `input` is null for a filtered block set.
  Result<ExprPtr> ParseFilter(ExprPtr input) {
    Next();
    auto f = std::make_unique<FilterExpr>(Cur().line);
    f->input = std::move(input);
    FRZ_ASSIGN_OR_RETURN(f->name, ExpectName());
    if (!IsFilter(f->name)) return Fail(f->line, "no filter named '" + f->name + "'");
    if (IsOp("(")) {
      FRZ_ASSIGN_OR_RETURN(f->args, ParseCallArgs());
    }
    return f;
  }

  // At `is`: `is [not] name`, `is name(args)` or `is name arg`.
  Result<ExprPtr> ParseTest(ExprPtr input) {
    auto t = std::make_unique<TestExpr>(Cur().line);
    Next();
    t->input = std::move(input);
    t->negated = SkipName("not");
    FRZ_ASSIGN_OR_RETURN(t->name, ExpectName());
    if (!IsTest(t->name)) return Fail(t->line, "no test named '" + t->name + "'");
    const Token& c = Cur();
    if (IsOp("(")) {
      FRZ_ASSIGN_OR_RETURN(t->args, ParseCallArgs());
    } else if ((c.type == Tok::kName || c.type == Tok::kString || c.type == Tok::kInt ||
                c.type == Tok::kFloat || IsOp("[") || IsOp("{")) &&
               !IsName("else") && !IsName("or") && !IsName("and")) {
      if (IsName("is")) return Fail(c.line, "you cannot chain multiple tests with 'is'");
      FRZ_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
      FRZ_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
      t->args.positional.push_back(std::move(arg));
    }
    return t;
  }

  std::vector<Token> toks_;
  size_t i_ = 0;
  const std::string& name_;
  std::vector<OpenBlock> open_;
  std::vector<MacroStmt*> macros_;  // the macros being parsed, innermost last
  int loop_depth_ = 0;
  int depth_ = 0;
};

}  // namespace

Result<std::shared_ptr<TemplateAst>> ParseTemplate(std::string_view source, std::string name) {
  auto ast = std::make_shared<TemplateAst>();
  ast->name = std::move(name);
  FRZ_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(source, ast->name));
  FRZ_ASSIGN_OR_RETURN(ast->body, Parser(std::move(tokens), ast->name).ParseAll());
  return ast;
}

}  // namespace detail

Result<Template> Template::Parse(std::string_view source, std::string name) {
  FRZ_ASSIGN_OR_RETURN(std::shared_ptr<detail::TemplateAst> ast,
                       detail::ParseTemplate(source, std::move(name)));
  return Template(std::move(ast));
}

const std::string& Template::name() const { return ast_->name; }

std::vector<std::string> Template::MacroNames() const {
  std::vector<std::string> names;
  for (const auto& s : ast_->body) {
    if (s->kind == detail::Stmt::Kind::kMacro) {
      names.push_back(static_cast<const detail::MacroStmt*>(s.get())->name);
    }
  }
  return names;
}

}  // namespace frazil::transform::jinja
