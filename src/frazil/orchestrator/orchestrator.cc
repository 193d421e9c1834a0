#include "frazil/orchestrator/orchestrator.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

namespace frazil::orchestrator {

namespace {

std::string DefaultOwner() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = 0;
  return std::to_string(getpid()) + "@" + host;
}

// Whether the process named by an owner "pid@host" is known to be gone: same host, no such
// pid. Another host's process is judged by its heartbeat only.
bool OwnerIsGone(const std::string& owner, const std::string& self) {
  auto at = owner.find('@');
  auto self_at = self.find('@');
  if (at == std::string::npos || self_at == std::string::npos) return false;
  if (owner.substr(at) != self.substr(self_at)) return false;
  if (owner == self) return false;
  pid_t pid = 0;
  try {
    pid = static_cast<pid_t>(std::stol(owner.substr(0, at)));
  } catch (const std::exception&) {
    return false;
  }
  return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

// Whether two runs may write the same table. A run listing no assets (a maintenance job over
// every table) may write any.
bool Overlaps(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() || b.empty()) return true;
  for (const auto& x : a) {
    if (std::find(b.begin(), b.end(), x) != b.end()) return true;
  }
  return false;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string EscapeLabel(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

struct Orchestrator::Active {
  RunRecord run;
  Job job;
  std::atomic<bool> cancel{false};
  std::atomic<RunStatus> cancel_as{RunStatus::kCanceled};
  std::map<std::string, std::string> start_versions;
  std::mutex mu;  // guards succeeded / failed
  std::set<std::string> succeeded, failed;
  std::thread thread;
  std::atomic<bool> done{false};
};

class Orchestrator::Context final : public RunContext {
 public:
  Context(Orchestrator& o, Active& a) : o_(o), a_(a) {}
  const RunRecord& run() const override { return a_.run; }
  bool cancelled() const override { return a_.cancel.load(); }
  const std::atomic<bool>& cancel_flag() const override { return a_.cancel; }
  void Log(LogLevel level, const std::string& message) override {
    frazil::Log(level, message, {{"run", std::to_string(a_.run.id)}, {"job", a_.run.job}});
    auto s = o_.store_.AppendLog(a_.run.id, o_.clock_.NowMillis(), level, message);
    if (!s) frazil::Log(LogLevel::kWarn, "writing a run's log failed", {{"run", std::to_string(a_.run.id)}, {"error", s.error().message}});
  }
  void AssetSucceeded(const std::string& key) override {
    std::lock_guard lock(a_.mu);
    a_.succeeded.insert(key);
    a_.failed.erase(key);
  }
  void AssetFailed(const std::string& key, const std::string& message) override {
    {
      std::lock_guard lock(a_.mu);
      a_.failed.insert(key);
      a_.succeeded.erase(key);
    }
    Log(LogLevel::kError, key + " failed: " + message);
  }

 private:
  Orchestrator& o_;
  Active& a_;
};

Orchestrator::Orchestrator(AssetGraph graph, std::vector<Job> jobs, std::vector<Schedule> schedules, RunStore& store,
                           Executor& executor, AssetObserver& observer, const Clock& clock, OrchestratorOptions options)
    : graph_(std::move(graph)),
      jobs_(std::move(jobs)),
      schedules_(std::move(schedules)),
      store_(store),
      executor_(executor),
      observer_(observer),
      clock_(clock),
      options_(std::move(options)) {
  if (options_.owner.empty()) options_.owner = DefaultOwner();
  if (options_.max_concurrent_runs < 1) options_.max_concurrent_runs = 1;
}

Orchestrator::~Orchestrator() { Stop(); }

Result<std::unique_ptr<Orchestrator>> Orchestrator::Make(AssetGraph graph, std::vector<Job> jobs,
                                                         std::vector<Schedule> schedules, RunStore& store,
                                                         Executor& executor, AssetObserver& observer, const Clock& clock,
                                                         OrchestratorOptions options) {
  std::set<std::string> names;
  for (const auto& j : jobs) {
    if (j.name.empty() || j.name == kMaterializeJob) {
      return MakeError(ErrorKind::kInvalidArgument, "a job needs a name other than '" + std::string(kMaterializeJob) + "'");
    }
    if (!names.insert(j.name).second) return MakeError(ErrorKind::kInvalidArgument, "job " + j.name + " is defined twice");
    for (const auto& a : j.assets) {
      const Asset* asset = graph.Find(a);
      if (!asset) return MakeError(ErrorKind::kInvalidArgument, "job " + j.name + " names unknown asset " + a);
      if (j.task == kMaterializeJob && asset->kind != AssetKind::kModel) {
        return MakeError(ErrorKind::kInvalidArgument,
                         "job " + j.name + " materializes " + a + ", which is not a model");
      }
    }
  }
  std::unique_ptr<Orchestrator> o(new Orchestrator(std::move(graph), std::move(jobs), std::move(schedules), store, executor,
                                                   observer, clock, std::move(options)));
  std::set<std::string> schedule_names;
  for (const auto& s : o->schedules_) {
    if (!schedule_names.insert(s.name).second) {
      return MakeError(ErrorKind::kInvalidArgument, "schedule " + s.name + " is defined twice");
    }
    auto cron = CronSchedule::Parse(s.cron);
    if (!cron) return MakeError(ErrorKind::kInvalidArgument, "schedule " + s.name + ": " + cron.error().message);
    auto zone = TimeZone::Load(s.time_zone);
    if (!zone) return MakeError(ErrorKind::kInvalidArgument, "schedule " + s.name + ": " + zone.error().message);
    if (s.job != kMaterializeJob && !o->FindJob(s.job)) {
      return MakeError(ErrorKind::kInvalidArgument, "schedule " + s.name + " runs unknown job '" + s.job + "'");
    }
    o->crons_.push_back(std::move(*cron));
    o->zones_.push_back(std::move(*zone));
  }
  return o;
}

const Job* Orchestrator::FindJob(const std::string& name) const {
  for (const auto& j : jobs_) {
    if (j.name == name) return &j;
  }
  return nullptr;
}

bool Orchestrator::IsMaterialize(const std::string& job) const {
  if (job == kMaterializeJob) return true;
  const Job* j = FindJob(job);
  return j && j->task == kMaterializeJob;
}

std::optional<Job> Orchestrator::JobOf(const RunRecord& r) const {
  Job job;
  if (r.job == kMaterializeJob) {
    job.name = kMaterializeJob;
    job.task = kMaterializeJob;
  } else if (const Job* j = FindJob(r.job)) {
    job = *j;
  } else {
    return std::nullopt;
  }
  job.assets = r.assets;
  for (const auto& [k, v] : r.params) job.params[k] = v;
  return job;
}

std::shared_ptr<Orchestrator::Active> Orchestrator::AddActive(const RunRecord& r, Job job, int64_t started) {
  auto active = std::make_shared<Active>();
  active->run = r;
  active->run.status = RunStatus::kRunning;
  active->run.owner = options_.owner;
  active->run.started_ms = started;
  active->run.heartbeat_ms = started;
  active->job = std::move(job);
  active->start_versions = versions_;
  for (const auto& a : r.assets) {
    if (graph_.Find(a) && graph_.Find(a)->kind == AssetKind::kModel) consumed_[a].last_start_ms = started;
  }
  active_[r.id] = active;
  return active;
}

Status Orchestrator::LoadAssetState(const std::string& key) {
  auto& c = consumed_[key];
  if (c.loaded) return Ok();
  FRZ_ASSIGN_OR_RETURN(auto text, store_.GetState("asset:" + key));
  c.loaded = true;
  if (!text) return Ok();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    Log(LogLevel::kWarn, "ignoring unreadable orchestrator state", {{"asset", key}});
    return Ok();
  }
  try {
    c.inputs = j.value("inputs", std::map<std::string, std::string>{});
    c.failed_inputs = j.value("failed_inputs", std::map<std::string, std::string>{});
    c.held = j.value("held", !c.failed_inputs.empty());
    c.last_success_ms = j.value("last_success_ms", int64_t{0});
    c.last_start_ms = j.value("last_start_ms", int64_t{0});
    c.last_run_id = j.value("last_run_id", int64_t{0});
    c.last_duration_ms = j.value("last_duration_ms", int64_t{0});
    c.last_status = j.value("last_status", std::string());
    c.runs = j.value("runs", int64_t{0});
    c.failures = j.value("failures", int64_t{0});
  } catch (const std::exception& e) {
    Log(LogLevel::kWarn, "ignoring unreadable orchestrator state", {{"asset", key}, {"error", e.what()}});
  }
  return Ok();
}

Status Orchestrator::SaveAssetState(const std::string& key) {
  const auto& c = consumed_[key];
  nlohmann::json j = {{"inputs", c.inputs},
                      {"failed_inputs", c.failed_inputs},
                      {"held", c.held},
                      {"last_success_ms", c.last_success_ms},
                      {"last_start_ms", c.last_start_ms},
                      {"last_run_id", c.last_run_id},
                      {"last_duration_ms", c.last_duration_ms},
                      {"last_status", c.last_status},
                      {"runs", c.runs},
                      {"failures", c.failures}};
  return store_.PutState("asset:" + key, j.dump());
}

Status Orchestrator::Recover() {
  const int64_t now = clock_.NowMillis();
  FRZ_ASSIGN_OR_RETURN(auto runs, store_.Active());
  std::lock_guard lock(mu_);
  for (auto& r : runs) {
    if (r.status != RunStatus::kRunning || active_.count(r.id)) continue;
    bool gone = r.owner == options_.owner || OwnerIsGone(r.owner, options_.owner) ||
                now - r.heartbeat_ms > options_.heartbeat_timeout_ms;
    if (!gone) continue;
    r.status = RunStatus::kInterrupted;
    r.finished_ms = now;
    r.error = "interrupted: the process running it (" + r.owner + ") stopped before it finished";
    FRZ_RETURN_IF_ERROR(store_.Update(r));
    FRZ_RETURN_IF_ERROR(store_.AppendLog(r.id, now, LogLevel::kWarn, r.error));
    Log(LogLevel::kWarn, "run was interrupted", {{"run", std::to_string(r.id)}, {"owner", r.owner}});
    if (r.attempt < r.max_attempts) FRZ_RETURN_IF_ERROR(QueueRetry(r, now));
  }
  return Ok();
}

Status Orchestrator::QueueRetry(const RunRecord& run, int64_t now) {
  RunRecord next;
  next.job = run.job;
  next.trigger = "retry";
  next.params = run.params;
  next.attempt = run.attempt + 1;
  next.max_attempts = run.max_attempts;
  next.retry_of = run.id;
  next.timeout_ms = run.timeout_ms;
  next.created_ms = now;
  if (IsMaterialize(run.job)) {
    for (const auto& a : run.assets) {
      if (std::find(run.succeeded.begin(), run.succeeded.end(), a) == run.succeeded.end()) next.assets.push_back(a);
    }
    if (next.assets.empty()) return Ok();
  } else {
    next.assets = run.assets;
  }
  int64_t backoff = 0;
  if (run.status != RunStatus::kInterrupted) {
    backoff = options_.retry_backoff_ms;
    for (int i = 1; i < run.attempt && backoff < options_.max_backoff_ms; ++i) backoff *= 2;
    backoff = std::min(backoff, options_.max_backoff_ms);
  }
  next.not_before_ms = now + backoff;
  FRZ_ASSIGN_OR_RETURN(int64_t id, store_.Create(next));
  FRZ_RETURN_IF_ERROR(store_.AppendLog(run.id, now, LogLevel::kInfo,
                                       "retry queued as run " + std::to_string(id) + " (attempt " +
                                           std::to_string(next.attempt) + " of " + std::to_string(next.max_attempts) +
                                           ", in " + std::to_string(backoff / 1000.0) + " s)"));
  return Ok();
}

Result<int64_t> Orchestrator::Launch(const std::string& job, std::vector<std::string> assets,
                                     std::map<std::string, std::string> params, const std::string& trigger,
                                     bool with_downstream) {
  RunRecord r;
  r.job = job;
  r.trigger = trigger;
  r.params = std::move(params);
  r.created_ms = clock_.NowMillis();
  r.not_before_ms = r.created_ms;
  if (job == kMaterializeJob) {
    std::set<std::string> keys;
    for (const auto& a : assets) {
      const Asset* asset = graph_.Find(a);
      if (!asset) return MakeError(ErrorKind::kInvalidArgument, "unknown asset '" + a + "' (see `frazil assets`)");
      if (asset->kind != AssetKind::kModel) {
        return MakeError(ErrorKind::kInvalidArgument,
                         "asset " + a + " is a " + std::string(AssetKindName(asset->kind)) +
                             " table (written by CDC or loads); only models can be materialized");
      }
      keys.insert(a);
    }
    if (assets.empty()) {
      for (const auto& a : graph_.assets()) {
        if (a.kind == AssetKind::kModel) keys.insert(a.key);
      }
    }
    if (with_downstream) {
      for (const auto& k : graph_.WithDownstream(keys)) {
        if (graph_.Find(k)->kind == AssetKind::kModel) keys.insert(k);
      }
    }
    r.assets.assign(keys.begin(), keys.end());
    std::sort(r.assets.begin(), r.assets.end(),
              [&](const std::string& a, const std::string& b) { return graph_.Order(a) < graph_.Order(b); });
    r.max_attempts = 1;
  } else {
    const Job* j = FindJob(job);
    if (!j) {
      std::string names;
      for (const auto& x : jobs_) names += (names.empty() ? "" : ", ") + x.name;
      return MakeError(ErrorKind::kInvalidArgument, "unknown job '" + job + "' (jobs: " + (names.empty() ? "none" : names) + ")");
    }
    r.assets = assets.empty() ? j->assets : assets;
    for (const auto& a : r.assets) {
      const Asset* asset = graph_.Find(a);
      if (!asset) return MakeError(ErrorKind::kInvalidArgument, "unknown asset '" + a + "' (see `frazil assets`)");
      if (j->task == kMaterializeJob && asset->kind != AssetKind::kModel) {
        return MakeError(ErrorKind::kInvalidArgument, "asset " + a + " is not a model; only models can be materialized");
      }
    }
    if (j->task == kMaterializeJob && r.assets.empty()) {
      // "All models", spelled out: the run's assets are what write exclusion, retries and the
      // sensors' bookkeeping look at.
      for (const auto& a : graph_.assets()) {
        if (a.kind == AssetKind::kModel) r.assets.push_back(a.key);
      }
    }
    for (const auto& [k, v] : j->params) r.params.emplace(k, v);
    r.max_attempts = std::max(1, j->max_attempts);
    r.timeout_ms = j->timeout_ms;
  }
  FRZ_ASSIGN_OR_RETURN(int64_t id, store_.Create(r));
  Log(LogLevel::kInfo, "run queued", {{"run", std::to_string(id)}, {"job", job}, {"trigger", trigger}, {"assets", Join(r.assets)}});
  Wake();
  return id;
}

Status Orchestrator::Cancel(int64_t run_id) {
  FRZ_RETURN_IF_ERROR(store_.RequestCancel(run_id));
  {
    std::lock_guard lock(mu_);
    if (auto it = active_.find(run_id); it != active_.end()) {
      it->second->cancel_as = RunStatus::kCanceled;
      it->second->cancel = true;
    }
  }
  Wake();
  return Ok();
}

Status Orchestrator::ApplyCancelsAndTimeouts(int64_t now) {
  // The snapshot is taken under mu_: a run that finishes between the snapshot and the lock
  // would otherwise look like one running elsewhere and could be marked interrupted.
  std::lock_guard lock(mu_);
  FRZ_ASSIGN_OR_RETURN(auto runs, store_.Active());
  for (auto& r : runs) {
    auto it = active_.find(r.id);
    if (r.status == RunStatus::kQueued) {
      if (!r.cancel_requested) continue;
      r.status = RunStatus::kCanceled;
      r.finished_ms = now;
      r.error = "canceled before it started";
      FRZ_RETURN_IF_ERROR(store_.Update(r));
      FRZ_RETURN_IF_ERROR(store_.AppendLog(r.id, now, LogLevel::kInfo, r.error));
      continue;
    }
    if (it == active_.end()) {
      // Running elsewhere: another process, or one that died.
      bool gone = OwnerIsGone(r.owner, options_.owner) || now - r.heartbeat_ms > options_.heartbeat_timeout_ms;
      if (!gone) continue;
      r.status = RunStatus::kInterrupted;
      r.finished_ms = now;
      r.error = "interrupted: the process running it (" + r.owner + ") stopped before it finished";
      FRZ_RETURN_IF_ERROR(store_.Update(r));
      FRZ_RETURN_IF_ERROR(store_.AppendLog(r.id, now, LogLevel::kWarn, r.error));
      if (r.attempt < r.max_attempts) FRZ_RETURN_IF_ERROR(QueueRetry(r, now));
      continue;
    }
    Active& a = *it->second;
    if (r.cancel_requested && !a.cancel) {
      a.cancel_as = RunStatus::kCanceled;
      a.cancel = true;
    }
    if (a.run.timeout_ms > 0 && now - a.run.started_ms > a.run.timeout_ms && !a.cancel) {
      a.cancel_as = RunStatus::kTimedOut;
      a.cancel = true;
      Log(LogLevel::kWarn, "run timed out", {{"run", std::to_string(r.id)}, {"timeout_ms", std::to_string(a.run.timeout_ms)}});
    }
    if (now - r.heartbeat_ms >= std::min<int64_t>(5000, options_.heartbeat_timeout_ms / 4)) {
      r.heartbeat_ms = now;
      a.run.heartbeat_ms = now;
      FRZ_ASSIGN_OR_RETURN(auto stored, store_.Get(r.id));
      stored.heartbeat_ms = now;
      FRZ_RETURN_IF_ERROR(store_.Update(stored));
    }
  }
  return Ok();
}

Status Orchestrator::Observe() {
  return EvaluateSensors(clock_.NowMillis(), false);
}

Result<bool> Orchestrator::RunNow(int64_t run_id) {
  FRZ_ASSIGN_OR_RETURN(auto r, store_.Get(run_id));
  if (r.status != RunStatus::kQueued) return false;
  // As Dispatch does: never beside a run of another process (`frazil run`) writing one of
  // its tables (a compaction committing under a model run makes the model's commit fail).
  // Meanwhile that process may claim the run itself: then it is not ours to run.
  for (bool logged = false;;) {
    FRZ_ASSIGN_OR_RETURN(auto runs, store_.Active());
    const int64_t t = clock_.NowMillis();
    bool queued = false;
    const RunRecord* blocker = nullptr;
    for (const auto& other : runs) {
      if (other.id == run_id) {
        queued = other.status == RunStatus::kQueued;
        continue;
      }
      if (other.status != RunStatus::kRunning || !Overlaps(other.assets, r.assets)) continue;
      bool gone = OwnerIsGone(other.owner, options_.owner) || t - other.heartbeat_ms > options_.heartbeat_timeout_ms;
      if (!gone && !blocker) blocker = &other;
    }
    if (!queued) return false;
    if (auto self = std::find_if(runs.begin(), runs.end(), [&](const RunRecord& x) { return x.id == run_id; });
        self != runs.end() && self->cancel_requested) {
      RunRecord c = *self;
      c.status = RunStatus::kCanceled;
      c.finished_ms = t;
      c.error = "canceled before it started";
      FRZ_RETURN_IF_ERROR(store_.Update(c));
      FRZ_RETURN_IF_ERROR(store_.AppendLog(c.id, t, LogLevel::kInfo, c.error));
      return true;
    }
    if (!blocker) break;
    if (!logged) {
      Log(LogLevel::kInfo, "waiting for a run writing the same tables",
          {{"run", std::to_string(run_id)}, {"blocking_run", std::to_string(blocker->id)}, {"owner", blocker->owner}});
      logged = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const int64_t now = clock_.NowMillis();
  if (auto v = observer_.Versions()) {
    std::lock_guard lock(mu_);
    versions_ = std::move(*v);
  }
  std::optional<Job> job = JobOf(r);
  if (!job) return MakeError(ErrorKind::kInvalidArgument, "unknown job '" + r.job + "'");
  FRZ_ASSIGN_OR_RETURN(bool claimed, store_.Claim(r.id, options_.owner, now, now - options_.heartbeat_timeout_ms));
  if (!claimed) {
    // Still queued: an overlapping run started in another process between the wait above and
    // the claim. Wait for it again.
    FRZ_ASSIGN_OR_RETURN(auto again, store_.Get(run_id));
    if (again.status == RunStatus::kQueued && !again.cancel_requested) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      return RunNow(run_id);
    }
    return false;
  }
  std::shared_ptr<Active> active;
  {
    std::lock_guard lock(mu_);
    active = AddActive(r, std::move(*job), now);
  }
  // No Tick() runs in this process: keep the run's heartbeat fresh (or `frazil run` takes it
  // for a dead process's run and retries it beside this one), and apply cancel requests
  // (`frazil runs cancel`) and the job's timeout.
  std::mutex watch_mu;
  std::condition_variable watch_cv;
  bool finished = false;
  std::thread watcher([&] {
    const int64_t every = std::max<int64_t>(50, std::min<int64_t>(1000, options_.heartbeat_timeout_ms / 4));
    std::unique_lock wl(watch_mu);
    while (!watch_cv.wait_for(wl, std::chrono::milliseconds(every), [&] { return finished; })) {
      const int64_t t = clock_.NowMillis();
      std::lock_guard lock(mu_);  // Finish() records the run's end under mu_
      if (!active_.count(run_id)) break;
      auto stored = store_.Get(run_id);
      if (!stored) continue;
      if (stored->cancel_requested && !active->cancel) {
        active->cancel_as = RunStatus::kCanceled;
        active->cancel = true;
      }
      if (active->run.timeout_ms > 0 && t - active->run.started_ms > active->run.timeout_ms && !active->cancel) {
        active->cancel_as = RunStatus::kTimedOut;
        active->cancel = true;
      }
      stored->heartbeat_ms = t;
      active->run.heartbeat_ms = t;
      (void)store_.Update(*stored);
    }
  });
  RunThread(active);
  {
    std::lock_guard wl(watch_mu);
    finished = true;
  }
  watch_cv.notify_all();
  watcher.join();
  Reap();
  return true;
}

Status Orchestrator::EvaluateSensors(int64_t now, bool queue_runs) {
  auto observed = observer_.Versions();
  if (!observed) {
    if (!queue_runs) return std::unexpected(observed.error());
    if (observe_errors_++ % 60 == 0) Log(LogLevel::kWarn, "reading asset versions failed", {{"error", observed.error().message}});
    return Ok();
  }
  FRZ_ASSIGN_OR_RETURN(auto runs, store_.Active());
  std::lock_guard lock(mu_);
  for (const auto& [k, v] : *observed) {
    auto it = versions_.find(k);
    if (it == versions_.end() || it->second != v) changed_ms_[k] = now;
  }
  versions_ = std::move(*observed);
  observed_once_ = true;

  std::set<std::string> inflight;
  const RunRecord* queued_sensor_run = nullptr;
  for (const auto& r : runs) {
    if (!IsMaterialize(r.job)) continue;
    inflight.insert(r.assets.begin(), r.assets.end());
    if (r.job == kMaterializeJob && r.status == RunStatus::kQueued && r.trigger == "sensor" && !r.cancel_requested &&
        !queued_sensor_run) {
      queued_sensor_run = &r;
    }
  }

  std::set<std::string> ready, blocked;  // blocked: stale or in flight (their downstream waits)
  std::set<std::string> missing_sources;
  next_due_ms_ = 0;
  for (const auto& asset : graph_.assets()) {
    if (asset.kind != AssetKind::kModel) continue;
    FRZ_RETURN_IF_ERROR(LoadAssetState(asset.key));
    auto& c = consumed_[asset.key];
    bool stale = c.last_success_ms == 0;  // never materialized by the orchestrator
    bool sources_exist = true;
    int64_t last_change = 0;
    std::map<std::string, std::string> current;
    for (const auto& d : asset.deps) {
      auto v = versions_.find(d);
      std::string cur = v == versions_.end() ? "" : v->second;
      if (cur.empty() && graph_.Find(d)->kind == AssetKind::kSource) sources_exist = false;
      current[d] = cur;
      auto in = c.inputs.find(d);
      if ((in == c.inputs.end() ? "" : in->second) != cur) {
        stale = true;
        last_change = std::max(last_change, changed_ms_[d]);
      }
    }
    if (!sources_exist) missing_sources.insert(asset.key);
    c.stale = stale;
    if (!stale) {
      c.stale_since_ms = 0;
      c.waiting_since_ms = 0;
      continue;
    }
    if (c.stale_since_ms == 0) c.stale_since_ms = now;
    if (inflight.count(asset.key)) {
      blocked.insert(asset.key);
      c.waiting_since_ms = 0;
      continue;
    }
    bool upstream_busy = false;
    for (const auto& u : graph_.Upstream(asset.key)) upstream_busy = upstream_busy || blocked.count(u) || ready.count(u);
    if (upstream_busy) {
      blocked.insert(asset.key);  // it runs with its upstream, as part of the same run
      c.waiting_since_ms = 0;
      continue;
    }
    blocked.insert(asset.key);
    // Failed (or was cancelled) on exactly these inputs: not again until they move.
    bool held = c.held && c.failed_inputs == current;
    if (!asset.policy.automatic || !sources_exist || held) {
      c.waiting_since_ms = 0;
      continue;
    }
    // The max delay counts from when the model could first have run for the changes it has
    // not consumed, not from when it became stale: time spent failed, waiting for a missing
    // source or in a run does not let the next change skip its debounce.
    if (c.waiting_since_ms == 0) c.waiting_since_ms = now;
    int64_t due = std::max(c.last_start_ms + asset.policy.min_interval_ms,
                           std::min(last_change + asset.policy.debounce_ms, c.waiting_since_ms + asset.policy.max_delay_ms));
    if (due > now) {
      if (next_due_ms_ == 0 || due < next_due_ms_) next_due_ms_ = due;
      continue;
    }
    ready.insert(asset.key);
  }
  if (ready.empty() || !queue_runs) return Ok();

  // The ready models and the automatic models downstream of them (through automatic models
  // only: a manual model in between does not change, so what reads it need not run).
  std::vector<std::string> selection;
  std::set<std::string> chosen = ready;
  for (const auto& a : graph_.assets()) {  // upstream first
    if (a.kind != AssetKind::kModel || inflight.count(a.key)) continue;
    if (!chosen.count(a.key)) {
      if (!a.policy.automatic || missing_sources.count(a.key)) continue;
      bool reads_chosen = false, waits = false;
      for (const auto& d : a.deps) {
        reads_chosen = reads_chosen || chosen.count(d);
        // Another input is stale or being written outside this run: it runs after that one.
        waits = waits || (!chosen.count(d) && (blocked.count(d) || inflight.count(d)));
      }
      if (!reads_chosen || waits) continue;
      chosen.insert(a.key);
    }
    selection.push_back(a.key);
  }
  if (selection.empty()) return Ok();
  if (queued_sensor_run) {
    // Not started yet (concurrency limit, or an overlapping run): it takes the new assets.
    RunRecord r = *queued_sensor_run;
    for (const auto& k : selection) {
      if (std::find(r.assets.begin(), r.assets.end(), k) == r.assets.end()) r.assets.push_back(k);
    }
    std::sort(r.assets.begin(), r.assets.end(),
              [&](const std::string& a, const std::string& b) { return graph_.Order(a) < graph_.Order(b); });
    return store_.Update(r);
  }
  RunRecord r;
  r.job = kMaterializeJob;
  r.trigger = "sensor";
  r.assets = std::move(selection);
  r.max_attempts = std::max(1, options_.sensor_max_attempts);
  r.created_ms = now;
  r.not_before_ms = now;
  FRZ_ASSIGN_OR_RETURN(int64_t id, store_.Create(r));
  std::string why;
  for (const auto& k : ready) why += (why.empty() ? "" : ", ") + k;
  FRZ_RETURN_IF_ERROR(store_.AppendLog(id, now, LogLevel::kInfo, "upstream changed for: " + why));
  Log(LogLevel::kInfo, "sensor queued a run", {{"run", std::to_string(id)}, {"assets", Join(r.assets)}});
  return Ok();
}

Status Orchestrator::EvaluateSchedules(int64_t now) {
  const auto now_s = std::chrono::sys_seconds(std::chrono::seconds(now / 1000));
  for (size_t i = 0; i < schedules_.size(); ++i) {
    const auto& s = schedules_[i];
    if (!s.enabled) continue;
    const std::string key = "schedule:" + s.name;
    FRZ_ASSIGN_OR_RETURN(auto last, store_.GetState(key));
    if (!last) {
      FRZ_RETURN_IF_ERROR(store_.PutState(key, std::to_string(now_s.time_since_epoch().count())));
      continue;  // a new schedule fires from now on, not for the past
    }
    std::chrono::sys_seconds from;
    try {
      from = std::chrono::sys_seconds(std::chrono::seconds(std::stoll(*last)));
    } catch (const std::exception&) {
      from = now_s;
    }
    if (from >= now_s) continue;
    FRZ_ASSIGN_OR_RETURN(auto fires, crons_[i].FiresBetween(from, now_s, zones_[i], 10000));
    FRZ_RETURN_IF_ERROR(store_.PutState(key, std::to_string(now_s.time_since_epoch().count())));
    if (fires.empty()) continue;
    // One run however many fires were missed (a stopped process catches up once).
    FRZ_ASSIGN_OR_RETURN(auto active, store_.Active());
    bool running = false;
    for (const auto& r : active) {
      // A retry of the schedule's run counts as its run.
      RunRecord first = r;
      for (int hops = 0; hops < 100 && first.trigger == "retry" && first.retry_of; ++hops) {
        auto prev = store_.Get(*first.retry_of);
        if (!prev) break;
        first = std::move(*prev);
      }
      running = running || first.trigger == "schedule:" + s.name;
    }
    if (running) {
      Log(LogLevel::kWarn, "schedule fired while its previous run is still active; skipped", {{"schedule", s.name}});
      continue;
    }
    const Job* job = FindJob(s.job);
    FRZ_ASSIGN_OR_RETURN(int64_t id, Launch(s.job, job ? job->assets : std::vector<std::string>{}, {}, "schedule:" + s.name));
    if (fires.size() > 1) {
      FRZ_RETURN_IF_ERROR(store_.AppendLog(id, now, LogLevel::kInfo,
                                           std::to_string(fires.size()) + " fire times since the last check; running once"));
    }
  }
  return Ok();
}

Status Orchestrator::Dispatch(int64_t now) {
  FRZ_ASSIGN_OR_RETURN(auto runs, store_.Active());
  for (auto& r : runs) {
    if (r.status != RunStatus::kQueued || r.cancel_requested || r.not_before_ms > now) continue;
    std::shared_ptr<Active> active;
    {
      std::lock_guard lock(mu_);
      if (stopping_ || static_cast<int>(active_.size()) >= options_.max_concurrent_runs) break;
      bool overlap = false;
      for (const auto& [id, a] : active_) overlap = overlap || Overlaps(a->run.assets, r.assets);
      // Runs of other processes sharing the store write their assets too.
      for (const auto& other : runs) {
        if (other.status == RunStatus::kRunning && !active_.count(other.id)) {
          overlap = overlap || Overlaps(other.assets, r.assets);
        }
      }
      if (overlap) continue;
      std::optional<Job> job = JobOf(r);
      if (!job) {
        r.status = RunStatus::kFailed;
        r.finished_ms = now;
        r.error = "unknown job '" + r.job + "' (no longer configured)";
        FRZ_RETURN_IF_ERROR(store_.Update(r));
        continue;
      }
      // The start is now, not the tick's start: reading the versions took a while, and a run
      // that finished meanwhile must not look as if it overlapped this one.
      const int64_t started = std::max(now, clock_.NowMillis());
      FRZ_ASSIGN_OR_RETURN(bool claimed, store_.Claim(r.id, options_.owner, started, started - options_.heartbeat_timeout_ms));
      if (!claimed) continue;  // another process took it
      active = AddActive(r, std::move(*job), started);
    }
    if (options_.inline_execution) {
      RunThread(active);
    } else {
      active->thread = std::thread([this, active] { RunThread(active); });
    }
  }
  return Ok();
}

void Orchestrator::RunThread(std::shared_ptr<Active> active) {
  Context ctx(*this, *active);
  ctx.Log(LogLevel::kInfo, "started (" + active->run.trigger + ", attempt " + std::to_string(active->run.attempt) + "): " +
                               active->job.task + (active->run.assets.empty() ? "" : " " + Join(active->run.assets)));
  Status result = Ok();
  try {
    result = executor_.Execute(active->job, ctx);
  } catch (const std::exception& e) {
    result = MakeError(ErrorKind::kInternal, std::string("the run threw: ") + e.what());
  }
  Finish(*active, std::move(result));
  active->done = true;
  Wake();
}

void Orchestrator::Finish(Active& a, Status result) {
  const int64_t now = clock_.NowMillis();
  RunRecord& r = a.run;
  r.finished_ms = now;
  std::set<std::string> ok, bad;
  {
    std::lock_guard lock(a.mu);
    ok = a.succeeded;
    bad = a.failed;
  }
  if (result && !bad.empty()) {
    // Ok with failed assets breaks the Executor's contract; the failures win.
    result = MakeError(ErrorKind::kInternal, "failed: " + Join(std::vector<std::string>(bad.begin(), bad.end())));
  }
  if (result) {
    r.status = RunStatus::kSucceeded;
  } else if (a.cancel) {
    r.status = a.cancel_as.load();
    r.error = std::string(r.status == RunStatus::kTimedOut ? "timed out after " + std::to_string(r.timeout_ms / 1000.0) + " s: "
                                                            : "") +
              result.error().message;
  } else {
    r.status = RunStatus::kFailed;
    r.error = result.error().message;
  }
  if (result && ok.empty() && bad.empty()) ok.insert(r.assets.begin(), r.assets.end());
  r.succeeded.assign(ok.begin(), ok.end());
  r.failed.assign(bad.begin(), bad.end());

  std::map<std::string, std::string> after = a.start_versions;
  const bool materialize = IsMaterialize(r.job);
  if (materialize && !ok.empty()) {
    if (auto v = observer_.Versions()) after = std::move(*v);
  }
  {
    std::lock_guard lock(mu_);
    if (materialize) {
      for (const auto& key : r.assets) {
        const Asset* asset = graph_.Find(key);
        if (!asset || asset->kind != AssetKind::kModel) continue;
        auto& c = consumed_[key];
        c.runs++;
        c.last_run_id = r.id;
        c.last_duration_ms = now - r.started_ms;
        if (ok.count(key)) {
          c.last_status = "succeeded";
          c.inputs.clear();
          for (const auto& d : asset->deps) {
            const auto& from = ok.count(d) ? after : a.start_versions;
            auto it = from.find(d);
            c.inputs[d] = it == from.end() ? "" : it->second;
          }
          c.failed_inputs.clear();
          c.held = false;
          c.last_success_ms = now;
          // Whatever changed during the run is a new change: it gets its own debounce.
          c.stale = false;
          c.stale_since_ms = 0;
          c.waiting_since_ms = 0;
        } else if (r.status != RunStatus::kInterrupted) {
          // Failed, timed out or cancelled on these inputs: the sensors leave it until they
          // move (a cancel is not undone by the next tick).
          c.last_status = std::string(RunStatusName(r.status == RunStatus::kSucceeded ? RunStatus::kFailed : r.status));
          if (r.status != RunStatus::kCanceled) c.failures++;
          c.failed_inputs.clear();
          for (const auto& d : asset->deps) {
            auto it = a.start_versions.find(d);
            c.failed_inputs[d] = it == a.start_versions.end() ? "" : it->second;
          }
          c.held = true;
        } else {
          c.last_status = std::string(RunStatusName(r.status));
        }
        auto s = SaveAssetState(key);
        if (!s) Log(LogLevel::kWarn, "saving orchestrator state failed", {{"asset", key}, {"error", s.error().message}});
      }
    }
    auto s = store_.Update(r);
    if (!s) Log(LogLevel::kError, "recording a run's end failed", {{"run", std::to_string(r.id)}, {"error", s.error().message}});
    std::string line = std::string(RunStatusName(r.status)) + " in " + std::to_string((now - r.started_ms) / 1000.0) + " s" +
                       (r.error.empty() ? "" : ": " + r.error);
    (void)store_.AppendLog(r.id, now, r.status == RunStatus::kSucceeded ? LogLevel::kInfo : LogLevel::kWarn, line);
    Log(r.status == RunStatus::kSucceeded ? LogLevel::kInfo : LogLevel::kWarn, "run finished",
        {{"run", std::to_string(r.id)}, {"job", r.job}, {"status", std::string(RunStatusName(r.status))},
         {"seconds", std::to_string((now - r.started_ms) / 1000.0)}, {"error", r.error}});
    bool retry = r.status == RunStatus::kFailed || r.status == RunStatus::kTimedOut || r.status == RunStatus::kInterrupted;
    if (retry && r.attempt < r.max_attempts) {
      auto q = QueueRetry(r, now);
      if (!q) Log(LogLevel::kError, "queueing a retry failed", {{"run", std::to_string(r.id)}, {"error", q.error().message}});
    }
    auto it = active_.find(r.id);
    if (it != active_.end()) {
      finished_.push_back(it->second);
      active_.erase(it);
    }
  }
}

void Orchestrator::Reap() {
  std::vector<std::shared_ptr<Active>> done;
  {
    std::lock_guard lock(mu_);
    done.swap(finished_);
  }
  for (auto& a : done) {
    if (a->thread.joinable()) a->thread.join();
  }
}

Status Orchestrator::Tick() {
  const int64_t t0 = clock_.MonotonicNanos();
  Reap();
  const int64_t now = clock_.NowMillis();
  Status status = ApplyCancelsAndTimeouts(now);
  if (status) status = EvaluateSensors(now, options_.sensors);
  if (status && options_.schedules) status = EvaluateSchedules(now);
  if (status) status = Dispatch(now);
  std::lock_guard lock(mu_);
  ticks_++;
  tick_nanos_ += clock_.MonotonicNanos() - t0;
  return status;
}

void Orchestrator::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    while (!stopping_) {
      auto s = Tick();
      if (!s) Log(LogLevel::kWarn, "orchestrator tick failed", {{"error", s.error().message}});
      int64_t wait_ms = options_.poll_interval_ms;
      {
        std::lock_guard lock(mu_);
        if (next_due_ms_ > 0) wait_ms = std::clamp<int64_t>(next_due_ms_ - clock_.NowMillis(), 1, wait_ms);
      }
      std::unique_lock lock(wake_mu_);
      wake_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return wake_ || stopping_.load(); });
      wake_ = false;
    }
  });
}

void Orchestrator::Wake() {
  {
    std::lock_guard lock(wake_mu_);
    wake_ = true;
  }
  wake_cv_.notify_all();
}

void Orchestrator::Stop() {
  if (stopping_.exchange(true)) return;
  Wake();
  if (thread_.joinable()) thread_.join();
  std::vector<std::shared_ptr<Active>> running;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, a] : active_) {
      a->cancel_as = RunStatus::kInterrupted;
      a->cancel = true;
      running.push_back(a);
    }
  }
  for (auto& a : running) {
    if (a->thread.joinable()) a->thread.join();
  }
  Reap();
}

std::vector<AssetState> Orchestrator::Assets() {
  std::set<std::string> active_assets;
  if (auto runs = store_.Active()) {
    for (const auto& r : *runs) active_assets.insert(r.assets.begin(), r.assets.end());
  }
  std::lock_guard lock(mu_);
  const int64_t now = clock_.NowMillis();
  std::vector<AssetState> out;
  for (const auto& a : graph_.assets()) {
    AssetState s;
    s.key = a.key;
    s.kind = a.kind;
    if (auto it = versions_.find(a.key); it != versions_.end()) s.version = it->second;
    s.active = active_assets.count(a.key) > 0;
    if (a.kind == AssetKind::kModel) {
      (void)LoadAssetState(a.key);
      const auto& c = consumed_[a.key];
      s.stale = c.stale;
      s.stale_since_ms = c.stale_since_ms;
      s.overdue = c.stale && c.stale_since_ms > 0 && now - c.stale_since_ms > a.policy.freshness_target_ms;
      s.last_success_ms = c.last_success_ms;
      s.last_run_id = c.last_run_id;
      s.last_status = c.last_status;
      s.last_duration_ms = c.last_duration_ms;
      s.runs = c.runs;
      s.failures = c.failures;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::map<std::string, int64_t> Orchestrator::NextFires() {
  std::map<std::string, int64_t> out;
  const auto now_s = std::chrono::sys_seconds(std::chrono::seconds(clock_.NowMillis() / 1000));
  for (size_t i = 0; i < schedules_.size(); ++i) {
    auto next = crons_[i].Next(now_s, zones_[i]);
    out[schedules_[i].name] = schedules_[i].enabled && next ? next->time_since_epoch().count() * 1000 : 0;
  }
  return out;
}

std::string Orchestrator::MetricsText() {
  auto assets = Assets();
  const int64_t now = clock_.NowMillis();
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto sample = [&](const char* name, const std::string& asset, double v) {
    out += std::string(name) + "{asset=\"" + EscapeLabel(asset) + "\"} " + std::to_string(v) + "\n";
  };
  family("frazil_asset_stale_seconds", "gauge", "How long a model has had upstream changes it has not consumed (0: fresh).");
  for (const auto& a : assets) {
    if (a.kind == AssetKind::kModel) sample("frazil_asset_stale_seconds", a.key, a.stale ? (now - a.stale_since_ms) / 1000.0 : 0);
  }
  family("frazil_asset_overdue", "gauge", "1 when a model is stale for longer than its freshness target.");
  for (const auto& a : assets) {
    if (a.kind == AssetKind::kModel) sample("frazil_asset_overdue", a.key, a.overdue ? 1 : 0);
  }
  family("frazil_asset_last_success_timestamp_seconds", "gauge", "When the model last materialized successfully.");
  for (const auto& a : assets) {
    if (a.kind == AssetKind::kModel) sample("frazil_asset_last_success_timestamp_seconds", a.key, a.last_success_ms / 1000.0);
  }
  family("frazil_asset_last_run_duration_seconds", "gauge", "Duration of the last run that included the model.");
  for (const auto& a : assets) {
    if (a.kind == AssetKind::kModel) sample("frazil_asset_last_run_duration_seconds", a.key, a.last_duration_ms / 1000.0);
  }
  family("frazil_asset_runs_total", "counter", "Runs that included the model.");
  for (const auto& a : assets) {
    if (a.kind == AssetKind::kModel) sample("frazil_asset_runs_total", a.key, static_cast<double>(a.runs));
  }
  family("frazil_asset_failures_total", "counter", "Runs in which the model failed.");
  for (const auto& a : assets) {
    if (a.kind == AssetKind::kModel) sample("frazil_asset_failures_total", a.key, static_cast<double>(a.failures));
  }
  int64_t queued = 0, running = 0;
  if (auto runs = store_.Active()) {
    for (const auto& r : *runs) (r.status == RunStatus::kQueued ? queued : running)++;
  }
  std::lock_guard lock(mu_);
  family("frazil_runs_queued", "gauge", "Runs waiting to start.");
  out += "frazil_runs_queued " + std::to_string(queued) + "\n";
  family("frazil_runs_running", "gauge", "Runs in progress.");
  out += "frazil_runs_running " + std::to_string(running) + "\n";
  family("frazil_orchestrator_ticks_total", "counter", "Evaluations of sensors and schedules.");
  out += "frazil_orchestrator_ticks_total " + std::to_string(ticks_) + "\n";
  family("frazil_orchestrator_tick_seconds_total", "counter", "Time spent evaluating sensors and schedules.");
  out += "frazil_orchestrator_tick_seconds_total " + std::to_string(tick_nanos_ / 1e9) + "\n";
  return out;
}

}  // namespace frazil::orchestrator
