// The Iceberg REST catalog server: the spec's /v1 endpoints (open-api/rest-catalog-open-api.yaml
// in apache/iceberg) mounted on a server::Router, answered by any catalog::Catalog (the
// embedded SQLite store, PostgreSQL, ...). Commits go through Catalog::CommitTable /
// CommitTransaction, the same compare-and-swap path frazil's own writers use.
// What is implemented, the authentication model and the limits: docs/rest-catalog.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "frazil/base/clock.h"
#include "frazil/base/result.h"
#include "frazil/catalog/catalog.h"
#include "frazil/rest/auth.h"
#include "frazil/server/http.h"

namespace frazil::rest {

struct RestServiceOptions {
  // The warehouse root as a location ("file:///srv/wh"). Table locations a client asks for
  // (create, register, set-location) must lie under it or under one of `allowed_locations`.
  std::string warehouse;
  std::vector<std::string> allowed_locations;
  // Who may call, and how tokens are issued and checked (auth.h).
  AuthOptions auth;
  // Served in GET /v1/config as "defaults" / "overrides".
  std::map<std::string, std::string> config_defaults;
  std::map<std::string, std::string> config_overrides;
  // Storage access for clients (Iceberg FileIO property names: s3.endpoint,
  // s3.path-style-access, client.region, ...): in every LoadTableResult's "config".
  std::map<std::string, std::string> storage_config;
  // Credentials (s3.access-key-id, s3.secret-access-key, s3.session-token) vended only to a
  // client that asks with `X-Iceberg-Access-Delegation: vended-credentials`, in "config" and
  // "storage-credentials", and from GET .../tables/{table}/credentials. Empty: none vended.
  std::map<std::string, std::string> storage_credentials;
  // Largest page a list call returns when the client does not ask for fewer.
  int max_page_size = 1000;
  // Token expiry and staged tables' timestamps; nullptr = Clock::System().
  Clock* clock = nullptr;
};

class RestCatalogService {
 public:
  // `catalog` must outlive the service. Errors: InvalidArgument for bad options.
  static Result<std::unique_ptr<RestCatalogService>> Make(catalog::Catalog& catalog,
                                                          RestServiceOptions options);

  // Adds every /v1 route (and nothing else) to `router`. The service must outlive it.
  Status AddRoutes(server::Router& router);

  // Prometheus text: frazil_rest_requests_total{operation,status}, request durations,
  // commit conflicts.
  std::string MetricsText() const;

  // The endpoints advertised in GET /v1/config ("GET /v1/{prefix}/namespaces", ...).
  static const std::vector<std::string>& Endpoints();

 private:
  struct Impl;
  explicit RestCatalogService(std::unique_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace frazil::rest
