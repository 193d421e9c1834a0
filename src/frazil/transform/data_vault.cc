#include "frazil/transform/data_vault.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string_view>

namespace frazil::transform {
namespace {

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

// ---------------------------------------------------------------------------------------
// SQL text helpers.

// DuckDB's reserved keywords (duckdb_keywords() category 'reserved'): such a column name
// needs quotes.
bool IsReserved(std::string_view name) {
  static const std::set<std::string, std::less<>> kReserved = {
      "all",        "analyse",      "analyze",     "and",        "any",       "array",
      "as",         "asc",          "asymmetric",  "both",       "case",      "cast",
      "check",      "collate",      "column",      "constraint", "create",    "default",
      "deferrable", "desc",         "describe",    "distinct",   "do",        "else",
      "end",        "except",       "false",       "fetch",      "for",       "foreign",
      "from",       "group",        "having",      "in",         "initially", "intersect",
      "into",       "lambda",       "lateral",     "leading",    "limit",     "not",
      "null",       "offset",       "on",          "only",       "or",        "order",
      "pivot",      "pivot_longer", "pivot_wider", "placing",    "primary",   "qualify",
      "references", "returning",    "select",      "show",       "some",      "summarize",
      "symmetric",  "table",        "then",        "to",         "trailing",  "true",
      "union",      "unique",       "unpivot",     "using",      "variadic",  "when",
      "where",      "window",       "with"};
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return kReserved.contains(lower);
}

// A column name in SQL: names are validated identifiers, so only keywords need quotes.
std::string Col(const std::string& name) { return IsReserved(name) ? "\"" + name + "\"" : name; }

// `expr AS name`, or just `name` when the expression is that column.
std::string As(const std::string& expr, const std::string& name) {
  return expr == Col(name) ? expr : expr + " AS " + Col(name);
}

std::string Lit(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

bool IsIdentifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

// A default hash-key column from an entity name: h_users -> users_hk, l_users_accounts ->
// users_accounts_hk, customers -> customers_hk.
std::string DefaultHashKey(const std::string& name,
                           std::initializer_list<std::string_view> prefixes) {
  for (auto p : prefixes) {
    if (name.size() > p.size() && name.starts_with(p)) return name.substr(p.size()) + "_hk";
  }
  return name + "_hk";
}

// ---------------------------------------------------------------------------------------
// Hash expressions (docs/data-vault.md, "Hashing").

class Hasher {
 public:
  explicit Hasher(const Settings& s) : s_(s) {}

  // One key part in canonical text form, normalised: upper(trim(CAST(c AS VARCHAR))).
  std::string Part(const std::string& column) const {
    std::string e = "CAST(" + Col(column) + " AS VARCHAR)";
    if (s_.compat) return e;
    if (s_.trim) e = "trim(" + e + ")";
    if (s_.upper) e = "upper(" + e + ")";
    return e;
  }

  std::string Hash(const std::string& text) const {
    if (s_.compat) return "upper(md5(" + text + "))";
    return s_.hash + "(" + text + ")";
  }

  // The hash of a key made of `columns`. A one-part key hashes its part (NULL when the part
  // is NULL); a composite key joins its parts with the delimiter, a NULL part becoming the
  // placeholder, and is NULL only when every part is (`nullable`; otherwise the caller has
  // filtered such rows out). Compat mode: the parts concatenated without delimiter.
  std::string Key(const std::vector<std::string>& columns, bool nullable) const {
    if (columns.size() == 1) return Hash(Part(columns[0]));
    std::string h = Hash(Joined(columns));
    if (!nullable || s_.compat) return h;
    return "CASE WHEN " + AllNull(columns) + " THEN NULL ELSE " + h + " END";
  }

  // A link's hash key: every component's parts, each coalesced, joined with the delimiter.
  std::string LinkKey(const std::vector<std::string>& columns) const {
    return Hash(Joined(columns));
  }

  // The hashdiff of a satellite record: the JSON array of the payload's canonical texts and
  // the deleted flag (no normalisation: a change of case or blanks is a change; NULL and ''
  // differ; no delimiter can collide).
  std::string Hashdiff(const std::vector<std::string>& payload,
                       const std::string& deleted_expr) const {
    std::vector<std::string> parts;
    for (const auto& c : payload) parts.push_back("CAST(" + Col(c) + " AS VARCHAR)");
    parts.push_back("CAST(" + deleted_expr + " AS VARCHAR)");
    return Hash("to_json([" + Join(parts, ", ") + "])");
  }

  static std::string AllNull(const std::vector<std::string>& columns) {
    std::vector<std::string> t;
    for (const auto& c : columns) t.push_back(Col(c) + " IS NULL");
    return Join(t, " AND ");
  }
  static std::string AnyNotNull(const std::vector<std::string>& columns) {
    std::vector<std::string> t;
    for (const auto& c : columns) t.push_back(Col(c) + " IS NOT NULL");
    return Join(t, " OR ");
  }

 private:
  // The parts of a composite key as one text. Compat: concatenated as they are (a NULL
  // part makes the key NULL, as in the prototype).
  std::string Joined(const std::vector<std::string>& columns) const {
    std::vector<std::string> parts;
    for (const auto& c : columns) {
      parts.push_back(s_.compat ? Part(c)
                                : "coalesce(" + Part(c) + ", " + Lit(s_.null_placeholder) + ")");
    }
    return Join(parts, s_.compat ? " || " : " || " + Lit(s_.delimiter) + " || ");
  }

  const Settings& s_;
};

// ---------------------------------------------------------------------------------------
// Writing the models' SQL (docs/data-vault.md, "What each entity becomes").

// `tmpl` with each ${name} replaced by its value (values are not scanned again).
std::string Fill(std::string_view tmpl, const std::map<std::string, std::string>& vars) {
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    size_t p = tmpl.find("${", i);
    if (p == std::string_view::npos) break;
    size_t e = tmpl.find('}', p);
    out.append(tmpl.substr(i, p - i));
    out += vars.at(std::string(tmpl.substr(p + 2, e - p - 2)));
    i = e + 1;
  }
  out.append(tmpl.substr(std::min(i, tmpl.size())));
  return out;
}

// Lines "<indent><item>,\n" for each item.
std::string Lines(const std::vector<std::string>& items, const std::string& indent) {
  std::string out;
  for (const auto& i : items) out += indent + i + ",\n";
  return out;
}

class SqlWriter {
 public:
  SqlWriter(const Settings& s, const std::string& file) : s_(s), file_(file), hash_(s) {}

  std::string HubSql(const Hub& h) const {
    std::string sql = MergeConfig(h.hash_key) + Header("Hub", h.name, h.line);
    if (s_.compat) {
      const HubSource& src = h.sources[0];
      return sql +
             Fill(kCompatHub, {{"hk", hash_.Key(src.columns, true) + " AS " + Col(h.hash_key)},
                               {"keys", Lines(Renamed(src.columns, h.business_keys), "    ")},
                               {"metadata", CompatMetadata()},
                               {"source", NewRows(src.model)},
                               {"group_by", GroupBy(h.business_keys.size() + 4)}});
    }
    std::vector<std::string> staged;
    for (size_t i = 0; i < h.sources.size(); ++i) {
      const HubSource& src = h.sources[i];
      std::vector<std::string> cols = {hash_.Key(src.columns, false) + " AS " + Col(h.hash_key)};
      for (const auto& c : Renamed(src.columns, h.business_keys)) cols.push_back(c);
      staged.push_back(Staged(cols, src.record_source,
                              h.sources.size() > 1 ? static_cast<int>(i) : -1, src.model,
                              Hasher::AnyNotNull(src.columns)));
    }
    std::vector<std::string> carried = {h.hash_key};
    carried.insert(carried.end(), h.business_keys.begin(), h.business_keys.end());
    return sql + "WITH staged AS (\n" + Join(staged, "\n    UNION ALL\n\n") + "),\n" +
           FirstSeen(h.hash_key, carried, h.business_keys, RecordSources(h));
  }

  std::string LinkSql(const Link& l) const {
    std::string sql = MergeConfig(l.hash_key) + Header("Link", l.name, l.line);
    std::vector<std::string> all;  // every reference's source columns, in order
    std::vector<std::string> keys;
    for (const auto& r : l.hubs) {
      all.insert(all.end(), r.columns.begin(), r.columns.end());
      keys.push_back(hash_.Key(r.columns, true) + " AS " + Col(r.hash_key));
    }
    keys.insert(keys.begin(), hash_.LinkKey(all) + " AS " + Col(l.hash_key));
    if (s_.compat) {
      return sql + Fill(kCompatLink, {{"keys", Lines(keys, "    ")},
                                      {"metadata", CompatMetadata()},
                                      {"source", NewRows(l.source)},
                                      {"group_by", GroupBy(l.hubs.size() + 4)}});
    }
    std::vector<std::string> carried = {l.hash_key};
    for (const auto& r : l.hubs) carried.push_back(r.hash_key);
    // The link key fixes every component: no tie-break on them.
    return sql + "WITH staged AS (\n" +
           Staged(keys, l.record_source, -1, l.source, Hasher::AnyNotNull(all)) + "),\n" +
           FirstSeen(l.hash_key, carried, {}, {l.record_source});
  }

  std::string SatelliteSql(const Satellite& sat) const {
    std::string hk = Col(sat.hash_key);
    // A hub's key with every part NULL names nothing; a link's key needs one present part.
    std::string key = sat.parent_link ? hash_.LinkKey(sat.keys) : hash_.Key(sat.keys, false);
    std::vector<std::string> payload;
    for (const auto& c : sat.payload) payload.push_back(Col(c));
    std::string sql =
        Fill(kAppendConfig, {{"schema", Lit(s_.schema)}}) + Header("Satellite", sat.name, sat.line);
    if (s_.compat) {
      return sql + Fill(kCompatSatellite,
                        {{"key", key},
                         {"hk", hk},
                         {"payload", Lines(payload, "    ")},
                         {"deleted", As(Col(s_.columns.deleted), "__deleted_flag")},
                         {"valid_from", As(Col(s_.columns.valid_from), "__valid_from_dttm")},
                         {"connector", Col(s_.columns.connector)},
                         {"details", Details()},
                         {"lsn", Col(s_.columns.lsn)},
                         {"source", NewRows(sat.source)}});
    }
    std::vector<std::string> selected;
    for (const auto& c : payload) selected.push_back("s." + c);
    return sql +
           Fill(kSatellite, {{"key", key},
                             {"hk", hk},
                             {"payload", Lines(payload, "        ")},
                             {"deleted", Deleted()},
                             {"hashdiff", hash_.Hashdiff(sat.payload, Deleted())},
                             {"valid_from", As(Col(s_.columns.valid_from), "__valid_from_dttm")},
                             {"record_source", Lit(sat.record_source)},
                             {"details", Details()},
                             {"lsn", Col(s_.columns.lsn)},
                             {"source", NewRows(sat.source)},
                             {"present", Hasher::AnyNotNull(sat.keys)},
                             {"selected", Lines(selected, "    ")}});
  }

  std::string EffectivitySql(const Satellite& sat) const {
    // Records of one key in source order; compat satellites have no hashdiff to break ties.
    std::string tie = s_.compat ? "__valid_from_dttm" : "__hashdiff";
    return Fill(kEffectivity,
                {{"materialized", Lit(sat.effectivity)},
                 {"schema", Lit(s_.schema)},
                 {"header", Header("End-dated records of satellite", sat.name, sat.line)},
                 {"hk", Col(sat.hash_key)},
                 {"tie", tie},
                 {"satellite", Lit(sat.name)}});
  }

 private:
  static constexpr std::string_view kMergeConfig = R"({{
    config(
        materialized='incremental',
        schema=${schema},
        unique_key=${key},
        incremental_strategy='merge'${update}
    )
}}
)";

  static constexpr std::string_view kAppendConfig =
      "{{ config(materialized='incremental', schema=${schema}, incremental_strategy='append') }}\n";

  // One source's rows of a hub or link, with the metadata FirstSeen ranks by.
  static constexpr std::string_view kStaged = R"(    SELECT
${columns}        ${load_dttm} AS __load_dttm,
        ${record_source} AS __record_source,
        ${details} AS __record_source_details,
${source_order}        ${lsn}
    FROM ${source}
    WHERE ${present}
)";

  // One row per hash key: its first sighting (by load timestamp, then LSN, then the order
  // of the sources in the spec, then the key's text: deterministic) and the greatest LSN
  // seen, never lowered by a lagging source. On an incremental run the stored row competes
  // with the new ones, so a source that catches up later with an earlier sighting (its
  // model ran after the others) still wins, exactly as a full refresh would decide.
  static constexpr std::string_view kFirstSeen = R"(ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY ${hk} ORDER BY ${order}) AS __first,
        max(__source_lsn) OVER (PARTITION BY ${hk}) AS __last_lsn
    FROM (
        SELECT * FROM staged
{% if is_incremental() %}
        UNION ALL BY NAME
        SELECT
${stored}            t.__load_dttm,
            t.__record_source,
            t.__record_source_details,
${stored_order}            t.__record_first_source_lsn AS __source_lsn
        FROM {{ this }} AS t
        WHERE t.${hk} IN (SELECT ${hk} FROM staged)
{% endif %}
    )
)
SELECT
${carried}    r.__load_dttm,
{% if is_incremental() %}
    coalesce(t.__inserted_at, current_timestamp) AS __inserted_at,
{% else %}
    current_timestamp AS __inserted_at,
{% endif %}
    r.__record_source,
    r.__record_source_details,
    r.__source_lsn AS __record_first_source_lsn,
{% if is_incremental() %}
    greatest(r.__last_lsn, t.__record_last_source_lsn) AS __record_last_source_lsn
FROM ranked AS r
LEFT JOIN {{ this }} AS t ON t.${hk} = r.${hk}
{% else %}
    r.__last_lsn AS __record_last_source_lsn
FROM ranked AS r
{% endif %}
WHERE r.__first = 1
)";

  // Each new row is compared with the one before it of the same key, in source order: the
  // latest stored record for a key's first new row, the preceding new row otherwise.
  static constexpr std::string_view kSatellite = R"(WITH staged AS (
    SELECT
        ${key} AS ${hk},
${payload}        ${deleted} AS __deleted_flag,
        ${hashdiff} AS __hashdiff,
        ${valid_from},
        ${record_source} AS __record_source,
        ${details} AS __record_source_details,
        ${lsn} AS __record_source_lsn
    FROM ${source}
    WHERE ${present}
),
sequenced AS (
    SELECT
        *,
        lag(__hashdiff) OVER w AS __previous_hashdiff,
        row_number() OVER w AS __position
    FROM staged
    WINDOW w AS (PARTITION BY ${hk} ORDER BY __record_source_lsn, __hashdiff)
)
{% if is_incremental() %},
latest AS (
    SELECT ${hk}, __hashdiff
    FROM {{ this }}
    WHERE ${hk} IN (SELECT ${hk} FROM staged)
    QUALIFY row_number() OVER (PARTITION BY ${hk} ORDER BY __record_source_lsn DESC, __hashdiff DESC) = 1
)
{% endif %}
SELECT
    s.${hk},
${selected}    s.__deleted_flag,
    s.__hashdiff,
    s.__valid_from_dttm,
    current_timestamp AS __inserted_at,
    s.__record_source,
    s.__record_source_details,
    s.__record_source_lsn
FROM sequenced AS s
{% if is_incremental() %}
LEFT JOIN latest AS l ON l.${hk} = s.${hk}
WHERE s.__hashdiff IS DISTINCT FROM (CASE WHEN s.__position = 1 THEN l.__hashdiff ELSE s.__previous_hashdiff END)
{% else %}
WHERE s.__hashdiff IS DISTINCT FROM s.__previous_hashdiff
{% endif %}
)";

  // __valid_to: the next record's start (NULL for the latest); __is_current: the latest
  // record of its key, not a delete.
  static constexpr std::string_view kEffectivity =
      R"({{ config(materialized=${materialized}, schema=${schema}) }}
${header}SELECT
    *,
    lead(__valid_from_dttm) OVER (PARTITION BY ${hk} ORDER BY __record_source_lsn, ${tie}) AS __valid_to,
    row_number() OVER (PARTITION BY ${hk} ORDER BY __record_source_lsn DESC, ${tie} DESC) = 1 AND NOT __deleted_flag AS __is_current
FROM {{ ref(${satellite}) }}
)";

  // The prototype's macros hub, link and satellite.
  static constexpr std::string_view kCompatHub = R"(SELECT
    ${hk},
${keys}${metadata}FROM ${source}
GROUP BY ${group_by}
)";
  static constexpr std::string_view kCompatLink = R"(SELECT DISTINCT
${keys}${metadata}FROM ${source}
GROUP BY ${group_by}
)";
  static constexpr std::string_view kCompatMetadata = R"(    current_timestamp AS __inserted_at,
    ${connector} AS __record_source,
    ${details} AS __record_source_details,
    max(${lsn}) AS __record_last_source_lsn
)";
  static constexpr std::string_view kCompatSatellite = R"(SELECT
    ${key} AS ${hk},
${payload}    ${deleted},
    ${valid_from},
    current_timestamp AS __inserted_at,
    ${connector} AS __record_source,
    ${details} AS __record_source_details,
    ${lsn} AS __record_source_lsn
FROM ${source}
)";

  std::string At(int line) const { return file_ + ":" + std::to_string(line); }

  std::string Header(const std::string& kind, const std::string& name, int line) const {
    return "-- " + kind + " " + name + ", generated by frazil from " + At(line) +
           (s_.compat ? " (compat: prototype)" : "") + ". Edit the spec, not this SQL.\n";
  }

  // Compat: the prototype's merge, updating only the LSN. Improved: the model computes the
  // whole row (the earlier sighting wins, __inserted_at kept), so every column is merged.
  std::string MergeConfig(const std::string& key) const {
    return Fill(kMergeConfig, {{"schema", Lit(s_.schema)},
                               {"key", Lit(key)},
                               {"update", s_.compat ? ",\n        merge_update_columns=['__record_last_source_lsn']" : ""}});
  }

  static std::vector<std::string> RecordSources(const Hub& h) {
    std::vector<std::string> out;
    for (const auto& src : h.sources) out.push_back(src.record_source);
    return out;
  }

  static std::string NewRows(const std::string& model) {
    return "{{ new_rows(ref(" + Lit(model) + ")) }}";
  }

  // "column AS name" for each pair (just "column" when the names agree).
  static std::vector<std::string> Renamed(const std::vector<std::string>& columns,
                                          const std::vector<std::string>& names) {
    std::vector<std::string> out;
    for (size_t i = 0; i < columns.size(); ++i) out.push_back(As(Col(columns[i]), names[i]));
    return out;
  }

  static std::string GroupBy(size_t n) {
    std::vector<std::string> v;
    for (size_t i = 1; i <= n; ++i) v.push_back(std::to_string(i));
    return Join(v, ", ");
  }

  std::string Details() const {
    return s_.columns.details.empty() ? "CAST(NULL AS VARCHAR)" : Col(s_.columns.details);
  }
  std::string LoadTimestamp() const {
    if (s_.load_timestamp.empty()) return Col(s_.columns.valid_from);
    return s_.load_timestamp == "current_timestamp" ? "current_timestamp" : Col(s_.load_timestamp);
  }
  std::string Deleted() const { return "coalesce(" + Col(s_.columns.deleted) + ", false)"; }

  std::string CompatMetadata() const {
    return Fill(kCompatMetadata, {{"connector", Col(s_.columns.connector)},
                                  {"details", Details()},
                                  {"lsn", Col(s_.columns.lsn)}});
  }

  // `source_order`: the source's position among several (-1: the only source).
  std::string Staged(const std::vector<std::string>& columns, const std::string& record_source,
                     int source_order, const std::string& model, const std::string& present) const {
    return Fill(kStaged,
                {{"columns", Lines(columns, "        ")},
                 {"load_dttm", LoadTimestamp()},
                 {"record_source", Lit(record_source)},
                 {"details", Details()},
                 {"source_order", source_order < 0 ? ""
                                                   : "        " + std::to_string(source_order) +
                                                         " AS __source_order,\n"},
                 {"lsn", As(Col(s_.columns.lsn), "__source_lsn")},
                 {"source", NewRows(model)},
                 {"present", present}});
  }

  // `record_sources`: each source's record source text, in spec order (to rank a stored
  // row's sighting among the sources when there are several).
  std::string FirstSeen(const std::string& hk, const std::vector<std::string>& carried,
                        const std::vector<std::string>& tie_break,
                        const std::vector<std::string>& record_sources) const {
    const bool source_order = record_sources.size() > 1;
    std::string order = "__load_dttm, __source_lsn";
    if (source_order) order += ", __source_order";
    for (const auto& t : tie_break) order += ", CAST(" + Col(t) + " AS VARCHAR)";
    std::vector<std::string> selected, stored;
    for (const auto& c : carried) {
      selected.push_back("r." + Col(c));
      stored.push_back("t." + Col(c));
    }
    std::string stored_order;
    if (source_order) {
      stored_order = "            CASE t.__record_source";
      for (size_t i = 0; i < record_sources.size(); ++i) {
        stored_order += " WHEN " + Lit(record_sources[i]) + " THEN " + std::to_string(i);
      }
      stored_order += " END AS __source_order,\n";
    }
    return Fill(kFirstSeen, {{"hk", Col(hk)},
                             {"order", order},
                             {"carried", Lines(selected, "    ")},
                             {"stored", Lines(stored, "            ")},
                             {"stored_order", stored_order}});
  }

  const Settings& s_;
  const std::string& file_;
  Hasher hash_;
};

// ---------------------------------------------------------------------------------------
// Reading the spec.

class SpecReader {
 public:
  explicit SpecReader(std::string file) : file_(std::move(file)) {}

  Result<std::vector<GeneratedModel>> Run(const std::string& yaml) {
    YAML::Node loaded;
    try {
      loaded = YAML::Load(yaml);
    } catch (const YAML::Exception& e) {
      return MakeError(ErrorKind::kInvalidArgument,
                       file_ + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    const YAML::Node& doc = loaded;  // const: lookups never add keys
    if (!doc || doc.IsNull()) return std::vector<GeneratedModel>{};
    if (!doc.IsMap())
      return Fail(doc, "a Data Vault spec is a mapping with settings, hubs, links, satellites");
    FRZ_RETURN_IF_ERROR(
        CheckKeys(doc, {"version", "settings", "hubs", "links", "satellites"}, "the spec"));
    if (doc["version"]) {
      if (!doc["version"].IsScalar() || doc["version"].Scalar() != "1")
        return Fail(doc["version"], "version must be 1");
    }
    FRZ_RETURN_IF_ERROR(ReadSettings(doc["settings"]));
    FRZ_RETURN_IF_ERROR(
        ForEach(doc["hubs"], "hubs", [&](const YAML::Node& n) { return ReadHub(n); }));
    FRZ_RETURN_IF_ERROR(
        ForEach(doc["links"], "links", [&](const YAML::Node& n) { return ReadLink(n); }));
    FRZ_RETURN_IF_ERROR(ForEach(doc["satellites"], "satellites",
                                [&](const YAML::Node& n) { return ReadSatellite(n); }));
    return Generate();
  }

 private:
  // ---- small readers; every error is "<file>:<line>: <what>".

  std::string At(const YAML::Node& n) const {
    return file_ + ":" + std::to_string(n.Mark().line + 1);
  }
  std::string At(int line) const { return file_ + ":" + std::to_string(line); }
  std::unexpected<Error> Fail(const YAML::Node& n, const std::string& what) const {
    return MakeError(ErrorKind::kInvalidArgument, At(n) + ": " + what);
  }
  std::unexpected<Error> Fail(int line, const std::string& what) const {
    return MakeError(ErrorKind::kInvalidArgument, At(line) + ": " + what);
  }

  Status CheckKeys(const YAML::Node& map, std::initializer_list<std::string_view> allowed,
                   const std::string& where) {
    for (const auto& kv : map) {
      const std::string& key = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::vector<std::string> names(allowed.begin(), allowed.end());
        return Fail(kv.first, "unknown key '" + key + "' in " + where + " (expected " +
                                  Join(names, ", ") + ")");
      }
    }
    return Ok();
  }

  template <typename F>
  Status ForEach(const YAML::Node& list, const std::string& what, F&& f) {
    if (!list || list.IsNull()) return Ok();
    if (!list.IsSequence()) return Fail(list, what + " must be a list");
    for (const auto& n : list) {
      if (!n.IsMap()) return Fail(n, "an entry of " + what + " must be a mapping");
      FRZ_RETURN_IF_ERROR(f(n));
    }
    return Ok();
  }

  Result<std::string> String(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) return Fail(n, what + " must be a string");
    return n.Scalar();
  }

  Result<std::string> Name(const YAML::Node& n, const std::string& what) {
    FRZ_ASSIGN_OR_RETURN(std::string s, String(n, what));
    if (!IsIdentifier(s))
      return Fail(n, what + " '" + s +
                         "' is not a name (letters, digits and _, not starting with a digit)");
    return s;
  }

  // A column of a generated model: an identifier outside the `__` names, which are the
  // generator's (metadata such as __hashdiff, and the helper columns of its queries).
  Result<std::string> Column(const YAML::Node& n, const std::string& what) {
    FRZ_ASSIGN_OR_RETURN(std::string s, Name(n, what));
    if (s.starts_with("__"))
      return Fail(n, what + " '" + s + "': names starting with __ are the generator's");
    return s;
  }

  Result<std::string> Required(const YAML::Node& map, const char* key, const std::string& entity) {
    if (!map[key] || map[key].IsNull()) return Fail(map, entity + " needs '" + key + "'");
    return Name(map[key], std::string(key));
  }

  Result<bool> Bool(const YAML::Node& n, const std::string& what) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "true" || s == "True" || s == "TRUE" || s == "yes") return true;
      if (s == "false" || s == "False" || s == "FALSE" || s == "no") return false;
    }
    return Fail(n, what + " must be true or false");
  }

  // A literal that lands in SQL text: it must not open a Jinja tag.
  Result<std::string> Literal(const YAML::Node& n, const std::string& what) {
    if (n.IsNull()) return std::string();
    FRZ_ASSIGN_OR_RETURN(std::string s, String(n, what));
    for (const char* open : {"{{", "{%", "{#"}) {
      if (s.find(open) != std::string::npos)
        return Fail(n, what + " must not contain '" + open + "' (it is Jinja)");
    }
    return s;
  }

  // A list of names (one name alone is a list of one); empty lists are refused.
  Result<std::vector<std::string>> Names(const YAML::Node& n, const std::string& what,
                                         bool columns) {
    std::vector<YAML::Node> items;
    if (n.IsScalar()) {
      items.push_back(n);
    } else if (n.IsSequence()) {
      for (const auto& e : n) items.push_back(e);
    } else {
      return Fail(n, what + " must be a name or a list of names");
    }
    if (items.empty()) return Fail(n, what + " is empty");
    std::vector<std::string> out;
    for (const auto& e : items) {
      std::string s;
      if (columns) {
        FRZ_ASSIGN_OR_RETURN(s, Column(e, what));
      } else {
        FRZ_ASSIGN_OR_RETURN(s, Name(e, what));
      }
      if (std::find(out.begin(), out.end(), s) != out.end())
        return Fail(e, what + " names '" + s + "' twice");
      out.push_back(s);
    }
    return out;
  }

  // The source columns for `keys`: a list in key order, a mapping key -> column, or (absent)
  // the key names themselves when `default_same` is set.
  Result<std::vector<std::string>> KeyColumns(const YAML::Node& map, const char* key,
                                              const std::vector<std::string>& keys,
                                              const std::string& whose, bool default_same) {
    const YAML::Node n = map[key];
    if (!n || n.IsNull()) {
      if (default_same) return keys;
      return Fail(map, "'" + std::string(key) + "' is required for " + whose);
    }
    std::vector<std::string> out;
    if (n.IsMap()) {
      std::map<std::string, std::string> by_key;
      for (const auto& kv : n) {
        FRZ_ASSIGN_OR_RETURN(std::string k, Name(kv.first, "business key"));
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
          return Fail(kv.first, "'" + k + "' is not a business key of " + whose + " (" +
                                    Join(keys, ", ") + ")");
        }
        FRZ_ASSIGN_OR_RETURN(by_key[k], Name(kv.second, "source column"));
      }
      for (const auto& k : keys) {
        if (!by_key.contains(k))
          return Fail(n, "no source column for business key '" + k + "' of " + whose);
        out.push_back(by_key[k]);
      }
      return out;
    }
    std::vector<YAML::Node> items;
    if (n.IsScalar()) {
      items.push_back(n);
    } else if (n.IsSequence()) {
      for (const auto& e : n) items.push_back(e);
    } else {
      return Fail(n, std::string(key) + " must be a list of source columns or a mapping");
    }
    for (const auto& e : items) {
      FRZ_ASSIGN_OR_RETURN(std::string c, Name(e, "source column"));
      out.push_back(c);
    }
    if (out.size() != keys.size()) {
      return Fail(n, std::to_string(out.size()) + " source column(s) for the " +
                         std::to_string(keys.size()) + " business key(s) of " + whose + " (" +
                         Join(keys, ", ") + ")");
    }
    return out;
  }

  Status ClaimName(const std::string& name, int line) {
    auto [it, fresh] = names_.emplace(name, line);
    if (!fresh)
      return Fail(line, "duplicate name '" + name + "' (first defined at line " +
                            std::to_string(it->second) + ")");
    return Ok();
  }

  Status CompatRefuses(const YAML::Node& map, const char* key, const std::string& why) {
    if (settings_.compat && map[key])
      return Fail(map[key], "compat: prototype " + why + "; remove '" + key + "'");
    return Ok();
  }

  // ---- settings

  Status ReadSettings(const YAML::Node& n) {
    if (!n || n.IsNull()) return Ok();
    if (!n.IsMap()) return Fail(n, "settings must be a mapping");
    FRZ_RETURN_IF_ERROR(
        CheckKeys(n,
                  {"schema", "compat", "hash", "normalize", "delimiter", "null_placeholder",
                   "record_source", "load_timestamp", "source_columns", "effectivity"},
                  "settings"));
    if (n["compat"] && !n["compat"].IsNull()) {
      FRZ_ASSIGN_OR_RETURN(std::string c, String(n["compat"], "compat"));
      if (c == "prototype") {
        settings_.compat = true;
        settings_.effectivity = "none";
      } else if (c != "none") {
        return Fail(n["compat"], "compat must be 'prototype' or 'none', not '" + c + "'");
      }
    }
    const std::string fixed = "fixes the hashing (hex md5 of the raw text, upper case)";
    for (const char* key : {"normalize", "delimiter", "null_placeholder"})
      FRZ_RETURN_IF_ERROR(CompatRefuses(n, key, fixed));
    FRZ_RETURN_IF_ERROR(CompatRefuses(
        n, "record_source", "takes the record source from the source's connector column"));
    FRZ_RETURN_IF_ERROR(
        CompatRefuses(n, "load_timestamp", "loads current_timestamp as __inserted_at only"));
    if (n["schema"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.schema, Name(n["schema"], "schema"));
    }
    if (n["hash"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.hash, String(n["hash"], "hash"));
      if (settings_.hash != "md5" && settings_.hash != "sha1" && settings_.hash != "sha256") {
        return Fail(n["hash"], "hash must be md5, sha1 or sha256, not '" + settings_.hash + "'");
      }
      if (settings_.compat && settings_.hash != "md5")
        return Fail(n["hash"], "compat: prototype " + fixed + "; remove 'hash'");
    }
    if (const YAML::Node norm = n["normalize"]) {
      if (!norm.IsMap())
        return Fail(norm, "normalize must be a mapping {trim: true|false, upper: true|false}");
      FRZ_RETURN_IF_ERROR(CheckKeys(norm, {"trim", "upper"}, "normalize"));
      if (norm["trim"]) {
        FRZ_ASSIGN_OR_RETURN(settings_.trim, Bool(norm["trim"], "normalize.trim"));
      }
      if (norm["upper"]) {
        FRZ_ASSIGN_OR_RETURN(settings_.upper, Bool(norm["upper"], "normalize.upper"));
      }
    }
    if (n["delimiter"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.delimiter, Literal(n["delimiter"], "delimiter"));
      if (settings_.delimiter.empty())
        return Fail(n["delimiter"],
                    "delimiter must not be empty (keys would collide: 'ab'||'c' = 'a'||'bc')");
    }
    if (n["null_placeholder"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.null_placeholder,
                           Literal(n["null_placeholder"], "null_placeholder"));
      if (settings_.null_placeholder.find(settings_.delimiter) != std::string::npos) {
        return Fail(n["null_placeholder"], "null_placeholder must not contain the delimiter '" +
                                               settings_.delimiter + "'");
      }
    }
    if (n["record_source"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.record_source, Literal(n["record_source"], "record_source"));
    }
    if (n["load_timestamp"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.load_timestamp, Name(n["load_timestamp"], "load_timestamp"));
    }
    if (const YAML::Node sc = n["source_columns"]) {
      if (!sc.IsMap()) return Fail(sc, "source_columns must be a mapping");
      FRZ_RETURN_IF_ERROR(CheckKeys(sc, {"lsn", "deleted", "valid_from", "details", "connector"},
                                    "source_columns"));
      SourceColumns& c = settings_.columns;
      if (sc["lsn"]) {
        FRZ_ASSIGN_OR_RETURN(c.lsn, Name(sc["lsn"], "source_columns.lsn"));
      }
      if (sc["deleted"]) {
        FRZ_ASSIGN_OR_RETURN(c.deleted, Name(sc["deleted"], "source_columns.deleted"));
      }
      if (sc["valid_from"]) {
        FRZ_ASSIGN_OR_RETURN(c.valid_from, Name(sc["valid_from"], "source_columns.valid_from"));
      }
      if (sc["details"]) {
        if (sc["details"].IsNull()) {
          c.details.clear();
        } else {
          FRZ_ASSIGN_OR_RETURN(c.details, Name(sc["details"], "source_columns.details"));
        }
      }
      if (sc["connector"]) {
        FRZ_ASSIGN_OR_RETURN(c.connector, Name(sc["connector"], "source_columns.connector"));
      }
    }
    if (n["effectivity"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.effectivity, Effectivity(n["effectivity"]));
    }
    return Ok();
  }

  Result<std::string> Effectivity(const YAML::Node& n) {
    if (n.IsScalar() && (n.Scalar() == "false" || n.Scalar() == "none")) return std::string("none");
    if (n.IsScalar() && (n.Scalar() == "view" || n.Scalar() == "table")) return n.Scalar();
    return Fail(n, "effectivity must be view, table or none");
  }

  // An entity's record source: its own, the settings', or the model's name.
  Result<std::string> RecordSource(const YAML::Node& n, const std::string& model) {
    if (n["record_source"]) return Literal(n["record_source"], "record_source");
    return settings_.record_source.value_or(model);
  }

  // ---- hubs, links, satellites

  Status ReadHub(const YAML::Node& n) {
    FRZ_RETURN_IF_ERROR(
        CheckKeys(n, {"name", "hash_key", "business_keys", "sources", "description"}, "a hub"));
    Hub h;
    h.line = n.Mark().line + 1;
    FRZ_ASSIGN_OR_RETURN(h.name, Required(n, "name", "a hub"));
    std::string whose = "hub '" + h.name + "'";
    h.hash_key = DefaultHashKey(h.name, {"hub_", "h_"});
    if (n["hash_key"]) {
      FRZ_ASSIGN_OR_RETURN(h.hash_key, Column(n["hash_key"], "hash_key"));
    }
    if (!n["business_keys"] || n["business_keys"].IsNull())
      return Fail(n, whose + " needs 'business_keys'");
    FRZ_ASSIGN_OR_RETURN(h.business_keys, Names(n["business_keys"], "business_keys", true));
    if (std::find(h.business_keys.begin(), h.business_keys.end(), h.hash_key) !=
        h.business_keys.end()) {
      return Fail(n["business_keys"],
                  whose + ": business key '" + h.hash_key + "' is also the hash key's name");
    }
    const YAML::Node sources = n["sources"];
    if (!sources || sources.IsNull()) return Fail(n, whose + " needs 'sources'");
    if (!sources.IsSequence() || sources.size() == 0)
      return Fail(sources, whose + ": sources must be a non-empty list");
    for (const auto& s : sources) {
      if (!s.IsMap())
        return Fail(s, "a hub source must be a mapping {model, columns, record_source}");
      FRZ_RETURN_IF_ERROR(CheckKeys(s, {"model", "columns", "record_source"}, "a hub source"));
      HubSource src;
      src.line = s.Mark().line + 1;
      FRZ_ASSIGN_OR_RETURN(src.model, Required(s, "model", "a source of " + whose));
      FRZ_ASSIGN_OR_RETURN(src.columns, KeyColumns(s, "columns", h.business_keys, whose, true));
      FRZ_RETURN_IF_ERROR(CompatRefuses(
          s, "record_source", "takes the record source from the source's connector column"));
      FRZ_ASSIGN_OR_RETURN(src.record_source, RecordSource(s, src.model));
      h.sources.push_back(std::move(src));
    }
    if (settings_.compat && h.sources.size() > 1) {
      return Fail(sources, "compat: prototype: " + whose + " has " +
                               std::to_string(h.sources.size()) +
                               " sources; the prototype's hubs read one model");
    }
    FRZ_RETURN_IF_ERROR(ClaimName(h.name, h.line));
    hubs_.push_back(std::move(h));
    return Ok();
  }

  const Hub* FindHub(const std::string& name) const {
    for (const auto& h : hubs_) {
      if (h.name == name) return &h;
    }
    return nullptr;
  }
  const Link* FindLink(const std::string& name) const {
    for (const auto& l : links_) {
      if (l.name == name) return &l;
    }
    return nullptr;
  }

  Status ReadLink(const YAML::Node& n) {
    FRZ_RETURN_IF_ERROR(CheckKeys(
        n, {"name", "hash_key", "source", "hubs", "record_source", "description"}, "a link"));
    Link l;
    l.line = n.Mark().line + 1;
    FRZ_ASSIGN_OR_RETURN(l.name, Required(n, "name", "a link"));
    std::string whose = "link '" + l.name + "'";
    l.hash_key = DefaultHashKey(l.name, {"link_", "l_"});
    if (n["hash_key"]) {
      FRZ_ASSIGN_OR_RETURN(l.hash_key, Column(n["hash_key"], "hash_key"));
    }
    FRZ_ASSIGN_OR_RETURN(l.source, Required(n, "source", whose));
    FRZ_RETURN_IF_ERROR(CompatRefuses(
        n, "record_source", "takes the record source from the source's connector column"));
    FRZ_ASSIGN_OR_RETURN(l.record_source, RecordSource(n, l.source));
    const YAML::Node refs = n["hubs"];
    if (!refs || refs.IsNull()) return Fail(n, whose + " needs 'hubs'");
    if (!refs.IsSequence() || refs.size() < 2)
      return Fail(refs, whose + ": hubs must list at least two hub references");
    std::set<std::string> columns = {l.hash_key};
    for (const auto& r : refs) {
      if (!r.IsMap())
        return Fail(r, "a link's hub reference must be a mapping {hub, columns, hash_key}");
      FRZ_RETURN_IF_ERROR(CheckKeys(r, {"hub", "columns", "hash_key"}, "a link's hub reference"));
      HubRef ref;
      FRZ_ASSIGN_OR_RETURN(std::string hub_name, Required(r, "hub", "a hub reference of " + whose));
      ref.hub = FindHub(hub_name);
      if (!ref.hub)
        return Fail(r["hub"], whose + " names unknown hub '" + hub_name +
                                  "' (hubs are declared in the same file)");
      FRZ_ASSIGN_OR_RETURN(ref.columns, KeyColumns(r, "columns", ref.hub->business_keys,
                                                   "hub '" + hub_name + "'", false));
      ref.hash_key = ref.hub->hash_key;
      if (r["hash_key"]) {
        FRZ_ASSIGN_OR_RETURN(ref.hash_key, Column(r["hash_key"], "hash_key"));
      }
      if (!columns.insert(ref.hash_key).second) {
        return Fail(r, whose + ": column '" + ref.hash_key +
                           "' appears twice; give this reference its own 'hash_key'");
      }
      l.hubs.push_back(std::move(ref));
    }
    FRZ_RETURN_IF_ERROR(ClaimName(l.name, l.line));
    links_.push_back(std::move(l));
    return Ok();
  }

  Status ReadSatellite(const YAML::Node& n) {
    FRZ_RETURN_IF_ERROR(CheckKeys(n,
                                  {"name", "parent", "source", "keys", "payload", "record_source",
                                   "effectivity", "description"},
                                  "a satellite"));
    Satellite s;
    s.line = n.Mark().line + 1;
    FRZ_ASSIGN_OR_RETURN(s.name, Required(n, "name", "a satellite"));
    std::string whose = "satellite '" + s.name + "'";
    FRZ_ASSIGN_OR_RETURN(std::string parent, Required(n, "parent", whose));
    s.parent_hub = FindHub(parent);
    s.parent_link = s.parent_hub ? nullptr : FindLink(parent);
    if (!s.parent_hub && !s.parent_link) {
      return Fail(n["parent"], whose + " names unknown parent '" + parent +
                                   "' (a hub or link declared in the same file)");
    }
    FRZ_ASSIGN_OR_RETURN(s.source, Required(n, "source", whose));
    // The parent's key in the source: given, or taken from the parent's own mapping for
    // the same model.
    std::vector<std::string> key_names;
    std::vector<std::vector<std::string>> known;
    if (s.parent_hub) {
      s.hash_key = s.parent_hub->hash_key;
      key_names = s.parent_hub->business_keys;
      for (const auto& src : s.parent_hub->sources) {
        if (src.model == s.source) known.push_back(src.columns);
      }
    } else {
      s.hash_key = s.parent_link->hash_key;
      std::vector<std::string> flat;
      for (const auto& r : s.parent_link->hubs) {
        for (const auto& c : r.columns) flat.push_back(c);
        for (const auto& k : r.hub->business_keys) key_names.push_back(r.hub->name + "." + k);
      }
      if (s.parent_link->source == s.source) known.push_back(flat);
    }
    if (n["keys"] && !n["keys"].IsNull()) {
      if (s.parent_link && n["keys"].IsMap()) {
        return Fail(n["keys"], whose + ": the keys of a link's satellite are a list");
      }
      FRZ_ASSIGN_OR_RETURN(s.keys, KeyColumns(n, "keys", key_names, "'" + parent + "'", false));
    } else if (known.size() == 1) {
      s.keys = known[0];
    } else if (known.empty()) {
      return Fail(n, whose + " reads '" + s.source + "', which '" + parent +
                         "' does not read: list the source columns of its key in 'keys'");
    } else {
      return Fail(n, whose + ": '" + parent + "' reads '" + s.source + "' through " +
                         std::to_string(known.size()) +
                         " sources: choose the key columns with 'keys'");
    }
    if (!n["payload"] || n["payload"].IsNull()) return Fail(n, whose + " needs 'payload'");
    FRZ_ASSIGN_OR_RETURN(s.payload, Names(n["payload"], "payload", true));
    if (std::find(s.payload.begin(), s.payload.end(), s.hash_key) != s.payload.end()) {
      return Fail(n["payload"],
                  whose + ": payload column '" + s.hash_key + "' is the hash key's name");
    }
    FRZ_RETURN_IF_ERROR(CompatRefuses(
        n, "record_source", "takes the record source from the source's connector column"));
    FRZ_ASSIGN_OR_RETURN(s.record_source, RecordSource(n, s.source));
    s.effectivity = settings_.effectivity;
    if (n["effectivity"]) {
      FRZ_ASSIGN_OR_RETURN(s.effectivity, Effectivity(n["effectivity"]));
    }
    FRZ_RETURN_IF_ERROR(ClaimName(s.name, s.line));
    if (s.effectivity != "none") FRZ_RETURN_IF_ERROR(ClaimName(s.name + "_eff", s.line));
    satellites_.push_back(std::move(s));
    return Ok();
  }

  Result<std::vector<GeneratedModel>> Generate() const {
    SqlWriter w(settings_, file_);
    std::vector<GeneratedModel> out;
    for (const auto& h : hubs_) out.push_back({h.name, At(h.line), w.HubSql(h)});
    for (const auto& l : links_) out.push_back({l.name, At(l.line), w.LinkSql(l)});
    for (const auto& s : satellites_) {
      out.push_back({s.name, At(s.line), w.SatelliteSql(s)});
      if (s.effectivity != "none") {
        out.push_back({s.name + "_eff", At(s.line), w.EffectivitySql(s)});
      }
    }
    return out;
  }

  std::string file_;
  Settings settings_;
  // Links point into hubs_ and satellites into hubs_ and links_: every hub is read before any
  // link, every link before any satellite, so the vectors no longer grow by then.
  std::vector<Hub> hubs_;
  std::vector<Link> links_;
  std::vector<Satellite> satellites_;
  std::map<std::string, int> names_;  // entity name -> line
};

}  // namespace

Result<std::vector<GeneratedModel>> GenerateDataVault(const std::string& spec_yaml,
                                                      const std::string& file_name) {
  try {
    SpecReader reader(file_name);
    return reader.Run(spec_yaml);
  } catch (const YAML::Exception& e) {
    return MakeError(ErrorKind::kInvalidArgument,
                     file_name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

}  // namespace frazil::transform
