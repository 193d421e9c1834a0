// A throwaway S3 server on loopback for the S3 FileIO tests: Versity S3 Gateway (versitygw,
// Apache-2.0; MinIO's server is AGPL) with its posix backend, built by `make deps` into
// .deps/bin/versitygw (scripts/deps.sh pins the version).
//
//   auto s3 = TestS3Server::Start();                   // bucket "warehouse"
//   ASSERT_TRUE(s3) << s3.error().ToString();
//   (*s3)->endpoint();                                 // "http://127.0.0.1:NNNNN"
//   (*s3)->credentials();                              // AwsCredentials{access, secret}
//   ASSERT_TRUE((*s3)->Restart());                     // SIGTERM + start, same port, same data
//   ASSERT_TRUE((*s3)->Stop(/*crash=*/true));          // SIGKILL; StartAgain() later
//   std::filesystem::exists((*s3)->root_dir() + "/warehouse/a/b.parquet");  // object = file
//
// Each instance owns a fresh directory /tmp/frazil-s3-XXXXXX:
//   root/            the gateway's root: every subdirectory is a bucket, every object a file
//                    under it (key "a/b/c" of bucket "w" is root/w/a/b/c)
//   meta/            object metadata, only when the file system has no user xattrs (below)
//   versitygw.log    the server's stdout and stderr (one access-log line per request)
// The destructor stops the server and removes the directory.
//
// The server: `versitygw --port 127.0.0.1:<port> --region us-east-1 --keep-alive posix <root>`
// with the root credentials in ROOT_ACCESS_KEY / ROOT_SECRET_KEY (single-account mode: the
// root user may do everything). --keep-alive because versitygw otherwise answers every request
// with "Connection: close", which real S3 never does. It runs in its own process group.
//
// Buckets are made with a signed CreateBucket request, not a mkdir: a bare directory does
// serve object requests, but versitygw stores the bucket's ACL and ownership in xattrs of
// that directory when it creates a bucket, and bucket-level requests on a mkdir'd bucket
// fail ("get bucket acl: no such key" -> 500 InternalError on a PUT /bucket, for one).
//
// Metadata: the posix backend keeps ETag, Content-Type, checksums and bucket ACLs in user.*
// extended attributes. Start() probes the root with setxattr("user.frazil-probe"); where the
// file system refuses them (ENOTSUP: tmpfs before Linux 6.6, some overlay setups) it runs
// with `posix --sidecar <dir>/meta`, which keeps the same metadata in files instead. (Not
// --nometa: without metadata there are no ETags or bucket ACLs, unlike any real S3.)
// FRAZIL_VERSITYGW_SIDECAR=1 forces the sidecar, to exercise that path where xattrs work.
//
// If .deps/bin/versitygw is missing, Start() fails with a message to run `make deps`: tests
// fail, never skip. FRAZIL_VERSITYGW overrides the binary's path.
// Header-only; test code only (it spawns processes and blocks). Linux only (/proc).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/io/http_client.h"
#include "frazil/io/sigv4.h"

extern char** environ;

namespace frazil::io {

class TestS3Server {
 public:
  // Contains '/' and '+' so that signing code that forgets to keep the secret raw (URL- or
  // form-encoding it, or splitting on '/') fails against this server.
  static constexpr const char* kAccessKey = "frazil-test";
  static constexpr const char* kSecretKey = "frazil-test-secret/with+chars=";
  static constexpr const char* kRegion = "us-east-1";
  // How long Start/StartAgain/Restart wait for the server to listen, and Stop for it to exit
  // after SIGTERM (versitygw's graceful shutdown waits up to 10 s for open requests).
  static constexpr std::chrono::seconds kStartTimeout{30};
  static constexpr std::chrono::seconds kStopTimeout{15};

  // Starts a server on a free port of 127.0.0.1 and creates `buckets`.
  // Errors: IOError naming what failed (missing binary: "run `make deps`"; a server that did
  // not start: its log file and the log's tail; a refused CreateBucket: the answer). When
  // Start fails after making its directory, the server is stopped but the directory (and so
  // the log) is kept for inspection.
  using Buckets = std::vector<std::string>;
  static Result<std::unique_ptr<TestS3Server>> Start(Buckets buckets = Buckets{"warehouse"}) {
    std::string binary = BinaryPath();
    if (::access(binary.c_str(), X_OK) != 0) {
      return MakeError(ErrorKind::kIOError, "versitygw not found at " + binary +
                                                ": run `make deps` (scripts/deps.sh builds it)");
    }
    std::string tmpl = (std::filesystem::temp_directory_path() / "frazil-s3-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return MakeError(ErrorKind::kIOError, "mkdtemp " + tmpl + " failed");
    }
    std::unique_ptr<TestS3Server> s3(new TestS3Server(std::move(binary), tmpl));
    if (Status st = s3->Init(buckets); !st) {
      s3->keep_dir_ = true;
      return MakeError(st.error().kind,
                       st.error().message + "\n(directory " + s3->dir_ + " kept for inspection)");
    }
    return s3;
  }

  TestS3Server(const TestS3Server&) = delete;
  TestS3Server& operator=(const TestS3Server&) = delete;
  ~TestS3Server() {
    (void)Stop();
    std::error_code ec;
    if (!keep_dir_) std::filesystem::remove_all(dir_, ec);
  }

  // "http://127.0.0.1:NNNNN" (path-style addressing: http://127.0.0.1:NNNNN/<bucket>/<key>).
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  std::string access_key() const { return kAccessKey; }
  std::string secret_key() const { return kSecretKey; }
  std::string region() const { return kRegion; }
  AwsCredentials credentials() const { return AwsCredentials{kAccessKey, kSecretKey, ""}; }
  // The gateway's root directory: bucket b is root_dir() + "/" + b, object k of b the file
  // root_dir() + "/" + b + "/" + k.
  const std::string& root_dir() const { return root_dir_; }
  // The instance's directory (root_dir(), the log, the sidecar metadata).
  const std::string& dir() const { return dir_; }
  std::string log_path() const { return dir_ + "/versitygw.log"; }
  // The server's log, for failure messages: ADD_FAILURE() << s3->ServerLog();
  std::string ServerLog() const { return ReadFile(log_path()); }
  // True when metadata goes to `--sidecar dir()/meta` (no user xattrs on this file system).
  bool uses_sidecar() const { return !sidecar_dir_.empty(); }
  bool running() const { return running_; }
  pid_t pid() const { return pid_; }

  // Stops the server: SIGTERM to its process group, SIGKILL after kStopTimeout; crash=true
  // sends SIGKILL at once (in-flight requests are cut off mid-way). No-op when not running.
  Status Stop(bool crash = false) {
    if (!running_) return Ok();
    running_ = false;
    bool exited = Terminate(std::exchange(pid_, 0), crash ? SIGKILL : SIGTERM, kStopTimeout);
    if (!exited) {
      return MakeError(ErrorKind::kIOError, "versitygw did not exit within " +
                                                std::to_string(kStopTimeout.count()) +
                                                " s of SIGTERM (killed); log: " + log_path());
    }
    return Ok();
  }

  // Starts the stopped server again: same port, same data.
  Status StartAgain() {
    if (running_) return Ok();
    return Launch();
  }

  // Stop(crash) + StartAgain(): the same port and the same objects, a new process.
  Status Restart(bool crash = false) {
    FRZ_RETURN_IF_ERROR(Stop(crash));
    return Launch();
  }

  // PUT /<bucket> signed with the root credentials. Errors: IOError with the server's answer.
  Status CreateBucket(const std::string& bucket) const {
    HttpRequest req;
    req.method = "PUT";
    req.url = endpoint() + "/" + bucket;
    req.timeout = std::chrono::milliseconds(30'000);
    FRZ_RETURN_IF_ERROR(SignRequestV4(&req, credentials(), kRegion, "s3",
                                      static_cast<int64_t>(std::time(nullptr)), ""));
    FRZ_ASSIGN_OR_RETURN(HttpResponse resp, NewCurlTransport()->Send(req));
    if (resp.status != 200) {
      return MakeError(ErrorKind::kIOError, "CreateBucket " + bucket + " on " + endpoint() +
                                                " answered HTTP " + std::to_string(resp.status) +
                                                ": " + resp.body.substr(0, 2000) +
                                                "\nlog: " + log_path());
    }
    return Ok();
  }

 private:
  TestS3Server(std::string binary, std::string dir)
      : binary_(std::move(binary)), dir_(std::move(dir)), root_dir_(dir_ + "/root") {}

  Status Init(const std::vector<std::string>& buckets) {
    std::error_code ec;
    std::filesystem::create_directories(root_dir_, ec);
    if (ec)
      return MakeError(ErrorKind::kIOError, "cannot create " + root_dir_ + ": " + ec.message());
    const char* force_sidecar = std::getenv("FRAZIL_VERSITYGW_SIDECAR");
    if (!XattrsWork(root_dir_) || (force_sidecar != nullptr && std::string(force_sidecar) == "1")) {
      sidecar_dir_ = dir_ + "/meta";
      std::filesystem::create_directories(sidecar_dir_, ec);
      if (ec) {
        return MakeError(ErrorKind::kIOError,
                         "cannot create " + sidecar_dir_ + ": " + ec.message());
      }
    }
    // A free port can be taken by someone else between the probe and the server's bind: the
    // server then exits ("address already in use") and another port is tried.
    for (int attempt = 1;; ++attempt) {
      FRZ_ASSIGN_OR_RETURN(port_, FreePort());
      bool port_taken = false;
      Status started = Launch(&port_taken);
      if (started) break;
      if (!port_taken || attempt == 5) return started;
    }
    for (const auto& bucket : buckets) {
      if (Status st = CreateBucket(bucket); !st) {
        (void)Stop();
        return st;
      }
    }
    return Ok();
  }

  static std::string BinaryPath() {
    if (const char* env = std::getenv("FRAZIL_VERSITYGW"); env != nullptr && *env != '\0') {
      return env;
    }
#ifdef FRAZIL_SOURCE_DIR
    return std::string(FRAZIL_SOURCE_DIR) + "/.deps/bin/versitygw";
#else
    // FRAZIL_TEST_RESOURCES is "<repo>/tests/resources" (CMakeLists.txt, frazil_module).
    return (std::filesystem::path(FRAZIL_TEST_RESOURCES).parent_path().parent_path() / ".deps" /
            "bin" / "versitygw")
        .string();
#endif
  }

  // Whether `dir`'s file system takes user.* extended attributes (versitygw's posix backend
  // needs them unless it runs with --sidecar).
  static bool XattrsWork(const std::string& dir) {
    static constexpr char kName[] = "user.frazil-probe";
    if (::setxattr(dir.c_str(), kName, "1", 1, 0) != 0) return false;
    ::removexattr(dir.c_str(), kName);
    return true;
  }

  // A port of 127.0.0.1 that nobody listens on right now.
  static Result<int> FreePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return MakeError(ErrorKind::kIOError, "socket() failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd);
      return MakeError(ErrorKind::kIOError, "cannot bind a free port on 127.0.0.1");
    }
    ::close(fd);
    return static_cast<int>(ntohs(addr.sin_port));
  }

  // Sends `sig` to the process group of `pid` (the leader, our child), SIGKILL to the group
  // after `timeout`, and reaps the leader. The group is signalled only while the leader is
  // not yet reaped (a zombie still holds the group's id, so it cannot name someone else's).
  // Returns false when SIGKILL was needed after a SIGTERM.
  static bool Terminate(pid_t pid, int sig, std::chrono::steady_clock::duration timeout) {
    ::kill(-pid, sig);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool in_time = true;
    while (true) {
      siginfo_t info{};
      int r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 || info.si_pid == pid) break;  // exited (still a zombie), or not our child
      if (std::chrono::steady_clock::now() > deadline) {
        in_time = sig == SIGKILL;
        ::kill(-pid, SIGKILL);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(-pid, SIGKILL);  // anything else left in its group (versitygw starts no children)
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return in_time;
  }

  // Spawns versitygw on port_ and waits until it listens there. `port_taken`: set when the
  // server exited because another process holds the port.
  Status Launch(bool* port_taken = nullptr) {
    std::vector<std::string> argv{binary_, "--port", "127.0.0.1:" + std::to_string(port_)};
    argv.insert(argv.end(), {"--region", kRegion, "--keep-alive", "posix"});
    if (!sidecar_dir_.empty()) {
      argv.push_back("--sidecar");
      argv.push_back(sidecar_dir_);
    }
    argv.push_back(root_dir_);

    // The parent's environment minus anything versitygw would read as configuration.
    std::vector<std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view kv(*e);
      if (kv.starts_with("VGW_") || kv.starts_with("ROOT_ACCESS_KEY") ||
          kv.starts_with("ROOT_SECRET") || kv.starts_with("LOGFILE=") ||
          kv.starts_with("WEBHOOK=")) {
        continue;
      }
      env.emplace_back(kv);
    }
    env.push_back(std::string("ROOT_ACCESS_KEY=") + kAccessKey);
    env.push_back(std::string("ROOT_SECRET_KEY=") + kSecretKey);

    std::string log = log_path();
    {
      std::ofstream f(log, std::ios::app);
      f << "=== frazil TestS3Server: starting on 127.0.0.1:" << port_ << " ===\n";
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);  // its own process group: Stop() signals the group
    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, cargv[0], &actions, &attr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      return MakeError(ErrorKind::kIOError,
                       "cannot run " + binary_ + ": " + std::string(std::strerror(rc)));
    }

    auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (true) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        std::string tail = LogTail();
        if (port_taken != nullptr) {
          *port_taken = tail.find("address already in use") != std::string::npos;
        }
        return MakeError(ErrorKind::kIOError,
                         "versitygw exited " + std::to_string(code) +
                             " before listening on 127.0.0.1:" + std::to_string(port_) + "; log " +
                             log + ":\n" + tail);
      }
      if (ListensOn(pid, port_)) {
        pid_ = pid;
        running_ = true;
        return Ok();
      }
      if (std::chrono::steady_clock::now() > deadline) {
        Terminate(pid, SIGKILL, kStopTimeout);
        return MakeError(ErrorKind::kIOError,
                         "versitygw did not listen on 127.0.0.1:" + std::to_string(port_) +
                             " within " + std::to_string(kStartTimeout.count()) + " s; log " + log +
                             ":\n" + LogTail());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Whether process `pid` itself has a listening TCP socket on 127.0.0.1:port. Connecting is
  // not proof: between the free-port probe and the bind another server may have taken the
  // port, and a connect would then reach that one.
  static bool ListensOn(pid_t pid, int port) {
    std::set<std::string> inodes;
    std::error_code ec;
    std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    for (std::filesystem::directory_iterator it(fd_dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      std::error_code ec2;
      std::string target = std::filesystem::read_symlink(it->path(), ec2).string();
      if (!ec2 && target.starts_with("socket:[") && target.ends_with("]")) {
        inodes.insert(target.substr(8, target.size() - 9));
      }
    }
    if (inodes.empty()) return false;
    // 127.0.0.1:port as /proc/net/tcp shows it, and as an IPv4-mapped address in tcp6.
    char v4[32], v6[64];
    std::snprintf(v4, sizeof(v4), "0100007F:%04X", port);
    std::snprintf(v6, sizeof(v6), "0000000000000000FFFF00000100007F:%04X", port);
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
      std::ifstream tcp(table);
      std::string line;
      std::getline(tcp, line);  // header
      while (std::getline(tcp, line)) {
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
        std::istringstream fields(line);
        std::string sl, laddr, raddr, st, txrx, trwhen, retr, uid, timeout, inode;
        fields >> sl >> laddr >> raddr >> st >> txrx >> trwhen >> retr >> uid >> timeout >> inode;
        if ((laddr == v4 || laddr == v6) && st == "0A" && inodes.contains(inode)) return true;
      }
    }
    return false;
  }

  std::string LogTail() const {
    std::string log = ServerLog();
    return log.size() > 4000 ? log.substr(log.size() - 4000) : log;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
  }

  std::string binary_;
  std::string dir_;
  std::string root_dir_;
  std::string sidecar_dir_;  // empty: metadata in xattrs
  int port_ = 0;
  pid_t pid_ = 0;
  bool running_ = false;
  bool keep_dir_ = false;  // Start failed: the log stays for inspection
};

}  // namespace frazil::io
