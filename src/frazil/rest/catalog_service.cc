#include "frazil/rest/catalog_service.h"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <mutex>
#include <set>

#include "frazil/base/clock.h"
#include "frazil/base/log.h"
#include "frazil/base/strings.h"
#include "frazil/catalog/metadata_files.h"
#include "frazil/io/file_io.h"
#include "frazil/iceberg/json_fields.h"
#include "frazil/rest/messages.h"

namespace frazil::rest {

namespace {

using catalog::Namespace;
using catalog::TableIdentifier;
using nlohmann::json;
using server::HttpRequest;
using server::HttpResponse;

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

// True if `if_none_match` (a list of entity tags, or "*") matches `etag`.
bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  size_t pos = 0;
  while (pos < if_none_match.size()) {
    size_t comma = if_none_match.find(',', pos);
    std::string_view tag = if_none_match.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return false;
}

Result<int> PageSize(const HttpRequest& req, int max_page_size) {
  auto text = req.QueryParam("pageSize");
  if (!text) return req.QueryParam("pageToken") ? max_page_size : -1;
  int v = 0;
  auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || p != text->data() + text->size() || v < 1) {
    return MakeError(ErrorKind::kInvalidArgument, "pageSize must be a positive integer, got '" + std::string(*text) + "'");
  }
  return std::min(v, max_page_size);
}

// One page of `items` (sorted by `key`) after the page token; fills next-page-token.
template <typename T, typename Key>
Result<std::vector<T>> Page(const HttpRequest& req, int max_page_size, std::vector<T> items, Key key,
                            json* out) {
  FRZ_ASSIGN_OR_RETURN(int size, PageSize(req, max_page_size));
  if (size < 0) return items;  // the client did not ask for pages
  std::string after(req.QueryParam("pageToken").value_or(""));
  auto begin = items.begin();
  if (!after.empty()) {
    begin = std::find_if(items.begin(), items.end(), [&](const T& t) { return key(t) > after; });
  }
  auto end = (items.end() - begin) > size ? begin + size : items.end();
  std::vector<T> page(begin, end);
  if (end != items.end() && !page.empty()) (*out)["next-page-token"] = key(page.back());
  return page;
}

// A commit's updates that frazil cannot apply (an unknown format version, ...) are the
// client's bad request: the spec has no 406 for commits.
Error AsBadRequest(Error e) {
  if (e.kind == ErrorKind::kUnsupported) e.kind = ErrorKind::kInvalidArgument;
  return e;
}

}  // namespace

struct RestCatalogService::Impl {
  catalog::Catalog& catalog;
  RestServiceOptions options;
  Authenticator auth;
  Clock* clock = &Clock::System();

  // Metrics.
  mutable std::mutex mu;
  std::map<std::pair<std::string, int>, int64_t> requests;  // (operation, status) -> count
  std::map<std::string, std::pair<int64_t, double>> durations;  // operation -> (count, seconds)
  int64_t commit_conflicts = 0;
  int64_t metrics_reports = 0;

  Impl(catalog::Catalog& c, RestServiceOptions o) : catalog(c), options(std::move(o)), auth(options.auth) {
    if (options.clock != nullptr) clock = options.clock;
  }

  void Count(const std::string& op, int status, double seconds) {
    std::lock_guard lock(mu);
    ++requests[{op, status}];
    auto& d = durations[op];
    ++d.first;
    d.second += seconds;
    if (status == 409 && (op == "updateTable" || op == "commitTransaction")) ++commit_conflicts;
  }

  // Checks that `location` lies under the warehouse or an allowed location and has no "."
  // or ".." segment. `what` names the field in the error.
  Status CheckLocation(std::string_view location, std::string_view what) const {
    auto bad = [&](std::string_view why) {
      return MakeError(ErrorKind::kInvalidArgument,
                       std::string(what) + " '" + std::string(location) + "' " + std::string(why));
    };
    if (location.empty()) return bad("is empty");
    for (char c : location) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') return bad("contains a control character or backslash");
    }
    // Clients (Java's, Hadoop's) percent-decode locations: judge the decoded form.
    auto decoded = server::PercentDecode(io::StripFileScheme(location));
    if (!decoded) return bad("has a malformed percent escape");
    std::string path = std::move(*decoded);
    if (path.find('\\') != std::string::npos) return bad("contains a backslash");
    size_t pos = 0;
    while (pos <= path.size()) {
      size_t slash = path.find('/', pos);
      std::string_view seg = std::string_view(path).substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
      if (seg == "." || seg == "..") return bad("must not contain '.' or '..' segments");
      if (slash == std::string::npos) break;
      pos = slash + 1;
    }
    auto under = [&](std::string_view root) {
      std::string r = io::StripFileScheme(root);
      while (r.size() > 1 && r.back() == '/') r.pop_back();
      return path == r || path.starts_with(r + "/");
    };
    if (under(options.warehouse)) return Ok();
    for (const auto& a : options.allowed_locations) {
      if (under(a)) return Ok();
    }
    return bad("is outside the warehouse (" + options.warehouse + ") and rest.allowed_locations");
  }

  // Table properties that name folders files are written to must stay inside too.
  Status CheckLocationProperties(const catalog::Properties& properties, std::string_view what) const {
    for (const char* key : {"write.metadata.path", "write.data.path", "write.object-storage.path",
                            "write.folder-storage.path", "location"}) {
      if (auto it = properties.find(key); it != properties.end()) {
        FRZ_RETURN_IF_ERROR(CheckLocation(it->second, std::string(what) + " '" + key + "'"));
      }
    }
    return Ok();
  }

  // Tables `frazil run` writes (raw changelogs and mirrors carry frazil.source-table) keep
  // exactly-once bookkeeping in their snapshots and, for mirrors, a key index of every row:
  // a foreign snapshot would silently break both. So REST clients may read them, change
  // their other properties and drop them, but not add or remove snapshots or move refs.
  Status CheckCdcTable(const HttpRequest& req, const TableIdentifier& id,
                       const std::vector<iceberg::TableUpdate>& updates) {
    if (req.headers.Has(kFrazilClientHeader)) return Ok();  // frazil itself, through a remote catalog
    bool changes_data = false, touches_frazil_keys = false;
    for (const auto& u : updates) {
      if (std::holds_alternative<iceberg::upd::AddSnapshot>(u) || std::holds_alternative<iceberg::upd::RemoveSnapshots>(u) ||
          std::holds_alternative<iceberg::upd::SetSnapshotRef>(u) || std::holds_alternative<iceberg::upd::RemoveSnapshotRef>(u)) {
        changes_data = true;
      } else if (const auto* r = std::get_if<iceberg::upd::RemoveProperties>(&u)) {
        for (const auto& k : r->removals) touches_frazil_keys |= k.starts_with("frazil.");
      } else if (const auto* p = std::get_if<iceberg::upd::SetProperties>(&u)) {
        for (const auto& [k, v] : p->updates) touches_frazil_keys |= k.starts_with("frazil.");
      }
    }
    if (!changes_data && !touches_frazil_keys) return Ok();
    auto t = catalog.LoadTable(id);
    if (!t) return t.error().kind == ErrorKind::kNoSuchTable ? Ok() : Status(std::unexpected(t.error()));
    auto it = t->metadata.properties.find("frazil.source-table");
    if (it == t->metadata.properties.end()) return Ok();
    return MakeError(ErrorKind::kForbidden,
                     "table " + id.ToString() + " is written by frazil's CDC from " + it->second +
                         (changes_data ? ": its snapshots carry the replication position (and a mirror's key index covers "
                                         "every row), so other writers may read it but not commit snapshots to it"
                                       : ": its frazil.* properties are frazil's bookkeeping and cannot be changed here") +
                         " (docs/rest-catalog.md)");
  }

  Status CheckUpdates(const std::vector<iceberg::TableUpdate>& updates) const {
    for (const auto& u : updates) {
      if (const auto* p = std::get_if<iceberg::upd::SetProperties>(&u)) {
        FRZ_RETURN_IF_ERROR(CheckLocationProperties(p->updates, "set-properties:"));
      } else if (const auto* s = std::get_if<iceberg::upd::SetLocation>(&u)) {
        FRZ_RETURN_IF_ERROR(CheckLocation(s->location, "set-location: location"));
      } else if (const auto* a = std::get_if<iceberg::upd::AddSnapshot>(&u)) {
        FRZ_RETURN_IF_ERROR(CheckLocation(a->snapshot.manifest_list, "add-snapshot: manifest-list"));
      }
    }
    return Ok();
  }

  // True when the client asks for vended credentials (the header is a comma-separated list).
  static bool WantsCredentials(const HttpRequest& req) {
    const std::string* h = req.headers.Find("X-Iceberg-Access-Delegation");
    if (h == nullptr) return false;
    for (const auto& mode : SplitList(*h)) {
      if (mode == "vended-credentials") return true;
    }
    return false;
  }

  // The storage access of a table under `location`: {"prefix", "config"} with the
  // credentials, or null when none are configured.
  json StorageCredential(const std::string& location) const {
    if (options.storage_credentials.empty()) return nullptr;
    json config = json::object();
    for (const auto& [k, v] : options.storage_config) config[k] = v;
    for (const auto& [k, v] : options.storage_credentials) config[k] = v;
    return json{{"prefix", location}, {"config", std::move(config)}};
  }

  // A LoadTableResult with the storage configuration, and the credentials when asked for.
  HttpResponse TableResult(const HttpRequest& req, const std::string& metadata_location,
                           const iceberg::TableMetadata& metadata, SnapshotMode mode) const {
    json out = LoadTableResultJson(metadata_location, metadata, mode);
    json& config = out["config"];
    for (const auto& [k, v] : options.storage_config) config[k] = v;
    if (WantsCredentials(req)) {
      json cred = StorageCredential(metadata.location);
      if (!cred.is_null()) {
        for (const auto& [k, v] : cred["config"].items()) config[k] = v;
        out["storage-credentials"] = json::array({std::move(cred)});
      }
    }
    return HttpResponse::Json(200, out);
  }

  // Wraps a handler: authentication, authorization, metrics, and a log line for failures.
  server::HttpHandler Op(std::string op, bool writes,
                         std::function<Result<HttpResponse>(const HttpRequest&, const Principal&)> fn) {
    return [this, op = std::move(op), writes, fn = std::move(fn)](const HttpRequest& req) -> Result<HttpResponse> {
      auto start = std::chrono::steady_clock::now();
      HttpResponse resp;
      auto principal = auth.Authenticate(req, clock->NowMillis() / 1000);
      if (!principal) {
        resp = HttpResponse::FromError(principal.error());
        resp.headers.Set("WWW-Authenticate", "Bearer realm=\"frazil\"");
      } else if (writes && principal->access == Access::kReadOnly) {
        resp = HttpResponse::ErrorJson(403, "client '" + principal->client_id + "' has read-only access; " + op +
                                                " needs read-write", "ForbiddenException");
      } else {
        Result<HttpResponse> r = fn(req, *principal);
        if (r) {
          resp = std::move(*r);
        } else {
          resp = HttpResponse::FromError(r.error());
          if (resp.status >= 500) {
            Log(LogLevel::kWarn, "rest request failed",
                {{"operation", op}, {"path", req.path}, {"error", r.error().ToString()}});
          }
        }
      }
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      Count(op, resp.status, seconds);
      return resp;
    };
  }
};

RestCatalogService::RestCatalogService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<RestCatalogService>> RestCatalogService::Make(catalog::Catalog& catalog,
                                                                     RestServiceOptions options) {
  if (options.auth.signing_key.size() < 32) {
    return MakeError(ErrorKind::kInvalidArgument, "REST catalog: the token signing key must have at least 32 bytes");
  }
  if (options.auth.required && options.auth.clients.empty()) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "REST catalog: authentication is required but no clients are configured (rest.clients)");
  }
  std::set<std::string> ids;
  for (const auto& c : options.auth.clients) {
    if (c.id.empty() || c.secret.empty()) {
      return MakeError(ErrorKind::kInvalidArgument, "REST catalog: every client needs an id and a secret");
    }
    if (!ids.insert(c.id).second) {
      return MakeError(ErrorKind::kInvalidArgument, "REST catalog: client '" + c.id + "' is configured twice");
    }
  }
  if (options.max_page_size < 1) options.max_page_size = 1000;
  return std::unique_ptr<RestCatalogService>(
      new RestCatalogService(std::make_unique<Impl>(catalog, std::move(options))));
}

const std::vector<std::string>& RestCatalogService::Endpoints() {
  static const std::vector<std::string> kEndpoints = {
      "GET /v1/{prefix}/namespaces",
      "POST /v1/{prefix}/namespaces",
      "GET /v1/{prefix}/namespaces/{namespace}",
      "HEAD /v1/{prefix}/namespaces/{namespace}",
      "DELETE /v1/{prefix}/namespaces/{namespace}",
      "POST /v1/{prefix}/namespaces/{namespace}/properties",
      "GET /v1/{prefix}/namespaces/{namespace}/tables",
      "POST /v1/{prefix}/namespaces/{namespace}/tables",
      "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
      "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
      "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
      "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
      "POST /v1/{prefix}/namespaces/{namespace}/register",
      "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}/credentials",
      "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
      "POST /v1/{prefix}/tables/rename",
      "POST /v1/{prefix}/transactions/commit",
  };
  return kEndpoints;
}

Status RestCatalogService::AddRoutes(server::Router& router) {
  std::shared_ptr<Impl> self = impl_;
  Impl& s = *self;
  catalog::Catalog& cat = s.catalog;
  using P = const Principal&;

  FRZ_RETURN_IF_ERROR(router.Post("/v1/oauth/tokens", [self](const HttpRequest& req) -> Result<HttpResponse> {
    HttpResponse r = self->auth.IssueToken(req, self->clock->NowMillis() / 1000);
    self->Count("getToken", r.status, 0);
    return r;
  }));

  FRZ_RETURN_IF_ERROR(router.Get("/v1/config", s.Op("getConfig", false, [self](const HttpRequest&, P) -> Result<HttpResponse> {
    json out = {{"defaults", self->options.config_defaults},
                {"overrides", self->options.config_overrides},
                {"endpoints", Endpoints()}};
    return HttpResponse::Json(200, out);
  })));

  // --- Namespaces ---
  FRZ_RETURN_IF_ERROR(router.Get("/v1/namespaces", s.Op("listNamespaces", false, [self, &cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    Namespace parent;
    if (auto p = req.QueryParam("parent"); p && !p->empty()) parent = SplitNamespace(*p);
    FRZ_ASSIGN_OR_RETURN(auto all, cat.ListNamespaces(parent));
    json out = json::object();
    FRZ_ASSIGN_OR_RETURN(auto page, Page(req, self->options.max_page_size, std::move(all),
                                         [](const Namespace& n) { return JoinNamespace(n); }, &out));
    json list = json::array();
    for (const auto& n : page) list.push_back(n);
    out["namespaces"] = std::move(list);
    return HttpResponse::Json(200, out);
  })));

  FRZ_RETURN_IF_ERROR(router.Post("/v1/namespaces", s.Op("createNamespace", true, [self, &cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(CreateNamespaceRequest r, ParseCreateNamespace(req.body));
    FRZ_RETURN_IF_ERROR(self->CheckLocationProperties(r.properties, "namespace property"));
    FRZ_RETURN_IF_ERROR(cat.CreateNamespace(r.ns, r.properties));
    FRZ_ASSIGN_OR_RETURN(Namespace ns, catalog::NormalizeNamespace(r.ns));
    FRZ_ASSIGN_OR_RETURN(auto props, cat.LoadNamespaceMetadata(ns));
    return HttpResponse::Json(200, json{{"namespace", ns}, {"properties", props}});
  })));

  FRZ_RETURN_IF_ERROR(router.Get("/v1/namespaces/{ns}", s.Op("loadNamespaceMetadata", false, [&cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(Namespace ns, PathNamespace(req));
    FRZ_ASSIGN_OR_RETURN(auto props, cat.LoadNamespaceMetadata(ns));
    return HttpResponse::Json(200, json{{"namespace", ns}, {"properties", props}});
  })));

  FRZ_RETURN_IF_ERROR(router.Add("HEAD", "/v1/namespaces/{ns}", s.Op("namespaceExists", false, [&cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(Namespace ns, PathNamespace(req));
    FRZ_ASSIGN_OR_RETURN(bool exists, cat.NamespaceExists(ns));
    if (!exists) return MakeError(ErrorKind::kNoSuchNamespace, "Namespace does not exist: " + catalog::NamespaceToString(ns));
    return HttpResponse{204, {}, {}};
  })));

  FRZ_RETURN_IF_ERROR(router.Delete("/v1/namespaces/{ns}", s.Op("dropNamespace", true, [&cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(Namespace ns, PathNamespace(req));
    FRZ_RETURN_IF_ERROR(cat.DropNamespace(ns));
    return HttpResponse{204, {}, {}};
  })));

  FRZ_RETURN_IF_ERROR(router.Post("/v1/namespaces/{ns}/properties", s.Op("updateProperties", true, [self, &cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(Namespace ns, PathNamespace(req));
    FRZ_ASSIGN_OR_RETURN(UpdateNamespacePropertiesRequest r, ParseUpdateNamespaceProperties(req.body));
    for (const auto& k : r.removals) {
      if (r.updates.contains(k)) {
        return HttpResponse::ErrorJson(422, "property '" + k + "' is both removed and updated",
                                       "UnprocessableEntityException");
      }
    }
    FRZ_RETURN_IF_ERROR(self->CheckLocationProperties(r.updates, "namespace property"));
    FRZ_ASSIGN_OR_RETURN(auto before, cat.LoadNamespaceMetadata(ns));
    FRZ_RETURN_IF_ERROR(cat.UpdateNamespaceProperties(ns, r.removals, r.updates));
    json removed = json::array(), missing = json::array(), updated = json::array();
    for (const auto& k : r.removals) (before.contains(k) ? removed : missing).push_back(k);
    for (const auto& [k, v] : r.updates) updated.push_back(k);
    return HttpResponse::Json(200, json{{"updated", updated}, {"removed", removed}, {"missing", missing}});
  })));

  // --- Tables ---
  FRZ_RETURN_IF_ERROR(router.Get("/v1/namespaces/{ns}/tables", s.Op("listTables", false, [self, &cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(Namespace ns, PathNamespace(req));
    FRZ_ASSIGN_OR_RETURN(auto all, cat.ListTables(ns));
    json out = json::object();
    FRZ_ASSIGN_OR_RETURN(auto page, Page(req, self->options.max_page_size, std::move(all),
                                         [](const TableIdentifier& t) { return t.name; }, &out));
    json list = json::array();
    for (const auto& t : page) list.push_back(IdentifierToJson(t));
    out["identifiers"] = std::move(list);
    return HttpResponse::Json(200, out);
  })));

  FRZ_RETURN_IF_ERROR(router.Post("/v1/namespaces/{ns}/tables", s.Op("createTable", true, [self, &cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(Namespace ns, PathNamespace(req));
    FRZ_ASSIGN_OR_RETURN(CreateTableRequest r, ParseCreateTable(req.body));
    FRZ_ASSIGN_OR_RETURN(TableIdentifier id, TableIdentifier::Of(ns, r.name));
    if (r.location) FRZ_RETURN_IF_ERROR(self->CheckLocation(*r.location, "location"));
    FRZ_RETURN_IF_ERROR(self->CheckLocationProperties(r.properties, "table property"));
    if (!r.stage_create) {
      FRZ_ASSIGN_OR_RETURN(catalog::LoadedTable t, cat.CreateTable(id, r.schema, r.spec, r.order, r.location, r.properties));
      return self->TableResult(req, t.metadata_location, t.metadata, SnapshotMode::kAll);
    }
    // Staged: the metadata the table would get, written nowhere; the client commits it later
    // with assert-create.
    FRZ_ASSIGN_OR_RETURN(auto ns_props, cat.LoadNamespaceMetadata(id.ns));
    FRZ_ASSIGN_OR_RETURN(bool exists, cat.TableExists(id));
    if (exists) return MakeError(ErrorKind::kAlreadyExists, "Table already exists: " + id.ToString());
    std::string location;
    if (r.location) {
      location = *r.location;
      while (location.size() > 1 && location.back() == '/') location.pop_back();
    } else {
      auto it = ns_props.find(catalog::kNamespaceLocationProperty);
      location = catalog::DefaultTableLocation(self->options.warehouse, id, it == ns_props.end() ? "" : it->second);
    }
    FRZ_ASSIGN_OR_RETURN(int format_version, catalog::TakeFormatVersion(&r.properties));
    FRZ_ASSIGN_OR_RETURN(iceberg::TableMetadata md,
                         iceberg::NewTableMetadata(r.schema, r.spec, r.order, location, r.properties,
                                                   format_version, self->clock->NowMillis()));
    return self->TableResult(req, "", md, SnapshotMode::kAll);
  })));

  FRZ_RETURN_IF_ERROR(router.Get("/v1/namespaces/{ns}/tables/{table}", s.Op("loadTable", false, [self, &cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(TableIdentifier id, PathTable(req));
    FRZ_ASSIGN_OR_RETURN(SnapshotMode mode, ParseSnapshotMode(req.QueryParam("snapshots")));
    FRZ_ASSIGN_OR_RETURN(catalog::LoadedTable t, cat.LoadTable(id));
    // The answer differs with the snapshots asked for and with vended credentials.
    std::string etag = "\"" + Sha256Hex(t.metadata_location + (mode == SnapshotMode::kRefs ? "#refs" : "#all") +
                                        (self->WantsCredentials(req) ? "#vended" : "")).substr(0, 32) + "\"";
    if (const std::string* inm = req.headers.Find("If-None-Match"); inm && EtagMatches(*inm, etag)) {
      HttpResponse r{304, {}, {}};
      r.headers.Set("ETag", etag);
      return r;
    }
    HttpResponse r = self->TableResult(req, t.metadata_location, t.metadata, mode);
    r.headers.Set("ETag", etag);
    return r;
  })));

  FRZ_RETURN_IF_ERROR(router.Get("/v1/namespaces/{ns}/tables/{table}/credentials", s.Op("loadCredentials", false, [self, &cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(TableIdentifier id, PathTable(req));
    FRZ_ASSIGN_OR_RETURN(catalog::LoadedTable t, cat.LoadTable(id));
    json list = json::array();
    json cred = self->StorageCredential(t.metadata.location);
    if (!cred.is_null()) list.push_back(std::move(cred));
    return HttpResponse::Json(200, json{{"storage-credentials", std::move(list)}});
  })));

  FRZ_RETURN_IF_ERROR(router.Add("HEAD", "/v1/namespaces/{ns}/tables/{table}", s.Op("tableExists", false, [&cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(TableIdentifier id, PathTable(req));
    FRZ_ASSIGN_OR_RETURN(bool exists, cat.TableExists(id));
    if (!exists) return MakeError(ErrorKind::kNoSuchTable, "Table does not exist: " + id.ToString());
    return HttpResponse{204, {}, {}};
  })));

  FRZ_RETURN_IF_ERROR(router.Post("/v1/namespaces/{ns}/tables/{table}", s.Op("updateTable", true, [self, &cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(TableIdentifier id, PathTable(req));
    FRZ_ASSIGN_OR_RETURN(json body, ParseBody(req.body, "CommitTableRequest"));
    FRZ_ASSIGN_OR_RETURN(TableChange change, ParseTableChange(body, "CommitTableRequest", false));
    if (change.identifier && !(*change.identifier == id)) {
      return MakeError(ErrorKind::kInvalidArgument, "CommitTableRequest: identifier " + change.identifier->ToString() +
                                                        " does not match the path's table " + id.ToString());
    }
    FRZ_RETURN_IF_ERROR(self->CheckUpdates(change.updates));
    FRZ_RETURN_IF_ERROR(self->CheckCdcTable(req, id, change.updates));
    auto committed = cat.CommitTable(id, change.requirements, change.updates);
    if (!committed) return std::unexpected(AsBadRequest(committed.error()));
    const catalog::LoadedTable& t = *committed;
    return HttpResponse::Json(200, json{{"metadata-location", t.metadata_location},
                                        {"metadata", iceberg::TableMetadataToJson(t.metadata)}});
  })));

  FRZ_RETURN_IF_ERROR(router.Delete("/v1/namespaces/{ns}/tables/{table}", s.Op("dropTable", true, [&cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(TableIdentifier id, PathTable(req));
    bool purge = false;
    if (auto p = req.QueryParam("purgeRequested")) {
      if (server::EqualsIgnoreCase(*p, "true")) purge = true;
      else if (!server::EqualsIgnoreCase(*p, "false") && !p->empty()) {
        return MakeError(ErrorKind::kInvalidArgument, "purgeRequested must be true or false, got '" + std::string(*p) + "'");
      }
    }
    FRZ_RETURN_IF_ERROR(cat.DropTable(id, purge));
    return HttpResponse{204, {}, {}};
  })));

  FRZ_RETURN_IF_ERROR(router.Post("/v1/namespaces/{ns}/register", s.Op("registerTable", true, [self, &cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(Namespace ns, PathNamespace(req));
    FRZ_ASSIGN_OR_RETURN(RegisterTableRequest r, ParseRegisterTable(req.body));
    FRZ_ASSIGN_OR_RETURN(TableIdentifier id, TableIdentifier::Of(ns, r.name));
    FRZ_RETURN_IF_ERROR(self->CheckLocation(r.metadata_location, "metadata-location"));
    if (r.overwrite) {
      FRZ_ASSIGN_OR_RETURN(bool exists, cat.TableExists(id));
      if (exists) {
        return MakeError(ErrorKind::kInvalidArgument,
                         "registerTable with overwrite=true over an existing table is not supported; drop " + id.ToString() + " first");
      }
    }
    FRZ_ASSIGN_OR_RETURN(catalog::LoadedTable t, cat.RegisterTable(id, r.metadata_location));
    return self->TableResult(req, t.metadata_location, t.metadata, SnapshotMode::kAll);
  })));

  FRZ_RETURN_IF_ERROR(router.Post("/v1/namespaces/{ns}/tables/{table}/metrics", s.Op("reportMetrics", false, [self, &cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(TableIdentifier id, PathTable(req));
    FRZ_ASSIGN_OR_RETURN(json body, ParseBody(req.body, "ReportMetricsRequest"));
    if (!body.contains("report-type") || !body["report-type"].is_string()) {
      return MakeError(ErrorKind::kInvalidArgument, "ReportMetricsRequest: 'report-type' must be a string");
    }
    FRZ_ASSIGN_OR_RETURN(bool exists, cat.TableExists(id));
    if (!exists) return MakeError(ErrorKind::kNoSuchTable, "Table does not exist: " + id.ToString());
    {
      std::lock_guard lock(self->mu);
      ++self->metrics_reports;
    }
    return HttpResponse{204, {}, {}};
  })));

  FRZ_RETURN_IF_ERROR(router.Post("/v1/tables/rename", s.Op("renameTable", true, [&cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(RenameTableRequest r, ParseRenameTable(req.body));
    FRZ_RETURN_IF_ERROR(cat.RenameTable(r.source, r.destination));
    return HttpResponse{204, {}, {}};
  })));

  FRZ_RETURN_IF_ERROR(router.Post("/v1/transactions/commit", s.Op("commitTransaction", true, [self, &cat](const HttpRequest& req, P) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(std::vector<catalog::TableCommit> commits, ParseCommitTransaction(req.body));
    for (const auto& c : commits) {
      FRZ_RETURN_IF_ERROR(self->CheckUpdates(c.updates));
      FRZ_RETURN_IF_ERROR(self->CheckCdcTable(req, c.id, c.updates));
    }
    auto committed = cat.CommitTransaction(commits);
    if (!committed) return std::unexpected(AsBadRequest(committed.error()));
    return HttpResponse{204, {}, {}};
  })));
  return Ok();
}

std::string RestCatalogService::MetricsText() const {
  std::lock_guard lock(impl_->mu);
  std::string out;
  out += "# HELP frazil_rest_requests_total REST catalog requests by operation and status.\n";
  out += "# TYPE frazil_rest_requests_total counter\n";
  for (const auto& [k, n] : impl_->requests) {
    out += "frazil_rest_requests_total{operation=\"" + k.first + "\",status=\"" + std::to_string(k.second) + "\"} " +
           std::to_string(n) + "\n";
  }
  out += "# HELP frazil_rest_request_seconds REST catalog request handling time.\n";
  out += "# TYPE frazil_rest_request_seconds summary\n";
  for (const auto& [op, d] : impl_->durations) {
    out += "frazil_rest_request_seconds_count{operation=\"" + op + "\"} " + std::to_string(d.first) + "\n";
    out += "frazil_rest_request_seconds_sum{operation=\"" + op + "\"} " + std::to_string(d.second) + "\n";
  }
  out += "# HELP frazil_rest_commit_conflicts_total Commits answered 409 (a requirement failed).\n";
  out += "# TYPE frazil_rest_commit_conflicts_total counter\n";
  out += "frazil_rest_commit_conflicts_total " + std::to_string(impl_->commit_conflicts) + "\n";
  out += "# HELP frazil_rest_metrics_reports_total Scan and commit reports received from clients.\n";
  out += "# TYPE frazil_rest_metrics_reports_total counter\n";
  out += "frazil_rest_metrics_reports_total " + std::to_string(impl_->metrics_reports) + "\n";
  return out;
}

}  // namespace frazil::rest
