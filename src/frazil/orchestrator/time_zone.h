// IANA time zones read from the system's TZif files (RFC 8536), for schedules that run at a
// local wall time. libstdc++ 12 has no std::chrono::tzdb, so frazil parses the files itself:
// the 64-bit (v2+) data block for the recorded transitions and the POSIX TZ footer string for
// instants after the last one. Instants are std::chrono::sys_seconds (UTC, no leap seconds),
// wall times std::chrono::local_seconds, so the type system keeps the two apart.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "frazil/base/clock.h"
#include "frazil/base/result.h"

namespace frazil {

// Where Debian's `tzdata` package installs the zone files.
inline constexpr std::string_view kDefaultZoneInfoDir = "/usr/share/zoneinfo";

// The local time in effect at one instant.
struct ZoneOffset {
  std::chrono::seconds utc_offset{0};  // local = UTC + utc_offset (east of Greenwich > 0)
  bool is_dst = false;
  std::string abbreviation;  // "CEST", "+1030"; informational only
};

// What a local wall time corresponds to. Clocks jump forward at a gap (spring forward: the
// wall times in between never happen) and back at an overlap (fall back: they happen twice).
struct LocalTimeLookup {
  enum class Kind {
    kUnique,   // exactly one instant: `earliest` == `latest`
    kGap,      // no instant; `earliest` == `latest` == the transition, the first instant
               // after the gap (where the wall clock reads the end of the gap)
    kOverlap,  // two instants, `earliest` < `latest`
  };
  Kind kind = Kind::kUnique;
  std::chrono::sys_seconds earliest;
  std::chrono::sys_seconds latest;
};

// An immutable, cheaply copyable time zone. The default-constructed zone is UTC.
class TimeZone {
 public:
  TimeZone();

  // Loads the zone `name` ("Europe/Berlin", "UTC", "America/New_York") from
  // `zoneinfo_dir`/`name`. Errors: InvalidArgument for a name that is empty, starts with '/',
  // contains a ".." component or characters outside [A-Za-z0-9_+-./]; NotFound naming the
  // zone if there is no such file (saying to install `tzdata` when the directory itself is
  // missing); Corrupt naming the file if it is not a valid TZif file; Unsupported for zones
  // with leap seconds ("right/..."); IOError if the file cannot be read.
  static Result<TimeZone> Load(std::string_view name,
                               std::string_view zoneinfo_dir = kDefaultZoneInfoDir);

  // Parses TZif bytes. `name` is the zone's name, `origin` names the source in errors.
  // Errors: Corrupt (truncated, bad counts or indices, unsorted transitions, bad footer),
  // Unsupported (leap seconds).
  static Result<TimeZone> FromTzif(std::string_view name, std::string_view bytes,
                                   std::string_view origin);

  // The built-in UTC zone (needs no file).
  static TimeZone Utc();

  const std::string& name() const;

  // The offset, DST flag and abbreviation in effect at `instant`.
  ZoneOffset Lookup(std::chrono::sys_seconds instant) const;
  std::chrono::seconds UtcOffset(std::chrono::sys_seconds instant) const {
    return Lookup(instant).utc_offset;
  }

  // The wall time at `instant`.
  std::chrono::local_seconds ToLocal(std::chrono::sys_seconds instant) const;

  // The instant(s) at which the wall clock reads `local`; see LocalTimeLookup.
  LocalTimeLookup FromLocal(std::chrono::local_seconds local) const;

  // RFC 3339 with the local offset: "2024-03-31T03:00:00+02:00" (seconds appear in the
  // offset only when it has them, as for pre-1900 local mean time).
  std::string Format(std::chrono::sys_seconds instant) const;

  struct Data;  // the parsed file; defined in time_zone.cc

 private:
  explicit TimeZone(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;
};

// The clock's current time, truncated to whole seconds.
inline std::chrono::sys_seconds NowSeconds(const Clock& clock) {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::sys_time<std::chrono::milliseconds>(
      std::chrono::milliseconds(clock.NowMillis())));
}

// "2024-03-31T01:00:00Z".
std::string FormatUtc(std::chrono::sys_seconds instant);

}  // namespace frazil
