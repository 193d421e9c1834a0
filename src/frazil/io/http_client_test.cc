// The curl transport against a tiny raw-socket HTTP server in the test (the io module may not
// link frazil's own server), plus the fault-injecting transport and the URL helpers.
#include "frazil/io/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace frazil::io {
namespace {

struct RawRequest {
  std::string head;  // request line and fields
  std::string body;
};

// Answers each request with what `handler` returns (a full HTTP response), or closes the
// connection without answering when it returns nullopt. A thread per connection.
class RawServer {
 public:
  using Handler = std::function<std::optional<std::string>(const RawRequest&)>;

  explicit RawServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 64), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~RawServer() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    acceptor_.join();  // no new connections from here on
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (int c : open_) ::shutdown(c, SHUT_RDWR);
      threads.swap(connections_);
    }
    for (auto& t : threads) t.join();
  }

  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  int requests() const { return requests_; }
  int connections() const { return accepted_; }

  static std::string Response(int status, std::string body, std::string extra_headers = "") {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n" + extra_headers + "\r\n" + body;
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++accepted_;
      std::lock_guard<std::mutex> l(mu_);
      open_.push_back(c);
      connections_.emplace_back([this, c] { Serve(c); });
    }
  }

  void Serve(int c) {
    std::string buf;
    char chunk[4096];
    while (true) {
      size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = ::recv(c, chunk, sizeof(chunk), 0);
        if (n <= 0) return Close(c);
        buf.append(chunk, static_cast<size_t>(n));
      }
      RawRequest req;
      req.head = buf.substr(0, end);
      size_t length = 0;
      size_t cl = Lower(req.head).find("content-length:");
      if (cl != std::string::npos) length = std::stoul(req.head.substr(cl + 15));
      buf.erase(0, end + 4);
      while (buf.size() < length) {
        ssize_t n = ::recv(c, chunk, sizeof(chunk), 0);
        if (n <= 0) return Close(c);
        buf.append(chunk, static_cast<size_t>(n));
      }
      req.body = buf.substr(0, length);
      buf.erase(0, length);
      ++requests_;
      std::optional<std::string> response = handler_(req);
      if (!response) return Close(c);
      size_t sent = 0;
      while (sent < response->size()) {
        ssize_t n = ::send(c, response->data() + sent, response->size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return Close(c);
        sent += static_cast<size_t>(n);
      }
    }
  }

  void Close(int c) {
    std::lock_guard<std::mutex> l(mu_);
    std::erase(open_, c);
    ::close(c);
  }

  static std::string Lower(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> open_;
  std::vector<std::thread> connections_;
};

// A port nothing listens on: bind one, then close it.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(HttpFieldsTest, CaseInsensitiveLookup) {
  HttpFields f{{"Content-Type", "application/json"}, {"X-A", "1"}};
  f.Add("x-a", "2");
  EXPECT_EQ(f.Get("content-type"), "application/json");
  EXPECT_EQ(*f.Find("X-A"), "1");
  EXPECT_EQ(f.Get("missing", "none"), "none");
  f.Set("X-a", "3");
  EXPECT_EQ(f.size(), 2u);
  EXPECT_EQ(f.Get("x-A"), "3");
  EXPECT_EQ(f.Remove("CONTENT-TYPE"), 1u);
  EXPECT_FALSE(f.Has("content-type"));
}

TEST(HttpHelpersTest, EncodingAndRedaction) {
  EXPECT_EQ(PercentEncode("a\x1f" "b c/d~_.-"), "a%1Fb%20c%2Fd~_.-");
  EXPECT_EQ(FormEncode({{"grant_type", "client_credentials"}, {"client_secret", "s&=+"}}),
            "grant_type=client_credentials&client_secret=s%26%3D%2B");
  EXPECT_EQ(RedactUrl("https://user:pw@host:8443/v1/config?warehouse=x&token=t#f"),
            "https://host:8443/v1/config");
  EXPECT_EQ(RedactUrl("http://host/a?b"), "http://host/a");
}

TEST(CurlTransportTest, RequestAndResponseRoundTrip) {
  std::mutex mu;
  std::vector<RawRequest> seen;
  RawServer server([&](const RawRequest& r) -> std::optional<std::string> {
    std::lock_guard<std::mutex> l(mu);
    seen.push_back(r);
    if (r.head.starts_with("HEAD ")) return RawServer::Response(204, "");
    if (r.head.starts_with("GET /missing")) return RawServer::Response(404, R"({"error":{}})");
    return RawServer::Response(201, "echo:" + r.body, "X-Reply: yes\r\nSet-Thing: 1\r\n");
  });
  auto transport = NewCurlTransport();

  HttpRequest post;
  post.method = "POST";
  post.url = server.url("/v1/things?a=1");
  post.headers.Add("Content-Type", "application/json");
  post.headers.Add("X-Empty", "");
  post.body = R"({"k":"v"})";
  auto r = transport->Send(post);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, R"(echo:{"k":"v"})");
  EXPECT_EQ(r->headers.Get("x-reply"), "yes");
  EXPECT_EQ(r->headers.Get("CONTENT-LENGTH"), std::to_string(r->body.size()));

  HttpRequest get;
  get.url = server.url("/missing");
  auto missing = transport->Send(get);
  ASSERT_TRUE(missing) << missing.error().ToString();  // a 404 is a response, not an error
  EXPECT_EQ(missing->status, 404);

  HttpRequest head;
  head.method = "HEAD";
  head.url = server.url("/thing");
  auto h = transport->Send(head);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 204);
  EXPECT_TRUE(h->body.empty());

  HttpRequest del;
  del.method = "DELETE";
  del.url = server.url("/thing?purgeRequested=true");
  ASSERT_TRUE(transport->Send(del));

  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_TRUE(seen[0].head.starts_with("POST /v1/things?a=1 HTTP/1.1\r\n")) << seen[0].head;
  EXPECT_NE(seen[0].head.find("Content-Type: application/json"), std::string::npos);
  EXPECT_NE(seen[0].head.find("X-Empty:"), std::string::npos);
  EXPECT_EQ(seen[0].head.find("Expect:"), std::string::npos);
  EXPECT_EQ(seen[0].body, R"({"k":"v"})");
  EXPECT_TRUE(seen[2].head.starts_with("HEAD /thing ")) << seen[2].head;
  EXPECT_TRUE(seen[3].head.starts_with("DELETE /thing?purgeRequested=true ")) << seen[3].head;
  // The requests of one thread share a keep-alive connection.
  EXPECT_EQ(server.connections(), 1);
}

TEST(CurlTransportTest, NonIdempotentRequestUsesAFreshConnection) {
  RawServer server([](const RawRequest&) { return RawServer::Response(200, "ok"); });
  auto transport = NewCurlTransport();
  HttpRequest req;
  req.url = server.url("/a");
  ASSERT_TRUE(transport->Send(req));
  ASSERT_TRUE(transport->Send(req));
  EXPECT_EQ(server.connections(), 1);
  req.method = "POST";
  req.idempotent = false;
  ASSERT_TRUE(transport->Send(req));
  EXPECT_EQ(server.connections(), 2);
}

TEST(CurlTransportTest, ConnectionRefusedIsNotSentAndHidesSecrets) {
  auto transport = NewCurlTransport();
  HttpRequest req;
  req.method = "POST";
  req.url = "http://user:pw@127.0.0.1:" + std::to_string(FreePort()) + "/v1/oauth/tokens?secret=abc";
  req.headers.Add("Authorization", "Bearer very-secret-token");
  auto r = transport->Send(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kIOError);
  EXPECT_EQ(HttpFailureOf(r.error()), HttpFailure::kNotSent);
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("POST http://127.0.0.1:"), std::string::npos) << m;
  EXPECT_NE(m.find("/v1/oauth/tokens"), std::string::npos) << m;
  EXPECT_EQ(m.find("secret=abc"), std::string::npos) << m;
  EXPECT_EQ(m.find("pw"), std::string::npos) << m;
  EXPECT_EQ(m.find("very-secret-token"), std::string::npos) << m;
}

TEST(CurlTransportTest, TimeoutAfterSendingMaySeemSent) {
  std::atomic<bool> release{false};
  RawServer server([&](const RawRequest&) -> std::optional<std::string> {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return RawServer::Response(200, "late");
  });
  auto transport = NewCurlTransport();
  HttpRequest req;
  req.method = "POST";
  req.url = server.url("/commit");
  req.body = "{}";
  req.timeout = std::chrono::milliseconds(300);
  auto start = std::chrono::steady_clock::now();
  auto r = transport->Send(req);
  release = true;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kIOError);
  EXPECT_EQ(HttpFailureOf(r.error()), HttpFailure::kMaybeSent) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(server.requests(), 1);
}

TEST(CurlTransportTest, ConnectionClosedWithoutAnswerMaySeemSent) {
  RawServer server([](const RawRequest&) -> std::optional<std::string> { return std::nullopt; });
  auto transport = NewCurlTransport();
  HttpRequest req;
  req.method = "POST";
  req.url = server.url("/commit");
  req.body = "{}";
  req.idempotent = false;
  auto r = transport->Send(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(HttpFailureOf(r.error()), HttpFailure::kMaybeSent) << r.error().message;
  EXPECT_EQ(server.requests(), 1);  // not re-sent
}

TEST(CurlTransportTest, RejectsMalformedRequests) {
  auto transport = NewCurlTransport();
  HttpRequest req;
  req.url = "ftp://host/x";
  EXPECT_EQ(transport->Send(req).error().kind, ErrorKind::kInvalidArgument);
  req.url = "http://127.0.0.1:1/x";
  req.headers.Add("X-Bad", "a\r\nInjected: 1");
  EXPECT_EQ(transport->Send(req).error().kind, ErrorKind::kInvalidArgument);
}

TEST(CurlTransportTest, ManyThreads) {
  RawServer server([](const RawRequest& r) { return RawServer::Response(200, r.body); });
  auto transport = NewCurlTransport();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        HttpRequest req;
        req.method = "POST";
        req.url = server.url("/echo");
        req.body = std::to_string(t) + ":" + std::to_string(i);
        auto r = transport->Send(req);
        if (r && r->status == 200 && r->body == req.body) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 160);
  EXPECT_LE(server.connections(), 8);  // a connection per thread, kept alive
}

TEST(FaultInjectingHttpTransportTest, NotSentAndMaybeSent) {
  int calls = 0;
  auto fake = std::make_shared<FakeHttpTransport>([&](const HttpRequest&) -> Result<HttpResponse> {
    ++calls;
    return HttpResponse{.status = 200, .headers = {}, .body = "ok"};
  });
  FaultInjectingHttpTransport faulty(fake);
  faulty.FailNext(HttpFailure::kNotSent, "POST", "/commit");
  faulty.FailNext(HttpFailure::kMaybeSent, "", "/tables/t", 2);
  HttpRequest commit{.method = "POST", .url = "http://h/commit"};
  auto a = faulty.Send(commit);
  ASSERT_FALSE(a);
  EXPECT_EQ(HttpFailureOf(a.error()), HttpFailure::kNotSent);
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(faulty.Send(commit));  // the rule is used up
  EXPECT_EQ(calls, 1);
  HttpRequest load{.method = "GET", .url = "http://h/v1/tables/t"};
  for (int i = 0; i < 2; ++i) {
    auto b = faulty.Send(load);
    ASSERT_FALSE(b);
    EXPECT_EQ(HttpFailureOf(b.error()), HttpFailure::kMaybeSent);
  }
  EXPECT_EQ(calls, 3);  // the server saw them
  EXPECT_TRUE(faulty.Send(load));
  EXPECT_EQ(faulty.forwarded(), 4);
  // An error from elsewhere is never taken for "not sent".
  EXPECT_EQ(HttpFailureOf(Error{ErrorKind::kIOError, "boom"}), HttpFailure::kMaybeSent);
}

}  // namespace
}  // namespace frazil::io
