// CreateVm validation and allocation throughput, in process. Goal: >= 100k/s
// each, with an ExistingState the size of a busy host (10k VMs).
#include <benchmark/benchmark.h>
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "config/allocate.h"
#include "config/firewall.h"

namespace {

using namespace v6g;
using namespace v6g::config;

std::string read(const std::string& name) {
  std::ifstream f(std::string(V6G_TEST_DATA) + "/spec/" + name);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Fixture {
  HostConfig host;
  vmprovisioner::v1::CreateVmRequest request;
  ExistingState existing;
  Fixture() {
    std::string error;
    host = *parse_host_config(read("host.json"), &error);
    (void)google::protobuf::util::JsonStringToMessage(read("create_vm_single.json"), &request);
    for (int i = 0; i < 10'000; ++i) {  // a busy host: 10k VMs on their own bridges
      Ip6Addr a = *Ip6Addr::parse("2600:beef:1000:100::");
      a.bytes[12] = static_cast<std::uint8_t>(i >> 8);
      a.bytes[13] = static_cast<std::uint8_t>(i);
      existing.addresses_in_use.insert(a);
      existing.macs_in_use.insert(generate_mac("vm-" + std::to_string(i), "eth0", 0));
      existing.taps_in_use.insert(generate_tap_name("vm-" + std::to_string(i), "eth0", 0));
      existing.bridge_owner["br-t" + std::to_string(i)] = "t" + std::to_string(i);
      existing.vlan_owner[{"br-t" + std::to_string(i), 200}] = "t" + std::to_string(i);
    }
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_ValidateSpecRequest(benchmark::State& state) {
  auto& f = fixture();
  for (auto _ : state) {
    auto v = validate_create_vm(f.request, f.host, f.existing);
    benchmark::DoNotOptimize(v);
    if (!v.empty()) state.SkipWithError("spec request rejected");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ValidateSpecRequest);

void BM_AllocateFromPool(benchmark::State& state) {
  auto& f = fixture();
  auto r = f.request;
  auto& nic = *r.mutable_config()->mutable_network(0);
  nic.clear_mac_address();
  nic.mutable_ipv6()->clear_address();
  nic.mutable_ipv6()->clear_gateway();
  nic.mutable_ipv6()->set_pool("standard-pool");
  TenantRateLimiter limiter(0);
  std::int64_t n = 0;
  for (auto _ : state) {
    r.set_vm_id("vm-" + std::to_string(n++ & 0xffff));
    auto a = allocate_vm(r, f.host, f.existing, limiter, n);
    benchmark::DoNotOptimize(a);
    if (!a.ok()) state.SkipWithError("allocation failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AllocateFromPool);

void BM_ParseFirewallRule(benchmark::State& state) {
  for (auto _ : state) {
    auto r =
        parse_firewall_rule("allow tcp from 2600:beef:1000::/48 to any port 53,80,443,8000-8100");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseFirewallRule);

class GoalReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      auto it = run.counters.find("items_per_second");
      if (it == run.counters.end()) continue;
      const double per_s = it->second.value;
      std::printf("%-28s %10.0f/s  goal 100000/s  ratio %.1fx %s\n", run.benchmark_name().c_str(),
                  per_s, per_s / 100000.0, per_s >= 100000.0 ? "OK" : "BELOW GOAL");
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  GoalReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
