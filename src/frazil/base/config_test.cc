#include "frazil/base/config.h"
#include "frazil/base/strings.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "frazil/base/random.h"

namespace frazil {
namespace {

std::string WriteTemp(const std::string& text) {
  auto p = std::filesystem::temp_directory_path() / ("frazil-cfg-" + NewUuid() + ".yaml");
  std::ofstream(p) << text;
  return p.string();
}

TEST(ConfigTest, DefaultsFileAndEnvironment) {
  std::string f = WriteTemp("warehouse: /tmp/wh\nwrite:\n  target_file_size: 64MB\nlog:\n  level: debug\n");
  auto c = LoadConfig(f, {{"FRAZIL_LOG_LEVEL", "warn"}});
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->warehouse, "/tmp/wh");
  EXPECT_EQ(c->target_file_size_bytes, 64LL * 1024 * 1024);
  EXPECT_EQ(c->log_level, "warn");  // environment wins over the file
  EXPECT_EQ(c->CatalogPath(), "/tmp/wh/catalog.db");
  std::filesystem::remove(f);
}

TEST(ConfigTest, UnknownKeyNamesFileAndLine) {
  std::string f = WriteTemp("warehouse: /tmp/wh\nwarehose: typo\n");
  auto c = LoadConfig(f, {});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find(":2:"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("warehose"), std::string::npos);
  std::filesystem::remove(f);
}

TEST(ConfigTest, OrchestratorSectionWithJobsSchedulesAndPolicies) {
  std::string f = WriteTemp(
      "orchestrator:\n"
      "  debounce: 200ms\n"
      "  max_delay: 2s\n"
      "  max_concurrent_runs: 3\n"
      "  assets:\n"
      "    - {match: \"vault.*\", debounce: 1m, automatic: false}\n"
      "  jobs:\n"
      "    - name: compact_raw\n"
      "      task: compact\n"
      "      tables: [\"raw.*\", parsed.x]\n"
      "      params: {file_size_threshold: 128MB}\n"
      "      timeout: 10m\n"
      "  schedules:\n"
      "    - {name: nightly, cron: \"0 2 * * *\", time_zone: Europe/Berlin, job: compact_raw}\n");
  auto c = LoadConfig(f, {{"FRAZIL_ORCHESTRATOR_MAX_DELAY", "5s"}});
  ASSERT_TRUE(c) << c.error().ToString();
  const auto& o = c->orchestrator;
  EXPECT_EQ(o.debounce_ms, 200);
  EXPECT_EQ(o.max_delay_ms, 5000);  // the environment wins
  EXPECT_EQ(o.max_concurrent_runs, 3);
  ASSERT_EQ(o.assets.size(), 1u);
  EXPECT_EQ(o.assets[0].match, "vault.*");
  EXPECT_EQ(o.assets[0].debounce_ms, 60000);
  EXPECT_EQ(o.assets[0].automatic, 0);
  EXPECT_EQ(o.assets[0].max_delay_ms, -1);
  ASSERT_EQ(o.jobs.size(), 1u);
  EXPECT_EQ(o.jobs[0].task, "compact");
  EXPECT_EQ(o.jobs[0].assets, (std::vector<std::string>{"raw.*", "parsed.x"}));
  EXPECT_EQ(o.jobs[0].params.at("file_size_threshold"), "128MB");
  EXPECT_EQ(o.jobs[0].timeout_ms, 600000);
  ASSERT_EQ(o.schedules.size(), 1u);
  EXPECT_EQ(o.schedules[0].time_zone, "Europe/Berlin");
  EXPECT_EQ(o.schedules[0].job, "compact_raw");
  std::filesystem::remove(f);

  for (const char* bad : {"orchestrator:\n  jobs:\n    - {name: x}\n",
                          "orchestrator:\n  jobs:\n    - {name: x, task: compact, tabels: [a]}\n",
                          "orchestrator:\n  schedules:\n    - {name: s, job: x}\n",
                          "orchestrator:\n  assets:\n    - {debounce: 1s}\n",
                          "orchestrator:\n  debounce: soon\n",
                          "orchestrator:\n  jobs: compact\n"}) {
    std::string g = WriteTemp(bad);
    auto r = LoadConfig(g, {});
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().message.find(g), std::string::npos) << r.error().message;  // names the file
    }
    std::filesystem::remove(g);
  }
}

TEST(ConfigTest, ObjectStorageSection) {
  std::string f = WriteTemp(
      "warehouse: s3://lake/prod\nstate_dir: /tmp/st\ns3:\n  endpoint: http://127.0.0.1:7070\n  addressing: path\n"
      "  access_key_id: AK\n  secret_access_key_env: FRAZIL_TEST_S3_SECRET\n  part_size: 8MiB\n  max_attempts: 3\n"
      "  request_timeout: 5s\n"
      "rest:\n  vend_credentials: false\n");
  setenv("FRAZIL_TEST_S3_SECRET", "s3cr3t/+x", 1);
  auto c = LoadConfig(f, {{"FRAZIL_S3_REGION", "eu-west-1"}});
  unsetenv("FRAZIL_TEST_S3_SECRET");
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->warehouse, "s3://lake/prod");
  EXPECT_EQ(c->state_dir, "/tmp/st");
  EXPECT_EQ(c->s3.endpoint, "http://127.0.0.1:7070");
  EXPECT_EQ(c->s3.addressing, "path");
  EXPECT_EQ(c->s3.access_key_id, "AK");
  EXPECT_EQ(c->s3.secret_access_key, "s3cr3t/+x");
  EXPECT_EQ(c->s3.region, "eu-west-1");
  EXPECT_EQ(c->s3.part_size, 8LL << 20);
  EXPECT_EQ(c->s3.max_attempts, 3);
  EXPECT_EQ(c->s3.request_timeout_ms, 5000);
  EXPECT_EQ(c->s3.connect_timeout_ms, 10000);
  EXPECT_FALSE(c->rest.vend_credentials);
  std::filesystem::remove(f);

  auto bad = LoadConfig("", {{"FRAZIL_S3_ADDRESSING", "dns"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("s3.addressing"), std::string::npos);
  bad = LoadConfig("", {{"FRAZIL_S3_PART_SIZE", "1MiB"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("5MiB"), std::string::npos);
  bad = LoadConfig("", {{"FRAZIL_S3_SECRET_ACCESS_KEY_ENV", "FRAZIL_TEST_NOT_SET_ANYWHERE"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("FRAZIL_TEST_NOT_SET_ANYWHERE"), std::string::npos);
}

TEST(ConfigTest, Durations) {
  EXPECT_EQ(*ParseDurationMs("500ms", "x"), 500);
  EXPECT_EQ(*ParseDurationMs("2s", "x"), 2000);
  EXPECT_EQ(*ParseDurationMs("1.5m", "x"), 90000);
  EXPECT_EQ(*ParseDurationMs("7d", "x"), 7LL * 86400000);
  EXPECT_EQ(*ParseDurationMs("250", "x"), 250);
  for (const char* bad : {"", "s", "-1s", "3 weeks", "1y"}) EXPECT_FALSE(ParseDurationMs(bad, "x")) << bad;
}

TEST(ConfigTest, BadValues) {
  EXPECT_FALSE(LoadConfig("", {{"FRAZIL_WRITE_TARGET_FILE_SIZE", "big"}}));
  EXPECT_FALSE(LoadConfig("", {{"FRAZIL_LOG_FORMAT", "xml"}}));
  EXPECT_FALSE(LoadConfig("/nonexistent/frazil.yaml", {}));
  std::string f = WriteTemp("warehouse: [unclosed\n");
  EXPECT_FALSE(LoadConfig(f, {}));
  std::filesystem::remove(f);
}

}  // namespace
}  // namespace frazil

namespace frazil {
namespace {

TEST(ProcessEnvironmentTest, FiltersByPrefixOrTakesEverything) {
  ::setenv("FRAZIL_TEST_PROCESS_ENV", "1", 1);
  ::setenv("OTHER_TEST_PROCESS_ENV", "2", 1);
  auto frazil_only = ProcessEnvironment();
  EXPECT_EQ(frazil_only.count("FRAZIL_TEST_PROCESS_ENV"), 1u);
  EXPECT_EQ(frazil_only.count("OTHER_TEST_PROCESS_ENV"), 0u);
  auto all = ProcessEnvironment("");
  EXPECT_EQ(all["OTHER_TEST_PROCESS_ENV"], "2");
  EXPECT_EQ(all["FRAZIL_TEST_PROCESS_ENV"], "1");
}

}  // namespace
TEST(ParseByteSizeTest, Forms) {
  EXPECT_EQ(*ParseByteSize("100"), 100);
  EXPECT_EQ(*ParseByteSize("100B"), 100);
  EXPECT_EQ(*ParseByteSize("128MB"), 128LL << 20);
  EXPECT_EQ(*ParseByteSize("128 MiB"), 128LL << 20);
  EXPECT_EQ(*ParseByteSize("1gb"), 1LL << 30);
  EXPECT_EQ(*ParseByteSize("1.5GiB"), 3LL << 29);
  EXPECT_EQ(*ParseByteSize("64KB"), 64LL << 10);
  EXPECT_EQ(*ParseByteSize("2TiB"), 2LL << 40);
  for (const char* bad : {"", "MB", "0", "0MB", "1.2.3MB", "-5MB", "12XB", "1e9"}) {
    auto r = ParseByteSize(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
    }
  }
}

}  // namespace frazil
