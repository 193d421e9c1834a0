#include "frazil/iceberg/transform.h"

#include <bit>
#include <cctype>
#include <charconv>

namespace frazil::iceberg {
namespace {

constexpr int64_t kMicrosPerHour = 3'600'000'000LL;
constexpr int64_t kMicrosPerDay = 24 * kMicrosPerHour;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

bool IsTimestamp(TypeId id) { return id == TypeId::kTimestamp || id == TypeId::kTimestampTz; }

std::optional<int64_t> AsInt64(const Datum& d) {
  if (auto* v = std::get_if<int64_t>(&d)) return *v;
  if (auto* v = std::get_if<int32_t>(&d)) return *v;
  return std::nullopt;
}

// Days since 1970-01-01 of a date (days) or timestamp (micros) value.
std::optional<int64_t> DaysOf(const Type& source, const Datum& value) {
  auto v = AsInt64(value);
  if (!v) return std::nullopt;
  return source.id == TypeId::kDate ? *v : FloorDiv(*v, kMicrosPerDay);
}

// The first `n` code points of a UTF-8 string (continuation bytes are 10xxxxxx).
std::string TruncateUtf8(const std::string& s, int n) {
  int seen = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (seen == n) return s.substr(0, i);
      ++seen;
    }
  }
  return s;
}

std::unexpected<Error> WrongDatum(const Transform& t, const Type& source) {
  return MakeError(ErrorKind::kInvalidArgument,
                   "transform " + t.ToString() + ": datum does not match source type " + source.ToString());
}

}  // namespace

std::string Transform::ToString() const {
  switch (kind) {
    case TransformKind::kIdentity: return "identity";
    case TransformKind::kBucket: return "bucket[" + std::to_string(param) + "]";
    case TransformKind::kTruncate: return "truncate[" + std::to_string(param) + "]";
    case TransformKind::kYear: return "year";
    case TransformKind::kMonth: return "month";
    case TransformKind::kDay: return "day";
    case TransformKind::kHour: return "hour";
    case TransformKind::kVoid: return "void";
  }
  return "unknown";
}

bool Transform::CanTransform(const Type& source) const {
  TypeId id = source.id;
  switch (kind) {
    case TransformKind::kIdentity:
      return source.is_primitive();
    case TransformKind::kVoid:
      return true;
    case TransformKind::kBucket:
      return id == TypeId::kInt || id == TypeId::kLong || id == TypeId::kDecimal || id == TypeId::kDate ||
             id == TypeId::kTime || IsTimestamp(id) || id == TypeId::kString || id == TypeId::kUuid ||
             id == TypeId::kFixed || id == TypeId::kBinary;
    case TransformKind::kTruncate:
      return id == TypeId::kInt || id == TypeId::kLong || id == TypeId::kDecimal || id == TypeId::kString ||
             id == TypeId::kBinary;
    case TransformKind::kYear:
    case TransformKind::kMonth:
    case TransformKind::kDay:
      return id == TypeId::kDate || IsTimestamp(id);
    case TransformKind::kHour:
      return IsTimestamp(id);
  }
  return false;
}

Result<TypePtr> Transform::ResultType(const TypePtr& source) const {
  if (!source || !CanTransform(*source)) {
    return MakeError(ErrorKind::kInvalidArgument, "transform " + ToString() + " cannot apply to type " +
                                                      (source ? source->ToString() : std::string("<null>")));
  }
  switch (kind) {
    case TransformKind::kBucket:
    case TransformKind::kYear:
    case TransformKind::kMonth:
    case TransformKind::kHour:
      return Primitive(TypeId::kInt);
    case TransformKind::kDay:
      return Primitive(TypeId::kDate);
    default:
      return source;
  }
}

bool Transform::PreservesOrder() const {
  return kind != TransformKind::kBucket && kind != TransformKind::kVoid;
}

Result<Datum> Transform::Apply(const Type& source, const Datum& value) const {
  if (IsNull(value) || kind == TransformKind::kVoid) return Datum{};
  if (!CanTransform(source)) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "transform " + ToString() + " cannot apply to type " + source.ToString());
  }
  if ((kind == TransformKind::kBucket || kind == TransformKind::kTruncate) && param <= 0) {
    return MakeError(ErrorKind::kInvalidArgument, "transform " + ToString() + " needs a positive parameter");
  }
  switch (kind) {
    case TransformKind::kIdentity:
      return value;
    case TransformKind::kBucket: {
      FRZ_ASSIGN_OR_RETURN(int32_t hash, BucketHash(source, value));
      return Datum(static_cast<int32_t>((hash & 0x7FFFFFFF) % param));
    }
    case TransformKind::kTruncate: {
      // v - floorMod(v, W), computed wide; results below the type's range wrap like Java.
      if (source.id == TypeId::kInt || source.id == TypeId::kLong) {
        auto v = AsInt64(value);
        if (!v) return WrongDatum(*this, source);
        __int128 wide = *v;
        __int128 truncated = wide - (((wide % param) + param) % param);
        if (source.id == TypeId::kInt) return Datum(static_cast<int32_t>(truncated));
        return Datum(static_cast<int64_t>(truncated));
      }
      if (auto* d = std::get_if<Decimal128>(&value)) {
        __int128 v = d->unscaled;
        return Datum(Decimal128{v - (((v % param) + param) % param)});
      }
      if (auto* s = std::get_if<std::string>(&value)) return Datum(TruncateUtf8(*s, param));
      if (auto* b = std::get_if<Bytes>(&value)) {
        return Datum(Bytes{b->data.substr(0, static_cast<size_t>(param))});
      }
      return WrongDatum(*this, source);
    }
    case TransformKind::kYear:
    case TransformKind::kMonth:
    case TransformKind::kDay: {
      auto days = DaysOf(source, value);
      if (!days) return WrongDatum(*this, source);
      if (kind == TransformKind::kDay) return Datum(static_cast<int32_t>(*days));
      CivilDate c = CivilFromDays(*days);
      int64_t years = c.year - 1970;
      if (kind == TransformKind::kYear) return Datum(static_cast<int32_t>(years));
      return Datum(static_cast<int32_t>(years * 12 + (c.month - 1)));
    }
    case TransformKind::kHour: {
      auto v = AsInt64(value);
      if (!v) return WrongDatum(*this, source);
      return Datum(static_cast<int32_t>(FloorDiv(*v, kMicrosPerHour)));
    }
    case TransformKind::kVoid:
      break;
  }
  return Datum{};
}

Result<Transform> ParseTransform(std::string_view text) {
  std::string s;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) s.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  struct Simple {
    std::string_view name;
    TransformKind kind;
  };
  static constexpr Simple kSimple[] = {
      {"identity", TransformKind::kIdentity}, {"year", TransformKind::kYear},
      {"month", TransformKind::kMonth},       {"day", TransformKind::kDay},
      {"hour", TransformKind::kHour},         {"void", TransformKind::kVoid},
  };
  for (const auto& simple : kSimple) {
    if (s == simple.name) return Transform{simple.kind, 0};
  }
  for (auto [prefix, kind] : {std::pair{std::string_view("bucket["), TransformKind::kBucket},
                              std::pair{std::string_view("truncate["), TransformKind::kTruncate}}) {
    if (s.starts_with(prefix) && s.ends_with("]")) {
      std::string_view digits = std::string_view(s).substr(prefix.size(), s.size() - prefix.size() - 1);
      int n = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (ec == std::errc() && ptr == digits.data() + digits.size() && n > 0) return Transform{kind, n};
    }
  }
  return MakeError(ErrorKind::kInvalidArgument, "unknown partition transform '" + std::string(text) + "'");
}

int32_t Murmur3Hash32(std::string_view bytes) {
  constexpr uint32_t kC1 = 0xcc9e2d51;
  constexpr uint32_t kC2 = 0x1b873593;
  auto mix_k = [](uint32_t k) {
    k *= kC1;
    k = std::rotl(k, 15);
    return k * kC2;
  };
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  uint32_t h = 0;  // seed
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint32_t k = static_cast<uint32_t>(data[i]) | static_cast<uint32_t>(data[i + 1]) << 8 |
                 static_cast<uint32_t>(data[i + 2]) << 16 | static_cast<uint32_t>(data[i + 3]) << 24;
    h ^= mix_k(k);
    h = std::rotl(h, 13);
    h = h * 5 + 0xe6546b64;
  }
  uint32_t tail = 0;
  switch (n - i) {
    case 3: tail ^= static_cast<uint32_t>(data[i + 2]) << 16; [[fallthrough]];
    case 2: tail ^= static_cast<uint32_t>(data[i + 1]) << 8; [[fallthrough]];
    case 1:
      tail ^= data[i];
      h ^= mix_k(tail);
      break;
    default: break;
  }
  h ^= static_cast<uint32_t>(n);
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return static_cast<int32_t>(h);
}

Result<int32_t> BucketHash(const Type& type, const Datum& value) {
  switch (type.id) {
    case TypeId::kInt:
    case TypeId::kDate:
    case TypeId::kLong:
    case TypeId::kTime:
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz: {
      // The spec hashes all of these as an 8-byte little-endian long, so that promoting
      // int to long keeps bucket assignments.
      auto v = AsInt64(value);
      if (!v) {
        return MakeError(ErrorKind::kInvalidArgument, "bucket hash: datum does not match type " + type.ToString());
      }
      auto u = static_cast<uint64_t>(*v);
      char buf[8];
      for (int b = 0; b < 8; ++b) buf[b] = static_cast<char>((u >> (8 * b)) & 0xFF);
      return Murmur3Hash32(std::string_view(buf, 8));
    }
    case TypeId::kDecimal:
    case TypeId::kString:
    case TypeId::kUuid:
    case TypeId::kFixed:
    case TypeId::kBinary: {
      // The single-value binary form is exactly the hashed form for these types.
      FRZ_ASSIGN_OR_RETURN(std::string bytes, EncodeBound(type, value));
      return Murmur3Hash32(bytes);
    }
    default:
      return MakeError(ErrorKind::kInvalidArgument, "bucket transform cannot hash type " + type.ToString());
  }
}

}  // namespace frazil::iceberg
