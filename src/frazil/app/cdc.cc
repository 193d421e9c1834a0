#include "frazil/app/cdc.h"

#include "frazil/app/rest_server.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "frazil/base/log.h"
#include "frazil/cdc/changelog.h"
#include "frazil/cdc/pg_types.h"
#include "frazil/cdc/pipeline.h"
#include "frazil/cdc/source_admin.h"
#include "frazil/server/http_server.h"
#include "frazil/server/metrics_server.h"

namespace frazil::app {
namespace {

cdc::CdcOptions OptionsFrom(const Warehouse& w) {
  const auto& s = w.config().source;
  cdc::CdcOptions o;
  o.conninfo = s.conninfo;
  o.publication = s.publication;
  o.slot = s.slot;
  o.tables = s.tables;
  o.ns = s.ns;
  o.snapshot_mode = s.snapshot;
  o.snapshot_workers = s.snapshot_workers;
  o.commit_interval_ms = s.commit_interval_ms;
  o.streaming = s.streaming;
  o.status_file = CdcStatusPath(w);
  return o;
}

Status RequireConninfo(const Warehouse& w) {
  if (w.config().source.conninfo.empty()) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "no PostgreSQL source configured: set source.conninfo in frazil.yaml or FRAZIL_SOURCE_CONNINFO "
                     "(e.g. postgresql://user@host:5432/db)");
  }
  return Ok();
}

// The event trigger that makes renames visible in the stream (docs/cdc.md).
Status InstallDdlCapture(cdc::PgConnection& conn) {
  std::string fn = R"SQL(
CREATE OR REPLACE FUNCTION public.frazil_capture_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $f$
DECLARE r record;
BEGIN
  FOR r IN SELECT DISTINCT objid FROM pg_event_trigger_ddl_commands()
           WHERE object_type IN ('table', 'table column') LOOP
    PERFORM pg_logical_emit_message(true, 'frazil.ddl', json_build_object('oid', r.objid::bigint, 'columns',
      (SELECT json_agg(json_build_object('attnum', attnum, 'name', attname) ORDER BY attnum)
         FROM pg_attribute WHERE attrelid = r.objid AND attnum > 0 AND NOT attisdropped))::text);
  END LOOP;
END $f$)SQL";
  FRZ_RETURN_IF_ERROR(conn.Exec(fn));
  FRZ_ASSIGN_OR_RETURN(auto exists, conn.Exec("SELECT 1 FROM pg_event_trigger WHERE evtname = 'frazil_ddl'"));
  if (exists.rows() == 0) {
    FRZ_RETURN_IF_ERROR(conn.Exec("CREATE EVENT TRIGGER frazil_ddl ON ddl_command_end WHEN TAG IN ('ALTER TABLE') "
                                  "EXECUTE FUNCTION public.frazil_capture_ddl()"));
    Log(LogLevel::kInfo, "installed the DDL capture event trigger frazil_ddl (source.ddl_capture)", {});
  }
  return Ok();
}

}  // namespace

std::string CdcStatusPath(const Warehouse& w) {
  return w.local_root() + "/.frazil/cdc-" + w.config().source.slot + ".json";
}

Status RunCdc(Warehouse& w, const std::atomic<bool>& stop, const std::string& until, CdcExtras extras) {
  FRZ_RETURN_IF_ERROR(RequireConninfo(w));
  cdc::CdcOptions options = OptionsFrom(w);
  if (until == "now") {
    options.stop_at_current_lsn = true;
  } else if (!until.empty()) {
    FRZ_ASSIGN_OR_RETURN(options.stop_lsn, cdc::ParseLsn(until));
  }
  if (w.config().source.ddl_capture) {
    FRZ_ASSIGN_OR_RETURN(auto conn, cdc::PgConnection::Connect(w.config().source.conninfo, false));
    auto installed = InstallDdlCapture(*conn);
    if (!installed) {
      return MakeError(installed.error().kind, "source.ddl_capture is on but the event trigger could not be installed "
                                               "(it needs a superuser): " + installed.error().message);
    }
  }
  cdc::CdcContext ctx;
  ctx.catalog = &w.catalog();
  ctx.io = &w.io();
  ctx.db = &w.db();
  ctx.clock = &w.clock();
  ctx.write.compression = w.config().parquet_compression;
  ctx.write.target_file_size_bytes = w.config().target_file_size_bytes;
  // Changelog files are small and written every commit interval: the fastest zstd
  // level keeps the flush thread from competing with decoding for CPU.
  ctx.write.compression_level = 1;
  ctx.spill_dir = w.local_root() + "/.frazil/spill";
  const auto& src = w.config().source;
  ctx.mirror.enabled = src.mirror;
  ctx.mirror.ns = src.mirror_namespace;
  ctx.mirror.exclude = src.mirror_exclude;
  ctx.mirror.rewrite_ratio = src.mirror_rewrite_ratio;
  ctx.mirror.target_file_bytes = src.mirror_target_file_mb << 20;
  ctx.mirror.index_dir = w.local_root() + "/.frazil/mirror";
  ctx.on_commit = std::move(extras.on_commit);
  cdc::Pipeline pipeline(ctx, options);
  std::unique_ptr<rest::RestCatalogService> rest_service;  // outlives `http`, declared first
  std::unique_ptr<server::HttpServer> http;
  if (!w.config().metrics_listen.empty()) {
    server::Router router;
    FRZ_RETURN_IF_ERROR(server::AddMetricsRoute(router, [&pipeline, &rest_service, &w, more = extras.metrics] {
      return pipeline.MetricsText() + (more ? more() : "") + (rest_service ? rest_service->MetricsText() : "") +
             (w.s3() != nullptr ? w.s3()->MetricsText() : "");
    }));
    if (extras.routes) {
      FRZ_RETURN_IF_ERROR(extras.routes(router));
    }
    const Config::Rest& rc = w.config().rest;
    if (rc.enabled && rc.auth == "auto" && rc.clients.empty() && !IsLoopbackListen(w.config().metrics_listen)) {
      // Nothing configured for the REST catalog: serve it only where no credentials are needed.
      Log(LogLevel::kInfo, "REST catalog not served: http.listen is not a loopback address and rest.clients is empty",
          {{"listen", w.config().metrics_listen}});
    } else if (rc.enabled) {
      FRZ_ASSIGN_OR_RETURN(rest_service, MakeRestService(w, w.config().metrics_listen));
      FRZ_RETURN_IF_ERROR(rest_service->AddRoutes(router));
    }
    FRZ_ASSIGN_OR_RETURN(http, server::HttpServer::Start(w.config().metrics_listen, std::move(router),
                                                          HttpOptionsFor(w.config())));
    Log(LogLevel::kInfo, "serving HTTP",
        {{"metrics", "http://" + w.config().metrics_listen + "/metrics"}, {"port", std::to_string(http->port())},
         {"api", extras.routes ? "/api/..." : "none"}, {"rest_catalog", rest_service ? "/v1/..." : "off"}});
  }
  return pipeline.Run(stop);
}

Result<CdcStatusReport> CdcStatus(Warehouse& w) {
  CdcStatusReport report;
  report.slot = w.config().source.slot;
  report.state = "not running";
  nlohmann::json status;
  {
    std::ifstream in(CdcStatusPath(w));
    if (in) {
      try {
        in >> status;
        std::string state = status.value("state", "");
        int64_t pid = status.value("pid", int64_t{0});
        bool alive = pid > 0 && std::filesystem::exists("/proc/" + std::to_string(pid));
        report.state = alive ? state : "not running (last: " + state + ")";
      } catch (...) {
      }
    }
  }
  std::optional<cdc::Lsn> server_lsn;
  cdc::Lsn confirmed = 0;
  if (!w.config().source.conninfo.empty()) {
    auto conn = cdc::PgConnection::Connect(w.config().source.conninfo, false, cdc::PgSessionOptions(), "frazil-status");
    if (conn) {
      auto current = cdc::CurrentWalLsn(**conn);
      if (current) {
        server_lsn = *current;
        report.server_lsn = cdc::FormatLsn(*current);
      }
      auto slot = cdc::GetSlot(**conn, report.slot);
      if (slot && *slot && (*slot)->confirmed_flush) {
        confirmed = *(*slot)->confirmed_flush;
        report.confirmed_lsn = cdc::FormatLsn(confirmed);
      }
      if (slot && !*slot) report.source_error = "replication slot " + report.slot + " does not exist";
    } else {
      report.source_error = conn.error().message;
    }
  }
  catalog::Namespace ns{w.config().source.ns};
  auto tables = w.catalog().ListTables(ns);
  if (!tables) return report;  // no raw tables yet
  int64_t now = w.clock().NowMillis();
  for (const auto& id : *tables) {
    auto t = w.catalog().LoadTable(id);
    if (!t) continue;
    const auto& md = t->metadata;
    CdcTableStatus s;
    s.table = id.ToString();
    auto src = md.properties.find(cdc::kSourceProperty);
    if (src == md.properties.end()) continue;  // not a raw table
    s.source = src->second;
    cdc::Lsn lsn = cdc::ResumeLsn(md);
    s.committed_lsn = lsn ? cdc::FormatLsn(lsn) : "-";
    const iceberg::Snapshot* current = nullptr;
    for (const auto& snap : md.snapshots) {
      if (md.current_snapshot_id && snap.snapshot_id == *md.current_snapshot_id) current = &snap;
    }
    if (current) {
      auto total = current->summary.find("total-records");
      if (total != current->summary.end()) s.rows = std::stoll(total->second);
    }
    int64_t recent = 0;
    for (const auto& snap : md.snapshots) {
      if (snap.timestamp_ms >= now - 60000) {
        auto added = snap.summary.find("added-records");
        if (added != snap.summary.end()) recent += std::stoll(added->second);
      }
    }
    s.rows_per_second = static_cast<double>(recent) / 60.0;
    if (server_lsn && lsn) {
      // Everything before the slot's confirmed position is committed (frazil confirms only
      // committed LSNs), so a table is at least that far even when it had no changes.
      cdc::Lsn at = std::max(lsn, confirmed);
      s.lag_bytes = *server_lsn > at ? static_cast<int64_t>(*server_lsn - at) : 0;
      int64_t last = current ? current->timestamp_ms : md.last_updated_ms;
      s.lag_seconds = s.lag_bytes == 0 ? 0.0 : static_cast<double>(now - last) / 1000.0;
    }
    s.state = lsn == 0 ? "waiting for snapshot" : report.state;
    report.tables.push_back(std::move(s));
  }
  return report;
}

Result<std::vector<std::string>> DropCdcSource(Warehouse& w, bool publication) {
  FRZ_RETURN_IF_ERROR(RequireConninfo(w));
  FRZ_ASSIGN_OR_RETURN(auto conn, cdc::PgConnection::Connect(w.config().source.conninfo, false));
  std::vector<std::string> dropped;
  const auto& s = w.config().source;
  FRZ_ASSIGN_OR_RETURN(auto slot, cdc::GetSlot(*conn, s.slot));
  if (slot) {
    if (slot->active) {
      return MakeError(ErrorKind::kInvalidArgument,
                       "replication slot " + s.slot + " is in use (is `frazil run` still running? stop it first)");
    }
    FRZ_RETURN_IF_ERROR(cdc::DropSlot(*conn, s.slot));
    dropped.push_back("replication slot " + s.slot);
  }
  FRZ_ASSIGN_OR_RETURN(auto trigger, conn->Exec("SELECT 1 FROM pg_event_trigger WHERE evtname = 'frazil_ddl'"));
  if (trigger.rows() > 0) {
    FRZ_RETURN_IF_ERROR(conn->Exec("DROP EVENT TRIGGER frazil_ddl"));
    FRZ_RETURN_IF_ERROR(conn->Exec("DROP FUNCTION IF EXISTS public.frazil_capture_ddl()"));
    dropped.push_back("DDL capture event trigger frazil_ddl");
  }
  if (publication) {
    FRZ_ASSIGN_OR_RETURN(bool exists, cdc::PublicationExists(*conn, s.publication));
    if (exists) {
      FRZ_RETURN_IF_ERROR(cdc::DropPublication(*conn, s.publication));
      dropped.push_back("publication " + s.publication);
    }
  }
  if (dropped.empty()) {
    return MakeError(ErrorKind::kNotFound, "nothing to drop: no slot " + s.slot +
                                               (publication ? " and no publication " + s.publication : std::string()));
  }
  return dropped;
}

}  // namespace frazil::app
