#include "frazil/transform/project.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "frazil/base/log.h"
#include "frazil/transform/data_vault.h"

namespace frazil::transform {
namespace fs = std::filesystem;
namespace {

std::string At(const std::string& file, const YAML::Node& node) {
  return file + ":" + std::to_string(node.Mark().line + 1);
}

Result<std::string> ReadText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return MakeError(ErrorKind::kIOError, "cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

jinja::Value FromYaml(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return jinja::Value::None();
    case YAML::NodeType::Sequence: {
      std::vector<jinja::Value> items;
      for (const auto& e : n) items.push_back(FromYaml(e));
      return jinja::Value::List(std::move(items));
    }
    case YAML::NodeType::Map: {
      std::vector<std::pair<std::string, jinja::Value>> items;
      for (const auto& kv : n) items.emplace_back(kv.first.as<std::string>(), FromYaml(kv.second));
      return jinja::Value::Dict(std::move(items));
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return jinja::Value(s);  // quoted: always a string
  if (s == "true" || s == "True" || s == "TRUE") return jinja::Value(true);
  if (s == "false" || s == "False" || s == "FALSE") return jinja::Value(false);
  if (s == "null" || s == "~" || s == "Null" || s == "NULL") return jinja::Value::None();
  if (!s.empty()) {
    char* end = nullptr;
    long long i = std::strtoll(s.c_str(), &end, 10);
    if (*end == '\0') return jinja::Value(static_cast<int64_t>(i));
    double d = std::strtod(s.c_str(), &end);
    if (*end == '\0' && s.find_first_of("0123456789") != std::string::npos) return jinja::Value(d);
  }
  return jinja::Value(s);
}

Result<YAML::Node> LoadYaml(const std::string& text, const std::string& file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return MakeError(ErrorKind::kInvalidArgument, file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

// A YAML scalar as Python's str() of the value PyYAML loads (dbt names tests with it).
std::string PythonStr(const YAML::Node& n) {
  if (!n.IsScalar()) return n.IsNull() ? "None" : "";
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;
  if (s == "true" || s == "True" || s == "TRUE") return "True";
  if (s == "false" || s == "False" || s == "FALSE") return "False";
  if (s == "null" || s == "~" || s == "Null" || s == "NULL" || s.empty()) return "None";
  return s;
}

std::vector<std::string> StringList(const YAML::Node& n) {
  std::vector<std::string> out;
  if (!n) return out;
  if (n.IsSequence()) {
    for (const auto& e : n) out.push_back(e.as<std::string>());
  } else if (n.IsScalar()) {
    out.push_back(n.as<std::string>());
  }
  return out;
}

std::vector<std::string> ValueStrings(const jinja::Value& v) {
  std::vector<std::string> out;
  if (v.kind() == jinja::Value::Kind::kList) {
    for (const auto& e : v.AsList()) out.push_back(e.ToString());
  } else if (v.kind() == jinja::Value::Kind::kString) {
    // "a, b" is a composite key too (dbt accepts a list; projects often write one string).
    std::string s = v.AsString();
    if (s.find(',') == std::string::npos) {
      out.push_back(s);
    } else {
      std::stringstream ss(s);
      std::string part;
      while (std::getline(ss, part, ',')) {
        auto b = part.find_first_not_of(" \t");
        auto e = part.find_last_not_of(" \t");
        if (b != std::string::npos) out.push_back(part.substr(b, e - b + 1));
      }
    }
  } else if (v.kind() != jinja::Value::Kind::kNone && v.kind() != jinja::Value::Kind::kUndefined) {
    out.push_back(v.ToString());
  }
  return out;
}

// Config keys dbt knows that mean nothing for frazil: accepted and ignored, so real
// projects load.
const std::set<std::string>& IgnoredConfigKeys() {
  static const std::set<std::string> keys = {"persist_docs", "docs", "meta", "grants", "pre-hook", "post-hook",
                                             "pre_hook", "post_hook", "database", "quoting", "contract",
                                             "access", "group", "sql_header", "packages", "quote_columns",
                                             "store_failures", "limit", "fail_calc", "warn_if", "error_if",
                                             "file_format", "location_root", "on_configuration_change", "docs",
                                             "event_time", "batch_size", "lookback", "begin", "concurrent_batches",
                                             "delimiter", "query_comment", "transient", "cluster_by"};
  return keys;
}

}  // namespace

Status NodeConfig::Set(const std::string& raw_key, const jinja::Value& v, const std::string& location) {
  // An empty location: the caller (a template) adds the file and line itself.
  const std::string where = location;
  const std::string at = location.empty() ? "" : location + ": ";
  std::string key = raw_key;
  if (!key.empty() && key[0] == '+') key = key.substr(1);
  auto want_string = [&]() -> Result<std::string> {
    if (v.kind() == jinja::Value::Kind::kString) return v.AsString();
    return MakeError(ErrorKind::kInvalidArgument, at + "config '" + key + "' must be a string, got " + v.ToString());
  };
  auto want_bool = [&]() -> Result<bool> {
    if (v.kind() == jinja::Value::Kind::kBool) return v.AsBool();
    return MakeError(ErrorKind::kInvalidArgument, at + "config '" + key + "' must be true or false, got " + v.ToString());
  };
  if (key == "materialized") {
    FRZ_ASSIGN_OR_RETURN(materialized, want_string());
    static const std::set<std::string> ok = {"view", "table", "incremental", "ephemeral", "seed"};
    if (!ok.count(materialized)) {
      return MakeError(ErrorKind::kInvalidArgument, at + "unknown materialization '" + materialized +
                                                        "' (frazil has view, table, incremental, ephemeral)");
    }
  } else if (key == "schema") {
    if (v.kind() == jinja::Value::Kind::kNone) {
      schema.clear();
    } else {
      FRZ_ASSIGN_OR_RETURN(schema, want_string());
    }
  } else if (key == "alias") {
    FRZ_ASSIGN_OR_RETURN(alias, want_string());
  } else if (key == "incremental_strategy") {
    FRZ_ASSIGN_OR_RETURN(incremental_strategy, want_string());
    if (incremental_strategy != "append" && incremental_strategy != "merge" && incremental_strategy != "delete+insert") {
      return MakeError(ErrorKind::kInvalidArgument, at + "unknown incremental_strategy '" + incremental_strategy +
                                                        "' (frazil has append, merge, delete+insert)");
    }
  } else if (key == "unique_key") {
    unique_key = ValueStrings(v);
  } else if (key == "merge_update_columns") {
    merge_update_columns = ValueStrings(v);
  } else if (key == "merge_exclude_columns") {
    return MakeError(ErrorKind::kUnsupported, at + "merge_exclude_columns is not supported; list merge_update_columns");
  } else if (key == "on_schema_change") {
    FRZ_ASSIGN_OR_RETURN(on_schema_change, want_string());
    if (on_schema_change != "ignore" && on_schema_change != "fail" && on_schema_change != "append_new_columns" &&
        on_schema_change != "sync_all_columns") {
      return MakeError(ErrorKind::kInvalidArgument, at + "unknown on_schema_change '" + on_schema_change + "'");
    }
  } else if (key == "tags") {
    for (auto& t : ValueStrings(v)) {
      if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
    }
  } else if (key == "partition_by") {
    partition_by = ValueStrings(v);
  } else if (key == "column_types") {
    if (v.kind() != jinja::Value::Kind::kDict) {
      return MakeError(ErrorKind::kInvalidArgument, at + "column_types must be a mapping of column to type");
    }
    for (const auto& [c, t] : v.AsDict()) column_types[c] = t.ToString();
  } else if (key == "enabled") {
    FRZ_ASSIGN_OR_RETURN(enabled, want_bool());
  } else if (key == "full_refresh") {
    if (v.kind() == jinja::Value::Kind::kNone) {
      full_refresh_allowed = true;
    } else {
      FRZ_ASSIGN_OR_RETURN(full_refresh_allowed, want_bool());
    }
  } else if (key == "severity") {
    FRZ_ASSIGN_OR_RETURN(severity, want_string());
    for (auto& c : severity) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (severity != "error" && severity != "warn") {
      return MakeError(ErrorKind::kInvalidArgument, at + "severity must be error or warn");
    }
  } else if (IgnoredConfigKeys().count(key)) {
    // accepted for compatibility; no effect in frazil
  } else {
    return MakeError(ErrorKind::kInvalidArgument, at + "unknown config '" + key + "'");
  }
  return Ok();
}

Result<jinja::Value> ParseYamlValue(const std::string& text, const std::string& file) {
  FRZ_ASSIGN_OR_RETURN(auto node, LoadYaml(text, file));
  return FromYaml(node);
}

const Model* Project::FindModel(const std::string& n) const {
  for (const auto& m : models) {
    if (m.name == n) return &m;
  }
  return nullptr;
}
const Seed* Project::FindSeed(const std::string& n) const {
  for (const auto& s : seeds) {
    if (s.name == n) return &s;
  }
  return nullptr;
}
const SourceTable* Project::FindSource(const std::string& source, const std::string& table) const {
  for (const auto& s : sources) {
    if (s.source_name == source && s.name == table) return &s;
  }
  return nullptr;
}

namespace {

// Applies the `+key` / known-key settings of one level of `models:` / `seeds:` in
// dbt_project.yml, then descends along `folders`.
Status ApplyFolderConfig(const YAML::Node& level, const std::vector<std::string>& folders, size_t depth,
                         NodeConfig& config, const std::string& file) {
  if (!level || !level.IsMap()) return Ok();
  static const std::set<std::string> plain_keys = {"materialized", "schema", "alias", "tags", "enabled",
                                                   "incremental_strategy", "unique_key", "on_schema_change",
                                                   "full_refresh", "column_types", "partition_by",
                                                   "merge_update_columns", "severity"};
  for (const auto& kv : level) {
    std::string key = kv.first.as<std::string>();
    bool is_config = key.starts_with("+") || (plain_keys.count(key) && !kv.second.IsMap());
    if (is_config) FRZ_RETURN_IF_ERROR(config.Set(key, FromYaml(kv.second), At(file, kv.first)));
  }
  if (depth < folders.size()) {
    YAML::Node child = level[folders[depth]];
    if (child) return ApplyFolderConfig(child, folders, depth + 1, config, file);
  }
  return Ok();
}

struct Loader {
  Project& p;
  YAML::Node project_yaml;
  std::string project_file;

  Status ApplyYamlConfig(const YAML::Node& config, NodeConfig& c, const std::string& file) {
    if (!config) return Ok();
    if (!config.IsMap()) return MakeError(ErrorKind::kInvalidArgument, At(file, config) + ": config must be a mapping");
    for (const auto& kv : config) FRZ_RETURN_IF_ERROR(c.Set(kv.first.as<std::string>(), FromYaml(kv.second), At(file, kv.first)));
    return Ok();
  }

  // One entry of a `tests:` / `data_tests:` list.
  Status AddTest(const YAML::Node& t, const std::string& target, const std::string& target_label, const std::string& column,
                 const std::string& file) {
    DataTestSpec spec;
    spec.target = target;
    spec.column = column;
    spec.path = At(file, t);
    YAML::Node args;
    if (t.IsScalar()) {
      spec.kind = t.as<std::string>();
    } else if (t.IsMap() && t.size() == 1) {
      spec.kind = t.begin()->first.as<std::string>();
      args = t.begin()->second;
    } else {
      return MakeError(ErrorKind::kInvalidArgument, spec.path + ": a data test is a name or a mapping of one name");
    }
    std::string kind_name = spec.kind;
    if (kind_name.starts_with("dbt.")) kind_name = kind_name.substr(4);
    spec.kind = kind_name;
    if (kind_name != "unique" && kind_name != "not_null" && kind_name != "accepted_values" && kind_name != "relationships") {
      return MakeError(ErrorKind::kUnsupported, spec.path + ": unknown data test '" + spec.kind +
                                                    "' (frazil has unique, not_null, accepted_values, relationships and "
                                                    "singular tests in tests/)");
    }
    std::map<std::string, std::vector<std::string>> name_args;  // dbt's naming inputs, by argument name
    if (args && args.IsMap()) {
      YAML::Node a = args["arguments"] ? args["arguments"] : args;
      static const std::set<std::string> kNotArguments = {"config", "severity", "where", "tags", "meta", "name",
                                                          "description", "enabled", "arguments", "error_if",
                                                          "warn_if", "store_failures", "limit", "fail_calc"};
      for (const auto& kv : a) {
        std::string k = kv.first.as<std::string>();
        if (kNotArguments.count(k)) continue;
        auto& parts = name_args[k];
        if (kv.second.IsSequence()) {
          for (const auto& e : kv.second) parts.push_back(PythonStr(e));
        } else if (kv.second.IsMap()) {
          for (const auto& e : kv.second) parts.push_back(PythonStr(e.second));
        } else {
          parts.push_back(PythonStr(kv.second));
        }
      }
      if (a["column_name"]) spec.column = a["column_name"].as<std::string>();
      if (kind_name == "accepted_values") {
        if (!a["values"] || !a["values"].IsSequence()) {
          return MakeError(ErrorKind::kInvalidArgument, spec.path + ": accepted_values needs a list `values`");
        }
        for (const auto& v : a["values"]) spec.values.push_back(FromYaml(v));
        if (a["quote"]) spec.quote = a["quote"].as<bool>();
      }
      if (kind_name == "relationships") {
        if (!a["to"] || !a["field"]) {
          return MakeError(ErrorKind::kInvalidArgument, spec.path + ": relationships needs `to` and `field`");
        }
        spec.to = a["to"].as<std::string>();
        spec.field = a["field"].as<std::string>();
      }
      // A test's settings: config: {severity, where, ...}, or severity / where beside the arguments.
      NodeConfig c;
      for (int pass = 0; pass < 2; ++pass) {
        YAML::Node level = pass == 0 ? args : args["config"];
        if (!level || !level.IsMap()) continue;
        for (const auto& kv : level) {
          std::string k = kv.first.as<std::string>();
          if (k == "where") {
            spec.where = kv.second.as<std::string>();
          } else if (k == "severity" || pass == 1) {
            FRZ_RETURN_IF_ERROR(c.Set(k, FromYaml(kv.second), At(file, kv.first)));
          }
        }
      }
      spec.severity = c.severity;
    } else if (kind_name == "accepted_values" || kind_name == "relationships") {
      return MakeError(ErrorKind::kInvalidArgument, spec.path + ": " + kind_name + " needs arguments");
    }
    if (spec.column.empty()) {
      return MakeError(ErrorKind::kInvalidArgument, spec.path + ": data test '" + spec.kind + "' needs a column");
    }
    // dbt's name: <type>_<node>_<arguments sorted by name, flattened, each cleaned, joined by __>.
    name_args["column_name"] = {spec.column};
    std::string flat;
    for (const auto& [k, parts] : name_args) {
      for (const auto& part : parts) {
        std::string clean;  // each run of other characters becomes one '_'
        bool in_run = false;
        for (char ch : part) {
          bool ok = std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
          if (ok) clean += ch;
          if (!ok && !in_run) clean += '_';
          in_run = !ok;
        }
        flat += (flat.empty() ? "" : "__") + clean;
      }
    }
    std::string name = (target.starts_with("source.") ? "source_" : "") + kind_name + "_" + target_label + "_" + flat;
    std::string unique = name;
    for (int i = 2; std::any_of(p.tests.begin(), p.tests.end(), [&](const auto& x) { return x.name == unique; }); ++i) {
      unique = name + "_" + std::to_string(i);
    }
    spec.name = unique;
    p.tests.push_back(std::move(spec));
    return Ok();
  }

  Status AddColumnTests(const YAML::Node& columns, std::vector<ColumnSpec>& out, const std::string& target,
                        const std::string& label, const std::string& file) {
    if (!columns) return Ok();
    if (!columns.IsSequence()) return MakeError(ErrorKind::kInvalidArgument, At(file, columns) + ": columns must be a list");
    for (const auto& c : columns) {
      if (!c["name"]) return MakeError(ErrorKind::kInvalidArgument, At(file, c) + ": a column needs a name");
      ColumnSpec col;
      col.name = c["name"].as<std::string>();
      if (c["description"]) col.description = c["description"].as<std::string>();
      if (c["data_type"]) col.data_type = c["data_type"].as<std::string>();
      out.push_back(col);
      for (const char* key : {"tests", "data_tests"}) {
        if (!c[key]) continue;
        for (const auto& t : c[key]) FRZ_RETURN_IF_ERROR(AddTest(t, target, label, col.name, file));
      }
    }
    return Ok();
  }

  Status LoadPropertiesFile(const fs::path& path) {
    std::string file = fs::relative(path, p.root).string();
    FRZ_ASSIGN_OR_RETURN(std::string text, ReadText(path));
    FRZ_ASSIGN_OR_RETURN(YAML::Node doc, LoadYaml(text, file));
    if (!doc || !doc.IsMap()) return Ok();
    for (const char* key : {"unit_tests", "snapshots", "exposures", "metrics", "semantic_models", "saved_queries"}) {
      if (doc[key]) {
        return MakeError(ErrorKind::kUnsupported, At(file, doc[key]) + ": dbt's `" + key +
                                                      "` are not supported by frazil (docs/models.md, \"Compared with dbt\")");
      }
    }
    try {
      if (auto models = doc["models"]) {
        for (const auto& m : models) {
          if (!m["name"]) return MakeError(ErrorKind::kInvalidArgument, At(file, m) + ": a model entry needs a name");
          std::string name = m["name"].as<std::string>();
          auto it = std::find_if(p.models.begin(), p.models.end(), [&](const Model& x) { return x.name == name; });
          if (it == p.models.end()) {
            return MakeError(ErrorKind::kInvalidArgument, At(file, m) + ": properties for model '" + name +
                                                              "', which has no .sql file");
          }
          if (m["description"]) it->description = m["description"].as<std::string>();
          FRZ_RETURN_IF_ERROR(ApplyYamlConfig(m["config"], it->config, file));
          FRZ_RETURN_IF_ERROR(AddColumnTests(m["columns"], it->columns, name, name, file));
          for (const char* key : {"tests", "data_tests"}) {
            if (!m[key]) continue;
            for (const auto& t : m[key]) FRZ_RETURN_IF_ERROR(AddTest(t, name, name, "", file));
          }
        }
      }
      if (auto seeds = doc["seeds"]) {
        for (const auto& s : seeds) {
          std::string name = s["name"].as<std::string>();
          auto it = std::find_if(p.seeds.begin(), p.seeds.end(), [&](const Seed& x) { return x.name == name; });
          if (it == p.seeds.end()) {
            return MakeError(ErrorKind::kInvalidArgument, At(file, s) + ": properties for seed '" + name + "', which has no .csv file");
          }
          FRZ_RETURN_IF_ERROR(ApplyYamlConfig(s["config"], it->config, file));
          std::vector<ColumnSpec> cols;
          FRZ_RETURN_IF_ERROR(AddColumnTests(s["columns"], cols, name, name, file));
        }
      }
      if (auto sources = doc["sources"]) {
        for (const auto& s : sources) {
          if (!s["name"]) return MakeError(ErrorKind::kInvalidArgument, At(file, s) + ": a source needs a name");
          std::string sname = s["name"].as<std::string>();
          std::string schema = s["schema"] ? s["schema"].as<std::string>() : sname;
          for (const auto& t : s["tables"]) {
            SourceTable st;
            st.source_name = sname;
            st.name = t["name"].as<std::string>();
            st.schema = schema;
            st.identifier = t["identifier"] ? t["identifier"].as<std::string>() : st.name;
            if (t["description"]) st.description = t["description"].as<std::string>();
            st.path = At(file, t);
            if (p.FindSource(sname, st.name)) {
              return MakeError(ErrorKind::kInvalidArgument, st.path + ": source " + sname + "." + st.name + " is defined twice");
            }
            std::string target = "source." + sname + "." + st.name;
            FRZ_RETURN_IF_ERROR(AddColumnTests(t["columns"], st.columns, target, sname + "_" + st.name, file));
            p.sources.push_back(std::move(st));
          }
        }
      }
    } catch (const YAML::Exception& e) {
      return MakeError(ErrorKind::kInvalidArgument, file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    return Ok();
  }

  std::vector<std::string> Paths(const char* key, const char* fallback) {
    auto v = StringList(project_yaml[key]);
    if (v.empty()) v.push_back(fallback);
    return v;
  }

  // Files below `dir` with extension `ext`, sorted so loading is deterministic.
  std::vector<fs::path> Files(const fs::path& dir, const std::string& ext) {
    std::vector<fs::path> out;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return out;
    for (fs::recursive_directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec)) {
      if (it->is_regular_file() && it->path().extension() == ext) out.push_back(it->path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // The folders from `base` down to `file`'s directory ("models/a/b/x.sql" -> {a, b}).
  static std::vector<std::string> FoldersBetween(const fs::path& base, const fs::path& file) {
    std::vector<std::string> folders;
    for (const auto& part : fs::relative(file.parent_path(), base)) {
      if (part != ".") folders.push_back(part.string());
    }
    return folders;
  }

  Status AddModel(Model m, const std::vector<std::string>& folders) {
    if (p.FindModel(m.name) || p.FindSeed(m.name)) {
      return MakeError(ErrorKind::kInvalidArgument, m.path + ": a model or seed named '" + m.name + "' already exists");
    }
    m.fqn = folders;
    m.fqn.push_back(m.name);
    // models: <project>: <folder>...: <model name>: settings at every level, deeper wins.
    std::vector<std::string> path{p.name};
    path.insert(path.end(), folders.begin(), folders.end());
    path.push_back(m.name);
    FRZ_RETURN_IF_ERROR(ApplyFolderConfig(project_yaml["models"], path, 0, m.config, project_file));
    auto parsed = jinja::Template::Parse(m.raw_sql, m.path);
    if (!parsed) return std::unexpected(parsed.error());
    m.sql = std::make_shared<jinja::Template>(std::move(*parsed));
    p.models.push_back(std::move(m));
    return Ok();
  }

  Status Load() {
    for (const auto& dir : Paths("macro-paths", "macros")) {
      for (const auto& f : Files(fs::path(p.root) / dir, ".sql")) {
        FRZ_ASSIGN_OR_RETURN(std::string text, ReadText(f));
        FRZ_ASSIGN_OR_RETURN(auto t, jinja::Template::Parse(text, fs::relative(f, p.root).string()));
        p.macros.push_back(std::make_shared<jinja::Template>(std::move(t)));
      }
    }
    for (const auto& dir : Paths("model-paths", "models")) {
      fs::path base = fs::path(p.root) / dir;
      for (const auto& f : Files(base, ".sql")) {
        Model m;
        m.name = f.stem().string();
        m.path = fs::relative(f, p.root).string();
        FRZ_ASSIGN_OR_RETURN(m.raw_sql, ReadText(f));
        FRZ_RETURN_IF_ERROR(AddModel(std::move(m), FoldersBetween(base, f)));
      }
    }
    for (const auto& f : Files(fs::path(p.root) / "data_vault", ".yml")) {
      std::string file = fs::relative(f, p.root).string();
      FRZ_ASSIGN_OR_RETURN(std::string text, ReadText(f));
      FRZ_ASSIGN_OR_RETURN(auto generated, GenerateDataVault(text, file));
      for (auto& g : generated) {
        Model m;
        m.name = g.name;
        m.path = g.path;
        m.raw_sql = std::move(g.sql);
        m.generated = true;
        FRZ_RETURN_IF_ERROR(AddModel(std::move(m), {"data_vault"}));
      }
    }
    for (const auto& dir : Paths("seed-paths", "seeds")) {
      fs::path base = fs::path(p.root) / dir;
      for (const auto& f : Files(base, ".csv")) {
        Seed s;
        s.name = f.stem().string();
        s.path = fs::relative(f, p.root).string();
        if (p.FindModel(s.name) || p.FindSeed(s.name)) {
          return MakeError(ErrorKind::kInvalidArgument, s.path + ": a model or seed named '" + s.name + "' already exists");
        }
        std::vector<std::string> folders = FoldersBetween(base, f);
        s.config.materialized = "seed";
        std::vector<std::string> path{p.name};
        path.insert(path.end(), folders.begin(), folders.end());
        path.push_back(s.name);
        FRZ_RETURN_IF_ERROR(ApplyFolderConfig(project_yaml["seeds"], path, 0, s.config, project_file));
        p.seeds.push_back(std::move(s));
      }
    }
    // YAML properties beside models and seeds.
    std::vector<std::string> yaml_dirs = Paths("model-paths", "models");
    for (const auto& d : Paths("seed-paths", "seeds")) yaml_dirs.push_back(d);
    for (const auto& dir : yaml_dirs) {
      for (const char* ext : {".yml", ".yaml"}) {
        for (const auto& f : Files(fs::path(p.root) / dir, ext)) FRZ_RETURN_IF_ERROR(LoadPropertiesFile(f));
      }
    }
    for (const auto& dir : Paths("test-paths", "tests")) {
      for (const auto& f : Files(fs::path(p.root) / dir, ".sql")) {
        DataTestSpec t;
        t.kind = "singular";
        t.name = f.stem().string();
        t.path = fs::relative(f, p.root).string();
        FRZ_ASSIGN_OR_RETURN(std::string text, ReadText(f));
        FRZ_ASSIGN_OR_RETURN(auto tmpl, jinja::Template::Parse(text, t.path));
        t.sql = std::make_shared<jinja::Template>(std::move(tmpl));
        p.tests.push_back(std::move(t));
      }
    }
    return Ok();
  }
};

}  // namespace

Result<Project> LoadProject(const std::string& dir) {
  std::error_code ec;
  fs::path root = fs::absolute(dir, ec).lexically_normal();
  if (root.has_filename() == false && root.has_parent_path()) root = root.parent_path();  // "/a/b/" -> "/a/b"
  fs::path file = root / "dbt_project.yml";
  if (!fs::exists(file, ec)) {
    return MakeError(ErrorKind::kNotFound, "no dbt_project.yml in " + root.string() +
                                               " (a project is a folder with dbt_project.yml and models/; pass --project DIR)");
  }
  Project p;
  p.root = root.lexically_normal().string();
  while (p.root.size() > 1 && p.root.back() == '/') p.root.pop_back();
  FRZ_ASSIGN_OR_RETURN(std::string text, ReadText(file));
  FRZ_ASSIGN_OR_RETURN(YAML::Node y, LoadYaml(text, "dbt_project.yml"));
  if (!y.IsMap() || !y["name"]) return MakeError(ErrorKind::kInvalidArgument, "dbt_project.yml: `name` is required");
  Loader loader{p, y, "dbt_project.yml"};
  try {
    p.name = y["name"].as<std::string>();
    p.default_schema = p.name;
    if (auto vars = y["vars"]) {
      if (!vars.IsMap()) return MakeError(ErrorKind::kInvalidArgument, At("dbt_project.yml", vars) + ": vars must be a mapping");
      for (const auto& kv : vars) {
        // dbt also allows vars scoped by project name: {project: {var: value}}.
        std::string k = kv.first.as<std::string>();
        if (k == p.name && kv.second.IsMap()) {
          for (const auto& inner : kv.second) p.vars[inner.first.as<std::string>()] = FromYaml(inner.second);
        } else {
          p.vars[k] = FromYaml(kv.second);
        }
      }
    }
    FRZ_RETURN_IF_ERROR(loader.Load());
  } catch (const YAML::Exception& e) {
    return MakeError(ErrorKind::kInvalidArgument, "dbt_project.yml:" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return p;
}

}  // namespace frazil::transform
