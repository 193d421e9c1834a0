// `frazil maintain expire-snapshots | remove-orphans | compact | rewrite-manifests |
// drop-stats`: table maintenance (docs/maintenance.md).
#include <unistd.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "frazil/base/strings.h"
#include "frazil/cli/commands.h"
#include "frazil/cli/output.h"
#include "frazil/maintenance/compact.h"
#include "frazil/maintenance/drop_stats.h"
#include "frazil/maintenance/expire_snapshots.h"
#include "frazil/maintenance/orphan_files.h"
#include "frazil/maintenance/rewrite_manifests.h"

namespace frazil::cli {
namespace {

struct MaintainArgs {
  std::string table;
  std::string older_than;
  int retain_last = 0;
  bool dry_run = false;
  std::string format = "table";
  // compact
  std::string target_file_size;
  std::string file_size_threshold;
  int delete_file_threshold = 1;
  bool all = false;
  // rewrite-manifests
  std::string target_manifest_size;
  bool force = false;
};

Rows NewRows(std::vector<std::string> cols, std::vector<bool> raw) {
  Rows r;
  r.columns = std::move(cols);
  r.raw_json = std::move(raw);
  return r;
}

std::string Sizes(int64_t bytes) {
  char buf[32];
  if (bytes >= 1LL << 30) std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / double(1LL << 30));
  else if (bytes >= 1LL << 20) std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / double(1LL << 20));
  else if (bytes >= 1LL << 10) std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / double(1LL << 10));
  else std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  return buf;
}

int ExpireCommand(app::Warehouse& w, const MaintainArgs& a, bool retain_given) {
  auto id = catalog::TableIdentifier::Parse(a.table);
  if (!id) return Fail(id.error());
  maintenance::ExpireOptions opts;
  opts.dry_run = a.dry_run;
  if (!a.older_than.empty()) {
    auto cutoff = maintenance::ParseCutoff(a.older_than, w.clock().NowMillis());
    if (!cutoff) return Fail(cutoff.error());
    opts.older_than_ms = *cutoff;
  }
  if (retain_given) opts.retain_last = a.retain_last;
  auto r = maintenance::ExpireSnapshots(w.catalog(), w.io(), w.clock(), *id, opts);
  if (!r) return Fail(r.error());

  using maintenance::FileKind;
  const std::vector<std::pair<std::string, FileKind>> kinds = {
      {"manifest_lists", FileKind::kManifestList}, {"manifests", FileKind::kManifest},
      {"data_files", FileKind::kDataFile},         {"delete_files", FileKind::kDeleteFile},
      {"statistics_files", FileKind::kStatistics}};
  auto bytes_of = [&](FileKind k) {
    int64_t n = 0;
    for (const auto& f : r->files) n += f.file.kind == k ? std::max<int64_t>(f.file.size, 0) : 0;
    return n;
  };
  if (a.format == "json") {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : r->files) {
      files.push_back({{"kind", maintenance::FileKindName(f.file.kind)}, {"location", f.file.location},
                       {"size", f.file.size}, {"deleted", f.deleted}, {"error", f.error}});
    }
    nlohmann::json out = {{"table", id->ToString()},
                          {"dry_run", r->dry_run},
                          {"older_than_ms", r->cutoff_ms},
                          {"retain_last", r->retain_last},
                          {"snapshots", r->expired_snapshot_ids.size()},
                          {"expired_snapshot_ids", r->expired_snapshot_ids},
                          {"removed_refs", r->removed_refs},
                          {"bytes", r->Bytes()},
                          {"failed", r->Failed()},
                          {"commit_attempts", r->attempts},
                          {"cleanup_skipped", r->cleanup_skipped},
                          {"files", files}};
    for (const auto& [name, k] : kinds) out[name] = r->Count(k);
    std::cout << out.dump(2) << "\n";
  } else {
    if (r->dry_run && !r->files.empty()) {
      Rows list = NewRows({"would_delete", "location", "bytes"}, {false, false, true});
      for (const auto& f : r->files) {
        list.rows.push_back({std::string(maintenance::FileKindName(f.file.kind)), f.file.location,
                             f.file.size < 0 ? std::nullopt : std::optional<std::string>(std::to_string(f.file.size))});
      }
      Render(list, OutputFormat::kTable, std::cout);
      std::cout << "\n";
    }
    Rows rows = NewRows({r->dry_run ? "would_expire" : "expired", "count", "size"}, {false, true, false});
    rows.rows.push_back({"snapshots", std::to_string(r->expired_snapshot_ids.size()), std::nullopt});
    for (const auto& [name, k] : kinds) rows.rows.push_back({name, std::to_string(r->Count(k)), Sizes(bytes_of(k))});
    Render(rows, OutputFormat::kTable, std::cout);
    for (const auto& ref : r->removed_refs) std::cout << "ref '" << ref << "' was older than its max-ref-age-ms: removed\n";
    if (r->dry_run) std::cout << "dry run: nothing was committed or deleted\n";
    if (!r->cleanup_skipped.empty()) {
      std::cout << "snapshots expired, but no file was deleted (" << r->cleanup_skipped
                << "); remove-orphans will find them\n";
    }
    for (const auto& f : r->files) {
      if (!f.error.empty()) std::cerr << "could not delete " << f.file.location << ": " << f.error << "\n";
    }
  }
  return r->Failed() ? 1 : 0;
}

int OrphansCommand(app::Warehouse& w, const MaintainArgs& a) {
  auto id = catalog::TableIdentifier::Parse(a.table);
  if (!id) return Fail(id.error());
  maintenance::OrphanOptions opts;
  opts.dry_run = a.dry_run;
  if (!a.older_than.empty()) {
    auto cutoff = maintenance::ParseCutoff(a.older_than, w.clock().NowMillis());
    if (!cutoff) return Fail(cutoff.error());
    opts.older_than_ms = *cutoff;
  }
  auto r = maintenance::RemoveOrphanFiles(w.catalog(), w.io(), w.clock(), *id, opts);
  if (!r) return Fail(r.error());
  if (a.format == "json") {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : r->orphans) {
      files.push_back({{"location", f.info.location}, {"size", f.info.size}, {"modified_ms", f.info.modified_ms},
                       {"deleted", f.deleted}, {"error", f.error}});
    }
    std::cout << nlohmann::json{{"table", id->ToString()},
                                {"dry_run", r->dry_run},
                                {"older_than_ms", r->cutoff_ms},
                                {"scanned_folders", r->scanned_folders},
                                {"skipped_folders", r->skipped_folders},
                                {"files_scanned", r->files_scanned},
                                {"files_referenced", r->files_referenced},
                                {"too_new", r->too_new},
                                {"orphans", r->orphans.size()},
                                {"bytes", r->Bytes()},
                                {"failed", r->Failed()},
                                {"aborted_uploads", r->aborted_uploads},
                                {"files", files}}
                     .dump(2)
              << "\n";
  } else {
    if (!r->orphans.empty()) {
      Rows list = NewRows({r->dry_run ? "would_delete" : "deleted", "bytes", "modified_ms"}, {false, true, true});
      for (const auto& f : r->orphans) {
        list.rows.push_back({f.info.location, std::to_string(f.info.size), std::to_string(f.info.modified_ms)});
      }
      Render(list, OutputFormat::kTable, std::cout);
      std::cout << "\n";
    }
    Rows rows = NewRows({"files", "count"}, {false, true});
    rows.rows.push_back({"scanned", std::to_string(r->files_scanned)});
    rows.rows.push_back({"referenced (kept)", std::to_string(r->files_referenced)});
    rows.rows.push_back({"inside the safety window (kept)", std::to_string(r->too_new)});
    rows.rows.push_back({std::string(r->dry_run ? "orphans to delete" : "orphans deleted") + " (" + Sizes(r->Bytes()) + ")",
                         std::to_string(r->orphans.size() - r->Failed())});
    if (r->aborted_uploads > 0) rows.rows.push_back({"incomplete uploads aborted", std::to_string(r->aborted_uploads)});
    Render(rows, OutputFormat::kTable, std::cout);
    if (!r->upload_error.empty()) std::cerr << "could not clean incomplete uploads: " << r->upload_error << "\n";
    for (const auto& d : r->skipped_folders) std::cout << "not scanned (outside the table location): " << d << "\n";
    if (r->dry_run) std::cout << "dry run: nothing was deleted\n";
    for (const auto& f : r->orphans) {
      if (!f.error.empty()) std::cerr << "could not delete " << f.info.location << ": " << f.error << "\n";
    }
  }
  return r->Failed() ? 1 : 0;
}


nlohmann::json TotalsJson(const maintenance::FileTotals& t) {
  return {{"files", t.files}, {"bytes", t.bytes}, {"rows", t.rows}};
}

int CompactCommand(app::Warehouse& w, const MaintainArgs& a) {
  auto id = catalog::TableIdentifier::Parse(a.table);
  if (!id) return Fail(id.error());
  maintenance::CompactOptions opts;
  opts.dry_run = a.dry_run;
  opts.rewrite_all = a.all;
  opts.delete_file_threshold = a.delete_file_threshold;
  if (!a.target_file_size.empty()) {
    auto size = ParseByteSize(a.target_file_size);
    if (!size) return Fail(size.error());
    opts.target_file_size_bytes = *size;
  }
  if (!a.file_size_threshold.empty()) {
    auto size = ParseByteSize(a.file_size_threshold);
    if (!size) return Fail(size.error());
    opts.file_size_threshold_bytes = *size;
  }
  const bool progress = !a.dry_run && ::isatty(STDERR_FILENO);
  if (progress) {
    opts.on_group = [](const maintenance::CompactGroup& g, int i, int n) {
      std::cerr << "\r\033[K" << "rewriting group " << (i + 1) << "/" << n << ": " << g.inputs.size() << " files, "
                << Sizes(g.input.bytes) << (g.partition.empty() ? "" : " (" + g.partition + ")") << std::flush;
    };
  }
  auto r = maintenance::CompactTable(w.catalog(), w.io(), w.db(), w.clock(), *id, opts);
  if (progress) std::cerr << "\r\033[K" << std::flush;
  if (!r) return Fail(r.error());

  if (a.format == "json") {
    nlohmann::json groups = nlohmann::json::array();
    for (const auto& g : r->groups) {
      groups.push_back({{"spec_id", g.spec_id}, {"partition", g.partition}, {"inputs", g.inputs},
                        {"input", TotalsJson(g.input)}, {"delete_files", g.delete_files},
                        {"output", TotalsJson(g.output)}});
    }
    std::cout << nlohmann::json{{"table", id->ToString()},
                                {"dry_run", r->dry_run},
                                {"target_file_size_bytes", r->target_file_size_bytes},
                                {"data_before", TotalsJson(r->data_before)},
                                {"deletes_before", TotalsJson(r->deletes_before)},
                                {"data_after", TotalsJson(r->data_after)},
                                {"deletes_after", TotalsJson(r->deletes_after)},
                                {"rewritten", TotalsJson(r->rewritten)},
                                {"written", TotalsJson(r->written)},
                                {"removed_deletes", TotalsJson(r->removed_deletes)},
                                {"live_rows", r->live_rows},
                                {"groups", groups},
                                {"snapshot_id", r->snapshot_id},
                                {"commit_attempts", r->attempts},
                                {"replans", r->replans}}
                     .dump(2)
              << "\n";
    return 0;
  }
  if (!r->groups.empty()) {
    Rows list = NewRows({"partition", "files", "size", "delete_files", r->dry_run ? "would_write" : "written"},
                        {false, true, false, true, false});
    for (const auto& g : r->groups) {
      std::string written = r->dry_run ? "~" + Sizes(std::min(g.input.bytes, r->target_file_size_bytes))
                                       : std::to_string(g.output.files) + " files, " + Sizes(g.output.bytes);
      list.rows.push_back({g.partition.empty() ? "(unpartitioned)" : g.partition, std::to_string(g.input.files),
                           Sizes(g.input.bytes), std::to_string(g.delete_files), written});
    }
    Render(list, OutputFormat::kTable, std::cout);
    std::cout << "\n";
  }
  Rows rows = NewRows({"", "before", "after"}, {false, false, false});
  auto files = [](const maintenance::FileTotals& t) { return std::to_string(t.files) + " (" + Sizes(t.bytes) + ")"; };
  rows.rows.push_back({"data files", files(r->data_before), r->dry_run ? std::nullopt : std::optional(files(r->data_after))});
  rows.rows.push_back({"delete files", files(r->deletes_before),
                       r->dry_run ? std::nullopt : std::optional(files(r->deletes_after))});
  rows.rows.push_back({"files rewritten", std::to_string(r->rewritten.files) + " (" + Sizes(r->rewritten.bytes) + ")",
                       r->dry_run ? std::nullopt : std::optional(std::to_string(r->written.files) + " (" + Sizes(r->written.bytes) + ")")});
  rows.rows.push_back({"rows in them", std::to_string(r->rewritten.rows),
                       r->dry_run ? std::nullopt : std::optional(std::to_string(r->written.rows))});
  Render(rows, OutputFormat::kTable, std::cout);
  if (r->groups.empty()) {
    std::cout << "nothing to compact: no partition has small files to merge or files with deletes "
                 "(--all rewrites everything)\n";
  } else if (r->dry_run) {
    std::cout << "dry run: " << r->groups.size() << " group(s) would be rewritten; nothing was written or committed\n";
  } else {
    std::cout << "committed snapshot " << r->snapshot_id << " (replace) after " << r->attempts << " attempt(s); "
              << r->removed_deletes.files << " delete file(s) folded in. The old files stay until "
              << "`frazil maintain expire-snapshots` removes their snapshots\n";
  }
  return 0;
}

int RewriteManifestsCommand(app::Warehouse& w, const MaintainArgs& a) {
  auto id = catalog::TableIdentifier::Parse(a.table);
  if (!id) return Fail(id.error());
  maintenance::RewriteManifestsOptions opts;
  opts.dry_run = a.dry_run;
  opts.force = a.force;
  if (!a.target_manifest_size.empty()) {
    auto size = ParseByteSize(a.target_manifest_size);
    if (!size) return Fail(size.error());
    opts.target_manifest_size_bytes = *size;
  }
  auto r = maintenance::RewriteManifests(w.catalog(), w.io(), w.clock(), *id, opts);
  if (!r) return Fail(r.error());
  auto kind = [](iceberg::ManifestContent c) { return c == iceberg::ManifestContent::kData ? "data" : "deletes"; };
  if (a.format == "json") {
    nlohmann::json groups = nlohmann::json::array();
    for (const auto& g : r->groups) {
      groups.push_back({{"content", kind(g.content)}, {"spec_id", g.spec_id}, {"rewritten", g.rewritten},
                        {"manifests_before", g.manifests_before}, {"manifests_after", g.manifests_after},
                        {"bytes_before", g.bytes_before}, {"bytes_after", g.bytes_after}, {"entries", g.entries}});
    }
    std::cout << nlohmann::json{{"table", id->ToString()},
                                {"dry_run", r->dry_run},
                                {"target_manifest_size_bytes", r->target_manifest_size_bytes},
                                {"manifests_before", r->manifests_before},
                                {"manifests_after", r->manifests_after},
                                {"groups", groups},
                                {"snapshot_id", r->snapshot_id},
                                {"commit_attempts", r->attempts}}
                     .dump(2)
              << "\n";
    return 0;
  }
  Rows rows = NewRows({"manifests", "spec", "before", r->dry_run ? "would_be" : "after", "entries"},
                      {false, true, true, true, true});
  for (const auto& g : r->groups) {
    rows.rows.push_back({std::string(kind(g.content)) + (g.rewritten ? "" : " (kept)"), std::to_string(g.spec_id),
                         std::to_string(g.manifests_before), std::to_string(g.manifests_after),
                         g.rewritten && !r->dry_run ? std::optional(std::to_string(g.entries)) : std::nullopt});
  }
  Render(rows, OutputFormat::kTable, std::cout);
  if (r->snapshot_id != 0) {
    std::cout << "committed snapshot " << r->snapshot_id << " (replace): " << r->manifests_before << " -> "
              << r->manifests_after << " manifests\n";
  } else if (r->dry_run) {
    std::cout << "dry run: nothing was written or committed\n";
  } else {
    std::cout << "nothing to rewrite: every kind and spec already has as few manifests as the target size allows "
                 "(--force rewrites anyway)\n";
  }
  return 0;
}

int DropStatsCommand(app::Warehouse& w, const MaintainArgs& a) {
  auto id = catalog::TableIdentifier::Parse(a.table);
  if (!id) return Fail(id.error());
  maintenance::DropStatsOptions opts;
  opts.dry_run = a.dry_run;
  auto r = maintenance::DropExtendedStats(w.catalog(), w.io(), *id, opts);
  if (!r) return Fail(r.error());
  if (a.format == "json") {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& e : r->entries) {
      entries.push_back({{"snapshot_id", e.snapshot_id}, {"partition_statistics", e.partition_statistics},
                         {"location", e.file.location}, {"size", e.file.size}, {"deleted", e.deleted},
                         {"error", e.error}});
    }
    std::cout << nlohmann::json{{"table", id->ToString()},
                                {"dry_run", r->dry_run},
                                {"statistics", entries},
                                {"removed_properties", r->removed_properties},
                                {"bytes", r->Bytes()},
                                {"failed", r->Failed()},
                                {"commit_attempts", r->attempts}}
                     .dump(2)
              << "\n";
  } else {
    if (!r->entries.empty()) {
      Rows list = NewRows({"snapshot_id", "kind", "location", "bytes", r->dry_run ? "would_delete" : "deleted"},
                          {true, false, false, true, true});
      for (const auto& e : r->entries) {
        list.rows.push_back({std::to_string(e.snapshot_id), e.partition_statistics ? "partition-statistics" : "statistics",
                             e.file.location,
                             e.file.size < 0 ? std::nullopt : std::optional<std::string>(std::to_string(e.file.size)),
                             r->dry_run ? "false" : (e.deleted ? "true" : "false")});
      }
      Render(list, OutputFormat::kTable, std::cout);
    }
    for (const auto& p : r->removed_properties) std::cout << "property " << p << (r->dry_run ? " would be" : "") << " removed\n";
    if (r->entries.empty() && r->removed_properties.empty()) std::cout << "the table has no extended statistics\n";
    else if (r->dry_run) std::cout << "dry run: nothing was committed or deleted\n";
    for (const auto& e : r->entries) {
      if (!e.error.empty()) std::cerr << "could not delete " << e.file.location << ": " << e.error << "\n";
    }
  }
  return r->Failed() ? 1 : 0;
}

}  // namespace

void AddMaintainCommand(CLI::App& app, const WarehouseRunner& with_warehouse) {
  auto* maintain = app.add_subcommand(
      "maintain", "Table maintenance: expire snapshots, remove orphans, compact files, rewrite manifests, drop stats");
  maintain->require_subcommand(1);
  maintain->footer(
      "All are safe while CDC, models and loads commit to the table: every change is one commit\n"
      "through the catalog's compare-and-swap (planned again when a writer got there first), and\n"
      "files are deleted only after that commit succeeded and only if no remaining snapshot needs\n"
      "them; orphan removal deletes only unreferenced files older than a safety window. Use\n"
      "--dry-run to see first. Details, defaults and the safety rules: docs/maintenance.md.\n\n"
      "Examples:\n"
      "  frazil maintain compact sales.orders --dry-run\n"
      "  frazil maintain compact sales.orders --target-file-size 128MB\n"
      "  frazil maintain rewrite-manifests sales.orders\n"
      "  frazil maintain expire-snapshots sales.orders --older-than 1d --retain-last 10\n"
      "  frazil maintain remove-orphans sales.orders --older-than 3d\n"
      "  frazil maintain drop-stats sales.orders");
  static MaintainArgs a;  // one subcommand runs per process

  auto add_common = [](CLI::App* c) {
    c->add_option("table", a.table, "The table, as namespace.table")->required();
    c->add_flag("--dry-run", a.dry_run, "Report what would be done; write, commit and delete nothing");
    c->add_option("--format", a.format, "Output: table or json")->check(CLI::IsMember({"table", "json"}));
  };

  auto* expire = maintain->add_subcommand("expire-snapshots", "Remove old snapshots and the files only they used");
  add_common(expire);
  expire->add_option("--older-than", a.older_than,
                     "Expire snapshots older than an age (7d, 12h, 30m, 0s = now) or a UTC time (2026-05-01T00:00:00Z). "
                     "Default: table property history.expire.max-snapshot-age-ms, else 5d");
  auto* retain = expire->add_option("--retain-last", a.retain_last,
                                    "Keep at least the last N snapshots of every branch. Default: table property "
                                    "history.expire.min-snapshots-to-keep, else 1")
                     ->check(CLI::PositiveNumber);
  expire->footer(
      "Never expired: the head of any branch or tag, the ancestors a branch's min-snapshots-to-keep\n"
      "protects. A tag or branch (not main) older than its max-ref-age-ms is removed first.\n"
      "After the commit, deletes the manifest lists of the expired snapshots and the manifests, data,\n"
      "delete and statistics files no remaining snapshot references. Time travel to an expired\n"
      "snapshot then fails (\"table has no snapshot <id>\").\n\n"
      "Examples:\n"
      "  frazil maintain expire-snapshots sales.orders --dry-run\n"
      "  frazil maintain expire-snapshots sales.orders --older-than 0s --retain-last 3\n"
      "  frazil table snapshots sales.orders   # what is left");
  expire->callback([with_warehouse, retain] {
    bool retain_given = retain->count() > 0;
    with_warehouse([retain_given](app::Warehouse& w) { return ExpireCommand(w, a, retain_given); });
  });

  auto* orphans = maintain->add_subcommand("remove-orphans",
                                           "Delete files under the table's data/ and metadata/ that nothing references");
  add_common(orphans);
  orphans->add_option("--older-than", a.older_than,
                      "Safety window: only files last modified before this age or time are deleted (default 7d; "
                      "0 deletes regardless of age: only when no writer is running)");
  orphans->footer(
      "Kept: the current metadata file and its metadata-log, every manifest list, manifest, data and\n"
      "delete file of every snapshot in the metadata, statistics files. A file written by a commit\n"
      "still in flight is referenced by nothing yet: only the safety window protects it, so keep the\n"
      "window longer than any write takes. Nothing outside the table location is touched.\n\n"
      "Examples:\n"
      "  frazil maintain remove-orphans sales.orders --dry-run\n"
      "  frazil maintain remove-orphans sales.orders --older-than 3d --format json");
  orphans->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) { return OrphansCommand(w, a); });
  });

  auto* compact = maintain->add_subcommand(
      "compact", "Rewrite small data files, and files with deletes, into fewer files of the target size");
  add_common(compact);
  compact->add_option("--target-file-size", a.target_file_size,
                      "Size of the new files and most input per group, e.g. 128MB, 1GiB (KB = KiB = 1024 B). "
                      "Default: table property write.target-file-size-bytes, else 512MB");
  compact->add_option("--file-size-threshold", a.file_size_threshold,
                      "Files smaller than this are rewritten (default 100MB, as Trino's optimize)");
  compact->add_option("--delete-file-threshold", a.delete_file_threshold,
                      "Files with at least this many delete files applying to them are rewritten, the deletes "
                      "folded in (default 1)")
      ->check(CLI::PositiveNumber);
  compact->add_flag("--all", a.all, "Rewrite every data file, whatever its size, even alone in its partition");
  compact->footer(
      "Candidates are grouped per partition and packed into groups of up to the target size; a\n"
      "partition with a single candidate and no deletes is left alone. Each group is read with\n"
      "its deletes applied and written again, and one \"replace\" snapshot swaps the old files (and\n"
      "the delete files nothing needs any more) for the new ones. The rows do not change: time\n"
      "travel, model read positions (frazil.* summary keys, carried over) and incremental reads\n"
      "keep working. Appends committed meanwhile (CDC) are kept and do not force a rewrite; a\n"
      "concurrent delete on a file being rewritten makes it start over. Mirror tables are refused:\n"
      "`frazil run` keeps them compact itself. The old files stay until expire-snapshots.\n\n"
      "Examples:\n"
      "  frazil maintain compact sales.orders --dry-run\n"
      "  frazil maintain compact sales.orders --file-size-threshold 32MB --target-file-size 256MB\n"
      "  frazil maintain compact sales.orders --delete-file-threshold 3 --format json\n"
      "  frazil maintain expire-snapshots sales.orders --older-than 1d   # then free the old files");
  compact->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) { return CompactCommand(w, a); });
  });

  auto* manifests = maintain->add_subcommand(
      "rewrite-manifests", "Rewrite the current snapshot's manifests into as few as possible (faster planning)");
  add_common(manifests);
  manifests->add_option("--target-size", a.target_manifest_size,
                        "Size of each new manifest, e.g. 8MB. Default: table property "
                        "commit.manifest.target-size-bytes, else 8MB");
  manifests->add_flag("--force", a.force, "Rewrite even when the manifests would not become fewer");
  manifests->footer(
      "Data and delete manifests are rewritten separately, per partition spec, sorted by partition;\n"
      "every file keeps its snapshot id and sequence numbers, so the same deletes apply to the same\n"
      "rows. One \"replace\" snapshot, no data file changes. Useful after many small commits (CDC).\n\n"
      "Examples:\n"
      "  frazil maintain rewrite-manifests sales.orders --dry-run\n"
      "  frazil maintain rewrite-manifests sales.orders --format json");
  manifests->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) { return RewriteManifestsCommand(w, a); });
  });

  auto* stats = maintain->add_subcommand(
      "drop-stats", "Remove the table's statistics files (Puffin NDV sketches, partition statistics)");
  add_common(stats);
  stats->footer(
      "As Trino's drop_extended_stats: every statistics and partition-statistics entry and the\n"
      "trino.stats.ndv.* properties leave the metadata in one commit, then the files are deleted.\n"
      "Engines that wrote them (Trino's ANALYZE, Spark's compute_table_stats) can write them again.\n\n"
      "Examples:\n"
      "  frazil maintain drop-stats sales.orders --dry-run\n"
      "  frazil maintain drop-stats sales.orders");
  stats->callback([with_warehouse] {
    with_warehouse([](app::Warehouse& w) { return DropStatsCommand(w, a); });
  });
}

}  // namespace frazil::cli
