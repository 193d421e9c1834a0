// The Data Vault generator's internals, shared by the spec reader (data_vault.cc) and the
// SQL writer (data_vault_sql.cc). Not a public interface.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace frazil::transform::dv {

// ---------------------------------------------------------------------------------------
// The spec, as read from YAML (docs/data-vault.md).

// Columns every source model provides (the parsed layer's contract).
struct SourceColumns {
  std::string lsn = "__source_lsn";
  std::string deleted = "__deleted_flag";
  std::string valid_from = "__valid_from_dttm";
  std::string details = "__source_details";      // empty: NULL
  std::string connector = "__source_connector";  // compat mode's record source
};

struct Settings {
  std::string schema = "data_vault";
  bool compat = false;  // compat: prototype
  std::string hash = "md5";
  bool trim = true;
  bool upper = true;
  std::string delimiter = "||";
  std::string null_placeholder;
  std::optional<std::string> record_source;
  std::string load_timestamp;  // a source column or current_timestamp; empty: columns.valid_from
  SourceColumns columns;
  std::string effectivity = "view";  // view | table | none
};

struct HubSource {
  std::string model;
  std::vector<std::string> columns;  // source columns, in business-key order
  std::string record_source;
  int line = 0;
};

struct Hub {
  std::string name;
  std::string hash_key;
  std::vector<std::string> business_keys;
  std::vector<HubSource> sources;
  int line = 0;
};

struct HubRef {
  const Hub* hub = nullptr;
  std::vector<std::string> columns;  // source columns for the hub's business keys
  std::string hash_key;              // the column of the link holding the hub's hash key
};

struct Link {
  std::string name;
  std::string hash_key;
  std::string source;
  std::string record_source;
  std::vector<HubRef> hubs;
  int line = 0;
};

struct Satellite {
  std::string name;
  const Hub* parent_hub = nullptr;
  const Link* parent_link = nullptr;
  std::string hash_key;  // the parent's
  std::string source;
  // The source columns of the parent's key (a link's: every reference's, in order).
  std::vector<std::string> keys;
  std::vector<std::string> payload;
  std::string record_source;
  std::string effectivity;
  int line = 0;
};


// SQL text helpers (data_vault_sql.cc).
bool IsIdentifier(std::string_view s);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
// A default hash-key column from an entity name: h_users -> users_hk.
std::string DefaultHashKey(const std::string& name, std::initializer_list<std::string_view> prefixes);

// The model SQL of each entity; `file` names the spec in the generated header comment.
std::string HubSql(const Settings& settings, const std::string& file, const Hub& h);
std::string LinkSql(const Settings& settings, const std::string& file, const Link& l);
std::string SatelliteSql(const Settings& settings, const std::string& file, const Satellite& s);
std::string EffectivitySql(const Settings& settings, const std::string& file, const Satellite& s);

}  // namespace frazil::transform::dv
