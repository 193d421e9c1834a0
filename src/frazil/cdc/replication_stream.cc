#include "frazil/cdc/replication_stream.h"

#include "frazil/base/clock.h"
#include "frazil/cdc/pg_types.h"
#include "frazil/cdc/pgoutput.h"

namespace frazil::cdc {
namespace {

// SQLSTATEs after which reconnecting cannot help: the slot or publication does not exist,
// the slot was invalidated (55000), permission denied.
bool FatalSqlState(const std::string& state) {
  return state == "42704" || state == "55000" || state == "42501" || state == "28000" || state == "3D000";
}

class PgStream : public ReplicationStream {
 public:
  explicit PgStream(std::unique_ptr<PgConnection> conn) : conn_(std::move(conn)) {}

  Result<std::optional<std::string_view>> Next(int timeout_ms) override {
    std::string state;
    auto r = conn_->ReadCopyData(timeout_ms, &state);
    if (!r) fatal_ = FatalSqlState(state);
    return r;
  }

  Status SendStatus(Lsn flush, bool reply_requested) override {
    int64_t now_us = UnixUsToPgTime(Clock::System().NowMillis() * 1000);
    return conn_->PutCopyData(EncodeStandbyStatus(flush, flush, flush, now_us, reply_requested));
  }

  bool fatal() const override { return fatal_; }

 private:
  std::unique_ptr<PgConnection> conn_;
  bool fatal_ = false;
};

}  // namespace

Result<std::unique_ptr<ReplicationStream>> StartPgStream(std::unique_ptr<PgConnection> conn,
                                                         const StreamOptions& options, Lsn start) {
  std::string pubs = PgQuoteIdentifier(options.publication);
  std::string sql = "START_REPLICATION SLOT " + PgQuoteIdentifier(options.slot) + " LOGICAL " + FormatLsn(start) +
                    " (proto_version '2', publication_names " + PgQuoteLiteral(pubs) +
                    (options.streaming ? ", streaming 'on'" : "") + ", messages 'true')";
  std::string state;
  auto started = conn->StartCopyBoth(sql, &state);
  if (!started) {
    std::string hint;
    if (state == "42704") hint = " (the replication slot does not exist: run `frazil run` to create it, or check source.slot)";
    if (state == "55006") hint = " (another process is using the slot: is another frazil running?)";
    if (state == "55000") hint = " (the slot was invalidated, e.g. by max_slot_wal_keep_size: drop it with `frazil source drop` and start over with a new snapshot)";
    return MakeError(started.error().kind, started.error().message + hint);
  }
  return std::unique_ptr<ReplicationStream>(new PgStream(std::move(conn)));
}

Result<std::unique_ptr<ReplicationStream>> StartPgStream(const StreamOptions& options, Lsn start) {
  FRZ_ASSIGN_OR_RETURN(auto conn,
                       PgConnection::Connect(options.conninfo, /*replication=*/true, PgSessionOptions(),
                                             options.application_name));
  return StartPgStream(std::move(conn), options, start);
}

Result<std::optional<std::string_view>> FakeReplicationStream::Next(int) {
  if (payloads.empty()) return std::optional<std::string_view>();
  current_ = std::move(payloads.front());
  payloads.pop_front();
  return std::optional<std::string_view>(current_);
}

Status FakeReplicationStream::SendStatus(Lsn flush, bool reply_requested) {
  statuses.emplace_back(flush, reply_requested);
  return Ok();
}

Result<std::optional<std::string_view>> FaultInjectingStream::Next(int timeout_ms) {
  if (left_ <= 0) return MakeError(ErrorKind::kIOError, "injected fault: replication connection lost");
  auto r = inner_->Next(timeout_ms);
  if (r && r->has_value()) --left_;
  return r;
}

Status FaultInjectingStream::SendStatus(Lsn flush, bool reply_requested) {
  if (left_ <= 0) return MakeError(ErrorKind::kIOError, "injected fault: replication connection lost");
  return inner_->SendStatus(flush, reply_requested);
}

}  // namespace frazil::cdc
