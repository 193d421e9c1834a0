#include "frazil/base/random.h"

#include <mutex>
#include <random>

namespace frazil {
namespace {

std::mt19937_64& Engine(std::unique_lock<std::mutex>& lock) {
  static std::mutex mu;
  static std::mt19937_64 engine{std::random_device{}()};
  lock = std::unique_lock<std::mutex>(mu);
  return engine;
}

}  // namespace

std::string FormatUuid(const uint8_t b[16]) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 15]);
  }
  return out;
}

bool ParseUuid(const std::string& text, std::array<uint8_t, 16>* out) {
  if (text.size() != 36) return false;
  int n = 0;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
      ++i;
      continue;
    }
    int hi = hex(text[i]), lo = hex(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[n++] = static_cast<uint8_t>(hi * 16 + lo);
    i += 2;
  }
  return n == 16;
}

std::string NewUuid() {
  std::unique_lock<std::mutex> lock;
  auto& e = Engine(lock);
  uint64_t a = e(), b = e();
  uint8_t bytes[16];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(a >> (8 * i));
  for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<uint8_t>(b >> (8 * i));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  return FormatUuid(bytes);
}

int64_t NewPositiveId() {
  std::unique_lock<std::mutex> lock;
  auto& e = Engine(lock);
  int64_t v = 0;
  while (v == 0) v = static_cast<int64_t>(e() >> 1);
  return v;
}

}  // namespace frazil
