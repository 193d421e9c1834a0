#include "frazil/cli/models_docs.h"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "frazil/engine/types.h"

namespace frazil::cli {
namespace {

std::string KindName(transform::NodeKind k) {
  switch (k) {
    case transform::NodeKind::kModel:
      return "model";
    case transform::NodeKind::kSeed:
      return "seed";
    case transform::NodeKind::kSource:
      return "source";
  }
  return "model";
}

// The columns of the stored table (name -> Iceberg type), if it exists.
std::vector<std::pair<std::string, std::string>> StoredColumns(app::Warehouse& w, const catalog::TableIdentifier& id) {
  std::vector<std::pair<std::string, std::string>> out;
  auto t = w.catalog().LoadTable(id);
  if (!t) return out;
  if (const auto* s = t->metadata.current_schema()) {
    for (const auto& f : s->fields()) out.emplace_back(f.name, f.type->ToString());
  }
  return out;
}

nlohmann::json BuildJson(app::Warehouse& w, const transform::Compiler& c) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& key : c.order()) {
    const auto& n = c.nodes().at(key);
    nlohmann::json cols = nlohmann::json::array();
    std::map<std::string, std::string> docs;
    const std::vector<transform::ColumnSpec>* specs = n.model ? &n.model->columns : n.source ? &n.source->columns : nullptr;
    if (specs) {
      for (const auto& col : *specs) docs[col.name] = col.description;
    }
    auto stored = StoredColumns(w, n.table);
    for (const auto& [name, type] : stored) {
      cols.push_back({{"name", name}, {"type", type}, {"description", docs.count(name) ? docs[name] : ""}});
      docs.erase(name);
    }
    for (const auto& [name, d] : docs) cols.push_back({{"name", name}, {"type", nullptr}, {"description", d}});
    nlohmann::json tests = nlohmann::json::array();
    for (const auto& t : c.project().tests) {
      if (c.TestTargetKey(t) == key) tests.push_back({{"name", t.name}, {"kind", t.kind}, {"column", t.column}});
    }
    nodes.push_back({{"key", key},
                     {"kind", KindName(n.kind)},
                     {"name", n.name},
                     {"relation", n.table.ToString()},
                     {"materialized", n.kind == transform::NodeKind::kSource ? "source" : n.config.materialized},
                     {"path", n.model ? n.model->path : n.seed ? n.seed->path : n.source ? n.source->path : ""},
                     {"description", n.model ? n.model->description : n.source ? n.source->description : ""},
                     {"generated", n.model != nullptr && n.model->generated},
                     {"tags", n.config.tags},
                     {"depends_on", n.depends_on},
                     {"columns", cols},
                     {"tests", tests},
                     {"exists", !stored.empty()}});
  }
  return {{"project", c.project().name}, {"nodes", nodes}};
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}

}  // namespace

Result<std::string> DocsJson(app::Warehouse& w, const transform::Compiler& compiler) {
  return BuildJson(w, compiler).dump(2) + "\n";
}

Result<std::string> DocsHtml(app::Warehouse& w, const transform::Compiler& compiler) {
  nlohmann::json doc = BuildJson(w, compiler);
  // Layered layout: a node's column is the length of the longest path to it.
  std::map<std::string, int> layer;
  std::map<int, int> per_layer;
  std::map<std::string, std::pair<int, int>> pos;
  for (const auto& n : doc["nodes"]) {
    int l = 0;
    for (const auto& d : n["depends_on"]) l = std::max(l, layer[d.get<std::string>()] + 1);
    std::string key = n["key"];
    layer[key] = l;
    pos[key] = {l, per_layer[l]++};
  }
  const int kW = 190, kH = 34, kGapX = 70, kGapY = 16;
  int max_rows = 1, layers = 1;
  for (const auto& [l, n] : per_layer) {
    max_rows = std::max(max_rows, n);
    layers = std::max(layers, l + 1);
  }
  int width = layers * (kW + kGapX) + 20, height = max_rows * (kH + kGapY) + 20;
  auto x_of = [&](const std::string& k) { return 10 + pos[k].first * (kW + kGapX); };
  auto y_of = [&](const std::string& k) { return 10 + pos[k].second * (kH + kGapY); };
  std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='" + std::to_string(width) + "' height='" +
                    std::to_string(height) + "'>";
  for (const auto& n : doc["nodes"]) {
    std::string key = n["key"];
    for (const auto& d : n["depends_on"]) {
      std::string from = d;
      svg += "<line x1='" + std::to_string(x_of(from) + kW) + "' y1='" + std::to_string(y_of(from) + kH / 2) + "' x2='" +
             std::to_string(x_of(key)) + "' y2='" + std::to_string(y_of(key) + kH / 2) + "' stroke='#889' />";
    }
  }
  for (const auto& n : doc["nodes"]) {
    std::string key = n["key"];
    std::string kind = n["kind"];
    std::string fill = kind == "source" ? "#e3f2fd" : kind == "seed" ? "#fff3e0" : n["generated"].get<bool>() ? "#ede7f6" : "#e8f5e9";
    svg += "<a href='#" + Escape(key) + "'><rect x='" + std::to_string(x_of(key)) + "' y='" + std::to_string(y_of(key)) +
           "' width='" + std::to_string(kW) + "' height='" + std::to_string(kH) + "' rx='6' fill='" + fill +
           "' stroke='#556'/><text x='" + std::to_string(x_of(key) + 8) + "' y='" + std::to_string(y_of(key) + 21) +
           "' font-size='12' font-family='sans-serif'>" + Escape(n["name"].get<std::string>()) + "</text></a>";
  }
  svg += "</svg>";
  std::string html = "<!doctype html><html><head><meta charset='utf-8'><title>" +
                     Escape(doc["project"].get<std::string>()) +
                     " - frazil models</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                     "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}h2{margin-top:2em}</style></head><body>";
  html += "<h1>" + Escape(doc["project"].get<std::string>()) + "</h1><h2>Lineage</h2>" + svg;
  for (const auto& n : doc["nodes"]) {
    std::string key = n["key"];
    html += "<h2 id='" + Escape(key) + "'>" + Escape(n["name"].get<std::string>()) + " <small>(" +
            Escape(n["kind"].get<std::string>()) + ", " + Escape(n["materialized"].get<std::string>()) + " &rarr; " +
            Escape(n["relation"].get<std::string>()) + ")</small></h2>";
    if (!n["description"].get<std::string>().empty()) html += "<p>" + Escape(n["description"].get<std::string>()) + "</p>";
    if (!n["path"].get<std::string>().empty()) html += "<p><code>" + Escape(n["path"].get<std::string>()) + "</code></p>";
    if (!n["depends_on"].empty()) {
      html += "<p>Depends on: ";
      for (const auto& d : n["depends_on"]) html += "<a href='#" + Escape(d) + "'>" + Escape(d) + "</a> ";
      html += "</p>";
    }
    html += "<table><tr><th>column</th><th>type</th><th>description</th></tr>";
    for (const auto& col : n["columns"]) {
      html += "<tr><td>" + Escape(col["name"].get<std::string>()) + "</td><td>" +
              (col["type"].is_null() ? std::string("-") : Escape(col["type"].get<std::string>())) + "</td><td>" +
              Escape(col["description"].get<std::string>()) + "</td></tr>";
    }
    html += "</table>";
    if (!n["tests"].empty()) {
      html += "<p>Tests: ";
      for (const auto& t : n["tests"]) html += "<code>" + Escape(t["name"].get<std::string>()) + "</code> ";
      html += "</p>";
    }
  }
  html += "</body></html>\n";
  return html;
}

}  // namespace frazil::cli
