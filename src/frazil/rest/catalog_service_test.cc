// The REST catalog server through its router (no sockets): every endpoint's shape, status
// codes and error types, location and name checks, authentication, and a body fuzz that
// must never produce a 5xx.
#include "frazil/rest/catalog_service.h"

#include <gtest/gtest.h>

#include <random>

#include "frazil/catalog/catalog_test_util.h"
#include "frazil/catalog/sqlite_catalog.h"
#include "frazil/rest/messages.h"

namespace frazil::rest {
namespace {

using nlohmann::json;
using server::HttpRequest;
using server::HttpResponse;

constexpr const char* kKey = "0123456789abcdef0123456789abcdef-test-key";

class RestServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(AuthOptions{.signing_key = kKey}); }

  void Open(AuthOptions auth, std::map<std::string, std::string> storage_config = {},
            std::map<std::string, std::string> storage_credentials = {}) {
    router_ = server::Router();
    service_.reset();
    if (!catalog_) {
      auto cat = catalog::SqliteCatalog::Make(catalog::testing::TestOptions(dir_),
                                              std::shared_ptr<io::FileIO>(io::NewLocalFileIO()));
      ASSERT_TRUE(cat) << cat.error().ToString();
      catalog_ = std::move(*cat);
    }
    RestServiceOptions o;
    o.warehouse = "file://" + dir_.path() + "/warehouse";
    o.auth = std::move(auth);
    o.max_page_size = 50;
    o.storage_config = std::move(storage_config);
    o.storage_credentials = std::move(storage_credentials);
    o.clock = &clock_;
    auto svc = RestCatalogService::Make(*catalog_, o);
    ASSERT_TRUE(svc) << svc.error().ToString();
    service_ = std::move(*svc);
    ASSERT_TRUE(service_->AddRoutes(router_));
  }

  HttpResponse Call(std::string method, std::string target, std::string body = {},
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    std::string raw = method + " " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    for (const auto& [k, v] : headers) raw += k + ": " + v + "\r\n";
    raw += "\r\n" + body;
    auto parsed = server::ParseHttpRequest(raw);
    EXPECT_EQ(parsed.kind, server::HttpParseResult::Kind::kComplete) << parsed.error_message;
    parsed.request.loopback = true;
    return router_.Handle(parsed.request);
  }

  static json Body(const HttpResponse& r) { return json::parse(r.body, nullptr, false); }

  static void ExpectError(const HttpResponse& r, int status, std::string_view type) {
    EXPECT_EQ(r.status, status) << r.body;
    json j = Body(r);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
    EXPECT_EQ(j["error"]["code"], status);
    EXPECT_EQ(j["error"]["type"], type) << r.body;
    EXPECT_TRUE(j["error"]["message"].is_string());
  }

  std::string SchemaJson() const {
    return R"({"type":"struct","schema-id":0,"fields":[{"id":1,"name":"id","type":"long","required":true},)"
           R"({"id":2,"name":"name","type":"string","required":false}]})";
  }

  json CreateTable(const std::string& ns, const std::string& name, const std::string& extra = "") {
    auto r = Call("POST", "/v1/namespaces/" + ns + "/tables",
                  R"({"name":")" + name + R"(","schema":)" + SchemaJson() + extra + "}");
    EXPECT_EQ(r.status, 200) << r.body;
    return Body(r);
  }

  catalog::testing::TempDir dir_;
  ManualClock clock_{1'800'000'000'000};
  std::unique_ptr<catalog::SqliteCatalog> catalog_;
  std::unique_ptr<RestCatalogService> service_;
  server::Router router_;
};

TEST_F(RestServiceTest, ConfigListsExactlyTheImplementedEndpoints) {
  auto r = Call("GET", "/v1/config?warehouse=wh");
  ASSERT_EQ(r.status, 200);
  json j = Body(r);
  EXPECT_TRUE(j["defaults"].is_object());
  EXPECT_TRUE(j["overrides"].is_object());
  EXPECT_EQ(j["endpoints"].size(), RestCatalogService::Endpoints().size());
  // Every advertised endpoint is routed: calling it never answers 404 for an unknown path or 405.
  for (const std::string& e : RestCatalogService::Endpoints()) {
    std::string method = e.substr(0, e.find(' '));
    std::string path = e.substr(e.find(' ') + 1);
    path.replace(path.find("/{prefix}"), 9, "");
    for (auto [from, to] : {std::pair{"{namespace}", "nope"}, std::pair{"{table}", "t"}}) {
      if (auto p = path.find(from); p != std::string::npos) path.replace(p, std::string_view(from).size(), to);
    }
    auto resp = Call(method, path, "{}");
    EXPECT_NE(resp.status, 405) << e;
    if (resp.status == 404) {
      EXPECT_NE(Body(resp)["error"]["type"], "NotFoundException") << e << " is not routed";
    }
  }
}

TEST_F(RestServiceTest, StorageConfigAlwaysCredentialsOnlyWhenAskedFor) {
  Open(AuthOptions{.signing_key = kKey},
       {{"s3.endpoint", "http://127.0.0.1:7070"}, {"s3.path-style-access", "true"}, {"client.region", "eu-west-1"}},
       {{"s3.access-key-id", "AK"}, {"s3.secret-access-key", "SK/+"}});
  Call("POST", "/v1/namespaces", R"({"namespace":["db"]})");
  json created = CreateTable("db", "t");
  EXPECT_EQ(created["config"].value("s3.endpoint", ""), "http://127.0.0.1:7070");
  EXPECT_FALSE(created["config"].contains("s3.secret-access-key"));
  EXPECT_FALSE(created.contains("storage-credentials"));

  auto plain = Call("GET", "/v1/namespaces/db/tables/t");
  ASSERT_EQ(plain.status, 200);
  json p = Body(plain);
  EXPECT_EQ(p["config"].value("s3.path-style-access", ""), "true");
  EXPECT_EQ(p["config"].value("client.region", ""), "eu-west-1");
  EXPECT_FALSE(p["config"].contains("s3.access-key-id"));
  EXPECT_FALSE(p.contains("storage-credentials"));

  for (const char* header : {"vended-credentials", "remote-signing, vended-credentials"}) {
    auto vended = Call("GET", "/v1/namespaces/db/tables/t", "", {{"X-Iceberg-Access-Delegation", header}});
    ASSERT_EQ(vended.status, 200);
    json v = Body(vended);
    EXPECT_EQ(v["config"].value("s3.access-key-id", ""), "AK") << header;
    EXPECT_EQ(v["config"].value("s3.secret-access-key", ""), "SK/+");
    ASSERT_EQ(v["storage-credentials"].size(), 1u);
    EXPECT_EQ(v["storage-credentials"][0]["prefix"], p["metadata"]["location"]);
    EXPECT_EQ(v["storage-credentials"][0]["config"].value("s3.endpoint", ""), "http://127.0.0.1:7070");
    // A cached answer without credentials must not satisfy a request for them.
    EXPECT_NE(vended.headers.Get("ETag"), plain.headers.Get("ETag"));
  }
  auto only_signing = Call("GET", "/v1/namespaces/db/tables/t", "", {{"X-Iceberg-Access-Delegation", "remote-signing"}});
  EXPECT_FALSE(Body(only_signing)["config"].contains("s3.secret-access-key"));

  auto creds = Call("GET", "/v1/namespaces/db/tables/t/credentials");
  ASSERT_EQ(creds.status, 200) << creds.body;
  json c = Body(creds);
  ASSERT_EQ(c["storage-credentials"].size(), 1u);
  EXPECT_EQ(c["storage-credentials"][0]["config"].value("s3.access-key-id", ""), "AK");
  ExpectError(Call("GET", "/v1/namespaces/db/tables/nope/credentials"), 404, "NoSuchTableException");

  // No credentials configured (a local warehouse, or rest.vend_credentials: false): none vended.
  Open(AuthOptions{.signing_key = kKey}, {{"s3.endpoint", "http://127.0.0.1:7070"}});
  json none = Body(Call("GET", "/v1/namespaces/db/tables/t", "", {{"X-Iceberg-Access-Delegation", "vended-credentials"}}));
  EXPECT_FALSE(none["config"].contains("s3.access-key-id"));
  EXPECT_FALSE(none.contains("storage-credentials"));
  EXPECT_TRUE(Body(Call("GET", "/v1/namespaces/db/tables/t/credentials"))["storage-credentials"].empty());
}

TEST_F(RestServiceTest, NamespacesMultiLevelPropertiesAndPaging) {
  auto r = Call("POST", "/v1/namespaces", R"({"namespace":["Sales","eu"],"properties":{"owner":"ann"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["namespace"], json({"sales", "eu"}));
  EXPECT_EQ(Body(r)["properties"]["owner"], "ann");
  ExpectError(Call("POST", "/v1/namespaces", R"({"namespace":["sales","eu"]})"), 409, "AlreadyExistsException");

  r = Call("GET", "/v1/namespaces?parent=sales");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["namespaces"], json::array({json{"sales", "eu"}}));
  EXPECT_EQ(Call("HEAD", "/v1/namespaces/sales%1Feu").status, 204);
  ExpectError(Call("HEAD", "/v1/namespaces/sales%1Fus"), 404, "NoSuchNamespaceException");
  ExpectError(Call("GET", "/v1/namespaces/nope"), 404, "NoSuchNamespaceException");

  r = Call("POST", "/v1/namespaces/sales%1Feu/properties", R"({"removals":["owner","ghost"],"updates":{"tier":"gold"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["removed"], json({"owner"}));
  EXPECT_EQ(Body(r)["missing"], json({"ghost"}));
  EXPECT_EQ(Body(r)["updated"], json({"tier"}));
  EXPECT_EQ(Body(Call("GET", "/v1/namespaces/sales%1Feu"))["properties"].value("tier", ""), "gold");
  ExpectError(Call("POST", "/v1/namespaces/sales%1Feu/properties", R"({"removals":["a"],"updates":{"a":"b"}})"), 422,
              "UnprocessableEntityException");

  for (int i = 0; i < 7; ++i) Call("POST", "/v1/namespaces", R"({"namespace":["p)" + std::to_string(i) + R"("]})");
  std::vector<std::string> seen;
  std::string token;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = Body(Call("GET", "/v1/namespaces?pageSize=3" + (token.empty() ? "" : "&pageToken=" + token)));
    for (const auto& n : page["namespaces"]) seen.push_back(n[0]);
    if (!page.contains("next-page-token")) break;
    token = page["next-page-token"];
  }
  EXPECT_EQ(seen.size(), 8u);  // p0..p6 and sales
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));

  ExpectError(Call("GET", "/v1/namespaces?pageSize="), 400, "BadRequestException");
  ExpectError(Call("GET", "/v1/namespaces?pageSize=-1"), 400, "BadRequestException");
  ExpectError(Call("DELETE", "/v1/namespaces/sales"), 409, "NamespaceNotEmptyException");
  EXPECT_EQ(Call("DELETE", "/v1/namespaces/sales%1Feu").status, 204);
  ExpectError(Call("DELETE", "/v1/namespaces/sales%1Feu"), 404, "NoSuchNamespaceException");
}

TEST_F(RestServiceTest, CreateLoadEtagAndSnapshotModes) {
  Call("POST", "/v1/namespaces", R"({"namespace":["db"]})");
  json created = CreateTable("db", "events", R"(,"partition-spec":{"spec-id":0,"fields":[{"source-id":1,"field-id":1000,"name":"id_b","transform":"bucket[4]"}]},"properties":{"a":"1"})");
  EXPECT_TRUE(created["metadata-location"].get<std::string>().ends_with(".metadata.json"));
  EXPECT_EQ(created["metadata"]["properties"]["a"], "1");
  EXPECT_EQ(created["metadata"]["partition-specs"][0]["fields"][0]["transform"], "bucket[4]");
  ExpectError(Call("POST", "/v1/namespaces/db/tables", R"({"name":"events","schema":)" + SchemaJson() + "}"), 409,
              "AlreadyExistsException");
  ExpectError(Call("POST", "/v1/namespaces/nope/tables", R"({"name":"x","schema":)" + SchemaJson() + "}"), 404,
              "NoSuchNamespaceException");

  auto r = Call("GET", "/v1/namespaces/db/tables/events");
  ASSERT_EQ(r.status, 200);
  std::string etag = r.headers.Get("ETag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(Call("GET", "/v1/namespaces/db/tables/events", "", {{"If-None-Match", etag}}).status, 304);
  EXPECT_EQ(Call("GET", "/v1/namespaces/db/tables/events", "", {{"If-None-Match", "\"other\""}}).status, 200);
  EXPECT_EQ(Call("HEAD", "/v1/namespaces/db/tables/events").status, 204);
  ExpectError(Call("GET", "/v1/namespaces/db/tables/missing"), 404, "NoSuchTableException");

  // Two commits: snapshots=refs keeps only main's head; the ETag changes with the table.
  auto id = catalog::TableIdentifier::Of({"db"}, "events");
  for (int i = 0; i < 2; ++i) {
    auto t = catalog_->LoadTable(*id);
    ASSERT_TRUE(t);
    ASSERT_TRUE(catalog_->CommitTable(*id, {}, catalog::testing::AppendUpdates(t->metadata)));
  }
  r = Call("GET", "/v1/namespaces/db/tables/events", "", {{"If-None-Match", etag}});
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.headers.Get("ETag"), etag);
  EXPECT_EQ(Body(r)["metadata"]["snapshots"].size(), 2u);
  auto refs = Body(Call("GET", "/v1/namespaces/db/tables/events?snapshots=refs"));
  ASSERT_EQ(refs["metadata"]["snapshots"].size(), 1u);
  EXPECT_EQ(refs["metadata"]["snapshots"][0]["snapshot-id"], refs["metadata"]["current-snapshot-id"]);
  ExpectError(Call("GET", "/v1/namespaces/db/tables/events?snapshots=some"), 400, "BadRequestException");
}

TEST_F(RestServiceTest, StagedCreateThenAssertCreateCommit) {
  Call("POST", "/v1/namespaces", R"({"namespace":["db"]})");
  json staged = CreateTable("db", "ctas", R"(,"stage-create":true)");
  EXPECT_FALSE(staged.contains("metadata-location"));
  EXPECT_EQ(Call("HEAD", "/v1/namespaces/db/tables/ctas").status, 404);  // nothing committed yet
  const json& md = staged["metadata"];
  json updates = json::array({
      {{"action", "assign-uuid"}, {"uuid", md["table-uuid"]}},
      {{"action", "upgrade-format-version"}, {"format-version", 2}},
      {{"action", "add-schema"}, {"schema", md["schemas"][0]}, {"last-column-id", 2}},
      {{"action", "set-current-schema"}, {"schema-id", -1}},
      {{"action", "add-spec"}, {"spec", md["partition-specs"][0]}},
      {{"action", "set-default-spec"}, {"spec-id", -1}},
      {{"action", "add-sort-order"}, {"sort-order", md["sort-orders"][0]}},
      {{"action", "set-default-sort-order"}, {"sort-order-id", -1}},
      {{"action", "set-location"}, {"location", md["location"]}},
      {{"action", "set-properties"}, {"updates", {{"created-by", "test"}}}},
  });
  json commit = {{"requirements", json::array({{{"type", "assert-create"}}})}, {"updates", updates}};
  auto r = Call("POST", "/v1/namespaces/db/tables/ctas", commit.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["metadata"]["table-uuid"], md["table-uuid"]);
  EXPECT_EQ(Body(r)["metadata"]["properties"]["created-by"], "test");
  // The same commit again: the table exists now.
  ExpectError(Call("POST", "/v1/namespaces/db/tables/ctas", commit.dump()), 409, "CommitFailedException");
}

TEST_F(RestServiceTest, CommitRequirementsConflictsAndBadUpdates) {
  Call("POST", "/v1/namespaces", R"({"namespace":["db"]})");
  json t = CreateTable("db", "t");
  std::string uuid = t["metadata"]["table-uuid"];
  auto commit = [&](json reqs, json updates) {
    return Call("POST", "/v1/namespaces/db/tables/t", json{{"requirements", reqs}, {"updates", updates}}.dump());
  };
  auto r = commit(json::array({{{"type", "assert-table-uuid"}, {"uuid", uuid}}}),
                  json::array({{{"action", "set-properties"}, {"updates", {{"k", "v"}}}}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["metadata"]["properties"]["k"], "v");
  EXPECT_TRUE(Body(r)["metadata-location"].get<std::string>().find("/00001-") != std::string::npos);

  ExpectError(commit(json::array({{{"type", "assert-table-uuid"}, {"uuid", "00000000-0000-0000-0000-000000000000"}}}),
                     json::array()),
              409, "CommitFailedException");
  ExpectError(commit(json::array({{{"type", "assert-ref-snapshot-id"}, {"ref", "main"}, {"snapshot-id", 42}}}),
                     json::array({{{"action", "remove-properties"}, {"removals", {"k"}}}})),
              409, "CommitFailedException");
  ExpectError(commit(json::array({{{"type", "assert-current-schema-id"}, {"current-schema-id", 7}}}), json::array()),
              409, "CommitFailedException");
  ExpectError(commit(json::array(), json::array({{{"action", "teleport"}}})), 400, "BadRequestException");
  ExpectError(commit(json::array({{{"type", "assert-nothing"}}}), json::array()), 400, "BadRequestException");
  ExpectError(commit(json::array(), json::array({{{"action", "set-current-schema"}, {"schema-id", "zero"}}})), 400,
              "BadRequestException");
  ExpectError(Call("POST", "/v1/namespaces/db/tables/t", R"({"requirements":[],"updates":{}})"), 400, "BadRequestException");
  ExpectError(commit(json::array(), json::array({{{"action", "set-location"}, {"location", "file:///etc"}}})), 400,
              "BadRequestException");
  ExpectError(commit(json::array(), json::array({{{"action", "set-properties"}, {"updates", {{"write.data.path", "/tmp/x"}}}}})),
              400, "BadRequestException");
  ExpectError(commit(json::array(), json::array({{{"action", "upgrade-format-version"}, {"format-version", 99}}})), 400,
              "BadRequestException");
  ExpectError(Call("POST", "/v1/namespaces/db/tables/nope", R"({"requirements":[],"updates":[]})"), 404,
              "NoSuchTableException");
  // Nothing of the failed commits landed.
  auto now = catalog_->LoadTable(*catalog::TableIdentifier::Of({"db"}, "t"));
  ASSERT_TRUE(now);
  EXPECT_EQ(now->metadata.properties.at("k"), "v");
  EXPECT_TRUE(now->metadata_location.find("/00001-") != std::string::npos);
  EXPECT_NE(service_->MetricsText().find("frazil_rest_commit_conflicts_total 3"), std::string::npos)
      << service_->MetricsText();
}

TEST_F(RestServiceTest, StatisticsAreSetAndRemoved) {
  Call("POST", "/v1/namespaces", R"({"namespace":["db"]})");
  CreateTable("db", "s");
  auto id = catalog::TableIdentifier::Of({"db"}, "s");
  auto t = catalog_->LoadTable(*id);
  ASSERT_TRUE(t);
  int64_t snap = 0;
  ASSERT_TRUE(catalog_->CommitTable(*id, {}, catalog::testing::AppendUpdates(t->metadata, &snap)));
  json stats = {{"snapshot-id", snap},
                {"statistics-path", "file://" + dir_.path() + "/warehouse/db/s/metadata/stats.puffin"},
                {"file-size-in-bytes", 413},
                {"file-footer-size-in-bytes", 42},
                {"blob-metadata", json::array({{{"type", "apache-datasketches-theta-v1"},
                                                {"snapshot-id", snap},
                                                {"sequence-number", 1},
                                                {"fields", {1}},
                                                {"properties", {{"ndv", "3"}}}}})}};
  auto commit = [&](json updates) {
    return Call("POST", "/v1/namespaces/db/tables/s", json{{"requirements", json::array()}, {"updates", updates}}.dump());
  };
  auto r = commit(json::array({{{"action", "set-statistics"}, {"snapshot-id", snap}, {"statistics", stats}}}));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(Body(r)["metadata"]["statistics"].size(), 1u);
  EXPECT_EQ(Body(r)["metadata"]["statistics"][0]["blob-metadata"][0]["properties"]["ndv"], "3");
  r = commit(json::array({{{"action", "remove-statistics"}, {"snapshot-id", snap}}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(!Body(r)["metadata"].contains("statistics") || Body(r)["metadata"]["statistics"].empty()) << r.body;
  ExpectError(commit(json::array({{{"action", "set-statistics"}, {"statistics", {{"statistics-path", "x"}}}}})), 400,
              "BadRequestException");
}

TEST_F(RestServiceTest, TransactionsAreAllOrNothing) {
  Call("POST", "/v1/namespaces", R"({"namespace":["db"]})");
  CreateTable("db", "a");
  CreateTable("db", "b");
  auto change = [](std::string table, json reqs, std::string value) {
    return json{{"identifier", {{"namespace", {"db"}}, {"name", table}}},
                {"requirements", reqs},
                {"updates", json::array({{{"action", "set-properties"}, {"updates", {{"v", value}}}}})}};
  };
  auto r = Call("POST", "/v1/transactions/commit",
                json{{"table-changes", {change("a", json::array(), "1"), change("b", json::array(), "1")}}}.dump());
  ASSERT_EQ(r.status, 204) << r.body;
  r = Call("POST", "/v1/transactions/commit",
           json{{"table-changes",
                 {change("a", json::array(), "2"),
                  change("b", json::array({{{"type", "assert-current-schema-id"}, {"current-schema-id", 9}}}), "2")}}}
               .dump());
  ExpectError(r, 409, "CommitFailedException");
  for (std::string t : {"a", "b"}) {
    EXPECT_EQ(Body(Call("GET", "/v1/namespaces/db/tables/" + t))["metadata"]["properties"]["v"], "1") << t;
  }
  ExpectError(Call("POST", "/v1/transactions/commit",
                   json{{"table-changes", {change("a", json::array(), "3"), change("a", json::array(), "4")}}}.dump()),
              400, "BadRequestException");
  ExpectError(Call("POST", "/v1/transactions/commit", R"({"table-changes":[{"requirements":[],"updates":[]}]})"), 400,
              "BadRequestException");
}

TEST_F(RestServiceTest, RenameDropRegisterAndMetrics) {
  Call("POST", "/v1/namespaces", R"({"namespace":["db"]})");
  Call("POST", "/v1/namespaces", R"({"namespace":["other"]})");
  json t = CreateTable("db", "t");
  auto rename = [&](std::string from_ns, std::string from, std::string to_ns, std::string to) {
    return Call("POST", "/v1/tables/rename",
                json{{"source", {{"namespace", {from_ns}}, {"name", from}}},
                     {"destination", {{"namespace", {to_ns}}, {"name", to}}}}
                    .dump());
  };
  EXPECT_EQ(rename("db", "t", "other", "t2").status, 204);
  ExpectError(rename("db", "t", "other", "t3"), 404, "NoSuchTableException");
  ExpectError(rename("other", "t2", "nope", "t3"), 404, "NoSuchNamespaceException");
  EXPECT_EQ(Call("POST", "/v1/namespaces/other/tables/t2/metrics",
                 R"({"report-type":"scan-report","table-name":"other.t2","snapshot-id":1})")
                .status,
            204);
  ExpectError(Call("POST", "/v1/namespaces/other/tables/t2/metrics", R"({"table-name":"x"})"), 400, "BadRequestException");

  // Register the same metadata file under a new name; outside the warehouse is refused.
  std::string loc = t["metadata-location"];
  auto r = Call("POST", "/v1/namespaces/db/register", json{{"name", "again"}, {"metadata-location", loc}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["metadata-location"], loc);
  ExpectError(Call("POST", "/v1/namespaces/db/register", json{{"name", "x"}, {"metadata-location", "/etc/passwd"}}.dump()),
              400, "BadRequestException");
  ExpectError(Call("POST", "/v1/namespaces/db/register",
                   json{{"name", "x"}, {"metadata-location", "file://" + dir_.path() + "/warehouse/../../etc/x.json"}}.dump()),
              400, "BadRequestException");

  EXPECT_EQ(Call("DELETE", "/v1/namespaces/db/tables/again?purgeRequested=false").status, 204);
  EXPECT_EQ(Call("DELETE", "/v1/namespaces/other/tables/t2?purgeRequested=true").status, 204);
  ExpectError(Call("DELETE", "/v1/namespaces/other/tables/t2"), 404, "NoSuchTableException");
  EXPECT_FALSE(std::filesystem::exists(io::StripFileScheme(loc)));  // purged
}

TEST_F(RestServiceTest, CdcTablesTakeNoForeignSnapshots) {
  Call("POST", "/v1/namespaces", R"({"namespace":["raw_data"]})");
  CreateTable("raw_data", "accounts", R"(,"properties":{"frazil.source-table":"public.accounts"})");
  auto id = catalog::TableIdentifier::Of({"raw_data"}, "accounts");
  auto t = catalog_->LoadTable(*id);
  ASSERT_TRUE(t);
  json append = json::array();
  for (const auto& u : catalog::testing::AppendUpdates(t->metadata)) append.push_back(iceberg::UpdateToJson(u));
  auto commit = [&](json updates) {
    return Call("POST", "/v1/namespaces/raw_data/tables/accounts", json{{"requirements", json::array()}, {"updates", updates}}.dump());
  };
  ExpectError(commit(append), 403, "ForbiddenException");
  ExpectError(commit(json::array({{{"action", "remove-properties"}, {"removals", {"frazil.source-table"}}}})), 403,
              "ForbiddenException");
  ExpectError(Call("POST", "/v1/transactions/commit",
                   json{{"table-changes", {{{"identifier", {{"namespace", {"raw_data"}}, {"name", "accounts"}}},
                                            {"requirements", json::array()}, {"updates", append}}}}}.dump()),
              403, "ForbiddenException");
  EXPECT_EQ(commit(json::array({{{"action", "set-properties"}, {"updates", {{"owner", "ops"}}}}})).status, 200);
  // frazil itself, through a remote catalog (RestCatalog sends X-Frazil-Client), may.
  auto own = Call("POST", "/v1/namespaces/raw_data/tables/accounts",
                  json{{"requirements", json::array()}, {"updates", append}}.dump(), {{"X-Frazil-Client", "1"}});
  EXPECT_EQ(own.status, 200) << own.body;
  // frazil's own writers on the embedded catalog commit through the catalog, not this check.
  t = catalog_->LoadTable(*id);
  EXPECT_TRUE(catalog_->CommitTable(*id, {}, catalog::testing::AppendUpdates(t->metadata)));
}

TEST_F(RestServiceTest, NamesAndLocationsAreValidated) {
  Call("POST", "/v1/namespaces", R"({"namespace":["db"]})");
  for (std::string bad : {R"(["a/b"])", R"([".."])", R"(["a\u0001"])", R"([""])", R"([])", R"("db")", R"([1])"}) {
    ExpectError(Call("POST", "/v1/namespaces", R"({"namespace":)" + bad + "}"), 400, "BadRequestException");
  }
  for (std::string bad : {"../x", "a/b", "", "x\\u0000"}) {
    ExpectError(Call("POST", "/v1/namespaces/db/tables", R"({"name":")" + bad + R"(","schema":)" + SchemaJson() + "}"),
                400, "BadRequestException");
  }
  for (std::string loc : std::vector<std::string>{"/etc/frazil", "file:///tmp/elsewhere", "file://" + dir_.path() + "/warehouse/../x",
                          "file://" + dir_.path() + "/warehouse/./x", "file://" + dir_.path() + "/warehouse/a/%2e%2E/%2e%2e/x"}) {
    ExpectError(Call("POST", "/v1/namespaces/db/tables",
                     R"({"name":"t","location":")" + loc + R"(","schema":)" + SchemaJson() + "}"),
                400, "BadRequestException");
  }
  // Folders named by table or namespace properties are held to the same rule.
  for (std::string key : {"write.metadata.path", "write.data.path", "write.object-storage.path"}) {
    ExpectError(Call("POST", "/v1/namespaces/db/tables",
                     R"({"name":"t","properties":{")" + key + R"(":"file:///tmp/out"},"schema":)" + SchemaJson() + "}"),
                400, "BadRequestException");
  }
  ExpectError(Call("POST", "/v1/namespaces", R"({"namespace":["elsewhere"],"properties":{"location":"file:///tmp/out"}})"),
              400, "BadRequestException");
  ExpectError(Call("POST", "/v1/namespaces/db/properties", R"({"updates":{"location":"s3://bucket/x"}})"), 400,
              "BadRequestException");
  // Inside the warehouse is fine.
  auto r = Call("POST", "/v1/namespaces/db/tables",
                R"({"name":"t","location":"file://)" + dir_.path() + R"(/warehouse/custom/t","schema":)" + SchemaJson() + "}");
  EXPECT_EQ(r.status, 200) << r.body;
  ExpectError(Call("GET", "/v1/namespaces/..%2Fetc/tables"), 400, "BadRequestException");
  ExpectError(Call("GET", "/v1/namespaces/db/tables/a%2Fb"), 400, "BadRequestException");
}

TEST_F(RestServiceTest, AuthenticationTokensAndReadOnlyClients) {
  Open(AuthOptions{.required = true,
                   .clients = {{"writer", "w-secret", Access::kReadWrite}, {"reader", "r-secret", Access::kReadOnly}},
                   .signing_key = kKey,
                   .token_ttl_seconds = 60});
  ExpectError(Call("GET", "/v1/config"), 401, "NotAuthorizedException");
  ExpectError(Call("GET", "/v1/namespaces", "", {{"Authorization", "Bearer junk"}}), 401, "NotAuthorizedException");
  ExpectError(Call("GET", "/v1/namespaces", "", {{"Authorization", "Basic d3JpdGVyOnctc2VjcmV0"}}), 401,
              "NotAuthorizedException");

  auto token = [&](std::string body, std::vector<std::pair<std::string, std::string>> h = {}) {
    h.push_back({"Content-Type", "application/x-www-form-urlencoded"});
    return Call("POST", "/v1/oauth/tokens", body, h);
  };
  auto bad = token("grant_type=client_credentials&client_id=writer&client_secret=nope");
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(Body(bad)["error"], "invalid_client");
  EXPECT_EQ(bad.body.find("nope"), std::string::npos);
  EXPECT_EQ(Body(token("grant_type=password&username=x"))["error"], "unsupported_grant_type");
  EXPECT_EQ(token("client_id=writer").status, 400);

  auto w = token("grant_type=client_credentials&client_id=writer&client_secret=w-secret&scope=catalog");
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_EQ(Body(w)["token_type"], "bearer");
  EXPECT_EQ(Body(w)["expires_in"], 60);
  std::string wt = "Bearer " + Body(w)["access_token"].get<std::string>();
  // HTTP Basic credentials work too (reader:r-secret).
  auto rd = token("grant_type=client_credentials", {{"Authorization", "Basic cmVhZGVyOnItc2VjcmV0"}});
  ASSERT_EQ(rd.status, 200) << rd.body;
  std::string rt = "Bearer " + Body(rd)["access_token"].get<std::string>();

  EXPECT_EQ(Call("GET", "/v1/config", "", {{"Authorization", wt}}).status, 200);
  EXPECT_EQ(Call("POST", "/v1/namespaces", R"({"namespace":["db"]})", {{"Authorization", wt}}).status, 200);
  EXPECT_EQ(Call("GET", "/v1/namespaces", "", {{"Authorization", rt}}).status, 200);
  ExpectError(Call("POST", "/v1/namespaces", R"({"namespace":["db2"]})", {{"Authorization", rt}}), 403, "ForbiddenException");
  ExpectError(Call("DELETE", "/v1/namespaces/db", "", {{"Authorization", rt}}), 403, "ForbiddenException");

  // A tampered token (payload swapped to read-write) fails its signature.
  std::string raw = Body(rd)["access_token"];
  std::string forged = Body(w)["access_token"].get<std::string>();
  forged = forged.substr(0, forged.rfind('.')) + raw.substr(raw.rfind('.'));
  ExpectError(Call("GET", "/v1/namespaces", "", {{"Authorization", "Bearer " + forged}}), 401, "NotAuthorizedException");

  // Token exchange refreshes; expiry is enforced.
  auto ex = token("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=" +
                  Body(w)["access_token"].get<std::string>() +
                  "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token");
  ASSERT_EQ(ex.status, 200) << ex.body;
  clock_.AdvanceMillis(61'000);
  ExpectError(Call("GET", "/v1/namespaces", "", {{"Authorization", wt}}), 401, "NotAuthorizedException");
}

TEST_F(RestServiceTest, MakeRefusesUnsafeOptions) {
  RestServiceOptions o;
  o.auth.signing_key = "short";
  EXPECT_FALSE(RestCatalogService::Make(*catalog_, o));
  o.auth.signing_key = kKey;
  o.auth.required = true;
  EXPECT_FALSE(RestCatalogService::Make(*catalog_, o));  // required, but nobody may log in
  o.auth.clients = {{"a", "s", Access::kReadWrite}, {"a", "t", Access::kReadOnly}};
  EXPECT_FALSE(RestCatalogService::Make(*catalog_, o));  // duplicate id
}

// Random damage to valid bodies on every POST route: always a 2xx or a 4xx with the error
// shape, never a 5xx.
TEST_F(RestServiceTest, FuzzedBodiesNeverAnswer5xx) {
  Call("POST", "/v1/namespaces", R"({"namespace":["db"]})");
  json t = CreateTable("db", "t");
  std::vector<std::pair<std::string, std::string>> seeds = {
      {"/v1/namespaces", R"({"namespace":["n"],"properties":{"a":"b"}})"},
      {"/v1/namespaces/db/properties", R"({"removals":["a"],"updates":{"b":"c"}})"},
      {"/v1/namespaces/db/tables", R"({"name":"f","schema":)" + SchemaJson() + R"(,"stage-create":true})"},
      {"/v1/namespaces/db/tables/t",
       json{{"requirements", json::array({{{"type", "assert-table-uuid"}, {"uuid", t["metadata"]["table-uuid"]}}})},
            {"updates", json::array({{{"action", "set-properties"}, {"updates", {{"x", "y"}}}},
                                     {{"action", "add-schema"}, {"schema", json::parse(SchemaJson())}}})}}
           .dump()},
      {"/v1/namespaces/db/register", R"({"name":"r","metadata-location":"file:///nowhere/x.metadata.json"})"},
      {"/v1/tables/rename", R"({"source":{"namespace":["db"],"name":"zz"},"destination":{"namespace":["db"],"name":"yy"}})"},
      {"/v1/transactions/commit", R"({"table-changes":[{"identifier":{"namespace":["db"],"name":"t"},"requirements":[],"updates":[]}]})"},
      {"/v1/namespaces/db/tables/t/metrics", R"({"report-type":"scan-report"})"},
  };
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\":,0123456789-abcdefnulltrue \\\x1f\xff";
  int answered = 0;
  for (int i = 0; i < 3000; ++i) {
    auto [path, body] = seeds[rng() % seeds.size()];
    int edits = 1 + rng() % 4;
    for (int e = 0; e < edits && !body.empty(); ++e) {
      size_t pos = rng() % body.size();
      switch (rng() % 3) {
        case 0: body[pos] = alphabet[rng() % alphabet.size()]; break;
        case 1: body.erase(pos, 1 + rng() % 8); break;
        default: body.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
      }
    }
    auto r = Call("POST", path, body);
    ASSERT_LT(r.status, 500) << path << " " << body << " -> " << r.body;
    if (r.status >= 400) {
      json j = Body(r);
      ASSERT_TRUE(j.contains("error") && j["error"].contains("type")) << r.body;
    }
    ++answered;
  }
  EXPECT_EQ(answered, 3000);
}

}  // namespace
}  // namespace frazil::rest
