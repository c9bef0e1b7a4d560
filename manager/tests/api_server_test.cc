// The Connect server through real HTTP on a unix socket in a temp dir (and
// TCP on loopback), with the project's own client and raw POSTs.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "api/client.h"
#include "api/server.h"
#include "v6guard/v1/events.pb.h"

namespace v6g::api {
namespace {

namespace pb = google::protobuf;
using Event = v6guard::v1::SecurityEvent;

constexpr const char* kEcho = "/v6guard.test.Echo/Echo";
constexpr const char* kFail = "/v6guard.test.Echo/Fail";

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/v6g-api-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);
    options_.socket_path = dir_ + "/api.sock";
    options_.max_body_bytes = 64 * 1024;
    options_.threads = 4;
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void start() {
    server_ = std::make_unique<Server>(options_);
    server_->handle<Event, Event>(kEcho, [](const CallContext& ctx, const Event& in, Event& out) {
      out = in;
      out.set_interface_id(ctx.who);
      return std::optional<Error>();
    });
    server_->handle<Event, Event>(kFail, [](const CallContext&, const Event& in, Event&) {
      // The spec's three error examples.
      Error e;
      if (in.vm_id() == "invalid") {
        e = make_error(Code::kInvalidArgument,
                       "config.network[0].ipv6.address: 2001:db8::10 is a documentation address");
        e.details.push_back(
            {"config.network[0].ipv6.address",
             "documentation_prefix",
             "",
             {{"allocated_blocks", std::vector<std::string>{"2600:beef:1000::/44"}}}});
      } else if (in.vm_id() == "denied") {
        e = make_error(Code::kPermissionDenied, "tenant t1 may not allocate from pool pool-b");
        e.details.push_back({"config.network[0].ipv6.pool",
                             "pool_not_authorized",
                             "",
                             {{"allowed_pools", std::vector<std::string>{"pool-a"}}}});
      } else {
        e = make_error(Code::kResourceExhausted, "tenant t1 allocation rate exceeded");
        e.details.push_back(
            {"tenant_id", "allocation_rate_limited", "", {{"retry_after", std::int64_t{2}}}});
      }
      return std::optional<Error>(e);
    });
    auto s = server_->start();
    ASSERT_TRUE(s.ok()) << s.message();
    client_ = Client::unix_socket(options_.socket_path);
  }

  static pb::Struct json(const std::string& body) {
    pb::Struct s;
    EXPECT_TRUE(pb::util::JsonStringToMessage(body, &s).ok()) << body;
    return s;
  }

  std::string dir_;
  ServerOptions options_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(ApiServerTest, SocketIsGroupOnlyByDefault) {
  start();
  struct stat st {};
  ASSERT_EQ(::stat(options_.socket_path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(ApiServerTest, ProtoCodecRoundTripAndPeerIdentity) {
  start();
  Event in, out;
  in.set_vm_id("vm-1");
  in.mutable_details()->set_packet_count(7);
  auto err = client_->call(kEcho, in, out, Codec::kProto);
  ASSERT_FALSE(err) << err->message;
  EXPECT_EQ(out.vm_id(), "vm-1");
  EXPECT_EQ(out.details().packet_count(), 7u);
  EXPECT_EQ(out.interface_id(), "uid:" + std::to_string(::geteuid()));
}

TEST_F(ApiServerTest, JsonCodecOverRawHttp) {
  start();
  auto r = client_->post(kEcho, R"({"vm_id":"vm-2","details":{"packet_count":"5"}})",
                         "application/json");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  const auto body = json(r.body);
  EXPECT_EQ(body.fields().at("vm_id").string_value(), "vm-2");
}

TEST_F(ApiServerTest, UnknownContentTypeIs415) {
  start();
  auto r = client_->post(kEcho, "vm_id=x", "application/x-www-form-urlencoded");
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(parse_error(r.status, r.body).code, Code::kUnimplemented);
}

// The 415 is decided before the body is read; the server must still take the
// body in before closing, or the peer's write fails on a reset connection and
// it never sees the answer (it did, now and then, with bodies of some KiB).
TEST_F(ApiServerTest, RefusalBeforeTheBodyStillReachesThePeer) {
  start();
  const std::string body(48 * 1024, 'x');
  int answered = 0;
  for (int i = 0; i < 40; ++i) {
    auto r = client_->post(kEcho, body, "text/plain");
    if (r.status == 415) ++answered;
  }
  EXPECT_EQ(answered, 40);
}

TEST_F(ApiServerTest, MalformedJsonAndUnknownFieldsAreInvalidArgument) {
  start();
  for (const char* body : {R"({"vm_id":)", R"({"vm_id":"a","surprise":true})", "[1,2]"}) {
    auto r = client_->post(kEcho, body, "application/json");
    EXPECT_EQ(r.status, 400) << body;
    const Error e = parse_error(r.status, r.body);
    EXPECT_EQ(e.code, Code::kInvalidArgument) << body;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST_F(ApiServerTest, OversizedBodyIsResourceExhausted) {
  start();
  const std::string big = R"({"vm_id":")" + std::string(100 * 1024, 'x') + R"("})";
  auto r = client_->post(kEcho, big, "application/json");
  EXPECT_EQ(r.status, 413);
  const Error e = parse_error(r.status, r.body);
  EXPECT_EQ(e.code, Code::kResourceExhausted);
  EXPECT_EQ(e.message, "request body too large");
  // The server is still fine afterwards (fresh connection).
  auto fresh = Client::unix_socket(options_.socket_path);
  EXPECT_EQ(fresh->post(kEcho, "{}", "application/json").status, 200);
}

TEST_F(ApiServerTest, UnknownProcedureIsNotFound) {
  start();
  auto r = client_->post("/vmprovisioner.v1.VmService/Nope", "{}", "application/json");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(parse_error(r.status, r.body).code, Code::kUnimplemented);
}

TEST_F(ApiServerTest, SpecErrorExamplesKeepCodesStatusesAndDetails) {
  start();
  struct Case {
    const char* vm;
    int status;
    Code code;
    const char* context_key;
  };
  for (const auto& c : {Case{"invalid", 400, Code::kInvalidArgument, "allocated_blocks"},
                        Case{"denied", 403, Code::kPermissionDenied, "allowed_pools"},
                        Case{"exhausted", 429, Code::kResourceExhausted, "retry_after"}}) {
    auto r = client_->post(kFail, std::string(R"({"vm_id":")") + c.vm + "\"}", "application/json");
    EXPECT_EQ(r.status, c.status) << c.vm;
    const auto body = json(r.body);
    EXPECT_EQ(body.fields().at("code").string_value(), code_name(c.code));
    const auto& detail = body.fields().at("details").list_value().values(0).struct_value().fields();
    EXPECT_EQ(detail.at("type").string_value(), "google.protobuf.Struct");
    const auto& debug = detail.at("debug").struct_value().fields();
    EXPECT_TRUE(debug.contains("field")) << r.body;
    EXPECT_TRUE(debug.at("context").struct_value().fields().contains(c.context_key)) << r.body;
    // The client surfaces the same error.
    Event in, out;
    in.set_vm_id(c.vm);
    auto err = client_->call(kFail, in, out);
    ASSERT_TRUE(err);
    EXPECT_EQ(err->code, c.code);
    ASSERT_EQ(err->details.size(), 1u);
    EXPECT_FALSE(err->details[0].field.empty());
  }
}

// Runs one call as an unprivileged uid; returns the HTTP status it saw.
int status_as_nobody(const std::string& socket) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(100);
    auto c = Client::unix_socket(socket);
    auto r = c->post(kEcho, "{}", "application/json");
    ::_exit(r.status == 403 ? 3 : r.status == 200 ? 2 : 1);
  }
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  const int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  return code == 3 ? 403 : code == 2 ? 200 : -code;
}

TEST_F(ApiServerTest, PeerCredentialsDecideAccess) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch uid";
  options_.socket_mode = 0666;  // let the file mode through; SO_PEERCRED must still refuse
  start();
  EXPECT_EQ(status_as_nobody(options_.socket_path), 403);
  server_.reset();
  options_.allowed_uids = {65534};
  start();
  EXPECT_EQ(status_as_nobody(options_.socket_path), 200);
}

TEST_F(ApiServerTest, SlowPeerIsCutOffAtTheRequestDeadline) {
  options_.read_timeout = std::chrono::seconds(1);  // whole request: 2 x read timeout
  start();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", options_.socket_path.c_str());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string start_line = "POST /v6guard.test.Echo/Echo HTTP/1.1\r\nX-Slow: ";
  ASSERT_GT(::send(fd, start_line.data(), start_line.size(), MSG_NOSIGNAL), 0);
  // One byte every 300 ms: never idle long enough for a per-read timeout.
  const auto t0 = std::chrono::steady_clock::now();
  bool cut = false;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(6)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    char c = 'a';
    if (::send(fd, &c, 1, MSG_NOSIGNAL) <= 0) {
      cut = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) {  // an error response or EOF: the server gave up on us
      cut = true;
      break;
    }
  }
  ::close(fd);
  EXPECT_TRUE(cut) << "server kept a trickling peer for 6 s";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
}

// The server buffers a response and sends it whole, but what it wrote must
// reach the peer before it waits for more input: a client that asks for
// "100 Continue" gets it before sending the body, then the answer.
TEST_F(ApiServerTest, ContinueIsSentBeforeTheBodyIsRead) {
  start();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", options_.socket_path.c_str());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  Event in;
  in.set_vm_id("vm-7");
  const std::string body = in.SerializeAsString();
  const std::string head = std::string("POST ") + kEcho +
                           " HTTP/1.1\r\nHost: x\r\nContent-Type: application/proto\r\n"
                           "Expect: 100-continue\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  const auto receive = [fd](int timeout_ms) {
    std::string got;
    char buf[4096];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, timeout_ms) > 0) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
      timeout_ms = 200;  // the rest of what was sent at once
    }
    return got;
  };
  EXPECT_EQ(receive(2000), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_EQ(::send(fd, body.data(), body.size(), MSG_NOSIGNAL), static_cast<ssize_t>(body.size()));
  const std::string answer = receive(2000);
  ::close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  Event out;
  const auto end_of_head = answer.find("\r\n\r\n");
  ASSERT_NE(end_of_head, std::string::npos);
  ASSERT_TRUE(out.ParseFromString(answer.substr(end_of_head + 4)));
  EXPECT_EQ(out.vm_id(), "vm-7");
}

// Keep-alive calls through the project's client (one buffered send per
// request, responses read through its own stream): many calls on one
// connection, large bodies both ways, all intact.
TEST_F(ApiServerTest, ManyKeepAliveCallsWithLargeBodiesOnOneConnection) {
  start();
  for (int i = 0; i < 200; ++i) {
    Event in, out;
    in.set_vm_id("vm-" + std::to_string(i));
    in.set_event_type(std::string(static_cast<std::size_t>(i) * 150, 'm'));  // up to ~30 KB
    auto error = client_->call(kEcho, in, out);
    ASSERT_FALSE(error) << error->message;
    EXPECT_EQ(out.vm_id(), in.vm_id());
    EXPECT_EQ(out.event_type(), in.event_type());
  }
}

TEST_F(ApiServerTest, TcpNeedsBearerToken) {
  options_.tcp_port = 0;
  options_.tokens = {{"s3cret-token", "ci"}};
  start();
  ASSERT_GT(server_->tcp_port(), 0);
  Event in, out;
  auto anonymous = Client::tcp("127.0.0.1", server_->tcp_port(), "");
  auto err = anonymous->call(kEcho, in, out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, Code::kUnauthenticated);
  auto wrong = Client::tcp("127.0.0.1", server_->tcp_port(), "s3cret-tokem");
  err = wrong->call(kEcho, in, out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, Code::kUnauthenticated);
  auto good = Client::tcp("127.0.0.1", server_->tcp_port(), "s3cret-token");
  err = good->call(kEcho, in, out, Codec::kJson);
  ASSERT_FALSE(err) << err->message;
  EXPECT_EQ(out.interface_id(), "token:ci");
}

TEST_F(ApiServerTest, StopIsPromptWithIdleKeepAliveClientsAndRemovesSocket) {
  start();
  Event in, out;
  ASSERT_FALSE(client_->call(kEcho, in, out));  // leaves a keep-alive connection open
  const auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_FALSE(std::filesystem::exists(options_.socket_path));
  auto err = client_->call(kEcho, in, out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, Code::kUnavailable);
}

TEST_F(ApiServerTest, CreatesAMissingSocketDirectoryButNeverReplacesAFile) {
  options_.socket_path = dir_ + "/run/v6guard/api.sock";
  start();
  EXPECT_TRUE(std::filesystem::is_socket(options_.socket_path));
  server_.reset();
  // A regular file where the socket should be is an operator mistake to
  // report, not something to delete.
  std::ofstream(options_.socket_path) << "precious";
  Server other(options_);
  EXPECT_FALSE(other.start().ok());
  std::ifstream in(options_.socket_path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST_F(ApiServerTest, RestartOverStaleSocketFile) {
  // A crashed daemon leaves its socket file behind (bound, nobody listening).
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", options_.socket_path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
  ASSERT_TRUE(std::filesystem::is_socket(options_.socket_path));
  start();
  Event in, out;
  EXPECT_FALSE(client_->call(kEcho, in, out));
}

}  // namespace
}  // namespace v6g::api
