#include "frazil/iceberg/datum.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

namespace frazil::iceberg {
namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;
constexpr int kMaxDecimalDigits = 38;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

std::string TypeError(const Type& type, std::string_view what) {
  return "value for type " + type.ToString() + ": " + std::string(what);
}

// ---- Accessors that check the datum's alternative against the type. ----

std::optional<int64_t> AsInt64(const Datum& d) {
  if (auto* v = std::get_if<int64_t>(&d)) return *v;
  if (auto* v = std::get_if<int32_t>(&d)) return *v;
  return std::nullopt;
}

std::optional<double> AsDouble(const Datum& d) {
  if (auto* v = std::get_if<double>(&d)) return *v;
  if (auto* v = std::get_if<float>(&d)) return *v;
  return std::nullopt;
}

__int128 Pow10(int n) {
  __int128 p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

// Checks that `value` holds the alternative `type` needs (widening int->long and
// float->double is allowed, it is lossless).
Status CheckFits(const Type& type, const Datum& value) {
  if (IsNull(value)) return MakeError(ErrorKind::kInvalidArgument, TypeError(type, "is null"));
  bool ok = false;
  switch (type.id) {
    case TypeId::kBoolean: ok = std::holds_alternative<bool>(value); break;
    case TypeId::kInt:
    case TypeId::kDate: ok = std::holds_alternative<int32_t>(value); break;
    case TypeId::kLong:
    case TypeId::kTime:
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz: ok = AsInt64(value).has_value(); break;
    case TypeId::kFloat: ok = std::holds_alternative<float>(value); break;
    case TypeId::kDouble: ok = AsDouble(value).has_value(); break;
    case TypeId::kDecimal: {
      auto* d = std::get_if<Decimal128>(&value);
      if (d == nullptr) break;
      if (type.precision > 0 && type.precision <= kMaxDecimalDigits) {
        __int128 limit = Pow10(type.precision);
        if (d->unscaled >= limit || d->unscaled <= -limit) {
          return MakeError(ErrorKind::kInvalidArgument, TypeError(type, "has more digits than the precision"));
        }
      }
      ok = true;
      break;
    }
    case TypeId::kString: ok = std::holds_alternative<std::string>(value); break;
    case TypeId::kUuid: {
      auto* b = std::get_if<Bytes>(&value);
      if (b != nullptr && b->data.size() != 16) {
        return MakeError(ErrorKind::kInvalidArgument, TypeError(type, "uuid must be 16 bytes"));
      }
      ok = b != nullptr;
      break;
    }
    case TypeId::kFixed: {
      auto* b = std::get_if<Bytes>(&value);
      if (b != nullptr && type.length > 0 && b->data.size() != static_cast<size_t>(type.length)) {
        return MakeError(ErrorKind::kInvalidArgument,
                         TypeError(type, "has " + std::to_string(b->data.size()) + " bytes"));
      }
      ok = b != nullptr;
      break;
    }
    case TypeId::kBinary: ok = std::holds_alternative<Bytes>(value); break;
    case TypeId::kStruct:
    case TypeId::kList:
    case TypeId::kMap:
      return MakeError(ErrorKind::kUnsupported, TypeError(type, "nested types have no single value form"));
  }
  if (!ok) return MakeError(ErrorKind::kInvalidArgument, TypeError(type, "datum has the wrong kind"));
  return Ok();
}

void PutLittleEndian(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t GetLittleEndian(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < in.size(); ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

// Minimal-length big-endian two's complement, at least one byte.
std::string DecimalBytes(__int128 unscaled) {
  unsigned __int128 u = static_cast<unsigned __int128>(unscaled);
  std::string be(16, '\0');
  for (int i = 15; i >= 0; --i) {
    be[i] = static_cast<char>(static_cast<unsigned char>(u & 0xFF));
    u >>= 8;
  }
  size_t start = 0;
  while (start < 15) {
    unsigned char b = static_cast<unsigned char>(be[start]);
    unsigned char next_high = static_cast<unsigned char>(be[start + 1]) & 0x80;
    if ((b == 0x00 && next_high == 0) || (b == 0xFF && next_high != 0)) {
      ++start;
    } else {
      break;
    }
  }
  return be.substr(start);
}

// ---- Text formatting. ----

std::string Pad(int64_t v, int width) {
  std::string s = std::to_string(v);
  if (static_cast<int>(s.size()) < width) s.insert(0, width - s.size(), '0');
  return s;
}

std::string FormatDate(int64_t days) {
  CivilDate c = CivilFromDays(days);
  std::string year;
  if (c.year < 0) {
    year = "-" + Pad(-c.year, 4);
  } else if (c.year > 9999) {
    year = "+" + std::to_string(c.year);
  } else {
    year = Pad(c.year, 4);
  }
  return year + "-" + Pad(c.month, 2) + "-" + Pad(c.day, 2);
}

std::string FormatTimeOfDay(int64_t micros) {
  micros -= FloorDiv(micros, kMicrosPerDay) * kMicrosPerDay;
  int64_t secs = micros / kMicrosPerSecond;
  return Pad(secs / 3600, 2) + ":" + Pad(secs / 60 % 60, 2) + ":" + Pad(secs % 60, 2) + "." +
         Pad(micros % kMicrosPerSecond, 6);
}

std::string FormatTimestamp(int64_t micros, bool with_zone) {
  int64_t days = FloorDiv(micros, kMicrosPerDay);
  return FormatDate(days) + "T" + FormatTimeOfDay(micros - days * kMicrosPerDay) + (with_zone ? "+00:00" : "");
}

std::string FormatInt128(__int128 v) {
  bool negative = v < 0;
  unsigned __int128 u = negative ? -static_cast<unsigned __int128>(v) : static_cast<unsigned __int128>(v);
  std::string digits;
  do {
    digits.push_back(static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  } while (u != 0);
  if (negative) digits.push_back('-');
  return std::string(digits.rbegin(), digits.rend());
}

std::string FormatDecimal(__int128 unscaled, int scale) {
  if (scale <= 0) return FormatInt128(unscaled);
  bool negative = unscaled < 0;
  std::string digits = FormatInt128(unscaled);
  if (negative) digits.erase(0, 1);
  if (static_cast<int>(digits.size()) <= scale) digits.insert(0, scale + 1 - digits.size(), '0');
  digits.insert(digits.size() - scale, ".");
  return negative ? "-" + digits : digits;
}

constexpr char kHexDigits[] = "0123456789abcdef";

std::string Hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto b = static_cast<unsigned char>(c);
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0xF]);
  }
  return out;
}

std::string FormatUuid(std::string_view bytes) {
  std::string hex = Hex(bytes);
  if (hex.size() != 32) return hex;
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

template <typename F>
std::string FormatFloating(F v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, ptr) : std::to_string(v);
}

// ---- Text parsing. ----

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> ParseHex(std::string_view text) {
  if (text.size() % 2 != 0) return MakeError(ErrorKind::kInvalidArgument, "odd-length hex string");
  std::string out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = HexValue(text[i]);
    int lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return MakeError(ErrorKind::kInvalidArgument, "bad hex digit in '" + std::string(text) + "'");
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

Result<std::string> ParseUuid(std::string_view text) {
  std::string hex;
  if (text.size() == 36) {
    for (size_t i = 0; i < text.size(); ++i) {
      bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash_pos != (text[i] == '-')) {
        return MakeError(ErrorKind::kInvalidArgument, "malformed uuid '" + std::string(text) + "'");
      }
      if (!dash_pos) hex.push_back(text[i]);
    }
  } else if (text.size() == 32) {
    hex = text;
  } else {
    return MakeError(ErrorKind::kInvalidArgument, "malformed uuid '" + std::string(text) + "'");
  }
  return ParseHex(hex);
}

// Reads exactly `n` digits at `*pos`.
bool ReadDigits(std::string_view s, size_t* pos, size_t n, int64_t* out) {
  if (*pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool ReadChar(std::string_view s, size_t* pos, char c) {
  if (*pos < s.size() && s[*pos] == c) {
    ++*pos;
    return true;
  }
  return false;
}

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// [+-]YYYY-MM-DD (4 or more year digits).
bool ReadDate(std::string_view s, size_t* pos, int64_t* days) {
  bool negative = false;
  if (ReadChar(s, pos, '-')) {
    negative = true;
  } else {
    ReadChar(s, pos, '+');
  }
  size_t digits = 0;
  while (*pos + digits < s.size() && s[*pos + digits] >= '0' && s[*pos + digits] <= '9') ++digits;
  if (digits < 4 || digits > 9) return false;
  int64_t year = 0, month = 0, day = 0;
  if (!ReadDigits(s, pos, digits, &year) || !ReadChar(s, pos, '-') || !ReadDigits(s, pos, 2, &month) ||
      !ReadChar(s, pos, '-') || !ReadDigits(s, pos, 2, &day)) {
    return false;
  }
  if (negative) year = -year;
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, static_cast<int>(month))) return false;
  *days = DaysFromCivil(year, static_cast<int>(month), static_cast<int>(day));
  return true;
}

// HH:MM[:SS[.fffffffff]]
bool ReadTime(std::string_view s, size_t* pos, int64_t* micros) {
  int64_t h = 0, m = 0, sec = 0, frac = 0;
  if (!ReadDigits(s, pos, 2, &h) || !ReadChar(s, pos, ':') || !ReadDigits(s, pos, 2, &m)) return false;
  if (ReadChar(s, pos, ':')) {
    if (!ReadDigits(s, pos, 2, &sec)) return false;
    if (ReadChar(s, pos, '.')) {
      size_t n = 0;
      int64_t scale = 100'000;
      while (*pos < s.size() && s[*pos] >= '0' && s[*pos] <= '9') {
        if (n < 6) frac += (s[*pos] - '0') * scale;
        scale /= 10;
        ++n;
        ++*pos;
      }
      if (n == 0 || n > 9) return false;
    }
  }
  if (h > 23 || m > 59 || sec > 59) return false;
  *micros = ((h * 60 + m) * 60 + sec) * kMicrosPerSecond + frac;
  return true;
}

// Z | +HH:MM | -HH:MM | +HHMM | +HH; returns the offset in micros.
bool ReadOffset(std::string_view s, size_t* pos, int64_t* offset) {
  if (ReadChar(s, pos, 'Z') || ReadChar(s, pos, 'z')) {
    *offset = 0;
    return true;
  }
  int sign = 0;
  if (ReadChar(s, pos, '+')) {
    sign = 1;
  } else if (ReadChar(s, pos, '-')) {
    sign = -1;
  } else {
    return false;
  }
  int64_t h = 0, m = 0;
  if (!ReadDigits(s, pos, 2, &h)) return false;
  if (*pos < s.size()) {
    ReadChar(s, pos, ':');
    if (!ReadDigits(s, pos, 2, &m)) return false;
  }
  if (h > 18 || m > 59) return false;
  *offset = sign * (h * 60 + m) * 60 * kMicrosPerSecond;
  return true;
}

// "14.20", "-0.5", "2E+20", "1.5e-3": the unscaled value at `scale`. Digits below the
// scale must be zero (no silent rounding).
Result<Decimal128> ParseDecimal(std::string_view text, int scale) {
  auto bad = [&](std::string_view why) {
    return MakeError(ErrorKind::kInvalidArgument, "bad decimal '" + std::string(text) + "': " + std::string(why));
  };
  size_t pos = 0;
  bool negative = false;
  if (ReadChar(text, &pos, '-')) {
    negative = true;
  } else {
    ReadChar(text, &pos, '+');
  }
  std::string digits;
  int frac_digits = 0;
  bool seen_point = false;
  for (; pos < text.size(); ++pos) {
    char c = text[pos];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
      if (seen_point) ++frac_digits;
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      break;
    }
  }
  if (digits.empty()) return bad("no digits");
  int64_t exponent = 0;
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    bool exp_negative = ReadChar(text, &pos, '-');
    if (!exp_negative) ReadChar(text, &pos, '+');
    size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 6) {
      exponent = exponent * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == start) return bad("empty exponent");
    if (exp_negative) exponent = -exponent;
  }
  if (pos != text.size()) return bad("trailing characters");
  // value = digits * 10^(exponent - frac_digits); we want digits * 10^(shift).
  int64_t shift = exponent - frac_digits + scale;
  if (shift < 0) {
    for (int64_t i = 0; i < -shift; ++i) {
      if (digits.empty()) break;
      if (digits.back() != '0') return bad("more fractional digits than scale " + std::to_string(scale));
      digits.pop_back();
    }
    if (digits.empty()) digits = "0";
  } else {
    if (shift > kMaxDecimalDigits) shift = kMaxDecimalDigits + 1;
    digits.append(static_cast<size_t>(shift), '0');
  }
  size_t first = digits.find_first_not_of('0');
  digits = first == std::string::npos ? "0" : digits.substr(first);
  if (static_cast<int>(digits.size()) > kMaxDecimalDigits) return bad("more than 38 digits");
  __int128 v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return Decimal128{negative ? -v : v};
}

Result<int64_t> JsonToInt64(const Type& type, const nlohmann::json& json) {
  if (json.is_number_integer() && !json.is_number_unsigned()) return json.get<int64_t>();
  if (json.is_number_unsigned()) {
    uint64_t u = json.get<uint64_t>();
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return static_cast<int64_t>(u);
  }
  return MakeError(ErrorKind::kInvalidArgument, TypeError(type, "expected a JSON integer, got " + json.dump()));
}

Result<std::string> JsonToString(const Type& type, const nlohmann::json& json) {
  if (!json.is_string()) {
    return MakeError(ErrorKind::kInvalidArgument, TypeError(type, "expected a JSON string, got " + json.dump()));
  }
  return json.get<std::string>();
}

template <typename T>
int Compare3(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// Total order like Java's Double.compare: -0.0 < 0.0, NaN above everything.
int CompareFloating(double a, double b) {
  bool a_nan = std::isnan(a), b_nan = std::isnan(b);
  if (a_nan || b_nan) return a_nan == b_nan ? 0 : (a_nan ? 1 : -1);
  if (a == b && a == 0.0) return Compare3(!std::signbit(a), !std::signbit(b));
  return Compare3(a, b);
}

}  // namespace

CivilDate CivilFromDays(int64_t days) {
  // Counts in 400-year eras starting on 0000-03-01, so leap days fall at era/year ends.
  int64_t z = days + 719'468;
  int64_t era = FloorDiv(z, 146'097);
  int64_t doe = z - era * 146'097;                                          // [0, 146096]
  int64_t yoe = (doe - doe / 1'460 + doe / 36'524 - doe / 146'096) / 365;   // [0, 399]
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                    // [0, 365]
  int64_t mp = (5 * doy + 2) / 153;                                         // March = 0
  CivilDate c;
  c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = yoe + era * 400 + (c.month <= 2 ? 1 : 0);
  return c;
}

int64_t DaysFromCivil(int64_t year, int month, int day) {
  int64_t y = year - (month <= 2 ? 1 : 0);
  int64_t era = FloorDiv(y, 400);
  int64_t yoe = y - era * 400;
  int64_t mp = month > 2 ? month - 3 : month + 9;
  int64_t doy = (153 * mp + 2) / 5 + day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146'097 + doe - 719'468;
}

Result<int32_t> ParseDate(std::string_view text) {
  size_t pos = 0;
  int64_t days = 0;
  if (!ReadDate(text, &pos, &days) || pos != text.size() || days < std::numeric_limits<int32_t>::min() ||
      days > std::numeric_limits<int32_t>::max()) {
    return MakeError(ErrorKind::kInvalidArgument, "bad date '" + std::string(text) + "' (want YYYY-MM-DD)");
  }
  return static_cast<int32_t>(days);
}

Result<int64_t> ParseTime(std::string_view text) {
  size_t pos = 0;
  int64_t micros = 0;
  if (!ReadTime(text, &pos, &micros) || pos != text.size()) {
    return MakeError(ErrorKind::kInvalidArgument, "bad time '" + std::string(text) + "' (want HH:MM:SS.ffffff)");
  }
  return micros;
}

Result<int64_t> ParseTimestamp(std::string_view text, bool with_zone) {
  size_t pos = 0;
  int64_t days = 0, micros = 0, offset = 0;
  bool ok = ReadDate(text, &pos, &days) && (ReadChar(text, &pos, 'T') || ReadChar(text, &pos, ' ')) &&
            ReadTime(text, &pos, &micros);
  if (ok && pos < text.size()) ok = with_zone && ReadOffset(text, &pos, &offset);
  if (!ok || pos != text.size()) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "bad " + std::string(with_zone ? "timestamptz" : "timestamp") + " '" + std::string(text) + "'");
  }
  return days * kMicrosPerDay + micros - offset;
}

Result<std::string> EncodeBound(const Type& type, const Datum& value) {
  FRZ_RETURN_IF_ERROR(CheckFits(type, value));
  std::string out;
  switch (type.id) {
    case TypeId::kBoolean:
      out.push_back(std::get<bool>(value) ? '\x01' : '\x00');
      return out;
    case TypeId::kInt:
    case TypeId::kDate:
      PutLittleEndian(out, static_cast<uint32_t>(std::get<int32_t>(value)), 4);
      return out;
    case TypeId::kLong:
    case TypeId::kTime:
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz:
      PutLittleEndian(out, static_cast<uint64_t>(*AsInt64(value)), 8);
      return out;
    case TypeId::kFloat:
      PutLittleEndian(out, std::bit_cast<uint32_t>(std::get<float>(value)), 4);
      return out;
    case TypeId::kDouble:
      PutLittleEndian(out, std::bit_cast<uint64_t>(*AsDouble(value)), 8);
      return out;
    case TypeId::kDecimal:
      return DecimalBytes(std::get<Decimal128>(value).unscaled);
    case TypeId::kString:
      return std::get<std::string>(value);
    case TypeId::kUuid:
    case TypeId::kFixed:
    case TypeId::kBinary:
      return std::get<Bytes>(value).data;
    default:
      return MakeError(ErrorKind::kUnsupported, TypeError(type, "no binary form"));
  }
}

Result<Datum> DecodeBound(const Type& type, std::string_view bytes) {
  auto want = [&](size_t n) -> Status {
    if (bytes.size() == n) return Ok();
    return MakeError(ErrorKind::kCorrupt, "bound for type " + type.ToString() + " has " +
                                              std::to_string(bytes.size()) + " bytes, expected " + std::to_string(n));
  };
  switch (type.id) {
    case TypeId::kBoolean:
      FRZ_RETURN_IF_ERROR(want(1));
      return Datum(bytes[0] != 0);
    case TypeId::kInt:
    case TypeId::kDate:
      FRZ_RETURN_IF_ERROR(want(4));
      return Datum(static_cast<int32_t>(static_cast<uint32_t>(GetLittleEndian(bytes))));
    case TypeId::kLong:
    case TypeId::kTime:
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz:
      FRZ_RETURN_IF_ERROR(want(8));
      return Datum(static_cast<int64_t>(GetLittleEndian(bytes)));
    case TypeId::kFloat:
      FRZ_RETURN_IF_ERROR(want(4));
      return Datum(std::bit_cast<float>(static_cast<uint32_t>(GetLittleEndian(bytes))));
    case TypeId::kDouble:
      FRZ_RETURN_IF_ERROR(want(8));
      return Datum(std::bit_cast<double>(GetLittleEndian(bytes)));
    case TypeId::kDecimal: {
      if (bytes.empty() || bytes.size() > 16) {
        return MakeError(ErrorKind::kCorrupt, "decimal bound has " + std::to_string(bytes.size()) + " bytes");
      }
      // Sign-extend the big-endian two's complement into 128 bits.
      unsigned __int128 u = (static_cast<unsigned char>(bytes[0]) & 0x80) ? ~static_cast<unsigned __int128>(0) : 0;
      for (char c : bytes) u = (u << 8) | static_cast<unsigned char>(c);
      return Datum(Decimal128{static_cast<__int128>(u)});
    }
    case TypeId::kString:
      return Datum(std::string(bytes));
    case TypeId::kUuid:
      FRZ_RETURN_IF_ERROR(want(16));
      return Datum(Bytes{std::string(bytes)});
    case TypeId::kFixed:
      if (type.length > 0) FRZ_RETURN_IF_ERROR(want(static_cast<size_t>(type.length)));
      return Datum(Bytes{std::string(bytes)});
    case TypeId::kBinary:
      return Datum(Bytes{std::string(bytes)});
    default:
      return MakeError(ErrorKind::kUnsupported, TypeError(type, "no binary form"));
  }
}

int CompareDatum(const Datum& a, const Datum& b) {
  if (IsNull(a) || IsNull(b)) return Compare3(!IsNull(a), !IsNull(b));  // nulls first
  auto ia = AsInt64(a), ib = AsInt64(b);
  if (ia && ib) return Compare3(*ia, *ib);
  auto da = AsDouble(a), db = AsDouble(b);
  if (da && db) return CompareFloating(*da, *db);
  if (a.index() != b.index()) return Compare3(a.index(), b.index());
  if (auto* x = std::get_if<bool>(&a)) return Compare3(*x, std::get<bool>(b));
  if (auto* x = std::get_if<Decimal128>(&a)) return Compare3(x->unscaled, std::get<Decimal128>(b).unscaled);
  // Strings and bytes: unsigned lexicographic, which for UTF-8 is code-point order.
  std::string_view sa = std::holds_alternative<std::string>(a) ? std::get<std::string>(a) : std::get<Bytes>(a).data;
  std::string_view sb = std::holds_alternative<std::string>(b) ? std::get<std::string>(b) : std::get<Bytes>(b).data;
  size_t n = std::min(sa.size(), sb.size());
  int c = n == 0 ? 0 : std::memcmp(sa.data(), sb.data(), n);
  if (c != 0) return c < 0 ? -1 : 1;
  return Compare3(sa.size(), sb.size());
}

std::string DatumToString(const Type& type, const Datum& value) {
  if (IsNull(value)) return "null";
  if (auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (auto* s = std::get_if<std::string>(&value)) return *s;
  if (auto* f = std::get_if<float>(&value)) return FormatFloating(*f);
  if (auto* d = std::get_if<double>(&value)) return FormatFloating(*d);
  if (auto* d = std::get_if<Decimal128>(&value)) return FormatDecimal(d->unscaled, type.scale);
  if (auto* b = std::get_if<Bytes>(&value)) {
    return type.id == TypeId::kUuid ? FormatUuid(b->data) : Hex(b->data);
  }
  int64_t v = *AsInt64(value);
  switch (type.id) {
    case TypeId::kDate: return FormatDate(v);
    case TypeId::kTime: return FormatTimeOfDay(v);
    case TypeId::kTimestamp: return FormatTimestamp(v, false);
    case TypeId::kTimestampTz: return FormatTimestamp(v, true);
    default: return std::to_string(v);
  }
}

Result<nlohmann::json> DatumToJson(const Type& type, const Datum& value) {
  if (IsNull(value)) return nlohmann::json(nullptr);
  FRZ_RETURN_IF_ERROR(CheckFits(type, value));
  switch (type.id) {
    case TypeId::kBoolean:
      return nlohmann::json(std::get<bool>(value));
    case TypeId::kInt:
    case TypeId::kLong:
      return nlohmann::json(*AsInt64(value));
    case TypeId::kFloat:
    case TypeId::kDouble: {
      double d = *AsDouble(value);
      if (!std::isfinite(d)) {
        return MakeError(ErrorKind::kInvalidArgument, TypeError(type, "NaN and infinity have no JSON form"));
      }
      if (type.id == TypeId::kFloat) {
        // Go through the float's shortest text so 0.1f is written as 0.1, not 0.100000001.
        d = std::strtod(FormatFloating(std::get<float>(value)).c_str(), nullptr);
      }
      return nlohmann::json(d);
    }
    case TypeId::kDate:
    case TypeId::kTime:
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz:
    case TypeId::kDecimal:
    case TypeId::kString:
    case TypeId::kUuid:
    case TypeId::kFixed:
    case TypeId::kBinary:
      return nlohmann::json(DatumToString(type, value));
    default:
      return MakeError(ErrorKind::kUnsupported, TypeError(type, "no JSON single-value form"));
  }
}

Result<Datum> DatumFromJson(const Type& type, const nlohmann::json& json) {
  if (json.is_null()) return Datum{};
  switch (type.id) {
    case TypeId::kBoolean:
      if (!json.is_boolean()) {
        return MakeError(ErrorKind::kInvalidArgument, TypeError(type, "expected a JSON boolean, got " + json.dump()));
      }
      return Datum(json.get<bool>());
    case TypeId::kInt: {
      FRZ_ASSIGN_OR_RETURN(int64_t v, JsonToInt64(type, json));
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
        return MakeError(ErrorKind::kInvalidArgument, TypeError(type, json.dump() + " out of int range"));
      }
      return Datum(static_cast<int32_t>(v));
    }
    case TypeId::kLong: {
      FRZ_ASSIGN_OR_RETURN(int64_t v, JsonToInt64(type, json));
      return Datum(v);
    }
    case TypeId::kFloat:
    case TypeId::kDouble:
      if (!json.is_number()) {
        return MakeError(ErrorKind::kInvalidArgument, TypeError(type, "expected a JSON number, got " + json.dump()));
      }
      if (type.id == TypeId::kFloat) return Datum(static_cast<float>(json.get<double>()));
      return Datum(json.get<double>());
    default:
      break;
  }
  FRZ_ASSIGN_OR_RETURN(std::string text, JsonToString(type, json));
  switch (type.id) {
    case TypeId::kDate: {
      FRZ_ASSIGN_OR_RETURN(int32_t days, ParseDate(text));
      return Datum(days);
    }
    case TypeId::kTime: {
      FRZ_ASSIGN_OR_RETURN(int64_t micros, ParseTime(text));
      return Datum(micros);
    }
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz: {
      FRZ_ASSIGN_OR_RETURN(int64_t micros, ParseTimestamp(text, type.id == TypeId::kTimestampTz));
      return Datum(micros);
    }
    case TypeId::kDecimal: {
      FRZ_ASSIGN_OR_RETURN(Decimal128 d, ParseDecimal(text, type.scale));
      Datum out(d);
      FRZ_RETURN_IF_ERROR(CheckFits(type, out));
      return out;
    }
    case TypeId::kString:
      return Datum(std::move(text));
    case TypeId::kUuid: {
      FRZ_ASSIGN_OR_RETURN(std::string bytes, ParseUuid(text));
      return Datum(Bytes{std::move(bytes)});
    }
    case TypeId::kFixed:
    case TypeId::kBinary: {
      FRZ_ASSIGN_OR_RETURN(std::string bytes, ParseHex(text));
      Datum out(Bytes{std::move(bytes)});
      FRZ_RETURN_IF_ERROR(CheckFits(type, out));
      return out;
    }
    default:
      return MakeError(ErrorKind::kUnsupported, TypeError(type, "no JSON single-value form"));
  }
}

}  // namespace frazil::iceberg
