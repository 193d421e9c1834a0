#include "frazil/server/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "frazil/base/log.h"

namespace frazil::server {
namespace {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

// After a response that closes the connection, the write side is shut and what the client
// still sends is read and dropped for this long; closing at once with unread input makes
// the kernel send RST, which can destroy the response (a 413 sent before the body).
constexpr auto kLinger = std::chrono::milliseconds(2000);
// After accept fails for lack of descriptors, accepting pauses this long instead of spinning.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr size_t kReadChunk = size_t{64} << 10;
// Bytes read from one connection per wake-up, so one fast sender cannot starve the rest.
constexpr size_t kMaxReadPerWake = size_t{1} << 20;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// Every TLS connection starts with a handshake record (content type 22).
constexpr unsigned char kTlsHandshakeRecord = 0x16;

struct ListenAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

Result<ListenAddress> ParseListen(std::string_view listen) {
  std::string quoted = "HTTP listen address '" + std::string(listen) + "'";
  size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) {
    return MakeError(ErrorKind::kInvalidArgument, quoted + " must be host:port or :port");
  }
  std::string host(listen.substr(0, colon));
  std::string_view port_text = listen.substr(colon + 1);
  int port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      !std::ranges::all_of(port_text, [](char c) { return c >= '0' && c <= '9'; })) {
    port = -1;
  } else {
    for (char c : port_text) port = port * 10 + (c - '0');
  }
  if (port < 0 || port > 65535)
    return MakeError(ErrorKind::kInvalidArgument, quoted + " has no valid port");
  ListenAddress out;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&out.addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6->sin6_addr) != 1) {
      return MakeError(ErrorKind::kInvalidArgument,
                       quoted + ": '" + host + "' is not an IPv6 address");
    }
    out.len = sizeof(sockaddr_in6);
    return out;
  }
  auto* a4 = reinterpret_cast<sockaddr_in*>(&out.addr);
  a4->sin_family = AF_INET;
  a4->sin_port = htons(static_cast<uint16_t>(port));
  out.len = sizeof(sockaddr_in);
  if (host.empty() || host == "0.0.0.0") {
    a4->sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (host == "localhost") {
    a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1) {
    return MakeError(ErrorKind::kInvalidArgument, quoted + ": '" + host + "' is not an IP address");
  }
  return out;
}

std::string FormatAddress(const sockaddr_storage& sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&sa);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (sa.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&sa);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  return "unknown";
}

bool IsLoopback(const sockaddr_storage& sa) {
  if (sa.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&sa);
    return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&sa);
    if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

// IMF-fixdate, without strftime's locale dependence.
std::string HttpDate() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

bool HasToken(const HttpHeaders& headers, std::string_view name, std::string_view token) {
  for (std::string_view v : headers.GetAll(name)) {
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view item = v.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (EqualsIgnoreCase(item, token)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

bool WantsKeepAlive(const HttpRequest& req) {
  if (HasToken(req.headers, "Connection", "close")) return false;
  return req.version_minor >= 1 || HasToken(req.headers, "Connection", "keep-alive");
}

bool ValidResponseHeader(const HttpHeaders::Field& f) {
  if (f.first.empty()) return false;
  for (char c : f.first) {
    if (c <= ' ' || c == ':' || c == 0x7f) return false;
  }
  for (char c : f.second) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

// The response as bytes. `close` is in/out: a handler may ask for Connection: close.
std::string Serialize(HttpResponse resp, bool head_request, int version_minor, bool* close) {
  if (resp.status < 200 || resp.status > 599) {
    resp = HttpResponse::ErrorJson(
        500, "handler returned invalid status " + std::to_string(resp.status));
  } else if (!std::ranges::all_of(resp.headers, ValidResponseHeader)) {
    resp = HttpResponse::ErrorJson(500, "handler returned an invalid header");
  }
  bool has_date = false;
  std::string out;
  out.reserve(256 + resp.body.size());
  out += "HTTP/1.1 " + std::to_string(resp.status) + " ";
  out += HttpReasonPhrase(resp.status);
  out += "\r\n";
  for (const auto& [name, value] : resp.headers) {
    // Framing is the server's: a handler's Content-Length or Transfer-Encoding would lie.
    if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding") ||
        EqualsIgnoreCase(name, "Keep-Alive")) {
      continue;
    }
    if (EqualsIgnoreCase(name, "Connection")) {
      if (EqualsIgnoreCase(value, "close")) *close = true;
      continue;
    }
    has_date = has_date || EqualsIgnoreCase(name, "Date");
    out += name + ": " + value + "\r\n";
  }
  if (!has_date) out += "Date: " + HttpDate() + "\r\n";
  bool bodyless = resp.status == 204 || resp.status == 304;
  if (!bodyless) out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
  if (*close) {
    out += "Connection: close\r\n";
  } else if (version_minor == 0) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  if (!head_request && !bodyless) out += resp.body;
  return out;
}

struct Connection {
  enum class State {
    kHandshake,  // TLS only: the handshake is in progress (it has the read timeout)
    kReading,    // waiting for (the rest of) a request
    kHandling,   // a worker runs the handler; the socket is not polled
    kWriting,    // the response is being sent
    kLingering,  // response sent, write side shut, draining input before close
  };
  explicit Connection(const HttpParseLimits& limits) : parser(limits) {}
  size_t Buffered() const { return in.size() - in_off; }

  uint64_t id = 0;
  int fd = -1;
  // TLS: every byte goes through the session. It is reset when a plain-HTTP request arrives
  // instead of a ClientHello: the 400 that answers it is sent in the clear.
  std::optional<TlsSession> tls;
  bool tls_sniffed = false;  // the first byte was looked at (handshake record or not)
  // The poll event each blocked TLS operation waits for: OpenSSL may need to write while
  // reading and read while writing.
  short tls_handshake_wait = POLLIN;
  short tls_read_wait = POLLIN;
  short tls_write_wait = POLLOUT;
  bool close_notify_pending = false;  // lingering: close_notify not yet on the socket
  std::string remote;
  bool loopback = false;
  State state = State::kReading;
  bool dead = false;  // closed; erased at the end of the loop iteration
  std::string in;     // received bytes; the current request starts at in_off
  size_t in_off = 0;
  HttpRequestParser parser;
  bool head_complete = false;
  bool continue_sent = false;
  bool peer_eof = false;
  std::string out;  // bytes to send: a 100 Continue or the response
  size_t out_off = 0;
  bool close_after = false;
  TimePoint deadline;
  TimePoint request_start;
  // The current request, for framing the response and for the access log.
  std::string method = "-";
  std::string path = "-";
  bool head_request = false;
  bool keep_alive = false;
  int version_minor = 1;
  int status = 0;
  size_t request_body = 0;
  size_t response_body = 0;
};

}  // namespace

void LogHttpAccess(const HttpAccessLogEntry& e, LogLevel level) {
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", static_cast<double>(e.duration_us) / 1000.0);
  Log(level, "http request",
      {{"method", std::string(e.method)},
       {"path", std::string(e.path)},
       {"status", std::to_string(e.status)},
       {"duration_ms", duration},
       {"request_bytes", std::to_string(e.request_body_bytes)},
       {"response_bytes", std::to_string(e.response_body_bytes)},
       {"remote", std::string(e.remote_address)}});
}

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpParseLimits limits;
  std::function<HttpResponse(HttpRequest&)> dispatch;
  std::optional<TlsContext> tls_ctx;  // set: every connection speaks TLS
  int listen_fd = -1;
  int wake_read = -1;
  int wake_write = -1;
  int port = 0;
  std::string address;

  std::thread loop_thread;
  std::vector<std::thread> workers;
  std::atomic<bool> stopping{false};
  std::mutex stop_mu;
  bool stopped = false;  // guarded by stop_mu

  struct Task {
    uint64_t conn;
    HttpRequest request;
  };
  struct Done {
    uint64_t conn;
    HttpResponse response;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Task> tasks;     // guarded by mu
  std::deque<Done> done;      // guarded by mu
  bool workers_exit = false;  // guarded by mu

  // Owned by the loop thread.
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> conns;
  uint64_t next_id = 1;
  bool stop_seen = false;
  TimePoint accept_paused_until{};
  std::vector<char> read_buf = std::vector<char>(kReadChunk);
  std::vector<uint64_t> tls_pending;  // Loop's scratch

  ~Impl() {
    Shutdown();
    for (int fd : {listen_fd, wake_read, wake_write}) {
      if (fd >= 0) ::close(fd);
    }
  }

  void Shutdown() {
    std::lock_guard<std::mutex> guard(stop_mu);
    if (stopped) return;
    stopped = true;
    stopping = true;
    Wake();
    if (loop_thread.joinable()) loop_thread.join();
    {
      std::lock_guard<std::mutex> lock(mu);
      workers_exit = true;
    }
    cv.notify_all();
    for (auto& w : workers) {
      if (w.joinable()) w.join();
    }
    for (auto& [id, c] : conns) {
      if (!c->dead) ::close(c->fd);
    }
    conns.clear();
  }

  void Wake() {
    char c = 1;
    if (wake_write >= 0) (void)!::write(wake_write, &c, 1);  // full pipe: a wake is pending anyway
  }

  void DrainWake() {
    char buf[256];
    while (::read(wake_read, buf, sizeof buf) > 0) {
    }
  }

  void WorkerLoop() {
    while (true) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !tasks.empty() || workers_exit; });
        if (tasks.empty()) return;
        task = std::move(tasks.front());
        tasks.pop_front();
      }
      HttpResponse response;
      try {
        response = dispatch(task.request);
      } catch (const std::exception& e) {
        Log(LogLevel::kError, "HTTP handler threw",
            {{"method", task.request.method}, {"error", e.what()}});
        response = HttpResponse::ErrorJson(500, std::string("internal error: ") + e.what());
      } catch (...) {
        Log(LogLevel::kError, "HTTP handler threw", {{"method", task.request.method}});
        response = HttpResponse::ErrorJson(500, "internal error");
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        done.push_back(Done{task.conn, std::move(response)});
      }
      Wake();
    }
  }

  void Loop() {
    std::vector<pollfd> fds;
    std::vector<uint64_t> ids;
    while (true) {
      TimePoint now = SteadyClock::now();
      if (stopping.load() && !stop_seen) BeginStop();
      if (stop_seen && conns.empty()) break;
      fds.clear();
      ids.clear();
      fds.push_back({wake_read, POLLIN, 0});
      bool room = !stop_seen && conns.size() < static_cast<size_t>(options.max_connections);
      bool accepting = room && now >= accept_paused_until;
      if (accepting) fds.push_back({listen_fd, POLLIN, 0});
      size_t first_conn = fds.size();
      TimePoint next = TimePoint::max();
      if (room && !accepting) next = accept_paused_until;
      tls_pending.clear();
      for (auto& [id, c] : conns) {
        short events = 0;
        if (c->tls) {
          events = TlsPollEvents(*c);
          // Decrypted bytes already in OpenSSL's buffer: the socket will not announce them.
          if (c->state == Connection::State::kReading && c->tls->Pending() > 0) {
            tls_pending.push_back(id);
            next = now;
          }
        } else {
          if (c->state == Connection::State::kReading ||
              c->state == Connection::State::kLingering) {
            events |= POLLIN;
          }
          if (c->out_off < c->out.size()) events |= POLLOUT;
        }
        if (c->state != Connection::State::kHandling) next = std::min(next, c->deadline);
        if (events == 0) continue;
        fds.push_back({c->fd, events, 0});
        ids.push_back(id);
      }
      int timeout_ms = -1;
      if (next != TimePoint::max()) {
        auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
        timeout_ms = static_cast<int>(std::clamp<int64_t>(wait, 0, INT_MAX));
      }
      if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
        if (errno != EINTR) {
          Log(LogLevel::kError, "HTTP server poll failed", {{"error", std::strerror(errno)}});
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        continue;
      }
      now = SteadyClock::now();
      if (fds[0].revents) DrainWake();
      for (size_t i = first_conn; i < fds.size(); ++i) {
        short re = fds[i].revents;
        if (re == 0) continue;
        auto it = conns.find(ids[i - first_conn]);
        if (it == conns.end() || it->second->dead) continue;
        Connection& c = *it->second;
        if (c.tls) {
          OnTlsEvent(c, now);
          continue;
        }
        if (re & (POLLOUT | POLLERR | POLLHUP)) {
          if (c.out_off < c.out.size()) Flush(c, now);
        }
        if (!c.dead && (re & (POLLIN | POLLERR | POLLHUP)) &&
            (c.state == Connection::State::kReading || c.state == Connection::State::kLingering)) {
          OnReadable(c, now);
        }
      }
      for (uint64_t id : tls_pending) {
        auto it = conns.find(id);
        if (it == conns.end() || it->second->dead || !it->second->tls) continue;
        if (it->second->state == Connection::State::kReading) OnReadable(*it->second, now);
      }
      TakeCompletions(now);
      if (accepting && (fds[1].revents & POLLIN)) AcceptAll(now);
      Expire(now);
      std::erase_if(conns, [](const auto& kv) { return kv.second->dead; });
    }
    if (listen_fd >= 0) {
      ::close(listen_fd);
      listen_fd = -1;
    }
  }

  void BeginStop() {
    stop_seen = true;
    if (listen_fd >= 0) {
      ::close(listen_fd);
      listen_fd = -1;
    }
    // Idle connections and requests still arriving are dropped; requests in the handlers
    // and responses being written finish (FinishResponse closes them afterwards).
    for (auto& [id, c] : conns) {
      if (c->state == Connection::State::kReading || c->state == Connection::State::kHandshake ||
          (c->state == Connection::State::kLingering && !InputPending(*c))) {
        Close(*c);
      }
    }
    std::erase_if(conns, [](const auto& kv) { return kv.second->dead; });
  }

  static bool InputPending(const Connection& c) {
    int pending = 0;
    return ::ioctl(c.fd, FIONREAD, &pending) != 0 || pending > 0;
  }

  void Close(Connection& c) {
    if (c.dead) return;
    if (c.tls) {
      // Best effort, never waited for: a graceful end (idle, stopping, the peer's own
      // close_notify) tells the client its stream is complete. Not in the middle of a write:
      // OpenSSL cannot interleave the alert with a half-sent record.
      if (c.out_off >= c.out.size()) (void)c.tls->SendCloseNotify();
      c.tls.reset();
    }
    ::close(c.fd);
    c.dead = true;
  }

  void AcceptAll(TimePoint now) {
    while (conns.size() < static_cast<size_t>(options.max_connections)) {
      sockaddr_storage sa{};
      socklen_t len = sizeof sa;
      int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          Log(LogLevel::kWarn, "HTTP server cannot accept",
              {{"address", address}, {"error", std::strerror(errno)}});
          accept_paused_until = now + kAcceptPause;
        }
        return;
      }
      int one = 1;
      // Responses are written whole; Nagle would only hold back their tail.
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto c = std::make_unique<Connection>(limits);
      c->id = next_id++;
      c->fd = fd;
      c->remote = FormatAddress(sa);
      c->loopback = IsLoopback(sa);
      c->deadline = now + options.idle_timeout;
      if (tls_ctx) {
        Result<TlsSession> session = TlsSession::Accept(*tls_ctx, fd);
        if (!session) {
          Log(LogLevel::kWarn, "HTTP server cannot start TLS",
              {{"remote", c->remote}, {"error", session.error().message}});
          ::close(fd);
          continue;
        }
        c->tls.emplace(std::move(*session));
        c->state = Connection::State::kHandshake;
        c->request_start = now;
        c->deadline = now + options.read_timeout;  // the handshake has the read timeout
      }
      conns.emplace(c->id, std::move(c));
    }
  }

  void OnReadable(Connection& c, TimePoint now) {
    if (c.state == Connection::State::kLingering) {
      for (size_t total = 0; total < kMaxReadPerWake;) {
        ssize_t n = ::recv(c.fd, read_buf.data(), read_buf.size(), 0);
        if (n > 0) {
          total += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          return;
        } else {
          Close(c);
          return;
        }
      }
      return;
    }
    size_t total = 0;
    while (total < kMaxReadPerWake) {
      ssize_t n = c.tls ? TlsRead(c) : ::recv(c.fd, read_buf.data(), read_buf.size(), 0);
      if (n > 0) {
        if (c.Buffered() == 0) {
          c.request_start = now;
          c.deadline = now + options.read_timeout;
        }
        c.in.append(read_buf.data(), static_cast<size_t>(n));
        total += static_cast<size_t>(n);
        // The head has a total deadline; a body only has to keep moving.
        if (c.head_complete) c.deadline = now + options.read_timeout;
        continue;
      }
      if (n == 0) {
        c.peer_eof = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Close(c);
      return;
    }
    TryParse(c, now);
    // The peer finished sending without completing a request (or while idle).
    if (!c.dead && c.state == Connection::State::kReading && c.peer_eof) Close(c);
  }

  void TryParse(Connection& c, TimePoint now) {
    if (c.dead || c.state != Connection::State::kReading || c.Buffered() == 0) return;
    HttpParseResult r = c.parser.Parse(std::string_view(c.in).substr(c.in_off));
    switch (r.kind) {
      case HttpParseResult::Kind::kNeedMore:
        if (r.head_complete && !c.head_complete) {
          c.head_complete = true;
          c.deadline = now + options.read_timeout;
        }
        if (r.expect_continue && !c.continue_sent) {
          c.continue_sent = true;
          c.out.append(kContinue);
          Flush(c, now);
        }
        return;
      case HttpParseResult::Kind::kError:
        c.method = r.method.empty() ? "-" : r.method;
        c.path = r.path.empty() ? "-" : r.path;
        c.head_request = false;
        c.keep_alive = false;  // the stream cannot be trusted past a malformed request
        c.version_minor = 1;
        c.request_body = 0;
        Respond(c, HttpResponse::ErrorJson(r.error_status, r.error_message), now);
        return;
      case HttpParseResult::Kind::kComplete:
        break;
    }
    // Consumed bytes are skipped, and dropped only once they are most of the buffer: erasing
    // after every request would make a burst of small pipelined requests quadratic.
    c.in_off += r.consumed;
    if (c.in_off == c.in.size()) {
      c.in.clear();
      c.in_off = 0;
    } else if (c.in_off > c.in.size() / 2) {
      c.in.erase(0, c.in_off);
      c.in_off = 0;
    }
    c.parser.Reset();
    c.head_complete = false;
    c.continue_sent = false;
    HttpRequest req = std::move(r.request);
    req.remote_address = c.remote;
    req.loopback = c.loopback;
    req.tls = c.tls.has_value();
    c.method = req.method;
    c.path = req.path;
    c.head_request = req.method == "HEAD";
    c.version_minor = req.version_minor;
    c.keep_alive = WantsKeepAlive(req);
    c.request_body = req.body.size();
    c.state = Connection::State::kHandling;
    {
      std::lock_guard<std::mutex> lock(mu);
      tasks.push_back(Task{c.id, std::move(req)});
    }
    cv.notify_one();
  }

  void TakeCompletions(TimePoint now) {
    std::deque<Done> batch;
    {
      std::lock_guard<std::mutex> lock(mu);
      batch.swap(done);
    }
    for (auto& d : batch) {
      auto it = conns.find(d.conn);
      if (it == conns.end() || it->second->dead) continue;
      Connection& c = *it->second;
      if (c.state != Connection::State::kHandling) continue;
      Respond(c, std::move(d.response), now);
    }
  }

  void Respond(Connection& c, HttpResponse response, TimePoint now) {
    bool close = !c.keep_alive || stop_seen;
    c.status = response.status;
    c.response_body = response.body.size();
    std::string bytes = Serialize(std::move(response), c.head_request, c.version_minor, &close);
    c.out.erase(0, c.out_off);  // a 100 Continue may still be on its way
    c.out_off = 0;
    c.out += bytes;
    c.close_after = close;
    c.state = Connection::State::kWriting;
    c.deadline = now + options.write_timeout;
    Flush(c, now);
  }

  void Flush(Connection& c, TimePoint now) {
    while (c.out_off < c.out.size()) {
      ssize_t n =
          c.tls ? TlsWrite(c)
                : ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<size_t>(n);
        if (c.state == Connection::State::kWriting) c.deadline = now + options.write_timeout;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      Close(c);
      return;
    }
    c.out.clear();
    c.out_off = 0;
    if (c.state == Connection::State::kWriting) FinishResponse(c, now);
  }

  void FinishResponse(Connection& c, TimePoint now) {
    LogAccess(c);
    if (c.close_after || stop_seen) {
      c.state = Connection::State::kLingering;
      c.deadline = now + kLinger;
      c.in.clear();
      c.in_off = 0;
      c.close_notify_pending = c.tls.has_value();
      ContinueClosing(c);
      return;
    }
    c.state = Connection::State::kReading;
    c.method = c.path = "-";
    if (c.Buffered() == 0) {
      c.deadline = now + options.idle_timeout;
    } else {  // a pipelined request is already here
      c.request_start = now;
      c.deadline = now + options.read_timeout;
    }
    TryParse(c, now);
    if (!c.dead && c.state == Connection::State::kReading && c.peer_eof) Close(c);
  }

  // Lingering: close_notify first (TLS), then the write side is shut and input drained.
  void ContinueClosing(Connection& c) {
    if (c.close_notify_pending) {
      if (c.tls->SendCloseNotify() == TlsIo::kWantWrite) return;  // the socket is full
      c.close_notify_pending = false;
    }
    if (c.peer_eof) {
      Close(c);
      return;
    }
    ::shutdown(c.fd, SHUT_WR);
    // Stopping: nothing unread means nothing to reset the response; do not hold Stop().
    if (stop_seen && !InputPending(c)) Close(c);
  }

  // ----- TLS ---------------------------------------------------------------------------
  // OpenSSL reads and writes the socket itself. Each blocked operation records the poll
  // event it waits for; any event on the socket retries whatever is in progress, as a
  // spurious retry only blocks again.

  static short TlsPollEvents(const Connection& c) {
    short events = 0;
    switch (c.state) {
      case Connection::State::kHandshake:
        return c.tls_handshake_wait;
      case Connection::State::kReading:
        events |= c.tls_read_wait;
        break;
      case Connection::State::kLingering:
        events |= POLLIN;  // drained below OpenSSL: the session is over
        if (c.close_notify_pending) events |= POLLOUT;
        break;
      case Connection::State::kHandling:
      case Connection::State::kWriting:
        break;
    }
    if (c.out_off < c.out.size()) events |= c.tls_write_wait;
    return events;
  }

  void OnTlsEvent(Connection& c, TimePoint now) {
    switch (c.state) {
      case Connection::State::kHandshake:
        ContinueHandshake(c, now);
        return;
      case Connection::State::kLingering:
        if (c.close_notify_pending) ContinueClosing(c);
        if (!c.dead && c.state == Connection::State::kLingering) OnReadable(c, now);
        return;
      default:
        break;
    }
    if (c.out_off < c.out.size()) Flush(c, now);
    if (!c.dead && c.state == Connection::State::kReading) OnReadable(c, now);
  }

  void ContinueHandshake(Connection& c, TimePoint now) {
    if (!c.tls_sniffed) {
      unsigned char first = 0;
      ssize_t n = ::recv(c.fd, &first, 1, MSG_PEEK);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
      if (n <= 0) {
        Close(c);
        return;
      }
      c.tls_sniffed = true;
      // An HTTP method where a ClientHello should be: someone used http:// for an https://
      // port. Answer in the clear so they can read why, then close.
      if (first != kTlsHandshakeRecord && first >= 'A' && first <= 'Z') {
        c.tls.reset();
        c.state = Connection::State::kReading;
        c.keep_alive = false;
        c.version_minor = 1;
        c.request_body = 0;
        Respond(
            c,
            HttpResponse::ErrorJson(400, "this port speaks HTTPS: plain HTTP sent to a TLS port"),
            now);
        return;
      }
    }
    switch (c.tls->Handshake()) {
      case TlsIo::kOk:
        c.state = Connection::State::kReading;
        c.deadline = now + options.idle_timeout;
        // The client's first request often arrives with its last handshake message, and is
        // then already read from the socket into OpenSSL.
        OnReadable(c, now);
        return;
      case TlsIo::kWantRead:
        c.tls_handshake_wait = POLLIN;
        return;
      case TlsIo::kWantWrite:
        c.tls_handshake_wait = POLLOUT;
        return;
      case TlsIo::kClosed:
      case TlsIo::kError:
        // Scanners and misconfigured clients are routine on a public port: debug, not warn.
        Log(LogLevel::kDebug, "TLS handshake failed",
            {{"remote", c.remote}, {"error", c.tls->error()}});
        Close(c);
        return;
    }
  }

  // recv(2)'s contract over TLS: > 0 bytes into read_buf, 0 at the end of the stream, -1
  // with errno EAGAIN (blocked) or ECONNRESET (the session failed).
  ssize_t TlsRead(Connection& c) {
    size_t n = 0;
    switch (c.tls->Read(read_buf.data(), read_buf.size(), &n)) {
      case TlsIo::kOk:
        c.tls_read_wait = POLLIN;
        return static_cast<ssize_t>(n);
      case TlsIo::kWantRead:
        c.tls_read_wait = POLLIN;
        errno = EAGAIN;
        return -1;
      case TlsIo::kWantWrite:
        c.tls_read_wait = POLLOUT;
        errno = EAGAIN;
        return -1;
      case TlsIo::kClosed:
        return 0;
      case TlsIo::kError:
        break;
    }
    Log(LogLevel::kDebug, "TLS read failed", {{"remote", c.remote}, {"error", c.tls->error()}});
    errno = ECONNRESET;
    return -1;
  }

  // send(2)'s contract over TLS, for the unsent part of c.out.
  ssize_t TlsWrite(Connection& c) {
    size_t n = 0;
    switch (c.tls->Write(c.out.data() + c.out_off, c.out.size() - c.out_off, &n)) {
      case TlsIo::kOk:
        c.tls_write_wait = POLLOUT;
        return static_cast<ssize_t>(n);
      case TlsIo::kWantRead:
        c.tls_write_wait = POLLIN;
        errno = EAGAIN;
        return -1;
      case TlsIo::kWantWrite:
        c.tls_write_wait = POLLOUT;
        errno = EAGAIN;
        return -1;
      case TlsIo::kClosed:
      case TlsIo::kError:
        break;
    }
    errno = EPIPE;
    return -1;
  }

  void Expire(TimePoint now) {
    for (auto& [id, cp] : conns) {
      Connection& c = *cp;
      if (c.dead || c.state == Connection::State::kHandling || now < c.deadline) continue;
      if (c.state == Connection::State::kReading && c.Buffered() > 0) {
        c.method = c.path = "-";
        c.head_request = false;
        c.keep_alive = false;
        c.version_minor = 1;
        c.request_body = 0;
        Respond(c, HttpResponse::ErrorJson(408, "request not received in time"), now);
      } else {
        Close(c);  // idle, a response nobody reads, or the end of lingering
      }
    }
  }

  void LogAccess(const Connection& c) {
    if (!options.access_log) return;
    HttpAccessLogEntry e;
    e.method = c.method;
    e.path = c.path;
    e.status = c.status;
    // Not the loop iteration's `now`: that is often the one the request was read in.
    e.duration_us =
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - c.request_start)
            .count();
    e.request_body_bytes = c.request_body;
    e.response_body_bytes = c.response_body;
    e.remote_address = c.remote;
    try {
      options.access_log(e);
    } catch (...) {
      // A failing log hook must not take the server down.
    }
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() { impl_->Shutdown(); }

int HttpServer::port() const { return impl_->port; }

std::string HttpServer::address() const { return impl_->address; }

Result<std::unique_ptr<HttpServer::Impl>> HttpServer::Bind(std::string_view listen,
                                                           const HttpServerOptions& options) {
  if (options.worker_threads < 1 || options.max_connections < 1) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "HTTP server needs at least one worker and one connection");
  }
  if (options.max_header_bytes < 256 || options.read_timeout.count() <= 0 ||
      options.idle_timeout.count() <= 0 || options.write_timeout.count() <= 0) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "HTTP server limits and timeouts must be positive");
  }
  FRZ_ASSIGN_OR_RETURN(ListenAddress addr, ParseListen(listen));
  auto impl = std::make_unique<Impl>();
  bool tls = !options.tls_cert_file.empty() || !options.tls_key_file.empty() ||
             !options.tls_client_ca_file.empty();
  if (tls) {
    if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
      return MakeError(ErrorKind::kInvalidArgument,
                       "HTTP server TLS needs both tls_cert_file and tls_key_file");
    }
    // Before binding: a server with an unusable certificate never listens.
    FRZ_ASSIGN_OR_RETURN(
        TlsContext ctx,
        TlsContext::MakeServer({options.tls_cert_file, options.tls_key_file,
                                options.tls_min_version, options.tls_client_ca_file}));
    impl->tls_ctx.emplace(std::move(ctx));
  }
  impl->options = options;
  impl->limits = HttpParseLimits{options.max_header_bytes, options.max_body_bytes};
  std::string where = "cannot listen for HTTP on " + std::string(listen) + ": ";
  impl->listen_fd = ::socket(addr.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (impl->listen_fd < 0) return MakeError(ErrorKind::kIOError, where + std::strerror(errno));
  int one = 1;
  setsockopt(impl->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(impl->listen_fd, reinterpret_cast<sockaddr*>(&addr.addr), addr.len) != 0 ||
      ::listen(impl->listen_fd, SOMAXCONN) != 0) {
    return MakeError(ErrorKind::kIOError, where + std::strerror(errno));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (getsockname(impl->listen_fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return MakeError(ErrorKind::kIOError, where + std::strerror(errno));
  }
  impl->address = FormatAddress(bound);
  impl->port = bound.ss_family == AF_INET6
                   ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                   : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  int wake[2];
  if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0)
    return MakeError(ErrorKind::kIOError, where + std::strerror(errno));
  impl->wake_read = wake[0];
  impl->wake_write = wake[1];
  return impl;
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(std::string_view listen, Router router,
                                                      HttpServerOptions options) {
  FRZ_ASSIGN_OR_RETURN(auto impl, Bind(listen, options));
  impl->dispatch = [r = std::move(router)](HttpRequest& req) { return r.Handle(req); };
  return Launch(std::move(impl));
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(std::string_view listen, HttpHandler handler,
                                                      HttpServerOptions options) {
  if (!handler) return MakeError(ErrorKind::kInvalidArgument, "HTTP server needs a handler");
  FRZ_ASSIGN_OR_RETURN(auto impl, Bind(listen, options));
  impl->dispatch = [h = std::move(handler)](HttpRequest& req) -> HttpResponse {
    Result<HttpResponse> r = h(req);
    if (!r) return HttpResponse::FromError(r.error());
    return std::move(*r);
  };
  return Launch(std::move(impl));
}

Result<std::unique_ptr<HttpServer>> HttpServer::Launch(std::unique_ptr<Impl> impl) {
  Impl* raw = impl.get();
  try {
    for (int i = 0; i < raw->options.worker_threads; ++i) {
      raw->workers.emplace_back([raw] { raw->WorkerLoop(); });
    }
    raw->loop_thread = std::thread([raw] { raw->Loop(); });
  } catch (const std::system_error& e) {
    // ~Impl joins whatever did start.
    return MakeError(ErrorKind::kIOError,
                     std::string("cannot start HTTP server threads: ") + e.what());
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

}  // namespace frazil::server
