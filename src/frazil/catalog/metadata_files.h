// Naming and bookkeeping of metadata files, shared by every Catalog implementation so that
// the SQL catalog, the REST server and any later catalog write the same files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "frazil/catalog/catalog.h"
#include "frazil/iceberg/table_metadata.h"

namespace frazil::catalog {

// The version number NNNNN of `.../NNNNN-<uuid>.metadata.json` (also `vN.metadata.json`
// and `NNNNN-<uuid>.gz.metadata.json`); -1 if the file name carries none.
int64_t ParseMetadataVersion(std::string_view metadata_location);

// `<metadata folder>/<version, 5 digits>-<uuid>.metadata.json`, where the folder is the
// table property write.metadata.path or `<location>/metadata`.
std::string NewMetadataLocation(const iceberg::TableMetadata& metadata, int64_t version);

// Appends {previous_updated_ms, previous_location} to metadata-log and drops the oldest
// entries beyond write.metadata.previous-versions-max (default 100, at least 1).
void AppendMetadataLog(iceberg::TableMetadata* metadata, const std::string& previous_location,
                       int64_t previous_updated_ms);

// `<root>/<ns levels joined by '/'>/<table>-<uuid>`, where root is the namespace location
// if given (then the levels are not repeated) or the warehouse.
std::string DefaultTableLocation(std::string_view warehouse, const TableIdentifier& id,
                                 std::string_view namespace_location);

}  // namespace frazil::catalog
