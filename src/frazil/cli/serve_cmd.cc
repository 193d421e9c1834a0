// `frazil serve`: the Iceberg REST catalog over the warehouse's catalog.
#include <iostream>

#include "frazil/app/rest_server.h"
#include "frazil/cli/commands.h"

namespace frazil::cli {

void AddServeCommand(CLI::App& app, const WarehouseRunner& with_warehouse) {
  auto* serve = app.add_subcommand("serve", "Serve the warehouse's tables over the Iceberg REST catalog protocol");
  serve->footer(
      "Spark, Trino, Flink, PyIceberg and DuckDB read and write frazil's tables through it (docs/rest-catalog.md):\n"
      "  spark.sql.catalog.frazil=org.apache.iceberg.spark.SparkCatalog\n"
      "  spark.sql.catalog.frazil.type=rest\n"
      "  spark.sql.catalog.frazil.uri=http://127.0.0.1:8181\n"
      "  PyIceberg: load_catalog('frazil', type='rest', uri='http://127.0.0.1:8181')\n"
      "  DuckDB:    ATTACH '' AS frazil (TYPE iceberg, ENDPOINT 'http://127.0.0.1:8181', AUTHORIZATION_TYPE 'none')\n\n"
      "Listens on --listen, else http.listen, else 127.0.0.1:8181. On loopback no authentication is needed\n"
      "(rest.auth: auto); on any other address clients need OAuth2 client credentials (rest.clients: id, secret\n"
      "or secret_env, access read-only|read-write) and get bearer tokens from POST /v1/oauth/tokens.\n"
      "Also serves GET /metrics (Prometheus) and GET /healthz. Ctrl-C stops after the requests in flight.\n"
      "`frazil run` serves the same catalog on http.listen while it streams.");
  static std::string listen;
  serve->add_option("--listen", listen, "host:port to listen on (port 0 picks a free port)");
  serve->callback([serve, with_warehouse]() {
    (void)serve;
    with_warehouse([](app::Warehouse& w) {
      std::string where = !listen.empty() ? listen
                          : !w.config().metrics_listen.empty() ? w.config().metrics_listen
                                                                : std::string("127.0.0.1:8181");
      InstallStopHandlers();
      auto s = app::ServeCatalog(w, where, StopFlag(), [](const std::string& url) {
        std::cout << "frazil serve: Iceberg REST catalog at " << url << std::endl;
      });
      return s ? 0 : Fail(s.error());
    });
  });
}

}  // namespace frazil::cli
