// `v6guardctl explain`: real captures (manager/tests/data/pcap from
// scripts/capture-fixtures.sh, data/explain from scripts/demo/) replayed
// through the parser + guard engine, and the command's output and exit codes.
#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "cli/cli.h"
#include "cli/explain.h"

namespace v6g::cli {
namespace {

const std::string kPcap = std::string(V6G_TEST_DATA) + "/pcap/";
const std::string kDadPing = std::string(V6G_TEST_DATA) + "/explain/vm_dad_ping.pcap";

ExplainReport replay(const std::string& path, const ExplainOptions& opt) {
  const auto file = packet::read_pcap(path);
  EXPECT_TRUE(file.ok()) << path << ": " << file.error;
  return explain_frames(file.frames, opt);
}

ExplainOptions on(guard::PortRole role) {
  ExplainOptions opt;
  opt.policy.port = 7;
  opt.policy.role = role;
  return opt;
}

std::string name(Reason r) { return std::string(reason_name(r)); }

struct Run {
  int rc;
  std::string out, err;
};

Run ctl(std::vector<std::string> args) {
  args.insert(args.begin(), "v6guardctl");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int rc = run(static_cast<int>(argv.size()), argv.data(), out, err);
  return {rc, out.str(), err.str()};
}

// thc-ipv6 fake_router26 -E H (hop-by-hop header before the RA) from a VM
// port: the RA is visible through the header and VM ports never send RAs.
TEST(Explain, ThcHopByHopRaFromVmPortIsDropped) {
  const auto r = replay(kPcap + "fake_router26_E_H.pcap", on(guard::PortRole::kVm));
  ASSERT_EQ(r.frames.size(), 1U);
  const auto& f = r.frames[0];
  EXPECT_EQ(f.verdict, guard::Verdict::kDrop);
  EXPECT_EQ(name(f.reason), "ra_from_vm_port");
  EXPECT_FALSE(f.parse_rejected);
  EXPECT_NE(f.summary.find("RA "), std::string::npos) << f.summary;
  EXPECT_NE(f.summary.find("hbh"), std::string::npos) << f.summary;
  EXPECT_EQ(f.src_mac.to_string(), "02:00:00:00:00:01");
  EXPECT_EQ(f.src_ip.to_string(), "fe80::ff:fe00:1");
  EXPECT_EQ(r.dropped, 1U);
  ASSERT_EQ(r.events.size(), 1U);
  EXPECT_EQ(r.events[0].event_type, "ra_guard");
  EXPECT_EQ(name(r.events[0].violation), "ra_from_vm_port");
  EXPECT_FALSE(r.events[0].monitor);
}

// RFC 7113: -E D pushes the ICMPv6 header out of the first fragment. The
// parser refuses the first fragment whatever the port role.
TEST(Explain, Rfc7113FirstFragmentWithoutUpperLayerIsDroppedOnEveryRole) {
  for (auto role : {guard::PortRole::kVm, guard::PortRole::kRouter}) {
    const auto r = replay(kPcap + "fake_router26_E_D.pcap", on(role));
    ASSERT_EQ(r.frames.size(), 2U);
    EXPECT_TRUE(r.frames[0].parse_rejected);
    EXPECT_EQ(r.frames[0].verdict, guard::Verdict::kDrop);
    EXPECT_EQ(name(r.frames[0].reason), "frag_first_no_upper");
    EXPECT_NE(r.frames[0].summary.find("frag off=0 M"), std::string::npos) << r.frames[0].summary;
  }
  // ra6 -y 8: the RA type is in the first 8-byte fragment: RFC 6980.
  const auto r = replay(kPcap + "ra6_y8.pcap", on(guard::PortRole::kRouter));
  ASSERT_FALSE(r.frames.empty());
  EXPECT_EQ(name(r.frames[0].reason), "nd_in_fragment");
}

// radvd's RAs on the router port pass RA Guard; the same capture on a VM port
// is a rogue router.
TEST(Explain, RadvdOnRouterPortPassesOnVmPortDoesNot) {
  const auto router = replay(kPcap + "radvd.pcap", on(guard::PortRole::kRouter));
  int ras = 0;
  for (const auto& f : router.frames) {
    EXPECT_EQ(f.verdict, guard::Verdict::kAccept) << f.number << " " << f.summary;
    if (f.summary.find("RA ") == std::string::npos) continue;
    ++ras;
    EXPECT_EQ(name(f.reason), "accept_ra");
    EXPECT_NE(f.summary.find("prefix 2001:db8:1::/64"), std::string::npos) << f.summary;
  }
  EXPECT_EQ(ras, 2);
  EXPECT_EQ(router.dropped, 0U);
  EXPECT_TRUE(router.events.empty());

  const auto vm = replay(kPcap + "radvd.pcap", on(guard::PortRole::kVm));
  int dropped_ras = 0;
  for (const auto& f : vm.frames)
    if (f.summary.find("RA ") != std::string::npos && name(f.reason) == "ra_from_vm_port")
      ++dropped_ras;
  EXPECT_EQ(dropped_ras, 2);
}

// A router port limited to other RA sources (spec allowed_ra_sources) refuses radvd.
TEST(Explain, PolicyJsonRestrictsRaSources) {
  ExplainOptions opt = on(guard::PortRole::kRouter);
  ASSERT_TRUE(apply_policy_json(R"({"allowed_ra_sources": ["fe80::1"]})", opt.policy));
  auto r = replay(kPcap + "radvd.pcap", opt);
  ASSERT_FALSE(r.frames.empty());
  EXPECT_EQ(name(r.frames[0].reason), "ra_source_not_allowed");
  ExplainOptions ok = on(guard::PortRole::kRouter);
  ASSERT_TRUE(
      apply_policy_json(R"({"security": {"allowed_ra_sources": ["fe80::ff:fe00:1"]}})", ok.policy));
  r = replay(kPcap + "radvd.pcap", ok);
  EXPECT_EQ(name(r.frames[0].reason), "accept_ra");
}

TEST(Explain, PolicyJsonAcceptsSpecInterfaceAndRefusesUnknownFields) {
  guard::PortPolicy p;
  ASSERT_TRUE(apply_policy_json(R"({
      "id": "eth0", "mac_address": "AA:FC:00:00:00:01", "bridge_name": "br-tenant-a",
      "vlan_id": "100", "tap_device": "tap1", "options": {"tap_mode": "adopt"},
      "qos": {"egress_mbps": 100},
      "ipv6": {"address": "2600:BEEF:1000:100::50/64", "temp_valid_lifetime": 3600,
               "security": {"block_hop_by_hop": true, "nd_rate_limit": 100,
                            "allowed_ra_sources": ["2600:BEEF:1000:100::1"]}},
      "security_policy": {"ingress_rules": ["allow icmpv6 from any to any"],
                          "packet_rate_limit": 10000, "log_security_events": true}})",
                                p));
  EXPECT_EQ(p.mac.to_string(), "aa:fc:00:00:00:01");
  ASSERT_EQ(p.static_addresses.size(), 1U);
  EXPECT_EQ(p.static_addresses[0].to_string(), "2600:beef:1000:100::50");
  ASSERT_EQ(p.allocated_prefixes.size(), 1U);
  EXPECT_EQ(p.allocated_prefixes[0].to_string(), "2600:beef:1000:100::/64");
  EXPECT_TRUE(p.block_hop_by_hop);
  EXPECT_EQ(p.nd_rate_limit, 100U);
  EXPECT_EQ(p.packet_rate_limit, 10000U);
  EXPECT_EQ(p.temp_valid_lifetime, 3600 * guard::kSecond);
  EXPECT_EQ(p.vlan, 0);  // captures from a tap are untagged: vlan_id is the host's business

  const auto typo = apply_policy_json(R"({"enable_ra_gaurd": false})", p);
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.message().find("enable_ra_gaurd"), std::string::npos);
  EXPECT_FALSE(apply_policy_json(R"({"block_hop_by_hop": "yes"})", p).ok());
  EXPECT_FALSE(apply_policy_json(R"({"allowed_ra_sources": ["not-an-address"]})", p).ok());
  EXPECT_FALSE(apply_policy_json("[1,2]", p).ok());
}

// A VM configuring an address (DAD), pinging, then spoofing an address it
// never claimed: FCFS SAVI learning on capture time, source guard, ND inspection.
TEST(Explain, DadLearnsBindingsOnCaptureTimeAndSpoofingIsDropped) {
  ExplainOptions opt = on(guard::PortRole::kVm);
  opt.policy.mac = *MacAddr::parse("02:00:00:00:0a:01");
  opt.policy.allocated_prefixes = {*Ip6Prefix::parse("2001:db8:1::/64")};
  const auto r = replay(kDadPing, opt);
  bool tentative = false, valid_before_ping = false, ping_ok = false, spoof_dropped = false,
       na_dropped = false;
  for (const auto& f : r.frames) {
    for (const auto& n : f.notes)
      if (n == "binding TENTATIVE 02:00:00:00:0a:01 2001:db8:1::5") tentative = true;
    for (const auto& n : f.before) {
      if (n == "binding VALID 02:00:00:00:0a:01 2001:db8:1::5") valid_before_ping = !ping_ok;
    }
    if (!f.has_ip) continue;
    const auto src = f.src_ip.to_string();
    if (src == "2001:db8:1::5" && f.summary.find("echo request") != std::string::npos) {
      EXPECT_EQ(name(f.reason), "accept_binding") << f.number;
      ping_ok = true;
    }
    if (src == "2001:db8:1::66" && f.summary.find("echo request") != std::string::npos) {
      EXPECT_EQ(name(f.reason), "source_not_bound") << f.number;
      spoof_dropped = f.verdict == guard::Verdict::kDrop;
    }
    if (f.summary.find("NA 2001:db8:1::66") != std::string::npos) {
      EXPECT_EQ(name(f.reason), "nd_target_not_owned") << f.number;
      na_dropped = f.verdict == guard::Verdict::kDrop;
    }
    // The VM's kernel uses its link-local the moment DAD ends (MLD report):
    // that traffic is the owner's, even before the 1 Hz timer says VALID.
    if (src == "fe80::ff:fe00:a01") {
      EXPECT_EQ(f.verdict, guard::Verdict::kAccept) << f.number << " " << f.summary;
    }
    if (f.summary.find("(DAD)") != std::string::npos) {
      EXPECT_EQ(name(f.reason), "accept_dad");
    }
  }
  EXPECT_TRUE(tentative);
  EXPECT_TRUE(valid_before_ping);
  EXPECT_TRUE(ping_ok);
  EXPECT_TRUE(spoof_dropped);
  EXPECT_TRUE(na_dropped);
  int valid = 0;
  for (const auto& b : r.bindings) valid += b.state == guard::BindingState::kValid;
  EXPECT_EQ(valid, 2);  // the global address and the link-local one
  // Only the RA-free, spoof-free part of the capture is accepted.
  EXPECT_GT(r.accepted, r.dropped);
}

// Monitor (log-only): the same verdicts, reported as would-drop, accepted,
// counted, and the events carry the monitor marker.
TEST(Explain, MonitorModeReportsWouldDropAndAccepts) {
  ExplainOptions opt = on(guard::PortRole::kVm);
  opt.policy.monitor = true;
  const auto r = replay(kPcap + "fake_router26_E_H.pcap", opt);
  ASSERT_EQ(r.frames.size(), 1U);
  EXPECT_EQ(r.frames[0].verdict, guard::Verdict::kAccept);
  EXPECT_EQ(name(r.frames[0].reason), "accept_monitor");
  EXPECT_EQ(name(r.frames[0].waived), "ra_from_vm_port");
  EXPECT_EQ(r.monitored, 1U);
  EXPECT_EQ(r.dropped, 0U);
  ASSERT_EQ(r.would_drop.size(), 1U);
  EXPECT_EQ(name(r.would_drop[0].first), "ra_from_vm_port");
  ASSERT_EQ(r.events.size(), 1U);
  EXPECT_TRUE(r.events[0].monitor);
}

TEST(Explain, CommandTextJsonAndExitCodes) {
  auto text = ctl({"explain", "--pcap", kPcap + "fake_router26_E_H.pcap"});
  ASSERT_EQ(text.rc, 0) << text.err;
  EXPECT_NE(text.out.find("DROP"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("ra_from_vm_port"), std::string::npos);
  EXPECT_NE(text.out.find("\"violation_type\":\"ra_from_vm_port\""), std::string::npos);

  auto monitor = ctl({"explain", "--pcap", kPcap + "fake_router26_E_H.pcap", "--monitor"});
  ASSERT_EQ(monitor.rc, 0);
  EXPECT_NE(monitor.out.find("WOULD-DROP"), std::string::npos) << monitor.out;
  EXPECT_NE(monitor.out.find("\"monitor\":true"), std::string::npos) << monitor.out;

  auto json = ctl({"explain", "--pcap", kPcap + "radvd.pcap", "--port-role", "router", "--json"});
  ASSERT_EQ(json.rc, 0) << json.err;
  EXPECT_EQ(json.out.front(), '{');
  EXPECT_NE(json.out.find("\"verdict\":\"ACCEPT\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"accept_ra\":2"), std::string::npos) << json.out;
  // The global --json before the command works too.
  EXPECT_EQ(ctl({"--json", "explain", "--pcap", kPcap + "radvd.pcap"}).out.front(), '{');

  auto policy = ctl({"explain", "--pcap", kPcap + "radvd.pcap", "--port-role", "router", "--policy",
                     R"({"allowed_ra_sources":["fe80::1"]})", "--summary"});
  ASSERT_EQ(policy.rc, 0) << policy.err;
  EXPECT_NE(policy.out.find("ra_source_not_allowed: 2"), std::string::npos) << policy.out;

  EXPECT_EQ(ctl({"explain"}).rc, 2);
  EXPECT_EQ(ctl({"explain", "--pcap", kPcap + "radvd.pcap", "--port-role", "switch"}).rc, 2);
  EXPECT_EQ(ctl({"explain", "--pcap", kPcap + "radvd.pcap", "--policy", "{\"bogus\":1}"}).rc, 2);
  const auto missing = ctl({"explain", "--pcap", "/nonexistent/x.pcap"});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_FALSE(missing.err.empty());
}

// Fuzz-style: random and truncated frames never crash the replay, and every
// frame gets exactly one verdict.
TEST(Explain, ArbitraryBytesGetOneVerdictEach) {
  const auto real = packet::read_pcap(kPcap + "fake_router26_E_F.pcap");
  ASSERT_TRUE(real.ok());
  std::mt19937 rng(7113);
  std::vector<packet::PcapFrame> frames;
  for (int i = 0; i < 2000; ++i) {
    packet::PcapFrame f = real.frames[static_cast<std::size_t>(i) % real.frames.size()];
    f.data.resize(rng() % (f.data.size() + 1));
    for (int flips = rng() % 4; flips > 0 && !f.data.empty(); --flips)
      f.data[rng() % f.data.size()] = static_cast<std::byte>(rng());
    f.timestamp_ns = 1'000'000'000ULL * 100 + static_cast<std::uint64_t>(rng() % 1000) * 1000;
    frames.push_back(std::move(f));
  }
  const auto r = explain_frames(frames, on(guard::PortRole::kVm));
  EXPECT_EQ(r.frames.size(), frames.size());
  EXPECT_EQ(r.accepted + r.dropped, frames.size());
  for (std::size_t i = 1; i < r.frames.size(); ++i)
    EXPECT_GE(r.frames[i].time, r.frames[i - 1].time);  // clock never runs backwards
}

}  // namespace
}  // namespace v6g::cli
