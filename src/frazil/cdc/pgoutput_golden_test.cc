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
