// Manifest rewrite (Iceberg's RewriteManifests / Spark's rewrite_manifests): rewrites the
// manifests of main's head into as few as possible, so that planning a scan reads a few
// manifests instead of one per commit.
//
// Data and delete manifests are rewritten separately, per partition spec; a kind/spec
// whose manifests would not become fewer (already one, or all near the target size) and
// that has no manifest without live files is left alone unless `force`. Entries are sorted by partition (tight partition summaries,
// better manifest pruning) and written as EXISTING with their original snapshot id, data
// sequence number and file sequence number, so which deletes apply to which data files is
// unchanged; DELETED entries are dropped. The new manifests, the untouched ones and a new
// manifest list make one "replace" snapshot with the head's totals, its `frazil.*` summary
// keys and `frazil.maintenance=rewrite-manifests`. No data file changes.
//
// Safety: the commit is compare-and-swap on main; after CommitFailed the manifests written
// are deleted and the rewrite is planned again from the new head. CommitStateUnknown deletes
// nothing. The replaced manifests stay for older snapshots; expire-snapshots removes them.
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
#include "frazil/iceberg/manifest.h"
#include "frazil/io/file_io.h"

namespace frazil::maintenance {

inline constexpr const char* kManifestTargetSizeProperty = "commit.manifest.target-size-bytes";
inline constexpr int64_t kDefaultManifestTargetSize = int64_t{8} << 20;  // 8 MiB, as Iceberg

struct RewriteManifestsOptions {
  // Size of each new manifest. Default: the table property commit.manifest.target-size-bytes,
  // else 8 MiB.
  std::optional<int64_t> target_manifest_size_bytes;
  // Rewrite every kind/spec, even one whose manifests would not become fewer.
  bool force = false;
  // Plan and report only: nothing written or committed.
  bool dry_run = false;
  // Commits tried before giving up on concurrent writers.
  int max_attempts = 10;
  // Test hook: runs after the manifests are written, right before each commit.
  std::function<void()> before_commit;
};

// One kind (data or deletes) and partition spec.
struct ManifestGroup {
  iceberg::ManifestContent content = iceberg::ManifestContent::kData;
  int spec_id = 0;
  int manifests_before = 0;
  int manifests_after = 0;  // in a dry run: the estimate
  int64_t bytes_before = 0;
  int64_t bytes_after = 0;  // 0 in a dry run
  int64_t entries = 0;      // live entries carried over (0 in a dry run)
  bool rewritten = false;   // false: kept as they are
};

struct RewriteManifestsResult {
  int64_t target_manifest_size_bytes = 0;
  int manifests_before = 0;  // in main's head before
  int manifests_after = 0;   // in the committed snapshot (dry run: the estimate)
  std::vector<ManifestGroup> groups;
  int64_t snapshot_id = 0;   // 0: nothing committed
  int attempts = 0;
  bool dry_run = false;
};

// Rewrites the manifests of `id` as described above.
// Errors: NoSuchTable; Unsupported for format version 3 (row lineage is not carried yet);
// InvalidArgument for a non-positive target; CommitFailed when concurrent writers won
// `max_attempts` times; CommitStateUnknown (nothing deleted); NotFound/IOError/Corrupt
// reading manifests; IOError writing them (what was written is deleted).
Result<RewriteManifestsResult> RewriteManifests(catalog::Catalog& catalog, io::FileIO& io, const Clock& clock,
                                                const catalog::TableIdentifier& id,
                                                const RewriteManifestsOptions& options);

}  // namespace frazil::maintenance
