// Data tests through the runner and the fake adapter: every generic kind passing and
// failing, severity, where, sources, singular tests and selection.
#include "frazil/transform/runner_test_fixture.h"

namespace frazil::transform {
namespace {

using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------
// Data tests.

class RunnerDataTest : public RunnerTest {
 protected:
  void WriteModels() {
    dir_.Write("models/customers.sql", R"({{ config(materialized='table') }}
select * from (values (1, 1, 'active', 'a'), (2, 2, 'closed', 'b'), (3, 2, 'weird', 'a'), (4, NULL, 'active', 'b'))
  as t(cid, id, status, kind)
)");
    dir_.Write("models/orders.sql", R"({{ config(materialized='table') }}
select * from (values (10, 1, 1), (11, 3, 2), (12, 99, 1), (13, NULL, 2)) as t(order_id, cid, good_cid)
)");
  }
};

TEST_F(RunnerDataTest, EveryGenericTestKindPassesAndFails) {
  WriteModels();
  dir_.Write("models/schema.yml", R"(
version: 2
models:
  - name: customers
    columns:
      - name: cid
        tests: [unique, not_null]
      - name: id
        tests: [unique, not_null]
      - name: kind
        tests:
          - accepted_values:
              values: [a, b]
      - name: status
        data_tests:
          - accepted_values:
              arguments:
                values: [active, closed]
          - accepted_values:
              values: [active]
              config:
                severity: warn
  - name: orders
    columns:
      - name: good_cid
        tests:
          - relationships:
              to: ref('customers')
              field: cid
      - name: cid
        tests:
          - relationships:
              to: ref('customers')
              field: cid
)");
  dir_.Write("tests/no_big_orders.sql", "select * from {{ ref('orders') }} where order_id > 100\n");
  dir_.Write("tests/orders_have_customers.sql",
             "select * from {{ ref('orders') }} where cid is null\n");
  ASSERT_TRUE(Run().ok());
  RunReport r = Test();
  EXPECT_EQ(Statuses(r),
            "accepted_values_customers_kind__a__b=pass "
            "accepted_values_customers_status__active=warn "
            "accepted_values_customers_status__active__closed=fail "
            "no_big_orders=pass "
            "not_null_customers_cid=pass "
            "not_null_customers_id=fail "
            "orders_have_customers=fail "
            "relationships_orders_cid__cid__ref_customers_=fail "
            "relationships_orders_good_cid__cid__ref_customers_=pass "
            "unique_customers_cid=pass "
            "unique_customers_id=fail");
  EXPECT_EQ(r.errors, 5);
  EXPECT_EQ(r.warnings, 1);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(ResultOf(r, "unique_customers_id").failures, 1);  // the value 2, twice
  EXPECT_EQ(ResultOf(r, "not_null_customers_id").failures, 1);
  EXPECT_EQ(ResultOf(r, "accepted_values_customers_status__active__closed").failures,
            1);                                                                    // 'weird'
  EXPECT_EQ(ResultOf(r, "accepted_values_customers_status__active").failures, 2);  // closed, weird
  EXPECT_EQ(ResultOf(r, "relationships_orders_cid__cid__ref_customers_").failures,
            1);  // 99; NULL is no orphan
  EXPECT_EQ(ResultOf(r, "orders_have_customers").failures, 1);
  EXPECT_EQ(ResultOf(r, "unique_customers_cid").failures, 0);
  EXPECT_EQ(ResultOf(r, "unique_customers_id").kind, "test");
  EXPECT_EQ(ResultOf(r, "unique_customers_id").materialized, "unique");
  EXPECT_THAT(ResultOf(r, "unique_customers_id").message, HasSubstr("1 failing row"));
}

TEST_F(RunnerDataTest, OnlyWarningsMeanOk) {
  WriteModels();
  dir_.Write("models/schema.yml", R"(
models:
  - name: customers
    columns:
      - name: id
        tests:
          - not_null:
              config: {severity: warn}
          - unique:
              severity: warn
)");
  ASSERT_TRUE(Run().ok());
  RunReport r = Test();
  EXPECT_EQ(Statuses(r), "not_null_customers_id=warn unique_customers_id=warn");
  EXPECT_EQ(r.warnings, 2);
  EXPECT_EQ(r.errors, 0);
  EXPECT_TRUE(r.ok());
}

TEST_F(RunnerDataTest, WhereConfigFiltersTheTestedRows) {
  WriteModels();
  dir_.Write("models/schema.yml", R"(
models:
  - name: customers
    columns:
      - name: id
        tests:
          - unique:
              config:
                where: "cid < 3"
          - not_null:
              config:
                where: "cid <= 3"
          - not_null
)");
  ASSERT_TRUE(Run().ok());
  RunReport r = Test();
  EXPECT_EQ(Statuses(r),
            "not_null_customers_id=pass not_null_customers_id_2=fail unique_customers_id=pass");
}

TEST_F(RunnerDataTest, TestsOnSourcesAndAcceptedValuesUnquoted) {
  dir_.Write("models/schema.yml", R"(
sources:
  - name: raw2
    schema: raw
    tables:
      - name: events
        columns:
          - name: id
            tests:
              - not_null
              - accepted_values:
                  values: [1, 2]
                  quote: false
)");
  Append("raw.events", "SELECT * FROM (VALUES (1), (2), (3), (NULL)) AS t(id)");
  RunReport r = Test();
  EXPECT_EQ(Statuses(r),
            "source_accepted_values_raw2_events_id__False__1__2=fail source_not_null_raw2_events_id=fail");
  EXPECT_EQ(ResultOf(r, "source_accepted_values_raw2_events_id__False__1__2").failures,
            1);  // 3 (NULL is not a value)
  EXPECT_EQ(ResultOf(r, "source_not_null_raw2_events_id").failures, 1);
}

TEST_F(RunnerDataTest, SelectionRunsTheTestsOfTheSelectedNodes) {
  WriteModels();
  dir_.Write("models/schema.yml", R"(
models:
  - name: customers
    columns:
      - name: cid
        tests: [unique]
  - name: orders
    columns:
      - name: order_id
        tests: [unique]
)");
  dir_.Write("tests/orders_positive.sql", "select * from {{ ref('orders') }} where order_id < 0\n");
  dir_.Write("tests/both.sql",
             "select * from {{ ref('orders') }} o join {{ ref('customers') }} c using (cid) where "
             "false\n");
  ASSERT_TRUE(Run().ok());
  RunOptions o;
  o.select = {"orders"};
  // dbt's default ("eager") indirect selection: a test runs when any node it reads is
  // selected, so `both` (orders and customers) runs too; unique_customers_cid does not.
  EXPECT_EQ(Statuses(Test(o)), "both=pass orders_positive=pass unique_orders_order_id=pass");
  EXPECT_EQ(Statuses(Test()),
            "both=pass orders_positive=pass unique_customers_cid=pass unique_orders_order_id=pass");
}

class RunnerSourceTestsTest : public RunnerDataTest {
 protected:
  void SetUp() override {
    RunnerDataTest::SetUp();
    WriteModels();
    dir_.Write("models/schema.yml", R"(
models:
  - name: orders
    columns:
      - name: order_id
        tests: [unique]
sources:
  - name: raw2
    schema: raw
    tables:
      - name: events
        columns:
          - name: id
            tests: [not_null]
)");
    dir_.Write("tests/events_positive.sql",
               "select * from {{ source('raw2', 'events') }} where id < 0\n");
    Append("raw.events", "SELECT 1 AS id");
    ASSERT_TRUE(Run().ok());
  }
};

TEST_F(RunnerSourceTestsTest, SelectingASourceRunsItsTests) {
  RunOptions sources;
  sources.select = {"source:raw2"};
  EXPECT_EQ(Statuses(Test(sources)), "events_positive=pass source_not_null_raw2_events_id=pass");
}

TEST_F(RunnerSourceTestsTest, ASingularTestOnASourceIsNotInAnUnrelatedSelection) {
  RunOptions orders;
  orders.select = {"orders"};
  EXPECT_EQ(Statuses(Test(orders)), "unique_orders_order_id=pass");
  EXPECT_EQ(Statuses(Test()),
            "events_positive=pass source_not_null_raw2_events_id=pass unique_orders_order_id=pass");
}

TEST_F(RunnerDataTest, ATestOnAMissingTableIsAnError) {
  WriteModels();
  dir_.Write(
      "models/schema.yml",
      "models:\n  - name: orders\n    columns:\n      - name: cid\n        tests: [not_null]\n");
  RunReport r = Test();  // the models never ran
  EXPECT_EQ(Statuses(r), "not_null_orders_cid=error");
  EXPECT_THAT(ResultOf(r, "not_null_orders_cid").message, HasSubstr("models/schema.yml:5"));
  EXPECT_EQ(r.errors, 1);
}

}  // namespace
}  // namespace frazil::transform
