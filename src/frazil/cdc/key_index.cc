#include "frazil/cdc/key_index.h"

#include <algorithm>

namespace frazil::cdc {
namespace {

uint64_t HashKey(std::string_view key) {
  uint64_t h = std::hash<std::string_view>{}(key);
  return h == 0 ? 1 : h;
}

constexpr size_t kNpos = ~size_t{0};

}  // namespace

namespace {

// Keys are stored in the arena as a varint length and the bytes.
std::string_view KeyIn(const std::string& arena, uint64_t offset) {
  uint64_t len = 0;
  int shift = 0;
  size_t p = offset;
  while (true) {
    auto b = static_cast<uint8_t>(arena[p++]);
    len |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80u) == 0) break;
    shift += 7;
  }
  return std::string_view(arena).substr(p, len);
}

}  // namespace

std::string_view KeyIndex::KeyAt(uint64_t offset) const { return KeyIn(arena_, offset); }

uint64_t KeyIndex::StoreKey(std::string_view key) {
  uint64_t offset = arena_.size();
  uint64_t len = key.size();
  do {
    uint8_t b = len & 0x7fu;
    len >>= 7;
    arena_.push_back(static_cast<char>(len ? (b | 0x80u) : b));
  } while (len);
  arena_.append(key);
  return offset;
}

size_t KeyIndex::FindSlot(std::string_view key, uint64_t hash, const std::vector<uint32_t>* files) const {
  if (slots_.empty()) return kNpos;
  size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.key == kEmpty) return kNpos;
    if (s.key != kTombstone && s.hash == hash && KeyAt(s.key) == key &&
        (files == nullptr || std::binary_search(files->begin(), files->end(), Unpack(s.loc).file))) {
      return i;
    }
  }
}

void KeyIndex::Grow() {
  size_t capacity = slots_.empty() ? 1024 : slots_.size();
  // Double when live entries fill over half; otherwise only tombstones are cleared.
  if (size_ * 2 >= capacity) capacity *= 2;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  std::string old_arena;
  bool compact = garbage_bytes_ > arena_.size() / 4;
  if (compact) {
    old_arena = std::move(arena_);
    arena_.clear();
    arena_.reserve(old_arena.size() - garbage_bytes_);
    garbage_bytes_ = 0;
  }
  size_t mask = capacity - 1;
  for (const Slot& s : old) {
    if (s.key == kEmpty || s.key == kTombstone) continue;
    Slot moved = s;
    if (compact) moved.key = StoreKey(KeyIn(old_arena, s.key));
    size_t i = moved.hash & mask;
    while (slots_[i].key != kEmpty) i = (i + 1) & mask;
    slots_[i] = moved;
  }
  used_ = size_;
}

void KeyIndex::Insert(std::string_view key, RowLocation loc) {
  // Grow (or just rehash) when slots fill up, and compact the arena when most of it is
  // keys removed since (updates re-insert their key every time).
  if ((used_ + 1) * 10 > slots_.size() * 7 || (garbage_bytes_ > (size_t{1} << 20) && garbage_bytes_ > arena_.size() / 2)) {
    Grow();
  }
  uint64_t hash = HashKey(key);
  size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i].key != kEmpty && slots_[i].key != kTombstone) i = (i + 1) & mask;
  if (slots_[i].key == kEmpty) ++used_;
  slots_[i] = Slot{hash, Pack(loc), StoreKey(key)};
  ++size_;
}

void KeyIndex::RemoveAt(size_t slot) {
  std::string_view k = KeyAt(slots_[slot].key);
  garbage_bytes_ += k.size() + 1;
  slots_[slot].key = kTombstone;
  --size_;
}

std::optional<RowLocation> KeyIndex::Erase(std::string_view key) {
  size_t i = FindSlot(key, HashKey(key), nullptr);
  if (i == kNpos) return std::nullopt;
  RowLocation loc = Unpack(slots_[i].loc);
  RemoveAt(i);
  return loc;
}

bool KeyIndex::Move(std::string_view key, const std::vector<uint32_t>& from_files, RowLocation to) {
  size_t i = FindSlot(key, HashKey(key), &from_files);
  if (i == kNpos) return false;
  slots_[i].loc = Pack(to);
  return true;
}

void KeyIndex::RenumberFiles(const std::vector<uint32_t>& renumber) {
  for (Slot& s : slots_) {
    if (s.key == kEmpty || s.key == kTombstone) continue;
    RowLocation loc = Unpack(s.loc);
    loc.file = renumber[loc.file];
    s.loc = Pack(loc);
  }
}

std::optional<RowLocation> KeyIndex::Find(std::string_view key) const {
  size_t i = FindSlot(key, HashKey(key), nullptr);
  if (i == kNpos) return std::nullopt;
  return Unpack(slots_[i].loc);
}

size_t KeyIndex::EraseFiles(const std::vector<uint32_t>& files) {
  size_t n = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.key == kEmpty || s.key == kTombstone) continue;
    if (std::binary_search(files.begin(), files.end(), Unpack(s.loc).file)) {
      RemoveAt(i);
      ++n;
    }
  }
  return n;
}

void KeyIndex::Clear() {
  slots_.clear();
  slots_.shrink_to_fit();
  arena_.clear();
  arena_.shrink_to_fit();
  size_ = used_ = garbage_bytes_ = 0;
}

void KeyIndex::ForEach(const std::function<void(std::string_view key, RowLocation loc)>& fn) const {
  for (const Slot& s : slots_) {
    if (s.key != kEmpty && s.key != kTombstone) fn(KeyAt(s.key), Unpack(s.loc));
  }
}

}  // namespace frazil::cdc
