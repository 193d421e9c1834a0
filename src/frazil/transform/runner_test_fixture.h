// The fixture of the runner tests: a project in a temp directory run against the fake
// adapter, with helpers to read results. Shared by runner_test.cc and data_tests_test.cc.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "frazil/transform/duckdb_adapter.h"
#include "frazil/transform/runner.h"
#include "frazil/transform/test_project.h"

namespace frazil::transform {
namespace {

using testing::LoadAndParse;
using testing::RowsText;
using testing::TestProject;

catalog::TableIdentifier Id(const std::string& dotted) {
  auto id = catalog::TableIdentifier::Parse(dotted);
  EXPECT_TRUE(id) << dotted;
  return id ? *id : catalog::TableIdentifier{};
}

constexpr const char* kSources = R"(
version: 2
sources:
  - name: raw
    tables:
      - name: events
      - name: changes
      - name: other
)";

// The result of node `name` in a report.
const NodeResult& ResultOf(const RunReport& report, const std::string& name) {
  static const NodeResult kMissing{.status = "(not in the report)"};
  for (const auto& r : report.results) {
    if (r.name == name) return r;
  }
  ADD_FAILURE() << "no result for " << name;
  return kMissing;
}

// "name=status ..." sorted by name: one string to compare a whole run.
std::string Statuses(const RunReport& report) {
  std::vector<std::string> parts;
  for (const auto& r : report.results) parts.push_back(r.name + "=" + r.status);
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : " ") + p;
  return out;
}

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto a = DuckDbAdapter::Make();
    ASSERT_TRUE(a) << a.error().ToString();
    adapter_ = std::move(*a);
    dir_.Write("models/sources.yml", kSources);
  }

  // Loads and parses the project afresh, as each `frazil models run` does, and runs it.
  RunReport Run(RunOptions o = {}, CompileOptions c = {}, Adapter* adapter = nullptr) {
    auto l = LoadAndParse(dir_.root(), std::move(c));
    EXPECT_TRUE(l) << l.error().ToString();
    if (!l) return RunReport{.errors = 1000};
    auto r = RunModels(*(*l)->compiler, adapter ? *adapter : *adapter_, o);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : RunReport{.errors = 1000};
  }
  RunReport RunFullRefresh() {
    RunOptions o;
    CompileOptions c;
    c.full_refresh = true;
    return Run(o, c);
  }
  RunReport Seed() {
    auto l = LoadAndParse(dir_.root());
    EXPECT_TRUE(l) << l.error().ToString();
    if (!l) return RunReport{.errors = 1000};
    auto r = RunSeeds(*(*l)->compiler, *adapter_, {});
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : RunReport{.errors = 1000};
  }
  RunReport Test(RunOptions o = {}) {
    auto l = LoadAndParse(dir_.root());
    EXPECT_TRUE(l) << l.error().ToString();
    if (!l) return RunReport{.errors = 1000};
    auto r = RunTests(*(*l)->compiler, *adapter_, o);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : RunReport{.errors = 1000};
  }

  // The rows of a query as "a,b|c,d", or the error.
  std::string Q(const std::string& sql) {
    auto rows = adapter_->Query(sql, nullptr);
    if (!rows) return "ERROR: " + rows.error().message;
    return RowsText(*rows);
  }
  // Appends to a source table (created by the first append); returns the snapshot.
  int64_t Append(const std::string& table, const std::string& sql) {
    auto r = adapter_->Append(Id(table), sql);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? r->snapshot_id : -1;
  }
  std::map<std::string, std::string> Summary(const std::string& table) {
    return adapter_->summary_of(Id(table));
  }
  bool Exists(const std::string& table) {
    auto d = adapter_->Describe(Id(table));
    EXPECT_TRUE(d);
    return d && d->exists;
  }

  // The SQL of one model compiled now (for checking what a run would read).
  std::string CompiledRows(const std::string& model) {
    auto l = LoadAndParse(dir_.root());
    EXPECT_TRUE(l) << l.error().ToString();
    if (!l) return "(no project)";
    Compiler& c = *(*l)->compiler;
    auto m = c.Compile(c.nodes().at("model." + model), *adapter_);
    if (!m) return "ERROR: " + m.error().message;
    return Q("SELECT * FROM (" + m->sql + ") ORDER BY ALL");
  }

  TestProject dir_;
  std::unique_ptr<DuckDbAdapter> adapter_;
};

}  // namespace
}  // namespace frazil::transform
