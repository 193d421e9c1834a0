#include "frazil/cli/cli.h"

int main(int argc, char** argv) { return frazil::cli::Main(argc, argv); }
