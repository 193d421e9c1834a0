// The orchestrator's warehouse side: the asset graph from the catalog and a project, data
// versions, and the executor's model runs (which keep merged tables compact).
#include "frazil/app/orchestration.h"

#include <filesystem>
#include <fstream>

#include "frazil/app/app_test_fixture.h"
#include "frazil/maintenance/compact.h"

namespace frazil::app {
namespace {

class RecordingContext final : public orchestrator::RunContext {
 public:
  explicit RecordingContext(orchestrator::RunRecord run) : run_(std::move(run)) {}
  const orchestrator::RunRecord& run() const override { return run_; }
  bool cancelled() const override { return cancel_.load(); }
  const std::atomic<bool>& cancel_flag() const override { return cancel_; }
  void Log(LogLevel, const std::string& message) override { lines.push_back(message); }
  void AssetSucceeded(const std::string& key) override { succeeded.insert(key); }
  void AssetFailed(const std::string& key, const std::string& message) override { failed[key] = message; }
  std::vector<std::string> lines;
  std::set<std::string> succeeded;
  std::map<std::string, std::string> failed;

 private:
  orchestrator::RunRecord run_;
  std::atomic<bool> cancel_{false};
};

class OrchestrationTest : public AppTest {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    project_ = dir_ / "project";
    std::filesystem::create_directories(project_ / "models");
    std::ofstream(project_ / "dbt_project.yml") << "name: t\n";
    std::ofstream(project_ / "models" / "sources.yml")
        << "version: 2\nsources:\n  - name: raw\n    schema: raw\n    tables:\n      - name: events\n";
    // A hub-like merge: one row per key, the newest value wins.
    std::ofstream(project_ / "models" / "latest.sql")
        << "{{ config(materialized='incremental', unique_key='k', schema='m') }}\n"
           "select k, max(v) as v from {{ source('raw', 'events') }} group by k\n";
    std::ofstream(project_ / "models" / "counts.sql")
        << "{{ config(materialized='table', schema='m') }}\nselect count(*) as n from {{ ref('latest') }}\n";
    std::ofstream(project_ / "models" / "tmp_view.sql") << "{{ config(materialized='view', schema='m') }}\n"
                                                           "select * from {{ ref('latest') }}\n";
    std::ofstream(project_ / "models" / "reads_view.sql")
        << "{{ config(materialized='table', schema='m') }}\nselect * from {{ ref('tmp_view') }}\n";
    ASSERT_NO_FATAL_FAILURE(AppendRaw(0));
  }
  void AppendRaw(int round) {
    auto r = AppendQueryOrCreate("raw.events", "SELECT i % 50 AS k, " + std::to_string(round) + " AS v FROM range(200) t(i)");
    ASSERT_TRUE(r);
  }
  bool AppendQueryOrCreate(const std::string& table, const std::string& sql) {
    auto id = Id(table);
    if (!*w_->catalog().TableExists(id)) {
      iceberg::Schema schema(0, {NestedField{.id = 1, .name = "k", .required = false, .type = Primitive(TypeId::kLong)},
                                 NestedField{.id = 2, .name = "v", .required = false, .type = Primitive(TypeId::kLong)}});
      auto created = CreateTable(*w_, id, schema, iceberg::PartitionSpec{}, {});
      EXPECT_TRUE(created) << created.error().ToString();
    }
    auto r = AppendQuery(*w_, id, sql, false);
    EXPECT_TRUE(r) << r.error().ToString();
    return r.has_value();
  }
  std::filesystem::path project_;
};

TEST_F(OrchestrationTest, GraphFoldsViewsAndKnowsTables) {
  auto project = LoadModelProject(project_.string(), {});
  ASSERT_TRUE(project) << project.error().ToString();
  auto graph = BuildAssetGraph(*w_, project->get());
  ASSERT_TRUE(graph) << graph.error().ToString();
  const auto* latest = graph->Find("m.latest");
  ASSERT_NE(latest, nullptr);
  EXPECT_EQ(latest->kind, orchestrator::AssetKind::kModel);
  EXPECT_EQ(latest->deps, (std::vector<std::string>{"raw.events"}));
  EXPECT_EQ(graph->Find("m.tmp_view"), nullptr);  // a view is not a table
  EXPECT_EQ(graph->Find("m.reads_view")->deps, (std::vector<std::string>{"m.latest"}));
  EXPECT_EQ(graph->Find("raw.events")->kind, orchestrator::AssetKind::kSource);
}

TEST_F(OrchestrationTest, DataVersionIgnoresCompactions) {
  auto before = w_->catalog().LoadTable(Id("raw.events"));
  ASSERT_TRUE(before);
  std::string v = DataVersion(before->metadata);
  ASSERT_NO_FATAL_FAILURE(AppendRaw(1));
  auto appended = w_->catalog().LoadTable(Id("raw.events"));
  std::string v2 = DataVersion(appended->metadata);
  EXPECT_NE(v2, v);
  auto c = maintenance::CompactTable(w_->catalog(), w_->io(), w_->db(), w_->clock(), Id("raw.events"), {});
  ASSERT_TRUE(c) << c.error().ToString();
  ASSERT_NE(c->snapshot_id, 0);
  auto compacted = w_->catalog().LoadTable(Id("raw.events"));
  EXPECT_EQ(DataVersion(compacted->metadata), v2);
}

TEST_F(OrchestrationTest, MergedModelTablesStayCompactAcrossRuns) {
  WarehouseExecutor exec(*w_, project_.string());
  orchestrator::Job job;
  job.name = job.task = orchestrator::kMaterializeJob;
  job.assets = {"m.latest", "m.counts", "m.reads_view"};
  int64_t max_deletes = 0;
  for (int round = 1; round <= 12; ++round) {
    ASSERT_NO_FATAL_FAILURE(AppendRaw(round));
    orchestrator::RunRecord run;
    run.id = round;
    RecordingContext ctx(run);
    auto s = exec.Execute(job, ctx);
    ASSERT_TRUE(s) << s.error().ToString();
    EXPECT_EQ(ctx.succeeded, (std::set<std::string>{"m.latest", "m.counts", "m.reads_view"}));
    EXPECT_TRUE(ctx.failed.empty());
    auto t = w_->catalog().LoadTable(Id("m.latest"));
    ASSERT_TRUE(t);
    max_deletes = std::max<int64_t>(max_deletes, std::stoll(t->metadata.current_snapshot()->summary.at("total-delete-files")));
    EXPECT_EQ(SqlValue("SELECT count(*) FROM m.latest"), "50");
    EXPECT_EQ(SqlValue("SELECT min(v) || '-' || max(v) FROM m.latest"), std::to_string(round) + "-" + std::to_string(round));
    EXPECT_EQ(SqlValue("SELECT n FROM m.counts"), "50");
  }
  // Without compaction run k adds k delete files (12 runs: 66); the threshold keeps it low.
  EXPECT_LT(max_deletes, 16 + 12);
}

}  // namespace
}  // namespace frazil::app
