// Dropping extended statistics (Trino's `ALTER TABLE EXECUTE drop_extended_stats`): removes
// every `statistics` entry (Puffin files with NDV sketches, written by Trino and Spark) and
// every `partition-statistics` entry from a table's metadata, and the `trino.stats.ndv.*`
// table properties, in one commit; then deletes the statistics files no part of the
// committed metadata references any more.
//
// Safety: the commit goes through the catalog's compare-and-swap (retried after
// CommitFailed); files are deleted only after it succeeded, and only those the plan removed
// and the committed metadata no longer names. CommitStateUnknown deletes nothing. A
// statistics file set concurrently for the same snapshot (replacing the one planned) leaves
// the metadata with the commit and stays on storage for remove-orphans. See
// docs/maintenance.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/catalog/catalog.h"
#include "frazil/io/file_io.h"
#include "frazil/maintenance/reachability.h"

namespace frazil::maintenance {

inline constexpr const char* kTrinoNdvPropertyPrefix = "trino.stats.ndv.";

struct DropStatsOptions {
  // Report what would be removed; commit and delete nothing.
  bool dry_run = false;
  // Commits tried before giving up on concurrent writers.
  int max_attempts = 10;
  // Test hook: runs right before each commit.
  std::function<void()> before_commit;
};

struct DroppedStatistics {
  int64_t snapshot_id = 0;
  bool partition_statistics = false;  // a partition-statistics entry (else statistics)
  ReferencedFile file;                // kind kStatistics
  bool deleted = false;               // false in a dry run, when still referenced, or on error
  std::string error;                  // why the deletion failed
};

struct DropStatsResult {
  std::vector<DroppedStatistics> entries;
  std::vector<std::string> removed_properties;  // trino.stats.ndv.*
  int attempts = 0;                             // commits tried (0: nothing to drop / dry run)
  bool dry_run = false;

  int64_t Bytes() const;  // sizes the metadata states
  int64_t Failed() const;
};

// Drops the extended statistics of `id` as described above.
// Errors: NoSuchTable; CommitFailed when concurrent writers won `max_attempts` times;
// CommitStateUnknown (nothing deleted; run it again).
Result<DropStatsResult> DropExtendedStats(catalog::Catalog& catalog, io::FileIO& io,
                                          const catalog::TableIdentifier& id, const DropStatsOptions& options);

}  // namespace frazil::maintenance
