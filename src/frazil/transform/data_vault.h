// The Data Vault generator: a YAML spec of hubs, links and satellites (a project's
// `data_vault/**/*.yml`) becomes ordinary models, SQL text with Jinja exactly as a user would
// write it in `models/` (DuckDB dialect, each with its own `{{ config(...) }}`). The spec
// format and the semantics (hashing, key normalisation, hashdiff, deletes, end dates, the
// `compat: prototype` mode) are written down in docs/data-vault.md.
//
// The generated SQL uses the runner's `config`, `ref`, `this`, `is_incremental()` and
// `new_rows(relation)` (the rows appended to an upstream table since the model's last commit;
// the whole table on a first run or a full refresh).
#pragma once

#include <string>
#include <vector>

#include "frazil/base/result.h"

namespace frazil::transform {

struct GeneratedModel {
  std::string name;  // the model name (unique in the project)
  std::string path;  // "<spec file>:<line of the entity>", for messages
  std::string sql;   // the model's SQL with Jinja
};

// Generates the models of one spec file, in the spec's order: hubs, links, satellites (each
// satellite followed by its effectivity view, `<satellite>_eff`, unless disabled).
// `file_name` is the spec's path as it appears in messages.
// Errors: InvalidArgument "<file>:<line>: <what>" for malformed YAML, an unknown key, a
// missing or empty required key (name, business keys, sources, payload...), a name that is
// not an identifier, a link or satellite naming an unknown hub or link, a column mapping of
// the wrong length, two entities (or two columns of one entity) with one name, a bad
// setting (hash, normalize, delimiter, compat, effectivity...), or a spec that the
// `compat: prototype` mode cannot express.
Result<std::vector<GeneratedModel>> GenerateDataVault(const std::string& spec_yaml,
                                                      const std::string& file_name);

}  // namespace frazil::transform
