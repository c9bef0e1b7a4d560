// VmService through real HTTP on a unix socket (temp dir), a real SQLite
// file and a recording host: the spec's JSON examples, error shapes and
// details, pools, rate limits, delete, list, restart recovery. The rules
// themselves are covered one by one in config_validate_test; this is the
// wiring from the wire to the store and the host.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "api/client.h"
#include "api/server.h"
#include "api/vm_manager.h"
#include "api/vm_service.h"
#include "common/reason.h"
#include "config/host_config.h"

namespace v6g::api {
namespace {

namespace pb = google::protobuf;
namespace vmp = vmprovisioner::v1;
constexpr const char* kCreate = "/vmprovisioner.v1.VmService/CreateVm";
constexpr const char* kDelete = "/vmprovisioner.v1.VmService/DeleteVm";
constexpr const char* kGet = "/vmprovisioner.v1.VmService/GetVmInfo";
constexpr const char* kList = "/vmprovisioner.v1.VmService/ListVms";

std::string read(const std::string& name) {
  std::ifstream in(std::string(V6G_TEST_DATA) + "/spec/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

vmp::CreateVmRequest spec_single(const std::string& vm_id) {
  vmp::CreateVmRequest req;
  EXPECT_TRUE(pb::util::JsonStringToMessage(read("create_vm_single.json"), &req).ok());
  req.set_vm_id(vm_id);
  return req;
}

// The single-interface example with its address left to a pool.
vmp::CreateVmRequest pool_request(const std::string& vm_id, const std::string& tenant,
                                  const std::string& pool = "") {
  auto req = spec_single(vm_id);
  req.mutable_config()->set_tenant_id(tenant);
  auto& nic = *req.mutable_config()->mutable_network(0);
  nic.clear_mac_address();
  nic.set_bridge_name("br-" + tenant.substr(0, 12));
  nic.set_vlan_id("200");
  nic.mutable_ipv6()->clear_address();
  nic.mutable_ipv6()->set_gateway("fe80::1");
  nic.mutable_ipv6()->set_pool(pool);
  return req;
}

class RecordingHost final : public HostProgrammer {
 public:
  Status program_vm(const VmPlan& plan) override {
    std::lock_guard lock(mu);
    for (const auto& p : plan.ports) {
      if (p.ifname == fail_tap) return Status::error("cannot create tap " + p.ifname);
    }
    ++programs[plan.vm.id];
    for (const auto& p : plan.ports) taps[p.ifname] = plan.vm.id;
    for (const auto& b : plan.bindings) bindings.insert(b.ifname + " " + b.mac + " " + b.ip6);
    return {};
  }
  Status unprogram_vm(const VmPlan& plan) override {
    std::lock_guard lock(mu);
    for (const auto& p : plan.ports) taps.erase(p.ifname);
    for (const auto& b : plan.bindings) bindings.erase(b.ifname + " " + b.mac + " " + b.ip6);
    return {};
  }
  std::mutex mu;
  std::string fail_tap;
  std::map<std::string, int> programs;  // vm -> program_vm calls
  std::map<std::string, std::string> taps;
  std::set<std::string> bindings;
};

class VmServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/v6g-vmsvc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string error;
    auto parsed = config::parse_host_config(read("host.json"), &error);
    ASSERT_TRUE(parsed) << error;
    host_config_ = *parsed;
  }
  void TearDown() override {
    stop();
    std::filesystem::remove_all(dir_);
  }

  void start() {
    ASSERT_TRUE(store::Store::open(dir_ + "/state.db", store_).ok());
    manager_ = std::make_unique<VmManager>(*store_, host_);
    service_ = std::make_unique<VmService>(*manager_, host_config_, [this] { return now_; });
    ASSERT_FALSE(service_->load());
    ServerOptions options;
    options.socket_path = dir_ + "/api.sock";
    server_ = std::make_unique<Server>(options);
    service_->register_on(*server_);
    ASSERT_TRUE(server_->start().ok());
    client_ = Client::unix_socket(options.socket_path);
  }
  void stop() {
    client_.reset();
    if (server_) server_->stop();
    server_.reset();
    service_.reset();
    manager_.reset();
    store_.reset();
  }

  std::optional<Error> create(const vmp::CreateVmRequest& req, vmp::CreateVmResponse* out = nullptr,
                              Codec codec = Codec::kProto) {
    vmp::CreateVmResponse resp;
    auto e = client_->call(kCreate, req, resp, codec);
    if (out) *out = resp;
    return e;
  }

  template <typename Fn>
  auto store(Fn&& fn) {
    return manager_->with_store(std::forward<Fn>(fn));
  }

  std::string dir_;
  config::HostConfig host_config_;
  std::int64_t now_ = 1'000'000'000'000;
  RecordingHost host_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<VmManager> manager_;
  std::unique_ptr<VmService> service_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

const ErrorDetail* detail(const Error& e, const std::string& field) {
  for (const auto& d : e.details) {
    if (d.field == field) return &d;
  }
  return nullptr;
}
const ContextValue* context(const ErrorDetail& d, const std::string& key) {
  for (const auto& [k, v] : d.context) {
    if (k == key) return &v;
  }
  return nullptr;
}

TEST_F(VmServiceTest, SpecSingleInterfaceExampleAcceptedAsJsonOverTheSocket) {
  start();
  auto body = read("create_vm_single.json");
  const auto raw = client_->post(kCreate, body, "application/json");
  ASSERT_EQ(raw.status, 200) << raw.body;
  vmp::CreateVmResponse resp;
  ASSERT_TRUE(pb::util::JsonStringToMessage(raw.body, &resp).ok()) << raw.body;
  // No vm_id in the example: generated. No tap: generated, IFNAMSIZ-safe.
  EXPECT_TRUE(resp.vm_id().starts_with("vm-")) << resp.vm_id();
  EXPECT_EQ(resp.state(), vmp::VM_STATE_CREATED);
  const auto& nic = resp.config().network(0);
  EXPECT_EQ(nic.mac_address(), "AA:FC:00:00:00:01");
  EXPECT_TRUE(nic.tap_device().starts_with("v6g"));
  EXPECT_EQ(nic.tap_device().size(), 15u);
  // Persisted and programmed: the port, its static binding, the VLAN claim.
  EXPECT_EQ(host_.taps.at(nic.tap_device()), resp.vm_id());
  EXPECT_TRUE(
      host_.bindings.contains(nic.tap_device() + " aa:fc:00:00:00:01 2600:beef:1000:100::50"));
  std::vector<store::PortRecord> ports;
  ASSERT_TRUE(store([&](store::Store& s) { return s.list_ports(ports); }).ok());
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0].bridge, "br-tenant-a");
  EXPECT_EQ(ports[0].vlan, 100);
  EXPECT_EQ(ports[0].flags, V6G_PORT_F_MAC_CHECK | V6G_PORT_F_BLOCK_HBH | V6G_PORT_F_BLOCK_RH |
                                V6G_PORT_F_BLOCK_FRAG | V6G_PORT_F_BLOCK_DSTOPT | V6G_PORT_F_DPI);
  std::vector<store::VlanClaim> vlans;
  ASSERT_TRUE(store([&](store::Store& s) { return s.list_vlans(vlans); }).ok());
  ASSERT_EQ(vlans.size(), 1u);
  EXPECT_EQ(vlans[0].tenant_id, "customer-123");

  // The same example again: its static address (and MAC) are now taken.
  const auto again = client_->post(kCreate, body, "application/json");
  EXPECT_EQ(again.status, 409) << again.body;
  const Error e = parse_error(again.status, again.body);
  EXPECT_EQ(e.code, Code::kAlreadyExists);
  ASSERT_NE(detail(e, "config.network[0].ipv6.address"), nullptr) << again.body;
  EXPECT_EQ(detail(e, "config.network[0].ipv6.address")->validation_error, "address_in_use");
  ASSERT_NE(detail(e, "config.network[0].mac_address"), nullptr) << again.body;
}

TEST_F(VmServiceTest, SpecSingleInterfaceExampleNeedsItsReservedVlanGranted) {
  host_config_.tenant_vlan_grants.clear();
  start();
  const auto raw = client_->post(kCreate, read("create_vm_single.json"), "application/json");
  EXPECT_EQ(raw.status, 403) << raw.body;
  const Error e = parse_error(raw.status, raw.body);
  EXPECT_EQ(e.code, Code::kPermissionDenied);
  ASSERT_NE(detail(e, "config.network[0].vlan_id"), nullptr);
  EXPECT_EQ(detail(e, "config.network[0].vlan_id")->validation_error,
            "vlan_reserved_for_management");
  EXPECT_TRUE(host_.taps.empty());
}

TEST_F(VmServiceTest, SpecMultiInterfaceExampleRejectedAtTheFieldWithAllocatedBlocks) {
  start();
  const auto raw = client_->post(kCreate, read("create_vm_multi.json"), "application/json");
  EXPECT_EQ(raw.status, 400) << raw.body;
  EXPECT_NE(raw.body.find("\"code\":\"invalid_argument\""), std::string::npos) << raw.body;
  const Error e = parse_error(raw.status, raw.body);
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_EQ(e.message, "invalid IPv6 address '2600:BEEF:1000:mgmt::100/64': invalid character 'm'");
  const ErrorDetail* d = detail(e, "config.network[0].ipv6.address");
  ASSERT_NE(d, nullptr) << raw.body;
  EXPECT_EQ(d->validation_error, "invalid_address");
  const ContextValue* blocks = context(*d, "allocated_blocks");
  ASSERT_NE(blocks, nullptr);
  EXPECT_EQ(std::get<std::vector<std::string>>(*blocks),
            std::vector<std::string>{"2600:beef:1000::/44"});
  // Every violation is reported, not only the headline one: the firewall
  // rule with the same bad prefix, and the management VLAN (which alone
  // would be permission_denied; a malformed request is answered as such).
  EXPECT_NE(detail(e, "config.network[0].security_policy.ingress_rules[0]"), nullptr);
  ASSERT_NE(detail(e, "config.network[0].vlan_id"), nullptr);
  EXPECT_EQ(detail(e, "config.network[0].vlan_id")->validation_error,
            "vlan_reserved_for_management");
  std::vector<store::VmRecord> vms;
  ASSERT_FALSE(manager_->list({}, vms));
  EXPECT_TRUE(vms.empty());
}

TEST_F(VmServiceTest, PoolAllocationGeneratesAddressMacAndTap) {
  start();
  vmp::CreateVmResponse a, b;
  ASSERT_FALSE(create(pool_request("vm-a", "tenant-1", "standard-pool"), &a));
  ASSERT_FALSE(create(pool_request("vm-b", "tenant-1", "standard-pool"), &b, Codec::kJson));
  EXPECT_EQ(a.config().network(0).ipv6().address(), "2600:beef:1001::2/64");
  EXPECT_EQ(b.config().network(0).ipv6().address(), "2600:beef:1001::3/64");
  const auto mac_a = MacAddr::parse(a.config().network(0).mac_address());
  const auto mac_b = MacAddr::parse(b.config().network(0).mac_address());
  ASSERT_TRUE(mac_a && mac_b);
  EXPECT_NE(*mac_a, *mac_b);
  EXPECT_EQ(mac_a->bytes[0] & 0x03, 0x02);  // locally administered unicast
  EXPECT_NE(a.config().network(0).tap_device(), b.config().network(0).tap_device());
  // Both VMs of the tenant share its bridge and VLAN.
  std::vector<store::VlanClaim> vlans;
  ASSERT_TRUE(store([&](store::Store& s) { return s.list_vlans(vlans); }).ok());
  EXPECT_EQ(vlans.size(), 2u);
}

TEST_F(VmServiceTest, UnauthorizedPoolIsPermissionDeniedWithAllowedPools) {
  start();
  const auto e = create(pool_request("vm-p", "customer-123", "premium-pool"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, Code::kPermissionDenied);
  const ErrorDetail* d = detail(*e, "config.network[0].ipv6.pool");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->validation_error, "pool_not_authorized");
  EXPECT_EQ(std::get<std::vector<std::string>>(*context(*d, "allowed_pools")),
            (std::vector<std::string>{"standard-pool", "basic-pool"}));
  EXPECT_EQ(std::get<std::string>(*context(*d, "requested_pool")), "premium-pool");
  // Over HTTP: 403 with the Connect shape.
  const auto raw =
      client_->post(kCreate, api::to_json(pool_request("vm-p", "customer-123", "premium-pool")),
                    "application/json");
  EXPECT_EQ(raw.status, 403);
  EXPECT_NE(raw.body.find("\"allowed_pools\":[\"standard-pool\",\"basic-pool\"]"),
            std::string::npos)
      << raw.body;
}

TEST_F(VmServiceTest, TenantRateLimitIsResourceExhaustedWithRetryAfter) {
  host_config_.tenant_allocations_per_hour = 2;
  start();
  ASSERT_FALSE(create(pool_request("vm-1", "tenant-r")));
  ASSERT_FALSE(create(pool_request("vm-2", "tenant-r")));
  const auto raw =
      client_->post(kCreate, api::to_json(pool_request("vm-3", "tenant-r")), "application/json");
  EXPECT_EQ(raw.status, 429) << raw.body;
  const Error e = parse_error(raw.status, raw.body);
  EXPECT_EQ(e.code, Code::kResourceExhausted);
  const ErrorDetail* d = detail(e, "config.tenant_id");
  ASSERT_NE(d, nullptr) << raw.body;
  EXPECT_EQ(d->validation_error, "allocation_rate_limited");
  // 2/hour = one every 1800 s; the burst is spent.
  EXPECT_EQ(std::get<std::int64_t>(*context(*d, "retry_after")), 1800);
  // Another tenant is not affected; after retry_after the tenant may again.
  EXPECT_FALSE(create(pool_request("vm-x", "tenant-s")));
  now_ += 1799LL * 1'000'000'000;
  EXPECT_TRUE(create(pool_request("vm-3", "tenant-r")));
  now_ += 1'000'000'000;
  EXPECT_FALSE(create(pool_request("vm-3", "tenant-r")));
}

TEST_F(VmServiceTest, TenantRateLimitSurvivesARestart) {
  host_config_.tenant_allocations_per_hour = 2;
  start();
  ASSERT_FALSE(create(pool_request("vm-1", "tenant-r")));
  ASSERT_FALSE(create(pool_request("vm-2", "tenant-r")));
  // A deleted VM's allocation still counts against the window.
  vmp::DeleteVmRequest del;
  del.set_vm_id("vm-2");
  vmp::DeleteVmResponse deleted;
  ASSERT_FALSE(client_->call(kDelete, del, deleted));
  stop();

  // A new manager on the same database, at the same moment: the limiter is
  // seeded from the persisted creations, not refilled.
  start();
  const auto e = create(pool_request("vm-3", "tenant-r"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, Code::kResourceExhausted) << e->message;
  const ErrorDetail* d = detail(*e, "config.tenant_id");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->validation_error, "allocation_rate_limited");
  // The two creations happened (wall clock) moments before the restart.
  const auto retry_after = std::get<std::int64_t>(*context(*d, "retry_after"));
  EXPECT_GE(retry_after, 1790);
  EXPECT_LE(retry_after, 1800);
  EXPECT_FALSE(create(pool_request("vm-x", "tenant-s")));  // other tenants unaffected
  now_ += retry_after * 1'000'000'000LL;
  EXPECT_FALSE(create(pool_request("vm-3", "tenant-r")));
}

TEST_F(VmServiceTest, AuditReferencesTheStoredConfigRenderedOnRead) {
  start();
  vmp::CreateVmResponse created;
  ASSERT_FALSE(create(spec_single("vm-audit"), &created));
  std::vector<store::AuditEntry> audit;
  ASSERT_TRUE(store([&](store::Store& s) { return s.list_audit(audit); }).ok());
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].tenant_id, created.config().tenant_id());
  // The config as allocated (generated tap), rendered from the stored bytes.
  const std::string json = render_config(audit[0].after_config);
  EXPECT_NE(json.find(created.config().network(0).tap_device()), std::string::npos) << json;
  EXPECT_EQ(json, to_json(created.config()));
}

TEST_F(VmServiceTest, BridgeAndVlanBelongToOneTenant) {
  start();
  ASSERT_FALSE(create(pool_request("vm-a", "tenant-a")));
  auto other = pool_request("vm-b", "tenant-b");
  other.mutable_config()->mutable_network(0)->set_bridge_name("br-tenant-a");
  const auto e = create(other);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, Code::kPermissionDenied);
  ASSERT_NE(detail(*e, "config.network[0].bridge_name"), nullptr);
  EXPECT_EQ(detail(*e, "config.network[0].bridge_name")->validation_error,
            "bridge_owned_by_other_tenant");
  // Once tenant-a's last VM is gone, the bridge is free again.
  vmp::DeleteVmRequest del;
  del.set_vm_id("vm-a");
  vmp::DeleteVmResponse del_resp;
  ASSERT_FALSE(client_->call(kDelete, del, del_resp));
  EXPECT_FALSE(create(other));
}

TEST_F(VmServiceTest, DeleteVmRemovesEverythingAndFreesItsResources) {
  start();
  vmp::CreateVmResponse created;
  ASSERT_FALSE(create(spec_single("vm-del"), &created));
  const std::string tap = created.config().network(0).tap_device();
  vmp::DeleteVmRequest del;
  del.set_vm_id("vm-del");
  vmp::DeleteVmResponse resp;
  ASSERT_FALSE(client_->call(kDelete, del, resp));
  EXPECT_TRUE(resp.success());
  EXPECT_FALSE(host_.taps.contains(tap));
  EXPECT_TRUE(host_.bindings.empty());
  std::vector<store::Allocation> allocations;
  std::vector<store::PortRecord> ports;
  std::vector<store::BindingRecord> bindings;
  std::vector<store::VlanClaim> vlans;
  ASSERT_TRUE(store([&](store::Store& s) {
                return s.list_allocations(allocations).ok() && s.list_ports(ports).ok() &&
                               s.list_bindings(bindings).ok() && s.list_vlans(vlans).ok()
                           ? store::Outcome()
                           : store::Outcome::fail(store::Code::kFailed, "list");
              }).ok());
  EXPECT_TRUE(allocations.empty());
  EXPECT_TRUE(ports.empty());
  EXPECT_TRUE(bindings.empty());
  EXPECT_TRUE(vlans.empty());
  std::vector<store::AuditEntry> audit;
  ASSERT_TRUE(store([&](store::Store& s) { return s.list_audit(audit); }).ok());
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[1].action, "DeleteVm");

  // Gone: not_found naming the field; a second delete too.
  vmp::GetVmInfoRequest get;
  get.set_vm_id("vm-del");
  vmp::GetVmInfoResponse info;
  auto e = client_->call(kGet, get, info);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, Code::kNotFound);
  ASSERT_NE(detail(*e, "vm_id"), nullptr);
  e = client_->call(kDelete, del, resp);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, Code::kNotFound);
  // The static address, MAC and tap are free again.
  EXPECT_FALSE(create(spec_single("vm-again")));
}

TEST_F(VmServiceTest, HostFailureLeavesNothingAndReleasesTheAllocation) {
  start();
  auto req = spec_single("vm-fail");
  req.mutable_config()->mutable_network(0)->set_tap_device("tap-bad");
  host_.fail_tap = "tap-bad";
  const auto e = create(req);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, Code::kUnavailable);
  std::vector<store::VmRecord> vms;
  ASSERT_FALSE(manager_->list({}, vms));
  EXPECT_TRUE(vms.empty());
  host_.fail_tap.clear();
  // Nothing leaked in the index: the same address, MAC and tap are accepted.
  EXPECT_FALSE(create(req));
}

// A create that fails after it was admitted (here: host programming) is
// not charged to the tenant's rate limit.
TEST_F(VmServiceTest, FailedCreateIsNotChargedToTheRateLimit) {
  host_config_.tenant_allocations_per_hour = 1;
  start();
  auto req = pool_request("vm-1", "tenant-r");
  req.mutable_config()->mutable_network(0)->set_tap_device("tap-bad");
  host_.fail_tap = "tap-bad";
  for (int i = 0; i < 3; ++i) {
    const auto e = create(req);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code, Code::kUnavailable) << e->message;
  }
  host_.fail_tap.clear();
  EXPECT_FALSE(create(req));  // the one creation of the hour
  const auto e = create(pool_request("vm-2", "tenant-r"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, Code::kResourceExhausted);
}

TEST_F(VmServiceTest, GetVmInfoAndListVmsByTenantWithPaging) {
  start();
  for (const char* id : {"vm-1", "vm-2", "vm-3"})
    ASSERT_FALSE(create(pool_request(id, "tenant-a")));
  ASSERT_FALSE(create(pool_request("vm-9", "tenant-b")));

  vmp::GetVmInfoRequest get;
  get.set_vm_id("vm-2");
  vmp::GetVmInfoResponse info;
  ASSERT_FALSE(client_->call(kGet, get, info, Codec::kJson));
  EXPECT_EQ(info.vm_id(), "vm-2");
  EXPECT_EQ(info.state(), vmp::VM_STATE_CREATED);
  EXPECT_EQ(info.config().tenant_id(), "tenant-a");
  EXPECT_EQ(info.config().network(0).ipv6().address(), "2600:beef:1001::3/64");

  vmp::ListVmsRequest list;
  list.set_tenant_id("tenant-a");
  list.set_page_size(2);
  vmp::ListVmsResponse page;
  ASSERT_FALSE(client_->call(kList, list, page));
  ASSERT_EQ(page.vms_size(), 2);
  EXPECT_EQ(page.total_count(), 3);
  EXPECT_EQ(page.vms(0).vm_id(), "vm-1");
  EXPECT_EQ(page.vms(0).vcpu_count(), 1);
  EXPECT_EQ(page.vms(0).memory_size_bytes(), 134217728);
  EXPECT_EQ(page.next_page_token(), "vm-2");
  list.set_page_token(page.next_page_token());
  ASSERT_FALSE(client_->call(kList, list, page = {}));
  ASSERT_EQ(page.vms_size(), 1);
  EXPECT_EQ(page.vms(0).vm_id(), "vm-3");
  EXPECT_TRUE(page.next_page_token().empty());

  vmp::ListVmsResponse all;
  ASSERT_FALSE(client_->call(kList, vmp::ListVmsRequest(), all));
  EXPECT_EQ(all.vms_size(), 4);
}

TEST_F(VmServiceTest, BadVmIdIsRejectedWithItsField) {
  start();
  const auto e = create(spec_single("vm/../../etc"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, Code::kInvalidArgument);
  ASSERT_NE(detail(*e, "vm_id"), nullptr);
  EXPECT_EQ(detail(*e, "vm_id")->validation_error, "invalid_vm_id");
}

TEST_F(VmServiceTest, RestartReprogramsExactlyTheStoredVmsOnce) {
  start();
  for (const char* id : {"vm-1", "vm-2", "vm-3"})
    ASSERT_FALSE(create(pool_request(id, "tenant-z")));
  ASSERT_FALSE(create(spec_single("vm-static")));
  vmp::DeleteVmRequest del;
  del.set_vm_id("vm-2");
  vmp::DeleteVmResponse resp;
  ASSERT_FALSE(client_->call(kDelete, del, resp));
  stop();

  // A fresh daemon: new host, store reopened from the file.
  host_.programs.clear();
  host_.taps.clear();
  host_.bindings.clear();
  start();
  std::vector<std::string> failures;
  EXPECT_EQ(manager_->reprogram_all(failures), 0);
  EXPECT_EQ(host_.programs,
            (std::map<std::string, int>{{"vm-1", 1}, {"vm-3", 1}, {"vm-static", 1}}));
  EXPECT_EQ(host_.taps.size(), 3u);
  EXPECT_EQ(host_.bindings.size(), 3u);
  // The reloaded index still knows what is taken, and what vm-2 freed.
  const auto e = create(spec_single("vm-dup"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, Code::kAlreadyExists);
  vmp::CreateVmResponse next;
  ASSERT_FALSE(create(pool_request("vm-4", "tenant-z"), &next));
  EXPECT_EQ(next.config().network(0).ipv6().address(), "2600:beef:1001::3/64");  // vm-2's
}

}  // namespace
}  // namespace v6g::api
