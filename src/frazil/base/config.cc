#include "frazil/base/config.h"

#include "frazil/base/log.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <functional>

extern char** environ;

namespace frazil {
namespace {

struct Key {
  const char* yaml;  // dotted path in the YAML file
  const char* env;   // environment variable
  std::function<Status(Config&, const std::string&)> set;
};

// "a, b,c" -> {"a", "b", "c"} (blanks around items dropped, empty items skipped).
std::vector<std::string> SplitList(const std::string& v) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : v + ",") {
    if (ch == ',') {
      while (!cur.empty() && cur.back() == ' ') cur.pop_back();
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (!(ch == ' ' && cur.empty())) {
      cur += ch;
    }
  }
  return out;
}

Status ParseInt(const std::string& text, int64_t* out, const std::string& what) {
  try {
    size_t used = 0;
    int64_t v = std::stoll(text, &used);
    // Accept size suffixes: 512MB, 1GB, 64KB.
    std::string suffix = text.substr(used);
    for (auto& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (suffix == "KB" || suffix == "K") v *= 1024;
    else if (suffix == "MB" || suffix == "M") v *= 1024 * 1024;
    else if (suffix == "GB" || suffix == "G") v *= 1024LL * 1024 * 1024;
    else if (!suffix.empty()) throw std::invalid_argument("suffix");
    *out = v;
    return Ok();
  } catch (...) {
    return MakeError(ErrorKind::kInvalidArgument, what + ": expected an integer (optionally with KB/MB/GB), got '" + text + "'");
  }
}

Status ParseBool(const std::string& text, bool* out, const std::string& what) {
  if (text == "true" || text == "yes" || text == "on" || text == "1") {
    *out = true;
  } else if (text == "false" || text == "no" || text == "off" || text == "0") {
    *out = false;
  } else {
    return MakeError(ErrorKind::kInvalidArgument, what + ": expected true or false, got '" + text + "'");
  }
  return Ok();
}

// PostgreSQL object names frazil creates (slot names must be lowercase letters, digits, _).
Status SetName(const std::string& text, std::string* out, const std::string& what) {
  if (text.empty() || text.size() > 63) {
    return MakeError(ErrorKind::kInvalidArgument, what + " must be 1 to 63 characters, got '" + text + "'");
  }
  for (char c : text) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
      return MakeError(ErrorKind::kInvalidArgument,
                       what + " may use lowercase letters, digits and _ only, got '" + text + "'");
    }
  }
  *out = text;
  return Ok();
}

const std::vector<Key>& Keys() {
  static const std::vector<Key> keys = {
      {"warehouse", "FRAZIL_WAREHOUSE", [](Config& c, const std::string& v) -> Status { c.warehouse = v; return Ok(); }},
      {"catalog.uri", "FRAZIL_CATALOG_URI", [](Config& c, const std::string& v) -> Status { c.catalog_uri = v; return Ok(); }},
      {"catalog.name", "FRAZIL_CATALOG_NAME", [](Config& c, const std::string& v) -> Status { c.catalog_name = v; return Ok(); }},
      {"write.target_file_size", "FRAZIL_WRITE_TARGET_FILE_SIZE",
       [](Config& c, const std::string& v) -> Status { return ParseInt(v, &c.target_file_size_bytes, "write.target_file_size"); }},
      {"write.compression", "FRAZIL_WRITE_COMPRESSION",
       [](Config& c, const std::string& v) -> Status { c.parquet_compression = v; return Ok(); }},
      {"engine.threads", "FRAZIL_ENGINE_THREADS",
       [](Config& c, const std::string& v) -> Status {
         int64_t n = 0;
         FRZ_RETURN_IF_ERROR(ParseInt(v, &n, "engine.threads"));
         if (n < 0 || n > 1024) {
           return MakeError(ErrorKind::kInvalidArgument, "engine.threads must be between 0 (all cores) and 1024, got " + v);
         }
         c.threads = static_cast<int>(n);
         return Ok();
       }},
      {"engine.memory_limit", "FRAZIL_ENGINE_MEMORY_LIMIT",
       [](Config& c, const std::string& v) -> Status { c.memory_limit = v; return Ok(); }},
      {"source.conninfo", "FRAZIL_SOURCE_CONNINFO",
       [](Config& c, const std::string& v) -> Status { c.source.conninfo = v; return Ok(); }},
      {"source.publication", "FRAZIL_SOURCE_PUBLICATION",
       [](Config& c, const std::string& v) -> Status { return SetName(v, &c.source.publication, "source.publication"); }},
      {"source.slot", "FRAZIL_SOURCE_SLOT",
       [](Config& c, const std::string& v) -> Status { return SetName(v, &c.source.slot, "source.slot"); }},
      {"source.tables", "FRAZIL_SOURCE_TABLES",
       [](Config& c, const std::string& v) -> Status {
         c.source.tables = SplitList(v);
         return Ok();
       }},
      {"source.namespace", "FRAZIL_SOURCE_NAMESPACE",
       [](Config& c, const std::string& v) -> Status { return SetName(v, &c.source.ns, "source.namespace"); }},
      {"source.snapshot", "FRAZIL_SOURCE_SNAPSHOT",
       [](Config& c, const std::string& v) -> Status {
         if (v != "initial" && v != "never" && v != "initial_only") {
           return Status(MakeError(ErrorKind::kInvalidArgument,
                                   "source.snapshot must be initial, never or initial_only, got '" + v + "'"));
         }
         c.source.snapshot = v;
         return Ok();
       }},
      {"source.snapshot_workers", "FRAZIL_SOURCE_SNAPSHOT_WORKERS",
       [](Config& c, const std::string& v) -> Status {
         int64_t n = 0;
         FRZ_RETURN_IF_ERROR(ParseInt(v, &n, "source.snapshot_workers"));
         if (n < 1 || n > 64) {
           return MakeError(ErrorKind::kInvalidArgument, "source.snapshot_workers must be between 1 and 64, got " + v);
         }
         c.source.snapshot_workers = static_cast<int>(n);
         return Ok();
       }},
      {"source.commit_interval_ms", "FRAZIL_SOURCE_COMMIT_INTERVAL_MS",
       [](Config& c, const std::string& v) -> Status {
         FRZ_RETURN_IF_ERROR(ParseInt(v, &c.source.commit_interval_ms, "source.commit_interval_ms"));
         if (c.source.commit_interval_ms < 10) {
           return MakeError(ErrorKind::kInvalidArgument, "source.commit_interval_ms must be at least 10, got " + v);
         }
         return Ok();
       }},
      {"source.streaming", "FRAZIL_SOURCE_STREAMING",
       [](Config& c, const std::string& v) -> Status { return ParseBool(v, &c.source.streaming, "source.streaming"); }},
      {"source.ddl_capture", "FRAZIL_SOURCE_DDL_CAPTURE",
       [](Config& c, const std::string& v) -> Status { return ParseBool(v, &c.source.ddl_capture, "source.ddl_capture"); }},
      {"source.mirror", "FRAZIL_SOURCE_MIRROR",
       [](Config& c, const std::string& v) -> Status { return ParseBool(v, &c.source.mirror, "source.mirror"); }},
      {"source.mirror_namespace", "FRAZIL_SOURCE_MIRROR_NAMESPACE",
       [](Config& c, const std::string& v) -> Status {
         return SetName(v, &c.source.mirror_namespace, "source.mirror_namespace");
       }},
      {"source.mirror_exclude", "FRAZIL_SOURCE_MIRROR_EXCLUDE",
       [](Config& c, const std::string& v) -> Status {
         c.source.mirror_exclude = SplitList(v);
         return Ok();
       }},
      {"source.mirror_rewrite_ratio", "FRAZIL_SOURCE_MIRROR_REWRITE_RATIO",
       [](Config& c, const std::string& v) -> Status {
         char* end = nullptr;
         double r = std::strtod(v.c_str(), &end);
         if (v.empty() || end == nullptr || *end != '\0' || !(r > 0 && r <= 1)) {
           return MakeError(ErrorKind::kInvalidArgument,
                            "source.mirror_rewrite_ratio must be a number in (0, 1], got '" + v + "'");
         }
         c.source.mirror_rewrite_ratio = r;
         return Ok();
       }},
      {"source.mirror_target_file_mb", "FRAZIL_SOURCE_MIRROR_TARGET_FILE_MB",
       [](Config& c, const std::string& v) -> Status {
         FRZ_RETURN_IF_ERROR(ParseInt(v, &c.source.mirror_target_file_mb, "source.mirror_target_file_mb"));
         if (c.source.mirror_target_file_mb < 1 || c.source.mirror_target_file_mb > 4096) {
           return MakeError(ErrorKind::kInvalidArgument, "source.mirror_target_file_mb must be between 1 and 4096, got " + v);
         }
         return Ok();
       }},
      {"models.project", "FRAZIL_MODELS_PROJECT",
       [](Config& c, const std::string& v) -> Status { c.models_project = v; return Ok(); }},
      {"metrics.listen", "FRAZIL_METRICS_LISTEN",
       [](Config& c, const std::string& v) -> Status { c.metrics_listen = v; return Ok(); }},
      {"log.level", "FRAZIL_LOG_LEVEL",
       [](Config& c, const std::string& v) -> Status {
         if (v != "debug" && v != "info" && v != "warn" && v != "error") {
           return Status(MakeError(ErrorKind::kInvalidArgument, "log.level must be debug, info, warn or error, got '" + v + "'"));
         }
         c.log_level = v;
         return Ok();
       }},
      {"log.format", "FRAZIL_LOG_FORMAT",
       [](Config& c, const std::string& v) -> Status {
         if (v != "text" && v != "json") {
           return Status(MakeError(ErrorKind::kInvalidArgument, "log.format must be text or json, got '" + v + "'"));
         }
         c.log_format = v;
         return Ok();
       }},
  };
  return keys;
}

Status ApplyNode(Config& config, const YAML::Node& node, const std::string& prefix, const std::string& file) {
  for (const auto& kv : node) {
    std::string key = prefix + kv.first.as<std::string>();
    if (kv.second.IsMap()) {
      FRZ_RETURN_IF_ERROR(ApplyNode(config, kv.second, key + ".", file));
      continue;
    }
    const Key* found = nullptr;
    for (const auto& k : Keys()) {
      if (key == k.yaml) found = &k;
    }
    int line = kv.first.Mark().line + 1;
    if (found == nullptr) {
      return MakeError(ErrorKind::kInvalidArgument,
                       file + ":" + std::to_string(line) + ": unknown configuration key '" + key + "'");
    }
    if (kv.second.IsSequence() && (key == "source.tables" || key == "source.mirror_exclude")) {
      std::string joined;
      for (const auto& item : kv.second) joined += (joined.empty() ? "" : ",") + item.as<std::string>();
      auto s = found->set(config, joined);
      if (!s) return MakeError(ErrorKind::kInvalidArgument, file + ":" + std::to_string(line) + ": " + s.error().message);
      continue;
    }
    if (!kv.second.IsScalar()) {
      return MakeError(ErrorKind::kInvalidArgument, file + ":" + std::to_string(line) + ": '" + key + "' must be a single value");
    }
    auto s = found->set(config, kv.second.as<std::string>());
    if (!s) return MakeError(ErrorKind::kInvalidArgument, file + ":" + std::to_string(line) + ": " + s.error().message);
  }
  return Ok();
}

}  // namespace

std::string Config::CatalogPath() const {
  if (!catalog_uri.empty()) {
    std::string p = catalog_uri;
    if (p.starts_with("sqlite:///")) p = p.substr(9);
    else if (p.starts_with("sqlite:")) p = p.substr(7);
    return p;
  }
  std::string w = warehouse;
  if (w.starts_with("file://")) w = w.substr(7);
  while (w.size() > 1 && w.back() == '/') w.pop_back();
  return w + "/catalog.db";
}

std::map<std::string, std::string> ProcessEnvironment(std::string_view prefix) {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos && kv.starts_with(prefix)) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

Result<Config> LoadConfig(const std::string& path, const std::map<std::string, std::string>& env) {
  Config config;
  std::string file = path;
  if (file.empty() && std::filesystem::exists("frazil.yaml")) file = "frazil.yaml";
  if (!file.empty()) {
    if (!std::filesystem::exists(file)) {
      return MakeError(ErrorKind::kNotFound, "configuration file " + file + " does not exist");
    }
    try {
      YAML::Node root = YAML::LoadFile(file);
      if (root && !root.IsNull()) {
        if (!root.IsMap()) return MakeError(ErrorKind::kInvalidArgument, file + ": expected a mapping of settings");
        FRZ_RETURN_IF_ERROR(ApplyNode(config, root, "", file));
      }
    } catch (const YAML::Exception& e) {
      return MakeError(ErrorKind::kInvalidArgument, file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    config.source_file = file;
  }
  // FRAZIL_* variables that are not settings are probably typos: say so (not an error,
  // since other tools may use the prefix).
  for (const auto& [name, value] : env) {
    bool known = name == "FRAZIL_BIN" || name == "FRAZIL_CONFIG" || name == "FRAZIL_KILL_POINT";
    for (const auto& k : Keys()) known = known || name == k.env;
    if (!known) Log(LogLevel::kWarn, "ignoring unknown environment variable", {{"name", name}});
  }
  for (const auto& k : Keys()) {
    auto it = env.find(k.env);
    if (it == env.end()) continue;
    auto s = k.set(config, it->second);
    if (!s) return MakeError(ErrorKind::kInvalidArgument, std::string("environment ") + k.env + ": " + s.error().message);
  }
  return config;
}

}  // namespace frazil
