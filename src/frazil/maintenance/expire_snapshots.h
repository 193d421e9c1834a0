// Snapshot expiry (Iceberg's ExpireSnapshots): removes old snapshots from a table's metadata
// in one compare-and-swap commit, then deletes the files only the removed snapshots used.
//
// Which snapshots stay (as in the Java reference):
//  - the head of every branch and tag that is kept;
//  - on each branch, the newest ancestors of its head while fewer than its
//    min-snapshots-to-keep are kept or while they are younger than its max-snapshot-age
//    (a ref's own values win over the options / table properties);
//  - snapshots on no branch's history that are younger than the cutoff;
//  - every snapshot in `retain_from_snapshot_ids` and, when it is on main's history, every
//    later snapshot of main up to the head (incremental readers need the snapshot they last
//    read and everything since), whatever its age.
// A ref other than `main` older than its max-ref-age-ms is removed with the snapshots.
//
// Safety: the commit requires every ref to be where the plan saw it (a concurrent commit
// that moves one fails it with CommitFailed; the plan is then recomputed from the new
// metadata and committed again). Files are deleted only after the commit succeeded, and
// only if no snapshot of the committed metadata reaches them. CommitStateUnknown deletes
// nothing. See docs/maintenance.md.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "frazil/base/clock.h"
#include "frazil/base/result.h"
#include "frazil/catalog/catalog.h"
#include "frazil/io/file_io.h"
#include "frazil/maintenance/reachability.h"

namespace frazil::maintenance {

// Table properties giving the defaults (spec "Table behavior properties").
inline constexpr const char* kMaxSnapshotAgeProperty = "history.expire.max-snapshot-age-ms";
inline constexpr const char* kMinSnapshotsToKeepProperty = "history.expire.min-snapshots-to-keep";
inline constexpr const char* kMaxRefAgeProperty = "history.expire.max-ref-age-ms";
inline constexpr int64_t kDefaultMaxSnapshotAgeMs = 5LL * 24 * 3600 * 1000;  // 5 days
inline constexpr int kDefaultMinSnapshotsToKeep = 1;

struct ExpireOptions {
  // Expire snapshots older than this time (ms since the epoch). Default: now minus the
  // table property history.expire.max-snapshot-age-ms, else now minus 5 days.
  std::optional<int64_t> older_than_ms;
  // Keep at least this many of each branch's newest snapshots. Default: the table property
  // history.expire.min-snapshots-to-keep, else 1.
  std::optional<int> retain_last;
  // Snapshots to keep with all their descendants on main: each listed snapshot that exists
  // is kept, and if main's head descends from it, so is every snapshot between it and the
  // head. Ids that no longer exist are ignored. frazil passes the snapshots its incremental
  // model reads last read (the `frazil.read.*` positions).
  std::vector<int64_t> retain_from_snapshot_ids;
  // Plan and report only: no commit, no deletion.
  bool dry_run = false;
  // Commits tried before giving up on concurrent writers.
  int max_attempts = 10;
  // Test hook: runs after each plan, right before its commit (a test commits from a second
  // writer here to provoke the CommitFailed retry).
  std::function<void()> before_commit;
};

struct ExpiredFile {
  ReferencedFile file;
  bool deleted = false;  // false in a dry run, or when the deletion failed
  std::string error;     // why the deletion failed
};

struct ExpireResult {
  int64_t cutoff_ms = 0;
  int retain_last = 0;
  std::vector<int64_t> expired_snapshot_ids;  // oldest first
  std::vector<std::string> removed_refs;      // refs past their max-ref-age-ms
  std::vector<ExpiredFile> files;             // unreachable after the commit
  int attempts = 0;                           // commits tried (0: nothing to expire / dry run)
  bool dry_run = false;
  // Set when the commit succeeded but file cleanup was skipped (a retained manifest could
  // not be read, so what is unreferenced cannot be proven); the files stay for
  // remove-orphans.
  std::string cleanup_skipped;

  int64_t Count(FileKind kind) const;
  int64_t Bytes() const;  // sizes known from the metadata (manifest lists: from storage)
  int64_t Failed() const;
};

// Expires snapshots of `id` as described above.
// Errors: NoSuchTable; CommitFailed when concurrent writers won `max_attempts` times;
// CommitStateUnknown (nothing deleted); NotFound/IOError/Corrupt reading manifests of the
// snapshots to expire (before committing anything); InvalidArgument for retain_last < 1.
Result<ExpireResult> ExpireSnapshots(catalog::Catalog& catalog, io::FileIO& io, const Clock& clock,
                                     const catalog::TableIdentifier& id, const ExpireOptions& options);

}  // namespace frazil::maintenance
