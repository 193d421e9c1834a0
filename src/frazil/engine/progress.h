// Reports the progress of the query running on a connection, from a background thread,
// while the caller's thread runs it (DuckDB's duckdb_query_progress).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "frazil/engine/duckdb.h"

namespace frazil::engine {

struct QueryProgress {
  double percentage = -1;  // 0..100, or -1 when DuckDB cannot tell
  uint64_t rows_processed = 0;
  uint64_t total_rows = 0;
};

// While alive, calls `report` every `interval` with the progress of `con`'s running query.
// The callback runs on the poller's thread.
class ProgressPoller {
 public:
  ProgressPoller(Connection& con, std::function<void(const QueryProgress&)> report,
                 std::chrono::milliseconds interval = std::chrono::milliseconds(250));
  ~ProgressPoller();
  ProgressPoller(const ProgressPoller&) = delete;
  ProgressPoller& operator=(const ProgressPoller&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace frazil::engine
