// What a table's metadata references, shared by snapshot expiry and orphan-file removal:
// the files each snapshot needs (manifest list, manifests, data and delete files) and the
// table's own metadata files, with locations normalised so that `file:///a`, `file:/a` and
// `/a` compare equal.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "frazil/base/result.h"
#include "frazil/io/file_io.h"
#include "frazil/iceberg/table_metadata.h"

namespace frazil::maintenance {

// The form locations are compared in: local locations as plain absolute paths (`file:`
// schemes stripped), others (`s3://...`) unchanged.
std::string NormalizeLocation(std::string_view location);

// What a file referenced by a table is, for reports.
enum class FileKind { kManifestList, kManifest, kDataFile, kDeleteFile, kStatistics, kMetadata };
std::string_view FileKindName(FileKind kind);

// A referenced file: its location as written in the metadata and, where the metadata says
// it, its size.
struct ReferencedFile {
  std::string location;
  FileKind kind = FileKind::kDataFile;
  int64_t size = -1;  // -1: unknown
};

// Files keyed by normalised location.
using FileSet = std::map<std::string, ReferencedFile>;

// Adds every file the given snapshots of `metadata` reference: their manifest lists, the
// manifests in them and the files in those manifests (`all_entries`: entries of every
// status, including DELETED ones; otherwise only ADDED and EXISTING, the files a read of the
// snapshot needs). Manifests already in `out` are not read again.
// Errors: NotFound/IOError/Corrupt naming the manifest list or manifest that cannot be read
// (the caller then cannot prove what is unreferenced and must delete nothing).
Status AddSnapshotFiles(const iceberg::TableMetadata& metadata, const std::set<int64_t>& snapshot_ids,
                        io::FileIO& io, bool all_entries, FileSet* out);

// Adds the statistics and partition-statistics files of the given snapshots (every
// snapshot when `snapshot_ids` is null).
void AddStatisticsFiles(const iceberg::TableMetadata& metadata, const std::set<int64_t>* snapshot_ids,
                        FileSet* out);

// Every snapshot id of the table.
std::set<int64_t> AllSnapshotIds(const iceberg::TableMetadata& metadata);

// Parses an age or a point in time into a cutoff in ms since the epoch: a duration back
// from `now_ms` (`7d`, `36h`, `90m`, `30s`, `500ms`, `0`), an ISO-8601 UTC time
// (`2026-05-01`, `2026-05-01T12:00:00`, optionally with `Z` or `.fff`) or epoch
// milliseconds (13+ digits). Errors: InvalidArgument with the accepted forms.
Result<int64_t> ParseCutoff(std::string_view text, int64_t now_ms);


}  // namespace frazil::maintenance
