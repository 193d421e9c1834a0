// The orchestrator's HTTP API through the router: shapes, paging, errors, loopback rule.
#include "frazil/app/orchestrator_api.h"

#include <gtest/gtest.h>

namespace frazil::app {
namespace {

using orchestrator::Asset;
using orchestrator::AssetKind;

class StaticObserver final : public orchestrator::AssetObserver {
 public:
  Result<std::map<std::string, std::string>> Versions() override { return std::map<std::string, std::string>{{"raw.x", "1"}}; }
};

class OkExecutor final : public orchestrator::Executor {
 public:
  Status Execute(const orchestrator::Job&, orchestrator::RunContext& ctx) override {
    ctx.Log(LogLevel::kInfo, "did it");
    return Ok();
  }
};

class OrchestratorApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = orchestrator::SqliteRunStore::Open(":memory:");
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    Asset raw{"raw.x", AssetKind::kSource};
    Asset model{"m.y", AssetKind::kModel, {"raw.x"}};
    auto graph = orchestrator::AssetGraph::Make({raw, model});
    ASSERT_TRUE(graph) << graph.error().ToString();
    orchestrator::Job job;
    job.name = "compact_all";
    job.task = "compact";
    orchestrator::OrchestratorOptions opts;
    opts.inline_execution = true;
    opts.sensors = false;
    auto o = orchestrator::Orchestrator::Make(std::move(*graph), {job}, {{"nightly", "0 2 * * *", "UTC", "compact_all"}},
                                              *store_, executor_, observer_, clock_, opts);
    ASSERT_TRUE(o) << o.error().ToString();
    orch_ = std::move(*o);
    ASSERT_TRUE(AddOrchestratorRoutes(router_, *orch_));
  }
  server::HttpResponse Call(std::string method, std::string target, std::string body = "", bool loopback = true) {
    server::HttpRequest req;
    req.method = std::move(method);
    req.target = target;
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) {
      req.query = target.substr(q + 1);
      std::string rest = req.query;
      while (!rest.empty()) {
        auto amp = rest.find('&');
        std::string kv = rest.substr(0, amp);
        auto eq = kv.find('=');
        req.query_params.emplace_back(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
        rest = amp == std::string::npos ? "" : rest.substr(amp + 1);
      }
    }
    std::string seg;
    for (char c : req.path.substr(1) + "/") {
      if (c == '/') {
        req.segments.push_back(seg);
        seg.clear();
      } else {
        seg += c;
      }
    }
    req.body = std::move(body);
    req.loopback = loopback;
    return router_.Handle(req);
  }
  nlohmann::json Json(const server::HttpResponse& r) { return nlohmann::json::parse(r.body); }

  ManualClock clock_{1'800'000'000'000};
  StaticObserver observer_;
  OkExecutor executor_;
  std::unique_ptr<orchestrator::SqliteRunStore> store_;
  std::unique_ptr<orchestrator::Orchestrator> orch_;
  server::Router router_;
};

TEST_F(OrchestratorApiTest, AssetsJobsSchedules) {
  ASSERT_TRUE(orch_->Observe());
  auto r = Call("GET", "/api/assets");
  ASSERT_EQ(r.status, 200) << r.body;
  auto assets = Json(r)["assets"];
  ASSERT_EQ(assets.size(), 2u);
  EXPECT_EQ(assets[1]["key"], "m.y");
  EXPECT_EQ(assets[1]["kind"], "model");
  EXPECT_EQ(assets[1]["deps"], nlohmann::json::array({"raw.x"}));
  EXPECT_EQ(assets[1]["stale"], true);  // never materialized
  EXPECT_TRUE(assets[1].contains("policy"));
  EXPECT_EQ(assets[0]["dependents"], nlohmann::json::array({"m.y"}));
  EXPECT_EQ(Json(Call("GET", "/api/jobs"))["jobs"][0]["task"], "compact");
  auto sched = Json(Call("GET", "/api/schedules"))["schedules"][0];
  EXPECT_EQ(sched["cron"], "0 2 * * *");
  EXPECT_GT(sched["next_fire_ms"].get<int64_t>(), clock_.NowMillis());
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
}

TEST_F(OrchestratorApiTest, MaterializeRunsLogsPagingAndCancel) {
  auto r = Call("POST", "/api/materialize", R"({"assets": ["m.y"]})");
  ASSERT_EQ(r.status, 202) << r.body;
  int64_t id = Json(r)["run_id"];
  ASSERT_TRUE(orch_->Tick());
  auto run = Json(Call("GET", "/api/runs/" + std::to_string(id)));
  EXPECT_EQ(run["status"], "succeeded");
  EXPECT_EQ(run["assets"], nlohmann::json::array({"m.y"}));
  auto lines = Json(Call("GET", "/api/runs/" + std::to_string(id) + "/logs"))["lines"];
  ASSERT_GE(lines.size(), 2u);
  bool did = false;
  for (const auto& l : lines) did = did || l["message"] == "did it";
  EXPECT_TRUE(did);
  auto after = Json(Call("GET", "/api/runs/" + std::to_string(id) + "/logs?after=" + std::to_string(lines[0]["seq"].get<int64_t>())));
  EXPECT_EQ(after["lines"].size(), lines.size() - 1);

  // Three more runs; page through them two at a time.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Call("POST", "/api/materialize", R"({"job": "compact_all"})").status, 202);
  auto page = Json(Call("GET", "/api/runs?limit=2"));
  ASSERT_EQ(page["runs"].size(), 2u);
  auto next = Json(Call("GET", "/api/runs?limit=2&before=" + std::to_string(page["next_before"].get<int64_t>())));
  EXPECT_EQ(next["runs"].size(), 2u);
  EXPECT_LT(next["runs"][0]["id"].get<int64_t>(), page["runs"][1]["id"].get<int64_t>());
  EXPECT_EQ(Json(Call("GET", "/api/runs?status=queued"))["runs"].size(), 3u);

  int64_t queued = page["runs"][0]["id"];
  EXPECT_EQ(Call("POST", "/api/runs/" + std::to_string(queued) + "/cancel").status, 202);
  ASSERT_TRUE(orch_->Tick());
  EXPECT_EQ(Json(Call("GET", "/api/runs/" + std::to_string(queued)))["status"], "canceled");
  // Finished: cancelling again is a client error, not a crash.
  EXPECT_EQ(Call("POST", "/api/runs/" + std::to_string(queued) + "/cancel").status, 400);
}

TEST_F(OrchestratorApiTest, BadRequestsGetClearErrors) {
  EXPECT_EQ(Call("GET", "/api/runs/12345").status, 404);
  EXPECT_EQ(Call("GET", "/api/runs/abc").status, 400);
  EXPECT_EQ(Call("GET", "/api/runs?status=bogus").status, 400);
  EXPECT_EQ(Call("GET", "/api/runs?limit=0").status, 400);
  auto bad_json = Call("POST", "/api/materialize", "{not json");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_TRUE(Json(bad_json).contains("error"));
  EXPECT_EQ(Call("POST", "/api/materialize", R"({"assets": "m.y"})").status, 400);
  EXPECT_EQ(Call("POST", "/api/materialize", R"({"assets": ["raw.x"]})").status, 400);  // not a model
  EXPECT_EQ(Call("POST", "/api/materialize", R"({"assets": ["nope.z"]})").status, 400);
  EXPECT_EQ(Call("POST", "/api/materialize", R"({"job": "nope"})").status, 400);
  EXPECT_EQ(Call("POST", "/api/materialize", "[1]").status, 400);
  auto remote = Call("POST", "/api/materialize", R"({"assets": ["m.y"]})", /*loopback=*/false);
  EXPECT_EQ(remote.status, 403);
  EXPECT_EQ(Json(remote)["error"]["type"], "ForbiddenException");
  EXPECT_EQ(Call("GET", "/api/assets", "", false).status, 200);  // reading is fine
  EXPECT_EQ(Json(Call("GET", "/api/runs"))["runs"].size(), 0u);   // nothing was queued
  EXPECT_EQ(Call("DELETE", "/api/runs/1").status, 405);
}

}  // namespace
}  // namespace frazil::app
