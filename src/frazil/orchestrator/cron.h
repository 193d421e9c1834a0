// Cron schedules: the standard five-field expression, evaluated in a time zone's wall time.
// The syntax and the rules for daylight-saving changes are written down in docs/schedules.md.
#pragma once

#include <bitset>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/base/clock.h"
#include "frazil/base/result.h"
#include "frazil/orchestrator/time_zone.h"

namespace frazil {

// A parsed cron expression: "min hour day-of-month month day-of-week" or a macro
// (@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually). Immutable, copyable.
//
// Fire times are the instants at which the zone's wall clock reads a matching minute, with
// two rules for daylight-saving changes:
//  - a matching wall time inside a gap (clocks jump forward past it) fires once, at the first
//    instant after the gap; several matching times in one gap fire once together;
//  - a matching wall time inside an overlap (clocks fall back, it happens twice) fires once,
//    at its first occurrence.
// Fire times are whole minutes of wall time, or the instant a gap ends.
class CronSchedule {
 public:
  // Errors: InvalidArgument naming the expression, the field and the bad token, e.g.
  // "cron '0 25 * * *': hour 25 is out of range 0-23"; also for an expression that can never
  // fire ("0 0 30 2 *").
  static Result<CronSchedule> Parse(std::string_view expression);

  // The expression as given (trimmed).
  const std::string& expression() const { return expression_; }

  // The first fire time strictly after `after`. Errors: InvalidArgument if the answer would
  // lie beyond the year 9999.
  Result<std::chrono::sys_seconds> Next(std::chrono::sys_seconds after, const TimeZone& zone) const;
  // The first fire time strictly after the clock's current time.
  Result<std::chrono::sys_seconds> Next(const Clock& clock, const TimeZone& zone) const {
    return Next(NowSeconds(clock), zone);
  }

  // The latest fire time at or before `at` (so Next(at) is the one after it): the run that is
  // due at `at`. Errors: NotFound if there is none since the year 0001.
  Result<std::chrono::sys_seconds> Prev(std::chrono::sys_seconds at, const TimeZone& zone) const;

  // The fire times in (from, to], oldest first, at most `limit` of them (the oldest): the runs
  // missed between the last one and now. Errors: as Next.
  Result<std::vector<std::chrono::sys_seconds>> FiresBetween(std::chrono::sys_seconds from,
                                                             std::chrono::sys_seconds to,
                                                             const TimeZone& zone,
                                                             size_t limit) const;

  // Whether the local date and time (seconds ignored) matches the expression.
  bool Matches(std::chrono::local_seconds local) const;

 private:
  CronSchedule() = default;

  bool DayMatches(std::chrono::year_month_day ymd) const;
  // The first matching wall-clock minute at or after `from` (rounded up to a minute).
  Result<std::chrono::local_seconds> NextMatch(std::chrono::local_seconds from) const;

  std::string expression_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1-31
  std::bitset<13> months_;   // 1-12
  std::bitset<7> weekdays_;  // 0 = Sunday
  // crontab(5): when both day fields are restricted (do not start with '*'), a day matches
  // if either does; otherwise only the restricted one (if any) decides.
  bool days_star_ = false;
  bool weekdays_star_ = false;
};

}  // namespace frazil
