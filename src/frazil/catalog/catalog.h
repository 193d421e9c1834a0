// The Catalog interface: where Iceberg tables are named and where a table's current metadata
// file is recorded. Method names follow the REST catalog's operation ids (listNamespaces,
// createNamespace, loadTable, commitTable, ...). Every commit is a compare-and-swap of the
// metadata pointer; see docs/catalog.md for the protocol and the SQL layout.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/iceberg/partition_spec.h"
#include "frazil/iceberg/schema.h"
#include "frazil/iceberg/table_metadata.h"
#include "frazil/iceberg/table_update.h"

namespace frazil::catalog {

// A namespace: one or more levels, outermost first ({"sales", "raw"}).
using Namespace = std::vector<std::string>;
using Properties = std::map<std::string, std::string>;

// Checks one namespace level or table name: non-empty, at most 255 bytes, no '/', no control
// characters, no "..". A namespace level additionally may not contain '.', because the SQL
// layout joins levels with '.'. Returns the name lowercased (identifiers are stored
// lowercase). Errors: InvalidArgument naming the offending name.
Result<std::string> NormalizeName(std::string_view name, bool namespace_level);
// Normalizes every level; an empty namespace is an error.
Result<Namespace> NormalizeNamespace(const Namespace& ns);
// "a.b" (levels joined with '.').
std::string NamespaceToString(const Namespace& ns);

struct TableIdentifier {
  Namespace ns;
  std::string name;

  // "ns1.ns2.table".
  std::string ToString() const;
  // Splits "ns1.ns2.table" on '.': the last part is the table name, the others the
  // namespace (at least one level). Validates and lowercases every part.
  // Errors: InvalidArgument.
  static Result<TableIdentifier> Parse(std::string_view dotted);
  // Validates and lowercases `ns` and `name`. Errors: InvalidArgument.
  static Result<TableIdentifier> Of(const Namespace& ns, std::string_view name);

  bool operator==(const TableIdentifier&) const = default;
  auto operator<=>(const TableIdentifier&) const = default;
};

struct LoadedTable {
  std::string metadata_location;
  iceberg::TableMetadata metadata;
};

// One table's part of a commit (REST CommitTableRequest).
struct TableCommit {
  TableIdentifier id;
  std::vector<iceberg::TableRequirement> requirements;
  std::vector<iceberg::TableUpdate> updates;
};

// Removes the table property "format-version" from `properties` and returns it (default 2),
// as CreateTable and the REST server's staged create read it.
// Errors: InvalidArgument for a version other than 1, 2 or 3.
Result<int> TakeFormatVersion(Properties* properties);

// Table property capping metadata-log (spec default 100).
inline constexpr const char* kPreviousVersionsMaxProperty = "write.metadata.previous-versions-max";
inline constexpr int64_t kPreviousVersionsMaxDefault = 100;
// Table property naming an alternative folder for metadata files.
inline constexpr const char* kMetadataPathProperty = "write.metadata.path";
// Namespace property giving the folder under which its tables are created.
inline constexpr const char* kNamespaceLocationProperty = "location";

// Contract shared by every implementation. All identifiers passed in are normalized
// (validated and lowercased) by the implementation; callers may pass any case.
// Thread-safety: implementations are safe to call from several threads.
// Held by a writer from before it writes its first file (data, delete, manifest, metadata)
// until its commit has ended and, on failure, its files are deleted. Orphan-file removal
// takes the lease exclusively while it lists a table's files and reads what its metadata
// references, so a file of a commit still in flight is never taken for an orphan, whatever
// the safety window (docs/maintenance.md). Released by destruction.
class WriteLease {
 public:
  virtual ~WriteLease() = default;
};

class Catalog {
 public:
  virtual ~Catalog() = default;

  // A shared (writers) or exclusive (orphan removal) lease over the catalog's tables, across
  // threads and processes; blocks until granted. nullptr when the implementation has no
  // shared storage to coordinate on (in-memory). Errors: IOError.
  virtual Result<std::unique_ptr<WriteLease>> AcquireWriteLease(bool exclusive) {
    (void)exclusive;
    return std::unique_ptr<WriteLease>();
  }

  // The catalog's name (the `catalog_name` column of the SQL layout).
  virtual const std::string& name() const = 0;

  // --- Namespaces ---
  // Direct children of `parent` (empty parent = top-level namespaces), sorted.
  // Errors: NoSuchNamespace if `parent` is non-empty and does not exist.
  virtual Result<std::vector<Namespace>> ListNamespaces(const Namespace& parent) = 0;
  // Errors: AlreadyExists; InvalidArgument for a bad name.
  virtual Status CreateNamespace(const Namespace& ns, const Properties& properties) = 0;
  // The namespace's properties. Errors: NoSuchNamespace.
  virtual Result<Properties> LoadNamespaceMetadata(const Namespace& ns) = 0;
  // A namespace exists if it was created or if a table or namespace below it exists.
  virtual Result<bool> NamespaceExists(const Namespace& ns) = 0;
  // Errors: NoSuchNamespace; NamespaceNotEmpty if it holds tables/views or child namespaces.
  virtual Status DropNamespace(const Namespace& ns) = 0;
  // Removes then sets properties. Errors: NoSuchNamespace; InvalidArgument if a key is in
  // both `removals` and `updates`.
  virtual Status UpdateNamespaceProperties(const Namespace& ns,
                                           const std::vector<std::string>& removals,
                                           const Properties& updates) = 0;

  // --- Tables ---
  // Tables directly in `ns`, sorted by name. Errors: NoSuchNamespace.
  virtual Result<std::vector<TableIdentifier>> ListTables(const Namespace& ns) = 0;
  // Creates a table and writes its first metadata file `<loc>/metadata/00000-<uuid>.metadata.json`.
  // `location` defaults to `<warehouse>/<ns levels joined by '/'>/<table>-<uuid>` (or the
  // namespace's "location" property instead of `<warehouse>/<ns...>`). The property
  // "format-version" (default 2) selects the format version and is not stored.
  // Errors: NoSuchNamespace; AlreadyExists (the metadata file written is deleted again).
  virtual Result<LoadedTable> CreateTable(const TableIdentifier& id, const iceberg::Schema& schema,
                                          const iceberg::PartitionSpec& spec,
                                          const iceberg::SortOrder& order,
                                          const std::optional<std::string>& location,
                                          const Properties& properties) = 0;
  // Reads the current metadata file. Errors: NoSuchTable; Corrupt naming the file if it
  // cannot be parsed; NotFound/IOError naming the file if it cannot be read.
  virtual Result<LoadedTable> LoadTable(const TableIdentifier& id) = 0;
  virtual Result<bool> TableExists(const TableIdentifier& id) = 0;
  // The one commit path. Loads the current metadata, checks `requirements`, applies
  // `updates`, appends the previous metadata file to metadata-log (capped by
  // write.metadata.previous-versions-max, default 100), writes
  // `<loc>/metadata/<NNNNN>-<uuid>.metadata.json` (NNNNN = previous version + 1) and swaps the
  // pointer by compare-and-swap. If another writer won the swap, it reloads, re-checks the
  // requirements against the new base and reapplies (bounded retries). An empty update list
  // changes nothing and returns the current table. A commit carrying req::AssertCreate on a
  // missing table creates it (version 00000).
  // Errors: CommitFailed when a requirement does not hold (or retries ran out) -- the table is
  //   unchanged and the metadata file written is deleted; NoSuchTable (no AssertCreate);
  //   NoSuchNamespace (creating); InvalidArgument for an invalid update;
  //   CommitStateUnknown when the swap may or may not have happened -- nothing is deleted.
  virtual Result<LoadedTable> CommitTable(const TableIdentifier& id,
                                          const std::vector<iceberg::TableRequirement>& requirements,
                                          const std::vector<iceberg::TableUpdate>& updates) = 0;
  // Commits several tables atomically: all swaps happen or none do. Same errors as
  // CommitTable; InvalidArgument if a table appears twice. Returns the tables in order.
  virtual Result<std::vector<LoadedTable>> CommitTransaction(const std::vector<TableCommit>& commits) = 0;
  // Removes the table from the catalog. With `purge`, also deletes (best effort, after the
  // catalog entry is gone) every file reachable from its metadata (metadata files, manifest
  // lists, manifests, data and delete files, statistics) and everything under the table
  // location's data/ and metadata/ folders. Errors: NoSuchTable.
  virtual Status DropTable(const TableIdentifier& id, bool purge) = 0;
  // Renames the entry; files do not move. Errors: NoSuchTable; NoSuchNamespace (target);
  // AlreadyExists (target).
  virtual Status RenameTable(const TableIdentifier& from, const TableIdentifier& to) = 0;
  // Adds an entry for an existing metadata file (which must parse).
  // Errors: NoSuchNamespace; AlreadyExists; Corrupt/NotFound/IOError for the file.
  virtual Result<LoadedTable> RegisterTable(const TableIdentifier& id,
                                            const std::string& metadata_location) = 0;
};

}  // namespace frazil::catalog
