// `frazil run`: the CDC pipeline from one publication and replication slot into raw
// changelog tables (docs/cdc.md). Sets up the publication and slot, takes the initial
// snapshot, then streams: decodes pgoutput, stages changes per table, and commits batches
// of whole source transactions (all tables of a batch in one catalog transaction), then
// confirms the committed LSN to PostgreSQL.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include "frazil/cdc/raw_table.h"
#include "frazil/cdc/replication_stream.h"
#include "frazil/cdc/snapshot.h"

namespace frazil::cdc {

// Prefix of the logical messages frazil's DDL event trigger emits.
inline constexpr const char* kDdlMessagePrefix = "frazil.ddl";

struct CdcOptions {
  std::string conninfo;                    // libpq key=value or postgresql:// URL
  std::string publication = "frazil_pub";
  std::string slot = "frazil_slot";
  std::vector<std::string> tables;         // for a publication frazil creates; empty = all tables
  std::string ns = "raw_data";             // the raw tables' namespace
  std::string snapshot_mode = "initial";   // initial | never | initial_only
  int snapshot_workers = 2;
  int64_t commit_interval_ms = 500;        // a batch commits at most this long after its first change
  int64_t batch_bytes = 64LL << 20;        // ... or when this much is staged
  int64_t stream_spill_bytes = 32LL << 20; // a streamed transaction spills beyond this
  bool streaming = true;                   // protocol 2 streaming of large transactions
  std::string status_file;                 // JSON progress written after every commit ("" = none)
  int64_t max_reconnect_wait_ms = 30000;
  // Stop once everything up to this LSN is committed and confirmed (0 = run until
  // stopped); "catch up and exit" for scripts, tests and benchmarks.
  Lsn stop_lsn = 0;
  bool stop_at_current_lsn = false;  // stop_lsn = the server's WAL position at start
};

// The raw table name for a source table: the table name for schema public, else
// "<schema>__<table>" (lowercase).
std::string RawTableName(const std::string& schema, const std::string& table);

struct PipelineStats {
  std::string state = "starting";  // starting, snapshot, streaming, reconnecting, stopped
  Lsn confirmed = 0;               // last LSN confirmed to PostgreSQL (all committed)
  Lsn received = 0;                // last WAL position seen from the server
  int64_t committed_rows = 0;
  int64_t committed_txns = 0;
  int64_t commits = 0;
  int64_t last_commit_ms = 0;
  std::map<std::string, int64_t> table_rows;  // raw table -> rows committed by this run
};

class Pipeline {
 public:
  Pipeline(CdcContext ctx, CdcOptions options) : ctx_(std::move(ctx)), options_(std::move(options)) {}
  ~Pipeline();

  // Runs until `stop` is set (then commits what is complete and returns Ok), or until a
  // failure reconnecting cannot fix (slot dropped or invalidated, publication missing,
  // permission denied, a value that cannot be stored), returned with what to do.
  Status Run(const std::atomic<bool>& stop);

  // Replaces how the replication stream is opened (tests inject faults here).
  void set_stream_opener(StreamOpener opener) { opener_ = std::move(opener); }
  const PipelineStats& stats() const { return stats_; }
  // The pipeline's metrics in Prometheus text format; thread-safe (a copy of the stats as
  // of the last state change or commit).
  std::string MetricsText() const;

 private:
  struct Txn {
    bool active = false;
    uint32_t xid = 0;
    Lsn final_lsn = 0;
    int64_t commit_ts_us = 0;
    int64_t seq = 0;
  };
  struct StreamTxn {
    int64_t seq = 0;
    int64_t bytes = 0;
    std::set<uint32_t> aborted;
    std::set<RawTable*> tables;
  };

  Status Setup(const std::atomic<bool>& stop);
  Status OpenTables();
  Status Snapshot(PgConnection& replication, const CreatedSlot& slot, const std::vector<RawTable*>& tables,
                  const std::atomic<bool>& stop);
  Status Stream(std::unique_ptr<ReplicationStream> stream, const std::atomic<bool>& stop);
  Status Handle(ReplicationStream& stream, std::string_view payload);
  Status HandleMessage(const PgOutputMessage& msg, Lsn wal_start);
  Status OnRelation(const RelationMsg& msg);
  Status OnLogicalMessage(const LogicalMsg& msg);
  Status AddChange(uint32_t relation_id, std::optional<uint32_t> xid, char op, const Tuple* new_tuple,
                   const Tuple* old_tuple, Lsn wal_start);
  Status OnStreamCommit(const StreamCommitMsg& msg);
  Status OnStreamAbort(const StreamAbortMsg& msg);
  struct FlushJob {
    Lsn lsn = 0;
    int64_t txns = 0;
    int64_t t0 = 0;
    std::vector<std::pair<RawTable*, RawTable::Staged>> staged;
    std::vector<RawTable*> tables;
    std::thread thread;
    std::atomic<bool> done{false};
    Status result;
    int64_t committed = 0;
    std::map<std::string, int64_t> rows;
    // The lease held since this thread wrote files the batch commits (released with the job).
    std::unique_ptr<catalog::WriteLease> lease;
  };
  // Takes the catalog's write lease (once) before this thread writes files that a later
  // flush commits: a schema change's rewrite, a streamed transaction's rows.
  Status HoldLease();
  Status MaybeFlush(bool force);
  Status StartFlush();
  void RunFlush(FlushJob& job);
  Status PollFlush();
  Status WaitForFlush();
  Status SendStatus(ReplicationStream& stream, bool reply_requested);
  void ResetUncommitted();
  Result<PgType> ResolveType(uint32_t oid, int32_t typmod);
  void WriteStatusFile();
  bool Idle() const;

  CdcContext ctx_;
  CdcOptions options_;
  StreamOpener opener_;
  std::unique_ptr<PgConnection> sql_;
  std::unique_ptr<engine::Connection> con_;
  std::unique_ptr<engine::Connection> flush_con_;  // the flush thread's
  std::unique_ptr<FlushJob> flush_;                // the flush in flight, if any
  std::unique_ptr<catalog::WriteLease> pending_lease_;  // see HoldLease
  bool status_due_ = false;                        // confirmed moved: tell the server
  std::map<uint32_t, std::unique_ptr<RawTable>> tables_;  // by source relation OID
  std::map<uint32_t, PgType> types_;
  std::map<uint32_t, std::vector<std::pair<std::string, std::string>>> pending_renames_;
  std::map<uint32_t, std::map<std::string, int>> ddl_attnums_;  // from captured DDL: name -> attnum
  std::unique_ptr<ReplicationStream> pending_stream_;  // started on the slot-creating connection

  Txn txn_;
  bool in_stream_ = false;
  uint32_t stream_xid_ = 0;
  std::map<uint32_t, StreamTxn> streams_;
  Lsn batch_end_ = 0;
  int64_t batch_txns_ = 0;
  int64_t batch_first_ms_ = 0;
  int64_t last_status_ms_ = 0;
  PipelineStats stats_;
  mutable std::mutex published_mu_;
  PipelineStats published_;  // stats_ as of the last WriteStatusFile, for MetricsText
};

}  // namespace frazil::cdc
