#include "frazil/cdc/lsn.h"

#include <cstdio>

namespace frazil::cdc {

namespace {

// PostgreSQL's pg_lsn input accepts 1 to 8 hex digits per half (MAXPG_LSNCOMPONENT), so
// "00000016/0B374D848" is rejected and "0000/1" is accepted; we accept the same language.
constexpr size_t kMaxHalfDigits = 8;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses one half; false if empty, too long or not hex.
bool ParseHalf(std::string_view digits, uint32_t* out) {
  if (digits.empty() || digits.size() > kMaxHalfDigits) return false;
  uint32_t value = 0;
  for (char c : digits) {
    int v = HexValue(c);
    if (v < 0) return false;
    value = (value << 4) | static_cast<uint32_t>(v);
  }
  *out = value;
  return true;
}

}  // namespace

std::string FormatLsn(Lsn lsn) {
  char buf[18];  // "FFFFFFFF/FFFFFFFF" and the NUL
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xFFFFFFFFu));
  return buf;
}

Result<Lsn> ParseLsn(std::string_view text) {
  size_t slash = text.find('/');
  uint32_t hi = 0;
  uint32_t lo = 0;
  if (slash == std::string_view::npos || !ParseHalf(text.substr(0, slash), &hi) ||
      !ParseHalf(text.substr(slash + 1), &lo)) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "invalid LSN \"" + std::string(text.substr(0, 64)) +
                         "\": expected two groups of 1 to 8 hex digits separated by '/', "
                         "like \"16/B374D848\"");
  }
  return (static_cast<Lsn>(hi) << 32) | lo;
}

}  // namespace frazil::cdc
