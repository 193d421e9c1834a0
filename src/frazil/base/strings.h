// Small string helpers shared across modules.
#pragma once

#include <string>
#include <string_view>

namespace frazil {

// Appends `s` as a JSON string literal (quotes included, control characters escaped).
void AppendJsonString(std::string& out, std::string_view s);

// `s` with ASCII letters lowercased (identifiers; other bytes unchanged).
std::string AsciiLower(std::string_view s);

}  // namespace frazil
