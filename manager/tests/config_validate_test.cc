#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "config/allocate.h"
#include "config/firewall.h"
#include "config/validate.h"

namespace v6g::config {
namespace {

using vmprovisioner::v1::CreateVmRequest;

std::string read(const std::string& name) {
  std::ifstream f(std::string(V6G_TEST_DATA) + "/spec/" + name);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

HostConfig spec_host() {
  std::string error;
  auto host = parse_host_config(read("host.json"), &error);
  EXPECT_TRUE(host) << error;
  return host.value_or(HostConfig{});
}

CreateVmRequest load_request(const std::string& name) {
  CreateVmRequest r;
  auto status = google::protobuf::util::JsonStringToMessage(read(name), &r);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return r;
}

const FieldViolation* find(const std::vector<FieldViolation>& v, const std::string& field) {
  for (const auto& f : v)
    if (f.field == field) return &f;
  return nullptr;
}

std::string dump(const std::vector<FieldViolation>& v) {
  std::string out;
  for (const auto& f : v)
    out += f.field + " " + f.code + " " + f.validation_error + ": " + f.message + "\n";
  return out;
}

TEST(ConfigSpec, SingleInterfaceExampleAcceptedWithItsVlanGranted) {
  auto r = load_request("create_vm_single.json");
  auto v = validate_create_vm(r, spec_host(), {});
  EXPECT_TRUE(v.empty()) << dump(v);
}

TEST(ConfigSpec, SingleInterfaceExampleRejectedWithoutGrant) {
  auto host = spec_host();
  host.tenant_vlan_grants.clear();
  auto v = validate_create_vm(load_request("create_vm_single.json"), host, {});
  const auto* f = find(v, "config.network[0].vlan_id");
  ASSERT_NE(f, nullptr) << dump(v);
  EXPECT_EQ(f->code, "permission_denied");
  EXPECT_EQ(f->validation_error, "vlan_reserved_for_management");
}

TEST(ConfigSpec, MultiInterfaceExampleRejectedForMgmtAddress) {
  auto v = validate_create_vm(load_request("create_vm_multi.json"), spec_host(), {});
  const auto* f = find(v, "config.network[0].ipv6.address");
  ASSERT_NE(f, nullptr) << dump(v);
  EXPECT_EQ(f->code, "invalid_argument");
  EXPECT_EQ(f->message,
            "invalid IPv6 address '2600:BEEF:1000:mgmt::100/64': invalid character 'm'");
  EXPECT_EQ(f->context_value("allocated_blocks"), "2600:beef:1000::/44");
  // The firewall rule with the same prefix is rejected with the position of 'm'.
  const auto* rule = find(v, "config.network[0].security_policy.ingress_rules[0]");
  ASSERT_NE(rule, nullptr) << dump(v);
  EXPECT_EQ(rule->context_value("position"), "30");
  // The application interface fails the same way ("app" is not hex: 'p').
  const auto* app = find(v, "config.network[1].ipv6.address");
  ASSERT_NE(app, nullptr);
  EXPECT_NE(app->message.find("invalid character 'p'"), std::string::npos);
}

TEST(ConfigSpec, ErrorExamplesReproduced) {
  auto host = spec_host();
  // Invalid address example.
  {
    auto r = load_request("create_vm_single.json");
    r.mutable_config()->mutable_network(0)->mutable_ipv6()->set_address("2001:db8::g/64");
    auto v = validate_create_vm(r, host, {});
    const auto* f = find(v, "config.network[0].ipv6.address");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->code, "invalid_argument");
    EXPECT_EQ(f->message, "invalid IPv6 address '2001:db8::g/64': invalid character 'g'");
  }
  // Security policy violation example.
  {
    auto r = load_request("create_vm_single.json");
    r.mutable_config()->mutable_network(0)->mutable_ipv6()->mutable_security()->set_enable_ra_guard(
        false);
    auto v = validate_create_vm(r, host, {});
    ASSERT_EQ(v.size(), 1u) << dump(v);
    EXPECT_EQ(v[0].field, "config.network[0].ipv6.security.enable_ra_guard");
    EXPECT_EQ(v[0].code, "invalid_argument");
    EXPECT_EQ(v[0].message,
              "security policy violation: RA Guard must be enabled for production deployments");
    EXPECT_EQ(v[0].context_value("required_value"), "true");
    EXPECT_EQ(v[0].context_value("security_profile"), "high");
  }
  // Pool security violation example.
  {
    auto r = load_request("create_vm_single.json");
    r.mutable_config()->add_ipv6_pools()->set_name("premium-pool");
    auto v = validate_create_vm(r, host, {});
    ASSERT_EQ(v.size(), 1u) << dump(v);
    EXPECT_EQ(v[0].code, "permission_denied");
    EXPECT_EQ(v[0].message, "tenant not authorized for requested IPv6 pool");
    EXPECT_EQ(v[0].context_value("tenant_id"), "customer-123");
    EXPECT_EQ(v[0].context_value("requested_pool"), "premium-pool");
    EXPECT_EQ(v[0].context_value("allowed_pools"), "standard-pool,basic-pool");
  }
  // Rate limit example: 100/hour, the 101st allocation within the hour is refused.
  {
    TenantRateLimiter limiter(100);
    auto r = load_request("create_vm_single.json");
    r.mutable_config()->mutable_network(0)->clear_mac_address();
    r.mutable_config()->mutable_network(0)->mutable_ipv6()->clear_address();
    for (int i = 0; i < 100; ++i) {
      r.set_vm_id("vm-" + std::to_string(i));
      auto a = allocate_vm(r, host, {}, limiter, 1'000'000'000LL);
      ASSERT_TRUE(a.ok()) << dump(a.violations);
    }
    auto a = allocate_vm(r, host, {}, limiter, 1'000'000'000LL);
    ASSERT_EQ(a.violations.size(), 1u);
    EXPECT_EQ(a.violations[0].code, "resource_exhausted");
    EXPECT_EQ(a.violations[0].message,
              "IPv6 allocation rate limit exceeded for tenant 'customer-123'");
    EXPECT_EQ(a.violations[0].context_value("limit"), "100 allocations/hour");
    EXPECT_EQ(a.violations[0].context_value("retry_after"), "36 seconds");
    // One interval later exactly one more is admitted; another tenant is unaffected.
    EXPECT_TRUE(allocate_vm(r, host, {}, limiter, 37'000'000'000LL).ok());
    EXPECT_FALSE(allocate_vm(r, host, {}, limiter, 37'000'000'000LL).ok());
    r.mutable_config()->set_tenant_id("other");
    EXPECT_TRUE(allocate_vm(r, host, {}, limiter, 37'000'000'000LL).ok());
  }
}

TEST(ConfigSpec, DetailsRenderLikeTheSpec) {
  auto r = load_request("create_vm_single.json");
  r.mutable_config()->mutable_network(0)->mutable_ipv6()->set_address("2001:db8::g/64");
  auto v = validate_create_vm(r, spec_host(), {});
  ASSERT_FALSE(v.empty());
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(violation_details(v[0]), &json).ok());
  EXPECT_NE(json.find(R"("field":"config.network[0].ipv6.address")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("allocated_blocks":["2600:beef:1000::/44"])"), std::string::npos) << json;

  r = load_request("create_vm_single.json");
  r.mutable_config()->mutable_network(0)->mutable_ipv6()->mutable_security()->set_enable_ra_guard(
      false);
  v = validate_create_vm(r, spec_host(), {});
  ASSERT_EQ(v.size(), 1u);
  json.clear();
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(violation_details(v[0]), &json).ok());
  EXPECT_NE(json.find(R"("required_value":true)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("security_profile":"high")"), std::string::npos) << json;
}

// Table-driven: one mutation of the valid single-interface request -> one
// expected violation (field, code, machine error), or none.
struct Case {
  const char* name;
  std::function<void(CreateVmRequest&, HostConfig&, ExistingState&)> mutate;
  const char* field;  // nullptr = must be accepted
  const char* code;
  const char* error;
};

vmprovisioner::v1::NetworkInterface& nic(CreateVmRequest& r) {
  return *r.mutable_config()->mutable_network(0);
}
vmprovisioner::v1::IPv6Config& v6(CreateVmRequest& r) { return *nic(r).mutable_ipv6(); }
vmprovisioner::v1::IPv6SecurityConfig& sec(CreateVmRequest& r) { return *v6(r).mutable_security(); }
vmprovisioner::v1::NetworkSecurityPolicy& pol(CreateVmRequest& r) {
  return *nic(r).mutable_security_policy();
}

const char* kAddr = "config.network[0].ipv6.address";
const char* kVlan = "config.network[0].vlan_id";

const std::vector<Case>& cases() {
  static const std::vector<Case> table = {
      {"valid_as_is", [](auto&, auto&, auto&) {}, nullptr, nullptr, nullptr},
      {"lowercase_address",
       [](auto& r, auto&, auto&) { v6(r).set_address("2600:beef:1000:100::51/64"); }, nullptr,
       nullptr, nullptr},
      {"address_no_prefix_len",
       [](auto& r, auto&, auto&) { v6(r).set_address("2600:beef:1000:100::51"); }, kAddr,
       "invalid_argument", "invalid_address"},
      {"address_bad_len",
       [](auto& r, auto&, auto&) { v6(r).set_address("2600:beef:1000:100::51/129"); }, kAddr,
       "invalid_argument", "invalid_address"},
      {"address_malformed", [](auto& r, auto&, auto&) { v6(r).set_address("2600:::1/64"); }, kAddr,
       "invalid_argument", "invalid_address"},
      {"documentation",
       [](auto& r, auto&, auto&) {
         v6(r).set_address("2001:db8::1/64");
         v6(r).clear_gateway();
       },
       kAddr, "invalid_argument", "documentation_prefix"},
      {"link_local",
       [](auto& r, auto&, auto&) {
         v6(r).set_address("fe80::1/64");
         v6(r).clear_gateway();
       },
       kAddr, "invalid_argument", "link_local_address"},
      {"loopback",
       [](auto& r, auto&, auto&) {
         v6(r).set_address("::1/128");
         v6(r).clear_gateway();
       },
       kAddr, "invalid_argument", "loopback_address"},
      {"unspecified",
       [](auto& r, auto&, auto&) {
         v6(r).set_address("::/64");
         v6(r).clear_gateway();
       },
       kAddr, "invalid_argument", "unspecified_address"},
      {"multicast",
       [](auto& r, auto&, auto&) {
         v6(r).set_address("ff02::1/64");
         v6(r).clear_gateway();
       },
       kAddr, "invalid_argument", "multicast_address"},
      {"ula_unjustified",
       [](auto& r, auto&, auto&) {
         v6(r).set_address("fd00::5/64");
         v6(r).clear_gateway();
       },
       kAddr, "invalid_argument", "ula_not_justified"},
      {"ula_justified",
       [](auto& r, auto& h, auto&) {
         h.allow_ula = true;
         v6(r).set_address("fd00::5/64");
         v6(r).set_gateway("fd00::1");
       },
       nullptr, nullptr, nullptr},
      {"outside_block",
       [](auto& r, auto&, auto&) {
         v6(r).set_address("2600:beef:2000::5/64");
         v6(r).clear_gateway();
       },
       kAddr, "invalid_argument", "not_from_allocated_block"},
      {"address_in_use",
       [](auto&, auto&, auto& e) {
         e.addresses_in_use.insert(*Ip6Addr::parse("2600:beef:1000:100::50"));
       },
       kAddr, "already_exists", "address_in_use"},
      {"slaac_with_static", [](auto& r, auto&, auto&) { v6(r).set_enable_slaac(true); },
       "config.network[0].ipv6.enable_slaac", "invalid_argument", "autoconf_with_static"},
      {"dhcpv6_with_static", [](auto& r, auto&, auto&) { v6(r).set_enable_dhcpv6(true); },
       "config.network[0].ipv6.enable_dhcpv6", "invalid_argument", "autoconf_with_static"},
      {"slaac_without_static",
       [](auto& r, auto&, auto&) {
         v6(r).clear_address();
         v6(r).set_enable_slaac(true);
       },
       nullptr, nullptr, nullptr},
      {"gateway_other_subnet",
       [](auto& r, auto&, auto&) { v6(r).set_gateway("2600:beef:1000:200::1"); },
       "config.network[0].ipv6.gateway", "invalid_argument", "gateway_not_in_subnet"},
      {"gateway_link_local", [](auto& r, auto&, auto&) { v6(r).set_gateway("fe80::1"); }, nullptr,
       nullptr, nullptr},
      {"gateway_multicast", [](auto& r, auto&, auto&) { v6(r).set_gateway("ff02::2"); },
       "config.network[0].ipv6.gateway", "invalid_argument", "invalid_gateway"},
      {"dns_untrusted",
       [](auto& r, auto&, auto&) { v6(r).add_dns_servers("2606:4700:4700::1111"); },
       "config.network[0].ipv6.dns_servers[2]", "permission_denied", "untrusted_dns_server"},
      {"dns_garbage", [](auto& r, auto&, auto&) { v6(r).set_dns_servers(0, "dns.google"); },
       "config.network[0].ipv6.dns_servers[0]", "invalid_argument", "invalid_address"},
      {"nd_rate_too_high", [](auto& r, auto&, auto&) { sec(r).set_nd_rate_limit(1'000'000); },
       "config.network[0].ipv6.security.nd_rate_limit", "invalid_argument",
       "rate_limit_out_of_range"},
      {"ra_rate_too_high", [](auto& r, auto&, auto&) { sec(r).set_ra_rate_limit(1000); },
       "config.network[0].ipv6.security.ra_rate_limit", "invalid_argument",
       "rate_limit_out_of_range"},
      {"packet_rate_too_high",
       [](auto& r, auto&, auto&) { pol(r).set_packet_rate_limit(50'000'000); },
       "config.network[0].security_policy.packet_rate_limit", "invalid_argument",
       "rate_limit_out_of_range"},
      {"vlan_missing", [](auto& r, auto&, auto&) { nic(r).clear_vlan_id(); }, kVlan,
       "invalid_argument", "required"},
      {"vlan_zero", [](auto& r, auto&, auto&) { nic(r).set_vlan_id("0"); }, kVlan,
       "invalid_argument", "vlan_zero"},
      {"vlan_4095", [](auto& r, auto&, auto&) { nic(r).set_vlan_id("4095"); }, kVlan,
       "invalid_argument", "vlan_out_of_range"},
      {"vlan_text", [](auto& r, auto&, auto&) { nic(r).set_vlan_id("10a"); }, kVlan,
       "invalid_argument", "invalid_vlan"},
      {"vlan_1",
       [](auto& r, auto& h, auto&) {
         h.tenant_vlan_grants.push_back({1, "br-tenant-a"});
         nic(r).set_vlan_id("1");
       },
       kVlan, "permission_denied", "vlan_management_only"},
      {"vlan_management", [](auto& r, auto&, auto&) { nic(r).set_vlan_id("50"); }, kVlan,
       "permission_denied", "vlan_reserved_for_management"},
      {"vlan_tenant_range", [](auto& r, auto&, auto&) { nic(r).set_vlan_id("4094"); }, nullptr,
       nullptr, nullptr},
      {"vlan_in_use",
       [](auto&, auto&, auto& e) {
         e.vlan_owner[{"br-tenant-a", 100}] = "customer-999";
       },
       kVlan, "already_exists", "vlan_in_use"},
      {"vlan_shared_by_same_tenant",
       [](auto&, auto&, auto& e) {
         e.vlan_owner[{"br-tenant-a", 100}] = "customer-123";
       },
       nullptr, nullptr, nullptr},
      {"vlan_in_use_other_bridge",
       [](auto&, auto&, auto& e) {
         e.vlan_owner[{"br-other", 100}] = "customer-999";
       },
       nullptr, nullptr, nullptr},
      {"bridge_other_tenant",
       [](auto&, auto&, auto& e) { e.bridge_owner["br-tenant-a"] = "customer-999"; },
       "config.network[0].bridge_name", "permission_denied", "bridge_owned_by_other_tenant"},
      {"bridge_too_long",
       [](auto& r, auto&, auto&) {
         nic(r).set_bridge_name("br-tenant-aaaaaa");
         nic(r).set_vlan_id("200");
       },
       "config.network[0].bridge_name", "invalid_argument", "invalid_ifname"},
      {"bridge_bad_char",
       [](auto& r, auto&, auto&) {
         nic(r).set_bridge_name("br/x");
         nic(r).set_vlan_id("200");
       },
       "config.network[0].bridge_name", "invalid_argument", "invalid_ifname"},
      {"tap_too_long", [](auto& r, auto&, auto&) { nic(r).set_tap_device("tap-0123456789ab"); },
       "config.network[0].tap_device", "invalid_argument", "invalid_ifname"},
      {"tap_in_use",
       [](auto& r, auto&, auto& e) {
         nic(r).set_tap_device("tap1");
         e.taps_in_use.insert("tap1");
       },
       "config.network[0].tap_device", "already_exists", "tap_in_use"},
      {"mac_multicast", [](auto& r, auto&, auto&) { nic(r).set_mac_address("01:00:5e:00:00:01"); },
       "config.network[0].mac_address", "invalid_argument", "invalid_mac"},
      {"mac_garbage", [](auto& r, auto&, auto&) { nic(r).set_mac_address("aa:fc:00"); },
       "config.network[0].mac_address", "invalid_argument", "invalid_mac"},
      {"mac_in_use",
       [](auto&, auto&, auto& e) { e.macs_in_use.insert(*MacAddr::parse("aa:fc:00:00:00:01")); },
       "config.network[0].mac_address", "already_exists", "mac_in_use"},
      {"tenant_missing", [](auto& r, auto&, auto&) { r.mutable_config()->clear_tenant_id(); },
       "config.tenant_id", "invalid_argument", "required"},
      {"profile_unknown",
       [](auto& r, auto&, auto&) {
         r.mutable_config()->mutable_security_profile()->set_profile_name("max");
       },
       "config.security_profile.profile_name", "invalid_argument", "invalid_value"},
      {"source_guard_off", [](auto& r, auto&, auto&) { sec(r).set_enable_source_guard(false); },
       "config.network[0].ipv6.security.enable_source_guard", "invalid_argument",
       "security_control_required"},
      {"high_no_ra_sources", [](auto& r, auto&, auto&) { sec(r).clear_allowed_ra_sources(); },
       "config.network[0].ipv6.security.allowed_ra_sources", "invalid_argument",
       "security_control_required"},
      {"medium_no_ra_sources",
       [](auto& r, auto&, auto&) {
         sec(r).clear_allowed_ra_sources();
         r.mutable_config()->mutable_security_profile()->set_profile_name("medium");
       },
       nullptr, nullptr, nullptr},
      {"high_no_hbh_filter", [](auto& r, auto&, auto&) { sec(r).set_block_hop_by_hop(false); },
       "config.network[0].ipv6.security.block_hop_by_hop", "invalid_argument",
       "security_control_required"},
      {"high_no_rh_filter", [](auto& r, auto&, auto&) { sec(r).set_block_routing_header(false); },
       "config.network[0].ipv6.security.block_routing_header", "invalid_argument",
       "security_control_required"},
      {"high_no_nd_rate", [](auto& r, auto&, auto&) { sec(r).clear_nd_rate_limit(); },
       "config.network[0].ipv6.security.nd_rate_limit", "invalid_argument",
       "security_control_required"},
      {"high_no_icmp_rate", [](auto& r, auto&, auto&) { sec(r).clear_icmpv6_rate_limit(); },
       "config.network[0].ipv6.security.icmpv6_rate_limit", "invalid_argument",
       "security_control_required"},
      {"high_no_ra_rate", [](auto& r, auto&, auto&) { sec(r).clear_ra_rate_limit(); },
       "config.network[0].ipv6.security.ra_rate_limit", "invalid_argument",
       "security_control_required"},
      {"high_no_isolation", [](auto& r, auto&, auto&) { pol(r).clear_tenant_isolation_level(); },
       "config.network[0].security_policy.tenant_isolation_level", "invalid_argument",
       "security_control_required"},
      {"isolation_unknown",
       [](auto& r, auto&, auto&) { pol(r).set_tenant_isolation_level("total"); },
       "config.network[0].security_policy.tenant_isolation_level", "invalid_argument",
       "invalid_value"},
      {"ra_source_garbage",
       [](auto& r, auto&, auto&) { sec(r).set_allowed_ra_sources(0, "router"); },
       "config.network[0].ipv6.security.allowed_ra_sources[0]", "invalid_argument",
       "invalid_address"},
      {"rule_syntax",
       [](auto& r, auto&, auto&) { pol(r).set_ingress_rules(1, "allow tcp to any"); },
       "config.network[0].security_policy.ingress_rules[1]", "invalid_argument",
       "invalid_firewall_rule"},
      {"rule_6in4",
       [](auto& r, auto&, auto&) { pol(r).add_egress_rules("allow 41 from any to any"); },
       "config.network[0].security_policy.egress_rules[3]", "permission_denied",
       "tunnel_protocol_blocked"},
      {"rule_gre",
       [](auto& r, auto&, auto&) { pol(r).add_egress_rules("allow 47 from any to any"); },
       "config.network[0].security_policy.egress_rules[3]", "permission_denied",
       "tunnel_protocol_blocked"},
      {"rule_teredo",
       [](auto& r, auto&, auto&) {
         pol(r).add_egress_rules("allow udp from any to any port 3000-4000");
       },
       "config.network[0].security_policy.egress_rules[3]", "permission_denied",
       "tunnel_protocol_blocked"},
      {"rule_vxlan",
       [](auto& r, auto&, auto&) { pol(r).add_egress_rules("allow udp from any to any"); },
       "config.network[0].security_policy.egress_rules[3]", "permission_denied",
       "tunnel_protocol_blocked"},
      {"rule_tunnel_permitted",
       [](auto& r, auto& h, auto&) {
         h.allow_tunnel_rules = true;
         pol(r).add_egress_rules("allow 41 from any to any");
       },
       nullptr, nullptr, nullptr},
      {"rule_deny_tunnel_fine",
       [](auto& r, auto&, auto&) { pol(r).add_egress_rules("deny 41 from any to any"); }, nullptr,
       nullptr, nullptr},
      {"pool_unknown",
       [](auto& r, auto&, auto&) { r.mutable_config()->add_ipv6_pools()->set_name("nope"); },
       "config.ipv6_pools[0]", "invalid_argument", "unknown_pool"},
      {"pool_authorized",
       [](auto& r, auto&, auto&) { r.mutable_config()->add_ipv6_pools()->set_name("basic-pool"); },
       nullptr, nullptr, nullptr},
      {"no_network", [](auto& r, auto&, auto&) { r.mutable_config()->clear_network(); },
       "config.network", "invalid_argument", "required"},
      {"too_many_networks",
       [](auto& r, auto&, auto&) {
         while (r.config().network_size() <= kMaxInterfacesPerVm)
           *r.mutable_config()->add_network() = r.config().network(0);
       },
       "config.network", "invalid_argument", "too_many_interfaces"},
  };
  return table;
}

class ConfigRule : public ::testing::TestWithParam<Case> {};

TEST_P(ConfigRule, ProducesExactlyTheExpectedViolation) {
  const Case& c = GetParam();
  auto r = load_request("create_vm_single.json");
  auto host = spec_host();
  ExistingState existing;
  c.mutate(r, host, existing);
  auto v = validate_create_vm(r, host, existing);
  if (c.field == nullptr) {
    EXPECT_TRUE(v.empty()) << dump(v);
    return;
  }
  ASSERT_EQ(v.size(), 1u) << dump(v);
  EXPECT_EQ(v[0].field, c.field);
  EXPECT_EQ(v[0].code, c.code);
  EXPECT_EQ(v[0].validation_error, c.error);
  EXPECT_FALSE(v[0].message.empty());
}

// VmService validates in two halves (the stateless one outside the create
// batch's lock): for every row, the halves answer exactly as allocate_vm does
// - the same violations in the same order, or the same allocated config.
TEST_P(ConfigRule, TwoHalvesAnswerAsAllocateVm) {
  const Case& c = GetParam();
  auto r = load_request("create_vm_single.json");
  r.set_vm_id("vm-halves");
  auto host = spec_host();
  ExistingState existing;
  c.mutate(r, host, existing);
  TenantRateLimiter whole_limiter(host.tenant_allocations_per_hour);
  TenantRateLimiter halves_limiter(host.tenant_allocations_per_hour);
  const auto whole = allocate_vm(r, host, existing, whole_limiter, 0);
  auto prepared = prepare_allocation(r, host);
  // A request the stateless half refuses goes to allocate_vm as a whole.
  const auto halves =
      prepared.ok() ? allocate_prepared(r, std::move(prepared), host, existing, halves_limiter, 0)
                    : allocate_vm(r, host, existing, halves_limiter, 0);
  EXPECT_EQ(dump(halves.violations), dump(whole.violations));
  ASSERT_EQ(halves.violations.size(), whole.violations.size());
  for (std::size_t i = 0; i < whole.violations.size(); ++i) {
    EXPECT_EQ(halves.violations[i].message, whole.violations[i].message);
    EXPECT_EQ(halves.violations[i].context, whole.violations[i].context);
  }
  EXPECT_EQ(halves.config.SerializeAsString(), whole.config.SerializeAsString());
  // The rows about other VMs pass the stateless half: the conflict is found
  // by the stateful one.
  if (c.field != nullptr && (std::string(c.error).ends_with("_in_use") ||
                             std::string(c.error) == "bridge_owned_by_other_tenant")) {
    EXPECT_TRUE(prepare_allocation(r, host).ok()) << c.name;
    EXPECT_TRUE(conflicts_with_existing(r, existing)) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ConfigRule, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& p) {
                           return std::string(p.param.name);
                         });

}  // namespace
}  // namespace v6g::config
