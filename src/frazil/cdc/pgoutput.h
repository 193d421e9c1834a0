// The byte layouts of PostgreSQL's streaming replication CopyData messages and of the
// logical decoding output plugin pgoutput (protocol versions 1 and 2), decoded into
// structs, plus the frontend's standby status update. Pure functions, no I/O: see
// docs/pgoutput.md for every layout and the PostgreSQL documents they come from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/cdc/lsn.h"

namespace frazil::cdc {

// ---- Replication framing (the CopyData payloads of START_REPLICATION) ----

// 'w': XLogData header followed by one pgoutput message.
// A logical walsender sends wal_end == wal_start, and both 0 for a message that is not
// the last its output-plugin callback writes (Relation, Type, a Begin followed by Origin):
// take positions from the Begin/Commit bodies, not from this header (docs/pgoutput.md).
struct XLogData {
  Lsn wal_start = 0;        // LSN of the WAL record this message was decoded from
  Lsn wal_end = 0;          // current end of WAL on the server
  int64_t send_time = 0;    // microseconds since 2000-01-01 (PostgreSQL epoch)
  std::string_view payload; // the pgoutput message (points into the input buffer)
};
// 'k': primary keepalive.
struct Keepalive {
  Lsn wal_end = 0;
  int64_t send_time = 0;
  bool reply_requested = false;
};
using CopyDataMessage = std::variant<XLogData, Keepalive>;
// Decodes one CopyData payload from the server. Errors: Corrupt (too short, unknown tag),
// naming the tag and the lengths.
Result<CopyDataMessage> DecodeCopyData(std::string_view data);

// 'r': the standby status update the client sends (34 bytes): write, flush and apply
// LSNs, client time (microseconds since 2000-01-01), reply-requested flag.
std::string EncodeStandbyStatus(Lsn write, Lsn flush, Lsn apply, int64_t client_time_us, bool reply_requested);

// Converts between Unix microseconds and PostgreSQL's epoch (2000-01-01) microseconds.
inline constexpr int64_t kPgEpochOffsetUs = 946684800LL * 1000000LL;
inline int64_t PgTimeToUnixUs(int64_t pg_us) { return pg_us + kPgEpochOffsetUs; }
inline int64_t UnixUsToPgTime(int64_t unix_us) { return unix_us - kPgEpochOffsetUs; }

// ---- pgoutput messages ----

// 'B'
struct BeginMsg {
  Lsn final_lsn = 0;       // LSN of the commit record (start)
  int64_t commit_time = 0; // PostgreSQL epoch microseconds
  uint32_t xid = 0;
};
// 'C'
struct CommitMsg {
  uint8_t flags = 0;
  Lsn commit_lsn = 0;      // start of the commit record
  Lsn end_lsn = 0;         // end of the commit record: what the client confirms
  int64_t commit_time = 0;
};
// 'O'
struct OriginMsg {
  Lsn commit_lsn = 0;
  std::string name;
};
// 'R': one column of a relation.
struct RelationColumn {
  bool is_key = false;     // flags bit 1: part of the replica identity
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;  // atttypmod
};
struct RelationMsg {
  std::optional<uint32_t> xid;  // present inside a streamed transaction (protocol 2)
  uint32_t relation_id = 0;     // the table's OID
  std::string namespace_name;   // "" means pg_catalog
  std::string relation_name;
  char replica_identity = 'd';  // 'd' default, 'n' nothing, 'f' full, 'i' index
  std::vector<RelationColumn> columns;
};
// 'Y': a non-built-in type used by a relation.
struct TypeMsg {
  std::optional<uint32_t> xid;
  uint32_t type_oid = 0;
  std::string namespace_name;
  std::string type_name;
};
// One column value of a tuple.
enum class ValueKind : char {
  kNull = 'n',
  kUnchangedToast = 'u',  // the value was not sent: unchanged TOASTed value
  kText = 't',
  kBinary = 'b',
};
struct TupleValue {
  ValueKind kind = ValueKind::kNull;
  std::string_view data;  // for kText/kBinary, points into the input buffer
};
using Tuple = std::vector<TupleValue>;
// 'I'
struct InsertMsg {
  std::optional<uint32_t> xid;
  uint32_t relation_id = 0;
  Tuple new_tuple;
};
// 'U': old tuple present only with replica identity full ('O') or a changed key ('K').
struct UpdateMsg {
  std::optional<uint32_t> xid;
  uint32_t relation_id = 0;
  char old_kind = 0;  // 0 (none), 'K' (key columns only, others null) or 'O' (whole row)
  Tuple old_tuple;
  Tuple new_tuple;
};
// 'D': the key ('K') or the whole old row ('O').
struct DeleteMsg {
  std::optional<uint32_t> xid;
  uint32_t relation_id = 0;
  char old_kind = 'K';
  Tuple old_tuple;
};
// 'T'
struct TruncateMsg {
  std::optional<uint32_t> xid;
  uint8_t options = 0;  // bit 1: CASCADE, bit 2: RESTART IDENTITY
  std::vector<uint32_t> relation_ids;
};
// 'M': pg_logical_emit_message.
struct LogicalMsg {
  std::optional<uint32_t> xid;
  bool transactional = false;
  Lsn lsn = 0;
  std::string prefix;
  std::string_view content;  // points into the input buffer
};
// Protocol 2 streaming of in-progress transactions.
struct StreamStartMsg {  // 'S'
  uint32_t xid = 0;
  bool first_segment = false;
};
struct StreamStopMsg {};  // 'E'
struct StreamCommitMsg {  // 'c'
  uint32_t xid = 0;
  uint8_t flags = 0;
  Lsn commit_lsn = 0;
  Lsn end_lsn = 0;
  int64_t commit_time = 0;
};
struct StreamAbortMsg {  // 'A'
  uint32_t xid = 0;
  uint32_t subxid = 0;  // == xid: the whole transaction; otherwise only that subtransaction
};

using PgOutputMessage =
    std::variant<BeginMsg, CommitMsg, OriginMsg, RelationMsg, TypeMsg, InsertMsg, UpdateMsg, DeleteMsg,
                 TruncateMsg, LogicalMsg, StreamStartMsg, StreamStopMsg, StreamCommitMsg, StreamAbortMsg>;

// Decodes one pgoutput message. `in_stream` is true between Stream Start and Stream Stop:
// there (protocol 2) Relation, Type, Insert, Update, Delete, Truncate and Message carry a
// leading xid. String views in the result point into `data`, which must outlive it.
// Errors: Corrupt naming the message type, the offset and what was expected (a truncated
// message, an unknown message or tuple kind, a string without its terminator).
Result<PgOutputMessage> DecodePgOutput(std::string_view data, bool in_stream);

}  // namespace frazil::cdc
