// Kill points for crash tests (after RocksDB's): a named place in a commit path where a
// test can make the process die abruptly, as SIGKILL would. Enabled only by the
// environment: FRAZIL_KILL_POINT=<name>[:<n>] exits at the n-th time (default 1st) the
// point is reached, with _exit(137) and no cleanup. Zero cost beyond one branch otherwise.
#pragma once

namespace frazil {

void KillPoint(const char* name);

}  // namespace frazil
