// The generated Data Vault models run in DuckDB by a miniature runner with dbt's semantics:
// first loads, incremental batches, deletes, re-inserts, compat mode against the
// prototype's models, hash values.
#include "frazil/transform/data_vault.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "frazil/engine/duckdb.h"
#include "frazil/transform/jinja.h"

namespace frazil::transform {
namespace {

// ---------------------------------------------------------------------------------------
// Running the generated models in DuckDB: a miniature model runner with dbt's semantics
// for what the generator and the bank models use, rendering with frazil's Jinja engine.

using Rows = std::vector<std::vector<std::optional<std::string>>>;

struct ModelConfig {
  std::string materialized = "view";
  std::string schema;
  std::string alias;
  std::string strategy;
  std::vector<std::string> unique_key;
  std::vector<std::string> merge_update_columns;
};

class MiniWarehouse {
 public:
  MiniWarehouse() {
    auto db = engine::Database::Open({.threads = 2});
    EXPECT_TRUE(db) << db.error().ToString();
    db_.emplace(std::move(*db));
    auto con = engine::Connection::Open(*db_);
    EXPECT_TRUE(con) << con.error().ToString();
    con_.emplace(std::move(*con));
    Exec("SET TimeZone = 'UTC'");
  }

  void Exec(const std::string& sql) {
    auto s = con_->Execute(sql);
    ASSERT_TRUE(s) << s.error().ToString() << "\n" << sql;
  }
  Rows Query(const std::string& sql) {
    auto r = con_->Query(sql);
    EXPECT_TRUE(r) << r.error().ToString() << "\n" << sql;
    return r ? r->FetchAll() : Rows{};
  }
  int64_t Count(const std::string& table, const std::string& where = "true") {
    auto rows = Query("SELECT count(*) FROM " + table + " WHERE " + where);
    return rows.empty() ? -1 : std::stoll(*rows[0][0]);
  }

  // Runs a model: renders it (a first pass learns its config, as the runner's parse pass
  // does), then materialises it as the config says. new_rows(rel) is the part of `rel`
  // appended since this model's previous run (tables only grow by appends here, so rowid
  // order is append order).
  void Run(const std::string& name, const std::string& sql, const std::string& default_schema,
           bool full_refresh = false) {
    SCOPED_TRACE("model " + name);
    auto parsed = jinja::Template::Parse(sql, name);
    ASSERT_TRUE(parsed) << parsed.error().ToString();
    ModelConfig config;
    std::map<std::string, int64_t> pinned;
    bool incremental = false;
    std::string target;
    auto render = [&](bool parse_pass) -> std::string {
      jinja::Environment env;
      using jinja::CallArgs;
      using jinja::Value;
      env.SetGlobal("config", Value::Callable("config", [&](const CallArgs& args) -> Result<Value> {
                      for (const auto& [key, v] : args.kwargs) {
                        std::vector<std::string> items;
                        if (v.kind() == Value::Kind::kList) {
                          for (const auto& i : v.AsList()) items.push_back(i.AsString());
                        } else {
                          items.push_back(v.AsString());
                        }
                        if (key == "materialized") config.materialized = items.at(0);
                        if (key == "schema") config.schema = items.at(0);
                        if (key == "alias") config.alias = items.at(0);
                        if (key == "incremental_strategy") config.strategy = items.at(0);
                        if (key == "unique_key") config.unique_key = items;
                        if (key == "merge_update_columns") config.merge_update_columns = items;
                      }
                      return Value(std::string());
                    }));
      env.SetGlobal("ref", Value::Callable("ref", [&](const CallArgs& args) -> Result<Value> {
                      const std::string& model = args.positional.at(0).AsString();
                      auto it = tables_.find(model);
                      if (parse_pass || it == tables_.end()) return Value(model);  // a plain table
                      return Value(it->second);
                    }));
      env.SetGlobal("source", Value::Callable("source", [&](const CallArgs& args) -> Result<Value> {
                      std::string source = args.positional.at(0).AsString();
                      return Value((source == "raw" ? std::string("raw_data") : source) + "." +
                                   args.positional.at(1).AsString());
                    }));
      env.SetGlobal(
          "new_rows", Value::Callable("new_rows", [&](const CallArgs& args) -> Result<Value> {
            std::string rel = args.positional.at(0).AsString();
            if (parse_pass) return Value(rel);
            int64_t now = Count(rel);
            pinned[rel] = now;
            int64_t from = incremental ? consumed_[name][rel] : 0;
            return Value("(SELECT * FROM " + rel + " WHERE rowid >= " + std::to_string(from) +
                         " AND rowid < " + std::to_string(now) + ")");
          }));
      env.SetGlobal("is_incremental",
                    Value::Callable("is_incremental", [&](const CallArgs&) -> Result<Value> {
                      return Value(!parse_pass && incremental);
                    }));
      env.SetGlobal("this", Value(parse_pass ? name : target));
      auto r = env.Render(*parsed);
      EXPECT_TRUE(r) << r.error().ToString();
      return r ? *r : "";
    };
    render(true);
    std::string schema = config.schema.empty() ? default_schema : config.schema;
    target = schema + "." + (config.alias.empty() ? name : config.alias);
    bool exists = built_.contains(target);
    incremental = config.materialized == "incremental" && exists && !full_refresh;
    std::string rendered = render(false);
    ASSERT_FALSE(rendered.empty());
    Exec("CREATE SCHEMA IF NOT EXISTS " + schema);
    if (config.materialized == "view") {
      Exec("CREATE OR REPLACE VIEW " + target + " AS " + rendered);
    } else if (!incremental) {
      Exec("CREATE OR REPLACE TABLE " + target + " AS " + rendered);
    } else if (config.strategy == "merge" ||
               (config.strategy.empty() && !config.unique_key.empty())) {
      Exec("CREATE OR REPLACE TEMP TABLE batch AS " + rendered);
      std::string key = config.unique_key.at(0);
      // A merge source with one key twice is ambiguous: the generated SQL must never do it.
      EXPECT_EQ(Count("batch",
                      key + " IN (SELECT " + key + " FROM batch GROUP BY 1 HAVING count(*) > 1)"),
                0)
          << "duplicate keys in the merge source";
      // Without merge_update_columns a matched row takes every column of the batch.
      std::vector<std::string> update = config.merge_update_columns;
      if (update.empty()) {
        for (const auto& row : Query("SELECT column_name FROM (DESCRIBE batch)")) update.push_back(*row[0]);
      }
      std::string set;
      for (const auto& c : update) set += (set.empty() ? "" : ", ") + c + " = b." + c;
      Exec("UPDATE " + target + " AS t SET " + set + " FROM batch AS b WHERE t." + key + " = b." +
           key);
      Exec("INSERT INTO " + target + " BY NAME SELECT * FROM batch WHERE " + key +
           " NOT IN (SELECT " + key + " FROM " + target + ")");
    } else {
      Exec("INSERT INTO " + target + " BY NAME SELECT * FROM (" + rendered + ")");
    }
    tables_[name] = target;
    built_.insert(target);
    for (const auto& [rel, n] : pinned) consumed_[name][rel] = n;
  }

  void RunAll(const std::vector<GeneratedModel>& models, bool full_refresh = false) {
    for (const auto& m : models) Run(m.name, m.sql, "main", full_refresh);
  }

  std::string Table(const std::string& model) { return tables_.at(model); }

 private:
  std::optional<engine::Database> db_;
  std::optional<engine::Connection> con_;
  std::set<std::string> built_;
  std::map<std::string, std::string> tables_;  // model -> schema.table
  std::map<std::string, std::map<std::string, int64_t>> consumed_;
};

std::string Uuid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return buf;
}
std::string Q(const std::string& s) { return engine::QuoteLiteral(s); }
std::string Ts(int lsn) {
  return "TIMESTAMPTZ '2024-01-01 00:00:00+00' + INTERVAL " + std::to_string(lsn) + " SECOND";
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::filesystem::path kBank =
    std::filesystem::path(FRAZIL_TEST_RESOURCES) / "../../examples/bank/models";

// A change of the bank's source tables as frazil's raw changelog tables hold it.
class BankRaw {
 public:
  explicit BankRaw(MiniWarehouse& w) : w_(w) {
    w_.Exec(
        "CREATE SCHEMA raw_data;"
        "CREATE TABLE raw_data.users (id UUID, email VARCHAR, name VARCHAR, created_at DATE, _op "
        "VARCHAR, _lsn BIGINT,"
        "  _commit_lsn BIGINT, _txid BIGINT, _commit_ts TIMESTAMPTZ, _seq BIGINT,"
        "  _old STRUCT(id UUID, email VARCHAR, name VARCHAR, created_at DATE));"
        "CREATE TABLE raw_data.accounts (id UUID, user_id UUID, currency VARCHAR, balance "
        "DECIMAL(15,2), created_at DATE,"
        "  _op VARCHAR, _lsn BIGINT, _commit_lsn BIGINT, _txid BIGINT, _commit_ts TIMESTAMPTZ, "
        "_seq BIGINT,"
        "  _old STRUCT(id UUID, user_id UUID, currency VARCHAR, balance DECIMAL(15,2), created_at "
        "DATE));"
        "CREATE TABLE raw_data.transfers (id BIGINT, from_account UUID, to_account UUID, amount "
        "DECIMAL(15,2),"
        "  booked_at TIMESTAMPTZ, note VARCHAR, _op VARCHAR, _lsn BIGINT, _commit_lsn BIGINT, "
        "_txid BIGINT,"
        "  _commit_ts TIMESTAMPTZ, _seq BIGINT, _old STRUCT(id BIGINT));");
  }
  // Initial-copy rows share the snapshot's LSN; the commit LSN/time is the change's here.
  void User(const char* op, int lsn, int id, const std::string& email, const std::string& name) {
    Add("users",
        Q(Uuid(id)) + ", " + Q(email) + ", " + Q(name) + ", DATE '2023-12-0" + std::to_string(id) +
            "'",
        op, lsn);
  }
  void Account(const char* op, int lsn, int id, int user, const std::string& currency,
               const std::string& balance) {
    Add("accounts",
        Q(Uuid(100 + id)) + ", " + Q(Uuid(user)) + ", " + Q(currency) + ", " + balance +
            ", DATE '2023-12-01'",
        op, lsn);
  }
  void Transfer(const char* op, int lsn, int id, int from, int to, const std::string& amount,
                const std::string& note) {
    auto acc = [](int a) { return a ? Q(Uuid(100 + a)) : std::string("NULL"); };
    Add("transfers",
        std::to_string(id) + ", " + acc(from) + ", " + acc(to) + ", " + amount + ", " + Ts(lsn) +
            ", " + Q(note),
        op, lsn);
  }
  void Truncate(const std::string& table, int lsn, int columns) {
    std::string nulls;
    for (int i = 0; i < columns; ++i) nulls += "NULL, ";
    w_.Exec("INSERT INTO raw_data." + table + " VALUES (" + nulls + "'t', " + std::to_string(lsn) +
            ", " + std::to_string(lsn) + ", 7, " + Ts(lsn) + ", 0, NULL)");
  }

 private:
  void Add(const std::string& table, const std::string& values, const char* op, int lsn) {
    std::string l = std::to_string(lsn);
    w_.Exec("INSERT INTO raw_data." + table + " VALUES (" + values + ", '" + op + "', " + l + ", " +
            l + ", " + (std::string(op) == "r" ? "NULL" : "1000") + ", " + Ts(lsn) + ", 0, NULL)");
  }
  MiniWarehouse& w_;
};

std::vector<std::pair<std::string, std::string>> BankModels(const std::string& folder) {
  std::vector<std::pair<std::string, std::string>> out;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(kBank / "models" / folder)) {
    if (e.path().extension() == ".sql") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) out.emplace_back(f.stem().string(), ReadFile(f));
  // The prototype's DAG: parsed first, then hubs, links, satellites (names sort that way
  // once "parsed" is put first).
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return (a.first.find("parsed") != std::string::npos) >
           (b.first.find("parsed") != std::string::npos);
  });
  return out;
}

// The bank project end to end: raw changelog -> parsed (frazil's and the prototype's) ->
// the Data Vault generated from examples/bank/models/data_vault/bank.yml and the
// prototype's hand-written one, over three batches of changes.
class DataVaultBankTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dv = GenerateDataVault(ReadFile(kBank / "data_vault/bank.yml"), "data_vault/bank.yml");
    ASSERT_TRUE(dv) << dv.error().ToString();
    vault_ = *dv;
  }

  void RunEverything(bool full_refresh = false) {
    for (const auto& [name, sql] : BankModels("parsed"))
      w_.Run(name, sql, "parsed_data", full_refresh);
    w_.RunAll(vault_, full_refresh);
    for (const auto& [name, sql] : BankModels("prototype"))
      w_.Run(name, sql, "data_vault_prototype", full_refresh);
  }

  // Batch 1: the initial copy (one LSN). Batch 2 and 3: the stream.
  void Batch1() {
    raw_.User("r", 100, 1, "a@x", "Ann");
    raw_.User("r", 100, 2, "b@x", "Bob");
    raw_.User("r", 100, 3, "c@x", "Cy");
    raw_.Account("r", 100, 1, 1, "EUR", "10.00");
    raw_.Account("r", 100, 2, 2, "USD", "5.00");
    raw_.Transfer("r", 100, 1, 0, 1, "10.00", "opening");
    raw_.Transfer("r", 100, 2, 0, 2, "5.00", "opening");
  }
  void Batch2() {
    raw_.User("u", 200, 1, "a@x", "Anna");  // a change
    raw_.Account("u", 205, 1, 1, "EUR", "12.50");
    raw_.Transfer("c", 206, 3, 0, 1, "2.50", "deposit");
    raw_.User("u", 210, 2, "b@x", "Bob");   // an update that changes nothing
    raw_.User("d", 220, 3, "c@x", "Cy");    // a delete (the old row)
    raw_.User("u", 230, 1, "a@x", "Anna");  // unchanged against the row before it
    raw_.User("u", 240, 1, "a@x", "Ann");   // changed back
    raw_.User("c", 250, 4, "d@x", "Dee");
    raw_.Account("c", 251, 3, 4, "GBP", "0.00");
    raw_.Transfer("d", 260, 2, 0, 2, "5.00", "opening");  // a cancelled transfer
    raw_.Account("u", 261, 2, 2, "USD", "0.00");
    raw_.Truncate("users", 270, 4);  // skipped by the parsed layer
  }
  void Batch3() {
    raw_.User("c", 300, 3, "c@x", "Cy");          // re-inserted after its delete
    raw_.User("u", 310, 2, "b@x", "Bob");         // unchanged again
    raw_.Account("d", 320, 3, 4, "GBP", "0.00");  // an account closed
  }

  // A satellite's records as "key-ordinal:payload@lsn[:deleted]" in key and LSN order.
  std::vector<std::string> Records(const std::string& model, const std::string& hk,
                                   const std::string& payload) {
    std::vector<std::string> out;
    for (const auto& r :
         w_.Query("SELECT " + payload + ", __record_source_lsn, __deleted_flag FROM " +
                  w_.Table(model) + " ORDER BY " + hk + "_ord, __record_source_lsn")) {
      out.push_back(*r[0] + "@" + *r[1] + (*r[2] == "true" ? ":deleted" : ""));
    }
    return out;
  }

  MiniWarehouse w_;
  BankRaw raw_{w_};
  std::vector<GeneratedModel> vault_;
};

// The ordinal of a test uuid: '...000000000003' -> 3 (keys sort by it).
std::string Ord(const std::string& column) {
  return "CAST(right(CAST(" + column + " AS VARCHAR), 3) AS INTEGER)";
}

TEST_F(DataVaultBankTest, DataVaultLoadsChangesDeletesAndReinserts) {
  Batch1();
  RunEverything();
  EXPECT_EQ(w_.Count(w_.Table("parsed_users")), 3);
  EXPECT_EQ(w_.Count(w_.Table("h_users")), 3);
  EXPECT_EQ(w_.Count(w_.Table("s_users")), 3);
  Batch2();
  RunEverything();
  Batch3();
  RunEverything();
  // The parsed layer: every change but the truncate, typed.
  EXPECT_EQ(w_.Count(w_.Table("parsed_users")), 11);
  EXPECT_EQ(w_.Count(w_.Table("parsed_users"), "id IS NULL"), 0);
  EXPECT_EQ(w_.Query("SELECT typeof(id), typeof(__valid_from_dttm), typeof(__source_lsn) FROM " +
                     w_.Table("parsed_users") + " LIMIT 1"),
            (Rows{{"UUID", "TIMESTAMP WITH TIME ZONE", "BIGINT"}}));

  auto users = [&](const std::string& table) {
    std::vector<std::string> out;
    for (const auto& r : w_.Query(
             "SELECT " + Ord("s.users_id") +
             " || ':' || s.name || '@' || s.__record_source_lsn || "
             "CASE WHEN s.__deleted_flag THEN ':deleted' ELSE '' END FROM (SELECT h.users_id, x.* "
             "FROM " +
             table + " x JOIN " + w_.Table("h_users") +
             " h USING (users_hk)) s ORDER BY s.users_id, s.__record_source_lsn")) {
      out.push_back(*r[0]);
    }
    return out;
  };
  // Only real changes: u1's unchanged update (230) and u2's (210, 310) land nowhere; the
  // delete lands flagged with the old row; the re-insert lands again.
  EXPECT_EQ(users(w_.Table("s_users")),
            (std::vector<std::string>{"1:Ann@100", "1:Anna@200", "1:Ann@240", "2:Bob@100",
                                      "3:Cy@100", "3:Cy@220:deleted", "3:Cy@300", "4:Dee@250"}));
  // End dates: each record ends where the next of its key begins.
  EXPECT_EQ(w_.Query("SELECT " + Ord("h.users_id") +
                     ", x.__record_source_lsn, epoch(x.__valid_to) - 1704067200, "
                     "x.__is_current FROM " +
                     w_.Table("s_users_eff") + " x JOIN " + w_.Table("h_users") +
                     " h USING (users_hk) ORDER BY 1, 2"),
            (Rows{{"1", "100", "200.0", "false"},
                  {"1", "200", "240.0", "false"},
                  {"1", "240", std::nullopt, "true"},
                  {"2", "100", std::nullopt, "true"},
                  {"3", "100", "220.0", "false"},
                  {"3", "220", "300.0", "false"},
                  {"3", "300", std::nullopt, "true"},
                  {"4", "250", std::nullopt, "true"}}));
  // The prototype's satellite keeps every event (11), including the no-op updates.
  EXPECT_EQ(w_.Count(w_.Table("proto_s_users")), 11);

  // Hubs: one row per key, the first sighting kept, the last LSN seen from any source.
  EXPECT_EQ(w_.Query("SELECT " + Ord("users_id") +
                     ", __record_source, __record_last_source_lsn, "
                     "epoch(__load_dttm) - 1704067200 FROM " +
                     w_.Table("h_users") + " ORDER BY 1"),
            (Rows{{"1", "parsed_users", "240", "100.0"},
                  {"2", "parsed_users", "310", "100.0"},
                  {"3", "parsed_users", "300", "100.0"},
                  {"4", "parsed_users", "320", "250.0"}}));  // 320: the account of user 4 closed
  EXPECT_EQ(w_.Query("SELECT " + Ord("accounts_id") +
                     ", __record_source, __record_last_source_lsn FROM " + w_.Table("h_accounts") +
                     " ORDER BY 1"),
            (Rows{{"101", "parsed_accounts", "206"},
                  {"102", "parsed_accounts", "261"},
                  {"103", "parsed_accounts", "320"}}));
  EXPECT_EQ(w_.Count(w_.Table("h_transfers")), 3);

  // Satellites of accounts and transfers: balances, a closed account, a cancelled transfer.
  std::vector<std::string> accounts;
  for (const auto& r : w_.Query("SELECT " + Ord("h.accounts_id") +
                                " || ':' || s.balance || '@' || s.__record_source_lsn || "
                                "CASE WHEN s.__deleted_flag THEN ':deleted' ELSE '' END FROM " +
                                w_.Table("s_accounts") + " s JOIN " + w_.Table("h_accounts") +
                                " h USING (accounts_hk) ORDER BY h.accounts_id, "
                                "s.__record_source_lsn")) {
    accounts.push_back(*r[0]);
  }
  EXPECT_EQ(accounts,
            (std::vector<std::string>{"101:10.00@100", "101:12.50@205", "102:5.00@100",
                                      "102:0.00@261", "103:0.00@251", "103:0.00@320:deleted"}));
  EXPECT_EQ(w_.Query("SELECT s.__record_source_lsn, s.__deleted_flag FROM " +
                     w_.Table("s_transfers") + " s JOIN " + w_.Table("h_transfers") +
                     " h USING (transfers_hk) WHERE h.transfers_id = 2 ORDER BY 1"),
            (Rows{{"100", "false"}, {"260", "true"}}));

  // Links: one row per relationship; a deposit has no debited account.
  EXPECT_EQ(w_.Count(w_.Table("l_users_accounts")), 3);
  EXPECT_EQ(w_.Count(w_.Table("l_users_accounts"),
                     "users_hk NOT IN (SELECT users_hk FROM " + w_.Table("h_users") + ")"),
            0);
  EXPECT_EQ(w_.Count(w_.Table("l_transfers_accounts")), 3);
  EXPECT_EQ(w_.Count(w_.Table("l_transfers_accounts"), "from_accounts_hk IS NULL"), 3);
  EXPECT_EQ(
      w_.Count(w_.Table("l_transfers_accounts"),
               "to_accounts_hk NOT IN (SELECT accounts_hk FROM " + w_.Table("h_accounts") + ")"),
      0);

  // Running again with no new rows changes nothing.
  auto snapshot = [&] {
    std::vector<int64_t> counts;
    for (const auto& m : vault_) counts.push_back(w_.Count(w_.Table(m.name)));
    return counts;
  };
  auto before = snapshot();
  RunEverything();
  EXPECT_EQ(snapshot(), before);
}

// Each incremental run compares with what earlier runs stored; a full refresh sees all rows
// at once. Both must give the same vault (all but __inserted_at).
TEST_F(DataVaultBankTest, IncrementalRunsEqualAFullRefresh) {
  Batch1();
  RunEverything();
  Batch2();
  RunEverything();
  Batch3();
  RunEverything();
  for (const auto& m : vault_) {
    if (m.name.ends_with("_eff")) continue;
    w_.Exec("CREATE TABLE incremental_" + m.name + " AS SELECT * EXCLUDE (__inserted_at) FROM " +
            w_.Table(m.name));
  }
  w_.RunAll(vault_, /*full_refresh=*/true);
  for (const auto& m : vault_) {
    if (m.name.ends_with("_eff")) continue;
    SCOPED_TRACE(m.name);
    std::string full = "(SELECT * EXCLUDE (__inserted_at) FROM " + w_.Table(m.name) + ")";
    EXPECT_GT(w_.Count("incremental_" + m.name), 0);
    EXPECT_EQ(w_.Count("(SELECT * FROM incremental_" + m.name + " EXCEPT ALL SELECT * FROM " +
                       full + ")"),
              0);
    EXPECT_EQ(w_.Count("(SELECT * FROM " + full + " EXCEPT ALL SELECT * FROM incremental_" +
                       m.name + ")"),
              0);
  }
}

// The generator's compat mode and the prototype's hand-written models (models/prototype/)
// build the same tables from the same parsed rows.
TEST_F(DataVaultBankTest, CompatModeEqualsThePrototypesModels) {
  auto compat = GenerateDataVault(R"(
settings: {compat: prototype, schema: compat}
hubs:
  - {name: c_h_users, hash_key: users_hk, business_keys: [users_id], sources: [{model: proto_parsed_users, columns: [id]}]}
  - {name: c_h_accounts, hash_key: accounts_hk, business_keys: [accounts_id],
     sources: [{model: proto_parsed_accounts, columns: [id]}]}
links:
  - name: c_l_users_accounts
    hash_key: users_accounts_hk
    source: proto_parsed_accounts
    hubs: [{hub: c_h_users, columns: [user_id]}, {hub: c_h_accounts, columns: [id]}]
satellites:
  - {name: c_s_users, parent: c_h_users, source: proto_parsed_users, payload: [email, name, created_at]}
  - {name: c_s_accounts, parent: c_h_accounts, source: proto_parsed_accounts, payload: [currency, balance, created_at]}
)",
                                  "compat.yml");
  ASSERT_TRUE(compat) << compat.error().ToString();
  for (int batch = 1; batch <= 3; ++batch) {
    if (batch == 1) Batch1();
    if (batch == 2) Batch2();
    if (batch == 3) Batch3();
    RunEverything();
    w_.RunAll(*compat);
  }
  for (const char* t : {"h_users", "h_accounts", "l_users_accounts", "s_users", "s_accounts"}) {
    SCOPED_TRACE(t);
    std::string proto =
        "(SELECT * EXCLUDE (__inserted_at) FROM data_vault_prototype." + std::string(t) + ")";
    std::string gen = "(SELECT * EXCLUDE (__inserted_at) FROM compat.c_" + std::string(t) + ")";
    EXPECT_GT(w_.Count(proto), 0);
    EXPECT_EQ(w_.Query("SELECT * FROM (DESCRIBE " + proto + ")"),
              w_.Query("SELECT * FROM (DESCRIBE " + gen + ")"));
    EXPECT_EQ(w_.Count("(SELECT * FROM " + proto + " EXCEPT ALL SELECT * FROM " + gen + ")"), 0);
    EXPECT_EQ(w_.Count("(SELECT * FROM " + gen + " EXCEPT ALL SELECT * FROM " + proto + ")"), 0);
  }
  // The prototype's hash keys: upper-case hex md5 of the raw text, the link's without a delimiter.
  EXPECT_EQ(w_.Query("SELECT users_hk FROM compat.c_h_users WHERE users_id = '" + Uuid(1) + "'"),
            (Rows{{"459C7999F440244B163B38E375FEDEDD"}}));
}

// ---------------------------------------------------------------------------------------
// Hash values, checked against values computed outside DuckDB (Python's hashlib).

TEST(DataVaultRunTest, HashKeysHaveTheDocumentedValues) {
  MiniWarehouse w;
  w.Exec(
      "CREATE TABLE m (u UUID, a UUID, __deleted_flag BOOLEAN, __valid_from_dttm TIMESTAMPTZ, "
      "__source_lsn BIGINT,"
      " __source_connector VARCHAR, __source_details VARCHAR);"
      "INSERT INTO m VALUES ('6e8bc430-9c3a-11d9-9669-0800200c9a66', "
      "'0a1b2c3d-0000-4000-8000-000000000001', false,"
      " TIMESTAMPTZ '2024-01-01 00:00:00+00', 1, 'frazil', 'bank.public.m')");
  const char* spec = R"(
settings: {compat: %s}
hubs:
  - {name: h_u, business_keys: [u], sources: [{model: m}]}
  - {name: h_a, business_keys: [a], sources: [{model: m}]}
links:
  - {name: l_u_a, source: m, hubs: [{hub: h_u, columns: [u]}, {hub: h_a, columns: [a]}]}
)";
  for (std::string mode : {"none", "prototype"}) {
    SCOPED_TRACE(mode);
    std::string text = std::regex_replace(spec, std::regex("%s"), mode);
    text = std::regex_replace(text, std::regex("h_u\\b"), "h_u_" + mode);
    text = std::regex_replace(text, std::regex("h_a\\b"), "h_a_" + mode);
    text = std::regex_replace(text, std::regex("l_u_a"), "l_u_a_" + mode);
    auto models = GenerateDataVault(text, "dv.yml");
    ASSERT_TRUE(models) << models.error().ToString();
    for (const auto& m : *models) w.Run(m.name, m.sql, "main");
    auto hub = w.Query("SELECT u_" + mode + "_hk FROM " + w.Table("h_u_" + mode));
    auto link = w.Query("SELECT u_a_" + mode + "_hk FROM " + w.Table("l_u_a_" + mode));
    if (mode == "none") {
      // md5('6E8BC430-9C3A-11D9-9669-0800200C9A66') and md5('<U>||<A>'), lower-case hex.
      EXPECT_EQ(hub, (Rows{{"fd50fb312c36831f2c78cba975d7be46"}}));
      EXPECT_EQ(link, (Rows{{"e0c5ec123e77ba465f72ab20dce2e0dd"}}));
    } else {
      // to_hex(md5(to_utf8('6e8bc430-...'))) and of '<u><a>' with no delimiter.
      EXPECT_EQ(hub, (Rows{{"10CB071DD1336B4B83A19FEF2B822C13"}}));
      EXPECT_EQ(link, (Rows{{"B62BC0B4F490F37DC453A81B6FB1FDAF"}}));
    }
  }
}

// Two systems spell one customer differently; normalisation makes them one hub row, a NULL
// part of a composite key becomes the placeholder, and a key with no part is no key.
TEST(DataVaultRunTest, NormalisedKeysFromTwoSourcesMeetInOneHub) {
  MiniWarehouse w;
  w.Exec(
      "CREATE TABLE crm (code VARCHAR, region VARCHAR, __deleted_flag BOOLEAN, __valid_from_dttm "
      "TIMESTAMPTZ,"
      " __source_lsn BIGINT, __source_details VARCHAR);"
      "CREATE TABLE shop (customer VARCHAR, region VARCHAR, __deleted_flag BOOLEAN, "
      "__valid_from_dttm TIMESTAMPTZ,"
      " __source_lsn BIGINT, __source_details VARCHAR);"
      "INSERT INTO crm VALUES (' abc ', 'eu', false, TIMESTAMPTZ '2024-01-02 00:00:00+00', 20, "
      "'crm'),"
      " ('xyz', NULL, false, TIMESTAMPTZ '2024-01-02 00:00:00+00', 21, 'crm'),"
      " (NULL, NULL, false, TIMESTAMPTZ '2024-01-02 00:00:00+00', 22, 'crm');"
      "INSERT INTO shop VALUES ('ABC', 'EU', false, TIMESTAMPTZ '2024-01-01 00:00:00+00', 10, "
      "'shop'),"
      " ('ABC', 'EU', false, TIMESTAMPTZ '2024-01-03 00:00:00+00', 30, 'shop')");
  auto models = GenerateDataVault(R"(
hubs:
  - name: h_customer
    business_keys: [code, region]
    sources:
      - {model: crm, record_source: crm}
      - {model: shop, columns: [customer, region], record_source: shop}
)",
                                  "dv.yml");
  ASSERT_TRUE(models) << models.error().ToString();
  w.RunAll(*models);
  // md5('ABC||EU') and md5('XYZ||'); the first sighting of ABC/EU is the shop's (earlier).
  EXPECT_EQ(w.Query("SELECT customer_hk, code, region, __record_source, __record_last_source_lsn "
                    "FROM data_vault.h_customer "
                    "ORDER BY code"),
            (Rows{{"78784d6da44d972fed92f67169a24292", "ABC", "EU", "shop", "30"},
                  {"c5e14081e9bd885f389511fc08f9bf9a", "xyz", std::nullopt, "crm", "21"}}));
}

}  // namespace
}  // namespace frazil::transform
