#include <gtest/gtest.h>

#include "config/allocate.h"

namespace v6g::config {
namespace {

HostConfig host_with_pools() {
  std::string error;
  auto h = parse_host_config(R"({
    "allocated_blocks": ["2600:beef:1000::/44"],
    "pools": [{"name": "standard-pool", "prefix": "2600:beef:1001::/64"},
              {"name": "gold", "prefix": "2600:beef:1003::/120", "authorized_tenants": ["t2"]}],
    "tenant_allocations_per_hour": 3})",
                             &error);
  EXPECT_TRUE(h) << error;
  return h.value_or(HostConfig{});
}

vmprovisioner::v1::CreateVmRequest minimal(const std::string& vm_id, const std::string& tenant) {
  vmprovisioner::v1::CreateVmRequest r;
  r.set_vm_id(vm_id);
  auto& cfg = *r.mutable_config();
  cfg.set_tenant_id(tenant);
  auto& nic = *cfg.add_network();
  nic.set_id("eth0");
  nic.set_bridge_name("br-" + tenant);
  nic.set_vlan_id("200");
  nic.mutable_ipv6()->mutable_security()->set_enable_ra_guard(true);
  nic.mutable_ipv6()->mutable_security()->set_enable_source_guard(true);
  return r;
}

TEST(ConfigHost, RejectsBadFiles) {
  std::string error;
  EXPECT_FALSE(parse_host_config("{", &error));
  EXPECT_FALSE(parse_host_config(R"({"allocated_blocks": ["2600:beef::1/32"]})", &error));
  EXPECT_NE(error.find("allocated_blocks"), std::string::npos);
  EXPECT_FALSE(parse_host_config(R"({"tenant_vlan_grants": [{"vlan_id": 1, "bridge_name": "br"}]})",
                                 &error));
  EXPECT_FALSE(parse_host_config(R"({"nd_rate_limit": {"min": 10, "max": 5}})", &error));
  EXPECT_FALSE(parse_host_config(R"({"unknown_field": 1})", &error));
  auto h = parse_host_config(R"({"tenant_allocations_per_hour": 0})", &error);
  ASSERT_TRUE(h) << error;
  EXPECT_EQ(h->tenant_allocations_per_hour, 0u);
  EXPECT_EQ(parse_host_config("{}", &error)->tenant_allocations_per_hour, 100u);
}

TEST(ConfigAllocate, FillsMacTapAndFirstFreeAddress) {
  auto host = host_with_pools();
  TenantRateLimiter limiter(0);
  ExistingState existing;
  existing.addresses_in_use.insert(*Ip6Addr::parse("2600:beef:1001::2"));
  auto a = allocate_vm(minimal("vm-1", "t1"), host, existing, limiter, 0);
  ASSERT_TRUE(a.ok()) << a.violations[0].message;
  const auto& nic = a.config.network(0);
  EXPECT_EQ(nic.ipv6().address(), "2600:beef:1001::3/64");
  EXPECT_EQ(nic.ipv6().pool(), "standard-pool");
  auto mac = MacAddr::parse(nic.mac_address());
  ASSERT_TRUE(mac);
  EXPECT_EQ(mac->bytes[0] & 0x03, 0x02);  // locally administered, unicast
  EXPECT_LE(nic.tap_device().size(), 15u);
  EXPECT_EQ(nic.tap_device().rfind("v6g", 0), 0u);
  EXPECT_TRUE(valid_ifname(nic.tap_device()));
  // Deterministic: same inputs, same answer.
  auto b = allocate_vm(minimal("vm-1", "t1"), host, existing, limiter, 0);
  EXPECT_EQ(b.config.network(0).mac_address(), nic.mac_address());
  EXPECT_EQ(b.config.network(0).tap_device(), nic.tap_device());
  // The result validates against the host (what the store persists is legal).
  EXPECT_TRUE(validate_create_vm(
                  [&] {
                    vmprovisioner::v1::CreateVmRequest r;
                    *r.mutable_config() = a.config;
                    return r;
                  }(),
                  host, existing)
                  .empty());
}

TEST(ConfigAllocate, CollisionsMoveToTheNextCandidate) {
  auto host = host_with_pools();
  TenantRateLimiter limiter(0);
  ExistingState existing;
  existing.macs_in_use.insert(generate_mac("vm-1", "eth0", 0));
  existing.taps_in_use.insert(generate_tap_name("vm-1", "eth0", 0));
  auto a = allocate_vm(minimal("vm-1", "t1"), host, existing, limiter, 0);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.config.network(0).mac_address(), generate_mac("vm-1", "eth0", 1).to_string());
  EXPECT_EQ(a.config.network(0).tap_device(), generate_tap_name("vm-1", "eth0", 1));
  EXPECT_NE(generate_mac("vm-1", "eth0", 0), generate_mac("vm-2", "eth0", 0));
}

TEST(ConfigAllocate, TwoInterfacesGetDistinctAddresses) {
  auto host = host_with_pools();
  TenantRateLimiter limiter(0);
  auto r = minimal("vm-1", "t1");
  auto& second = *r.mutable_config()->add_network();
  second = r.config().network(0);
  second.set_id("eth1");
  second.set_vlan_id("201");
  auto a = allocate_vm(r, host, {}, limiter, 0);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.config.network(0).ipv6().address(), "2600:beef:1001::2/64");
  EXPECT_EQ(a.config.network(1).ipv6().address(), "2600:beef:1001::3/64");
  EXPECT_NE(a.config.network(0).mac_address(), a.config.network(1).mac_address());
}

TEST(ConfigAllocate, PoolExhaustedAndUnauthorized) {
  auto host = host_with_pools();
  TenantRateLimiter limiter(0);
  ExistingState existing;
  auto r = minimal("vm-1", "t2");
  r.mutable_config()->mutable_network(0)->mutable_ipv6()->set_pool("gold");
  for (int i = 2; i < 256; ++i) {
    Ip6Addr a = *Ip6Addr::parse("2600:beef:1003::");
    a.bytes[15] = static_cast<std::uint8_t>(i);
    existing.addresses_in_use.insert(a);
  }
  auto a = allocate_vm(r, host, existing, limiter, 0);
  ASSERT_EQ(a.violations.size(), 1u);
  EXPECT_EQ(a.violations[0].code, "resource_exhausted");
  EXPECT_EQ(a.violations[0].validation_error, "pool_exhausted");

  auto denied = minimal("vm-2", "t1");
  denied.mutable_config()->mutable_network(0)->mutable_ipv6()->set_pool("gold");
  auto d = allocate_vm(denied, host, {}, limiter, 0);
  ASSERT_EQ(d.violations.size(), 1u);
  EXPECT_EQ(d.violations[0].field, "config.network[0].ipv6.pool");
  EXPECT_EQ(d.violations[0].code, "permission_denied");
  EXPECT_EQ(d.violations[0].context_value("allowed_pools"), "standard-pool");
}

TEST(ConfigAllocate, RateLimitRefusalDoesNotCharge) {
  auto host = host_with_pools();
  TenantRateLimiter limiter(host.tenant_allocations_per_hour);  // 3/hour, interval 1200 s
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(allocate_vm(minimal("vm", "t1"), host, {}, limiter, 0).ok());
  auto refused = allocate_vm(minimal("vm", "t1"), host, {}, limiter, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.violations[0].context_value("retry_after"), "1200 seconds");
  // Invalid requests neither consume tokens nor see the limiter.
  auto bad = minimal("vm", "t3");
  bad.mutable_config()->mutable_network(0)->set_vlan_id("0");
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(allocate_vm(bad, host, {}, limiter, 0).violations[0].validation_error, "vlan_zero");
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(allocate_vm(minimal("vm", "t3"), host, {}, limiter, 0).ok());
  const Nanos s = 1'000'000'000;
  EXPECT_FALSE(allocate_vm(minimal("vm", "t1"), host, {}, limiter, 1199 * s).ok());
  EXPECT_TRUE(allocate_vm(minimal("vm", "t1"), host, {}, limiter, 1200 * s).ok());
}

TEST(ConfigAllocate, NoPoolIsAFailedPrecondition) {
  HostConfig host;
  host.allocated_blocks.push_back(*Ip6Prefix::parse("2600:beef:1000::/44"));
  TenantRateLimiter limiter(0);
  auto a = allocate_vm(minimal("vm", "t1"), host, {}, limiter, 0);
  ASSERT_EQ(a.violations.size(), 1u);
  EXPECT_EQ(a.violations[0].code, "failed_precondition");
  EXPECT_EQ(a.violations[0].field, "config.network[0].ipv6.address");
}

}  // namespace
}  // namespace v6g::config
