// Test helpers for the pgoutput and replication framing tests: a builder of protocol
// messages (big-endian integers, NUL-terminated strings) and decode shortcuts.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "frazil/cdc/pgoutput.h"

namespace frazil::cdc::testing {

// Builds protocol messages: big-endian integers, NUL-terminated strings.
class Bytes {
 public:
  explicit Bytes(char tag = 0) {
    if (tag != 0) I8(static_cast<uint8_t>(tag));
  }
  Bytes& I8(uint8_t v) { return Int(v, 1); }
  Bytes& I16(int16_t v) { return Int(static_cast<uint16_t>(v), 2); }
  Bytes& I32(int64_t v) { return Int(static_cast<uint32_t>(v), 4); }
  Bytes& I64(uint64_t v) { return Int(v, 8); }
  Bytes& Str(std::string_view s) {
    out_.append(s);
    out_.push_back('\0');
    return *this;
  }
  Bytes& Raw(std::string_view s) {
    out_.append(s);
    return *this;
  }
  // TupleData column values.
  Bytes& Null() { return I8('n'); }
  Bytes& Toast() { return I8('u'); }
  Bytes& Text(std::string_view v) { return I8('t').I32(static_cast<int64_t>(v.size())).Raw(v); }
  Bytes& Binary(std::string_view v) { return I8('b').I32(static_cast<int64_t>(v.size())).Raw(v); }
  const std::string& str() const { return out_; }

 private:
  Bytes& Int(uint64_t v, int n) {
    for (int shift = (n - 1) * 8; shift >= 0; shift -= 8) {
      out_.push_back(static_cast<char>((v >> shift) & 0xFF));
    }
    return *this;
  }
  std::string out_;
};

// Decoded values may point into `bytes`: only named strings that outlive the result.
template <typename T>
T Decode(std::string&& bytes, bool in_stream) = delete;
template <typename T>
T Decode(const std::string& bytes, bool in_stream) {
  auto r = DecodePgOutput(bytes, in_stream);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  if (!r) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(*r)) << "variant index " << r->index();
  if (!std::holds_alternative<T>(*r)) return T{};
  return std::get<T>(*r);
}

inline Error DecodeError(const std::string& bytes, bool in_stream) {
  auto r = DecodePgOutput(bytes, in_stream);
  EXPECT_FALSE(r.has_value());
  if (r) return Error{ErrorKind::kInternal, "decoded"};
  return r.error();
}


}  // namespace frazil::cdc::testing
