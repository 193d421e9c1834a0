// The replication source behind an interface (docs/architecture.md: every external system
// has a real implementation, a fake for unit tests and a fault-injecting wrapper).
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "frazil/base/result.h"
#include "frazil/cdc/lsn.h"
#include "frazil/cdc/pg_types.h"

namespace frazil::cdc {

// A started logical replication stream (START_REPLICATION ... LOGICAL).
class ReplicationStream {
 public:
  virtual ~ReplicationStream() = default;
  // Waits up to `timeout_ms` for the next CopyData payload ('w' XLogData or 'k'
  // keepalive; decode with DecodeCopyData). nullopt on timeout. The view is valid until the
  // next call.
  // Errors: IOError when the connection breaks or the server ends the stream, with the
  // server's message (e.g. the slot was dropped); `fatal()` then says whether
  // reconnecting can help.
  virtual Result<std::optional<std::string_view>> Next(int timeout_ms) = 0;
  // Sends a standby status update: everything up to `flush` is durably processed.
  virtual Status SendStatus(Lsn flush, bool reply_requested) = 0;
  // After an error from Next: true when retrying cannot help (the slot is gone or
  // invalidated, the publication is missing, permission denied).
  virtual bool fatal() const = 0;
};

struct StreamOptions {
  std::string conninfo;
  std::string slot;
  std::string publication;
  bool streaming = true;  // protocol 2 streaming of large in-progress transactions
  std::string application_name = "frazil";
};

// Opens a replication connection and starts streaming from `start` (0 = the slot's
// confirmed position). Errors: IOError (cannot connect), NotFound (no such slot),
// InvalidArgument (slot in use, invalidated, ...), each naming the slot and server.
Result<std::unique_ptr<ReplicationStream>> StartPgStream(const StreamOptions& options, Lsn start);
// Starts streaming on an already open replication connection (the one that created the
// slot and exported the initial snapshot).
Result<std::unique_ptr<ReplicationStream>> StartPgStream(std::unique_ptr<PgConnection> conn,
                                                         const StreamOptions& options, Lsn start);

using StreamOpener = std::function<Result<std::unique_ptr<ReplicationStream>>(Lsn start)>;

// A scripted stream for unit tests: returns the queued payloads, then times out.
class FakeReplicationStream : public ReplicationStream {
 public:
  std::deque<std::string> payloads;
  std::vector<std::pair<Lsn, bool>> statuses;  // every SendStatus call
  Result<std::optional<std::string_view>> Next(int) override;
  Status SendStatus(Lsn flush, bool reply_requested) override;
  bool fatal() const override { return false; }

 private:
  std::string current_;
};

// Wraps a stream and breaks it: after `fail_after` payloads Next fails with IOError (a
// network cut); the wrapper stays broken.
class FaultInjectingStream : public ReplicationStream {
 public:
  FaultInjectingStream(std::unique_ptr<ReplicationStream> inner, int64_t fail_after)
      : inner_(std::move(inner)), left_(fail_after) {}
  Result<std::optional<std::string_view>> Next(int timeout_ms) override;
  Status SendStatus(Lsn flush, bool reply_requested) override;
  bool fatal() const override { return false; }

 private:
  std::unique_ptr<ReplicationStream> inner_;
  int64_t left_;
};

}  // namespace frazil::cdc
