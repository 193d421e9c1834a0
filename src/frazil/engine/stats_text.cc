#include "frazil/engine/stats_text.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "frazil/base/random.h"

namespace frazil::engine {

using iceberg::Datum;
using iceberg::TypeId;

namespace {

// Reads an unsigned decimal number at s[*pos], advancing *pos.
bool ReadUint(std::string_view s, size_t* pos, int64_t* out, size_t min_digits = 1) {
  size_t start = *pos;
  int64_t v = 0;
  while (*pos < s.size() && s[*pos] >= '0' && s[*pos] <= '9') {
    v = v * 10 + (s[*pos] - '0');
    ++*pos;
    if (*pos - start > 18) return false;
  }
  *out = v;
  return *pos - start >= min_digits;
}

bool Expect(std::string_view s, size_t* pos, char c) {
  if (*pos < s.size() && s[*pos] == c) {
    ++*pos;
    return true;
  }
  return false;
}

std::optional<int64_t> ParseDateAt(std::string_view s, size_t* pos) {
  int64_t y, m, d;
  bool negative = Expect(s, pos, '-');
  if (!ReadUint(s, pos, &y) || !Expect(s, pos, '-') || !ReadUint(s, pos, &m) || !Expect(s, pos, '-') ||
      !ReadUint(s, pos, &d)) {
    return std::nullopt;
  }
  if (m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
  if (negative) y = -y;
  std::string_view rest = s.substr(*pos);
  if (rest.ends_with(" (BC)")) y = 1 - y;  // 1 BC is year 0
  return DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

// HH:MM:SS[.ffffff] -> microseconds.
std::optional<int64_t> ParseTimeAt(std::string_view s, size_t* pos) {
  int64_t h, mi, sec;
  if (!ReadUint(s, pos, &h) || !Expect(s, pos, ':') || !ReadUint(s, pos, &mi) || !Expect(s, pos, ':') ||
      !ReadUint(s, pos, &sec)) {
    return std::nullopt;
  }
  int64_t micros = 0;
  if (Expect(s, pos, '.')) {
    int digits = 0;
    while (*pos < s.size() && s[*pos] >= '0' && s[*pos] <= '9') {
      if (digits < 6) micros = micros * 10 + (s[*pos] - '0');
      ++digits;
      ++*pos;
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 6; ++i) micros *= 10;
  }
  return ((h * 60 + mi) * 60 + sec) * 1000000 + micros;
}

// "+HH", "+HH:MM", "-HH:MM:SS" -> offset seconds.
std::optional<int64_t> ParseOffsetAt(std::string_view s, size_t* pos) {
  if (*pos >= s.size()) return 0;
  int sign = s[*pos] == '-' ? -1 : (s[*pos] == '+' ? 1 : 0);
  if (sign == 0) return std::nullopt;
  ++*pos;
  int64_t h = 0, m = 0, sec = 0;
  if (!ReadUint(s, pos, &h)) return std::nullopt;
  if (Expect(s, pos, ':') && !ReadUint(s, pos, &m)) return std::nullopt;
  if (Expect(s, pos, ':') && !ReadUint(s, pos, &sec)) return std::nullopt;
  return sign * (h * 3600 + m * 60 + sec);
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<uint32_t> DecodeUtf8(std::string_view s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::string EncodeUtf8(const std::vector<uint32_t>& cps) {
  std::string out;
  for (uint32_t cp : cps) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

}  // namespace

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  // Shift the year to start in March so the leap day is the last day of the year.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::optional<Datum> ParseStatValue(const iceberg::Type& type, std::string_view text) {
  size_t pos = 0;
  switch (type.id) {
    case TypeId::kBoolean:
      if (text == "1" || text == "true") return Datum{true};
      if (text == "0" || text == "false") return Datum{false};
      return std::nullopt;
    case TypeId::kInt:
    case TypeId::kLong: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
      if (type.id == TypeId::kInt) return Datum{static_cast<int32_t>(v)};
      return Datum{v};
    }
    case TypeId::kFloat:
    case TypeId::kDouble: {
      std::string s(text);
      char* end = nullptr;
      double v = std::strtod(s.c_str(), &end);
      if (end != s.c_str() + s.size() || std::isnan(v)) return std::nullopt;
      if (type.id == TypeId::kFloat) return Datum{std::strtof(s.c_str(), nullptr)};
      return Datum{v};
    }
    case TypeId::kDecimal: {
      bool negative = !text.empty() && text[0] == '-';
      if (negative || (!text.empty() && text[0] == '+')) pos = 1;
      __int128 v = 0;
      int frac = -1;
      int digits = 0;
      for (; pos < text.size(); ++pos) {
        char c = text[pos];
        if (c == '.' && frac < 0) {
          frac = 0;
          continue;
        }
        if (c < '0' || c > '9') return std::nullopt;
        if (frac >= 0) {
          if (frac >= type.scale) continue;  // more digits than the scale: drop (never happens)
          ++frac;
        }
        v = v * 10 + (c - '0');
        if (++digits > 38) return std::nullopt;
      }
      for (int i = frac < 0 ? 0 : frac; i < type.scale; ++i) v *= 10;
      return Datum{iceberg::Decimal128{negative ? -v : v}};
    }
    case TypeId::kDate: {
      auto days = ParseDateAt(text, &pos);
      if (!days) return std::nullopt;
      return Datum{static_cast<int32_t>(*days)};
    }
    case TypeId::kTime: {
      auto t = ParseTimeAt(text, &pos);
      if (!t || pos != text.size()) return std::nullopt;
      return Datum{*t};
    }
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz: {
      bool bc = text.ends_with(" (BC)");
      if (bc) text.remove_suffix(5);
      auto days = ParseDateAt(text, &pos);
      if (!days || !(Expect(text, &pos, ' ') || Expect(text, &pos, 'T'))) return std::nullopt;
      if (bc) {
        // ParseDateAt saw no suffix; redo the year as BC.
        size_t p2 = 0;
        std::string with_bc = std::string(text.substr(0, pos - 1)) + " (BC)";
        days = ParseDateAt(with_bc, &p2);
      }
      auto t = ParseTimeAt(text, &pos);
      if (!t) return std::nullopt;
      auto offset = ParseOffsetAt(text, &pos);
      if (!offset || pos != text.size()) return std::nullopt;
      return Datum{*days * 86400000000LL + *t - *offset * 1000000};
    }
    case TypeId::kString: return Datum{std::string(text)};
    case TypeId::kUuid: {
      std::array<uint8_t, 16> bytes{};
      if (!ParseUuid(std::string(text), &bytes)) return std::nullopt;
      return Datum{iceberg::Bytes{std::string(reinterpret_cast<const char*>(bytes.data()), 16)}};
    }
    case TypeId::kBinary:
    case TypeId::kFixed: {
      if (text.size() % 2 != 0) return std::nullopt;
      std::string out;
      for (size_t i = 0; i < text.size(); i += 2) {
        int hi = HexDigit(text[i]), lo = HexDigit(text[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
      }
      return Datum{iceberg::Bytes{std::move(out)}};
    }
    default: return std::nullopt;
  }
}

std::optional<Datum> TruncateLowerBound(const iceberg::Type& type, const Datum& value, int n) {
  if (type.id == TypeId::kString) {
    auto cps = DecodeUtf8(std::get<std::string>(value));
    if (static_cast<int>(cps.size()) <= n) return value;
    cps.resize(n);
    return Datum{EncodeUtf8(cps)};
  }
  if (type.id == TypeId::kBinary) {  // fixed keeps its length: never truncated
    const auto& b = std::get<iceberg::Bytes>(value).data;
    if (static_cast<int>(b.size()) <= n) return value;
    return Datum{iceberg::Bytes{b.substr(0, n)}};
  }
  return value;
}

std::optional<Datum> TruncateUpperBound(const iceberg::Type& type, const Datum& value, int n) {
  if (type.id == TypeId::kString) {
    auto cps = DecodeUtf8(std::get<std::string>(value));
    if (static_cast<int>(cps.size()) <= n) return value;
    cps.resize(n);
    while (!cps.empty()) {
      uint32_t next = cps.back() + 1;
      if (next >= 0xD800 && next <= 0xDFFF) next = 0xE000;  // skip surrogates
      if (next <= 0x10FFFF) {
        cps.back() = next;
        return Datum{EncodeUtf8(cps)};
      }
      cps.pop_back();
    }
    return std::nullopt;
  }
  if (type.id == TypeId::kBinary) {  // fixed keeps its length: never truncated
    std::string b = std::get<iceberg::Bytes>(value).data;
    if (static_cast<int>(b.size()) <= n) return value;
    b.resize(n);
    while (!b.empty()) {
      auto last = static_cast<unsigned char>(b.back());
      if (last < 0xFF) {
        b.back() = static_cast<char>(last + 1);
        return Datum{iceberg::Bytes{b}};
      }
      b.pop_back();
    }
    return std::nullopt;
  }
  return value;
}

}  // namespace frazil::engine
