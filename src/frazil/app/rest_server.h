// The Iceberg REST catalog served over the warehouse's catalog: options from the config's
// rest.* and http.* keys, and `frazil serve` (docs/rest-catalog.md).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "frazil/app/warehouse.h"
#include "frazil/base/result.h"
#include "frazil/rest/catalog_service.h"
#include "frazil/server/http_server.h"

namespace frazil::app {

// True if `listen` ("host:port") binds a loopback address only (127.0.0.0/8, ::1, localhost).
bool IsLoopbackListen(std::string_view listen);

// http.listen's server options from the config: request size limit, TLS.
server::HttpServerOptions HttpOptionsFor(const Config& config);

// The REST catalog over `w`'s catalog. rest.auth `auto` requires OAuth2 tokens unless `listen`
// is a loopback address; `none` on a non-loopback address is allowed but logged as a warning.
// The token signing key is rest.token_key or <warehouse>/.frazil/rest-token.key (created
// 0600 on first use, so tokens survive restarts and are shared by processes on one warehouse).
// Errors: InvalidArgument for an unusable configuration (auth required without clients, a
// secret_env that is not set, ...); IOError for the key file.
Result<std::unique_ptr<rest::RestCatalogService>> MakeRestService(Warehouse& w, std::string_view listen);

// `frazil serve`: the REST catalog, GET /metrics and GET /healthz on `listen` until `stop` is
// set. `on_ready` receives the base URL ("http://127.0.0.1:8181") once the port is bound.
Status ServeCatalog(Warehouse& w, const std::string& listen, const std::atomic<bool>& stop,
                    const std::function<void(const std::string& url)>& on_ready);

}  // namespace frazil::app
