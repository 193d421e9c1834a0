// CRC-32C (Castagnoli, as in iSCSI, ext4 and S3's x-amz-checksum-crc32c): SSE4.2's crc32
// instruction where the CPU has it, a table otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace frazil::io {

// The CRC-32C of `data`, continuing from `crc` (0 for a fresh checksum).
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);
// The form S3 takes in x-amz-checksum-crc32c: base64 of the 4 big-endian bytes.
std::string Crc32cBase64(std::string_view data);

}  // namespace frazil::io
