// The engine's API, dbt's extensions (return(), macros shared between files, objects) and
// its errors. Jinja2-verified rendering of the subset is in jinja_compat_test.cc.
#include "frazil/transform/jinja.h"

#include <gtest/gtest.h>

#include <string>

namespace frazil::transform::jinja {
namespace {

// Renders `src` (named "t.sql") or returns "ERROR: <message>".
std::string R(std::string_view src, const std::map<std::string, Value>& locals = {},
              Environment* env = nullptr) {
  auto t = Template::Parse(src, "t.sql");
  if (!t) return "ERROR: " + t.error().message;
  Environment local_env;
  auto r = (env != nullptr ? env : &local_env)->Render(*t, locals);
  if (!r) return "ERROR: " + r.error().message;
  return *r;
}

// The message of a failed parse or render of `src`, "" if it succeeded.
std::string Err(std::string_view src, const std::map<std::string, Value>& locals = {}) {
  std::string out = R(src, locals);
  return out.starts_with("ERROR: ") ? out.substr(7) : "";
}

Template MustParse(std::string_view src, std::string name) {
  auto t = Template::Parse(src, std::move(name));
  EXPECT_TRUE(t.has_value()) << t.error().message;
  return std::move(*t);
}

Value Relation(const std::string& schema, const std::string& name) {
  return Value::Object(
      {{"schema", Value(schema)}, {"name", Value(name)}, {"identifier", Value(name)}},
      schema + "." + name);
}

// ---- values ----

TEST(JinjaValueTest, RendersLikePython) {
  EXPECT_EQ(Value().ToString(), "");
  EXPECT_EQ(Value::None().ToString(), "None");
  EXPECT_EQ(Value(true).ToString(), "True");
  EXPECT_EQ(Value(int64_t{-7}).ToString(), "-7");
  EXPECT_EQ(Value(1.0).ToString(), "1.0");
  EXPECT_EQ(Value(0.5).ToString(), "0.5");
  EXPECT_EQ(Value(1e16).ToString(), "1e+16");
  EXPECT_EQ(Value("it's").ToString(), "it's");
  EXPECT_EQ(Value("it's").Repr(), "\"it's\"");
  EXPECT_EQ(Value::List({Value("a"), Value(1), Value::None()}).ToString(), "['a', 1, None]");
  EXPECT_EQ(Value::Dict({{"k", Value(std::string("v"))}, {"n", Value::List({})}}).ToString(),
            "{'k': 'v', 'n': []}");
  EXPECT_EQ(Relation("analytics", "orders").ToString(), "analytics.orders");
  EXPECT_EQ(Value::Callable("ref", nullptr).ToString(), "<function ref>");
}

TEST(JinjaValueTest, Truthiness) {
  EXPECT_FALSE(Value().IsTruthy());
  EXPECT_FALSE(Value::None().IsTruthy());
  EXPECT_FALSE(Value(0).IsTruthy());
  EXPECT_FALSE(Value(0.0).IsTruthy());
  EXPECT_FALSE(Value("").IsTruthy());
  EXPECT_FALSE(Value::List({}).IsTruthy());
  EXPECT_FALSE(Value::Dict({}).IsTruthy());
  EXPECT_TRUE(Value(-1).IsTruthy());
  EXPECT_TRUE(Value("0").IsTruthy());
  EXPECT_TRUE(Value::Object({}, "empty object").IsTruthy());
}

TEST(JinjaValueTest, AccessorsAndEquality) {
  Value d = Value::Dict({{"b", Value(1)}, {"a", Value(2)}, {"b", Value(3)}});
  ASSERT_EQ(d.AsDict().size(), 2u);
  EXPECT_EQ(d.AsDict()[0].first, "b");  // first insertion keeps its place
  EXPECT_EQ(d.Get("b").AsInt(), 3);
  EXPECT_TRUE(d.Get("zz").IsUndefined());
  EXPECT_TRUE(Value(3).Get("x").IsUndefined());
  EXPECT_EQ(Value(2).AsDouble(), 2.0);
  EXPECT_EQ(Value("s").AsInt(), 0);
  EXPECT_EQ(Value(1), Value(1.0));
  EXPECT_EQ(Value(true), Value(1));
  EXPECT_FALSE(Value("1") == Value(1));
  EXPECT_EQ(Value::List({Value(1)}), Value::List({Value(1.0)}));
  EXPECT_EQ(Value::Dict({{"a", Value(1)}, {"b", Value(2)}}),
            Value::Dict({{"b", Value(2)}, {"a", Value(1)}}));
  Value o = Relation("s", "t");
  EXPECT_EQ(o.kind(), Value::Kind::kDict);
  EXPECT_TRUE(o.IsObject());
  EXPECT_EQ(o.Get("schema").AsString(), "s");
}

TEST(JinjaValueTest, ListsAreSharedReferences) {
  Value list = Value::List({Value(1)});
  std::string out = R("{% do xs.append(2) %}{{ xs }}", {{"xs", list}});
  EXPECT_EQ(out, "[1, 2]");
  EXPECT_EQ(list.AsList().size(), 2u);  // the caller's value changed too
  // (pop() breaks the reference cycle again, or the list would leak.)
  EXPECT_EQ(R("{% set l = [] %}{% do l.append(l) %}{{ l }}{% do l.pop() %}"), "[[...]]");
}

TEST(JinjaValueTest, CallArgsKwarg) {
  CallArgs args{{Value(1)}, {{"x", Value(2)}}};
  ASSERT_NE(args.Kwarg("x"), nullptr);
  EXPECT_EQ(args.Kwarg("x")->AsInt(), 2);
  EXPECT_EQ(args.Kwarg("y"), nullptr);
}

// ---- environment, globals and host functions ----

TEST(JinjaEnvTest, LocalsLayerOverGlobals) {
  Environment env;
  env.SetGlobal("a", Value("global a"));
  env.SetGlobal("b", Value("global b"));
  EXPECT_EQ(R("{{ a }}, {{ b }}", {{"a", Value("local a")}}, &env), "local a, global b");
  EXPECT_EQ(env.GetGlobal("b").AsString(), "global b");
  EXPECT_TRUE(env.GetGlobal("zz").IsUndefined());
  env.SetGlobal("range", Value("shadowed"));
  EXPECT_EQ(R("{{ range }}", {}, &env), "shadowed");
}

TEST(JinjaEnvTest, HostFunctions) {
  Environment env;
  env.SetGlobal("ref", Value::Callable("ref", [](const CallArgs& args) -> Result<Value> {
                  if (args.positional.size() != 1)
                    return MakeError(ErrorKind::kInvalidArgument, "ref() takes one name");
                  std::string schema = "main";
                  if (const Value* s = args.Kwarg("schema")) schema = s->AsString();
                  return Relation(schema, args.positional[0].AsString());
                }));
  EXPECT_EQ(R("SELECT * FROM {{ ref('orders') }} JOIN {{ ref('users', schema='crm') }}", {}, &env),
            "SELECT * FROM main.orders JOIN crm.users");
  EXPECT_EQ(R("{{ ref('orders').identifier }}/{{ ref('x').schema | upper }}", {}, &env),
            "orders/MAIN");
  EXPECT_EQ(R("\n\n{{ ref() }}", {}, &env), "ERROR: t.sql:3: ref() takes one name");
  EXPECT_EQ(R("{{ ref(missing) }}", {}, &env), "ERROR: t.sql:1: 'missing' is undefined");
}

TEST(JinjaEnvTest, FunctionErrorKeepsItsKind) {
  Environment env;
  env.SetGlobal("fail", Value::Callable("fail", [](const CallArgs&) -> Result<Value> {
                  return MakeError(ErrorKind::kNotFound, "no such model");
                }));
  auto t = MustParse("a\n{% do fail() %}", "m.sql");
  auto r = env.Render(t);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(r.error().message, "m.sql:2: no such model");
}

TEST(JinjaEnvTest, ObjectsExposeAttributesOnly) {
  std::map<std::string, Value> locals{{"this", Relation("analytics", "orders")}};
  EXPECT_EQ(R("{{ this }} {{ this.schema }} {{ this['name'] }}", locals),
            "analytics.orders analytics orders");
  EXPECT_EQ(R("{{ this.database is defined }}", locals), "False");
  EXPECT_EQ(Err("{{ this.database }}", locals), "t.sql:1: 'this' has no attribute 'database'");
  EXPECT_EQ(Err("{{ this.items() }}", locals), "t.sql:1: 'this' has no attribute 'items'");
  EXPECT_EQ(Err("{{ this | tojson }}", locals),
            "t.sql:1: Object of type object is not JSON serializable");
}

// ---- undefined ----

TEST(JinjaUndefinedTest, UsesThatFailNameTheVariable) {
  EXPECT_EQ(Err("{{ foo }}"), "t.sql:1: 'foo' is undefined");
  EXPECT_EQ(Err("{{ foo() }}"), "t.sql:1: 'foo' is undefined");
  EXPECT_EQ(Err("{{ foo + 1 }}"), "t.sql:1: 'foo' is undefined");
  EXPECT_EQ(Err("{{ -foo }}"), "t.sql:1: 'foo' is undefined");
  EXPECT_EQ(Err("{{ 'a' ~ foo }}"), "t.sql:1: 'foo' is undefined");
  EXPECT_EQ(Err("{{ foo < 1 }}"), "t.sql:1: 'foo' is undefined");
  EXPECT_EQ(Err("{{ 1 in foo }}"), "t.sql:1: 'foo' is undefined");
  EXPECT_EQ(Err("{% for x in foo %}{% endfor %}"), "t.sql:1: 'foo' is undefined");
  EXPECT_EQ(Err("{{ foo | upper }}"), "t.sql:1: 'foo' is undefined");
  EXPECT_EQ(Err("{{ 'a' | replace(foo, 'b') }}"), "t.sql:1: 'foo' is undefined");
  EXPECT_EQ(Err("{{ foo.bar.baz }}"), "t.sql:1: 'foo' is undefined");
  EXPECT_EQ(Err("{% set d = {'a': {}} %}{{ d.a.b }}"), "t.sql:1: 'd.a' has no attribute 'b'");
  EXPECT_EQ(Err("{{ [1][3] }}"), "t.sql:1: 'list object' has no element 3");
  EXPECT_EQ(Err("{% set x = foo %}\n{{ x }}"), "t.sql:2: 'foo' is undefined");
}

TEST(JinjaUndefinedTest, AllowedUses) {
  EXPECT_EQ(R("{{ foo is defined }} {{ foo is undefined }} {{ foo | default('d') }} {{ foo.bar is "
              "defined }}"),
            "False True d False");
  EXPECT_EQ(
      R("{% if foo %}T{% else %}F{% endif %} {{ foo or 'x' }} {{ not foo }} {{ foo == foo }}"),
      "F x True True");
  EXPECT_EQ(R("{{ foo['k'] | default(1) }} {{ foo.a.b | d(2) }}"), "1 2");
}

// ---- syntax errors and the subset's limits ----

TEST(JinjaErrorTest, SyntaxErrorsNameFileAndLine) {
  EXPECT_EQ(Err("a\n{{ (1 }}"), "t.sql:2: unexpected '}', expected ')'");
  EXPECT_EQ(Err("{{ 1 + }}"), "t.sql:1: unexpected end of print statement");
  EXPECT_EQ(Err("{{ }}"), "t.sql:1: expected an expression, got end of print statement");
  EXPECT_EQ(Err("a\nb\n{% if x %}\nc"),
            "t.sql:3: 'if' tag is never closed (expected 'elif', 'else' or 'endif')");
  EXPECT_EQ(Err("{% for x in y %}\n{% endif %}"),
            "t.sql:2: unexpected 'endif': the innermost open block is 'for' (line 1), expecting "
            "'endfor' or 'else'");
  EXPECT_EQ(Err("\n{% endif %}"), "t.sql:2: unexpected 'endif'");
  EXPECT_EQ(Err("{% foo %}"), "t.sql:1: unknown tag 'foo'");
  EXPECT_EQ(Err("{{ 'abc }}"), "t.sql:1: unterminated string");
  EXPECT_EQ(Err("x\n{# never closed"), "t.sql:2: unterminated comment");
  EXPECT_EQ(Err("{% raw %} no end"), "t.sql:1: missing end of raw directive ({% endraw %})");
  EXPECT_EQ(Err("{{ 1 @ 2 }}"), "t.sql:1: unexpected char '@'");
  EXPECT_EQ(Err("{{ x | nofilter }}"), "t.sql:1: no filter named 'nofilter'");
  EXPECT_EQ(Err("{{ x is nottest }}"), "t.sql:1: no test named 'nottest'");
  EXPECT_EQ(Err("{% break %}"), "t.sql:1: 'break' outside of a loop");
  EXPECT_EQ(Err("{% for x in y %}{% macro m() %}{% break %}{% endmacro %}{% endfor %}"),
            "t.sql:1: 'break' outside of a loop");
  EXPECT_EQ(Err("{% macro f(a, b=1, c) %}{% endmacro %}"),
            "t.sql:1: non-default argument 'c' follows default argument");
  EXPECT_EQ(Err("{{ f(a=1, 2) }}"), "t.sql:1: positional argument follows keyword argument");
  EXPECT_EQ(Err("{{ f(a=1, a=2) }}"), "t.sql:1: keyword argument repeated: a");
  EXPECT_EQ(Err("{{ 99999999999999999999 }}"),
            "t.sql:1: integer literal out of range: 99999999999999999999");
  EXPECT_EQ(Err("{% set a, b %}x{% endset %}"), "t.sql:1: a block set assigns exactly one name");
}

TEST(JinjaErrorTest, UnsupportedTags) {
  for (const char* tag :
       {"extends", "block", "include", "import", "from", "call", "filter", "with"}) {
    std::string src = std::string("line 1\n{% ") + tag + " 'x' %}";
    EXPECT_EQ(Err(src), std::string("t.sql:2: unsupported tag '") + tag + "'");
  }
  EXPECT_EQ(Err("{% for x in y recursive %}{% endfor %}"),
            "t.sql:1: recursive loops are not supported");
  EXPECT_EQ(Err("{{ f(*args) }}"), "t.sql:1: *args and **kwargs in calls are not supported");
}

TEST(JinjaErrorTest, RuntimeErrors) {
  EXPECT_EQ(Err("a\nb\n{{ 1 / 0 }}"), "t.sql:3: division by zero");
  EXPECT_EQ(Err("{{ 1 // 0 }}"), "t.sql:1: integer division by zero");
  EXPECT_EQ(Err("{{ 1 % 0 }}"), "t.sql:1: integer modulo by zero");
  EXPECT_EQ(Err("{{ 'a' + 1 }}"), "t.sql:1: unsupported operand type(s) for +: 'str' and 'int'");
  EXPECT_EQ(Err("{{ 'a' < 1 }}"),
            "t.sql:1: '<' not supported between instances of 'str' and 'int'");
  EXPECT_EQ(Err("{{ 9223372036854775807 + 1 }}"), "t.sql:1: integer overflow in +");
  EXPECT_EQ(Err("{{ 5() }}"), "t.sql:1: 'int' object is not callable");
  EXPECT_EQ(Err("{% for x in 5 %}{% endfor %}"), "t.sql:1: 'int' object is not iterable");
  EXPECT_EQ(Err("{% for a, b in [1] %}{% endfor %}"),
            "t.sql:1: cannot unpack non-iterable int object");
  EXPECT_EQ(Err("{% set a, b = [1, 2, 3] %}"), "t.sql:1: too many values to unpack (expected 2)");
  EXPECT_EQ(Err("{% set x = 1 %}{% set x.y = 2 %}"),
            "t.sql:1: cannot assign attribute on non-namespace object 'x'");
  EXPECT_EQ(Err("{{ [1] | join(1, 2, 3) }}"),
            "t.sql:1: join() takes at most 2 argument(s) (3 given)");
  EXPECT_EQ(Err("{{ 'x'.nomethod() }}"), "t.sql:1: 'str object' has no attribute 'nomethod'");
  EXPECT_EQ(Err("{{ {1: 2} }}"), "t.sql:1: dict keys must be strings, not 'int'");
  EXPECT_EQ(Err("{{ range(10000000) }}"), "t.sql:1: range() too large (more than 1000000 items)");
  EXPECT_EQ(Err("{{ [].pop() }}"), "t.sql:1: pop from empty list");
  EXPECT_EQ(Err("{{ {}.pop('k') }}"), "t.sql:1: KeyError: 'k'");
  EXPECT_EQ(Err("{{ (1 if 0) + 1 }}"),
            "t.sql:1: the inline if-expression on line 1 evaluated to false and no else section "
            "was defined");
}

TEST(JinjaErrorTest, DeepNestingIsRefusedNotACrash) {
  std::string parens = std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_EQ(Err("{{ " + parens + " }}"), "t.sql:1: expression nested too deeply");
  std::string lists = "{{ " + std::string(5000, '[') + std::string(5000, ']') + " }}";
  EXPECT_EQ(Err(lists), "t.sql:1: expression nested too deeply");
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if 1 %}";
  EXPECT_EQ(Err(ifs).substr(0, 6), "t.sql:");
  EXPECT_NE(Err(ifs).find("nested too deeply"), std::string::npos);
  std::string nots = "{{ " + std::string(3000 * 4, ' ');
  for (int i = 0; i < 3000; ++i) nots.replace(3 + i * 4, 4, "not ");
  EXPECT_EQ(Err(nots + "1 }}"), "t.sql:1: expression nested too deeply");
}

// ---- macros ----

TEST(JinjaMacroTest, ArgumentsAndDefaults) {
  const char* m = "{% macro f(a, b=2, c=none) %}{{ a }}/{{ b }}/{{ c }}{% endmacro %}";
  EXPECT_EQ(R(std::string(m) + "{{ f(1) }} {{ f(1, 3) }} {{ f(c=4, a=5) }}"),
            "1/2/None 1/3/None 5/2/4");
  EXPECT_EQ(R(std::string(m) + "{{ f(b=0) | length }}"), "ERROR: t.sql:1: 'a' is undefined");
  EXPECT_EQ(Err(std::string(m) + "{{ f(1, 2, 3, 4) }}"),
            "t.sql:1: macro 'f' takes not more than 3 argument(s)");
  EXPECT_EQ(Err(std::string(m) + "{{ f(1, d=1) }}"),
            "t.sql:1: macro 'f' takes no keyword argument 'd'");
  EXPECT_EQ(Err(std::string(m) + "{{ f(1, a=1) }}"),
            "t.sql:1: macro 'f' got multiple values for argument 'a'");
  EXPECT_EQ(
      R("{% macro f() %}{{ varargs | length }}{{ kwargs.x }}{% endmacro %}{{ f(1, 2, x=3) }}"),
      "23");
}

TEST(JinjaMacroTest, ErrorsPointIntoTheMacroBody) {
  EXPECT_EQ(Err("{% macro f() %}\n  line 2\n  {{ undefined_thing }}\n{% endmacro %}\n{{ f() }}"),
            "t.sql:3: 'undefined_thing' is undefined");
  Environment env;
  auto macros =
      MustParse("{% macro cents(col) %}\n  ({{ col }} / 100)::{{ kind.missing }}\n{% endmacro %}",
                "macros/cents.sql");
  ASSERT_TRUE(env.AddMacros(macros).has_value());
  EXPECT_EQ(R("select\n{{ cents('amount') }}", {{"kind", Value::Dict({})}}, &env),
            "ERROR: macros/cents.sql:2: 'kind' has no attribute 'missing'");
}

TEST(JinjaMacroTest, SharedMacrosSeeTheRenderContext) {
  Environment env;
  auto macros = MustParse(
      "{% macro is_incremental() %}{{ return(incremental and this is defined) }}{% endmacro %}\n"
      "{% macro qualify(col) %}{{ this.name }}.{{ col }}{% endmacro %}\n"
      "{% macro cols(names) %}{% for n in names %}{{ qualify(n) }}{{ ', ' if not loop.last }}{% "
      "endfor %}{% endmacro %}\n",
      "macros/util.sql");
  EXPECT_EQ(macros.MacroNames(), (std::vector<std::string>{"is_incremental", "qualify", "cols"}));
  ASSERT_TRUE(env.AddMacros(macros).has_value());
  std::string model =
      "select {{ cols(['id', 'amount']) }} from src\n"
      "{% if is_incremental() %}where id > (select max(id) from {{ this }}){% endif %}\n";
  auto t = MustParse(model, "models/orders.sql");
  std::map<std::string, Value> ctx{{"this", Relation("main", "orders")},
                                   {"incremental", Value(true)}};
  EXPECT_EQ(
      env.Render(t, ctx).value_or("failed"),
      "select orders.id, orders.amount from src\nwhere id > (select max(id) from main.orders)\n");
  ctx["incremental"] = Value(false);
  EXPECT_EQ(env.Render(t, ctx).value_or("failed"), "select orders.id, orders.amount from src\n\n");
  // A later definition replaces an earlier one.
  ASSERT_TRUE(env.AddMacros(MustParse("{% macro qualify(col) %}{{ col }}{% endmacro %}", "b.sql"))
                  .has_value());
  EXPECT_EQ(R("{{ cols(['a', 'b']) }}", {}, &env), "a, b");
}

TEST(JinjaMacroTest, ReturnGivesAValue) {
  const char* m =
      "{% macro cols() %}{{ return(['a', 'b']) }}{% endmacro %}"
      "{% macro conf() %}{% do return({'mat': 'table', 'n': 3}) %}{% endmacro %}";
  EXPECT_EQ(R(std::string(m) +
              "{{ cols() | join('|') }} {{ cols()[1] }} {{ conf().mat }} {{ conf().n + 1 }}"),
            "a|b b table 4");
  EXPECT_EQ(R("{% macro n() %}{{ return(none) }}{% endmacro %}{{ n() is none }}"), "True");
  EXPECT_EQ(R("{% macro t() %}{{ return(true) }}{% endmacro %}{% if t() %}yes{% endif %}"), "yes");
}

TEST(JinjaMacroTest, ReturnEndsTheMacro) {
  // Code after return() does not run, also from inside loops and block sets.
  const char* src =
      "{% set seen = [] %}"
      "{% macro find(xs, want) %}"
      "{% for x in xs %}{% do seen.append(x) %}{% if x == want %}{{ return(loop.index) }}{% endif "
      "%}{% endfor %}"
      "{{ return(-1) }}{% do seen.append('never') %}"
      "{% endmacro %}"
      "{{ find([5, 6, 7], 6) }} {{ find([1], 9) }} {{ seen }}";
  EXPECT_EQ(R(src), "2 -1 [5, 6, 1]");
  EXPECT_EQ(
      R("{% macro f() %}{% set x %}{{ return('early') }}{% endset %}late{% endmacro %}{{ f() }}"),
      "early");
  EXPECT_EQ(R("{% macro inner() %}{{ return(1) }}{% endmacro %}"
              "{% macro outer() %}{{ inner() + 1 }}{% endmacro %}{{ outer() }}"),
            "2");
  EXPECT_EQ(Err("a\n{{ return(1) }}"), "t.sql:2: return() called outside of a macro");
  EXPECT_EQ(Err("{% macro f() %}{{ return(1, 2) }}{% endmacro %}{{ f() }}"),
            "t.sql:1: return() takes exactly one argument");
}

TEST(JinjaMacroTest, RecursionDepthIsGuarded) {
  EXPECT_EQ(Err("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
            "t.sql:1: maximum macro call depth (100) exceeded calling 'f'");
  EXPECT_EQ(Err("{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}\n{{ "
                "a() }}"),
            "t.sql:1: maximum macro call depth (100) exceeded calling 'a'");
  // Finite recursion within the limit works; the counter is back at zero afterwards.
  EXPECT_EQ(R("{% macro f(n) %}{% if n > 0 %}{{ return(f(n - 1) + 1) }}{% else %}{{ return(0) }}{% "
              "endif %}"
              "{% endmacro %}{{ f(50) }}"),
            "50");
  EXPECT_EQ(R("{% macro f(n) %}{{ n }}{% endmacro %}{{ f(1) }}"), "1");
}

TEST(JinjaMacroTest, CalledFromTheHost) {
  auto env = std::make_unique<Environment>();
  env->SetGlobal("suffix", Value("_v2"));
  ASSERT_TRUE(
      env->AddMacros(MustParse("{% macro name(base) %}{{ return(base ~ suffix) }}{% endmacro %}"
                               "{% macro text(x) %}<{{ x }}>{% endmacro %}",
                               "m.sql"))
          .has_value());
  Value name = env->GetGlobal("name");
  ASSERT_EQ(name.kind(), Value::Kind::kCallable);
  EXPECT_EQ(name.CallableName(), "name");
  EXPECT_EQ(name.Call(CallArgs{{Value("orders")}, {}}).value_or(Value("failed")).AsString(),
            "orders_v2");
  EXPECT_EQ(
      env->GetGlobal("text").Call(CallArgs{{Value(1)}, {}}).value_or(Value("failed")).AsString(),
      "<1>");
  env.reset();
  auto gone = name.Call(CallArgs{{Value("x")}, {}});
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().message, "macro 'name' outlived the environment it belongs to");
  EXPECT_FALSE(Value(1).Call({}).has_value());
}

// ---- statements with dbt-style SQL ----

TEST(JinjaStatementTest, NamespaceAcrossLoopScopes) {
  const char* src =
      "{% set ns = namespace(found=false, cols=[]) %}"
      "{% for c in columns %}{% if c.pk %}{% set ns.found = true %}{% endif %}{% do "
      "ns.cols.append(c.name) %}{% endfor %}"
      "{{ ns.found }} {{ ns.cols | join(',') }}";
  Value columns = Value::List({Value::Dict({{"name", Value("id")}, {"pk", Value(true)}}),
                               Value::Dict({{"name", Value("amount")}, {"pk", Value(false)}})});
  EXPECT_EQ(R(src, {{"columns", columns}}), "True id,amount");
}

TEST(JinjaStatementTest, DictIterationKeepsInsertionOrder) {
  Value d = Value::Dict({{"zeta", Value(1)}, {"alpha", Value(2)}, {"mid", Value(3)}});
  EXPECT_EQ(R("{% for k, v in d.items() %}{{ k }}={{ v }} {% endfor %}{% for k in d %}{{ k }} {% "
              "endfor %}",
              {{"d", d}}),
            "zeta=1 alpha=2 mid=3 zeta alpha mid ");
  EXPECT_EQ(R("{% set d = {'b': 1, 'a': 2} %}{% do d.update(c=3) %}{{ d.keys() | join }}"), "bac");
}

TEST(JinjaStatementTest, LoopIteratesASnapshot) {
  EXPECT_EQ(
      R("{% set l = [1, 2] %}{% for x in l %}{% do l.append(x) %}{{ x }}{% endfor %} {{ l }}"),
      "12 [1, 2, 1, 2]");
}

TEST(JinjaStatementTest, IncrementalModel) {
  const char* model =
      "{{ config(materialized='incremental', unique_key='id') }}\n"
      "select\n"
      "  {%- for col in cols %}\n"
      "  {{ col }}{% if not loop.last %},{% endif %}\n"
      "  {%- endfor %}\n"
      "from {{ source }}\n"
      "{% if is_incremental %}\n"
      "where updated_at > (select max(updated_at) from {{ this }})\n"
      "{% endif %}\n";
  auto config_seen = std::make_shared<std::map<std::string, std::string>>();
  Environment env;
  env.SetGlobal("config",
                Value::Callable("config", [config_seen](const CallArgs& args) -> Result<Value> {
                  for (const auto& [k, v] : args.kwargs) (*config_seen)[k] = v.ToString();
                  return Value("");
                }));
  std::map<std::string, Value> locals{{"cols", Value::List({Value("id"), Value("amount")})},
                                      {"source", Relation("raw", "orders")},
                                      {"this", Relation("analytics", "orders")},
                                      {"is_incremental", Value(true)}};
  EXPECT_EQ(R(model, locals, &env),
            "\nselect\n  id,\n  amount\nfrom raw.orders\n\nwhere updated_at > (select "
            "max(updated_at) from "
            "analytics.orders)\n\n");
  EXPECT_EQ(*config_seen, (std::map<std::string, std::string>{{"materialized", "incremental"},
                                                              {"unique_key", "id"}}));
  locals["is_incremental"] = Value(false);
  EXPECT_EQ(R(model, locals, &env), "\nselect\n  id,\n  amount\nfrom raw.orders\n\n");
}

TEST(JinjaStatementTest, TrailingNewlineIsKept) {
  EXPECT_EQ(R("select 1\n"), "select 1\n");
  EXPECT_EQ(R("select 1\n\n"), "select 1\n\n");
  EXPECT_EQ(R(""), "");
}

TEST(JinjaTemplateTest, NameAndMacroNames) {
  auto t = MustParse(
      "{% macro a() %}{% macro nested() %}{% endmacro %}{% endmacro %}"
      "{% if 1 %}{% macro hidden() %}{% endmacro %}{% endif %}{% macro b(x) %}{% endmacro %}",
      "macros/x.sql");
  EXPECT_EQ(t.name(), "macros/x.sql");
  EXPECT_EQ(t.MacroNames(), (std::vector<std::string>{"a", "b"}));
  Template copy = t;  // cheap copies share the AST
  EXPECT_EQ(copy.MacroNames().size(), 2u);
}

}  // namespace
}  // namespace frazil::transform::jinja
