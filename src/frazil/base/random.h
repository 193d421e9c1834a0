// Random identifiers: UUIDs for file names and table uuids, snapshot ids.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace frazil {

// A random (version 4) UUID in canonical lowercase text form.
std::string NewUuid();

// The 16 bytes of a canonical UUID string; false if the text is not a UUID.
bool ParseUuid(const std::string& text, std::array<uint8_t, 16>* out);
std::string FormatUuid(const uint8_t bytes[16]);

// A positive random 63-bit integer (Iceberg snapshot ids).
int64_t NewPositiveId();

}  // namespace frazil
