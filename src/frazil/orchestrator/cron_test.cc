#include "frazil/orchestrator/cron.h"

#include <gtest/gtest.h>

namespace frazil {
namespace {

using namespace std::chrono;

sys_seconds Utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s);
}
local_seconds Local(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return local_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi);
}

CronSchedule MustParse(std::string_view expression) {
  auto s = CronSchedule::Parse(expression);
  EXPECT_TRUE(s) << s.error().ToString();
  return s ? *s : *CronSchedule::Parse("* * * * *");
}

TimeZone MustLoad(const std::string& name) {
  auto zone = TimeZone::Load(name);
  EXPECT_TRUE(zone) << zone.error().ToString();
  return zone ? *zone : TimeZone::Utc();
}

// The next `n` fire times after `after`, formatted in the zone.
std::vector<std::string> Fires(const CronSchedule& s, sys_seconds after, const TimeZone& zone,
                               int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    auto next = s.Next(after, zone);
    if (!next) {
      ADD_FAILURE() << next.error().ToString();
      break;
    }
    out.push_back(zone.Format(*next));
    after = *next;
  }
  return out;
}

using Strings = std::vector<std::string>;

TEST(CronParseTest, Syntax) {
  CronSchedule every15 = MustParse("*/15 * * * *");
  for (int m = 0; m < 60; ++m) {
    EXPECT_EQ(every15.Matches(Local(2024, 5, 1, 10, m)), m % 15 == 0) << m;
  }
  CronSchedule stepped = MustParse("1-30/5 * * * *");
  for (int m = 0; m < 60; ++m) {
    bool expected = m == 1 || m == 6 || m == 11 || m == 16 || m == 21 || m == 26;
    EXPECT_EQ(stepped.Matches(Local(2024, 5, 1, 10, m)), expected) << m;
  }
  CronSchedule from5 = MustParse("5/20 * * * *");  // 5, 25, 45
  EXPECT_TRUE(from5.Matches(Local(2024, 5, 1, 10, 45)));
  EXPECT_FALSE(from5.Matches(Local(2024, 5, 1, 10, 50)));

  CronSchedule list = MustParse("0,30 9-17 * * *");
  EXPECT_TRUE(list.Matches(Local(2024, 5, 1, 9, 30)));
  EXPECT_TRUE(list.Matches(Local(2024, 5, 1, 17, 0)));
  EXPECT_FALSE(list.Matches(Local(2024, 5, 1, 18, 0)));
  EXPECT_FALSE(list.Matches(Local(2024, 5, 1, 9, 15)));

  // Names in any case, in ranges and lists; 7 is Sunday like 0.
  CronSchedule names = MustParse("0 12 * jan-MAR,Dec Mon-fri");
  EXPECT_TRUE(names.Matches(Local(2024, 1, 2, 12)));    // Tuesday
  EXPECT_FALSE(names.Matches(Local(2024, 1, 6, 12)));   // Saturday
  EXPECT_FALSE(names.Matches(Local(2024, 4, 2, 12)));   // April
  EXPECT_TRUE(names.Matches(Local(2024, 12, 31, 12)));  // Tuesday
  for (const char* sunday : {"0 0 * * 7", "0 0 * * 0", "0 0 * * SUN", "0 0 * * 5-7"}) {
    EXPECT_TRUE(MustParse(sunday).Matches(Local(2024, 9, 1))) << sunday;  // a Sunday
  }
  EXPECT_FALSE(MustParse("0 0 * * 5-7").Matches(Local(2024, 9, 5)));  // Thursday
  EXPECT_TRUE(MustParse("0 0 * * 5-7").Matches(Local(2024, 9, 6)));   // Friday
  EXPECT_TRUE(MustParse("0 0 * * */2").Matches(Local(2024, 9, 7)));   // Saturday = 6

  EXPECT_EQ(MustParse("  0   1 *\t* *  ").expression(), "0 1 * * *");
  EXPECT_TRUE(MustParse("0 0 29 2 *").Matches(Local(2024, 2, 29)));
}

TEST(CronParseTest, MacrosEqualTheirExpansions) {
  const std::vector<std::pair<std::string, std::string>> macros = {
      {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
      {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
      {"@annually", "0 0 1 1 *"}, {"@DAILY", "0 0 * * *"}};
  TimeZone utc;
  for (const auto& [macro, expansion] : macros) {
    CronSchedule m = MustParse(macro);
    EXPECT_EQ(m.expression(), macro);
    EXPECT_EQ(Fires(m, Utc(2024, 2, 27, 13, 7), utc, 5),
              Fires(MustParse(expansion), Utc(2024, 2, 27, 13, 7), utc, 5))
        << macro;
  }
  EXPECT_EQ(Fires(MustParse("@weekly"), Utc(2024, 9, 2), utc, 2),
            (Strings{"2024-09-08T00:00:00+00:00", "2024-09-15T00:00:00+00:00"}));
}

TEST(CronParseTest, Errors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"",
       "cron '': expected 5 fields (minute hour day-of-month month day-of-week) or a "
       "macro, got 0"},
      {"0 1 * *", "got 4"},
      {"0 1 * * * *", "got 6"},
      {"@daily 5", "got 2"},
      {"0 25 * * *", "cron '0 25 * * *': hour 25 is out of range 0-23"},
      {"60 * * * *", "minute 60 is out of range 0-59"},
      {"99999 * * * *", "minute 99999 is out of range 0-59"},
      {"0 0 0 * *", "day-of-month 0 is out of range 1-31"},
      {"0 0 32 * *", "day-of-month 32 is out of range 1-31"},
      {"0 0 * 0 *", "month 0 is out of range 1-12"},
      {"0 0 * 13 *", "month 13 is out of range 1-12"},
      {"0 0 * * 8", "day-of-week 8 is out of range 0-7"},
      {"0 0 * FOO *", "month 'FOO' is not a number or a month name (JAN-DEC)"},
      {"0 0 * * MONDAY", "day-of-week 'MONDAY' is not a number or a weekday name (SUN-SAT)"},
      {"x * * * *", "minute 'x' is not a number"},
      {"0 JAN * * *", "hour 'JAN' is not a number"},
      {"-1 * * * *", "minute '' is not a number"},
      {"1-2-3 * * * *", "minute '2-3' is not a number"},
      {"*/0 * * * *", "minute step 0 in '*/0' is out of range 1-60"},
      {"0 */25 * * *", "hour step 25 in '*/25' is out of range 1-24"},
      {"*/a * * * *", "minute step 'a' in '*/a' is not a number"},
      {"*/ * * * *", "minute step '' in '*/' is not a number"},
      {"30-10 * * * *", "minute range '30-10' is backwards"},
      {"0 0 * * FRI-MON", "day-of-week range 'FRI-MON' is backwards"},
      {"1,,2 * * * *", "minute '1,,2' has an empty list item"},
      {"0 0 1, * *", "day-of-month '1,' has an empty list item"},
      {"0 0 30 2 *", "cron '0 0 30 2 *': never fires"},
      {"0 0 31 4,6,9,11 *", "never fires"},
      {"@reboot", "cron '@reboot': unknown macro"},
  };
  for (const auto& [expression, message] : cases) {
    auto s = CronSchedule::Parse(expression);
    ASSERT_FALSE(s) << expression;
    EXPECT_EQ(s.error().kind, ErrorKind::kInvalidArgument) << expression;
    EXPECT_NE(s.error().message.find(message), std::string::npos)
        << expression << " -> " << s.error().message;
  }
  // With the OR rule a weekday can always fire, and Feb 29 exists.
  EXPECT_TRUE(CronSchedule::Parse("0 0 30 2 1"));
  EXPECT_TRUE(CronSchedule::Parse("0 0 29 2 *"));
}

TEST(CronNextTest, StrictlyAfter) {
  TimeZone utc;
  CronSchedule daily = MustParse("0 1 * * *");
  EXPECT_EQ(*daily.Next(Utc(2024, 5, 1, 0, 59, 59), utc), Utc(2024, 5, 1, 1));
  EXPECT_EQ(*daily.Next(Utc(2024, 5, 1, 1), utc), Utc(2024, 5, 2, 1));
  EXPECT_EQ(*daily.Next(Utc(2024, 5, 1, 1, 0, 30), utc), Utc(2024, 5, 2, 1));
  EXPECT_EQ(Fires(MustParse("*/15 * * * *"), Utc(2024, 5, 1, 10, 7), utc, 4),
            (Strings{"2024-05-01T10:15:00+00:00", "2024-05-01T10:30:00+00:00",
                     "2024-05-01T10:45:00+00:00", "2024-05-01T11:00:00+00:00"}));
}

TEST(CronNextTest, MonthAndYearEnds) {
  TimeZone utc;
  EXPECT_EQ(Fires(MustParse("0 12 * * *"), Utc(2024, 12, 31, 12), utc, 1),
            (Strings{"2025-01-01T12:00:00+00:00"}));
  EXPECT_EQ(Fires(MustParse("59 23 * * *"), Utc(2024, 2, 28, 23, 59), utc, 2),
            (Strings{"2024-02-29T23:59:00+00:00", "2024-03-01T23:59:00+00:00"}));
  EXPECT_EQ(Fires(MustParse("0 0 1 * *"), Utc(2024, 1, 31, 12), utc, 1),
            (Strings{"2024-02-01T00:00:00+00:00"}));
  // The 31st skips the months that have none.
  EXPECT_EQ(Fires(MustParse("0 0 31 * *"), Utc(2024, 1, 31), utc, 5),
            (Strings{"2024-03-31T00:00:00+00:00", "2024-05-31T00:00:00+00:00",
                     "2024-07-31T00:00:00+00:00", "2024-08-31T00:00:00+00:00",
                     "2024-10-31T00:00:00+00:00"}));
}

TEST(CronNextTest, LeapYears) {
  TimeZone utc;
  CronSchedule leap_day = MustParse("0 0 29 2 *");
  EXPECT_EQ(Fires(leap_day, Utc(2024, 3, 1), utc, 2),
            (Strings{"2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"}));
  // 2100 is not a leap year.
  EXPECT_EQ(Fires(leap_day, Utc(2096, 3, 1), utc, 1), (Strings{"2104-02-29T00:00:00+00:00"}));
  // Feb 29 that is a Sunday (AND rule, since day-of-week starts with '*'): decades apart.
  EXPECT_EQ(Fires(MustParse("0 0 29 2 */7"), Utc(2024, 1, 1), utc, 2),
            (Strings{"2032-02-29T00:00:00+00:00", "2060-02-29T00:00:00+00:00"}));
}

TEST(CronNextTest, DayOfMonthOrDayOfWeek) {
  TimeZone utc;
  // Both restricted: the 1st or any Monday. 2024-09-30 is a Monday.
  EXPECT_EQ(Fires(MustParse("0 0 1 * MON"), Utc(2024, 9, 29), utc, 4),
            (Strings{"2024-09-30T00:00:00+00:00", "2024-10-01T00:00:00+00:00",
                     "2024-10-07T00:00:00+00:00", "2024-10-14T00:00:00+00:00"}));
  // Only the weekday restricted: weekdays at 09:00, Friday evening -> Monday.
  EXPECT_EQ(Fires(MustParse("0 9 * * MON-FRI"), Utc(2024, 9, 6, 10), utc, 1),
            (Strings{"2024-09-09T09:00:00+00:00"}));
  // A day field starting with '*' counts as unrestricted (Vixie cron), so both must match:
  // odd days that are Mondays.
  EXPECT_EQ(Fires(MustParse("0 0 */2 * 1"), Utc(2024, 9, 1), utc, 2),
            (Strings{"2024-09-09T00:00:00+00:00", "2024-09-23T00:00:00+00:00"}));
}

TEST(CronZoneTest, BerlinSpringForwardFiresOnceAfterTheGap) {
  TimeZone berlin = MustLoad("Europe/Berlin");
  // 2024-03-31: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
  EXPECT_EQ(Fires(MustParse("30 2 * * *"), Utc(2024, 3, 29, 12), berlin, 3),
            (Strings{"2024-03-30T02:30:00+01:00", "2024-03-31T03:00:00+02:00",
                     "2024-04-01T02:30:00+02:00"}));
  // Every minute of the gap collapses into one fire at 03:00, then the schedule goes on.
  EXPECT_EQ(Fires(MustParse("*/15 * * * *"), Utc(2024, 3, 31, 0, 40), berlin, 3),
            (Strings{"2024-03-31T01:45:00+01:00", "2024-03-31T03:00:00+02:00",
                     "2024-03-31T03:15:00+02:00"}));
  // A schedule at 03:00 is not disturbed by the gap before it.
  EXPECT_EQ(Fires(MustParse("0 3 * * *"), Utc(2024, 3, 30, 12), berlin, 1),
            (Strings{"2024-03-31T03:00:00+02:00"}));
}

TEST(CronZoneTest, NewYorkFallBackFiresOnceAtTheFirstOccurrence) {
  TimeZone ny = MustLoad("America/New_York");
  CronSchedule s = MustParse("30 1 * * *");
  // 2024-11-03: 01:00-02:00 happens twice (EDT, then EST).
  EXPECT_EQ(Fires(s, Utc(2024, 11, 2, 12), ny, 2),
            (Strings{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"}));
  // Asked during the repeated hour (01:10 EST, after the first 01:30 already passed).
  EXPECT_EQ(Fires(s, Utc(2024, 11, 3, 6, 10), ny, 1), (Strings{"2024-11-04T01:30:00-05:00"}));
  // An hourly schedule skips the repeated hour: 01:00 EDT, then 02:00 EST.
  EXPECT_EQ(Fires(MustParse("0 * * * *"), Utc(2024, 11, 3, 4, 30), ny, 2),
            (Strings{"2024-11-03T01:00:00-04:00", "2024-11-03T02:00:00-05:00"}));
  // Spring forward in New York: 02:30 fires at 03:00 EDT.
  EXPECT_EQ(Fires(MustParse("30 2 * * *"), Utc(2024, 3, 9, 12), ny, 2),
            (Strings{"2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"}));
}

TEST(CronZoneTest, LordHoweHalfHourShift) {
  TimeZone lh = MustLoad("Australia/Lord_Howe");
  // 2024-10-06: 02:00 (+10:30) jumps to 02:30 (+11).
  EXPECT_EQ(Fires(MustParse("15 2 * * *"), Utc(2024, 10, 5), lh, 2),
            (Strings{"2024-10-06T02:30:00+11:00", "2024-10-07T02:15:00+11:00"}));
  // 2025-04-06: 02:00 (+11) falls back to 01:30 (+10:30); 01:45 happens twice.
  EXPECT_EQ(Fires(MustParse("45 1 * * *"), Utc(2025, 4, 5), lh, 2),
            (Strings{"2025-04-06T01:45:00+11:00", "2025-04-07T01:45:00+10:30"}));
}

TEST(CronZoneTest, FarFutureUsesTheFooterRule) {
  TimeZone berlin = MustLoad("Europe/Berlin");
  sys_days spring = sys_days(year(2100) / March / Sunday[last]);  // 2100-03-28
  EXPECT_EQ(Fires(MustParse("30 2 * * *"), spring - hours(12), berlin, 2),
            (Strings{"2100-03-28T03:00:00+02:00", "2100-03-29T02:30:00+02:00"}));
  TimeZone ny = MustLoad("America/New_York");
  // 2400-11-05, the first Sunday of November: 01:30 happens twice and fires once.
  EXPECT_EQ(Fires(MustParse("30 1 * * *"), Utc(2400, 11, 4, 12), ny, 3),
            (Strings{"2400-11-05T01:30:00-04:00", "2400-11-06T01:30:00-05:00",
                     "2400-11-07T01:30:00-05:00"}));
}

// An independent statement of the DST rules, checked minute by minute: a schedule fires at
// the first instant the wall clock reaches a matching minute it has not shown before. Clocks
// that jump forward reach the skipped minutes at the jump; clocks that fall back show
// nothing new until they pass the latest minute already shown.
TEST(CronZoneTest, NextAgreesWithAMinuteByMinuteSimulation) {
  const std::vector<std::string> schedules = {"30 2 * * *", "*/15 * * * *", "0 * * * *",
                                              "45 1 * * *", "15,45 0-3 * * SUN"};
  for (const char* zone_name : {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe"}) {
    TimeZone zone = MustLoad(zone_name);
    for (int y : {2024, 2101}) {  // recorded transitions, then the footer rule
      for (auto [from, to] :
           {std::pair{Utc(y, 3, 20), Utc(y, 4, 10)}, std::pair{Utc(y, 9, 28), Utc(y, 11, 10)}}) {
        for (const std::string& text : schedules) {
          CronSchedule s = MustParse(text);
          std::vector<sys_seconds> expected;
          local_seconds shown = zone.ToLocal(from);
          for (sys_seconds t = from + minutes(1); t <= to; t += minutes(1)) {
            local_seconds now = zone.ToLocal(t);
            bool fire = false;
            for (local_seconds w = shown + minutes(1); w <= now && !fire; w += minutes(1)) {
              fire = s.Matches(w);
            }
            if (fire) expected.push_back(t);
            shown = std::max(shown, now);
          }
          auto actual = s.FiresBetween(from, to, zone, 100000);
          ASSERT_TRUE(actual) << actual.error().ToString();
          ASSERT_EQ(*actual, expected)
              << text << " in " << zone_name << " from " << FormatUtc(from);
        }
      }
    }
  }
}

TEST(CronZoneTest, PrototypeMaintenanceSchedulesInUtc) {
  TimeZone utc = MustLoad("UTC");
  sys_seconds after = Utc(2024, 9, 1, 0, 30);  // a Sunday
  EXPECT_EQ(Fires(MustParse("0 1 * * *"), after, utc, 2),
            (Strings{"2024-09-01T01:00:00+00:00", "2024-09-02T01:00:00+00:00"}));
  EXPECT_EQ(Fires(MustParse("0 2 * * *"), after, utc, 1), (Strings{"2024-09-01T02:00:00+00:00"}));
  EXPECT_EQ(Fires(MustParse("0 1 * * 1"), after, utc, 2),
            (Strings{"2024-09-02T01:00:00+00:00", "2024-09-09T01:00:00+00:00"}));
  EXPECT_EQ(Fires(MustParse("0 * * * *"), after, utc, 2),
            (Strings{"2024-09-01T01:00:00+00:00", "2024-09-01T02:00:00+00:00"}));
}

TEST(CronMissedRunsTest, PrevAndFiresBetween) {
  TimeZone utc;
  CronSchedule daily = MustParse("0 1 * * *");
  EXPECT_EQ(*daily.Prev(Utc(2024, 5, 2, 1), utc), Utc(2024, 5, 2, 1));  // at or before
  EXPECT_EQ(*daily.Prev(Utc(2024, 5, 2, 0, 59, 59), utc), Utc(2024, 5, 1, 1));
  EXPECT_EQ(*MustParse("0 0 29 2 *").Prev(Utc(2027, 1, 1), utc), Utc(2024, 2, 29));
  EXPECT_EQ(*MustParse("* * * * *").Prev(Utc(2024, 5, 2, 1, 0, 30), utc), Utc(2024, 5, 2, 1));

  auto hourly = MustParse("0 * * * *").FiresBetween(Utc(2024, 5, 1), Utc(2024, 5, 1, 5), utc, 10);
  ASSERT_TRUE(hourly);
  EXPECT_EQ(*hourly,
            (std::vector<sys_seconds>{Utc(2024, 5, 1, 1), Utc(2024, 5, 1, 2), Utc(2024, 5, 1, 3),
                                      Utc(2024, 5, 1, 4), Utc(2024, 5, 1, 5)}));
  auto limited = MustParse("0 * * * *").FiresBetween(Utc(2024, 5, 1), Utc(2024, 5, 2), utc, 3);
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->size(), 3u);
  EXPECT_EQ(limited->back(), Utc(2024, 5, 1, 3));

  // Across both DST changes in Berlin: each wall time once, 365 runs in 2024's 366 days
  // minus the first day (from is exclusive).
  TimeZone berlin = MustLoad("Europe/Berlin");
  auto year_of_runs =
      MustParse("30 2 * * *").FiresBetween(Utc(2024, 1, 1, 12), Utc(2025, 1, 1), berlin, 1000);
  ASSERT_TRUE(year_of_runs);
  EXPECT_EQ(year_of_runs->size(), 365u);
  EXPECT_EQ(*MustParse("30 2 * * *").Prev(Utc(2024, 3, 31, 12), berlin), Utc(2024, 3, 31, 1));
  EXPECT_EQ(*MustParse("30 2 * * *").Prev(Utc(2024, 10, 27, 12), berlin), Utc(2024, 10, 27, 0, 30));
}

TEST(CronMissedRunsTest, RestartAfterDowntimeWithAnInjectedClock) {
  // The orchestrator last ran the daily job for 2024-05-01 01:00 and comes back on the 4th.
  TimeZone utc;
  CronSchedule daily = MustParse("0 1 * * *");
  ManualClock clock(duration_cast<milliseconds>(Utc(2024, 5, 4, 0, 30).time_since_epoch()).count());
  sys_seconds last_run = Utc(2024, 5, 1, 1);
  auto missed = daily.FiresBetween(last_run, NowSeconds(clock), utc, 100);
  ASSERT_TRUE(missed);
  EXPECT_EQ(*missed, (std::vector<sys_seconds>{Utc(2024, 5, 2, 1), Utc(2024, 5, 3, 1)}));
  EXPECT_EQ(*daily.Prev(NowSeconds(clock), utc), Utc(2024, 5, 3, 1));  // the one to catch up
  EXPECT_EQ(*daily.Next(clock, utc), Utc(2024, 5, 4, 1));
  clock.AdvanceMillis(30 * 60 * 1000 + 500);  // 01:00:00.500: the run is due
  EXPECT_EQ(*daily.Prev(NowSeconds(clock), utc), Utc(2024, 5, 4, 1));
  EXPECT_EQ(*daily.Next(clock, utc), Utc(2024, 5, 5, 1));
}

TEST(CronNextTest, OutOfRange) {
  TimeZone utc;
  auto s = MustParse("0 0 * * *");
  EXPECT_FALSE(s.Next(Utc(9999, 12, 31, 12), utc));
  EXPECT_FALSE(s.Next(sys_seconds(seconds(int64_t{1} << 50)), utc));
  auto prev = MustParse("0 12 * * *").Prev(Utc(1, 1, 1, 0, 0, 10), utc);
  ASSERT_FALSE(prev);
  EXPECT_EQ(prev.error().kind, ErrorKind::kNotFound);
}

}  // namespace
}  // namespace frazil
