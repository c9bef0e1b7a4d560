// RFC 6620 data-triggered binding (NO_BIND -> TENTATIVE -> VALID) in the
// guard engine, on a fake clock: which packets start a verification, what
// the probes look like and when they are sent, who may answer, the per-port
// probe budget and binding cap.
#include <gtest/gtest.h>

#include <random>

#include "guard/engine.h"
#include "guard_test_util.h"

namespace v6g::guard {
namespace {

using namespace v6g::guard::testing;  // NOLINT

constexpr PortId kVmA = 10, kVmB = 11;
const MacAddr kMacA = mac("02:00:00:00:00:0a");
const MacAddr kMacB = mac("02:00:00:00:00:0b");
const Ip6Addr kAddrA = ip("2001:db8:a::5");
const Ip6Addr kLlA = ip("fe80::a");

class FcfsTest : public EngineTest {
 protected:
  void SetUp() override { reset(); }

  void reset(std::uint32_t max_bindings = 16, bool monitor = false) {
    EngineConfig cfg;
    cfg.data_triggered_learning = true;
    start_engine(cfg);
    auto a = vm(kVmA, kMacA, "2001:db8:a::/64");
    a.max_bindings = max_bindings;
    a.monitor = monitor;
    ASSERT_TRUE(engine_->upsert_port(a, now_, fx_));
    // B may use A's prefix too (a shared subnet): only FCFS separates them.
    auto b = vm(kVmB, kMacB, "2001:db8:a::/64");
    ASSERT_TRUE(engine_->upsert_port(b, now_, fx_));
    fx_.clear();
  }

  static PortPolicy vm(PortId id, const MacAddr& m, const char* pfx) { return vm_port(id, m, pfx); }

  // Takes the probes requested so far.
  std::vector<ProbeRequest> probes() {
    auto out = std::move(fx_.probes);
    fx_.probes.clear();
    return out;
  }
  bool bound(PortId port, const Ip6Addr& a) {
    for (const auto& b : engine_->bindings(port))
      if (b.addr == a && b.state == BindingState::kValid) return true;
    return false;
  }
  std::size_t adds_for(const Ip6Addr& a) {
    std::size_t n = 0;
    for (const auto& c : fx_.bindings)
      if (c.kind == BindingChange::Kind::kAdd && c.binding.addr == a) ++n;
    return n;
  }
};

TEST_F(FcfsTest, OffByDefaultSourceStaysUnbound) {
  Engine plain;  // EngineConfig{}: the caller can't send probes
  Effects fx;
  ASSERT_TRUE(plain.upsert_port(vm(kVmA, kMacA, "2001:db8:a::/64"), now_, fx));
  EXPECT_EQ(plain.decide(kVmA, data(kMacA, kAddrA), now_, fx).reason, V6G_R_SOURCE_NOT_BOUND);
  EXPECT_TRUE(fx.probes.empty());
}

TEST_F(FcfsTest, DataStartsVerificationOwnerAnswerMakesItValid) {
  EXPECT_EQ(why(kVmA, data(kMacA, kAddrA)), V6G_R_SOURCE_VERIFYING);
  auto p = probes();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].port, kVmA);
  EXPECT_EQ(p[0].target, kAddrA);
  EXPECT_EQ(p[0].vlan, 0);
  EXPECT_EQ(p[0].attempt, 1);
  EXPECT_EQ(engine_->port_verification_count(kVmA), 1u);
  // Listed as TENTATIVE (verifying), not yet in the fast path.
  const auto list = engine_->bindings(kVmA);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].state, BindingState::kTentative);
  EXPECT_TRUE(list[0].verifying);
  EXPECT_TRUE(fx_.bindings.empty());

  // More traffic while the probe is out: dropped, no second probe.
  EXPECT_EQ(why(kVmA, data(kMacA, kAddrA)), V6G_R_SOURCE_VERIFYING);
  EXPECT_TRUE(probes().empty());

  // The owner's NA (answer to the DAD-style probe: to all-nodes, override)
  // is consumed: it must not reach others before the binding is VALID.
  now_ += kSecond / 100;
  const auto d = engine_->decide(kVmA, na(kMacA, kAddrA, kAddrA), now_, fx_);
  EXPECT_EQ(d.verdict, Verdict::kDrop);
  EXPECT_EQ(d.reason, V6G_R_SOURCE_VERIFYING);
  EXPECT_FALSE(bound(kVmA, kAddrA));  // other ports may still object
  advance(kSecond / 4);
  EXPECT_FALSE(bound(kVmA, kAddrA));
  advance(kSecond / 4);  // conflict wait (500 ms) over
  EXPECT_TRUE(bound(kVmA, kAddrA));
  EXPECT_EQ(adds_for(kAddrA), 1u);
  EXPECT_EQ(engine_->port_verification_count(kVmA), 0u);
  EXPECT_EQ(engine_->port_binding_count(kVmA), 1u);
  EXPECT_TRUE(probes().empty());  // answered: no retransmission
  EXPECT_EQ(why(kVmA, data(kMacA, kAddrA)), V6G_R_ACCEPT_BINDING);
}

TEST_F(FcfsTest, LateAnswerPromotesAtOnce) {
  EXPECT_EQ(why(kVmA, data(kMacA, kAddrA)), V6G_R_SOURCE_VERIFYING);
  advance(kSecond);  // second probe
  auto p = probes();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[1].attempt, 2);
  EXPECT_EQ(why(kVmA, na(kMacA, kAddrA, kAddrA)), V6G_R_SOURCE_VERIFYING);
  EXPECT_TRUE(bound(kVmA, kAddrA));
  EXPECT_EQ(adds_for(kAddrA), 1u);
}

TEST_F(FcfsTest, LinkLocalIsVerifiedToo) {
  EXPECT_EQ(why(kVmA, data(kMacA, kLlA)), V6G_R_SOURCE_VERIFYING);
  ASSERT_EQ(probes().size(), 1u);
  why(kVmA, na(kMacA, kLlA, kLlA));
  advance(kSecond);
  EXPECT_TRUE(bound(kVmA, kLlA));
}

TEST_F(FcfsTest, NoAnswerRetransmitsThenBackToNoBind) {
  EXPECT_EQ(why(kVmA, data(kMacA, kAddrA)), V6G_R_SOURCE_VERIFYING);
  EXPECT_EQ(probes().size(), 1u);
  advance(kSecond / 2);
  EXPECT_TRUE(probes().empty());  // RetransTimer is 1 s
  advance(kSecond / 2);
  auto p = probes();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].attempt, 2);
  advance(kSecond);
  p = probes();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].attempt, 3);
  EXPECT_EQ(engine_->port_verification_count(kVmA), 1u);
  advance(kSecond);  // RetransTimer x 3 without an answer
  EXPECT_TRUE(probes().empty());
  EXPECT_EQ(engine_->port_verification_count(kVmA), 0u);
  EXPECT_TRUE(engine_->bindings(kVmA).empty());
  EXPECT_TRUE(fx_.bindings.empty());
  // An NA now is not an answer to anything we asked: not owned, and it
  // starts a new verification (the node is asserting the address).
  EXPECT_EQ(why(kVmA, na(kMacA, kAddrA, kAddrA)), V6G_R_SOURCE_VERIFYING);
  EXPECT_EQ(probes().size(), 1u);
  EXPECT_FALSE(bound(kVmA, kAddrA));
}

TEST_F(FcfsTest, BoundElsewhereRefusesAtOnce) {
  ASSERT_EQ(why(kVmB, dad_ns(kMacB, kAddrA)), V6G_R_ACCEPT_DAD);
  advance(2 * kSecond);
  ASSERT_TRUE(bound(kVmB, kAddrA));
  fx_.clear();
  EXPECT_EQ(why(kVmA, data(kMacA, kAddrA)), V6G_R_SOURCE_NOT_BOUND);
  EXPECT_EQ(why(kVmA, ns(kMacA, kAddrA, ip("2001:db8:a::1"))), V6G_R_SOURCE_NOT_BOUND);
  EXPECT_TRUE(probes().empty());
  EXPECT_EQ(engine_->port_verification_count(kVmA), 0u);
  // Even a (spoofed) answer from A does not give it the address.
  EXPECT_EQ(why(kVmA, na(kMacA, kAddrA, kAddrA)), V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  advance(2 * kSecond);
  EXPECT_FALSE(bound(kVmA, kAddrA));
  EXPECT_TRUE(bound(kVmB, kAddrA));
}

TEST_F(FcfsTest, AnswerFromAnotherPortRefuses) {
  EXPECT_EQ(why(kVmA, data(kMacA, kAddrA)), V6G_R_SOURCE_VERIFYING);
  ASSERT_EQ(probes().size(), 1u);
  // A answers its own probe at once (it configured the address)...
  EXPECT_EQ(why(kVmA, na(kMacA, kAddrA, kAddrA)), V6G_R_SOURCE_VERIFYING);
  // ...but B, holding the address, answers the copy the bridge flooded.
  now_ += kSecond / 100;
  const Reason b_answer = why(kVmB, na(kMacB, kAddrA, kAddrA));
  EXPECT_EQ(engine_->port_verification_count(kVmA), 0u);
  EXPECT_EQ(engine_->counter(kVmA, reason(V6G_R_ND_TARGET_BOUND_ELSEWHERE)), 1u);
  advance(2 * kSecond);
  EXPECT_FALSE(bound(kVmA, kAddrA));
  EXPECT_EQ(adds_for(kAddrA), 0u);
  // B's answer was not let through (B holds no binding either), and it does
  // not start B's own verification (two holders would refuse each other
  // forever); B's own traffic does.
  EXPECT_EQ(b_answer, V6G_R_ND_TARGET_NOT_OWNED);
  EXPECT_EQ(engine_->port_verification_count(kVmB), 0u);
  EXPECT_TRUE(probes().empty());
  EXPECT_EQ(why(kVmB, data(kMacB, kAddrA)), V6G_R_SOURCE_VERIFYING);
  EXPECT_EQ(engine_->port_verification_count(kVmB), 1u);
  fx_.events.clear();
  engine_->flush_events(now_, fx_);
  bool reported = false;
  for (const auto& ev : fx_.events)
    if (ev.violation == V6G_R_ND_TARGET_BOUND_ELSEWHERE && ev.blocked_source == kAddrA &&
        ev.blocked_mac == kMacA)
      reported = true;
  EXPECT_TRUE(reported);
}

TEST_F(FcfsTest, SecondClaimantWhileVerifyingIsRefused) {
  EXPECT_EQ(why(kVmA, data(kMacA, kAddrA)), V6G_R_SOURCE_VERIFYING);
  EXPECT_EQ(why(kVmB, data(kMacB, kAddrA)), V6G_R_SOURCE_NOT_BOUND);
  EXPECT_EQ(probes().size(), 1u);
  EXPECT_EQ(engine_->port_verification_count(kVmB), 0u);
}

TEST_F(FcfsTest, OutsidePrefixOrUnspecifiedNeverProbes) {
  EXPECT_EQ(why(kVmA, data(kMacA, ip("2001:db8:ffff::5"))), V6G_R_SOURCE_NOT_BOUND);
  EXPECT_EQ(why(kVmA, data(kMacA, Ip6Addr{})), V6G_R_SOURCE_NOT_BOUND);
  EXPECT_TRUE(probes().empty());
}

TEST_F(FcfsTest, NeighborSolicitationAndMldFromUnboundSourceStartIt) {
  // A pre-existing VM's first packet is the NS resolving its peer.
  EXPECT_EQ(why(kVmA, ns(kMacA, kAddrA, ip("2001:db8:a::1"))), V6G_R_SOURCE_VERIFYING);
  EXPECT_EQ(why(kVmA, icmp(kMacA, kLlA, packet::PacketClass::kMld, 143)), V6G_R_SOURCE_VERIFYING);
  EXPECT_EQ(probes().size(), 2u);
}

TEST_F(FcfsTest, ProbeBudgetBoundsASpray) {
  // 1000 random sources in the prefix within 10 s: probes are started at
  // most burst + rate * elapsed (4 + 2/s), whatever the packet count.
  std::mt19937_64 rng(7);
  std::size_t started = 0;
  for (int i = 0; i < 1000; ++i) {
    Ip6Addr a = kAddrA;
    const std::uint64_t r = rng();
    std::memcpy(a.bytes.data() + 8, &r, 8);
    why(kVmA, data(kMacA, a));
    for (const auto& p : probes())
      if (p.attempt == 1) ++started;
    if (i % 100 == 99) advance(kSecond);
    EXPECT_LE(engine_->port_verification_count(kVmA), 16u);
  }
  EXPECT_GE(started, 4u);
  EXPECT_LE(started, 4u + 2u * 10u);
  EXPECT_TRUE(fx_.bindings.empty());  // nobody answered: nothing bound
}

TEST_F(FcfsTest, CapCountsVerifications) {
  reset(/*max_bindings=*/2);
  const Ip6Addr a1 = ip("2001:db8:a::1"), a2 = ip("2001:db8:a::2"), a3 = ip("2001:db8:a::3");
  EXPECT_EQ(why(kVmA, data(kMacA, a1)), V6G_R_SOURCE_VERIFYING);
  EXPECT_EQ(why(kVmA, data(kMacA, a2)), V6G_R_SOURCE_VERIFYING);
  EXPECT_EQ(why(kVmA, data(kMacA, a3)), V6G_R_BINDING_LIMIT);
  why(kVmA, na(kMacA, a1, a1));
  why(kVmA, na(kMacA, a2, a2));
  advance(kSecond);
  EXPECT_TRUE(bound(kVmA, a1));
  EXPECT_TRUE(bound(kVmA, a2));
  EXPECT_EQ(why(kVmA, data(kMacA, a3)), V6G_R_BINDING_LIMIT);
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, a3)), V6G_R_BINDING_LIMIT);
  EXPECT_EQ(engine_->port_binding_count(kVmA), 2u);
}

TEST_F(FcfsTest, DadDuringVerificationTakesOver) {
  EXPECT_EQ(why(kVmA, data(kMacA, kAddrA)), V6G_R_SOURCE_VERIFYING);
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, kAddrA)), V6G_R_ACCEPT_DAD);
  EXPECT_EQ(engine_->port_verification_count(kVmA), 0u);
  advance(2 * kSecond);
  EXPECT_TRUE(bound(kVmA, kAddrA));
  EXPECT_EQ(adds_for(kAddrA), 1u);
}

TEST_F(FcfsTest, DadElsewhereDuringVerificationWins) {
  // B runs DAD for the address while A's unproven claim is out: B is bound
  // first, A's answer then promotes nothing.
  EXPECT_EQ(why(kVmA, data(kMacA, kAddrA)), V6G_R_SOURCE_VERIFYING);
  EXPECT_EQ(why(kVmB, dad_ns(kMacB, kAddrA)), V6G_R_ACCEPT_DAD);
  advance(2 * kSecond);
  why(kVmA, na(kMacA, kAddrA, kAddrA));
  advance(kSecond);
  EXPECT_TRUE(bound(kVmB, kAddrA));
  EXPECT_FALSE(bound(kVmA, kAddrA));
}

TEST_F(FcfsTest, MonitorPortAcceptsButStillLearns) {
  reset(16, /*monitor=*/true);
  const auto d = engine_->decide(kVmA, data(kMacA, kAddrA), now_, fx_);
  EXPECT_EQ(d.verdict, Verdict::kAccept);
  EXPECT_EQ(d.waived, V6G_R_SOURCE_VERIFYING);
  why(kVmA, na(kMacA, kAddrA, kAddrA));
  advance(kSecond);
  EXPECT_TRUE(bound(kVmA, kAddrA));
}

TEST_F(FcfsTest, RemovedPortForgetsItsVerifications) {
  EXPECT_EQ(why(kVmA, data(kMacA, kAddrA)), V6G_R_SOURCE_VERIFYING);
  engine_->remove_port(kVmA, fx_);
  EXPECT_TRUE(engine_->bindings().empty());
  // The address is free for B now.
  EXPECT_EQ(why(kVmB, data(kMacB, kAddrA)), V6G_R_SOURCE_VERIFYING);
}

TEST_F(FcfsTest, MacChangeDropsVerifications) {
  EXPECT_EQ(why(kVmA, data(kMacA, kAddrA)), V6G_R_SOURCE_VERIFYING);
  auto a = vm(kVmA, mac("02:00:00:00:00:aa"), "2001:db8:a::/64");
  ASSERT_TRUE(engine_->upsert_port(a, now_, fx_));
  EXPECT_EQ(engine_->port_verification_count(kVmA), 0u);
  EXPECT_TRUE(engine_->bindings(kVmA).empty());
}

TEST_F(FcfsTest, NaObservedOnAnotherPortRefuses) {
  // A router port's ND is not punted: the inspector's listener reports its
  // answer to the probe the bridge flooded.
  constexpr PortId kRouter = 1;
  EXPECT_EQ(why(kVmA, data(kMacA, kLlA)), V6G_R_SOURCE_VERIFYING);
  why(kVmA, na(kMacA, kLlA, kLlA));              // A claims the router's address and answers
  engine_->observe_na(kVmA, kMacA, kLlA, now_);  // A's own answer, seen again: no effect
  EXPECT_EQ(engine_->port_verification_count(kVmA), 1u);
  engine_->observe_na(kRouter, mac("02:00:00:00:01:01"), kLlA, now_);
  EXPECT_EQ(engine_->port_verification_count(kVmA), 0u);
  advance(2 * kSecond);
  EXPECT_FALSE(bound(kVmA, kLlA));
  EXPECT_EQ(engine_->counter(kVmA, reason(V6G_R_ND_TARGET_BOUND_ELSEWHERE)), 1u);
}

// A VM DAD-claiming the default router's address, then advertising it, is
// router impersonation. The router is a router port: what it has shown to be
// its own no VM may claim, and its defence ends a VM's DAD claim.
class RouterAddressTest : public FcfsTest {
 protected:
  static constexpr PortId kRouter = 1;
  const MacAddr kRouterMac = mac("02:00:00:00:01:01");
  const Ip6Addr kRouterLl = ip("fe80::1");
  const Ip6Addr kGateway = ip("2001:db8:a::1");

  void add_router(std::vector<Ip6Addr> allowed_sources = {}) {
    PortPolicy r;
    r.port = kRouter;
    r.role = PortRole::kRouter;
    r.allowed_ra_sources = std::move(allowed_sources);
    ASSERT_TRUE(engine_->upsert_port(r, now_, fx_));
  }
};

TEST_F(RouterAddressTest, RaSourceCannotBeClaimedByAVm) {
  add_router();
  // Before the router has said anything its address is FCFS like any other.
  EXPECT_EQ(why(kVmB, dad_ns(kMacB, ip("fe80::2"))), V6G_R_ACCEPT_DAD);
  EXPECT_EQ(why(kRouter, ra(kRouterMac, kRouterLl, "2001:db8:a::/64")), V6G_R_ACCEPT_RA);
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, kRouterLl)), V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  EXPECT_EQ(why(kVmA, na(kMacA, kRouterLl, kRouterLl)), V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  EXPECT_EQ(why(kVmA, na(kMacA, kLlA, kRouterLl, /*solicited=*/true)),
            V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  // Data from it starts no verification (no probe), it is just unbound.
  EXPECT_EQ(why(kVmA, data(kMacA, kRouterLl)), V6G_R_SOURCE_NOT_BOUND);
  EXPECT_TRUE(probes().empty());
  advance(2 * kSecond);
  EXPECT_FALSE(bound(kVmA, kRouterLl));
}

TEST_F(RouterAddressTest, ConfiguredRaSourceIsHeldBeforeAnyRa) {
  add_router({kRouterLl});
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, kRouterLl)), V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  // Another link-local is still the VM's to claim.
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, kLlA)), V6G_R_ACCEPT_DAD);
}

TEST_F(RouterAddressTest, RouterDefenceEndsAVmsDadClaim) {
  add_router();
  // The gateway's global address was never in an RA: A's DAD claim is
  // accepted (TENTATIVE), the router defends it, the claim is gone before
  // the DAD timeout could make it VALID, and A's forged NA for it is dropped.
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, kGateway)), V6G_R_ACCEPT_DAD);
  EXPECT_EQ(engine_->port_binding_count(kVmA), 1u);
  engine_->observe_router_na(kRouter, 0, kRouterMac, kGateway, now_);
  EXPECT_EQ(engine_->port_binding_count(kVmA), 0u);
  EXPECT_EQ(engine_->counter(kVmA, reason(V6G_R_ND_TARGET_BOUND_ELSEWHERE)), 1u);
  advance(2 * kSecond);
  EXPECT_FALSE(bound(kVmA, kGateway));
  EXPECT_EQ(adds_for(kGateway), 0u);
  engine_->flush_events(now_, fx_);
  ASSERT_EQ(fx_.events.size(), 1u);
  EXPECT_EQ(fx_.events.front().violation, V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  EXPECT_EQ(fx_.events.front().blocked_mac, kMacA);
  EXPECT_EQ(fx_.events.front().blocked_source, kGateway);
  // A's forged NA for it is dropped; it asks for a verification, which the
  // router's answer to the probe refuses.
  EXPECT_EQ(why(kVmA, na(kMacA, kGateway, kGateway)), V6G_R_SOURCE_VERIFYING);
  ASSERT_EQ(probes().size(), 1u);
  engine_->observe_router_na(kRouter, 0, kRouterMac, kGateway, now_);
  advance(2 * kSecond);
  EXPECT_FALSE(bound(kVmA, kGateway));
  EXPECT_EQ(engine_->counter(kVmA, reason(V6G_R_ND_TARGET_BOUND_ELSEWHERE)), 2u);
}

TEST_F(RouterAddressTest, RouterNaLeavesValidBindingsAndVmNasAlone) {
  add_router();
  // A VALID binding is not taken away by what the uplink says...
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, kAddrA)), V6G_R_ACCEPT_DAD);
  advance(2 * kSecond);
  ASSERT_TRUE(bound(kVmA, kAddrA));
  engine_->observe_router_na(kRouter, 0, kRouterMac, kAddrA, now_);
  EXPECT_TRUE(bound(kVmA, kAddrA));
  // ...and a VM port's NA seen by the listener does not end another VM's
  // DAD claim (atk6-dos-new-ip6 would otherwise win): FCFS between VMs.
  const Ip6Addr other = ip("2001:db8:a::77");
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, other)), V6G_R_ACCEPT_DAD);
  engine_->observe_na(kVmB, kMacB, other, now_);
  advance(2 * kSecond);
  EXPECT_TRUE(bound(kVmA, other));
}

TEST_F(RouterAddressTest, UntaggedRouterPortDefendsInTheVmsVlan) {
  // VM ports in VLAN 200 on a host without VLAN filtering: the router port
  // is untagged and speaks for every VLAN.
  auto a = vm(kVmA, kMacA, "2001:db8:a::/64");
  a.vlan = 200;
  ASSERT_TRUE(engine_->upsert_port(a, now_, fx_));
  add_router();
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, kGateway)), V6G_R_ACCEPT_DAD);
  ASSERT_EQ(engine_->port_binding_count(kVmA), 1u);
  engine_->observe_router_na(kRouter, 0, kRouterMac, kGateway, now_);
  EXPECT_EQ(engine_->port_binding_count(kVmA), 0u);
  // A router port in another VLAN does not.
  PortPolicy r;
  r.port = 2;
  r.role = PortRole::kRouter;
  r.vlan = 300;
  ASSERT_TRUE(engine_->upsert_port(r, now_, fx_));
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, kGateway)), V6G_R_ACCEPT_DAD);
  engine_->observe_router_na(2, 300, kRouterMac, kGateway, now_);
  EXPECT_EQ(engine_->port_binding_count(kVmA), 1u);
}

TEST_F(RouterAddressTest, ConfiguredGatewayIsNeverTheVms) {
  // No router port in this engine at all: the VM's own config names its
  // router, and the probe that would find the router may never reach it
  // (a VLAN the host cannot tag, a router that is down).
  auto a = vm(kVmA, kMacA, "2001:db8:a::/64");
  a.gateways.push_back(kGateway);
  ASSERT_TRUE(engine_->upsert_port(a, now_, fx_));
  EXPECT_EQ(why(kVmA, dad_ns(kMacA, kGateway)), V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  EXPECT_EQ(why(kVmA, na(kMacA, kGateway, kGateway)), V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  EXPECT_EQ(why(kVmA, data(kMacA, kGateway)), V6G_R_SOURCE_NOT_BOUND);
  EXPECT_TRUE(probes().empty());
  // Only A's gateway: B (no gateway configured) may still claim it, FCFS.
  EXPECT_EQ(why(kVmB, dad_ns(kMacB, kGateway)), V6G_R_ACCEPT_DAD);
}

}  // namespace
}  // namespace v6g::guard
