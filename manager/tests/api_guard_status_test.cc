// GuardService end to end: store + datapath + inspector + event ring ->
// typed v6guard.v1 messages on a Connect server on a unix socket -> both
// codecs and v6guardctl's output.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <time.h>

#include <cctype>
#include <filesystem>
#include <mutex>
#include <set>
#include <sstream>

#include "api/client.h"
#include "api/guard_status.h"
#include "cli/cli.h"
#include "common/reason.h"

namespace v6g::api {
namespace {

namespace v1 = v6guard::v1;
namespace pb = google::protobuf;

// ---- the proto enums mirror the C enums ----

TEST(GuardProtoEnums, ReasonMirrorsTheUapiEnumValueForValue) {
  const pb::EnumDescriptor* proto = v1::Reason_descriptor();
  std::set<int> uapi;
  for (const Reason* r = all_reasons_begin(); r != all_reasons_end(); ++r) {
    const int number = static_cast<int>(raw(*r));
    uapi.insert(number);
    std::string expected = "REASON_" + std::string(reason_name(*r));
    for (char& c : expected) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const pb::EnumValueDescriptor* v = proto->FindValueByNumber(number);
    ASSERT_NE(v, nullptr) << "guard.proto has no Reason = " << number << " (" << reason_name(*r)
                          << "): add " << expected << " = " << number;
    EXPECT_EQ(v->name(), expected) << "number " << number;
    EXPECT_EQ(to_proto(*r), static_cast<v1::Reason>(number));
    EXPECT_EQ(short_name(proto, number), reason_name(*r));
  }
  for (int i = 0; i < proto->value_count(); ++i) {
    EXPECT_TRUE(uapi.contains(proto->value(i)->number()))
        << proto->value(i)->name() << " = " << proto->value(i)->number()
        << " is not a reason in kmod/uapi/v6guard.h";
  }
  EXPECT_EQ(static_cast<std::size_t>(proto->value_count()), uapi.size());
  // The accept/drop split is the uapi's.
  EXPECT_TRUE(is_drop(reason(V6G_R_TRUNCATED)));
  EXPECT_EQ(static_cast<int>(v1::REASON_TRUNCATED), static_cast<int>(V6G_R_FIRST_DROP));
}

TEST(GuardProtoEnums, PortRolesFailModesAndFlags) {
  EXPECT_EQ(port_role(V6G_ROLE_VM), v1::PORT_ROLE_VM);
  EXPECT_EQ(port_role(V6G_ROLE_ROUTER), v1::PORT_ROLE_ROUTER);
  EXPECT_EQ(port_role(V6G_ROLE_TRUSTED), v1::PORT_ROLE_TRUSTED);
  EXPECT_EQ(port_role(__V6G_ROLE_MAX), v1::PORT_ROLE_UNSPECIFIED);
  EXPECT_EQ(fail_mode(V6G_FAIL_CLOSED), v1::FAIL_MODE_CLOSED);
  EXPECT_EQ(fail_mode(V6G_FAIL_OPEN), v1::FAIL_MODE_OPEN);
  // Every V6G_PORT_F_* bit has its own flag, named like the uapi macro.
  const std::pair<std::uint32_t, const char*> bits[] = {
      {V6G_PORT_F_MONITOR, "monitor"},          {V6G_PORT_F_DPI, "dpi"},
      {V6G_PORT_F_MAC_CHECK, "mac_check"},      {V6G_PORT_F_BLOCK_HBH, "block_hbh"},
      {V6G_PORT_F_BLOCK_RH, "block_rh"},        {V6G_PORT_F_BLOCK_FRAG, "block_frag"},
      {V6G_PORT_F_BLOCK_DSTOPT, "block_dstopt"}};
  std::uint32_t all = 0;
  for (const auto& [bit, name] : bits) {
    all |= bit;
    const auto flags = port_flags(bit);
    ASSERT_EQ(flags.size(), 1u) << name;
    EXPECT_EQ(short_name(v1::PortFlag_descriptor(), flags[0]), name);
  }
  EXPECT_EQ(port_flags(all).size(), std::size(bits));
  EXPECT_EQ(port_flags(all).size() + 1,
            static_cast<std::size_t>(v1::PortFlag_descriptor()->value_count()));
  EXPECT_EQ(binding_state("reachable"), v1::BINDING_STATE_VALID);
  EXPECT_EQ(binding_state(guard::binding_state_name(guard::BindingState::kTentative)),
            v1::BINDING_STATE_TENTATIVE);
  EXPECT_EQ(binding_state(guard::binding_state_name(guard::BindingState::kTestingVal)),
            v1::BINDING_STATE_TESTING_VAL);
  EXPECT_EQ(short_name(v1::CounterSource_descriptor(), v1::COUNTER_SOURCE_INSPECTOR), "inspector");
  EXPECT_EQ(short_name(v1::Reason_descriptor(), 250), "250");
}

// ---- the service through a real server ----

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
    // Like nft: two rules count under one reason across all ports ("*").
    out = {
        {0,
         "*",
         {{reason(V6G_R_FRAG_FIRST_NO_UPPER), 3},
          {reason(V6G_R_FRAG_FIRST_NO_UPPER), 4},
          {reason(V6G_R_RA_FROM_VM_PORT), 0}}},
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

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// The daemon's event ring: sequence numbers 1..N, Inspector::events semantics.
struct EventRing {
  std::mutex mu;
  std::vector<v1::SecurityEvent> events;  // events[i] has sequence i + 1
  int reads = 0;
  int late_at = -1;  // the read that first sees one more event (a flood starting)
  void add(const char* violation, const char* vm) {
    std::lock_guard lock(mu);
    add_locked(violation, vm);
  }
  void add_locked(const char* violation, const char* vm) {
    v1::SecurityEvent ev;
    ev.set_event_type("ra_guard");
    ev.set_severity("high");
    ev.set_violation_type(violation);
    ev.set_vm_id(vm);
    ev.set_interface_id("tap-a");
    ev.mutable_details()->set_packet_count(events.size() + 1);
    events.push_back(ev);
  }
  std::uint64_t read(std::uint64_t after, std::size_t limit, std::vector<v1::SecurityEvent>& out) {
    std::lock_guard lock(mu);
    if (++reads == late_at) add_locked("ra_from_vm_port", "vm-c");
    std::uint64_t cursor = after;
    for (std::uint64_t seq = after + 1; seq <= events.size(); ++seq) {
      if (limit == 0) return cursor;
      out.push_back(events[seq - 1]);
      cursor = seq;
      --limit;
    }
    return std::max<std::uint64_t>(cursor, events.size());
  }
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
          p.vm.id = "vm-a";
          p.vm.tenant_id = "acme";
          p.ports = {{"tap-a", "br-acme", 100, "02:00:00:00:00:0a", "vm-a", V6G_ROLE_VM,
                      V6G_FAIL_CLOSED, V6G_PORT_F_MAC_CHECK | V6G_PORT_F_BLOCK_RH}};
          p.bindings = {{"tap-a", 100, "02:00:00:00:00:0a", "2600:beef:1000::a", "reachable",
                         "static", "vm-a", 0},
                        {"tap-a", 100, "02:00:00:00:00:0a", "2600:BEEF:1000:0::b", "reachable",
                         "static", "vm-a", 0}};
          return std::nullopt;
        },
        plan));
    // A second VM whose port is a real interface (lo), where the inspector
    // learnt an address by DAD.
    ASSERT_FALSE(manager_->create(
        {"uid:0", true, 0, 0},
        [](store::Store&, VmPlan& p) -> std::optional<Error> {
          p.vm.id = "vm-b";
          p.vm.tenant_id = "beta";
          p.ports = {{"lo", "br-beta", 200, "02:00:00:00:00:0b", "vm-b", V6G_ROLE_VM, V6G_FAIL_OPEN,
                      V6G_PORT_F_MONITOR}};
          return std::nullopt;
        },
        plan));
    lo_ = if_nametoindex("lo");
    ASSERT_NE(lo_, 0u);
    // Only the first static binding made it into the kernel (nft's untagged
    // set: no VLAN), and the learnt one (kmod style: by ifindex, with VLAN).
    datapath_.live.push_back({10, "tap-a", 0, *MacAddr::parse("02:00:00:00:00:0a"),
                              *Ip6Addr::parse("2600:beef:1000::a")});
    datapath_.live.push_back(
        {lo_, "", 200, *MacAddr::parse("02:00:00:00:00:0b"), *Ip6Addr::parse("2600:beef:2000::b")});
    // ::b on another VLAN is not the binding the store means.
    datapath_.live.push_back({10, "tap-a", 300, *MacAddr::parse("02:00:00:00:00:0a"),
                              *Ip6Addr::parse("2600:beef:1000::b")});
    ring_.add("ra_from_vm_port", "vm-a");
    ServerOptions options;
    options.socket_path = dir_ + "/api.sock";
    options.threads = 2;
    server_ = std::make_unique<Server>(options);
    GuardStatusSources sources;
    sources.vms = manager_.get();
    sources.datapath = &datapath_;
    sources.events = [this](std::uint64_t after, std::size_t limit,
                            std::vector<v1::SecurityEvent>& out) {
      return ring_.read(after, limit, out);
    };
    const std::uint32_t lo = lo_;
    const std::int64_t expires = monotonic_ns() + 3630 * guard::kSecond;
    sources.guard_bindings = [lo, expires] {
      guard::BindingInfo learnt;
      learnt.port = lo;
      learnt.vlan = 200;
      learnt.mac = *MacAddr::parse("02:00:00:00:00:0b");
      learnt.addr = *Ip6Addr::parse("2600:beef:2000::b");
      learnt.state = guard::BindingState::kValid;
      learnt.expires = expires;
      guard::BindingInfo engine_copy_of_static;  // the store lists it already
      engine_copy_of_static.port = 10;
      engine_copy_of_static.is_static = true;
      return std::vector<guard::BindingInfo>{learnt, engine_copy_of_static};
    };
    sources.guard_counters = [lo] {
      return std::vector<datapath::PortCounters>{
          {lo, "", {{reason(V6G_R_SOURCE_NOT_BOUND), 5}, {reason(V6G_R_ACCEPT_DAD), 1}}}};
    };
    sources.status = [] {
      return std::vector<std::pair<std::string, std::string>>{
          {"state_db", "/var/lib/v6guard/state.db"},
          {"datapath_reason", "module v6guard not loaded"},
          {"bridge_vlan_filtering", "no (bridge-per-vlan)"}};
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
    last_err_ = err.str();
    return out.str();
  }
  template <typename Resp>
  Resp call(const char* method, const pb::Message& req, Codec codec = Codec::kProto) {
    Resp resp;
    auto client = Client::unix_socket(dir_ + "/api.sock");
    auto e = client->call(std::string("/v6guard.v1.GuardService/") + method, req, resp, codec);
    EXPECT_FALSE(e) << e->message;
    return resp;
  }
  RawResponse post_json(const char* method, const std::string& body) {
    return Client::unix_socket(dir_ + "/api.sock")
        ->post(std::string("/v6guard.v1.GuardService/") + method, body, "application/json");
  }

  std::string dir_;
  std::uint32_t lo_ = 0;
  NoHost host_;
  FakeDatapath datapath_;
  EventRing ring_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<VmManager> manager_;
  std::unique_ptr<Server> server_;
  std::string last_err_;
};

TEST_F(GuardStatusTest, PortsTable) {
  const std::string lo = std::to_string(lo_);
  EXPECT_EQ(ctl({"ports"}),
            "PORT   IFINDEX  VM_ID  TENANT  BRIDGE   VLAN  MAC                ROLE  FAIL_MODE  "
            "FLAGS               BINDINGS\n"
            "lo     " +
                lo + std::string(9 - lo.size(), ' ') +
                "vm-b   beta    br-beta  200   02:00:00:00:00:0b  vm    open       monitor"
                "             1\n"
                "tap-a  -        vm-a   acme    br-acme  100   02:00:00:00:00:0a  vm    closed     "
                "mac_check,block_rh  2\n");
  EXPECT_EQ(ctl({"ports", "--vm", "vm-a"}).find("vm-b"), std::string::npos);
}

TEST_F(GuardStatusTest, PortsInBothCodecs) {
  const auto resp = call<v1::ListPortsResponse>("ListPorts", v1::ListPortsRequest());
  ASSERT_EQ(resp.ports_size(), 2);
  const v1::Port& tap = resp.ports(1);
  EXPECT_EQ(tap.port(), "tap-a");
  EXPECT_EQ(tap.tenant_id(), "acme");
  EXPECT_EQ(tap.role(), v1::PORT_ROLE_VM);
  EXPECT_EQ(tap.fail_mode(), v1::FAIL_MODE_CLOSED);
  ASSERT_EQ(tap.flags_size(), 2);
  EXPECT_EQ(tap.flags(0), v1::PORT_FLAG_MAC_CHECK);
  EXPECT_EQ(tap.binding_count(), 2u);
  // JSON codec: proto field names, enums by name.
  const auto raw = post_json("ListPorts", R"({"vm_id":"vm-a"})");
  ASSERT_EQ(raw.status, 200) << raw.body;
  EXPECT_NE(raw.body.find(R"("port":"tap-a")"), std::string::npos) << raw.body;
  EXPECT_NE(raw.body.find(R"("flags":["PORT_FLAG_MAC_CHECK","PORT_FLAG_BLOCK_RH"])"),
            std::string::npos)
      << raw.body;
  EXPECT_NE(raw.body.find(R"("fail_mode":"FAIL_MODE_CLOSED")"), std::string::npos) << raw.body;
  EXPECT_EQ(raw.body.find("vm-b"), std::string::npos) << raw.body;
}

TEST_F(GuardStatusTest, BindingsShowOriginStateAndWhetherTheKernelHasThem) {
  EXPECT_EQ(
      ctl({"bindings"}),
      "PORT   VLAN  MAC                IPV6               ORIGIN  STATE  VM_ID  IN_KERNEL  "
      "EXPIRES\n"
      "lo     200   02:00:00:00:00:0b  2600:beef:2000::b  learnt  valid  vm-b   yes        1h00m\n"
      "tap-a  100   02:00:00:00:00:0a  2600:beef:1000::a  static  valid  vm-a   yes        never\n"
      "tap-a  100   02:00:00:00:00:0a  2600:beef:1000::b  static  valid  vm-a   NO         "
      "never\n");
  const auto resp = call<v1::ListBindingsResponse>("ListBindings", v1::ListBindingsRequest());
  ASSERT_EQ(resp.bindings_size(), 3);
  EXPECT_TRUE(resp.datapath_listed());
  EXPECT_EQ(resp.total_count(), 3u);
  EXPECT_TRUE(resp.next_page_token().empty());
  const v1::Binding& learnt = resp.bindings(0);
  EXPECT_EQ(learnt.ifindex(), lo_);
  EXPECT_EQ(learnt.tenant_id(), "beta");
  EXPECT_EQ(learnt.origin(), v1::ORIGIN_LEARNT);
  EXPECT_FALSE(learnt.has_created());
  const std::int64_t left = learnt.expires().seconds() - time(nullptr);
  EXPECT_GE(left, 3620);
  EXPECT_LE(left, 3631);
  const v1::Binding& stat = resp.bindings(1);
  EXPECT_EQ(stat.origin(), v1::ORIGIN_STATIC);
  EXPECT_FALSE(stat.has_expires());
  // A static binding is as old as its VM (the store's created time).
  EXPECT_NEAR(static_cast<double>(stat.created().seconds()), static_cast<double>(time(nullptr)),
              60.0);
}

TEST_F(GuardStatusTest, BindingsFilterAndPage) {
  v1::ListBindingsRequest req;
  req.set_port("tap-a");
  auto resp = call<v1::ListBindingsResponse>("ListBindings", req);
  EXPECT_EQ(resp.bindings_size(), 2);
  req.Clear();
  req.set_vlan(200);
  resp = call<v1::ListBindingsResponse>("ListBindings", req);
  ASSERT_EQ(resp.bindings_size(), 1);
  EXPECT_EQ(resp.bindings(0).vm_id(), "vm-b");
  req.Clear();
  req.set_vm_id("vm-a");
  EXPECT_EQ(call<v1::ListBindingsResponse>("ListBindings", req).total_count(), 2u);

  // Pages of one: every binding exactly once, in order, then no token.
  req.Clear();
  req.set_page_size(1);
  std::vector<std::string> seen;
  for (int page = 0; page < 5; ++page) {
    resp = call<v1::ListBindingsResponse>("ListBindings", req, Codec::kJson);
    EXPECT_EQ(resp.total_count(), 3u);
    for (const auto& b : resp.bindings()) seen.push_back(b.ipv6());
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"2600:beef:2000::b", "2600:beef:1000::a",
                                            "2600:beef:1000::b"}));
  // The CLI walks the pages itself unless told to show one.
  EXPECT_EQ(ctl({"bindings", "--page-size", "2"}).find("2600:beef:1000::b"), std::string::npos);
  EXPECT_NE(ctl({"bindings", "--page-size", "2"}).find("next_page_token: tap-a/100/"),
            std::string::npos);
  const std::string json = ctl({"--json", "bindings", "--port", "tap-a"});
  EXPECT_NE(json.find(R"("in_kernel":false)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("origin":"ORIGIN_STATIC")"), std::string::npos) << json;
  EXPECT_EQ(json.find("2600:beef:2000::b"), std::string::npos) << json;
}

TEST_F(GuardStatusTest, BadRequestsGetTheConnectErrorShape) {
  auto raw = post_json("ListBindings", R"({"page_token":"garbage"})");
  EXPECT_EQ(raw.status, 400);
  const Error e = parse_error(raw.status, raw.body);
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  ASSERT_EQ(e.details.size(), 1u);
  EXPECT_EQ(e.details[0].field, "page_token");
  EXPECT_EQ(e.details[0].validation_error, "invalid_page_token");
  raw = post_json("ListBindings", R"({"vlan":4095})");
  EXPECT_EQ(raw.status, 400);
  EXPECT_NE(raw.body.find("vlan_out_of_range"), std::string::npos) << raw.body;
  // The old Struct request shape is an unknown field now, not silently ignored.
  raw = post_json("ListEvents", R"({"after":"1"})");
  EXPECT_EQ(raw.status, 400);
  EXPECT_NE(raw.body.find("invalid_argument"), std::string::npos) << raw.body;
  // v6guardctl prints the error and exits 1.
  ctl({"bindings", "--page-token", "x"}, 1);
  EXPECT_NE(last_err_.find("error: invalid_argument: page_token"), std::string::npos) << last_err_;
  EXPECT_NE(last_err_.find("field page_token: invalid_page_token"), std::string::npos) << last_err_;
}

TEST_F(GuardStatusTest, CountersByReasonWithVerdictAndSource) {
  EXPECT_EQ(ctl({"counters"}),
            "SOURCE     PORT   REASON               VERDICT  PACKETS\n"
            "datapath   *      frag_first_no_upper  drop     7\n"
            "datapath   tap-a  accept_binding       accept   1200\n"
            "datapath   tap-a  ra_from_vm_port      drop     7\n"
            "inspector  lo     accept_dad           accept   1\n"
            "inspector  lo     source_not_bound     drop     5\n");
  EXPECT_EQ(ctl({"counters", "--drops", "--source", "inspector"}),
            "SOURCE     PORT  REASON            VERDICT  PACKETS\n"
            "inspector  lo    source_not_bound  drop     5\n");
  EXPECT_EQ(ctl({"counters", "--port", "tap-a", "--drops"}),
            "SOURCE    PORT   REASON           VERDICT  PACKETS\n"
            "datapath  tap-a  ra_from_vm_port  drop     7\n");
  const std::string out = ctl({"--json", "counters", "--port", "tap-a"});
  EXPECT_NE(out.find(R"("reason":"REASON_RA_FROM_VM_PORT")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("verdict":"VERDICT_DROP")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("packets":"1200")"), std::string::npos) << out;  // uint64: a string
  EXPECT_NE(out.find(R"("source":"COUNTER_SOURCE_DATAPATH")"), std::string::npos) << out;
  ctl({"counters", "--source", "kernel"}, 2);
}

TEST_F(GuardStatusTest, EventsSinceLimitAndFollow) {
  ring_.add("nd_target_not_owned", "vm-a");
  ring_.add("source_not_bound", "vm-b");
  v1::ListEventsRequest req;
  req.set_limit(2);
  auto resp = call<v1::ListEventsResponse>("ListEvents", req);
  ASSERT_EQ(resp.events_size(), 2);
  EXPECT_EQ(resp.last_sequence(), 2u);
  req.set_since_sequence(resp.last_sequence());
  resp = call<v1::ListEventsResponse>("ListEvents", req);
  ASSERT_EQ(resp.events_size(), 1);
  EXPECT_EQ(resp.events(0).violation_type(), "source_not_bound");
  EXPECT_EQ(resp.last_sequence(), 3u);
  req.set_since_sequence(3);
  resp = call<v1::ListEventsResponse>("ListEvents", req);
  EXPECT_EQ(resp.events_size(), 0);
  EXPECT_EQ(resp.last_sequence(), 3u);

  EXPECT_EQ(ctl({"events", "--since", "1"}),
            "- high ra_guard nd_target_not_owned vm=vm-a if=tap-a packets=2\n"
            "- high ra_guard source_not_bound vm=vm-b if=tap-a packets=3\n");
  // --follow pages through with limit 1, then prints what arrives while it
  // polls (JSON lines with --json): reads 1-3 return the three events, 4-5
  // nothing, the 6th a new one.
  {
    std::lock_guard lock(ring_.mu);
    ring_.late_at = ring_.reads + 6;
  }
  const std::string followed = ctl(
      {"--json", "events", "--follow", "--limit", "1", "--interval-ms", "10", "--max-polls", "8"});
  std::vector<std::string> lines;
  std::istringstream in(followed);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u) << followed;
  EXPECT_NE(lines[0].find(R"("violation_type":"ra_from_vm_port")"), std::string::npos);
  EXPECT_NE(lines[2].find(R"("vm_id":"vm-b")"), std::string::npos);
  EXPECT_NE(lines[3].find(R"("vm_id":"vm-c")"), std::string::npos) << lines[3];
  EXPECT_NE(lines[3].find(R"("monitor":false)"), std::string::npos) << lines[3];
}

TEST_F(GuardStatusTest, Status) {
  const std::string out = ctl({"status"});
  const std::string head =
      "datapath: nft\n"
      "datapath_reason: module v6guard not loaded\n"
      "vms: 2\n"
      "ports: 2\n"
      "state_db: /var/lib/v6guard/state.db\n"
      "bridge_vlan_filtering: no (bridge-per-vlan)\n"
      "version: ";
  EXPECT_EQ(out.substr(0, head.size()), head) << out;
  EXPECT_NE(out.find("(api v6guard.v1, kmod genl abi " + std::to_string(V6G_GENL_VERSION)),
            std::string::npos)
      << out;
  const auto resp = call<v1::GetStatusResponse>("GetStatus", v1::GetStatusRequest(), Codec::kJson);
  EXPECT_EQ(resp.datapath(), "nft");
  EXPECT_EQ(resp.vm_count(), 2u);
  ASSERT_EQ(resp.lines_size(), 2);
  EXPECT_EQ(resp.lines(1).key(), "bridge_vlan_filtering");
  EXPECT_FALSE(resp.versions().daemon().empty());
  EXPECT_NE(resp.versions().daemon(), "unknown");  // the build passes the release
  EXPECT_FALSE(resp.versions().protobuf().empty());
  const std::string json = ctl({"--json", "status"});
  EXPECT_NE(json.find(R"({"key":"state_db","value":"/var/lib/v6guard/state.db"})"),
            std::string::npos)
      << json;
}

}  // namespace
}  // namespace v6g::api
