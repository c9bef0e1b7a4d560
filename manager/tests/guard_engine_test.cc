// Guard engine unit tests with a fake clock: every RA Guard transition and
// every rule, each asserting the reason that only that rule produces.
#include <gtest/gtest.h>

#include "guard/engine.h"
#include "guard_test_util.h"

namespace v6g::guard {
namespace {

using namespace v6g::guard::testing;  // NOLINT
using packet::PacketClass;

constexpr PortId kVmA = 10, kVmB = 11, kRouter = 1, kTrusted = 2;
const MacAddr kMacA = mac("02:00:00:00:00:0a");
const MacAddr kMacB = mac("02:00:00:00:00:0b");
const MacAddr kRtrMac = mac("02:00:00:00:01:01");
const Ip6Addr kRtrLl = ip("fe80::1");

class GuardTest : public EngineTest {
 protected:
  void SetUp() override { reset(); }

  void reset(EngineConfig cfg = {}) {
    start_engine(cfg);
    ASSERT_TRUE(engine_->upsert_port(vm(kVmA, kMacA, "2001:db8:a::/64"), now_, fx_));
    ASSERT_TRUE(engine_->upsert_port(vm(kVmB, kMacB, "2001:db8:b::/64"), now_, fx_));
    PortPolicy r;
    r.port = kRouter;
    r.role = PortRole::kRouter;
    ASSERT_TRUE(engine_->upsert_port(r, now_, fx_));
    PortPolicy t;
    t.port = kTrusted;
    t.role = PortRole::kTrusted;
    ASSERT_TRUE(engine_->upsert_port(t, now_, fx_));
    fx_.clear();
  }

  static PortPolicy vm(PortId id, const MacAddr& m, const char* pfx) { return vm_port(id, m, pfx); }

  PortPolicy router(Nanos learning, bool forward) {
    PortPolicy r;
    r.port = kRouter;
    r.role = PortRole::kRouter;
    r.ra_learning_period = learning;
    r.forward_during_learning = forward;
    return r;
  }

  // FCFS: DAD NS, then the DAD timeout passes without a conflict.
  void bind(PortId port, const MacAddr& m, const Ip6Addr& a) {
    ASSERT_EQ(why(port, dad_ns(m, a)), V6G_R_ACCEPT_DAD);
    advance(2 * kSecond);
  }
};

// ---- RA Guard ---------------------------------------------------------------

TEST_F(GuardTest, RaFromVmPortIsDroppedAlways) {
  EXPECT_EQ(why(kVmA, ra(kMacA, ip("fe80::a"))), V6G_R_RA_FROM_VM_PORT);
  engine_->set_ra_device_state(RaDeviceState::kOff, now_);
  EXPECT_EQ(why(kVmA, ra(kMacA, ip("fe80::a"))), V6G_R_RA_FROM_VM_PORT);
  EXPECT_EQ(engine_->ra_port_state(kVmA), RaPortState::kBlocking);
}

TEST_F(GuardTest, RouterPortWithoutLearningForwardsValidRa) {
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kForwarding);
  EXPECT_EQ(decide(kRouter, ra(kRtrMac, kRtrLl)).verdict, Verdict::kAccept);
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_ACCEPT_RA);
}

TEST_F(GuardTest, LearningBlockModeThenForwarding) {
  ASSERT_TRUE(engine_->upsert_port(router(30 * kSecond, false), now_, fx_));
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kLearning);
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_RA_LEARNING_BLOCKED);
  advance(29 * kSecond);
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kLearning);
  advance(kSecond);
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kForwarding);
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_ACCEPT_RA);
}

TEST_F(GuardTest, LearningForwardModeForwardsValidAndBlocksAfterInvalid) {
  ASSERT_TRUE(engine_->upsert_port(router(10 * kSecond, true), now_, fx_));
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_ACCEPT_LEARNING);
  auto bad = ra(kRtrMac, kRtrLl);
  std::get<packet::RouterAdvert>(bad.message).preference = packet::RouterPreference::kHigh;
  PortPolicy r = router(10 * kSecond, true);
  r.max_router_preference = packet::RouterPreference::kMedium;
  ASSERT_TRUE(engine_->upsert_port(r, now_, fx_));  // same role: learning continues
  EXPECT_EQ(why(kRouter, bad), V6G_R_RA_PREFERENCE_TOO_HIGH);
  advance(10 * kSecond);
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kBlocking);
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_RA_PORT_BLOCKING);
}

TEST_F(GuardTest, LearningWithoutAnyRaEndsBlockingAndNewSourceRelearns) {
  ASSERT_TRUE(engine_->upsert_port(router(5 * kSecond, false), now_, fx_));
  advance(5 * kSecond);
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kBlocking);
  // First RA from a new source: back to learning (blocked in block mode).
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_RA_LEARNING_BLOCKED);
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kLearning);
  advance(5 * kSecond);
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kForwarding);
}

TEST_F(GuardTest, ForwardingPortReturnsToLearningOnNewSource) {
  ASSERT_TRUE(engine_->upsert_port(router(5 * kSecond, false), now_, fx_));
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_RA_LEARNING_BLOCKED);
  advance(5 * kSecond);
  ASSERT_EQ(engine_->ra_port_state(kRouter), RaPortState::kForwarding);
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_ACCEPT_RA);
  EXPECT_EQ(why(kRouter, ra(mac("02:00:00:00:01:02"), ip("fe80::2"))), V6G_R_RA_LEARNING_BLOCKED);
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kLearning);
}

TEST_F(GuardTest, ManualStateIsPinnedUntilUnpinned) {
  ASSERT_TRUE(engine_->set_ra_port_state(kRouter, RaPortState::kBlocking, now_));
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_RA_PORT_BLOCKING);
  EXPECT_EQ(why(kRouter, ra(mac("02:00:00:00:01:02"), ip("fe80::2"))), V6G_R_RA_PORT_BLOCKING);
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kBlocking);
  ASSERT_TRUE(engine_->set_ra_port_state(kRouter, RaPortState::kForwarding, now_));
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_ACCEPT_RA);
  ASSERT_TRUE(engine_->set_ra_port_state(kRouter, RaPortState::kLearning, now_));
  advance(3600 * kSecond);  // pinned learning never ends by itself
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kLearning);
  ASSERT_TRUE(engine_->unpin_ra_port_state(kRouter, now_));
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kForwarding);  // period 0
  EXPECT_FALSE(engine_->set_ra_port_state(99, RaPortState::kBlocking, now_));
}

TEST_F(GuardTest, DeviceOffSkipsChecksOnRouterPorts) {
  auto bad = ra(kRtrMac, ip("2001:db8::1"));  // global source: invalid
  EXPECT_EQ(why(kRouter, bad), V6G_R_RA_SOURCE_NOT_LINK_LOCAL);
  engine_->set_ra_device_state(RaDeviceState::kOff, now_);
  EXPECT_EQ(engine_->ra_device_state(), RaDeviceState::kOff);
  EXPECT_EQ(why(kRouter, bad), V6G_R_ACCEPT_RA);
}

TEST_F(GuardTest, DeviceLearningHoldsPortsInLearningUntilActive) {
  ASSERT_TRUE(engine_->upsert_port(router(5 * kSecond, false), now_, fx_));
  engine_->set_ra_device_state(RaDeviceState::kLearning, now_);
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_RA_LEARNING_BLOCKED);
  advance(60 * kSecond);
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kLearning);
  engine_->set_ra_device_state(RaDeviceState::kActive, now_);
  // Active restarts the port's own learning period.
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kLearning);
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_RA_LEARNING_BLOCKED);
  advance(5 * kSecond);
  EXPECT_EQ(engine_->ra_port_state(kRouter), RaPortState::kForwarding);
}

TEST_F(GuardTest, RaCriteria) {
  PortPolicy r = router(0, false);
  r.allowed_ra_sources = {kRtrLl};
  r.allowed_ra_macs = {kRtrMac};
  r.allowed_ra_prefixes = {prefix("2001:db8::/32")};
  r.managed_flag = RaFlagPolicy::kMustBeClear;
  r.other_flag = RaFlagPolicy::kMustBeSet;
  r.max_router_preference = packet::RouterPreference::kMedium;
  ASSERT_TRUE(engine_->upsert_port(r, now_, fx_));
  auto good = ra(kRtrMac, kRtrLl);
  std::get<packet::RouterAdvert>(good.message).other = true;
  EXPECT_EQ(why(kRouter, good), V6G_R_ACCEPT_RA);

  auto p = good;
  p.ip.hop_limit = 254;
  EXPECT_EQ(why(kRouter, p), V6G_R_ND_HOP_LIMIT);
  p = good;
  p.ip.src = ip("fe80::99");
  EXPECT_EQ(why(kRouter, p), V6G_R_RA_SOURCE_NOT_ALLOWED);
  p = good;
  p.eth.src = mac("02:00:00:00:01:99");
  EXPECT_EQ(why(kRouter, p), V6G_R_RA_SOURCE_MAC_NOT_ALLOWED);
  p = good;
  std::get<packet::RouterAdvert>(p.message).options.slla = mac("02:00:00:00:01:99");
  EXPECT_EQ(why(kRouter, p), V6G_R_RA_SOURCE_MAC_NOT_ALLOWED);
  p = ra(kRtrMac, kRtrLl, "2001:db9::/64");
  std::get<packet::RouterAdvert>(p.message).other = true;
  EXPECT_EQ(why(kRouter, p), V6G_R_RA_PREFIX_NOT_ALLOWED);
  p = good;
  std::get<packet::RouterAdvert>(p.message).managed = true;
  EXPECT_EQ(why(kRouter, p), V6G_R_RA_FLAGS_NOT_ALLOWED);
  p = good;
  std::get<packet::RouterAdvert>(p.message).other = false;
  EXPECT_EQ(why(kRouter, p), V6G_R_RA_FLAGS_NOT_ALLOWED);
  p = good;
  std::get<packet::RouterAdvert>(p.message).preference = packet::RouterPreference::kHigh;
  EXPECT_EQ(why(kRouter, p), V6G_R_RA_PREFERENCE_TOO_HIGH);
  p = good;
  std::get<packet::RouterAdvert>(p.message).preference = packet::RouterPreference::kLow;
  EXPECT_EQ(why(kRouter, p), V6G_R_ACCEPT_RA);
}

TEST_F(GuardTest, RaRateLimitOnRouterPort) {
  PortPolicy r = router(0, false);
  r.ra_rate_limit = 3;
  ASSERT_TRUE(engine_->upsert_port(r, now_, fx_));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_ACCEPT_RA);
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_RA_RATE_LIMIT);
  now_ += kSecond / 3 + 1;  // one token back
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_ACCEPT_RA);
  EXPECT_EQ(why(kRouter, ra(kRtrMac, kRtrLl)), V6G_R_RA_RATE_LIMIT);
}

TEST_F(GuardTest, RedirectAndDhcpv6ServerFromVmDropped) {
  const Ip6Addr a = ip("2001:db8:a::5");
  bind(kVmA, kMacA, a);
  EXPECT_EQ(why(kVmA, icmp(kMacA, a, PacketClass::kRedirect, packet::kNdRedirect)),
            V6G_R_REDIRECT_FROM_VM_PORT);
  auto d = data(kMacA, a);
  d.klass = PacketClass::kDhcpv6Server;
  d.message = packet::Dhcpv6{547, 546, 7};
  EXPECT_EQ(why(kVmA, d), V6G_R_DHCPV6_SERVER_FROM_VM_PORT);
  d.klass = PacketClass::kDhcpv6Client;
  d.message = packet::Dhcpv6{546, 547, 1};
  EXPECT_EQ(why(kVmA, d), V6G_R_ACCEPT_DHCPV6_CLIENT);
  // From a router port, DHCPv6 replies are the server's business.
  d.klass = PacketClass::kDhcpv6Server;
  EXPECT_EQ(why(kRouter, d), V6G_R_ACCEPT_TRUSTED_PORT);
}

TEST_F(GuardTest, ParseRejectionsAreDroppedAndReported) {
  auto d = engine_->decide_parse_failure(kVmA, reason(V6G_R_FRAG_FIRST_NO_UPPER), kMacA,
                                         ip("fe80::a"), now_, fx_);
  EXPECT_EQ(d.verdict, Verdict::kDrop);
  EXPECT_EQ(d.reason, V6G_R_FRAG_FIRST_NO_UPPER);
  // Even from a router port: RFC 7113 applies to everyone.
  d = engine_->decide_parse_failure(kRouter, reason(V6G_R_ND_IN_FRAGMENT), kRtrMac, kRtrLl, now_,
                                    fx_);
  EXPECT_EQ(d.verdict, Verdict::kDrop);
  EXPECT_EQ(engine_->counter(kVmA, reason(V6G_R_FRAG_FIRST_NO_UPPER)), 1u);
  engine_->flush_events(now_, fx_);
  ASSERT_EQ(fx_.events.size(), 2u);
}

// ---- bindings (FCFS SAVI) ---------------------------------------------------

TEST_F(GuardTest, DadLearnsTentativeThenValidWithAddEffect) {
  const Ip6Addr a = ip("2001:db8:a::5");
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, a)), V6G_R_ACCEPT_DAD);
  auto b = engine_->bindings(kVmA);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].state, BindingState::kTentative);
  EXPECT_TRUE(fx_.bindings.empty());  // not pushed to the fast path while tentative
  EXPECT_EQ(why(kVmA, data(kMacA, a)), V6G_R_SOURCE_NOT_BOUND);
  advance(2 * kSecond);
  b = engine_->bindings(kVmA);
  EXPECT_EQ(b[0].state, BindingState::kValid);
  ASSERT_EQ(fx_.bindings.size(), 1u);
  EXPECT_EQ(fx_.bindings[0].kind, BindingChange::Kind::kAdd);
  EXPECT_EQ(fx_.bindings[0].binding.addr, a);
  EXPECT_EQ(fx_.bindings[0].binding.mac, kMacA);
  EXPECT_EQ(fx_.bindings[0].binding.ifindex, kVmA);
  EXPECT_EQ(why(kVmA, data(kMacA, a)), V6G_R_ACCEPT_BINDING);
}

// A VM access port in VLAN 100 sends untagged frames: the engine keys the
// binding by VLAN 100, the datapath (which matches the frame's tag) gets 0 -
// on add and on remove alike.
TEST_F(GuardTest, LearntBindingInPortVlanGoesToDatapathUntagged) {
  PortPolicy p = vm(kVmA, kMacA, "2001:db8:a::/64");
  p.vlan = 100;
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  const Ip6Addr a = ip("2001:db8:a::7");
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, a)), V6G_R_ACCEPT_DAD);
  advance(2 * kSecond);
  const auto b = engine_->bindings(kVmA);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].vlan, 100);
  ASSERT_EQ(fx_.bindings.size(), 1u);
  EXPECT_EQ(fx_.bindings[0].binding.vlan, 0);
  EXPECT_EQ(why(kVmA, data(kMacA, a)), V6G_R_ACCEPT_BINDING);
  fx_ = {};
  engine_->remove_port(kVmA, fx_);
  ASSERT_EQ(fx_.bindings.size(), 1u);
  EXPECT_EQ(fx_.bindings[0].kind, BindingChange::Kind::kRemove);
  EXPECT_EQ(fx_.bindings[0].binding.vlan, 0);
}

TEST_F(GuardTest, LearningOnlyInsideAllocatedPrefixButLinkLocalFcfs) {
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, ip("2001:db8:b::5"))), V6G_R_SOURCE_OUTSIDE_PREFIX);
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, ip("fe80::1234"))), V6G_R_ACCEPT_DAD);
  EXPECT_EQ(engine_->port_binding_count(kVmA), 1u);
}

TEST_F(GuardTest, PerPortCapStopsNdCacheExhaustion) {
  PortPolicy p = vm(kVmA, kMacA, "2001:db8:a::/64");
  p.max_bindings = 4;
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, ip("fe80::a"))), V6G_R_ACCEPT_DAD);  // link-local counts
  for (int i = 1; i <= 3; ++i) {
    Ip6Addr a = ip("2001:db8:a::");
    a.bytes[15] = static_cast<std::uint8_t>(i);
    EXPECT_EQ(why(kVmA, dad_ns(kMacA, a)), V6G_R_ACCEPT_DAD);
  }
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, ip("2001:db8:a::99"))), V6G_R_BINDING_LIMIT);
  EXPECT_EQ(engine_->port_binding_count(kVmA), 4u);
  // Another port is unaffected.
  EXPECT_EQ(why(kVmB, dad_ns(kMacB, ip("2001:db8:b::99"))), V6G_R_ACCEPT_DAD);
}

TEST_F(GuardTest, RestoredFastPathBindingsAreValidUnderLearningRules) {
  // Before the restore the address is unknown: its ND is dropped.
  EXPECT_EQ(why(kVmA, ns(kMacA, ip("2001:db8:a::77"), ip("2001:db8:a::1"))),
            V6G_R_SOURCE_NOT_BOUND);
  ASSERT_TRUE(engine_->restore_binding(kVmA, kMacA, ip("2001:db8:a::77"), now_));
  EXPECT_TRUE(fx_.bindings.empty());  // already in the fast path: nothing to push
  EXPECT_EQ(why(kVmA, ns(kMacA, ip("2001:db8:a::77"), ip("2001:db8:a::1"))), V6G_R_ACCEPT_ND);
  EXPECT_EQ(why(kVmA, data(kMacA, ip("2001:db8:a::77"))), V6G_R_ACCEPT_BINDING);
  // Idempotent, and the same rules as FCFS learning: prefix, owner, cap.
  EXPECT_TRUE(engine_->restore_binding(kVmA, kMacA, ip("2001:db8:a::77"), now_));
  EXPECT_EQ(engine_->port_binding_count(kVmA), 1u);
  EXPECT_FALSE(engine_->restore_binding(kVmA, kMacA, ip("2001:db8:b::5"), now_));
  EXPECT_FALSE(engine_->restore_binding(kVmB, kMacB, ip("2001:db8:a::77"), now_));
  PortPolicy p = vm(kVmA, kMacA, "2001:db8:a::/64");
  p.max_bindings = 1;
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  EXPECT_FALSE(engine_->restore_binding(kVmA, kMacA, ip("2001:db8:a::78"), now_));
}

TEST_F(GuardTest, StaticBindingsAreValidAtOnceAndReconciled) {
  PortPolicy p = vm(kVmA, kMacA, "2001:db8:a::/64");
  p.static_addresses = {ip("2001:db8:a::100")};
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  ASSERT_EQ(fx_.bindings.size(), 1u);
  EXPECT_EQ(fx_.bindings[0].kind, BindingChange::Kind::kAdd);
  EXPECT_EQ(why(kVmA, data(kMacA, ip("2001:db8:a::100"))), V6G_R_ACCEPT_BINDING);
  advance(365 * 86400 * kSecond);  // static never expires
  EXPECT_EQ(why(kVmA, data(kMacA, ip("2001:db8:a::100"))), V6G_R_ACCEPT_BINDING);
  fx_.clear();
  p.static_addresses.clear();
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  ASSERT_EQ(fx_.bindings.size(), 1u);
  EXPECT_EQ(fx_.bindings[0].kind, BindingChange::Kind::kRemove);
  EXPECT_EQ(why(kVmA, data(kMacA, ip("2001:db8:a::100"))), V6G_R_SOURCE_NOT_BOUND);
  // A static address owned by another port is refused.
  EXPECT_TRUE(engine_->add_static_binding(kVmB, ip("2001:db8:b::1"), fx_));
  EXPECT_FALSE(engine_->add_static_binding(kVmA, ip("2001:db8:b::1"), fx_));
}

TEST_F(GuardTest, ExpiryGoesThroughTestingValAndTrafficRevalidates) {
  PortPolicy p = vm(kVmA, kMacA, "2001:db8:a::/64");
  p.binding_lifetime = 60 * kSecond;
  p.temp_valid_lifetime = 600 * kSecond;
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  const Ip6Addr eui = ip("2001:db8:a:0:0:ff:fe00:a");  // EUI-64 of 02:00:00:00:00:0a
  const Ip6Addr priv = ip("2001:db8:a::1:2:3:4");
  bind(kVmA, kMacA, eui);
  bind(kVmA, kMacA, priv);
  fx_.clear();
  advance(61 * kSecond);
  auto state_of = [&](const Ip6Addr& a) {
    for (const auto& b : engine_->bindings(kVmA))
      if (b.addr == a) return std::optional(b.state);
    return std::optional<BindingState>();
  };
  EXPECT_EQ(state_of(eui), BindingState::kTestingVal);
  EXPECT_EQ(state_of(priv), BindingState::kValid);               // privacy: temp_valid_lifetime
  EXPECT_EQ(why(kVmA, data(kMacA, eui)), V6G_R_ACCEPT_BINDING);  // still usable
  EXPECT_EQ(state_of(eui), BindingState::kValid);                // and re-validated
  advance(61 * kSecond);
  EXPECT_EQ(state_of(eui), BindingState::kTestingVal);
  advance(6 * kSecond);  // grace passes without traffic
  EXPECT_EQ(state_of(eui), std::nullopt);
  ASSERT_EQ(fx_.bindings.size(), 1u);
  EXPECT_EQ(fx_.bindings[0].kind, BindingChange::Kind::kRemove);
  EXPECT_EQ(fx_.bindings[0].binding.addr, eui);
  EXPECT_EQ(engine_->port_binding_count(kVmA), 1u);
  EXPECT_EQ(why(kVmA, data(kMacA, eui)), V6G_R_SOURCE_NOT_BOUND);
}

// ---- ND inspection ----------------------------------------------------------

TEST_F(GuardTest, NaForAddressNotOwnedIsDropped_Parasite6) {
  const Ip6Addr victim = ip("2001:db8:a::5");
  bind(kVmA, kMacA, victim);
  bind(kVmB, kMacB, ip("2001:db8:b::5"));
  // VM B claims A's address (parasite6 / fake_advertise6).
  EXPECT_EQ(why(kVmB, na(kMacB, ip("2001:db8:b::5"), victim)), V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  // ...or the router's / an unknown address.
  EXPECT_EQ(why(kVmB, na(kMacB, ip("2001:db8:b::5"), ip("2001:db8:b::77"))),
            V6G_R_ND_TARGET_NOT_OWNED);
  // The owner may advertise its own address.
  EXPECT_EQ(why(kVmA, na(kMacA, victim, victim)), V6G_R_ACCEPT_ND);
}

TEST_F(GuardTest, DadDosProtection_DosNewIp6) {
  const Ip6Addr a = ip("fe80::abcd");
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, a)), V6G_R_ACCEPT_DAD);  // still tentative
  // The attacker answers the DAD probe with an NA, or races with its own DAD NS.
  EXPECT_EQ(why(kVmB, na(kMacB, Ip6Addr{}, a)), V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  EXPECT_EQ(why(kVmB, dad_ns(kMacB, a)), V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  advance(2 * kSecond);
  auto b = engine_->bindings(kVmA);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].state, BindingState::kValid);
  EXPECT_TRUE(engine_->bindings(kVmB).empty());
}

TEST_F(GuardTest, LinkLayerAddressOptionsMustMatchFrameSource) {
  const Ip6Addr a = ip("2001:db8:a::5");
  bind(kVmA, kMacA, a);
  auto n = na(kMacA, a, a);
  std::get<packet::NeighborAdvert>(n.message).options.tlla = mac("02:00:00:00:00:99");
  EXPECT_EQ(why(kVmA, n), V6G_R_ND_LLA_MISMATCH);
  auto s = ns(kMacA, a, ip("2001:db8:a::1"));
  std::get<packet::NeighborSolicit>(s.message).options.slla = mac("02:00:00:00:00:99");
  EXPECT_EQ(why(kVmA, s), V6G_R_ND_LLA_MISMATCH);
  EXPECT_EQ(why(kVmA, ns(kMacA, a, ip("2001:db8:a::1"))), V6G_R_ACCEPT_ND);
  EXPECT_EQ(why(kVmA, ns(kMacA, ip("2001:db8:a::9"), ip("2001:db8:a::1"))), V6G_R_SOURCE_NOT_BOUND);
}

TEST_F(GuardTest, UnsolicitedOverrideRules) {
  const Ip6Addr a = ip("2001:db8:a::5");
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, a)), V6G_R_ACCEPT_DAD);
  // Unsolicited override NA for an address still under DAD: refused.
  EXPECT_EQ(why(kVmA, na(kMacA, a, a, false, true)), V6G_R_ND_OVERRIDE_REFUSED);
  advance(2 * kSecond);
  EXPECT_EQ(why(kVmA, na(kMacA, a, a, false, true)), V6G_R_ACCEPT_ND);
  // Non-strict port: a second MAC on the same port may not override the owner.
  PortPolicy p = vm(kVmA, MacAddr{}, "2001:db8:a::/64");
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));  // mac changed: bindings reset
  bind(kVmA, kMacA, a);
  const MacAddr other = mac("02:00:00:00:00:aa");
  EXPECT_EQ(why(kVmA, na(other, Ip6Addr{}, a, false, true)), V6G_R_ND_OVERRIDE_REFUSED);
  EXPECT_EQ(why(kVmA, na(other, Ip6Addr{}, a, false, false)), V6G_R_ND_TARGET_NOT_OWNED);
}

// ---- source guard -------------------------------------------------------------

// The kernel uses an address the moment DAD ends (RFC 4862: RetransTimer
// after the NS); the 1 Hz timer makes the binding VALID up to a second later.
// Traffic in between is the owner's and must pass, not before the deadline.
TEST_F(GuardTest, SourceUsableWhenDadEndsNotAtTheNextTimerTick) {
  const Ip6Addr a = ip("fe80::a");
  now_ += kSecond * 10 + kSecond * 3 / 10;  // DAD NS at x.3 s
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, a)), V6G_R_ACCEPT_DAD);
  now_ += kSecond * 9 / 10;  // x+1.2 s: DAD still running
  engine_->tick(now_, fx_);
  EXPECT_EQ(why(kVmA, data(kMacA, a)), V6G_R_SOURCE_NOT_BOUND);
  now_ += kSecond / 10 + kSecond / 100;  // x+1.31 s: DAD over, timer not yet fired
  EXPECT_EQ(why(kVmA, data(kMacA, a)), V6G_R_ACCEPT_BINDING);
  EXPECT_EQ(engine_->bindings(kVmA).at(0).state, BindingState::kTentative);
  fx_.clear();
  now_ += kSecond;  // the timer promotes it and tells the fast path
  engine_->tick(now_, fx_);
  EXPECT_EQ(engine_->bindings(kVmA).at(0).state, BindingState::kValid);
  ASSERT_EQ(fx_.bindings.size(), 1u);
  // Another MAC on another port still can't use it.
  EXPECT_NE(why(kVmB, data(kMacB, a)), V6G_R_ACCEPT_BINDING);
}

// VM ports are access ports: the VM sends untagged frames, the bridge puts
// them in the port's VLAN. Untagged = the port's VLAN; a tag must match it.
TEST_F(GuardTest, AccessPortVlanUntaggedFramesBelongToThePortVlan) {
  PortPolicy p = vm(kVmA, kMacA, "2001:db8:a::/64");
  p.vlan = 200;
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  const Ip6Addr a = ip("2001:db8:a::5");
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, a)), V6G_R_ACCEPT_DAD);  // untagged DAD learns on VLAN 200
  now_ += 3 * kSecond;
  engine_->tick(now_, fx_);
  const auto b = engine_->bindings(kVmA);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].vlan, 200);
  EXPECT_EQ(b[0].state, BindingState::kValid);
  EXPECT_EQ(why(kVmA, data(kMacA, a)), V6G_R_ACCEPT_BINDING);
  auto tagged = data(kMacA, a);
  tagged.eth.vlan_tagged = true;
  tagged.eth.vlan_id = 200;
  EXPECT_EQ(why(kVmA, tagged), V6G_R_ACCEPT_BINDING);
  tagged.eth.vlan_id = 300;  // VLAN hopping attempt
  EXPECT_EQ(why(kVmA, tagged), V6G_R_SOURCE_VLAN_MISMATCH);
}

TEST_F(GuardTest, SourceGuard) {
  const Ip6Addr a = ip("2001:db8:a::5");
  EXPECT_EQ(why(kVmA, data(kMacA, a)), V6G_R_SOURCE_NOT_BOUND);
  bind(kVmA, kMacA, a);
  EXPECT_EQ(why(kVmA, data(kMacA, a)), V6G_R_ACCEPT_BINDING);
  EXPECT_EQ(why(kVmA, data(kMacA, ip("2001:db8:a::6"))), V6G_R_SOURCE_NOT_BOUND);
  EXPECT_EQ(why(kVmA, data(kMacA, Ip6Addr{})), V6G_R_SOURCE_NOT_BOUND);
  EXPECT_EQ(why(kVmA, data(kMacB, a)), V6G_R_ETH_SOURCE_MAC_MISMATCH);
  EXPECT_EQ(why(kVmB, data(kMacB, a)), V6G_R_SOURCE_NOT_BOUND);  // another port spoofing A
  auto tagged = data(kMacA, a);
  tagged.eth.vlan_tagged = true;
  tagged.eth.vlan_id = 7;
  EXPECT_EQ(why(kVmA, tagged), V6G_R_SOURCE_VLAN_MISMATCH);
  // :: only for DAD NS and MLD reports (and RS).
  EXPECT_EQ(why(kVmA, icmp(kMacA, Ip6Addr{}, PacketClass::kMld, packet::kMldV2Report)),
            V6G_R_ACCEPT_MLD);
  EXPECT_EQ(why(kVmA, icmp(kMacA, Ip6Addr{}, PacketClass::kIcmpv6Other, 128)),
            V6G_R_SOURCE_NOT_BOUND);
  // A non-first fragment carries no L4 but still a source.
  auto frag = data(kMacA, ip("2001:db8:a::77"));
  frag.klass = PacketClass::kFragmentTail;
  frag.ext.fragment = true;
  frag.ext.fragment_offset = 10;
  EXPECT_EQ(why(kVmA, frag), V6G_R_SOURCE_NOT_BOUND);
}

TEST_F(GuardTest, SourceMacMismatchOnPortWithoutMacPinning) {
  ASSERT_TRUE(engine_->upsert_port(vm(kVmA, MacAddr{}, "2001:db8:a::/64"), now_, fx_));
  const Ip6Addr a = ip("2001:db8:a::5");
  bind(kVmA, kMacA, a);
  EXPECT_EQ(why(kVmA, data(mac("02:00:00:00:00:aa"), a)), V6G_R_SOURCE_MAC_MISMATCH);
  PortPolicy loose = vm(kVmA, MacAddr{}, "2001:db8:a::/64");
  loose.strict_source_validation = false;
  ASSERT_TRUE(engine_->upsert_port(loose, now_, fx_));
  EXPECT_EQ(why(kVmA, data(mac("02:00:00:00:00:aa"), a)), V6G_R_ACCEPT_BINDING);
  loose.enable_source_guard = false;
  ASSERT_TRUE(engine_->upsert_port(loose, now_, fx_));
  EXPECT_EQ(why(kVmA, data(kMacA, ip("2001:db8:a::99"))), V6G_R_ACCEPT_INSPECTED);
}

// ---- rate limits ----------------------------------------------------------------

TEST_F(GuardTest, TokenBucketsPerClass) {
  PortPolicy p = vm(kVmA, kMacA, "2001:db8:a::/64");
  p.nd_rate_limit = 5;
  p.icmpv6_rate_limit = 3;
  p.multicast_rate_limit = 2;
  p.static_addresses = {ip("2001:db8:a::5")};
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  const Ip6Addr a = ip("2001:db8:a::5");
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(why(kVmA, ns(kMacA, a, ip("2001:db8:a::1"))), V6G_R_ACCEPT_ND);
  EXPECT_EQ(why(kVmA, ns(kMacA, a, ip("2001:db8:a::1"))), V6G_R_ND_RATE_LIMIT);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(why(kVmA, icmp(kMacA, a, PacketClass::kIcmpv6Other, 128)), V6G_R_ACCEPT_BINDING);
  EXPECT_EQ(why(kVmA, icmp(kMacA, a, PacketClass::kIcmpv6Other, 128)), V6G_R_ICMPV6_RATE_LIMIT);
  auto mc = data(kMacA, a, ip("ff05::1234"));
  for (int i = 0; i < 2; ++i) EXPECT_EQ(why(kVmA, mc), V6G_R_ACCEPT_BINDING);
  EXPECT_EQ(why(kVmA, mc), V6G_R_MULTICAST_RATE_LIMIT);
  EXPECT_EQ(why(kVmA, data(kMacA, a)), V6G_R_ACCEPT_BINDING);  // unicast data unlimited
  now_ += kSecond;                                             // buckets refill
  EXPECT_EQ(why(kVmA, ns(kMacA, a, ip("2001:db8:a::1"))), V6G_R_ACCEPT_ND);
  EXPECT_EQ(why(kVmA, mc), V6G_R_ACCEPT_BINDING);
}

TEST_F(GuardTest, PacketRateLimit) {
  PortPolicy p = vm(kVmA, kMacA, "2001:db8:a::/64");
  p.packet_rate_limit = 100;
  p.static_addresses = {ip("2001:db8:a::5")};
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  int accepted = 0;
  for (int ms = 0; ms < 2000; ++ms) {  // 1000 pps offered for 2 s
    now_ += kSecond / 1000;
    for (int k = 0; k < 1; ++k)
      if (decide(kVmA, data(kMacA, ip("2001:db8:a::5"))).verdict == Verdict::kAccept) ++accepted;
  }
  EXPECT_GE(accepted, 290);  // 100 burst + 100/s * 2 s
  EXPECT_LE(accepted, 301);
  EXPECT_GT(engine_->counter(kVmA, reason(V6G_R_PACKET_RATE_LIMIT)), 1600u);
}

// ---- extension headers and tunnels --------------------------------------------------

TEST_F(GuardTest, ExtensionHeaderBlocksAndRoutingType0) {
  PortPolicy p = vm(kVmA, kMacA, "2001:db8:a::/64");
  p.static_addresses = {ip("2001:db8:a::5")};
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  const Ip6Addr a = ip("2001:db8:a::5");
  auto with = [&](auto set) {
    auto d = data(kMacA, a);
    set(d.ext);
    return d;
  };
  auto hbh = with([](packet::ExtHeaders& e) { e.hop_by_hop = true; });
  auto rh2 = with([](packet::ExtHeaders& e) {
    e.routing = true;
    e.routing_type = 2;
  });
  auto rh0 = with([](packet::ExtHeaders& e) {
    e.routing = true;
    e.routing_type = 0;
  });
  auto frag = with([](packet::ExtHeaders& e) {
    e.fragment = true;
    e.more_fragments = true;
  });
  auto dst = with([](packet::ExtHeaders& e) { e.destination_options = true; });
  for (auto* d : {&hbh, &rh2, &frag, &dst}) EXPECT_EQ(why(kVmA, *d), V6G_R_ACCEPT_BINDING);
  EXPECT_EQ(why(kVmA, rh0), V6G_R_ROUTING_TYPE0);
  EXPECT_EQ(why(kRouter, rh0), V6G_R_ROUTING_TYPE0);
  p.block_hop_by_hop = p.block_routing_header = p.block_fragment_header =
      p.block_destination_options = true;
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  EXPECT_EQ(why(kVmA, hbh), V6G_R_EXTHDR_HOP_BY_HOP_BLOCKED);
  EXPECT_EQ(why(kVmA, rh2), V6G_R_EXTHDR_ROUTING_BLOCKED);
  EXPECT_EQ(why(kVmA, frag), V6G_R_EXTHDR_FRAGMENT_BLOCKED);
  EXPECT_EQ(why(kVmA, dst), V6G_R_EXTHDR_DEST_OPTS_BLOCKED);
  // MLD needs hop-by-hop Router Alert: not caught by the HBH block.
  auto mld = icmp(kMacA, Ip6Addr{}, PacketClass::kMld, packet::kMldV2Report);
  mld.ext.hop_by_hop = mld.ext.router_alert = true;
  EXPECT_EQ(why(kVmA, mld), V6G_R_ACCEPT_MLD);
}

TEST_F(GuardTest, TunnelsBlockedByDefault) {
  PortPolicy p = vm(kVmA, kMacA, "2001:db8:a::/64");
  p.static_addresses = {ip("2001:db8:a::5")};
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  auto t = data(kMacA, ip("2001:db8:a::5"));
  t.klass = PacketClass::kTunnel;
  for (std::uint8_t kind : {packet::kProtoIpv6, packet::kProtoGre, packet::kProtoUdp}) {
    t.message = packet::Tunnel{kind};
    EXPECT_EQ(why(kVmA, t), V6G_R_TUNNEL_BLOCKED);
  }
  p.block_tunnels = false;
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  EXPECT_EQ(why(kVmA, t), V6G_R_ACCEPT_BINDING);
}

// ---- modes, ports, counters, events ------------------------------------------------

TEST_F(GuardTest, MonitorModeAcceptsButCountsAndReports) {
  PortPolicy p = vm(kVmA, kMacA, "2001:db8:a::/64");
  p.monitor = true;
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  auto d = decide(kVmA, ra(kMacA, ip("fe80::a")));
  EXPECT_EQ(d.verdict, Verdict::kAccept);
  EXPECT_EQ(d.reason, V6G_R_ACCEPT_MONITOR);
  EXPECT_EQ(d.waived, V6G_R_RA_FROM_VM_PORT);  // what it would have dropped for
  EXPECT_EQ(engine_->counter(kVmA, reason(V6G_R_RA_FROM_VM_PORT)), 1u);
  EXPECT_EQ(engine_->counter(kVmA, reason(V6G_R_ACCEPT_MONITOR)), 1u);
  engine_->flush_events(now_, fx_);
  ASSERT_EQ(fx_.events.size(), 1u);
  EXPECT_EQ(fx_.events[0].violation, V6G_R_RA_FROM_VM_PORT);
  EXPECT_TRUE(fx_.events[0].monitor);
  // Parse rejections (RFC 7113) are waived too, and the same port out of
  // monitor mode drops again with no marker on its events.
  fx_.clear();
  d = engine_->decide_parse_failure(kVmA, reason(V6G_R_FRAG_FIRST_NO_UPPER), kMacA, ip("fe80::a"),
                                    now_, fx_);
  EXPECT_EQ(d.verdict, Verdict::kAccept);
  EXPECT_EQ(d.waived, V6G_R_FRAG_FIRST_NO_UPPER);
  p.monitor = false;
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  d = decide(kVmA, ra(kMacA, ip("fe80::b")));
  EXPECT_EQ(d.verdict, Verdict::kDrop);
  EXPECT_EQ(d.waived, V6G_R_NONE);
  engine_->flush_events(now_, fx_);
  int enforced = 0;
  for (const auto& ev : fx_.events) {
    if (ev.blocked_source != ip("fe80::b")) continue;
    ++enforced;
    EXPECT_FALSE(ev.monitor);
  }
  EXPECT_EQ(enforced, 1);
}

TEST_F(GuardTest, UnknownAndTrustedPorts) {
  EXPECT_EQ(why(99, data(kMacA, ip("2001:db8:a::5"))), V6G_R_PORT_UNKNOWN);
  EXPECT_EQ(decide(99, data(kMacA, ip("2001:db8:a::5"))).verdict, Verdict::kDrop);
  EXPECT_EQ(why(kTrusted, ra(kMacA, ip("2001:db8::1"))), V6G_R_ACCEPT_TRUSTED_PORT);
  packet::ParsedPacket arp;
  arp.klass = PacketClass::kNotIpv6;
  EXPECT_EQ(why(kVmA, arp), V6G_R_ACCEPT_NOT_IPV6);
}

TEST_F(GuardTest, RemovePortWithdrawsItsBindings) {
  bind(kVmA, kMacA, ip("2001:db8:a::5"));
  bind(kVmA, kMacA, ip("fe80::a"));
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, ip("2001:db8:a::6"))), V6G_R_ACCEPT_DAD);  // tentative
  fx_.clear();
  engine_->remove_port(kVmA, fx_);
  EXPECT_EQ(fx_.bindings.size(), 2u);  // tentative was never pushed
  for (const auto& c : fx_.bindings) EXPECT_EQ(c.kind, BindingChange::Kind::kRemove);
  EXPECT_EQ(engine_->binding_count(), 0u);
  EXPECT_FALSE(engine_->has_port(kVmA));
}

TEST_F(GuardTest, FloodYieldsOneAggregatedEventPerWindow) {
  EngineConfig cfg;
  cfg.event_window = 10 * kSecond;
  reset(cfg);
  const Ip6Addr spoof = ip("2001:db8:a::dead");
  for (int i = 0; i < 100000; ++i) {
    now_ += kSecond / 20000;  // 20 k pps for 5 s
    decide(kVmA, data(kMacA, spoof));
  }
  engine_->tick(now_, fx_);
  EXPECT_TRUE(fx_.events.empty());                    // window still open
  decide(kVmA, data(kMacA, ip("2001:db8:a::beef")));  // another source, own window
  advance(5 * kSecond + kSecond / 1000);
  ASSERT_EQ(fx_.events.size(), 1u);
  const SecurityEvent& ev = fx_.events[0];
  EXPECT_EQ(ev.packet_count, 100000u);
  EXPECT_EQ(ev.violation, V6G_R_SOURCE_NOT_BOUND);
  EXPECT_EQ(ev.event_type, "source_guard");
  EXPECT_EQ(ev.vm_id, "vm-10");
  EXPECT_EQ(ev.tenant_id, "tenant-1");
  EXPECT_EQ(ev.interface_id, "tap10");
  EXPECT_EQ(ev.blocked_source, spoof);
  EXPECT_EQ(ev.blocked_mac, kMacA);
  EXPECT_NEAR(static_cast<double>(ev.last_seen - ev.first_seen), 5.0 * kSecond, 1e6);
  EXPECT_EQ(ev.expected_sources, std::vector<std::string>{"2001:db8:a::/64"});
  advance(10 * kSecond);
  ASSERT_EQ(fx_.events.size(), 2u);
  EXPECT_EQ(fx_.events[1].packet_count, 1u);
}

TEST_F(GuardTest, LogSecurityEventsOffKeepsCountersOnly) {
  PortPolicy p = vm(kVmA, kMacA, "2001:db8:a::/64");
  p.log_security_events = false;
  ASSERT_TRUE(engine_->upsert_port(p, now_, fx_));
  decide(kVmA, data(kMacA, ip("2001:db8:a::dead")));
  engine_->flush_events(now_, fx_);
  EXPECT_TRUE(fx_.events.empty());
  EXPECT_EQ(engine_->counter(kVmA, reason(V6G_R_SOURCE_NOT_BOUND)), 1u);
}

TEST_F(GuardTest, SpoofedSourceFloodIsFoldedBeyondTheWindowCap) {
  EngineConfig cfg;
  cfg.max_pending_events = 8;
  reset(cfg);
  Ip6Addr a = ip("2001:db8:a::");
  for (int i = 0; i < 1000; ++i) {
    a.bytes[14] = static_cast<std::uint8_t>(i >> 8);
    a.bytes[15] = static_cast<std::uint8_t>(i);
    decide(kVmA, data(kMacA, a));
  }
  engine_->flush_events(now_, fx_);
  ASSERT_EQ(fx_.events.size(), 9u);  // 8 distinct + 1 folded
  std::uint64_t total = 0;
  for (const auto& e : fx_.events) total += e.packet_count;
  EXPECT_EQ(total, 1000u);
}

}  // namespace
}  // namespace v6g::guard
