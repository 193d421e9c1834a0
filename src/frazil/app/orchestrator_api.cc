#include "frazil/app/orchestrator_api.h"

#include <charconv>
#include <optional>

namespace frazil::app {

namespace {

using orchestrator::Orchestrator;
using server::HttpRequest;
using server::HttpResponse;


Result<int64_t> IntParam(std::string_view text, std::string_view what) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) {
    return MakeError(ErrorKind::kInvalidArgument, std::string(what) + " must be an integer, got '" + std::string(text) + "'");
  }
  return v;
}

// Changes need a peer on this machine until authentication exists.
std::optional<HttpResponse> Forbidden(const HttpRequest& req) {
  if (req.loopback) return std::nullopt;
  return HttpResponse::ErrorJson(403, "changes through the orchestrator API are accepted from this machine (loopback) only",
                                 "ForbiddenException");
}

}  // namespace

Status AddOrchestratorRoutes(server::Router& router, Orchestrator& o) {
  FRZ_RETURN_IF_ERROR(router.Get("/api/assets", [&o](const HttpRequest&) -> Result<HttpResponse> {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : o.Assets()) {
      const auto* a = o.graph().Find(s.key);
      nlohmann::json j = {{"key", s.key},
                          {"kind", std::string(orchestrator::AssetKindName(s.kind))},
                          {"group", a ? a->group : ""},
                          {"deps", a ? a->deps : std::vector<std::string>{}},
                          {"dependents", o.graph().Dependents(s.key)},
                          {"version", s.version},
                          {"stale", s.stale},
                          {"stale_since_ms", s.stale_since_ms},
                          {"overdue", s.overdue},
                          {"active", s.active},
                          {"last_success_ms", s.last_success_ms},
                          {"last_run_id", s.last_run_id},
                          {"last_status", s.last_status},
                          {"last_duration_ms", s.last_duration_ms},
                          {"runs", s.runs},
                          {"failures", s.failures}};
      if (a && a->kind == orchestrator::AssetKind::kModel) {
        j["policy"] = {{"automatic", a->policy.automatic},
                       {"debounce_ms", a->policy.debounce_ms},
                       {"max_delay_ms", a->policy.max_delay_ms},
                       {"min_interval_ms", a->policy.min_interval_ms},
                       {"freshness_target_ms", a->policy.freshness_target_ms}};
      }
      out.push_back(std::move(j));
    }
    return HttpResponse::Json(200, nlohmann::json{{"assets", out}});
  }));
  FRZ_RETURN_IF_ERROR(router.Get("/api/jobs", [&o](const HttpRequest&) -> Result<HttpResponse> {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& j : o.jobs()) {
      out.push_back({{"name", j.name}, {"task", j.task}, {"assets", j.assets}, {"params", j.params},
                     {"max_attempts", j.max_attempts}, {"timeout_ms", j.timeout_ms}, {"description", j.description}});
    }
    return HttpResponse::Json(200, nlohmann::json{{"jobs", out}});
  }));
  FRZ_RETURN_IF_ERROR(router.Get("/api/schedules", [&o](const HttpRequest&) -> Result<HttpResponse> {
    auto next = o.NextFires();
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : o.schedules()) {
      out.push_back({{"name", s.name}, {"cron", s.cron}, {"time_zone", s.time_zone}, {"job", s.job},
                     {"enabled", s.enabled}, {"next_fire_ms", next[s.name]}});
    }
    return HttpResponse::Json(200, nlohmann::json{{"schedules", out}});
  }));
  FRZ_RETURN_IF_ERROR(router.Get("/api/runs", [&o](const HttpRequest& req) -> Result<HttpResponse> {
    orchestrator::RunFilter f;
    if (auto v = req.QueryParam("status")) {
      FRZ_ASSIGN_OR_RETURN(f.status, orchestrator::ParseRunStatus(*v));
    }
    if (auto v = req.QueryParam("job")) f.job = std::string(*v);
    if (auto v = req.QueryParam("asset")) f.asset = std::string(*v);
    if (auto v = req.QueryParam("limit")) {
      FRZ_ASSIGN_OR_RETURN(int64_t n, IntParam(*v, "limit"));
      if (n < 1 || n > 1000) return MakeError(ErrorKind::kInvalidArgument, "limit must be between 1 and 1000");
      f.limit = static_cast<int>(n);
    }
    if (auto v = req.QueryParam("before")) {
      FRZ_ASSIGN_OR_RETURN(f.before_id, IntParam(*v, "before"));
    }
    FRZ_ASSIGN_OR_RETURN(auto runs, o.store().List(f));
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : runs) out.push_back(orchestrator::RunRecordJson(r));
    nlohmann::json body = {{"runs", out}};
    if (static_cast<int>(runs.size()) == f.limit && !runs.empty()) body["next_before"] = runs.back().id;
    return HttpResponse::Json(200, body);
  }));
  FRZ_RETURN_IF_ERROR(router.Get("/api/runs/{id}", [&o](const HttpRequest& req) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(int64_t id, IntParam(req.PathParam("id"), "run id"));
    FRZ_ASSIGN_OR_RETURN(auto r, o.store().Get(id));
    return HttpResponse::Json(200, orchestrator::RunRecordJson(r));
  }));
  FRZ_RETURN_IF_ERROR(router.Get("/api/runs/{id}/logs", [&o](const HttpRequest& req) -> Result<HttpResponse> {
    FRZ_ASSIGN_OR_RETURN(int64_t id, IntParam(req.PathParam("id"), "run id"));
    FRZ_ASSIGN_OR_RETURN(auto run, o.store().Get(id));  // 404 for an unknown run
    int64_t after = 0;
    if (auto v = req.QueryParam("after")) {
      FRZ_ASSIGN_OR_RETURN(after, IntParam(*v, "after"));
    }
    FRZ_ASSIGN_OR_RETURN(auto lines, o.store().Logs(id, after, 1000));
    nlohmann::json out = nlohmann::json::array();
    for (const auto& l : lines) {
      out.push_back({{"seq", l.seq}, {"ts_ms", l.ts_ms}, {"level", std::string(LogLevelName(l.level))}, {"message", l.message}});
    }
    return HttpResponse::Json(200, nlohmann::json{{"lines", out}});
  }));
  FRZ_RETURN_IF_ERROR(router.Post("/api/runs/{id}/cancel", [&o](const HttpRequest& req) -> Result<HttpResponse> {
    if (auto denied = Forbidden(req)) return *denied;
    FRZ_ASSIGN_OR_RETURN(int64_t id, IntParam(req.PathParam("id"), "run id"));
    FRZ_RETURN_IF_ERROR(o.Cancel(id));
    return HttpResponse::Json(202, nlohmann::json{{"id", id}, {"cancel_requested", true}});
  }));
  FRZ_RETURN_IF_ERROR(router.Post("/api/materialize", [&o](const HttpRequest& req) -> Result<HttpResponse> {
    if (auto denied = Forbidden(req)) return *denied;
    nlohmann::json body = nlohmann::json::object();
    if (!req.body.empty()) {
      FRZ_ASSIGN_OR_RETURN(body, req.JsonBody());
    }
    if (!body.is_object()) return MakeError(ErrorKind::kInvalidArgument, "the body must be a JSON object");
    std::vector<std::string> assets;
    std::string job = orchestrator::kMaterializeJob;
    bool downstream = false;
    std::map<std::string, std::string> params;
    for (const auto& [k, v] : body.items()) {
      if (k == "assets" && v.is_array()) {
        for (const auto& a : v) {
          if (!a.is_string()) return MakeError(ErrorKind::kInvalidArgument, "assets must be a list of strings");
          assets.push_back(a.get<std::string>());
        }
      } else if (k == "job" && v.is_string()) {
        job = v.get<std::string>();
      } else if (k == "downstream" && v.is_boolean()) {
        downstream = v.get<bool>();
      } else if ((k == "full_refresh" || k == "test") && v.is_boolean()) {
        if (v.get<bool>()) params[k] = "true";
      } else {
        return MakeError(ErrorKind::kInvalidArgument,
                         "unknown or mistyped field '" + k +
                             "' (assets: [string], job: string, downstream/full_refresh/test: boolean)");
      }
    }
    std::string trigger = params.count("full_refresh") ? "backfill" : "manual";
    FRZ_ASSIGN_OR_RETURN(int64_t id, o.Launch(job, assets, params, trigger, downstream));
    return HttpResponse::Json(202, nlohmann::json{{"run_id", id}});
  }));
  return router.Get("/healthz", [](const HttpRequest&) -> Result<HttpResponse> {
    return HttpResponse::Json(200, nlohmann::json{{"status", "ok"}});
  });
}

}  // namespace frazil::app
