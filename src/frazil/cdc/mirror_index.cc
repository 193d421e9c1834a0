// The key index of a mirror table on disk and its rebuild from the table (docs/mirror.md,
// "The key index"): file format, load, save, scan.
#include <cstring>
#include <filesystem>
#include <fstream>

#include "frazil/base/clock.h"
#include "frazil/base/log.h"
#include "frazil/cdc/mirror_table.h"
#include "frazil/engine/table_scan.h"

namespace frazil::cdc {
namespace {

// Index file format: magic, snapshot id, key signature, file table, entries, checksum.
constexpr char kIndexMagic[8] = {'F', 'R', 'Z', 'M', 'I', 'D', 'X', '1'};

uint64_t Fnv1a(std::string_view bytes, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void PutVarint(std::string& out, uint64_t v) {
  do {
    uint8_t b = v & 0x7fu;
    v >>= 7;
    out.push_back(static_cast<char>(v ? (b | 0x80u) : b));
  } while (v);
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool U64(uint64_t* v) {
    if (data_.size() - pos_ < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) *v |= uint64_t{static_cast<uint8_t>(data_[pos_ + i])} << (8 * i);
    pos_ += 8;
    return true;
  }
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return false;
      auto b = static_cast<uint8_t>(data_[pos_++]);
      *v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80u) == 0) return true;
    }
    return false;
  }
  bool Bytes(uint64_t n, std::string_view* out) {
    if (data_.size() - pos_ < n) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace

std::string MirrorTable::IndexPath() const {
  if (options_.index_dir.empty()) return "";
  return options_.index_dir + "/" + id_.ToString() + ".idx";
}

Status MirrorTable::EnsureIndex(engine::Connection& con) {
  if (index_valid_) return Ok();
  if (mode_ == MirrorMode::kInsertOnly) {
    index_.Clear();
    index_valid_ = true;
    return Ok();
  }
  if (!pending_ && LoadIndex()) return Ok();
  return RebuildIndex(con);
}

Status MirrorTable::RebuildIndex(engine::Connection& con) {
  index_.Clear();
  index_valid_ = false;
  auto tasks = LiveTasks();
  int64_t t0 = deps_.clock->NowMillis();
  std::map<std::string, uint32_t> by_local;
  for (uint32_t n = 0; n < files_.size(); ++n) {
    if (files_[n].live) by_local[deps_.io->ScanPath(files_[n].file.file_path)] = n;
  }
  std::vector<int64_t> live_rows(files_.size(), 0);
  // One data file at a time, so the scan's result held in memory stays one file's.
  for (auto& task : tasks) {
    auto it = by_local.find(deps_.io->ScanPath(task.data_file.file_path));
    if (it == by_local.end()) return MakeError(ErrorKind::kInternal, "rebuilding the index of " + id_.ToString());
    uint32_t n = it->second;
    engine::ScanSqlOptions so;
    so.with_row_position = true;
    FRZ_ASSIGN_OR_RETURN(std::string scan, engine::ScanSql(schema(), {task},
                                                           [this](const std::string& loc) { return deps_.io->ScanPath(loc); },
                                                           so));
    FRZ_ASSIGN_OR_RETURN(auto q, con.Query("SELECT " + KeySql("") + ", CAST(" + engine::kRowPositionColumn +
                                           " AS BIGINT) FROM (" + scan + ")"));
    while (auto chunk = q.NextChunk()) {
      for (size_t r = 0; r < chunk->size(); ++r) {
        index_.Insert(chunk->GetStringView(0, r), RowLocation{n, static_cast<uint64_t>(chunk->GetInt64(1, r))});
        ++live_rows[n];
      }
    }
  }
  for (uint32_t n = 0; n < files_.size(); ++n) {
    if (files_[n].live) files_[n].deleted = files_[n].file.record_count - live_rows[n];
  }
  index_valid_ = true;
  Log(LogLevel::kInfo, "rebuilt the key index of a mirror table from the table",
      {{"table", id_.ToString()}, {"keys", std::to_string(index_.size())},
       {"ms", std::to_string(deps_.clock->NowMillis() - t0)}});
  return Ok();
}

bool MirrorTable::LoadIndex() {
  std::string path = IndexPath();
  if (path.empty() || !base_snapshot_id_) return false;
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto reject = [&](const char* why) {
    Log(LogLevel::kInfo, "mirror index file not used, rebuilding from the table",
        {{"table", id_.ToString()}, {"file", path}, {"reason", why}});
    index_.Clear();
    return false;
  };
  if (data.size() < 24 || std::memcmp(data.data(), kIndexMagic, 8) != 0) return reject("not an index file");
  std::string_view body(data.data(), data.size() - 8);
  Reader tail(std::string_view(data).substr(data.size() - 8));
  uint64_t checksum = 0;
  tail.U64(&checksum);
  if (Fnv1a(body) != checksum) return reject("checksum mismatch");
  Reader r(body.substr(8));
  uint64_t snapshot_id = 0, nfiles = 0, nentries = 0;
  if (!r.U64(&snapshot_id)) return reject("truncated");
  if (static_cast<int64_t>(snapshot_id) != *base_snapshot_id_) return reject("written for another snapshot");
  uint64_t sig_len = 0;
  std::string_view signature;
  if (!r.Varint(&sig_len) || !r.Bytes(sig_len, &signature)) return reject("truncated");
  if (signature != KeySignature()) return reject("written for another key");
  if (!r.Varint(&nfiles)) return reject("truncated");
  std::vector<uint32_t> numbers;
  for (uint64_t i = 0; i < nfiles; ++i) {
    uint64_t len = 0;
    std::string_view p;
    if (!r.Varint(&len) || !r.Bytes(len, &p)) return reject("truncated");
    auto it = file_numbers_.find(std::string(p));
    if (it == file_numbers_.end() || !files_[it->second].live) return reject("names a file the table does not hold");
    numbers.push_back(it->second);
  }
  if (!r.Varint(&nentries)) return reject("truncated");
  index_.Clear();
  std::vector<int64_t> live_rows(files_.size(), 0);
  for (uint64_t i = 0; i < nentries; ++i) {
    uint64_t len = 0, file = 0, pos = 0;
    std::string_view key;
    if (!r.Varint(&len) || !r.Bytes(len, &key) || !r.Varint(&file) || !r.Varint(&pos) || file >= numbers.size()) {
      return reject("truncated");
    }
    index_.Insert(key, RowLocation{numbers[file], pos});
    ++live_rows[numbers[file]];
  }
  if (!r.done()) return reject("trailing bytes");
  for (uint32_t n = 0; n < files_.size(); ++n) {
    if (files_[n].live) files_[n].deleted = files_[n].file.record_count - live_rows[n];
  }
  index_valid_ = true;
  Log(LogLevel::kInfo, "loaded the key index of a mirror table",
      {{"table", id_.ToString()}, {"keys", std::to_string(index_.size())}});
  return true;
}

void MirrorTable::SaveIndex() const {
  std::string path = IndexPath();
  if (path.empty() || pending_ || !index_valid_ || !base_snapshot_id_ || mode_ == MirrorMode::kInsertOnly) return;
  std::string out(kIndexMagic, 8);
  PutU64(out, static_cast<uint64_t>(*base_snapshot_id_));
  std::string signature = KeySignature();
  PutVarint(out, signature.size());
  out += signature;
  std::vector<int64_t> local(files_.size(), -1);
  std::vector<uint32_t> live;
  for (uint32_t n = 0; n < files_.size(); ++n) {
    if (files_[n].live) {
      local[n] = static_cast<int64_t>(live.size());
      live.push_back(n);
    }
  }
  PutVarint(out, live.size());
  for (uint32_t n : live) {
    PutVarint(out, files_[n].file.file_path.size());
    out += files_[n].file.file_path;
  }
  PutVarint(out, index_.size());
  index_.ForEach([&](std::string_view key, RowLocation loc) {
    PutVarint(out, key.size());
    out.append(key);
    PutVarint(out, static_cast<uint64_t>(local[loc.file]));
    PutVarint(out, loc.pos);
  });
  PutU64(out, Fnv1a(out));
  std::error_code ec;
  std::filesystem::create_directories(options_.index_dir, ec);
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(out.data(), static_cast<std::streamsize>(out.size()));
    if (!f) {
      Log(LogLevel::kWarn, "could not save a mirror index (it is rebuilt from the table on the next start)",
          {{"table", id_.ToString()}, {"file", tmp}});
      return;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    Log(LogLevel::kWarn, "could not save a mirror index", {{"file", path}, {"error", ec.message()}});
    return;
  }
  Log(LogLevel::kInfo, "saved the key index of a mirror table",
      {{"table", id_.ToString()}, {"keys", std::to_string(index_.size())},
       {"memory_bytes", std::to_string(index_.memory_bytes())}, {"file_bytes", std::to_string(out.size())}});
}

}  // namespace frazil::cdc
