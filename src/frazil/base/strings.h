// Small string helpers shared across modules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/base/result.h"

namespace frazil {

// Appends `s` as a JSON string literal (quotes included, control characters escaped).
void AppendJsonString(std::string& out, std::string_view s);

// `s` with ASCII letters lowercased (identifiers; other bytes unchanged).
std::string AsciiLower(std::string_view s);

// "a, b,c" -> {"a", "b", "c"} (blanks around items dropped, empty items skipped).
std::vector<std::string> SplitList(std::string_view v);

// Parses a size in bytes: a number (a fraction allowed: `1.5GB`) with an optional unit
// B, KB, MB, GB, TB or KiB, MiB, GiB, TiB (case-insensitive; KB and KiB both mean 1024
// bytes, as Trino's data sizes do), spaces between allowed. A bare number is bytes.
// Errors: InvalidArgument with the accepted forms, also for zero or negative sizes.
Result<int64_t> ParseByteSize(std::string_view text);

// Base64 (RFC 4648) with padding; `url_safe` uses the URL alphabet ('-', '_') and no padding.
std::string Base64Encode(std::string_view in, bool url_safe = false);
// Decodes base64 (standard or URL alphabet, padding optional); nullopt if malformed.
std::optional<std::string> Base64Decode(std::string_view in);

}  // namespace frazil
