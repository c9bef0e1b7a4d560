// SecurityEvent -> proto / JSON line, and an engine flood end to end.
#include "events/events.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "guard_test_util.h"

namespace v6g::events {
namespace {

using namespace v6g::guard::testing;  // NOLINT
using guard::kSecond;

guard::SecurityEvent sample() {
  guard::SecurityEvent ev;
  ev.first_seen = 5 * kSecond + 250'000'000;
  ev.last_seen = 9 * kSecond + 750'000'000;
  ev.event_type = "ra_guard";
  ev.severity = "critical";
  ev.vm_id = "vm-1";
  ev.tenant_id = "t-1";
  ev.interface_id = "tap1";
  ev.violation = reason(V6G_R_RA_FROM_VM_PORT);
  ev.blocked_source = ip("fe80::bad");
  ev.blocked_mac = mac("02:00:00:00:00:66");
  ev.expected_sources = {"fe80::1"};
  ev.packet_count = 123456;
  return ev;
}

TEST(Events, ToProtoMapsEveryField) {
  const auto p = to_proto(sample(), 1'700'000'000 * kSecond);
  EXPECT_EQ(p.timestamp().seconds(), 1'700'000'005);
  EXPECT_EQ(p.timestamp().nanos(), 250'000'000);
  EXPECT_EQ(p.event_type(), "ra_guard");
  EXPECT_EQ(p.severity(), "critical");
  EXPECT_EQ(p.vm_id(), "vm-1");
  EXPECT_EQ(p.tenant_id(), "t-1");
  EXPECT_EQ(p.interface_id(), "tap1");
  EXPECT_EQ(p.violation_type(), "ra_from_vm_port");
  EXPECT_EQ(p.details().blocked_source(), "fe80::bad");
  EXPECT_EQ(p.details().blocked_mac(), "02:00:00:00:00:66");
  ASSERT_EQ(p.details().expected_sources_size(), 1);
  EXPECT_EQ(p.details().expected_sources(0), "fe80::1");
  EXPECT_EQ(p.details().packet_count(), 123456u);
  EXPECT_DOUBLE_EQ(p.details().duration_seconds(), 4.5);
  EXPECT_FALSE(p.monitor());
}

TEST(Events, MonitorMarkerTravelsToJson) {
  auto ev = sample();
  EXPECT_EQ(to_json_line(ev).find("\"monitor\""), std::string::npos);  // enforcing: omitted
  ev.monitor = true;
  EXPECT_TRUE(to_proto(ev).monitor());
  EXPECT_NE(to_json_line(ev).find("\"monitor\":true"), std::string::npos) << to_json_line(ev);
}

TEST(Events, JsonLineRoundTrips) {
  const std::string line = to_json_line(sample(), 1'700'000'000 * kSecond);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("\"violation_type\":\"ra_from_vm_port\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"timestamp\":\"2023-11-14T22:13:25.250Z\""), std::string::npos) << line;
  v6guard::v1::SecurityEvent back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &back).ok());
  EXPECT_EQ(back.details().packet_count(), 123456u);  // uint64 travels as a JSON string
  EXPECT_EQ(back.details().blocked_source(), "fe80::bad");
}

TEST(Events, EngineFloodBecomesOneJsonLine) {
  guard::Engine engine;
  guard::Effects fx;
  guard::PortPolicy p;
  p.port = 7;
  p.mac = mac("02:00:00:00:00:07");
  p.vm_id = "vm-7";
  ASSERT_TRUE(engine.upsert_port(p, 0, fx));
  guard::Nanos now = 0;
  for (int i = 0; i < 5000; ++i) {
    now += kSecond / 1000;
    engine.decide(7, ra(p.mac, ip("fe80::7")), now, fx);
  }
  engine.tick(now + 10 * kSecond, fx);
  ASSERT_EQ(fx.events.size(), 1u);
  const auto proto = to_proto(fx.events[0]);
  EXPECT_EQ(proto.details().packet_count(), 5000u);
  EXPECT_EQ(proto.event_type(), "ra_guard");
  EXPECT_EQ(proto.vm_id(), "vm-7");
  EXPECT_NEAR(proto.details().duration_seconds(), 4.999, 1e-6);
}

}  // namespace
}  // namespace v6g::events
