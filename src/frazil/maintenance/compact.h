// Compaction (bin-pack, as Trino's `ALTER TABLE EXECUTE optimize(file_size_threshold => ...)`
// and Spark's rewrite_data_files): rewrites the small data files of a table, and the data
// files that deletes apply to, into fewer files of about the target size, with the deletes
// applied, in one "replace" snapshot.
//
// Candidates: live data files of main's head smaller than `file_size_threshold_bytes`, or
// with at least `delete_file_threshold` position/equality delete files applying to them.
// They are grouped per partition (same spec id and partition tuple) and bin-packed into
// groups of at most `target_file_size_bytes` input; a partition whose candidates are a
// single file with no deletes is left alone (nothing to gain), unless `rewrite_all`. Each
// group is read through the normal scan path (deletes applied: the new files hold exactly
// the live rows) and written with the table's current schema and default spec. The commit
// removes the input files and every delete file that no longer applies to a remaining
// data file, adds the new files, and carries the `frazil.*` keys of the head snapshot's
// summary (model read positions, LSNs: the rows are unchanged, so they stay true) plus
// `frazil.maintenance=compact`.
//
// Safety: the commit is compare-and-swap on main. After CommitFailed the new head is
// examined: if none of the rewritten inputs was removed and no delete file that could apply
// to one was added (e.g. CDC only appended), the written files are kept and only the commit
// is planned again on the new head; otherwise the written files are deleted and the whole
// compaction is planned again. Any failure deletes the files this run wrote, except
// CommitStateUnknown (nothing is deleted). Mirror tables (`frazil.mirror-of`) are refused:
// `frazil run` keeps them compact itself and a foreign rewrite invalidates their key index.
// See docs/maintenance.md.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "frazil/base/clock.h"
#include "frazil/base/result.h"
#include "frazil/catalog/catalog.h"
#include "frazil/engine/duckdb.h"
#include "frazil/io/file_io.h"

namespace frazil::maintenance {

inline constexpr const char* kTargetFileSizeProperty = "write.target-file-size-bytes";
inline constexpr int64_t kDefaultTargetFileSize = int64_t{512} << 20;        // 512 MiB, as Iceberg
inline constexpr int64_t kDefaultFileSizeThreshold = int64_t{100} << 20;     // 100 MiB, as Trino
inline constexpr const char* kMaintenanceSummaryKey = "frazil.maintenance";
inline constexpr const char* kMirrorOfProperty = "frazil.mirror-of";  // as cdc::kMirrorOfProperty

struct CompactGroup;

struct CompactOptions {
  // Output file size and the most input bytes per group. Default: the table property
  // write.target-file-size-bytes, else 512 MiB.
  std::optional<int64_t> target_file_size_bytes;
  // Data files smaller than this are rewritten.
  int64_t file_size_threshold_bytes = kDefaultFileSizeThreshold;
  // Data files with at least this many delete files applying to them are rewritten (the
  // deletes folded in). Values below 1 count as 1.
  int delete_file_threshold = 1;
  // Rewrite every live data file, whatever its size, even alone in its partition.
  bool rewrite_all = false;
  // Compact a mirror table anyway (its key index must then be rebuilt: docs/mirror.md).
  bool allow_mirror = false;
  // Plan and report the groups only: nothing written or committed.
  bool dry_run = false;
  // Commits tried before giving up on concurrent writers.
  int max_attempts = 10;
  // Test hook: runs after the files are written, right before each commit.
  std::function<void()> before_commit;
  // Called before each group is read and written (`index` from 0), for progress output.
  std::function<void(const CompactGroup& group, int index, int groups)> on_group;
};

struct FileTotals {
  int64_t files = 0;
  int64_t bytes = 0;
  int64_t rows = 0;  // record counts (for data files: rows in the files, deleted ones included)
};

struct CompactGroup {
  int spec_id = 0;
  std::string partition;               // "day=2024-03-01/cat=x"; empty when unpartitioned
  std::vector<std::string> inputs;     // data files rewritten
  FileTotals input;                    // their totals
  int64_t delete_files = 0;            // distinct delete files applying to the inputs
  FileTotals output;                   // the files written (not in a dry run)
};

struct CompactResult {
  int64_t target_file_size_bytes = 0;
  FileTotals data_before;       // live data files of main's head before
  FileTotals deletes_before;    // live delete files before
  FileTotals data_after;        // after the commit (= before in a dry run)
  FileTotals deletes_after;
  FileTotals rewritten;         // input data files (sum of the groups)
  FileTotals written;           // output data files
  FileTotals removed_deletes;   // delete files no remaining data file needs
  int64_t live_rows = 0;        // rows read from the inputs, deletes applied (= written.rows)
  std::vector<CompactGroup> groups;
  int64_t snapshot_id = 0;      // the replace snapshot; 0 if nothing was committed
  int attempts = 0;             // commits tried
  int replans = 0;              // times the files were written again after a conflict
  bool dry_run = false;
};

// Compacts `id` as described above, reading and writing through `db`.
// Errors: NoSuchTable; InvalidArgument for a mirror table without allow_mirror or a
// non-positive size option; CommitFailed when concurrent writers won `max_attempts` times
// (the written files are deleted); CommitStateUnknown (nothing deleted: run it again);
// the engine's and FileIO's errors reading or writing (the written files are deleted).
Result<CompactResult> CompactTable(catalog::Catalog& catalog, io::FileIO& io, engine::Database& db,
                                   const Clock& clock, const catalog::TableIdentifier& id,
                                   const CompactOptions& options);

// The `frazil.*` summary keys of `snapshot` (nullptr: none), which maintenance commits carry
// forward, plus frazil.maintenance = `operation`.
std::map<std::string, std::string> CarriedSummary(const iceberg::Snapshot* snapshot, const std::string& operation);

}  // namespace frazil::maintenance
