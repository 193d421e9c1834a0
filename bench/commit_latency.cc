// Commit latency as history grows: N appends of one small data file each to one table.
// The data files are written first (untimed); each timed commit is the whole Iceberg
// commit: load table, manifest, manifest list, metadata JSON, catalog compare-and-swap.
// Prints median / p99 per block of 100 snapshots, so any trend with history is visible.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "frazil/app/table_ops.h"
#include "frazil/app/warehouse.h"
#include "frazil/base/random.h"
#include "frazil/engine/parquet_writer.h"
#include "frazil/iceberg/snapshot_producer.h"

using namespace frazil;

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  std::string dir = argc > 2 ? argv[2] : (std::filesystem::temp_directory_path() / ("frazil-bench-" + NewUuid())).string();
  Config config;
  config.warehouse = dir;
  config.threads = 1;
  auto w = app::Warehouse::Open(config);
  if (!w) {
    std::fprintf(stderr, "%s\n", w.error().ToString().c_str());
    return 1;
  }
  auto id = *catalog::TableIdentifier::Parse("bench.commits");
  iceberg::NestedField f{1, "id", false, iceberg::Primitive(iceberg::TypeId::kLong)};
  iceberg::NestedField g{2, "v", false, iceberg::Primitive(iceberg::TypeId::kString)};
  auto created = app::CreateTable(**w, id, iceberg::Schema(0, {f, g}), {}, {});
  if (!created) {
    std::fprintf(stderr, "%s\n", created.error().ToString().c_str());
    return 1;
  }
  auto con = engine::Connection::Open((*w)->db());
  std::string data_dir = (*w)->io().LocalPath(iceberg::DataDir(created->metadata));
  std::vector<std::vector<iceberg::DataFile>> files;
  for (int i = 0; i < n; ++i) {
    auto written = engine::WriteParquet(*con, "SELECT " + std::to_string(i) + "::BIGINT, 'x'",
                                        created->metadata.schemas[0], data_dir);
    if (!written) {
      std::fprintf(stderr, "%s\n", written.error().ToString().c_str());
      return 1;
    }
    for (auto& df : *written) df.file_path = "file://" + df.file_path;
    files.push_back(*written);
  }
  std::vector<double> ms;
  std::printf("%-16s %10s %10s %10s\n", "snapshots", "median_ms", "p99_ms", "max_ms");
  for (int i = 0; i < n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = app::CommitDataFiles(**w, id, files[i], 0, 0, false);
    auto t1 = std::chrono::steady_clock::now();
    if (!r) {
      std::fprintf(stderr, "commit %d: %s\n", i, r.error().ToString().c_str());
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if ((i + 1) % 100 == 0) {
      std::vector<double> block(ms.end() - 100, ms.end());
      std::sort(block.begin(), block.end());
      std::printf("%5d-%-10d %10.2f %10.2f %10.2f\n", i - 98, i + 1, block[50], block[98], block[99]);
    }
  }
  std::vector<double> first(ms.begin(), ms.begin() + std::min<size_t>(100, ms.size()));
  std::vector<double> last(ms.end() - std::min<size_t>(100, ms.size()), ms.end());
  std::sort(first.begin(), first.end());
  std::sort(last.begin(), last.end());
  std::sort(ms.begin(), ms.end());
  std::printf("all %d commits: median %.2f ms, p99 %.2f ms; last-100 median / first-100 median = %.2fx "
              "(goal: median < 20 ms, flat)\n",
              n, ms[ms.size() / 2], ms[ms.size() * 99 / 100], last[last.size() / 2] / first[first.size() / 2]);
  if (argc <= 2) std::filesystem::remove_all(dir);
  return 0;
}
