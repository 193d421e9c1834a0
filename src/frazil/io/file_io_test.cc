#include "frazil/io/file_io.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "frazil/base/random.h"
#include "frazil/io/fault_injecting_file_io.h"

namespace frazil::io {
namespace {

class LocalFileIOTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("frazil-io-" + NewUuid());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST(FileSchemeTest, StripsAllForms) {
  EXPECT_EQ(StripFileScheme("file:///a/b"), "/a/b");
  EXPECT_EQ(StripFileScheme("file:/a/b"), "/a/b");
  EXPECT_EQ(StripFileScheme("/a/b"), "/a/b");
  EXPECT_EQ(JoinLocation("file:///w/", "/x/y"), "file:///w/x/y");
}

TEST_F(LocalFileIOTest, WriteReadListDelete) {
  auto io = NewLocalFileIO();
  std::string loc = "file://" + (dir_ / "sub" / "f.bin").string();
  ASSERT_TRUE(io->Write(loc, std::string("hello\0world", 11)));
  auto data = io->Read(loc);
  ASSERT_TRUE(data);
  EXPECT_EQ(*data, std::string("hello\0world", 11));
  EXPECT_EQ(*io->ReadRange(loc, 6, 5), "world");
  EXPECT_EQ(io->ReadRange(loc, 6, 50).error().kind, ErrorKind::kCorrupt);
  EXPECT_EQ(*io->Size(loc), 11);
  auto list = io->List("file://" + dir_.string());
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].location, loc);
  EXPECT_EQ(io->WriteNew(loc, "x").error().kind, ErrorKind::kAlreadyExists);
  ASSERT_TRUE(io->Delete(loc));
  EXPECT_FALSE(*io->Exists(loc));
  EXPECT_TRUE(io->Delete(loc));  // deleting a missing file is fine
  EXPECT_EQ(io->Read(loc).error().kind, ErrorKind::kNotFound);
  // No temp files left behind.
  EXPECT_TRUE(io->List(dir_.string())->empty());
}

TEST(MemoryFileIOTest, FaultInjection) {
  auto mem = NewMemoryFileIO();
  FaultInjectingFileIO io(mem.get());
  io.FailNthWrite(2);
  EXPECT_TRUE(io.Write("m/a", "1"));
  auto s = io.Write("m/b", "2");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("m/b"), std::string::npos);
  EXPECT_FALSE(*mem->Exists("m/b"));
  io.FailNthWrite(0);
  io.FailWritesContaining("metadata");
  EXPECT_FALSE(io.Write("t/metadata/x.json", "{}"));
  EXPECT_TRUE(io.Write("t/data/x.parquet", "p"));
  EXPECT_EQ(io.List("t/")->size(), 1u);
}

}  // namespace
}  // namespace frazil::io
