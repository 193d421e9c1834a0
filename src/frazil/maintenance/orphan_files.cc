#include "frazil/maintenance/orphan_files.h"

#include <algorithm>

#include "frazil/iceberg/snapshot_producer.h"
#include "frazil/maintenance/reachability.h"

namespace frazil::maintenance {
namespace {

std::string WithSlash(std::string s) {
  if (!s.ends_with('/')) s += '/';
  return s;
}

// Everything a load of the table references.
Status AddReferenced(const catalog::LoadedTable& t, io::FileIO& io, FileSet* out) {
  out->emplace(NormalizeLocation(t.metadata_location), ReferencedFile{t.metadata_location, FileKind::kMetadata, -1});
  for (const auto& e : t.metadata.metadata_log) {
    out->emplace(NormalizeLocation(e.metadata_file), ReferencedFile{e.metadata_file, FileKind::kMetadata, -1});
  }
  AddStatisticsFiles(t.metadata, nullptr, out);
  return AddSnapshotFiles(t.metadata, AllSnapshotIds(t.metadata), io, /*all_entries=*/true, out);
}

}  // namespace

int64_t OrphanResult::Bytes() const {
  int64_t n = 0;
  for (const OrphanFile& f : orphans) n += f.info.size;
  return n;
}

int64_t OrphanResult::Failed() const {
  return std::count_if(orphans.begin(), orphans.end(), [](const OrphanFile& f) { return !f.error.empty(); });
}

Result<OrphanResult> RemoveOrphanFiles(catalog::Catalog& catalog, io::FileIO& io, const Clock& clock,
                                       const catalog::TableIdentifier& id, const OrphanOptions& options) {
  OrphanResult result;
  result.dry_run = options.dry_run;
  result.cutoff_ms = options.older_than_ms.value_or(clock.NowMillis() - kDefaultOrphanWindowMs);

  FRZ_ASSIGN_OR_RETURN(catalog::LoadedTable first, catalog.LoadTable(id));
  const std::string location = WithSlash(NormalizeLocation(first.metadata.location));
  // A table location of "/" or "s3://bucket/" would make "inside the table" meaningless.
  const size_t scheme_end = location.find("://");
  const std::string_view path_part =
      scheme_end == std::string::npos ? std::string_view(location) : std::string_view(location).substr(scheme_end + 3);
  if (first.metadata.location.empty() || std::count(path_part.begin(), path_part.end(), '/') < 2) {
    return MakeError(ErrorKind::kInvalidArgument, "table " + id.ToString() + " has location '" +
                                                      first.metadata.location +
                                                      "', too close to a root to scan for orphan files");
  }

  // No commit is in flight while the files are listed and the references read (writers
  // hold the lease from their first file to the end of their commit), so every listed file
  // that is not referenced is an orphan; the lease is released before deleting.
  FRZ_ASSIGN_OR_RETURN(auto lease, catalog.AcquireWriteLease(true));
  if (!lease && !options.dry_run && result.cutoff_ms > clock.NowMillis() - kMinUnleasedWindowMs) {
    // A catalog without a lease (a remote REST catalog) cannot tell an orphan from a file of a
    // commit in flight: only files old enough that no commit can still be writing them go.
    return MakeError(ErrorKind::kInvalidArgument,
                     "orphan removal on " + id.ToString() +
                         ": this catalog cannot hold writers off while listing (no write lease), so files newer than 1h "
                         "may belong to a commit in flight; use an older cutoff (older_than of at least 1h)");
  }
  std::vector<io::FileInfo> listed;
  std::set<std::string> folders;
  for (const std::string& dir : {iceberg::DataDir(first.metadata), iceberg::MetadataDir(first.metadata)}) {
    std::string norm = WithSlash(NormalizeLocation(dir));
    if (!norm.starts_with(location)) {
      result.skipped_folders.push_back(dir);
      continue;
    }
    folders.insert(norm);
    result.scanned_folders.push_back(dir);
  }
  // List from the shortest folders only (a nested one is covered by its parent).
  std::set<std::string> listed_keys;
  for (const std::string& folder : folders) {
    bool covered = false;
    for (const std::string& other : folders) covered = covered || (other != folder && folder.starts_with(other));
    if (covered) continue;
    auto files = io.List(folder);
    if (!files) return MakeError(files.error().kind, "listing " + folder + ": " + files.error().message);
    for (io::FileInfo& f : *files) {
      std::string key = NormalizeLocation(f.location);
      if (!key.starts_with(location)) continue;  // never outside the table
      if (listed_keys.insert(key).second) listed.push_back(std::move(f));
    }
  }
  result.files_scanned = static_cast<int64_t>(listed.size());
  if (options.after_listing) options.after_listing();

  // Loaded after listing: whatever was committed by the time of the listing is referenced.
  // The first load is included too, in case a concurrent commit replaced it meanwhile.
  FileSet referenced;
  FRZ_RETURN_IF_ERROR(AddReferenced(first, io, &referenced));
  FRZ_ASSIGN_OR_RETURN(catalog::LoadedTable second, catalog.LoadTable(id));
  FRZ_RETURN_IF_ERROR(AddReferenced(second, io, &referenced));
  lease.reset();

  std::sort(listed.begin(), listed.end(),
            [](const io::FileInfo& a, const io::FileInfo& b) { return a.location < b.location; });
  for (io::FileInfo& f : listed) {
    if (referenced.contains(NormalizeLocation(f.location))) {
      ++result.files_referenced;
      continue;
    }
    if (f.modified_ms >= result.cutoff_ms) {
      ++result.too_new;
      continue;
    }
    result.orphans.push_back(OrphanFile{std::move(f), false, ""});
  }
  if (options.dry_run) return result;
  std::vector<std::string> doomed;
  for (const auto& o : result.orphans) doomed.push_back(o.info.location);
  auto failed = io::DeleteFiles(io, doomed);  // in batches (S3: 1000 keys a request)
  for (auto& o : result.orphans) {
    auto it = failed.find(o.info.location);
    o.deleted = it == failed.end();
    if (it != failed.end()) o.error = it->second;
  }
  // Multipart uploads a crashed writer left under the table (object stores only): invisible
  // to listings, but stored and billed.
  auto aborted = io.AbortIncompleteUploads(location, result.cutoff_ms);
  if (aborted) {
    result.aborted_uploads = *aborted;
  } else {
    result.upload_error = aborted.error().message;
  }
  return result;
}

}  // namespace frazil::maintenance
