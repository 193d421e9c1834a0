#include "frazil/cdc/snapshot.h"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "frazil/base/kill_point.h"
#include "frazil/base/log.h"
#include "frazil/cdc/pg_types.h"

namespace frazil::cdc {
namespace {

struct Chunk {
  size_t table = 0;   // index into the tables
  int64_t first_page = 0;
  int64_t end_page = -1;  // exclusive; -1 = to the end of the table
};

std::string ChunkSql(const RawTable& t, const Chunk& c) {
  std::string cols;
  for (const auto& col : t.layout().columns) cols += (cols.empty() ? "" : ", ") + PgQuoteIdentifier(col.name);
  if (cols.empty()) cols = "NULL";  // a table without columns still has rows
  std::string sql = "COPY (SELECT " + cols + " FROM ONLY " + PgQualifiedName(t.source().schema, t.source().name);
  std::string where;
  if (c.first_page > 0) where = "ctid >= '(" + std::to_string(c.first_page) + ",0)'::tid";
  if (c.end_page >= 0) {
    where += (where.empty() ? "" : " AND ") + std::string("ctid < '(") + std::to_string(c.end_page) + ",0)'::tid";
  }
  if (!where.empty()) sql += " WHERE " + where;
  return sql + ") TO STDOUT";
}

class Copier {
 public:
  Copier(CdcContext& ctx, const SnapshotOptions& options, const std::vector<RawTable*>& tables,
         SnapshotProgress* progress, const std::atomic<bool>* stop)
      : ctx_(ctx), options_(options), tables_(tables), progress_(progress), stop_(stop) {}

  Status Run() {
    FRZ_ASSIGN_OR_RETURN(auto sql, PgConnection::Connect(options_.conninfo, false, PgSessionOptions(), "frazil-snapshot"));
    remaining_.assign(tables_.size(), 0);
    files_.resize(tables_.size());
    rows_.assign(tables_.size(), 0);
    for (size_t i = 0; i < tables_.size(); ++i) {
      FRZ_ASSIGN_OR_RETURN(auto r, sql->ExecParams("SELECT pg_relation_size($1::oid) / current_setting('block_size')::bigint",
                                                   {std::to_string(tables_[i]->source().oid)}));
      int64_t pages = std::stoll(std::string(r.Get(0, 0)));
      int64_t step = std::max<int64_t>(1, options_.chunk_pages);
      for (int64_t first = 0;; first += step) {
        Chunk c{i, first, first + step};
        if (c.end_page >= pages) c.end_page = -1;  // the last range is open: nothing is missed
        chunks_.push_back(c);
        remaining_[i]++;
        if (c.end_page < 0) break;
      }
    }
    if (progress_) progress_->chunks_total = static_cast<int64_t>(chunks_.size());
    Log(LogLevel::kInfo, "initial snapshot started",
        {{"tables", std::to_string(tables_.size())}, {"chunks", std::to_string(chunks_.size())},
         {"workers", std::to_string(options_.workers)}, {"lsn", FormatLsn(options_.consistent_point)}});
    // Files written by the copy stay uncommitted until their table is done: no orphan
    // removal may take them meanwhile.
    FRZ_ASSIGN_OR_RETURN(auto lease, ctx_.catalog->AcquireWriteLease(false));
    std::vector<std::thread> workers;
    int n = std::max(1, std::min<int>(options_.workers, static_cast<int>(chunks_.size())));
    for (int w = 0; w < n; ++w) workers.emplace_back([this, w] { Work(w); });
    Status result = CommitLoop(n);
    if (!result) Fail(result.error());
    for (auto& t : workers) t.join();
    return result;
  }

 private:
  // Commits each table as soon as all its chunks are written, until all are done.
  Status CommitLoop(int workers) {
    FRZ_ASSIGN_OR_RETURN(auto con, engine::Connection::Open(*ctx_.db));  // mirrors are applied on it
    size_t committed = 0;
    while (committed < tables_.size()) {
      size_t ready;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !ready_.empty() || failed_ || finished_workers_ == workers; });
        if (failed_) return std::unexpected(*failed_);
        if (ready_.empty()) {
          return MakeError(ErrorKind::kIOError,
                           "stopped before the initial snapshot finished; the next run copies the tables not "
                           "committed yet");
        }
        ready = ready_.front();
        ready_.pop_front();
      }
      RawTable* t = tables_[ready];
      t->AddPendingFiles(std::move(files_[ready]));
      if (t->HasChanges()) {
        auto commit = CommitTables(ctx_, con, {t}, options_.consistent_point,
                                   {{"frazil.snapshot", "initial"}, {kSlotProperty, options_.slot}});
        if (!commit) {
          return MakeError(commit.error().kind, "committing the snapshot of " + t->source().QualifiedName() + ": " +
                                                    commit.error().message);
        }
      } else {
        FRZ_RETURN_IF_ERROR(MarkStarted(t));  // an empty table: only its resume LSN moves
      }
      Log(LogLevel::kInfo, "table snapshot committed",
          {{"table", t->id().ToString()}, {"rows", std::to_string(rows_[ready])}});
      ++committed;
    }
    return Ok();
  }

  // A table with no rows gets its resume LSN (and its mirror's) without a snapshot.
  Status MarkStarted(RawTable* t) {
    FRZ_ASSIGN_OR_RETURN(auto commits, t->PrepareCommit(options_.consistent_point, {}));
    FRZ_ASSIGN_OR_RETURN(auto done, ctx_.catalog->CommitTransaction(commits));
    t->Committed(done, options_.consistent_point);
    return Ok();
  }

  void Fail(Error e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_) failed_ = std::move(e);
    cv_.notify_all();
  }

  bool Stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_.has_value() || (stop_ && stop_->load());
  }

  Result<std::unique_ptr<PgConnection>> OpenSnapshotConnection(int worker) {
    FRZ_ASSIGN_OR_RETURN(auto conn, PgConnection::Connect(options_.conninfo, false, PgSessionOptions(),
                                                          "frazil-snapshot-" + std::to_string(worker)));
    FRZ_RETURN_IF_ERROR(conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    FRZ_RETURN_IF_ERROR(conn->Exec("SET TRANSACTION SNAPSHOT " + PgQuoteLiteral(options_.snapshot_name)));
    return conn;
  }

  void Work(int worker) {
    auto done = [&] {
      std::lock_guard<std::mutex> lock(mu_);
      ++finished_workers_;
      cv_.notify_all();
    };
    auto con = engine::Connection::Open(*ctx_.db);
    if (!con) {
      Fail(con.error());
      return done();
    }
    std::unique_ptr<PgConnection> pg;
    while (!Stopped()) {
      Chunk chunk;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (next_ >= chunks_.size()) break;
        chunk = chunks_[next_++];
      }
      Status s = Ok();
      for (int attempt = 1; attempt <= 3; ++attempt) {
        if (!pg || !pg->ok()) {
          auto opened = OpenSnapshotConnection(worker);
          if (!opened) {
            s = std::unexpected(opened.error());
            pg.reset();
            continue;
          }
          pg = std::move(*opened);
        }
        s = CopyChunk(*pg, *con, chunk);
        if (s || pg->ok()) break;  // retry only when the connection broke
        Log(LogLevel::kWarn, "snapshot chunk failed, retrying on a new connection",
            {{"table", tables_[chunk.table]->source().QualifiedName()}, {"error", s.error().message}});
      }
      if (!s) {
        Fail(Error{s.error().kind, "snapshot of " + tables_[chunk.table]->source().QualifiedName() + " (pages " +
                                       std::to_string(chunk.first_page) + ".." +
                                       (chunk.end_page < 0 ? std::string("end") : std::to_string(chunk.end_page)) +
                                       "): " + s.error().message});
        break;
      }
    }
    done();
  }

  Status CopyChunk(PgConnection& pg, engine::Connection& con, const Chunk& chunk) {
    RawTable& t = *tables_[chunk.table];
    size_t ncols = t.layout().columns.size();
    FRZ_ASSIGN_OR_RETURN(auto buffer, ChangeBuffer::Create(con, ncols));
    std::vector<iceberg::DataFile> files;
    std::vector<std::optional<std::string_view>> fields;
    std::vector<std::string> scratch;
    RowMeta meta;
    meta.op = 'r';
    meta.lsn = options_.consistent_point;
    meta.commit_lsn = options_.consistent_point;
    meta.commit_ts_us = options_.snapshot_time_us;
    int64_t rows = 0;
    auto write = [&]() -> Status {
      if (buffer->rows() == 0) return Ok();
      FRZ_ASSIGN_OR_RETURN(auto written, t.WriteBuffer(con, *buffer));
      for (auto& f : written) files.push_back(std::move(f));
      buffer->Clear();
      return Ok();
    };
    Status copied = pg.CopyOut(ChunkSql(t, chunk), [&](std::string_view line) -> Status {
      if (ncols == 0) {
        fields.clear();
      } else {
        FRZ_RETURN_IF_ERROR(ParseCopyTextLine(line, ncols, fields, scratch));
      }
      FRZ_RETURN_IF_ERROR(buffer->AppendFields(meta, fields));
      ++rows;
      if (progress_ && (rows & 1023) == 0) progress_->rows += 1024;
      if (buffer->bytes() >= options_.buffer_bytes) return write();
      return Ok();
    });
    if (!copied) {
      for (const auto& f : files) (void)ctx_.io->Delete(f.file_path);
      return copied;
    }
    FRZ_RETURN_IF_ERROR(write());
    KillPoint("cdc.snapshot_chunk_written");
    if (progress_) {
      progress_->rows += rows & 1023;
      progress_->chunks_done++;
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& f : files) files_[chunk.table].push_back(std::move(f));
    rows_[chunk.table] += rows;
    if (--remaining_[chunk.table] == 0) {
      ready_.push_back(chunk.table);
      cv_.notify_all();
    }
    return Ok();
  }

  CdcContext& ctx_;
  const SnapshotOptions& options_;
  const std::vector<RawTable*>& tables_;
  SnapshotProgress* progress_;
  const std::atomic<bool>* stop_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Chunk> chunks_;
  size_t next_ = 0;
  std::vector<int> remaining_;
  std::vector<std::vector<iceberg::DataFile>> files_;
  std::vector<int64_t> rows_;
  std::deque<size_t> ready_;
  std::optional<Error> failed_;
  int finished_workers_ = 0;
};

}  // namespace

Status CopySnapshot(CdcContext& ctx, const SnapshotOptions& options, const std::vector<RawTable*>& tables,
                    SnapshotProgress* progress, const std::atomic<bool>* stop) {
  if (tables.empty()) return Ok();
  Copier copier(ctx, options, tables, progress, stop);
  return copier.Run();
}

}  // namespace frazil::cdc
