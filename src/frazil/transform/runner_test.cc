// The runner against the fake adapter (plain DuckDB tables with append snapshots): the
// semantics of every materialization and strategy, new_rows(), what each commit records,
// crash safety, seeds and data tests. Every check compares exact rows.
#include "frazil/transform/runner.h"

#include "frazil/transform/runner_test_fixture.h"

namespace frazil::transform {
namespace {

using ::testing::HasSubstr;
// ---------------------------------------------------------------------------------------
// Materializations.

TEST_F(RunnerTest, TableModelReplacesItsRows) {
  dir_.Write("models/t.sql",
             "{{ config(materialized='table') }}\nselect id, v * 10 as v10 from {{ source('raw', "
             "'events') }};\n");
  Append("raw.events", "SELECT * FROM (VALUES (1, 1), (2, 2)) AS t(id, v)");
  RunReport r1 = Run();
  EXPECT_TRUE(r1.ok());
  const NodeResult& t1 = ResultOf(r1, "t");
  EXPECT_EQ(t1.status, "success") << t1.message;
  EXPECT_EQ(t1.kind, "model");
  EXPECT_EQ(t1.materialized, "table");
  EXPECT_EQ(t1.relation, "shop.t");
  EXPECT_EQ(t1.rows, 2);
  EXPECT_GT(t1.snapshot_id, 0);
  EXPECT_EQ(Q("SELECT id, v10 FROM shop.t ORDER BY id"), "1,10|2,20");

  Append("raw.events", "SELECT 3 AS id, 3 AS v");
  RunReport r2 = Run();
  EXPECT_EQ(ResultOf(r2, "t").rows, 3);
  EXPECT_EQ(Q("SELECT id, v10 FROM shop.t ORDER BY id"), "1,10|2,20|3,30");
  EXPECT_GT(ResultOf(r2, "t").snapshot_id, t1.snapshot_id);
}

TEST_F(RunnerTest, ViewModelsAreLive) {
  dir_.Write("models/v.sql", "select id, v from {{ source('raw', 'events') }} where v > 1\n");
  dir_.Write("models/v2.sql", "select id from {{ ref('v') }} where id < 10\n");
  dir_.Write("models/t.sql",
             "{{ config(materialized='table') }}\nselect count(*) as n from {{ ref('v2') }}\n");
  Append("raw.events", "SELECT * FROM (VALUES (1, 1), (2, 2)) AS t(id, v)");
  RunReport r = Run();
  EXPECT_EQ(Statuses(r), "t=success v2=success v=success");
  EXPECT_EQ(ResultOf(r, "v").materialized, "view");
  EXPECT_EQ(Q("SELECT id, v FROM shop.v ORDER BY id"), "2,2");
  EXPECT_EQ(Q("SELECT id FROM shop.v2 ORDER BY id"), "2");
  EXPECT_EQ(Q("SELECT n FROM shop.t"), "1");

  Append("raw.events", "SELECT * FROM (VALUES (3, 3), (11, 5)) AS t(id, v)");
  EXPECT_EQ(Q("SELECT id, v FROM shop.v ORDER BY id"), "2,2|3,3|11,5");  // no run needed
  EXPECT_EQ(Q("SELECT id FROM shop.v2 ORDER BY id"), "2|3");
  EXPECT_EQ(Q("SELECT n FROM shop.t"), "1");  // a table changes only when it runs
  Run();
  EXPECT_EQ(Q("SELECT n FROM shop.t"), "2");
}

TEST_F(RunnerTest, MaterializationChangesReplaceTheRelation) {
  dir_.Write("models/m.sql", "select id from {{ source('raw', 'events') }}\n");
  Append("raw.events", "SELECT 1 AS id");
  EXPECT_TRUE(Run().ok());
  dir_.Write(
      "models/m.sql",
      "{{ config(materialized='incremental') }}\nselect id from {{ source('raw', 'events') }}\n");
  RunReport r = Run();
  EXPECT_EQ(ResultOf(r, "m").status, "success") << ResultOf(r, "m").message;
  EXPECT_EQ(ResultOf(r, "m").materialized, "incremental (full)");
  EXPECT_EQ(Q("SELECT id FROM shop.m ORDER BY id"), "1");
  dir_.Write("models/m.sql", "select id + 1 as id from {{ source('raw', 'events') }}\n");
  EXPECT_EQ(ResultOf(Run(), "m").status, "success");
  EXPECT_EQ(Q("SELECT id FROM shop.m ORDER BY id"), "2");
}

TEST_F(RunnerTest, EphemeralModelIsInlinedAndNeverWritten) {
  dir_.Write("models/eph.sql",
             "{{ config(materialized='ephemeral') }}\nselect id, v from {{ source('raw', 'events') "
             "}} where v >= 20\n");
  dir_.Write(
      "models/t.sql",
      "{{ config(materialized='table') }}\nselect id from {{ ref('eph') }} where id < 100\n");
  dir_.Write("models/v.sql", "select id * 2 as id2 from {{ ref('eph') }}\n");
  Append("raw.events", "SELECT * FROM (VALUES (1, 10), (2, 20), (3, 30), (100, 40)) AS t(id, v)");
  RunReport r = Run();
  EXPECT_EQ(Statuses(r), "eph=success t=success v=success");
  EXPECT_EQ(ResultOf(r, "eph").materialized, "ephemeral");
  EXPECT_FALSE(Exists("shop.eph"));
  EXPECT_EQ(Q("SELECT id FROM shop.t ORDER BY id"), "2|3");
  EXPECT_EQ(Q("SELECT id2 FROM shop.v ORDER BY id2"), "4|6|200");
  // The table's commit records the source read through the ephemeral model.
  EXPECT_EQ(Summary("shop.t").count("frazil.read.raw.events"), 1u);
}

// ---------------------------------------------------------------------------------------
// Incremental models.

TEST_F(RunnerTest, IncrementalAppendWithIsIncrementalFilter) {
  dir_.Write("models/inc.sql", R"({{ config(materialized='incremental') }}
select id, v from {{ source('raw', 'events') }}
{% if is_incremental() %}
where id > (select max(id) from {{ this }})
{% endif %}
)");
  Append("raw.events", "SELECT * FROM (VALUES (1, 10), (2, 20), (3, 30)) AS t(id, v)");
  RunReport r1 = Run();
  EXPECT_EQ(ResultOf(r1, "inc").status, "success") << ResultOf(r1, "inc").message;
  EXPECT_EQ(ResultOf(r1, "inc").materialized, "incremental (full)");
  EXPECT_EQ(ResultOf(r1, "inc").rows, 3);
  EXPECT_EQ(Q("SELECT id, v FROM shop.inc ORDER BY id"), "1,10|2,20|3,30");

  Append("raw.events", "SELECT * FROM (VALUES (4, 40), (5, 50)) AS t(id, v)");
  RunReport r2 = Run();
  EXPECT_EQ(ResultOf(r2, "inc").status, "success") << ResultOf(r2, "inc").message;
  EXPECT_EQ(ResultOf(r2, "inc").materialized, "incremental");
  EXPECT_EQ(ResultOf(r2, "inc").rows, 2);
  EXPECT_EQ(Q("SELECT id, v FROM shop.inc ORDER BY id"), "1,10|2,20|3,30|4,40|5,50");

  RunReport r3 = Run();
  EXPECT_EQ(ResultOf(r3, "inc").rows, 0);
  EXPECT_EQ(Q("SELECT id, v FROM shop.inc ORDER BY id"), "1,10|2,20|3,30|4,40|5,50");
}

TEST_F(RunnerTest, IncrementalMergeReplacesRowsWithTheSameKey) {
  dir_.Write("models/m.sql", R"({{ config(materialized='incremental', unique_key='id') }}
select id, name from {{ new_rows(source('raw', 'changes')) }}
)");
  Append("raw.changes", "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(id, name)");
  RunReport r1 = Run();
  EXPECT_EQ(ResultOf(r1, "m").status, "success") << ResultOf(r1, "m").message;
  EXPECT_EQ(Q("SELECT id, name FROM shop.m ORDER BY id"), "1,a|2,b");

  Append("raw.changes", "SELECT * FROM (VALUES (2, 'B'), (3, 'c')) AS t(id, name)");
  RunReport r2 = Run();
  const NodeResult& m2 = ResultOf(r2, "m");
  EXPECT_EQ(m2.status, "success") << m2.message;
  EXPECT_EQ(m2.materialized, "incremental");
  EXPECT_EQ(m2.rows, 2);
  EXPECT_EQ(m2.rows_deleted, 1);
  EXPECT_EQ(Q("SELECT id, name FROM shop.m ORDER BY id"), "1,a|2,B|3,c");
  EXPECT_EQ(Q("SELECT count(*) FROM shop.m WHERE id = 2"), "1");
}

TEST_F(RunnerTest, IncrementalMergeWithACompositeKey) {
  dir_.Write(
      "models/m.sql",
      R"({{ config(materialized='incremental', incremental_strategy='merge', unique_key=['region', 'id']) }}
select region, id, name from {{ new_rows(source('raw', 'changes')) }}
)");
  Append("raw.changes",
         "SELECT * FROM (VALUES ('eu', 1, 'x'), ('us', 1, 'y')) AS t(region, id, name)");
  EXPECT_TRUE(Run().ok());
  Append("raw.changes",
         "SELECT * FROM (VALUES ('eu', 1, 'X'), ('eu', 2, 'z')) AS t(region, id, name)");
  RunReport r = Run();
  EXPECT_EQ(ResultOf(r, "m").status, "success") << ResultOf(r, "m").message;
  EXPECT_EQ(ResultOf(r, "m").rows_deleted, 1);
  EXPECT_EQ(Q("SELECT region, id, name FROM shop.m ORDER BY region, id"), "eu,1,X|eu,2,z|us,1,y");
}

TEST_F(RunnerTest, MergeUpdateColumnsKeepTheOtherColumns) {
  dir_.Write(
      "models/m.sql",
      R"({{ config(materialized='incremental', unique_key='id', merge_update_columns=['name']) }}
select id, name, seen from {{ new_rows(source('raw', 'changes')) }}
)");
  Append("raw.changes", "SELECT * FROM (VALUES (1, 'a', 100), (2, 'b', 100)) AS t(id, name, seen)");
  EXPECT_TRUE(Run().ok());
  Append("raw.changes", "SELECT * FROM (VALUES (1, 'A', 200), (3, 'c', 200)) AS t(id, name, seen)");
  RunReport r = Run();
  EXPECT_EQ(ResultOf(r, "m").status, "success") << ResultOf(r, "m").message;
  // Row 1: name updated, seen kept; row 3 inserted whole; row 2 untouched.
  EXPECT_EQ(Q("SELECT id, name, seen FROM shop.m ORDER BY id"), "1,A,100|2,b,100|3,c,200");
}

TEST_F(RunnerTest, DeleteInsertReplacesEveryRowOfAKey) {
  dir_.Write(
      "models/m.sql",
      R"({{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='grp') }}
select grp, item from {{ new_rows(source('raw', 'changes')) }}
)");
  Append("raw.changes", "SELECT * FROM (VALUES ('g1', 1), ('g1', 2), ('g2', 3)) AS t(grp, item)");
  EXPECT_TRUE(Run().ok());
  EXPECT_EQ(Q("SELECT grp, item FROM shop.m ORDER BY grp, item"), "g1,1|g1,2|g2,3");
  Append("raw.changes", "SELECT * FROM (VALUES ('g1', 9), ('g3', 4), ('g3', 5)) AS t(grp, item)");
  RunReport r = Run();
  EXPECT_EQ(ResultOf(r, "m").status, "success") << ResultOf(r, "m").message;
  EXPECT_EQ(ResultOf(r, "m").rows, 3);
  EXPECT_EQ(ResultOf(r, "m").rows_deleted, 2);
  EXPECT_EQ(Q("SELECT grp, item FROM shop.m ORDER BY grp, item"), "g1,9|g2,3|g3,4|g3,5");
}

TEST_F(RunnerTest, AppendStrategyKeepsDuplicateKeys) {
  dir_.Write(
      "models/m.sql",
      R"({{ config(materialized='incremental', incremental_strategy='append', unique_key='id') }}
select id, name from {{ new_rows(source('raw', 'changes')) }}
)");
  Append("raw.changes", "SELECT 1 AS id, 'a' AS name");
  EXPECT_TRUE(Run().ok());
  Append("raw.changes", "SELECT 1 AS id, 'b' AS name");
  EXPECT_TRUE(Run().ok());
  EXPECT_EQ(Q("SELECT id, name FROM shop.m ORDER BY name"), "1,a|1,b");
}

TEST_F(RunnerTest, MergeWithoutAUniqueKeyIsAnError) {
  dir_.Write("models/m.sql",
             R"({{ config(materialized='incremental', incremental_strategy='merge') }}
select id from {{ new_rows(source('raw', 'changes')) }}
)");
  Append("raw.changes", "SELECT 1 AS id");
  Run();
  Append("raw.changes", "SELECT 2 AS id");
  RunReport r = Run();
  EXPECT_EQ(ResultOf(r, "m").status, "error");
  EXPECT_THAT(ResultOf(r, "m").message, HasSubstr("unique_key"));
  EXPECT_THAT(ResultOf(r, "m").message, HasSubstr("models/m.sql"));
}

// ---------------------------------------------------------------------------------------
// new_rows(): what each run reads, and what each commit records.

TEST_F(RunnerTest, NewRowsReadsOnlyRowsAppendedSinceTheLastRun) {
  dir_.Write("models/m.sql", R"({{ config(materialized='incremental') }}
select id, v, v * 2 as v2 from {{ new_rows(source('raw', 'events')) }}
)");
  int64_t s1 = Append("raw.events", "SELECT * FROM (VALUES (1, 10), (2, 20)) AS t(id, v)");
  // Before the first run, new_rows() is the whole table.
  EXPECT_EQ(CompiledRows("m"), "1,10,20|2,20,40");
  RunReport r1 = Run();
  EXPECT_EQ(ResultOf(r1, "m").status, "success") << ResultOf(r1, "m").message;
  EXPECT_EQ(ResultOf(r1, "m").rows, 2);
  EXPECT_EQ(Q("SELECT id, v, v2 FROM shop.m ORDER BY id"), "1,10,20|2,20,40");
  EXPECT_EQ(Summary("shop.m").at("frazil.read.raw.events"), std::to_string(s1));
  EXPECT_EQ(Summary("shop.m").at("frazil.model"), "m");

  int64_t s2 = Append("raw.events", "SELECT * FROM (VALUES (3, 30)) AS t(id, v)");
  EXPECT_EQ(CompiledRows("m"), "3,30,60");  // exactly the appended row
  RunReport r2 = Run();
  EXPECT_EQ(ResultOf(r2, "m").status, "success") << ResultOf(r2, "m").message;
  EXPECT_EQ(ResultOf(r2, "m").rows, 1);
  EXPECT_EQ(Q("SELECT id, v, v2 FROM shop.m ORDER BY id"), "1,10,20|2,20,40|3,30,60");
  EXPECT_EQ(Summary("shop.m").at("frazil.read.raw.events"), std::to_string(s2));

  // Nothing new: the run adds nothing.
  EXPECT_EQ(CompiledRows("m"), "");
  RunReport r3 = Run();
  EXPECT_EQ(ResultOf(r3, "m").status, "success") << ResultOf(r3, "m").message;
  EXPECT_EQ(ResultOf(r3, "m").rows, 0);
  EXPECT_EQ(Q("SELECT id, v, v2 FROM shop.m ORDER BY id"), "1,10,20|2,20,40|3,30,60");
  EXPECT_EQ(Summary("shop.m").at("frazil.read.raw.events"), std::to_string(s2));

  // Two appends between runs: both are read, once.
  Append("raw.events", "SELECT 4 AS id, 40 AS v");
  int64_t s4 = Append("raw.events", "SELECT 5 AS id, 50 AS v");
  RunReport r4 = Run();
  EXPECT_EQ(ResultOf(r4, "m").rows, 2);
  EXPECT_EQ(Q("SELECT id FROM shop.m ORDER BY id"), "1|2|3|4|5");
  EXPECT_EQ(Summary("shop.m").at("frazil.read.raw.events"), std::to_string(s4));
}

TEST_F(RunnerTest, NewRowsChainsThroughIncrementalModels) {
  dir_.Write("models/a.sql",
             "{{ config(materialized='incremental') }}\nselect id, v from {{ "
             "new_rows(source('raw', 'events')) }}\n");
  dir_.Write("models/b.sql",
             "{{ config(materialized='incremental') }}\nselect id, v + 1 as w from {{ "
             "new_rows(ref('a')) }}\n");
  Append("raw.events", "SELECT * FROM (VALUES (1, 10), (2, 20)) AS t(id, v)");
  EXPECT_EQ(Statuses(Run()), "a=success b=success");
  Append("raw.events", "SELECT 3 AS id, 30 AS v");
  RunReport r2 = Run();
  EXPECT_EQ(Statuses(r2), "a=success b=success");
  EXPECT_EQ(ResultOf(r2, "b").rows, 1);
  EXPECT_EQ(Q("SELECT id, w FROM shop.b ORDER BY id"), "1,11|2,21|3,31");
  EXPECT_EQ(Summary("shop.b").at("frazil.read.shop.a"),
            std::to_string(ResultOf(r2, "a").snapshot_id));
  RunReport r3 = Run();
  EXPECT_EQ(ResultOf(r3, "b").rows, 0);
  EXPECT_EQ(Q("SELECT id, w FROM shop.b ORDER BY id"), "1,11|2,21|3,31");
}

TEST_F(RunnerTest, NewRowsOfAnEmptySourceThenItsFirstRows) {
  dir_.Write("models/m.sql",
             "{{ config(materialized='incremental') }}\nselect id from {{ new_rows(source('raw', "
             "'events')) }}\n");
  Append("raw.events", "SELECT 1 AS id WHERE false");  // exists, no rows
  EXPECT_TRUE(Run().ok());
  EXPECT_EQ(Q("SELECT count(*) FROM shop.m"), "0");
  Append("raw.events", "SELECT 7 AS id");
  EXPECT_TRUE(Run().ok());
  EXPECT_EQ(Q("SELECT id FROM shop.m ORDER BY id"), "7");
  EXPECT_TRUE(Run().ok());
  EXPECT_EQ(Q("SELECT id FROM shop.m ORDER BY id"), "7");
}

TEST_F(RunnerTest, NewRowsInsideAnEphemeralModelNeverDuplicatesRows) {
  // The ephemeral model is inlined into the incremental one, whose commit records the read of
  // raw.events: the next run must read only the rows appended since (or refuse to run), never
  // append the whole source again.
  dir_.Write("models/eph.sql",
             "{{ config(materialized='ephemeral') }}\nselect id from {{ new_rows(source('raw', "
             "'events')) }}\n");
  dir_.Write("models/inc.sql",
             "{{ config(materialized='incremental') }}\nselect id from {{ ref('eph') }}\n");
  Append("raw.events", "SELECT * FROM (VALUES (1), (2)) AS t(id)");
  EXPECT_EQ(Statuses(Run()), "eph=success inc=success");
  Append("raw.events", "SELECT 3 AS id");
  RunReport r = Run();
  EXPECT_EQ(Q("SELECT count(*) - count(DISTINCT id) FROM shop.inc"), "0") << "rows appended twice";
  if (ResultOf(r, "inc").status == "success") {
    EXPECT_EQ(Q("SELECT id FROM shop.inc ORDER BY id"), "1|2|3");
  } else {
    EXPECT_THAT(ResultOf(r, "inc").message, HasSubstr("new_rows"));
  }
}

TEST_F(RunnerTest, FullRefreshOfAChainOfNewRowsModels) {
  dir_.Write("models/a.sql",
             "{{ config(materialized='incremental') }}\nselect id from {{ new_rows(source('raw', "
             "'events')) }}\n");
  dir_.Write("models/b.sql",
             "{{ config(materialized='incremental') }}\nselect id * 10 as id10 from {{ "
             "new_rows(ref('a')) }}\n");
  Append("raw.events", "SELECT * FROM (VALUES (1), (2)) AS t(id)");
  EXPECT_TRUE(Run().ok());
  Append("raw.events", "SELECT 3 AS id");
  RunReport full = RunFullRefresh();
  EXPECT_EQ(Statuses(full), "a=success b=success");
  EXPECT_EQ(Q("SELECT id10 FROM shop.b ORDER BY 1"), "10|20|30");
  Append("raw.events", "SELECT 4 AS id");
  RunReport next = Run();
  EXPECT_EQ(Statuses(next), "a=success b=success") << ResultOf(next, "b").message;
  EXPECT_EQ(ResultOf(next, "b").materialized, "incremental");
  EXPECT_EQ(Q("SELECT id FROM shop.a ORDER BY 1"), "1|2|3|4");
  EXPECT_EQ(Q("SELECT id10 FROM shop.b ORDER BY 1"), "10|20|30|40");
}

TEST_F(RunnerTest, CommitSummaryRecordsEveryReadTheModelAndTheRunId) {
  dir_.Write("models/up.sql", "{{ config(materialized='table') }}\nselect 1 as k\n");
  dir_.Write(
      "models/eph.sql",
      "{{ config(materialized='ephemeral') }}\nselect id from {{ source('raw', 'other') }}\n");
  dir_.Write("models/t.sql", R"({{ config(materialized='table') }}
select e.id, u.k from {{ source('raw', 'events') }} e
join {{ ref('up') }} u on true
where e.id in (select id from {{ ref('eph') }})
)");
  Append("raw.events", "SELECT 1 AS id");
  Append("raw.other", "SELECT 1 AS id");
  int64_t so = Append("raw.other", "SELECT 2 AS id");
  int64_t se2 = Append("raw.events", "SELECT 3 AS id WHERE false");  // a later snapshot of events
  RunOptions o;
  o.run_id = "run-42";
  RunReport r = Run(o);
  ASSERT_EQ(Statuses(r), "eph=success t=success up=success");
  EXPECT_EQ(Q("SELECT id, k FROM shop.t ORDER BY id"), "1,1");
  std::map<std::string, std::string> want = {
      {"frazil.model", "t"},
      {"frazil.run-id", "run-42"},
      {"frazil.read.raw.events", std::to_string(se2)},
      {"frazil.read.raw.other", std::to_string(so)},
      {"frazil.read.shop.up", std::to_string(ResultOf(r, "up").snapshot_id)},
  };
  EXPECT_EQ(Summary("shop.t"), want);
  EXPECT_EQ(Summary("shop.up"), (std::map<std::string, std::string>{{"frazil.model", "up"},
                                                                    {"frazil.run-id", "run-42"}}));
}

// ---------------------------------------------------------------------------------------
// --full-refresh.

TEST_F(RunnerTest, FullRefreshRebuildsIncrementalModels) {
  dir_.Write("models/m.sql",
             "{{ config(materialized='incremental') }}\nselect id from {{ new_rows(source('raw', "
             "'events')) }}\n");
  dir_.Write("models/by_max.sql", R"({{ config(materialized='incremental') }}
select id from {{ source('raw', 'events') }}
{% if is_incremental() %}where id > (select max(id) from {{ this }}){% endif %}
)");
  Append("raw.events", "SELECT * FROM (VALUES (5), (6)) AS t(id)");
  EXPECT_TRUE(Run().ok());
  Append("raw.events", "SELECT * FROM (VALUES (1), (7)) AS t(id)");  // 1 is below max(id)

  RunReport r = RunFullRefresh();
  EXPECT_EQ(Statuses(r), "by_max=success m=success");
  EXPECT_EQ(ResultOf(r, "m").materialized, "incremental (full)");
  EXPECT_EQ(ResultOf(r, "m").rows, 4);
  EXPECT_EQ(Q("SELECT id FROM shop.m ORDER BY id"), "1|5|6|7");
  EXPECT_EQ(Q("SELECT id FROM shop.by_max ORDER BY id"), "1|5|6|7");

  // After the rebuild, incremental runs continue from the rebuild's read.
  EXPECT_TRUE(Run().ok());
  EXPECT_EQ(Q("SELECT id FROM shop.m ORDER BY id"), "1|5|6|7");
  Append("raw.events", "SELECT 8 AS id");
  EXPECT_TRUE(Run().ok());
  EXPECT_EQ(Q("SELECT id FROM shop.m ORDER BY id"), "1|5|6|7|8");
}

TEST_F(RunnerTest, FullRefreshFalseProtectsAModel) {
  dir_.Write("models/kept.sql", R"({{ config(materialized='incremental', full_refresh=false) }}
select id from {{ source('raw', 'events') }}
{% if is_incremental() %}where id > (select max(id) from {{ this }}){% endif %}
)");
  Append("raw.events", "SELECT 5 AS id");
  EXPECT_TRUE(Run().ok());
  Append("raw.events", "SELECT * FROM (VALUES (1), (6)) AS t(id)");
  RunReport r = RunFullRefresh();
  EXPECT_EQ(ResultOf(r, "kept").status, "success") << ResultOf(r, "kept").message;
  EXPECT_EQ(ResultOf(r, "kept").materialized, "incremental");
  EXPECT_EQ(Q("SELECT id FROM shop.kept ORDER BY id"), "5|6");
}

// ---------------------------------------------------------------------------------------
// Failures and crash safety.

TEST_F(RunnerTest, AFailedModelSkipsItsDescendantsOnly) {
  dir_.Write("models/a_bad.sql",
             "{{ config(materialized='table') }}\nselect no_such_column from {{ source('raw', "
             "'events') }}\n");
  dir_.Write("models/b_child.sql",
             "{{ config(materialized='table') }}\nselect * from {{ ref('a_bad') }}\n");
  dir_.Write("models/c_grandchild.sql", "select * from {{ ref('b_child') }}\n");
  dir_.Write("models/d_fine.sql",
             "{{ config(materialized='table') }}\nselect id from {{ source('raw', 'events') }}\n");
  Append("raw.events", "SELECT 1 AS id");
  RunReport r = Run();
  EXPECT_EQ(Statuses(r), "a_bad=error b_child=skipped c_grandchild=skipped d_fine=success");
  EXPECT_THAT(ResultOf(r, "a_bad").message, HasSubstr("no_such_column"));
  EXPECT_THAT(ResultOf(r, "b_child").message, HasSubstr("model.a_bad"));
  EXPECT_THAT(ResultOf(r, "c_grandchild").message, HasSubstr("model.b_child"));
  EXPECT_EQ(r.errors, 1);
  EXPECT_EQ(r.skipped, 2);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(Q("SELECT id FROM shop.d_fine"), "1");
  EXPECT_FALSE(Exists("shop.b_child"));
}

TEST_F(RunnerTest, AMissingSourceTableIsAnErrorOfThatModel) {
  dir_.Write("models/m.sql",
             "{{ config(materialized='table') }}\nselect id from {{ source('raw', 'events') }}\n");
  RunReport r = Run();
  EXPECT_EQ(ResultOf(r, "m").status, "error");
  EXPECT_THAT(ResultOf(r, "m").message, HasSubstr("raw.events"));
  EXPECT_THAT(ResultOf(r, "m").message, HasSubstr("does not exist"));
}

TEST_F(RunnerTest, CrashBeforeCommitOfAnAppendNewRowsModelLosesAndRepeatsNothing) {
  dir_.Write("models/a_events.sql",
             "{{ config(materialized='incremental') }}\nselect id, v from {{ "
             "new_rows(source('raw', 'events')) }}\n");
  dir_.Write("models/b_downstream.sql",
             "{{ config(materialized='incremental') }}\nselect id, v * 10 as v10 from {{ "
             "new_rows(ref('a_events')) }}\n");
  dir_.Write("models/c_view.sql", "select sum(v10) as total from {{ ref('b_downstream') }}\n");
  dir_.Write("models/d_unrelated.sql",
             "{{ config(materialized='table') }}\nselect id from {{ source('raw', 'other') }}\n");
  Append("raw.events", "SELECT * FROM (VALUES (1, 1), (2, 2)) AS t(id, v)");
  Append("raw.other", "SELECT 100 AS id");
  ASSERT_EQ(Statuses(Run()),
            "a_events=success b_downstream=success c_view=success d_unrelated=success");

  Append("raw.events", "SELECT * FROM (VALUES (3, 3), (4, 4)) AS t(id, v)");
  Append("raw.other", "SELECT 200 AS id");
  adapter_->fail_next_materialize = 1;  // a_events is the first model written (DAG order)
  RunReport failed = Run();
  EXPECT_EQ(Statuses(failed),
            "a_events=error b_downstream=skipped c_view=skipped d_unrelated=success");
  EXPECT_THAT(ResultOf(failed, "a_events").message, HasSubstr("injected"));
  EXPECT_EQ(failed.errors, 1);
  EXPECT_EQ(failed.skipped, 2);
  EXPECT_EQ(Q("SELECT id, v FROM shop.a_events ORDER BY id"), "1,1|2,2");  // untouched
  EXPECT_EQ(Q("SELECT id, v10 FROM shop.b_downstream ORDER BY id"), "1,10|2,20");
  EXPECT_EQ(Q("SELECT id FROM shop.d_unrelated ORDER BY id"), "100|200");

  RunReport again = Run();
  EXPECT_EQ(Statuses(again),
            "a_events=success b_downstream=success c_view=success d_unrelated=success");
  EXPECT_EQ(again.skipped, 0);
  EXPECT_EQ(ResultOf(again, "a_events").rows, 2);
  EXPECT_EQ(ResultOf(again, "b_downstream").rows, 2);
  // Exactly as if the failed run never happened: no row lost, none twice.
  EXPECT_EQ(Q("SELECT id, v FROM shop.a_events ORDER BY id"), "1,1|2,2|3,3|4,4");
  EXPECT_EQ(Q("SELECT id, v10 FROM shop.b_downstream ORDER BY id"), "1,10|2,20|3,30|4,40");
  EXPECT_EQ(Q("SELECT total FROM shop.c_view"), "100");

  RunReport idle = Run();
  EXPECT_EQ(ResultOf(idle, "a_events").rows, 0);
  EXPECT_EQ(Q("SELECT id, v10 FROM shop.b_downstream ORDER BY id"), "1,10|2,20|3,30|4,40");
}

TEST_F(RunnerTest, CrashBeforeCommitOfAMergeModelLosesAndRepeatsNothing) {
  dir_.Write("models/a_latest.sql", R"({{ config(materialized='incremental', unique_key='id') }}
select id, name from {{ new_rows(source('raw', 'changes')) }}
)");
  dir_.Write("models/b_counts.sql",
             "{{ config(materialized='table') }}\nselect count(*) as n, string_agg(name, ',' order "
             "by id) as names from {{ ref('a_latest') }}\n");
  dir_.Write("models/c_unrelated.sql",
             "{{ config(materialized='table') }}\nselect id from {{ source('raw', 'other') }}\n");
  Append("raw.changes", "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(id, name)");
  Append("raw.other", "SELECT 1 AS id");
  ASSERT_EQ(Statuses(Run()), "a_latest=success b_counts=success c_unrelated=success");

  Append("raw.changes", "SELECT * FROM (VALUES (2, 'B'), (3, 'c')) AS t(id, name)");
  adapter_->fail_next_materialize = 1;
  RunReport failed = Run();
  EXPECT_EQ(Statuses(failed), "a_latest=error b_counts=skipped c_unrelated=success");
  EXPECT_EQ(Q("SELECT id, name FROM shop.a_latest ORDER BY id"), "1,a|2,b");
  EXPECT_EQ(Q("SELECT n, names FROM shop.b_counts"), "2,a,b");

  RunReport again = Run();
  EXPECT_EQ(Statuses(again), "a_latest=success b_counts=success c_unrelated=success");
  EXPECT_EQ(Q("SELECT id, name FROM shop.a_latest ORDER BY id"), "1,a|2,B|3,c");
  EXPECT_EQ(Q("SELECT n, names FROM shop.b_counts"), "3,a,B,c");
  EXPECT_TRUE(Run().ok());
  EXPECT_EQ(Q("SELECT id, name FROM shop.a_latest ORDER BY id"), "1,a|2,B|3,c");
}

TEST_F(RunnerTest, CrashOnTheFirstRunLeavesNoTable) {
  dir_.Write("models/m.sql",
             "{{ config(materialized='incremental') }}\nselect id from {{ new_rows(source('raw', "
             "'events')) }}\n");
  Append("raw.events", "SELECT 1 AS id");
  adapter_->fail_next_materialize = 1;
  EXPECT_EQ(Statuses(Run()), "m=error");
  EXPECT_FALSE(Exists("shop.m"));
  Append("raw.events", "SELECT 2 AS id");
  EXPECT_EQ(Statuses(Run()), "m=success");
  EXPECT_EQ(Q("SELECT id FROM shop.m ORDER BY id"), "1|2");
}

// An adapter whose target tables are moved by "another writer" just before the model's
// commit, `conflicts` times: the runner must recompile and write again.
class ConflictingAdapter : public Adapter {
 public:
  explicit ConflictingAdapter(DuckDbAdapter& inner) : inner_(inner) {}
  Result<RelationState> Describe(const catalog::TableIdentifier& id) override {
    return inner_.Describe(id);
  }
  Result<std::string> Read(const ReadSpec& spec) override { return inner_.Read(spec); }
  std::string QualifiedName(const catalog::TableIdentifier& id) override {
    return inner_.QualifiedName(id);
  }
  Result<Rows> Query(const std::string& sql, std::vector<std::string>* names) override {
    return inner_.Query(sql, names);
  }
  Status CreateView(const catalog::TableIdentifier& id, const std::string& sql) override {
    return inner_.CreateView(id, sql);
  }
  Result<MaterializeResult> LoadSeed(const catalog::TableIdentifier& id, const std::string& csv,
                                     const std::map<std::string, std::string>& types) override {
    return inner_.LoadSeed(id, csv, types);
  }
  Result<MaterializeResult> Materialize(const MaterializeRequest& req) override {
    ++calls;
    if (conflicts > 0) {
      --conflicts;
      auto moved = inner_.Append(req.target, "SELECT 999 AS id");
      if (!moved) return std::unexpected(moved.error());
    }
    return inner_.Materialize(req);
  }
  int conflicts = 0;
  int calls = 0;

 private:
  DuckDbAdapter& inner_;
};

// An adapter whose writes to one table fail `failures` times (a crash before the commit).
class FailingAdapter : public ConflictingAdapter {
 public:
  FailingAdapter(DuckDbAdapter& inner, std::string target)
      : ConflictingAdapter(inner), target_(std::move(target)) {}
  Result<MaterializeResult> Materialize(const MaterializeRequest& req) override {
    if (failures > 0 && req.target.ToString() == target_) {
      --failures;
      return MakeError(ErrorKind::kIOError, "injected failure writing " + target_);
    }
    return ConflictingAdapter::Materialize(req);
  }
  int failures = 0;

 private:
  std::string target_;
};

TEST_F(RunnerTest, CrashOfADownstreamNewRowsModelAfterItsUpstreamCommitted) {
  dir_.Write("models/a.sql",
             "{{ config(materialized='incremental') }}\nselect id from {{ new_rows(source('raw', "
             "'events')) }}\n");
  dir_.Write("models/b.sql",
             "{{ config(materialized='incremental') }}\nselect id * 10 as id10 from {{ "
             "new_rows(ref('a')) }}\n");
  dir_.Write("models/c.sql",
             "{{ config(materialized='incremental', unique_key='id10') }}\nselect id10, 'x' as tag "
             "from {{ new_rows(ref('b')) }}\n");
  Append("raw.events", "SELECT * FROM (VALUES (1), (2)) AS t(id)");
  ASSERT_EQ(Statuses(Run()), "a=success b=success c=success");

  Append("raw.events", "SELECT * FROM (VALUES (3), (4)) AS t(id)");
  FailingAdapter failing(*adapter_, "shop.b");
  failing.failures = 1;
  RunReport failed = Run({}, {}, &failing);
  EXPECT_EQ(Statuses(failed), "a=success b=error c=skipped");
  EXPECT_EQ(Q("SELECT id FROM shop.a ORDER BY 1"), "1|2|3|4");
  EXPECT_EQ(Q("SELECT id10 FROM shop.b ORDER BY 1"), "10|20");

  Append("raw.events", "SELECT 5 AS id");
  RunReport again = Run();
  EXPECT_EQ(Statuses(again), "a=success b=success c=success");
  EXPECT_EQ(ResultOf(again, "a").rows, 1);
  EXPECT_EQ(ResultOf(again, "b").rows, 3);  // 3 and 4 from the failed run, 5 from this one
  EXPECT_EQ(Q("SELECT id10 FROM shop.b ORDER BY 1"), "10|20|30|40|50");
  EXPECT_EQ(Q("SELECT id10, tag FROM shop.c ORDER BY 1"), "10,x|20,x|30,x|40,x|50,x");
}

TEST_F(RunnerTest, ACommitConflictIsRetriedOnTheNewState) {
  dir_.Write("models/t.sql",
             "{{ config(materialized='table') }}\nselect id from {{ source('raw', 'events') }}\n");
  Append("raw.events", "SELECT * FROM (VALUES (1), (2)) AS t(id)");
  EXPECT_TRUE(Run().ok());
  ConflictingAdapter conflicting(*adapter_);
  conflicting.conflicts = 1;
  RunReport r = Run({}, {}, &conflicting);
  EXPECT_EQ(ResultOf(r, "t").status, "success") << ResultOf(r, "t").message;
  EXPECT_EQ(conflicting.calls, 2);
  EXPECT_EQ(Q("SELECT id FROM shop.t ORDER BY id"), "1|2");  // the other writer's row replaced
}

TEST_F(RunnerTest, RepeatedCommitConflictsGiveUp) {
  dir_.Write("models/t.sql",
             "{{ config(materialized='table') }}\nselect id from {{ source('raw', 'events') }}\n");
  Append("raw.events", "SELECT 1 AS id");
  EXPECT_TRUE(Run().ok());
  ConflictingAdapter conflicting(*adapter_);
  conflicting.conflicts = 100;
  RunReport r = Run({}, {}, &conflicting);
  EXPECT_EQ(ResultOf(r, "t").status, "error");
  EXPECT_EQ(conflicting.calls, 3);
}

// ---------------------------------------------------------------------------------------
// Selection and progress.

TEST_F(RunnerTest, OnlySelectedModelsRun) {
  dir_.Write("models/a.sql", "{{ config(materialized='table') }}\nselect 1 as x\n");
  dir_.Write("models/b.sql",
             "{{ config(materialized='table') }}\nselect x + 1 as y from {{ ref('a') }}\n");
  dir_.Write("models/c.sql", "{{ config(materialized='table') }}\nselect 3 as z\n");
  RunOptions o;
  o.select = {"a+"};
  o.exclude = {"c"};
  std::vector<std::string> events;
  o.progress = [&](const NodeResult& r, size_t i, size_t total, bool done) {
    events.push_back(std::to_string(i) + "/" + std::to_string(total) + " " + r.name +
                     (done ? " " + r.status : " start"));
  };
  RunReport r = Run(o);
  EXPECT_EQ(Statuses(r), "a=success b=success");
  EXPECT_EQ(events, (std::vector<std::string>{"0/2 a start", "0/2 a success", "1/2 b start",
                                              "1/2 b success"}));
  EXPECT_EQ(Q("SELECT y FROM shop.b"), "2");
  EXPECT_FALSE(Exists("shop.c"));

  auto l = LoadAndParse(dir_.root());
  ASSERT_TRUE(l);
  RunOptions bad;
  bad.select = {"tag:none"};
  auto failed = RunModels(*(*l)->compiler, *adapter_, bad);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------
// Seeds.

TEST_F(RunnerTest, SeedsLoadCsvFilesAndModelsReadThem) {
  dir_.Write("seeds/countries.csv", "code,name\nfr,France\nde,Germany\n");
  dir_.Write("models/upper.sql",
             "{{ config(materialized='table') }}\nselect upper(code) as c, name from {{ "
             "ref('countries') }}\n");
  RunReport s = Seed();
  EXPECT_EQ(Statuses(s), "countries=success");
  EXPECT_EQ(ResultOf(s, "countries").kind, "seed");
  EXPECT_EQ(ResultOf(s, "countries").rows, 2);
  EXPECT_EQ(ResultOf(s, "countries").relation, "shop.countries");
  EXPECT_EQ(Q("SELECT code, name FROM shop.countries ORDER BY code"), "de,Germany|fr,France");

  RunReport r = Run();
  EXPECT_EQ(Statuses(r), "upper=success");  // models only
  EXPECT_EQ(Q("SELECT c, name FROM shop.upper ORDER BY c"), "DE,Germany|FR,France");

  // Seeding again replaces the rows.
  dir_.Write("seeds/countries.csv", "code,name\nit,Italy\n");
  EXPECT_EQ(Statuses(Seed()), "countries=success");
  EXPECT_EQ(Q("SELECT code, name FROM shop.countries ORDER BY code"), "it,Italy");
}

TEST_F(RunnerTest, DisabledSeedsAreNotLoaded) {
  dir_.Write("dbt_project.yml", "name: shop\nseeds:\n  shop:\n    old:\n      +enabled: false\n");
  dir_.Write("seeds/old/legacy.csv", "a\n1\n");
  dir_.Write("seeds/current.csv", "a\n2\n");
  RunReport s = Seed();
  EXPECT_EQ(Statuses(s), "current=success");
  EXPECT_FALSE(Exists("shop.legacy"));
}

TEST_F(RunnerTest, ModelReadingAnUnloadedSeedSaysSo) {
  dir_.Write("seeds/countries.csv", "code\nfr\n");
  dir_.Write("models/m.sql",
             "{{ config(materialized='table') }}\nselect * from {{ ref('countries') }}\n");
  RunReport r = Run();
  EXPECT_EQ(ResultOf(r, "m").status, "error");
  EXPECT_THAT(ResultOf(r, "m").message, HasSubstr("seed"));
}

}  // namespace
}  // namespace frazil::transform
