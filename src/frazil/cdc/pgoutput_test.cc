#include "frazil/cdc/pgoutput.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/cdc/lsn.h"

namespace frazil::cdc {
namespace {

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

Error DecodeError(const std::string& bytes, bool in_stream) {
  auto r = DecodePgOutput(bytes, in_stream);
  EXPECT_FALSE(r.has_value());
  if (r) return Error{ErrorKind::kInternal, "decoded"};
  return r.error();
}

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

// ---- pgoutput: one valid example of every message ----
// One builder chain per message, laid out like the protocol's fields.

// clang-format off

constexpr uint32_t kXid = 0x2E9;
constexpr uint32_t kSubXid = 0x2EA;
constexpr uint32_t kRel = 16384;

std::string Begin() { return Bytes('B').I64(0x1555E88).I64(848920313929784).I32(0x2E0).str(); }
std::string Commit() {
  return Bytes('C').I8(0).I64(0x1555E88).I64(0x1555EB8).I64(848920313929784).str();
}
std::string Origin() { return Bytes('O').I64(0x1234ABCD).Str("frazil_origin").str(); }
Bytes RelationBody(Bytes b) {
  return b.I32(kRel)
      .Str("public")
      .Str("t")
      .I8('d')
      .I16(4)
      .I8(1).Str("id").I32(23).I32(-1)
      .I8(0).Str("name").I32(25).I32(-1)
      .I8(0).Str("v").I32(1043).I32(24)
      .I8(0).Str("amount").I32(1700).I32((10 << 16 | 2) + 4);
}
std::string Relation(bool stream) {
  Bytes b('R');
  if (stream) b.I32(kSubXid);
  return RelationBody(std::move(b)).str();
}
std::string Type(bool stream) {
  Bytes b('Y');
  if (stream) b.I32(kSubXid);
  return b.I32(16395).Str("public").Str("mood").str();
}
std::string Insert(bool stream) {
  Bytes b('I');
  if (stream) b.I32(kSubXid);
  return b.I32(kRel).I8('N').I16(4)
      .Text("1").Null().Text("").Binary(std::string_view("\0\xff", 2))
      .str();
}
std::string UpdateNoOld(bool stream) {
  Bytes b('U');
  if (stream) b.I32(kSubXid);
  return b.I32(kRel).I8('N').I16(3).Text("1").Text("alicia").Toast().str();
}
std::string UpdateKey(bool stream) {
  Bytes b('U');
  if (stream) b.I32(kSubXid);
  return b.I32(kRel)
      .I8('K').I16(3).Text("1").Null().Null()
      .I8('N').I16(3).Text("10").Text("alicia").Toast()
      .str();
}
std::string UpdateOld(bool stream) {
  Bytes b('U');
  if (stream) b.I32(kSubXid);
  return b.I32(kRel)
      .I8('O').I16(2).Text("1").Text("a")
      .I8('N').I16(2).Text("1").Text("b")
      .str();
}
std::string DeleteKey(bool stream) {
  Bytes b('D');
  if (stream) b.I32(kSubXid);
  return b.I32(kRel).I8('K').I16(3).Text("10").Null().Null().str();
}
std::string DeleteOld(bool stream) {
  Bytes b('D');
  if (stream) b.I32(kSubXid);
  return b.I32(kRel).I8('O').I16(2).Text("1").Text("b").str();
}
std::string Truncate(bool stream) {
  Bytes b('T');
  if (stream) b.I32(kSubXid);
  return b.I32(3).I8(3).I32(kRel).I32(kRel + 7).I32(kRel + 11).str();
}
std::string Message(bool stream, bool transactional) {
  Bytes b('M');
  if (stream) b.I32(kSubXid);
  return b.I8(transactional ? 1 : 0).I64(0x1556488).Str("frazil")
      .I32(5).Raw(std::string_view("a\0b\xff" "c", 5))
      .str();
}
std::string StreamStart() { return Bytes('S').I32(kXid).I8(1).str(); }
std::string StreamStop() { return Bytes('E').str(); }
std::string StreamCommit() {
  return Bytes('c').I32(kXid).I8(0).I64(0x1587BE0).I64(0x1587C10).I64(848920313929784).str();
}
std::string StreamAbort() { return Bytes('A').I32(kXid).I32(kSubXid).str(); }

// clang-format on

struct Sample {
  std::string name;
  std::string bytes;
  bool in_stream;
};

std::vector<Sample> AllSamples() {
  std::vector<Sample> s = {
      {"Begin", Begin(), false},
      {"Commit", Commit(), false},
      {"Origin", Origin(), false},
      {"StreamStart", StreamStart(), false},
      {"StreamStop", StreamStop(), true},
      {"StreamCommit", StreamCommit(), false},
      {"StreamAbort", StreamAbort(), false},
  };
  for (bool stream : {false, true}) {
    std::string sfx = stream ? "InStream" : "";
    s.push_back({"Relation" + sfx, Relation(stream), stream});
    s.push_back({"Type" + sfx, Type(stream), stream});
    s.push_back({"Insert" + sfx, Insert(stream), stream});
    s.push_back({"UpdateNoOld" + sfx, UpdateNoOld(stream), stream});
    s.push_back({"UpdateKey" + sfx, UpdateKey(stream), stream});
    s.push_back({"UpdateOld" + sfx, UpdateOld(stream), stream});
    s.push_back({"DeleteKey" + sfx, DeleteKey(stream), stream});
    s.push_back({"DeleteOld" + sfx, DeleteOld(stream), stream});
    s.push_back({"Truncate" + sfx, Truncate(stream), stream});
    s.push_back({"MessageTx" + sfx, Message(stream, true), stream});
    s.push_back({"MessageNonTx" + sfx, Message(stream, false), stream});
  }
  return s;
}

TEST(PgOutputTest, Begin) {
  std::string bytes = Begin();
  auto m = Decode<BeginMsg>(bytes, false);
  EXPECT_EQ(m.final_lsn, 0x1555E88u);
  EXPECT_EQ(m.commit_time, 848920313929784);
  EXPECT_EQ(m.xid, 0x2E0u);
}

TEST(PgOutputTest, Commit) {
  std::string bytes = Commit();
  auto m = Decode<CommitMsg>(bytes, false);
  EXPECT_EQ(m.flags, 0);
  EXPECT_EQ(m.commit_lsn, 0x1555E88u);
  EXPECT_EQ(m.end_lsn, 0x1555EB8u);
  EXPECT_EQ(m.commit_time, 848920313929784);
}

TEST(PgOutputTest, OriginHasNoXidEvenInStream) {
  for (bool stream : {false, true}) {
    std::string bytes = Origin();
    auto m = Decode<OriginMsg>(bytes, stream);
    EXPECT_EQ(m.commit_lsn, 0x1234ABCDu);
    EXPECT_EQ(m.name, "frazil_origin");
  }
}

TEST(PgOutputTest, Relation) {
  for (bool stream : {false, true}) {
    std::string bytes = Relation(stream);
    auto m = Decode<RelationMsg>(bytes, stream);
    EXPECT_EQ(m.xid, stream ? std::optional<uint32_t>(kSubXid) : std::nullopt);
    EXPECT_EQ(m.relation_id, kRel);
    EXPECT_EQ(m.namespace_name, "public");
    EXPECT_EQ(m.relation_name, "t");
    EXPECT_EQ(m.replica_identity, 'd');
    ASSERT_EQ(m.columns.size(), 4u);
    EXPECT_TRUE(m.columns[0].is_key);
    EXPECT_EQ(m.columns[0].name, "id");
    EXPECT_EQ(m.columns[0].type_oid, 23u);
    EXPECT_EQ(m.columns[0].type_modifier, -1);
    EXPECT_FALSE(m.columns[1].is_key);
    EXPECT_EQ(m.columns[2].type_oid, 1043u);
    EXPECT_EQ(m.columns[2].type_modifier, 24);  // varchar(20)
    EXPECT_EQ(m.columns[3].name, "amount");
    EXPECT_EQ(m.columns[3].type_modifier, (10 << 16 | 2) + 4);  // numeric(10,2)
  }
}

TEST(PgOutputTest, RelationReplicaIdentitiesAndPgCatalog) {
  for (char ident : {'d', 'n', 'f', 'i'}) {
    std::string bytes = Bytes('R').I32(1).Str("").Str("pg_x").I8(ident).I16(0).str();
    auto m = Decode<RelationMsg>(bytes, false);
    EXPECT_EQ(m.replica_identity, ident);
    EXPECT_EQ(m.namespace_name, "");
    EXPECT_TRUE(m.columns.empty());
  }
  Error e = DecodeError(Bytes('R').I32(1).Str("").Str("x").I8('z').I16(0).str(), false);
  EXPECT_EQ(e.kind, ErrorKind::kCorrupt);
  EXPECT_NE(e.message.find("replica identity"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("offset 8"), std::string::npos) << e.message;
}

TEST(PgOutputTest, RelationKeyFlagIsBitOne) {
  // clang-format off
  std::string bytes =
      Bytes('R').I32(1).Str("s").Str("r").I8('f').I16(2)
          .I8(3).Str("a").I32(23).I32(-1)  // unknown flag bits beside the key bit
          .I8(2).Str("b").I32(23).I32(-1)
          .str();
  // clang-format on
  auto m = Decode<RelationMsg>(bytes, false);
  ASSERT_EQ(m.columns.size(), 2u);
  EXPECT_TRUE(m.columns[0].is_key);
  EXPECT_FALSE(m.columns[1].is_key);
}

TEST(PgOutputTest, Type) {
  for (bool stream : {false, true}) {
    std::string bytes = Type(stream);
    auto m = Decode<TypeMsg>(bytes, stream);
    EXPECT_EQ(m.xid, stream ? std::optional<uint32_t>(kSubXid) : std::nullopt);
    EXPECT_EQ(m.type_oid, 16395u);
    EXPECT_EQ(m.namespace_name, "public");
    EXPECT_EQ(m.type_name, "mood");
  }
}

TEST(PgOutputTest, Insert) {
  for (bool stream : {false, true}) {
    std::string bytes = Insert(stream);
    auto m = Decode<InsertMsg>(bytes, stream);
    EXPECT_EQ(m.xid, stream ? std::optional<uint32_t>(kSubXid) : std::nullopt);
    EXPECT_EQ(m.relation_id, kRel);
    ASSERT_EQ(m.new_tuple.size(), 4u);
    EXPECT_EQ(m.new_tuple[0].kind, ValueKind::kText);
    EXPECT_EQ(m.new_tuple[0].data, "1");
    EXPECT_EQ(m.new_tuple[1].kind, ValueKind::kNull);
    EXPECT_TRUE(m.new_tuple[1].data.empty());
    EXPECT_EQ(m.new_tuple[2].kind, ValueKind::kText);  // empty string, not null
    EXPECT_EQ(m.new_tuple[2].data, "");
    EXPECT_EQ(m.new_tuple[3].kind, ValueKind::kBinary);
    EXPECT_EQ(m.new_tuple[3].data, std::string_view("\0\xff", 2));
    // Values point into the input.
    EXPECT_GE(m.new_tuple[0].data.data(), bytes.data());
    EXPECT_LT(m.new_tuple[0].data.data(), bytes.data() + bytes.size());
  }
}

TEST(PgOutputTest, InsertWithZeroColumns) {
  std::string bytes = Bytes('I').I32(5).I8('N').I16(0).str();
  auto m = Decode<InsertMsg>(bytes, false);
  EXPECT_TRUE(m.new_tuple.empty());
}

TEST(PgOutputTest, UpdateWithoutOldTupleAndUnchangedToast) {
  for (bool stream : {false, true}) {
    std::string bytes = UpdateNoOld(stream);
    auto m = Decode<UpdateMsg>(bytes, stream);
    EXPECT_EQ(m.xid, stream ? std::optional<uint32_t>(kSubXid) : std::nullopt);
    EXPECT_EQ(m.relation_id, kRel);
    EXPECT_EQ(m.old_kind, 0);
    EXPECT_TRUE(m.old_tuple.empty());
    ASSERT_EQ(m.new_tuple.size(), 3u);
    EXPECT_EQ(m.new_tuple[1].data, "alicia");
    EXPECT_EQ(m.new_tuple[2].kind, ValueKind::kUnchangedToast);
    EXPECT_TRUE(m.new_tuple[2].data.empty());
  }
}

TEST(PgOutputTest, UpdateWithKeyTuple) {
  for (bool stream : {false, true}) {
    std::string bytes = UpdateKey(stream);
    auto m = Decode<UpdateMsg>(bytes, stream);
    EXPECT_EQ(m.xid, stream ? std::optional<uint32_t>(kSubXid) : std::nullopt);
    EXPECT_EQ(m.old_kind, 'K');
    ASSERT_EQ(m.old_tuple.size(), 3u);
    EXPECT_EQ(m.old_tuple[0].data, "1");
    EXPECT_EQ(m.old_tuple[1].kind, ValueKind::kNull);
    EXPECT_EQ(m.old_tuple[2].kind, ValueKind::kNull);
    ASSERT_EQ(m.new_tuple.size(), 3u);
    EXPECT_EQ(m.new_tuple[0].data, "10");
    EXPECT_EQ(m.new_tuple[2].kind, ValueKind::kUnchangedToast);
  }
}

TEST(PgOutputTest, UpdateWithOldRow) {
  for (bool stream : {false, true}) {
    std::string bytes = UpdateOld(stream);
    auto m = Decode<UpdateMsg>(bytes, stream);
    EXPECT_EQ(m.old_kind, 'O');
    ASSERT_EQ(m.old_tuple.size(), 2u);
    EXPECT_EQ(m.old_tuple[1].data, "a");
    ASSERT_EQ(m.new_tuple.size(), 2u);
    EXPECT_EQ(m.new_tuple[1].data, "b");
  }
}

TEST(PgOutputTest, UpdateRejectsBadMarkers) {
  Error e = DecodeError(Bytes('U').I32(1).I8('X').I16(0).str(), false);
  EXPECT_EQ(e.kind, ErrorKind::kCorrupt);
  EXPECT_NE(e.message.find("'U'"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("offset 5"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("'X'"), std::string::npos) << e.message;
  // After an old tuple only 'N' may follow.
  Error e2 = DecodeError(Bytes('U').I32(1).I8('K').I16(0).I8('K').I16(0).str(), false);
  EXPECT_NE(e2.message.find("offset 8"), std::string::npos) << e2.message;
  EXPECT_NE(e2.message.find("'N'"), std::string::npos) << e2.message;
}

TEST(PgOutputTest, Delete) {
  for (bool stream : {false, true}) {
    std::string k_bytes = DeleteKey(stream);
    auto k = Decode<DeleteMsg>(k_bytes, stream);
    EXPECT_EQ(k.xid, stream ? std::optional<uint32_t>(kSubXid) : std::nullopt);
    EXPECT_EQ(k.relation_id, kRel);
    EXPECT_EQ(k.old_kind, 'K');
    ASSERT_EQ(k.old_tuple.size(), 3u);
    EXPECT_EQ(k.old_tuple[0].data, "10");
    std::string o_bytes = DeleteOld(stream);
    auto o = Decode<DeleteMsg>(o_bytes, stream);
    EXPECT_EQ(o.old_kind, 'O');
    ASSERT_EQ(o.old_tuple.size(), 2u);
    EXPECT_EQ(o.old_tuple[1].data, "b");
  }
  Error e = DecodeError(Bytes('D').I32(1).I8('N').I16(0).str(), false);
  EXPECT_NE(e.message.find("'K' or 'O'"), std::string::npos) << e.message;
}

TEST(PgOutputTest, TruncateSeveralRelations) {
  for (bool stream : {false, true}) {
    std::string bytes = Truncate(stream);
    auto m = Decode<TruncateMsg>(bytes, stream);
    EXPECT_EQ(m.xid, stream ? std::optional<uint32_t>(kSubXid) : std::nullopt);
    EXPECT_EQ(m.options, 3);  // CASCADE | RESTART IDENTITY
    EXPECT_EQ(m.relation_ids, (std::vector<uint32_t>{kRel, kRel + 7, kRel + 11}));
  }
  std::string none_bytes = Bytes('T').I32(0).I8(0).str();
  auto none = Decode<TruncateMsg>(none_bytes, false);
  EXPECT_TRUE(none.relation_ids.empty());
}

TEST(PgOutputTest, TruncateWithHugeCountDoesNotAllocate) {
  Error e = DecodeError(Bytes('T').I32(0x7FFFFFFF).I8(0).I32(1).str(), false);
  EXPECT_EQ(e.kind, ErrorKind::kCorrupt);
  EXPECT_NE(e.message.find("'T'"), std::string::npos) << e.message;
  Error neg = DecodeError(Bytes('T').I32(-1).I8(0).str(), false);
  EXPECT_NE(neg.message.find("non-negative"), std::string::npos) << neg.message;
}

TEST(PgOutputTest, LogicalMessage) {
  for (bool stream : {false, true}) {
    for (bool tx : {false, true}) {
      std::string bytes = Message(stream, tx);
      auto m = Decode<LogicalMsg>(bytes, stream);
      EXPECT_EQ(m.xid, stream ? std::optional<uint32_t>(kSubXid) : std::nullopt);
      EXPECT_EQ(m.transactional, tx);
      EXPECT_EQ(m.lsn, 0x1556488u);
      EXPECT_EQ(m.prefix, "frazil");
      EXPECT_EQ(m.content, std::string_view("a\0b\xff"
                                            "c",
                                            5));
    }
  }
  std::string empty_bytes = Bytes('M').I8(0).I64(1).Str("").I32(0).str();
  auto empty = Decode<LogicalMsg>(empty_bytes, false);
  EXPECT_TRUE(empty.content.empty());
  EXPECT_TRUE(empty.prefix.empty());
}

TEST(PgOutputTest, StreamStartStopCommitAbort) {
  std::string start_bytes = StreamStart();
  auto start = Decode<StreamStartMsg>(start_bytes, false);
  EXPECT_EQ(start.xid, kXid);
  EXPECT_TRUE(start.first_segment);
  std::string later_bytes = Bytes('S').I32(kXid).I8(0).str();
  auto later = Decode<StreamStartMsg>(later_bytes, false);
  EXPECT_FALSE(later.first_segment);

  std::string stop = StreamStop();
  Decode<StreamStopMsg>(stop, true);
  Decode<StreamStopMsg>(stop, false);

  std::string commit_bytes = StreamCommit();
  auto commit = Decode<StreamCommitMsg>(commit_bytes, false);
  EXPECT_EQ(commit.xid, kXid);
  EXPECT_EQ(commit.flags, 0);
  EXPECT_EQ(commit.commit_lsn, 0x1587BE0u);
  EXPECT_EQ(commit.end_lsn, 0x1587C10u);
  EXPECT_EQ(commit.commit_time, 848920313929784);

  std::string sub_bytes = StreamAbort();
  auto sub = Decode<StreamAbortMsg>(sub_bytes, false);
  EXPECT_EQ(sub.xid, kXid);
  EXPECT_EQ(sub.subxid, kSubXid);
  std::string whole_bytes = Bytes('A').I32(kXid).I32(kXid).str();
  auto whole = Decode<StreamAbortMsg>(whole_bytes, false);
  EXPECT_EQ(whole.subxid, whole.xid);
}

TEST(PgOutputTest, Protocol4StreamAbortIsRejected) {
  // PostgreSQL 16's protocol 4 appends abort LSN and time; frazil asks for protocol 2.
  Error e = DecodeError(Bytes('A').I32(kXid).I32(kSubXid).I64(1).I64(2).str(), false);
  EXPECT_EQ(e.kind, ErrorKind::kCorrupt);
  EXPECT_NE(e.message.find("offset 9"), std::string::npos) << e.message;
}

TEST(PgOutputTest, StreamFlagMismatchIsDetected) {
  // A streamed change decoded as if outside a stream (or the reverse) reads the wrong
  // fields; for these messages the leftover or missing bytes give it away. Not for every
  // message (the strings of a Type or a Message can absorb the shift), so in_stream must be tracked
  // right.
  for (const std::string& bytes : {Insert(true), UpdateKey(true), Truncate(true), Relation(true)}) {
    auto r = DecodePgOutput(bytes, false);
    ASSERT_FALSE(r.has_value()) << bytes[0];
    EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
  }
  for (const std::string& bytes :
       {Insert(false), UpdateOld(false), DeleteKey(false), Truncate(false)}) {
    auto r = DecodePgOutput(bytes, true);
    ASSERT_FALSE(r.has_value()) << bytes[0];
    EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
  }
}

TEST(PgOutputTest, UnknownMessageAndTupleKind) {
  for (char tag : {'b', 'P', 'K', 'r', 'p', 'X', 'w'}) {
    Error e = DecodeError(Bytes(tag).I64(0).str(), false);
    EXPECT_EQ(e.kind, ErrorKind::kCorrupt);
    EXPECT_NE(e.message.find(std::string("'") + tag + "'"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("unknown"), std::string::npos) << e.message;
  }
  Error e = DecodeError(Bytes('I').I32(1).I8('N').I16(2).Text("x").I8('z').str(), false);
  EXPECT_EQ(e.kind, ErrorKind::kCorrupt);
  EXPECT_NE(e.message.find("'I'"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("offset 14"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("new tuple column 1"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("'z'"), std::string::npos) << e.message;
}

TEST(PgOutputTest, NegativeLengthsAreCorrupt) {
  Error value = DecodeError(Bytes('I').I32(1).I8('N').I16(1).I8('t').I32(-1).str(), false);
  EXPECT_NE(value.message.find("non-negative"), std::string::npos) << value.message;
  Error cols = DecodeError(Bytes('I').I32(1).I8('N').I16(-1).str(), false);
  EXPECT_NE(cols.message.find("non-negative"), std::string::npos) << cols.message;
  Error rel = DecodeError(Bytes('R').I32(1).Str("").Str("x").I8('d').I16(-2).str(), false);
  EXPECT_NE(rel.message.find("non-negative"), std::string::npos) << rel.message;
  Error msg = DecodeError(Bytes('M').I8(0).I64(1).Str("p").I32(-5).str(), false);
  EXPECT_NE(msg.message.find("non-negative"), std::string::npos) << msg.message;
}

TEST(PgOutputTest, EmptyInputIsCorrupt) {
  for (bool stream : {false, true}) {
    Error e = DecodeError("", stream);
    EXPECT_EQ(e.kind, ErrorKind::kCorrupt);
    EXPECT_NE(e.message.find("offset 0"), std::string::npos) << e.message;
  }
}

// Every proper prefix of every message is Corrupt, with the type letter and an offset in
// the message; run under ASan this also shows no read goes past the end.
TEST(PgOutputTest, EveryTruncationIsCorrupt) {
  for (const Sample& s : AllSamples()) {
    ASSERT_TRUE(DecodePgOutput(s.bytes, s.in_stream).has_value()) << s.name;
    for (size_t n = 0; n < s.bytes.size(); ++n) {
      // A copy of exactly n bytes, so that ASan catches a read of byte n.
      std::string prefix = s.bytes.substr(0, n);
      auto r = DecodePgOutput(prefix, s.in_stream);
      ASSERT_FALSE(r.has_value()) << s.name << " prefix " << n;
      EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt) << s.name << " prefix " << n;
      const std::string& msg = r.error().message;
      EXPECT_NE(msg.find("offset"), std::string::npos) << msg;
      if (n > 0) {
        EXPECT_NE(msg.find(std::string("'") + s.bytes[0] + "'"), std::string::npos)
            << s.name << " prefix " << n << ": " << msg;
        EXPECT_NE(msg.find("expected"), std::string::npos) << msg;
      }
    }
  }
}

TEST(PgOutputTest, TrailingBytesAreCorrupt) {
  for (const Sample& s : AllSamples()) {
    Error e = DecodeError(s.bytes + '\0', s.in_stream);
    EXPECT_EQ(e.kind, ErrorKind::kCorrupt) << s.name;
    EXPECT_NE(e.message.find("offset " + std::to_string(s.bytes.size())), std::string::npos)
        << s.name << ": " << e.message;
  }
}

TEST(PgOutputTest, TruncatedStringNamesTheField) {
  Error e = DecodeError(Bytes('O').I64(1).Raw("no-terminator").str(), false);
  EXPECT_NE(e.message.find("'O'"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("offset 9"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("origin name"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("NUL"), std::string::npos) << e.message;
}

// Random corruption of valid messages: decoding may succeed or fail, but only ever with
// Corrupt and never by crashing or reading out of bounds (meaningful under ASan).
TEST(PgOutputTest, RandomMutationsNeverCrash) {
  std::mt19937 rng(20240102);
  for (const Sample& s : AllSamples()) {
    for (int i = 0; i < 300; ++i) {
      std::string m = s.bytes;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        m[rng() % m.size()] = static_cast<char>(rng() & 0xFF);
      }
      if (rng() % 3 == 0) m.resize(rng() % (m.size() + 1));
      std::string exact = m;  // no spare capacity for an overrun to hide in
      exact.shrink_to_fit();
      auto r = DecodePgOutput(exact, rng() % 2 == 0);
      if (!r) {
        EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
      }
      auto c = DecodeCopyData(exact);
      if (!c) {
        EXPECT_EQ(c.error().kind, ErrorKind::kCorrupt);
      }
    }
  }
}

// ---- Golden captures from PostgreSQL 15 (tests/resources/pgoutput/README.md) ----

struct Frame {
  std::string bytes;  // the whole CopyData message
  XLogData x;         // points into bytes
  PgOutputMessage msg;
  bool in_stream = false;  // whether it was decoded as inside a stream
};

std::vector<std::string> ReadHexLines(const std::string& name) {
  std::ifstream in(std::string(FRAZIL_TEST_RESOURCES) + "/pgoutput/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::vector<std::string> frames;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::string bytes;
    for (size_t i = 0; i + 1 < line.size(); i += 2) {
      bytes.push_back(static_cast<char>(std::stoi(line.substr(i, 2), nullptr, 16)));
    }
    frames.push_back(std::move(bytes));
  }
  return frames;
}

// Decodes a capture the way the replication loop will: CopyData, then pgoutput with
// in_stream tracking Stream Start / Stream Stop.
std::vector<Frame> DecodeCapture(const std::string& name) {
  std::vector<Frame> frames;
  for (std::string& bytes : ReadHexLines(name)) {
    frames.push_back(Frame{std::move(bytes)});
  }
  bool in_stream = false;
  for (Frame& f : frames) {
    auto c = DecodeCopyData(f.bytes);
    EXPECT_TRUE(c.has_value()) << c.error().ToString();
    if (!c) return {};
    f.x = std::get<XLogData>(*c);
    auto m = DecodePgOutput(f.x.payload, in_stream);
    EXPECT_TRUE(m.has_value()) << m.error().ToString();
    if (!m) return {};
    f.msg = std::move(*m);
    f.in_stream = in_stream;
    if (std::holds_alternative<StreamStartMsg>(f.msg)) in_stream = true;
    if (std::holds_alternative<StreamStopMsg>(f.msg)) in_stream = false;
  }
  return frames;
}

char Letter(const Frame& f) { return f.x.payload.empty() ? '?' : f.x.payload[0]; }

std::string Letters(const std::vector<Frame>& frames) {
  std::string s;
  for (const Frame& f : frames) s.push_back(Letter(f));
  return s;
}

template <typename T>
const T& As(const Frame& f) {
  return std::get<T>(f.msg);
}

TEST(PgOutputGoldenTest, Protocol1Basic) {
  auto f = DecodeCapture("basic.hex");
  ASSERT_EQ(Letters(f), "BRIICBUCBUCBRIUDCBDCBYRICBIMCMBRRTCBORICM");

  // Transaction framing: Begin's final LSN is Commit's commit LSN, and the Commit's
  // XLogData starts at its end LSN.
  for (size_t i = 0; i < f.size(); ++i) {
    if (Letter(f[i]) != 'B') continue;
    size_t j = i;
    while (Letter(f[j]) != 'C') ++j;
    const auto& b = As<BeginMsg>(f[i]);
    const auto& c = As<CommitMsg>(f[j]);
    EXPECT_EQ(b.final_lsn, c.commit_lsn);
    EXPECT_LT(c.commit_lsn, c.end_lsn);
    EXPECT_EQ(b.commit_time, c.commit_time);
    EXPECT_EQ(f[j].x.wal_start, c.end_lsn);
  }

  const auto& t = As<RelationMsg>(f[1]);
  EXPECT_FALSE(t.xid.has_value());
  EXPECT_EQ(t.namespace_name, "public");
  EXPECT_EQ(t.relation_name, "t");
  EXPECT_EQ(t.replica_identity, 'd');
  ASSERT_EQ(t.columns.size(), 4u);
  EXPECT_EQ(t.columns[0].name, "id");
  EXPECT_TRUE(t.columns[0].is_key);
  EXPECT_EQ(t.columns[0].type_oid, 23u);  // int4
  EXPECT_EQ(t.columns[1].type_oid, 25u);  // text
  EXPECT_FALSE(t.columns[2].is_key);
  EXPECT_EQ(t.columns[3].name, "amount");
  EXPECT_EQ(t.columns[3].type_oid, 1700u);  // numeric(10,2)
  EXPECT_EQ(t.columns[3].type_modifier, (10 << 16 | 2) + 4);
  // Schema messages are not the last write of their callback: the walsender sends them
  // with XLogData start 0.
  EXPECT_EQ(f[1].x.wal_start, 0u);

  const auto& ins = As<InsertMsg>(f[2]);
  EXPECT_EQ(ins.relation_id, t.relation_id);
  ASSERT_EQ(ins.new_tuple.size(), 4u);
  EXPECT_EQ(ins.new_tuple[1].data, "alice");
  EXPECT_EQ(ins.new_tuple[2].data.size(), 3200u);  // the TOASTed value, sent in full
  EXPECT_EQ(ins.new_tuple[3].data, "12.50");
  const auto& ins2 = As<InsertMsg>(f[3]);
  EXPECT_EQ(ins2.new_tuple[1].kind, ValueKind::kNull);
  EXPECT_EQ(ins2.new_tuple[2].data, "small");
  EXPECT_EQ(ins2.new_tuple[3].kind, ValueKind::kNull);

  const auto& upd = As<UpdateMsg>(f[6]);  // name changed: no old tuple, big unsent
  EXPECT_EQ(upd.old_kind, 0);
  ASSERT_EQ(upd.new_tuple.size(), 4u);
  EXPECT_EQ(upd.new_tuple[1].data, "alicia");
  EXPECT_EQ(upd.new_tuple[2].kind, ValueKind::kUnchangedToast);

  const auto& key = As<UpdateMsg>(f[9]);  // id 1 -> 10
  EXPECT_EQ(key.old_kind, 'K');
  ASSERT_EQ(key.old_tuple.size(), 4u);
  EXPECT_EQ(key.old_tuple[0].data, "1");
  EXPECT_EQ(key.old_tuple[1].kind, ValueKind::kNull);
  EXPECT_EQ(key.old_tuple[2].kind, ValueKind::kNull);
  EXPECT_EQ(key.new_tuple[0].data, "10");
  EXPECT_EQ(key.new_tuple[2].kind, ValueKind::kUnchangedToast);

  const auto& full = As<RelationMsg>(f[12]);
  EXPECT_EQ(full.relation_name, "full_t");
  EXPECT_EQ(full.replica_identity, 'f');
  ASSERT_EQ(full.columns.size(), 2u);
  EXPECT_TRUE(full.columns[0].is_key);  // identity FULL: every column is "key"
  EXPECT_TRUE(full.columns[1].is_key);
  EXPECT_EQ(full.columns[1].type_oid, 1043u);  // varchar(20)
  EXPECT_EQ(full.columns[1].type_modifier, 24);
  const auto& upd_o = As<UpdateMsg>(f[14]);
  EXPECT_EQ(upd_o.old_kind, 'O');
  EXPECT_EQ(upd_o.old_tuple[1].data, "a");
  EXPECT_EQ(upd_o.new_tuple[1].data, "b");
  const auto& del_o = As<DeleteMsg>(f[15]);
  EXPECT_EQ(del_o.old_kind, 'O');
  EXPECT_EQ(del_o.old_tuple[1].data, "b");
  const auto& del_k = As<DeleteMsg>(f[18]);
  EXPECT_EQ(del_k.relation_id, t.relation_id);
  EXPECT_EQ(del_k.old_kind, 'K');
  EXPECT_EQ(del_k.old_tuple[0].data, "10");
  EXPECT_EQ(del_k.old_tuple[2].kind, ValueKind::kNull);

  const auto& type = As<TypeMsg>(f[21]);
  EXPECT_EQ(type.namespace_name, "public");
  EXPECT_EQ(type.type_name, "mood");
  const auto& moods = As<RelationMsg>(f[22]);
  EXPECT_EQ(moods.columns[1].type_oid, type.type_oid);
  EXPECT_EQ(As<InsertMsg>(f[23]).new_tuple[1].data, "happy");

  const auto& tx_msg = As<LogicalMsg>(f[27]);
  EXPECT_TRUE(tx_msg.transactional);
  EXPECT_EQ(tx_msg.prefix, "frazil");
  EXPECT_EQ(tx_msg.content, "ALTER TABLE moods ...");
  const auto& nt_msg = As<LogicalMsg>(f[29]);
  EXPECT_FALSE(nt_msg.transactional);
  EXPECT_EQ(nt_msg.prefix, "frazil-nt");
  EXPECT_EQ(nt_msg.content, std::string_view("\0\xff", 2));

  const auto& trunc = As<TruncateMsg>(f[33]);
  EXPECT_EQ(trunc.options, 3);  // CASCADE | RESTART IDENTITY
  EXPECT_EQ(trunc.relation_ids, (std::vector<uint32_t>{As<RelationMsg>(f[31]).relation_id,
                                                       As<RelationMsg>(f[32]).relation_id}));

  const auto& origin_begin = As<BeginMsg>(f[35]);
  EXPECT_EQ(PgTimeToUnixUs(origin_begin.commit_time), 1704164645000000);  // the origin's
  EXPECT_EQ(f[35].x.wal_start, 0u);  // Begin followed by Origin: not its callback's last write
  const auto& origin = As<OriginMsg>(f[36]);
  EXPECT_EQ(origin.name, "frazil_origin");
  EXPECT_EQ(origin.commit_lsn, 0x1234ABCDu);
  EXPECT_EQ(As<InsertMsg>(f[38]).new_tuple[1].data, "from origin");

  EXPECT_EQ(As<LogicalMsg>(f[40]).prefix, "frazil-end");
}

TEST(PgOutputGoldenTest, Protocol2Streaming) {
  auto f = DecodeCapture("stream.hex");
  ASSERT_EQ(f.size(), 178u);
  // First transaction: 60 rows, a subtransaction of 60 rows rolled back, one more row.
  // Second: 60 rows, rolled back. Stream Abort and Stream Commit arrive outside a
  // Start/Stop block.
  std::string want = "SR" + std::string(40, 'I') + "ES" + std::string(40, 'I') + "ES" +
                     std::string(40, 'I') + "EASRIEcSR" + std::string(40, 'I') + "EAM";
  ASSERT_EQ(Letters(f), want);

  const auto& start = As<StreamStartMsg>(f[0]);
  EXPECT_TRUE(start.first_segment);
  const uint32_t top = start.xid;
  EXPECT_FALSE(As<StreamStartMsg>(f[43]).first_segment);

  // Changes carry the xid of the subtransaction that made them, not the top-level xid.
  const auto& rel = As<RelationMsg>(f[1]);
  EXPECT_EQ(rel.xid, top);
  EXPECT_EQ(rel.relation_name, "s");
  ASSERT_EQ(rel.columns.size(), 1u);  // the publication's column list leaves out pad
  std::optional<uint32_t> sub;
  int top_rows = 0;
  int sub_rows = 0;
  for (size_t i = 0; i < 127; ++i) {
    if (Letter(f[i]) != 'I') continue;
    EXPECT_TRUE(f[i].in_stream);
    const auto& ins = As<InsertMsg>(f[i]);
    ASSERT_TRUE(ins.xid.has_value());
    if (*ins.xid == top) {
      ++top_rows;
    } else {
      if (!sub) sub = ins.xid;
      EXPECT_EQ(ins.xid, sub);
      ++sub_rows;
    }
  }
  EXPECT_EQ(top_rows, 60);
  EXPECT_EQ(sub_rows, 60);
  ASSERT_TRUE(sub.has_value());

  const auto& sub_abort = As<StreamAbortMsg>(f[127]);
  EXPECT_FALSE(f[127].in_stream);
  EXPECT_EQ(sub_abort.xid, top);
  EXPECT_EQ(sub_abort.subxid, *sub);

  // The row inserted after ROLLBACK TO SAVEPOINT belongs to a new subtransaction.
  const auto& last = As<InsertMsg>(f[130]);
  EXPECT_NE(last.xid, top);
  EXPECT_NE(last.xid, sub);
  EXPECT_EQ(last.new_tuple[0].data, "1000");
  EXPECT_EQ(As<RelationMsg>(f[129]).xid, last.xid);

  const auto& commit = As<StreamCommitMsg>(f[132]);
  EXPECT_EQ(commit.xid, top);
  EXPECT_LT(commit.commit_lsn, commit.end_lsn);
  EXPECT_EQ(f[132].x.wal_start, commit.end_lsn);

  const auto& start2 = As<StreamStartMsg>(f[133]);
  EXPECT_TRUE(start2.first_segment);
  EXPECT_NE(start2.xid, top);
  const auto& whole_abort = As<StreamAbortMsg>(f[176]);
  EXPECT_EQ(whole_abort.xid, start2.xid);
  EXPECT_EQ(whole_abort.subxid, start2.xid);
}

TEST(PgOutputGoldenTest, Protocol2Binary) {
  auto f = DecodeCapture("binary.hex");
  ASSERT_EQ(Letters(f), "BRICBUCM");
  const auto& rel = As<RelationMsg>(f[1]);
  ASSERT_EQ(rel.columns.size(), 5u);
  const auto& ins = As<InsertMsg>(f[2]);
  ASSERT_EQ(ins.new_tuple.size(), 5u);
  for (const TupleValue& v : ins.new_tuple) EXPECT_EQ(v.kind, ValueKind::kBinary);
  EXPECT_EQ(ins.new_tuple[0].data, std::string_view("\0\0\0\1", 4));  // int4 1
  // timestamptz: int64 microseconds since 2000-01-01, 2024-01-02 03:04:05.678901 UTC.
  ASSERT_EQ(ins.new_tuple[2].data.size(), 8u);
  int64_t ts = 0;
  for (char c : ins.new_tuple[2].data) ts = (ts << 8) | static_cast<uint8_t>(c);
  EXPECT_EQ(PgTimeToUnixUs(ts), 1704164645678901);
  EXPECT_EQ(ins.new_tuple[3].data, std::string_view("\0\xff\x10", 3));  // bytea
  EXPECT_EQ(ins.new_tuple[4].data.size(), 3200u);
  const auto& upd = As<UpdateMsg>(f[5]);
  EXPECT_EQ(upd.new_tuple[4].kind, ValueKind::kUnchangedToast);  // binary mode too
}

// Every proper prefix of every captured message is Corrupt too.
TEST(PgOutputGoldenTest, EveryTruncationOfCapturedMessagesIsCorrupt) {
  for (const char* name : {"basic.hex", "stream.hex", "binary.hex"}) {
    for (const Frame& f : DecodeCapture(name)) {
      std::string payload(f.x.payload);
      for (size_t n = 0; n < payload.size(); ++n) {
        std::string prefix = payload.substr(0, n);
        auto r = DecodePgOutput(prefix, f.in_stream);
        ASSERT_FALSE(r.has_value()) << name << " " << payload[0] << " prefix " << n;
        EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
      }
    }
  }
}

}  // namespace
}  // namespace frazil::cdc
