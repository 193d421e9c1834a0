// Orphan-file removal: deletes files under a table's data and metadata folders that no part
// of its metadata references and that are older than a safety window.
//
// Referenced (kept): the current metadata file and every file in its metadata-log; for
// EVERY snapshot still in the metadata, its manifest list, the manifests in it and every
// file those manifests name (entries of any status); statistics and partition-statistics
// files. Everything else is an orphan: left by failed or crashed writes, by commits that
// lost a race, by expire-snapshots runs that did not finish, or by metadata files that fell
// off metadata-log.
//
// Safety: the folders are listed BEFORE the metadata is loaded, so a file committed in
// between is referenced. A file written by a commit still in flight (written, not yet
// swapped in) is referenced by nothing yet: only the safety window protects it, so the
// window must be longer than any commit takes (default 7 days; 0 only in tests or with
// every writer stopped). Only the table's own data/ and metadata/ folders are listed (the
// write.data.path / write.metadata.path folders when set, if they lie inside the table
// location); nothing outside the table location is touched. See docs/maintenance.md.
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

namespace frazil::maintenance {

inline constexpr int64_t kDefaultOrphanWindowMs = 7LL * 24 * 3600 * 1000;  // 7 days, as Trino

// Without a write lease (Catalog::AcquireWriteLease gives nullptr, e.g. a remote REST
// catalog) the cutoff must be at least this far in the past; otherwise InvalidArgument.
inline constexpr int64_t kMinUnleasedWindowMs = 3600 * 1000;

struct OrphanOptions {
  // Only files last modified before this time (ms since the epoch) are removed. Default:
  // now minus 7 days.
  std::optional<int64_t> older_than_ms;
  bool dry_run = false;
  // Test hook: runs after the folders are listed, before the metadata is loaded.
  std::function<void()> after_listing;
};

struct OrphanFile {
  io::FileInfo info;
  bool deleted = false;
  std::string error;
};

struct OrphanResult {
  int64_t cutoff_ms = 0;
  std::vector<std::string> scanned_folders;
  std::vector<std::string> skipped_folders;  // outside the table location: not scanned
  int64_t files_scanned = 0;
  int64_t files_referenced = 0;
  int64_t too_new = 0;              // unreferenced but inside the safety window: kept
  std::vector<OrphanFile> orphans;  // removed (or, in a dry run, to remove)
  int64_t aborted_uploads = 0;      // incomplete multipart uploads aborted (object stores)
  std::string upload_error;         // why they could not be listed or aborted, if so
  bool dry_run = false;

  int64_t Bytes() const;
  int64_t Failed() const;
};

// Removes the orphan files of `id`.
// Errors: NoSuchTable; InvalidArgument if the table location is empty or a root;
// IOError listing a folder; NotFound/IOError/Corrupt reading a manifest list or manifest the
// metadata references (then nothing is deleted: what is unreferenced cannot be proven).
Result<OrphanResult> RemoveOrphanFiles(catalog::Catalog& catalog, io::FileIO& io, const Clock& clock,
                                       const catalog::TableIdentifier& id, const OrphanOptions& options);

}  // namespace frazil::maintenance
