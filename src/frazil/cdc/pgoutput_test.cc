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

}  // namespace
}  // namespace frazil::cdc
