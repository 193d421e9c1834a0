// A dbt-style project on disk: `dbt_project.yml`, models (`models/**/*.sql` with YAML
// properties beside them), sources, macros, seeds, singular data tests, and Data Vault
// specs (`data_vault/**/*.yml`, turned into ordinary models). Loading parses every file and
// the templates, but renders nothing: that is the compiler's job (compiler.h).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/transform/jinja.h"

namespace frazil::transform {

// A model's configuration after merging, in dbt's precedence: the model file's `config()`
// call over its YAML properties over the folder settings of `dbt_project.yml`.
struct NodeConfig {
  std::string materialized = "view";  // view | table | incremental | ephemeral | seed
  std::string schema;                 // the Iceberg namespace; empty = the project's default
  std::string alias;                  // the table name; empty = the model's name
  std::string incremental_strategy;   // append | merge | delete+insert; empty = merge with a key, else append
  std::vector<std::string> unique_key;
  std::optional<std::vector<std::string>> merge_update_columns;
  std::string on_schema_change = "ignore";  // ignore | fail | append_new_columns | sync_all_columns
  std::vector<std::string> tags;
  std::vector<std::string> partition_by;   // Iceberg partition fields, e.g. "day(ts)"
  std::map<std::string, std::string> column_types;  // seeds: column -> DuckDB type
  bool enabled = true;
  bool full_refresh_allowed = true;        // dbt's `full_refresh: false` protects a model
  std::string severity = "error";          // data tests: error | warn

  // Applies one `key: value` setting (a `+key` of dbt_project.yml, a YAML `config:` entry or
  // a `config()` argument). Errors: InvalidArgument for an unknown key or a wrong type;
  // `where` names the file and line.
  Status Set(const std::string& key, const jinja::Value& value, const std::string& where);
};

// A column's documentation and data tests, from YAML properties.
struct ColumnSpec {
  std::string name;
  std::string description;
  std::string data_type;
};

// A generic data test attached to a model, source or column in YAML.
struct DataTestSpec {
  std::string name;         // unique name, e.g. "unique_orders_id"
  std::string kind;         // unique | not_null | accepted_values | relationships | singular
  std::string target;       // the node tested: a model name or "source.<src>.<table>"
  std::string column;       // the column (or expression) tested; empty for singular tests
  std::vector<jinja::Value> values;  // accepted_values
  bool quote = true;                 // accepted_values: quote the values
  std::string to;           // relationships: "ref('x')" / "source('a','b')" as written
  std::string field;        // relationships: the column of `to`
  std::string where;        // optional filter (config: where)
  std::string severity = "error";
  std::string path;         // file and line, for messages
  std::shared_ptr<jinja::Template> sql;  // singular tests
};

enum class NodeKind { kModel, kSeed, kSource };

struct SourceTable {
  std::string source_name;  // the source's name
  std::string name;         // the table's name in source()
  std::string schema;       // the Iceberg namespace
  std::string identifier;   // the Iceberg table name
  std::string description;
  std::vector<ColumnSpec> columns;
  std::string path;
};

struct Model {
  std::string name;
  std::string path;               // relative to the project root ("models/staging/stg_orders.sql")
  std::vector<std::string> fqn;   // folders below the model path, then the name
  std::string description;
  std::vector<ColumnSpec> columns;
  std::shared_ptr<jinja::Template> sql;
  NodeConfig config;              // folder + YAML settings; config() calls are applied at parse
  std::string raw_sql;
  bool generated = false;         // made by the Data Vault generator
};

struct Seed {
  std::string name;
  std::string path;   // relative CSV path
  NodeConfig config;
};

struct Project {
  std::string name;
  std::string root;          // absolute directory
  std::string default_schema;  // the namespace of nodes without `schema` (the project's name)
  std::map<std::string, jinja::Value> vars;
  std::vector<Model> models;
  std::vector<Seed> seeds;
  std::vector<SourceTable> sources;
  std::vector<DataTestSpec> tests;
  std::vector<std::shared_ptr<jinja::Template>> macros;

  const Model* FindModel(const std::string& name) const;
  const Seed* FindSeed(const std::string& name) const;
  const SourceTable* FindSource(const std::string& source, const std::string& table) const;
};

// Loads the project in `dir`. Errors: NotFound without dbt_project.yml; InvalidArgument
// "<file>:<line>: <what>" for malformed YAML, an unknown config key, a template syntax
// error, two nodes with one name.
Result<Project> LoadProject(const std::string& dir);

// YAML text -> jinja::Value (mappings keep their order). Errors: InvalidArgument naming `file`.
Result<jinja::Value> ParseYamlValue(const std::string& text, const std::string& file);

}  // namespace frazil::transform
