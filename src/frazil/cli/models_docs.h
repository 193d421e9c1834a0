// `frazil models docs`: the project's nodes, lineage, columns (documented and as stored)
// and data tests, as JSON or as one self-contained HTML page with an SVG lineage graph.
#pragma once

#include <string>

#include "frazil/app/warehouse.h"
#include "frazil/transform/compiler.h"

namespace frazil::cli {

Result<std::string> DocsJson(app::Warehouse& w, const transform::Compiler& compiler);
Result<std::string> DocsHtml(app::Warehouse& w, const transform::Compiler& compiler);

}  // namespace frazil::cli
