#include "frazil/cli/cli.h"

namespace frazil::cli {

int Main(int, char**) { return 0; }

}  // namespace frazil::cli
