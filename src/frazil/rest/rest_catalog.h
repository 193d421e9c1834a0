// A Catalog that is a client of an Iceberg REST catalog (open-api/rest-catalog-open-api.yaml in
// apache/iceberg): frazil's own `frazil serve`, or any other implementation. Every Catalog
// method is one REST call (CommitTransaction: the transaction call plus a load per table).
// docs/rest-client.md describes the options, the error mapping and the limits.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "frazil/base/clock.h"
#include "frazil/base/result.h"
#include "frazil/catalog/catalog.h"
#include "frazil/io/http_client.h"

namespace frazil::rest {

struct RestCatalogOptions {
  // Catalog::name().
  std::string name = "rest";
  // "http(s)://host:port" with an optional base path ("https://host/api/catalog"); the
  // client calls <uri>/v1/...
  std::string uri;
  // Sent as ?warehouse= to GET /v1/config (empty: not sent).
  std::string warehouse;
  // OAuth2 client credentials "client_id:client_secret" (or just "client_secret"),
  // exchanged for a bearer token at `oauth2_server_uri` (default <uri>/v1/oauth/tokens).
  // The token is renewed before `expires_in` runs out and once when a call gets 401.
  std::string credential;
  std::string oauth2_server_uri;
  std::string scope = "catalog";
  // A static bearer token (used when `credential` is empty).
  std::string token;
  // Sent with every request ("X-Tenant: a"); Authorization here is overridden by a token.
  std::map<std::string, std::string> headers;
  // Further client properties, merged with the server's config as `defaults` < these (and
  // the fields above) < `overrides`. Recognised keys: uri, warehouse, prefix, credential,
  // token, scope, oauth2-server-uri, header.<Name>.
  std::map<std::string, std::string> properties;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{60'000};
  // PEM CA bundle for https (empty: the system's); verify_tls=false only for tests.
  std::string ca_file;
  bool verify_tls = true;
  // Reads (GET, HEAD) are retried on connection failures, 429 and 503: up to this many
  // attempts, backing off from `retry_delay` (doubling, jittered, honouring Retry-After, at
  // most 5 s a wait). Any request the server never received is retried the same way.
  int max_attempts = 4;
  std::chrono::milliseconds retry_delay{200};

  // For tests: the transport (nullptr: libcurl), the clock that times token expiry
  // (nullptr: the system clock) and how to wait between retries (empty: sleep).
  std::shared_ptr<io::HttpTransport> transport;
  const Clock* clock = nullptr;
  std::function<void(std::chrono::milliseconds)> sleep;
};

// Thread-safety: every method may be called from several threads at once.
class RestCatalog final : public catalog::Catalog {
 public:
  // Fetches a token (with `credential`), then GET /v1/config, and merges the configuration.
  // Errors: InvalidArgument for bad options (missing uri, unsupported scheme); NotAuthorized
  // when the token endpoint rejects the credential or /v1/config answers 401; Forbidden; IOError
  // naming the URL when the server cannot be reached; Corrupt for a malformed config body.
  static Result<std::unique_ptr<RestCatalog>> Make(RestCatalogOptions options);
  ~RestCatalog() override;

  // Always nullptr: a remote catalog cannot coordinate file leases with other processes.
  // Orphan-file removal against a REST catalog must therefore keep a safety window.
  Result<std::unique_ptr<catalog::WriteLease>> AcquireWriteLease(bool exclusive) override;

  const std::string& name() const override { return name_; }

  // Errors of every method, besides the ones in catalog.h: NotAuthorized (401, after one
  // token renewal), Forbidden (403), Unsupported (406, or an endpoint the server does not
  // list in its config), InvalidArgument (400, 422), IOError (other 5xx, transport
  // failures). Messages name the operation, the namespace or table and the server's message.
  Result<std::vector<catalog::Namespace>> ListNamespaces(const catalog::Namespace& parent) override;
  Status CreateNamespace(const catalog::Namespace& ns, const catalog::Properties& properties) override;
  Result<catalog::Properties> LoadNamespaceMetadata(const catalog::Namespace& ns) override;
  Result<bool> NamespaceExists(const catalog::Namespace& ns) override;
  Status DropNamespace(const catalog::Namespace& ns) override;
  Status UpdateNamespaceProperties(const catalog::Namespace& ns, const std::vector<std::string>& removals,
                                   const catalog::Properties& updates) override;

  Result<std::vector<catalog::TableIdentifier>> ListTables(const catalog::Namespace& ns) override;
  Result<catalog::LoadedTable> CreateTable(const catalog::TableIdentifier& id, const iceberg::Schema& schema,
                                           const iceberg::PartitionSpec& spec, const iceberg::SortOrder& order,
                                           const std::optional<std::string>& location,
                                           const catalog::Properties& properties) override;
  Result<catalog::LoadedTable> LoadTable(const catalog::TableIdentifier& id) override;
  Result<bool> TableExists(const catalog::TableIdentifier& id) override;
  // Commits are never retried by this class once the server may have received them.
  // CommitStateUnknown: 500/502/503/504, a transport failure after the request was sent, or
  // a success answer that cannot be read. CommitFailed: 409. A failure before the request
  // left is IOError (definite).
  Result<catalog::LoadedTable> CommitTable(const catalog::TableIdentifier& id,
                                           const std::vector<iceberg::TableRequirement>& requirements,
                                           const std::vector<iceberg::TableUpdate>& updates) override;
  // POST /v1/transactions/commit, then a load per table. Errors as CommitTable; Unsupported
  // when the server does not list that endpoint (a single table goes through CommitTable);
  // CommitStateUnknown when the commit succeeded but reloading a table failed.
  Result<std::vector<catalog::LoadedTable>> CommitTransaction(
      const std::vector<catalog::TableCommit>& commits) override;
  // purge -> ?purgeRequested=true: the server deletes the files.
  Status DropTable(const catalog::TableIdentifier& id, bool purge) override;
  Status RenameTable(const catalog::TableIdentifier& from, const catalog::TableIdentifier& to) override;
  Result<catalog::LoadedTable> RegisterTable(const catalog::TableIdentifier& id,
                                             const std::string& metadata_location) override;

  // The merged configuration (defaults < client < overrides) without secrets
  // (credential and token removed). For diagnostics and tests.
  std::map<std::string, std::string> properties() const;
  // The endpoints the server listed ("POST /v1/{prefix}/transactions/commit"); empty if it
  // listed none (then the spec's default set is assumed).
  const std::set<std::string>& endpoints() const { return endpoints_; }

 private:
  struct Call;
  struct Token;
  explicit RestCatalog(RestCatalogOptions options);

  Status Configure();
  // The bearer token to send ("" for none), fetching or renewing it when due or `force`.
  Result<std::string> BearerToken(bool force);
  Result<std::string> FetchToken();
  bool Supported(const std::string& endpoint) const;
  Status Require(const std::string& endpoint) const;
  std::string Url(const std::string& path) const;
  // One call with authentication, retries and error mapping (see Call).
  Result<io::HttpResponse> Execute(const Call& call);
  Result<io::HttpResponse> SendOnce(const Call& call, const std::string& token);
  Result<catalog::LoadedTable> ParseLoadResult(const io::HttpResponse& response, const std::string& what);
  Result<catalog::LoadedTable> DoCommit(const catalog::TableIdentifier& id,
                                        const std::vector<iceberg::TableRequirement>& requirements,
                                        const std::vector<iceberg::TableUpdate>& updates);

  RestCatalogOptions options_;
  std::string name_;
  std::shared_ptr<io::HttpTransport> transport_;
  const Clock* clock_;
  // Set by Configure(), then read-only.
  std::string base_uri_;  // effective uri without trailing '/'
  std::string prefix_;
  std::string credential_;
  std::string static_token_;
  std::string oauth2_uri_;
  std::string scope_;
  std::map<std::string, std::string> headers_;
  std::map<std::string, std::string> properties_;
  std::set<std::string> endpoints_;

  std::mutex token_mu_;
  std::unique_ptr<Token> token_;  // guarded by token_mu_
};

}  // namespace frazil::rest
