#include "frazil/cli/cli.h"

#include <CLI/CLI.hpp>
#include <signal.h>
#include <unistd.h>

#include <atomic>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "frazil/app/cdc.h"
#include "frazil/app/orchestration.h"
#include "frazil/app/orchestrator_api.h"
#include "frazil/app/sql_session.h"
#include "frazil/app/table_ops.h"
#include "frazil/app/verify.h"
#include "frazil/app/warehouse.h"
#include "frazil/base/config.h"
#include "frazil/base/log.h"
#include "frazil/cli/commands.h"
#include "frazil/cli/output.h"
#include "frazil/engine/types.h"
#include "frazil/iceberg/scan.h"

namespace frazil::cli {

std::atomic<bool>& StopFlag() {
  static std::atomic<bool> stop{false};
  return stop;
}

namespace {
void OnStopSignal(int) {
  if (StopFlag().exchange(true)) _exit(130);
}
}  // namespace

void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

namespace {

struct Globals {
  std::string config_path;
  std::string warehouse;
  std::string log_level;
  bool log_json = false;
};

}  // namespace

int Fail(const Error& e) {
  std::cerr << "error: " << e.message << "\n";
  switch (e.kind) {
    case ErrorKind::kInvalidArgument:
    case ErrorKind::kUnsupported:
      return 2;
    case ErrorKind::kNotFound:
    case ErrorKind::kNoSuchNamespace:
    case ErrorKind::kNoSuchTable:
      return 3;
    case ErrorKind::kAlreadyExists:
    case ErrorKind::kNamespaceNotEmpty:
    case ErrorKind::kCommitFailed:
      return 4;
    default:
      return 1;
  }
}

namespace {

Result<std::unique_ptr<app::Warehouse>> OpenWarehouse(const Globals& g) {
  FRZ_ASSIGN_OR_RETURN(Config config, LoadConfig(g.config_path, ProcessEnvironment()));
  if (!g.warehouse.empty()) config.warehouse = g.warehouse;
  if (!g.log_level.empty()) config.log_level = g.log_level;
  if (g.log_json) config.log_format = "json";
  SetLogJson(config.log_format == "json");
  SetLogLevel(config.log_level == "debug"  ? LogLevel::kDebug
              : config.log_level == "warn" ? LogLevel::kWarn
              : config.log_level == "error" ? LogLevel::kError
                                            : LogLevel::kInfo);
  return app::Warehouse::Open(config);
}

Result<catalog::Namespace> ParseNamespace(const std::string& text) {
  catalog::Namespace ns;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, '.')) ns.push_back(part);
  return catalog::NormalizeNamespace(ns);
}

std::string ReadFileOrInline(const std::string& arg) {
  if (!arg.empty() && (arg[0] == '{' || arg[0] == '[')) return arg;
  std::ifstream in(arg);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string FormatTime(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%03d", buf, static_cast<int>(ms % 1000));
  return out;
}

// The DuckDB reader for a file, by --format or the file extension.
Result<std::string> ReaderSql(const std::string& path, std::string format, const std::vector<std::string>& options) {
  if (!std::filesystem::exists(path)) return MakeError(ErrorKind::kNotFound, "input file " + path + " does not exist");
  if (format.empty()) {
    std::string ext = std::filesystem::path(path).extension().string();
    if (ext == ".gz" || ext == ".zst") ext = std::filesystem::path(path).stem().extension().string();
    if (ext == ".csv" || ext == ".tsv" || ext == ".txt") format = "csv";
    else if (ext == ".parquet" || ext == ".pq") format = "parquet";
    else if (ext == ".json" || ext == ".jsonl" || ext == ".ndjson") format = "json";
    else return MakeError(ErrorKind::kInvalidArgument, "cannot tell the format of " + path + " from its name; pass --format csv|parquet|json");
  }
  std::string lit = engine::QuoteLiteral(path);
  std::string extra;
  for (const auto& o : options) extra += ", " + o;
  if (format == "csv") return "SELECT * FROM read_csv(" + lit + ", auto_detect=true, header=true" + extra + ")";
  if (format == "parquet") return "SELECT * FROM read_parquet(" + lit + extra + ")";
  if (format == "json") return "SELECT * FROM read_json_auto(" + lit + extra + ")";
  return MakeError(ErrorKind::kInvalidArgument, "unknown input format '" + format + "' (csv, parquet or json)");
}

// "day(ts), bucket(4, id)" -> {"day(ts)", "bucket(4, id)"}: commas outside parentheses
// separate fields, so one --partition-by may name several.
std::vector<std::string> SplitPartitionFields(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    int depth = 0;
    std::string cur;
    for (char c : a) {
      if (c == '(') ++depth;
      if (c == ')') --depth;
      if (c == ',' && depth == 0) {
        out.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(c);
      }
    }
    out.push_back(cur);
  }
  return out;
}

// Whether a statement returns rows we can wrap in a subquery (SELECT-like).
bool IsQuery(const std::string& sql) {
  size_t i = 0;
  while (i < sql.size() && (std::isspace(static_cast<unsigned char>(sql[i])) || sql[i] == '(')) ++i;
  std::string word;
  while (i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i]))) word += static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i++])));
  return word == "SELECT" || word == "WITH" || word == "FROM" || word == "VALUES" || word == "TABLE";
}

// "[########............]  42%  1234567 rows" on one terminal line.
void DrawProgress(double pct, uint64_t rows) {
  constexpr int kWidth = 30;
  std::string bar;
  if (pct >= 0) {
    int filled = static_cast<int>(pct / 100.0 * kWidth + 0.5);
    bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%3.0f%%", pct);
    bar += buf;
  } else {
    bar = "[working]";
  }
  std::cerr << "\r\033[K" << bar << "  " << rows << " rows read" << std::flush;
}

Rows MakeRows(std::vector<std::string> cols, std::vector<bool> raw) {
  Rows r;
  r.columns = std::move(cols);
  r.raw_json = std::move(raw);
  return r;
}

std::string OptId(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : ""; }

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{
      "frazil: PostgreSQL to Apache Iceberg in one program.\n"
      "Tables live in a warehouse directory (default ./warehouse, catalog in <warehouse>/catalog.db)\n"
      "or in S3 (-w s3://bucket/prefix with s3.* settings, docs/s3.md), where Spark, PyIceberg,\n"
      "DuckDB and Trino can open them too.\n\n"
      "Examples:\n"
      "  frazil load sales.orders orders.csv          # create + fill a table from a file\n"
      "  frazil sql \"SELECT count(*) FROM sales.orders\"\n"
      "  frazil table snapshots sales.orders\n"
      "  frazil sql \"SELECT * FROM sales.orders AT (VERSION => 123)\"   # time travel\n",
      "frazil"};
  app.set_version_flag("--version", "frazil 0.1.0");
  app.require_subcommand(1);
  Globals g;
  app.add_option("-c,--config", g.config_path, "YAML configuration file (default ./frazil.yaml if present)");
  app.add_option("-w,--warehouse", g.warehouse, "Warehouse: a directory or s3://bucket/prefix (overrides config and FRAZIL_WAREHOUSE)");
  app.add_option("--log-level", g.log_level, "debug, info, warn or error")->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.add_flag("--log-json", g.log_json, "Write logs as JSON lines");

  int rc = 0;
  auto with_warehouse = [&](auto fn) {
    return [&, fn]() {
      auto w = OpenWarehouse(g);
      if (!w) {
        rc = Fail(w.error());
        return;
      }
      rc = fn(**w);
    };
  };

  // ---- sql ----
  auto* sql = app.add_subcommand("sql", "Run DuckDB SQL over every table (ns.table); time travel with AT (VERSION => id)");
  std::string sql_text, sql_file, sql_format = "table";
  size_t sql_max_rows = 0;
  sql->add_option("query", sql_text, "The SQL statement (or use --file)");
  sql->add_option("-f,--file", sql_file, "Read the SQL from a file");
  sql->add_option("--format", sql_format, "Output: table, csv or json (one object per line)")->check(CLI::IsMember({"table", "csv", "json"}));
  sql->add_option("--max-rows", sql_max_rows, "Show at most this many rows in table output (0 = all)");
  sql->footer("Examples:\n  frazil sql \"SELECT ns, count(*) FROM raw.events GROUP BY ALL\"\n"
              "  frazil sql \"COPY (SELECT * FROM sales.orders) TO 'orders.parquet'\"\n"
              "  frazil sql \"SELECT * FROM sales.orders AT (TIMESTAMP => TIMESTAMP '2026-11-25 10:00:00')\"");
  sql->callback(with_warehouse([&](app::Warehouse& w) {
    std::string text = sql_text;
    if (!sql_file.empty()) {
      if (!std::filesystem::is_regular_file(sql_file)) {
        return Fail(Error{ErrorKind::kNotFound, "SQL file " + sql_file + " does not exist"});
      }
      text = ReadFileOrInline(sql_file);
    }
    if (text.empty()) return Fail(Error{ErrorKind::kInvalidArgument, "no SQL given (pass a query or --file)"});
    auto con = engine::Connection::Open(w.db());
    if (!con) return Fail(con.error());
    auto prepared = app::PrepareSql(w, *con, text);
    if (!prepared) return Fail(prepared.error());
    std::string stmt = *prepared;
    while (!stmt.empty() && (std::isspace(static_cast<unsigned char>(stmt.back())) || stmt.back() == ';')) stmt.pop_back();
    auto fmt = ParseOutputFormat(sql_format);
    Rows rows;
    if (IsQuery(stmt)) {
      // Render every value through DuckDB's own VARCHAR cast (nested types, time zones,
      // intervals), keeping the real types for alignment and JSON.
      auto probe = con->Query("SELECT * FROM (" + stmt + "\n) LIMIT 0");
      if (!probe) return Fail(probe.error());
      auto result = con->Query("SELECT COLUMNS(*)::VARCHAR FROM (" + stmt + "\n)");
      if (!result) return Fail(result.error());
      rows = FromQueryResult(*result, &*probe);
    } else {
      auto result = con->Query(stmt);
      if (!result) return Fail(result.error());
      rows = FromQueryResult(*result);
    }
    Render(rows, *fmt, std::cout, sql_max_rows);
    return 0;
  }));

  // ---- load ----
  auto* load = app.add_subcommand("load", "Load a CSV, Parquet or JSON file into a table (created if missing)");
  std::string load_table, load_file, load_format, load_mode = "append";
  std::vector<std::string> load_partition;
  bool no_progress = false;
  std::vector<std::string> load_read_options;
  load->add_option("table", load_table, "Target table, namespace.table")->required();
  load->add_option("file", load_file, "Input file (.csv, .parquet, .json/.jsonl; format from the name or --format)")->required();
  load->add_option("--format", load_format, "csv, parquet or json");
  load->add_option("--mode", load_mode, "append (default) or overwrite (replace all rows)")->check(CLI::IsMember({"append", "overwrite"}));
  load->add_option("--read-option", load_read_options,
                   "Option for DuckDB's reader, e.g. 'sample_size=-1', \"types={'id': 'VARCHAR'}\", \"delim='|'\" (repeatable)");
  load->add_flag("--no-progress", no_progress, "Do not draw a progress bar (it is drawn only on a terminal)");
  load->add_option("--partition-by", load_partition, "When creating the table: partition fields, e.g. 'day(ts)' 'bucket(16, id)'");
  load->footer("The file's columns are matched to the table's by name. A new table gets the schema\n"
               "DuckDB infers from the file (all columns optional).");
  load->callback(with_warehouse([&](app::Warehouse& w) {
    auto id = catalog::TableIdentifier::Parse(load_table);
    if (!id) return Fail(id.error());
    auto reader = ReaderSql(load_file, load_format, load_read_options);
    if (!reader) return Fail(reader.error());
    if (std::filesystem::is_regular_file(load_file) && std::filesystem::file_size(load_file) == 0) {
      return Fail(Error{ErrorKind::kInvalidArgument, "input file " + load_file + " is empty"});
    }
    auto exists = w.catalog().TableExists(*id);
    if (!exists) return Fail(exists.error());
    bool created_here = false;
    auto start = std::chrono::steady_clock::now();
    if (!*exists) {
      auto con = engine::Connection::Open(w.db());
      if (!con) return Fail(con.error());
      std::vector<std::string> notes;
      auto schema = engine::InferSchema(*con, *reader, &notes);
      if (!schema) return Fail(schema.error());
      for (const auto& n : notes) Log(LogLevel::kWarn, "schema inference", {{"note", n}});
      iceberg::PartitionSpec spec;
      int next_pf = iceberg::kFirstPartitionFieldId;
      for (const auto& p : SplitPartitionFields(load_partition)) {
        auto pf = app::ParsePartitionField(*schema, p, next_pf++);
        if (!pf) return Fail(pf.error());
        spec.fields.push_back(*pf);
      }
      if (schema->fields().empty()) {
        return Fail(Error{ErrorKind::kInvalidArgument, "cannot infer a schema from " + load_file + ": it has no columns"});
      }
      auto created = app::CreateTable(w, *id, *schema, spec, {});
      if (created) {
        created_here = true;
        Log(LogLevel::kInfo, "created table", {{"table", id->ToString()}, {"columns", std::to_string(schema->fields().size())}});
      } else if (created.error().kind != ErrorKind::kAlreadyExists) {
        return Fail(created.error());
      }  // else: a concurrent load created it first; append to it
    } else if (!load_partition.empty()) {
      return Fail(Error{ErrorKind::kInvalidArgument, "--partition-by applies only when creating a table; use `frazil table alter " +
                                                         id->ToString() + " add-partition-field ...`"});
    }
    app::ProgressFn progress;
    bool bar = ::isatty(STDERR_FILENO) && !no_progress;
    if (bar) progress = [](double pct, uint64_t rows) { DrawProgress(pct, rows); };
    auto result = app::AppendQuery(w, *id, *reader, load_mode == "overwrite", progress);
    if (bar) std::cerr << "\r\033[K" << std::flush;
    if (!result) {
      if (created_here && result.error().kind != ErrorKind::kCommitStateUnknown) {
        // Do not leave behind an empty table the user never asked for (unless a concurrent
        // load has meanwhile committed rows to it).
        auto now = w.catalog().LoadTable(*id);
        if (now && !now->metadata.current_snapshot_id) (void)w.catalog().DropTable(*id, /*purge=*/true);
      }
      return Fail(result.error());
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cerr << "loaded " << result->rows << " rows into " << id->ToString() << " (" << result->files << " files, "
              << result->bytes << " bytes, snapshot " << result->snapshot_id << ") in " << secs << " s\n";
    return 0;
  }));

  // ---- run / status / source ----
  auto* run = app.add_subcommand(
      "run",
      "Stream changes from PostgreSQL into raw changelog tables (Ctrl-C stops after the in-flight commit)");
  run->footer(
      "Reads source.* from frazil.yaml (or FRAZIL_SOURCE_* variables). On first start frazil creates the\n"
      "publication (source.tables, or all tables) and the replication slot, copies the tables as of the\n"
      "slot's start (snapshot: initial), then streams every insert, update, delete and truncate into\n"
      "<source.namespace>.<table> (default raw_data), committing whole source transactions.\n\n"
      "Example frazil.yaml:\n"
      "  warehouse: ./warehouse\n"
      "  source:\n"
      "    conninfo: postgresql://frazil@db.example:5432/bank\n"
      "    tables: [public.users, public.accounts]\n\n"
      "Restarting resumes exactly where the last commit ended; nothing is lost or duplicated.\n\n"
      "With models.project (or orchestrator.schedules) configured, the orchestrator runs here too: each model\n"
      "runs when the tables it reads change (debounced), jobs run on their cron schedules, and the run history\n"
      "is in `frazil runs` (docs/orchestrator.md). http.listen: 127.0.0.1:9187 serves /metrics and /api/....");
  std::string run_conninfo;
  run->add_option("--source", run_conninfo, "PostgreSQL conninfo or URL (overrides source.conninfo)");
  std::string run_until;
  run->add_option("--until", run_until,
                  "Exit once caught up to this LSN (e.g. 16/B374D848), or 'now' = the server's position at start");
  run->callback([&]() {
    if (!run_conninfo.empty()) setenv("FRAZIL_SOURCE_CONNINFO", run_conninfo.c_str(), 1);
    auto w = OpenWarehouse(g);
    if (!w) {
      rc = Fail(w.error());
      return;
    }
    InstallStopHandlers();
    // The orchestrator runs beside CDC when there is something to orchestrate.
    std::unique_ptr<app::Orchestration> orch;
    const auto& oc = (*w)->config().orchestrator;
    if (oc.enabled && run_until.empty() && (!(*w)->config().models_project.empty() || !oc.schedules.empty())) {
      auto made = app::MakeOrchestration(**w, (*w)->clock());
      if (!made) {
        rc = Fail(made.error());
        return;
      }
      orch = std::move(*made);
      if (auto s = orch->orchestrator->Recover(); !s) {
        rc = Fail(s.error());
        return;
      }
      orch->orchestrator->Start();
      Log(LogLevel::kInfo, "orchestrator started",
          {{"assets", std::to_string(orch->orchestrator->graph().assets().size())},
           {"schedules", std::to_string(orch->orchestrator->schedules().size())}});
    }
    auto* o = orch ? orch->orchestrator.get() : nullptr;
    app::CdcExtras extras;
    if (o) {
      extras.on_commit = [o] { o->Wake(); };
      extras.metrics = [o] { return o->MetricsText(); };
      extras.routes = [o](server::Router& r) { return app::AddOrchestratorRoutes(r, *o); };
    }
    auto s = app::RunCdc(**w, StopFlag(), run_until, std::move(extras));
    if (o) o->Stop();
    rc = s ? 0 : Fail(s.error());
  });

  auto* status = app.add_subcommand("status", "Show CDC progress per raw table: committed LSN, lag, rows/s, state");
  std::string status_format = "table";
  status->add_option("--format", status_format, "table, csv or json")->check(CLI::IsMember({"table", "csv", "json"}));
  status->callback(with_warehouse([&](app::Warehouse& w) {
    auto report = app::CdcStatus(w);
    if (!report) return Fail(report.error());
    std::cout << "slot " << report->slot << ": " << report->state;
    if (!report->confirmed_lsn.empty()) std::cout << ", confirmed " << report->confirmed_lsn;
    if (!report->server_lsn.empty()) std::cout << ", server at " << report->server_lsn;
    std::cout << "\n";
    if (!report->source_error.empty()) std::cout << "source: " << report->source_error << "\n";
    Rows rows = MakeRows({"table", "source", "rows", "committed_lsn", "lag_bytes", "lag_seconds", "rows_per_s", "state"},
                         {false, false, true, false, true, true, true, false});
    for (const auto& t : report->tables) {
      auto num = [](double v) -> std::optional<std::string> {
        if (v < 0) return std::nullopt;
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.1f", v);
        return std::string(buf);
      };
      rows.rows.push_back({t.table, t.source, std::to_string(t.rows), t.committed_lsn,
                           t.lag_bytes < 0 ? std::nullopt : std::optional<std::string>(std::to_string(t.lag_bytes)),
                           num(t.lag_seconds), num(t.rows_per_second), t.state});
    }
    Render(rows, *ParseOutputFormat(status_format), std::cout);
    return 0;
  }));

  auto* source = app.add_subcommand("source", "Manage the PostgreSQL side of CDC");
  source->require_subcommand(1);
  auto* source_drop = source->add_subcommand(
      "drop", "Drop frazil's replication slot (and with --publication its publication); raw tables stay");
  bool drop_publication = false;
  source_drop->add_flag("--publication", drop_publication, "Also drop the publication");
  source_drop->callback(with_warehouse([&](app::Warehouse& w) {
    auto dropped = app::DropCdcSource(w, drop_publication);
    if (!dropped) return Fail(dropped.error());
    for (const auto& d : *dropped) std::cout << "dropped " << d << "\n";
    return 0;
  }));

  // ---- verify ----
  auto* verify = app.add_subcommand(
      "verify", "Compare a mirror table with its PostgreSQL source table at one point in time (exit 0 equal, 1 differ)");
  verify->footer(
      "Takes a consistent snapshot of the source table (a temporary replication slot's exported snapshot,\n"
      "at LSN C), waits until the mirror holds every change committed before C (`frazil run` must be\n"
      "running, or stopped with no change of the table waiting in its slot), and compares the mirror as of C\n"
      "with the source rows typed exactly as CDC types them: row counts, an order-independent checksum,\n"
      "and the rows that differ, reported by the mirror's key (frazil.key; whole rows without a key) as\n"
      "missing in mirror, extra in mirror or different values. Changes committed meanwhile make it retry\n"
      "on a new snapshot, then leave the keys they touched out on both sides (reported). Needs a source\n"
      "role with REPLICATION and one free replication slot.\n\n"
      "Exit codes: 0 equal, 1 different (errors: `error: ...` on stderr, 1 for I/O, timeout or a source\n"
      "too busy; 2 bad input; 3 no such mirror).\n\n"
      "Examples:\n"
      "  frazil verify accounts                      # mirror.accounts against public.accounts\n"
      "  frazil verify sales.orders --format json    # mirror.sales__orders, one JSON object\n"
      "  frazil verify mirror.accounts --max-keys 100 --timeout 300");
  std::string verify_conninfo, verify_format = "text";
  app::VerifyArgs verify_args;
  verify->add_option("table", verify_args.table,
                     "The mirror: mirror.accounts, accounts (in source.mirror_namespace) or the source name "
                     "public.accounts / sales.orders")
      ->required();
  verify->add_option("--timeout", verify_args.timeout_s,
                     "Seconds to wait for the mirror to reach the source snapshot (default 60)");
  verify->add_option("--max-keys", verify_args.max_keys,
                     "List at most this many differing keys (default 20; all are counted)");
  verify->add_option("--format", verify_format, "text or json (one object)")->check(CLI::IsMember({"text", "json"}));
  verify->add_option("--source", verify_conninfo, "PostgreSQL conninfo or URL (overrides source.conninfo)");
  verify->callback([&]() {
    if (!verify_conninfo.empty()) setenv("FRAZIL_SOURCE_CONNINFO", verify_conninfo.c_str(), 1);
    auto w = OpenWarehouse(g);
    if (!w) {
      rc = Fail(w.error());
      return;
    }
    auto report = app::Verify(**w, verify_args);
    if (!report) {
      rc = Fail(report.error());
      return;
    }
    std::cout << (verify_format == "json" ? app::VerifyReportJson(*report) : app::VerifyReportText(*report));
    rc = report->equal ? 0 : 1;
  });

  // ---- namespace ----
  auto* nsc = app.add_subcommand("namespace", "Create, list and drop namespaces");
  nsc->require_subcommand(1);
  std::string ns_name;
  auto* ns_create = nsc->add_subcommand("create", "Create a namespace");
  ns_create->add_option("name", ns_name, "Namespace (a.b for nested)")->required();
  ns_create->callback(with_warehouse([&](app::Warehouse& w) {
    auto ns = ParseNamespace(ns_name);
    if (!ns) return Fail(ns.error());
    auto s = w.catalog().CreateNamespace(*ns, {});
    return s ? 0 : Fail(s.error());
  }));
  auto* ns_list = nsc->add_subcommand("list", "List namespaces");
  ns_list->callback(with_warehouse([&](app::Warehouse& w) {
    auto list = app::ListAllNamespaces(w.catalog());
    if (!list) return Fail(list.error());
    for (const auto& ns : *list) std::cout << catalog::NamespaceToString(ns) << "\n";
    return 0;
  }));
  auto* ns_drop = nsc->add_subcommand("drop", "Drop an empty namespace");
  ns_drop->add_option("name", ns_name, "Namespace")->required();
  ns_drop->callback(with_warehouse([&](app::Warehouse& w) {
    auto ns = ParseNamespace(ns_name);
    if (!ns) return Fail(ns.error());
    auto s = w.catalog().DropNamespace(*ns);
    return s ? 0 : Fail(s.error());
  }));

  // ---- table ----
  auto* tbl = app.add_subcommand("table", "Inspect and change tables");
  tbl->require_subcommand(1);
  std::string t_name, t_format = "table";
  auto add_table_arg = [&](CLI::App* c) {
    c->add_option("table", t_name, "namespace.table")->required();
  };
  auto add_format = [&](CLI::App* c) {
    c->add_option("--format", t_format, "table, csv or json")->check(CLI::IsMember({"table", "csv", "json"}));
  };
  auto load_table_fn = [&](app::Warehouse& w) -> Result<catalog::LoadedTable> {
    FRZ_ASSIGN_OR_RETURN(auto id, catalog::TableIdentifier::Parse(t_name));
    return w.catalog().LoadTable(id);
  };

  auto* t_list = tbl->add_subcommand("list", "List tables (of one namespace, or all)");
  std::string t_list_ns;
  t_list->add_option("namespace", t_list_ns, "Only this namespace");
  add_format(t_list);
  t_list->callback(with_warehouse([&](app::Warehouse& w) {
    std::vector<catalog::Namespace> namespaces;
    if (!t_list_ns.empty()) {
      auto ns = ParseNamespace(t_list_ns);
      if (!ns) return Fail(ns.error());
      namespaces.push_back(*ns);
    } else {
      auto all = app::ListAllNamespaces(w.catalog());
      if (!all) return Fail(all.error());
      namespaces = *all;
    }
    Rows rows = MakeRows({"table"}, {false});
    for (const auto& ns : namespaces) {
      auto tables = w.catalog().ListTables(ns);
      if (!tables) return Fail(tables.error());
      for (const auto& t : *tables) rows.rows.push_back({t.ToString()});
    }
    Render(rows, *ParseOutputFormat(t_format), std::cout);
    return 0;
  }));

  auto* t_show = tbl->add_subcommand("show", "Show a table's location, schema, partitioning and properties");
  add_table_arg(t_show);
  t_show->callback(with_warehouse([&](app::Warehouse& w) {
    auto t = load_table_fn(w);
    if (!t) return Fail(t.error());
    const auto& md = t->metadata;
    std::cout << "table:            " << t_name << "\n"
              << "location:         " << md.location << "\n"
              << "metadata:         " << t->metadata_location << "\n"
              << "uuid:             " << md.table_uuid << "\n"
              << "format-version:   " << md.format_version << "\n"
              << "current snapshot: " << OptId(md.current_snapshot_id) << "\n";
    if (const auto* s = md.current_snapshot()) {
      auto get = [&](const char* k) { auto it = s->summary.find(k); return it == s->summary.end() ? std::string("?") : it->second; };
      std::cout << "rows:             " << get("total-records") << " in " << get("total-data-files") << " data files ("
                << get("total-files-size") << " bytes), " << get("total-delete-files") << " delete files\n";
    }
    std::cout << "schema (id " << md.current_schema_id << "):\n";
    if (const auto* schema = md.current_schema()) {
      for (const auto& f : schema->fields()) {
        std::cout << "  " << f.id << "  " << f.name << "  " << f.type->ToString() << (f.required ? "  required" : "") << "\n";
      }
    }
    std::cout << "partition spec (id " << md.default_spec_id << "):";
    const auto* spec = md.default_spec();
    if (spec == nullptr || spec->fields.empty()) std::cout << " unpartitioned";
    std::cout << "\n";
    if (spec) {
      for (const auto& pf : spec->fields) {
        const auto* src = md.current_schema() ? md.current_schema()->FindField(pf.source_id) : nullptr;
        std::cout << "  " << pf.field_id << "  " << pf.name << " = " << pf.transform.ToString() << "("
                  << (src ? src->name : std::to_string(pf.source_id)) << ")\n";
      }
    }
    if (!md.properties.empty()) {
      std::cout << "properties:\n";
      for (const auto& [k, v] : md.properties) std::cout << "  " << k << " = " << v << "\n";
    }
    return 0;
  }));

  auto* t_snaps = tbl->add_subcommand("snapshots", "List a table's snapshots with their summaries");
  add_table_arg(t_snaps);
  add_format(t_snaps);
  t_snaps->callback(with_warehouse([&](app::Warehouse& w) {
    auto t = load_table_fn(w);
    if (!t) return Fail(t.error());
    // The full summary only where a program reads it (csv/json); a terminal gets the totals.
    const bool full = t_format != "table";
    Rows rows = MakeRows({"snapshot_id", "parent_id", "sequence_number", "committed_at", "operation", "added_records",
                          "deleted_records", "total_records", "total_data_files", "total_delete_files"},
                         {true, true, true, false, false, true, true, true, true, true});
    if (full) {
      rows.columns.push_back("summary");
      rows.raw_json.push_back(false);
    }
    for (const auto& s : t->metadata.snapshots) {
      auto get = [&](const char* k) -> std::optional<std::string> {
        auto it = s.summary.find(k);
        if (it == s.summary.end()) return std::nullopt;
        return it->second;
      };
      std::string summary;
      for (const auto& [k, v] : s.summary) summary += (summary.empty() ? "" : ", ") + k + "=" + v;
      rows.rows.push_back({std::to_string(s.snapshot_id),
                           s.parent_snapshot_id ? std::optional<std::string>(std::to_string(*s.parent_snapshot_id)) : std::nullopt,
                           std::to_string(s.sequence_number), FormatTime(s.timestamp_ms), s.operation(), get("added-records"),
                           get("deleted-records"), get("total-records"), get("total-data-files"), get("total-delete-files")});
      if (full) rows.rows.back().push_back(summary);
    }
    Render(rows, *ParseOutputFormat(t_format), std::cout);
    return 0;
  }));

  auto* t_history = tbl->add_subcommand("history", "When each snapshot became current");
  add_table_arg(t_history);
  add_format(t_history);
  t_history->callback(with_warehouse([&](app::Warehouse& w) {
    auto t = load_table_fn(w);
    if (!t) return Fail(t.error());
    const auto& md = t->metadata;
    std::set<int64_t> ancestors;
    if (md.current_snapshot_id) {
      for (const auto* s : md.Ancestors(*md.current_snapshot_id)) ancestors.insert(s->snapshot_id);
    }
    Rows rows = MakeRows({"made_current_at", "snapshot_id", "is_current_ancestor"}, {false, true, true});
    for (const auto& e : md.snapshot_log) {
      rows.rows.push_back({FormatTime(e.timestamp_ms), std::to_string(e.snapshot_id), ancestors.count(e.snapshot_id) ? "true" : "false"});
    }
    Render(rows, *ParseOutputFormat(t_format), std::cout);
    return 0;
  }));

  auto* t_files = tbl->add_subcommand("files", "List the live data and delete files of the current snapshot");
  add_table_arg(t_files);
  add_format(t_files);
  t_files->callback(with_warehouse([&](app::Warehouse& w) {
    auto t = load_table_fn(w);
    if (!t) return Fail(t.error());
    Rows rows = MakeRows({"content", "file_path", "partition", "record_count", "file_size_in_bytes", "spec_id", "sequence_number"},
                         {false, false, false, true, true, true, true});
    if (const auto* snap = t->metadata.current_snapshot()) {
      auto live = iceberg::ReadLiveFiles(t->metadata, *snap, w.io());
      if (!live) return Fail(live.error());
      for (const auto& lf : *live) {
        const auto& f = lf.entry.data_file;
        std::string part;
        const auto* spec = t->metadata.spec_by_id(lf.spec_id);
        auto ptype = spec && t->metadata.current_schema() ? spec->PartitionType(*t->metadata.current_schema())
                                                          : Result<iceberg::TypePtr>(MakeError(ErrorKind::kInternal, ""));
        for (size_t i = 0; i < f.partition.size(); ++i) {
          part += (i ? ", " : "");
          if (spec && i < spec->fields.size()) part += spec->fields[i].name + "=";
          part += (ptype && i < (*ptype)->fields.size()) ? (iceberg::IsNull(f.partition[i]) ? "null" : iceberg::DatumToString(*(*ptype)->fields[i].type, f.partition[i])) : "?";
        }
        const char* content = f.content == iceberg::FileContent::kData ? "data"
                              : f.content == iceberg::FileContent::kPositionDeletes ? "position_deletes"
                                                                                     : "equality_deletes";
        rows.rows.push_back({content, f.file_path, part, std::to_string(f.record_count), std::to_string(f.file_size_in_bytes),
                             std::to_string(lf.spec_id), OptId(lf.entry.sequence_number)});
      }
    }
    Render(rows, *ParseOutputFormat(t_format), std::cout);
    return 0;
  }));

  auto* t_create = tbl->add_subcommand("create", "Create an empty table from an Iceberg schema (JSON)");
  add_table_arg(t_create);
  std::string t_schema, t_spec;
  std::vector<std::string> t_partition, t_props;
  t_create->add_option("--schema", t_schema, "Iceberg schema JSON, inline or a file path")->required();
  t_create->add_option("--partition-spec", t_spec, "Iceberg partition spec JSON, inline or a file path");
  t_create->add_option("--partition-by", t_partition, "Partition fields, e.g. 'day(ts)' 'bucket(16, id)'");
  t_create->add_option("--property", t_props, "Table property key=value (repeatable)");
  t_create->footer("Example:\n  frazil table create sales.orders --partition-by 'day(ts)' --schema \\\n"
                   "    '{\"type\":\"struct\",\"fields\":[{\"id\":1,\"name\":\"id\",\"required\":true,\"type\":\"long\"},\n"
                   "      {\"id\":2,\"name\":\"ts\",\"required\":false,\"type\":\"timestamptz\"}]}'");
  t_create->callback(with_warehouse([&](app::Warehouse& w) {
    auto id = catalog::TableIdentifier::Parse(t_name);
    if (!id) return Fail(id.error());
    std::string text = ReadFileOrInline(t_schema);
    if (text.empty()) return Fail(Error{ErrorKind::kInvalidArgument, "cannot read schema " + t_schema});
    auto schema = iceberg::SchemaFromJson(nlohmann::json::parse(text, nullptr, false));
    if (!schema) return Fail(Error{schema.error().kind, "schema " + t_schema + ": " + schema.error().message});
    iceberg::PartitionSpec spec;
    if (!t_spec.empty()) {
      std::string st = ReadFileOrInline(t_spec);
      auto parsed = iceberg::PartitionSpecFromJson(nlohmann::json::parse(st, nullptr, false));
      if (!parsed) return Fail(Error{parsed.error().kind, "partition spec " + t_spec + ": " + parsed.error().message});
      spec = *parsed;
    }
    int next_pf = iceberg::kFirstPartitionFieldId + static_cast<int>(spec.fields.size());
    for (const auto& p : SplitPartitionFields(t_partition)) {
      auto pf = app::ParsePartitionField(*schema, p, next_pf++);
      if (!pf) return Fail(pf.error());
      spec.fields.push_back(*pf);
    }
    std::map<std::string, std::string> props;
    for (const auto& kv : t_props) {
      auto eq = kv.find('=');
      if (eq == std::string::npos) return Fail(Error{ErrorKind::kInvalidArgument, "--property needs key=value, got '" + kv + "'"});
      props[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    auto created = app::CreateTable(w, *id, *schema, spec, props);
    if (!created) return Fail(created.error());
    std::cerr << "created " << id->ToString() << " at " << created->metadata.location << "\n";
    return 0;
  }));

  auto* t_delete = tbl->add_subcommand("delete", "Delete the rows matching a SQL predicate (position deletes)");
  add_table_arg(t_delete);
  std::string t_where;
  t_delete->add_option("--where", t_where, "SQL predicate over the table's columns, e.g. \"id < 100\"")->required();
  t_delete->footer("Example:\n  frazil table delete sales.orders --where \"status = 'test' AND created < DATE '2026-01-01'\"\n"
                   "Rows are masked by position delete files (readable by Spark, PyIceberg, DuckDB, Trino);\n"
                   "a data file whose every row matches is dropped from the table instead.");
  t_delete->callback(with_warehouse([&](app::Warehouse& w) {
    auto id = catalog::TableIdentifier::Parse(t_name);
    if (!id) return Fail(id.error());
    auto r = app::DeleteWhere(w, *id, t_where);
    if (!r) return Fail(r.error());
    std::cerr << "deleted " << r->rows << " rows from " << id->ToString();
    if (r->snapshot_id) std::cerr << " (snapshot " << r->snapshot_id << ")";
    std::cerr << "\n";
    return 0;
  }));

  auto* t_alter = tbl->add_subcommand("alter", "Evolve the schema or partitioning");
  add_table_arg(t_alter);
  std::vector<std::string> t_change;
  t_alter->add_option("change", t_change, "add-column <name> <type> | drop-column <name> | rename-column <old> <new> |\n"
                                          "update-column <name> <type> | move-column <name> first|after|before [<other>] |\n"
                                          "set-optional <name> | add-partition-field '<transform>(<col>)' | drop-partition-field <name>")
      ->required()
      ->expected(1, 4);
  t_alter->footer("Examples:\n  frazil table alter sales.orders add-column note string\n"
                  "  frazil table alter sales.orders update-column qty long          # int -> long\n"
                  "  frazil table alter sales.orders rename-column amount amount_eur\n"
                  "  frazil table alter sales.orders add-partition-field 'day(ordered_at)'\n"
                  "Old data files are never rewritten: columns are matched by field id, so renamed and\n"
                  "dropped columns read correctly and added ones read as NULL in older files.");
  t_alter->callback(with_warehouse([&](app::Warehouse& w) {
    auto id = catalog::TableIdentifier::Parse(t_name);
    if (!id) return Fail(id.error());
    auto r = app::AlterTable(w, *id, t_change);
    return r ? 0 : Fail(r.error());
  }));

  auto* t_rollback = tbl->add_subcommand("rollback", "Make an earlier snapshot current again");
  add_table_arg(t_rollback);
  int64_t t_snapshot = 0;
  t_rollback->add_option("snapshot_id", t_snapshot, "Snapshot id (see `table snapshots`)")->required();
  t_rollback->callback(with_warehouse([&](app::Warehouse& w) {
    auto id = catalog::TableIdentifier::Parse(t_name);
    if (!id) return Fail(id.error());
    auto r = app::Rollback(w, *id, t_snapshot);
    if (!r) return Fail(r.error());
    std::cerr << id->ToString() << " now at snapshot " << t_snapshot << "\n";
    return 0;
  }));

  auto* t_tag = tbl->add_subcommand("tag", "Create, move or remove a tag or branch (read it with AT (VERSION => 'name'))");
  add_table_arg(t_tag);
  std::string ref_name;
  int64_t ref_snapshot = 0;
  bool ref_branch = false, ref_remove = false;
  t_tag->add_option("name", ref_name, "Tag or branch name")->required();
  t_tag->add_option("--snapshot", ref_snapshot, "Snapshot id (default: the current snapshot)");
  t_tag->add_flag("--branch", ref_branch, "Create a branch instead of a tag");
  t_tag->add_flag("--remove", ref_remove, "Remove the tag or branch");
  t_tag->footer("Example:\n  frazil table tag sales.orders month-end\n"
                "  frazil sql \"SELECT count(*) FROM sales.orders AT (VERSION => 'month-end')\"");
  t_tag->callback(with_warehouse([&](app::Warehouse& w) {
    auto id = catalog::TableIdentifier::Parse(t_name);
    if (!id) return Fail(id.error());
    auto r = ref_remove ? app::RemoveRef(w, *id, ref_name)
                        : app::SetRef(w, *id, ref_name,
                                      t_tag->count("--snapshot") ? std::optional<int64_t>(ref_snapshot) : std::nullopt, ref_branch);
    return r ? 0 : Fail(r.error());
  }));

  auto* t_refs = tbl->add_subcommand("refs", "List a table's branches and tags");
  add_table_arg(t_refs);
  add_format(t_refs);
  t_refs->callback(with_warehouse([&](app::Warehouse& w) {
    auto t = load_table_fn(w);
    if (!t) return Fail(t.error());
    Rows rows = MakeRows({"name", "type", "snapshot_id"}, {false, false, true});
    for (const auto& [name, ref] : t->metadata.refs) {
      rows.rows.push_back({name, ref.is_branch ? "branch" : "tag", std::to_string(ref.snapshot_id)});
    }
    Render(rows, *ParseOutputFormat(t_format), std::cout);
    return 0;
  }));

  auto* t_drop = tbl->add_subcommand("drop", "Drop a table (--purge also deletes its files)");
  add_table_arg(t_drop);
  bool t_purge = false;
  t_drop->add_flag("--purge", t_purge, "Delete the table's data and metadata files too");
  t_drop->callback(with_warehouse([&](app::Warehouse& w) {
    auto id = catalog::TableIdentifier::Parse(t_name);
    if (!id) return Fail(id.error());
    auto r = w.catalog().DropTable(*id, t_purge);
    return r ? 0 : Fail(r.error());
  }));

  AddModelsCommand(app, [&](std::function<int(app::Warehouse&)> fn) {
    auto w = OpenWarehouse(g);
    rc = w ? fn(**w) : Fail(w.error());
  });
  AddMaintainCommand(app, [&](std::function<int(app::Warehouse&)> fn) {
    auto w = OpenWarehouse(g);
    rc = w ? fn(**w) : Fail(w.error());
  });
  AddOrchestratorCommands(app, [&](std::function<int(app::Warehouse&)> fn) {
    auto w = OpenWarehouse(g);
    rc = w ? fn(**w) : Fail(w.error());
  });
  AddServeCommand(app, [&](std::function<int(app::Warehouse&)> fn) {
    auto w = OpenWarehouse(g);
    rc = w ? fn(**w) : Fail(w.error());
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return rc;
}

}  // namespace frazil::cli
