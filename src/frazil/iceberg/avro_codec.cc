// Avro binary encoding (spec "Binary Encoding") of AvroValue trees.
#include <bit>
#include <cmath>
#include <cstring>
#include <string>

#include "frazil/iceberg/avro.h"

namespace frazil::iceberg::avro {
namespace {

// A decoded array/map may not hold more items than this when its items can encode to zero
// bytes (null, empty record): otherwise a 10-byte count could allocate gigabytes.
constexpr int64_t kMaxZeroSizeItems = 1 << 20;
constexpr int kMaxDepth = 64;

std::unexpected<Error> InvalidValue(const AvroSchema& schema, const AvroValue& value,
                                    std::string_view what) {
  return MakeError(ErrorKind::kInvalidArgument, "avro encode: " + std::string(what) + " (schema " +
                                                    std::string(AvroTypeName(schema.type)) +
                                                    ", value " +
                                                    std::string(AvroTypeName(value.type)) + ")");
}

void PutFixed32(uint32_t v, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutFixed64(uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// How well a value of type `v` fits a union branch of type `s`: 2 exact, 1 convertible.
int BranchFit(AvroType v, AvroType s) {
  if (v == s) return 2;
  auto numeric_int = [](AvroType t) { return t == AvroType::kInt || t == AvroType::kLong; };
  auto numeric_fp = [](AvroType t) { return t == AvroType::kFloat || t == AvroType::kDouble; };
  auto binary = [](AvroType t) {
    return t == AvroType::kBytes || t == AvroType::kString || t == AvroType::kFixed;
  };
  if (numeric_int(v) && numeric_int(s)) return 1;
  if (numeric_fp(v) && numeric_fp(s)) return 1;
  if (binary(v) && binary(s)) return 1;
  if (v == AvroType::kString && s == AvroType::kEnum) return 1;
  return 0;
}

bool ItemsCanBeEmpty(const AvroSchema& s) {
  switch (s.type) {
    case AvroType::kNull:
      return true;
    case AvroType::kFixed:
      return s.size == 0;
    case AvroType::kRecord:
      for (const AvroField& f : s.fields) {
        if (!ItemsCanBeEmpty(*f.type)) return false;
      }
      return true;
    default:
      return false;
  }
}

Status Encode(const AvroSchema& schema, const AvroValue& value, std::string* out, int depth) {
  if (depth > kMaxDepth) return InvalidValue(schema, value, "nested too deeply");
  switch (schema.type) {
    case AvroType::kNull:
      if (!value.is_null()) return InvalidValue(schema, value, "expected null");
      return Ok();
    case AvroType::kBoolean:
      if (value.type != AvroType::kBoolean) return InvalidValue(schema, value, "expected boolean");
      out->push_back(value.bool_value ? 1 : 0);
      return Ok();
    case AvroType::kInt:
      if (value.type != AvroType::kInt && value.type != AvroType::kLong) {
        return InvalidValue(schema, value, "expected int");
      }
      if (value.long_value < INT32_MIN || value.long_value > INT32_MAX) {
        return InvalidValue(schema, value, "int out of range");
      }
      EncodeAvroLong(value.long_value, out);
      return Ok();
    case AvroType::kLong:
      if (value.type != AvroType::kInt && value.type != AvroType::kLong) {
        return InvalidValue(schema, value, "expected long");
      }
      EncodeAvroLong(value.long_value, out);
      return Ok();
    case AvroType::kFloat:
      if (value.type != AvroType::kFloat && value.type != AvroType::kDouble) {
        return InvalidValue(schema, value, "expected float");
      }
      PutFixed32(std::bit_cast<uint32_t>(static_cast<float>(value.double_value)), out);
      return Ok();
    case AvroType::kDouble:
      if (value.type != AvroType::kFloat && value.type != AvroType::kDouble) {
        return InvalidValue(schema, value, "expected double");
      }
      PutFixed64(std::bit_cast<uint64_t>(value.double_value), out);
      return Ok();
    case AvroType::kBytes:
    case AvroType::kString:
      if (value.type != AvroType::kBytes && value.type != AvroType::kString &&
          value.type != AvroType::kFixed) {
        return InvalidValue(schema, value, "expected bytes or string");
      }
      EncodeAvroLong(static_cast<int64_t>(value.bytes.size()), out);
      out->append(value.bytes);
      return Ok();
    case AvroType::kFixed:
      if (value.type != AvroType::kBytes && value.type != AvroType::kFixed) {
        return InvalidValue(schema, value, "expected fixed");
      }
      if (value.bytes.size() != static_cast<size_t>(schema.size)) {
        return InvalidValue(schema, value,
                            "fixed of size " + std::to_string(schema.size) + " got " +
                                std::to_string(value.bytes.size()) + " bytes");
      }
      out->append(value.bytes);
      return Ok();
    case AvroType::kEnum: {
      int64_t index = -1;
      if (value.type == AvroType::kEnum) {
        index = value.long_value;
      } else if (value.type == AvroType::kString) {
        for (size_t i = 0; i < schema.symbols.size(); ++i) {
          if (schema.symbols[i] == value.bytes) index = static_cast<int64_t>(i);
        }
      }
      if (index < 0 || index >= static_cast<int64_t>(schema.symbols.size())) {
        return InvalidValue(schema, value, "not an enum symbol");
      }
      EncodeAvroLong(index, out);
      return Ok();
    }
    case AvroType::kRecord: {
      if (value.type != AvroType::kRecord) return InvalidValue(schema, value, "expected record");
      for (const AvroField& field : schema.fields) {
        const AvroValue* v = value.Find(field.name);
        if (v != nullptr) {
          FRZ_RETURN_IF_ERROR(Encode(*field.type, *v, out, depth + 1));
          continue;
        }
        // Absent: only a null default can be filled in.
        if (field.type->type == AvroType::kNull) continue;
        int null_branch = field.type->type == AvroType::kUnion ? field.type->NullBranch() : -1;
        if (null_branch < 0) return InvalidValue(schema, value, "missing field " + field.name);
        EncodeAvroLong(null_branch, out);
      }
      return Ok();
    }
    case AvroType::kArray:
      if (value.type != AvroType::kArray) return InvalidValue(schema, value, "expected array");
      if (!value.items.empty()) {
        EncodeAvroLong(static_cast<int64_t>(value.items.size()), out);
        for (const AvroValue& item : value.items)
          FRZ_RETURN_IF_ERROR(Encode(*schema.items, item, out, depth + 1));
      }
      out->push_back(0);
      return Ok();
    case AvroType::kMap:
      if (value.type != AvroType::kMap) return InvalidValue(schema, value, "expected map");
      if (!value.entries.empty()) {
        EncodeAvroLong(static_cast<int64_t>(value.entries.size()), out);
        for (const auto& [k, v] : value.entries) {
          EncodeAvroLong(static_cast<int64_t>(k.size()), out);
          out->append(k);
          FRZ_RETURN_IF_ERROR(Encode(*schema.items, v, out, depth + 1));
        }
      }
      out->push_back(0);
      return Ok();
    case AvroType::kUnion: {
      int chosen = -1;
      if (value.branch >= 0) {
        if (value.branch >= static_cast<int>(schema.branches.size())) {
          return InvalidValue(schema, value, "union branch out of range");
        }
        chosen = value.branch;
      } else {
        int best = 0;
        for (size_t i = 0; i < schema.branches.size(); ++i) {
          int fit = BranchFit(value.type, schema.branches[i]->type);
          if (fit > best) {
            best = fit;
            chosen = static_cast<int>(i);
          }
        }
        if (chosen < 0) return InvalidValue(schema, value, "no matching union branch");
      }
      EncodeAvroLong(chosen, out);
      return Encode(*schema.branches[chosen], value, out, depth + 1);
    }
  }
  return InvalidValue(schema, value, "unknown schema type");
}

class Decoder {
 public:
  Decoder(std::string_view data, size_t pos, size_t base) : data_(data), pos_(pos), base_(base) {}
  size_t pos() const { return pos_; }

  std::unexpected<Error> Corrupt(std::string_view what) const {
    return MakeError(ErrorKind::kCorrupt,
                     "avro: " + std::string(what) + " at offset " + std::to_string(base_ + pos_));
  }

  Result<int64_t> Long(std::string_view what) {
    size_t p = pos_;
    auto v = DecodeAvroLong(data_, &p);
    if (!v) return Corrupt("bad or truncated varint (" + std::string(what) + ")");
    pos_ = p;
    return *v;
  }

  Result<std::string_view> Raw(size_t n, std::string_view what) {
    if (n > data_.size() - pos_) {
      return Corrupt("truncated " + std::string(what) + " (" + std::to_string(n) +
                     " bytes needed, " + std::to_string(data_.size() - pos_) + " left)");
    }
    std::string_view r = data_.substr(pos_, n);
    pos_ += n;
    return r;
  }

  Result<std::string> LengthPrefixed(std::string_view what) {
    FRZ_ASSIGN_OR_RETURN(int64_t len, Long(what));
    if (len < 0) return Corrupt("negative length of " + std::string(what));
    FRZ_ASSIGN_OR_RETURN(std::string_view raw, Raw(static_cast<size_t>(len), what));
    return std::string(raw);
  }

  // The item count of the next array/map block; 0 ends the sequence.
  Result<int64_t> BlockCount(const AvroSchema& items) {
    FRZ_ASSIGN_OR_RETURN(int64_t count, Long("block count"));
    if (count < 0) {
      if (count == INT64_MIN) return Corrupt("bad block count");
      count = -count;
      FRZ_ASSIGN_OR_RETURN(int64_t size, Long("block size"));
      if (size < 0) return Corrupt("negative block size");
    }
    int64_t limit =
        ItemsCanBeEmpty(items) ? kMaxZeroSizeItems : static_cast<int64_t>(data_.size() - pos_);
    if (count > limit) return Corrupt("block count " + std::to_string(count) + " exceeds the data");
    return count;
  }

  Result<AvroValue> Value(const AvroSchema& schema, int depth) {
    if (depth > kMaxDepth) return Corrupt("nested too deeply");
    AvroValue v;
    v.type = schema.type;
    switch (schema.type) {
      case AvroType::kNull:
        return v;
      case AvroType::kBoolean: {
        FRZ_ASSIGN_OR_RETURN(std::string_view b, Raw(1, "boolean"));
        if (b[0] != 0 && b[0] != 1) return Corrupt("bad boolean byte");
        v.bool_value = b[0] == 1;
        return v;
      }
      case AvroType::kInt: {
        FRZ_ASSIGN_OR_RETURN(v.long_value, Long("int"));
        if (v.long_value < INT32_MIN || v.long_value > INT32_MAX)
          return Corrupt("int out of range");
        return v;
      }
      case AvroType::kLong: {
        FRZ_ASSIGN_OR_RETURN(v.long_value, Long("long"));
        return v;
      }
      case AvroType::kFloat: {
        FRZ_ASSIGN_OR_RETURN(std::string_view b, Raw(4, "float"));
        uint32_t bits = 0;
        for (int i = 3; i >= 0; --i) bits = (bits << 8) | static_cast<uint8_t>(b[i]);
        v.double_value = std::bit_cast<float>(bits);
        return v;
      }
      case AvroType::kDouble: {
        FRZ_ASSIGN_OR_RETURN(std::string_view b, Raw(8, "double"));
        uint64_t bits = 0;
        for (int i = 7; i >= 0; --i) bits = (bits << 8) | static_cast<uint8_t>(b[i]);
        v.double_value = std::bit_cast<double>(bits);
        return v;
      }
      case AvroType::kBytes: {
        FRZ_ASSIGN_OR_RETURN(v.bytes, LengthPrefixed("bytes"));
        return v;
      }
      case AvroType::kString: {
        FRZ_ASSIGN_OR_RETURN(v.bytes, LengthPrefixed("string"));
        return v;
      }
      case AvroType::kFixed: {
        FRZ_ASSIGN_OR_RETURN(std::string_view b, Raw(static_cast<size_t>(schema.size), "fixed"));
        v.bytes = std::string(b);
        return v;
      }
      case AvroType::kEnum: {
        FRZ_ASSIGN_OR_RETURN(v.long_value, Long("enum"));
        if (v.long_value < 0 || v.long_value >= static_cast<int64_t>(schema.symbols.size())) {
          return Corrupt("enum index out of range");
        }
        v.bytes = schema.symbols[static_cast<size_t>(v.long_value)];
        return v;
      }
      case AvroType::kRecord: {
        v.entries.reserve(schema.fields.size());
        for (const AvroField& field : schema.fields) {
          FRZ_ASSIGN_OR_RETURN(AvroValue fv, Value(*field.type, depth + 1));
          v.entries.emplace_back(field.name, std::move(fv));
        }
        return v;
      }
      case AvroType::kArray: {
        while (true) {
          FRZ_ASSIGN_OR_RETURN(int64_t count, BlockCount(*schema.items));
          if (count == 0) break;
          if (static_cast<int64_t>(v.items.size()) + count > kMaxZeroSizeItems * 64) {
            return Corrupt("array too long");
          }
          for (int64_t i = 0; i < count; ++i) {
            FRZ_ASSIGN_OR_RETURN(AvroValue item, Value(*schema.items, depth + 1));
            v.items.push_back(std::move(item));
          }
        }
        return v;
      }
      case AvroType::kMap: {
        while (true) {
          FRZ_ASSIGN_OR_RETURN(int64_t count, BlockCount(*schema.items));
          if (count == 0) break;
          if (static_cast<int64_t>(v.entries.size()) + count > kMaxZeroSizeItems * 64) {
            return Corrupt("map too long");
          }
          for (int64_t i = 0; i < count; ++i) {
            FRZ_ASSIGN_OR_RETURN(std::string key, LengthPrefixed("map key"));
            FRZ_ASSIGN_OR_RETURN(AvroValue item, Value(*schema.items, depth + 1));
            v.entries.emplace_back(std::move(key), std::move(item));
          }
        }
        return v;
      }
      case AvroType::kUnion: {
        FRZ_ASSIGN_OR_RETURN(int64_t index, Long("union index"));
        if (index < 0 || index >= static_cast<int64_t>(schema.branches.size())) {
          return Corrupt("union index " + std::to_string(index) + " out of range");
        }
        FRZ_ASSIGN_OR_RETURN(AvroValue bv,
                             Value(*schema.branches[static_cast<size_t>(index)], depth + 1));
        bv.branch = static_cast<int>(index);
        return bv;
      }
    }
    return Corrupt("unknown schema type");
  }

 private:
  std::string_view data_;
  size_t pos_;
  size_t base_;
};

}  // namespace

void EncodeAvroLong(int64_t value, std::string* out) {
  uint64_t n = (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
  while (n >= 0x80) {
    out->push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out->push_back(static_cast<char>(n));
}

Result<int64_t> DecodeAvroLong(std::string_view data, size_t* pos) {
  uint64_t n = 0;
  size_t p = *pos;
  for (int shift = 0; shift < 70; shift += 7) {
    if (p >= data.size()) {
      return MakeError(ErrorKind::kCorrupt,
                       "avro: truncated varint at offset " + std::to_string(p));
    }
    uint8_t b = static_cast<uint8_t>(data[p++]);
    // The 10th byte may only carry the top bit of a 64-bit value.
    if (shift == 63 && b > 1) {
      return MakeError(ErrorKind::kCorrupt,
                       "avro: varint overflows 64 bits at offset " + std::to_string(p - 1));
    }
    n |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *pos = p;
      return static_cast<int64_t>((n >> 1) ^ (~(n & 1) + 1));
    }
  }
  return MakeError(ErrorKind::kCorrupt,
                   "avro: varint longer than 10 bytes at offset " + std::to_string(*pos));
}

Status EncodeAvro(const AvroSchema& schema, const AvroValue& value, std::string* out) {
  return Encode(schema, value, out, 0);
}

Result<AvroValue> DecodeAvro(const AvroSchema& schema, std::string_view data, size_t* pos,
                             size_t base_offset) {
  if (*pos > data.size())
    return MakeError(ErrorKind::kInternal, "avro decode: position past the data");
  Decoder d(data, *pos, base_offset);
  FRZ_ASSIGN_OR_RETURN(AvroValue v, d.Value(schema, 0));
  *pos = d.pos();
  return v;
}

}  // namespace frazil::iceberg::avro
