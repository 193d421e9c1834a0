#include "frazil/orchestrator/time_zone.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

namespace frazil {

namespace chr = std::chrono;

namespace time_zone_internal {

struct LocalType {
  int32_t utoff = 0;  // seconds east of UTC
  bool is_dst = false;
  std::string abbr;
};

// One end of the DST period of a POSIX TZ rule: a local date and a local time of day.
struct RuleDate {
  enum class Kind { kJulian1, kJulian0, kMonthWeekDay };  // "Jn", "n", "Mm.w.d"
  Kind kind = Kind::kMonthWeekDay;
  int day = 0;                           // Jn: 1-365 (Feb 29 never counted); n: 0-365
  int month = 0, week = 0, weekday = 0;  // Mm.w.d: week 5 = the last such weekday
  int32_t time = 2 * 3600;               // seconds after midnight; -167h..167h (RFC 8536)
};

// The TZif footer: a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3".
struct PosixTz {
  LocalType std_type;
  std::optional<LocalType> dst_type;  // absent: no DST, std_type applies all year
  RuleDate start, end;                // DST starts (in standard time) and ends (in DST)
};

}  // namespace time_zone_internal

using time_zone_internal::LocalType;
using time_zone_internal::PosixTz;
using time_zone_internal::RuleDate;

struct TimeZone::Data {
  std::string name;
  std::vector<LocalType> types;   // at least one
  std::vector<int64_t> trans_at;  // strictly ascending
  std::vector<uint8_t> trans_type;
  std::optional<PosixTz> footer;  // for instants at or after the last transition
};

namespace {

// The range in which calendar arithmetic is exact; instants outside are clamped when a
// footer rule is evaluated (the rule is the same every year, so nothing is lost).
constexpr int64_t kMinYearSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxYearSeconds = 253402300799;  // 9999-12-31T23:59:59Z
constexpr int64_t kDay = 86400;

int YearOf(int64_t t) {
  t = std::clamp(t, kMinYearSeconds, kMaxYearSeconds);
  auto days = chr::floor<chr::days>(chr::sys_seconds(chr::seconds(t)));
  return static_cast<int>(chr::year_month_day(days).year());
}

int64_t DaysSinceEpoch(chr::year_month_day ymd) {
  return chr::sys_days(ymd).time_since_epoch().count();
}

// Days since the epoch of the local date `d` names in `year`.
int64_t RuleDay(const RuleDate& d, int year) {
  chr::year y(year);
  switch (d.kind) {
    case RuleDate::Kind::kJulian1:
      return DaysSinceEpoch(y / chr::January / 1) + d.day - 1 + (y.is_leap() && d.day >= 60);
    case RuleDate::Kind::kJulian0:
      return DaysSinceEpoch(y / chr::January / 1) + d.day;
    case RuleDate::Kind::kMonthWeekDay: {
      chr::month m(static_cast<unsigned>(d.month));
      chr::weekday wd(static_cast<unsigned>(d.weekday));
      if (d.week == 5) return chr::sys_days(y / m / wd[chr::last]).time_since_epoch().count();
      return chr::sys_days(y / m / wd[static_cast<unsigned>(d.week)]).time_since_epoch().count();
    }
  }
  return 0;
}

struct RuleTransition {
  int64_t at;
  bool to_dst;
};

// The footer's transitions in the years around `year`, in time order. Ties keep year order,
// so a rule with DST all year ("EST5EDT,0/0,J365/25") ends a year and starts the next at the
// same instant with the start last.
std::vector<RuleTransition> RuleTransitions(const PosixTz& tz, int first_year, int last_year) {
  std::vector<RuleTransition> out;
  for (int y = first_year; y <= last_year; ++y) {
    out.push_back({RuleDay(tz.start, y) * kDay + tz.start.time - tz.std_type.utoff, true});
    out.push_back({RuleDay(tz.end, y) * kDay + tz.end.time - tz.dst_type->utoff, false});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const RuleTransition& a, const RuleTransition& b) { return a.at < b.at; });
  return out;
}

const LocalType& FooterAt(const PosixTz& tz, int64_t t) {
  if (!tz.dst_type) return tz.std_type;
  int y = YearOf(t);
  bool dst = false;
  for (const RuleTransition& r : RuleTransitions(tz, y - 1, y + 1)) {
    if (r.at > std::clamp(t, kMinYearSeconds, kMaxYearSeconds)) break;
    dst = r.to_dst;
  }
  return dst ? *tz.dst_type : tz.std_type;
}

const LocalType& TypeAt(const TimeZone::Data& z, int64_t t) {
  const auto& at = z.trans_at;
  if (at.empty()) return z.footer ? FooterAt(*z.footer, t) : z.types[0];
  // RFC 8536 §3.2: before the first transition, local time type 0 applies.
  if (t < at.front()) return z.types[0];
  if (z.footer && t >= at.back()) return FooterAt(*z.footer, t);
  size_t i = static_cast<size_t>(std::upper_bound(at.begin(), at.end(), t) - at.begin()) - 1;
  return z.types[z.trans_type[i]];
}

int32_t OffsetAt(const TimeZone::Data& z, int64_t t) { return TypeAt(z, t).utoff; }

struct OffsetChange {
  int64_t at;
  int32_t before, after;
};

// Every change of UTC offset in (lo, hi], recorded or from the footer rule. Transitions that
// change only the abbreviation or the DST flag do not move the wall clock and are left out.
std::vector<OffsetChange> OffsetChanges(const TimeZone::Data& z, int64_t lo, int64_t hi) {
  std::vector<int64_t> candidates;
  auto first = std::upper_bound(z.trans_at.begin(), z.trans_at.end(), lo);
  for (auto it = first; it != z.trans_at.end() && *it <= hi; ++it) candidates.push_back(*it);
  if (z.footer && z.footer->dst_type && (z.trans_at.empty() || hi > z.trans_at.back())) {
    for (const RuleTransition& r : RuleTransitions(*z.footer, YearOf(lo) - 1, YearOf(hi) + 1)) {
      bool after_recorded = z.trans_at.empty() || r.at > z.trans_at.back();
      if (r.at > lo && r.at <= hi && after_recorded) candidates.push_back(r.at);
    }
  }
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  std::vector<OffsetChange> out;
  for (int64_t at : candidates) {
    int32_t before = OffsetAt(z, at - 1), after = OffsetAt(z, at);
    if (before != after) out.push_back({at, before, after});
  }
  return out;
}

// ---- TZif parsing (RFC 8536) ----

class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}
  size_t remaining() const { return bytes_.size() - pos_; }
  size_t pos() const { return pos_; }
  // Callers check remaining() first; these never read past the end.
  uint8_t U8() { return static_cast<uint8_t>(bytes_[pos_++]); }
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | U8();
    return v;
  }
  int64_t I64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | U8();
    return static_cast<int64_t>(v);
  }
  std::string_view Take(size_t n) {
    std::string_view s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

struct TzifHeader {
  uint8_t version;  // 0 (v1), '2', '3', '4', ...
  uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;

  // Bytes of the data block that follows, with `time_size`-byte transition times.
  uint64_t BlockSize(uint64_t time_size) const {
    return uint64_t{timecnt} * time_size + timecnt + uint64_t{typecnt} * 6 + charcnt +
           uint64_t{leapcnt} * (time_size + 4) + isstdcnt + isutcnt;
  }
};

Error Corrupt(std::string_view origin, const std::string& what) {
  return Error{ErrorKind::kCorrupt, "time zone file " + std::string(origin) + ": " + what};
}

Result<TzifHeader> ReadHeader(ByteReader& r, std::string_view origin, const char* which) {
  if (r.remaining() < 44) {
    return std::unexpected(Corrupt(origin, std::string("truncated ") + which + " header"));
  }
  if (r.Take(4) != "TZif") {
    return std::unexpected(
        Corrupt(origin, std::string("not a TZif file (no 'TZif' magic in ") + which + " header)"));
  }
  TzifHeader h{};
  h.version = r.U8();
  if (h.version != 0 && h.version < '2') {
    return std::unexpected(
        Corrupt(origin, "unknown TZif version byte " + std::to_string(h.version)));
  }
  r.Take(15);
  h.isutcnt = r.U32();
  h.isstdcnt = r.U32();
  h.leapcnt = r.U32();
  h.timecnt = r.U32();
  h.typecnt = r.U32();
  h.charcnt = r.U32();
  // RFC 8536 §3.1: at least one type and one abbreviation byte; the indicator arrays are
  // either absent or one per type.
  if (h.typecnt == 0 || h.typecnt > 256 || h.charcnt == 0 ||
      (h.isutcnt != 0 && h.isutcnt != h.typecnt) || (h.isstdcnt != 0 && h.isstdcnt != h.typecnt)) {
    return std::unexpected(
        Corrupt(origin, std::string("inconsistent counts in ") + which + " header"));
  }
  return h;
}

Status ReadBlock(ByteReader& r, const TzifHeader& h, int time_size, std::string_view origin,
                 TimeZone::Data& z) {
  if (r.remaining() < h.BlockSize(time_size)) {
    return std::unexpected(Corrupt(origin, "truncated data block (needs " +
                                               std::to_string(h.BlockSize(time_size)) + " bytes, " +
                                               std::to_string(r.remaining()) + " left)"));
  }
  if (h.leapcnt != 0) {
    return MakeError(ErrorKind::kUnsupported,
                     "time zone file " + std::string(origin) +
                         " has leap-second records (a \"right/\" zone); use the zone without "
                         "the right/ prefix");
  }
  for (uint32_t i = 0; i < h.timecnt; ++i) {
    int64_t t = time_size == 8 ? r.I64() : static_cast<int32_t>(r.U32());
    if (!z.trans_at.empty() && t <= z.trans_at.back()) {
      return std::unexpected(Corrupt(origin, "transition times are not ascending"));
    }
    z.trans_at.push_back(t);
  }
  for (uint32_t i = 0; i < h.timecnt; ++i) {
    uint8_t type = r.U8();
    if (type >= h.typecnt) {
      return std::unexpected(Corrupt(origin, "transition refers to local time type " +
                                                 std::to_string(type) + " of " +
                                                 std::to_string(h.typecnt)));
    }
    z.trans_type.push_back(type);
  }
  std::vector<uint8_t> abbr_index;
  for (uint32_t i = 0; i < h.typecnt; ++i) {
    auto utoff = static_cast<int32_t>(r.U32());
    uint8_t is_dst = r.U8();
    uint8_t idx = r.U8();
    // RFC 9636 bounds offsets to -89999..93599; anything else would be garbage.
    if (utoff < -89999 || utoff > 93599 || is_dst > 1 || idx >= h.charcnt) {
      return std::unexpected(Corrupt(origin, "bad local time type " + std::to_string(i)));
    }
    z.types.push_back({utoff, is_dst == 1, ""});
    abbr_index.push_back(idx);
  }
  std::string_view chars = r.Take(h.charcnt);
  for (size_t i = 0; i < z.types.size(); ++i) {
    size_t end = chars.find('\0', abbr_index[i]);
    if (end == std::string_view::npos) {
      return std::unexpected(Corrupt(origin, "unterminated time zone abbreviation"));
    }
    z.types[i].abbr = std::string(chars.substr(abbr_index[i], end - abbr_index[i]));
  }
  r.Take(uint64_t{h.isstdcnt} + h.isutcnt);  // only meaningful for rules TZif never uses
  return Ok();
}

// ---- POSIX TZ strings (the footer; RFC 8536 §3.3) ----

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  std::optional<PosixTz> Parse() {
    PosixTz tz;
    int32_t secs = 0;
    if (!Name(tz.std_type.abbr) || !Hms(24, secs)) return std::nullopt;
    tz.std_type.utoff = -secs;  // POSIX counts hours west of Greenwich
    if (AtEnd()) return tz;
    LocalType dst{tz.std_type.utoff + 3600, true, ""};
    if (!Name(dst.abbr)) return std::nullopt;
    if (!AtEnd() && s_[i_] != ',') {
      if (!Hms(24, secs)) return std::nullopt;
      dst.utoff = -secs;
    }
    tz.dst_type = dst;
    // A DST name without a rule would leave the dates to an implementation default (the US
    // rules in tzcode); TZif writers always give the rule, so anything else is corrupt.
    if (!Eat(',') || !Rule(tz.start) || !Eat(',') || !Rule(tz.end) || !AtEnd()) {
      return std::nullopt;
    }
    return tz;
  }

 private:
  bool AtEnd() const { return i_ == s_.size(); }
  bool Eat(char c) {
    if (AtEnd() || s_[i_] != c) return false;
    ++i_;
    return true;
  }
  static bool IsAlpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  // "CET" (three or more letters) or "<+1030>" (letters, digits, '+', '-').
  bool Name(std::string& out) {
    size_t start = i_;
    if (Eat('<')) {
      while (!AtEnd() && (IsAlpha(s_[i_]) || IsDigit(s_[i_]) || s_[i_] == '+' || s_[i_] == '-')) {
        ++i_;
      }
      out = std::string(s_.substr(start + 1, i_ - start - 1));
      return Eat('>') && out.size() >= 3;
    }
    while (!AtEnd() && IsAlpha(s_[i_])) ++i_;
    out = std::string(s_.substr(start, i_ - start));
    return out.size() >= 3;
  }

  bool Number(int max_digits, int max_value, int& out) {
    size_t start = i_;
    out = 0;
    while (!AtEnd() && IsDigit(s_[i_]) && i_ - start < static_cast<size_t>(max_digits)) {
      out = out * 10 + (s_[i_++] - '0');
    }
    return i_ > start && out <= max_value;
  }

  // [+-]hh[:mm[:ss]] as signed seconds.
  bool Hms(int max_hours, int32_t& out) {
    int sign = 1;
    if (Eat('-')) {
      sign = -1;
    } else {
      Eat('+');
    }
    int h = 0, m = 0, s = 0;
    if (!Number(3, max_hours, h)) return false;
    if (Eat(':') && (!Number(2, 59, m) || (Eat(':') && !Number(2, 59, s)))) return false;
    out = sign * (h * 3600 + m * 60 + s);
    return true;
  }

  bool Rule(RuleDate& d) {
    if (Eat('J')) {
      d.kind = RuleDate::Kind::kJulian1;
      if (!Number(3, 365, d.day) || d.day < 1) return false;
    } else if (Eat('M')) {
      d.kind = RuleDate::Kind::kMonthWeekDay;
      if (!Number(2, 12, d.month) || d.month < 1 || !Eat('.') || !Number(1, 5, d.week) ||
          d.week < 1 || !Eat('.') || !Number(1, 6, d.weekday)) {
        return false;
      }
    } else {
      d.kind = RuleDate::Kind::kJulian0;
      if (!Number(3, 365, d.day)) return false;
    }
    // RFC 8536 §3.3.1 extends the time to -167..167 hours.
    return !Eat('/') || Hms(167, d.time);
  }

  std::string_view s_;
  size_t i_ = 0;
};

bool ValidZoneName(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.back() == '/' ||
      name.find("..") != std::string_view::npos || name.find("//") != std::string_view::npos) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '+' || c == '-' || c == '.' || c == '/';
  });
}

std::shared_ptr<const TimeZone::Data> UtcData() {
  static const std::shared_ptr<const TimeZone::Data> data =
      std::make_shared<TimeZone::Data>(TimeZone::Data{"UTC", {{0, false, "UTC"}}, {}, {}, {}});
  return data;
}

void AppendTwoDigits(std::string& out, int64_t v) {
  out += static_cast<char>('0' + v / 10);
  out += static_cast<char>('0' + v % 10);
}

// "YYYY-MM-DDTHH:MM:SS" for seconds since the epoch (of either clock).
std::string FormatCivil(int64_t t) {
  t = std::clamp(t, kMinYearSeconds, kMaxYearSeconds);
  auto days = chr::floor<chr::days>(chr::sys_seconds(chr::seconds(t)));
  chr::year_month_day ymd(days);
  int64_t secs = t - days.time_since_epoch().count() * kDay;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                static_cast<int>(secs % 60));
  return buf;
}

}  // namespace

TimeZone::TimeZone() : data_(UtcData()) {}

TimeZone TimeZone::Utc() { return TimeZone(); }

const std::string& TimeZone::name() const { return data_->name; }

Result<TimeZone> TimeZone::FromTzif(std::string_view name, std::string_view bytes,
                                    std::string_view origin) {
  auto z = std::make_shared<Data>();
  z->name = std::string(name);
  ByteReader r(bytes);
  FRZ_ASSIGN_OR_RETURN(TzifHeader h, ReadHeader(r, origin, "first"));
  if (h.version == 0) {
    FRZ_RETURN_IF_ERROR(ReadBlock(r, h, 4, origin, *z));
  } else {
    // Version 2+: skip the 32-bit block; the 64-bit block and the footer follow it.
    if (r.remaining() < h.BlockSize(4)) {
      return std::unexpected(Corrupt(origin, "truncated version 1 data block"));
    }
    r.Take(h.BlockSize(4));
    FRZ_ASSIGN_OR_RETURN(TzifHeader h2, ReadHeader(r, origin, "second"));
    FRZ_RETURN_IF_ERROR(ReadBlock(r, h2, 8, origin, *z));
    if (r.remaining() < 2 || r.U8() != '\n') {
      return std::unexpected(Corrupt(origin, "missing TZ string footer"));
    }
    std::string_view rest = r.Take(r.remaining());
    size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) {
      return std::unexpected(Corrupt(origin, "unterminated TZ string footer"));
    }
    if (nl + 1 != rest.size()) {
      return std::unexpected(Corrupt(origin, "unexpected bytes after the TZ string footer"));
    }
    std::string_view footer = rest.substr(0, nl);
    if (!footer.empty()) {
      z->footer = PosixParser(footer).Parse();
      if (!z->footer) {
        return std::unexpected(
            Corrupt(origin, "bad TZ string footer '" + std::string(footer) + "'"));
      }
    }
  }
  return TimeZone(std::move(z));
}

Result<TimeZone> TimeZone::Load(std::string_view name, std::string_view zoneinfo_dir) {
  if (!ValidZoneName(name)) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "invalid time zone name '" + std::string(name) +
                         "' (expected an IANA name such as Europe/Berlin or UTC)");
  }
  namespace fs = std::filesystem;
  fs::path dir(zoneinfo_dir);
  fs::path path = dir / fs::path(name);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return MakeError(ErrorKind::kNotFound,
                     "time zone '" + std::string(name) + "': the time zone database " +
                         dir.string() +
                         " does not exist; install the tzdata package (apt-get install tzdata)");
  }
  auto status = fs::status(path, ec);
  if (!fs::exists(status)) {
    return MakeError(ErrorKind::kNotFound, "unknown time zone '" + std::string(name) +
                                               "' (no file " + path.string() + ")");
  }
  if (!fs::is_regular_file(status)) {
    return MakeError(ErrorKind::kNotFound, "unknown time zone '" + std::string(name) + "' (" +
                                               path.string() +
                                               " is not a zone file; zones are named like "
                                               "Europe/Berlin)");
  }
  // Zone files are a few kilobytes; a large file is not one.
  constexpr uintmax_t kMaxSize = 1 << 20;
  uintmax_t size = fs::file_size(path, ec);
  if (ec) {
    return MakeError(ErrorKind::kIOError, "cannot read " + path.string() + ": " + ec.message());
  }
  if (size > kMaxSize) {
    return std::unexpected(Corrupt(path.string(), "too large to be a TZif file"));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) {
    return MakeError(ErrorKind::kIOError, "cannot read " + path.string());
  }
  return FromTzif(name, bytes.str(), path.string());
}

ZoneOffset TimeZone::Lookup(chr::sys_seconds instant) const {
  const LocalType& t = TypeAt(*data_, instant.time_since_epoch().count());
  return {chr::seconds(t.utoff), t.is_dst, t.abbr};
}

chr::local_seconds TimeZone::ToLocal(chr::sys_seconds instant) const {
  int64_t t = instant.time_since_epoch().count();
  return chr::local_seconds(chr::seconds(t + OffsetAt(*data_, t)));
}

LocalTimeLookup TimeZone::FromLocal(chr::local_seconds local) const {
  // A solution t of t + offset(t) == local lies within 26 hours of `local` (offsets are
  // bounded), so the offsets in force during two days either side are the only candidates.
  const Data& z = *data_;
  int64_t l = local.time_since_epoch().count();
  std::vector<OffsetChange> changes = OffsetChanges(z, l - 2 * kDay, l + 2 * kDay);
  std::vector<int32_t> offsets{OffsetAt(z, l - 2 * kDay)};
  for (const OffsetChange& c : changes) offsets.push_back(c.after);
  std::vector<int64_t> solutions;
  for (int32_t o : offsets) {
    if (OffsetAt(z, l - o) == o) solutions.push_back(l - o);
  }
  std::sort(solutions.begin(), solutions.end());
  solutions.erase(std::unique(solutions.begin(), solutions.end()), solutions.end());
  auto at = [](int64_t t) { return chr::sys_seconds(chr::seconds(t)); };
  if (solutions.size() >= 2) {
    return {LocalTimeLookup::Kind::kOverlap, at(solutions.front()), at(solutions.back())};
  }
  if (solutions.size() == 1) {
    return {LocalTimeLookup::Kind::kUnique, at(solutions[0]), at(solutions[0])};
  }
  // No solution: `local` lies in the wall-clock span a forward jump skips.
  for (const OffsetChange& c : changes) {
    if (c.at + c.before <= l && l < c.at + c.after) {
      return {LocalTimeLookup::Kind::kGap, at(c.at), at(c.at)};
    }
  }
  // Unreachable for a consistent zone; the first later change is the best answer.
  for (const OffsetChange& c : changes) {
    if (c.at + c.after > l) return {LocalTimeLookup::Kind::kGap, at(c.at), at(c.at)};
  }
  return {LocalTimeLookup::Kind::kUnique, at(l), at(l)};
}

std::string TimeZone::Format(chr::sys_seconds instant) const {
  int64_t t = instant.time_since_epoch().count();
  int32_t off = OffsetAt(*data_, t);
  std::string out = FormatCivil(t + off);
  out += off < 0 ? '-' : '+';
  int32_t a = off < 0 ? -off : off;
  AppendTwoDigits(out, a / 3600);
  out += ':';
  AppendTwoDigits(out, a / 60 % 60);
  if (a % 60 != 0) {
    out += ':';
    AppendTwoDigits(out, a % 60);
  }
  return out;
}

std::string FormatUtc(chr::sys_seconds instant) {
  return FormatCivil(instant.time_since_epoch().count()) + "Z";
}

}  // namespace frazil
