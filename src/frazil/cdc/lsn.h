// PostgreSQL log sequence numbers: a 64-bit WAL position, written "XXXXXXXX/XXXXXXXX".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "frazil/base/result.h"

namespace frazil::cdc {

using Lsn = uint64_t;
inline constexpr Lsn kInvalidLsn = 0;

// "16/B374D848" (upper-case hex, no leading zeros in either half, as PostgreSQL prints).
std::string FormatLsn(Lsn lsn);
// Parses "16/B374D848" (either case). Errors: InvalidArgument naming the text.
Result<Lsn> ParseLsn(std::string_view text);

}  // namespace frazil::cdc
