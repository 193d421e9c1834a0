#include "frazil/server/metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace frazil::server {
namespace {

std::string Get(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  (void)!::send(fd, request.data(), request.size(), 0);
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(MetricsServerTest, ServesTheRenderedMetricsAndNothingElse) {
  int calls = 0;
  auto s = MetricsServer::Start("127.0.0.1:0", [&] {
    ++calls;
    return std::string("frazil_up 1\n");
  });
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_GT((*s)->port(), 0);
  std::string ok =
      Get((*s)->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(ok.starts_with("HTTP/1.1 200 OK")) << ok;
  EXPECT_NE(ok.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_TRUE(ok.ends_with("\r\n\r\nfrazil_up 1\n")) << ok;
  EXPECT_TRUE(Get((*s)->port(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                  .starts_with("HTTP/1.1 404"));
  EXPECT_TRUE(Get((*s)->port(), "POST /metrics HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 405"));
  EXPECT_TRUE(Get((*s)->port(), "\x01\x02 /pot HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 400"));
  EXPECT_EQ(calls, 1);
}

TEST(MetricsServerTest, RouteOnASharedRouter) {
  Router router;
  ASSERT_TRUE(AddMetricsRoute(router, [] { return std::string("frazil_up 1\n"); }));
  EXPECT_FALSE(AddMetricsRoute(router, [] { return std::string(); }));
  HttpRequest req;
  req.method = "GET";
  req.path = "/metrics";
  req.segments = {"metrics"};
  HttpResponse r = router.Handle(req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "frazil_up 1\n");
}

TEST(MetricsServerTest, BadAddressesAreClearErrors) {
  auto render = [] { return std::string(); };
  auto no_port = MetricsServer::Start("localhost", render);
  ASSERT_FALSE(no_port);
  EXPECT_EQ(no_port.error().kind, ErrorKind::kInvalidArgument);
  auto bad_host = MetricsServer::Start("not-an-ip:9000", render);
  ASSERT_FALSE(bad_host);
  EXPECT_NE(bad_host.error().message.find("not-an-ip"), std::string::npos);
  auto taken = MetricsServer::Start("127.0.0.1:0", render);
  ASSERT_TRUE(taken);
  auto again = MetricsServer::Start("127.0.0.1:" + std::to_string((*taken)->port()), render);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kIOError);
}

}  // namespace
}  // namespace frazil::server
