// Run history: every run the orchestrator queued, ran, retried or cancelled, its log lines,
// and small state the orchestrator keeps across restarts (what each asset last consumed,
// when each schedule last fired). The format is in docs/orchestrator.md.
//
// SqliteRunStore keeps it in `<warehouse>/.frazil/runs.db` (WAL mode), so `frazil runs` can
// read it while `frazil run` writes, and a cancel request from another process reaches the
// running one. All methods are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "frazil/base/log.h"
#include "frazil/base/result.h"
#include "frazil/catalog/sqlite.h"

namespace frazil::orchestrator {

enum class RunStatus { kQueued, kRunning, kSucceeded, kFailed, kCanceled, kTimedOut, kInterrupted };
std::string_view RunStatusName(RunStatus status);
Result<RunStatus> ParseRunStatus(std::string_view name);
inline bool IsFinished(RunStatus s) { return s != RunStatus::kQueued && s != RunStatus::kRunning; }

struct RunRecord {
  int64_t id = 0;
  std::string job;                        // "materialize" or a configured job's name
  std::string trigger;                    // "sensor", "schedule:<name>", "manual", "retry", "backfill"
  std::vector<std::string> assets;        // what the run materializes (models) or maintains (tables)
  std::map<std::string, std::string> params;  // e.g. full_refresh=true
  RunStatus status = RunStatus::kQueued;
  int attempt = 1;
  int max_attempts = 1;
  std::optional<int64_t> retry_of;        // the run this one retries
  int64_t created_ms = 0;
  int64_t not_before_ms = 0;              // a retry waits for its backoff
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  int64_t timeout_ms = 0;                 // 0: none
  std::string error;
  bool cancel_requested = false;
  std::string owner;                      // "pid@host" of the process running it
  int64_t heartbeat_ms = 0;               // the owner's last sign of life
  std::vector<std::string> succeeded;     // assets that completed in this run
  std::vector<std::string> failed;        // assets that failed in this run
};

// A run as JSON (the shape of `frazil runs show --format json` and GET /api/runs/{id}).
nlohmann::json RunRecordJson(const RunRecord& run);

struct RunLogLine {
  int64_t seq = 0;
  int64_t ts_ms = 0;
  LogLevel level = LogLevel::kInfo;
  std::string message;
};

struct RunFilter {
  std::optional<RunStatus> status;
  std::string job;     // "" = any
  std::string asset;   // "" = any; else runs whose assets include it
  int64_t before_id = 0;  // 0 = newest; else runs with id < before_id (paging)
  int limit = 50;
};

class RunStore {
 public:
  virtual ~RunStore() = default;
  // Stores a new run; assigns and returns its id (ids increase).
  virtual Result<int64_t> Create(RunRecord run) = 0;
  // Replaces the stored run with `run` (matched by id). Errors: NotFound.
  virtual Status Update(const RunRecord& run) = 0;
  // Errors: NotFound.
  virtual Result<RunRecord> Get(int64_t id) = 0;
  // Newest first.
  virtual Result<std::vector<RunRecord>> List(const RunFilter& filter) = 0;
  // Queued and running runs, oldest first.
  virtual Result<std::vector<RunRecord>> Active() = 0;
  // Atomically moves a queued run to running for `owner`: only if it is still queued, has
  // no cancel request, and no other running run (heartbeat at or after
  // `live_since_ms`) shares an asset with it (a run without assets shares all). So two
  // processes sharing the store never both run it, nor two runs writing one table.
  // Returns false when it could not be claimed.
  virtual Result<bool> Claim(int64_t id, const std::string& owner, int64_t now_ms, int64_t live_since_ms = 0) = 0;
  // Marks the run for cancellation (a queued run is cancelled by the orchestrator's next
  // tick, a running one as soon as it checks). Errors: NotFound; InvalidArgument when the
  // run has already finished.
  virtual Status RequestCancel(int64_t id) = 0;
  virtual Status AppendLog(int64_t run_id, int64_t ts_ms, LogLevel level, const std::string& message) = 0;
  // Log lines with seq > after_seq, oldest first, at most `limit`.
  virtual Result<std::vector<RunLogLine>> Logs(int64_t run_id, int64_t after_seq, int limit) = 0;
  // Small persistent key/value state of the orchestrator.
  virtual Result<std::optional<std::string>> GetState(const std::string& key) = 0;
  virtual Status PutState(const std::string& key, const std::string& value) = 0;
  // Deletes finished runs (and their logs) that finished before `before_ms`; returns how many.
  virtual Result<int64_t> Prune(int64_t before_ms) = 0;
};

class SqliteRunStore final : public RunStore {
 public:
  // `path`: a file (created with its folder) or ":memory:". Errors: IOError.
  static Result<std::unique_ptr<SqliteRunStore>> Open(const std::string& path);
  // <warehouse_dir>/.frazil/runs.db
  static std::string PathIn(const std::string& warehouse_dir);

  Result<int64_t> Create(RunRecord run) override;
  Status Update(const RunRecord& run) override;
  Result<RunRecord> Get(int64_t id) override;
  Result<std::vector<RunRecord>> List(const RunFilter& filter) override;
  Result<std::vector<RunRecord>> Active() override;
  Result<bool> Claim(int64_t id, const std::string& owner, int64_t now_ms, int64_t live_since_ms = 0) override;
  Status RequestCancel(int64_t id) override;
  Status AppendLog(int64_t run_id, int64_t ts_ms, LogLevel level, const std::string& message) override;
  Result<std::vector<RunLogLine>> Logs(int64_t run_id, int64_t after_seq, int limit) override;
  Result<std::optional<std::string>> GetState(const std::string& key) override;
  Status PutState(const std::string& key, const std::string& value) override;
  Result<int64_t> Prune(int64_t before_ms) override;

 private:
  explicit SqliteRunStore(catalog::sqlite::Database db) : db_(std::move(db)) {}
  Result<std::vector<RunRecord>> Select(const std::string& where, const std::vector<std::string>& args, int limit);
  std::mutex mu_;
  catalog::sqlite::Database db_;
};

}  // namespace frazil::orchestrator
