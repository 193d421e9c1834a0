#include "frazil/transform/compiler.h"

#include <algorithm>
#include <deque>
#include <functional>

#include "frazil/base/log.h"
#include "frazil/engine/duckdb.h"

namespace frazil::transform {

using jinja::CallArgs;
using jinja::Value;

std::string TrimSql(std::string sql) {
  while (!sql.empty() && (std::isspace(static_cast<unsigned char>(sql.back())) || sql.back() == ';')) sql.pop_back();
  return sql;
}

struct Compiler::RenderState {
  bool execute = false;  // compile (true) or parse (false)
  Adapter* adapter = nullptr;
  Node* parsing = nullptr;  // parse pass: the node whose config and dependencies are recorded
  const Node* model = nullptr;  // the model being compiled (whose commit records the reads)
  const Node* rendering = nullptr;  // the node whose template is being rendered (`this`)
  RelationState target;     // compile: the target's state
  bool incremental = false;
  bool for_view = false;    // compiling a stored view: relations by name, unpinned
  std::map<catalog::TableIdentifier, std::optional<int64_t>> pins;
  std::set<std::string> inlining;  // ephemeral/view nodes being inlined (cycle guard)
};

namespace {

const Value* Arg(const CallArgs& a, size_t i, std::string_view kw) {
  if (const Value* v = a.Kwarg(kw)) return v;
  return i < a.positional.size() ? &a.positional[i] : nullptr;
}

Result<std::string> StringArg(const CallArgs& a, size_t i, std::string_view kw, std::string_view fn) {
  const Value* v = Arg(a, i, kw);
  if (v == nullptr || v->kind() != Value::Kind::kString) {
    return MakeError(ErrorKind::kInvalidArgument, std::string(fn) + "() expects a string argument '" + std::string(kw) + "'");
  }
  return v->AsString();
}

std::string Quoted(const catalog::TableIdentifier& id) {
  std::string out;
  for (const auto& n : id.ns) out += engine::QuoteIdentifier(n) + ".";
  return out + engine::QuoteIdentifier(id.name);
}

Value RelationValue(const Node& n, std::string display) {
  std::string schema = catalog::NamespaceToString(n.table.ns);
  return Value::Object({{"database", Value("frazil")},
                        {"schema", Value(schema)},
                        {"name", Value(n.table.name)},
                        {"identifier", Value(n.table.name)},
                        {"table", Value(n.table.name)},
                        {"is_table", Value(true)},
                        {"_frazil_node", Value(n.key)}},
                       std::move(display));
}

}  // namespace

catalog::TableIdentifier Compiler::TableOf(const std::string& schema, const std::string& name) const {
  auto id = catalog::TableIdentifier::Parse(schema + "." + name);
  if (id) return *id;
  catalog::TableIdentifier raw;
  raw.ns = {schema};
  raw.name = name;
  return raw;
}

Result<Compiler> Compiler::Make(const Project& project, CompileOptions options) {
  Compiler c;
  c.project_ = &project;
  c.options_ = std::move(options);
  c.env_ = std::make_unique<jinja::Environment>();
  for (const auto& m : project.macros) FRZ_RETURN_IF_ERROR(c.env_->AddMacros(*m));
  FRZ_RETURN_IF_ERROR(c.Parse());
  return c;
}

void Compiler::InstallGlobals(const Node* node, RenderState& st) {
  auto& env = *env_;
  RenderState* s = &st;
  auto lookup_ref = [this](const CallArgs& a) -> Result<const Node*> {
    // ref('name'), ref('package', 'name'), ref('name', v=1)
    std::string name;
    if (a.positional.size() >= 2 && a.positional[1].kind() == Value::Kind::kString) {
      name = a.positional[1].AsString();
    } else {
      FRZ_ASSIGN_OR_RETURN(name, StringArg(a, 0, "name", "ref"));
    }
    for (const char* prefix : {"model.", "seed."}) {
      auto it = nodes_.find(prefix + name);
      if (it != nodes_.end()) return &it->second;
    }
    return MakeError(ErrorKind::kInvalidArgument, "ref('" + name + "'): no model or seed named '" + name + "'");
  };
  auto relation = [this, s](const Node& target, bool only_new) -> Result<Value> {
    if (s->parsing != nullptr) {
      auto& deps = s->parsing->depends_on;
      if (std::find(deps.begin(), deps.end(), target.key) == deps.end()) deps.push_back(target.key);
    }
    if (!s->execute) return RelationValue(target, Quoted(target.table));
    FRZ_ASSIGN_OR_RETURN(std::string sql, RelationSql(target, *s, only_new));
    return RelationValue(target, sql);
  };
  env.SetGlobal("ref", Value::Callable("ref", [lookup_ref, relation](const CallArgs& a) -> Result<Value> {
    FRZ_ASSIGN_OR_RETURN(const Node* n, lookup_ref(a));
    return relation(*n, false);
  }));
  env.SetGlobal("source", Value::Callable("source", [this, relation](const CallArgs& a) -> Result<Value> {
    FRZ_ASSIGN_OR_RETURN(std::string src, StringArg(a, 0, "source_name", "source"));
    FRZ_ASSIGN_OR_RETURN(std::string table, StringArg(a, 1, "table_name", "source"));
    auto it = nodes_.find("source." + src + "." + table);
    if (it == nodes_.end()) {
      return MakeError(ErrorKind::kInvalidArgument, "source('" + src + "', '" + table +
                                                        "') is not declared (declare it under `sources:` in a YAML file of models/)");
    }
    return relation(it->second, false);
  }));
  env.SetGlobal("new_rows", Value::Callable("new_rows", [this, relation](const CallArgs& a) -> Result<Value> {
    const Value* rel = Arg(a, 0, "relation");
    Value key = rel ? rel->Get("_frazil_node") : Value();
    if (key.kind() != Value::Kind::kString) {
      return MakeError(ErrorKind::kInvalidArgument, "new_rows() expects a relation: new_rows(ref('x')) or new_rows(source('s', 't'))");
    }
    auto it = nodes_.find(key.AsString());
    if (it == nodes_.end()) return MakeError(ErrorKind::kInternal, "new_rows(): unknown node " + key.AsString());
    return relation(it->second, true);
  }));
  env.SetGlobal("config", Value::Callable("config", [s](const CallArgs& a) -> Result<Value> {
    if (s->parsing != nullptr) {
      const std::string where;  // the template engine names the file and line
      for (const auto& [k, v] : a.kwargs) FRZ_RETURN_IF_ERROR(s->parsing->config.Set(k, v, where));
      if (!a.positional.empty() && a.positional[0].kind() == Value::Kind::kDict) {
        for (const auto& [k, v] : a.positional[0].AsDict()) FRZ_RETURN_IF_ERROR(s->parsing->config.Set(k, v, where));
      }
    }
    return Value("");
  }));
  env.SetGlobal("is_incremental", Value::Callable("is_incremental", [s](const CallArgs&) -> Result<Value> {
    // Inside an inlined ephemeral or view it is false, as in dbt (they are not incremental);
    // their new_rows() still reads relative to the model that inlines them.
    return Value(s->execute && s->incremental && s->inlining.empty());
  }));
  env.SetGlobal("var", Value::Callable("var", [this](const CallArgs& a) -> Result<Value> {
    FRZ_ASSIGN_OR_RETURN(std::string name, StringArg(a, 0, "name", "var"));
    if (auto it = options_.vars.find(name); it != options_.vars.end()) return it->second;
    if (auto it = project_->vars.find(name); it != project_->vars.end()) return it->second;
    if (const Value* d = Arg(a, 1, "default")) return *d;
    return MakeError(ErrorKind::kInvalidArgument, "required var '" + name + "' not found (set it under `vars:` in dbt_project.yml or with --vars)");
  }));
  env.SetGlobal("env_var", Value::Callable("env_var", [this](const CallArgs& a) -> Result<Value> {
    FRZ_ASSIGN_OR_RETURN(std::string name, StringArg(a, 0, "var", "env_var"));
    if (auto it = options_.env.find(name); it != options_.env.end()) return Value(it->second);
    if (const Value* d = Arg(a, 1, "default")) return *d;
    return MakeError(ErrorKind::kInvalidArgument, "env_var('" + name + "'): the environment variable is not set and no default is given");
  }));
  env.SetGlobal("log", Value::Callable("log", [](const CallArgs& a) -> Result<Value> {
    if (!a.positional.empty()) Log(LogLevel::kInfo, a.positional[0].ToString(), {});
    return Value("");
  }));
  env.SetGlobal("exceptions",
                Value::Object({{"raise_compiler_error", Value::Callable("raise_compiler_error", [](const CallArgs& a) -> Result<Value> {
                                  return MakeError(ErrorKind::kInvalidArgument,
                                                   "compilation error: " + (a.positional.empty() ? std::string() : a.positional[0].ToString()));
                                })},
                               {"warn", Value::Callable("warn", [](const CallArgs& a) -> Result<Value> {
                                  if (!a.positional.empty()) Log(LogLevel::kWarn, a.positional[0].ToString(), {});
                                  return Value("");
                                })}},
                              "exceptions"));
  env.SetGlobal("execute", Value(st.execute));
  env.SetGlobal("target", Value::Object({{"name", Value("frazil")},
                                         {"type", Value("duckdb")},
                                         {"schema", Value(project_->default_schema)},
                                         {"database", Value("frazil")},
                                         {"threads", Value(int64_t{1})}},
                                        "frazil"));
  if (node != nullptr) {
    env.SetGlobal("model", Value::Object({{"name", Value(node->name)},
                                          {"alias", Value(node->table.name)},
                                          {"schema", Value(catalog::NamespaceToString(node->table.ns))},
                                          {"path", Value(node->model ? node->model->path : std::string())}},
                                         node->name));
    std::string this_sql = Quoted(node->table);
    if (st.execute && !st.for_view && node == st.model && st.target.exists && !st.target.is_view && st.adapter != nullptr) {
      auto read = st.adapter->Read(ReadSpec{node->table, st.target.snapshot_id, std::nullopt});
      if (read) this_sql = *read;
    }
    env.SetGlobal("this", RelationValue(*node, this_sql));
  }
}

Result<std::string> Compiler::RenderTemplate(const jinja::Template& t, const Node* node, RenderState& st) {
  InstallGlobals(node, st);
  return env_->Render(t);
}

Result<std::string> Compiler::Render(const Node& node, RenderState& st) {
  if (node.model == nullptr) return MakeError(ErrorKind::kInternal, node.key + " has no SQL");
  const Node* outer = st.rendering;
  st.rendering = &node;
  auto sql = RenderTemplate(*node.model->sql, &node, st);
  st.rendering = outer;
  if (outer != nullptr) InstallGlobals(outer, st);  // back to the inlining node's `this` & co.
  if (!sql) return std::unexpected(sql.error());
  return TrimSql(std::move(*sql));
}

Result<std::string> Compiler::RelationSql(const Node& target, RenderState& st, bool only_new) {
  const std::string& mat = target.config.materialized;
  bool inline_it = target.kind == NodeKind::kModel && (mat == "ephemeral" || (mat == "view" && !st.for_view));
  if (inline_it) {
    // Ephemeral models, and views read by a table or incremental model, are inlined as a
    // subquery compiled in this run: every table under them is pinned and recorded too.
    if (only_new) {
      return MakeError(ErrorKind::kInvalidArgument, "new_rows(ref('" + target.name + "')): '" + target.name + "' is a " + mat +
                                                        "; new_rows() reads tables (use it inside that model instead)");
    }
    if (!st.inlining.insert(target.key).second) {
      return MakeError(ErrorKind::kInvalidArgument, "ref cycle through " + target.name);
    }
    // The inlined SQL reads within the inlining model's run: its pins, and for new_rows()
    // the snapshots that model's last commit recorded (its commit records these reads).
    auto sql = Render(target, st);
    st.inlining.erase(target.key);
    if (!sql) return std::unexpected(sql.error());
    return "(\n" + *sql + "\n)";
  }
  if (st.for_view) {
    if (only_new) return MakeError(ErrorKind::kInvalidArgument, "new_rows() has no meaning in a view");
    return st.adapter->QualifiedName(target.table);
  }
  auto pinned = st.pins.find(target.table);
  if (pinned == st.pins.end()) {
    FRZ_ASSIGN_OR_RETURN(RelationState rs, st.adapter->Describe(target.table));
    if (!rs.exists) {
      std::string hint = target.kind == NodeKind::kSource ? "the source table does not exist"
                         : target.kind == NodeKind::kSeed ? "run `frazil models seed` first"
                                                          : "run that model first";
      return MakeError(ErrorKind::kNotFound, target.table.ToString() + " (" + target.key + ") does not exist: " + hint);
    }
    pinned = st.pins.emplace(target.table, rs.snapshot_id).first;
  }
  ReadSpec spec{target.table, pinned->second, std::nullopt};
  if (only_new && st.incremental) {
    std::string key = std::string(kSummaryReadPrefix) + target.table.ToString();
    auto it = st.target.summary.find(key);
    if (it == st.target.summary.end()) {
      return MakeError(ErrorKind::kInvalidArgument, "new_rows(" + target.name + "): the last commit of " + st.model->name +
                                                        " does not record which snapshot of " + target.table.ToString() +
                                                        " it read; run it once with --full-refresh");
    }
    if (it->second != "none") {
      try {
        spec.after_snapshot_id = std::stoll(it->second);
      } catch (...) {
        return MakeError(ErrorKind::kCorrupt, st.model->name + ": summary " + key + " = '" + it->second + "' is not a snapshot id");
      }
      if (spec.after_snapshot_id == spec.snapshot_id) spec.after_snapshot_id = spec.snapshot_id;  // no new rows
    }
  }
  return st.adapter->Read(spec);
}

Status Compiler::Parse() {
  const Project& p = *project_;
  for (const auto& m : p.models) {
    Node n;
    n.key = "model." + m.name;
    n.kind = NodeKind::kModel;
    n.name = m.name;
    n.model = &m;
    n.config = m.config;
    nodes_[n.key] = std::move(n);
  }
  for (const auto& s : p.seeds) {
    Node n;
    n.key = "seed." + s.name;
    n.kind = NodeKind::kSeed;
    n.name = s.name;
    n.seed = &s;
    n.config = s.config;
    n.table = TableOf(s.config.schema.empty() ? p.default_schema : s.config.schema, s.config.alias.empty() ? s.name : s.config.alias);
    nodes_[n.key] = std::move(n);
  }
  for (const auto& s : p.sources) {
    Node n;
    n.key = "source." + s.source_name + "." + s.name;
    n.kind = NodeKind::kSource;
    n.name = s.source_name + "." + s.name;
    n.source = &s;
    n.table = TableOf(s.schema, s.identifier);
    nodes_[n.key] = std::move(n);
  }
  // Parse pass: config() and the relations each model names.
  for (auto& [key, n] : nodes_) {
    if (n.kind != NodeKind::kModel) continue;
    n.table = TableOf(p.default_schema, n.name);  // placeholder for `this` during the parse
    const bool enabled_before = n.config.enabled;
    RenderState st;
    st.parsing = &n;
    auto rendered = Render(n, st);
    if (!rendered) {
      // A model disabled by its folder or YAML may refer to what no longer exists: it stays
      // disabled instead of failing the project (as in dbt).
      if (!enabled_before) {
        n.config.enabled = false;
        continue;
      }
      return std::unexpected(rendered.error());
    }
    n.table = TableOf(n.config.schema.empty() ? p.default_schema : n.config.schema,
                      n.config.alias.empty() ? n.name : n.config.alias);
  }
  // Disabled models and seeds disappear; a ref to one is an error, a test on one is disabled.
  std::set<std::string> disabled;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->second.kind != NodeKind::kSource && !it->second.config.enabled) {
      disabled.insert(it->second.name);
      disabled.insert(it->first);
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
  std::map<catalog::TableIdentifier, std::string> owner;
  for (const auto& [key, n] : nodes_) {
    for (const auto& d : n.depends_on) {
      if (!nodes_.count(d)) {
        return MakeError(ErrorKind::kInvalidArgument, (n.model ? n.model->path : key) + ": refers to disabled " + d);
      }
    }
    if (n.kind == NodeKind::kSource || n.config.materialized == "ephemeral") continue;
    auto [it, fresh] = owner.emplace(n.table, key);
    if (!fresh) {
      return MakeError(ErrorKind::kInvalidArgument, key + " and " + it->second + " would both write " + n.table.ToString());
    }
  }
  // Tests: what they read.
  for (const auto& t : p.tests) {
    std::string target = TestTargetKey(t);
    if (!target.empty() && disabled.count(target)) continue;
    if (t.kind == "relationships" && std::any_of(disabled.begin(), disabled.end(), [&](const std::string& d) {
          return t.to.find("'" + d + "'") != std::string::npos || t.to.find("\"" + d + "\"") != std::string::npos;
        })) {
      continue;
    }
    auto& deps = test_deps_[t.name];
    tests_.push_back(&t);
    if (!target.empty()) {
      if (!nodes_.count(target)) {
        return MakeError(ErrorKind::kInvalidArgument, t.path + ": data test " + t.name + " is on unknown " + target);
      }
      deps.insert(target);
    }
    if (t.kind == "relationships" || t.kind == "singular") {
      Node probe;
      probe.key = "test." + t.name;
      probe.name = t.name;
      RenderState st;
      st.parsing = &probe;
      std::shared_ptr<jinja::Template> tmpl = t.sql;
      if (t.kind == "relationships") {
        auto parsed = jinja::Template::Parse("{{ " + t.to + " }}", t.path);
        if (!parsed) return std::unexpected(parsed.error());
        tmpl = std::make_shared<jinja::Template>(std::move(*parsed));
      }
      auto r = RenderTemplate(*tmpl, nullptr, st);
      if (!r) return MakeError(r.error().kind, t.path + ": " + r.error().message);
      for (const auto& d : probe.depends_on) deps.insert(d);
    }
  }
  // Topological order (Kahn), ties broken by key so the order is stable.
  std::map<std::string, int> indegree;
  std::map<std::string, std::vector<std::string>> children;
  for (const auto& [key, n] : nodes_) {
    indegree[key];
    for (const auto& d : n.depends_on) {
      indegree[key]++;
      children[d].push_back(key);
    }
  }
  std::set<std::string> ready;
  for (const auto& [k, d] : indegree) {
    if (d == 0) ready.insert(k);
  }
  while (!ready.empty()) {
    std::string k = *ready.begin();
    ready.erase(ready.begin());
    order_.push_back(k);
    for (const auto& c : children[k]) {
      if (--indegree[c] == 0) ready.insert(c);
    }
  }
  if (order_.size() != nodes_.size()) {
    std::string cycle;
    for (const auto& [k, d] : indegree) {
      if (d > 0) cycle += (cycle.empty() ? "" : ", ") + k;
    }
    return MakeError(ErrorKind::kInvalidArgument, "the models form a cycle: " + cycle);
  }
  return Ok();
}

std::string Compiler::TestTargetKey(const DataTestSpec& t) const {
  if (t.kind == "singular") return "";
  if (t.target.starts_with("source.")) return t.target;
  if (nodes_.count("model." + t.target)) return "model." + t.target;
  if (nodes_.count("seed." + t.target)) return "seed." + t.target;
  return "model." + t.target;
}

std::vector<std::string> Compiler::TestDependencies(const DataTestSpec& test) const {
  auto it = test_deps_.find(test.name);
  if (it == test_deps_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

Result<std::vector<std::string>> Compiler::Select(const std::vector<std::string>& select,
                                                  const std::vector<std::string>& exclude, bool include_seeds,
                                                  bool include_sources) const {
  std::map<std::string, std::vector<std::string>> children;
  for (const auto& [key, n] : nodes_) {
    for (const auto& d : n.depends_on) children[d].push_back(key);
  }
  auto closure = [&](const std::string& start, bool up, std::set<std::string>& out) {
    std::deque<std::string> q{start};
    while (!q.empty()) {
      std::string k = q.front();
      q.pop_front();
      const auto& next = up ? nodes_.at(k).depends_on : children[k];
      for (const auto& x : next) {
        if (out.insert(x).second) q.push_back(x);
      }
    }
  };
  auto match = [&](const std::string& raw, std::set<std::string>& out) -> Status {
    std::string sel = raw;
    bool up = false, down = false;
    if (sel.starts_with("+")) {
      up = true;
      sel = sel.substr(1);
    }
    if (sel.ends_with("+")) {
      down = true;
      sel.pop_back();
    }
    std::set<std::string> base;
    for (const auto& [key, n] : nodes_) {
      if (n.kind == NodeKind::kSource && !sel.starts_with("source:")) continue;
      bool hit = false;
      if (sel == "*") {
        hit = true;
      } else if (sel.starts_with("tag:")) {
        hit = std::count(n.config.tags.begin(), n.config.tags.end(), sel.substr(4)) > 0;
      } else if (sel.starts_with("path:")) {
        std::string path = n.model ? n.model->path : n.seed ? n.seed->path : "";
        std::string prefix = sel.substr(5);
        while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
        hit = !path.empty() && (path == prefix || path.starts_with(prefix + "/"));
      } else if (sel.starts_with("config.materialized:")) {
        hit = n.config.materialized == sel.substr(20);
      } else if (sel.starts_with("source:")) {
        std::string s = sel.substr(7);
        hit = n.kind == NodeKind::kSource && (n.source->source_name == s || n.name == s);
      } else {
        hit = n.name == sel || (n.model && (n.model->path == sel || n.model->path.starts_with(sel + "/")));
      }
      if (hit) base.insert(key);
    }
    if (base.empty()) return MakeError(ErrorKind::kInvalidArgument, "the selector '" + raw + "' matches no model or seed");
    for (const auto& k : base) {
      out.insert(k);
      if (up) closure(k, true, out);
      if (down) closure(k, false, out);
    }
    return Ok();
  };
  std::set<std::string> chosen, removed;
  if (select.empty()) {
    for (const auto& [key, n] : nodes_) chosen.insert(key);
  }
  for (const auto& s : select) FRZ_RETURN_IF_ERROR(match(s, chosen));
  for (const auto& s : exclude) FRZ_RETURN_IF_ERROR(match(s, removed));
  std::vector<std::string> out;
  for (const auto& k : order_) {
    const Node& n = nodes_.at(k);
    if (!chosen.count(k) || removed.count(k)) continue;
    if (n.kind == NodeKind::kSeed && !include_seeds) continue;
    if (n.kind == NodeKind::kSource && !include_sources) continue;
    out.push_back(k);
  }
  return out;
}

Result<CompiledModel> Compiler::Compile(const Node& node, Adapter& adapter) {
  RenderState st;
  st.execute = true;
  st.adapter = &adapter;
  st.model = &node;
  const std::string& mat = node.config.materialized;
  st.for_view = mat == "view";
  CompiledModel out;
  if (mat == "incremental" || mat == "table") {
    FRZ_ASSIGN_OR_RETURN(st.target, adapter.Describe(node.table));
    if (st.target.exists && !st.target.is_view) out.target_snapshot_id = st.target.snapshot_id;
    // A table without a snapshot (created, then a crash before its first commit) has never
    // been filled: it runs as a full refresh.
    st.incremental = mat == "incremental" && st.target.exists && !st.target.is_view && st.target.snapshot_id &&
                     !(options_.full_refresh && node.config.full_refresh_allowed);
    if (options_.full_refresh && !node.config.full_refresh_allowed && st.incremental) {
      Log(LogLevel::kInfo, "full refresh not allowed for this model (full_refresh: false); running it incrementally",
          {{"model", node.name}});
    }
  }
  FRZ_ASSIGN_OR_RETURN(out.sql, Render(node, st));
  out.incremental = st.incremental;
  out.reads = std::move(st.pins);
  return out;
}

Result<std::string> Compiler::CompileOffline(const Node& node) {
  RenderState st;
  st.model = &node;
  return Render(node, st);
}

Result<std::string> Compiler::CompileTest(const DataTestSpec& t, Adapter& adapter) {
  RenderState st;
  st.execute = true;
  st.adapter = &adapter;
  if (t.kind == "singular") {
    FRZ_ASSIGN_OR_RETURN(std::string sql, RenderTemplate(*t.sql, nullptr, st));
    return TrimSql(std::move(sql));
  }
  const Node& target = nodes_.at(TestTargetKey(t));
  FRZ_ASSIGN_OR_RETURN(std::string rel, RelationSql(target, st, false));
  if (!t.where.empty()) rel = "(SELECT * FROM " + rel + " WHERE " + t.where + ")";
  const std::string& col = t.column;
  if (t.kind == "not_null") return "SELECT * FROM " + rel + " AS t WHERE " + col + " IS NULL";
  if (t.kind == "unique") {
    return "SELECT " + col + " AS unique_field, count(*) AS n_records FROM " + rel + " AS t WHERE " + col +
           " IS NOT NULL GROUP BY " + col + " HAVING count(*) > 1";
  }
  if (t.kind == "accepted_values") {
    std::string list;
    for (const auto& v : t.values) {
      if (!list.empty()) list += ", ";
      list += t.quote ? engine::QuoteLiteral(v.ToString()) : v.ToString();
    }
    return "SELECT * FROM (SELECT " + col + " AS value_field, count(*) AS n_records FROM " + rel + " AS t GROUP BY " + col +
           ") WHERE value_field NOT IN (" + list + ")";
  }
  if (t.kind == "relationships") {
    auto parsed = jinja::Template::Parse("{{ " + t.to + " }}", t.path);
    if (!parsed) return std::unexpected(parsed.error());
    FRZ_ASSIGN_OR_RETURN(std::string parent, RenderTemplate(*parsed, nullptr, st));
    return "SELECT child.from_field FROM (SELECT " + col + " AS from_field FROM " + rel + " AS t WHERE " + col +
           " IS NOT NULL) AS child LEFT JOIN (SELECT " + t.field + " AS to_field FROM " + parent +
           " AS p) AS parent ON child.from_field = parent.to_field WHERE parent.to_field IS NULL";
  }
  return MakeError(ErrorKind::kUnsupported, t.path + ": unknown data test " + t.kind);
}

}  // namespace frazil::transform
