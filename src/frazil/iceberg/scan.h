// Scan planning: which data files (and which delete files applying to each) a read of a
// table snapshot needs, with partition pruning from a filter.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/io/file_io.h"
#include "frazil/iceberg/manifest.h"
#include "frazil/iceberg/table_metadata.h"

namespace frazil::iceberg {

struct FileScanTask {
  DataFile data_file;
  int spec_id = 0;
  int64_t data_sequence_number = 0;
  // Position delete files whose sequence number is >= the data file's and whose partition
  // matches (or that reference this file). Equality deletes are reported in
  // `equality_deletes` (frazil reads them but never writes them).
  std::vector<DataFile> position_deletes;
  std::vector<DataFile> equality_deletes;
};

// A simple conjunctive filter: column (field id) <op> literal. Used for pruning only; the
// engine still evaluates the full predicate.
enum class FilterOp { kEq, kLt, kLtEq, kGt, kGtEq, kIsNull, kNotNull };
struct FilterTerm {
  int field_id = 0;
  FilterOp op = FilterOp::kEq;
  Datum value;
};

struct ScanOptions {
  std::optional<int64_t> snapshot_id;    // default: current snapshot of `main`
  std::optional<int64_t> as_of_ms;       // time travel by timestamp
  std::optional<std::string> ref;        // a branch or tag name
  std::vector<FilterTerm> filter;        // AND of terms
  // An incremental read: only the data files appended after this snapshot (exclusive) up to
  // the chosen one. Every snapshot in between must be an append or a replace (compaction,
  // manifest rewrite: same rows in other files; skipped, the rows are read from the files
  // each append added); a delete or overwrite means the rows since then are not just the
  // new files. Errors: InvalidArgument naming the snapshot that is neither, or when this
  // snapshot is not an ancestor (rolled back, or expired).
  std::optional<int64_t> appended_after_snapshot_id;
};

struct ScanPlan {
  const Snapshot* snapshot = nullptr;  // nullptr: empty table (no snapshot)
  Schema schema;                       // the schema to read with (current schema; the
                                       // snapshot's schema for time travel by id/ref)
  std::vector<FileScanTask> tasks;
  int64_t manifests_total = 0;
  int64_t manifests_skipped = 0;
  int64_t files_skipped = 0;
};

// Plans a scan of `metadata` (the files are read through `io`).
// Errors: NotFound for an unknown snapshot/ref or a time before the first snapshot;
// Corrupt/IOError from reading manifests, naming the file.
Result<ScanPlan> PlanScan(const TableMetadata& metadata, io::FileIO& io, const ScanOptions& options);

// All live entries of a snapshot (data and delete files), with inherited sequence numbers
// filled in, and the manifests they came from. Used by writers (overwrite/delete) and by
// `table files`.
struct LiveFile {
  ManifestEntry entry;
  int spec_id = 0;
};
Result<std::vector<ManifestFile>> ReadSnapshotManifests(const Snapshot& snapshot, io::FileIO& io);
// The entries of one manifest (all statuses), inherited values filled in.
Result<std::vector<ManifestEntry>> ReadManifestEntries(const TableMetadata& metadata, const ManifestFile& manifest,
                                                       io::FileIO& io);
Result<std::vector<LiveFile>> ReadLiveFiles(const TableMetadata& metadata, const Snapshot& snapshot,
                                            io::FileIO& io);

}  // namespace frazil::iceberg
