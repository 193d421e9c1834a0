// One raw changelog table while CDC runs: its Iceberg table, the current layout of its
// source table, the staged changes, data files written but not yet committed, and the
// resume LSN (docs/cdc.md, "Exactly once").
#pragma once

#include <atomic>
#include <map>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "frazil/base/clock.h"
#include "frazil/catalog/catalog.h"
#include "frazil/cdc/changelog.h"
#include "frazil/cdc/mirror_table.h"
#include "frazil/engine/parquet_writer.h"
#include "frazil/io/file_io.h"

namespace frazil::cdc {

// The warehouse pieces CDC writes through (owned by the caller).
struct CdcContext {
  catalog::Catalog* catalog = nullptr;
  io::FileIO* io = nullptr;
  engine::Database* db = nullptr;
  Clock* clock = nullptr;
  engine::WriteOptions write;
  std::string spill_dir;  // local folder for streamed transactions' spilled changes
  MirrorOptions mirror;   // mirror tables (docs/mirror.md)
  SourceReader read_source;  // reads current source rows (mirrors backfill new columns)
  // Called on the flush thread after each streamed batch is committed (the orchestrator's
  // sensors look at once instead of at their next poll). Must be cheap and thread-safe.
  std::function<void()> on_commit;
};

class RawTable {
 public:
  // Loads (creating when missing, with its namespace) the raw table `id` for `source`, and
  // evolves its schema when the source columns differ from it; opens its mirror table when
  // ctx.mirror wants one.
  static Result<std::unique_ptr<RawTable>> Open(CdcContext& ctx, engine::Connection& con,
                                                const catalog::TableIdentifier& id, const SourceTable& source,
                                                const std::string& slot);
  ~RawTable();

  const catalog::TableIdentifier& id() const { return id_; }
  const SourceTable& source() const { return source_; }
  ChangeBuffer& buffer() { return *buffer_; }
  const Layout& layout() const { return layout_; }
  const catalog::LoadedTable& table() const { return table_; }
  MirrorTable* mirror() const { return mirror_.get(); }
  // Transactions whose commit LSN is below this are already in the table (skip them).
  Lsn resume_lsn() const { return resume_lsn_.load(); }
  // Whether the table has ever been snapshotted or streamed into (has frazil.lsn).
  bool started() const { return resume_lsn_ != 0; }

  // A new definition of the source table (a Relation message or captured DDL). When the
  // columns differ: staged committed rows are written under the old layout, the schema
  // evolves (applied with the next commit), staging restarts with the new layout.
  // Errors: Unsupported when streamed transactions still have rows staged for the table.
  Status UpdateSource(const SourceTable& next, const std::vector<std::pair<std::string, std::string>>& renames);

  // Stages one change (rows of streamed transactions carry meta.stream_xid).
  Status Append(const RowMeta& meta, const Tuple* new_tuple, const Tuple* old_tuple);

  // Writes the staged rows of completed transactions to data files (pending the commit).
  Status WriteStaged();
  // The staged rows of completed transactions, taken for writing by another thread (a
  // fresh buffer replaces them), with the layout they were staged in; nullptr if none.
  struct Staged {
    std::unique_ptr<ChangeBuffer> buffer;
    Layout layout;
  };
  Result<std::optional<Staged>> TakeStaged();
  // Writes taken rows on `con` into data files pending the next commit, first filling
  // unchanged TOAST values from earlier images of the same row (docs/cdc.md).
  // Errors: Unsupported when a value cannot be filled (no earlier image of the row). While this and
  // the commit run on another thread, the owner must not call UpdateSource, CommitStream,
  // WriteStaged or PrepareCommit.
  Status WriteTaken(engine::Connection& con, Staged& staged);
  // Moves the rows of streamed transaction `xid` out of staging into spill files.
  Status SpillStream(uint32_t xid);
  // Writes streamed transaction `xid` (spilled + staged rows, minus aborted
  // subtransactions) with its commit LSN and time into pending data files.
  Status CommitStream(uint32_t xid, Lsn commit_lsn, int64_t commit_ts_us, const std::set<uint32_t>& aborted);
  // Drops rows of `xid` (all of them when subxid == xid, else that subtransaction's).
  Status AbortStream(uint32_t xid, uint32_t subxid);
  // Bytes staged in memory for streamed transaction `xid`.
  int64_t stream_bytes(uint32_t xid) const;
  // Writes the rows of a buffer with this table's layout (on the buffer's own DuckDB
  // connection `con`) into data files and returns them; thread-safe as long as the
  // layout does not change meanwhile (the snapshotter's workers use it).
  Result<std::vector<iceberg::DataFile>> WriteBuffer(engine::Connection& con, ChangeBuffer& buffer) const;
  // Adds data files written by WriteBuffer to the next commit.
  void AddPendingFiles(std::vector<iceberg::DataFile> files);

  bool HasChanges() const { return !pending_files_.empty() || pending_schema_.has_value(); }
  bool HasPendingRows() const { return !pending_files_.empty() || buffer_->rows() > 0; }
  int64_t pending_rows() const;

  // Applies the data files written since the last call to the mirror (on `con`).
  Status ApplyMirror(engine::Connection& con);
  // This table's part of a catalog commit advancing it to `lsn` (and its mirror's, when it
  // has one, second). Call WriteStaged and ApplyMirror first.
  Result<std::vector<catalog::TableCommit>> PrepareCommit(Lsn lsn, const std::map<std::string, std::string>& summary);
  // After the commit succeeded with `tables` (as PrepareCommit's) as the new state.
  void Committed(std::span<const catalog::LoadedTable> tables, Lsn lsn);
  // After a failed commit towards `lsn`: reloads the table and says whether the commit
  // happened after all (then the pending changes are committed state); otherwise pending
  // files are kept for the retry. Errors: CommitFailed if another writer changed the mirror.
  Result<bool> ReloadAfterFailure(Lsn lsn);
  // Deletes pending data files (the commit definitely did not happen and will not be retried).
  void DiscardPending();

 private:
  RawTable(CdcContext& ctx, engine::Connection& con) : ctx_(ctx), con_(con) {}
  Status WriteFrom(engine::Connection& con, const std::string& from_sql, const Layout& layout);
  Status FillUnchangedToast(engine::Connection& con, ChangeBuffer& buffer, const Layout& layout,
                            const ChangeBuffer* before = nullptr);
  Status CheckFilled(const ChangeBuffer& buffer) const;
  std::string FailingColumn(engine::Connection& con, const std::string& from_sql, const Layout& layout) const;
  Status NewBuffer();
  // Writes the rows of `sql` as Parquet data files of this table and moves them to their
  // locations (FileIO::WriteDir / Publish: an upload for S3).
  Result<std::vector<iceberg::DataFile>> WriteFiles(engine::Connection& con, const std::string& sql,
                                                    const iceberg::Schema& schema) const;

  CdcContext& ctx_;
  engine::Connection& con_;
  catalog::TableIdentifier id_;
  std::string slot_;
  SourceTable source_;
  catalog::LoadedTable table_;
  Layout layout_;
  std::unique_ptr<ChangeBuffer> buffer_;
  std::atomic<Lsn> resume_lsn_{0};  // read by the receiving thread while a flush commits
  std::vector<iceberg::DataFile> pending_files_;
  std::optional<iceberg::Schema> pending_schema_;
  int pending_last_column_id_ = 0;
  std::map<uint32_t, std::vector<std::string>> spills_;              // streamed xid -> spill files
  std::map<uint32_t, std::unique_ptr<ChangeBuffer>> stream_buffers_;  // streamed xid -> its rows
  std::set<uint32_t> spilled_toast_;  // streamed xids that spilled unfilled TOAST values
  bool schema_from_catalog_ = false;  // pending_schema_ is Open's guess for a streaming table
  std::unique_ptr<MirrorTable> mirror_;
  size_t mirror_applied_ = 0;  // pending_files_ already applied to the mirror
};

// Commits the changes of `tables` (those with HasChanges) in one catalog transaction that
// advances each to `lsn`; retries on concurrent commits (reloading), and after an error
// whose outcome is unknown, reloads and treats the tables as committed when their resume
// LSN reached `lsn`. Returns the rows committed.
// Errors: CommitFailed after repeated conflicts; the catalog's error otherwise.
// Mirrors are brought up to their raw tables on `con` first.
Result<int64_t> CommitTables(CdcContext& ctx, engine::Connection& con, const std::vector<RawTable*>& tables, Lsn lsn,
                             const std::map<std::string, std::string>& summary);

// Reads the resume LSN (property frazil.lsn) of a raw table; 0 if none.
Lsn ResumeLsn(const iceberg::TableMetadata& metadata);

}  // namespace frazil::cdc
