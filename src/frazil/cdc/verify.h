// `frazil verify`: compares a mirror table (docs/mirror.md) with its PostgreSQL source table
// at one point in time, the consistent point C of a temporary replication slot's exported
// snapshot. The source rows are read in that snapshot and typed exactly as CDC types them;
// the mirror is read at its earliest snapshot whose frazil.lsn L is >= C; changes the raw
// changelog table holds with commit LSN in [C, L) are in the mirror but not in the source
// snapshot, so a busy source is retried on a new snapshot and, failing that, the keys those
// changes touch are left out of the comparison. See docs/mirror.md, "Checking a mirror".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/catalog/catalog.h"
#include "frazil/cdc/lsn.h"
#include "frazil/cdc/raw_table.h"

namespace frazil::cdc {

struct VerifyOptions {
  std::string conninfo;  // the source (never logged: messages name host:port/db)
  std::string publication = "frazil_pub";
  std::string slot = "frazil_slot";  // frazil's slot (a mirror's frazil.slot property wins)
  int64_t timeout_ms = 60000;        // how long to wait for the mirror to reach C
  int64_t poll_ms = 200;             // catalog poll interval while waiting
  int attempts = 3;                  // source snapshots tried before changed keys are excluded
  int64_t retry_wait_ms = 500;       // before the second attempt (doubling)
  int max_keys = 20;                 // differences listed (all are counted)
};

// One differing key (or whole row, when the mirror has no key columns).
struct VerifyDifference {
  enum class Kind { kMissingInMirror, kExtraInMirror, kDifferentValues };
  Kind kind = Kind::kMissingInMirror;
  // Key column -> value as DuckDB prints it (nullopt = NULL), in key order.
  std::vector<std::pair<std::string, std::optional<std::string>>> key;
  // kDifferentValues: the non-key columns that differ, with the source and mirror values.
  struct Column {
    std::string name;
    std::optional<std::string> source;
    std::optional<std::string> mirror;
  };
  std::vector<Column> columns;
};
std::string_view VerifyKindName(VerifyDifference::Kind kind);  // "missing in mirror", ...

struct VerifyReport {
  std::string table;                          // the mirror, "mirror.accounts"
  std::string source;                         // "public.accounts"
  Lsn lsn = 0;                                // the source snapshot's consistent point C
  std::optional<int64_t> mirror_snapshot_id;  // nullopt: the mirror had no snapshot (no rows)
  Lsn mirror_lsn = 0;                         // L: the mirror state compared holds every change < L
  std::vector<std::string> key_columns;       // how rows are identified; empty = the whole row
  int64_t source_rows = 0;                    // rows compared (excluded keys left out)
  int64_t mirror_rows = 0;
  std::string source_checksum;  // 32 hex digits: sum of hash(row) over the rows compared
  std::string mirror_checksum;
  int64_t excluded_keys = 0;      // keys changed in [C, L), left out on both sides
  int attempts = 1;               // source snapshots taken
  int64_t missing_in_mirror = 0;  // keys per kind (all of them, not only those listed)
  int64_t extra_in_mirror = 0;
  int64_t different_values = 0;
  std::vector<std::string> schema_differences;  // columns that cannot be compared
  std::vector<VerifyDifference> differences;    // the first max_keys, ordered by key
  bool equal = false;                           // same columns, same rows (as multisets)
};

// The mirror table `arg` names: "ns.table" as given when that table exists; otherwise
// "table" in `mirror_ns`, or a source name "schema.table" mapped with RawTableName
// ("sales.orders" -> <mirror_ns>.sales__orders). Errors: NoSuchTable naming every name
// tried; InvalidArgument when the table found is not a mirror (no frazil.mirror-of).
Result<catalog::TableIdentifier> ResolveMirror(catalog::Catalog& catalog, std::string_view arg,
                                               const std::string& mirror_ns);

// Compares mirror `id` with its source table (property frazil.source-table), on the DuckDB
// database of `ctx`. A report with equal=false is not an error.
// Errors: IOError when the mirror does not reach the source snapshot in timeout_ms (with
// where both are), when changes to the table wait in frazil's stopped slot, or when the
// source stays too busy (a truncate among the changes that cannot be excluded);
// NotFound when the source table is not in the publication or the raw table is missing;
// InvalidArgument/IOError from PostgreSQL (replication permission, no free slot, ...);
// InvalidArgument naming the column when a source value cannot be typed.
Result<VerifyReport> VerifyMirror(CdcContext& ctx, const VerifyOptions& options,
                                  const catalog::TableIdentifier& id);

}  // namespace frazil::cdc
