// The mirror table of one raw changelog table (docs/mirror.md): an Iceberg table holding the
// source table's current rows. Each batch of raw changes is reduced to one final action per
// key, applied with position deletes located through a KeyIndex and a new data file, and
// committed in the same catalog transaction as the raw table. Data files with many deleted
// rows are rewritten, small files merged and delete files folded, in the same commit.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "frazil/catalog/catalog.h"
#include "frazil/cdc/changelog.h"
#include "frazil/cdc/key_index.h"
#include "frazil/cdc/lsn.h"
#include "frazil/engine/duckdb.h"
#include "frazil/engine/parquet_writer.h"
#include "frazil/iceberg/scan.h"
#include "frazil/io/file_io.h"

namespace frazil {
class Clock;
}

namespace frazil::cdc {

// Properties of mirror tables (besides frazil.lsn, frazil.slot, frazil.source-table).
inline constexpr const char* kMirrorOfProperty = "frazil.mirror-of";
inline constexpr const char* kMirrorKeyProperty = "frazil.key";

// Runs `COPY (<select>) TO STDOUT` on the source and hands each text-format line over.
using SourceReader =
    std::function<Status(const std::string& select_sql, const std::function<Status(std::string_view line)>& on_row)>;

struct MirrorOptions {
  bool enabled = true;
  std::string ns = "mirror";
  std::vector<std::string> exclude;  // "schema.table" or "table" (= public.table)
  double rewrite_ratio = 0.2;
  int64_t target_file_bytes = int64_t{128} << 20;
  int merge_fanin = 8;               // files of one size tier merged at once
  int max_delete_files = 8;          // live position delete files before they are folded
  std::string index_dir;             // where key indexes are saved ("" = not saved)

  // Whether `source` ("schema.table") gets a mirror.
  bool Wants(const std::string& schema, const std::string& table) const;
};

// How rows are located.
enum class MirrorMode {
  kKeyed,       // primary key / replica identity index: one row per key
  kMultiset,    // replica identity full: the whole row is the key, duplicates allowed
  kInsertOnly,  // no identity: PostgreSQL allows only inserts (and truncates)
};

// The mirror's schema for a raw table schema: its source columns (same ids and names).
iceberg::Schema MirrorSchema(const iceberg::Schema& raw_schema);

class MirrorTable {
 public:
  struct Deps {
    catalog::Catalog* catalog = nullptr;
    io::FileIO* io = nullptr;
    Clock* clock = nullptr;
    engine::WriteOptions write;
    SourceReader read_source;  // may be empty (then new columns are derived without it)
  };

  // Loads (creating when missing) the mirror `id` of `raw` (whose current schema and
  // resume LSN it must follow). A mirror behind its raw table (new, or mirrors were off
  // for a while) is first brought up to it by replaying the raw table's committed rows.
  // Errors: the catalog's; Corrupt if the mirror is ahead of its raw table.
  static Result<std::unique_ptr<MirrorTable>> Open(const Deps& deps, const MirrorOptions& options,
                                                   engine::Connection& con, const catalog::TableIdentifier& id,
                                                   const catalog::TableIdentifier& raw_id,
                                                   const catalog::LoadedTable& raw, const SourceTable& source,
                                                   const std::string& slot);
  ~MirrorTable();

  const catalog::TableIdentifier& id() const { return id_; }
  MirrorMode mode() const { return mode_; }
  size_t index_keys() const { return index_.size(); }
  size_t index_bytes() const { return index_.memory_bytes(); }

  // The source table's definition changed: a new key or identity rebuilds the index (at
  // the next Apply); a new raw schema becomes the mirror's (with the next commit). New
  // fields (an added column, a retype) get the values the rows it holds have: read from
  // the source by key (exact: rows changed since are overwritten by their later changes),
  // else PostgreSQL's stored default or DuckDB's cast of the old value; every row is
  // rewritten with them now, on `con`.
  Status UpdateSource(engine::Connection& con, const SourceTable& source, const iceberg::Schema& raw_schema,
                      int last_column_id);

  // Applies raw changes: `raw_sql` is a query over raw rows with the raw schema's column
  // names (source columns, _op, _commit_lsn, _seq, _old). Files are written and the index
  // updated now; the table changes with the next commit.
  // Errors: Corrupt when the changes contradict the mirror (a key it should hold is missing
  // in a multiset mirror, an update of an insert-only table); the engine's errors.
  Status Apply(engine::Connection& con, const std::string& raw_sql);

  // A query over the mirror's rows as they are with the pending changes applied.
  Result<std::string> CurrentRowsSql() const;

  // This mirror's part of the catalog commit that advances its raw table to `lsn`.
  Result<catalog::TableCommit> PrepareCommit(Lsn lsn, const std::map<std::string, std::string>& summary);
  void Committed(const catalog::LoadedTable& table);
  // After a failed commit. Errors: CommitFailed if another writer changed the mirror (the
  // pending changes no longer apply).
  Status Reload();
  // Deletes files written for the next commit and forgets their index changes.
  void DiscardPending();

  // Saves the index (when index_dir is set and nothing is pending; also on destruction).
  // Best effort: a missing or stale index file only means a rebuild.
  void SaveIndex() const;

 private:
  struct FileState {
    iceberg::DataFile file;
    int64_t deleted = 0;     // rows deleted (live delete files + pending)
    bool live = true;        // in the state after the pending changes
    bool committed = false;  // in the committed snapshot
  };
  struct DeleteFileState {
    iceberg::DataFile file;
    bool live = true;
    bool committed = false;
  };

  MirrorTable(const Deps& deps, const MirrorOptions& options) : deps_(deps), options_(options) {}
  Status LoadState();                 // files_ from the committed snapshot
  Status EnsureIndex(engine::Connection& con);
  Status RebuildIndex(engine::Connection& con);
  bool LoadIndex();
  std::string IndexPath() const;
  void SetSource(const SourceTable& source);
  std::string KeySql(const std::string& qualifier) const;
  std::string OrderSql() const;     // " ORDER BY <key>" for the files written
  std::string KeyProperty() const;   // frazil.key: the key columns, comma-separated
  std::string KeySignature() const;  // what the index keys are made of (checked on load)
  std::vector<iceberg::FileScanTask> LiveTasks() const;
  // Where DuckDB writes this table's new files (FileIO::WriteDir of its data directory),
  // and those files moved to their locations (FileIO::Publish).
  Result<std::string> WriteDir() const;
  Result<std::vector<iceberg::DataFile>> Published(std::vector<iceberg::DataFile> files) const;
  uint32_t AddFile(iceberg::DataFile file);
  Status IndexNewFiles(engine::Connection& con, const std::vector<uint32_t>& files,
                       const std::vector<uint32_t>* replaced);
  Status WriteDeletes(engine::Connection& con, const std::vector<RowLocation>& rows);
  Status Truncate();
  Status Maintain(engine::Connection& con);
  Status Rewrite(engine::Connection& con, const std::vector<uint32_t>& files);
  Result<std::string> FetchFromSource(engine::Connection& con, const std::vector<const iceberg::NestedField*>& fields);
  Status RewriteAll(engine::Connection& con, const iceberg::Schema& old, const std::map<std::string, std::string>& fills,
                    const std::string& join_sql);
  Status FoldDeletes(engine::Connection& con);
  void RemoveFile(uint32_t file);
  const iceberg::Schema& schema() const;

  Deps deps_;
  MirrorOptions options_;
  catalog::TableIdentifier id_;
  catalog::TableIdentifier raw_id_;
  catalog::LoadedTable table_;
  SourceTable source_;
  bool previous_from_wal_ = false;  // source_ came from a Relation message (types comparable)
  MirrorMode mode_ = MirrorMode::kInsertOnly;
  std::vector<std::string> key_columns_;
  std::vector<iceberg::NestedField> key_fields_;

  KeyIndex index_;
  bool index_valid_ = false;
  std::vector<FileState> files_;                 // by file number
  std::map<std::string, uint32_t> file_numbers_;  // location -> file number
  std::vector<DeleteFileState> delete_files_;
  std::optional<iceberg::Schema> pending_schema_;
  int pending_last_column_id_ = 0;
  bool pending_ = false;  // files or index changed since the last commit
  std::optional<int64_t> base_snapshot_id_;
};

}  // namespace frazil::cdc
