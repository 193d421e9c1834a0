// The orchestrator's HTTP API (docs/orchestrator.md#http-api), mounted on `frazil run`'s
// HTTP server (http.listen) next to /metrics. The web UI will read it. JSON in and out;
// errors in the Iceberg REST error shape. Changes (POST) are accepted from loopback peers
// only until authentication exists.
#pragma once

#include "frazil/base/result.h"
#include "frazil/orchestrator/orchestrator.h"
#include "frazil/server/http.h"

namespace frazil::app {

// Adds GET /api/assets, /api/jobs, /api/schedules, /api/runs, /api/runs/{id},
// /api/runs/{id}/logs and POST /api/runs/{id}/cancel, /api/materialize.
// `orchestrator` must outlive the server. Errors: InvalidArgument for a duplicate route.
Status AddOrchestratorRoutes(server::Router& router, orchestrator::Orchestrator& orchestrator);

}  // namespace frazil::app
