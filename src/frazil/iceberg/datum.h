// A single typed value, as needed for partition values, column bounds and predicates.
// The Iceberg type that gives it meaning travels beside it (the Datum does not carry it):
//   boolean -> bool; int, date (days) -> int32_t; long, time (us), timestamp(tz) (us) ->
//   int64_t; float -> float; double -> double; decimal -> Decimal (unscaled 128-bit);
//   string -> std::string (UTF-8); binary, fixed, uuid (16 raw bytes) -> Bytes.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "frazil/base/result.h"
#include "frazil/iceberg/type.h"

namespace frazil::iceberg {

struct Decimal128 {
  __int128 unscaled = 0;
  bool operator==(const Decimal128&) const = default;
  auto operator<=>(const Decimal128& o) const {
    return unscaled < o.unscaled ? std::strong_ordering::less
           : unscaled > o.unscaled ? std::strong_ordering::greater
                                   : std::strong_ordering::equal;
  }
};

struct Bytes {
  std::string data;
  bool operator==(const Bytes&) const = default;
  auto operator<=>(const Bytes&) const = default;
};

using Datum = std::variant<std::monostate, bool, int32_t, int64_t, float, double, Decimal128,
                           std::string, Bytes>;

inline bool IsNull(const Datum& d) { return std::holds_alternative<std::monostate>(d); }

// Single-value binary serialization (spec Appendix D), used for manifest bounds and
// partition summaries. Errors: InvalidArgument if the datum does not fit the type.
Result<std::string> EncodeBound(const Type& type, const Datum& value);
// Errors: Corrupt if the bytes have the wrong length for the type.
Result<Datum> DecodeBound(const Type& type, std::string_view bytes);

// Orders two non-null datums of the same type (-1, 0, 1); strings by UTF-8 bytes
// (which equals code-point order), binary unsigned lexicographic.
int CompareDatum(const Datum& a, const Datum& b);

// Human/SQL readable text: 2017-11-16, 2017-11-16T22:31:08.000001, 14.20, uuid text,
// binary as hex. Used in CLI output and in SQL literals.
std::string DatumToString(const Type& type, const Datum& value);

// Single-value JSON serialization (spec Appendix D, JSON), for partition values in
// metadata and in the REST API, and for default values.
Result<nlohmann::json> DatumToJson(const Type& type, const Datum& value);
Result<Datum> DatumFromJson(const Type& type, const nlohmann::json& json);

// Proleptic Gregorian calendar over day counts from 1970-01-01 (negative = earlier), used
// by DatumToString and the year/month transforms.
struct CivilDate {
  int64_t year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
};
CivilDate CivilFromDays(int64_t days);
int64_t DaysFromCivil(int64_t year, int month, int day);

// Parses the text forms DatumToString/DatumToJson write for date ("2017-11-16"), time
// ("22:31:08.123456"), timestamp ("2017-11-16T22:31:08.123456") and timestamptz (same with
// "+00:00", "Z" or any offset, converted to UTC; no offset = UTC). Fractional seconds may
// have 0..9 digits (beyond microseconds truncated). Errors: InvalidArgument.
Result<int32_t> ParseDate(std::string_view text);
Result<int64_t> ParseTime(std::string_view text);
Result<int64_t> ParseTimestamp(std::string_view text, bool with_zone);

}  // namespace frazil::iceberg
