#include "frazil/cdc/pipeline.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "frazil/base/kill_point.h"
#include "frazil/base/log.h"
#include "frazil/base/random.h"
#include "frazil/base/strings.h"
#include "frazil/cdc/pg_types.h"
#include "frazil/cdc/pgoutput.h"

namespace frazil::cdc {
namespace {

bool SameColumns(const SourceTable& a, const SourceTable& b) {
  if (a.columns.size() != b.columns.size()) return false;
  for (size_t i = 0; i < a.columns.size(); ++i) {
    const auto& x = a.columns[i];
    const auto& y = b.columns[i];
    if (x.name != y.name || x.type.oid != y.type.oid || x.type.typmod != y.type.typmod || x.is_key != y.is_key) {
      return false;
    }
  }
  return a.replica_identity == b.replica_identity && a.primary_key == b.primary_key;
}

void SleepMs(int64_t ms, const std::atomic<bool>& stop) {
  for (int64_t waited = 0; waited < ms && !stop.load(); waited += 50) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

std::string RawTableName(const std::string& schema, const std::string& table) {
  if (schema == "public") return AsciiLower(table);
  return AsciiLower(schema + "__" + table);
}

Pipeline::~Pipeline() {
  if (flush_) flush_->thread.join();
  for (auto& [oid, t] : tables_) t->DiscardPending();
}

Status Pipeline::Run(const std::atomic<bool>& stop) {
  ctx_.read_source = [this](const std::string& select_sql,
                            const std::function<Status(std::string_view)>& on_row) -> Status {
    if (!sql_ || !sql_->ok()) return MakeError(ErrorKind::kIOError, "no connection to the source");
    return sql_->CopyOut("COPY (" + select_sql + ") TO STDOUT", on_row);
  };
  if (!opener_) {
    StreamOptions so{options_.conninfo, options_.slot, options_.publication, options_.streaming, "frazil"};
    opener_ = [so](Lsn start) { return StartPgStream(so, start); };
  }
  FRZ_RETURN_IF_ERROR(Setup(stop));
  if (options_.snapshot_mode == "initial_only" || stop.load()) {
    stats_.state = "stopped";
    WriteStatusFile();
    return Ok();
  }
  int64_t wait_ms = 500;
  while (!stop.load()) {
    std::unique_ptr<ReplicationStream> stream = std::move(pending_stream_);
    Status attempt = Ok();
    if (!stream) {
      if (tables_.empty() || !sql_ || !sql_->ok()) attempt = OpenTables();
      if (attempt) {
        auto opened = opener_(0);
        if (opened) {
          stream = std::move(*opened);
        } else {
          attempt = std::unexpected(opened.error());
        }
      }
    }
    if (attempt) {
      stats_.state = "streaming";
      WriteStatusFile();
      Log(LogLevel::kInfo, "streaming changes",
          {{"slot", options_.slot}, {"publication", options_.publication}, {"from", FormatLsn(stats_.confirmed)}});
      attempt = Stream(std::move(stream), stop);
      if (attempt) break;  // stopped cleanly
      wait_ms = 500;
    }
    if (attempt.error().kind != ErrorKind::kIOError) {
      stats_.state = "failed";
      WriteStatusFile();
      return attempt;
    }
    stats_.state = "reconnecting";
    WriteStatusFile();
    Log(LogLevel::kWarn, "replication interrupted; reconnecting from the last committed LSN",
        {{"error", attempt.error().message}, {"retry_in_ms", std::to_string(wait_ms)},
         {"committed", FormatLsn(stats_.confirmed)}});
    ResetUncommitted();
    SleepMs(wait_ms, stop);
    wait_ms = std::min(wait_ms * 2, options_.max_reconnect_wait_ms);
  }
  stats_.state = "stopped";
  WriteStatusFile();
  return Ok();
}

Status Pipeline::OpenTables() {
  for (auto& [oid, t] : tables_) t->DiscardPending();
  tables_.clear();
  if (!sql_ || !sql_->ok()) {
    FRZ_ASSIGN_OR_RETURN(sql_, PgConnection::Connect(options_.conninfo, false, PgSessionOptions(), "frazil"));
  }
  if (!con_) {
    FRZ_ASSIGN_OR_RETURN(auto con, engine::Connection::Open(*ctx_.db));
    con_ = std::make_unique<engine::Connection>(std::move(con));
  }
  FRZ_ASSIGN_OR_RETURN(auto published, ListPublishedTables(*sql_, options_.publication));
  for (const auto& source : published) {
    FRZ_ASSIGN_OR_RETURN(auto id, catalog::TableIdentifier::Of({options_.ns}, RawTableName(source.schema, source.name)));
    FRZ_ASSIGN_OR_RETURN(auto table, RawTable::Open(ctx_, *con_, id, source, options_.slot));
    tables_[source.oid] = std::move(table);
  }
  return Ok();
}

Status Pipeline::Setup(const std::atomic<bool>& stop) {
  if (options_.snapshot_mode != "initial" && options_.snapshot_mode != "never" &&
      options_.snapshot_mode != "initial_only") {
    return MakeError(ErrorKind::kInvalidArgument,
                     "source.snapshot must be initial, never or initial_only, got '" + options_.snapshot_mode + "'");
  }
  FRZ_ASSIGN_OR_RETURN(sql_, PgConnection::Connect(options_.conninfo, false, PgSessionOptions(), "frazil"));
  FRZ_RETURN_IF_ERROR(CheckSource(*sql_));
  if (options_.stop_at_current_lsn) {
    FRZ_ASSIGN_OR_RETURN(options_.stop_lsn, CurrentWalLsn(*sql_));
    Log(LogLevel::kInfo, "will stop once caught up", {{"lsn", FormatLsn(options_.stop_lsn)}});
  }
  FRZ_RETURN_IF_ERROR(EnsurePublication(*sql_, options_.publication, options_.tables));  // logs what it creates
  FRZ_RETURN_IF_ERROR(OpenTables());
  if (tables_.empty()) {
    Log(LogLevel::kWarn, "the publication has no tables yet; frazil will pick up tables added to it",
        {{"publication", options_.publication}});
  }
  FRZ_ASSIGN_OR_RETURN(auto slot, GetSlot(*sql_, options_.slot));
  StreamOptions so{options_.conninfo, options_.slot, options_.publication, options_.streaming, "frazil"};
  std::vector<RawTable*> all;
  for (auto& [oid, t] : tables_) all.push_back(t.get());
  if (!slot) {
    FRZ_ASSIGN_OR_RETURN(auto rconn, PgConnection::Connect(options_.conninfo, true, PgSessionOptions(), "frazil"));
    bool copy = options_.snapshot_mode != "never";
    FRZ_ASSIGN_OR_RETURN(auto created, CreateSlot(*rconn, options_.slot, /*temporary=*/false, copy));
    Log(LogLevel::kInfo, "created the replication slot",
        {{"slot", options_.slot}, {"consistent_point", FormatLsn(created.consistent_point)}});
    stats_.confirmed = created.consistent_point;
    if (copy) {
      for (auto* t : all) {
        if (t->started()) {
          Log(LogLevel::kWarn, "raw table already has changes from an earlier slot; a new snapshot is appended",
              {{"table", t->id().ToString()}});
        }
      }
      FRZ_RETURN_IF_ERROR(Snapshot(*rconn, created, all, stop));
    }
    if (options_.snapshot_mode == "initial_only") {
      rconn.reset();
      FRZ_RETURN_IF_ERROR(DropSlot(*sql_, options_.slot));
      Log(LogLevel::kInfo, "initial snapshot done; dropped the slot (snapshot: initial_only)", {{"slot", options_.slot}});
      return Ok();
    }
    FRZ_ASSIGN_OR_RETURN(pending_stream_, StartPgStream(std::move(rconn), so, created.consistent_point));
    return Ok();
  }
  if (slot->wal_status == "lost") {
    return MakeError(ErrorKind::kInvalidArgument,
                     "replication slot '" + options_.slot +
                         "' was invalidated by PostgreSQL (WAL it needed was removed, see max_slot_wal_keep_size): "
                         "changes are missing; run `frazil source drop` and start again with a new snapshot");
  }
  stats_.confirmed = slot->confirmed_flush.value_or(0);
  std::vector<RawTable*> unstarted;
  for (auto* t : all) {
    if (!t->started()) unstarted.push_back(t);
  }
  if (options_.snapshot_mode != "never" && !unstarted.empty()) {
    // Tables without a snapshot under an existing slot (a crash during the first snapshot,
    // or tables added to the publication): copy them as of a new exported snapshot; their
    // resume LSN (its consistent point) makes the stream skip what the copy already has.
    FRZ_ASSIGN_OR_RETURN(auto rconn, PgConnection::Connect(options_.conninfo, true, PgSessionOptions(), "frazil"));
    std::string temp = options_.slot + "_snap_" + std::to_string(NewPositiveId() % 1000000);
    FRZ_ASSIGN_OR_RETURN(auto created, CreateSlot(*rconn, temp, /*temporary=*/true, /*export=*/true));
    FRZ_RETURN_IF_ERROR(Snapshot(*rconn, created, unstarted, stop));
  }
  return Ok();
}

Status Pipeline::Snapshot(PgConnection&, const CreatedSlot& slot, const std::vector<RawTable*>& tables,
                          const std::atomic<bool>& stop) {
  stats_.state = "snapshot";
  WriteStatusFile();
  SnapshotOptions so;
  so.conninfo = options_.conninfo;
  so.snapshot_name = slot.snapshot_name;
  so.consistent_point = slot.consistent_point;
  so.snapshot_time_us = ctx_.clock->NowMillis() * 1000;
  so.workers = options_.snapshot_workers;
  so.slot = options_.slot;
  SnapshotProgress progress;
  std::atomic<bool> done{false};
  auto t0 = std::chrono::steady_clock::now();
  std::thread reporter([&] {
    while (!done.load()) {
      for (int i = 0; i < 40 && !done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (done.load()) break;
      Log(LogLevel::kInfo, "initial snapshot progress",
          {{"rows", std::to_string(progress.rows.load())},
           {"chunks", std::to_string(progress.chunks_done.load()) + "/" + std::to_string(progress.chunks_total)}});
    }
  });
  Status s = CopySnapshot(ctx_, so, tables, &progress, &stop);
  done = true;
  reporter.join();
  if (!s) return s;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Log(LogLevel::kInfo, "initial snapshot done",
      {{"tables", std::to_string(tables.size())}, {"rows", std::to_string(progress.rows.load())},
       {"seconds", std::to_string(secs)}});
  return Ok();
}

bool Pipeline::Idle() const {
  if (flush_) return false;
  if (txn_.active || in_stream_ || !streams_.empty() || batch_txns_ > 0) return false;
  for (const auto& [oid, t] : tables_) {
    if (t->HasPendingRows()) return false;
  }
  return true;
}

Status Pipeline::SendStatus(ReplicationStream& stream, bool reply_requested) {
  last_status_ms_ = ctx_.clock->NowMillis();
  return stream.SendStatus(stats_.confirmed, reply_requested);
}

Status Pipeline::Stream(std::unique_ptr<ReplicationStream> stream, const std::atomic<bool>& stop) {
  int64_t stop_seen_ms = 0;
  while (true) {
    if (stop.load()) {
      if (!txn_.active) {
        FRZ_RETURN_IF_ERROR(MaybeFlush(true));
        FRZ_RETURN_IF_ERROR(WaitForFlush());
        (void)SendStatus(*stream, false);
        Log(LogLevel::kInfo, "stopped after the last commit", {{"committed", FormatLsn(stats_.confirmed)}});
        return Ok();
      }
      // Finish the transaction being received (PostgreSQL sends it whole), but do not wait
      // for ever: what is not committed is simply sent again next time.
      if (stop_seen_ms == 0) stop_seen_ms = ctx_.clock->NowMillis();
      if (ctx_.clock->NowMillis() - stop_seen_ms > 10000) return Ok();
    }
    if (status_due_) {
      status_due_ = false;
      auto sent = SendStatus(*stream, false);
      if (!sent) return MakeError(ErrorKind::kIOError, sent.error().message);
      KillPoint("cdc.after_confirm");
    }
    if (options_.stop_lsn != 0 && stats_.confirmed >= options_.stop_lsn && !txn_.active && batch_txns_ == 0 &&
        !flush_) {
      (void)SendStatus(*stream, false);
      Log(LogLevel::kInfo, "caught up: stopping", {{"committed", FormatLsn(stats_.confirmed)}});
      return Ok();
    }
    auto next = stream->Next(100);
    if (!next) {
      ErrorKind kind = stream->fatal() ? ErrorKind::kInvalidArgument : ErrorKind::kIOError;
      return MakeError(kind, next.error().message);
    }
    if (next->has_value()) {
      FRZ_RETURN_IF_ERROR(Handle(*stream, **next));
    } else {
      // Nothing arrived for a while: when stopping at an LSN, the batch is all there is.
      FRZ_RETURN_IF_ERROR(MaybeFlush(options_.stop_lsn != 0 && stats_.received >= options_.stop_lsn));
    }
    if (ctx_.clock->NowMillis() - last_status_ms_ >= 10000) {
      auto sent = SendStatus(*stream, false);
      if (!sent) return MakeError(ErrorKind::kIOError, sent.error().message);
    }
  }
}

Status Pipeline::Handle(ReplicationStream& stream, std::string_view payload) {
  FRZ_ASSIGN_OR_RETURN(auto framed, DecodeCopyData(payload));
  if (auto* k = std::get_if<Keepalive>(&framed)) {
    stats_.received = std::max(stats_.received, k->wal_end);
    // With nothing in flight, everything up to the server's position is processed: confirm
    // it so an idle (or filtered) publication does not hold WAL back.
    if (Idle() && k->wal_end > stats_.confirmed) stats_.confirmed = k->wal_end;
    if (k->reply_requested) {
      auto sent = SendStatus(stream, false);
      if (!sent) return MakeError(ErrorKind::kIOError, sent.error().message);
    }
    return Ok();
  }
  const auto& x = std::get<XLogData>(framed);
  stats_.received = std::max(stats_.received, x.wal_end);
  FRZ_ASSIGN_OR_RETURN(auto msg, DecodePgOutput(x.payload, in_stream_));
  return HandleMessage(msg, x.wal_start);
}

Status Pipeline::HandleMessage(const PgOutputMessage& msg, Lsn wal_start) {
  return std::visit(
      [&](const auto& m) -> Status {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, BeginMsg>) {
          txn_ = Txn{true, m.xid, m.final_lsn, PgTimeToUnixUs(m.commit_time), 0};
          return Ok();
        } else if constexpr (std::is_same_v<T, CommitMsg>) {
          txn_.active = false;
          batch_end_ = std::max(batch_end_, m.end_lsn);
          if (batch_txns_++ == 0) batch_first_ms_ = ctx_.clock->NowMillis();
          return MaybeFlush(false);
        } else if constexpr (std::is_same_v<T, RelationMsg>) {
          return OnRelation(m);
        } else if constexpr (std::is_same_v<T, TypeMsg>) {
          types_.erase(m.type_oid);
          return Ok();
        } else if constexpr (std::is_same_v<T, InsertMsg>) {
          return AddChange(m.relation_id, m.xid, 'c', &m.new_tuple, nullptr, wal_start);
        } else if constexpr (std::is_same_v<T, UpdateMsg>) {
          return AddChange(m.relation_id, m.xid, 'u', &m.new_tuple, m.old_kind ? &m.old_tuple : nullptr, wal_start);
        } else if constexpr (std::is_same_v<T, DeleteMsg>) {
          // A delete's row image is the old row (the key only, unless replica identity full).
          return AddChange(m.relation_id, m.xid, 'd', &m.old_tuple, nullptr, wal_start);
        } else if constexpr (std::is_same_v<T, TruncateMsg>) {
          for (uint32_t rel : m.relation_ids) {
            FRZ_RETURN_IF_ERROR(AddChange(rel, m.xid, 't', nullptr, nullptr, wal_start));
          }
          return Ok();
        } else if constexpr (std::is_same_v<T, LogicalMsg>) {
          return OnLogicalMessage(m);
        } else if constexpr (std::is_same_v<T, StreamStartMsg>) {
          in_stream_ = true;
          stream_xid_ = m.xid;
          streams_[m.xid];
          return Ok();
        } else if constexpr (std::is_same_v<T, StreamStopMsg>) {
          in_stream_ = false;
          return Ok();
        } else if constexpr (std::is_same_v<T, StreamCommitMsg>) {
          return OnStreamCommit(m);
        } else if constexpr (std::is_same_v<T, StreamAbortMsg>) {
          return OnStreamAbort(m);
        } else {
          return Ok();  // Origin: frazil does not filter by origin
        }
      },
      msg);
}

Result<PgType> Pipeline::ResolveType(uint32_t oid, int32_t typmod) {
  if (IsBuiltinScalar(oid)) {
    PgType t;
    t.oid = oid;
    t.typmod = typmod;
    return t;
  }
  auto it = types_.find(oid);
  if (it == types_.end()) {
    if (!sql_ || !sql_->ok()) {
      FRZ_ASSIGN_OR_RETURN(sql_, PgConnection::Connect(options_.conninfo, false, PgSessionOptions(), "frazil"));
    }
    FRZ_ASSIGN_OR_RETURN(auto resolved, ResolveTypes(*sql_, {{oid, typmod}}));
    it = types_.emplace(oid, resolved.at(0)).first;
  }
  PgType t = it->second;
  t.typmod = typmod;
  return t;
}

Status Pipeline::OnRelation(const RelationMsg& msg) {
  SourceTable next;
  next.oid = msg.relation_id;
  next.schema = msg.namespace_name.empty() ? "pg_catalog" : msg.namespace_name;
  next.name = msg.relation_name;
  next.replica_identity = msg.replica_identity;
  for (size_t i = 0; i < msg.columns.size(); ++i) {
    const auto& c = msg.columns[i];
    SourceColumn col;
    col.name = c.name;
    col.is_key = c.is_key;
    FRZ_ASSIGN_OR_RETURN(col.type, ResolveType(c.type_oid, c.type_modifier));
    next.columns.push_back(std::move(col));
  }
  if (next.replica_identity == 'f') {
    // Mirrors prefer the primary key to the whole row; Relation messages do not carry it.
    auto pk = PrimaryKeyColumns(*sql_, msg.relation_id);
    if (!pk) return std::unexpected(pk.error());
    next.primary_key = std::move(*pk);
  }
  // What existing rows read for added columns (mirrors fill them in).
  FRZ_RETURN_IF_ERROR(FillMissingValues(*sql_, next));
  auto it = tables_.find(msg.relation_id);
  // Relation messages carry no attribute numbers: keep the ones known from the catalog or
  // captured DDL (renames are matched by them).
  auto ddl = ddl_attnums_.find(msg.relation_id);
  for (auto& col : next.columns) {
    col.attnum = 0;
    if (ddl != ddl_attnums_.end() && ddl->second.count(col.name)) {
      col.attnum = ddl->second.at(col.name);
    } else if (it != tables_.end()) {
      for (const auto& old : it->second->source().columns) {
        if (old.name == col.name) col.attnum = old.attnum;
      }
    }
  }
  if (it == tables_.end() || !SameColumns(it->second->source(), next) || pending_renames_.count(msg.relation_id)) {
    FRZ_RETURN_IF_ERROR(WaitForFlush());  // creating or evolving a table touches its commit state
  }
  if (it == tables_.end()) {
    FRZ_ASSIGN_OR_RETURN(auto id, catalog::TableIdentifier::Of({options_.ns}, RawTableName(next.schema, next.name)));
    FRZ_ASSIGN_OR_RETURN(auto table, RawTable::Open(ctx_, *con_, id, next, options_.slot));
    Log(LogLevel::kInfo, "new table in the publication", {{"source", next.QualifiedName()}, {"table", id.ToString()}});
    tables_[next.oid] = std::move(table);
    return Ok();
  }
  auto renames = pending_renames_.find(msg.relation_id);
  bool renamed = renames != pending_renames_.end() && !renames->second.empty();
  if (SameColumns(it->second->source(), next) && !renamed) return Ok();
  FRZ_RETURN_IF_ERROR(HoldLease());
  FRZ_RETURN_IF_ERROR(it->second->UpdateSource(next, renamed ? renames->second : std::vector<std::pair<std::string, std::string>>{}));
  if (renamed) pending_renames_.erase(renames);
  return Ok();
}

// DDL captured by frazil's event trigger (docs/cdc.md, "Schema changes"): the table's
// columns by attribute number after an ALTER TABLE, so a rename is told from drop + add.
Status Pipeline::OnLogicalMessage(const LogicalMsg& msg) {
  if (msg.prefix != kDdlMessagePrefix) return Ok();
  // The message comes from frazil's own trigger, possibly an older version of it: read it
  // leniently (the oid as a number or a string) and never let a bad one crash the pipeline.
  uint32_t oid = 0;
  std::vector<std::pair<int, std::string>> columns;
  try {
    nlohmann::json j = nlohmann::json::parse(msg.content);
    const auto& o = j.at("oid");
    oid = o.is_string() ? static_cast<uint32_t>(std::stoul(o.get<std::string>())) : o.get<uint32_t>();
    for (const auto& c : j.at("columns")) columns.emplace_back(c.at("attnum").get<int>(), c.at("name").get<std::string>());
  } catch (const std::exception& e) {
    return MakeError(ErrorKind::kCorrupt, "DDL capture message at LSN " + FormatLsn(msg.lsn) +
                                              " is malformed (" + e.what() + "): " + std::string(msg.content.substr(0, 200)));
  }
  auto it = tables_.find(oid);
  if (it == tables_.end()) return Ok();
  // Match by attnum against the columns frazil knows (attnums from the catalog or an
  // earlier DDL message).
  std::map<int, std::string> before;
  for (const auto& c : it->second->source().columns) {
    if (c.attnum > 0) before[c.attnum] = c.name;
  }
  auto& known = ddl_attnums_[oid];
  known.clear();
  for (const auto& [attnum, name] : columns) known[name] = attnum;
  auto& renames = pending_renames_[oid];
  for (const auto& [attnum, name] : columns) {
    auto b = before.find(attnum);
    if (b != before.end() && b->second != name) renames.emplace_back(b->second, name);
  }
  if (renames.empty()) pending_renames_.erase(oid);
  return Ok();
}

Status Pipeline::AddChange(uint32_t relation_id, std::optional<uint32_t> xid, char op, const Tuple* new_tuple,
                           const Tuple* old_tuple, Lsn wal_start) {
  auto it = tables_.find(relation_id);
  if (it == tables_.end()) {
    return MakeError(ErrorKind::kCorrupt, "change at LSN " + FormatLsn(wal_start) + " for relation " +
                                              std::to_string(relation_id) + " arrived before its Relation message");
  }
  RawTable* t = it->second.get();
  RowMeta m;
  m.op = op;
  m.lsn = wal_start;
  if (in_stream_) {
    auto& st = streams_[stream_xid_];
    m.stream_xid = stream_xid_;
    m.subxid = xid.value_or(stream_xid_);
    m.txid = stream_xid_;
    m.seq = st.seq++;
    st.tables.insert(t);
    int64_t before = t->stream_bytes(stream_xid_);
    FRZ_RETURN_IF_ERROR(t->Append(m, new_tuple, old_tuple));
    st.bytes += t->stream_bytes(stream_xid_) - before;
    if (st.bytes >= options_.stream_spill_bytes) {
      for (auto* table : st.tables) FRZ_RETURN_IF_ERROR(table->SpillStream(stream_xid_));
      st.bytes = 0;
    }
    return Ok();
  }
  if (!txn_.active) {
    return MakeError(ErrorKind::kCorrupt, "change at LSN " + FormatLsn(wal_start) + " outside a transaction");
  }
  int64_t seq = txn_.seq++;
  // Exactly once: a transaction that committed before the table's resume LSN is in it.
  if (txn_.final_lsn < t->resume_lsn()) return Ok();
  m.commit_lsn = txn_.final_lsn;
  m.txid = txn_.xid;
  m.commit_ts_us = txn_.commit_ts_us;
  m.seq = seq;
  return t->Append(m, new_tuple, old_tuple);
}

Status Pipeline::OnStreamCommit(const StreamCommitMsg& msg) {
  // A streamed transaction commits in a batch of its own: what was staged before it is
  // committed first, so within any batch the files written early (this one's) precede the
  // staged rows, which is the order unchanged TOAST values are filled in.
  FRZ_RETURN_IF_ERROR(MaybeFlush(true));
  FRZ_RETURN_IF_ERROR(WaitForFlush());
  auto it = streams_.find(msg.xid);
  if (it != streams_.end()) {
    for (auto* t : it->second.tables) {
      if (msg.commit_lsn < t->resume_lsn()) {
        FRZ_RETURN_IF_ERROR(t->AbortStream(msg.xid, msg.xid));  // already committed before a restart
      } else {
        FRZ_RETURN_IF_ERROR(HoldLease());
        FRZ_RETURN_IF_ERROR(t->CommitStream(msg.xid, msg.commit_lsn, PgTimeToUnixUs(msg.commit_time), it->second.aborted));
      }
    }
    streams_.erase(it);
  }
  batch_end_ = std::max(batch_end_, msg.end_lsn);
  if (batch_txns_++ == 0) batch_first_ms_ = ctx_.clock->NowMillis();
  return MaybeFlush(true);
}

Status Pipeline::OnStreamAbort(const StreamAbortMsg& msg) {
  auto it = streams_.find(msg.xid);
  if (it == streams_.end()) return Ok();
  for (auto* t : it->second.tables) FRZ_RETURN_IF_ERROR(t->AbortStream(msg.xid, msg.subxid));
  if (msg.subxid == msg.xid) {
    streams_.erase(it);
  } else {
    it->second.aborted.insert(msg.subxid);
  }
  return Ok();
}

Status Pipeline::MaybeFlush(bool force) {
  FRZ_RETURN_IF_ERROR(PollFlush());
  if (txn_.active || batch_txns_ == 0) return Ok();
  int64_t staged = 0;
  for (const auto& [oid, t] : tables_) staged += t->buffer().bytes();
  if (!force) {
    bool due = ctx_.clock->NowMillis() - batch_first_ms_ >= options_.commit_interval_ms;
    if (!due && staged < options_.batch_bytes) return Ok();
  }
  if (flush_) {
    // One flush at a time; keep receiving into the next batch unless it grows too big.
    if (!force && staged < 2 * options_.batch_bytes) return Ok();
    FRZ_RETURN_IF_ERROR(WaitForFlush());
  }
  return StartFlush();
}

// A flush writes and commits on its own thread (and DuckDB connection) while this thread
// keeps receiving: the batch's staged rows are taken out of the tables first. Until it
// finishes, this thread leaves the tables' commit state alone (see WaitForFlush callers).
Status Pipeline::HoldLease() {
  if (pending_lease_) return Ok();
  FRZ_ASSIGN_OR_RETURN(pending_lease_, ctx_.catalog->AcquireWriteLease(false));
  return Ok();
}

Status Pipeline::StartFlush() {
  auto job = std::make_unique<FlushJob>();
  job->lsn = batch_end_;
  job->txns = batch_txns_;
  job->t0 = ctx_.clock->MonotonicNanos();
  for (auto& [oid, t] : tables_) {
    FRZ_ASSIGN_OR_RETURN(auto staged, t->TakeStaged());
    if (staged) job->staged.emplace_back(t.get(), std::move(*staged));
    job->tables.push_back(t.get());
  }
  if (!flush_con_) {
    FRZ_ASSIGN_OR_RETURN(auto con, engine::Connection::Open(*ctx_.db));
    flush_con_ = std::make_unique<engine::Connection>(std::move(con));
  }
  batch_txns_ = 0;
  batch_first_ms_ = 0;
  job->lease = std::move(pending_lease_);
  FlushJob* j = job.get();
  job->thread = std::thread([this, j] { RunFlush(*j); });
  flush_ = std::move(job);
  return Ok();
}

void Pipeline::RunFlush(FlushJob& job) {
  job.result = [&]() -> Status {
    FRZ_ASSIGN_OR_RETURN(auto lease, ctx_.catalog->AcquireWriteLease(false));  // files until the commit
    for (auto& [table, staged] : job.staged) FRZ_RETURN_IF_ERROR(table->WriteTaken(*flush_con_, staged));
    job.staged.clear();  // frees the batch's memory before the commit
    KillPoint("cdc.after_parquet");
    for (auto* t : job.tables) {
      if (t->HasChanges()) job.rows[t->id().ToString()] = t->pending_rows();
    }
    FRZ_ASSIGN_OR_RETURN(job.committed,
                         CommitTables(ctx_, *flush_con_, job.tables, job.lsn,
                                      {{kSlotProperty, options_.slot}, {"frazil.transactions", std::to_string(job.txns)}}));
    KillPoint("cdc.after_commit");
    if (job.committed > 0 && ctx_.on_commit) ctx_.on_commit();
    return Ok();
  }();
  job.done = true;
}

Status Pipeline::PollFlush() {
  if (flush_ && flush_->done.load()) return WaitForFlush();
  return Ok();
}

Status Pipeline::WaitForFlush() {
  if (!flush_) return Ok();
  std::unique_ptr<FlushJob> job = std::move(flush_);
  job->thread.join();
  if (!job->result) return job->result;
  for (const auto& [name, n] : job->rows) stats_.table_rows[name] += n;
  stats_.committed_rows += job->committed;
  stats_.committed_txns += job->txns;
  if (!job->rows.empty()) {
    stats_.commits++;
    stats_.last_commit_ms = ctx_.clock->NowMillis();
  }
  Log(LogLevel::kDebug, "committed",
      {{"lsn", FormatLsn(job->lsn)}, {"transactions", std::to_string(job->txns)},
       {"rows", std::to_string(job->committed)}, {"tables", std::to_string(job->rows.size())},
       {"ms", std::to_string((ctx_.clock->MonotonicNanos() - job->t0) / 1000000)}});
  stats_.confirmed = std::max(stats_.confirmed, job->lsn);
  status_due_ = true;
  WriteStatusFile();
  return Ok();
}

void Pipeline::ResetUncommitted() {
  if (flush_) {
    auto s = WaitForFlush();  // its commit (if it happened) stands; a failure is redone
    if (!s) Log(LogLevel::kWarn, "flush failed before reconnecting", {{"error", s.error().message}});
  }
  txn_ = Txn{};
  in_stream_ = false;
  streams_.clear();
  pending_renames_.clear();
  ddl_attnums_.clear();
  batch_txns_ = 0;
  batch_first_ms_ = 0;
  batch_end_ = 0;
  for (auto& [oid, t] : tables_) t->DiscardPending();
  tables_.clear();  // reopened from the catalog: staged rows and spills are dropped
  pending_lease_.reset();
}

std::string Pipeline::MetricsText() const {
  PipelineStats s;
  {
    std::lock_guard<std::mutex> lock(published_mu_);
    s = published_;
  }
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, const std::string& samples) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + samples;
  };
  std::string slot = "slot=\"" + options_.slot + "\"";
  auto sample = [&](const char* name, const std::string& labels, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return std::string(name) + "{" + labels + "} " + buf + "\n";
  };
  std::string states;
  for (const char* st : {"starting", "snapshot", "streaming", "reconnecting", "stopped", "failed"}) {
    states += sample("frazil_cdc_state", slot + ",state=\"" + st + "\"", s.state == st ? 1 : 0);
  }
  metric("frazil_cdc_state", "gauge", "Pipeline state (1 for the current one).", states);
  metric("frazil_cdc_confirmed_lsn", "gauge", "LSN committed to Iceberg and confirmed to PostgreSQL.",
         sample("frazil_cdc_confirmed_lsn", slot, static_cast<double>(s.confirmed)));
  metric("frazil_cdc_received_lsn", "gauge", "Latest WAL position received from PostgreSQL.",
         sample("frazil_cdc_received_lsn", slot, static_cast<double>(s.received)));
  metric("frazil_cdc_lag_bytes", "gauge", "Received but not yet committed WAL, in bytes.",
         sample("frazil_cdc_lag_bytes", slot, s.received > s.confirmed ? static_cast<double>(s.received - s.confirmed) : 0));
  metric("frazil_cdc_committed_rows_total", "counter", "Changes committed to raw tables by this process.",
         sample("frazil_cdc_committed_rows_total", slot, static_cast<double>(s.committed_rows)));
  metric("frazil_cdc_committed_transactions_total", "counter", "Source transactions committed by this process.",
         sample("frazil_cdc_committed_transactions_total", slot, static_cast<double>(s.committed_txns)));
  metric("frazil_cdc_commits_total", "counter", "Iceberg catalog commits by this process.",
         sample("frazil_cdc_commits_total", slot, static_cast<double>(s.commits)));
  metric("frazil_cdc_last_commit_timestamp_seconds", "gauge", "Unix time of the last commit.",
         sample("frazil_cdc_last_commit_timestamp_seconds", slot, static_cast<double>(s.last_commit_ms) / 1000.0));
  std::string tables;
  for (const auto& [name, rows] : s.table_rows) {
    tables += sample("frazil_cdc_table_rows_total", slot + ",table=\"" + name + "\"", static_cast<double>(rows));
  }
  metric("frazil_cdc_table_rows_total", "counter", "Changes committed per raw table by this process.", tables);
  return out;
}

void Pipeline::WriteStatusFile() {
  {
    std::lock_guard<std::mutex> lock(published_mu_);
    published_ = stats_;
  }
  if (options_.status_file.empty()) return;
  nlohmann::json j;
  j["slot"] = options_.slot;
  j["publication"] = options_.publication;
  j["namespace"] = options_.ns;
  j["state"] = stats_.state;
  j["pid"] = static_cast<int64_t>(getpid());
  j["confirmed_lsn"] = FormatLsn(stats_.confirmed);
  j["received_lsn"] = FormatLsn(stats_.received);
  j["committed_rows"] = stats_.committed_rows;
  j["committed_transactions"] = stats_.committed_txns;
  j["commits"] = stats_.commits;
  j["last_commit_ms"] = stats_.last_commit_ms;
  j["updated_ms"] = ctx_.clock->NowMillis();
  j["tables"] = stats_.table_rows;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(options_.status_file).parent_path(), ec);
  std::string tmp = options_.status_file + ".tmp";
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
  }
  std::filesystem::rename(tmp, options_.status_file, ec);
}

}  // namespace frazil::cdc
