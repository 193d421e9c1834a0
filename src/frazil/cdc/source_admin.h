// Setting up and inspecting the PostgreSQL side of CDC over a normal (SQL) connection:
// server checks, the publication, the replication slot and the published tables' columns.
// Every failure says what is wrong and what the user can do about it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/cdc/lsn.h"
#include "frazil/cdc/pg_types.h"

namespace frazil::cdc {

// A column of a published table as pg_attribute describes it.
struct SourceColumn {
  int attnum = 0;
  std::string name;
  PgType type;           // resolved (domains, arrays, enums...)
  bool is_key = false;   // part of the replica identity (primary key by default)
  bool not_null = false;
  // The value rows that existed when the column was added read for it (PostgreSQL's
  // attmissingval, in frazil's text form): set for columns added with a constant default.
  std::optional<std::string> missing_value;
};

struct SourceTable {
  uint32_t oid = 0;
  std::string schema;
  std::string name;
  char replica_identity = 'd';  // d default (primary key), i index, f full, n nothing
  std::vector<SourceColumn> columns;
  // The primary key's columns (in key order; empty if none). Mirrors locate rows by it even
  // under REPLICA IDENTITY FULL, where every column is flagged as identity.
  std::vector<std::string> primary_key;
  std::string QualifiedName() const { return schema + "." + name; }
};

struct SlotInfo {
  std::string name;
  std::string plugin;
  std::string database;
  bool temporary = false;
  bool active = false;
  std::optional<Lsn> confirmed_flush;
  std::optional<Lsn> restart;
  std::string wal_status;  // reserved, extended, unreserved, lost
};

// Checks that the server can do logical replication for this user: PostgreSQL >= 14,
// wal_level = logical, the role has REPLICATION (or is superuser).
// Errors: InvalidArgument with the fix (e.g. "set wal_level = logical ... and restart").
Status CheckSource(PgConnection& conn);

// Creates the publication when missing: FOR TABLE `tables` ("schema.table" or "table" for
// public), or FOR ALL TABLES when `tables` is empty. Returns true if it created it. An
// existing publication is left as the user defined it.
// Errors: InvalidArgument (e.g. a listed table does not exist, permission denied).
Result<bool> EnsurePublication(PgConnection& conn, const std::string& publication,
                               const std::vector<std::string>& tables);
Result<bool> PublicationExists(PgConnection& conn, const std::string& publication);

// The tables the publication covers, with their columns and replica identity columns,
// types resolved. Errors: NotFound if the publication does not exist.
Result<std::vector<SourceTable>> ListPublishedTables(PgConnection& conn, const std::string& publication);

// Sets the columns' missing_value from the catalog (columns added with a constant default).
Status FillMissingValues(PgConnection& conn, SourceTable& table);

// The primary key columns of table `oid`, in key order (empty if it has none).
Result<std::vector<std::string>> PrimaryKeyColumns(PgConnection& conn, uint32_t oid);

// Resolves the PgType facts (domains, arrays, enums...) of `oids` in one query.
Result<std::vector<PgType>> ResolveTypes(PgConnection& conn, const std::vector<std::pair<uint32_t, int32_t>>& types);

// The slot, or nullopt if it does not exist. Errors: InvalidArgument when the slot
// exists but is not a pgoutput slot of this database (it belongs to something else).
Result<std::optional<SlotInfo>> GetSlot(PgConnection& conn, const std::string& slot);

struct CreatedSlot {
  Lsn consistent_point = 0;
  std::string snapshot_name;  // empty unless exported
};
// CREATE_REPLICATION_SLOT on a replication connection. With `export_snapshot` the
// snapshot stays importable until `replication_conn` runs another command or closes.
Result<CreatedSlot> CreateSlot(PgConnection& replication_conn, const std::string& slot, bool temporary,
                               bool export_snapshot);

Status DropSlot(PgConnection& conn, const std::string& slot);
Status DropPublication(PgConnection& conn, const std::string& publication);
Result<Lsn> CurrentWalLsn(PgConnection& conn);

}  // namespace frazil::cdc
