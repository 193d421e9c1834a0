// RestCatalog against a scripted fake transport: configuration, authentication, paging,
// endpoint gating, error mapping and the commit outcomes. The round trip through frazil's own
// REST server is in rest_catalog_roundtrip_test.cc.
#include "frazil/rest/rest_catalog.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "frazil/catalog/catalog_test_util.h"
#include "frazil/iceberg/table_metadata.h"

namespace frazil::rest {
namespace {

using catalog::TableIdentifier;
using nlohmann::json;

io::HttpResponse JsonResponse(int status, const json& body) {
  io::HttpResponse r;
  r.status = status;
  r.headers.Add("Content-Type", "application/json");
  r.body = body.dump();
  return r;
}

io::HttpResponse ErrorResponse(int status, const std::string& type, const std::string& message) {
  return JsonResponse(status, json{{"error", {{"message", message}, {"type", type}, {"code", status}}}});
}

io::HttpResponse Empty(int status) { return io::HttpResponse{.status = status, .headers = {}, .body = ""}; }

iceberg::TableMetadata SomeMetadata() {
  auto m = iceberg::NewTableMetadata(catalog::testing::TestSchema(), {}, {}, "file:///w/db/t", {{"k", "v"}}, 2,
                                     1'700'000'000'000);
  EXPECT_TRUE(m) << m.error().ToString();
  return *m;
}

json LoadResult(const std::string& location, const iceberg::TableMetadata& m) {
  return json{{"metadata-location", location}, {"metadata", iceberg::TableMetadataToJson(m)}, {"config", json::object()}};
}

// A scripted REST server: a handler per "METHOD /path" (the path without the query), every
// request recorded. Unscripted requests get 404 NoSuchEndpoint... unless a fallback is set.
class FakeServer {
 public:
  using Handler = std::function<Result<io::HttpResponse>(const io::HttpRequest&)>;

  FakeServer() {
    On("GET /v1/config", [this](const io::HttpRequest&) { return JsonResponse(200, config); });
  }

  void On(const std::string& route, Handler h) {
    std::lock_guard<std::mutex> l(mu_);
    routes_[route] = std::move(h);
  }
  void Reply(const std::string& route, io::HttpResponse r) {
    On(route, [r](const io::HttpRequest&) { return r; });
  }

  Result<io::HttpResponse> Send(const io::HttpRequest& req) {
    std::string path = req.url.substr(std::string("http://cat").size());
    path = path.substr(0, path.find('?'));
    Handler h;
    {
      std::lock_guard<std::mutex> l(mu_);
      requests_.push_back(req);
      auto it = routes_.find(req.method + " " + path);
      if (it == routes_.end()) return ErrorResponse(404, "NoSuchEndpointException", "no route " + path);
      h = it->second;
    }
    return h(req);
  }

  std::vector<io::HttpRequest> requests() const {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  // Requests whose "METHOD url" contains `fragment`.
  std::vector<io::HttpRequest> requests(const std::string& fragment) const {
    std::vector<io::HttpRequest> out;
    for (const auto& r : requests()) {
      if ((r.method + " " + r.url).find(fragment) != std::string::npos) out.push_back(r);
    }
    return out;
  }
  void ClearRequests() {
    std::lock_guard<std::mutex> l(mu_);
    requests_.clear();
  }

  json config = json{{"defaults", json::object()}, {"overrides", json::object()}};

 private:
  mutable std::mutex mu_;
  std::map<std::string, Handler> routes_;
  std::vector<io::HttpRequest> requests_;
};

class RestCatalogTest : public ::testing::Test {
 protected:
  RestCatalogTest() {
    fake_transport_ = std::make_shared<io::FakeHttpTransport>(
        [this](const io::HttpRequest& r) { return server_.Send(r); });
    faulty_ = std::make_shared<io::FaultInjectingHttpTransport>(fake_transport_);
  }

  RestCatalogOptions Options() {
    RestCatalogOptions o;
    o.uri = "http://cat";
    o.transport = faulty_;
    o.clock = &clock_;
    o.sleep = [this](std::chrono::milliseconds d) { sleeps_.push_back(d); };
    return o;
  }

  std::unique_ptr<RestCatalog> Make(RestCatalogOptions o) {
    auto c = RestCatalog::Make(std::move(o));
    EXPECT_TRUE(c) << c.error().ToString();
    return c ? std::move(*c) : nullptr;
  }
  std::unique_ptr<RestCatalog> Make() { return Make(Options()); }

  FakeServer server_;
  std::shared_ptr<io::FakeHttpTransport> fake_transport_;
  std::shared_ptr<io::FaultInjectingHttpTransport> faulty_;
  ManualClock clock_{1'700'000'000'000};
  std::vector<std::chrono::milliseconds> sleeps_;
  TableIdentifier t_{{"db"}, "t"};
};

TEST_F(RestCatalogTest, MakeRejectsBadUri) {
  RestCatalogOptions o = Options();
  o.uri = "";
  EXPECT_EQ(RestCatalog::Make(o).error().kind, ErrorKind::kInvalidArgument);
  o.uri = "ftp://cat";
  EXPECT_EQ(RestCatalog::Make(o).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(RestCatalogTest, ConfigMergesDefaultsClientOverridesAndUsesThePrefix) {
  server_.config = json{{"defaults", {{"prefix", "from-defaults"}, {"clients", "4"}, {"header.X-Default", "d"},
                                      {"warehouse", "default-wh"}}},
                        {"overrides", {{"prefix", "p1"}, {"client-only", "overridden"}}}};
  server_.Reply("GET /v1/p1/namespaces", JsonResponse(200, json{{"namespaces", json::array()}}));
  RestCatalogOptions o = Options();
  o.warehouse = "s3://bucket/wh";
  o.headers = {{"X-Tenant", "acme"}};
  o.properties = {{"prefix", "from-client"}, {"client-only", "client"}, {"clients", "8"}};
  o.token = "static-token";
  auto cat = Make(o);
  ASSERT_TRUE(cat);

  auto config_calls = server_.requests("GET http://cat/v1/config");
  ASSERT_EQ(config_calls.size(), 1u);
  EXPECT_EQ(config_calls[0].url, "http://cat/v1/config?warehouse=s3%3A%2F%2Fbucket%2Fwh");
  EXPECT_EQ(config_calls[0].headers.Get("authorization"), "Bearer static-token");

  auto props = cat->properties();
  EXPECT_EQ(props["prefix"], "p1");                // overrides win
  EXPECT_EQ(props["client-only"], "overridden");
  EXPECT_EQ(props["clients"], "8");                // client beats defaults
  EXPECT_EQ(props["warehouse"], "s3://bucket/wh");
  EXPECT_EQ(props.count("token"), 0u);             // no secrets in properties()
  EXPECT_TRUE(cat->endpoints().empty());

  ASSERT_TRUE(cat->ListNamespaces({}));
  auto list = server_.requests("/v1/p1/namespaces");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].headers.Get("X-Tenant"), "acme");
  EXPECT_EQ(list[0].headers.Get("X-Default"), "d");
  EXPECT_EQ(list[0].headers.Get("Authorization"), "Bearer static-token");
}

TEST_F(RestCatalogTest, BasePathAndMultiLevelNamespaces) {
  server_.Reply("GET /api/v1/namespaces/a%1Fb/tables",
                JsonResponse(200, json{{"identifiers", {{{"namespace", {"a", "b"}}, {"name", "z"}},
                                                        {{"namespace", {"a", "b"}}, {"name", "y"}}}}}));
  server_.On("GET /api/v1/config", [this](const io::HttpRequest&) { return JsonResponse(200, server_.config); });
  RestCatalogOptions o = Options();
  o.uri = "http://cat/api/";
  auto cat = Make(o);
  ASSERT_TRUE(cat);
  auto tables = cat->ListTables({"A", "b"});  // lowercased before it is sent
  ASSERT_TRUE(tables) << tables.error().ToString();
  EXPECT_EQ(*tables, (std::vector<TableIdentifier>{{{"a", "b"}, "y"}, {{"a", "b"}, "z"}}));
  auto sent = server_.requests("/tables");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].url, "http://cat/api/v1/namespaces/a%1Fb/tables?pageToken=");
}

TEST_F(RestCatalogTest, FollowsPageTokensToTheEnd) {
  server_.On("GET /v1/namespaces", [](const io::HttpRequest& r) {
    std::string token = r.url.substr(r.url.find("pageToken=") + 10);
    token = token.substr(0, token.find('&'));
    if (token.empty()) return JsonResponse(200, json{{"namespaces", {{"c"}, {"a"}}}, {"next-page-token", "p 2"}});
    if (token == "p%202") return JsonResponse(200, json{{"namespaces", {{"b"}}}, {"next-page-token", "p3"}});
    return JsonResponse(200, json{{"namespaces", {{"d"}}}, {"next-page-token", nullptr}});
  });
  auto cat = Make();
  auto all = cat->ListNamespaces({});
  ASSERT_TRUE(all) << all.error().ToString();
  EXPECT_EQ(*all, (std::vector<catalog::Namespace>{{"a"}, {"b"}, {"c"}, {"d"}}));
  auto sent = server_.requests("GET http://cat/v1/namespaces");
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_TRUE(sent[0].url.ends_with("?pageToken=")) << sent[0].url;
  EXPECT_TRUE(sent[1].url.ends_with("?pageToken=p%202")) << sent[1].url;
  EXPECT_TRUE(sent[2].url.ends_with("?pageToken=p3")) << sent[2].url;

  // Children of a parent; a server that repeats its token is an error, not a loop.
  server_.On("GET /v1/namespaces", [](const io::HttpRequest& r) {
    EXPECT_NE(r.url.find("&parent=a%1Fb"), std::string::npos) << r.url;
    return JsonResponse(200, json{{"namespaces", {{"a", "b", "c"}}}, {"next-page-token", "same"}});
  });
  auto looping = cat->ListNamespaces({"a", "b"});
  ASSERT_FALSE(looping);
  EXPECT_EQ(looping.error().kind, ErrorKind::kIOError);
  EXPECT_NE(looping.error().message.find("repeated a page token"), std::string::npos);

  server_.On("GET /v1/namespaces/db/tables", [](const io::HttpRequest& r) {
    bool first = r.url.ends_with("pageToken=");
    json ids = json::array({{{"namespace", {"db"}}, {"name", first ? "b" : "a"}}});
    return JsonResponse(200, json{{"identifiers", ids}, {"next-page-token", first ? json("n") : json(nullptr)}});
  });
  auto tables = cat->ListTables({"db"});
  ASSERT_TRUE(tables) << tables.error().ToString();
  EXPECT_EQ(*tables, (std::vector<TableIdentifier>{{{"db"}, "a"}, {{"db"}, "b"}}));
}

TEST_F(RestCatalogTest, LoadTableReturnsLocationAndParsedMetadata) {
  iceberg::TableMetadata m = SomeMetadata();
  server_.Reply("GET /v1/namespaces/db/tables/t", JsonResponse(200, LoadResult("file:///w/db/t/metadata/00000-x.metadata.json", m)));
  auto cat = Make();
  auto loaded = cat->LoadTable(TableIdentifier{{"DB"}, "T"});
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  EXPECT_EQ(loaded->metadata_location, "file:///w/db/t/metadata/00000-x.metadata.json");
  EXPECT_EQ(loaded->metadata.table_uuid, m.table_uuid);
  EXPECT_EQ(loaded->metadata.properties.at("k"), "v");
  EXPECT_EQ(loaded->metadata.current_schema()->fields().size(), 2u);

  server_.Reply("GET /v1/namespaces/db/tables/t", JsonResponse(200, json{{"metadata-location", "x"}}));
  EXPECT_EQ(cat->LoadTable(t_).error().kind, ErrorKind::kCorrupt);
  EXPECT_EQ(cat->AcquireWriteLease(true).value(), nullptr);
}

TEST_F(RestCatalogTest, CreateTableSendsTheRequestBody) {
  iceberg::TableMetadata m = SomeMetadata();
  json seen;
  server_.On("POST /v1/namespaces/db/tables", [&](const io::HttpRequest& r) {
    seen = json::parse(r.body);
    EXPECT_EQ(r.headers.Get("content-type"), "application/json");
    return JsonResponse(200, LoadResult("loc", m));
  });
  auto cat = Make();
  auto created = cat->CreateTable(t_, catalog::testing::TestSchema(), {}, {}, "file:///elsewhere", {{"format-version", "2"}});
  ASSERT_TRUE(created) << created.error().ToString();
  EXPECT_EQ(seen["name"], "t");
  EXPECT_EQ(seen["location"], "file:///elsewhere");
  EXPECT_EQ(seen["stage-create"], false);
  EXPECT_EQ(seen["properties"]["format-version"], "2");
  EXPECT_EQ(seen["schema"]["fields"].size(), 2u);
  EXPECT_TRUE(seen.contains("partition-spec"));
  EXPECT_TRUE(seen.contains("write-order"));
}

struct ErrorCase {
  int status;
  std::string type;
  ErrorKind want;
};

TEST_F(RestCatalogTest, MapsErrorsByStatusAndType) {
  auto cat = Make();
  // Load table: a 404 without a telling type is NoSuchTable (Java's reading as well).
  for (const ErrorCase& c : std::vector<ErrorCase>{
           {404, "NoSuchTableException", ErrorKind::kNoSuchTable},
           {404, "NoSuchNamespaceException", ErrorKind::kNoSuchNamespace},
           {404, "", ErrorKind::kNoSuchTable},
           {400, "BadRequestException", ErrorKind::kInvalidArgument},
           {401, "NotAuthorizedException", ErrorKind::kNotAuthorized},
           {403, "ForbiddenException", ErrorKind::kForbidden},
           {406, "UnsupportedOperationException", ErrorKind::kUnsupported},
           {500, "ServiceFailureException", ErrorKind::kIOError},
           {502, "", ErrorKind::kIOError},
       }) {
    server_.Reply("GET /v1/namespaces/db/tables/t", ErrorResponse(c.status, c.type, "server says no"));
    auto r = cat->LoadTable(t_);
    ASSERT_FALSE(r) << c.status;
    EXPECT_EQ(r.error().kind, c.want) << c.status << " " << c.type << ": " << r.error().message;
    EXPECT_NE(r.error().message.find("load table db.t: server says no"), std::string::npos) << r.error().message;
  }
  // 409 by type and by operation.
  server_.Reply("POST /v1/namespaces", ErrorResponse(409, "AlreadyExistsException", "exists"));
  EXPECT_EQ(cat->CreateNamespace({"db"}, {}).error().kind, ErrorKind::kAlreadyExists);
  server_.Reply("DELETE /v1/namespaces/db", ErrorResponse(409, "NamespaceNotEmptyException", "not empty"));
  EXPECT_EQ(cat->DropNamespace({"db"}).error().kind, ErrorKind::kNamespaceNotEmpty);
  server_.Reply("DELETE /v1/namespaces/db", ErrorResponse(404, "NoSuchNamespaceException", "gone"));
  EXPECT_EQ(cat->DropNamespace({"db"}).error().kind, ErrorKind::kNoSuchNamespace);
  server_.Reply("POST /v1/namespaces/db/tables/t", ErrorResponse(409, "CommitFailedException", "stale"));
  auto commit = cat->CommitTable(t_, {}, {iceberg::upd::SetProperties{{{"a", "b"}}}});
  EXPECT_EQ(commit.error().kind, ErrorKind::kCommitFailed);
  EXPECT_NE(commit.error().message.find("commit table db.t: stale (HTTP 409 CommitFailedException)"), std::string::npos)
      << commit.error().message;
  server_.Reply("POST /v1/namespaces/db/register", ErrorResponse(404, "NotFoundException", "no such file"));
  EXPECT_EQ(cat->RegisterTable(t_, "file:///x.json").error().kind, ErrorKind::kNotFound);
  server_.Reply("POST /v1/tables/rename", ErrorResponse(404, "NoSuchNamespaceException", "target ns"));
  EXPECT_EQ(cat->RenameTable(t_, TableIdentifier{{"x"}, "y"}).error().kind, ErrorKind::kNoSuchNamespace);
  server_.Reply("POST /v1/namespaces/db/properties", ErrorResponse(422, "UnprocessableEntityException", "both"));
  EXPECT_EQ(cat->UpdateNamespaceProperties({"db"}, {"a"}, {{"b", "1"}}).error().kind, ErrorKind::kInvalidArgument);
  // A key both removed and set never leaves the client.
  size_t before = server_.requests().size();
  EXPECT_EQ(cat->UpdateNamespaceProperties({"db"}, {"a"}, {{"a", "1"}}).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(server_.requests().size(), before);
  // A non-JSON error body still gives a message.
  server_.Reply("GET /v1/namespaces/db", io::HttpResponse{.status = 500, .headers = {}, .body = "<html>oops</html>"});
  auto html = cat->LoadNamespaceMetadata({"db"});
  EXPECT_EQ(html.error().kind, ErrorKind::kIOError);
  EXPECT_NE(html.error().message.find("oops"), std::string::npos);
}

TEST_F(RestCatalogTest, ExistsChecksUseHeadOnlyWhenListed) {
  auto cat = Make();  // no endpoints listed: the default set, without HEAD
  server_.Reply("GET /v1/namespaces/db/tables/t", ErrorResponse(404, "NoSuchTableException", "no"));
  server_.Reply("GET /v1/namespaces/db", JsonResponse(200, json{{"namespace", {"db"}}, {"properties", {{"a", "1"}}}}));
  EXPECT_FALSE(*cat->TableExists(t_));
  EXPECT_TRUE(*cat->NamespaceExists({"db"}));
  EXPECT_EQ(*cat->LoadNamespaceMetadata({"db"}), (catalog::Properties{{"a", "1"}}));
  EXPECT_TRUE(server_.requests("HEAD ").empty());

  server_.config["endpoints"] = json{"HEAD /v1/{prefix}/namespaces/{namespace}",
                                     "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
                                     "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
                                     "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}"};
  server_.Reply("HEAD /v1/namespaces/db/tables/t", Empty(204));
  server_.Reply("HEAD /v1/namespaces/db", Empty(404));
  cat = Make();
  EXPECT_TRUE(*cat->TableExists(t_));
  EXPECT_FALSE(*cat->NamespaceExists({"db"}));
  server_.Reply("HEAD /v1/namespaces/db/tables/t", Empty(403));
  EXPECT_EQ(cat->TableExists(t_).error().kind, ErrorKind::kForbidden);
}

TEST_F(RestCatalogTest, CallsOnlyListedEndpoints) {
  server_.config["endpoints"] = json{"GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
                                     "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}"};
  iceberg::TableMetadata m = SomeMetadata();
  server_.Reply("POST /v1/namespaces/db/tables/t", JsonResponse(200, LoadResult("l1", m)));
  server_.Reply("POST /v1/namespaces/db/tables/u", JsonResponse(200, LoadResult("l2", m)));
  auto cat = Make();
  server_.ClearRequests();

  auto tx = cat->CommitTransaction({catalog::TableCommit{t_, {}, {}}, catalog::TableCommit{{{"db"}, "u"}, {}, {}}});
  ASSERT_FALSE(tx);
  EXPECT_EQ(tx.error().kind, ErrorKind::kUnsupported);
  EXPECT_NE(tx.error().message.find("POST /v1/{prefix}/transactions/commit"), std::string::npos) << tx.error().message;
  EXPECT_EQ(cat->RenameTable(t_, {{"db"}, "v"}).error().kind, ErrorKind::kUnsupported);
  EXPECT_EQ(cat->ListNamespaces({}).error().kind, ErrorKind::kUnsupported);
  EXPECT_EQ(cat->CreateNamespace({"x"}, {}).error().kind, ErrorKind::kUnsupported);
  EXPECT_TRUE(server_.requests().empty());  // nothing was sent

  // One table needs no transaction endpoint: it is a plain commit.
  auto one = cat->CommitTransaction({catalog::TableCommit{t_, {}, {}}});
  ASSERT_TRUE(one) << one.error().ToString();
  EXPECT_EQ((*one)[0].metadata_location, "l1");
  EXPECT_EQ(server_.requests("POST http://cat/v1/namespaces/db/tables/t").size(), 1u);
}

TEST_F(RestCatalogTest, CommitSendsRequirementsAndUpdatesAndReturnsTheNewMetadata) {
  iceberg::TableMetadata base = SomeMetadata();
  json seen;
  server_.On("POST /v1/namespaces/db/tables/t", [&](const io::HttpRequest& r) {
    seen = json::parse(r.body);
    return JsonResponse(200, json{{"metadata-location", "file:///w/db/t/metadata/00001-y.metadata.json"},
                                  {"metadata", iceberg::TableMetadataToJson(base)}});
  });
  auto cat = Make();
  auto committed = cat->CommitTable(t_, catalog::testing::MainIs(base), catalog::testing::AppendUpdates(base));
  ASSERT_TRUE(committed) << committed.error().ToString();
  EXPECT_EQ(committed->metadata_location, "file:///w/db/t/metadata/00001-y.metadata.json");
  EXPECT_EQ(seen["identifier"], (json{{"namespace", {"db"}}, {"name", "t"}}));
  ASSERT_EQ(seen["requirements"].size(), 1u);
  EXPECT_EQ(seen["requirements"][0]["type"], "assert-ref-snapshot-id");
  EXPECT_TRUE(seen["requirements"][0]["snapshot-id"].is_null());
  ASSERT_EQ(seen["updates"].size(), 2u);
  EXPECT_EQ(seen["updates"][0]["action"], "add-snapshot");
  EXPECT_EQ(seen["updates"][1]["action"], "set-snapshot-ref");
  auto posts = server_.requests("POST http://cat/v1/namespaces/db/tables/t");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_FALSE(posts[0].idempotent);  // never re-sent over a stale keep-alive connection
}

TEST_F(RestCatalogTest, CommitOn5xxIsStateUnknownAndNotRetried) {
  auto cat = Make();
  for (int status : {500, 502, 503, 504}) {
    server_.ClearRequests();
    server_.Reply("POST /v1/namespaces/db/tables/t", ErrorResponse(status, "", "boom"));
    auto r = cat->CommitTable(t_, {}, {iceberg::upd::SetProperties{{{"a", "b"}}}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::kCommitStateUnknown) << status;
    EXPECT_EQ(server_.requests().size(), 1u) << status;
  }
  // Other 5xx on a non-commit write: IOError, not retried either.
  server_.ClearRequests();
  server_.Reply("POST /v1/namespaces", ErrorResponse(503, "", "busy"));
  EXPECT_EQ(cat->CreateNamespace({"x"}, {}).error().kind, ErrorKind::kIOError);
  EXPECT_EQ(server_.requests().size(), 1u);
  // A 200 whose body cannot be read: it did commit, so the writer must keep its files.
  server_.Reply("POST /v1/namespaces/db/tables/t", JsonResponse(200, json{{"unexpected", true}}));
  EXPECT_EQ(cat->CommitTable(t_, {}, {}).error().kind, ErrorKind::kCommitStateUnknown);
}

TEST_F(RestCatalogTest, CommitTransportFailures) {
  iceberg::TableMetadata m = SomeMetadata();
  int commits_seen = 0;
  server_.On("POST /v1/namespaces/db/tables/t", [&](const io::HttpRequest&) {
    ++commits_seen;
    return JsonResponse(200, LoadResult("l", m));
  });
  auto cat = Make();

  // The server received it and the answer was lost: state unknown, and no second attempt.
  faulty_->FailNext(io::HttpFailure::kMaybeSent, "POST", "/tables/t");
  auto lost = cat->CommitTable(t_, {}, {});
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().kind, ErrorKind::kCommitStateUnknown) << lost.error().message;
  EXPECT_EQ(commits_seen, 1);

  // Never sent (connection refused): safe to retry; it goes through on the second attempt.
  faulty_->FailNext(io::HttpFailure::kNotSent, "POST", "/tables/t");
  auto retried = cat->CommitTable(t_, {}, {});
  ASSERT_TRUE(retried) << retried.error().ToString();
  EXPECT_EQ(commits_seen, 2);
  EXPECT_EQ(sleeps_.size(), 1u);

  // Never sent, every attempt: a definite IOError (the writer may clean up).
  faulty_->FailNext(io::HttpFailure::kNotSent, "POST", "/tables/t", 100);
  auto refused = cat->CommitTable(t_, {}, {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::kIOError);
  EXPECT_EQ(commits_seen, 2);

  // A transaction whose answer is lost.
  faulty_->Clear();
  server_.Reply("POST /v1/transactions/commit", Empty(204));
  faulty_->FailNext(io::HttpFailure::kMaybeSent, "POST", "/transactions/commit");
  auto tx = cat->CommitTransaction({catalog::TableCommit{t_, {}, {}}, catalog::TableCommit{{{"db"}, "u"}, {}, {}}});
  ASSERT_FALSE(tx);
  EXPECT_EQ(tx.error().kind, ErrorKind::kCommitStateUnknown);
}

TEST_F(RestCatalogTest, TransactionCommitsThenReloads) {
  iceberg::TableMetadata m = SomeMetadata();
  json seen;
  server_.On("POST /v1/transactions/commit", [&](const io::HttpRequest& r) {
    seen = json::parse(r.body);
    return Empty(204);
  });
  server_.Reply("GET /v1/namespaces/db/tables/t", JsonResponse(200, LoadResult("lt", m)));
  server_.Reply("GET /v1/namespaces/db/tables/u", JsonResponse(200, LoadResult("lu", m)));
  auto cat = Make();
  TableIdentifier u{{"db"}, "u"};
  auto tx = cat->CommitTransaction({catalog::TableCommit{t_, catalog::testing::MainIs(m), {}},
                                    catalog::TableCommit{u, {}, {iceberg::upd::SetProperties{{{"a", "b"}}}}}});
  ASSERT_TRUE(tx) << tx.error().ToString();
  ASSERT_EQ(tx->size(), 2u);
  EXPECT_EQ((*tx)[0].metadata_location, "lt");
  EXPECT_EQ((*tx)[1].metadata_location, "lu");
  ASSERT_EQ(seen["table-changes"].size(), 2u);
  EXPECT_EQ(seen["table-changes"][1]["identifier"]["name"], "u");
  EXPECT_EQ(seen["table-changes"][1]["updates"][0]["action"], "set-properties");

  EXPECT_EQ(cat->CommitTransaction({catalog::TableCommit{t_, {}, {}}, catalog::TableCommit{{{"DB"}, "T"}, {}, {}}})
                .error()
                .kind,
            ErrorKind::kInvalidArgument);
  server_.Reply("POST /v1/transactions/commit", ErrorResponse(409, "CommitFailedException", "stale"));
  EXPECT_EQ(cat->CommitTransaction({catalog::TableCommit{t_, {}, {}}, catalog::TableCommit{u, {}, {}}}).error().kind,
            ErrorKind::kCommitFailed);
  // Committed, but a reload fails: still nothing may be deleted.
  server_.Reply("POST /v1/transactions/commit", Empty(204));
  server_.Reply("GET /v1/namespaces/db/tables/u", ErrorResponse(500, "", "down"));
  EXPECT_EQ(cat->CommitTransaction({catalog::TableCommit{t_, {}, {}}, catalog::TableCommit{u, {}, {}}}).error().kind,
            ErrorKind::kCommitStateUnknown);
}

TEST_F(RestCatalogTest, ReadsAreRetriedOnConnectionFailuresAnd503) {
  iceberg::TableMetadata m = SomeMetadata();
  int calls = 0;
  server_.On("GET /v1/namespaces/db/tables/t", [&](const io::HttpRequest&) {
    ++calls;  // the first answer is lost in transit (below)
    if (calls == 2) {
      io::HttpResponse r = ErrorResponse(503, "", "warming up");
      r.headers.Add("Retry-After", "2");
      return r;
    }
    return JsonResponse(200, LoadResult("l", m));
  });
  auto cat = Make();
  faulty_->FailNext(io::HttpFailure::kMaybeSent, "GET", "/tables/t");  // a lost answer to a read
  auto loaded = cat->LoadTable(t_);
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(sleeps_.size(), 2u);
  EXPECT_EQ(sleeps_[1], std::chrono::milliseconds(2000));  // Retry-After

  // Attempts are bounded.
  sleeps_.clear();
  server_.Reply("GET /v1/namespaces/db/tables/t", ErrorResponse(503, "", "down"));
  auto down = cat->LoadTable(t_);
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().kind, ErrorKind::kIOError);
  EXPECT_EQ(sleeps_.size(), 3u);  // max_attempts 4
}

class RestCatalogAuthTest : public RestCatalogTest {
 protected:
  void SetUp() override {
    server_.On("POST /v1/oauth/tokens", [this](const io::HttpRequest& r) {
      token_requests_.push_back(r.body);
      EXPECT_EQ(r.headers.Get("content-type"), "application/x-www-form-urlencoded");
      EXPECT_FALSE(r.headers.Has("authorization"));
      if (r.body.find("client_secret=wrong") != std::string::npos) {
        return JsonResponse(401, json{{"error", "invalid_client"}, {"error_description", "bad secret"}});
      }
      ++issued_;
      return JsonResponse(200, json{{"access_token", "tok" + std::to_string(issued_)},
                                    {"token_type", "bearer"},
                                    {"expires_in", 3600},
                                    {"issued_token_type", "urn:ietf:params:oauth:token-type:access_token"}});
    });
    server_.On("GET /v1/config", [this](const io::HttpRequest& r) {
      if (!r.headers.Get("Authorization").starts_with("Bearer tok")) return ErrorResponse(401, "NotAuthorizedException", "no token");
      return JsonResponse(200, server_.config);
    });
    server_.On("GET /v1/namespaces/db", [this](const io::HttpRequest& r) {
      if (r.headers.Get("Authorization") != "Bearer tok" + std::to_string(issued_)) {
        return ErrorResponse(401, "NotAuthorizedException", "expired");
      }
      return JsonResponse(200, json{{"namespace", {"db"}}, {"properties", json::object()}});
    });
  }

  RestCatalogOptions AuthOptions(std::string credential = "frazil-app:s3cr3t") {
    RestCatalogOptions o = Options();
    o.credential = std::move(credential);
    return o;
  }

  std::vector<std::string> token_requests_;
  int issued_ = 0;
};

TEST_F(RestCatalogAuthTest, ClientCredentialsTokenIsUsedAndRenewedBeforeExpiry) {
  auto cat = Make(AuthOptions());
  ASSERT_TRUE(cat);
  ASSERT_EQ(token_requests_.size(), 1u);
  EXPECT_EQ(token_requests_[0], "grant_type=client_credentials&client_id=frazil-app&client_secret=s3cr3t&scope=catalog");
  EXPECT_EQ(cat->properties().count("credential"), 0u);

  ASSERT_TRUE(cat->LoadNamespaceMetadata({"db"}));
  clock_.AdvanceMillis(3000 * 1000);  // well within the hour
  ASSERT_TRUE(cat->LoadNamespaceMetadata({"db"}));
  EXPECT_EQ(token_requests_.size(), 1u);

  clock_.AdvanceMillis(541 * 1000);  // less than a minute left: renew first
  ASSERT_TRUE(cat->LoadNamespaceMetadata({"db"}));
  EXPECT_EQ(token_requests_.size(), 2u);
  auto last = server_.requests("GET http://cat/v1/namespaces/db").back();
  EXPECT_EQ(last.headers.Get("Authorization"), "Bearer tok2");
}

TEST_F(RestCatalogAuthTest, A401RenewsTheTokenOnce) {
  auto cat = Make(AuthOptions());
  ASSERT_TRUE(cat);
  issued_ = 10;  // the server forgot tok1 (key rotation): the next call gets 401
  auto props = cat->LoadNamespaceMetadata({"db"});
  ASSERT_TRUE(props) << props.error().ToString();
  EXPECT_EQ(token_requests_.size(), 2u);
  auto calls = server_.requests("GET http://cat/v1/namespaces/db");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].headers.Get("Authorization"), "Bearer tok1");
  EXPECT_EQ(calls[1].headers.Get("Authorization"), "Bearer tok11");

  // Still 401 after a renewal: NotAuthorized, no loop.
  server_.Reply("GET /v1/namespaces/db", ErrorResponse(401, "NotAuthorizedException", "revoked"));
  auto denied = cat->LoadNamespaceMetadata({"db"});
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().kind, ErrorKind::kNotAuthorized);
  EXPECT_EQ(token_requests_.size(), 3u);
  EXPECT_EQ(server_.requests("GET http://cat/v1/namespaces/db").size(), 4u);
}

TEST_F(RestCatalogAuthTest, A401OnACommitRenewsAndCommitsOnce) {
  iceberg::TableMetadata m = SomeMetadata();
  int applied = 0;
  server_.On("POST /v1/namespaces/db/tables/t", [&](const io::HttpRequest& r) {
    if (r.headers.Get("Authorization") != "Bearer tok2") return ErrorResponse(401, "NotAuthorizedException", "expired");
    ++applied;
    return JsonResponse(200, LoadResult("l", m));
  });
  auto cat = Make(AuthOptions());
  issued_ = 1;
  ASSERT_TRUE(cat->CommitTable(t_, {}, {}));
  EXPECT_EQ(applied, 1);
}

TEST_F(RestCatalogAuthTest, RejectedCredentialIsNotAuthorizedWithoutTheSecret) {
  auto r = RestCatalog::Make(AuthOptions("frazil-app:wrong"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kNotAuthorized);
  EXPECT_NE(r.error().message.find("invalid_client: bad secret"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("wrong"), std::string::npos) << r.error().message;
  EXPECT_TRUE(server_.requests("/v1/config").empty());
}

TEST_F(RestCatalogAuthTest, ExplicitTokenEndpointAndStaticToken) {
  server_.On("POST /auth/token", [this](const io::HttpRequest& r) {
    token_requests_.push_back(r.body);
    return JsonResponse(200, json{{"access_token", "tok1"}, {"token_type", "bearer"}});
  });
  RestCatalogOptions o = AuthOptions("only-secret");
  o.oauth2_server_uri = "http://cat/auth/token";
  o.scope = "PRINCIPAL_ROLE:ALL";
  issued_ = 1;
  auto cat = Make(o);
  ASSERT_TRUE(cat);
  ASSERT_EQ(token_requests_.size(), 1u);
  EXPECT_EQ(token_requests_[0], "grant_type=client_credentials&client_secret=only-secret&scope=PRINCIPAL_ROLE%3AALL");
  // No expires_in: the token is kept until a 401.
  clock_.AdvanceMillis(int64_t{100} * 24 * 3600 * 1000);
  ASSERT_TRUE(cat->LoadNamespaceMetadata({"db"}));
  EXPECT_EQ(token_requests_.size(), 1u);

  // A static token is never renewed: 401 is final.
  RestCatalogOptions s = Options();
  s.token = "tok1";
  auto with_static = Make(s);
  ASSERT_TRUE(with_static);
  issued_ = 5;
  EXPECT_EQ(with_static->LoadNamespaceMetadata({"db"}).error().kind, ErrorKind::kNotAuthorized);
  EXPECT_EQ(token_requests_.size(), 1u);
}

}  // namespace
}  // namespace frazil::rest
