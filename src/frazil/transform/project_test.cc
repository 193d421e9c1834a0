#include "frazil/transform/project.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "frazil/transform/compiler.h"
#include "frazil/transform/test_project.h"

namespace frazil::transform {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::LoadAndParse;
using testing::Loaded;
using testing::TestProject;

Project MustLoad(const TestProject& dir) {
  auto p = LoadProject(dir.root());
  EXPECT_TRUE(p) << p.error().ToString();
  return p ? std::move(*p) : Project{};
}

const DataTestSpec* FindTest(const Project& p, const std::string& name) {
  for (const auto& t : p.tests) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<std::string> TestNames(const Project& p) {
  std::vector<std::string> out;
  for (const auto& t : p.tests) out.push_back(t.name);
  std::sort(out.begin(), out.end());
  return out;
}

// The node of model `name` after the parse pass (config() calls applied).
const Node& ModelNode(const Loaded& l, const std::string& name) {
  static const Node kNone;
  auto it = l.compiler->nodes().find("model." + name);
  EXPECT_NE(it, l.compiler->nodes().end()) << "no node model." << name;
  return it == l.compiler->nodes().end() ? kNone : it->second;
}

// ---------------------------------------------------------------------------------------
// The project's files.

TEST(ProjectLoadTest, MissingDbtProjectIsNotFound) {
  TestProject dir;
  dir.Remove("dbt_project.yml");
  dir.Write("models/a.sql", "select 1 as x\n");
  auto p = LoadProject(dir.root());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind, ErrorKind::kNotFound);
  EXPECT_THAT(p.error().message, HasSubstr("dbt_project.yml"));
  EXPECT_THAT(p.error().message, HasSubstr(dir.root()));
}

TEST(ProjectLoadTest, NonexistentDirectoryIsNotFound) {
  TestProject dir;
  auto p = LoadProject(dir.root() + "/no/such/dir");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind, ErrorKind::kNotFound);
}

TEST(ProjectLoadTest, ProjectNameIsRequired) {
  TestProject dir;
  dir.Write("dbt_project.yml", "version: '1.0'\n");
  auto p = LoadProject(dir.root());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_THAT(p.error().message, HasSubstr("name"));
}

TEST(ProjectLoadTest, FindsModelsSeedsSourcesMacrosAndSingularTests) {
  TestProject dir;
  dir.Write("models/top.sql", "select 1 as x\n");
  dir.Write("models/staging/stg_orders.sql", "select * from {{ source('raw', 'orders') }}\n");
  dir.Write("models/staging/deep/er/leaf.sql", "select 2 as y\n");
  dir.Write("models/notes.md", "not a model\n");
  dir.Write("models/sources.yml", R"(
version: 2
sources:
  - name: raw
    tables:
      - name: orders
)");
  dir.Write("seeds/countries.csv", "code,name\nfr,France\n");
  dir.Write("seeds/ref/currencies.csv", "code\nEUR\n");
  dir.Write("macros/cents.sql", "{% macro cents(c) %}({{ c }} * 100){% endmacro %}\n");
  dir.Write("tests/no_negative.sql", "select * from {{ ref('top') }} where x < 0\n");

  Project p = MustLoad(dir);
  EXPECT_EQ(p.name, "shop");
  EXPECT_EQ(p.default_schema, "shop");
  EXPECT_EQ(p.root, std::filesystem::path(dir.root()).lexically_normal().string());

  std::vector<std::string> models;
  for (const auto& m : p.models) models.push_back(m.name + "@" + m.path);
  std::sort(models.begin(), models.end());
  EXPECT_THAT(models,
              ElementsAre("leaf@models/staging/deep/er/leaf.sql",
                          "stg_orders@models/staging/stg_orders.sql", "top@models/top.sql"));
  ASSERT_NE(p.FindModel("leaf"), nullptr);
  EXPECT_THAT(p.FindModel("leaf")->fqn, ElementsAre("staging", "deep", "er", "leaf"));
  EXPECT_THAT(p.FindModel("top")->fqn, ElementsAre("top"));
  EXPECT_EQ(p.FindModel("top")->raw_sql, "select 1 as x\n");
  EXPECT_EQ(p.FindModel("nope"), nullptr);

  ASSERT_NE(p.FindSeed("countries"), nullptr);
  EXPECT_EQ(p.FindSeed("countries")->path, "seeds/countries.csv");
  EXPECT_EQ(p.FindSeed("countries")->config.materialized, "seed");
  ASSERT_NE(p.FindSeed("currencies"), nullptr);
  EXPECT_EQ(p.FindSeed("currencies")->path, "seeds/ref/currencies.csv");

  ASSERT_NE(p.FindSource("raw", "orders"), nullptr);
  EXPECT_EQ(p.FindSource("raw", "customers"), nullptr);
  EXPECT_EQ(p.macros.size(), 1u);

  ASSERT_EQ(p.tests.size(), 1u);
  EXPECT_EQ(p.tests[0].kind, "singular");
  EXPECT_EQ(p.tests[0].name, "no_negative");
  EXPECT_EQ(p.tests[0].path, "tests/no_negative.sql");
  EXPECT_NE(p.tests[0].sql, nullptr);
}

TEST(ProjectLoadTest, ConfiguredPathsReplaceTheDefaults) {
  TestProject dir;
  dir.Write("dbt_project.yml", R"(
name: shop
model-paths: [transform]
seed-paths: [data]
test-paths: [checks]
macro-paths: [lib]
)");
  dir.Write("models/ignored.sql", "select 1 as x\n");
  dir.Write("transform/used.sql", "select {{ twice(2) }} as x\n");
  dir.Write("data/s.csv", "a\n1\n");
  dir.Write("seeds/ignored_seed.csv", "a\n1\n");
  dir.Write("checks/t.sql", "select 1 where false\n");
  dir.Write("lib/m.sql", "{% macro twice(x) %}{{ x * 2 }}{% endmacro %}\n");
  Project p = MustLoad(dir);
  EXPECT_EQ(p.FindModel("ignored"), nullptr);
  ASSERT_NE(p.FindModel("used"), nullptr);
  EXPECT_EQ(p.FindModel("used")->path, "transform/used.sql");
  EXPECT_NE(p.FindSeed("s"), nullptr);
  EXPECT_EQ(p.FindSeed("ignored_seed"), nullptr);
  EXPECT_THAT(TestNames(p), ElementsAre("t"));
  EXPECT_EQ(p.macros.size(), 1u);
}

// ---------------------------------------------------------------------------------------
// Configuration precedence: folder (dbt_project.yml) < YAML `config:` < `{{ config() }}`.

TEST(ProjectConfigTest, FolderConfigAppliesToNestedFolders) {
  TestProject dir;
  dir.Write("dbt_project.yml", R"(
name: shop
models:
  shop:
    +materialized: table
    +schema: analytics
    staging:
      +materialized: view
      +schema: stg
      +tags: [staging]
      inner:
        +materialized: ephemeral
        +tags: deep
    marts:
      materialized: incremental
      +unique_key: [id, day]
      +full_refresh: false
)");
  dir.Write("models/top.sql", "select 1 as x\n");
  dir.Write("models/staging/s1.sql", "select 1 as x\n");
  dir.Write("models/staging/inner/s2.sql", "select 1 as x\n");
  dir.Write("models/marts/m.sql", "select 1 as x\n");
  dir.Write("models/other/o.sql", "select 1 as x\n");
  Project p = MustLoad(dir);

  const Model* top = p.FindModel("top");
  ASSERT_NE(top, nullptr);
  EXPECT_EQ(top->config.materialized, "table");
  EXPECT_EQ(top->config.schema, "analytics");
  EXPECT_TRUE(top->config.tags.empty());

  const Model* s1 = p.FindModel("s1");
  ASSERT_NE(s1, nullptr);
  EXPECT_EQ(s1->config.materialized, "view");
  EXPECT_EQ(s1->config.schema, "stg");
  EXPECT_THAT(s1->config.tags, ElementsAre("staging"));

  const Model* s2 = p.FindModel("s2");
  ASSERT_NE(s2, nullptr);
  EXPECT_EQ(s2->config.materialized, "ephemeral");
  EXPECT_EQ(s2->config.schema, "stg");                           // inherited from staging
  EXPECT_THAT(s2->config.tags, ElementsAre("staging", "deep"));  // tags accumulate

  const Model* m = p.FindModel("m");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->config.materialized, "incremental");  // a plain key (no '+') is a config too
  EXPECT_EQ(m->config.schema, "analytics");
  EXPECT_THAT(m->config.unique_key, ElementsAre("id", "day"));
  EXPECT_FALSE(m->config.full_refresh_allowed);

  const Model* o = p.FindModel("o");  // a folder without its own settings
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->config.materialized, "table");
  EXPECT_EQ(o->config.schema, "analytics");
}

TEST(ProjectConfigTest, ConfigDirectlyUnderModelsAppliesToEveryModel) {
  // dbt applies `+key` settings directly under `models:` (no project name) to all models.
  TestProject dir;
  dir.Write("dbt_project.yml", R"(
name: shop
models:
  +materialized: table
  +tags: [everything]
  shop:
    staging:
      +materialized: view
)");
  dir.Write("models/top.sql", "select 1 as x\n");
  dir.Write("models/staging/s.sql", "select 1 as x\n");
  Project p = MustLoad(dir);
  ASSERT_NE(p.FindModel("top"), nullptr);
  EXPECT_EQ(p.FindModel("top")->config.materialized, "table");
  EXPECT_THAT(p.FindModel("top")->config.tags, ElementsAre("everything"));
  ASSERT_NE(p.FindModel("s"), nullptr);
  EXPECT_EQ(p.FindModel("s")->config.materialized,
            "view");  // the project's folder is more specific
  EXPECT_THAT(p.FindModel("s")->config.tags, ElementsAre("everything"));
}

TEST(ProjectConfigTest, DefaultsWithoutAnyConfig) {
  TestProject dir;
  dir.Write("models/a.sql", "select 1 as x\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  const Node& a = ModelNode(**l, "a");
  EXPECT_EQ(a.config.materialized, "view");
  EXPECT_EQ(a.config.schema, "");
  EXPECT_TRUE(a.config.enabled);
  EXPECT_EQ(a.table.ToString(), "shop.a");
}

TEST(ProjectConfigTest, YamlConfigOverridesFolderAndFileConfigOverridesYaml) {
  TestProject dir;
  dir.Write("dbt_project.yml", R"(
name: shop
models:
  shop:
    staging:
      +materialized: table
      +schema: folder_schema
      +tags: [from_folder]
)");
  dir.Write("models/staging/a.sql",
            R"({{ config(materialized='incremental', unique_key='id', tags=['from_file']) }}
select 1 as id
)");
  dir.Write("models/staging/b.sql", "select 1 as id\n");
  dir.Write("models/staging/c.sql", "{{ config(schema='file_schema') }}\nselect 1 as id\n");
  dir.Write("models/staging/props.yml", R"(
version: 2
models:
  - name: a
    description: the a model
    config:
      materialized: view
      alias: a_table
      tags: [from_yaml]
  - name: b
    config:
      materialized: ephemeral
  - name: c
    config:
      schema: yaml_schema
)");
  // The YAML level as the loader leaves it (before the parse pass).
  Project p = MustLoad(dir);
  ASSERT_NE(p.FindModel("a"), nullptr);
  EXPECT_EQ(p.FindModel("a")->config.materialized, "view");
  EXPECT_EQ(p.FindModel("a")->config.schema, "folder_schema");
  EXPECT_EQ(p.FindModel("a")->description, "the a model");
  EXPECT_EQ(p.FindModel("b")->config.materialized, "ephemeral");

  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  const Node& a = ModelNode(**l, "a");
  EXPECT_EQ(a.config.materialized, "incremental");  // file over YAML over folder
  EXPECT_THAT(a.config.unique_key, ElementsAre("id"));
  EXPECT_EQ(a.config.alias, "a_table");         // YAML (the file says nothing)
  EXPECT_EQ(a.config.schema, "folder_schema");  // folder (neither says anything)
  EXPECT_THAT(a.config.tags, ElementsAre("from_folder", "from_yaml", "from_file"));
  EXPECT_EQ(a.table.ToString(), "folder_schema.a_table");

  const Node& b = ModelNode(**l, "b");
  EXPECT_EQ(b.config.materialized, "ephemeral");  // YAML over folder
  EXPECT_EQ(b.config.schema, "folder_schema");

  const Node& c = ModelNode(**l, "c");
  EXPECT_EQ(c.config.materialized, "table");
  EXPECT_EQ(c.config.schema, "file_schema");
  EXPECT_EQ(c.table.ToString(), "file_schema.c");
}

TEST(ProjectConfigTest, ConfigAcceptsADictAndCompositeKeyStrings) {
  TestProject dir;
  dir.Write("models/a.sql",
            "{{ config({'materialized': 'incremental', 'unique_key': 'k1, k2', "
            "'merge_update_columns': ['v']}) }}\n"
            "select 1 as k1, 2 as k2, 3 as v\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  const Node& a = ModelNode(**l, "a");
  EXPECT_EQ(a.config.materialized, "incremental");
  EXPECT_THAT(a.config.unique_key, ElementsAre("k1", "k2"));
  ASSERT_TRUE(a.config.merge_update_columns.has_value());
  EXPECT_THAT(*a.config.merge_update_columns, ElementsAre("v"));
}

TEST(ProjectConfigTest, IgnoredDbtKeysAreAccepted) {
  TestProject dir;
  dir.Write("dbt_project.yml", R"(
name: shop
models:
  shop:
    +persist_docs: {relation: true}
    +meta: {owner: me}
)");
  dir.Write("models/a.sql",
            "{{ config(post_hook='select 1', grants={'select': ['x']}) }}\nselect 1 as x\n");
  auto l = LoadAndParse(dir.root());
  EXPECT_TRUE(l) << l.error().ToString();
}

// ---------------------------------------------------------------------------------------
// var() and env_var().

TEST(ProjectVarsTest, ProjectVarsCliVarsAndDefaults) {
  TestProject dir;
  dir.Write("dbt_project.yml", R"(
name: shop
vars:
  start_id: 10
  region: eu
  shop:
    scoped: inner
)");
  dir.Write(
      "models/a.sql",
      "select {{ var('start_id') }} as s, '{{ var('region') }}' as r, '{{ var('scoped') }}' as sc, "
      "'{{ var('absent', 'fallback') }}' as d, '{{ var('region', 'unused') }}' as rd\n");
  {
    auto l = LoadAndParse(dir.root());
    ASSERT_TRUE(l) << l.error().ToString();
    EXPECT_EQ((*l)->project.vars.at("start_id"), jinja::Value(int64_t{10}));
    auto sql = (*l)->compiler->CompileOffline(ModelNode(**l, "a"));
    ASSERT_TRUE(sql) << sql.error().ToString();
    EXPECT_EQ(*sql, "select 10 as s, 'eu' as r, 'inner' as sc, 'fallback' as d, 'eu' as rd");
  }
  {
    CompileOptions o;
    o.vars["start_id"] = jinja::Value(int64_t{99});
    o.vars["absent"] = jinja::Value("given");
    auto l = LoadAndParse(dir.root(), o);
    ASSERT_TRUE(l) << l.error().ToString();
    auto sql = (*l)->compiler->CompileOffline(ModelNode(**l, "a"));
    ASSERT_TRUE(sql) << sql.error().ToString();
    EXPECT_EQ(*sql, "select 99 as s, 'eu' as r, 'inner' as sc, 'given' as d, 'eu' as rd");
  }
}

TEST(ProjectVarsTest, MissingVarIsAnErrorNamingTheVarAndFile) {
  TestProject dir;
  dir.Write("models/a.sql", "select 1 as x\nwhere y > {{ var('cutoff') }}\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_THAT(l.error().message, HasSubstr("required var 'cutoff' not found"));
  EXPECT_THAT(l.error().message, HasSubstr("models/a.sql:2"));
}

TEST(ProjectVarsTest, EnvVarWithAndWithoutDefault) {
  TestProject dir;
  dir.Write("models/a.sql",
            "select '{{ env_var('FRZ_TEST_REGION') }}' as r, '{{ env_var('FRZ_TEST_TIER', 'gold') "
            "}}' as t\n");
  CompileOptions o;
  o.env["FRZ_TEST_REGION"] = "north";
  {
    auto l = LoadAndParse(dir.root(), o);
    ASSERT_TRUE(l) << l.error().ToString();
    auto sql = (*l)->compiler->CompileOffline(ModelNode(**l, "a"));
    ASSERT_TRUE(sql) << sql.error().ToString();
    EXPECT_EQ(*sql, "select 'north' as r, 'gold' as t");
  }
  o.env["FRZ_TEST_TIER"] = "silver";
  {
    auto l = LoadAndParse(dir.root(), o);
    ASSERT_TRUE(l) << l.error().ToString();
    auto sql = (*l)->compiler->CompileOffline(ModelNode(**l, "a"));
    ASSERT_TRUE(sql) << sql.error().ToString();
    EXPECT_EQ(*sql, "select 'north' as r, 'silver' as t");
  }
  auto missing = LoadAndParse(dir.root());
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("env_var('FRZ_TEST_REGION')"));
  EXPECT_THAT(missing.error().message, HasSubstr("models/a.sql:1"));
}

// ---------------------------------------------------------------------------------------
// Sources and seeds.

TEST(ProjectSourcesTest, SchemaAndIdentifier) {
  TestProject dir;
  dir.Write("models/src.yml", R"(
version: 2
sources:
  - name: raw
    schema: raw_data
    tables:
      - name: events
        identifier: events_v2
        description: every event
        columns:
          - name: id
            data_type: bigint
      - name: users
  - name: crm
    tables:
      - name: contacts
)");
  dir.Write(
      "models/a.sql",
      "select * from {{ source('raw', 'events') }} join {{ source('raw', 'users') }} using (id) "
      "join {{ source('crm', 'contacts') }} using (id)\n");
  Project p = MustLoad(dir);
  const SourceTable* ev = p.FindSource("raw", "events");
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->schema, "raw_data");
  EXPECT_EQ(ev->identifier, "events_v2");
  EXPECT_EQ(ev->description, "every event");
  ASSERT_EQ(ev->columns.size(), 1u);
  EXPECT_EQ(ev->columns[0].data_type, "bigint");
  const SourceTable* users = p.FindSource("raw", "users");
  ASSERT_NE(users, nullptr);
  EXPECT_EQ(users->schema, "raw_data");
  EXPECT_EQ(users->identifier, "users");
  const SourceTable* contacts = p.FindSource("crm", "contacts");
  ASSERT_NE(contacts, nullptr);
  EXPECT_EQ(contacts->schema, "crm");  // no schema: the source's name

  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  auto sql = (*l)->compiler->CompileOffline(ModelNode(**l, "a"));
  ASSERT_TRUE(sql) << sql.error().ToString();
  EXPECT_EQ(*sql,
            "select * from \"raw_data\".\"events_v2\" join \"raw_data\".\"users\" using (id) "
            "join \"crm\".\"contacts\" using (id)");
  EXPECT_EQ((*l)->compiler->nodes().at("source.raw.events").table.ToString(), "raw_data.events_v2");
}

TEST(ProjectSourcesTest, SourceDefinedTwiceIsAnError) {
  TestProject dir;
  dir.Write("models/a.yml", "sources:\n  - name: raw\n    tables:\n      - name: t\n");
  dir.Write("models/b.yml",
            "sources:\n  - name: raw\n    tables:\n      - name: u\n      - name: t\n");
  auto p = LoadProject(dir.root());
  ASSERT_FALSE(p);
  EXPECT_THAT(p.error().message, HasSubstr("models/b.yml:5"));
  EXPECT_THAT(p.error().message, HasSubstr("raw.t"));
}

TEST(ProjectSeedsTest, SeedFolderConfigAndProperties) {
  TestProject dir;
  dir.Write("dbt_project.yml", R"(
name: shop
seeds:
  shop:
    +schema: ref_data
    lookups:
      +column_types: {code: varchar}
)");
  dir.Write("seeds/lookups/codes.csv", "code,label\n01,one\n");
  dir.Write("seeds/plain.csv", "a\n1\n");
  dir.Write("seeds/props.yml", R"(
seeds:
  - name: plain
    config:
      alias: plain_table
)");
  Project p = MustLoad(dir);
  const Seed* codes = p.FindSeed("codes");
  ASSERT_NE(codes, nullptr);
  EXPECT_EQ(codes->config.schema, "ref_data");
  EXPECT_EQ(codes->config.column_types, (std::map<std::string, std::string>{{"code", "varchar"}}));
  const Seed* plain = p.FindSeed("plain");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->config.alias, "plain_table");
  EXPECT_EQ(plain->config.schema, "ref_data");

  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  EXPECT_EQ((*l)->compiler->nodes().at("seed.plain").table.ToString(), "ref_data.plain_table");
  EXPECT_EQ((*l)->compiler->nodes().at("seed.codes").table.ToString(), "ref_data.codes");
}

// ---------------------------------------------------------------------------------------
// Data tests declared in YAML.

TEST(ProjectDataTestsTest, GenericTestsOnColumnsModelsAndSources) {
  TestProject dir;
  dir.Write("models/customers.sql", "select 1 as id, 'active' as status\n");
  dir.Write("models/orders.sql", "select 1 as id, 1 as customer_id\n");
  dir.Write("models/schema.yml", R"(
version: 2
models:
  - name: customers
    columns:
      - name: id
        tests:
          - unique
          - not_null
      - name: status
        tests:
          - accepted_values:
              values: ['active', 'closed']
  - name: orders
    tests:
      - unique:
          column_name: id
    columns:
      - name: customer_id
        tests:
          - relationships:
              to: ref('customers')
              field: id
sources:
  - name: raw
    tables:
      - name: events
        columns:
          - name: id
            tests: [not_null]
)");
  Project p = MustLoad(dir);
  EXPECT_THAT(TestNames(p), ElementsAre("accepted_values_customers_status__active__closed",
                                        "not_null_customers_id",
                                        "relationships_orders_customer_id__id__ref_customers_",
                                        "source_not_null_raw_events_id",
                                        "unique_customers_id", "unique_orders_id"));

  const DataTestSpec* u = FindTest(p, "unique_customers_id");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->kind, "unique");
  EXPECT_EQ(u->target, "customers");
  EXPECT_EQ(u->column, "id");
  EXPECT_EQ(u->severity, "error");
  EXPECT_EQ(u->path, "models/schema.yml:8");

  const DataTestSpec* av = FindTest(p, "accepted_values_customers_status__active__closed");
  ASSERT_NE(av, nullptr);
  EXPECT_EQ(av->kind, "accepted_values");
  EXPECT_EQ(av->column, "status");
  ASSERT_EQ(av->values.size(), 2u);
  EXPECT_EQ(av->values[0], jinja::Value("active"));
  EXPECT_EQ(av->values[1], jinja::Value("closed"));
  EXPECT_TRUE(av->quote);

  const DataTestSpec* model_level = FindTest(p, "unique_orders_id");
  ASSERT_NE(model_level, nullptr);
  EXPECT_EQ(model_level->target, "orders");
  EXPECT_EQ(model_level->column, "id");

  const DataTestSpec* rel = FindTest(p, "relationships_orders_customer_id__id__ref_customers_");
  ASSERT_NE(rel, nullptr);
  EXPECT_EQ(rel->kind, "relationships");
  EXPECT_EQ(rel->target, "orders");
  EXPECT_EQ(rel->column, "customer_id");
  EXPECT_EQ(rel->to, "ref('customers')");
  EXPECT_EQ(rel->field, "id");

  const DataTestSpec* src = FindTest(p, "source_not_null_raw_events_id");
  ASSERT_NE(src, nullptr);
  EXPECT_EQ(src->target, "source.raw.events");
  EXPECT_EQ(src->column, "id");

  // The compiler knows what each test reads.
  auto l = LoadAndParse(dir.root());
  ASSERT_TRUE(l) << l.error().ToString();
  const Compiler& c = *(*l)->compiler;
  EXPECT_EQ(c.TestTargetKey(*FindTest((*l)->project, "unique_customers_id")), "model.customers");
  EXPECT_EQ(c.TestTargetKey(*FindTest((*l)->project, "source_not_null_raw_events_id")),
            "source.raw.events");
  EXPECT_THAT(c.TestDependencies(*FindTest(
                  (*l)->project, "relationships_orders_customer_id__id__ref_customers_")),
              ElementsAre("model.customers", "model.orders"));
}

TEST(ProjectDataTestsTest, NewerDataTestsKeyWithArgumentsNesting) {
  TestProject dir;
  dir.Write("models/customers.sql", "select 1 as id, 'a' as status, 1 as parent_id\n");
  dir.Write("models/schema.yml", R"(
models:
  - name: customers
    data_tests:
      - dbt.unique:
          arguments:
            column_name: id
    columns:
      - name: status
        data_tests:
          - accepted_values:
              arguments:
                values: [a, b]
                quote: true
              config:
                severity: warn
      - name: parent_id
        data_tests:
          - relationships:
              arguments:
                to: ref('customers')
                field: id
      - name: id
        data_tests: [not_null]
)");
  Project p = MustLoad(dir);
  EXPECT_THAT(TestNames(p),
              ElementsAre("accepted_values_customers_status__True__a__b", "not_null_customers_id",
                          "relationships_customers_parent_id__id__ref_customers_",
                          "unique_customers_id"));
  const DataTestSpec* u = FindTest(p, "unique_customers_id");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->kind, "unique");
  EXPECT_EQ(u->column, "id");
  const DataTestSpec* av = FindTest(p, "accepted_values_customers_status__True__a__b");
  ASSERT_NE(av, nullptr);
  ASSERT_EQ(av->values.size(), 2u);
  EXPECT_EQ(av->values[1], jinja::Value("b"));
  EXPECT_EQ(av->severity, "warn");
  const DataTestSpec* rel = FindTest(p, "relationships_customers_parent_id__id__ref_customers_");
  ASSERT_NE(rel, nullptr);
  EXPECT_EQ(rel->to, "ref('customers')");
  EXPECT_EQ(rel->field, "id");
}

TEST(ProjectDataTestsTest, SeverityAndWhereInTheTestConfig) {
  TestProject dir;
  dir.Write("models/customers.sql", "select 1 as id\n");
  dir.Write("models/schema.yml", R"(
models:
  - name: customers
    columns:
      - name: id
        data_tests:
          - unique:
              config:
                severity: warn
                where: "id > 0"
          - not_null:
              config:
                severity: ERROR
)");
  Project p = MustLoad(dir);
  const DataTestSpec* u = FindTest(p, "unique_customers_id");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->severity, "warn");
  EXPECT_EQ(u->where, "id > 0");
  const DataTestSpec* nn = FindTest(p, "not_null_customers_id");
  ASSERT_NE(nn, nullptr);
  EXPECT_EQ(nn->severity, "error");
}

TEST(ProjectDataTestsTest, SeverityIsCaseInsensitiveWhereverItIsWritten) {
  TestProject dir;
  dir.Write("models/c.sql", "select 1 as id\n");
  dir.Write("models/schema.yml", R"(
models:
  - name: c
    columns:
      - name: id
        tests:
          - unique:
              severity: WARN
          - not_null:
              config: {severity: Warn}
)");
  Project p = MustLoad(dir);
  ASSERT_NE(FindTest(p, "unique_c_id"), nullptr);
  EXPECT_EQ(FindTest(p, "unique_c_id")->severity, "warn");
  ASSERT_NE(FindTest(p, "not_null_c_id"), nullptr);
  EXPECT_EQ(FindTest(p, "not_null_c_id")->severity, "warn");
}

TEST(ProjectDataTestsTest, TheSameTestTwiceGetsDistinctNames) {
  TestProject dir;
  dir.Write("models/c.sql", "select 1 as id\n");
  dir.Write("models/schema.yml", R"(
models:
  - name: c
    columns:
      - name: id
        tests: [not_null, not_null]
)");
  Project p = MustLoad(dir);
  EXPECT_THAT(TestNames(p), ElementsAre("not_null_c_id", "not_null_c_id_2"));
}

// ---------------------------------------------------------------------------------------
// Errors name the file and line.

struct LoadErrorCase {
  std::string label;
  std::string file;  // written besides models/a.sql
  std::string text;
  std::vector<std::string> expected;  // substrings of the message
};

TEST(ProjectErrorsTest, BadFilesNameTheFileAndLine) {
  const std::vector<LoadErrorCase> cases = {
      {"malformed properties YAML",
       "models/schema.yml",
       "models:\n  - name: a\n    config: [unclosed\n",
       {"models/schema.yml:4"}},
      {"malformed dbt_project.yml",
       "dbt_project.yml",
       "name: shop\nmodels:\n  shop: {+materialized: table\n",
       {"dbt_project.yml:4"}},
      {"unknown config key in YAML",
       "models/schema.yml",
       "models:\n  - name: a\n    config:\n      colour: blue\n",
       {"models/schema.yml:4", "unknown config 'colour'"}},
      {"unknown config key in a folder",
       "dbt_project.yml",
       "name: shop\nmodels:\n  shop:\n    +colour: blue\n",
       {"dbt_project.yml:4", "unknown config 'colour'"}},
      {"unknown materialization in YAML",
       "models/schema.yml",
       "models:\n  - name: a\n    config:\n      materialized: tabel\n",
       {"models/schema.yml:4", "unknown materialization 'tabel'"}},
      {"unknown materialization in a folder",
       "dbt_project.yml",
       "name: shop\nmodels:\n  shop:\n    +materialized: materialized_view\n",
       {"dbt_project.yml:4", "unknown materialization 'materialized_view'"}},
      {"wrong config type",
       "models/schema.yml",
       "models:\n  - name: a\n    config:\n      enabled: maybe\n",
       {"models/schema.yml:4", "enabled"}},
      {"unknown test type",
       "models/schema.yml",
       "models:\n  - name: a\n    columns:\n      - name: x\n        tests:\n          - "
       "not_null\n          - is_even\n",
       {"models/schema.yml:7", "is_even"}},
      {"accepted_values without values",
       "models/schema.yml",
       "models:\n  - name: a\n    columns:\n      - name: x\n        tests:\n          - "
       "accepted_values:\n              quote: false\n",
       {"models/schema.yml:6", "values"}},
      {"relationships without field",
       "models/schema.yml",
       "models:\n  - name: a\n    columns:\n      - name: x\n        tests:\n          - "
       "relationships:\n              to: ref('a')\n",
       {"models/schema.yml:6", "field"}},
      {"properties for a missing model",
       "models/schema.yml",
       "version: 2\nmodels:\n  - name: a\n  - name: ghost\n",
       {"models/schema.yml:4", "ghost"}},
      {"properties for a missing seed",
       "seeds/props.yml",
       "seeds:\n  - name: ghost_seed\n",
       {"seeds/props.yml:2", "ghost_seed"}},
      {"template syntax error in a model",
       "models/bad.sql",
       "select 1 as x\nfrom t\n{% if true %}\nwhere 1\n",
       {"models/bad.sql"}},
      {"unclosed expression in a model",
       "models/bad.sql",
       "select\n  {{ ref('a' }}\n",
       {"models/bad.sql:2"}},
      {"template syntax error in a macro",
       "macros/m.sql",
       "{% macro m() %}\n{{ 1 + }}\n{% endmacro %}\n",
       {"macros/m.sql:2"}},
      {"template syntax error in a singular test",
       "tests/t.sql",
       "select 1\n{% for %}\n",
       {"tests/t.sql:2"}},
      {"duplicate model name", "models/sub/a.sql", "select 2 as x\n", {"models/sub/a.sql", "'a'"}},
      {"a seed named like a model", "seeds/a.csv", "x\n1\n", {"seeds/a.csv", "'a'"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    TestProject dir;
    dir.Write("models/a.sql", "select 1 as x\n");
    dir.Write(c.file, c.text);
    auto p = LoadProject(dir.root());
    ASSERT_FALSE(p) << "loaded without error";
    for (const auto& e : c.expected) EXPECT_THAT(p.error().message, HasSubstr(e));
  }
}

TEST(ProjectErrorsTest, ErrorKinds) {
  TestProject dir;
  dir.Write("models/a.sql", "select 1 as x\n");
  dir.Write("models/schema.yml", "models:\n  - name: a\n    config:\n      colour: blue\n");
  auto p = LoadProject(dir.root());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind, ErrorKind::kInvalidArgument);

  dir.Write("models/schema.yml", "models:\n  - name: a\n    config: [x\n");
  p = LoadProject(dir.root());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind, ErrorKind::kInvalidArgument);

  dir.Write("models/schema.yml", "version: 2\n");
  dir.Write("models/b.sql", "select {{ 1 + }}\n");
  p = LoadProject(dir.root());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind, ErrorKind::kInvalidArgument);
}

TEST(ProjectErrorsTest, ConfigErrorsInsideTheModelFileNameIt) {
  struct Case {
    std::string sql;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"select 1 as x\n{{ config(colour='blue') }}\n", "unknown config 'colour'"},
      {"{{ config(materialized='tabel') }}\nselect 1 as x\n", "unknown materialization 'tabel'"},
      {"{{ config(incremental_strategy='insert_overwrite') }}\nselect 1 as x\n",
       "insert_overwrite"},
      {"{{ config(enabled='no') }}\nselect 1 as x\n", "enabled"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.sql);
    TestProject dir;
    dir.Write("models/m.sql", c.sql);
    auto l = LoadAndParse(dir.root());
    ASSERT_FALSE(l);
    EXPECT_THAT(l.error().message, HasSubstr("models/m.sql"));
    EXPECT_THAT(l.error().message, HasSubstr(c.expected));
  }
}

TEST(ProjectErrorsTest, ConfigErrorInsideTheModelFileNamesTheFileOnce) {
  TestProject dir;
  dir.Write("models/m.sql", "select 1 as x\n{{ config(colour='blue') }}\n");
  auto l = LoadAndParse(dir.root());
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().message, "models/m.sql:2: unknown config 'colour'");
}

TEST(ProjectErrorsTest, ParseYamlValueKeepsTypesAndOrder) {
  auto v = ParseYamlValue("b: 1\na: [x, 'true', true, 1.5, ~]\n", "--vars");
  ASSERT_TRUE(v) << v.error().ToString();
  ASSERT_EQ(v->kind(), jinja::Value::Kind::kDict);
  ASSERT_EQ(v->AsDict().size(), 2u);
  EXPECT_EQ(v->AsDict()[0].first, "b");
  EXPECT_EQ(v->Get("b"), jinja::Value(int64_t{1}));
  const auto& a = v->Get("a").AsList();
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(a[0], jinja::Value("x"));
  EXPECT_EQ(a[1], jinja::Value("true"));  // quoted: a string
  EXPECT_EQ(a[2], jinja::Value(true));
  EXPECT_EQ(a[3], jinja::Value(1.5));
  EXPECT_TRUE(a[4].IsNone());

  auto bad = ParseYamlValue("{a: [1", "--vars");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_THAT(bad.error().message, HasSubstr("--vars"));
}

}  // namespace
}  // namespace frazil::transform
