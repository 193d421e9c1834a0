// Builds a new snapshot from a set of file changes: writes the new manifests and the
// manifest list through FileIO, computes the summary with running totals, and returns the
// metadata updates and requirement that commit it. The one place snapshots are made, for
// appends, overwrites, row deletes, rewrites and (later) CDC.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/io/file_io.h"
#include "frazil/iceberg/manifest.h"
#include "frazil/iceberg/table_metadata.h"
#include "frazil/iceberg/table_update.h"

namespace frazil::iceberg {

struct SnapshotChanges {
  // "append", "overwrite", "delete" or "replace". Empty: derived (append if only data files
  // are added, delete if only deletes are added/removed, overwrite otherwise).
  std::string operation;
  int spec_id = 0;                        // the spec the added files were written with
  std::vector<DataFile> added_data_files;
  std::vector<DataFile> added_delete_files;  // position (or equality) delete files
  // The spec of each added delete file (parallel to added_delete_files; empty = spec_id).
  std::vector<int> delete_spec_ids;
  std::set<std::string> removed_files;       // paths of live data/delete files to remove
  std::map<std::string, std::string> extra_summary;  // e.g. frazil.lsn
  std::string branch = kMainBranch;
};

struct ProducedSnapshot {
  Snapshot snapshot;
  std::vector<TableRequirement> requirements;  // branch still at the base snapshot
  std::vector<TableUpdate> updates;            // add-snapshot, set-snapshot-ref
  std::vector<std::string> written_files;      // manifests + manifest list (to delete if the
                                               // commit definitely fails)
};

// Errors: InvalidArgument if a removed file is not live in the base snapshot, or nothing
// changes; IOError from writing; Corrupt from reading the base manifests.
Result<ProducedSnapshot> ProduceSnapshot(const TableMetadata& base, io::FileIO& io,
                                         const SnapshotChanges& changes, int64_t now_ms);

// The metadata folder of a table ("<location>/metadata").
std::string MetadataDir(const TableMetadata& metadata);
// The data folder of a table ("<location>/data", or property write.data.path).
std::string DataDir(const TableMetadata& metadata);

}  // namespace frazil::iceberg
