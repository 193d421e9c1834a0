#include "frazil/orchestrator/orchestrator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <thread>

namespace frazil::orchestrator {
namespace {

using Strings = std::vector<std::string>;
using namespace std::chrono;

// 2024-03-01 00:00:00 UTC
constexpr int64_t kT0 = 1709251200000;

int64_t UtcMs(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  auto t = sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s);
  return duration_cast<milliseconds>(t.time_since_epoch()).count();
}

std::string Host() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return host;
}

class TempDir {
 public:
  TempDir() {
    auto base = std::filesystem::temp_directory_path() /
                ("frazil_orchestrator_test_" + std::to_string(getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::remove_all(base);
    path_ = base.string();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string db() const { return SqliteRunStore::PathIn(path_); }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

// Versions you set; Bump gives an asset a new one (what a commit does).
class FakeObserver final : public AssetObserver {
 public:
  Result<std::map<std::string, std::string>> Versions() override {
    std::lock_guard lock(mu_);
    calls_++;
    if (fail_) return MakeError(ErrorKind::kIOError, "catalog unreachable");
    return versions_;
  }
  void Set(const std::string& key, const std::string& v) {
    std::lock_guard lock(mu_);
    versions_[key] = v;
  }
  void Erase(const std::string& key) {
    std::lock_guard lock(mu_);
    versions_.erase(key);
  }
  void Bump(const std::string& key) {
    std::lock_guard lock(mu_);
    versions_[key] = "v" + std::to_string(++counter_);
  }
  void SetFail(bool fail) {
    std::lock_guard lock(mu_);
    fail_ = fail;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> versions_;
  int counter_ = 0;
  bool fail_ = false;
  int calls_ = 0;
};

struct Call {
  int64_t run_id = 0;
  std::string job, task, trigger;
  Strings assets;
  std::map<std::string, std::string> params;
  int attempt = 0;
};

// Records calls; materializes assets in the order given (bumping their versions), stopping at
// the first failure; can block until released or cancelled; checks that two runs never hold
// the same asset at once.
class FakeExecutor final : public Executor {
 public:
  explicit FakeExecutor(FakeObserver& observer) : observer_(observer) {}

  Status Execute(const Job& job, RunContext& ctx) override {
    Call call{ctx.run().id, job.name, job.task, ctx.run().trigger, job.assets, job.params, ctx.run().attempt};
    std::function<void(const Call&, RunContext&)> hook;
    {
      std::lock_guard lock(mu_);
      calls_.push_back(call);
      for (const auto& a : job.assets) {
        if (!busy_.insert(a).second) overlap_ = true;
      }
      running_++;
      max_running_ = std::max(max_running_, running_);
      hook = hook_;
    }
    cv_.notify_all();
    if (hook) hook(call, ctx);
    bool block;
    {
      std::lock_guard lock(mu_);
      block = block_;
    }
    if (block) {
      std::unique_lock lock(mu_);
      while (!released_.count(call.run_id) && !release_all_ && !ctx.cancelled()) {
        cv_.wait_for(lock, milliseconds(2));
      }
    }
    Status result = Ok();
    if (ctx.cancelled()) {
      result = MakeError(ErrorKind::kInternal, "stopped: cancelled");
    } else {
      for (const auto& a : job.assets) {
        bool fail = false;
        {
          std::lock_guard lock(mu_);
          auto it = fail_.find(a);
          if (it != fail_.end() && it->second != 0) {
            fail = true;
            if (it->second > 0) it->second--;
          }
        }
        if (fail) {
          ctx.AssetFailed(a, "injected failure");
          result = MakeError(ErrorKind::kInternal, a + " failed");
          break;
        }
        if (job.task == kMaterializeJob) observer_.Bump(a);
        ctx.AssetSucceeded(a);
      }
    }
    {
      std::lock_guard lock(mu_);
      for (const auto& a : job.assets) busy_.erase(a);
      running_--;
      finished_++;
    }
    cv_.notify_all();
    return result;
  }

  // `asset` fails its next `times` attempts (-1: always).
  void Fail(const std::string& asset, int times) {
    std::lock_guard lock(mu_);
    fail_[asset] = times;
  }
  void SetBlock(bool block) {
    std::lock_guard lock(mu_);
    block_ = block;
  }
  void Release(int64_t run_id) {
    std::lock_guard lock(mu_);
    released_.insert(run_id);
    cv_.notify_all();
  }
  void ReleaseAll() {
    std::lock_guard lock(mu_);
    release_all_ = true;
    cv_.notify_all();
  }
  void SetHook(std::function<void(const Call&, RunContext&)> hook) {
    std::lock_guard lock(mu_);
    hook_ = std::move(hook);
  }
  std::vector<Call> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return calls_.size();
  }
  int running() {
    std::lock_guard lock(mu_);
    return running_;
  }
  int max_running() {
    std::lock_guard lock(mu_);
    return max_running_;
  }
  int finished() {
    std::lock_guard lock(mu_);
    return finished_;
  }
  bool overlap() {
    std::lock_guard lock(mu_);
    return overlap_;
  }
  // Waits (real time) until `n` calls have started.
  bool WaitStarted(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, seconds(5), [&] { return calls_.size() >= n; });
  }

 private:
  FakeObserver& observer_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Call> calls_;
  std::map<std::string, int> fail_;
  std::set<std::string> busy_;
  std::set<int64_t> released_;
  std::function<void(const Call&, RunContext&)> hook_;
  bool block_ = false, release_all_ = false, overlap_ = false;
  int running_ = 0, max_running_ = 0, finished_ = 0;
};

Asset Source(std::string key) {
  Asset a;
  a.key = std::move(key);
  a.kind = AssetKind::kSource;
  return a;
}

Asset Model(std::string key, Strings deps, AutomationPolicy policy = {}) {
  Asset a;
  a.key = std::move(key);
  a.kind = AssetKind::kModel;
  a.deps = std::move(deps);
  a.policy = policy;
  return a;
}

AutomationPolicy Policy(int64_t debounce, int64_t max_delay, int64_t min_interval = 0, bool automatic = true) {
  AutomationPolicy p;
  p.debounce_ms = debounce;
  p.max_delay_ms = max_delay;
  p.min_interval_ms = min_interval;
  p.automatic = automatic;
  return p;
}

// Polls `pred` in real time (for tests with run threads).
bool WaitFor(const std::function<bool()>& pred, int timeout_ms = 5000) {
  auto deadline = steady_clock::now() + milliseconds(timeout_ms);
  while (!pred()) {
    if (steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

class OrchestratorTest : public ::testing::Test {
 protected:
  OrchestratorTest() : executor_(observer_) { SetLogLevel(LogLevel::kError); }
  ~OrchestratorTest() override { orch_.reset(); }

  void OpenStore(const std::string& path = ":memory:") {
    auto s = SqliteRunStore::Open(path);
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
  }

  OrchestratorOptions Inline() {
    OrchestratorOptions o;
    o.inline_execution = true;
    o.owner = "100@" + Host();
    o.retry_backoff_ms = 1000;
    return o;
  }

  void Make(std::vector<Asset> assets, OrchestratorOptions options, std::vector<Job> jobs = {},
            std::vector<Schedule> schedules = {}) {
    if (!store_) OpenStore();
    auto g = AssetGraph::Make(std::move(assets));
    ASSERT_TRUE(g) << g.error().ToString();
    graph_ = *g;
    jobs_ = jobs;
    schedules_ = schedules;
    options_ = options;
    auto o = Orchestrator::Make(std::move(*g), std::move(jobs), std::move(schedules), *store_, executor_, observer_,
                                clock_, std::move(options));
    ASSERT_TRUE(o) << o.error().ToString();
    orch_ = std::move(*o);
  }
  // A new orchestrator instance on the same store (a restart).
  void Remake(OrchestratorOptions options) {
    orch_.reset();
    auto o = Orchestrator::Make(graph_, jobs_, schedules_, *store_, executor_, observer_, clock_, std::move(options));
    ASSERT_TRUE(o) << o.error().ToString();
    orch_ = std::move(*o);
  }

  void Tick() {
    auto s = orch_->Tick();
    ASSERT_TRUE(s) << s.error().ToString();
  }
  // Advances the clock in steps of `step_ms`, ticking after each.
  void TickFor(int64_t total_ms, int64_t step_ms = 100) {
    for (int64_t t = 0; t < total_ms; t += step_ms) {
      clock_.AdvanceMillis(step_ms);
      Tick();
    }
  }
  RunRecord Get(int64_t id) {
    auto r = store_->Get(id);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : RunRecord{};
  }
  std::vector<RunRecord> AllRuns() {
    RunFilter f;
    f.limit = 0;
    auto runs = store_->List(f);
    EXPECT_TRUE(runs);
    std::vector<RunRecord> out(runs->rbegin(), runs->rend());  // oldest first
    return out;
  }
  std::vector<std::string> LogText(int64_t id) {
    std::vector<std::string> out;
    auto logs = store_->Logs(id, 0, 1000);
    EXPECT_TRUE(logs);
    if (logs) {
      for (const auto& l : *logs) out.push_back(l.message);
    }
    return out;
  }
  const AssetState* Find(const std::vector<AssetState>& states, const std::string& key) {
    for (const auto& s : states) {
      if (s.key == key) return &s;
    }
    return nullptr;
  }

  ManualClock clock_{kT0};
  FakeObserver observer_;
  FakeExecutor executor_;
  std::unique_ptr<SqliteRunStore> store_;
  AssetGraph graph_;
  std::vector<Job> jobs_;
  std::vector<Schedule> schedules_;
  OrchestratorOptions options_;
  std::unique_ptr<Orchestrator> orch_;
};

// ---------------------------------------------------------------- construction

TEST_F(OrchestratorTest, MakeRejectsBadConfiguration) {
  OpenStore();
  auto graph = [] { return *AssetGraph::Make({Source("raw.x"), Model("m.a", {"raw.x"})}); };
  auto make = [&](std::vector<Job> jobs, std::vector<Schedule> schedules) {
    return Orchestrator::Make(graph(), std::move(jobs), std::move(schedules), *store_, executor_, observer_, clock_, Inline());
  };
  EXPECT_FALSE(make({Job{.name = "j", .task = "compact", .assets = {"nope"}}}, {}));
  EXPECT_FALSE(make({Job{.name = "j"}, Job{.name = "j"}}, {}));
  EXPECT_FALSE(make({Job{.name = kMaterializeJob}}, {}));
  EXPECT_FALSE(make({}, {Schedule{.name = "s", .cron = "0 25 * * *", .job = kMaterializeJob}}));
  EXPECT_FALSE(make({}, {Schedule{.name = "s", .cron = "0 1 * * *", .time_zone = "Mars/Base", .job = kMaterializeJob}}));
  EXPECT_FALSE(make({}, {Schedule{.name = "s", .cron = "0 1 * * *", .job = "nope"}}));
  EXPECT_FALSE(make({}, {Schedule{.name = "s", .cron = "0 1 * * *", .job = kMaterializeJob},
                         Schedule{.name = "s", .cron = "0 2 * * *", .job = kMaterializeJob}}));
  // A materialize job naming a source table.
  EXPECT_FALSE(make({Job{.name = "j", .assets = {"raw.x"}}}, {}));
  EXPECT_TRUE(make({Job{.name = "j", .task = "compact", .assets = {"raw.x"}}},
                   {Schedule{.name = "s", .cron = "0 1 * * *", .time_zone = "Europe/Berlin", .job = "j"}}));
}

TEST_F(OrchestratorTest, LaunchValidates) {
  Make({Source("raw.x"), Model("m.a", {"raw.x"}), Model("m.b", {"m.a"})}, Inline(),
       {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}, .params = {{"target", "128"}}}});
  EXPECT_FALSE(orch_->Launch(kMaterializeJob, {"raw.x"}, {}, "manual"));
  EXPECT_FALSE(orch_->Launch(kMaterializeJob, {"m.zzz"}, {}, "manual"));
  EXPECT_FALSE(orch_->Launch("nope", {}, {}, "manual"));
  EXPECT_FALSE(orch_->Launch("compact", {"nope"}, {}, "manual"));
  auto id = orch_->Launch(kMaterializeJob, {"m.a"}, {{"full_refresh", "true"}}, "manual", /*with_downstream=*/true);
  ASSERT_TRUE(id);
  auto r = Get(*id);
  EXPECT_EQ(r.assets, (Strings{"m.a", "m.b"}));
  EXPECT_EQ(r.params.at("full_refresh"), "true");
  EXPECT_EQ(r.status, RunStatus::kQueued);
  auto all = orch_->Launch(kMaterializeJob, {}, {}, "manual");
  ASSERT_TRUE(all);
  EXPECT_EQ(Get(*all).assets, (Strings{"m.a", "m.b"}));
  auto c = orch_->Launch("compact", {}, {{"extra", "1"}}, "manual");
  ASSERT_TRUE(c);
  EXPECT_EQ(Get(*c).assets, (Strings{"raw.x"}));
  EXPECT_EQ(Get(*c).params, (std::map<std::string, std::string>{{"extra", "1"}, {"target", "128"}}));
}

// ---------------------------------------------------------------- sensors

TEST_F(OrchestratorTest, ModelRunsTheFirstTimeAfterDebounce) {
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(500, 3000))}, Inline());
  observer_.Set("raw.x", "1");
  Tick();
  EXPECT_EQ(executor_.count(), 0u);
  TickFor(400);
  EXPECT_EQ(executor_.count(), 0u);
  TickFor(100);
  ASSERT_EQ(executor_.count(), 1u);
  auto call = executor_.calls()[0];
  EXPECT_EQ(call.job, kMaterializeJob);
  EXPECT_EQ(call.trigger, "sensor");
  EXPECT_EQ(call.assets, (Strings{"m.a"}));
  auto r = Get(call.run_id);
  EXPECT_EQ(r.status, RunStatus::kSucceeded);
  EXPECT_EQ(r.succeeded, (Strings{"m.a"}));
  EXPECT_EQ(r.owner, "100@" + Host());
  EXPECT_EQ(r.started_ms, kT0 + 500);
  TickFor(10000, 500);
  EXPECT_EQ(executor_.count(), 1u);
  auto logs = LogText(call.run_id);
  ASSERT_FALSE(logs.empty());
  EXPECT_NE(logs[0].find("upstream changed for: m.a"), std::string::npos) << logs[0];
}

TEST_F(OrchestratorTest, UpstreamChangeWaitsForDebounce) {
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(500, 3000))}, Inline());
  observer_.Set("raw.x", "1");
  Tick();
  TickFor(1000);
  ASSERT_EQ(executor_.count(), 1u);
  observer_.Set("raw.x", "2");
  Tick();
  TickFor(400);
  EXPECT_EQ(executor_.count(), 1u);
  TickFor(100);
  EXPECT_EQ(executor_.count(), 2u);
  TickFor(5000);
  EXPECT_EQ(executor_.count(), 2u);
}

TEST_F(OrchestratorTest, BurstKeepsDebouncingUntilMaxDelay) {
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(500, 3000))}, Inline());
  observer_.Set("raw.x", "0");
  TickFor(1000);
  ASSERT_EQ(executor_.count(), 1u);
  const int64_t start = clock_.NowMillis();
  int64_t ran_at = 0;
  for (int i = 1; clock_.NowMillis() - start <= 3400; ++i) {
    observer_.Set("raw.x", std::to_string(i));
    Tick();
    if (executor_.count() == 2 && ran_at == 0) ran_at = clock_.NowMillis();
    clock_.AdvanceMillis(200);
  }
  EXPECT_EQ(executor_.count(), 2u);
  EXPECT_EQ(ran_at - start, 3000);
  // The changes after that run are consumed once the source is quiet again.
  TickFor(2000);
  EXPECT_EQ(executor_.count(), 3u);
}

TEST_F(OrchestratorTest, ChainRunsOnceInOrderAndDoesNotRetrigger) {
  Make({Source("raw.x"), Model("m.c", {"m.b"}), Model("m.b", {"m.a"}), Model("m.a", {"raw.x"})}, Inline());
  observer_.Set("raw.x", "1");
  Tick();
  TickFor(600);
  ASSERT_EQ(executor_.count(), 1u);
  EXPECT_EQ(executor_.calls()[0].assets, (Strings{"m.a", "m.b", "m.c"}));
  TickFor(10000);
  EXPECT_EQ(executor_.count(), 1u);
  observer_.Set("raw.x", "2");
  Tick();
  TickFor(600);
  ASSERT_EQ(executor_.count(), 2u);
  EXPECT_EQ(executor_.calls()[1].assets, (Strings{"m.a", "m.b", "m.c"}));
  TickFor(10000);
  EXPECT_EQ(executor_.count(), 2u);
  for (const auto& s : orch_->Assets()) EXPECT_FALSE(s.stale) << s.key;
}

// Found by make demo: raw.t appeared a moment after raw.a, so m.pa ran while m.pt (the other
// input of m.h) had never run; m.h was pulled in as m.pa's downstream and failed.
TEST_F(OrchestratorTest, DownstreamWithAnotherStaleInputIsNotPulledIntoTheRun) {
  Make({Source("raw.a"), Source("raw.t"), Model("m.pa", {"raw.a"}), Model("m.pt", {"raw.t"}),
        Model("m.h", {"m.pa", "m.pt"})},
       Inline());
  observer_.Set("raw.a", "1");
  Tick();
  TickFor(600);
  ASSERT_EQ(executor_.count(), 1u);
  EXPECT_EQ(executor_.calls()[0].assets, (Strings{"m.pa"}));
  observer_.Set("raw.t", "1");
  Tick();
  TickFor(600);
  ASSERT_EQ(executor_.count(), 2u);
  EXPECT_EQ(executor_.calls()[1].assets, (Strings{"m.pt", "m.h"}));
  TickFor(5000);
  EXPECT_EQ(executor_.count(), 2u);
}

TEST_F(OrchestratorTest, ModelWaitsForItsStaleUpstreamModelAndRunsWithIt) {
  // raw.x -> m.a (slow debounce) -> m.b <- raw.y (fast debounce)
  Make({Source("raw.x"), Source("raw.y"), Model("m.a", {"raw.x"}, Policy(2000, 10000)),
        Model("m.b", {"m.a", "raw.y"}, Policy(200, 10000))},
       Inline());
  observer_.Set("raw.x", "1");
  observer_.Set("raw.y", "1");
  Tick();
  TickFor(2000);
  ASSERT_EQ(executor_.count(), 1u);
  EXPECT_EQ(executor_.calls()[0].assets, (Strings{"m.a", "m.b"}));
  observer_.Set("raw.x", "2");
  observer_.Set("raw.y", "2");
  Tick();
  TickFor(1900);
  EXPECT_EQ(executor_.count(), 1u);  // m.b is due but waits for m.a
  TickFor(100);
  ASSERT_EQ(executor_.count(), 2u);
  EXPECT_EQ(executor_.calls()[1].assets, (Strings{"m.a", "m.b"}));
  TickFor(5000);
  EXPECT_EQ(executor_.count(), 2u);
  // Only raw.y: m.b alone.
  observer_.Set("raw.y", "3");
  Tick();
  TickFor(200);
  ASSERT_EQ(executor_.count(), 3u);
  EXPECT_EQ(executor_.calls()[2].assets, (Strings{"m.b"}));
}

TEST_F(OrchestratorTest, MinIntervalBetweenStarts) {
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(100, 1000, 5000))}, Inline());
  observer_.Set("raw.x", "1");
  Tick();
  TickFor(100);
  ASSERT_EQ(executor_.count(), 1u);
  const int64_t first = clock_.NowMillis();
  observer_.Set("raw.x", "2");
  int64_t second = 0;
  for (int i = 0; i < 100 && second == 0; ++i) {
    clock_.AdvanceMillis(100);
    Tick();
    if (executor_.count() == 2) second = clock_.NowMillis();
  }
  EXPECT_EQ(second - first, 5000);
}

TEST_F(OrchestratorTest, NonAutomaticModelRunsOnlyWhenLaunched) {
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(100, 1000, 0, /*automatic=*/false)),
        Model("m.b", {"raw.x"}, Policy(100, 1000))},
       Inline());
  observer_.Set("raw.x", "1");
  Tick();
  TickFor(3000);
  ASSERT_EQ(executor_.count(), 1u);
  EXPECT_EQ(executor_.calls()[0].assets, (Strings{"m.b"}));
  auto states = orch_->Assets();
  EXPECT_TRUE(Find(states, "m.a")->stale);
  EXPECT_FALSE(Find(states, "m.b")->stale);
  auto id = orch_->Launch(kMaterializeJob, {"m.a"}, {}, "manual");
  ASSERT_TRUE(id);
  Tick();
  ASSERT_EQ(executor_.count(), 2u);
  EXPECT_EQ(executor_.calls()[1].assets, (Strings{"m.a"}));
  EXPECT_EQ(executor_.calls()[1].trigger, "manual");
  EXPECT_EQ(Get(*id).status, RunStatus::kSucceeded);
  TickFor(1000);
  EXPECT_EQ(executor_.count(), 2u);
  EXPECT_FALSE(Find(orch_->Assets(), "m.a")->stale);
}

TEST_F(OrchestratorTest, AutomaticModelBehindAManualOneIsNotPulledIn) {
  // raw.x -> m.a (auto) -> m.m (manual) -> m.z (auto): a change to raw.x runs m.a only; m.z
  // reads m.m, which did not change.
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(100, 1000)),
        Model("m.m", {"m.a"}, Policy(100, 1000, 0, /*automatic=*/false)), Model("m.z", {"m.m"}, Policy(100, 1000))},
       Inline());
  observer_.Set("raw.x", "1");
  ASSERT_TRUE(orch_->Launch(kMaterializeJob, {}, {}, "manual"));
  Tick();
  ASSERT_EQ(executor_.count(), 1u);
  observer_.Set("raw.x", "2");
  Tick();
  TickFor(1000);
  ASSERT_EQ(executor_.count(), 2u);
  EXPECT_EQ(executor_.calls()[1].assets, (Strings{"m.a"}));
}

TEST_F(OrchestratorTest, MissingSourceBlocks) {
  Make({Source("raw.x"), Source("raw.y"), Model("m.a", {"raw.x", "raw.y"}, Policy(100, 1000))}, Inline());
  observer_.Set("raw.x", "1");
  Tick();
  TickFor(5000);
  EXPECT_EQ(executor_.count(), 0u);
  observer_.Set("raw.y", "1");
  Tick();
  EXPECT_EQ(executor_.count(), 0u);
  TickFor(100);
  EXPECT_EQ(executor_.count(), 1u);
}

TEST_F(OrchestratorTest, ExhaustedFailureDoesNotRetriggerUntilUpstreamChanges) {
  auto o = Inline();
  o.sensor_max_attempts = 2;
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(100, 1000))}, o);
  executor_.Fail("m.a", -1);
  observer_.Set("raw.x", "1");
  Tick();
  TickFor(100);
  ASSERT_EQ(executor_.count(), 1u);
  TickFor(1000);  // the retry
  ASSERT_EQ(executor_.count(), 2u);
  EXPECT_EQ(executor_.calls()[1].trigger, "retry");
  TickFor(20000, 500);
  EXPECT_EQ(executor_.count(), 2u);
  auto states = orch_->Assets();
  auto st = Find(states, "m.a");
  ASSERT_NE(st, nullptr);
  EXPECT_TRUE(st->stale);
  EXPECT_EQ(st->last_status, "failed");
  EXPECT_EQ(st->failures, 2);
  executor_.Fail("m.a", 0);
  observer_.Set("raw.x", "2");
  Tick();
  TickFor(100);
  ASSERT_EQ(executor_.count(), 3u);
  EXPECT_EQ(executor_.calls()[2].trigger, "sensor");
  EXPECT_EQ(Get(executor_.calls()[2].run_id).status, RunStatus::kSucceeded);
}

TEST_F(OrchestratorTest, FailedModelWithoutDependenciesIsNotRetriggeredForever) {
  auto o = Inline();
  o.sensor_max_attempts = 1;
  Make({Model("m.seed", {}, Policy(100, 1000))}, o);
  executor_.Fail("m.seed", -1);
  TickFor(10000);
  EXPECT_EQ(executor_.count(), 1u);
}

TEST_F(OrchestratorTest, ObserverErrorSkipsSensorsButNotTheTick) {
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(100, 1000))}, Inline(),
       {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}}});
  observer_.SetFail(true);
  observer_.Set("raw.x", "1");
  Tick();
  TickFor(2000);
  EXPECT_EQ(executor_.count(), 0u);
  // Launched runs still start.
  ASSERT_TRUE(orch_->Launch("compact", {}, {}, "manual"));
  Tick();
  ASSERT_EQ(executor_.count(), 1u);
  EXPECT_EQ(executor_.calls()[0].job, "compact");
  observer_.SetFail(false);
  TickFor(200);
  EXPECT_EQ(executor_.count(), 2u);
}

TEST_F(OrchestratorTest, ChangeDuringARunIsDebouncedAfterIt) {
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(500, 3000))}, Inline());
  observer_.Set("raw.x", "1");
  Tick();
  TickFor(500);
  ASSERT_EQ(executor_.count(), 1u);
  observer_.Set("raw.x", "2");
  Tick();
  // The second run is slow, and raw.x changes while it runs.
  executor_.SetHook([&](const Call&, RunContext&) {
    clock_.AdvanceMillis(4000);
    observer_.Set("raw.x", "3");
  });
  TickFor(500);
  ASSERT_EQ(executor_.count(), 2u);
  executor_.SetHook(nullptr);
  // The change seen after the run waits for its own debounce, not the old max delay.
  Tick();
  EXPECT_EQ(executor_.count(), 2u);
  TickFor(400);
  EXPECT_EQ(executor_.count(), 2u);
  TickFor(100);
  EXPECT_EQ(executor_.count(), 3u);
}

TEST_F(OrchestratorTest, CanceledSensorRunIsNotRetriggeredOnTheSameInputs) {
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(100, 1000))}, Inline());
  observer_.Set("raw.x", "1");
  executor_.SetHook([&](const Call& c, RunContext&) { ASSERT_TRUE(orch_->Cancel(c.run_id)); });
  Tick();
  TickFor(100);
  ASSERT_EQ(executor_.count(), 1u);
  EXPECT_EQ(Get(executor_.calls()[0].run_id).status, RunStatus::kCanceled);
  executor_.SetHook(nullptr);
  TickFor(5000);
  EXPECT_EQ(executor_.count(), 1u);
  EXPECT_EQ(AllRuns().size(), 1u);  // no retry either
  observer_.Set("raw.x", "2");
  Tick();
  TickFor(100);
  EXPECT_EQ(executor_.count(), 2u);
}

TEST_F(OrchestratorTest, ConfiguredMaterializeJobCountsAsAMaterialization) {
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(100, 1000)), Model("m.b", {"m.a"}, Policy(100, 1000))}, Inline(),
       {Job{.name = "all_models"}});
  observer_.Set("raw.x", "1");
  auto id = orch_->Launch("all_models", {}, {}, "manual");
  ASSERT_TRUE(id);
  EXPECT_EQ(Get(*id).assets, (Strings{"m.a", "m.b"}));
  Tick();
  ASSERT_EQ(executor_.count(), 1u);
  EXPECT_EQ(executor_.calls()[0].task, kMaterializeJob);
  // Its models are fresh now: no sensor run follows.
  TickFor(3000);
  EXPECT_EQ(executor_.count(), 1u);
  EXPECT_EQ(Find(orch_->Assets(), "m.a")->runs, 1);
}

// ---------------------------------------------------------------- retries

TEST_F(OrchestratorTest, RetryAfterBackoffThatDoubles) {
  auto o = Inline();
  o.retry_backoff_ms = 1000;
  Make({Source("raw.x")}, o, {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}, .max_attempts = 4}});
  executor_.Fail("raw.x", 2);
  auto id = orch_->Launch("compact", {}, {}, "manual");
  ASSERT_TRUE(id);
  Tick();
  ASSERT_EQ(executor_.count(), 1u);
  auto first = Get(*id);
  EXPECT_EQ(first.status, RunStatus::kFailed);
  EXPECT_EQ(first.failed, (Strings{"raw.x"}));
  EXPECT_NE(first.error.find("raw.x failed"), std::string::npos);
  TickFor(900);
  EXPECT_EQ(executor_.count(), 1u);
  TickFor(100);  // 1 s after the failure
  ASSERT_EQ(executor_.count(), 2u);
  auto second = Get(executor_.calls()[1].run_id);
  EXPECT_EQ(second.attempt, 2);
  EXPECT_EQ(second.trigger, "retry");
  ASSERT_TRUE(second.retry_of);
  EXPECT_EQ(*second.retry_of, *id);
  EXPECT_EQ(second.status, RunStatus::kFailed);
  TickFor(1900);
  EXPECT_EQ(executor_.count(), 2u);
  TickFor(100);  // 2 s after the second failure
  ASSERT_EQ(executor_.count(), 3u);
  auto third = Get(executor_.calls()[2].run_id);
  EXPECT_EQ(third.attempt, 3);
  EXPECT_EQ(third.status, RunStatus::kSucceeded);
  TickFor(20000, 1000);
  EXPECT_EQ(executor_.count(), 3u);
  bool logged = false;
  for (const auto& l : LogText(*id)) logged = logged || l.find("retry queued as run") != std::string::npos;
  EXPECT_TRUE(logged);
}

TEST_F(OrchestratorTest, MaxAttemptsHonoured) {
  auto o = Inline();
  o.retry_backoff_ms = 100;
  Make({Source("raw.x")}, o, {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}, .max_attempts = 2}});
  executor_.Fail("raw.x", -1);
  ASSERT_TRUE(orch_->Launch("compact", {}, {}, "manual"));
  TickFor(20000, 100);
  EXPECT_EQ(executor_.count(), 2u);
  auto runs = AllRuns();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].status, RunStatus::kFailed);
  EXPECT_EQ(runs[1].attempt, 2);
  EXPECT_TRUE(store_->Active()->empty());
}

TEST_F(OrchestratorTest, RetryCoversOnlyFailedAndUnfinishedAssets) {
  Make({Source("raw.x"), Model("m.a", {"raw.x"}), Model("m.b", {"m.a"}), Model("m.c", {"m.b"})}, Inline());
  executor_.Fail("m.b", 1);
  observer_.Set("raw.x", "1");
  Tick();
  TickFor(500);
  ASSERT_EQ(executor_.count(), 1u);
  auto first = Get(executor_.calls()[0].run_id);
  EXPECT_EQ(first.status, RunStatus::kFailed);
  EXPECT_EQ(first.succeeded, (Strings{"m.a"}));
  EXPECT_EQ(first.failed, (Strings{"m.b"}));
  TickFor(1000);
  ASSERT_EQ(executor_.count(), 2u);
  EXPECT_EQ(executor_.calls()[1].assets, (Strings{"m.b", "m.c"}));
  EXPECT_EQ(Get(executor_.calls()[1].run_id).status, RunStatus::kSucceeded);
  TickFor(5000);
  EXPECT_EQ(executor_.count(), 2u);
  for (const auto& s : orch_->Assets()) EXPECT_FALSE(s.stale) << s.key;
}

TEST_F(OrchestratorTest, ReportedFailureFailsTheRunEvenIfExecuteReturnsOk) {
  class Liar final : public Executor {
   public:
    Status Execute(const Job&, RunContext& ctx) override {
      ctx.AssetSucceeded("m.a");
      ctx.AssetFailed("m.b", "bad");
      return Ok();
    }
  } liar;
  OpenStore();
  auto g = *AssetGraph::Make({Source("raw.x"), Model("m.a", {"raw.x"}), Model("m.b", {"m.a"})});
  auto o = *Orchestrator::Make(g, {}, {}, *store_, liar, observer_, clock_, Inline());
  auto id = *o->Launch(kMaterializeJob, {}, {}, "manual");
  ASSERT_TRUE(o->Tick());
  auto r = Get(id);
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_EQ(r.failed, (Strings{"m.b"}));
}

TEST_F(OrchestratorTest, TimedOutRunIsRetried) {
  auto o = Inline();
  o.inline_execution = false;
  o.retry_backoff_ms = 1000;
  Make({Source("raw.x")}, o,
       {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}, .max_attempts = 2, .timeout_ms = 10000}});
  executor_.SetBlock(true);
  auto id = orch_->Launch("compact", {}, {}, "manual");
  ASSERT_TRUE(id);
  Tick();
  ASSERT_TRUE(executor_.WaitStarted(1));
  clock_.AdvanceMillis(10000);
  Tick();
  EXPECT_EQ(Get(*id).status, RunStatus::kRunning);
  clock_.AdvanceMillis(1);
  Tick();
  ASSERT_TRUE(WaitFor([&] { return Get(*id).status != RunStatus::kRunning; }));
  auto r = Get(*id);
  EXPECT_EQ(r.status, RunStatus::kTimedOut);
  EXPECT_NE(r.error.find("timed out"), std::string::npos) << r.error;
  executor_.SetBlock(false);
  clock_.AdvanceMillis(1000);
  Tick();
  ASSERT_TRUE(executor_.WaitStarted(2));
  ASSERT_TRUE(WaitFor([&] { return store_->Active()->empty(); }));
  auto retry = Get(executor_.calls()[1].run_id);
  EXPECT_EQ(retry.status, RunStatus::kSucceeded);
  EXPECT_EQ(retry.attempt, 2);
}

TEST_F(OrchestratorTest, CanceledRunIsNotRetried) {
  auto o = Inline();
  o.inline_execution = false;
  Make({Source("raw.x")}, o, {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}, .max_attempts = 3}});
  executor_.SetBlock(true);
  auto id = orch_->Launch("compact", {}, {}, "manual");
  ASSERT_TRUE(id);
  Tick();
  ASSERT_TRUE(executor_.WaitStarted(1));
  ASSERT_TRUE(orch_->Cancel(*id));
  ASSERT_TRUE(WaitFor([&] { return Get(*id).status != RunStatus::kRunning; }));
  EXPECT_EQ(Get(*id).status, RunStatus::kCanceled);
  EXPECT_TRUE(Get(*id).cancel_requested);
  clock_.AdvanceMillis(600000);
  Tick();
  EXPECT_EQ(AllRuns().size(), 1u);
  EXPECT_EQ(executor_.count(), 1u);
  auto again = orch_->Cancel(*id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kInvalidArgument);
}

// ---------------------------------------------------------------- cancel

TEST_F(OrchestratorTest, QueuedRunCanceledOnTheNextTick) {
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(100, 1000, 0, false))}, Inline());
  auto id = orch_->Launch(kMaterializeJob, {"m.a"}, {}, "manual");
  ASSERT_TRUE(id);
  ASSERT_TRUE(orch_->Cancel(*id));
  EXPECT_EQ(Get(*id).status, RunStatus::kQueued);
  Tick();
  EXPECT_EQ(executor_.count(), 0u);
  auto r = Get(*id);
  EXPECT_EQ(r.status, RunStatus::kCanceled);
  EXPECT_EQ(r.finished_ms, kT0);
  TickFor(1000);
  EXPECT_EQ(executor_.count(), 0u);
  auto missing = orch_->Cancel(4242);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
}

TEST_F(OrchestratorTest, RunningRunCanceledFromAnotherStoreConnection) {
  TempDir dir;
  OpenStore(dir.db());
  auto o = Inline();
  o.inline_execution = false;
  Make({Source("raw.x")}, o, {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}, .max_attempts = 3}});
  executor_.SetBlock(true);
  auto id = orch_->Launch("compact", {}, {}, "manual");
  ASSERT_TRUE(id);
  Tick();
  ASSERT_TRUE(executor_.WaitStarted(1));
  auto other = SqliteRunStore::Open(dir.db());
  ASSERT_TRUE(other);
  ASSERT_TRUE((*other)->RequestCancel(*id));
  clock_.AdvanceMillis(100);
  Tick();
  ASSERT_TRUE(WaitFor([&] { return Get(*id).status != RunStatus::kRunning; }));
  EXPECT_EQ(Get(*id).status, RunStatus::kCanceled);
  Tick();
  EXPECT_EQ(AllRuns().size(), 1u);
}

// ---------------------------------------------------------------- concurrency

TEST_F(OrchestratorTest, MaxConcurrentRunsRespected) {
  auto o = Inline();
  o.inline_execution = false;
  o.max_concurrent_runs = 2;
  Make({Source("raw.a"), Source("raw.b"), Source("raw.c"), Source("raw.d")}, o,
       {Job{.name = "compact", .task = "compact", .max_attempts = 1}});
  executor_.SetBlock(true);
  std::vector<int64_t> ids;
  for (const char* t : {"raw.a", "raw.b", "raw.c", "raw.d"}) ids.push_back(*orch_->Launch("compact", {t}, {}, "manual"));
  Tick();
  ASSERT_TRUE(executor_.WaitStarted(2));
  Tick();
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(executor_.count(), 2u);
  EXPECT_EQ(Get(ids[2]).status, RunStatus::kQueued);
  executor_.Release(ids[0]);
  ASSERT_TRUE(WaitFor([&] { return Get(ids[0]).status == RunStatus::kSucceeded; }));
  Tick();
  ASSERT_TRUE(executor_.WaitStarted(3));
  EXPECT_EQ(executor_.calls()[2].run_id, ids[2]);
  executor_.ReleaseAll();
  ASSERT_TRUE(WaitFor([&] {
    EXPECT_TRUE(orch_->Tick());
    return store_->Active()->empty();
  }));
  EXPECT_EQ(executor_.count(), 4u);
  EXPECT_EQ(executor_.max_running(), 2);
}

TEST_F(OrchestratorTest, RunsSharingAnAssetNeverOverlap) {
  auto o = Inline();
  o.inline_execution = false;
  o.max_concurrent_runs = 4;
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(100, 1000, 0, false)),
        Model("m.b", {"m.a"}, Policy(100, 1000, 0, false)), Model("m.c", {"raw.x"}, Policy(100, 1000, 0, false))},
       o, {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}}, Job{.name = "compact_all", .task = "compact"}});
  executor_.SetBlock(true);
  auto r1 = *orch_->Launch(kMaterializeJob, {"m.a", "m.b"}, {}, "manual");
  auto r2 = *orch_->Launch(kMaterializeJob, {"m.b"}, {}, "manual");
  auto r3 = *orch_->Launch(kMaterializeJob, {"m.c"}, {}, "manual");
  Tick();
  ASSERT_TRUE(executor_.WaitStarted(2));
  std::this_thread::sleep_for(milliseconds(20));
  Tick();
  EXPECT_EQ(executor_.count(), 2u);
  EXPECT_EQ(Get(r2).status, RunStatus::kQueued);
  // A job over all tables (no assets listed) conflicts with everything.
  auto r4 = *orch_->Launch("compact_all", {}, {}, "manual");
  executor_.Release(r1);
  ASSERT_TRUE(WaitFor([&] { return Get(r1).status == RunStatus::kSucceeded; }));
  Tick();
  ASSERT_TRUE(executor_.WaitStarted(3));
  EXPECT_EQ(executor_.calls()[2].run_id, r2);
  std::this_thread::sleep_for(milliseconds(20));
  Tick();
  EXPECT_EQ(Get(r4).status, RunStatus::kQueued);
  executor_.ReleaseAll();
  ASSERT_TRUE(WaitFor([&] {
    EXPECT_TRUE(orch_->Tick());
    return store_->Active()->empty();
  }));
  EXPECT_EQ(executor_.count(), 4u);
  EXPECT_FALSE(executor_.overlap());
  EXPECT_EQ(Get(r3).status, RunStatus::kSucceeded);
  EXPECT_EQ(Get(r4).status, RunStatus::kSucceeded);
}

TEST_F(OrchestratorTest, RunningRunOfAnotherProcessExcludesItsAssets) {
  TempDir dir;
  OpenStore(dir.db());
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(100, 1000, 0, false))}, Inline());
  // Another live process (fresh heartbeat, another host) runs m.a.
  RunRecord theirs;
  theirs.job = kMaterializeJob;
  theirs.trigger = "manual";
  theirs.assets = {"m.a"};
  theirs.created_ms = kT0;
  auto their_id = *store_->Create(theirs);
  ASSERT_TRUE(*store_->Claim(their_id, "5@elsewhere", kT0));
  auto mine = *orch_->Launch(kMaterializeJob, {"m.a"}, {}, "manual");
  Tick();
  EXPECT_EQ(executor_.count(), 0u);
  EXPECT_EQ(Get(mine).status, RunStatus::kQueued);
  auto r = Get(their_id);
  r.status = RunStatus::kSucceeded;
  r.finished_ms = kT0 + 10;
  ASSERT_TRUE(store_->Update(r));
  Tick();
  EXPECT_EQ(executor_.count(), 1u);
}

// ---------------------------------------------------------------- crash recovery

RunRecord RunningRun(const std::string& owner, int64_t heartbeat_ms, int max_attempts = 3) {
  RunRecord r;
  r.job = "compact";
  r.trigger = "manual";
  r.assets = {"raw.x"};
  r.status = RunStatus::kRunning;
  r.max_attempts = max_attempts;
  r.created_ms = heartbeat_ms;
  r.started_ms = heartbeat_ms;
  r.owner = owner;
  r.heartbeat_ms = heartbeat_ms;
  return r;
}

TEST_F(OrchestratorTest, DeadOwnerOnThisHostIsInterruptedAndRetried) {
  Make({Source("raw.x")}, Inline(), {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}}});
  auto id = *store_->Create(RunningRun("999999@" + Host(), kT0));
  ASSERT_TRUE(orch_->Recover());
  auto r = Get(id);
  EXPECT_EQ(r.status, RunStatus::kInterrupted);
  EXPECT_NE(r.error.find("999999@"), std::string::npos);
  auto runs = AllRuns();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].status, RunStatus::kQueued);
  EXPECT_EQ(runs[1].attempt, 2);
  EXPECT_EQ(runs[1].not_before_ms, kT0);  // no backoff after an interruption
  Tick();
  ASSERT_EQ(executor_.count(), 1u);
  EXPECT_EQ(executor_.calls()[0].run_id, runs[1].id);
  EXPECT_EQ(Get(runs[1].id).status, RunStatus::kSucceeded);
}

TEST_F(OrchestratorTest, DeadOwnerFoundByTickToo) {
  Make({Source("raw.x")}, Inline(), {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}}});
  auto id = *store_->Create(RunningRun("999999@" + Host(), kT0));
  Tick();
  EXPECT_EQ(Get(id).status, RunStatus::kInterrupted);
  Tick();
  EXPECT_EQ(executor_.count(), 1u);
}

TEST_F(OrchestratorTest, StaleHeartbeatOfAnotherHostIsInterrupted) {
  auto o = Inline();
  o.heartbeat_timeout_ms = 60000;
  Make({Source("raw.x")}, o, {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}}});
  auto id = *store_->Create(RunningRun("7@elsewhere", kT0 - 30000));
  Tick();
  EXPECT_EQ(Get(id).status, RunStatus::kRunning);
  EXPECT_EQ(executor_.count(), 0u);
  clock_.AdvanceMillis(30001);
  Tick();
  EXPECT_EQ(Get(id).status, RunStatus::kInterrupted);
  Tick();
  EXPECT_EQ(executor_.count(), 1u);
}

TEST_F(OrchestratorTest, LiveOwnerIsLeftAlone) {
  Make({Source("raw.x")}, Inline(), {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}}});
  // The parent process: alive on this host.
  auto same_host = *store_->Create(RunningRun(std::to_string(getppid()) + "@" + Host(), kT0));
  auto other_host = *store_->Create(RunningRun("999999@elsewhere", kT0));
  ASSERT_TRUE(orch_->Recover());
  TickFor(10000, 1000);
  EXPECT_EQ(Get(same_host).status, RunStatus::kRunning);
  EXPECT_EQ(Get(other_host).status, RunStatus::kRunning);
  EXPECT_EQ(executor_.count(), 0u);
  EXPECT_EQ(AllRuns().size(), 2u);
}

TEST_F(OrchestratorTest, OwnRunFromBeforeARestartIsInterrupted) {
  Make({Source("raw.x")}, Inline(), {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}}});
  auto id = *store_->Create(RunningRun("100@" + Host(), kT0));
  ASSERT_TRUE(orch_->Recover());
  EXPECT_EQ(Get(id).status, RunStatus::kInterrupted);
  Tick();
  EXPECT_EQ(executor_.count(), 1u);
}

TEST_F(OrchestratorTest, StopInterruptsAndTheNextInstanceRetries) {
  TempDir dir;
  OpenStore(dir.db());
  auto o = Inline();
  o.inline_execution = false;
  o.owner = "1@a";
  Make({Source("raw.x")}, o, {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}, .max_attempts = 3}});
  executor_.SetBlock(true);
  auto id = *orch_->Launch("compact", {}, {}, "manual");
  Tick();
  ASSERT_TRUE(executor_.WaitStarted(1));
  orch_->Stop();
  auto r = Get(id);
  EXPECT_EQ(r.status, RunStatus::kInterrupted);
  auto runs = AllRuns();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].status, RunStatus::kQueued);
  executor_.SetBlock(false);
  // The next process, on its own connection to the same file.
  auto o2 = Inline();
  o2.owner = "2@a";
  orch_.reset();
  auto s = SqliteRunStore::Open(dir.db());
  ASSERT_TRUE(s);
  store_ = std::move(*s);
  Remake(o2);
  ASSERT_TRUE(orch_->Recover());
  Tick();
  ASSERT_EQ(executor_.count(), 2u);
  EXPECT_EQ(executor_.calls()[1].run_id, runs[1].id);
  EXPECT_EQ(executor_.calls()[1].attempt, 2);
  EXPECT_EQ(Get(runs[1].id).status, RunStatus::kSucceeded);
  EXPECT_EQ(Get(runs[1].id).owner, "2@a");
}

TEST_F(OrchestratorTest, BackgroundThreadTicksAndStops) {
  auto o = Inline();
  o.inline_execution = false;
  o.poll_interval_ms = 10;
  Make({Source("raw.x")}, o, {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}}});
  orch_->Start();
  auto id = *orch_->Launch("compact", {}, {}, "manual");
  ASSERT_TRUE(WaitFor([&] { return Get(id).status == RunStatus::kSucceeded; }));
  orch_->Stop();
  orch_->Stop();
}

// ---------------------------------------------------------------- schedules

TEST_F(OrchestratorTest, ScheduleFiresAtCronTimeInItsZone) {
  // 02:00 in Berlin (CEST, UTC+2) is 00:00 UTC.
  clock_.SetMillis(UtcMs(2024, 4, 30, 23, 58));
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(100, 1000, 0, false))}, Inline(),
       {Job{.name = "nightly", .task = "compact", .assets = {"raw.x"}}},
       {Schedule{.name = "berlin", .cron = "0 2 * * *", .time_zone = "Europe/Berlin", .job = "nightly"}});
  EXPECT_EQ(orch_->NextFires().at("berlin"), UtcMs(2024, 5, 1, 0, 0));
  Tick();
  clock_.AdvanceMillis(60000);
  Tick();
  clock_.AdvanceMillis(59999);
  Tick();
  EXPECT_EQ(executor_.count(), 0u);
  clock_.AdvanceMillis(1);
  Tick();
  ASSERT_EQ(executor_.count(), 1u);
  EXPECT_EQ(executor_.calls()[0].job, "nightly");
  EXPECT_EQ(executor_.calls()[0].trigger, "schedule:berlin");
  EXPECT_EQ(executor_.calls()[0].assets, (Strings{"raw.x"}));
  TickFor(3600000, 60000);
  EXPECT_EQ(executor_.count(), 1u);
  EXPECT_EQ(orch_->NextFires().at("berlin"), UtcMs(2024, 5, 2, 0, 0));
}

TEST_F(OrchestratorTest, MissedFiresWhileStoppedRunOnce) {
  TempDir dir;
  OpenStore(dir.db());
  Make({Source("raw.x")}, Inline(), {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}}},
       {Schedule{.name = "every10", .cron = "*/10 * * * *", .job = "compact"}});
  Tick();  // starts tracking at 00:00
  orch_.reset();
  clock_.AdvanceMillis(3600000 + 5000);  // 01:00:05: six fire times missed
  auto s = SqliteRunStore::Open(dir.db());
  ASSERT_TRUE(s);
  store_ = std::move(*s);
  Remake(Inline());
  ASSERT_TRUE(orch_->Recover());
  Tick();
  ASSERT_EQ(executor_.count(), 1u);
  auto id = executor_.calls()[0].run_id;
  bool logged = false;
  for (const auto& l : LogText(id)) logged = logged || l.find("6 fire times since the last check") != std::string::npos;
  EXPECT_TRUE(logged);
  Tick();
  EXPECT_EQ(executor_.count(), 1u);
}

TEST_F(OrchestratorTest, NewScheduleDoesNotFireForThePast) {
  clock_.SetMillis(UtcMs(2024, 3, 1, 3, 0, 30));  // just after 03:00
  Make({Source("raw.x")}, Inline(), {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}}},
       {Schedule{.name = "s", .cron = "0 3 * * *", .job = "compact"},
        Schedule{.name = "off", .cron = "* * * * *", .job = "compact", .enabled = false}});
  Tick();
  TickFor(600000, 60000);
  EXPECT_EQ(executor_.count(), 0u);
  EXPECT_EQ(orch_->NextFires().at("off"), 0);
}

TEST_F(OrchestratorTest, ScheduleSkippedWhileItsPreviousRunIsActive) {
  auto o = Inline();
  o.inline_execution = false;
  Make({Source("raw.x")}, o, {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}, .max_attempts = 1}},
       {Schedule{.name = "minutely", .cron = "* * * * *", .job = "compact"}});
  executor_.SetBlock(true);
  Tick();
  clock_.AdvanceMillis(60000);
  Tick();
  ASSERT_TRUE(executor_.WaitStarted(1));
  clock_.AdvanceMillis(60000);
  Tick();
  clock_.AdvanceMillis(60000);
  Tick();
  EXPECT_EQ(AllRuns().size(), 1u);
  executor_.ReleaseAll();
  ASSERT_TRUE(WaitFor([&] { return store_->Active()->empty(); }));
  clock_.AdvanceMillis(60000);
  Tick();
  EXPECT_EQ(AllRuns().size(), 2u);
}

TEST_F(OrchestratorTest, ScheduleSkippedWhileARetryOfItsRunIsPending) {
  auto o = Inline();
  o.retry_backoff_ms = 300000;
  Make({Source("raw.x")}, o, {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}, .max_attempts = 3}},
       {Schedule{.name = "minutely", .cron = "* * * * *", .job = "compact"}});
  executor_.Fail("raw.x", -1);
  Tick();
  clock_.AdvanceMillis(60000);
  Tick();
  ASSERT_EQ(executor_.count(), 1u);
  ASSERT_EQ(AllRuns().size(), 2u);  // the failed run and its retry, waiting for its backoff
  TickFor(120000, 60000);
  EXPECT_EQ(AllRuns().size(), 2u);
}

TEST_F(OrchestratorTest, DaylightSavingDaysFireOnce) {
  // New York, 2024-03-10: 02:30 does not exist (fires at 03:00 EDT = 07:00 UTC).
  clock_.SetMillis(UtcMs(2024, 3, 10, 4, 0));
  Make({Source("raw.x")}, Inline(), {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}}},
       {Schedule{.name = "ny", .cron = "30 2 * * *", .time_zone = "America/New_York", .job = "compact"}});
  Tick();
  std::vector<int64_t> fired;
  for (int i = 0; i < 6 * 6; ++i) {
    clock_.AdvanceMillis(5 * 60000);
    size_t before = executor_.count();
    Tick();
    if (executor_.count() > before) fired.push_back(clock_.NowMillis());
  }
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0], UtcMs(2024, 3, 10, 7, 0));
}

TEST_F(OrchestratorTest, FallBackDayFiresOnce) {
  // Berlin, 2024-10-27: 02:30 happens twice (CEST 00:30 UTC, CET 01:30 UTC); fires at the first.
  clock_.SetMillis(UtcMs(2024, 10, 26, 22, 0));
  Make({Source("raw.x")}, Inline(), {Job{.name = "compact", .task = "compact", .assets = {"raw.x"}}},
       {Schedule{.name = "be", .cron = "30 2 * * *", .time_zone = "Europe/Berlin", .job = "compact"}});
  Tick();
  std::vector<int64_t> fired;
  for (int i = 0; i < 12 * 6; ++i) {
    clock_.AdvanceMillis(5 * 60000);
    size_t before = executor_.count();
    Tick();
    if (executor_.count() > before) fired.push_back(clock_.NowMillis());
  }
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0], UtcMs(2024, 10, 27, 0, 30));
}

// ---------------------------------------------------------------- state and metrics

TEST_F(OrchestratorTest, AssetsReportStaleAndOverdue) {
  AutomationPolicy p = Policy(100, 1000, 0, false);
  p.freshness_target_ms = 5000;
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, p)}, Inline());
  observer_.Set("raw.x", "1");
  ASSERT_TRUE(orch_->Launch(kMaterializeJob, {"m.a"}, {}, "manual"));
  Tick();
  ASSERT_EQ(executor_.count(), 1u);
  auto fresh = *Find(orch_->Assets(), "m.a");
  EXPECT_FALSE(fresh.stale);
  EXPECT_FALSE(fresh.overdue);
  EXPECT_EQ(fresh.last_success_ms, kT0);
  EXPECT_EQ(fresh.last_status, "succeeded");
  EXPECT_EQ(fresh.runs, 1);
  auto raw = *Find(orch_->Assets(), "raw.x");
  EXPECT_EQ(raw.kind, AssetKind::kSource);
  EXPECT_EQ(raw.version, "1");
  observer_.Set("raw.x", "2");
  Tick();
  const int64_t changed = clock_.NowMillis();
  TickFor(5000, 1000);
  auto stale = *Find(orch_->Assets(), "m.a");
  EXPECT_TRUE(stale.stale);
  EXPECT_EQ(stale.stale_since_ms, changed);
  EXPECT_FALSE(stale.overdue);
  TickFor(1000, 1000);
  EXPECT_TRUE(Find(orch_->Assets(), "m.a")->overdue);
  auto id = *orch_->Launch(kMaterializeJob, {"m.a"}, {}, "manual");
  EXPECT_TRUE(Find(orch_->Assets(), "m.a")->active);
  Tick();
  EXPECT_EQ(Get(id).status, RunStatus::kSucceeded);
  Tick();
  auto after = *Find(orch_->Assets(), "m.a");
  EXPECT_FALSE(after.stale);
  EXPECT_FALSE(after.overdue);
  EXPECT_FALSE(after.active);
}

TEST_F(OrchestratorTest, MetricsText) {
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(100, 1000, 0, false)),
        Model("m.b", {"raw.x"}, Policy(100, 1000, 0, false))},
       Inline());
  observer_.Set("raw.x", "1");
  executor_.Fail("m.b", 1);
  ASSERT_TRUE(orch_->Launch(kMaterializeJob, {"m.a"}, {}, "manual"));
  ASSERT_TRUE(orch_->Launch(kMaterializeJob, {"m.b"}, {}, "manual"));
  Tick();
  ASSERT_EQ(executor_.count(), 2u);
  clock_.AdvanceMillis(1000);
  ASSERT_TRUE(orch_->Launch(kMaterializeJob, {"m.b"}, {}, "manual"));
  Tick();
  observer_.Set("raw.x", "2");
  Tick();
  clock_.AdvanceMillis(2500);
  Tick();
  ASSERT_TRUE(orch_->Launch(kMaterializeJob, {"m.a"}, {}, "manual"));  // queued, not ticked
  std::string text = orch_->MetricsText();
  auto has = [&](const std::string& line) {
    EXPECT_NE(text.find(line + "\n"), std::string::npos) << "missing: " << line << "\n" << text;
  };
  has("# TYPE frazil_asset_stale_seconds gauge");
  has("frazil_asset_stale_seconds{asset=\"m.a\"} 2.500000");
  has("frazil_asset_stale_seconds{asset=\"m.b\"} 2.500000");
  has("frazil_asset_runs_total{asset=\"m.a\"} 1.000000");
  has("frazil_asset_runs_total{asset=\"m.b\"} 2.000000");
  has("frazil_asset_failures_total{asset=\"m.a\"} 0.000000");
  has("frazil_asset_failures_total{asset=\"m.b\"} 1.000000");
  has("frazil_asset_overdue{asset=\"m.a\"} 0.000000");
  has("frazil_asset_last_success_timestamp_seconds{asset=\"m.b\"} " + std::to_string((kT0 + 1000) / 1000.0));
  has("frazil_runs_queued 1");
  has("frazil_runs_running 0");
  EXPECT_EQ(text.find("asset=\"raw.x\""), std::string::npos);
  EXPECT_NE(text.find("frazil_orchestrator_ticks_total 4"), std::string::npos) << text;
}

TEST_F(OrchestratorTest, ConsumedStateSurvivesARestart) {
  TempDir dir;
  OpenStore(dir.db());
  Make({Source("raw.x"), Model("m.a", {"raw.x"}, Policy(100, 1000))}, Inline());
  observer_.Set("raw.x", "1");
  Tick();
  TickFor(100);
  ASSERT_EQ(executor_.count(), 1u);
  auto o = Inline();
  o.owner = "101@" + Host();
  Remake(o);
  ASSERT_TRUE(orch_->Recover());
  TickFor(5000);
  EXPECT_EQ(executor_.count(), 1u);  // nothing changed: nothing to do
  EXPECT_EQ(Find(orch_->Assets(), "m.a")->runs, 1);
  observer_.Set("raw.x", "2");
  Tick();
  TickFor(100);
  EXPECT_EQ(executor_.count(), 2u);
}

}  // namespace
}  // namespace frazil::orchestrator
