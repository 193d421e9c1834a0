#include "frazil/app/verify.h"

#include <nlohmann/json.hpp>

namespace frazil::app {
namespace {

// A value on one terminal line: control characters escaped, long values cut (the JSON
// output has them whole).
std::string Shown(const std::optional<std::string>& value) {
  if (!value) return "NULL";
  constexpr size_t kMax = 60;
  std::string out;
  for (char c : *value) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else
      out += c;
  }
  if (out.size() > kMax) {
    size_t cut = kMax - 3;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80)
      --cut;  // not inside a UTF-8 character
    out = out.substr(0, cut) + "...";
  }
  return out;
}

std::string KeyText(const cdc::VerifyDifference& d) {
  std::string out;
  for (const auto& [name, value] : d.key)
    out += (out.empty() ? "" : ", ") + name + "=" + Shown(value);
  return out;
}

std::string Side(int64_t rows, const std::string& checksum) {
  return std::to_string(rows) + " rows, checksum " + checksum;
}

}  // namespace

Result<cdc::VerifyReport> Verify(Warehouse& w, const VerifyArgs& args) {
  const auto& s = w.config().source;
  if (s.conninfo.empty()) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "no PostgreSQL source configured: set source.conninfo in frazil.yaml or "
                     "FRAZIL_SOURCE_CONNINFO "
                     "(e.g. postgresql://user@host:5432/db), or pass --source");
  }
  if (args.timeout_s < 0 || args.max_keys < 0) {
    return MakeError(ErrorKind::kInvalidArgument, "--timeout and --max-keys cannot be negative");
  }
  FRZ_ASSIGN_OR_RETURN(auto id, cdc::ResolveMirror(w.catalog(), args.table, s.mirror_namespace));
  cdc::CdcContext ctx;
  ctx.catalog = &w.catalog();
  ctx.io = &w.io();
  ctx.db = &w.db();
  ctx.clock = &w.clock();
  cdc::VerifyOptions o;
  o.conninfo = s.conninfo;
  o.publication = s.publication;
  o.slot = s.slot;
  o.timeout_ms = args.timeout_s * 1000;
  o.max_keys = args.max_keys;
  return cdc::VerifyMirror(ctx, o, id);
}

std::string VerifyReportText(const cdc::VerifyReport& r) {
  std::string at = " at LSN " + cdc::FormatLsn(r.lsn);
  std::string excluded = r.excluded_keys == 0
                             ? ""
                             : "; " + std::to_string(r.excluded_keys) +
                                   " keys changed while verifying were left out on both sides";
  if (r.equal) {
    return r.table + " = " + r.source + at + ": " + Side(r.source_rows, r.source_checksum) +
           excluded + "\n";
  }
  std::string out =
      r.table + " differs from " + r.source + at + " (mirror snapshot " +
      (r.mirror_snapshot_id ? std::to_string(*r.mirror_snapshot_id) : std::string("none")) +
      ", LSN " + cdc::FormatLsn(r.mirror_lsn) + ")" + excluded + "\n";
  out += "  source: " + Side(r.source_rows, r.source_checksum) + "\n";
  out += "  mirror: " + Side(r.mirror_rows, r.mirror_checksum) + "\n";
  for (const auto& d : r.schema_differences) out += "  schema: " + d + "\n";
  int64_t total = r.missing_in_mirror + r.extra_in_mirror + r.different_values;
  if (total == 0) return out;
  std::string unit = r.key_columns.empty() ? " rows (no key: whole rows compared)" : " keys";
  out += "  " + std::to_string(total) + unit + " differ: " + std::to_string(r.missing_in_mirror) +
         " missing in mirror, " + std::to_string(r.extra_in_mirror) + " extra in mirror, " +
         std::to_string(r.different_values) + " with different values\n";
  for (const auto& d : r.differences) {
    std::string kind(cdc::VerifyKindName(d.kind));
    out += "  " + kind + std::string(18 - kind.size(), ' ') + " " + KeyText(d);
    for (size_t i = 0; i < d.columns.size(); ++i) {
      const auto& c = d.columns[i];
      out += (i == 0 ? ": " : "; ") + c.name + " " + Shown(c.source) + " in the source, " +
             Shown(c.mirror) + " in the mirror";
    }
    out += "\n";
  }
  if (total > static_cast<int64_t>(r.differences.size())) {
    out += "  (" + std::to_string(total - static_cast<int64_t>(r.differences.size())) +
           " more not listed; --max-keys lists more)\n";
  }
  return out;
}

std::string VerifyReportJson(const cdc::VerifyReport& r) {
  using Json = nlohmann::ordered_json;
  auto value = [](const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); };
  Json differences = Json::array();
  for (const auto& d : r.differences) {
    Json key = Json::object();
    for (const auto& [name, v] : d.key) key[name] = value(v);
    Json columns = Json::array();
    for (const auto& c : d.columns) {
      columns.push_back(
          {{"name", c.name}, {"source", value(c.source)}, {"mirror", value(c.mirror)}});
    }
    differences.push_back(
        {{"kind", std::string(cdc::VerifyKindName(d.kind))}, {"key", key}, {"columns", columns}});
  }
  Json out = {
      {"table", r.table},
      {"source", r.source},
      {"lsn", cdc::FormatLsn(r.lsn)},
      {"mirror_snapshot_id", r.mirror_snapshot_id ? Json(*r.mirror_snapshot_id) : Json(nullptr)},
      {"mirror_lsn", cdc::FormatLsn(r.mirror_lsn)},
      {"key_columns", r.key_columns},
      {"source_rows", r.source_rows},
      {"mirror_rows", r.mirror_rows},
      {"source_checksum", r.source_checksum},
      {"mirror_checksum", r.mirror_checksum},
      {"equal", r.equal},
      {"excluded_keys", r.excluded_keys},
      {"attempts", r.attempts},
      {"missing_in_mirror", r.missing_in_mirror},
      {"extra_in_mirror", r.extra_in_mirror},
      {"different_values", r.different_values},
      {"schema_differences", r.schema_differences},
      {"differences", differences},
  };
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace frazil::app
