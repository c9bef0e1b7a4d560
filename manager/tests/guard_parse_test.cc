// Parser + engine together on real frames (bytes generated once with scapy):
// the path the inspector runs, including a parse rejection becoming a drop.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "guard/engine.h"
#include "guard_test_util.h"
#include "packet/packet.h"
#include "test_frames.h"

namespace v6g::guard {
namespace {

using namespace v6g::guard::testing;  // NOLINT

using namespace v6g::test_frames;  // NOLINT

packet::Bytes bytes(const std::vector<std::uint8_t>& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}

class GuardParseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto [id, m, pfx] : {std::tuple{PortId{10}, "02:00:00:00:00:0a", "2001:db8:a::/64"},
                              std::tuple{PortId{11}, "02:00:00:00:00:0b", "2001:db8:b::/64"}}) {
      PortPolicy p;
      p.port = id;
      p.mac = mac(m);
      p.allocated_prefixes = {prefix(pfx)};
      ASSERT_TRUE(engine_.upsert_port(p, now_, fx_));
    }
  }
  // What the inspector does with one frame.
  Decision run(PortId port, const std::vector<std::uint8_t>& frame) {
    auto parsed = packet::parse_frame(bytes(frame));
    if (!parsed) return engine_.decide_parse_failure(port, parsed.error(), {}, {}, now_, fx_);
    return engine_.decide(port, *parsed, now_, fx_);
  }

  Engine engine_;
  Effects fx_;
  Nanos now_ = 1000 * kSecond;
};

TEST_F(GuardParseTest, RaFromVmFrame) {
  const Decision d = run(10, kRaFromVm);
  EXPECT_EQ(d.verdict, Verdict::kDrop);
  EXPECT_EQ(d.reason, V6G_R_RA_FROM_VM_PORT);
}

TEST_F(GuardParseTest, DadThenDataThenParasiteNa) {
  EXPECT_EQ(run(10, kUdpFromBound).reason, V6G_R_SOURCE_NOT_BOUND);
  EXPECT_EQ(run(10, kDadNs).reason, V6G_R_ACCEPT_DAD);
  now_ += 2 * kSecond;
  engine_.tick(now_, fx_);
  ASSERT_EQ(fx_.bindings.size(), 1u);
  EXPECT_EQ(fx_.bindings[0].binding.addr, ip("2001:db8:a::5"));
  EXPECT_EQ(run(10, kUdpFromBound).reason, V6G_R_ACCEPT_BINDING);
  EXPECT_EQ(run(11, kNaParasite).reason, V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  EXPECT_EQ(run(11, kDadNs).reason, V6G_R_ETH_SOURCE_MAC_MISMATCH);  // A's MAC on B's port
}

TEST_F(GuardParseTest, Rfc7113FirstFragmentWithoutUpperLayerIsDroppedAndReported) {
  const Decision d = run(10, kRaFirstFragNoUpper);
  EXPECT_EQ(d.verdict, Verdict::kDrop);
  EXPECT_EQ(d.reason, V6G_R_FRAG_FIRST_NO_UPPER);
  engine_.flush_events(now_, fx_);
  ASSERT_EQ(fx_.events.size(), 1u);
  EXPECT_EQ(fx_.events[0].event_type, "packet_validation");
}

}  // namespace
}  // namespace v6g::guard
