// GuardService status calls end to end: store + datapath + event source ->
// Connect server on a unix socket -> v6guardctl output.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "api/datapath_programmer.h"
#include "api/guard_status.h"
#include "cli/cli.h"

namespace v6g::api {
namespace {

class FakeDatapath final : public datapath::Datapath {
 public:
  std::string_view name() const override { return "nft"; }
  Status add_port(const datapath::PortSpec&) override { return {}; }
  Status remove_port(std::uint32_t) override { return {}; }
  Status add_bindings(std::span<const datapath::Binding> b) override {
    live.insert(live.end(), b.begin(), b.end());
    return {};
  }
  Status remove_bindings(std::span<const datapath::Binding>) override { return {}; }
  Status list_bindings(std::vector<datapath::Binding>& out) override {
    out = live;
    return {};
  }
  Status counters(std::vector<datapath::PortCounters>& out) override {
    out = {
        {10, "tap-a", {{reason(V6G_R_ACCEPT_BINDING), 1200}, {reason(V6G_R_RA_FROM_VM_PORT), 7}}}};
    return {};
  }
  Status flush() override { return {}; }
  std::vector<datapath::Binding> live;
};

class NoHost final : public HostProgrammer {
 public:
  Status program_vm(const VmPlan&) override { return {}; }
  Status unprogram_vm(const VmPlan&) override { return {}; }
};

class GuardStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/v6g-gs-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(store::Store::open(dir_ + "/state.db", store_).ok());
    manager_ = std::make_unique<VmManager>(*store_, host_);
    VmPlan plan;
    ASSERT_FALSE(manager_->create(
        {"uid:0", true, 0, 0},
        [](store::Store&, VmPlan& p) -> std::optional<Error> {
          p.vm = {"vm-a", "acme", "", "{}", "", 0, 0};
          p.ports = {{"tap-a", "br-acme", 100, "02:00:00:00:00:0a", "vm-a", V6G_ROLE_VM,
                      V6G_FAIL_CLOSED, V6G_PORT_F_MAC_CHECK | V6G_PORT_F_BLOCK_RH}};
          p.bindings = {{"tap-a", 100, "02:00:00:00:00:0a", "2600:beef:1000::a", "reachable",
                         "static", "vm-a", 0},
                        {"tap-a", 100, "02:00:00:00:00:0a", "2600:beef:1000::b", "reachable",
                         "static", "vm-a", 0}};
          return std::nullopt;
        },
        plan));
    // Only the first binding made it into the kernel.
    datapath_.live.push_back({10, "tap-a", 100, *MacAddr::parse("02:00:00:00:00:0a"),
                              *Ip6Addr::parse("2600:beef:1000::a")});
    ServerOptions options;
    options.socket_path = dir_ + "/api.sock";
    options.threads = 2;
    server_ = std::make_unique<Server>(options);
    GuardStatusSources sources;
    sources.vms = manager_.get();
    sources.datapath = &datapath_;
    sources.events = [](std::uint64_t after, std::size_t,
                        std::vector<v6guard::v1::SecurityEvent>& out) {
      if (after < 1) {
        v6guard::v1::SecurityEvent ev;
        ev.set_event_type("ra_guard");
        ev.set_severity("high");
        ev.set_violation_type("ra_from_vm_port");
        ev.set_vm_id("vm-a");
        ev.set_interface_id("tap-a");
        out.push_back(ev);
      }
      return std::uint64_t{1};
    };
    sources.status = [] {
      return std::vector<std::pair<std::string, std::string>>{{"version", "0.1.0"}};
    };
    register_guard_status(*server_, sources);
    ASSERT_TRUE(server_->start().ok());
  }
  void TearDown() override {
    server_.reset();
    manager_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string ctl(std::vector<std::string> args, int expect_rc = 0) {
    const std::string socket = dir_ + "/api.sock";
    std::vector<const char*> argv{"v6guardctl", "--socket", socket.c_str()};
    for (const auto& a : args) argv.push_back(a.c_str());
    std::ostringstream out, err;
    EXPECT_EQ(cli::run(static_cast<int>(argv.size()), argv.data(), out, err), expect_rc)
        << err.str();
    return out.str();
  }

  std::string dir_;
  NoHost host_;
  FakeDatapath datapath_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<VmManager> manager_;
  std::unique_ptr<Server> server_;
};

TEST_F(GuardStatusTest, PortsTable) {
  EXPECT_EQ(
      ctl({"ports"}),
      "IFNAME  VM_ID  BRIDGE   FAIL_MODE  FLAGS               MAC                ROLE  VLAN\n"
      "tap-a   vm-a   br-acme  closed     mac_check,block_rh  02:00:00:00:00:0a  vm    100\n");
}

TEST_F(GuardStatusTest, BindingsShowWhetherTheKernelHasThem) {
  EXPECT_EQ(
      ctl({"bindings"}),
      "IFNAME  VM_ID  IN_KERNEL  IP6                MAC                SOURCE  STATE      VLAN\n"
      "tap-a   vm-a   yes        2600:beef:1000::a  02:00:00:00:00:0a  static  reachable  100\n"
      "tap-a   vm-a   NO         2600:beef:1000::b  02:00:00:00:00:0a  static  reachable  100\n");
}

TEST_F(GuardStatusTest, CountersByReasonWithVerdict) {
  const std::string out = ctl({"--json", "counters"});
  EXPECT_NE(out.find(R"("reason":"ra_from_vm_port")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("verdict":"drop")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("packets":1200)"), std::string::npos) << out;
}

TEST_F(GuardStatusTest, EventsAndStatus) {
  EXPECT_EQ(ctl({"events", "--follow", "--interval-ms", "1", "--max-polls", "2"}),
            "- high ra_guard ra_from_vm_port vm=vm-a if=tap-a\n");
  EXPECT_EQ(ctl({"status"}), "datapath: nft\nversion: 0.1.0\nvms: 1\n");
}

}  // namespace
}  // namespace v6g::api
