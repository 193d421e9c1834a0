#include "frazil/base/config.h"

#include "frazil/base/log.h"
#include "frazil/base/strings.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
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

Status SetDuration(const std::string& v, int64_t* out, const std::string& what, int64_t min_ms) {
  FRZ_ASSIGN_OR_RETURN(*out, ParseDurationMs(v, what));
  if (*out < min_ms) {
    return MakeError(ErrorKind::kInvalidArgument, what + " must be at least " + std::to_string(min_ms) + " ms, got " + v);
  }
  return Ok();
}

Status SetCount(const std::string& v, int* out, const std::string& what, int64_t lo, int64_t hi) {
  int64_t n = 0;
  FRZ_RETURN_IF_ERROR(ParseInt(v, &n, what));
  if (n < lo || n > hi) {
    return MakeError(ErrorKind::kInvalidArgument,
                     what + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + v);
  }
  *out = static_cast<int>(n);
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
      {"http.listen", "FRAZIL_HTTP_LISTEN",
       [](Config& c, const std::string& v) -> Status { c.metrics_listen = v; return Ok(); }},
      {"orchestrator.enabled", "FRAZIL_ORCHESTRATOR_ENABLED",
       [](Config& c, const std::string& v) -> Status { return ParseBool(v, &c.orchestrator.enabled, "orchestrator.enabled"); }},
      {"orchestrator.max_concurrent_runs", "FRAZIL_ORCHESTRATOR_MAX_CONCURRENT_RUNS",
       [](Config& c, const std::string& v) -> Status {
         return SetCount(v, &c.orchestrator.max_concurrent_runs, "orchestrator.max_concurrent_runs", 1, 64);
       }},
      {"orchestrator.poll_interval", "FRAZIL_ORCHESTRATOR_POLL_INTERVAL",
       [](Config& c, const std::string& v) -> Status {
         return SetDuration(v, &c.orchestrator.poll_interval_ms, "orchestrator.poll_interval", 10);
       }},
      {"orchestrator.debounce", "FRAZIL_ORCHESTRATOR_DEBOUNCE",
       [](Config& c, const std::string& v) -> Status { return SetDuration(v, &c.orchestrator.debounce_ms, "orchestrator.debounce", 0); }},
      {"orchestrator.max_delay", "FRAZIL_ORCHESTRATOR_MAX_DELAY",
       [](Config& c, const std::string& v) -> Status { return SetDuration(v, &c.orchestrator.max_delay_ms, "orchestrator.max_delay", 0); }},
      {"orchestrator.min_interval", "FRAZIL_ORCHESTRATOR_MIN_INTERVAL",
       [](Config& c, const std::string& v) -> Status {
         return SetDuration(v, &c.orchestrator.min_interval_ms, "orchestrator.min_interval", 0);
       }},
      {"orchestrator.freshness_target", "FRAZIL_ORCHESTRATOR_FRESHNESS_TARGET",
       [](Config& c, const std::string& v) -> Status {
         return SetDuration(v, &c.orchestrator.freshness_target_ms, "orchestrator.freshness_target", 0);
       }},
      {"orchestrator.max_attempts", "FRAZIL_ORCHESTRATOR_MAX_ATTEMPTS",
       [](Config& c, const std::string& v) -> Status {
         return SetCount(v, &c.orchestrator.max_attempts, "orchestrator.max_attempts", 1, 100);
       }},
      {"orchestrator.retry_backoff", "FRAZIL_ORCHESTRATOR_RETRY_BACKOFF",
       [](Config& c, const std::string& v) -> Status {
         return SetDuration(v, &c.orchestrator.retry_backoff_ms, "orchestrator.retry_backoff", 0);
       }},
      {"orchestrator.compact_models_delete_files", "FRAZIL_ORCHESTRATOR_COMPACT_MODELS_DELETE_FILES",
       [](Config& c, const std::string& v) -> Status {
         return SetCount(v, &c.orchestrator.compact_models_delete_files, "orchestrator.compact_models_delete_files", 0, 1000000);
       }},
      {"orchestrator.compact_models_data_files", "FRAZIL_ORCHESTRATOR_COMPACT_MODELS_DATA_FILES",
       [](Config& c, const std::string& v) -> Status {
         return SetCount(v, &c.orchestrator.compact_models_data_files, "orchestrator.compact_models_data_files", 1, 1000000);
       }},
      {"orchestrator.run_retention", "FRAZIL_ORCHESTRATOR_RUN_RETENTION",
       [](Config& c, const std::string& v) -> Status {
         return SetDuration(v, &c.orchestrator.run_retention_ms, "orchestrator.run_retention", 0);
       }},
      {"http.tls_cert", "FRAZIL_HTTP_TLS_CERT",
       [](Config& c, const std::string& v) -> Status { c.http_tls_cert = v; return Ok(); }},
      {"http.tls_key", "FRAZIL_HTTP_TLS_KEY",
       [](Config& c, const std::string& v) -> Status { c.http_tls_key = v; return Ok(); }},
      {"engine.extension_directory", "FRAZIL_ENGINE_EXTENSION_DIRECTORY",
       [](Config& c, const std::string& v) -> Status { c.extension_directory = v; return Ok(); }},
      {"state_dir", "FRAZIL_STATE_DIR", [](Config& c, const std::string& v) -> Status { c.state_dir = v; return Ok(); }},
      {"s3.endpoint", "FRAZIL_S3_ENDPOINT", [](Config& c, const std::string& v) -> Status { c.s3.endpoint = v; return Ok(); }},
      {"s3.region", "FRAZIL_S3_REGION", [](Config& c, const std::string& v) -> Status { c.s3.region = v; return Ok(); }},
      {"s3.addressing", "FRAZIL_S3_ADDRESSING",
       [](Config& c, const std::string& v) -> Status {
         if (v != "auto" && v != "path" && v != "virtual-host") {
           return Status(MakeError(ErrorKind::kInvalidArgument, "s3.addressing must be auto, path or virtual-host, got '" + v + "'"));
         }
         c.s3.addressing = v;
         return Ok();
       }},
      {"s3.access_key_id", "FRAZIL_S3_ACCESS_KEY_ID",
       [](Config& c, const std::string& v) -> Status { c.s3.access_key_id = v; return Ok(); }},
      {"s3.secret_access_key", "FRAZIL_S3_SECRET_ACCESS_KEY",
       [](Config& c, const std::string& v) -> Status { c.s3.secret_access_key = v; return Ok(); }},
      {"s3.secret_access_key_env", "FRAZIL_S3_SECRET_ACCESS_KEY_ENV",
       [](Config& c, const std::string& v) -> Status {
         const char* secret = std::getenv(v.c_str());
         if (secret == nullptr) {
           return Status(MakeError(ErrorKind::kInvalidArgument, "s3.secret_access_key_env names " + v + ", which is not set"));
         }
         c.s3.secret_access_key = secret;
         return Ok();
       }},
      {"s3.session_token", "FRAZIL_S3_SESSION_TOKEN",
       [](Config& c, const std::string& v) -> Status { c.s3.session_token = v; return Ok(); }},
      {"s3.part_size", "FRAZIL_S3_PART_SIZE",
       [](Config& c, const std::string& v) -> Status {
         FRZ_ASSIGN_OR_RETURN(c.s3.part_size, ParseByteSize(v));
         if (c.s3.part_size < (5LL << 20)) {
           return Status(MakeError(ErrorKind::kInvalidArgument, "s3.part_size must be at least 5MiB (S3's smallest part), got " + v));
         }
         return Ok();
       }},
      {"s3.checksum", "FRAZIL_S3_CHECKSUM",
       [](Config& c, const std::string& v) -> Status {
         if (v != "crc32c" && v != "sha256") {
           return Status(MakeError(ErrorKind::kInvalidArgument, "s3.checksum must be crc32c or sha256, got '" + v + "'"));
         }
         c.s3.checksum = v;
         return Ok();
       }},
      {"s3.upload_concurrency", "FRAZIL_S3_UPLOAD_CONCURRENCY",
       [](Config& c, const std::string& v) -> Status { return SetCount(v, &c.s3.upload_concurrency, "s3.upload_concurrency", 1, 64); }},
      {"s3.max_attempts", "FRAZIL_S3_MAX_ATTEMPTS",
       [](Config& c, const std::string& v) -> Status { return SetCount(v, &c.s3.max_attempts, "s3.max_attempts", 1, 100); }},
      {"s3.request_timeout", "FRAZIL_S3_REQUEST_TIMEOUT",
       [](Config& c, const std::string& v) -> Status {
         return SetDuration(v, &c.s3.request_timeout_ms, "s3.request_timeout", 100);
       }},
      {"s3.connect_timeout", "FRAZIL_S3_CONNECT_TIMEOUT",
       [](Config& c, const std::string& v) -> Status {
         return SetDuration(v, &c.s3.connect_timeout_ms, "s3.connect_timeout", 100);
       }},
      {"s3.verify_tls", "FRAZIL_S3_VERIFY_TLS",
       [](Config& c, const std::string& v) -> Status { return ParseBool(v, &c.s3.verify_tls, "s3.verify_tls"); }},
      {"s3.vended_access_key_id", "FRAZIL_S3_VENDED_ACCESS_KEY_ID",
       [](Config& c, const std::string& v) -> Status { c.s3.vended_access_key_id = v; return Ok(); }},
      {"s3.vended_secret_access_key", "FRAZIL_S3_VENDED_SECRET_ACCESS_KEY",
       [](Config& c, const std::string& v) -> Status { c.s3.vended_secret_access_key = v; return Ok(); }},
      {"s3.vended_session_token", "FRAZIL_S3_VENDED_SESSION_TOKEN",
       [](Config& c, const std::string& v) -> Status { c.s3.vended_session_token = v; return Ok(); }},
      {"rest.vend_credentials", "FRAZIL_REST_VEND_CREDENTIALS",
       [](Config& c, const std::string& v) -> Status { return ParseBool(v, &c.rest.vend_credentials, "rest.vend_credentials"); }},
      {"s3.ca_file", "FRAZIL_S3_CA_FILE", [](Config& c, const std::string& v) -> Status { c.s3.ca_file = v; return Ok(); }},
      {"catalog.credential", "FRAZIL_CATALOG_CREDENTIAL",
       [](Config& c, const std::string& v) -> Status { c.catalog_credential = v; return Ok(); }},
      {"rest.enabled", "FRAZIL_REST_ENABLED",
       [](Config& c, const std::string& v) -> Status { return ParseBool(v, &c.rest.enabled, "rest.enabled"); }},
      {"rest.auth", "FRAZIL_REST_AUTH",
       [](Config& c, const std::string& v) -> Status {
         if (v != "auto" && v != "none" && v != "oauth2") {
           return Status(MakeError(ErrorKind::kInvalidArgument, "rest.auth must be auto, none or oauth2, got '" + v + "'"));
         }
         c.rest.auth = v;
         return Ok();
       }},
      {"rest.token_ttl", "FRAZIL_REST_TOKEN_TTL",
       [](Config& c, const std::string& v) -> Status { return SetDuration(v, &c.rest.token_ttl_ms, "rest.token_ttl", 1000); }},
      {"rest.token_key", "FRAZIL_REST_TOKEN_KEY",
       [](Config& c, const std::string& v) -> Status {
         if (v.size() < 32) {
           return Status(MakeError(ErrorKind::kInvalidArgument, "rest.token_key must have at least 32 characters"));
         }
         c.rest.token_key = v;
         return Ok();
       }},
      {"rest.allowed_locations", "FRAZIL_REST_ALLOWED_LOCATIONS",
       [](Config& c, const std::string& v) -> Status {
         c.rest.allowed_locations = SplitList(v);
         return Ok();
       }},
      {"rest.max_request_size", "FRAZIL_REST_MAX_REQUEST_SIZE",
       [](Config& c, const std::string& v) -> Status {
         auto bytes = ParseByteSize(v);
         if (!bytes) return Status(MakeError(ErrorKind::kInvalidArgument, "rest.max_request_size: " + bytes.error().message));
         c.rest.max_request_bytes = *bytes;
         if (c.rest.max_request_bytes < 1024) {
           return Status(MakeError(ErrorKind::kInvalidArgument, "rest.max_request_size must be at least 1KB, got " + v));
         }
         return Ok();
       }},
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

// orchestrator.assets / jobs / schedules: sequences of mappings.
Status ApplyOrchestratorList(Config& config, const std::string& key, const YAML::Node& list, const std::string& file) {
  auto where = [&](const YAML::Node& n) { return file + ":" + std::to_string(n.Mark().line + 1) + ": "; };
  if (!list.IsSequence()) return MakeError(ErrorKind::kInvalidArgument, where(list) + "'" + key + "' must be a list of mappings");
  auto& o = config.orchestrator;
  for (const auto& item : list) {
    if (!item.IsMap()) return MakeError(ErrorKind::kInvalidArgument, where(item) + "each entry of '" + key + "' must be a mapping");
    Config::Orchestrator::AssetPolicy policy;
    Config::Orchestrator::Job job;
    Config::Orchestrator::Schedule schedule;
    for (const auto& kv : item) {
      const std::string field = kv.first.as<std::string>();
      const std::string what = key + "[]." + field;
      auto fail = [&](const Error& e) { return MakeError(ErrorKind::kInvalidArgument, where(kv.first) + e.message); };
      auto scalar = [&]() -> Result<std::string> {
        if (!kv.second.IsScalar()) return MakeError(ErrorKind::kInvalidArgument, what + " must be a single value");
        return kv.second.as<std::string>();
      };
      auto strings = [&]() -> Result<std::vector<std::string>> {
        if (kv.second.IsScalar()) return SplitList(kv.second.as<std::string>());
        if (!kv.second.IsSequence()) return MakeError(ErrorKind::kInvalidArgument, what + " must be a list");
        std::vector<std::string> out;
        for (const auto& x : kv.second) out.push_back(x.as<std::string>());
        return out;
      };
      Status s = Ok();
      if (key == "orchestrator.assets") {
        auto v = scalar();
        if (!v) return fail(v.error());
        if (field == "match") {
          policy.match = *v;
        } else if (field == "automatic") {
          bool b = true;
          s = ParseBool(*v, &b, what);
          policy.automatic = b ? 1 : 0;
        } else if (field == "debounce") {
          s = SetDuration(*v, &policy.debounce_ms, what, 0);
        } else if (field == "max_delay") {
          s = SetDuration(*v, &policy.max_delay_ms, what, 0);
        } else if (field == "min_interval") {
          s = SetDuration(*v, &policy.min_interval_ms, what, 0);
        } else if (field == "freshness_target") {
          s = SetDuration(*v, &policy.freshness_target_ms, what, 0);
        } else {
          s = MakeError(ErrorKind::kInvalidArgument, "unknown key '" + field +
                                                         "' (match, automatic, debounce, max_delay, min_interval, freshness_target)");
        }
      } else if (key == "orchestrator.jobs") {
        if (field == "assets" || field == "tables" || field == "models") {
          auto v = strings();
          if (!v) return fail(v.error());
          job.assets.insert(job.assets.end(), v->begin(), v->end());
        } else if (field == "params") {
          if (!kv.second.IsMap()) return fail(Error{ErrorKind::kInvalidArgument, what + " must be a mapping"});
          for (const auto& p : kv.second) job.params[p.first.as<std::string>()] = p.second.as<std::string>();
        } else {
          auto v = scalar();
          if (!v) return fail(v.error());
          if (field == "name") job.name = *v;
          else if (field == "task") job.task = *v;
          else if (field == "description") job.description = *v;
          else if (field == "max_attempts") s = SetCount(*v, &job.max_attempts, what, 1, 100);
          else if (field == "timeout") s = SetDuration(*v, &job.timeout_ms, what, 0);
          else s = MakeError(ErrorKind::kInvalidArgument, "unknown key '" + field + "' (name, task, assets, params, max_attempts, timeout, description)");
        }
      } else {
        auto v = scalar();
        if (!v) return fail(v.error());
        if (field == "name") schedule.name = *v;
        else if (field == "cron") schedule.cron = *v;
        else if (field == "time_zone" || field == "timezone") schedule.time_zone = *v;
        else if (field == "job") schedule.job = *v;
        else if (field == "enabled") s = ParseBool(*v, &schedule.enabled, what);
        else s = MakeError(ErrorKind::kInvalidArgument, "unknown key '" + field + "' (name, cron, time_zone, job, enabled)");
      }
      if (!s) return fail(s.error());
    }
    if (key == "orchestrator.assets") {
      if (policy.match.empty()) return MakeError(ErrorKind::kInvalidArgument, where(item) + "an orchestrator.assets entry needs 'match'");
      o.assets.push_back(std::move(policy));
    } else if (key == "orchestrator.jobs") {
      if (job.name.empty() || job.task.empty()) {
        return MakeError(ErrorKind::kInvalidArgument, where(item) + "an orchestrator.jobs entry needs 'name' and 'task'");
      }
      o.jobs.push_back(std::move(job));
    } else {
      if (schedule.name.empty() || schedule.cron.empty() || schedule.job.empty()) {
        return MakeError(ErrorKind::kInvalidArgument, where(item) + "an orchestrator.schedules entry needs 'name', 'cron' and 'job'");
      }
      o.schedules.push_back(std::move(schedule));
    }
  }
  return Ok();
}

// rest.clients: [{id, secret | secret_env, access: read-only | read-write}].
Status ApplyRestClients(Config& config, const YAML::Node& list, const std::string& file) {
  auto where = [&](const YAML::Node& n) { return file + ":" + std::to_string(n.Mark().line + 1) + ": "; };
  if (!list.IsSequence()) return MakeError(ErrorKind::kInvalidArgument, where(list) + "'rest.clients' must be a list of mappings");
  for (const auto& item : list) {
    if (!item.IsMap()) return MakeError(ErrorKind::kInvalidArgument, where(item) + "each entry of 'rest.clients' must be a mapping");
    Config::Rest::Client client;
    for (const auto& kv : item) {
      const std::string field = kv.first.as<std::string>();
      if (!kv.second.IsScalar()) {
        return MakeError(ErrorKind::kInvalidArgument, where(kv.first) + "rest.clients[]." + field + " must be a single value");
      }
      std::string v = kv.second.as<std::string>();
      if (field == "id") client.id = v;
      else if (field == "secret") client.secret = v;
      else if (field == "secret_env") client.secret_env = v;
      else if (field == "access") {
        if (v != "read-only" && v != "read-write") {
          return MakeError(ErrorKind::kInvalidArgument, where(kv.first) + "rest.clients[].access must be read-only or read-write, got '" + v + "'");
        }
        client.access = v;
      } else {
        return MakeError(ErrorKind::kInvalidArgument, where(kv.first) + "unknown key 'rest.clients[]." + field + "' (id, secret, secret_env, access)");
      }
    }
    if (client.id.empty() || (client.secret.empty() == client.secret_env.empty())) {
      return MakeError(ErrorKind::kInvalidArgument, where(item) + "a rest.clients entry needs 'id' and exactly one of 'secret' or 'secret_env'");
    }
    config.rest.clients.push_back(std::move(client));
  }
  return Ok();
}

Status ApplyNode(Config& config, const YAML::Node& node, const std::string& prefix, const std::string& file) {
  for (const auto& kv : node) {
    std::string key = prefix + kv.first.as<std::string>();
    if (key == "orchestrator.assets" || key == "orchestrator.jobs" || key == "orchestrator.schedules") {
      FRZ_RETURN_IF_ERROR(ApplyOrchestratorList(config, key, kv.second, file));
      continue;
    }
    if (key == "rest.clients") {
      FRZ_RETURN_IF_ERROR(ApplyRestClients(config, kv.second, file));
      continue;
    }
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
    if (kv.second.IsSequence() && (key == "source.tables" || key == "source.mirror_exclude" || key == "rest.allowed_locations")) {
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

Result<int64_t> ParseDurationMs(const std::string& text, const std::string& what) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    used = 0;
  }
  std::string unit = used ? text.substr(used) : "";
  while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
  double scale = -1;
  if (unit.empty() || unit == "ms") scale = 1;
  else if (unit == "s") scale = 1000;
  else if (unit == "m" || unit == "min") scale = 60000;
  else if (unit == "h") scale = 3600000;
  else if (unit == "d") scale = 86400000;
  if (used == 0 || scale < 0 || v < 0 || v * scale > 9.2e15) {
    return MakeError(ErrorKind::kInvalidArgument,
                     what + ": expected a duration like 500ms, 2s, 5m, 1h or 7d, got '" + text + "'");
  }
  return static_cast<int64_t>(v * scale + 0.5);
}

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
