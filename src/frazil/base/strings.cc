#include "frazil/base/strings.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace frazil {

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::vector<std::string> SplitList(std::string_view v) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    while (!cur.empty() && cur.back() == ' ') cur.pop_back();
    if (!cur.empty()) out.push_back(cur);
    cur.clear();
  };
  for (char ch : v) {
    if (ch == ',') {
      flush();
    } else if (!(ch == ' ' && cur.empty())) {
      cur += ch;
    }
  }
  flush();
  return out;
}

Result<int64_t> ParseByteSize(std::string_view text) {
  auto bad = [&] {
    return MakeError(ErrorKind::kInvalidArgument, "cannot read '" + std::string(text) +
                                                      "' as a size: use a positive number with an optional unit "
                                                      "B, KB, MB, GB, TB (or KiB, MiB, GiB, TiB), e.g. 128MB or 1.5GiB");
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  std::string number(text.substr(0, i));
  if (number.empty() || number == "." || std::count(number.begin(), number.end(), '.') > 1) return bad();
  std::string unit;
  for (char c : text.substr(i)) {
    if (c != ' ') unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  int shift = 0;
  if (unit.empty() || unit == "b") shift = 0;
  else if (unit == "kb" || unit == "kib" || unit == "k") shift = 10;
  else if (unit == "mb" || unit == "mib" || unit == "m") shift = 20;
  else if (unit == "gb" || unit == "gib" || unit == "g") shift = 30;
  else if (unit == "tb" || unit == "tib" || unit == "t") shift = 40;
  else return bad();
  double value = std::strtod(number.c_str(), nullptr);
  double bytes = value * static_cast<double>(int64_t{1} << shift);
  if (!(bytes >= 1) || bytes > 9.0e18) return bad();
  return static_cast<int64_t>(bytes);
}

}  // namespace frazil
