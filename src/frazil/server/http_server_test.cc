#include "frazil/server/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "frazil/server/http.h"

namespace frazil::server {
namespace {

using namespace std::chrono_literals;
using Kind = HttpParseResult::Kind;

// ----- A small client over a real loopback socket ----------------------------------------

struct ClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response; nullopt on EOF, error or timeout.
  std::optional<ClientResponse> Read(bool head_request = false,
                                     std::chrono::milliseconds timeout = 5s) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(timeout)) return std::nullopt;
    }
    ClientResponse r;
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    if (head.size() < 12 || !head.starts_with("HTTP/1.1 ")) return std::nullopt;
    r.status = std::stoi(head.substr(9, 3));
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos) {
      size_t next = head.find("\r\n", pos + 2);
      std::string line =
          head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = line.substr(colon + 2);
      }
      pos = next;
    }
    if (head_request || r.status < 200 || r.status == 204 || r.status == 304) return r;
    size_t length =
        std::stoul(r.Header("content-length").empty() ? "0" : r.Header("content-length"));
    while (buf_.size() < length) {
      if (!Fill(timeout)) return std::nullopt;
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  // True if the server closes the connection (EOF or reset) within `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char c[4096];
      ssize_t n = ::recv(fd_, c, sizeof c, 0);
      if (n <= 0) return true;
      buf_.append(c, static_cast<size_t>(n));
    }
    return false;
  }

  // True if nothing arrives within `timeout` and the connection stays open.
  bool Silent(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 0 && buf_.empty();
  }

 private:
  bool Fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char c[65536];
    ssize_t n = ::recv(fd_, c, sizeof c, 0);
    if (n <= 0) return false;
    buf_.append(c, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::string Get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

std::string Post(const std::string& path, const std::string& body, const std::string& extra = "") {
  return "POST " + path +
         " HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         extra + "\r\n" + body;
}

// A router with the routes the tests use.
Router TestRouter() {
  Router r;
  EXPECT_TRUE(r.Get("/api/runs/{id}/logs", [](const HttpRequest& req) {
    nlohmann::json out = {{"id", req.PathParam("id")},
                          {"tail", req.QueryParam("tail").value_or("")},
                          {"loopback", req.loopback},
                          {"remote", req.remote_address}};
    return HttpResponse::Json(200, out);
  }));
  EXPECT_TRUE(
      r.Post("/echo", [](const HttpRequest& req) { return HttpResponse::Text(200, req.body); }));
  EXPECT_TRUE(r.Get("/hello", [](const HttpRequest&) { return HttpResponse::Text(200, "hello"); }));
  EXPECT_TRUE(r.Get("/throw", [](const HttpRequest&) -> Result<HttpResponse> {
    throw std::runtime_error("boom");
  }));
  EXPECT_TRUE(r.Get("/missing-table", [](const HttpRequest&) -> Result<HttpResponse> {
    return MakeError(ErrorKind::kNoSuchTable, "table db.t does not exist");
  }));
  EXPECT_TRUE(r.Get("/big", [](const HttpRequest&) {
    return HttpResponse::Text(200, std::string(size_t{8} << 20, 'x'));
  }));
  return r;
}

std::unique_ptr<HttpServer> StartTestServer(HttpServerOptions options = {}) {
  options.access_log = nullptr;
  auto s = HttpServer::Start("127.0.0.1:0", TestRouter(), std::move(options));
  EXPECT_TRUE(s) << s.error().message;
  return s ? std::move(*s) : nullptr;
}

// ----- Parser ----------------------------------------------------------------------------

TEST(HttpParserTest, ParsesARequestWithDecodedPathAndQuery) {
  std::string raw =
      "GET /v1/a%1Fb/tables/t%2Fx?x=1&x=2&y=a+b%21&flag HTTP/1.1\r\nHost: h\r\nX-Test:  v  "
      "\r\n\r\nGET";
  HttpParseResult r = ParseHttpRequest(raw);
  ASSERT_EQ(r.kind, Kind::kComplete) << r.error_message;
  EXPECT_EQ(r.consumed, raw.size() - 3);  // the rest is the next, pipelined request
  const HttpRequest& q = r.request;
  EXPECT_EQ(q.method, "GET");
  EXPECT_EQ(q.path, "/v1/a%1Fb/tables/t%2Fx");
  EXPECT_EQ(q.segments, (std::vector<std::string>{"v1",
                                                  "a\x1f"
                                                  "b",
                                                  "tables", "t/x"}));
  EXPECT_EQ(q.query, "x=1&x=2&y=a+b%21&flag");
  EXPECT_EQ(q.QueryParams("x"), (std::vector<std::string_view>{"1", "2"}));
  EXPECT_EQ(q.QueryParam("y"), "a b!");
  EXPECT_EQ(q.QueryParam("flag"), "");
  EXPECT_FALSE(q.QueryParam("nope"));
  EXPECT_EQ(q.headers.Get("x-test"), "v");
  EXPECT_EQ(q.headers.Get("HOST"), "h");
}

TEST(HttpParserTest, PathShapes) {
  auto segs = [](const std::string& target) {
    auto r = ParseHttpRequest("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(r.kind, Kind::kComplete) << target << ": " << r.error_message;
    return std::make_pair(r.request.path, r.request.segments);
  };
  EXPECT_EQ(segs("/"), std::make_pair(std::string("/"), std::vector<std::string>{}));
  EXPECT_EQ(segs("/a/").second, (std::vector<std::string>{"a", ""}));
  EXPECT_EQ(segs("/?q=1").first, "/");
  EXPECT_EQ(segs("http://example.com:81/x/y?z").second, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(segs("http://example.com").first, "/");
  auto star = ParseHttpRequest("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(star.kind, Kind::kComplete);
  EXPECT_EQ(star.request.path, "*");
}

TEST(HttpParserTest, BodiesAndFraming) {
  auto r = ParseHttpRequest("\r\nPOST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_EQ(r.kind, Kind::kComplete) << r.error_message;
  EXPECT_EQ(r.request.body, "hello");

  std::string chunked =
      "POST /e HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  r = ParseHttpRequest(chunked);
  ASSERT_EQ(r.kind, Kind::kComplete) << r.error_message;
  EXPECT_EQ(r.request.body, "hello world");
  EXPECT_EQ(r.consumed, chunked.size());
  EXPECT_FALSE(r.request.headers.Has("X-Trailer"));

  r = ParseHttpRequest("POST /e HTTP/1.0\r\nContent-Length: 3, 3\r\n\r\nabc");
  ASSERT_EQ(r.kind, Kind::kComplete) << r.error_message;
  EXPECT_EQ(r.request.version_minor, 0);
  EXPECT_EQ(r.request.body, "abc");

  r = ParseHttpRequest(
      "POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\nabc");
  EXPECT_EQ(r.kind, Kind::kNeedMore);
  EXPECT_TRUE(r.head_complete);
  EXPECT_TRUE(r.expect_continue);

  r = ParseHttpRequest("GET /x HTTP/1.1\r\nHost: h\r\n");
  EXPECT_EQ(r.kind, Kind::kNeedMore);
  EXPECT_FALSE(r.head_complete);
  EXPECT_EQ(r.method, "GET");
}

TEST(HttpParserTest, RejectsMalformedRequestsWithTheRightStatus) {
  HttpParseLimits limits;
  limits.max_header_bytes = 1024;
  limits.max_body_bytes = 100;
  struct Case {
    std::string raw;
    int status;
  };
  std::vector<Case> cases = {
      {"GET /x HTTP/1.1\r\n\r\n", 400},                        // no Host
      {"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},  // two Hosts
      {"GET /x HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"GET /x HTTP/1.1x\r\nHost: a\r\n\r\n", 400},
      {"GET /x FTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET  /x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"G(T /x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /x#f HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /a%00 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /a?x=%4 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /x HTTP/1.1\nHost: a\n\n", 400},                   // bare LF
      {"GET /x HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400},  // obs-fold
      {"GET /x HTTP/1.1\r\nHost : a\r\n\r\n", 400},            // space before colon
      {"GET /x HTTP/1.1\r\nHost: a\r\nBad\x01: v\r\n\r\n", 400},
      {"GET /x HTTP/1.1\r\nHost: a\r\nX: a\x01"
       "b\r\n\r\n",
       400},
      {"GET /x HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n", 400},
      {"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
      {"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413},
      {"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
      {"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
       400},
      {"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
      {"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n", 400},
      {"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n", 400},
      {"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n", 413},
      {"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
       413},
      {"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(64, '1') +
           "\r\n",
       413},
      {"GET /x HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417},
      {"GET /x HTTP/1.1\r\nHost: a\r\nX: " + std::string(2000, 'v') + "\r\n\r\n", 431},
      {"GET /" + std::string(2000, 'p') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
      {"GET /x HTTP/1.1\r\nHost: a\r\nX: " + std::string(2000, 'v'), 431},  // incomplete, too large
      {"GET /" + std::string(2000, 'p'), 414},
      {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400},  // a TLS ClientHello
      {" GET / HTTP/1.1\r\n", 400},
  };
  for (const auto& c : cases) {
    HttpParseResult r = ParseHttpRequest(c.raw, limits);
    EXPECT_EQ(r.kind, Kind::kError) << c.raw;
    EXPECT_EQ(r.error_status, c.status) << c.raw << " -> " << r.error_message;
    EXPECT_FALSE(r.error_message.empty());
  }
  std::string many = "GET /x HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 300; ++i) many += "X: 1\r\n";
  EXPECT_EQ(ParseHttpRequest(many + "\r\n").error_status, 431);
}

// Feeding a request a few bytes at a time gives what parsing it whole gives.
HttpParseResult ParseInPieces(std::string_view raw, const HttpParseLimits& limits,
                              std::mt19937& rng) {
  HttpRequestParser parser(limits);
  size_t have = 0;
  HttpParseResult r;
  while (true) {
    size_t step = std::uniform_int_distribution<size_t>(1, 9)(rng);
    have = std::min(raw.size(), have + step);
    r = parser.Parse(raw.substr(0, have));
    if (r.kind != Kind::kNeedMore || have == raw.size()) return r;
  }
}

void ExpectSameOutcome(const HttpParseResult& whole, const HttpParseResult& pieces,
                       std::string_view raw) {
  ASSERT_EQ(whole.kind, pieces.kind) << testing::PrintToString(std::string(raw));
  if (whole.kind == Kind::kComplete) {
    EXPECT_EQ(whole.consumed, pieces.consumed);
    EXPECT_EQ(whole.request.body, pieces.request.body);
    EXPECT_EQ(whole.request.path, pieces.request.path);
    EXPECT_EQ(whole.request.headers.size(), pieces.request.headers.size());
  } else if (whole.kind == Kind::kError) {
    EXPECT_EQ(whole.error_status, pieces.error_status) << testing::PrintToString(std::string(raw));
  }
}

TEST(HttpParserTest, IncrementalParsingMatchesWholeParsing) {
  std::mt19937 rng(7);
  std::vector<std::string> samples = {
      Post("/echo", "payload"),
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\nnext",
      "\r\n\r\nGET /a?b=c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
  };
  for (const auto& s : samples) {
    auto whole = ParseHttpRequest(s);
    ASSERT_EQ(whole.kind, Kind::kComplete) << whole.error_message;
    for (int i = 0; i < 20; ++i) ExpectSameOutcome(whole, ParseInPieces(s, {}, rng), s);
  }
}

// Random bytes and mutated requests: the parser never crashes, never reads past the buffer
// (run under ASan: make sanitize), only answers with client-error statuses, and gives the
// same outcome however the bytes are split.
TEST(HttpParserTest, FuzzRandomAndMutatedInput) {
  std::mt19937 rng(20240611);
  HttpParseLimits limits;
  limits.max_header_bytes = 512;
  limits.max_body_bytes = 256;
  std::vector<std::string> seeds = {
      Get("/api/runs/1/logs?tail=5"),
      Post("/echo", "{\"a\": 1}"),
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
      "4;a=b\r\nwiki\r\n5\r\npedia\r\n0\r\nX: y\r\n\r\n",
      "GET http://h/x HTTP/1.0\r\nConnection: close\r\n\r\n",
  };
  const std::string alphabet =
      "GETPOST /:\r\n\t%0aF;,-HTTP/1.1 chunked Content-Length Host \x00\x7f\xff";
  auto byte = [&] { return static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng)); };
  int complete = 0, errors = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    int mode = iter % 4;
    if (mode == 0) {
      size_t n = std::uniform_int_distribution<size_t>(0, 600)(rng);
      for (size_t i = 0; i < n; ++i) s.push_back(byte());
    } else if (mode == 1) {
      size_t n = std::uniform_int_distribution<size_t>(0, 300)(rng);
      for (size_t i = 0; i < n; ++i) s.push_back(alphabet[rng() % alphabet.size()]);
    } else {
      s = seeds[rng() % seeds.size()];
      int edits = std::uniform_int_distribution<int>(1, mode == 2 ? 3 : 12)(rng);
      for (int e = 0; e < edits && !s.empty(); ++e) {
        size_t at = rng() % s.size();
        switch (rng() % 5) {
          case 0:
            s[at] = byte();
            break;
          case 1:
            s.insert(at, 1, alphabet[rng() % alphabet.size()]);
            break;
          case 2:
            s.erase(at, 1 + rng() % 4);
            break;
          case 3:
            s.resize(at);
            break;
          case 4:
            s.insert(at, s.substr(rng() % s.size(), 1 + rng() % 20));
            break;
        }
      }
    }
    HttpParseResult whole = ParseHttpRequest(s, limits);
    switch (whole.kind) {
      case Kind::kComplete:
        ++complete;
        ASSERT_LE(whole.consumed, s.size());
        ASSERT_LE(whole.request.body.size(), limits.max_body_bytes);
        break;
      case Kind::kError:
        ++errors;
        ASSERT_TRUE(whole.error_status == 400 || whole.error_status == 413 ||
                    whole.error_status == 414 || whole.error_status == 417 ||
                    whole.error_status == 431 || whole.error_status == 501 ||
                    whole.error_status == 505)
            << whole.error_status << " " << whole.error_message;
        break;
      case Kind::kNeedMore:
        break;
    }
    ExpectSameOutcome(whole, ParseInPieces(s, limits, rng), s);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(complete, 100);  // the mutations do not only produce garbage
  EXPECT_GT(errors, 1000);
}

// ----- Router ----------------------------------------------------------------------------

HttpRequest MakeRequest(const std::string& method, const std::string& target) {
  auto r = ParseHttpRequest(method + " " + target + " HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(r.kind, Kind::kComplete) << r.error_message;
  return std::move(r.request);
}

TEST(RouterTest, MatchesPatternsAndFillsParameters) {
  Router router;
  auto named = [](std::string name) {
    return [name](const HttpRequest& req) {
      std::string out = name;
      for (const auto& [k, v] : req.path_params) out += " " + k + "=" + v;
      return HttpResponse::Text(200, out);
    };
  };
  ASSERT_TRUE(router.Get("/v1/config", named("config")));
  ASSERT_TRUE(router.Get("/v1/{prefix}/namespaces/{namespace}", named("ns")));
  ASSERT_TRUE(router.Delete("/v1/{prefix}/namespaces/{namespace}", named("drop")));
  ASSERT_TRUE(router.Get("/v1/{prefix}/namespaces/default", named("literal")));
  ASSERT_TRUE(router.Get("/", named("root")));
  auto handle = [&](const std::string& method, const std::string& target) {
    HttpRequest req = MakeRequest(method, target);
    return router.Handle(req);
  };
  EXPECT_EQ(handle("GET", "/v1/config").body, "config");
  EXPECT_EQ(handle("GET", "/v1/cat/namespaces/a%1Fb").body,
            "ns prefix=cat namespace=a\x1f"
            "b");
  EXPECT_EQ(handle("GET", "/v1/cat/namespaces/default").body, "literal prefix=cat");
  EXPECT_EQ(handle("DELETE", "/v1/cat/namespaces/default").body,
            "drop prefix=cat namespace=default");
  EXPECT_EQ(handle("GET", "/").body, "root");
  EXPECT_EQ(handle("GET", "/v1/cat/namespaces/").status, 404);  // a parameter is never empty
  EXPECT_EQ(handle("GET", "/v1/config/").status, 404);
  HttpResponse nf = handle("GET", "/nope");
  EXPECT_EQ(nf.status, 404);
  auto error = nlohmann::json::parse(nf.body)["error"];
  EXPECT_EQ(error["code"], 404);
  EXPECT_EQ(error["type"], "NotFoundException");
  EXPECT_NE(error["message"].get<std::string>().find("/nope"), std::string::npos);

  HttpResponse wrong = handle("POST", "/v1/cat/namespaces/x");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.headers.Get("Allow"), "DELETE, GET, HEAD");
  EXPECT_EQ(nlohmann::json::parse(wrong.body)["error"]["type"], "MethodNotAllowedException");
  EXPECT_EQ(handle("HEAD", "/v1/config").body, "config");  // the server drops it
}

TEST(RouterTest, RejectsBadAndDuplicateRoutes) {
  Router router;
  auto ok = [](const HttpRequest&) { return HttpResponse::Text(200, ""); };
  ASSERT_TRUE(router.Get("/a/{x}", ok));
  EXPECT_FALSE(router.Get("/a/{y}", ok));  // same shape
  EXPECT_TRUE(router.Post("/a/{y}", ok));
  EXPECT_FALSE(router.Get("a", ok));
  EXPECT_FALSE(router.Get("/a/{}", ok));
  EXPECT_FALSE(router.Get("/a/{x", ok));
  EXPECT_FALSE(router.Get("/a/x}", ok));
  EXPECT_FALSE(router.Get("/{x}/{x}", ok));
  EXPECT_FALSE(router.Add("G T", "/b", ok));
  EXPECT_FALSE(router.Add("GET", "/b", nullptr));
  EXPECT_EQ(router.size(), 2u);
}

TEST(RouterTest, HandlerErrorsAndExceptionsBecomeResponses) {
  Router router = TestRouter();
  HttpRequest req = MakeRequest("GET", "/missing-table");
  HttpResponse r = router.Handle(req);
  EXPECT_EQ(r.status, 404);
  auto error = nlohmann::json::parse(r.body)["error"];
  EXPECT_EQ(error["type"], "NoSuchTableException");
  EXPECT_EQ(error["message"], "table db.t does not exist");
  req = MakeRequest("GET", "/throw");
  r = router.Handle(req);
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("boom"), std::string::npos);
  EXPECT_EQ(r.headers.Get("content-type"), "application/json");
}

TEST(HttpResponseTest, JsonHelpers) {
  EXPECT_EQ(HttpResponse::Json(200, {{"a", 1}}).body, "{\"a\":1}");
  EXPECT_EQ(HttpResponse::Json(200, std::string("[1]")).body, "[1]");  // already serialized
  EXPECT_EQ(HttpResponse::Json(201, "{}").status, 201);
  EXPECT_EQ(HttpResponse::Json(200, nlohmann::json("\xff")).body,
            "\"\xef\xbf\xbd\"");  // never throws
  HttpResponse e = HttpResponse::FromError(Error{ErrorKind::kCommitFailed, "stale"});
  EXPECT_EQ(e.status, 409);
  EXPECT_EQ(nlohmann::json::parse(e.body),
            nlohmann::json::parse(
                R"({"error":{"message":"stale","type":"CommitFailedException","code":409}})"));
  HttpRequest bad;
  bad.body = "{nope";
  auto parsed = bad.JsonBody();
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().kind, ErrorKind::kInvalidArgument);
}

// ----- Server over sockets ---------------------------------------------------------------

TEST(HttpServerTest, RoutesOverLoopback) {
  auto server = StartTestServer();
  ASSERT_TRUE(server);
  Client c(server->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(Get("/api/runs/r%2042/logs?tail=10")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-type"), "application/json");
  EXPECT_FALSE(r->Header("date").empty());
  auto body = nlohmann::json::parse(r->body);
  EXPECT_EQ(body["id"], "r 42");
  EXPECT_EQ(body["tail"], "10");
  EXPECT_EQ(body["loopback"], true);
  EXPECT_TRUE(body["remote"].get<std::string>().starts_with("127.0.0.1:"));

  ASSERT_TRUE(c.Send(Get("/unknown")));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  ASSERT_TRUE(c.Send(Post("/hello", "x")));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->Header("allow"), "GET, HEAD");

  // HEAD: the GET's headers, no body; the next response on the connection is intact.
  ASSERT_TRUE(c.Send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  r = c.Read(/*head_request=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-length"), "5");
  ASSERT_TRUE(c.Send(Get("/hello")));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello");

  ASSERT_TRUE(c.Send(Get("/throw")));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  ASSERT_TRUE(c.Send(Get("/big")));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.size(), size_t{8} << 20);
}

TEST(HttpServerTest, PlainHandlerAndErrors) {
  HttpServerOptions options;
  options.access_log = nullptr;
  auto s = HttpServer::Start(
      "127.0.0.1:0",
      [](const HttpRequest& req) -> Result<HttpResponse> {
        if (req.path == "/fail") return MakeError(ErrorKind::kInvalidArgument, "bad input");
        return HttpResponse::Text(200, req.method + " " + req.target);
      },
      options);
  ASSERT_TRUE(s) << s.error().message;
  Client c((*s)->port());
  ASSERT_TRUE(c.Send(Get("/any?x")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /any?x");
  ASSERT_TRUE(c.Send(Get("/fail")));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(nlohmann::json::parse(r->body)["error"]["message"], "bad input");
}

TEST(HttpServerTest, KeepAliveAndConnectionClose) {
  auto server = StartTestServer();
  ASSERT_TRUE(server);
  Client c(server->port());
  for (int i = 0; i < 20; ++i) {
    std::string body = "request " + std::to_string(i);
    ASSERT_TRUE(c.Send(Post("/echo", body)));
    auto r = c.Read();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->body, body);
    EXPECT_EQ(r->Header("connection"), "");
  }
  ASSERT_TRUE(c.Send(Get("/hello", "Connection: close\r\n")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(c.WaitClosed());

  // HTTP/1.0: closes unless asked to keep alive.
  Client old(server->port());
  ASSERT_TRUE(old.Send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  r = old.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Header("connection"), "keep-alive");
  ASSERT_TRUE(old.Send("GET /hello HTTP/1.0\r\n\r\n"));
  r = old.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(old.WaitClosed());
}

TEST(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  auto server = StartTestServer();
  ASSERT_TRUE(server);
  Client c(server->port());
  std::string batch =
      Post("/echo", "one") + Get("/hello") + Post("/echo", "three") +
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfour\r\n0\r\n\r\n";
  ASSERT_TRUE(c.Send(batch));
  for (std::string expected : {"one", "hello", "three", "four"}) {
    auto r = c.Read();
    ASSERT_TRUE(r) << expected;
    EXPECT_EQ(r->body, expected);
  }
}

TEST(HttpServerTest, ChunkedBodyArrivingInPieces) {
  auto server = StartTestServer();
  ASSERT_TRUE(server);
  Client c(server->port());
  std::string raw = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    std::string piece = "chunk-" + std::to_string(i) + ";";
    expected += piece;
    char size[16];
    std::snprintf(size, sizeof size, "%zx", piece.size());
    raw += std::string(size) + "\r\n" + piece + "\r\n";
  }
  raw += "0\r\n\r\n";
  for (size_t at = 0; at < raw.size(); at += 7) {
    ASSERT_TRUE(c.Send(std::string_view(raw).substr(at, 7)));
    if (at % 70 == 0) std::this_thread::sleep_for(1ms);
  }
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, expected);
}

TEST(HttpServerTest, ExpectContinue) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  auto server = StartTestServer(options);
  ASSERT_TRUE(server);
  Client c(server->port());
  ASSERT_TRUE(c.Send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = c.Read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.Send("hello"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");

  // Too large: the final answer comes at once, without 100 Continue, and the body is not read.
  ASSERT_TRUE(c.Send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HttpServerTest, BodyTooLarge) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  auto server = StartTestServer(options);
  ASSERT_TRUE(server);
  {
    Client c(server->port());
    ASSERT_TRUE(c.Send(Post("/echo", std::string(1024, 'a'))));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    // The client sends the whole body anyway; the 413 still reaches it (lingering close).
    c.Send(Post("/echo", std::string(200000, 'a')));
    r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(nlohmann::json::parse(r->body)["error"]["code"], 413);
    EXPECT_TRUE(c.WaitClosed());
  }
  Client chunked(server->port());
  std::string raw = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) raw += "64\r\n" + std::string(100, 'b') + "\r\n";
  chunked.Send(raw);
  auto r = chunked.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST(HttpServerTest, HeadersTooLarge) {
  HttpServerOptions options;
  options.max_header_bytes = 2048;
  auto server = StartTestServer(options);
  ASSERT_TRUE(server);
  Client c(server->port());
  c.Send(Get("/hello", "X-Big: " + std::string(4096, 'h') + "\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c.WaitClosed());
  Client line(server->port());
  line.Send("GET /" + std::string(4096, 'p'));  // never finished: answered at the limit
  r = line.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 414);
}

TEST(HttpServerTest, GarbageGets400AndTheServerCarriesOn) {
  auto server = StartTestServer();
  ASSERT_TRUE(server);
  std::mt19937 rng(3);
  for (int i = 0; i < 30; ++i) {
    Client c(server->port());
    std::string junk;
    for (int j = 0; j < 200; ++j) junk.push_back(static_cast<char>(rng() % 256));
    junk[0] = '\x01';  // never a valid first byte
    c.Send(junk);
    auto r = c.Read();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->Header("connection"), "close");
    EXPECT_TRUE(c.WaitClosed());
  }
  Client bad_header(server->port());
  bad_header.Send("GET /hello HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n");
  auto r = bad_header.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(nlohmann::json::parse(r->body)["error"]["message"].get<std::string>().find("header"),
            std::string::npos);
  Client good(server->port());
  good.Send(Get("/hello"));
  r = good.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServerTest, SlowAndIdleClientsTimeOut) {
  HttpServerOptions options;
  options.read_timeout = 200ms;
  options.idle_timeout = 300ms;
  auto server = StartTestServer(options);
  ASSERT_TRUE(server);
  Client slow(server->port());
  auto start = std::chrono::steady_clock::now();
  slow.Send("GET /hello HTTP/1.1\r\nHo");
  std::this_thread::sleep_for(100ms);
  slow.Send("st: t\r\n");  // progress on the head does not extend its deadline
  auto r = slow.Read(false, 3s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(slow.WaitClosed());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);

  Client idle(server->port());
  idle.Send(Get("/hello"));
  ASSERT_TRUE(idle.Read());
  EXPECT_TRUE(idle.WaitClosed(3s));  // closed silently after idle_timeout

  Client stalled_body(server->port());
  stalled_body.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  r = stalled_body.Read(false, 3s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
}

TEST(HttpServerTest, ManyConcurrentConnections) {
  std::atomic<int> handled{0};
  Router router;
  ASSERT_TRUE(router.Post("/add/{n}", [&](const HttpRequest& req) {
    handled.fetch_add(1);
    return HttpResponse::Json(200, {{"n", req.PathParam("n")}, {"len", req.body.size()}});
  }));
  HttpServerOptions options;
  options.access_log = nullptr;
  auto server = HttpServer::Start("127.0.0.1:0", std::move(router), options);
  ASSERT_TRUE(server) << server.error().message;
  int port = (*server)->port();
  constexpr int kThreads = 64;
  constexpr int kRequests = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = std::make_unique<Client>(port);
      for (int i = 0; i < kRequests; ++i) {
        if (i % 10 == 9) client = std::make_unique<Client>(port);  // some fresh connections too
        std::string n = std::to_string(t) + "-" + std::to_string(i);
        std::string body(static_cast<size_t>(i * 37), 'z');
        if (!client->Send(Post("/add/" + n, body))) return;
        auto r = client->Read(false, 10s);
        if (!r || r->status != 200) return;
        auto j = nlohmann::json::parse(r->body);
        if (j["n"] == n && j["len"] == body.size()) ok.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kRequests);
  EXPECT_EQ(handled.load(), kThreads * kRequests);
}

TEST(HttpServerTest, MaxConnectionsQueuesTheRest) {
  HttpServerOptions options;
  options.max_connections = 1;
  auto server = StartTestServer(options);
  ASSERT_TRUE(server);
  auto first = std::make_unique<Client>(server->port());
  first->Send(Get("/hello"));
  ASSERT_TRUE(first->Read());
  Client second(server->port());  // connects (backlog) but is not served yet
  second.Send(Get("/hello"));
  EXPECT_TRUE(second.Silent(300ms));
  first.reset();
  auto r = second.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServerTest, StopFinishesRequestsInFlight) {
  std::mutex mu;
  std::condition_variable cv;
  int entered = 0;
  bool release = false;
  Router router;
  ASSERT_TRUE(router.Get("/slow", [&](const HttpRequest&) {
    std::unique_lock<std::mutex> lock(mu);
    ++entered;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return HttpResponse::Text(200, "finished");
  }));
  HttpServerOptions options;
  options.access_log = nullptr;
  auto server = HttpServer::Start("127.0.0.1:0", std::move(router), options);
  ASSERT_TRUE(server);
  int port = (*server)->port();
  Client a(port), b(port), idle(port);
  a.Send(Get("/slow"));
  b.Send(Get("/slow"));
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return entered == 2; }));
  }
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    (*server)->Stop();
    stopped = true;
  });
  EXPECT_TRUE(idle.WaitClosed(3s));  // idle connections go at once
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(stopped.load());  // waits for the handlers
  Client late(port);
  EXPECT_FALSE(late.connected() && late.Send(Get("/slow")) && late.Read(false, 500ms));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  for (Client* c : {&a, &b}) {
    auto r = c->Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "finished");
    EXPECT_EQ(r->Header("connection"), "close");
    EXPECT_TRUE(c->WaitClosed());
  }
  stopper.join();
  EXPECT_TRUE(stopped.load());
  (*server)->Stop();  // idempotent
}

TEST(HttpServerTest, AccessLogHookSeesNoQueryOrSecrets) {
  std::mutex mu;
  std::vector<std::string> lines;
  HttpServerOptions options;
  options.access_log = [&](const HttpAccessLogEntry& e) {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back(std::string(e.method) + " " + std::string(e.path) + " " +
                    std::to_string(e.status) + " " + std::to_string(e.response_body_bytes));
    EXPECT_GE(e.duration_us, 0);
  };
  auto server = HttpServer::Start("127.0.0.1:0", TestRouter(), options);
  ASSERT_TRUE(server);
  Client c((*server)->port());
  c.Send(Get("/hello?token=secret", "Authorization: Bearer secret\r\n"));
  ASSERT_TRUE(c.Read());
  Client bad((*server)->port());
  bad.Send("\x01\x02\r\n\r\n");
  ASSERT_TRUE(bad.Read());
  ASSERT_TRUE(bad.WaitClosed());
  (*server)->Stop();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "GET /hello 200 5");
  EXPECT_TRUE(lines[1].starts_with("- - 400")) << lines[1];
}

TEST(HttpServerTest, AddressErrors) {
  auto handler = [](const HttpRequest&) { return HttpResponse::Text(200, ""); };
  auto bad = HttpServer::Start("nohost", handler);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_FALSE(HttpServer::Start("127.0.0.1:99999", handler));
  EXPECT_FALSE(HttpServer::Start("127.0.0.1:8x", handler));
  auto first = HttpServer::Start("127.0.0.1:0", handler);
  ASSERT_TRUE(first);
  std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  EXPECT_EQ((*first)->address(), taken);
  auto again = HttpServer::Start(taken, handler);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kIOError);
  EXPECT_NE(again.error().message.find(taken), std::string::npos) << again.error().message;
  auto v6 = HttpServer::Start("[::1]:0", handler);
  if (v6) {  // hosts without IPv6 skip this
    EXPECT_TRUE((*v6)->address().starts_with("[::1]:"));
  }
}

}  // namespace
}  // namespace frazil::server
