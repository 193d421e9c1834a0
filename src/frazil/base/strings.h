// Small string helpers shared across modules.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace frazil {

// Appends `s` as a JSON string literal (quotes included, control characters escaped).
void AppendJsonString(std::string& out, std::string_view s);

// `s` with ASCII letters lowercased (identifiers; other bytes unchanged).
std::string AsciiLower(std::string_view s);

// "a, b,c" -> {"a", "b", "c"} (blanks around items dropped, empty items skipped).
std::vector<std::string> SplitList(std::string_view v);

}  // namespace frazil
