// A throwaway PostgreSQL 15 cluster for the cdc, catalog and app tests, run by
// scripts/pg_cluster.sh (the script every consumer shares; see its header for the settings:
// wal_level=logical, trust auth, superuser `postgres`, fsync on).
//
//   auto pg = TestPgCluster::Start();
//   ASSERT_TRUE(pg) << pg.error().ToString();
//   auto out = (*pg)->Exec("SHOW wal_level");          // Result<std::string>: "logical"
//   ASSERT_TRUE((*pg)->Restart(/*crash=*/true));        // stop -m immediate + start, same port
//   PgConnection::Connect((*pg)->conninfo(), ...);
//
// Each instance owns a fresh directory /tmp/frazil-pg-XXXXXX (socket, data, server log) and
// its own port; the destructor stops the server and removes the directory. Works as root
// (the script runs the server as the OS user `postgres`) and as any other user.
// Header-only; test code only (it spawns processes and blocks).
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "frazil/base/result.h"

extern char** environ;

namespace frazil::pg {

class TestPgCluster {
 public:
  static constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

  // Creates and starts a cluster. Errors: IOError with the script's stderr.
  static Result<std::unique_ptr<TestPgCluster>> Start() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "frazil-pg-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return MakeError(ErrorKind::kIOError, "mkdtemp " + tmpl + " failed");
    }
    std::unique_ptr<TestPgCluster> pg(new TestPgCluster(tmpl));
    FRZ_ASSIGN_OR_RETURN(std::string out, pg->Script({"start", pg->dir_}));
    pg->conninfo_ = Trim(out);
    pg->running_ = true;
    return pg;
  }

  TestPgCluster(const TestPgCluster&) = delete;
  TestPgCluster& operator=(const TestPgCluster&) = delete;
  ~TestPgCluster() {
    (void)Script({"destroy", dir_});
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);  // also when Start failed before the cluster existed
  }

  // "host=/tmp/frazil-pg-XXXXXX port=NNNNN user=postgres dbname=postgres"
  const std::string& conninfo() const { return conninfo_; }
  // The same server reached over TCP (127.0.0.1) instead of the unix socket.
  std::string tcp_conninfo() const {
    return "host=127.0.0.1 port=" + port() + " user=postgres dbname=postgres";
  }
  // conninfo() for another database of the cluster.
  std::string conninfo(const std::string& dbname) const {
    return conninfo_.substr(0, conninfo_.rfind("dbname=")) + "dbname=" + dbname;
  }
  std::string port() const {
    auto p = conninfo_.find("port=");
    return p == std::string::npos ? "" : conninfo_.substr(p + 5, conninfo_.find(' ', p) - p - 5);
  }
  const std::string& dir() const { return dir_; }
  // The server log, for failure messages: ADD_FAILURE() << pg->ServerLog();
  std::string ServerLog() const { return ReadFile(dir_ + "/postgres.log"); }

  // Stops the server (crash = `pg_ctl stop -m immediate`: no shutdown checkpoint, the next
  // start runs crash recovery) and starts it again on the same port.
  Status Restart(bool crash) {
    FRZ_ASSIGN_OR_RETURN(std::string out, Script({"restart", dir_, crash ? "immediate" : "fast"}));
    (void)out;
    running_ = true;
    return Ok();
  }
  // Stops the server (fast shutdown, or immediate = crash); Start again with StartAgain().
  Status Stop(bool crash = false) {
    FRZ_ASSIGN_OR_RETURN(std::string out, Script({"stop", dir_, crash ? "immediate" : "fast"}));
    (void)out;
    running_ = false;
    return Ok();
  }
  Status StartAgain() {
    FRZ_ASSIGN_OR_RETURN(std::string out, Script({"start", dir_, port()}));
    (void)out;
    running_ = true;
    return Ok();
  }
  bool running() const { return running_; }

  // Runs SQL (one or more statements, as a psql script: each statement in its own
  // transaction unless the SQL says BEGIN) with
  //   psql -X -q -v ON_ERROR_STOP=1 -A -t -f <file> <conninfo>
  // and returns psql's output: unaligned, tuples only, columns separated by '|', rows by
  // '\n', without the final newline ("SHOW wal_level" -> "logical"). Errors: InvalidArgument
  // with psql's message (the SQL failed) or IOError (psql could not run or connect).
  Result<std::string> Exec(const std::string& sql, const std::string& dbname = "postgres") const {
    std::string file = dir_ + "/exec-" + std::to_string(counter_.fetch_add(1)) + ".sql";
    {
      std::ofstream f(file, std::ios::binary);
      f << sql << "\n";
      if (!f) return MakeError(ErrorKind::kIOError, "cannot write " + file);
    }
    auto r = Run({std::string(kPgBin) + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t",
                  "-f", file, "-d", conninfo(dbname)});
    std::error_code ec;
    std::filesystem::remove(file, ec);
    if (!r) return std::unexpected(r.error());
    if (r->exit_code != 0) {
      // psql exits 3 when a statement of the script failed, 2 when the connection failed.
      return MakeError(r->exit_code == 3 ? ErrorKind::kInvalidArgument : ErrorKind::kIOError,
                       "psql failed (exit " + std::to_string(r->exit_code) + "): " + Trim(r->err) +
                           "\nSQL: " + sql.substr(0, 2000));
    }
    return Trim(r->out, /*only_newlines=*/true);
  }

 private:
  explicit TestPgCluster(std::string dir) : dir_(std::move(dir)) {}

  struct ProcessResult {
    int exit_code = -1;
    std::string out;
    std::string err;
  };

  static std::string ScriptPath() {
#ifdef FRAZIL_SOURCE_DIR
    return std::string(FRAZIL_SOURCE_DIR) + "/scripts/pg_cluster.sh";
#else
    // FRAZIL_TEST_RESOURCES is "<repo>/tests/resources" (CMakeLists.txt, frazil_module).
    return (std::filesystem::path(FRAZIL_TEST_RESOURCES).parent_path().parent_path() / "scripts" /
            "pg_cluster.sh")
        .string();
#endif
  }

  Result<std::string> Script(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"/bin/bash", ScriptPath()};
    argv.insert(argv.end(), args.begin(), args.end());
    FRZ_ASSIGN_OR_RETURN(ProcessResult r, Run(argv));
    if (r.exit_code != 0) {
      std::string cmd;
      for (const auto& a : args) cmd += " " + a;
      return MakeError(ErrorKind::kIOError, "pg_cluster.sh" + cmd + " failed (exit " +
                                                std::to_string(r.exit_code) + "): " + Trim(r.err));
    }
    return r.out;
  }

  // Runs argv[0] (an absolute path) with stdin from /dev/null, capturing stdout and stderr
  // in files of dir_ (no pipes, so no deadlock however much either side writes).
  Result<ProcessResult> Run(const std::vector<std::string>& argv) const {
    std::string base = dir_ + "/run-" + std::to_string(counter_.fetch_add(1));
    std::string out_file = base + ".out", err_file = base + ".err";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
      return MakeError(ErrorKind::kIOError,
                       "cannot run " + argv[0] + ": error " + std::to_string(rc));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) return MakeError(ErrorKind::kIOError, "waitpid failed for " + argv[0]);
    }
    ProcessResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = ReadFile(out_file);
    r.err = ReadFile(err_file);
    std::error_code ec;
    std::filesystem::remove(out_file, ec);
    std::filesystem::remove(err_file, ec);
    return r;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
  }

  static std::string Trim(std::string s, bool only_newlines = false) {
    const char* ws = only_newlines ? "\n" : " \t\r\n";
    s.erase(s.find_last_not_of(ws) + 1);
    if (!only_newlines) s.erase(0, s.find_first_not_of(ws));
    return s;
  }

  std::string dir_;
  std::string conninfo_;
  bool running_ = false;
  mutable std::atomic<uint64_t> counter_{0};
};

}  // namespace frazil::pg
