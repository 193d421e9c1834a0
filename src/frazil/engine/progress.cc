#include "frazil/engine/progress.h"

namespace frazil::engine {

ProgressPoller::ProgressPoller(Connection& con, std::function<void(const QueryProgress&)> report,
                               std::chrono::milliseconds interval) {
  // DuckDB only tracks progress when its progress bar setting is on; printing stays off.
  (void)con.Execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false");
  duckdb_connection handle = con.handle();
  thread_ = std::thread([this, handle, report = std::move(report), interval] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
      duckdb_query_progress_type p = duckdb_query_progress(handle);
      QueryProgress qp{p.percentage, p.rows_processed, p.total_rows_to_process};
      lock.unlock();
      report(qp);
      lock.lock();
    }
  });
}

ProgressPoller::~ProgressPoller() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace frazil::engine
