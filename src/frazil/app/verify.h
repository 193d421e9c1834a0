// `frazil verify`: a mirror table against its PostgreSQL source table at one point in time
// (docs/mirror.md, "Checking a mirror"): configuration -> cdc::VerifyMirror over this
// warehouse, and the report as text or JSON.
#pragma once

#include <cstdint>
#include <string>

#include "frazil/app/warehouse.h"
#include "frazil/base/result.h"
#include "frazil/cdc/verify.h"

namespace frazil::app {

struct VerifyArgs {
  std::string table;  // mirror.accounts, accounts (in source.mirror_namespace) or public.accounts
  int64_t timeout_s = 60;  // wait for the mirror to reach the source snapshot
  int max_keys = 20;       // differing keys listed
};

// Resolves the mirror and compares it with source.conninfo's table. A report with
// equal=false is not an error. Errors: InvalidArgument when source.conninfo is missing;
// otherwise those of cdc::ResolveMirror and cdc::VerifyMirror.
Result<cdc::VerifyReport> Verify(Warehouse& w, const VerifyArgs& args);

// For a terminal: one line when equal ("mirror.accounts = public.accounts at LSN 0/1A2B3C4:
// 12345 rows, checksum ..."), else both sides, the counts per kind and the keys listed.
std::string VerifyReportText(const cdc::VerifyReport& report);
// One JSON object (fields in docs/cli.md, `frazil verify`), newline-terminated.
std::string VerifyReportJson(const cdc::VerifyReport& report);

}  // namespace frazil::app
