// The test helper itself: a real PostgreSQL 15 cluster through scripts/pg_cluster.sh.
#include "frazil/pg/test_pg_cluster.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace frazil::pg {
namespace {

TEST(TestPgClusterTest, StartExecCrashRestartStop) {
  auto started = TestPgCluster::Start();
  ASSERT_TRUE(started) << started.error().ToString();
  auto& pg = *started;
  EXPECT_NE(pg->conninfo().find("host=" + pg->dir()), std::string::npos) << pg->conninfo();
  EXPECT_FALSE(pg->port().empty());

  auto wal_level = pg->Exec("SHOW wal_level");
  ASSERT_TRUE(wal_level) << wal_level.error().ToString();
  EXPECT_EQ(*wal_level, "logical");
  auto settings = pg->Exec(
      "SELECT current_setting('fsync'), current_setting('max_replication_slots'), "
      "current_setting('server_encoding'), current_user");
  ASSERT_TRUE(settings) << settings.error().ToString();
  EXPECT_EQ(*settings, "on|20|UTF8|postgres");

  ASSERT_TRUE(pg->Exec(
      "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');"));
  // Committed before the crash: must survive crash recovery (fsync is on).
  ASSERT_TRUE(pg->Exec("INSERT INTO t VALUES (3, 'c')"));
  std::string port = pg->port();
  auto restarted = pg->Restart(/*crash=*/true);
  ASSERT_TRUE(restarted) << restarted.error().ToString();
  EXPECT_EQ(pg->port(), port);
  auto rows = pg->Exec("SELECT id, v FROM t ORDER BY id");
  ASSERT_TRUE(rows) << rows.error().ToString() << "\n" << pg->ServerLog();
  EXPECT_EQ(*rows, "1|a\n2|b\n3|c");
  EXPECT_NE(pg->ServerLog().find("database system was not properly shut down"), std::string::npos)
      << pg->ServerLog();

  // SQL errors come back as errors with psql's message.
  auto bad = pg->Exec("SELECT * FROM no_such_table");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("no_such_table"), std::string::npos) << bad.error().message;

  ASSERT_TRUE(pg->Stop());
  EXPECT_FALSE(pg->running());
  EXPECT_FALSE(pg->Exec("SELECT 1"));
  ASSERT_TRUE(pg->StartAgain());
  auto count = pg->Exec("SELECT count(*) FROM t");
  ASSERT_TRUE(count) << count.error().ToString();
  EXPECT_EQ(*count, "3");

  std::string dir = pg->dir();
  started->reset();  // destroys the cluster
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(TestPgClusterTest, TwoClustersRunSideBySide) {
  auto a = TestPgCluster::Start();
  ASSERT_TRUE(a) << a.error().ToString();
  auto b = TestPgCluster::Start();
  ASSERT_TRUE(b) << b.error().ToString();
  EXPECT_NE((*a)->port(), (*b)->port());
  EXPECT_NE((*a)->dir(), (*b)->dir());
  ASSERT_TRUE((*a)->Exec("CREATE DATABASE other; CREATE TABLE only_in_a (x int);"));
  auto in_b = (*b)->Exec("SELECT count(*) FROM pg_class WHERE relname = 'only_in_a'");
  ASSERT_TRUE(in_b) << in_b.error().ToString();
  EXPECT_EQ(*in_b, "0");
  auto other = (*a)->Exec("SELECT current_database()", "other");
  ASSERT_TRUE(other) << other.error().ToString();
  EXPECT_EQ(*other, "other");
}

}  // namespace
}  // namespace frazil::pg
