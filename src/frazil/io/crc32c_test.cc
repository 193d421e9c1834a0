#include "frazil/io/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace frazil::io {
namespace {

// RFC 3720 (iSCSI), appendix B.4, and the common "123456789" check value.
TEST(Crc32cTest, PublishedVectors) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string inc, dec;
  for (int i = 0; i < 32; ++i) {
    inc.push_back(static_cast<char>(i));
    dec.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(Crc32c(inc), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(dec), 0x113FDB5Cu);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32cTest, ContinuesAcrossPiecesOfAnyLength) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 7 + 3));
  uint32_t whole = Crc32c(data);
  for (size_t cut : {0, 1, 7, 8, 9, 500, 999, 1000}) {
    EXPECT_EQ(Crc32c(std::string_view(data).substr(cut), Crc32c(std::string_view(data).substr(0, cut))), whole) << cut;
  }
}

TEST(Crc32cTest, S3HeaderForm) {
  // "hello world" x 1000, as the Versity S3 Gateway answered it in x-amz-checksum-crc32c.
  std::string body;
  for (int i = 0; i < 1000; ++i) body += "hello world";
  EXPECT_EQ(Crc32cBase64(body), "ROPt5Q==");
  EXPECT_EQ(Crc32cBase64("123456789"), "4waSgw==");
}

}  // namespace
}  // namespace frazil::io
