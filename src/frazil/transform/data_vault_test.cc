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
// Spec parsing and its errors.

std::string ErrorOf(const std::string& yaml) {
  auto r = GenerateDataVault(yaml, "dv.yml");
  if (r) return "(no error)";
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument) << r.error().ToString();
  return r.error().message;
}

std::vector<GeneratedModel> Generate(const std::string& yaml) {
  auto r = GenerateDataVault(yaml, "dv.yml");
  EXPECT_TRUE(r) << r.error().ToString();
  return r ? *r : std::vector<GeneratedModel>{};
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const char* kHubUsers = R"(
hubs:
  - name: h_users
    business_keys: [users_id]
    sources:
      - model: parsed_users
        columns: {users_id: id}
)";

TEST(DataVaultSpecTest, EmptySpecGeneratesNothing) {
  EXPECT_TRUE(Generate("").empty());
  EXPECT_TRUE(Generate("settings: {schema: dv}\n").empty());
}

TEST(DataVaultSpecTest, ModelsComeInSpecOrderWithTheirLines) {
  auto models = Generate(std::string(kHubUsers) + R"(
  - name: h_accounts
    business_keys: [accounts_id]
    sources: [{model: parsed_accounts, columns: [id]}]
links:
  - name: l_users_accounts
    source: parsed_accounts
    hubs:
      - {hub: h_users, columns: [user_id]}
      - {hub: h_accounts, columns: [id]}
satellites:
  - {name: s_users, parent: h_users, source: parsed_users, payload: [email, name]}
  - {name: s_accounts, parent: h_accounts, source: parsed_accounts, payload: balance, effectivity: none}
)");
  std::vector<std::string> names;
  for (const auto& m : models) names.push_back(m.name + "@" + m.path);
  EXPECT_EQ(names, (std::vector<std::string>{"h_users@dv.yml:3", "h_accounts@dv.yml:9",
                                             "l_users_accounts@dv.yml:13", "s_users@dv.yml:19",
                                             "s_users_eff@dv.yml:19", "s_accounts@dv.yml:20"}));
}

TEST(DataVaultSpecTest, ErrorsNameTheFileAndLine) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::string hub = kHubUsers;
  const std::vector<Case> cases = {
      {"hubs: [\n", "dv.yml:2: end of sequence flow not found"},
      {"- a\n- b\n",
       "dv.yml:1: a Data Vault spec is a mapping with settings, hubs, links, satellites"},
      {"version: 1\nhubz: []\n",
       "dv.yml:2: unknown key 'hubz' in the spec (expected version, settings, hubs, links, "
       "satellites)"},
      {"version: 2\n", "dv.yml:1: version must be 1"},
      {"hubs: {name: h}\n", "dv.yml:1: hubs must be a list"},
      {"hubs: [h_users]\n", "dv.yml:1: an entry of hubs must be a mapping"},
      // settings
      {"settings: {colour: red}\n",
       "dv.yml:1: unknown key 'colour' in settings (expected schema, compat, hash, normalize, "
       "delimiter, "
       "null_placeholder, record_source, load_timestamp, source_columns, effectivity)"},
      {"settings: {hash: crc32}\n", "dv.yml:1: hash must be md5, sha1 or sha256, not 'crc32'"},
      {"settings: {normalize: yes}\n",
       "dv.yml:1: normalize must be a mapping {trim: true|false, upper: true|false}"},
      {"settings:\n  normalize: {trim: true, lower: true}\n",
       "dv.yml:2: unknown key 'lower' in normalize (expected trim, upper)"},
      {"settings:\n  normalize: {trim: maybe}\n", "dv.yml:2: normalize.trim must be true or false"},
      {"settings: {delimiter: ''}\n",
       "dv.yml:1: delimiter must not be empty (keys would collide: 'ab'||'c' = 'a'||'bc')"},
      {"settings: {null_placeholder: 'a||b'}\n",
       "dv.yml:1: null_placeholder must not contain the delimiter '||'"},
      {"settings: {record_source: '{{ var(\"x\") }}'}\n",
       "dv.yml:1: record_source must not contain '{{' (it is Jinja)"},
      {"settings: {compat: dbtvault}\n",
       "dv.yml:1: compat must be 'prototype' or 'none', not 'dbtvault'"},
      {"settings: {effectivity: always}\n", "dv.yml:1: effectivity must be view, table or none"},
      {"settings: {schema: 'data vault'}\n",
       "dv.yml:1: schema 'data vault' is not a name (letters, digits and _, not starting with a "
       "digit)"},
      {"settings:\n  source_columns: {lsn: _lsn, op: _op}\n",
       "dv.yml:2: unknown key 'op' in source_columns (expected lsn, deleted, valid_from, details, "
       "connector)"},
      {"settings:\n  compat: prototype\n  normalize: {trim: false}\n",
       "dv.yml:3: compat: prototype fixes the hashing (hex md5 of the raw text, upper case); "
       "remove 'normalize'"},
      {"settings:\n  compat: prototype\n  hash: sha256\n",
       "dv.yml:3: compat: prototype fixes the hashing (hex md5 of the raw text, upper case); "
       "remove 'hash'"},
      {"settings:\n  compat: prototype\n  record_source: crm\n",
       "dv.yml:3: compat: prototype takes the record source from the source's connector column; "
       "remove "
       "'record_source'"},
      // hubs
      {"hubs:\n  - business_keys: [id]\n", "dv.yml:2: a hub needs 'name'"},
      {"hubs:\n  - name: h-users\n",
       "dv.yml:2: name 'h-users' is not a name (letters, digits and _, not starting with a digit)"},
      {"hubs:\n  - name: h_users\n    keys: [id]\n",
       "dv.yml:3: unknown key 'keys' in a hub (expected name, hash_key, business_keys, sources, "
       "description)"},
      {"hubs:\n  - name: h_users\n    sources: [{model: m}]\n",
       "dv.yml:2: hub 'h_users' needs 'business_keys'"},
      {"hubs:\n  - name: h_users\n    business_keys: []\n", "dv.yml:3: business_keys is empty"},
      {"hubs:\n  - name: h_users\n    business_keys: [id, id]\n",
       "dv.yml:3: business_keys names 'id' twice"},
      {"hubs:\n  - name: h_users\n    business_keys: [__hashdiff]\n",
       "dv.yml:3: business_keys '__hashdiff': names starting with __ are the generator's"},
      {"hubs:\n  - name: h_users\n    business_keys: [users_hk]\n",
       "dv.yml:3: hub 'h_users': business key 'users_hk' is also the hash key's name"},
      {"hubs:\n  - name: h_users\n    business_keys: [id]\n",
       "dv.yml:2: hub 'h_users' needs 'sources'"},
      {"hubs:\n  - name: h_users\n    business_keys: [id]\n    sources: []\n",
       "dv.yml:4: hub 'h_users': sources must be a non-empty list"},
      {"hubs:\n  - name: h_users\n    business_keys: [id]\n    sources:\n      - columns: [id]\n",
       "dv.yml:5: a source of hub 'h_users' needs 'model'"},
      {"hubs:\n  - name: h_users\n    business_keys: [id]\n    sources:\n      - {model: m, table: "
       "t}\n",
       "dv.yml:5: unknown key 'table' in a hub source (expected model, columns, record_source)"},
      {"hubs:\n  - name: h_users\n    business_keys: [id]\n    sources:\n      - {model: m, "
       "columns: [a, b]}\n",
       "dv.yml:5: 2 source column(s) for the 1 business key(s) of hub 'h_users' (id)"},
      {"hubs:\n  - name: h_users\n    business_keys: [id]\n    sources:\n      - model: m\n        "
       "columns: {user_id: x}\n",
       "dv.yml:6: 'user_id' is not a business key of hub 'h_users' (id)"},
      {"hubs:\n  - name: h_users\n    business_keys: [a, b]\n    sources:\n      - model: m\n      "
       "  columns: {a: x}\n",
       "dv.yml:6: no source column for business key 'b' of hub 'h_users'"},
      {"settings: {compat: prototype}\nhubs:\n  - name: h_users\n    business_keys: [id]\n    "
       "sources: [{model: a}, "
       "{model: b}]\n",
       "dv.yml:5: compat: prototype: hub 'h_users' has 2 sources; the prototype's hubs read one "
       "model"},
      {"hubs:\n  - name: h_users\n    business_keys: [id]\n    sources: [{model: a, record_source: "
       "'{% x %}'}]\n",
       "dv.yml:4: record_source must not contain '{%' (it is Jinja)"},
      // links
      {hub + "links:\n  - name: l_x\n    source: parsed_accounts\n    hubs:\n      - {hub: "
             "h_users, columns: [user_id]}\n"
             "      - {hub: h_accounts, columns: [id]}\n",
       "dv.yml:13: link 'l_x' names unknown hub 'h_accounts' (hubs are declared in the same file)"},
      {hub + "links:\n  - name: l_x\n    source: parsed_accounts\n    hubs:\n      - {hub: "
             "h_users, columns: [user_id]}\n",
       "dv.yml:12: link 'l_x': hubs must list at least two hub references"},
      {hub + "links:\n  - name: l_x\n    hubs: []\n", "dv.yml:9: link 'l_x' needs 'source'"},
      {hub + "links:\n  - name: l_x\n    source: m\n", "dv.yml:9: link 'l_x' needs 'hubs'"},
      {hub + "links:\n  - name: l_x\n    source: m\n    hubs:\n      - {hub: h_users}\n      - "
             "{hub: h_users, columns: [b]}\n",
       "dv.yml:12: 'columns' is required for hub 'h_users'"},
      {hub + "links:\n  - name: l_x\n    source: m\n    hubs:\n      - {hub: h_users, columns: "
             "[a]}\n      - {hub: h_users, "
             "columns: [b]}\n",
       "dv.yml:13: link 'l_x': column 'users_hk' appears twice; give this reference its own "
       "'hash_key'"},
      {hub + "links:\n  - name: l_x\n    source: m\n    hubs:\n      - {hub: h_users, columns: "
             "[a], role: from}\n      - {hub: h_users}\n",
       "dv.yml:12: unknown key 'role' in a link's hub reference (expected hub, columns, hash_key)"},
      // satellites
      {hub + "satellites:\n  - name: s_users\n    parent: h_people\n    source: parsed_users\n    "
             "payload: [email]\n",
       "dv.yml:10: satellite 's_users' names unknown parent 'h_people' (a hub or link declared in "
       "the same file)"},
      {hub + "satellites:\n  - name: s_users\n    parent: h_users\n    source: parsed_users\n",
       "dv.yml:9: satellite 's_users' needs 'payload'"},
      {hub + "satellites:\n  - name: s_users\n    parent: h_users\n    source: parsed_users\n    "
             "payload: [__deleted_flag]\n",
       "dv.yml:12: payload '__deleted_flag': names starting with __ are the generator's"},
      {hub + "satellites:\n  - name: s_users\n    parent: h_users\n    source: parsed_users\n    "
             "payload: [users_hk]\n",
       "dv.yml:12: satellite 's_users': payload column 'users_hk' is the hash key's name"},
      {hub + "satellites:\n  - name: s_users\n    parent: h_users\n    source: crm_users\n    "
             "payload: [email]\n",
       "dv.yml:9: satellite 's_users' reads 'crm_users', which 'h_users' does not read: list the "
       "source columns of its "
       "key in 'keys'"},
      {hub + "      - {model: parsed_users, columns: [other_id]}\nsatellites:\n  - name: s_users\n "
             "   parent: h_users\n"
             "    source: parsed_users\n    payload: [email]\n",
       "dv.yml:10: satellite 's_users': 'h_users' reads 'parsed_users' through 2 sources: choose "
       "the key columns with "
       "'keys'"},
      {hub + "satellites:\n  - name: s_users\n    parent: h_users\n    source: crm\n    keys: [a, "
             "b]\n    payload: [email]\n",
       "dv.yml:12: 2 source column(s) for the 1 business key(s) of 'h_users' (users_id)"},
      {hub + "satellites:\n  - {name: s_users, parent: h_users, source: parsed_users, payload: "
             "[email], effectivity: yes}\n",
       "dv.yml:9: effectivity must be view, table or none"},
      // names
      {hub + "satellites:\n  - {name: h_users, parent: h_users, source: parsed_users, payload: "
             "[email]}\n",
       "dv.yml:9: duplicate name 'h_users' (first defined at line 3)"},
      {hub +
           "  - name: s_users_eff\n    business_keys: [x]\n    sources: [{model: m}]\nsatellites:\n"
           "  - {name: s_users, parent: h_users, source: parsed_users, payload: [email]}\n",
       "dv.yml:12: duplicate name 's_users_eff' (first defined at line 8)"},
  };
  for (const auto& c : cases) EXPECT_EQ(ErrorOf(c.yaml), c.error) << c.yaml;
}

TEST(DataVaultSpecTest, ALinkCanReachAHubDeclaredAfterItInTheFile) {
  // Hubs are read first whatever the order of the sections.
  auto models = Generate(R"(
links:
  - name: l_a_b
    source: m
    hubs: [{hub: h_a, columns: [a]}, {hub: h_b, columns: [b]}]
hubs:
  - {name: h_a, business_keys: [a], sources: [{model: m}]}
  - {name: h_b, business_keys: [b], sources: [{model: m}]}
)");
  ASSERT_EQ(models.size(), 3u);
  EXPECT_EQ(models[2].name, "l_a_b");
}

// ---------------------------------------------------------------------------------------
// The generated SQL, read as text.

TEST(DataVaultSqlTest, HubMergesOnTheHashKeyKeepingTheFirstSighting) {
  auto models = Generate(kHubUsers);
  ASSERT_EQ(models.size(), 1u);
  const std::string& sql = models[0].sql;
  EXPECT_TRUE(sql.starts_with(
      "{{\n    config(\n        materialized='incremental',\n        schema='data_vault',\n"
      "        unique_key='users_hk',\n        incremental_strategy='merge'\n    )\n}}\n"))
      << sql;
  EXPECT_TRUE(Contains(
      sql, "md5(upper(trim(CAST(id AS VARCHAR)))) AS users_hk,\n        id AS users_id,\n"))
      << sql;
  EXPECT_TRUE(
      Contains(sql,
               "__valid_from_dttm AS __load_dttm,\n        'parsed_users' AS __record_source,\n"
               "        __source_details AS __record_source_details,\n        __source_lsn\n"
               "    FROM {{ new_rows(ref('parsed_users')) }}\n    WHERE id IS NOT NULL\n"))
      << sql;
  EXPECT_TRUE(
      Contains(sql,
               "row_number() OVER (PARTITION BY users_hk ORDER BY __load_dttm, __source_lsn, "
               "CAST(users_id AS VARCHAR)) AS __first"))
      << sql;
  EXPECT_TRUE(Contains(
      sql,
      "{% if is_incremental() %}\n    greatest(r.__last_lsn, t.__record_last_source_lsn) AS "
      "__record_last_source_lsn\nFROM ranked AS r\nLEFT JOIN {{ this }} AS t ON t.users_hk = "
      "r.users_hk\n{% else %}\n"))
      << sql;
  EXPECT_TRUE(sql.ends_with("WHERE r.__first = 1\n")) << sql;
}

TEST(DataVaultSqlTest, MultiSourceHubUnionsItsSources) {
  auto models = Generate(R"(
settings: {schema: vault, hash: sha256, normalize: {upper: false}, load_timestamp: current_timestamp}
hubs:
  - name: hub_customer
    business_keys: [country, number]
    sources:
      - {model: crm_customers, columns: {number: customer_no, country: country_code}, record_source: crm}
      - {model: shop_orders, columns: [ship_country, customer]}
)");
  ASSERT_EQ(models.size(), 1u);
  const std::string& sql = models[0].sql;
  EXPECT_TRUE(Contains(sql, "schema='vault',\n        unique_key='customer_hk',")) << sql;
  EXPECT_TRUE(
      Contains(sql,
               "sha256(coalesce(trim(CAST(country_code AS VARCHAR)), '') || '||' || "
               "coalesce(trim(CAST(customer_no AS VARCHAR)), '')) AS customer_hk,\n"
               "        country_code AS country,\n        customer_no AS number,\n"
               "        current_timestamp AS __load_dttm,\n        'crm' AS __record_source,"))
      << sql;
  EXPECT_TRUE(Contains(
      sql, "    WHERE country_code IS NOT NULL OR customer_no IS NOT NULL\n\n    UNION ALL\n\n"))
      << sql;
  EXPECT_TRUE(Contains(
      sql,
      "'shop_orders' AS __record_source,\n        __source_details AS __record_source_details,\n"
      "        1 AS __source_order,\n"))
      << sql;
  // Ties on time and LSN go to the source listed first.
  EXPECT_TRUE(
      Contains(sql,
               "ORDER BY __load_dttm, __source_lsn, __source_order, CAST(country AS VARCHAR), "
               "CAST(number AS VARCHAR)) AS __first"))
      << sql;
  EXPECT_TRUE(Contains(
      sql,
      "FROM {{ new_rows(ref('shop_orders')) }}\n    WHERE ship_country IS NOT NULL OR customer IS "
      "NOT NULL\n),"))
      << sql;
}

TEST(DataVaultSqlTest, LinkHashesTheDelimitedComponents) {
  auto models = Generate(std::string(kHubUsers) + R"(
  - {name: h_accounts, business_keys: [accounts_id], sources: [{model: parsed_accounts, columns: [id]}]}
links:
  - name: l_users_accounts
    source: parsed_accounts
    record_source: bank
    hubs:
      - {hub: h_users, columns: [user_id]}
      - {hub: h_accounts, columns: [id], hash_key: account_hk}
)");
  ASSERT_EQ(models.size(), 3u);
  const std::string& sql = models[2].sql;
  EXPECT_TRUE(Contains(sql, "unique_key='users_accounts_hk',")) << sql;
  EXPECT_TRUE(Contains(sql,
                       "md5(coalesce(upper(trim(CAST(user_id AS VARCHAR))), '') || '||' || "
                       "coalesce(upper(trim(CAST(id AS VARCHAR))), '')) AS users_accounts_hk,\n"
                       "        md5(upper(trim(CAST(user_id AS VARCHAR)))) AS users_hk,\n"
                       "        md5(upper(trim(CAST(id AS VARCHAR)))) AS account_hk,\n"))
      << sql;
  EXPECT_TRUE(Contains(sql, "'bank' AS __record_source")) << sql;
  EXPECT_TRUE(Contains(sql, "WHERE user_id IS NOT NULL OR id IS NOT NULL\n")) << sql;
  EXPECT_TRUE(Contains(
      sql,
      "SELECT\n    r.users_accounts_hk,\n    r.users_hk,\n    r.account_hk,\n    r.__load_dttm,"))
      << sql;
}

TEST(DataVaultSqlTest, SatelliteKeepsOnlyRealChangesAndDeletes) {
  auto models = Generate(std::string(kHubUsers) + R"(
satellites:
  - name: s_users
    parent: h_users
    source: parsed_users
    payload: [email, name, order]
)");
  ASSERT_EQ(models.size(), 3u);
  const std::string& sql = models[1].sql;
  EXPECT_TRUE(
      sql.starts_with("{{ config(materialized='incremental', schema='data_vault', "
                      "incremental_strategy='append') }}\n"))
      << sql;
  // `order` is a reserved word: quoted.
  EXPECT_TRUE(Contains(
      sql,
      "        email,\n        name,\n        \"order\",\n"
      "        coalesce(__deleted_flag, false) AS __deleted_flag,\n"
      "        md5(to_json([CAST(email AS VARCHAR), CAST(name AS VARCHAR), CAST(\"order\" AS "
      "VARCHAR), CAST(coalesce(__deleted_flag, false) AS VARCHAR)])) AS __hashdiff,\n"))
      << sql;
  EXPECT_TRUE(
      Contains(sql, "WINDOW w AS (PARTITION BY users_hk ORDER BY __record_source_lsn, __hashdiff)"))
      << sql;
  EXPECT_TRUE(Contains(
      sql,
      "WHERE s.__hashdiff IS DISTINCT FROM (CASE WHEN s.__position = 1 THEN l.__hashdiff ELSE "
      "s.__previous_hashdiff END)"))
      << sql;
  const std::string& eff = models[2].sql;
  EXPECT_EQ(models[2].name, "s_users_eff");
  EXPECT_TRUE(eff.starts_with("{{ config(materialized='view', schema='data_vault') }}\n")) << eff;
  EXPECT_TRUE(
      Contains(eff,
               "lead(__valid_from_dttm) OVER (PARTITION BY users_hk ORDER BY __record_source_lsn, "
               "__hashdiff) AS __valid_to"))
      << eff;
  EXPECT_TRUE(Contains(eff, "FROM {{ ref('s_users') }}")) << eff;
}

TEST(DataVaultSqlTest, LinkSatelliteUsesTheLinkKey) {
  const std::string spec = std::string(kHubUsers) + R"(
  - {name: h_accounts, business_keys: [accounts_id], sources: [{model: parsed_accounts, columns: [id]}]}
links:
  - name: l_users_accounts
    source: parsed_accounts
    hubs: [{hub: h_users, columns: [user_id]}, {hub: h_accounts, columns: [id]}]
satellites:
  - {name: s_ownership, parent: l_users_accounts, source: parsed_accounts, payload: [currency]}
  - {name: s_ownership_log, parent: l_users_accounts, source: ownership_log, keys: [owner, account], payload: [note]}
)";
  auto models = Generate(spec);
  ASSERT_EQ(models.size(), 7u);
  EXPECT_TRUE(Contains(models[3].sql,
                       "md5(coalesce(upper(trim(CAST(user_id AS VARCHAR))), '') || '||' || "
                       "coalesce(upper(trim(CAST(id AS VARCHAR))), '')) AS users_accounts_hk,\n"))
      << models[3].sql;
  EXPECT_TRUE(Contains(models[3].sql, "WHERE user_id IS NOT NULL OR id IS NOT NULL\n"))
      << models[3].sql;
  EXPECT_TRUE(
      Contains(models[5].sql,
               "coalesce(upper(trim(CAST(owner AS VARCHAR))), '') || '||' || "
               "coalesce(upper(trim(CAST(account AS VARCHAR))), '')) AS users_accounts_hk,\n"))
      << models[5].sql;
  EXPECT_EQ(ErrorOf(std::string(kHubUsers) + R"(
  - {name: h_accounts, business_keys: [accounts_id], sources: [{model: parsed_accounts, columns: [id]}]}
links:
  - name: l_users_accounts
    source: parsed_accounts
    hubs: [{hub: h_users, columns: [user_id]}, {hub: h_accounts, columns: [id]}]
satellites:
  - {name: s_log, parent: l_users_accounts, source: log, keys: {users_id: owner}, payload: [note]}
)"),
            "dv.yml:15: satellite 's_log': the keys of a link's satellite are a list");
  EXPECT_EQ(ErrorOf(std::string(kHubUsers) + R"(
  - {name: h_accounts, business_keys: [accounts_id], sources: [{model: parsed_accounts, columns: [id]}]}
links:
  - name: l_users_accounts
    source: parsed_accounts
    hubs: [{hub: h_users, columns: [user_id]}, {hub: h_accounts, columns: [id]}]
satellites:
  - {name: s_log, parent: l_users_accounts, source: log, keys: [owner], payload: [note]}
)"),
            "dv.yml:15: 1 source column(s) for the 2 business key(s) of 'l_users_accounts' "
            "(h_users.users_id, "
            "h_accounts.accounts_id)");
}

TEST(DataVaultSqlTest, SettingsShapeTheSql) {
  auto models = Generate(R"(
settings:
  normalize: {trim: false, upper: false}
  delimiter: '^'
  null_placeholder: '<null>'
  record_source: erp
  effectivity: table
  source_columns: {lsn: _lsn, deleted: is_gone, valid_from: changed_at, details: null}
hubs:
  - {name: product, business_keys: [sku, plant], sources: [{model: erp_products}]}
satellites:
  - {name: product_prices, parent: product, source: erp_products, payload: price}
)");
  ASSERT_EQ(models.size(), 3u);
  EXPECT_TRUE(Contains(
      models[0].sql,
      "md5(coalesce(CAST(sku AS VARCHAR), '<null>') || '^' || "
      "coalesce(CAST(plant AS VARCHAR), '<null>')) AS product_hk,\n        sku,\n"
      "        plant,\n        changed_at AS __load_dttm,\n        'erp' AS __record_source,\n"
      "        CAST(NULL AS VARCHAR) AS __record_source_details,\n        _lsn AS __source_lsn\n"))
      << models[0].sql;
  EXPECT_TRUE(Contains(models[1].sql, "coalesce(is_gone, false) AS __deleted_flag"))
      << models[1].sql;
  EXPECT_TRUE(Contains(models[1].sql, "changed_at AS __valid_from_dttm")) << models[1].sql;
  EXPECT_TRUE(Contains(models[1].sql, "_lsn AS __record_source_lsn")) << models[1].sql;
  EXPECT_TRUE(models[2].sql.starts_with("{{ config(materialized='table', schema='data_vault') }}"))
      << models[2].sql;
}

// compat: prototype writes the prototype's macros (seed-prototype.md) in DuckDB's dialect.
TEST(DataVaultSqlTest, CompatModeWritesThePrototypesDefinitions) {
  auto models = Generate(R"(
settings:
  compat: prototype
hubs:
  - name: h_users
    business_keys: [users_id]
    sources: [{model: parsed_users, columns: [id]}]
  - name: h_accounts
    business_keys: [accounts_id]
    sources: [{model: parsed_accounts, columns: [id]}]
links:
  - name: l_users_accounts
    source: parsed_accounts
    hubs: [{hub: h_users, columns: [user_id]}, {hub: h_accounts, columns: [id]}]
satellites:
  - {name: s_users, parent: h_users, source: parsed_users, payload: [email, name, created_at]}
)");
  ASSERT_EQ(models.size(), 4u);  // no effectivity view unless asked for
  EXPECT_EQ(models[0].sql,
            "{{\n"
            "    config(\n"
            "        materialized='incremental',\n"
            "        schema='data_vault',\n"
            "        unique_key='users_hk',\n"
            "        incremental_strategy='merge',\n"
            "        merge_update_columns=['__record_last_source_lsn']\n"
            "    )\n"
            "}}\n"
            "-- Hub h_users, generated by frazil from dv.yml:5 (compat: prototype). Edit the spec, "
            "not this SQL.\n"
            "SELECT\n"
            "    upper(md5(CAST(id AS VARCHAR))) AS users_hk,\n"
            "    id AS users_id,\n"
            "    current_timestamp AS __inserted_at,\n"
            "    __source_connector AS __record_source,\n"
            "    __source_details AS __record_source_details,\n"
            "    max(__source_lsn) AS __record_last_source_lsn\n"
            "FROM {{ new_rows(ref('parsed_users')) }}\n"
            "GROUP BY 1, 2, 3, 4, 5\n");
  EXPECT_TRUE(Contains(
      models[2].sql,
      "SELECT DISTINCT\n"
      "    upper(md5(CAST(user_id AS VARCHAR) || CAST(id AS VARCHAR))) AS users_accounts_hk,\n"
      "    upper(md5(CAST(user_id AS VARCHAR))) AS users_hk,\n"
      "    upper(md5(CAST(id AS VARCHAR))) AS accounts_hk,\n"
      "    current_timestamp AS __inserted_at,\n"
      "    __source_connector AS __record_source,\n"
      "    __source_details AS __record_source_details,\n"
      "    max(__source_lsn) AS __record_last_source_lsn\n"
      "FROM {{ new_rows(ref('parsed_accounts')) }}\n"
      "GROUP BY 1, 2, 3, 4, 5, 6\n"))
      << models[2].sql;
  EXPECT_EQ(models[3].sql,
            "{{ config(materialized='incremental', schema='data_vault', "
            "incremental_strategy='append') }}\n"
            "-- Satellite s_users, generated by frazil from dv.yml:16 (compat: prototype). Edit "
            "the spec, not this SQL.\n"
            "SELECT\n"
            "    upper(md5(CAST(id AS VARCHAR))) AS users_hk,\n"
            "    email,\n"
            "    name,\n"
            "    created_at,\n"
            "    __deleted_flag,\n"
            "    __valid_from_dttm,\n"
            "    current_timestamp AS __inserted_at,\n"
            "    __source_connector AS __record_source,\n"
            "    __source_details AS __record_source_details,\n"
            "    __source_lsn AS __record_source_lsn\n"
            "FROM {{ new_rows(ref('parsed_users')) }}\n");
}

}  // namespace
}  // namespace frazil::transform
