#include "frazil/app/sql_session.h"

#include <filesystem>
#include <regex>
#include <set>

#include "frazil/app/model_store.h"
#include "frazil/app/scan_filter.h"
#include "frazil/app/table_ops.h"
#include "frazil/base/random.h"

namespace frazil::app {
namespace {

std::string RegexEscape(const std::string& s) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(s, special, R"(\$&)");
}

// Keywords that may follow a table reference without an alias in between.
bool IsClauseKeyword(std::string word) {
  for (auto& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::set<std::string> kw = {"WHERE", "JOIN", "LEFT", "RIGHT", "INNER", "FULL", "CROSS", "ON", "USING",
                                           "GROUP", "ORDER", "LIMIT", "UNION", "EXCEPT", "INTERSECT", "HAVING",
                                           "WINDOW", "QUALIFY", "OFFSET", "NATURAL", "POSITIONAL", "ASOF", "ANTI", "SEMI",
                                           "TO"};
  return kw.count(word) > 0;
}

Result<int64_t> EvalTimestampMillis(engine::Connection& con, const std::string& expr) {
  FRZ_ASSIGN_OR_RETURN(auto r, con.Query("SELECT epoch_ms(CAST((" + expr + ") AS TIMESTAMPTZ))"));
  auto rows = r.FetchAll();
  if (rows.empty() || !rows[0][0]) return MakeError(ErrorKind::kInvalidArgument, "time travel timestamp '" + expr + "' is null");
  return std::stoll(*rows[0][0]);
}

// The connection's own in-memory catalog (attached and made its default on first use), so
// the views of one connection, with that statement's pruning baked in, never replace
// another connection's. Views of two-level namespaces (catalog.schema.table) still live in
// a shared catalog named after the first level.
Result<std::string> SessionCatalog(engine::Connection& con) {
  FRZ_ASSIGN_OR_RETURN(auto current, con.Query("SELECT current_setting('search_path'), current_database()"));
  auto path = current.GetString(0, 0);
  if (path && path->starts_with("frazil_session_")) return path->substr(0, path->find('.'));
  std::string fresh = "frazil_session_" + NewUuid().substr(0, 8);
  // Searched first for `ns.table`; the connection's default catalog stays where it was, so
  // the user's own tables resolve as before.
  std::string home = current.GetString(1, 0).value_or("memory");
  FRZ_RETURN_IF_ERROR(con.Execute("ATTACH ':memory:' AS " + engine::QuoteIdentifier(fresh) + "; SET search_path = " +
                                  engine::QuoteLiteral(fresh + ".main," + home + ".main")));
  return fresh;
}

// Replaces each reference to a view model (`ns.view`, docs/models.md) by its definition as
// a subquery, repeatedly, so views over views work. The catalog's tables are handled after.
Result<std::string> ExpandViews(Warehouse& w, const std::string& sql) {
  std::string path = ModelStore::PathIn(w.local_root());
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return sql;
  FRZ_ASSIGN_OR_RETURN(auto store, ModelStore::Open(path));
  FRZ_ASSIGN_OR_RETURN(auto views, store->ListViews());
  if (views.empty()) return sql;
  std::string out = sql;
  for (int depth = 0;; ++depth) {
    bool changed = false;
    for (const auto& v : views) {
      std::string ns_text = catalog::NamespaceToString(v.id.ns);
      std::regex re("(^|[^A-Za-z0-9_.\"])\"?" + RegexEscape(ns_text) + "\"?\\s*\\.\\s*\"?" + RegexEscape(v.id.name) +
                        "\"?(?![A-Za-z0-9_])",
                    std::regex::icase);
      std::string rewritten;
      std::smatch m;
      auto begin = out.cbegin();
      while (std::regex_search(begin, out.cend(), m, re)) {
        rewritten.append(begin, m[0].first);
        rewritten += m[1].str() + "(\n" + v.sql + "\n)";
        auto rest = m[0].second;
        while (rest != out.cend() && std::isspace(static_cast<unsigned char>(*rest))) ++rest;
        std::string next_word;
        for (auto it = rest; it != out.cend() && (std::isalnum(static_cast<unsigned char>(*it)) || *it == '_'); ++it) next_word += *it;
        if (next_word.empty() || IsClauseKeyword(next_word)) rewritten += " AS " + engine::QuoteIdentifier(v.id.name);
        begin = m[0].second;
        changed = true;
      }
      rewritten.append(begin, out.cend());
      out = std::move(rewritten);
    }
    if (!changed) return out;
    if (depth >= 32) return MakeError(ErrorKind::kInvalidArgument, "views nest more than 32 deep (a view refers to itself?)");
  }
}

}  // namespace

Result<std::string> PrepareSql(Warehouse& w, engine::Connection& con, const std::string& sql) {
  FRZ_ASSIGN_OR_RETURN(std::string out, ExpandViews(w, sql));
  const bool views_expanded = out != sql;
  // Times with zone render in UTC unless the statement says otherwise: the same output on
  // every machine.
  FRZ_RETURN_IF_ERROR(con.Execute("SET TimeZone = 'UTC'"));
  FRZ_ASSIGN_OR_RETURN(auto namespaces, ListAllNamespaces(w.catalog()));
  for (const auto& ns : namespaces) {
    FRZ_ASSIGN_OR_RETURN(auto tables, w.catalog().ListTables(ns));
    for (const auto& id : tables) {
      std::string ns_text = catalog::NamespaceToString(id.ns);
      std::string pattern = "(^|[^A-Za-z0-9_.\"])\"?" + RegexEscape(ns_text) + "\"?\\s*\\.\\s*\"?" + RegexEscape(id.name) +
                            "\"?(?![A-Za-z0-9_])" +
                            R"((\s+AT\s*\(\s*(VERSION|TIMESTAMP)\s*=>\s*((?:[^()]|\([^()]*\))+)\))?)";
      std::regex re(pattern, std::regex::icase);
      std::smatch m;
      bool plain_used = false;
      std::string rewritten;
      auto begin = out.cbegin();
      while (std::regex_search(begin, out.cend(), m, re)) {
        rewritten.append(begin, m[0].first);
        rewritten += m[1].str();
        if (m[2].matched) {
          FRZ_ASSIGN_OR_RETURN(auto table, w.catalog().LoadTable(id));
          iceberg::ScanOptions opts;
          std::string kind = m[3].str();
          for (auto& c : kind) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          if (kind == "VERSION") {
            std::string v = m[4].str();
            while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
            if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') {
              opts.ref = v.substr(1, v.size() - 2);  // a tag or branch name
            } else {
              try {
                size_t used = 0;
                opts.snapshot_id = std::stoll(v, &used);
                if (used != v.size()) throw std::invalid_argument(v);
              } catch (...) {
                return MakeError(ErrorKind::kInvalidArgument,
                                 "AT (VERSION => " + v + "): expected a snapshot id or a quoted tag/branch name");
              }
            }
          } else {
            FRZ_ASSIGN_OR_RETURN(opts.as_of_ms, EvalTimestampMillis(con, m[4].str()));
          }
          auto scan = TableScanSql(w, table, opts);
          if (!scan) return MakeError(scan.error().kind, id.ToString() + ": " + scan.error().message);
          rewritten += "(" + *scan + ")";
          // Give the subquery the table's name unless the query aliases it.
          auto rest = m[0].second;
          while (rest != out.cend() && std::isspace(static_cast<unsigned char>(*rest))) ++rest;
          std::string next_word;
          for (auto it = rest; it != out.cend() && (std::isalnum(static_cast<unsigned char>(*it)) || *it == '_'); ++it) next_word += *it;
          if (next_word.empty() || IsClauseKeyword(next_word)) {
            rewritten += " AS " + engine::QuoteIdentifier(id.name);
          }
        } else {
          rewritten += m[0].str().substr(m[1].length());
          plain_used = true;
        }
        begin = m[0].second;
      }
      rewritten.append(begin, out.cend());
      out = std::move(rewritten);
      if (plain_used) {
        FRZ_ASSIGN_OR_RETURN(auto table, w.catalog().LoadTable(id));
        iceberg::ScanOptions opts;
        // Pruning reads the user's predicates; with views expanded they may not be this
        // table's, so no pruning then.
        const auto* schema = table.metadata.current_schema();
        if (schema != nullptr && !views_expanded) opts.filter = ExtractFilter(con, sql, id, *schema);
        auto scan = TableScanSql(w, table, opts);
        if (!scan) return MakeError(scan.error().kind, id.ToString() + ": " + scan.error().message);
        // DuckDB names are [catalog.]schema.table: a one-level namespace is a schema of the
        // default catalog; a two-level one an in-memory catalog with a schema.
        std::string schema_sql;
        if (id.ns.size() == 1) {
          FRZ_ASSIGN_OR_RETURN(std::string session, SessionCatalog(con));
          schema_sql = engine::QuoteIdentifier(session) + "." + engine::QuoteIdentifier(id.ns[0]);
        } else if (id.ns.size() == 2) {
          auto attached = con.Query("SELECT 1 FROM duckdb_databases() WHERE database_name = " + engine::QuoteLiteral(id.ns[0]));
          if (!attached) return std::unexpected(attached.error());
          if (attached->row_count() == 0) {
            FRZ_RETURN_IF_ERROR(con.Execute("ATTACH ':memory:' AS " + engine::QuoteIdentifier(id.ns[0])));
          }
          schema_sql = engine::QuoteIdentifier(id.ns[0]) + "." + engine::QuoteIdentifier(id.ns[1]);
        } else {
          return MakeError(ErrorKind::kUnsupported, "table " + id.ToString() +
                                                        ": SQL can address namespaces of at most two levels (DuckDB names are catalog.schema.table)");
        }
        FRZ_RETURN_IF_ERROR(con.Execute("CREATE SCHEMA IF NOT EXISTS " + schema_sql));
        FRZ_RETURN_IF_ERROR(con.Execute("CREATE OR REPLACE VIEW " + schema_sql + "." + engine::QuoteIdentifier(id.name) +
                                        " AS " + *scan));
      }
    }
  }
  return out;
}

Result<std::vector<catalog::Namespace>> ListAllNamespaces(catalog::Catalog& catalog) {
  std::vector<catalog::Namespace> out;
  std::vector<catalog::Namespace> stack{{}};
  while (!stack.empty()) {
    catalog::Namespace parent = std::move(stack.back());
    stack.pop_back();
    FRZ_ASSIGN_OR_RETURN(auto children, catalog.ListNamespaces(parent));
    for (auto it = children.rbegin(); it != children.rend(); ++it) stack.push_back(*it);
    if (!parent.empty()) out.push_back(std::move(parent));
  }
  return out;
}

Result<engine::QueryResult> RunSql(Warehouse& w, engine::Connection& con, const std::string& sql) {
  FRZ_ASSIGN_OR_RETURN(std::string prepared, PrepareSql(w, con, sql));
  return con.Query(prepared);
}

}  // namespace frazil::app
