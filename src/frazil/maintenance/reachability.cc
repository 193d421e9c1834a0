#include "frazil/maintenance/reachability.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

#include "frazil/iceberg/manifest.h"
#include "frazil/iceberg/scan.h"

namespace frazil::maintenance {

std::string NormalizeLocation(std::string_view location) {
  if (location.starts_with("file:") || location.starts_with("/")) return io::StripFileScheme(location);
  return std::string(location);
}

std::string_view FileKindName(FileKind kind) {
  switch (kind) {
    case FileKind::kManifestList: return "manifest-list";
    case FileKind::kManifest: return "manifest";
    case FileKind::kDataFile: return "data";
    case FileKind::kDeleteFile: return "delete";
    case FileKind::kStatistics: return "statistics";
    case FileKind::kMetadata: return "metadata";
  }
  return "file";
}

std::set<int64_t> AllSnapshotIds(const iceberg::TableMetadata& metadata) {
  std::set<int64_t> ids;
  for (const auto& s : metadata.snapshots) ids.insert(s.snapshot_id);
  return ids;
}

Status AddSnapshotFiles(const iceberg::TableMetadata& metadata, const std::set<int64_t>& snapshot_ids,
                        io::FileIO& io, bool all_entries, FileSet* out) {
  for (const iceberg::Snapshot& snap : metadata.snapshots) {
    if (!snapshot_ids.contains(snap.snapshot_id) || snap.manifest_list.empty()) continue;
    std::string list_key = NormalizeLocation(snap.manifest_list);
    if (out->contains(list_key)) continue;
    auto manifests = iceberg::ReadSnapshotManifests(snap, io);
    if (!manifests) {
      return MakeError(manifests.error().kind, "snapshot " + std::to_string(snap.snapshot_id) + ": " +
                                                   manifests.error().message);
    }
    out->emplace(list_key, ReferencedFile{snap.manifest_list, FileKind::kManifestList, -1});
    for (const iceberg::ManifestFile& mf : *manifests) {
      std::string key = NormalizeLocation(mf.manifest_path);
      if (out->contains(key)) continue;  // shared by an earlier snapshot: walked already
      auto entries = iceberg::ReadManifestEntries(metadata, mf, io);
      if (!entries) return MakeError(entries.error().kind, entries.error().message);
      out->emplace(key, ReferencedFile{mf.manifest_path, FileKind::kManifest, mf.manifest_length});
      for (const iceberg::ManifestEntry& e : *entries) {
        if (!all_entries && e.status == iceberg::EntryStatus::kDeleted) continue;
        const iceberg::DataFile& f = e.data_file;
        FileKind kind = f.content == iceberg::FileContent::kData ? FileKind::kDataFile : FileKind::kDeleteFile;
        out->emplace(NormalizeLocation(f.file_path), ReferencedFile{f.file_path, kind, f.file_size_in_bytes});
      }
    }
  }
  return Ok();
}

void AddStatisticsFiles(const iceberg::TableMetadata& metadata, const std::set<int64_t>* snapshot_ids,
                        FileSet* out) {
  for (const auto* list : {&metadata.statistics, &metadata.partition_statistics}) {
    for (const nlohmann::json& s : *list) {
      if (!s.is_object() || !s.contains("statistics-path") || !s["statistics-path"].is_string()) continue;
      if (snapshot_ids != nullptr) {
        if (!s.contains("snapshot-id") || !s["snapshot-id"].is_number_integer()) continue;
        if (!snapshot_ids->contains(s["snapshot-id"].get<int64_t>())) continue;
      }
      std::string path = s["statistics-path"].get<std::string>();
      int64_t size = -1;
      for (const char* key : {"file-size-in-bytes", "file-size"}) {
        if (s.contains(key) && s[key].is_number_integer()) size = s[key].get<int64_t>();
      }
      out->emplace(NormalizeLocation(path), ReferencedFile{path, FileKind::kStatistics, size});
    }
  }
}

namespace {

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// `YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z]` as UTC.
bool ParseIsoTime(std::string_view s, int64_t* ms) {
  if (s.ends_with('Z') || s.ends_with('z')) s.remove_suffix(1);
  int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0;
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') return false;
  if (!ParseInt(s.substr(0, 4), &y) || !ParseInt(s.substr(5, 2), &mo) || !ParseInt(s.substr(8, 2), &d)) return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return false;
  std::string_view t = s.substr(10);
  if (!t.empty()) {
    if ((t[0] != 'T' && t[0] != ' ') || t.size() < 6 || t[3] != ':') return false;
    if (!ParseInt(t.substr(1, 2), &h) || !ParseInt(t.substr(4, 2), &mi)) return false;
    t = t.substr(6);
    if (!t.empty()) {
      if (t[0] != ':' || t.size() < 3 || !ParseInt(t.substr(1, 2), &sec)) return false;
      t = t.substr(3);
      if (!t.empty()) {
        if (t[0] != '.' || t.size() < 2) return false;
        std::string digits(t.substr(1, 3));
        while (digits.size() < 3) digits += '0';
        for (char c : t.substr(1)) {
          if (!std::isdigit(static_cast<unsigned char>(c))) return false;
        }
        if (!ParseInt(digits, &frac_ms)) return false;
      }
    }
    if (h > 23 || mi > 59 || sec > 60) return false;
  }
  *ms = ((DaysFromCivil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + sec * 1000 + frac_ms;
  return true;
}

}  // namespace

Result<int64_t> ParseCutoff(std::string_view text, int64_t now_ms) {
  auto bad = [&] {
    return MakeError(ErrorKind::kInvalidArgument,
                     "cannot read '" + std::string(text) +
                         "' as an age or a time: use a duration (7d, 36h, 90m, 30s, 500ms, 0), an ISO-8601 UTC "
                         "time (2026-05-01 or 2026-05-01T12:00:00Z) or epoch milliseconds");
  };
  if (text.empty()) return bad();
  int64_t ms = 0;
  if (ParseIsoTime(text, &ms)) return ms;
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  int64_t n = 0;
  if (digits == 0 || !ParseInt(text.substr(0, digits), &n)) return bad();
  std::string_view unit = text.substr(digits);
  if (unit.empty()) {
    if (digits >= 13) return n;  // epoch milliseconds
    if (n == 0) return now_ms;
    return bad();  // a bare small number is ambiguous
  }
  int64_t per = 0;
  if (unit == "ms") per = 1;
  else if (unit == "s") per = 1000;
  else if (unit == "m" || unit == "min") per = 60'000;
  else if (unit == "h") per = 3'600'000;
  else if (unit == "d") per = 86'400'000;
  else if (unit == "w") per = 7 * 86'400'000LL;
  else return bad();
  if (n > (int64_t{1} << 62) / per) return bad();
  return now_ms - n * per;
}

}  // namespace frazil::maintenance
