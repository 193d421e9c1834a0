#include "frazil/cdc/pgoutput.h"

#include <algorithm>
#include <cstdio>
#include <utility>

// Every layout below is from the PostgreSQL 15 documentation, chapter "Frontend/Backend
// Protocol": section "Streaming Replication Protocol" (55.4) for the CopyData framing and
// section "Logical Replication Message Formats" (55.9) for pgoutput; docs/pgoutput.md
// collects them. Integers are big-endian. "String" is NUL-terminated. Offsets in error
// messages count from the first byte of the message (its type letter) at offset 0.

namespace frazil::cdc {

namespace {

// 'I' for printable ASCII, 0x49 otherwise: a corrupt tag byte may be anything.
std::string ShowByte(uint8_t b) {
  char buf[8];
  if (b >= 0x20 && b < 0x7f) {
    std::snprintf(buf, sizeof buf, "'%c'", static_cast<char>(b));
  } else {
    std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(b));
  }
  return buf;
}

// A cursor over one message. Every read checks the remaining length first and fails
// with Corrupt naming the message, the offset and the field it expected; nothing is read
// past the end of `data`.
class Reader {
 public:
  // The context ("<kind> '<tag>'<suffix>", e.g. "pgoutput 'I' message") is only formatted
  // when an error is reported: decoding must not allocate per field.
  Reader(std::string_view data, const char* kind, uint8_t tag, const char* suffix)
      : data_(data), kind_(kind), suffix_(suffix), tag_(tag) {}

  size_t offset() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }

  // "<context> at offset N: <message>"
  std::unexpected<Error> Fail(size_t at, const std::string& message) const {
    return MakeError(ErrorKind::kCorrupt,
                     std::string(kind_) + " " + ShowByte(tag_) + suffix_ + " at offset " + std::to_string(at) +
                         ": " + message);
  }

  Result<uint8_t> Int8(std::string_view what) {
    FRZ_ASSIGN_OR_RETURN(uint64_t v, BigEndian(1, "Int8", what));
    return static_cast<uint8_t>(v);
  }
  Result<int16_t> Int16(std::string_view what) {
    FRZ_ASSIGN_OR_RETURN(uint64_t v, BigEndian(2, "Int16", what));
    return static_cast<int16_t>(static_cast<uint16_t>(v));
  }
  // OIDs and xids are unsigned 32-bit on the server; signed counts use Int32().
  Result<uint32_t> UInt32(std::string_view what) {
    FRZ_ASSIGN_OR_RETURN(uint64_t v, BigEndian(4, "Int32", what));
    return static_cast<uint32_t>(v);
  }
  Result<int32_t> Int32(std::string_view what) {
    FRZ_ASSIGN_OR_RETURN(uint32_t v, UInt32(what));
    return static_cast<int32_t>(v);
  }
  Result<uint64_t> UInt64(std::string_view what) { return BigEndian(8, "Int64", what); }
  Result<int64_t> Int64(std::string_view what) {
    FRZ_ASSIGN_OR_RETURN(uint64_t v, BigEndian(8, "Int64", what));
    return static_cast<int64_t>(v);
  }

  // A String field: the bytes up to the NUL (excluded); the NUL is consumed.
  Result<std::string_view> String(std::string_view what) {
    size_t nul = data_.find('\0', pos_);
    if (nul == std::string_view::npos) {
      return Fail(pos_, "expected String " + std::string(what) + " terminated by NUL, but the " +
                            std::to_string(remaining()) + " remaining bytes hold no NUL");
    }
    std::string_view s = data_.substr(pos_, nul - pos_);
    pos_ = nul + 1;
    return s;
  }

  // `n` raw bytes (Byten), as a view into the input.
  Result<std::string_view> Bytes(size_t n, std::string_view what) {
    if (n > remaining()) return Short(n, "Byte" + std::to_string(n), what);
    std::string_view s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }

  // The rest of the input, possibly empty.
  std::string_view Rest() {
    std::string_view s = data_.substr(pos_);
    pos_ = data_.size();
    return s;
  }

  // A pgoutput message has exactly the fields of its layout: bytes left over mean the
  // message was decoded with the wrong layout (most likely `in_stream` did not match the
  // stream state), and its fields would be garbage.
  Status ExpectEnd() const {
    if (remaining() == 0) return Ok();
    return Fail(pos_, "expected end of message, but " + std::to_string(remaining()) +
                          " bytes remain (message is " + std::to_string(data_.size()) +
                          " bytes; a leading xid present or missing?)");
  }

 private:
  std::unexpected<Error> Short(size_t n, const std::string& type, std::string_view what) const {
    return Fail(pos_, "expected " + type + " " + std::string(what) + " (" + std::to_string(n) +
                          " bytes), but only " + std::to_string(remaining()) +
                          " bytes remain (message is " + std::to_string(data_.size()) + " bytes)");
  }

  Result<uint64_t> BigEndian(size_t n, const char* type, std::string_view what) {
    if (n > remaining()) return Short(n, type, what);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(data_[pos_ + i]);
    pos_ += n;
    return v;
  }

  std::string_view data_;
  const char* kind_;
  const char* suffix_;
  uint8_t tag_;
  size_t pos_ = 0;
};

// ---- Replication framing ----

// XLogData (after the 'w'):
//   Int64 walStart  Int64 walEnd  Int64 sendTime  Byten payload (the rest of the message)
Result<CopyDataMessage> DecodeXLogData(Reader& r) {
  XLogData m;
  FRZ_ASSIGN_OR_RETURN(m.wal_start, r.UInt64("WAL start LSN"));
  FRZ_ASSIGN_OR_RETURN(m.wal_end, r.UInt64("WAL end LSN"));
  FRZ_ASSIGN_OR_RETURN(m.send_time, r.Int64("send time"));
  m.payload = r.Rest();
  return m;
}

// Primary keepalive (after the 'k'):
//   Int64 walEnd  Int64 sendTime  Byte1 replyRequested (1: reply now or be disconnected)
// Trailing bytes are tolerated here, as pg_recvlogical does: the framing is not versioned
// by anything the client asks for, and a keepalive carries nothing a later field could
// change the meaning of.
Result<CopyDataMessage> DecodeKeepalive(Reader& r) {
  Keepalive m;
  FRZ_ASSIGN_OR_RETURN(m.wal_end, r.UInt64("WAL end LSN"));
  FRZ_ASSIGN_OR_RETURN(m.send_time, r.Int64("send time"));
  FRZ_ASSIGN_OR_RETURN(uint8_t reply, r.Int8("reply-requested flag"));
  m.reply_requested = reply != 0;
  return m;
}

void PutBigEndian(std::string& out, uint64_t v, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
  }
}

// ---- pgoutput ----

// Protocol 2: inside a streamed transaction a change or schema message carries the xid
// of the (sub)transaction it belongs to, right after the type letter.
Result<std::optional<uint32_t>> StreamXid(Reader& r, bool in_stream) {
  if (!in_stream) return std::nullopt;
  FRZ_ASSIGN_OR_RETURN(uint32_t xid, r.UInt32("xid of the streamed transaction"));
  return xid;
}

// TupleData:
//   Int16 column count, then per column Byte1 kind:
//     'n' null | 'u' unchanged TOASTed value (not sent) |
//     't' text, 'b' binary: Int32 length, Byten value
// `name` ("new tuple", "old tuple") prefixes the field names in errors.
Result<Tuple> DecodeTuple(Reader& r, const char* name) {
  size_t count_at = r.offset();
  FRZ_ASSIGN_OR_RETURN(int16_t ncols, r.Int16(std::string(name) + " column count"));
  if (ncols < 0) {
    return r.Fail(count_at, "expected a non-negative " + std::string(name) + " column count, got " +
                                std::to_string(ncols));
  }
  Tuple tuple;
  // Every column takes at least one byte: never reserve more than the input can hold.
  tuple.reserve(std::min<size_t>(static_cast<size_t>(ncols), r.remaining()));
  // The hot path of CDC: no string is built unless a column is malformed.
  auto column = [&](int16_t i) { return std::string(name) + " column " + std::to_string(i); };
  for (int16_t i = 0; i < ncols; ++i) {
    size_t kind_at = r.offset();
    auto kind = r.Int8("kind");
    if (!kind) return r.Fail(kind_at, "expected the kind of " + column(i) + ", but the message ends");
    TupleValue value;
    switch (*kind) {
      case 'n':
        value.kind = ValueKind::kNull;
        break;
      case 'u':
        value.kind = ValueKind::kUnchangedToast;
        break;
      case 't':
      case 'b': {
        value.kind = *kind == 't' ? ValueKind::kText : ValueKind::kBinary;
        size_t len_at = r.offset();
        auto len = r.Int32("length");
        if (!len) return r.Fail(len_at, "expected Int32 value length of " + column(i) + ", but the message ends");
        if (*len < 0) {
          return r.Fail(len_at, column(i) + ": expected a non-negative value length, got " + std::to_string(*len));
        }
        size_t data_at = r.offset();
        auto data = r.Bytes(static_cast<size_t>(*len), "value");
        if (!data) {
          return r.Fail(data_at, "expected Byte" + std::to_string(*len) + " value of " + column(i) + " (" +
                                     std::to_string(*len) + " bytes), but only " + std::to_string(r.remaining()) +
                                     " bytes remain");
        }
        value.data = *data;
        break;
      }
      default:
        return r.Fail(kind_at, column(i) + ": expected kind 'n', 'u', 't' or 'b', got " + ShowByte(*kind));
    }
    tuple.push_back(value);
  }
  return tuple;
}

// Reads the Byte1 that introduces a TupleData and checks it is one of `allowed`.
Result<char> TupleMarker(Reader& r, std::string_view allowed, const char* expected) {
  size_t at = r.offset();
  FRZ_ASSIGN_OR_RETURN(uint8_t marker, r.Int8(expected));
  if (allowed.find(static_cast<char>(marker)) == std::string_view::npos) {
    return r.Fail(at, std::string("expected ") + expected + ", got " + ShowByte(marker));
  }
  return static_cast<char>(marker);
}

// Begin 'B':
//   Int64 final LSN (of the commit record)  Int64 commit timestamp  Int32 xid
Result<PgOutputMessage> DecodeBegin(Reader& r) {
  BeginMsg m;
  FRZ_ASSIGN_OR_RETURN(m.final_lsn, r.UInt64("final LSN"));
  FRZ_ASSIGN_OR_RETURN(m.commit_time, r.Int64("commit timestamp"));
  FRZ_ASSIGN_OR_RETURN(m.xid, r.UInt32("xid"));
  return m;
}

// Commit 'C':
//   Int8 flags (unused, 0)  Int64 commit LSN  Int64 end LSN  Int64 commit timestamp
Result<PgOutputMessage> DecodeCommit(Reader& r) {
  CommitMsg m;
  FRZ_ASSIGN_OR_RETURN(m.flags, r.Int8("flags"));
  FRZ_ASSIGN_OR_RETURN(m.commit_lsn, r.UInt64("commit LSN"));
  FRZ_ASSIGN_OR_RETURN(m.end_lsn, r.UInt64("end LSN"));
  FRZ_ASSIGN_OR_RETURN(m.commit_time, r.Int64("commit timestamp"));
  return m;
}

// Origin 'O':
//   Int64 commit LSN on the origin server  String origin name
// Never has a leading xid, not even inside a stream (where the LSN is 0).
Result<PgOutputMessage> DecodeOrigin(Reader& r) {
  OriginMsg m;
  FRZ_ASSIGN_OR_RETURN(m.commit_lsn, r.UInt64("origin commit LSN"));
  FRZ_ASSIGN_OR_RETURN(std::string_view name, r.String("origin name"));
  m.name = name;
  return m;
}

// Relation 'R':
//   [Int32 xid, streaming only]  Int32 relation OID  String namespace ("" = pg_catalog)
//   String relation name  Int8 replica identity ('d', 'n', 'f', 'i')  Int16 column count
//   per column: Int8 flags (1 = part of the key)  String name  Int32 type OID
//               Int32 type modifier (atttypmod)
Result<PgOutputMessage> DecodeRelation(Reader& r, bool in_stream) {
  RelationMsg m;
  FRZ_ASSIGN_OR_RETURN(m.xid, StreamXid(r, in_stream));
  FRZ_ASSIGN_OR_RETURN(m.relation_id, r.UInt32("relation OID"));
  FRZ_ASSIGN_OR_RETURN(std::string_view ns, r.String("namespace"));
  FRZ_ASSIGN_OR_RETURN(std::string_view name, r.String("relation name"));
  m.namespace_name = ns;
  m.relation_name = name;
  size_t ident_at = r.offset();
  FRZ_ASSIGN_OR_RETURN(uint8_t ident, r.Int8("replica identity"));
  // Whether old tuples can arrive depends on this; an unknown value is not guessed at.
  if (ident != 'd' && ident != 'n' && ident != 'f' && ident != 'i') {
    return r.Fail(ident_at,
                  "expected replica identity 'd', 'n', 'f' or 'i', got " + ShowByte(ident));
  }
  m.replica_identity = static_cast<char>(ident);
  size_t count_at = r.offset();
  FRZ_ASSIGN_OR_RETURN(int16_t ncols, r.Int16("column count"));
  if (ncols < 0) {
    return r.Fail(count_at, "expected a non-negative column count, got " + std::to_string(ncols));
  }
  // A column takes at least 10 bytes (flags, empty name, type OID, typmod).
  m.columns.reserve(std::min<size_t>(static_cast<size_t>(ncols), r.remaining() / 10));
  for (int16_t i = 0; i < ncols; ++i) {
    RelationColumn c;
    FRZ_ASSIGN_OR_RETURN(uint8_t flags, r.Int8("column flags"));
    c.is_key = (flags & 1) != 0;
    FRZ_ASSIGN_OR_RETURN(std::string_view col_name, r.String("column name"));
    c.name = col_name;
    FRZ_ASSIGN_OR_RETURN(c.type_oid, r.UInt32("column type OID"));
    FRZ_ASSIGN_OR_RETURN(c.type_modifier, r.Int32("column type modifier"));
    m.columns.push_back(std::move(c));
  }
  return m;
}

// Type 'Y':
//   [Int32 xid, streaming only]  Int32 type OID  String namespace ("" = pg_catalog)
//   String type name
Result<PgOutputMessage> DecodeType(Reader& r, bool in_stream) {
  TypeMsg m;
  FRZ_ASSIGN_OR_RETURN(m.xid, StreamXid(r, in_stream));
  FRZ_ASSIGN_OR_RETURN(m.type_oid, r.UInt32("type OID"));
  FRZ_ASSIGN_OR_RETURN(std::string_view ns, r.String("namespace"));
  FRZ_ASSIGN_OR_RETURN(std::string_view name, r.String("type name"));
  m.namespace_name = ns;
  m.type_name = name;
  return m;
}

// Insert 'I':
//   [Int32 xid, streaming only]  Int32 relation OID  Byte1 'N'  TupleData new tuple
Result<PgOutputMessage> DecodeInsert(Reader& r, bool in_stream) {
  InsertMsg m;
  FRZ_ASSIGN_OR_RETURN(m.xid, StreamXid(r, in_stream));
  FRZ_ASSIGN_OR_RETURN(m.relation_id, r.UInt32("relation OID"));
  FRZ_RETURN_IF_ERROR(TupleMarker(r, "N", "new tuple marker 'N'"));
  FRZ_ASSIGN_OR_RETURN(m.new_tuple, DecodeTuple(r, "new tuple"));
  return m;
}

// Update 'U':
//   [Int32 xid, streaming only]  Int32 relation OID
//   optional: Byte1 'K' (key columns of the old row; other columns null) or
//             Byte1 'O' (the whole old row), then TupleData old tuple
//   Byte1 'N'  TupleData new tuple
Result<PgOutputMessage> DecodeUpdate(Reader& r, bool in_stream) {
  UpdateMsg m;
  FRZ_ASSIGN_OR_RETURN(m.xid, StreamXid(r, in_stream));
  FRZ_ASSIGN_OR_RETURN(m.relation_id, r.UInt32("relation OID"));
  FRZ_ASSIGN_OR_RETURN(char marker, TupleMarker(r, "KON", "tuple marker 'K', 'O' or 'N'"));
  if (marker != 'N') {
    m.old_kind = marker;
    FRZ_ASSIGN_OR_RETURN(m.old_tuple, DecodeTuple(r, "old tuple"));
    FRZ_RETURN_IF_ERROR(TupleMarker(r, "N", "new tuple marker 'N'"));
  }
  FRZ_ASSIGN_OR_RETURN(m.new_tuple, DecodeTuple(r, "new tuple"));
  return m;
}

// Delete 'D':
//   [Int32 xid, streaming only]  Int32 relation OID
//   Byte1 'K' (key columns) or 'O' (whole old row)  TupleData old tuple
Result<PgOutputMessage> DecodeDelete(Reader& r, bool in_stream) {
  DeleteMsg m;
  FRZ_ASSIGN_OR_RETURN(m.xid, StreamXid(r, in_stream));
  FRZ_ASSIGN_OR_RETURN(m.relation_id, r.UInt32("relation OID"));
  FRZ_ASSIGN_OR_RETURN(m.old_kind, TupleMarker(r, "KO", "old tuple marker 'K' or 'O'"));
  FRZ_ASSIGN_OR_RETURN(m.old_tuple, DecodeTuple(r, "old tuple"));
  return m;
}

// Truncate 'T':
//   [Int32 xid, streaming only]  Int32 relation count
//   Int8 options (1 = CASCADE, 2 = RESTART IDENTITY)  Int32 relation OID, count times
Result<PgOutputMessage> DecodeTruncate(Reader& r, bool in_stream) {
  TruncateMsg m;
  FRZ_ASSIGN_OR_RETURN(m.xid, StreamXid(r, in_stream));
  size_t count_at = r.offset();
  FRZ_ASSIGN_OR_RETURN(int32_t count, r.Int32("relation count"));
  if (count < 0) {
    return r.Fail(count_at, "expected a non-negative relation count, got " + std::to_string(count));
  }
  FRZ_ASSIGN_OR_RETURN(m.options, r.Int8("options"));
  m.relation_ids.reserve(std::min<size_t>(static_cast<size_t>(count), r.remaining() / 4));
  for (int32_t i = 0; i < count; ++i) {
    FRZ_ASSIGN_OR_RETURN(uint32_t oid, r.UInt32("relation OID"));
    m.relation_ids.push_back(oid);
  }
  return m;
}

// Message 'M' (pg_logical_emit_message):
//   [Int32 xid, streaming only]  Int8 flags (1 = transactional)  Int64 LSN
//   String prefix  Int32 content length  Byten content
Result<PgOutputMessage> DecodeLogicalMessage(Reader& r, bool in_stream) {
  LogicalMsg m;
  FRZ_ASSIGN_OR_RETURN(m.xid, StreamXid(r, in_stream));
  FRZ_ASSIGN_OR_RETURN(uint8_t flags, r.Int8("flags"));
  m.transactional = (flags & 1) != 0;
  FRZ_ASSIGN_OR_RETURN(m.lsn, r.UInt64("message LSN"));
  FRZ_ASSIGN_OR_RETURN(std::string_view prefix, r.String("prefix"));
  m.prefix = prefix;
  size_t len_at = r.offset();
  FRZ_ASSIGN_OR_RETURN(int32_t len, r.Int32("content length"));
  if (len < 0) {
    return r.Fail(len_at, "expected a non-negative content length, got " + std::to_string(len));
  }
  FRZ_ASSIGN_OR_RETURN(m.content, r.Bytes(static_cast<size_t>(len), "content"));
  return m;
}

// Stream Start 'S':
//   Int32 xid  Int8 first segment (1 for the first segment of this xid, else 0)
Result<PgOutputMessage> DecodeStreamStart(Reader& r) {
  StreamStartMsg m;
  FRZ_ASSIGN_OR_RETURN(m.xid, r.UInt32("xid"));
  FRZ_ASSIGN_OR_RETURN(uint8_t first, r.Int8("first-segment flag"));
  m.first_segment = first != 0;
  return m;
}

// Stream Stop 'E': no body.

// Stream Commit 'c':
//   Int32 xid  Int8 flags (unused, 0)  Int64 commit LSN  Int64 end LSN
//   Int64 commit timestamp
Result<PgOutputMessage> DecodeStreamCommit(Reader& r) {
  StreamCommitMsg m;
  FRZ_ASSIGN_OR_RETURN(m.xid, r.UInt32("xid"));
  FRZ_ASSIGN_OR_RETURN(m.flags, r.Int8("flags"));
  FRZ_ASSIGN_OR_RETURN(m.commit_lsn, r.UInt64("commit LSN"));
  FRZ_ASSIGN_OR_RETURN(m.end_lsn, r.UInt64("end LSN"));
  FRZ_ASSIGN_OR_RETURN(m.commit_time, r.Int64("commit timestamp"));
  return m;
}

// Stream Abort 'A' (protocol 2 and 3):
//   Int32 xid  Int32 subtransaction xid (== xid when the whole transaction aborts)
// Protocol 4 (PostgreSQL 16+, parallel streaming) appends Int64 abort LSN and Int64 abort
// timestamp; frazil does not request protocol 4, and ExpectEnd() rejects those bytes.
Result<PgOutputMessage> DecodeStreamAbort(Reader& r) {
  StreamAbortMsg m;
  FRZ_ASSIGN_OR_RETURN(m.xid, r.UInt32("xid"));
  FRZ_ASSIGN_OR_RETURN(m.subxid, r.UInt32("subtransaction xid"));
  return m;
}

Result<PgOutputMessage> DecodeBody(uint8_t tag, Reader& r, bool in_stream) {
  switch (tag) {
    case 'B':
      return DecodeBegin(r);
    case 'C':
      return DecodeCommit(r);
    case 'O':
      return DecodeOrigin(r);
    case 'R':
      return DecodeRelation(r, in_stream);
    case 'Y':
      return DecodeType(r, in_stream);
    case 'I':
      return DecodeInsert(r, in_stream);
    case 'U':
      return DecodeUpdate(r, in_stream);
    case 'D':
      return DecodeDelete(r, in_stream);
    case 'T':
      return DecodeTruncate(r, in_stream);
    case 'M':
      return DecodeLogicalMessage(r, in_stream);
    case 'S':
      return DecodeStreamStart(r);
    case 'E':
      return StreamStopMsg{};
    case 'c':
      return DecodeStreamCommit(r);
    case 'A':
      return DecodeStreamAbort(r);
    default:
      // Includes the protocol 3 two-phase messages ('b', 'P', 'K', 'r', 'p'), which are
      // only sent when the client asks for two_phase.
      return r.Fail(0, "unknown pgoutput message type " + ShowByte(tag) +
                           " (expected one of B C O R Y I U D T M S E c A)");
  }
}

}  // namespace

Result<CopyDataMessage> DecodeCopyData(std::string_view data) {
  if (data.empty()) {
    return MakeError(ErrorKind::kCorrupt,
                     "CopyData at offset 0: expected a message type, got an empty message");
  }
  auto tag = static_cast<uint8_t>(data[0]);
  Reader r(data, "CopyData", tag, "");
  FRZ_RETURN_IF_ERROR(r.Int8("message type"));
  switch (tag) {
    case 'w':
      return DecodeXLogData(r);
    case 'k':
      return DecodeKeepalive(r);
    default:
      return r.Fail(0, "unknown replication message type " + ShowByte(tag) +
                           " (expected 'w' XLogData or 'k' keepalive)");
  }
}

// Standby status update 'r':
//   Int64 write LSN  Int64 flush LSN  Int64 apply LSN  Int64 client time  Byte1 reply requested
// PostgreSQL documents each LSN as "the last WAL byte + 1", i.e. an end position such as a
// Commit's end LSN; the slot's confirmed_flush_lsn becomes the flush LSN.
std::string EncodeStandbyStatus(Lsn write, Lsn flush, Lsn apply, int64_t client_time_us,
                                bool reply_requested) {
  std::string out;
  out.reserve(34);
  out.push_back('r');
  PutBigEndian(out, write, 8);
  PutBigEndian(out, flush, 8);
  PutBigEndian(out, apply, 8);
  PutBigEndian(out, static_cast<uint64_t>(client_time_us), 8);
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

Result<PgOutputMessage> DecodePgOutput(std::string_view data, bool in_stream) {
  if (data.empty()) {
    return MakeError(ErrorKind::kCorrupt,
                     "pgoutput message at offset 0: expected a message type, got an empty message");
  }
  auto tag = static_cast<uint8_t>(data[0]);
  Reader r(data, "pgoutput", tag, " message");
  FRZ_RETURN_IF_ERROR(r.Int8("message type"));
  FRZ_ASSIGN_OR_RETURN(PgOutputMessage m, DecodeBody(tag, r, in_stream));
  FRZ_RETURN_IF_ERROR(r.ExpectEnd());
  return m;
}

}  // namespace frazil::cdc
