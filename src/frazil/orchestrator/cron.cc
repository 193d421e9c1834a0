#include "frazil/orchestrator/cron.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace frazil {

namespace chr = std::chrono;

namespace {

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"SUN", "MON", "TUE", "WED",
                                                           "THU", "FRI", "SAT"};

struct FieldSpec {
  const char* name;
  int min, max;
  int star_max;  // '*' covers min..star_max (day-of-week: 0-6, though 7 is accepted)
  const std::string_view* names;  // nullptr, or the names of min..min+size-1
  size_t name_count;
  const char* name_hint;
  bool seven_is_sunday = false;  // day-of-week: 7 is another name for 0
};

constexpr FieldSpec kMinute{"minute", 0, 59, 59, nullptr, 0, ""};
constexpr FieldSpec kHour{"hour", 0, 23, 23, nullptr, 0, ""};
constexpr FieldSpec kDayOfMonth{"day-of-month", 1, 31, 31, nullptr, 0, ""};
constexpr FieldSpec kMonth{
    "month", 1, 12, 12, kMonthNames.data(), 12, " or a month name (JAN-DEC)"};
constexpr FieldSpec kDayOfWeek{
    "day-of-week", 0, 7, 6, kWeekdayNames.data(), 7, " or a weekday name (SUN-SAT)", true};

struct Macro {
  std::string_view name, expansion;
};
constexpr std::array<Macro, 7> kMacros = {{{"@hourly", "0 * * * *"},
                                           {"@daily", "0 0 * * *"},
                                           {"@midnight", "0 0 * * *"},
                                           {"@weekly", "0 0 * * 0"},
                                           {"@monthly", "0 0 1 * *"},
                                           {"@yearly", "0 0 1 1 *"},
                                           {"@annually", "0 0 1 1 *"}}};

// Calendar arithmetic is exact within these years; schedules do not reach past them.
constexpr int kMaxYear = 9999;
const chr::sys_seconds kMinInstant{chr::sys_days(chr::year(1) / 1 / 1)};
const chr::sys_seconds kMaxInstant{chr::sys_days(chr::year(kMaxYear) / 12 / 31)};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

std::vector<std::string_view> SplitWhitespace(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// Parses the fields of one expression; every error names the expression and the field.
class FieldParser {
 public:
  explicit FieldParser(std::string_view expression) : expression_(expression) {}

  std::unexpected<Error> Fail(const std::string& what) const {
    return MakeError(ErrorKind::kInvalidArgument,
                     "cron '" + std::string(expression_) + "': " + what);
  }

  // A number or a name of `spec`, in range.
  Result<int> Value(const FieldSpec& spec, std::string_view token) const {
    bool digits = !token.empty() && std::all_of(token.begin(), token.end(),
                                                [](char c) { return c >= '0' && c <= '9'; });
    if (digits) {
      if (token.size() > 4) return OutOfRange(spec, token);
      int v = 0;
      for (char c : token) v = v * 10 + (c - '0');
      if (v < spec.min || v > spec.max) return OutOfRange(spec, token);
      return v;
    }
    for (size_t i = 0; i < spec.name_count; ++i) {
      if (EqualsIgnoreCase(token, spec.names[i])) return spec.min + static_cast<int>(i);
    }
    return Fail(std::string(spec.name) + " '" + std::string(token) + "' is not a number" +
                spec.name_hint);
  }

  // One field: a comma-separated list of '*', N, N-M, each optionally followed by /STEP.
  // Sets the selected values in `bits`.
  template <size_t N>
  Status Field(const FieldSpec& spec, std::string_view text, std::bitset<N>& bits) const {
    for (std::string_view item : Split(text, ',')) {
      if (item.empty()) {
        return Fail(std::string(spec.name) + " '" + std::string(text) + "' has an empty list item");
      }
      std::string_view range = item;
      int step = 1;
      bool has_step = false;
      if (size_t slash = item.find('/'); slash != std::string_view::npos) {
        range = item.substr(0, slash);
        std::string_view step_text = item.substr(slash + 1);
        bool digits = !step_text.empty() && step_text.size() <= 4 &&
                      std::all_of(step_text.begin(), step_text.end(),
                                  [](char c) { return c >= '0' && c <= '9'; });
        if (!digits) {
          return Fail(std::string(spec.name) + " step '" + std::string(step_text) + "' in '" +
                      std::string(item) + "' is not a number");
        }
        step = std::stoi(std::string(step_text));
        if (step < 1 || step > spec.star_max - spec.min + 1) {
          return Fail(std::string(spec.name) + " step " + std::string(step_text) + " in '" +
                      std::string(item) + "' is out of range 1-" +
                      std::to_string(spec.star_max - spec.min + 1));
        }
        has_step = true;
      }
      int lo, hi;
      if (range == "*") {
        lo = spec.min;
        hi = spec.star_max;
      } else if (size_t dash = range.find('-'); dash != std::string_view::npos) {
        FRZ_ASSIGN_OR_RETURN(lo, Value(spec, range.substr(0, dash)));
        FRZ_ASSIGN_OR_RETURN(hi, Value(spec, range.substr(dash + 1)));
        if (lo > hi) {
          return Fail(std::string(spec.name) + " range '" + std::string(range) +
                      "' is backwards (ranges do not wrap around; use a list such as "
                      "'5-6,0-1')");
        }
      } else {
        FRZ_ASSIGN_OR_RETURN(lo, Value(spec, range));
        // "N/STEP" means N up to the end of the range, as in most crons that accept it.
        hi = has_step ? spec.star_max : lo;
      }
      for (int v = lo; v <= hi; v += step) {
        bits.set(static_cast<size_t>(spec.seven_is_sunday && v == 7 ? 0 : v));
      }
    }
    return Ok();
  }

 private:
  std::unexpected<Error> OutOfRange(const FieldSpec& spec, std::string_view token) const {
    return Fail(std::string(spec.name) + " " + std::string(token) + " is out of range " +
                std::to_string(spec.min) + "-" + std::to_string(spec.max));
  }

  std::string_view expression_;
};

unsigned LastDay(int year, unsigned month) {
  return static_cast<unsigned>((chr::year(year) / chr::month(month) / chr::last).day());
}

}  // namespace

Result<CronSchedule> CronSchedule::Parse(std::string_view expression) {
  std::vector<std::string_view> fields = SplitWhitespace(expression);
  std::string trimmed;
  for (std::string_view f : fields) trimmed += (trimmed.empty() ? "" : " ") + std::string(f);
  FieldParser parser(trimmed);
  if (fields.size() == 1 && fields[0].starts_with('@')) {
    for (const Macro& m : kMacros) {
      if (EqualsIgnoreCase(fields[0], m.name)) {
        FRZ_ASSIGN_OR_RETURN(CronSchedule s, Parse(m.expansion));
        s.expression_ = trimmed;
        return s;
      }
    }
    return parser.Fail(
        "unknown macro (use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or "
        "@annually)");
  }
  if (fields.size() != 5) {
    return parser.Fail(
        "expected 5 fields (minute hour day-of-month month day-of-week) or a macro, got " +
        std::to_string(fields.size()));
  }
  CronSchedule s;
  s.expression_ = trimmed;
  FRZ_RETURN_IF_ERROR(parser.Field(kMinute, fields[0], s.minutes_));
  FRZ_RETURN_IF_ERROR(parser.Field(kHour, fields[1], s.hours_));
  FRZ_RETURN_IF_ERROR(parser.Field(kDayOfMonth, fields[2], s.days_));
  FRZ_RETURN_IF_ERROR(parser.Field(kMonth, fields[3], s.months_));
  FRZ_RETURN_IF_ERROR(parser.Field(kDayOfWeek, fields[4], s.weekdays_));
  s.days_star_ = fields[2].starts_with('*');
  s.weekdays_star_ = fields[4].starts_with('*');
  // With the OR rule some weekday always matches. Otherwise a day-of-month must exist in a
  // selected month (Feb 29 counts); every existing date falls on every weekday in some year.
  if (s.days_star_ || s.weekdays_star_) {
    bool possible = false;
    for (unsigned m = 1; m <= 12; ++m) {
      for (unsigned d = 1; d <= LastDay(2000, m); ++d) possible |= s.months_[m] && s.days_[d];
    }
    if (!possible) {
      return parser.Fail("never fires: no selected month has the selected day-of-month");
    }
  }
  return s;
}

bool CronSchedule::DayMatches(chr::year_month_day ymd) const {
  bool dom = days_[static_cast<unsigned>(ymd.day())];
  bool dow = weekdays_[chr::weekday(chr::sys_days(ymd)).c_encoding()];
  // Vixie cron: if either field starts with '*' both must match, otherwise either may.
  return days_star_ || weekdays_star_ ? dom && dow : dom || dow;
}

bool CronSchedule::Matches(chr::local_seconds local) const {
  auto day = chr::floor<chr::days>(local);
  chr::year_month_day ymd(day);
  auto minute_of_day = chr::floor<chr::minutes>(local - day).count();
  return months_[static_cast<unsigned>(ymd.month())] && DayMatches(ymd) &&
         hours_[static_cast<size_t>(minute_of_day / 60)] &&
         minutes_[static_cast<size_t>(minute_of_day % 60)];
}

Result<chr::local_seconds> CronSchedule::NextMatch(chr::local_seconds from) const {
  auto start = chr::ceil<chr::minutes>(from);
  auto start_day = chr::floor<chr::days>(start);
  chr::year_month_day ymd(start_day);
  int y = static_cast<int>(ymd.year());
  unsigned m = static_cast<unsigned>(ymd.month());
  unsigned d = static_cast<unsigned>(ymd.day());
  auto minute_of_day = (start - start_day).count();
  int h = static_cast<int>(minute_of_day / 60);
  int mi = static_cast<int>(minute_of_day % 60);
  // The Gregorian calendar repeats every 400 years, so a schedule that Parse accepted
  // matches within that span.
  const int last_year = std::min(y + 401, kMaxYear);
  auto next_day = [&] {
    h = 0;
    mi = 0;
    if (++d > LastDay(y, m)) {
      d = 1;
      if (++m > 12) {
        m = 1;
        ++y;
      }
    }
  };
  while (y <= last_year) {
    if (!months_[m]) {
      d = LastDay(y, m);  // next_day() moves to the first of the next month
      next_day();
      continue;
    }
    if (!DayMatches(chr::year(y) / chr::month(m) / chr::day(d))) {
      next_day();
      continue;
    }
    while (h < 24 && !hours_[static_cast<size_t>(h)]) {
      ++h;
      mi = 0;
    }
    while (h < 24 && mi < 60 && !minutes_[static_cast<size_t>(mi)]) ++mi;
    if (h >= 24) {
      next_day();
      continue;
    }
    if (mi >= 60) {  // no matching minute left in this hour
      ++h;
      mi = 0;
      if (h >= 24) next_day();
      continue;
    }
    return chr::local_days(chr::year(y) / chr::month(m) / chr::day(d)) + chr::hours(h) +
           chr::minutes(mi);
  }
  return MakeError(
      ErrorKind::kInvalidArgument,
      "cron '" + expression_ + "': no fire time before the year " + std::to_string(last_year + 1));
}

Result<chr::sys_seconds> CronSchedule::Next(chr::sys_seconds after, const TimeZone& zone) const {
  if (after < kMinInstant || after > kMaxInstant) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "cron '" + expression_ + "': instant " +
                         std::to_string(after.time_since_epoch().count()) +
                         " is outside the years 0001-9999");
  }
  // Wall times are visited in order. Mapping each to its fire instant (the first occurrence,
  // or the end of a gap) never goes backwards in time, so the first candidate whose instant
  // is after `after` is the answer. Wall times up to the one at `after` map to `after` or
  // earlier, so the search starts at the next minute; candidates that still map to an
  // earlier instant are the second pass of an overlap, at most a day of minutes.
  chr::local_seconds wall = chr::floor<chr::minutes>(zone.ToLocal(after)) + chr::minutes(1);
  for (int i = 0; i < 2 * 24 * 60; ++i) {
    FRZ_ASSIGN_OR_RETURN(chr::local_seconds match, NextMatch(wall));
    chr::sys_seconds fire = zone.FromLocal(match).earliest;
    if (fire > after) return fire;
    wall = match + chr::minutes(1);
  }
  return MakeError(ErrorKind::kInternal, "cron '" + expression_ + "': no progress in zone " +
                                             zone.name() + " after " + FormatUtc(after));
}

Result<chr::sys_seconds> CronSchedule::Prev(chr::sys_seconds at, const TimeZone& zone) const {
  // Widen a window (lo, at] until it holds a fire time, then bisect down to the last one,
  // keeping Next(lo) <= at < Next(hi).
  chr::seconds width(3600);
  chr::sys_seconds lo;
  while (true) {
    lo = at - width;
    if (lo < kMinInstant || width > chr::days(402 * 366)) {
      return MakeError(ErrorKind::kNotFound,
                       "cron '" + expression_ + "': no fire time before " + zone.Format(at));
    }
    FRZ_ASSIGN_OR_RETURN(chr::sys_seconds first, Next(lo, zone));
    if (first <= at) break;
    width *= 2;
  }
  chr::sys_seconds hi = at;
  while (hi - lo > chr::seconds(1)) {
    chr::sys_seconds mid = lo + (hi - lo) / 2;
    FRZ_ASSIGN_OR_RETURN(chr::sys_seconds next, Next(mid, zone));
    (next <= at ? lo : hi) = mid;
  }
  return Next(lo, zone);
}

Result<std::vector<chr::sys_seconds>> CronSchedule::FiresBetween(chr::sys_seconds from,
                                                                 chr::sys_seconds to,
                                                                 const TimeZone& zone,
                                                                 size_t limit) const {
  std::vector<chr::sys_seconds> out;
  chr::sys_seconds t = from;
  while (out.size() < limit && t < to) {
    FRZ_ASSIGN_OR_RETURN(t, Next(t, zone));
    if (t > to) break;
    out.push_back(t);
  }
  return out;
}

}  // namespace frazil
