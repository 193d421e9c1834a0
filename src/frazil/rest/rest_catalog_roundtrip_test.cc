// RestCatalog -> frazil's REST server (real sockets, OAuth2 on) -> SqliteCatalog. The catalog
// contract checks are written once against catalog::Catalog and run on both the SQLite catalog
// directly and through REST, so the client and server together must behave like the store.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "frazil/catalog/catalog_test_util.h"
#include "frazil/catalog/sqlite_catalog.h"
#include "frazil/rest/catalog_service.h"
#include "frazil/rest/rest_catalog.h"
#include "frazil/server/http_server.h"

namespace frazil::rest {
namespace {

using catalog::Catalog;
using catalog::LoadedTable;
using catalog::Namespace;
using catalog::Properties;
using catalog::TableCommit;
using catalog::TableIdentifier;
using catalog::testing::AppendUpdates;
using catalog::testing::MainIs;
using catalog::testing::MetadataFiles;
using catalog::testing::TempDir;
using catalog::testing::TestSchema;

constexpr const char* kSigningKey = "roundtrip-signing-key-0123456789abcdef0123";

// A catalog under test: the SQLite store itself, or a RestCatalog in front of a REST server
// in front of the same kind of store.
class Stack {
 public:
  virtual ~Stack() = default;
  virtual Catalog& catalog() = 0;
  const TempDir& dir() const { return dir_; }
  std::string warehouse() const { return "file://" + dir_.path() + "/warehouse"; }

 protected:
  std::unique_ptr<catalog::SqliteCatalog> OpenStore() {
    auto store = catalog::SqliteCatalog::Make(catalog::testing::TestOptions(dir_),
                                              std::shared_ptr<io::FileIO>(io::NewLocalFileIO()));
    EXPECT_TRUE(store) << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }
  TempDir dir_;
};

class SqliteStack final : public Stack {
 public:
  SqliteStack() : store_(OpenStore()) {}
  Catalog& catalog() override { return *store_; }

 private:
  std::unique_ptr<catalog::SqliteCatalog> store_;
};

class RestStack final : public Stack {
 public:
  RestStack() {
    store_ = OpenStore();
    RestServiceOptions o;
    o.warehouse = warehouse();
    o.allowed_locations = {"file://" + dir_.path() + "/"};
    o.auth.required = true;
    o.auth.signing_key = kSigningKey;
    o.auth.clients = {RestClientGrant{.id = "app", .secret = "app-secret", .access = Access::kReadWrite},
                      RestClientGrant{.id = "reader", .secret = "reader-secret", .access = Access::kReadOnly}};
    o.max_page_size = 2;  // so that every list crosses pages
    auto service = RestCatalogService::Make(*store_, o);
    EXPECT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
    server::Router router;
    EXPECT_TRUE(service_->AddRoutes(router));
    server::HttpServerOptions so;
    so.access_log = nullptr;
    auto server = server::HttpServer::Start("127.0.0.1:0", std::move(router), so);
    EXPECT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    auto client = RestCatalog::Make(Options("app:app-secret"));
    EXPECT_TRUE(client) << client.error().ToString();
    client_ = std::move(*client);
  }
  ~RestStack() override { server_->Stop(); }

  RestCatalogOptions Options(std::string credential) const {
    RestCatalogOptions o;
    o.uri = "http://127.0.0.1:" + std::to_string(server_->port());
    o.credential = std::move(credential);
    o.request_timeout = std::chrono::milliseconds(20'000);
    return o;
  }
  Catalog& catalog() override { return *client_; }
  catalog::SqliteCatalog& store() { return *store_; }
  server::HttpServer& server() { return *server_; }

 private:
  std::unique_ptr<catalog::SqliteCatalog> store_;
  std::unique_ptr<RestCatalogService> service_;
  std::unique_ptr<server::HttpServer> server_;
  std::unique_ptr<RestCatalog> client_;
};

Result<LoadedTable> Create(Catalog& c, const TableIdentifier& id, const Properties& props = {}) {
  return c.CreateTable(id, TestSchema(), iceberg::PartitionSpec{}, iceberg::SortOrder{}, std::nullopt, props);
}

// --- The contract, once ---

void CheckNamespaces(Catalog& c) {
  ASSERT_TRUE(c.CreateNamespace({"Sales"}, {{"owner", "ann"}}));
  ASSERT_TRUE(c.CreateNamespace({"sales", "raw"}, {}));
  ASSERT_TRUE(c.CreateNamespace({"hr"}, {}));
  ASSERT_TRUE(c.CreateNamespace({"ops"}, {}));
  EXPECT_EQ(c.CreateNamespace({"SALES"}, {}).error().kind, ErrorKind::kAlreadyExists);

  auto top = c.ListNamespaces({});
  ASSERT_TRUE(top) << top.error().ToString();
  EXPECT_EQ(*top, (std::vector<Namespace>{{"hr"}, {"ops"}, {"sales"}}));
  auto children = c.ListNamespaces({"sales"});
  ASSERT_TRUE(children) << children.error().ToString();
  EXPECT_EQ(*children, (std::vector<Namespace>{{"sales", "raw"}}));
  EXPECT_EQ(c.ListNamespaces({"nope"}).error().kind, ErrorKind::kNoSuchNamespace);

  auto props = c.LoadNamespaceMetadata({"sales"});
  ASSERT_TRUE(props) << props.error().ToString();
  EXPECT_EQ(props->at("owner"), "ann");
  ASSERT_TRUE(c.UpdateNamespaceProperties({"sales"}, {"owner"}, {{"team", "x"}}));
  props = c.LoadNamespaceMetadata({"sales"});
  ASSERT_TRUE(props);
  EXPECT_EQ(props->count("owner"), 0u);
  EXPECT_EQ(props->at("team"), "x");
  EXPECT_EQ(c.UpdateNamespaceProperties({"sales"}, {"a"}, {{"a", "1"}}).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(c.LoadNamespaceMetadata({"nope"}).error().kind, ErrorKind::kNoSuchNamespace);

  EXPECT_EQ(c.DropNamespace({"sales"}).error().kind, ErrorKind::kNamespaceNotEmpty);
  ASSERT_TRUE(c.DropNamespace({"sales", "raw"}));
  ASSERT_TRUE(Create(c, TableIdentifier{{"sales"}, "orders"}));
  EXPECT_EQ(c.DropNamespace({"sales"}).error().kind, ErrorKind::kNamespaceNotEmpty);
  ASSERT_TRUE(c.DropTable(TableIdentifier{{"sales"}, "orders"}, false));
  ASSERT_TRUE(c.DropNamespace({"sales"}));
  EXPECT_FALSE(*c.NamespaceExists({"sales"}));
  EXPECT_TRUE(*c.NamespaceExists({"hr"}));
  EXPECT_EQ(c.DropNamespace({"sales"}).error().kind, ErrorKind::kNoSuchNamespace);
}

void CheckCreateLoadListDrop(Catalog& c, const std::string& warehouse) {
  TableIdentifier id{{"db"}, "t"};
  EXPECT_EQ(Create(c, id).error().kind, ErrorKind::kNoSuchNamespace);
  ASSERT_TRUE(c.CreateNamespace({"db"}, {}));
  auto created = Create(c, TableIdentifier{{"DB"}, "T"}, {{"format-version", "2"}, {"k", "v"}});
  ASSERT_TRUE(created) << created.error().ToString();
  EXPECT_TRUE(created->metadata.location.starts_with(warehouse + "/db/t")) << created->metadata.location;
  EXPECT_TRUE(created->metadata_location.starts_with(created->metadata.location + "/metadata/00000-"))
      << created->metadata_location;
  EXPECT_EQ(created->metadata.properties.count("format-version"), 0u);
  EXPECT_EQ(created->metadata.properties.at("k"), "v");
  EXPECT_TRUE(std::filesystem::exists(io::StripFileScheme(created->metadata_location)));

  auto loaded = c.LoadTable(id);
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  EXPECT_EQ(loaded->metadata_location, created->metadata_location);
  EXPECT_EQ(loaded->metadata.table_uuid, created->metadata.table_uuid);
  EXPECT_TRUE(*c.TableExists(id));
  EXPECT_FALSE(*c.TableExists(TableIdentifier{{"db"}, "missing"}));
  EXPECT_FALSE(*c.TableExists(TableIdentifier{{"nope"}, "t"}));
  EXPECT_EQ(Create(c, id).error().kind, ErrorKind::kAlreadyExists);
  EXPECT_EQ(MetadataFiles(created->metadata).size(), 1u);

  for (const char* name : {"e", "d", "c", "b", "a"}) ASSERT_TRUE(Create(c, TableIdentifier{{"db"}, name}));
  auto listed = c.ListTables({"db"});
  ASSERT_TRUE(listed) << listed.error().ToString();
  EXPECT_EQ(listed->size(), 6u);
  EXPECT_EQ(listed->front(), (TableIdentifier{{"db"}, "a"}));
  EXPECT_EQ(listed->back(), id);
  EXPECT_EQ(c.ListTables({"nope"}).error().kind, ErrorKind::kNoSuchNamespace);

  ASSERT_TRUE(c.DropTable(id, /*purge=*/false));
  EXPECT_EQ(c.LoadTable(id).error().kind, ErrorKind::kNoSuchTable);
  EXPECT_EQ(c.DropTable(id, false).error().kind, ErrorKind::kNoSuchTable);
  EXPECT_TRUE(std::filesystem::exists(io::StripFileScheme(created->metadata_location)));  // no purge
}

void CheckRenameAndRegister(Catalog& c) {
  ASSERT_TRUE(c.CreateNamespace({"a"}, {}));
  ASSERT_TRUE(c.CreateNamespace({"b"}, {}));
  TableIdentifier from{{"a"}, "t"}, to{{"b"}, "u"};
  auto created = Create(c, from);
  ASSERT_TRUE(created) << created.error().ToString();
  ASSERT_TRUE(Create(c, TableIdentifier{{"b"}, "taken"}));
  EXPECT_EQ(c.RenameTable(from, TableIdentifier{{"b"}, "taken"}).error().kind, ErrorKind::kAlreadyExists);
  EXPECT_EQ(c.RenameTable(from, TableIdentifier{{"nope"}, "t"}).error().kind, ErrorKind::kNoSuchNamespace);
  EXPECT_EQ(c.RenameTable(TableIdentifier{{"a"}, "missing"}, to).error().kind, ErrorKind::kNoSuchTable);
  ASSERT_TRUE(c.RenameTable(from, to));
  EXPECT_FALSE(*c.TableExists(from));
  auto moved = c.LoadTable(to);
  ASSERT_TRUE(moved) << moved.error().ToString();
  EXPECT_EQ(moved->metadata_location, created->metadata_location);

  TableIdentifier copy{{"a"}, "copy"};
  auto registered = c.RegisterTable(copy, created->metadata_location);
  ASSERT_TRUE(registered) << registered.error().ToString();
  EXPECT_EQ(registered->metadata.table_uuid, created->metadata.table_uuid);
  EXPECT_EQ(c.RegisterTable(copy, created->metadata_location).error().kind, ErrorKind::kAlreadyExists);
  EXPECT_EQ(c.RegisterTable(TableIdentifier{{"nope"}, "x"}, created->metadata_location).error().kind,
            ErrorKind::kNoSuchNamespace);
}

void CheckCommits(Catalog& c) {
  ASSERT_TRUE(c.CreateNamespace({"db"}, {}));
  TableIdentifier id{{"db"}, "t"}, id_b{{"db"}, "b"};
  auto base = Create(c, id);
  ASSERT_TRUE(base) << base.error().ToString();

  int64_t snapshot_id = 0;
  auto committed = c.CommitTable(id, MainIs(base->metadata), AppendUpdates(base->metadata, &snapshot_id));
  ASSERT_TRUE(committed) << committed.error().ToString();
  EXPECT_TRUE(committed->metadata_location.starts_with(base->metadata.location + "/metadata/00001-"))
      << committed->metadata_location;
  EXPECT_EQ(committed->metadata.current_snapshot_id, snapshot_id);
  ASSERT_EQ(committed->metadata.metadata_log.size(), 1u);
  EXPECT_EQ(committed->metadata.metadata_log[0].metadata_file, base->metadata_location);
  EXPECT_EQ(c.LoadTable(id)->metadata_location, committed->metadata_location);

  // A stale requirement: CommitFailed, the table unchanged, no file left behind.
  auto stale = c.CommitTable(id, MainIs(base->metadata), AppendUpdates(base->metadata));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().kind, ErrorKind::kCommitFailed) << stale.error().message;
  EXPECT_EQ(c.LoadTable(id)->metadata_location, committed->metadata_location);
  EXPECT_EQ(MetadataFiles(base->metadata).size(), 2u);

  EXPECT_EQ(c.CommitTable(TableIdentifier{{"db"}, "missing"}, {}, {iceberg::upd::SetProperties{{{"a", "b"}}}})
                .error()
                .kind,
            ErrorKind::kNoSuchTable);

  // Transactions: all or nothing.
  auto b = Create(c, id_b);
  ASSERT_TRUE(b);
  ASSERT_TRUE(c.CommitTable(id_b, {}, AppendUpdates(b->metadata)));  // b moves on
  auto a_now = c.LoadTable(id);
  ASSERT_TRUE(a_now);
  auto failed = c.CommitTransaction({TableCommit{id, MainIs(a_now->metadata), AppendUpdates(a_now->metadata)},
                                     TableCommit{id_b, MainIs(b->metadata), AppendUpdates(b->metadata)}});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::kCommitFailed);
  EXPECT_EQ(c.LoadTable(id)->metadata_location, a_now->metadata_location);

  auto b_now = c.LoadTable(id_b);
  ASSERT_TRUE(b_now);
  auto both = c.CommitTransaction({TableCommit{id, MainIs(a_now->metadata), AppendUpdates(a_now->metadata)},
                                   TableCommit{id_b, MainIs(b_now->metadata), AppendUpdates(b_now->metadata)}});
  ASSERT_TRUE(both) << both.error().ToString();
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ(c.LoadTable(id)->metadata_location, (*both)[0].metadata_location);
  EXPECT_EQ(c.LoadTable(id_b)->metadata_location, (*both)[1].metadata_location);
  EXPECT_EQ(c.CommitTransaction({TableCommit{id, {}, {}}, TableCommit{id, {}, {}}}).error().kind,
            ErrorKind::kInvalidArgument);
}

void CheckPurge(Catalog& c) {
  ASSERT_TRUE(c.CreateNamespace({"db"}, {}));
  TableIdentifier id{{"db"}, "p"};
  auto created = Create(c, id);
  ASSERT_TRUE(created);
  ASSERT_TRUE(c.CommitTable(id, {}, AppendUpdates(created->metadata)));
  ASSERT_TRUE(c.DropTable(id, /*purge=*/true));
  EXPECT_FALSE(*c.TableExists(id));
  EXPECT_TRUE(MetadataFiles(created->metadata).empty());
}

enum class Kind { kSqlite, kRest };

class CatalogContractTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::kSqlite) {
      stack_ = std::make_unique<SqliteStack>();
    } else {
      stack_ = std::make_unique<RestStack>();
    }
  }
  Catalog& catalog() { return stack_->catalog(); }
  std::unique_ptr<Stack> stack_;
};

TEST_P(CatalogContractTest, Namespaces) { CheckNamespaces(catalog()); }
TEST_P(CatalogContractTest, CreateLoadListDrop) { CheckCreateLoadListDrop(catalog(), stack_->warehouse()); }
TEST_P(CatalogContractTest, RenameAndRegister) { CheckRenameAndRegister(catalog()); }
TEST_P(CatalogContractTest, Commits) { CheckCommits(catalog()); }
TEST_P(CatalogContractTest, Purge) { CheckPurge(catalog()); }

INSTANTIATE_TEST_SUITE_P(SqliteAndRest, CatalogContractTest, ::testing::Values(Kind::kSqlite, Kind::kRest),
                         [](const ::testing::TestParamInfo<Kind>& info) {
                           return info.param == Kind::kSqlite ? std::string("Sqlite") : std::string("Rest");
                         });

// --- What only the REST path has ---

TEST(RestCatalogRoundTripTest, AdvertisedEndpointsAreUsedAndAuthIsEnforced) {
  RestStack stack;
  auto& client = static_cast<RestCatalog&>(stack.catalog());
  EXPECT_TRUE(client.endpoints().contains("POST /v1/{prefix}/transactions/commit"));
  EXPECT_TRUE(client.endpoints().contains("HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}"));

  auto wrong = RestCatalog::Make(stack.Options("app:not-the-secret"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().kind, ErrorKind::kNotAuthorized);
  EXPECT_EQ(wrong.error().message.find("not-the-secret"), std::string::npos);

  RestCatalogOptions anonymous = stack.Options("");
  EXPECT_EQ(RestCatalog::Make(anonymous).error().kind, ErrorKind::kNotAuthorized);

  // A read-only client may read but not write.
  ASSERT_TRUE(stack.catalog().CreateNamespace({"db"}, {}));
  auto reader = RestCatalog::Make(stack.Options("reader:reader-secret"));
  ASSERT_TRUE(reader) << reader.error().ToString();
  EXPECT_TRUE(*(*reader)->NamespaceExists({"db"}));
  auto denied = (*reader)->CreateNamespace({"x"}, {});
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().kind, ErrorKind::kForbidden) << denied.error().message;
}

TEST(RestCatalogRoundTripTest, ConcurrentWritersThroughRestLoseNoCommit) {
  RestStack stack;
  Catalog& c = stack.catalog();
  ASSERT_TRUE(c.CreateNamespace({"db"}, {}));
  TableIdentifier id{{"db"}, "t"};
  ASSERT_TRUE(Create(c, id));
  constexpr int kThreads = 4, kCommitsEach = 5;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCommitsEach; ++i) {
        // Re-plan on CommitFailed, as frazil's writers do.
        for (int attempt = 0;; ++attempt) {
          auto base = c.LoadTable(id);
          if (!base) { ++failures; break; }
          auto r = c.CommitTable(id, MainIs(base->metadata), AppendUpdates(base->metadata));
          if (r) break;
          if (r.error().kind != ErrorKind::kCommitFailed || attempt > 50) { ++failures; break; }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto final_state = stack.store().LoadTable(id);
  ASSERT_TRUE(final_state);
  EXPECT_EQ(final_state->metadata.snapshots.size(), static_cast<size_t>(kThreads * kCommitsEach));
}

TEST(RestCatalogRoundTripTest, ServerGoneIsADefiniteIOError) {
  RestStack stack;
  Catalog& c = stack.catalog();
  ASSERT_TRUE(c.CreateNamespace({"db"}, {}));
  TableIdentifier id{{"db"}, "t"};
  auto base = Create(c, id);
  ASSERT_TRUE(base);
  stack.server().Stop();
  auto load = c.LoadTable(id);
  ASSERT_FALSE(load);
  EXPECT_EQ(load.error().kind, ErrorKind::kIOError);
  EXPECT_NE(load.error().message.find("load table db.t"), std::string::npos) << load.error().message;
  // Nothing listens any more: the commit never left, a definite failure.
  auto commit = c.CommitTable(id, MainIs(base->metadata), AppendUpdates(base->metadata));
  ASSERT_FALSE(commit);
  EXPECT_EQ(commit.error().kind, ErrorKind::kIOError) << commit.error().message;
}

TEST(RestCatalogRoundTripTest, ALostCommitAnswerIsUnknownAndTheCommitDidHappen) {
  RestStack stack;
  auto faulty = std::make_shared<io::FaultInjectingHttpTransport>(io::NewCurlTransport());
  RestCatalogOptions o = stack.Options("app:app-secret");
  o.transport = faulty;
  auto client = RestCatalog::Make(o);
  ASSERT_TRUE(client) << client.error().ToString();
  Catalog& c = **client;
  ASSERT_TRUE(c.CreateNamespace({"db"}, {}));
  TableIdentifier id{{"db"}, "t"};
  auto base = Create(c, id);
  ASSERT_TRUE(base);
  int64_t snapshot_id = 0;
  faulty->FailNext(io::HttpFailure::kMaybeSent, "POST", "/v1/namespaces/db/tables/t");
  auto lost = c.CommitTable(id, MainIs(base->metadata), AppendUpdates(base->metadata, &snapshot_id));
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().kind, ErrorKind::kCommitStateUnknown) << lost.error().message;
  // The server did commit: had the writer deleted its files on this error, the table would
  // now reference missing files.
  auto now = c.LoadTable(id);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->metadata.current_snapshot_id, snapshot_id);
}

}  // namespace
}  // namespace frazil::rest
