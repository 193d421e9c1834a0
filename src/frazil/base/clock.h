// Time source. Code that makes decisions from time (snapshots' timestamps, schedules,
// expiry) takes a Clock so tests can run it on a manual clock.
#pragma once

#include <atomic>
#include <cstdint>

namespace frazil {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch, UTC.
  virtual int64_t NowMillis() const = 0;
  // Monotonic nanoseconds for measuring durations.
  virtual int64_t MonotonicNanos() const = 0;

  // The process-wide real clock.
  static Clock& System();
};

// A clock that moves only when told to; for tests.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMillis() const override { return now_ms_.load(); }
  int64_t MonotonicNanos() const override { return now_ms_.load() * 1000000; }
  void AdvanceMillis(int64_t ms) { now_ms_ += ms; }
  void SetMillis(int64_t ms) { now_ms_ = ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace frazil
