#include "frazil/transform/compiler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "frazil/transform/duckdb_adapter.h"
#include "frazil/transform/test_project.h"

namespace frazil::transform {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::LoadAndParse;
using ::testing::Not;
using testing::TestProject;
using ::testing::UnorderedElementsAre;

catalog::TableIdentifier Id(const std::string& dotted) {
  auto id = catalog::TableIdentifier::Parse(dotted);
  EXPECT_TRUE(id) << dotted;
  return id ? *id : catalog::TableIdentifier{};
}

size_t IndexOf(const std::vector<std::string>& v, const std::string& x) {
  auto it = std::find(v.begin(), v.end(), x);
  EXPECT_NE(it, v.end()) << x << " missing";
  return static_cast<size_t>(it - v.begin());
}

std::vector<std::string> ModelKeys(const Compiler& c) {
  std::vector<std::string> out;
  for (const auto& [k, n] : c.nodes()) {
    if (n.kind == NodeKind::kModel) out.push_back(k);
  }
  return out;
}

// A project of five models, a seed and a source, with a shape that alphabetical order does
// not satisfy:
//   source raw.orders -> stg_orders (view, tag staging) -> a_orders_enriched (table) -> z_report
//   seed countries ----------------------------------------^
//   b_lonely (table, tag nightly), unrelated.
void WriteShop(TestProject& dir) {
  dir.Write("models/sources.yml", R"(
sources:
  - name: raw
    tables:
      - name: orders
      - name: unused
)");
  dir.Write("seeds/countries.csv", "code,name\nfr,France\n");
  dir.Write(
      "models/staging/stg_orders.sql",
      "{{ config(tags=['staging']) }}\nselect id, country from {{ source('raw', 'orders') }}\n");
  dir.Write("models/marts/a_orders_enriched.sql",
            "{{ config(materialized='table') }}\n"
            "select o.id, c.name from {{ ref('stg_orders') }} o join {{ ref('countries') }} c on "
            "o.country = c.code\n");
  dir.Write("models/marts/z_report.sql",
            "{{ config(materialized='table', tags=['nightly']) }}\nselect count(*) as n from {{ "
            "ref('a_orders_enriched') }}\n");
  dir.Write("models/b_lonely.sql",
            "{{ config(materialized='table', tags=['nightly']) }}\nselect 1 as one\n");
}

// ---------------------------------------------------------------------------------------
// The DAG.

TEST(CompilerDagTest, EveryNodeFollowsWhatItReads) {
  TestProject dir;
  WriteShop(dir);
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  const Compiler& c = *(*l)->compiler;
  const auto& order = c.order();
  EXPECT_LT(IndexOf(order, "source.raw.orders"), IndexOf(order, "model.stg_orders"));
  EXPECT_LT(IndexOf(order, "model.stg_orders"), IndexOf(order, "model.a_orders_enriched"));
  EXPECT_LT(IndexOf(order, "seed.countries"), IndexOf(order, "model.a_orders_enriched"));
  EXPECT_LT(IndexOf(order, "model.a_orders_enriched"), IndexOf(order, "model.z_report"));
  EXPECT_EQ(order.size(), c.nodes().size());
  // Every node follows all of its dependencies, not only the ones checked above.
  for (const auto& [key, n] : c.nodes()) {
    for (const auto& d : n.depends_on)
      EXPECT_LT(IndexOf(order, d), IndexOf(order, key)) << key << " <- " << d;
  }
  // Undeclared-but-unused sources are nodes too (they appear in nodes()).
  EXPECT_TRUE(c.nodes().count("source.raw.unused"));
}

TEST(CompilerDagTest, DependsOnInTheOrderFirstReferenced) {
  TestProject dir;
  WriteShop(dir);
  dir.Write("models/multi.sql",
            "select * from {{ ref('b_lonely') }}, {{ source('raw', 'orders') }}, {{ "
            "ref('b_lonely') }}, {{ ref('countries') }}\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  const Compiler& c = *(*l)->compiler;
  EXPECT_THAT(c.nodes().at("model.multi").depends_on,
              ElementsAre("model.b_lonely", "source.raw.orders", "seed.countries"));
  EXPECT_THAT(c.nodes().at("model.a_orders_enriched").depends_on,
              ElementsAre("model.stg_orders", "seed.countries"));
  EXPECT_TRUE(c.nodes().at("model.b_lonely").depends_on.empty());
}

TEST(CompilerDagTest, RefToAnUnknownModelNamesIt) {
  TestProject dir;
  dir.Write("models/a.sql", "select 1 as x\n");
  dir.Write("models/b.sql", "select *\nfrom {{ ref('no_such_model') }}\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_THAT(l.error().message, HasSubstr("no_such_model"));
  EXPECT_THAT(l.error().message, HasSubstr("models/b.sql:2"));
}

TEST(CompilerDagTest, UndeclaredSourceIsAnError) {
  TestProject dir;
  dir.Write("models/a.sql", "select * from {{ source('raw', 'ghost') }}\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_FALSE(l);
  EXPECT_THAT(l.error().message, HasSubstr("source('raw', 'ghost')"));
  EXPECT_THAT(l.error().message, HasSubstr("models/a.sql:1"));
}

TEST(CompilerDagTest, CycleListsTheNodesInIt) {
  TestProject dir;
  dir.Write("models/a.sql", "select * from {{ ref('c') }}\n");
  dir.Write("models/b.sql", "select * from {{ ref('a') }}\n");
  dir.Write("models/c.sql", "select * from {{ ref('b') }}\n");
  dir.Write("models/free.sql", "select 1 as x\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_THAT(l.error().message, HasSubstr("cycle"));
  EXPECT_THAT(l.error().message, HasSubstr("model.a"));
  EXPECT_THAT(l.error().message, HasSubstr("model.b"));
  EXPECT_THAT(l.error().message, HasSubstr("model.c"));
  EXPECT_THAT(l.error().message, Not(HasSubstr("model.free")));
}

TEST(CompilerDagTest, SelfReferenceOutsideIsIncrementalIsACycle) {
  TestProject dir;
  dir.Write("models/a.sql", "select * from {{ ref('a') }}\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_FALSE(l);
  EXPECT_THAT(l.error().message, HasSubstr("cycle"));
  EXPECT_THAT(l.error().message, HasSubstr("model.a"));
}

TEST(CompilerDagTest, DisabledModelsAreRemoved) {
  TestProject dir;
  dir.Write("dbt_project.yml",
            "name: shop\nmodels:\n  shop:\n    legacy:\n      +enabled: false\n");
  dir.Write("models/a.sql", "select 1 as x\n");
  dir.Write("models/off_in_file.sql", "{{ config(enabled=false) }}\nselect 1 as x\n");
  dir.Write("models/off_in_yaml.sql", "select 1 as x\n");
  dir.Write("models/legacy/old.sql", "select 1 as x\n");
  dir.Write("models/legacy/back_on.sql", "{{ config(enabled=true) }}\nselect 1 as x\n");
  dir.Write("models/schema.yml",
            "models:\n  - name: off_in_yaml\n    config:\n      enabled: false\n");
  // A disabled model may share its table with an enabled one.
  dir.Write("models/a_v2.sql", "{{ config(enabled=false, alias='a') }}\nselect 2 as x\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  const Compiler& c = *(*l)->compiler;
  EXPECT_THAT(ModelKeys(c), ElementsAre("model.a", "model.back_on"));
  auto all = c.Select({}, {}, false);
  ASSERT_TRUE(all) << all.error().ToString();
  EXPECT_THAT(*all, UnorderedElementsAre("model.a", "model.back_on"));
}

TEST(CompilerDagTest, ADisabledModelMayReferToModelsThatAreGone) {
  // A model disabled by its folder or YAML settings is not parsed for refs (dbt resolves
  // the refs of enabled nodes only): disabling a model whose upstream was deleted works.
  TestProject dir;
  dir.Write("dbt_project.yml",
            "name: shop\nmodels:\n  shop:\n    legacy:\n      +enabled: false\n");
  dir.Write("models/a.sql", "select 1 as x\n");
  dir.Write("models/legacy/old.sql", "select * from {{ ref('deleted_model') }}\n");
  dir.Write("models/old2.sql", "select * from {{ source('gone', 'table') }}\n");
  dir.Write("models/schema.yml", "models:\n  - name: old2\n    config:\n      enabled: false\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  EXPECT_THAT(ModelKeys(*(*l)->compiler), ElementsAre("model.a"));
}

TEST(CompilerDagTest, RefToADisabledModelIsAnError) {
  TestProject dir;
  dir.Write("models/off.sql", "{{ config(enabled=false) }}\nselect 1 as x\n");
  dir.Write("models/user.sql", "select * from {{ ref('off') }}\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_FALSE(l);
  EXPECT_THAT(l.error().message, HasSubstr("models/user.sql"));
  EXPECT_THAT(l.error().message, HasSubstr("model.off"));
  EXPECT_THAT(l.error().message, HasSubstr("disabled"));
}

TEST(CompilerDagTest, DataTestsOfADisabledModelAreDisabledToo) {
  // dbt disables the tests of a disabled model; the project still compiles.
  TestProject dir;
  dir.Write("models/a.sql", "select 1 as id\n");
  dir.Write("models/off.sql", "{{ config(enabled=false) }}\nselect 1 as id\n");
  dir.Write("models/schema.yml", R"(
models:
  - name: a
    columns:
      - name: id
        tests: [unique]
  - name: off
    columns:
      - name: id
        tests: [unique, not_null]
)");
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  EXPECT_FALSE((*l)->compiler->nodes().count("model.off"));
}

TEST(CompilerDagTest, TwoModelsWritingOneTableIsAnError) {
  TestProject dir;
  dir.Write("models/a.sql",
            "{{ config(materialized='table', schema='mart', alias='facts') }}\nselect 1 as x\n");
  dir.Write("models/b.sql", "{{ config(materialized='table') }}\nselect 1 as x\n");
  dir.Write("models/schema.yml",
            "models:\n  - name: b\n    config:\n      schema: mart\n      alias: facts\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_THAT(l.error().message, HasSubstr("model.a"));
  EXPECT_THAT(l.error().message, HasSubstr("model.b"));
  EXPECT_THAT(l.error().message, HasSubstr("mart.facts"));
}

TEST(CompilerDagTest, AModelWritingASeedsTableIsAnError) {
  TestProject dir;
  dir.Write("seeds/countries.csv", "code\nfr\n");
  dir.Write("models/c.sql", "{{ config(alias='countries') }}\nselect 1 as x\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_FALSE(l);
  EXPECT_THAT(l.error().message, HasSubstr("shop.countries"));
}

TEST(CompilerDagTest, EphemeralModelsOwnNoTable) {
  TestProject dir;
  dir.Write("models/a.sql", "{{ config(materialized='ephemeral') }}\nselect 1 as x\n");
  dir.Write("models/b.sql",
            "{{ config(materialized='table', alias='a') }}\nselect * from {{ ref('a') }}\n");
  auto l = LoadAndParse(dir.root());
  EXPECT_TRUE(l) << l.error().ToString();
}

TEST(CompilerDagTest, SchemaAndAliasDecideTheTable) {
  TestProject dir;
  dir.Write("models/a.sql", "{{ config(schema='Mart', alias='Facts') }}\nselect 1 as x\n");
  dir.Write("models/b.sql", "select 1 as x\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  EXPECT_EQ((*l)->compiler->nodes().at("model.a").table, Id("mart.facts"));
  EXPECT_EQ((*l)->compiler->nodes().at("model.b").table, Id("shop.b"));
}

// ---------------------------------------------------------------------------------------
// Selection.

class CompilerSelectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteShop(dir_);
    auto l = LoadAndParse(dir_.root());
    ASSERT_TRUE(l) << l.error().ToString();
    loaded_ = std::move(*l);
  }
  std::vector<std::string> Sel(const std::vector<std::string>& select,
                               const std::vector<std::string>& exclude = {}, bool seeds = false) {
    auto r = loaded_->compiler->Select(select, exclude, seeds);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : std::vector<std::string>{"(error)"};
  }
  // Select's result in order(): sorted by that order for the comparison of sets.
  std::vector<std::string> InOrder(std::vector<std::string> keys) {
    const auto& order = loaded_->compiler->order();
    std::sort(keys.begin(), keys.end(),
              [&](const auto& a, const auto& b) { return IndexOf(order, a) < IndexOf(order, b); });
    return keys;
  }

  TestProject dir_;
  std::unique_ptr<testing::Loaded> loaded_;
};

TEST_F(CompilerSelectTest, EverythingByDefaultInDagOrder) {
  EXPECT_EQ(Sel({}), InOrder({"model.stg_orders", "model.a_orders_enriched", "model.z_report",
                              "model.b_lonely"}));
  EXPECT_EQ(Sel({"*"}), Sel({}));
  EXPECT_EQ(Sel({}, {}, true),
            InOrder({"seed.countries", "model.stg_orders", "model.a_orders_enriched",
                     "model.z_report", "model.b_lonely"}));
}

TEST_F(CompilerSelectTest, ByName) {
  EXPECT_THAT(Sel({"a_orders_enriched"}), ElementsAre("model.a_orders_enriched"));
  EXPECT_THAT(Sel({"z_report", "b_lonely"}),
              UnorderedElementsAre("model.z_report", "model.b_lonely"));
}

TEST_F(CompilerSelectTest, WithAncestors) {
  EXPECT_EQ(Sel({"+a_orders_enriched"}), InOrder({"model.stg_orders", "model.a_orders_enriched"}));
  EXPECT_EQ(Sel({"+a_orders_enriched"}, {}, true),
            InOrder({"seed.countries", "model.stg_orders", "model.a_orders_enriched"}));
  EXPECT_EQ(Sel({"+z_report"}),
            InOrder({"model.stg_orders", "model.a_orders_enriched", "model.z_report"}));
}

TEST_F(CompilerSelectTest, WithDescendants) {
  EXPECT_EQ(Sel({"stg_orders+"}),
            InOrder({"model.stg_orders", "model.a_orders_enriched", "model.z_report"}));
  EXPECT_EQ(Sel({"+a_orders_enriched+"}),
            InOrder({"model.stg_orders", "model.a_orders_enriched", "model.z_report"}));
  EXPECT_EQ(Sel({"countries+"}), InOrder({"model.a_orders_enriched", "model.z_report"}));
  EXPECT_EQ(Sel({"countries+"}, {}, true),
            InOrder({"seed.countries", "model.a_orders_enriched", "model.z_report"}));
}

TEST_F(CompilerSelectTest, ByTagPathAndMaterialization) {
  EXPECT_EQ(Sel({"tag:nightly"}), InOrder({"model.z_report", "model.b_lonely"}));
  EXPECT_EQ(Sel({"tag:staging"}), InOrder({"model.stg_orders"}));
  EXPECT_EQ(Sel({"tag:staging+"}),
            InOrder({"model.stg_orders", "model.a_orders_enriched", "model.z_report"}));
  EXPECT_EQ(Sel({"path:models/marts"}), InOrder({"model.a_orders_enriched", "model.z_report"}));
  EXPECT_EQ(Sel({"path:models/staging/stg_orders.sql"}), InOrder({"model.stg_orders"}));
  EXPECT_EQ(Sel({"models/marts"}), InOrder({"model.a_orders_enriched", "model.z_report"}));
  EXPECT_EQ(Sel({"config.materialized:view"}), InOrder({"model.stg_orders"}));
  EXPECT_EQ(Sel({"config.materialized:table"}),
            InOrder({"model.a_orders_enriched", "model.z_report", "model.b_lonely"}));
}

TEST_F(CompilerSelectTest, PathSelectorMatchesWholeFolderNames) {
  EXPECT_EQ(Sel({"path:models/marts/"}), InOrder({"model.a_orders_enriched", "model.z_report"}));
  // "models/mart" is no folder of the project: it must not match models/marts/.
  auto r = loaded_->compiler->Select({"path:models/mart"}, {}, false);
  EXPECT_FALSE(r) << "matched: " << (r ? ::testing::PrintToString(*r) : "");
}

TEST_F(CompilerSelectTest, SourceSelectorWithDescendants) {
  EXPECT_EQ(Sel({"source:raw+"}),
            InOrder({"model.stg_orders", "model.a_orders_enriched", "model.z_report"}));
  EXPECT_EQ(Sel({"source:raw.orders+"}),
            InOrder({"model.stg_orders", "model.a_orders_enriched", "model.z_report"}));
}

TEST_F(CompilerSelectTest, Exclude) {
  EXPECT_EQ(Sel({}, {"tag:nightly"}), InOrder({"model.stg_orders", "model.a_orders_enriched"}));
  EXPECT_EQ(Sel({"stg_orders+"}, {"z_report"}),
            InOrder({"model.stg_orders", "model.a_orders_enriched"}));
  EXPECT_EQ(Sel({"+z_report"}, {"+a_orders_enriched"}), InOrder({"model.z_report"}));
  EXPECT_TRUE(Sel({"b_lonely"}, {"b_lonely"}).empty());
}

TEST_F(CompilerSelectTest, ASelectorMatchingNothingIsAnError) {
  for (const std::string s :
       {"nope", "tag:nope", "path:models/nope", "config.materialized:incremental", "+nope+"}) {
    SCOPED_TRACE(s);
    auto r = loaded_->compiler->Select({s}, {}, false);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
    EXPECT_THAT(r.error().message, HasSubstr("'" + s + "'"));
  }
  auto r = loaded_->compiler->Select({"b_lonely"}, {"ghost"}, false);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("ghost"));
}

// ---------------------------------------------------------------------------------------
// Compiling.

TEST(CompilerCompileTest, OfflineRendersRelationsAsQuotedNames) {
  TestProject dir;
  WriteShop(dir);
  dir.Write(
      "models/x.sql",
      "{{ config(schema='out') }}select * from {{ ref('z_report') }}, {{ ref('countries') }}, "
      "{{ source('raw', 'orders') }} -- {{ this }} {{ this.schema }}.{{ this.name }} {{ model.name "
      "}};\n\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  Compiler& c = *(*l)->compiler;
  auto sql = c.CompileOffline(c.nodes().at("model.x"));
  ASSERT_TRUE(sql) << sql.error().ToString();
  EXPECT_EQ(*sql,
            "select * from \"shop\".\"z_report\", \"shop\".\"countries\", \"raw\".\"orders\" -- "
            "\"out\".\"x\" out.x x");
}

TEST(CompilerCompileTest, MacrosAreAvailableToModels) {
  TestProject dir;
  dir.Write("macros/money.sql", "{% macro cents(col) %}({{ col }} * 100)::BIGINT{% endmacro %}\n");
  dir.Write("models/a.sql", "select {{ cents('amount') }} as amount_cents from t\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  auto sql = (*l)->compiler->CompileOffline((*l)->compiler->nodes().at("model.a"));
  ASSERT_TRUE(sql) << sql.error().ToString();
  EXPECT_EQ(*sql, "select (amount * 100)::BIGINT as amount_cents from t");
}

TEST(CompilerCompileTest, CompilePinsEveryReadAndInlinesEphemerals) {
  TestProject dir;
  dir.Write(
      "models/sources.yml",
      "sources:\n  - name: raw\n    tables:\n      - name: orders\n      - name: customers\n");
  dir.Write("models/eph.sql",
            "{{ config(materialized='ephemeral') }}\nselect id, amount from {{ source('raw', "
            "'orders') }} where amount > 0\n");
  dir.Write("models/t.sql",
            "{{ config(materialized='table') }}\n"
            "select e.id, c.name from {{ ref('eph') }} e join {{ source('raw', 'customers') }} c "
            "on c.id = e.id\n");
  auto adapter = DuckDbAdapter::Make();
  ASSERT_TRUE(adapter) << adapter.error().ToString();
  auto& a = **adapter;
  auto o1 = a.Append(Id("raw.orders"), "SELECT 1 AS id, 10 AS amount");
  ASSERT_TRUE(o1) << o1.error().ToString();
  auto c1 = a.Append(Id("raw.customers"), "SELECT 1 AS id, 'ann' AS name");
  ASSERT_TRUE(c1) << c1.error().ToString();
  auto o2 = a.Append(Id("raw.orders"), "SELECT 2 AS id, -5 AS amount");
  ASSERT_TRUE(o2) << o2.error().ToString();

  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  Compiler& c = *(*l)->compiler;
  auto m = c.Compile(c.nodes().at("model.t"), a);
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_FALSE(m->incremental);
  EXPECT_FALSE(m->target_snapshot_id.has_value());
  std::map<catalog::TableIdentifier, std::optional<int64_t>> want = {
      {Id("raw.orders"), o2->snapshot_id}, {Id("raw.customers"), c1->snapshot_id}};
  EXPECT_EQ(m->reads, want);
  // The ephemeral model is a subquery: its SQL is there, its (nonexistent) table is not.
  EXPECT_THAT(m->sql, HasSubstr("where amount > 0"));
  EXPECT_THAT(m->sql, Not(HasSubstr("\"shop\".\"eph\"")));
  EXPECT_THAT(m->sql, Not(HasSubstr("config(")));
  auto rows = a.Query(m->sql + " ORDER BY 1", nullptr);
  ASSERT_TRUE(rows) << rows.error().ToString() << "\n" << m->sql;
  EXPECT_EQ(testing::RowsText(*rows), "1,ann");

  // Offline, the ephemeral is named by its placeholder; no adapter is touched.
  auto offline = c.CompileOffline(c.nodes().at("model.t"));
  ASSERT_TRUE(offline) << offline.error().ToString();
  EXPECT_THAT(*offline, HasSubstr("\"raw\".\"customers\""));
}

TEST(CompilerCompileTest, PinnedReadsIgnoreLaterAppends) {
  TestProject dir;
  dir.Write("models/sources.yml", "sources:\n  - name: raw\n    tables:\n      - name: orders\n");
  dir.Write("models/t.sql",
            "{{ config(materialized='table') }}\nselect id from {{ source('raw', 'orders') }}\n");
  auto adapter = DuckDbAdapter::Make();
  ASSERT_TRUE(adapter) << adapter.error().ToString();
  auto& a = **adapter;
  ASSERT_TRUE(a.Append(Id("raw.orders"), "SELECT 1 AS id"));
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  Compiler& c = *(*l)->compiler;
  auto m = c.Compile(c.nodes().at("model.t"), a);
  ASSERT_TRUE(m) << m.error().ToString();
  ASSERT_TRUE(a.Append(Id("raw.orders"), "SELECT 2 AS id"));
  auto rows = a.Query(m->sql + " ORDER BY 1", nullptr);
  ASSERT_TRUE(rows) << rows.error().ToString();
  EXPECT_EQ(testing::RowsText(*rows), "1");
}

TEST(CompilerCompileTest, MissingSourceTableIsNotFound) {
  TestProject dir;
  dir.Write("models/sources.yml", "sources:\n  - name: raw\n    tables:\n      - name: orders\n");
  dir.Write("models/t.sql",
            "{{ config(materialized='table') }}\nselect id from {{ source('raw', 'orders') }}\n");
  auto adapter = DuckDbAdapter::Make();
  ASSERT_TRUE(adapter) << adapter.error().ToString();
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  Compiler& c = *(*l)->compiler;
  auto m = c.Compile(c.nodes().at("model.t"), **adapter);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, ErrorKind::kNotFound);
  EXPECT_THAT(m.error().message, HasSubstr("raw.orders"));
}

TEST(CompilerCompileTest, IsIncrementalOnlyWhenTheTargetHasRowsAndNotOnFullRefresh) {
  TestProject dir;
  dir.Write("models/sources.yml", "sources:\n  - name: raw\n    tables:\n      - name: orders\n");
  dir.Write("models/inc.sql",
            "{{ config(materialized='incremental') }}\nselect id from {{ source('raw', 'orders') }}"
            "{% if is_incremental() %} where id > (select max(id) from {{ this }}){% endif %}\n");
  auto adapter = DuckDbAdapter::Make();
  ASSERT_TRUE(adapter) << adapter.error().ToString();
  auto& a = **adapter;
  ASSERT_TRUE(a.Append(Id("raw.orders"), "SELECT 1 AS id"));
  {
    auto l = LoadAndParse(dir.root());
    ASSERT_TRUE(l) << l.error().ToString();
    Compiler& c = *(*l)->compiler;
    auto m = c.Compile(c.nodes().at("model.inc"), a);
    ASSERT_TRUE(m) << m.error().ToString();
    EXPECT_FALSE(m->incremental);
    EXPECT_THAT(m->sql, Not(HasSubstr("max(id)")));
  }
  auto target = a.Append(Id("shop.inc"), "SELECT 1 AS id");
  ASSERT_TRUE(target) << target.error().ToString();
  {
    auto l = LoadAndParse(dir.root());
    ASSERT_TRUE(l) << l.error().ToString();
    Compiler& c = *(*l)->compiler;
    auto m = c.Compile(c.nodes().at("model.inc"), a);
    ASSERT_TRUE(m) << m.error().ToString();
    EXPECT_TRUE(m->incremental);
    EXPECT_EQ(m->target_snapshot_id, target->snapshot_id);
    EXPECT_THAT(m->sql, HasSubstr("max(id)"));
    EXPECT_FALSE(m->reads.count(Id("shop.inc")));  // `this` is not an upstream read
  }
  {
    CompileOptions o;
    o.full_refresh = true;
    auto l = LoadAndParse(dir.root(), o);
    ASSERT_TRUE(l) << l.error().ToString();
    Compiler& c = *(*l)->compiler;
    auto m = c.Compile(c.nodes().at("model.inc"), a);
    ASSERT_TRUE(m) << m.error().ToString();
    EXPECT_FALSE(m->incremental);
    EXPECT_EQ(m->target_snapshot_id, target->snapshot_id);  // the replace still checks the target
  }
}

TEST(CompilerCompileTest, NewRowsOfAViewOrEphemeralIsAnError) {
  TestProject dir;
  dir.Write("models/v.sql", "select 1 as id\n");
  dir.Write("models/t.sql",
            "{{ config(materialized='table') }}\nselect * from {{ new_rows(ref('v')) }}\n");
  auto adapter = DuckDbAdapter::Make();
  ASSERT_TRUE(adapter) << adapter.error().ToString();
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  Compiler& c = *(*l)->compiler;
  auto m = c.Compile(c.nodes().at("model.t"), **adapter);
  ASSERT_FALSE(m);
  EXPECT_THAT(m.error().message, HasSubstr("new_rows"));
  EXPECT_THAT(m.error().message, HasSubstr("view"));
}

TEST(CompilerCompileTest, ViewsNameTheirRelationsUnpinned) {
  TestProject dir;
  dir.Write("models/sources.yml", "sources:\n  - name: raw\n    tables:\n      - name: orders\n");
  dir.Write("models/v.sql", "select id from {{ source('raw', 'orders') }}\n");
  auto adapter = DuckDbAdapter::Make();
  ASSERT_TRUE(adapter) << adapter.error().ToString();
  auto& a = **adapter;
  ASSERT_TRUE(a.Append(Id("raw.orders"), "SELECT 1 AS id"));
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  Compiler& c = *(*l)->compiler;
  auto m = c.Compile(c.nodes().at("model.v"), a);
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_EQ(m->sql, "select id from " + a.QualifiedName(Id("raw.orders")));
  EXPECT_TRUE(m->reads.empty());
}

TEST(CompilerCompileTest, TrimSqlDropsTrailingSemicolonsAndSpace) {
  EXPECT_EQ(TrimSql("select 1;  \n;\n"), "select 1");
  EXPECT_EQ(TrimSql("select ';'"), "select ';'");
  EXPECT_EQ(TrimSql(""), "");
}

TEST(CompilerCompileTest, SingularAndRelationshipTestsDependOnWhatTheyRead) {
  TestProject dir;
  WriteShop(dir);
  dir.Write("tests/report_not_empty.sql",
            "select * from {{ ref('z_report') }} where n = 0 and exists (select 1 from {{ "
            "ref('b_lonely') }})\n");
  dir.Write("models/schema.yml", R"(
models:
  - name: a_orders_enriched
    columns:
      - name: id
        tests:
          - relationships:
              to: source('raw', 'orders')
              field: id
)");
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  const Compiler& c = *(*l)->compiler;
  const auto& tests = (*l)->project.tests;
  ASSERT_EQ(tests.size(), 2u);
  for (const auto& t : tests) {
    if (t.kind == "singular") {
      EXPECT_EQ(c.TestTargetKey(t), "");
      EXPECT_THAT(c.TestDependencies(t), ElementsAre("model.b_lonely", "model.z_report"));
    } else {
      EXPECT_EQ(c.TestTargetKey(t), "model.a_orders_enriched");
      EXPECT_THAT(c.TestDependencies(t),
                  ElementsAre("model.a_orders_enriched", "source.raw.orders"));
    }
  }
}

TEST(CompilerCompileTest, TestOnAnUnknownNodeIsAnError) {
  TestProject dir;
  dir.Write("models/a.sql", "select 1 as id\n");
  dir.Write("tests/t.sql", "select * from {{ ref('ghost') }}\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_FALSE(l);
  EXPECT_THAT(l.error().message, HasSubstr("tests/t.sql"));
  EXPECT_THAT(l.error().message, HasSubstr("ghost"));
}

}  // namespace
}  // namespace frazil::transform
