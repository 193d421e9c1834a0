#include "frazil/rest/rest_catalog.h"

#include <algorithm>
#include <random>
#include <thread>

#include "frazil/base/log.h"
#include "frazil/rest/messages.h"

namespace frazil::rest {

using nlohmann::json;

namespace {

// What the spec lets a client assume when the config lists no endpoints (Java's
// RESTSessionCatalog DEFAULT_ENDPOINTS): no HEAD, so existence checks use GET.
const std::set<std::string>& DefaultEndpoints() {
  static const std::set<std::string> kDefault = {
      "GET /v1/{prefix}/namespaces",
      "POST /v1/{prefix}/namespaces",
      "GET /v1/{prefix}/namespaces/{namespace}",
      "DELETE /v1/{prefix}/namespaces/{namespace}",
      "POST /v1/{prefix}/namespaces/{namespace}/properties",
      "GET /v1/{prefix}/namespaces/{namespace}/tables",
      "POST /v1/{prefix}/namespaces/{namespace}/tables",
      "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
      "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
      "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
      "POST /v1/{prefix}/namespaces/{namespace}/register",
      "POST /v1/{prefix}/tables/rename",
      "POST /v1/{prefix}/transactions/commit",
  };
  return kDefault;
}

constexpr const char* kListNamespaces = "GET /v1/{prefix}/namespaces";
constexpr const char* kCreateNamespace = "POST /v1/{prefix}/namespaces";
constexpr const char* kLoadNamespace = "GET /v1/{prefix}/namespaces/{namespace}";
constexpr const char* kNamespaceExists = "HEAD /v1/{prefix}/namespaces/{namespace}";
constexpr const char* kDropNamespace = "DELETE /v1/{prefix}/namespaces/{namespace}";
constexpr const char* kUpdateNamespace = "POST /v1/{prefix}/namespaces/{namespace}/properties";
constexpr const char* kListTables = "GET /v1/{prefix}/namespaces/{namespace}/tables";
constexpr const char* kCreateTable = "POST /v1/{prefix}/namespaces/{namespace}/tables";
constexpr const char* kLoadTable = "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}";
constexpr const char* kTableExists = "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}";
constexpr const char* kUpdateTable = "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}";
constexpr const char* kDropTable = "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}";
constexpr const char* kRegisterTable = "POST /v1/{prefix}/namespaces/{namespace}/register";
constexpr const char* kRenameTable = "POST /v1/{prefix}/tables/rename";
constexpr const char* kCommitTransaction = "POST /v1/{prefix}/transactions/commit";

constexpr std::chrono::milliseconds kMaxRetryWait{5'000};

std::string NsPath(const catalog::Namespace& ns) { return "namespaces/" + io::PercentEncode(JoinNamespace(ns)); }

std::string TablePath(const catalog::TableIdentifier& id) {
  return NsPath(id.ns) + "/tables/" + io::PercentEncode(id.name);
}

std::string NsName(const catalog::Namespace& ns) { return ns.empty() ? "(top level)" : catalog::NamespaceToString(ns); }

// nlohmann throws on type mismatches; every read of a server's body goes through these.
Result<json> ParseJson(const std::string& body, const std::string& what) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return MakeError(ErrorKind::kCorrupt, what + ": the server's answer is not JSON");
  return j;
}

Result<std::map<std::string, std::string>> StringMapField(const json& j, const char* key, const std::string& what) {
  std::map<std::string, std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object()) return MakeError(ErrorKind::kCorrupt, what + ": '" + key + "' is not an object");
  for (const auto& [k, v] : it->items()) out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return out;
}

Result<std::vector<std::string>> StringArray(const json& j, const std::string& what) {
  if (!j.is_array()) return MakeError(ErrorKind::kCorrupt, what + ": expected an array of strings");
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) return MakeError(ErrorKind::kCorrupt, what + ": expected an array of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

// The next-page-token of a list answer; empty when there is none.
Result<std::string> NextPageToken(const json& j, const std::string& what) {
  auto it = j.find("next-page-token");
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) return MakeError(ErrorKind::kCorrupt, what + ": 'next-page-token' is not a string");
  return it->get<std::string>();
}

std::optional<std::chrono::milliseconds> RetryAfter(const io::HttpResponse& r) {
  const std::string* v = r.headers.Find("Retry-After");
  if (v == nullptr || v->empty() || !std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '9'; }) || v->size() > 6) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(std::stoll(*v) * 1000);
}

std::chrono::milliseconds Backoff(std::chrono::milliseconds base, int attempt) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t ms = base.count() << std::min(attempt - 1, 10);
  ms = std::min<int64_t>(ms, kMaxRetryWait.count());
  std::uniform_int_distribution<int64_t> jitter(ms * 3 / 4, ms);
  return std::chrono::milliseconds(jitter(rng));
}

bool IsHttpUri(std::string_view uri) { return uri.starts_with("http://") || uri.starts_with("https://"); }

std::string TrimSlashes(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

// One REST call: what it is (for messages and error defaults) and what it sends.
struct RestCatalog::Call {
  enum class Kind {
    kRead,    // GET/HEAD: retried on connection failures, 429 and 503
    kWrite,   // not retried once the server may have received it
    kCommit,  // as kWrite; 5xx and failures after sending are CommitStateUnknown
  };
  std::string op;      // "load table"
  std::string target;  // "db.t"
  std::string method;
  std::string url;
  std::optional<json> body;
  Kind kind = Kind::kRead;
  ErrorKind not_found = ErrorKind::kNotFound;     // 404 without a telling error type
  ErrorKind conflict = ErrorKind::kAlreadyExists;  // 409 without a telling error type

  std::string Where() const { return op + " " + target; }
};

struct RestCatalog::Token {
  std::string access_token;
  int64_t refresh_at_ms = INT64_MAX;  // renew from then on
};

RestCatalog::RestCatalog(RestCatalogOptions options)
    : options_(std::move(options)),
      name_(options_.name),
      transport_(options_.transport ? options_.transport : io::NewCurlTransport()),
      clock_(options_.clock ? options_.clock : &Clock::System()) {
  if (!options_.sleep) options_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  if (options_.max_attempts < 1) options_.max_attempts = 1;
}

RestCatalog::~RestCatalog() = default;

Result<std::unique_ptr<RestCatalog>> RestCatalog::Make(RestCatalogOptions options) {
  if (options.uri.empty()) return MakeError(ErrorKind::kInvalidArgument, "REST catalog: uri is required");
  if (!IsHttpUri(options.uri)) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "REST catalog: uri must start with http:// or https:// (got " + io::RedactUrl(options.uri) + ")");
  }
  std::unique_ptr<RestCatalog> catalog(new RestCatalog(std::move(options)));
  FRZ_RETURN_IF_ERROR(catalog->Configure());
  return catalog;
}

Status RestCatalog::Configure() {
  // The client's side of the merge: the properties map, then the typed fields.
  std::map<std::string, std::string> client = options_.properties;
  auto set = [&](const char* key, const std::string& value) {
    if (!value.empty()) client[key] = value;
  };
  set("uri", options_.uri);
  set("warehouse", options_.warehouse);
  set("credential", options_.credential);
  set("token", options_.token);
  set("scope", options_.scope);
  set("oauth2-server-uri", options_.oauth2_server_uri);
  for (const auto& [k, v] : options_.headers) client["header." + k] = v;

  auto apply = [&](const std::map<std::string, std::string>& props) -> Status {
    auto get = [&](const char* key, std::string fallback = {}) {
      auto it = props.find(key);
      return it == props.end() ? fallback : it->second;
    };
    std::string uri = TrimSlashes(get("uri"));
    if (!IsHttpUri(uri)) {
      return MakeError(ErrorKind::kInvalidArgument,
                       "REST catalog: uri must start with http:// or https:// (got " + io::RedactUrl(uri) + ")");
    }
    std::string credential = get("credential"), token = get("token");
    std::string oauth2 = get("oauth2-server-uri", uri + "/v1/oauth/tokens");
    std::string scope = get("scope", "catalog");
    if (credential != credential_ || token != static_token_ || oauth2 != oauth2_uri_ || scope != scope_) {
      std::lock_guard<std::mutex> l(token_mu_);
      token_.reset();
    }
    base_uri_ = uri;
    prefix_ = get("prefix");
    while (!prefix_.empty() && prefix_.front() == '/') prefix_.erase(0, 1);
    prefix_ = TrimSlashes(prefix_);
    credential_ = credential;
    static_token_ = token;
    oauth2_uri_ = oauth2;
    scope_ = scope;
    headers_.clear();
    for (const auto& [k, v] : props) {
      if (k.starts_with("header.") && k.size() > 7) headers_[k.substr(7)] = v;
    }
    properties_ = props;
    return Ok();
  };
  FRZ_RETURN_IF_ERROR(apply(client));

  std::string url = base_uri_ + "/v1/config";
  if (!options_.warehouse.empty()) url += "?warehouse=" + io::PercentEncode(options_.warehouse);
  Call call{.op = "get config", .target = "from " + io::RedactUrl(base_uri_), .method = "GET", .url = url};
  FRZ_ASSIGN_OR_RETURN(io::HttpResponse response, Execute(call));
  FRZ_ASSIGN_OR_RETURN(json config, ParseJson(response.body, call.Where()));
  if (!config.is_object()) return MakeError(ErrorKind::kCorrupt, call.Where() + ": the answer is not an object");
  FRZ_ASSIGN_OR_RETURN(auto defaults, StringMapField(config, "defaults", call.Where()));
  FRZ_ASSIGN_OR_RETURN(auto overrides, StringMapField(config, "overrides", call.Where()));
  endpoints_.clear();
  if (auto it = config.find("endpoints"); it != config.end() && !it->is_null()) {
    FRZ_ASSIGN_OR_RETURN(auto list, StringArray(*it, call.Where() + ": 'endpoints'"));
    endpoints_.insert(list.begin(), list.end());
  }
  std::map<std::string, std::string> merged = std::move(defaults);
  for (const auto& [k, v] : client) merged[k] = v;
  for (const auto& [k, v] : overrides) merged[k] = v;
  return apply(merged);
}

std::map<std::string, std::string> RestCatalog::properties() const {
  std::map<std::string, std::string> out = properties_;
  out.erase("credential");
  out.erase("token");
  return out;
}

Result<std::unique_ptr<catalog::WriteLease>> RestCatalog::AcquireWriteLease(bool exclusive) {
  (void)exclusive;
  return std::unique_ptr<catalog::WriteLease>();
}

bool RestCatalog::Supported(const std::string& endpoint) const {
  return endpoints_.empty() ? DefaultEndpoints().contains(endpoint) : endpoints_.contains(endpoint);
}

Status RestCatalog::Require(const std::string& endpoint) const {
  if (Supported(endpoint)) return Ok();
  return MakeError(ErrorKind::kUnsupported, "REST catalog " + io::RedactUrl(base_uri_) + " does not offer " +
                                                endpoint + " (not in the endpoints of its /v1/config)");
}

std::string RestCatalog::Url(const std::string& path) const {
  return base_uri_ + "/v1/" + (prefix_.empty() ? "" : prefix_ + "/") + path;
}

// --- Authentication ---

Result<std::string> RestCatalog::FetchToken() {
  std::string client_id, client_secret = credential_;
  if (size_t colon = credential_.find(':'); colon != std::string::npos) {
    client_id = credential_.substr(0, colon);
    client_secret = credential_.substr(colon + 1);
  }
  std::vector<std::pair<std::string, std::string>> form{{"grant_type", "client_credentials"}};
  if (!client_id.empty()) form.emplace_back("client_id", client_id);
  form.emplace_back("client_secret", client_secret);
  if (!scope_.empty()) form.emplace_back("scope", scope_);

  io::HttpRequest req;
  req.method = "POST";
  req.url = oauth2_uri_;
  for (const auto& [k, v] : headers_) req.headers.Set(k, v);
  req.headers.Remove("Authorization");
  req.headers.Set("Content-Type", "application/x-www-form-urlencoded");
  req.headers.Set("Accept", "application/json");
  req.body = io::FormEncode(form);
  req.timeout = options_.request_timeout;
  req.connect_timeout = options_.connect_timeout;
  req.ca_file = options_.ca_file;
  req.verify_tls = options_.verify_tls;

  // A token request changes nothing on the server: retried like a read.
  const std::string where = "OAuth2 token request to " + io::RedactUrl(oauth2_uri_);
  Result<io::HttpResponse> response;
  for (int attempt = 1;; ++attempt) {
    response = transport_->Send(req);
    bool retry = !response || response->status == 503 || response->status == 429;
    if (!retry || attempt >= options_.max_attempts) break;
    options_.sleep(Backoff(options_.retry_delay, attempt));
  }
  if (!response) return MakeError(ErrorKind::kIOError, where + " failed: " + response.error().message);
  json body = json::parse(response->body, nullptr, false);
  if (response->status != 200) {
    std::string detail;
    if (body.is_object() && body.contains("error") && body["error"].is_string()) {
      detail = body["error"].get<std::string>();
      if (body.contains("error_description") && body["error_description"].is_string()) {
        detail += ": " + body["error_description"].get<std::string>();
      }
    }
    ErrorKind kind = response->status >= 500 ? ErrorKind::kIOError : ErrorKind::kNotAuthorized;
    return MakeError(kind, where + " failed (HTTP " + std::to_string(response->status) + ")" +
                               (detail.empty() ? "" : ": " + detail));
  }
  if (!body.is_object() || !body.contains("access_token") || !body["access_token"].is_string() ||
      body["access_token"].get<std::string>().empty()) {
    return MakeError(ErrorKind::kNotAuthorized, where + ": the answer has no access_token");
  }
  auto token = std::make_unique<Token>();
  token->access_token = body["access_token"].get<std::string>();
  if (auto it = body.find("expires_in"); it != body.end() && it->is_number() && it->get<double>() > 0) {
    // Renew well before expiry: a minute before, or halfway for short-lived tokens.
    int64_t lifetime_ms = static_cast<int64_t>(it->get<double>() * 1000);
    token->refresh_at_ms = clock_->NowMillis() + std::max(lifetime_ms - 60'000, lifetime_ms / 2);
  }
  std::string value = token->access_token;
  token_ = std::move(token);
  return value;
}

Result<std::string> RestCatalog::BearerToken(bool force) {
  if (credential_.empty()) return static_token_;
  std::lock_guard<std::mutex> l(token_mu_);
  if (!force && token_ && clock_->NowMillis() < token_->refresh_at_ms) return token_->access_token;
  return FetchToken();
}

// --- Calls ---

Result<io::HttpResponse> RestCatalog::SendOnce(const Call& call, const std::string& token) {
  io::HttpRequest req;
  req.method = call.method;
  req.url = call.url;
  for (const auto& [k, v] : headers_) req.headers.Set(k, v);
  req.headers.Set("Accept", "application/json");
  req.headers.Set("User-Agent", "frazil");
  req.headers.Set(kFrazilClientHeader, "1");
  if (!token.empty()) req.headers.Set("Authorization", "Bearer " + token);
  if (call.body) {
    req.headers.Set("Content-Type", "application/json");
    req.body = call.body->dump(-1, ' ', false, json::error_handler_t::replace);
  }
  req.timeout = options_.request_timeout;
  req.connect_timeout = options_.connect_timeout;
  req.ca_file = options_.ca_file;
  req.verify_tls = options_.verify_tls;
  // A write must never be re-sent by curl on a stale keep-alive connection.
  req.idempotent = call.kind == Call::Kind::kRead;
  return transport_->Send(req);
}

namespace {

// The error of a non-2xx answer, from its status and the spec's error body
// {"error": {"message", "type", "code"}}.
Error MapError(const std::string& where, int status, const std::string& body, ErrorKind not_found,
               ErrorKind conflict, bool commit) {
  std::string message, type;
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>();
    if (e.contains("type") && e["type"].is_string()) type = e["type"].get<std::string>();
  } else if (!body.empty()) {
    message = body.substr(0, 200);
  }
  std::string text = where + ": " + (message.empty() ? "no message" : message) + " (HTTP " +
                     std::to_string(status) + (type.empty() ? "" : " " + type) + ")";
  ErrorKind kind;
  if (status == 400 || status == 422) {
    kind = ErrorKind::kInvalidArgument;
  } else if (status == 401 || status == 419) {
    kind = ErrorKind::kNotAuthorized;
  } else if (status == 403) {
    kind = ErrorKind::kForbidden;
  } else if (status == 404) {
    if (type == "NoSuchNamespaceException") kind = ErrorKind::kNoSuchNamespace;
    else if (type == "NoSuchTableException") kind = ErrorKind::kNoSuchTable;
    else if (type == "NotFoundException") kind = ErrorKind::kNotFound;
    else kind = not_found;
  } else if (status == 405 || status == 406 || status == 501) {
    kind = ErrorKind::kUnsupported;
  } else if (status == 409) {
    if (type == "AlreadyExistsException") kind = ErrorKind::kAlreadyExists;
    else if (type == "CommitFailedException") kind = ErrorKind::kCommitFailed;
    else if (type == "NamespaceNotEmptyException") kind = ErrorKind::kNamespaceNotEmpty;
    else kind = conflict;
  } else if (commit && (status == 500 || status == 502 || status == 503 || status == 504)) {
    kind = ErrorKind::kCommitStateUnknown;
  } else if (status >= 500 || status == 408 || status == 429 || (status >= 300 && status < 400)) {
    kind = ErrorKind::kIOError;
  } else {
    kind = ErrorKind::kInvalidArgument;
  }
  return Error{kind, std::move(text)};
}

}  // namespace

Result<io::HttpResponse> RestCatalog::Execute(const Call& call) {
  const bool read = call.kind == Call::Kind::kRead;
  bool renewed = false;
  for (int attempt = 1;; ++attempt) {
    FRZ_ASSIGN_OR_RETURN(std::string token, BearerToken(false));
    Result<io::HttpResponse> response = SendOnce(call, token);
    if (!response) {
      io::HttpFailure failure = io::HttpFailureOf(response.error());
      if ((read || failure == io::HttpFailure::kNotSent) && attempt < options_.max_attempts) {
        Log(LogLevel::kWarn, "rest catalog: retrying",
            {{"op", call.op}, {"attempt", std::to_string(attempt)}, {"error", response.error().message}});
        options_.sleep(Backoff(options_.retry_delay, attempt));
        continue;
      }
      if (call.kind == Call::Kind::kCommit && failure == io::HttpFailure::kMaybeSent) {
        return MakeError(ErrorKind::kCommitStateUnknown,
                         call.Where() + ": the commit may or may not have happened: " + response.error().message);
      }
      return MakeError(ErrorKind::kIOError, call.Where() + ": " + response.error().message);
    }
    int status = response->status;
    if (status >= 200 && status < 300) return response;
    if (status == 401 && !credential_.empty() && !renewed) {
      // The token was revoked or expired early; nothing was done, so one renewal and one
      // more try are safe, commits included.
      renewed = true;
      FRZ_RETURN_IF_ERROR(BearerToken(true));
      --attempt;
      continue;
    }
    if (read && (status == 503 || status == 429) && attempt < options_.max_attempts) {
      std::chrono::milliseconds wait = RetryAfter(*response).value_or(Backoff(options_.retry_delay, attempt));
      Log(LogLevel::kWarn, "rest catalog: retrying",
          {{"op", call.op}, {"attempt", std::to_string(attempt)}, {"status", std::to_string(status)}});
      options_.sleep(std::min(wait, kMaxRetryWait));
      continue;
    }
    return std::unexpected(MapError(call.Where(), status, response->body, call.not_found, call.conflict,
                                    call.kind == Call::Kind::kCommit));
  }
}

Result<catalog::LoadedTable> RestCatalog::ParseLoadResult(const io::HttpResponse& response, const std::string& what) {
  FRZ_ASSIGN_OR_RETURN(json j, ParseJson(response.body, what));
  if (!j.is_object()) return MakeError(ErrorKind::kCorrupt, what + ": the answer is not an object");
  catalog::LoadedTable out;
  auto loc = j.find("metadata-location");
  if (loc == j.end() || !loc->is_string()) {
    return MakeError(ErrorKind::kCorrupt, what + ": the answer has no metadata-location");
  }
  out.metadata_location = loc->get<std::string>();
  auto metadata = j.find("metadata");
  if (metadata == j.end() || !metadata->is_object()) {
    return MakeError(ErrorKind::kCorrupt, what + ": the answer has no metadata");
  }
  auto parsed = iceberg::TableMetadataFromJson(*metadata);
  if (!parsed) return MakeError(ErrorKind::kCorrupt, what + ": " + parsed.error().message);
  out.metadata = std::move(*parsed);
  return out;
}

// --- Namespaces ---

Result<std::vector<catalog::Namespace>> RestCatalog::ListNamespaces(const catalog::Namespace& parent_in) {
  catalog::Namespace parent;
  if (!parent_in.empty()) {
    FRZ_ASSIGN_OR_RETURN(parent, catalog::NormalizeNamespace(parent_in));
  }
  FRZ_RETURN_IF_ERROR(Require(kListNamespaces));
  std::vector<catalog::Namespace> out;
  std::set<std::string> tokens_seen;
  std::string page_token;  // empty on the first request: tells the server we page
  while (true) {
    std::string url = Url("namespaces?pageToken=" + io::PercentEncode(page_token));
    if (!parent.empty()) url += "&parent=" + io::PercentEncode(JoinNamespace(parent));
    Call call{.op = "list namespaces", .target = "in " + NsName(parent), .method = "GET", .url = url,
              .not_found = ErrorKind::kNoSuchNamespace};
    FRZ_ASSIGN_OR_RETURN(io::HttpResponse response, Execute(call));
    FRZ_ASSIGN_OR_RETURN(json j, ParseJson(response.body, call.Where()));
    if (!j.is_object() || !j.contains("namespaces") || !j["namespaces"].is_array()) {
      return MakeError(ErrorKind::kCorrupt, call.Where() + ": the answer has no 'namespaces' array");
    }
    for (const json& ns : j["namespaces"]) {
      FRZ_ASSIGN_OR_RETURN(auto levels, StringArray(ns, call.Where() + ": a namespace"));
      out.push_back(std::move(levels));
    }
    FRZ_ASSIGN_OR_RETURN(page_token, NextPageToken(j, call.Where()));
    if (page_token.empty()) break;
    if (!tokens_seen.insert(page_token).second) {
      return MakeError(ErrorKind::kIOError, call.Where() + ": the server repeated a page token");
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Status RestCatalog::CreateNamespace(const catalog::Namespace& ns_in, const catalog::Properties& properties) {
  FRZ_ASSIGN_OR_RETURN(catalog::Namespace ns, catalog::NormalizeNamespace(ns_in));
  FRZ_RETURN_IF_ERROR(Require(kCreateNamespace));
  Call call{.op = "create namespace", .target = NsName(ns), .method = "POST", .url = Url("namespaces"),
            .body = json{{"namespace", ns}, {"properties", properties}}, .kind = Call::Kind::kWrite,
            .not_found = ErrorKind::kNoSuchNamespace, .conflict = ErrorKind::kAlreadyExists};
  FRZ_RETURN_IF_ERROR(Execute(call));
  return Ok();
}

Result<catalog::Properties> RestCatalog::LoadNamespaceMetadata(const catalog::Namespace& ns_in) {
  FRZ_ASSIGN_OR_RETURN(catalog::Namespace ns, catalog::NormalizeNamespace(ns_in));
  FRZ_RETURN_IF_ERROR(Require(kLoadNamespace));
  Call call{.op = "load namespace", .target = NsName(ns), .method = "GET", .url = Url(NsPath(ns)),
            .not_found = ErrorKind::kNoSuchNamespace};
  FRZ_ASSIGN_OR_RETURN(io::HttpResponse response, Execute(call));
  FRZ_ASSIGN_OR_RETURN(json j, ParseJson(response.body, call.Where()));
  if (!j.is_object()) return MakeError(ErrorKind::kCorrupt, call.Where() + ": the answer is not an object");
  return StringMapField(j, "properties", call.Where());
}

Result<bool> RestCatalog::NamespaceExists(const catalog::Namespace& ns_in) {
  FRZ_ASSIGN_OR_RETURN(catalog::Namespace ns, catalog::NormalizeNamespace(ns_in));
  bool head = Supported(kNamespaceExists);
  if (!head) FRZ_RETURN_IF_ERROR(Require(kLoadNamespace));
  Call call{.op = "check namespace", .target = NsName(ns), .method = head ? "HEAD" : "GET",
            .url = Url(NsPath(ns)), .not_found = ErrorKind::kNoSuchNamespace};
  auto response = Execute(call);
  if (response) return true;
  if (response.error().kind == ErrorKind::kNoSuchNamespace) return false;
  return std::unexpected(response.error());
}

Status RestCatalog::DropNamespace(const catalog::Namespace& ns_in) {
  FRZ_ASSIGN_OR_RETURN(catalog::Namespace ns, catalog::NormalizeNamespace(ns_in));
  FRZ_RETURN_IF_ERROR(Require(kDropNamespace));
  Call call{.op = "drop namespace", .target = NsName(ns), .method = "DELETE", .url = Url(NsPath(ns)),
            .kind = Call::Kind::kWrite, .not_found = ErrorKind::kNoSuchNamespace,
            .conflict = ErrorKind::kNamespaceNotEmpty};
  FRZ_RETURN_IF_ERROR(Execute(call));
  return Ok();
}

Status RestCatalog::UpdateNamespaceProperties(const catalog::Namespace& ns_in, const std::vector<std::string>& removals,
                                              const catalog::Properties& updates) {
  FRZ_ASSIGN_OR_RETURN(catalog::Namespace ns, catalog::NormalizeNamespace(ns_in));
  for (const std::string& key : removals) {
    if (updates.contains(key)) {
      return MakeError(ErrorKind::kInvalidArgument,
                       "update namespace " + NsName(ns) + ": property '" + key + "' is both removed and set");
    }
  }
  FRZ_RETURN_IF_ERROR(Require(kUpdateNamespace));
  Call call{.op = "update namespace", .target = NsName(ns), .method = "POST", .url = Url(NsPath(ns) + "/properties"),
            .body = json{{"removals", removals}, {"updates", updates}}, .kind = Call::Kind::kWrite,
            .not_found = ErrorKind::kNoSuchNamespace};
  FRZ_RETURN_IF_ERROR(Execute(call));
  return Ok();
}

// --- Tables ---

Result<std::vector<catalog::TableIdentifier>> RestCatalog::ListTables(const catalog::Namespace& ns_in) {
  FRZ_ASSIGN_OR_RETURN(catalog::Namespace ns, catalog::NormalizeNamespace(ns_in));
  FRZ_RETURN_IF_ERROR(Require(kListTables));
  std::vector<catalog::TableIdentifier> out;
  std::set<std::string> tokens_seen;
  std::string page_token;
  while (true) {
    Call call{.op = "list tables", .target = "in " + NsName(ns), .method = "GET",
              .url = Url(NsPath(ns) + "/tables?pageToken=" + io::PercentEncode(page_token)),
              .not_found = ErrorKind::kNoSuchNamespace};
    FRZ_ASSIGN_OR_RETURN(io::HttpResponse response, Execute(call));
    FRZ_ASSIGN_OR_RETURN(json j, ParseJson(response.body, call.Where()));
    if (!j.is_object() || !j.contains("identifiers") || !j["identifiers"].is_array()) {
      return MakeError(ErrorKind::kCorrupt, call.Where() + ": the answer has no 'identifiers' array");
    }
    for (const json& id : j["identifiers"]) {
      if (!id.is_object() || !id.contains("namespace") || !id.contains("name") || !id["name"].is_string()) {
        return MakeError(ErrorKind::kCorrupt, call.Where() + ": malformed table identifier " + id.dump());
      }
      FRZ_ASSIGN_OR_RETURN(auto levels, StringArray(id["namespace"], call.Where() + ": a table's namespace"));
      out.push_back(catalog::TableIdentifier{std::move(levels), id["name"].get<std::string>()});
    }
    FRZ_ASSIGN_OR_RETURN(page_token, NextPageToken(j, call.Where()));
    if (page_token.empty()) break;
    if (!tokens_seen.insert(page_token).second) {
      return MakeError(ErrorKind::kIOError, call.Where() + ": the server repeated a page token");
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<catalog::LoadedTable> RestCatalog::CreateTable(const catalog::TableIdentifier& id_in,
                                                      const iceberg::Schema& schema,
                                                      const iceberg::PartitionSpec& spec,
                                                      const iceberg::SortOrder& order,
                                                      const std::optional<std::string>& location,
                                                      const catalog::Properties& properties) {
  FRZ_ASSIGN_OR_RETURN(catalog::TableIdentifier id, catalog::TableIdentifier::Of(id_in.ns, id_in.name));
  FRZ_RETURN_IF_ERROR(Require(kCreateTable));
  json body{{"name", id.name},
            {"schema", iceberg::SchemaToJson(schema)},
            {"partition-spec", iceberg::PartitionSpecToJson(spec)},
            {"write-order", iceberg::SortOrderToJson(order)},
            {"stage-create", false},
            {"properties", properties}};
  if (location) body["location"] = *location;
  Call call{.op = "create table", .target = id.ToString(), .method = "POST", .url = Url(NsPath(id.ns) + "/tables"),
            .body = std::move(body), .kind = Call::Kind::kWrite, .not_found = ErrorKind::kNoSuchNamespace,
            .conflict = ErrorKind::kAlreadyExists};
  FRZ_ASSIGN_OR_RETURN(io::HttpResponse response, Execute(call));
  return ParseLoadResult(response, call.Where());
}

Result<catalog::LoadedTable> RestCatalog::LoadTable(const catalog::TableIdentifier& id_in) {
  FRZ_ASSIGN_OR_RETURN(catalog::TableIdentifier id, catalog::TableIdentifier::Of(id_in.ns, id_in.name));
  FRZ_RETURN_IF_ERROR(Require(kLoadTable));
  Call call{.op = "load table", .target = id.ToString(), .method = "GET", .url = Url(TablePath(id)),
            .not_found = ErrorKind::kNoSuchTable};
  FRZ_ASSIGN_OR_RETURN(io::HttpResponse response, Execute(call));
  return ParseLoadResult(response, call.Where());
}

Result<bool> RestCatalog::TableExists(const catalog::TableIdentifier& id_in) {
  FRZ_ASSIGN_OR_RETURN(catalog::TableIdentifier id, catalog::TableIdentifier::Of(id_in.ns, id_in.name));
  bool head = Supported(kTableExists);
  if (!head) FRZ_RETURN_IF_ERROR(Require(kLoadTable));
  Call call{.op = "check table", .target = id.ToString(), .method = head ? "HEAD" : "GET",
            .url = Url(TablePath(id)), .not_found = ErrorKind::kNoSuchTable};
  auto response = Execute(call);
  if (response) return true;
  // A missing namespace means a missing table too.
  ErrorKind kind = response.error().kind;
  if (kind == ErrorKind::kNoSuchTable || kind == ErrorKind::kNoSuchNamespace) return false;
  return std::unexpected(response.error());
}

namespace {

json ChangeJson(const catalog::TableIdentifier& id, const std::vector<iceberg::TableRequirement>& requirements,
                const std::vector<iceberg::TableUpdate>& updates) {
  json reqs = json::array(), upds = json::array();
  for (const auto& r : requirements) reqs.push_back(iceberg::RequirementToJson(r));
  for (const auto& u : updates) upds.push_back(iceberg::UpdateToJson(u));
  return json{{"identifier", IdentifierToJson(id)}, {"requirements", std::move(reqs)}, {"updates", std::move(upds)}};
}

}  // namespace

Result<catalog::LoadedTable> RestCatalog::DoCommit(const catalog::TableIdentifier& id,
                                                   const std::vector<iceberg::TableRequirement>& requirements,
                                                   const std::vector<iceberg::TableUpdate>& updates) {
  Call call{.op = "commit table", .target = id.ToString(), .method = "POST", .url = Url(TablePath(id)),
            .body = ChangeJson(id, requirements, updates), .kind = Call::Kind::kCommit,
            .not_found = ErrorKind::kNoSuchTable, .conflict = ErrorKind::kCommitFailed};
  FRZ_ASSIGN_OR_RETURN(io::HttpResponse response, Execute(call));
  auto loaded = ParseLoadResult(response, call.Where());
  if (!loaded) {
    // The server said the commit happened; the writer must not delete its files.
    return MakeError(ErrorKind::kCommitStateUnknown,
                     call.Where() + ": committed, but the answer cannot be read: " + loaded.error().message);
  }
  return loaded;
}

Result<catalog::LoadedTable> RestCatalog::CommitTable(const catalog::TableIdentifier& id_in,
                                                      const std::vector<iceberg::TableRequirement>& requirements,
                                                      const std::vector<iceberg::TableUpdate>& updates) {
  FRZ_ASSIGN_OR_RETURN(catalog::TableIdentifier id, catalog::TableIdentifier::Of(id_in.ns, id_in.name));
  FRZ_RETURN_IF_ERROR(Require(kUpdateTable));
  return DoCommit(id, requirements, updates);
}

Result<std::vector<catalog::LoadedTable>> RestCatalog::CommitTransaction(
    const std::vector<catalog::TableCommit>& commits) {
  std::vector<catalog::TableIdentifier> ids;
  for (const auto& c : commits) {
    FRZ_ASSIGN_OR_RETURN(catalog::TableIdentifier id, catalog::TableIdentifier::Of(c.id.ns, c.id.name));
    if (std::find(ids.begin(), ids.end(), id) != ids.end()) {
      return MakeError(ErrorKind::kInvalidArgument, "commit transaction: table " + id.ToString() + " appears twice");
    }
    ids.push_back(std::move(id));
  }
  if (commits.empty()) return std::vector<catalog::LoadedTable>{};
  if (!Supported(kCommitTransaction)) {
    if (commits.size() == 1) {
      FRZ_RETURN_IF_ERROR(Require(kUpdateTable));
      FRZ_ASSIGN_OR_RETURN(auto one, DoCommit(ids[0], commits[0].requirements, commits[0].updates));
      return std::vector<catalog::LoadedTable>{std::move(one)};
    }
    FRZ_RETURN_IF_ERROR(Require(kCommitTransaction));
  }
  json changes = json::array();
  std::string target;
  for (size_t i = 0; i < commits.size(); ++i) {
    changes.push_back(ChangeJson(ids[i], commits[i].requirements, commits[i].updates));
    target += (i ? ", " : "") + ids[i].ToString();
  }
  Call call{.op = "commit transaction", .target = "on " + target, .method = "POST", .url = Url("transactions/commit"),
            .body = json{{"table-changes", std::move(changes)}}, .kind = Call::Kind::kCommit,
            .not_found = ErrorKind::kNoSuchTable, .conflict = ErrorKind::kCommitFailed};
  FRZ_RETURN_IF_ERROR(Execute(call));
  // The answer has no body: reload the tables. They may already carry a later commit of
  // someone else, which is what any reload would show.
  std::vector<catalog::LoadedTable> out;
  for (const auto& id : ids) {
    auto loaded = LoadTable(id);
    if (!loaded) {
      return MakeError(ErrorKind::kCommitStateUnknown,
                       call.Where() + ": committed, but reloading " + id.ToString() + " failed: " + loaded.error().message);
    }
    out.push_back(std::move(*loaded));
  }
  return out;
}

Status RestCatalog::DropTable(const catalog::TableIdentifier& id_in, bool purge) {
  FRZ_ASSIGN_OR_RETURN(catalog::TableIdentifier id, catalog::TableIdentifier::Of(id_in.ns, id_in.name));
  FRZ_RETURN_IF_ERROR(Require(kDropTable));
  Call call{.op = purge ? "drop table (purge)" : "drop table", .target = id.ToString(), .method = "DELETE",
            .url = Url(TablePath(id) + (purge ? "?purgeRequested=true" : "?purgeRequested=false")),
            .kind = Call::Kind::kWrite, .not_found = ErrorKind::kNoSuchTable};
  FRZ_RETURN_IF_ERROR(Execute(call));
  return Ok();
}

Status RestCatalog::RenameTable(const catalog::TableIdentifier& from_in, const catalog::TableIdentifier& to_in) {
  FRZ_ASSIGN_OR_RETURN(catalog::TableIdentifier from, catalog::TableIdentifier::Of(from_in.ns, from_in.name));
  FRZ_ASSIGN_OR_RETURN(catalog::TableIdentifier to, catalog::TableIdentifier::Of(to_in.ns, to_in.name));
  FRZ_RETURN_IF_ERROR(Require(kRenameTable));
  Call call{.op = "rename table", .target = from.ToString() + " to " + to.ToString(), .method = "POST",
            .url = Url("tables/rename"),
            .body = json{{"source", IdentifierToJson(from)}, {"destination", IdentifierToJson(to)}},
            .kind = Call::Kind::kWrite, .not_found = ErrorKind::kNoSuchTable, .conflict = ErrorKind::kAlreadyExists};
  FRZ_RETURN_IF_ERROR(Execute(call));
  return Ok();
}

Result<catalog::LoadedTable> RestCatalog::RegisterTable(const catalog::TableIdentifier& id_in,
                                                        const std::string& metadata_location) {
  FRZ_ASSIGN_OR_RETURN(catalog::TableIdentifier id, catalog::TableIdentifier::Of(id_in.ns, id_in.name));
  FRZ_RETURN_IF_ERROR(Require(kRegisterTable));
  Call call{.op = "register table", .target = id.ToString(), .method = "POST",
            .url = Url(NsPath(id.ns) + "/register"),
            .body = json{{"name", id.name}, {"metadata-location", metadata_location}}, .kind = Call::Kind::kWrite,
            .not_found = ErrorKind::kNoSuchNamespace, .conflict = ErrorKind::kAlreadyExists};
  FRZ_ASSIGN_OR_RETURN(io::HttpResponse response, Execute(call));
  return ParseLoadResult(response, call.Where());
}

}  // namespace frazil::rest
