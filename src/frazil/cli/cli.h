// The `frazil` command line.
#pragma once

namespace frazil::cli {

// Parses argv, runs the subcommand, returns the process exit code.
int Main(int argc, char** argv);

}  // namespace frazil::cli
