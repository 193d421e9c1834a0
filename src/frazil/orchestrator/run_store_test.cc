#include "frazil/orchestrator/run_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

namespace frazil::orchestrator {
namespace {

using Strings = std::vector<std::string>;

class TempDir {
 public:
  TempDir() {
    auto base = std::filesystem::temp_directory_path() /
                ("frazil_run_store_test_" + std::to_string(getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::remove_all(base);
    path_ = base.string();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

std::unique_ptr<SqliteRunStore> MustOpen(const std::string& path) {
  auto s = SqliteRunStore::Open(path);
  EXPECT_TRUE(s) << s.error().ToString();
  return s ? std::move(*s) : nullptr;
}

RunRecord NewRun(std::string job, Strings assets, RunStatus status = RunStatus::kQueued) {
  RunRecord r;
  r.job = std::move(job);
  r.trigger = "manual";
  r.assets = std::move(assets);
  r.status = status;
  r.created_ms = 1000;
  return r;
}

Strings Ids(const std::vector<RunRecord>& runs) {
  Strings out;
  for (const auto& r : runs) out.push_back(std::to_string(r.id));
  return out;
}

TEST(RunStoreTest, StatusNames) {
  for (auto s : {RunStatus::kQueued, RunStatus::kRunning, RunStatus::kSucceeded, RunStatus::kFailed, RunStatus::kCanceled,
                 RunStatus::kTimedOut, RunStatus::kInterrupted}) {
    auto parsed = ParseRunStatus(RunStatusName(s));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_EQ(RunStatusName(RunStatus::kTimedOut), "timed_out");
  EXPECT_FALSE(ParseRunStatus("done"));
  EXPECT_FALSE(IsFinished(RunStatus::kQueued));
  EXPECT_FALSE(IsFinished(RunStatus::kRunning));
  EXPECT_TRUE(IsFinished(RunStatus::kInterrupted));
}

TEST(RunStoreTest, CreateGetRoundTripsEveryField) {
  auto store = MustOpen(":memory:");
  RunRecord r = NewRun("materialize", {"m.a", "m.b"});
  r.trigger = "schedule:nightly";
  r.params = {{"full_refresh", "true"}, {"x", "quote\"d"}};
  r.status = RunStatus::kFailed;
  r.attempt = 2;
  r.max_attempts = 3;
  r.retry_of = 7;
  r.created_ms = 11;
  r.not_before_ms = 12;
  r.started_ms = 13;
  r.finished_ms = 14;
  r.timeout_ms = 15;
  r.error = "boom";
  r.cancel_requested = true;
  r.owner = "1@h";
  r.heartbeat_ms = 16;
  r.succeeded = {"m.a"};
  r.failed = {"m.b"};
  auto id = store->Create(r);
  ASSERT_TRUE(id) << id.error().ToString();
  auto id2 = store->Create(NewRun("compact", {}));
  ASSERT_TRUE(id2);
  EXPECT_GT(*id2, *id);

  auto got = store->Get(*id);
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(got->id, *id);
  EXPECT_EQ(got->job, "materialize");
  EXPECT_EQ(got->trigger, "schedule:nightly");
  EXPECT_EQ(got->assets, (Strings{"m.a", "m.b"}));
  EXPECT_EQ(got->params, r.params);
  EXPECT_EQ(got->status, RunStatus::kFailed);
  EXPECT_EQ(got->attempt, 2);
  EXPECT_EQ(got->max_attempts, 3);
  ASSERT_TRUE(got->retry_of);
  EXPECT_EQ(*got->retry_of, 7);
  EXPECT_EQ(got->created_ms, 11);
  EXPECT_EQ(got->not_before_ms, 12);
  EXPECT_EQ(got->started_ms, 13);
  EXPECT_EQ(got->finished_ms, 14);
  EXPECT_EQ(got->timeout_ms, 15);
  EXPECT_EQ(got->error, "boom");
  EXPECT_TRUE(got->cancel_requested);
  EXPECT_EQ(got->owner, "1@h");
  EXPECT_EQ(got->heartbeat_ms, 16);
  EXPECT_EQ(got->succeeded, (Strings{"m.a"}));
  EXPECT_EQ(got->failed, (Strings{"m.b"}));

  auto other = store->Get(*id2);
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->retry_of);
  EXPECT_TRUE(other->assets.empty());
  EXPECT_TRUE(other->params.empty());

  auto missing = store->Get(9999);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
}

TEST(RunStoreTest, UpdateAndNotFound) {
  auto store = MustOpen(":memory:");
  auto id = store->Create(NewRun("materialize", {"m.a"}));
  ASSERT_TRUE(id);
  auto r = *store->Get(*id);
  r.status = RunStatus::kSucceeded;
  r.succeeded = {"m.a"};
  r.finished_ms = 50;
  ASSERT_TRUE(store->Update(r));
  auto got = *store->Get(*id);
  EXPECT_EQ(got.status, RunStatus::kSucceeded);
  EXPECT_EQ(got.succeeded, (Strings{"m.a"}));
  EXPECT_EQ(got.finished_ms, 50);
  r.id = 4242;
  auto s = store->Update(r);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, ErrorKind::kNotFound);
}

TEST(RunStoreTest, ListFiltersAndPaging) {
  auto store = MustOpen(":memory:");
  std::vector<int64_t> ids;
  ids.push_back(*store->Create(NewRun("materialize", {"m.a", "m.b"})));
  ids.push_back(*store->Create(NewRun("compact", {"raw.x"}, RunStatus::kSucceeded)));
  ids.push_back(*store->Create(NewRun("materialize", {"m.b"}, RunStatus::kFailed)));
  ids.push_back(*store->Create(NewRun("materialize", {"m.ab"}, RunStatus::kRunning)));
  ids.push_back(*store->Create(NewRun("compact", {"m.a"}, RunStatus::kFailed)));
  auto s = [](int64_t id) { return std::to_string(id); };

  RunFilter all;
  EXPECT_EQ(Ids(*store->List(all)), (Strings{s(ids[4]), s(ids[3]), s(ids[2]), s(ids[1]), s(ids[0])}));
  RunFilter failed;
  failed.status = RunStatus::kFailed;
  EXPECT_EQ(Ids(*store->List(failed)), (Strings{s(ids[4]), s(ids[2])}));
  RunFilter compact;
  compact.job = "compact";
  EXPECT_EQ(Ids(*store->List(compact)), (Strings{s(ids[4]), s(ids[1])}));
  RunFilter asset;
  asset.asset = "m.a";  // exact key match: not m.ab
  EXPECT_EQ(Ids(*store->List(asset)), (Strings{s(ids[4]), s(ids[0])}));
  RunFilter combined;
  combined.asset = "m.b";
  combined.status = RunStatus::kFailed;
  combined.job = "materialize";
  EXPECT_EQ(Ids(*store->List(combined)), (Strings{s(ids[2])}));
  RunFilter quote;
  quote.asset = "x' OR 1=1 --";
  EXPECT_TRUE(store->List(quote)->empty());

  RunFilter page;
  page.limit = 2;
  EXPECT_EQ(Ids(*store->List(page)), (Strings{s(ids[4]), s(ids[3])}));
  page.before_id = ids[3];
  EXPECT_EQ(Ids(*store->List(page)), (Strings{s(ids[2]), s(ids[1])}));
  page.before_id = ids[1];
  EXPECT_EQ(Ids(*store->List(page)), (Strings{s(ids[0])}));
  page.before_id = ids[0];
  EXPECT_TRUE(store->List(page)->empty());

  auto active = store->Active();
  ASSERT_TRUE(active);
  EXPECT_EQ(Ids(*active), (Strings{s(ids[0]), s(ids[3])}));  // oldest first
}

TEST(RunStoreTest, UpdateKeepsCancelRequestFromAnotherConnection) {
  TempDir dir;
  const std::string path = SqliteRunStore::PathIn(dir.path());
  auto a = MustOpen(path);
  auto b = MustOpen(path);
  ASSERT_TRUE(a && b);
  auto id = a->Create(NewRun("materialize", {"m.a"}));
  ASSERT_TRUE(id);
  ASSERT_TRUE(*a->Claim(*id, "1@h", 100));
  auto mine = *a->Get(*id);  // read before the cancel request
  EXPECT_FALSE(mine.cancel_requested);
  ASSERT_TRUE(b->RequestCancel(*id));
  mine.heartbeat_ms = 200;
  ASSERT_TRUE(a->Update(mine));
  auto got = *b->Get(*id);
  EXPECT_TRUE(got.cancel_requested);
  EXPECT_EQ(got.heartbeat_ms, 200);
}

TEST(RunStoreTest, RequestCancelErrors) {
  auto store = MustOpen(":memory:");
  auto missing = store->RequestCancel(77);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  auto done = *store->Create(NewRun("materialize", {"m.a"}, RunStatus::kSucceeded));
  auto s = store->RequestCancel(done);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, ErrorKind::kInvalidArgument);
  auto queued = *store->Create(NewRun("materialize", {"m.a"}));
  ASSERT_TRUE(store->RequestCancel(queued));
  EXPECT_TRUE(store->Get(queued)->cancel_requested);
}

TEST(RunStoreTest, ClaimIsExclusiveAcrossConnections) {
  TempDir dir;
  const std::string path = SqliteRunStore::PathIn(dir.path());
  auto a = MustOpen(path);
  auto b = MustOpen(path);
  ASSERT_TRUE(a && b);
  auto id = *a->Create(NewRun("materialize", {"m.a"}));
  auto first = b->Claim(id, "2@h", 500);
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_TRUE(*first);
  auto second = a->Claim(id, "1@h", 501);
  ASSERT_TRUE(second);
  EXPECT_FALSE(*second);
  auto got = *a->Get(id);
  EXPECT_EQ(got.status, RunStatus::kRunning);
  EXPECT_EQ(got.owner, "2@h");
  EXPECT_EQ(got.started_ms, 500);
  EXPECT_EQ(got.heartbeat_ms, 500);
  EXPECT_FALSE(*a->Claim(99999, "1@h", 1));
}

TEST(RunStoreTest, ClaimRacesFromThreadsHaveOneWinner) {
  TempDir dir;
  const std::string path = SqliteRunStore::PathIn(dir.path());
  auto a = MustOpen(path);
  auto b = MustOpen(path);
  std::vector<int64_t> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(*a->Create(NewRun("materialize", {"m.a" + std::to_string(i)})));
  std::atomic<int> wins_a{0}, wins_b{0};
  auto claimer = [&](SqliteRunStore& s, std::atomic<int>& wins, const char* owner) {
    for (auto id : ids) {
      auto c = s.Claim(id, owner, 1);
      ASSERT_TRUE(c) << c.error().ToString();
      if (*c) wins++;
    }
  };
  std::thread ta([&] { claimer(*a, wins_a, "1@h"); });
  std::thread tb([&] { claimer(*b, wins_b, "2@h"); });
  ta.join();
  tb.join();
  EXPECT_EQ(wins_a + wins_b, 20);
}

// Found by test_orchestrator (a sensor run and a job of another process on one table): the
// overlap check and the claim are one statement.
TEST(RunStoreTest, ClaimRefusesARunSharingAnAssetWithARunningOne) {
  TempDir dir;
  const std::string path = SqliteRunStore::PathIn(dir.path());
  auto a = MustOpen(path);
  auto b = MustOpen(path);
  auto first = *a->Create(NewRun("materialize", {"m.a", "m.b"}));
  auto overlapping = *b->Create(NewRun("compact", {"m.b"}));
  auto other = *b->Create(NewRun("compact", {"m.c"}));
  auto everything = *b->Create(NewRun("cleanup", {}));
  ASSERT_TRUE(*a->Claim(first, "1@h", 100));
  EXPECT_FALSE(*b->Claim(overlapping, "2@h", 100));
  EXPECT_FALSE(*b->Claim(everything, "2@h", 100));  // no assets: shares all
  EXPECT_TRUE(*b->Claim(other, "2@h", 100));
  // A running run whose heartbeat is older than live_since no longer blocks (its process died).
  EXPECT_TRUE(*b->Claim(overlapping, "2@h", 200, /*live_since_ms=*/150));
  EXPECT_EQ(b->Get(overlapping)->status, RunStatus::kRunning);
}

TEST(RunStoreTest, ClaimRefusesARunWithACancelRequest) {
  auto store = MustOpen(":memory:");
  auto id = *store->Create(NewRun("materialize", {"m.a"}));
  ASSERT_TRUE(store->RequestCancel(id));
  EXPECT_FALSE(*store->Claim(id, "1@h", 1));
  EXPECT_EQ(store->Get(id)->status, RunStatus::kQueued);
}

TEST(RunStoreTest, LogsInOrderAfterSeq) {
  auto store = MustOpen(":memory:");
  auto id = *store->Create(NewRun("materialize", {"m.a"}));
  auto other = *store->Create(NewRun("materialize", {"m.b"}));
  ASSERT_TRUE(store->AppendLog(id, 10, LogLevel::kInfo, "one"));
  ASSERT_TRUE(store->AppendLog(other, 11, LogLevel::kInfo, "other"));
  ASSERT_TRUE(store->AppendLog(id, 12, LogLevel::kWarn, "two"));
  ASSERT_TRUE(store->AppendLog(id, 13, LogLevel::kError, "three"));
  auto logs = store->Logs(id, 0, 100);
  ASSERT_TRUE(logs);
  ASSERT_EQ(logs->size(), 3u);
  EXPECT_EQ((*logs)[0].seq, 1);
  EXPECT_EQ((*logs)[0].message, "one");
  EXPECT_EQ((*logs)[0].ts_ms, 10);
  EXPECT_EQ((*logs)[0].level, LogLevel::kInfo);
  EXPECT_EQ((*logs)[1].message, "two");
  EXPECT_EQ((*logs)[1].level, LogLevel::kWarn);
  EXPECT_EQ((*logs)[2].seq, 3);
  EXPECT_EQ((*logs)[2].level, LogLevel::kError);
  auto after = *store->Logs(id, 1, 100);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].message, "two");
  auto limited = *store->Logs(id, 0, 1);
  ASSERT_EQ(limited.size(), 1u);
  EXPECT_EQ(limited[0].message, "one");
  EXPECT_TRUE(store->Logs(id, 3, 100)->empty());
  auto o = *store->Logs(other, 0, 100);
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].seq, 1);
}

TEST(RunStoreTest, State) {
  auto store = MustOpen(":memory:");
  auto none = store->GetState("k");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  ASSERT_TRUE(store->PutState("k", "v1"));
  ASSERT_TRUE(store->PutState("k", "v2"));
  ASSERT_TRUE(store->PutState("other", ""));
  EXPECT_EQ(store->GetState("k")->value_or("?"), "v2");
  auto empty = store->GetState("other");
  ASSERT_TRUE(empty && *empty);
  EXPECT_EQ(**empty, "");
}

TEST(RunStoreTest, PruneDeletesOldFinishedRunsAndTheirLogs) {
  auto store = MustOpen(":memory:");
  RunRecord old_done = NewRun("materialize", {"m.a"}, RunStatus::kSucceeded);
  old_done.finished_ms = 100;
  RunRecord new_done = NewRun("materialize", {"m.a"}, RunStatus::kFailed);
  new_done.finished_ms = 300;
  RunRecord old_running = NewRun("materialize", {"m.a"}, RunStatus::kRunning);  // finished_ms 0
  RunRecord old_queued = NewRun("materialize", {"m.a"});
  auto a = *store->Create(old_done);
  auto b = *store->Create(new_done);
  auto c = *store->Create(old_running);
  auto d = *store->Create(old_queued);
  ASSERT_TRUE(store->AppendLog(a, 1, LogLevel::kInfo, "a"));
  ASSERT_TRUE(store->AppendLog(b, 1, LogLevel::kInfo, "b"));
  auto n = store->Prune(200);
  ASSERT_TRUE(n) << n.error().ToString();
  EXPECT_EQ(*n, 1);
  EXPECT_FALSE(store->Get(a));
  EXPECT_TRUE(store->Get(b));
  EXPECT_TRUE(store->Get(c));
  EXPECT_TRUE(store->Get(d));
  EXPECT_TRUE(store->Logs(a, 0, 10)->empty());
  EXPECT_EQ(store->Logs(b, 0, 10)->size(), 1u);
  EXPECT_EQ(*store->Prune(200), 0);
}

TEST(RunStoreTest, PersistsAcrossReopen) {
  TempDir dir;
  const std::string path = SqliteRunStore::PathIn(dir.path());
  EXPECT_NE(path.find(".frazil"), std::string::npos);
  int64_t id = 0;
  {
    auto store = MustOpen(path);  // creates the folder
    ASSERT_TRUE(store);
    id = *store->Create(NewRun("materialize", {"m.a"}));
    ASSERT_TRUE(store->AppendLog(id, 5, LogLevel::kInfo, "hello"));
    ASSERT_TRUE(store->PutState("asset:m.a", "{}"));
  }
  auto store = MustOpen(path);
  ASSERT_TRUE(store);
  auto got = store->Get(id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->assets, (Strings{"m.a"}));
  EXPECT_EQ(store->Logs(id, 0, 10)->at(0).message, "hello");
  EXPECT_EQ(store->GetState("asset:m.a")->value_or(""), "{}");
  auto next = *store->Create(NewRun("materialize", {"m.b"}));
  EXPECT_GT(next, id);
}

}  // namespace
}  // namespace frazil::orchestrator
