// CDC from the configured PostgreSQL source into the warehouse (`frazil run`, `frazil
// status`, `frazil source ...`): configuration -> cdc::Pipeline over this warehouse.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "frazil/app/warehouse.h"
#include "frazil/base/result.h"
#include "frazil/server/http.h"

namespace frazil::app {

// Runs CDC until `stop` is set (Ok after the in-flight commit) or a failure that
// reconnecting cannot fix. Errors: InvalidArgument when source.conninfo is missing, and
// every setup/streaming error of cdc::Pipeline::Run.
// `until`: "" (run until stopped), "now" (the server's WAL position at start) or an LSN:
// stop once everything up to it is committed.
// What `frazil run` adds beside CDC (the orchestrator): a hook after each committed batch,
// more /metrics text, and more routes on the HTTP server of http.listen.
struct CdcExtras {
  std::function<void()> on_commit;
  std::function<std::string()> metrics;
  std::function<Status(server::Router&)> routes;
};
Status RunCdc(Warehouse& w, const std::atomic<bool>& stop, const std::string& until = "", CdcExtras extras = {});

// One row per raw table: table, source, rows, committed LSN, lag (bytes, seconds),
// rows/s over the last minute, state. Reads the catalog, the status file `frazil run`
// writes and, when reachable, the source's slot and WAL position.
struct CdcTableStatus {
  std::string table;
  std::string source;
  int64_t rows = 0;
  std::string committed_lsn;
  int64_t lag_bytes = -1;      // -1 = unknown (source unreachable)
  double lag_seconds = -1;
  double rows_per_second = 0;  // over the last minute of commits
  std::string state;
};
struct CdcStatusReport {
  std::string slot;
  std::string state;          // from the running process's status file, or "not running"
  std::string confirmed_lsn;  // the slot's confirmed_flush_lsn
  std::string server_lsn;     // pg_current_wal_lsn()
  std::string source_error;   // why the source could not be asked, if it could not
  std::vector<CdcTableStatus> tables;
};
Result<CdcStatusReport> CdcStatus(Warehouse& w);

// Drops the replication slot and (if `publication`) the publication frazil uses.
// Errors: NotFound when neither exists; the server's error otherwise.
Result<std::vector<std::string>> DropCdcSource(Warehouse& w, bool publication);

// The path of the status file `frazil run` keeps up to date.
std::string CdcStatusPath(const Warehouse& w);

}  // namespace frazil::app
