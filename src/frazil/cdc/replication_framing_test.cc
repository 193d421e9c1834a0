#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/cdc/lsn.h"
#include "frazil/cdc/pgoutput.h"
#include "frazil/cdc/pgoutput_test_util.h"

namespace frazil::cdc {
namespace {

using testing::Bytes;
using testing::Decode;
using testing::DecodeError;

// ---- LSN ----

TEST(LsnTest, Format) {
  EXPECT_EQ(FormatLsn(0), "0/0");
  EXPECT_EQ(FormatLsn(0x16B374D848ULL), "16/B374D848");
  EXPECT_EQ(FormatLsn(0x100000000ULL), "1/0");
  EXPECT_EQ(FormatLsn(0xFFFFFFFFFFFFFFFFULL), "FFFFFFFF/FFFFFFFF");
  EXPECT_EQ(FormatLsn(0x0000000A0000000BULL), "A/B");
}

TEST(LsnTest, ParseRoundTrips) {
  for (Lsn lsn : {Lsn{0}, Lsn{1}, Lsn{0x16B374D848ULL}, Lsn{0xFFFFFFFFULL}, Lsn{0x100000000ULL},
                  Lsn{0xFFFFFFFFFFFFFFFFULL}, Lsn{0x123456789ABCDEF0ULL}}) {
    auto parsed = ParseLsn(FormatLsn(lsn));
    ASSERT_TRUE(parsed.has_value()) << FormatLsn(lsn);
    EXPECT_EQ(*parsed, lsn);
  }
  EXPECT_EQ(ParseLsn("0/0").value(), 0u);
  EXPECT_EQ(ParseLsn("FFFFFFFF/FFFFFFFF").value(), 0xFFFFFFFFFFFFFFFFULL);
}

TEST(LsnTest, ParseAcceptsLowerCaseAndLeadingZeros) {
  EXPECT_EQ(ParseLsn("16/b374d848").value(), 0x16B374D848ULL);
  EXPECT_EQ(ParseLsn("00000016/0B374D84").value(), 0x160B374D84ULL);
  EXPECT_EQ(ParseLsn("ffffffff/ffffffff").value(), 0xFFFFFFFFFFFFFFFFULL);
}

TEST(LsnTest, ParseRejectsBadInput) {
  for (std::string_view bad :
       std::initializer_list<std::string_view>{"",
                                               "/",
                                               "0",
                                               "0/",
                                               "/0",
                                               "16B374D848",
                                               "1/2/3",
                                               "G/0",
                                               "0/G",
                                               "-1/0",
                                               "0/-1",
                                               " 0/0",
                                               "0/0 ",
                                               "0 /0",
                                               "+1/0",
                                               "0x1/0",
                                               "100000000/0",
                                               "0/100000000",
                                               "123456789/1",
                                               std::string_view("0/0\0", 4)}) {
    auto r = ParseLsn(bad);
    ASSERT_FALSE(r.has_value()) << "accepted \"" << bad << "\"";
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
    EXPECT_NE(r.error().message.find("invalid LSN"), std::string::npos);
  }
  EXPECT_NE(ParseLsn("nope").error().message.find("\"nope\""), std::string::npos);
}

// ---- Replication framing ----

TEST(CopyDataTest, XLogData) {
  std::string payload = Bytes('E').str();
  std::string frame =
      Bytes('w').I64(0x1555D00).I64(0x1555E00).I64(757479845000000).Raw(payload).str();
  auto r = DecodeCopyData(frame);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  const auto& x = std::get<XLogData>(*r);
  EXPECT_EQ(x.wal_start, 0x1555D00u);
  EXPECT_EQ(x.wal_end, 0x1555E00u);
  EXPECT_EQ(x.send_time, 757479845000000);
  EXPECT_EQ(x.payload, payload);
  EXPECT_EQ(x.payload.data(), frame.data() + 25);            // a view, not a copy
  EXPECT_EQ(PgTimeToUnixUs(x.send_time), 1704164645000000);  // 2024-01-02 03:04:05 UTC
  EXPECT_EQ(UnixUsToPgTime(PgTimeToUnixUs(x.send_time)), x.send_time);
}

TEST(CopyDataTest, XLogDataWithEmptyPayload) {
  auto r = DecodeCopyData(Bytes('w').I64(1).I64(2).I64(3).str());
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(std::get<XLogData>(*r).payload.empty());
}

TEST(CopyDataTest, Keepalive) {
  auto r = DecodeCopyData(Bytes('k').I64(0xFFFFFFFFFFFFFFFFULL).I64(42).I8(1).str());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  const auto& k = std::get<Keepalive>(*r);
  EXPECT_EQ(k.wal_end, 0xFFFFFFFFFFFFFFFFULL);
  EXPECT_EQ(k.send_time, 42);
  EXPECT_TRUE(k.reply_requested);
  auto no_reply = DecodeCopyData(Bytes('k').I64(7).I64(-1).I8(0).str());
  ASSERT_TRUE(no_reply.has_value());
  EXPECT_FALSE(std::get<Keepalive>(*no_reply).reply_requested);
  EXPECT_EQ(std::get<Keepalive>(*no_reply).send_time, -1);
}

TEST(CopyDataTest, TruncatedFramesAreCorrupt) {
  std::string w = Bytes('w').I64(1).I64(2).I64(3).str();
  std::string k = Bytes('k').I64(1).I64(2).I8(1).str();
  for (const std::string& frame : {w, k}) {
    for (size_t n = 0; n < frame.size(); ++n) {
      auto r = DecodeCopyData(std::string_view(frame).substr(0, n));
      ASSERT_FALSE(r.has_value()) << frame[0] << " prefix " << n;
      EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
      EXPECT_NE(r.error().message.find("offset"), std::string::npos) << r.error().message;
      if (n > 0) {
        EXPECT_NE(r.error().message.find(std::string("'") + frame[0] + "'"), std::string::npos)
            << r.error().message;
      }
    }
  }
}

TEST(CopyDataTest, UnknownTagIsCorrupt) {
  auto r = DecodeCopyData(Bytes('r').I64(1).I64(2).I64(3).I64(4).I8(0).str());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
  EXPECT_NE(r.error().message.find("'r'"), std::string::npos) << r.error().message;
  auto bin = DecodeCopyData(std::string(1, '\x01'));
  ASSERT_FALSE(bin.has_value());
  EXPECT_NE(bin.error().message.find("0x01"), std::string::npos) << bin.error().message;
}

TEST(StandbyStatusTest, ExactBytes) {
  std::string got = EncodeStandbyStatus(0x0102030405060708ULL, 0x1112131415161718ULL,
                                        0x2122232425262728ULL, 0x3132333435363738LL, true);
  std::string want = Bytes('r')
                         .I64(0x0102030405060708ULL)
                         .I64(0x1112131415161718ULL)
                         .I64(0x2122232425262728ULL)
                         .I64(0x3132333435363738ULL)
                         .I8(1)
                         .str();
  ASSERT_EQ(got.size(), 34u);
  EXPECT_EQ(got, want);
  EXPECT_EQ(got[0], 'r');
  EXPECT_EQ(got[1], '\x01');
  EXPECT_EQ(got[8], '\x08');
  EXPECT_EQ(got[33], '\x01');
}

TEST(StandbyStatusTest, ZerosAndNoReply) {
  std::string got = EncodeStandbyStatus(0, 0, 0, 0, false);
  ASSERT_EQ(got.size(), 34u);
  EXPECT_EQ(got, std::string("r") + std::string(33, '\0'));
  std::string negative = EncodeStandbyStatus(1, 2, 3, -1, false);
  EXPECT_EQ(negative.substr(25, 8), std::string(8, '\xFF'));
}

}  // namespace
}  // namespace frazil::cdc
