// The Data Vault generator's SQL: one model per hub, link, satellite and effectivity view
// (docs/data-vault.md, "What each entity becomes").
#include <algorithm>
#include <set>

#include "frazil/transform/data_vault_internal.h"

namespace frazil::transform::dv {

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

namespace {

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

}  // namespace

std::string HubSql(const Settings& settings, const std::string& file, const Hub& h) {
  return SqlWriter(settings, file).HubSql(h);
}
std::string LinkSql(const Settings& settings, const std::string& file, const Link& l) {
  return SqlWriter(settings, file).LinkSql(l);
}
std::string SatelliteSql(const Settings& settings, const std::string& file, const Satellite& s) {
  return SqlWriter(settings, file).SatelliteSql(s);
}
std::string EffectivitySql(const Settings& settings, const std::string& file, const Satellite& s) {
  return SqlWriter(settings, file).EffectivitySql(s);
}

}  // namespace frazil::transform::dv
