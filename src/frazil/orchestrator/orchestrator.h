// The orchestrator: keeps models fresh and runs jobs on schedules, next to CDC in `frazil
// run` (docs/orchestrator.md).
//
// Every tick it
//  1. applies cancel requests (also ones written by other processes into the run store) and
//     timeouts to active runs;
//  2. asks the AssetObserver for each asset's data version (a table's last snapshot that
//     changed rows) and finds the models whose inputs changed since they last consumed them;
//     once a model's upstream has been quiet for its debounce (or its max delay passed since
//     the first unconsumed change) it joins one run with everything downstream of it, in
//     dependency order, so a burst of upstream commits costs one run per model;
//  3. queues a run for every schedule whose cron fired since the last tick (missed fires while
//     stopped become one run);
//  4. starts queued runs whose backoff has passed, up to the concurrency limit, never two runs
//     writing the same asset at once.
// A run that fails is retried with exponential backoff (its failed and unfinished assets
// only); a run left running by a crashed process is marked interrupted and retried.
//
// Time comes from the injected Clock; tests call Tick() directly with inline execution.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "frazil/base/clock.h"
#include "frazil/base/result.h"
#include "frazil/orchestrator/asset_graph.h"
#include "frazil/orchestrator/cron.h"
#include "frazil/orchestrator/run_store.h"

namespace frazil::orchestrator {

// The built-in job that materializes a selection of model assets (sensor runs, `frazil
// materialize`).
inline constexpr const char* kMaterializeJob = "materialize";

// A named piece of work a schedule or a user can launch.
struct Job {
  std::string name;
  // "materialize": run the models in `assets` (all models if empty); anything else is a
  // task the Executor knows (maintenance: "compact", "expire-snapshots", ...).
  std::string task = kMaterializeJob;
  std::vector<std::string> assets;  // models to run / tables to maintain (empty: all)
  std::map<std::string, std::string> params;
  int max_attempts = 3;             // 1 = no retry
  int64_t timeout_ms = 0;           // 0 = none
  std::string description;
};

struct Schedule {
  std::string name;
  std::string cron;                 // docs/schedules.md
  std::string time_zone = "UTC";
  std::string job;                  // a Job's name
  bool enabled = true;
};

// Reports the current data version of assets. Called from the orchestrator's thread and its
// run threads: must be thread-safe.
class AssetObserver {
 public:
  virtual ~AssetObserver() = default;
  // Version string per asset key (absent: the table does not exist yet). Equal strings mean
  // unchanged rows. Errors are logged and the tick skips sensors.
  virtual Result<std::map<std::string, std::string>> Versions() = 0;
};

// What a running run can see and say.
class RunContext {
 public:
  virtual ~RunContext() = default;
  virtual const RunRecord& run() const = 0;
  // True once the run is cancelled or timed out: stop at the next safe point and return.
  virtual bool cancelled() const = 0;
  // The flag behind cancelled(), for code that polls a std::atomic<bool> (interrupting a
  // query, the model runner).
  virtual const std::atomic<bool>& cancel_flag() const = 0;
  // A line of the run's log (stored, and written to the process log with the run id).
  virtual void Log(LogLevel level, const std::string& message) = 0;
  // Per-asset outcomes: which assets of the run completed or failed.
  virtual void AssetSucceeded(const std::string& key) = 0;
  virtual void AssetFailed(const std::string& key, const std::string& message) = 0;
};

// Executes runs. Execute is called on a run thread (several at once up to the concurrency
// limit, never two for the same asset) and must be thread-safe.
class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `run` of `job`; Ok when everything in it succeeded. Report per-asset outcomes
  // through `ctx` (the assets of a failed run that were not reported as succeeded are
  // retried). Return promptly when ctx.cancelled().
  virtual Status Execute(const Job& job, RunContext& ctx) = 0;
};

struct OrchestratorOptions {
  int max_concurrent_runs = 2;
  int64_t poll_interval_ms = 1000;   // sensors and schedules are evaluated at least this often
  int64_t retry_backoff_ms = 5000;   // first retry's delay; doubles per attempt
  int64_t max_backoff_ms = 300000;
  int sensor_max_attempts = 3;       // attempts of sensor-triggered runs
  int64_t heartbeat_timeout_ms = 60000;  // a running run not heard of this long belongs to a dead process
  std::string owner;                 // "pid@host"; default: this process
  bool inline_execution = false;     // tests: Tick() runs started runs to completion itself
  bool sensors = true;               // false: Tick() queues no sensor runs (CLI processes)
  bool schedules = true;             // false: Tick() queues no scheduled runs
};

struct AssetState {
  std::string key;
  AssetKind kind = AssetKind::kSource;
  std::string version;                  // current data version ("" unknown / missing)
  bool stale = false;                   // a model with inputs it has not consumed
  int64_t stale_since_ms = 0;           // first unconsumed upstream change seen
  bool overdue = false;                 // stale longer than its freshness target
  int64_t last_success_ms = 0;
  int64_t last_run_id = 0;
  std::string last_status;              // of the last run that included it
  int64_t last_duration_ms = 0;
  int64_t runs = 0, failures = 0;       // since the store was created
  bool active = false;                  // in a queued or running run
};

class Orchestrator {
 public:
  // Errors: InvalidArgument for a schedule with a bad cron expression, unknown time zone or
  // unknown job, or a job naming an unknown asset.
  static Result<std::unique_ptr<Orchestrator>> Make(AssetGraph graph, std::vector<Job> jobs,
                                                    std::vector<Schedule> schedules, RunStore& store,
                                                    Executor& executor, AssetObserver& observer, const Clock& clock,
                                                    OrchestratorOptions options);
  ~Orchestrator();  // Stop()s
  Orchestrator(const Orchestrator&) = delete;
  Orchestrator& operator=(const Orchestrator&) = delete;

  // Marks runs left running by a process that is gone (owner not heard of within the
  // heartbeat timeout, or this owner's own from before a restart) as interrupted and queues
  // their retries. Call once before the first Tick. Errors: the store's.
  Status Recover();
  // One evaluation (see the file comment). Errors: the store's (the tick is then retried).
  Status Tick();
  // Ticks on a background thread every poll interval, sooner after Wake().
  void Start();
  // Makes the background thread tick now (e.g. after a CDC commit).
  void Wake();
  // Stops ticking; asks running runs to stop and waits for them (they end as interrupted and
  // are retried by the next Recover).
  void Stop();

  // Queues a run of `job` (kMaterializeJob: `assets` are the models to run, their
  // downstream models too when `with_downstream`). Returns the run id.
  // Errors: InvalidArgument for an unknown job or asset, or a non-model asset to materialize.
  Result<int64_t> Launch(const std::string& job, std::vector<std::string> assets, std::map<std::string, std::string> params,
                         const std::string& trigger, bool with_downstream = false);
  // Reads the assets' versions and recomputes which models are stale, queueing nothing
  // (for Assets() in a process that does not orchestrate). Errors: the observer's, the store's.
  Status Observe();
  // Runs the queued run `run_id` on this thread now, if it is still queued (another process
  // may have started it: then false). Returns whether it ran here. Errors: the store's.
  Result<bool> RunNow(int64_t run_id);
  // Cancels a queued or running run. Errors: NotFound; InvalidArgument if it has finished.
  Status Cancel(int64_t run_id);

  std::vector<AssetState> Assets();
  const AssetGraph& graph() const { return graph_; }
  const std::vector<Job>& jobs() const { return jobs_; }
  const std::vector<Schedule>& schedules() const { return schedules_; }
  // The next fire time of each schedule (ms since the epoch; 0 if none).
  std::map<std::string, int64_t> NextFires();
  // Prometheus text exposition of the per-asset and orchestrator metrics.
  std::string MetricsText();
  RunStore& store() { return store_; }

 private:
  struct Active;
  class Context;
  Orchestrator(AssetGraph graph, std::vector<Job> jobs, std::vector<Schedule> schedules, RunStore& store,
               Executor& executor, AssetObserver& observer, const Clock& clock, OrchestratorOptions options);
  const Job* FindJob(const std::string& name) const;
  // The job a run executes (its assets and params filled in); nullopt for an unknown job.
  std::optional<Job> JobOf(const RunRecord& r) const;
  // Registers a claimed run as active here (mu_ held) and returns it.
  std::shared_ptr<Active> AddActive(const RunRecord& r, Job job, int64_t started);
  // Whether runs of `job` materialize models (kMaterializeJob or a job with that task).
  bool IsMaterialize(const std::string& job) const;
  Status ApplyCancelsAndTimeouts(int64_t now);
  Status EvaluateSensors(int64_t now, bool queue_runs = true);
  Status EvaluateSchedules(int64_t now);
  Status Dispatch(int64_t now);
  void RunThread(std::shared_ptr<Active> active);
  void Finish(Active& active, Status result);
  Status QueueRetry(const RunRecord& run, int64_t now);
  Status LoadAssetState(const std::string& key);
  Status SaveAssetState(const std::string& key);
  void Reap();

  AssetGraph graph_;
  std::vector<Job> jobs_;
  std::vector<Schedule> schedules_;
  std::vector<CronSchedule> crons_;
  std::vector<TimeZone> zones_;
  RunStore& store_;
  Executor& executor_;
  AssetObserver& observer_;
  const Clock& clock_;
  OrchestratorOptions options_;

  std::mutex mu_;  // guards everything below
  std::map<std::string, std::string> versions_;         // last observed
  std::map<std::string, int64_t> changed_ms_;           // when each asset's version last changed
  struct Consumed {
    std::map<std::string, std::string> inputs;  // upstream versions at its last success
    std::map<std::string, std::string> failed_inputs;  // at its last failure (no re-trigger until they move)
    bool held = false;                                  // failed_inputs applies (also with no inputs)
    int64_t last_success_ms = 0, last_start_ms = 0, last_run_id = 0, last_duration_ms = 0;
    std::string last_status;
    int64_t runs = 0, failures = 0;
    int64_t stale_since_ms = 0;
    int64_t waiting_since_ms = 0;  // first tick it could run for its unconsumed changes (max delay)
    bool stale = false;
    bool loaded = false;
  };
  std::map<std::string, Consumed> consumed_;
  std::map<int64_t, std::shared_ptr<Active>> active_;
  std::vector<std::shared_ptr<Active>> finished_;
  bool observed_once_ = false;
  int64_t next_due_ms_ = 0;  // when the next debouncing model becomes due (0: none)
  int64_t ticks_ = 0;
  int64_t tick_nanos_ = 0;
  int64_t observe_errors_ = 0;

  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool wake_ = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace frazil::orchestrator
