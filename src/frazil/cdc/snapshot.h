// The initial snapshot: copies the published tables as of an exported snapshot (the
// replication slot's consistent point) into their raw tables as `r` rows, in parallel
// chunks of ctid ranges, each table committed once all its chunks are written.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "frazil/cdc/raw_table.h"

namespace frazil::cdc {

struct SnapshotOptions {
  std::string conninfo;
  std::string snapshot_name;       // from CREATE_REPLICATION_SLOT ... EXPORT_SNAPSHOT
  Lsn consistent_point = 0;        // the rows' _lsn / _commit_lsn and the tables' resume LSN
  int64_t snapshot_time_us = 0;    // the rows' _commit_ts (Unix microseconds)
  int workers = 2;
  int64_t chunk_pages = 16384;     // 128 MB of 8 KB pages per ctid range
  int64_t buffer_bytes = 64 << 20; // staged bytes per worker before writing a file
  std::string slot;
};

struct SnapshotProgress {
  std::atomic<int64_t> rows{0};
  std::atomic<int64_t> chunks_done{0};
  int64_t chunks_total = 0;
};

// Copies `tables` and commits each (one Iceberg commit per table, resume LSN =
// consistent_point). A chunk whose connection fails is retried while the exporting
// connection is alive. Errors: the first failure, naming the table and chunk; tables
// committed before it stay committed (the next run copies only the others).
Status CopySnapshot(CdcContext& ctx, const SnapshotOptions& options, const std::vector<RawTable*>& tables,
                    SnapshotProgress* progress, const std::atomic<bool>* stop);

}  // namespace frazil::cdc
