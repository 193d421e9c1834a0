// The key index of a mirror table (docs/mirror.md, "The key index"): row key bytes ->
// where the row is (data file number, row position). A compact open-addressing hash table
// whose keys live in one byte arena; it is a multimap (a table located by its whole row
// may hold duplicate rows), and Erase removes exactly one entry.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace frazil::cdc {

// A row's place: data file number (an index the mirror assigns) and 0-based position.
struct RowLocation {
  uint32_t file = 0;
  uint64_t pos = 0;
  bool operator==(const RowLocation&) const = default;
};

class KeyIndex {
 public:
  KeyIndex() = default;

  void Insert(std::string_view key, RowLocation loc);
  // Removes one entry of `key` and returns where its row was; nullopt if none.
  std::optional<RowLocation> Erase(std::string_view key);
  // Moves an entry of `key` whose file is in `from_files` (sorted) to `to`; false if there
  // is none (a rewrite moves the rows of some files into new ones).
  bool Move(std::string_view key, const std::vector<uint32_t>& from_files, RowLocation to);
  // Changes every entry's file number f to renumber[f] (files were compacted away).
  void RenumberFiles(const std::vector<uint32_t>& renumber);
  std::optional<RowLocation> Find(std::string_view key) const;
  // Removes every entry whose file is in `files` (sorted); returns how many.
  size_t EraseFiles(const std::vector<uint32_t>& files);
  void Clear();

  size_t size() const { return size_; }
  // Bytes held: slots plus key arena.
  size_t memory_bytes() const { return slots_.capacity() * sizeof(Slot) + arena_.capacity(); }
  // Every entry, in no particular order.
  void ForEach(const std::function<void(std::string_view key, RowLocation loc)>& fn) const;

 private:
  struct Slot {
    uint64_t hash = 0;
    uint64_t loc = 0;       // file << 40 | pos
    uint64_t key = kEmpty;  // arena offset, or kEmpty / kTombstone
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static constexpr uint64_t kTombstone = ~uint64_t{0} - 1;
  static uint64_t Pack(RowLocation loc) { return (uint64_t{loc.file} << 40) | loc.pos; }
  static RowLocation Unpack(uint64_t v) { return {static_cast<uint32_t>(v >> 40), v & ((uint64_t{1} << 40) - 1)}; }
  std::string_view KeyAt(uint64_t offset) const;
  uint64_t StoreKey(std::string_view key);
  // Slot index of an entry of `key` (whose file is in `files`, when given), or npos.
  size_t FindSlot(std::string_view key, uint64_t hash, const std::vector<uint32_t>* files) const;
  void RemoveAt(size_t slot);
  void Grow();

  std::vector<Slot> slots_;
  std::string arena_;
  size_t size_ = 0;
  size_t used_ = 0;          // live + tombstones
  size_t garbage_bytes_ = 0; // arena bytes of removed keys
};

}  // namespace frazil::cdc
