#include "frazil/cdc/key_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>

namespace frazil::cdc {
namespace {

TEST(KeyIndex, InsertFindErase) {
  KeyIndex index;
  EXPECT_FALSE(index.Find("a"));
  index.Insert("a", {1, 10});
  index.Insert("b", {2, 20});
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(*index.Find("a"), (RowLocation{1, 10}));
  EXPECT_EQ(*index.Erase("a"), (RowLocation{1, 10}));
  EXPECT_FALSE(index.Find("a"));
  EXPECT_FALSE(index.Erase("a"));
  EXPECT_EQ(index.size(), 1u);
}

TEST(KeyIndex, DuplicatesAreAMultiset) {
  KeyIndex index;
  index.Insert("row", {1, 1});
  index.Insert("row", {1, 2});
  index.Insert("row", {3, 7});
  EXPECT_EQ(index.size(), 3u);
  std::set<uint64_t> seen;
  for (int i = 0; i < 3; ++i) {
    auto loc = index.Erase("row");
    ASSERT_TRUE(loc);
    seen.insert((uint64_t{loc->file} << 32) | loc->pos);
  }
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_FALSE(index.Erase("row"));
}

TEST(KeyIndex, MoveAndRenumber) {
  KeyIndex index;
  index.Insert("k", {5, 1});
  index.Insert("k", {6, 2});
  EXPECT_FALSE(index.Move("k", {7}, {9, 0}));
  EXPECT_TRUE(index.Move("k", {6}, {9, 4}));
  std::vector<uint32_t> renumber(10, 0);
  renumber[5] = 0;
  renumber[9] = 1;
  index.RenumberFiles(renumber);
  std::multiset<uint64_t> locs;
  index.ForEach([&](std::string_view key, RowLocation loc) {
    EXPECT_EQ(key, "k");
    locs.insert((uint64_t{loc.file} << 32) | loc.pos);
  });
  EXPECT_EQ(locs, (std::multiset<uint64_t>{(uint64_t{0} << 32) | 1, (uint64_t{1} << 32) | 4}));
}

TEST(KeyIndex, EmptyAndBinaryKeysAndLargePositions) {
  KeyIndex index;
  std::string binary("a\0b", 3);
  index.Insert("", {0, 0});
  index.Insert(binary, {1, (uint64_t{1} << 40) - 1});
  index.Insert(std::string(300, 'x'), {2, 3});
  EXPECT_EQ(*index.Find(""), (RowLocation{0, 0}));
  EXPECT_EQ(*index.Find(binary), (RowLocation{1, (uint64_t{1} << 40) - 1}));
  EXPECT_FALSE(index.Find("a"));
  EXPECT_EQ(*index.Find(std::string(300, 'x')), (RowLocation{2, 3}));
}

// Updates re-insert their key each time: the arena must not keep every old copy.
TEST(KeyIndex, MemoryStaysBoundedUnderChurn) {
  KeyIndex index;
  for (int i = 0; i < 100000; ++i) index.Insert("key-" + std::to_string(i), {0, static_cast<uint64_t>(i)});
  size_t loaded = index.memory_bytes();
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 100000; ++i) {
      std::string key = "key-" + std::to_string(i);
      ASSERT_TRUE(index.Erase(key));
      index.Insert(key, {1, static_cast<uint64_t>(i)});
    }
  }
  EXPECT_EQ(index.size(), 100000u);
  EXPECT_LE(index.memory_bytes(), loaded * 3) << "loaded " << loaded;
  EXPECT_EQ(*index.Find("key-77"), (RowLocation{1, 77}));
}

// Against std::multimap under a random mix of inserts and erases, through many growths and
// arena compactions.
TEST(KeyIndex, MatchesAReferenceMultimap) {
  KeyIndex index;
  std::multimap<std::string, uint64_t> ref;
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200000; ++i) {
    std::string key = "key-" + std::to_string(rng() % 20000);
    if (rng() % 3 != 0) {
      uint64_t pos = rng() % 1000000;
      index.Insert(key, {static_cast<uint32_t>(pos % 7), pos});
      ref.emplace(key, pos);
    } else {
      auto loc = index.Erase(key);
      auto it = ref.find(key);
      ASSERT_EQ(loc.has_value(), it != ref.end()) << key;
      if (!loc) continue;
      // Any one of the key's entries may go: remove that one from the reference.
      bool found = false;
      for (auto r = ref.equal_range(key); r.first != r.second; ++r.first) {
        if (r.first->second == loc->pos) {
          ref.erase(r.first);
          found = true;
          break;
        }
      }
      ASSERT_TRUE(found);
    }
  }
  EXPECT_EQ(index.size(), ref.size());
  size_t n = 0;
  index.ForEach([&](std::string_view, RowLocation) { ++n; });
  EXPECT_EQ(n, ref.size());
  EXPECT_GT(index.memory_bytes(), 0u);
  index.Clear();
  EXPECT_EQ(index.size(), 0u);
}

}  // namespace
}  // namespace frazil::cdc
