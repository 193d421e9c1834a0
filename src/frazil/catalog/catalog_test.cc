#include "frazil/catalog/catalog.h"

#include <gtest/gtest.h>

#include "frazil/catalog/metadata_files.h"

namespace frazil::catalog {
namespace {

TEST(TableIdentifierTest, ParsesAndLowercases) {
  auto id = TableIdentifier::Parse("Sales.Raw.Orders");
  ASSERT_TRUE(id) << id.error().ToString();
  EXPECT_EQ(id->ns, (Namespace{"sales", "raw"}));
  EXPECT_EQ(id->name, "orders");
  EXPECT_EQ(id->ToString(), "sales.raw.orders");
}

TEST(TableIdentifierTest, RejectsBadNames) {
  for (const char* bad : {"orders", ".orders", "a..b", "a.", "a/b.t", "a.t/x", "a.t\x01"}) {
    auto id = TableIdentifier::Parse(bad);
    ASSERT_FALSE(id) << bad;
    EXPECT_EQ(id.error().kind, ErrorKind::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(TableIdentifier::Of({}, "t"));
  EXPECT_FALSE(TableIdentifier::Of({"a.b"}, "t"));  // levels are joined with '.'
  EXPECT_FALSE(TableIdentifier::Of({"a"}, ".."));
  EXPECT_FALSE(TableIdentifier::Of({"a"}, std::string(256, 'x')));
  auto dotted = TableIdentifier::Of({"a"}, "v1.2");  // a table name may contain a single dot
  ASSERT_TRUE(dotted);
  EXPECT_EQ(dotted->name, "v1.2");
}

TEST(MetadataFilesTest, ParsesVersions) {
  EXPECT_EQ(ParseMetadataVersion("file:///w/t/metadata/00012-0f1e.metadata.json"), 12);
  EXPECT_EQ(ParseMetadataVersion("/w/t/metadata/v3.metadata.json"), 3);
  EXPECT_EQ(ParseMetadataVersion("s3://b/t/metadata/00000-abc.gz.metadata.json"), 0);
  EXPECT_EQ(ParseMetadataVersion("/w/t/metadata/abc.metadata.json"), -1);
  EXPECT_EQ(ParseMetadataVersion("/w/t/metadata/123"), -1);
}

TEST(MetadataFilesTest, NamesAndLocations) {
  iceberg::TableMetadata m;
  m.location = "file:///w/db/t-1";
  std::string loc = NewMetadataLocation(m, 7);
  EXPECT_TRUE(loc.starts_with("file:///w/db/t-1/metadata/00007-")) << loc;
  EXPECT_TRUE(loc.ends_with(".metadata.json")) << loc;
  EXPECT_EQ(ParseMetadataVersion(loc), 7);
  m.properties[kMetadataPathProperty] = "file:///elsewhere";
  EXPECT_TRUE(NewMetadataLocation(m, 1).starts_with("file:///elsewhere/00001-"));

  TableIdentifier id{{"a", "b"}, "t"};
  std::string table_loc = DefaultTableLocation("file:///w/", id, "");
  EXPECT_TRUE(table_loc.starts_with("file:///w/a/b/t-")) << table_loc;
  EXPECT_EQ(table_loc.size(), std::string("file:///w/a/b/t-").size() + 36);
  EXPECT_TRUE(DefaultTableLocation("file:///w", id, "/ns/loc").starts_with("/ns/loc/t-"));
}

TEST(MetadataFilesTest, MetadataLogIsCapped) {
  iceberg::TableMetadata m;
  m.properties[kPreviousVersionsMaxProperty] = "2";
  AppendMetadataLog(&m, "f1", 1);
  AppendMetadataLog(&m, "f2", 2);
  AppendMetadataLog(&m, "f3", 3);
  ASSERT_EQ(m.metadata_log.size(), 2u);
  EXPECT_EQ(m.metadata_log[0].metadata_file, "f2");
  EXPECT_EQ(m.metadata_log[1].metadata_file, "f3");
  EXPECT_EQ(m.metadata_log[1].timestamp_ms, 3);
}

}  // namespace
}  // namespace frazil::catalog
