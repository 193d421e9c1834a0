// Parsing of the text DuckDB prints for values (COPY ... RETURN_STATS min/max and VARCHAR
// casts) into Iceberg Datums, and the truncation of string/binary bounds.
#pragma once

#include <optional>
#include <string_view>

#include "frazil/iceberg/datum.h"
#include "frazil/iceberg/type.h"

namespace frazil::engine {

// Text forms: boolean "1"/"0"/"true"/"false"; integers; floats ("0.1", "1e+300", "inf");
// decimal "-12.30" (rescaled to the type's scale); date "1960-01-02" (or "0044-03-15 (BC)");
// time "12:00:01.5"; timestamp "2020-01-01 01:02:03.123456"; timestamptz with "+00" /
// "+05:30" offset; uuid text; binary/fixed as hex ("00FF"); string as is.
// nullopt if the text does not parse.
std::optional<iceberg::Datum> ParseStatValue(const iceberg::Type& type, std::string_view text);

// Days since 1970-01-01 of a proleptic Gregorian date.
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);

// Lower bound of a string (first `n` code points) or binary (first `n` bytes);
// other types unchanged.
std::optional<iceberg::Datum> TruncateLowerBound(const iceberg::Type& type, const iceberg::Datum& value, int n);
// Upper bound: unchanged if short enough, else the first `n` code points/bytes with the last
// one incremented (carrying over maximal ones); nullopt if no upper bound exists.
std::optional<iceberg::Datum> TruncateUpperBound(const iceberg::Type& type, const iceberg::Datum& value, int n);

}  // namespace frazil::engine
