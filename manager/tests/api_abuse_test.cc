// API abuse against the real Connect server on a unix socket, with the
// transactional VmManager and a SQLite store behind CreateVm: what a broken or
// hostile local client can send. Every request must end in a clear Connect
// error (or the connection closing at the deadline), the server must answer a
// normal call right afterwards, and the store must hold exactly the VMs whose
// CreateVm returned 200 (nothing half-applied, nothing programmed twice).
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/client.h"
#include "api/server.h"
#include "api/vm_manager.h"
#include "common/net.h"
#include "config/host_config.h"
#include "config/validate.h"
#include "store/store.h"
#include "vmprovisioner/v1/vm.pb.h"

namespace v6g::api {
namespace {

using vmprovisioner::v1::CreateVmRequest;
using vmprovisioner::v1::CreateVmResponse;
using namespace std::chrono_literals;

constexpr const char* kCreate = "/vmprovisioner.v1.VmService/CreateVm";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Records what is programmed; a tap named "tap-fail" fails midway (after
// "creating" it), so the manager has to roll back both store and host.
class RecordingHost final : public HostProgrammer {
 public:
  Status program_vm(const VmPlan& plan) override {
    std::lock_guard lock(mu_);
    for (const auto& p : plan.ports) {
      if (!programmed_.insert(p.ifname).second) ++double_programmed_;
      if (p.ifname == "tap-fail") return Status::error("cannot create tap " + p.ifname);
    }
    return {};
  }
  Status unprogram_vm(const VmPlan& plan) override {
    std::lock_guard lock(mu_);
    for (const auto& p : plan.ports) programmed_.erase(p.ifname);
    return {};
  }
  std::set<std::string> programmed() {
    std::lock_guard lock(mu_);
    return programmed_;
  }
  int double_programmed() {
    std::lock_guard lock(mu_);
    return double_programmed_;
  }

 private:
  std::mutex mu_;
  std::set<std::string> programmed_;
  int double_programmed_ = 0;
};

// A small CreateVm planner: the spec's validation, then the first NIC's
// tap/MAC/address as the VM's resources (the store's unique constraints are
// what must hold under concurrency).
std::optional<Error> plan_create(const CreateVmRequest& req, const config::HostConfig& host,
                                 VmPlan& plan) {
  const auto violations = config::validate_create_vm(req, host, config::ExistingState{});
  if (!violations.empty()) {
    Error e =
        make_error(Code::kInvalidArgument, violations[0].field + ": " + violations[0].message);
    e.details.push_back({violations[0].field, violations[0].validation_error, "", {}});
    return e;
  }
  const auto& nic = req.config().network(0);
  const auto mac = MacAddr::parse(nic.mac_address());
  std::string error;
  const auto addr = config::parse_address_with_prefix(nic.ipv6().address(), &error);
  if (!mac || !addr) return make_error(Code::kInvalidArgument, "network[0]: " + error);
  const std::string& id = req.vm_id();
  const std::string tap = nic.id();  // the tests put the tap name in the NIC id
  plan.vm = {id, req.config().tenant_id(), req.config().SerializeAsString(), "created", 0, 0};
  plan.allocations.push_back({store::Kind::kTap, tap, id});
  plan.allocations.push_back({store::Kind::kMac, mac->to_string(), id});
  plan.allocations.push_back({store::Kind::kIp6, addr->address.to_string(), id});
  plan.ports.push_back({tap, nic.bridge_name(), 100, mac->to_string(), id, 1, 0, 0});
  return std::nullopt;
}

class ApiAbuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/v6g-abuse-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string error;
    auto host = config::parse_host_config(read_file(V6G_TEST_DATA "/spec/host.json"), &error);
    ASSERT_TRUE(host) << error;
    host_config_ = std::move(*host);
    host_config_.tenant_allocations_per_hour = 0;
    std::string single = read_file(V6G_TEST_DATA "/spec/create_vm_single.json");
    ASSERT_FALSE(decode(Codec::kJson, single, template_));
    ASSERT_TRUE(store::Store::open(dir_ + "/state.db", store_));
    manager_ = std::make_unique<VmManager>(*store_, host_);
    options_.socket_path = dir_ + "/api.sock";
    options_.max_body_bytes = 256 * 1024;
    options_.read_timeout = 1s;
    options_.threads = 8;
    server_ = std::make_unique<Server>(options_);
    server_->handle<CreateVmRequest, CreateVmResponse>(
        kCreate, [this](const CallContext& ctx, const CreateVmRequest& req, CreateVmResponse& out) {
          VmPlan plan;
          auto failed = manager_->create(
              ctx, [&](store::Store&, VmPlan& p) { return plan_create(req, host_config_, p); },
              plan);
          if (!failed) out.set_vm_id(plan.vm.id);
          return failed;
        });
    auto s = server_->start();
    ASSERT_TRUE(s.ok()) << s.message();
  }
  void TearDown() override {
    server_.reset();
    manager_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The spec's single-NIC request as VM `n`: its own id, tap, MAC and address.
  CreateVmRequest request(int n, const std::string& tap = "") const {
    CreateVmRequest r = template_;
    r.set_vm_id("vm-" + std::to_string(n));
    auto* nic = r.mutable_config()->mutable_network(0);
    nic->set_id(tap.empty() ? "tap" + std::to_string(n) : tap);
    char mac[32];
    std::snprintf(mac, sizeof mac, "02:00:00:%02x:%02x:%02x", (n >> 16) & 0xff, (n >> 8) & 0xff,
                  n & 0xff);
    nic->set_mac_address(mac);
    char addr[64];
    std::snprintf(addr, sizeof addr, "2600:beef:1000:100::%x:%x/64", (n >> 16) + 1, n & 0xffff);
    nic->mutable_ipv6()->set_address(addr);
    return r;
  }
  std::string json_request(int n) const {
    std::string out;
    EXPECT_FALSE(encode(Codec::kJson, request(n), out));
    return out;
  }

  int connect_raw() const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", options_.socket_path.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  // Sends raw bytes, then reads until the server closes or `wait` passes.
  std::string raw_exchange(const std::string& bytes, std::chrono::milliseconds wait = 3000ms) {
    const int fd = connect_raw();
    EXPECT_GE(fd, 0);
    if (fd < 0) return {};
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server may hang up early (413 before the body)
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    std::string reply;
    const auto until = std::chrono::steady_clock::now() + wait;
    char buf[4096];
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      reply.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return reply;
  }

  // A normal CreateVm from a fresh connection works (the server is responsive).
  void expect_responsive(int n) {
    auto client = Client::unix_socket(options_.socket_path);
    const auto t0 = std::chrono::steady_clock::now();
    CreateVmResponse out;
    auto err = client->call(kCreate, request(n), out, Codec::kJson);
    ASSERT_FALSE(err) << err->message;
    EXPECT_EQ(out.vm_id(), "vm-" + std::to_string(n));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "slow answer after abuse";
  }

  // The store holds exactly `expected` VMs, each with its tap programmed, and
  // no allocation rows of VMs that don't exist.
  void expect_store_exactly(const std::set<std::string>& expected) {
    std::vector<store::VmRecord> vms;
    ASSERT_TRUE(manager_->list("", vms) == std::nullopt);
    std::set<std::string> ids;
    for (const auto& v : vms) ids.insert(v.id);
    EXPECT_EQ(ids, expected);
    std::set<std::string> taps;
    for (const auto& id : ids) {
      VmPlan plan;
      ASSERT_FALSE(manager_->get(id, plan)) << id;
      ASSERT_EQ(plan.ports.size(), 1u) << id;
      taps.insert(plan.ports[0].ifname);
      EXPECT_EQ(plan.allocations.size(), 3u) << id;
    }
    EXPECT_EQ(host_.programmed(), taps) << "host state differs from the store";
    EXPECT_EQ(host_.double_programmed(), 0);
  }

  std::string dir_;
  config::HostConfig host_config_;
  CreateVmRequest template_;
  std::unique_ptr<store::Store> store_;
  RecordingHost host_;
  std::unique_ptr<VmManager> manager_;
  ServerOptions options_;
  std::unique_ptr<Server> server_;
};

Error error_of(const RawResponse& r) { return parse_error(r.status, r.body); }

int status_of(const std::string& raw_reply) {
  int status = 0;
  if (std::sscanf(raw_reply.c_str(), "HTTP/1.1 %d", &status) != 1) return 0;
  return status;
}

TEST_F(ApiAbuseTest, OversizedBodiesAreRejectedBeforeTheHandler) {
  auto client = Client::unix_socket(options_.socket_path);
  // Valid JSON that is too big: the padding is inside a string field.
  CreateVmRequest big = request(1);
  big.mutable_config()->mutable_boot()->set_kernel_args(std::string(300 * 1024, 'x'));
  std::string body;
  ASSERT_FALSE(encode(Codec::kJson, big, body));
  auto r = client->post(kCreate, body, "application/json");
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(error_of(r).code, Code::kResourceExhausted);
  // A Content-Length lie far beyond the limit is refused without reading it.
  const auto t0 = std::chrono::steady_clock::now();
  const std::string reply = raw_exchange(std::string("POST ") + kCreate +
                                         " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                                         "\r\nContent-Length: 1000000000000\r\n\r\n{}");
  EXPECT_EQ(status_of(reply), 413) << reply;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  // A chunked body over the limit: no Content-Length to check up front, and
  // httplib 0.11 applies the payload limit to Content-Length bodies only, so
  // the server refuses chunked bodies before reading them (411), once.
  std::string chunked = std::string("POST ") + kCreate +
                        " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 80; ++i) chunked += "1000\r\n" + std::string(0x1000, ' ') + "\r\n";
  chunked += "0\r\n\r\n";
  const std::string chunked_reply = raw_exchange(chunked);
  EXPECT_EQ(status_of(chunked_reply), 411) << chunked_reply.substr(0, 200);
  EXPECT_EQ(chunked_reply.find("HTTP/1.1", 1), std::string::npos)
      << "the unread body was parsed as more requests: " << chunked_reply.substr(0, 400);
  EXPECT_NE(chunked_reply.find("\"code\":\"invalid_argument\""), std::string::npos);
  expect_responsive(2);
  expect_store_exactly({"vm-2"});
}

TEST_F(ApiAbuseTest, MalformedBodiesAreInvalidArgument) {
  auto client = Client::unix_socket(options_.socket_path);
  const std::string good = json_request(1);
  std::vector<std::string> bodies = {
      "{",
      "null",
      "[]",
      "\"vm\"",
      good.substr(0, good.size() / 2),                                 // truncated
      good + "}",                                                      // trailing garbage
      R"({"vm_id": 5})",                                               // wrong type
      R"({"vm_id": "a", "vm_id": "b"})",                               // duplicate key
      R"({"vmId": "x", "config": {"surprise": 1}})",                   // unknown nested field
      R"({"config": {"cpu": {"vcpu_count": 99999999999999999999}}})",  // overflow
      std::string("{\"vm_id\": \"\xff\xfe\"}"),                        // invalid UTF-8
      std::string(200 * 1024, '['),                                    // deep nesting
      std::string(20000, '{'),
  };
  // Deep nesting inside a repeated message field the schema does have.
  std::string nested = "{\"config\":{\"network\":";
  for (int i = 0; i < 5000; ++i) nested += "[{\"ipv6\":{\"security\":";
  bodies.push_back(nested);
  for (const auto& body : bodies) {
    auto r = client->post(kCreate, body, "application/json");
    EXPECT_EQ(r.status, 400) << body.substr(0, 80);
    const Error e = error_of(r);
    EXPECT_EQ(e.code, Code::kInvalidArgument) << body.substr(0, 80);
    EXPECT_FALSE(e.message.empty());
  }
  // Proto: garbage, a truncated message, a wrong wire type, an unknown field.
  std::string proto;
  ASSERT_FALSE(encode(Codec::kProto, request(1), proto));
  for (const std::string& body :
       {std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11),
        proto.substr(0, proto.size() - 3), std::string("\x0d\x01\x02\x03\x04", 5),
        proto + std::string("\xf8\x3f\x01", 3)}) {
    auto r = client->post(kCreate, body, "application/proto");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_of(r).code, Code::kInvalidArgument);
  }
  expect_responsive(2);
  expect_store_exactly({"vm-2"});
}

TEST_F(ApiAbuseTest, WrongContentTypesAre415WithAcceptPost) {
  const std::string good = json_request(1);
  for (const std::string type :
       {"text/plain", "application/grpc", "application/connect+json", "application/xml",
        "application/json-seq", "multipart/form-data; boundary=x", ""}) {
    const std::string header = type.empty() ? "" : "Content-Type: " + type + "\r\n";
    const std::string reply =
        raw_exchange(std::string("POST ") + kCreate + " HTTP/1.1\r\nHost: x\r\n" + header +
                     "Content-Length: " + std::to_string(good.size()) + "\r\n\r\n" + good);
    EXPECT_EQ(status_of(reply), 415) << type;
    EXPECT_NE(reply.find("Accept-Post: application/json, application/proto"), std::string::npos)
        << type;
    EXPECT_NE(reply.find("\"code\":\"unimplemented\""), std::string::npos) << reply;
    EXPECT_EQ(reply.find("HTTP/1.1", 1), std::string::npos) << "more than one answer: " << reply;
  }
  expect_store_exactly({});
}

TEST_F(ApiAbuseTest, UnknownProceduresMethodsAndNonHttpBytes) {
  auto client = Client::unix_socket(options_.socket_path);
  for (const char* path :
       {"/vmprovisioner.v1.VmService/Nope", "/vmprovisioner.v1.VmService/CreateVm/x", "/",
        "/vmprovisioner.v1.VmService/createvm", "/../../etc/passwd"}) {
    auto r = client->post(path, json_request(1), "application/json");
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(error_of(r).code, Code::kUnimplemented) << path;
  }
  const std::string get =
      raw_exchange(std::string("GET ") + kCreate + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(get), 405) << get;
  // Not HTTP at all, a TLS ClientHello, a header line of 100 KiB, NUL bytes:
  // the server answers 400 or hangs up, and nothing waits for a deadline.
  for (const std::string& junk : std::vector<std::string>{
           std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), std::string(64, '\0'),
           "HELLO\r\n\r\n",
           std::string("POST ") + kCreate + " HTTP/1.1\r\nX: " + std::string(100 * 1024, 'a') +
               "\r\n\r\n",
           std::string("POST ") + kCreate + " HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
           std::string("POST ") + kCreate +
               " HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 0\r\n\r\n"}) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string reply = raw_exchange(junk);
    const int status = status_of(reply);
    EXPECT_TRUE(status == 0 || (status >= 400 && status < 500)) << reply.substr(0, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  }
  expect_responsive(2);
  expect_store_exactly({"vm-2"});
}

TEST_F(ApiAbuseTest, StalledBodiesTimeOutAndDoNotStarveOtherCallers) {
  // As many stalled requests as the server has workers, each promising a body
  // it never finishes sending.
  std::vector<int> stalled;
  const std::string head = std::string("POST ") + kCreate +
                           " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           "Content-Length: 1000\r\n\r\n{\"vm_id\":";
  for (int i = 0; i < options_.threads; ++i) {
    const int fd = connect_raw();
    ASSERT_GE(fd, 0);
    ASSERT_GT(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), 0);
    stalled.push_back(fd);
  }
  // A normal caller is served at the latest once the stalled ones hit their
  // deadline (2 x read timeout), not never.
  const auto t0 = std::chrono::steady_clock::now();
  auto client = Client::unix_socket(options_.socket_path);
  CreateVmResponse out;
  auto err = client->call(kCreate, request(1), out, Codec::kJson);
  EXPECT_FALSE(err) << err->message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  // Every stalled connection got closed (with or without a 4xx first).
  for (int fd : stalled) {
    std::string got;
    char buf[1024];
    const auto until = std::chrono::steady_clock::now() + 5s;
    bool closed = false;
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        closed = true;
        break;
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
    EXPECT_TRUE(closed) << "stalled request still open after 5 s";
    const int status = status_of(got);
    EXPECT_TRUE(status == 0 || (status >= 400 && status < 500)) << got;
    ::close(fd);
  }
  expect_responsive(2);
  expect_store_exactly({"vm-1", "vm-2"});
}

TEST_F(ApiAbuseTest, PipelinedRequestsWithAMalformedOneInTheMiddle) {
  const std::string good1 = json_request(1), good2 = json_request(2);
  auto post = [](const std::string& body, const std::string& type) {
    return std::string("POST ") + kCreate + " HTTP/1.1\r\nHost: x\r\nContent-Type: " + type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  const std::string reply =
      raw_exchange(post(good1, "application/json") + post("{\"vm_id\":", "application/json") +
                   post(good2, "application/json"));
  // Three answers in order: 200, 400, 200.
  std::vector<int> statuses;
  for (std::size_t at = reply.find("HTTP/1.1 "); at != std::string::npos;
       at = reply.find("HTTP/1.1 ", at + 1))
    statuses.push_back(std::atoi(reply.c_str() + at + 9));
  EXPECT_EQ(statuses, (std::vector<int>{200, 400, 200})) << reply;
  expect_store_exactly({"vm-1", "vm-2"});
}

TEST_F(ApiAbuseTest, ThousandsOfConcurrentCreatesOnOneSocket) {
  // 2000 CreateVm from 32 client threads (each its own connection, as separate
  // processes would): 1800 distinct VMs, 100 duplicates of VM 7 (one wins), 100
  // that fail in host programming midway (tap-fail), all at once.
  constexpr int kThreads = 32, kPerThread = 63;
  std::atomic<int> ok{0}, already{0}, programming_failed{0}, other{0};
  std::mutex mu;
  std::set<std::string> created;
  std::vector<std::string> unexpected;
  std::vector<std::thread> threads;
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = Client::unix_socket(options_.socket_path);
      for (int i = 0; i < kPerThread; ++i) {
        const int n = t * kPerThread + i + 10;
        CreateVmRequest req;
        if (i % 20 == 0)
          req = request(7);
        else if (i % 20 == 1)
          req = request(n, "tap-fail");
        else
          req = request(n);
        CreateVmResponse out;
        auto err = client->call(kCreate, req, out, i % 2 ? Codec::kJson : Codec::kProto);
        if (!err) {
          ++ok;
          std::lock_guard lock(mu);
          created.insert(out.vm_id());
        } else if (err->code == Code::kAlreadyExists) {
          ++already;
        } else if (req.config().network(0).id() == "tap-fail") {
          ++programming_failed;
        } else {
          ++other;
          std::lock_guard lock(mu);
          unexpected.push_back(std::string(code_name(err->code)) + ": " + err->message);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  const int total = kThreads * kPerThread;
  std::printf(
      "[ abuse ] %d concurrent CreateVm in %lld ms: %d ok, %d already_exists, %d failed "
      "programming\n",
      total,
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()),
      ok.load(), already.load(), programming_failed.load());
  EXPECT_EQ(other.load(), 0) << (unexpected.empty() ? "" : unexpected[0]);
  const int dup_sends = kThreads * ((kPerThread + 19) / 20);
  const int fail_sends = kThreads * ((kPerThread + 18) / 20);
  EXPECT_EQ(already.load(), dup_sends - 1);
  EXPECT_EQ(programming_failed.load(), fail_sends);
  EXPECT_EQ(ok.load(), total - dup_sends - fail_sends + 1);
  EXPECT_TRUE(created.contains("vm-7"));
  expect_store_exactly(created);
  expect_responsive(5);
}

}  // namespace
}  // namespace v6g::api
