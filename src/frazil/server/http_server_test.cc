#include "frazil/server/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
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

// Test certificates, made once per test binary with the OpenSSL API: a self-signed server
// certificate for "localhost" / 127.0.0.1, a key that does not belong to it, a client CA and
// a client certificate it signs, and a file that is not PEM.
struct TestPki {
  std::string dir;
  std::string cert, key, other_key, client_ca, client_cert, client_key, not_pem;
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

PkeyPtr NewKey() { return PkeyPtr(EVP_EC_gen("P-256"), EVP_PKEY_free); }

X509Ptr NewCert(EVP_PKEY* key, const char* cn, bool ca, X509* issuer, EVP_PKEY* issuer_key) {
  static long serial = 1;
  X509Ptr x(X509_new(), X509_free);
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400);
  X509_set_pubkey(x.get(), key);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(x.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
  std::vector<std::pair<int, const char*>> exts = {
      {NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE"}};
  if (!ca) exts.push_back({NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"});
  for (auto [nid, value] : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  return x;
}

void WritePem(const std::string& path, EVP_PKEY* key, X509* cert) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  if (key != nullptr) PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  if (cert != nullptr) PEM_write_X509(f, cert);
  std::fclose(f);
}

const TestPki& Pki() {
  static const TestPki pki = [] {
    TestPki p;
    char tmpl[] = "/tmp/frazil_tls_test_XXXXXX";
    p.dir = ::mkdtemp(tmpl);
    p.cert = p.dir + "/cert.pem";
    p.key = p.dir + "/key.pem";
    p.other_key = p.dir + "/other_key.pem";
    p.client_ca = p.dir + "/client_ca.pem";
    p.client_cert = p.dir + "/client_cert.pem";
    p.client_key = p.dir + "/client_key.pem";
    p.not_pem = p.dir + "/not_pem.pem";
    PkeyPtr key = NewKey(), other = NewKey(), ca_key = NewKey(), client_key = NewKey();
    X509Ptr cert = NewCert(key.get(), "localhost", false, nullptr, nullptr);
    X509Ptr ca = NewCert(ca_key.get(), "frazil test client CA", true, nullptr, nullptr);
    X509Ptr client = NewCert(client_key.get(), "client", false, ca.get(), ca_key.get());
    WritePem(p.cert, nullptr, cert.get());
    WritePem(p.key, key.get(), nullptr);
    WritePem(p.other_key, other.get(), nullptr);
    WritePem(p.client_ca, nullptr, ca.get());
    WritePem(p.client_cert, nullptr, client.get());
    WritePem(p.client_key, client_key.get(), nullptr);
    std::FILE* f = std::fopen(p.not_pem.c_str(), "w");
    std::fputs("this is not a certificate\n", f);
    std::fclose(f);
    return p;
  }();
  return pki;
}

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// A client context that trusts only the test certificate and checks the name "localhost".
SslCtxPtr MakeClientCtx(int max_version = 0, bool client_cert = false) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_load_verify_locations(ctx.get(), Pki().cert.c_str(), nullptr);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (max_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  if (client_cert) {
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx.get(), Pki().client_cert.c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), Pki().client_key.c_str(), SSL_FILETYPE_PEM),
              1);
  }
  return ctx;
}

SSL_CTX* ClientTls() {
  static SslCtxPtr ctx = MakeClientCtx();
  return ctx.get();
}

// A small client over a real loopback socket, plain or TLS. TLS runs over memory BIOs that
// this class pumps: its reads honour timeouts and its writes raise no SIGPIPE. The
// handshake starts with the first Send (or Handshake / Queue).
class Client {
 public:
  explicit Client(int port, SSL_CTX* tls = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (tls != nullptr) {
      ssl_ = SSL_new(tls);
      rbio_ = BIO_new(BIO_s_mem());
      wbio_ = BIO_new(BIO_s_mem());
      SSL_set_bio(ssl_, rbio_, wbio_);
      SSL_set_connect_state(ssl_);
      SSL_set_tlsext_host_name(ssl_, "localhost");
      SSL_set1_host(ssl_, "localhost");
    }
  }
  ~Client() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  // TLS: the server sent close_notify before closing.
  bool close_notify() const { return close_notify_; }
  // TLS: the negotiated protocol ("TLSv1.3"), after the handshake.
  std::string protocol() const { return hs_done_ ? SSL_get_version(ssl_) : ""; }

  // Completes the TLS handshake; false if it fails or takes longer than `timeout`.
  bool Handshake(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (!Advance()) return false;
      if (hs_done_) return true;
      if (ReceiveRaw(deadline) != Got::kData) return false;
    }
  }

  // Sends `data` (over TLS after completing the handshake).
  bool Send(std::string_view data) {
    if (ssl_ == nullptr) return SendRaw(data);
    if (!Handshake()) return false;
    pending_.append(data);
    return Advance();
  }
  // TLS: sends `data` once the handshake completes, driven by later reads; does not wait
  // for the server (which may not have accepted the connection yet).
  bool Queue(std::string_view data) {
    if (ssl_ == nullptr) return SendRaw(data);
    pending_.append(data);
    return Advance();
  }
  // Bytes on the socket as they are, bypassing TLS.
  bool SendRaw(std::string_view data) {
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

  // True if the server closes the connection (EOF, reset, TLS failure) within `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      Got got = FillUntil(deadline);
      if (got == Got::kClosed) return true;
      if (got == Got::kTimeout) return false;
    }
  }

  // True if nothing arrives within `timeout` and the connection stays open.
  bool Silent(std::chrono::milliseconds timeout) {
    return FillUntil(std::chrono::steady_clock::now() + timeout) == Got::kTimeout && buf_.empty();
  }

 private:
  enum class Got { kData, kTimeout, kClosed };

  bool Fill(std::chrono::milliseconds timeout) {
    return FillUntil(std::chrono::steady_clock::now() + timeout) == Got::kData;
  }

  // Appends received (decrypted) bytes to buf_.
  Got FillUntil(std::chrono::steady_clock::time_point deadline) {
    if (ssl_ == nullptr) return ReceiveRaw(deadline);
    while (true) {
      if (!Advance()) return Got::kClosed;
      if (hs_done_) {
        char c[65536];
        // OpenSSL's error queue is per thread: a stale entry would make SSL_get_error lie.
        ERR_clear_error();
        int n = SSL_read(ssl_, c, sizeof c);
        if (n > 0) {
          buf_.append(c, static_cast<size_t>(n));
          return Got::kData;
        }
        int err = SSL_get_error(ssl_, n);
        if (err == SSL_ERROR_ZERO_RETURN) close_notify_ = true;
        if (err != SSL_ERROR_WANT_READ) return Got::kClosed;
        if (!FlushOut()) return Got::kClosed;
      }
      Got got = ReceiveRaw(deadline);
      if (got == Got::kTimeout) return got;
      // kClosed: the memory BIO now reports EOF; OpenSSL still hands out what it holds.
    }
  }

  // Plain: appends to buf_. TLS: feeds OpenSSL.
  Got ReceiveRaw(std::chrono::steady_clock::time_point deadline) {
    if (raw_eof_) return Got::kClosed;
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0))) <= 0) {
      return Got::kTimeout;
    }
    char c[65536];
    ssize_t n = ::recv(fd_, c, sizeof c, 0);
    if (n <= 0) {
      raw_eof_ = true;
      if (rbio_ != nullptr) BIO_set_mem_eof_return(rbio_, 0);
      return Got::kClosed;
    }
    if (ssl_ == nullptr) {
      buf_.append(c, static_cast<size_t>(n));
    } else {
      BIO_write(rbio_, c, static_cast<int>(n));
    }
    return Got::kData;
  }

  // Moves the handshake along and, once it is done, encrypts and sends pending_.
  bool Advance() {
    if (failed_) return false;
    if (!hs_done_) {
      ERR_clear_error();
      int r = SSL_do_handshake(ssl_);
      if (!FlushOut()) return false;
      if (r == 1) {
        hs_done_ = true;
      } else {
        if (SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ) failed_ = true;
        ERR_clear_error();
        return !failed_;
      }
    }
    if (!pending_.empty()) {
      ERR_clear_error();
      bool ok = SSL_write(ssl_, pending_.data(), static_cast<int>(pending_.size())) > 0;
      pending_.clear();
      if (!ok) {
        ERR_clear_error();
        failed_ = true;
        return false;
      }
    }
    return FlushOut();
  }

  bool FlushOut() {
    char c[65536];
    int n;
    while ((n = BIO_read(wbio_, c, sizeof c)) > 0) {
      if (!SendRaw(std::string_view(c, static_cast<size_t>(n)))) return false;
    }
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  bool hs_done_ = false;
  bool failed_ = false;
  bool raw_eof_ = false;
  bool close_notify_ = false;
  std::string pending_;  // plaintext waiting for the handshake
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
                          {"tls", req.tls},
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

// The server tests run twice: over plain HTTP and over TLS, where everything must behave the
// same.
class HttpServerTest : public testing::TestWithParam<bool> {
 protected:
  bool tls() const { return GetParam(); }
  SSL_CTX* client_tls() const { return tls() ? ClientTls() : nullptr; }
  HttpServerOptions Opts(HttpServerOptions options = {}) const {
    if (tls()) {
      options.tls_cert_file = Pki().cert;
      options.tls_key_file = Pki().key;
    }
    return options;
  }
};

INSTANTIATE_TEST_SUITE_P(PlainAndTls, HttpServerTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? "Tls" : "Plain";
                         });

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

TEST_P(HttpServerTest, RoutesOverLoopback) {
  auto server = StartTestServer(Opts());
  ASSERT_TRUE(server);
  Client c(server->port(), client_tls());
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
  EXPECT_EQ(body["tls"], tls());
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

TEST_P(HttpServerTest, PlainHandlerAndErrors) {
  HttpServerOptions options;
  options.access_log = nullptr;
  auto s = HttpServer::Start(
      "127.0.0.1:0",
      [](const HttpRequest& req) -> Result<HttpResponse> {
        if (req.path == "/fail") return MakeError(ErrorKind::kInvalidArgument, "bad input");
        return HttpResponse::Text(200, req.method + " " + req.target);
      },
      Opts(options));
  ASSERT_TRUE(s) << s.error().message;
  Client c((*s)->port(), client_tls());
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

TEST_P(HttpServerTest, KeepAliveAndConnectionClose) {
  auto server = StartTestServer(Opts());
  ASSERT_TRUE(server);
  Client c(server->port(), client_tls());
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
  EXPECT_EQ(c.close_notify(), tls());

  // HTTP/1.0: closes unless asked to keep alive.
  Client old(server->port(), client_tls());
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

TEST_P(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  auto server = StartTestServer(Opts());
  ASSERT_TRUE(server);
  Client c(server->port(), client_tls());
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

TEST_P(HttpServerTest, ChunkedBodyArrivingInPieces) {
  auto server = StartTestServer(Opts());
  ASSERT_TRUE(server);
  Client c(server->port(), client_tls());
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

TEST_P(HttpServerTest, ExpectContinue) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  auto server = StartTestServer(Opts(options));
  ASSERT_TRUE(server);
  Client c(server->port(), client_tls());
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

TEST_P(HttpServerTest, BodyTooLarge) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  auto server = StartTestServer(Opts(options));
  ASSERT_TRUE(server);
  {
    Client c(server->port(), client_tls());
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
  Client chunked(server->port(), client_tls());
  std::string raw = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) raw += "64\r\n" + std::string(100, 'b') + "\r\n";
  chunked.Send(raw);
  auto r = chunked.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_P(HttpServerTest, HeadersTooLarge) {
  HttpServerOptions options;
  options.max_header_bytes = 2048;
  auto server = StartTestServer(Opts(options));
  ASSERT_TRUE(server);
  Client c(server->port(), client_tls());
  c.Send(Get("/hello", "X-Big: " + std::string(4096, 'h') + "\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c.WaitClosed());
  Client line(server->port(), client_tls());
  line.Send("GET /" + std::string(4096, 'p'));  // never finished: answered at the limit
  r = line.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 414);
}

TEST_P(HttpServerTest, SlowAndIdleClientsTimeOut) {
  HttpServerOptions options;
  options.read_timeout = 200ms;
  options.idle_timeout = 300ms;
  auto server = StartTestServer(Opts(options));
  ASSERT_TRUE(server);
  Client slow(server->port(), client_tls());
  auto start = std::chrono::steady_clock::now();
  slow.Send("GET /hello HTTP/1.1\r\nHo");
  std::this_thread::sleep_for(100ms);
  slow.Send("st: t\r\n");  // progress on the head does not extend its deadline
  auto r = slow.Read(false, 3s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(slow.WaitClosed());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);

  Client idle(server->port(), client_tls());
  idle.Send(Get("/hello"));
  ASSERT_TRUE(idle.Read());
  EXPECT_TRUE(idle.WaitClosed(3s));  // closed silently after idle_timeout

  Client stalled_body(server->port(), client_tls());
  stalled_body.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  r = stalled_body.Read(false, 3s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
}

TEST_P(HttpServerTest, ManyConcurrentConnections) {
  std::atomic<int> handled{0};
  Router router;
  ASSERT_TRUE(router.Post("/add/{n}", [&](const HttpRequest& req) {
    handled.fetch_add(1);
    return HttpResponse::Json(200, {{"n", req.PathParam("n")}, {"len", req.body.size()}});
  }));
  HttpServerOptions options;
  options.access_log = nullptr;
  auto server = HttpServer::Start("127.0.0.1:0", std::move(router), Opts(options));
  ASSERT_TRUE(server) << server.error().message;
  int port = (*server)->port();
  constexpr int kThreads = 64;
  constexpr int kRequests = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = std::make_unique<Client>(port, client_tls());
      for (int i = 0; i < kRequests; ++i) {
        // some fresh connections too
        if (i % 10 == 9) client = std::make_unique<Client>(port, client_tls());
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

TEST_P(HttpServerTest, MaxConnectionsQueuesTheRest) {
  HttpServerOptions options;
  options.max_connections = 1;
  auto server = StartTestServer(Opts(options));
  ASSERT_TRUE(server);
  auto first = std::make_unique<Client>(server->port(), client_tls());
  first->Send(Get("/hello"));
  ASSERT_TRUE(first->Read());
  Client second(server->port(), client_tls());  // connects (backlog) but is not served yet
  second.Queue(Get("/hello"));
  EXPECT_TRUE(second.Silent(300ms));
  first.reset();
  auto r = second.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_P(HttpServerTest, StopFinishesRequestsInFlight) {
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
  auto server = HttpServer::Start("127.0.0.1:0", std::move(router), Opts(options));
  ASSERT_TRUE(server);
  int port = (*server)->port();
  Client a(port, client_tls()), b(port, client_tls()), idle(port, client_tls());
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
  Client late(port, client_tls());
  EXPECT_FALSE(late.connected() && late.Send(Get("/slow")) && late.Read(false, 500ms));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  for (Client* c : {&a, &b}) {
    auto r = c->Read();
    if (!r) stopper.join();  // not left joinable by the ASSERT
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

TEST(HttpServerPlainTest, GarbageGets400AndTheServerCarriesOn) {
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

TEST(HttpServerPlainTest, AccessLogHookSeesNoQueryOrSecrets) {
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

TEST(HttpServerPlainTest, AddressErrors) {
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

// ----- TLS only ---------------------------------------------------------------------------

std::unique_ptr<HttpServer> StartTlsServer(HttpServerOptions options = {}) {
  options.tls_cert_file = Pki().cert;
  options.tls_key_file = Pki().key;
  return StartTestServer(std::move(options));
}

TEST(HttpsTest, ServesRequestsAndSaysWhichProtocol) {
  auto server = StartTlsServer();
  ASSERT_TRUE(server);
  Client c(server->port(), ClientTls());
  ASSERT_TRUE(c.Handshake());
  EXPECT_EQ(c.protocol(), "TLSv1.3");
  ASSERT_TRUE(c.Send(Get("/api/runs/7/logs")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(nlohmann::json::parse(r->body)["tls"], true);
  // TLS 1.2 clients too (the default floor).
  SslCtxPtr tls12 = MakeClientCtx(TLS1_2_VERSION);
  Client old(server->port(), tls12.get());
  ASSERT_TRUE(old.Handshake());
  EXPECT_EQ(old.protocol(), "TLSv1.2");
  ASSERT_TRUE(old.Send(Post("/echo", "over 1.2")));
  r = old.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "over 1.2");
}

TEST(HttpsTest, MinimumVersionTls13RefusesTls12) {
  HttpServerOptions options;
  options.tls_min_version = TlsVersion::kTls13;
  auto server = StartTlsServer(options);
  ASSERT_TRUE(server);
  SslCtxPtr tls12 = MakeClientCtx(TLS1_2_VERSION);
  Client old(server->port(), tls12.get());
  EXPECT_FALSE(old.Handshake());
  Client c(server->port(), ClientTls());
  ASSERT_TRUE(c.Send(Get("/hello")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello");
}

TEST(HttpsTest, LargeChunkedBodyAndLargeResponse) {
  auto server = StartTlsServer();
  ASSERT_TRUE(server);
  Client c(server->port(), ClientTls());
  std::string raw = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string expected;
  std::mt19937 rng(7);
  for (int i = 0; i < 64; ++i) {  // 4 MiB in 64 KiB chunks
    std::string piece(size_t{64} << 10, static_cast<char>('a' + rng() % 26));
    expected += piece;
    char size[16];
    std::snprintf(size, sizeof size, "%zx", piece.size());
    raw += std::string(size) + "\r\n" + piece + "\r\n";
  }
  raw += "0\r\n\r\n";
  ASSERT_TRUE(c.Send(raw));
  auto r = c.Read(false, 10s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), expected.size());
  EXPECT_TRUE(r->body == expected);
  // The connection is still good after 8 MiB out (many partial TLS writes).
  ASSERT_TRUE(c.Send(Get("/big") + Get("/hello")));
  r = c.Read(false, 10s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.size(), size_t{8} << 20);
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello");
}

TEST(HttpsTest, StalledHandshakeIsClosedAfterTheReadTimeout) {
  HttpServerOptions options;
  options.read_timeout = 300ms;
  options.idle_timeout = 10s;
  auto server = StartTlsServer(options);
  ASSERT_TRUE(server);
  auto start = std::chrono::steady_clock::now();
  Client silent(server->port());  // TCP only, never a ClientHello
  Client partial(server->port());
  ASSERT_TRUE(
      partial.SendRaw(std::string("\x16\x03\x01\x02\x00\x01\x00", 7)));  // a truncated hello
  Client done(server->port(), ClientTls());  // completes the handshake, then idles
  ASSERT_TRUE(done.Handshake());
  EXPECT_TRUE(silent.WaitClosed(3s));
  EXPECT_TRUE(partial.WaitClosed(3s));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 2s);
  // After the handshake the idle timeout applies, not the read timeout.
  EXPECT_TRUE(done.Silent(300ms));
  ASSERT_TRUE(done.Send(Get("/hello")));
  auto r = done.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpsTest, GarbageInsteadOfAClientHelloIsClosedAtOnce) {
  HttpServerOptions options;
  options.read_timeout = 10s;  // closing must not wait for it
  auto server = StartTlsServer(options);
  ASSERT_TRUE(server);
  std::mt19937 rng(5);
  for (int i = 0; i < 20; ++i) {
    Client c(server->port());
    std::string junk;
    for (int j = 0; j < 300; ++j) junk.push_back(static_cast<char>(rng() % 256));
    // Half look like a handshake record (type 22, version 3.1) with a garbage body.
    junk[0] = i % 2 == 0 ? '\x16' : '\x01';
    if (i % 2 == 0) junk.replace(1, 4, std::string("\x03\x01\x01\x00", 4));
    c.SendRaw(junk);
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.WaitClosed(2s)) << i;
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  }
  Client good(server->port(), ClientTls());
  ASSERT_TRUE(good.Send(Get("/hello")));
  auto r = good.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpsTest, PlainHttpToTheTlsPortGets400InTheClear) {
  std::mutex mu;
  std::vector<int> statuses;
  HttpServerOptions options;
  options.tls_cert_file = Pki().cert;
  options.tls_key_file = Pki().key;
  options.access_log = [&](const HttpAccessLogEntry& e) {
    std::lock_guard<std::mutex> lock(mu);
    statuses.push_back(e.status);
  };
  auto server = HttpServer::Start("127.0.0.1:0", TestRouter(), options);
  ASSERT_TRUE(server);
  Client c((*server)->port());
  ASSERT_TRUE(c.Send(Post("/echo", "not encrypted")));
  auto r = c.Read(false, 2s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_NE(r->body.find("HTTPS"), std::string::npos) << r->body;
  EXPECT_TRUE(c.WaitClosed());
  Client good((*server)->port(), ClientTls());
  ASSERT_TRUE(good.Send(Get("/hello")));
  ASSERT_TRUE(good.Read());
  (*server)->Stop();
  EXPECT_EQ(statuses, (std::vector<int>{400, 200}));
}

TEST(HttpsTest, MutualTlsNeedsAClientCertificate) {
  HttpServerOptions options;
  options.tls_client_ca_file = Pki().client_ca;
  auto server = StartTlsServer(options);
  ASSERT_TRUE(server);
  // TLS 1.3 finishes the client's side of the handshake before the server checks: the
  // refusal arrives as an alert in place of the response.
  Client anonymous(server->port(), ClientTls());
  anonymous.Send(Get("/hello"));
  EXPECT_FALSE(anonymous.Read(false, 2s));
  SslCtxPtr with_cert = MakeClientCtx(0, /*client_cert=*/true);
  Client c(server->port(), with_cert.get());
  ASSERT_TRUE(c.Send(Get("/hello")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpsTest, StartRejectsUnusableCertificatesAndKeys) {
  auto handler = [](const HttpRequest&) { return HttpResponse::Text(200, ""); };
  auto start = [&](std::string cert, std::string key, std::string ca = "") {
    HttpServerOptions options;
    options.tls_cert_file = std::move(cert);
    options.tls_key_file = std::move(key);
    options.tls_client_ca_file = std::move(ca);
    return HttpServer::Start("127.0.0.1:0", handler, options);
  };
  const TestPki& p = Pki();
  std::string missing = p.dir + "/missing.pem";
  struct Case {
    std::string cert, key, ca;
    ErrorKind kind;
    std::vector<std::string> named;  // in the message
  };
  std::vector<Case> cases = {
      {missing, p.key, "", ErrorKind::kIOError, {missing}},
      {p.cert, missing, "", ErrorKind::kIOError, {missing}},
      {p.cert, p.key, missing, ErrorKind::kIOError, {missing}},
      {p.not_pem, p.key, "", ErrorKind::kInvalidArgument, {p.not_pem}},
      {p.cert, p.not_pem, "", ErrorKind::kInvalidArgument, {p.not_pem}},
      {p.cert, p.cert, "", ErrorKind::kInvalidArgument, {p.cert}},  // a certificate as key
      {p.cert, p.other_key, "", ErrorKind::kInvalidArgument, {p.other_key, p.cert}},
      {p.cert, p.key, p.not_pem, ErrorKind::kInvalidArgument, {p.not_pem}},
      {p.cert, "", "", ErrorKind::kInvalidArgument, {"tls_key_file"}},
      {"", p.key, "", ErrorKind::kInvalidArgument, {"tls_cert_file"}},
  };
  for (const Case& c : cases) {
    auto s = start(c.cert, c.key, c.ca);
    ASSERT_FALSE(s) << c.cert << " " << c.key;
    EXPECT_EQ(s.error().kind, c.kind) << s.error().message;
    for (const std::string& name : c.named) {
      EXPECT_NE(s.error().message.find(name), std::string::npos) << s.error().message;
    }
    EXPECT_EQ(s.error().message.find("PRIVATE KEY"), std::string::npos) << s.error().message;
  }
  EXPECT_TRUE(start(p.cert, p.key));
}

TEST(HttpsTest, CurlInterop) {
  if (::access("/usr/bin/curl", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/curl";
  auto server = StartTlsServer();
  ASSERT_TRUE(server);
  std::string url = "https://localhost:" + std::to_string(server->port());
  std::string cacert = " --cacert " + Pki().cert;
  std::string cmd = "/usr/bin/curl -sS --max-time 5" + cacert + " -d posted " + url + "/echo" +
                    " --next" + cacert + " " + url + "/hello 2>&1";
  std::FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) out += buf;
  EXPECT_EQ(::pclose(pipe), 0) << out;
  EXPECT_EQ(out, "postedhello");  // two requests on one kept-alive connection
}

}  // namespace
}  // namespace frazil::server
