#include "frazil/server/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace frazil::server {

struct MetricsServer::Thread {
  std::thread thread;
};

namespace {

void WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

std::string Response(int code, const char* reason, const std::string& type, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                            std::function<std::string()> render) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return MakeError(ErrorKind::kInvalidArgument, "metrics address '" + listen + "' must be host:port or :port");
  }
  std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return MakeError(ErrorKind::kInvalidArgument, "metrics address '" + listen + "' has no valid port");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (host.empty() || host == "0.0.0.0") {
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (host == "localhost") {
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return MakeError(ErrorKind::kInvalidArgument, "metrics address '" + listen + "': '" + host + "' is not an IPv4 address");
  }
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->render_ = std::move(render);
  s->listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->listen_fd_ < 0) return MakeError(ErrorKind::kIOError, std::string("metrics socket: ") + strerror(errno));
  int one = 1;
  setsockopt(s->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s->listen_fd_, 16) != 0) {
    return MakeError(ErrorKind::kIOError, "cannot listen for metrics on " + listen + ": " + strerror(errno));
  }
  socklen_t len = sizeof addr;
  getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  s->port_ = ntohs(addr.sin_port);
  if (pipe2(s->stop_pipe_, O_CLOEXEC) != 0) return MakeError(ErrorKind::kIOError, "metrics stop pipe");
  s->thread_ = std::make_unique<Thread>();
  MetricsServer* raw = s.get();
  s->thread_->thread = std::thread([raw] { raw->Serve(); });
  return s;
}

MetricsServer::~MetricsServer() {
  if (thread_) {
    char c = 0;
    (void)!::write(stop_pipe_[1], &c, 1);
    thread_->thread.join();
  }
  for (int fd : {listen_fd_, stop_pipe_[0], stop_pipe_[1]}) {
    if (fd >= 0) ::close(fd);
  }
}

void MetricsServer::Serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    // Read the request head (bounded; a client that sends nothing for 2 s is dropped).
    std::string request;
    char buf[2048];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
      pollfd in{fd, POLLIN, 0};
      if (::poll(&in, 1, 2000) <= 0) break;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    if (request.starts_with("GET /metrics ") || request.starts_with("GET /metrics?")) {
      WriteAll(fd, Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", render_()));
    } else if (request.starts_with("GET ")) {
      WriteAll(fd, Response(404, "Not Found", "text/plain", "frazil serves GET /metrics here\n"));
    } else {
      WriteAll(fd, Response(400, "Bad Request", "text/plain", "expected an HTTP GET request\n"));
    }
    ::close(fd);
  }
}

}  // namespace frazil::server
