// FileIO: the one way frazil touches storage. Locations are URIs: `file:///abs/path`,
// `file:/abs/path` (Spark's form), plain `/abs/path`, and `s3://bucket/key` (also `s3a://`,
// `s3n://`) for the S3 FileIO (io/s3_file_io.h).
// Data files are written once and never modified; metadata pointers are swapped by the
// catalog, not by renaming files, so FileIO needs no rename.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/base/result.h"

namespace frazil::io {

struct FileInfo {
  std::string location;  // full location, same scheme as the listed prefix
  int64_t size = 0;
  int64_t modified_ms = 0;
};

class FileIO {
 public:
  virtual ~FileIO() = default;

  // Whole-file read. Errors: NotFound if absent, IOError otherwise.
  virtual Result<std::string> Read(std::string_view location) = 0;
  // Byte range read [offset, offset+length). Errors as Read; Corrupt if the file is shorter.
  virtual Result<std::string> ReadRange(std::string_view location, int64_t offset, int64_t length) = 0;
  // Creates or replaces a file with `data`, durably (fsync) before returning; parent
  // directories are created. Readers never see a partial file (temp + rename).
  virtual Status Write(std::string_view location, std::string_view data) = 0;
  // Creates the file only if absent. Errors: AlreadyExists.
  virtual Status WriteNew(std::string_view location, std::string_view data) = 0;
  virtual Result<bool> Exists(std::string_view location) = 0;
  virtual Result<int64_t> Size(std::string_view location) = 0;
  // Deleting a missing file is not an error.
  virtual Status Delete(std::string_view location) = 0;
  // Every file under a prefix (recursive).
  virtual Result<std::vector<FileInfo>> List(std::string_view prefix) = 0;
  // A local filesystem path for the location if the storage is local (DuckDB then reads
  // and writes it directly); empty otherwise.
  virtual std::string LocalPath(std::string_view location) const = 0;

  // --- Data files (DuckDB reads and writes them) ---

  // What DuckDB's read_parquet is given for `location`: the local path for local storage,
  // an `s3://bucket/key` URL (read through DuckDB's httpfs) for S3; empty if DuckDB cannot
  // reach the location.
  virtual std::string ScanPath(std::string_view location) const { return LocalPath(location); }
  // The local directory into which DuckDB writes new files destined for the location
  // directory `dir_location`: the directory itself for local storage; for remote storage
  // a fresh private staging directory (created) that Publish() empties.
  // Errors: Unsupported when the storage has neither; IOError if it cannot be created.
  virtual Result<std::string> WriteDir(std::string_view dir_location);
  // Turns a file DuckDB wrote into WriteDir(dir_location) into the file
  // `dir_location/<its name>` and returns that location. Local storage: nothing moves.
  // Remote storage: uploads it durably (multipart for large files, retried), then removes
  // the local copy. On error nothing is referenced yet; the caller removes what it wrote.
  virtual Result<std::string> Publish(std::string_view dir_location, const std::string& local_path);

  // --- Bulk and housekeeping operations ---

  // Deletes many files (S3: 1000 per request). Missing files are not an error.
  virtual Status DeleteMany(const std::vector<std::string>& locations);
  // Aborts the incomplete multipart uploads under `prefix` started before `before_ms`
  // (epoch ms) and returns how many; 0 for storage without multipart uploads.
  virtual Result<int64_t> AbortIncompleteUploads(std::string_view prefix, int64_t before_ms);
};

// Deletes `locations` in batches (FileIO::DeleteMany); if a batch fails, file by file, so
// that each failure is known. Returns why each location that could not be deleted was not
// (empty: all deleted).
std::map<std::string, std::string> DeleteFiles(FileIO& io, const std::vector<std::string>& locations);

// Local file system.
std::unique_ptr<FileIO> NewLocalFileIO();
// Memory only, for unit tests.
std::unique_ptr<FileIO> NewMemoryFileIO();

// Strips `file:` / `file://` prefixes: `file:///a/b` -> `/a/b`, `file:/a/b` -> `/a/b`.
std::string StripFileScheme(std::string_view location);
// The location of a local path: `/a/b` -> `file:///a/b` (locations are kept as they are).
std::string LocalLocation(std::string_view local_path);
// Joins a location and a relative path with exactly one '/'.
std::string JoinLocation(std::string_view base, std::string_view rel);

}  // namespace frazil::io
