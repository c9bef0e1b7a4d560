// Guard engine throughput and binding memory.
//
// BM_GuardMixed: decisions/s on one core for a mixed stream against 100k
// bindings (1000 VM ports x 100 addresses): 90% data from bound sources, 4%
// NS, 3% spoofed-source data, 2% RAs from VM ports, 1% re-DAD. Goal >= 5 M/s.
// BM_TableLookup vs BM_UnorderedMapLookup: the flat table against the obvious
// std::unordered_map, side by side, with bytes per binding for each (goal for
// the engine's table: <= 64 B).
#include <benchmark/benchmark.h>

#include <random>
#include <unordered_map>

#include "guard/binding_table.h"
#include "guard/engine.h"

namespace v6g::guard {
namespace {

constexpr int kPorts = 1000;
constexpr int kPerPort = 100;

MacAddr port_mac(int p) {
  MacAddr m;
  m.bytes = {0x02, 0, 0, 0, static_cast<std::uint8_t>(p >> 8), static_cast<std::uint8_t>(p)};
  return m;
}
Ip6Addr port_addr(int p, int i) {
  Ip6Addr a = *Ip6Addr::parse("2001:db8::");
  a.bytes[4] = static_cast<std::uint8_t>(p >> 8);
  a.bytes[5] = static_cast<std::uint8_t>(p);
  a.bytes[12] = static_cast<std::uint8_t>(i * 37);  // spread the IIDs
  a.bytes[15] = static_cast<std::uint8_t>(i);
  return a;
}
Ip6Prefix port_prefix(int p) {
  Ip6Prefix pre;
  pre.addr = port_addr(p, 0);
  std::fill(pre.addr.bytes.begin() + 8, pre.addr.bytes.end(), 0);
  pre.len = 64;
  return pre;
}

struct Bound {
  PortId port;
  MacAddr mac;
  Ip6Addr addr;
};

struct Entry {
  PortId port;
  bool roam;  // bound-source data: re-aimed at a different binding each time
  packet::ParsedPacket pkt;
};

struct Fixture {
  Engine engine;
  std::vector<Entry> stream;
  std::vector<Bound> bound;  // every binding, so lookups touch the whole table

  Fixture() : engine(make_cfg()) {
    Effects fx;
    for (int p = 0; p < kPorts; ++p) {
      PortPolicy pol;
      pol.port = static_cast<PortId>(100 + p);
      pol.mac = port_mac(p);
      pol.allocated_prefixes = {port_prefix(p)};
      pol.max_bindings = 128;
      pol.nd_rate_limit = 1'000'000;
      for (int i = 0; i < kPerPort; ++i) {
        pol.static_addresses.push_back(port_addr(p, i));
        bound.push_back({pol.port, pol.mac, port_addr(p, i)});
      }
      if (!engine.upsert_port(pol, 0, fx)) std::abort();
    }
    std::mt19937 rng(42);
    for (int n = 0; n < 4096; ++n) {
      const int p = static_cast<int>(rng() % kPorts);
      const int i = static_cast<int>(rng() % kPerPort);
      const unsigned pick = rng() % 100;
      packet::ParsedPacket pkt;
      pkt.eth.src = port_mac(p);
      pkt.ip.src = port_addr(p, i);
      pkt.ip.dst = *Ip6Addr::parse("2001:db8:ffff::1");
      pkt.ip.hop_limit = 64;
      pkt.upper.present = true;
      pkt.klass = packet::PacketClass::kData;
      pkt.message = packet::Transport{4000, 443};
      bool roam = false;
      if (pick < 4) {
        pkt.klass = packet::PacketClass::kNeighborSolicit;
        pkt.ip.hop_limit = 255;
        packet::NeighborSolicit ns;
        ns.target = port_addr(p, (i + 1) % kPerPort);
        ns.options.has_slla = true;
        ns.options.slla = pkt.eth.src;
        pkt.message = ns;
      } else if (pick < 7) {
        pkt.ip.src.bytes[15] = 0xee;  // spoofed (a few sources: events aggregate)
      } else if (pick < 9) {
        pkt.klass = packet::PacketClass::kRouterAdvert;
        pkt.ip.hop_limit = 255;
        pkt.ip.src = *Ip6Addr::parse("fe80::bad");
        pkt.message = packet::RouterAdvert{};
      } else if (pick < 10) {
        pkt.klass = packet::PacketClass::kNeighborSolicit;
        pkt.ip.hop_limit = 255;
        packet::NeighborSolicit ns;
        ns.target = pkt.ip.src;
        pkt.ip.src = Ip6Addr{};
        pkt.message = ns;
      } else {
        roam = true;
      }
      stream.push_back({static_cast<PortId>(100 + p), roam, pkt});
    }
  }
  static EngineConfig make_cfg() {
    EngineConfig c;
    c.binding_capacity_hint = kPorts * kPerPort;
    return c;
  }
};

void BM_GuardMixed(benchmark::State& state) {
  static Fixture f;
  Effects fx;
  Nanos now = kSecond;
  std::size_t i = 0, drops = 0, b = 0;
  for (auto _ : state) {
    Entry& e = f.stream[i++ & 4095];
    if (e.roam) {
      b = (b + 7919) % f.bound.size();
      e.port = f.bound[b].port;
      e.pkt.eth.src = f.bound[b].mac;
      e.pkt.ip.src = f.bound[b].addr;
    }
    now += 100;
    const Decision d = f.engine.decide(e.port, e.pkt, now, fx);
    drops += d.verdict == Verdict::kDrop;
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bindings"] = static_cast<double>(f.engine.binding_count());
  state.counters["bytes_per_binding"] = static_cast<double>(f.engine.binding_memory_bytes()) /
                                        static_cast<double>(f.engine.binding_count());
  state.counters["drop_ratio"] = static_cast<double>(drops) /
                                 static_cast<double>(std::max<std::int64_t>(state.iterations(), 1));
}
BENCHMARK(BM_GuardMixed);

// Side by side: the flat table against std::unordered_map on the same keys.
std::vector<BindingKey> keys() {
  std::vector<BindingKey> k;
  for (int p = 0; p < kPorts; ++p)
    for (int i = 0; i < kPerPort; ++i)
      k.push_back(
          BindingKey::make(static_cast<std::uint32_t>(100 + p), 0, port_mac(p), port_addr(p, i)));
  return k;
}
struct KeyHash {
  std::size_t operator()(const BindingKey& k) const {
    return std::hash<std::string_view>()(
        std::string_view(reinterpret_cast<const char*>(&k), sizeof k));
  }
};
struct MapValue {  // what the engine keeps per binding besides the key
  std::uint32_t expires_s;
  std::uint8_t state, is_static;
};

void BM_TableLookup(benchmark::State& state) {
  static const auto k = keys();
  static BindingTable t = [] {
    BindingTable tab(k.size());
    for (const auto& key : k) tab.insert(key);
    return tab;
  }();
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(t.find(k[(i++ * 7919) % k.size()]));
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_binding"] =
      static_cast<double>(t.memory_bytes()) / static_cast<double>(t.size());
}
BENCHMARK(BM_TableLookup);

void BM_UnorderedMapLookup(benchmark::State& state) {
  static const auto k = keys();
  static std::unordered_map<BindingKey, MapValue, KeyHash> m = [] {
    std::unordered_map<BindingKey, MapValue, KeyHash> mm;
    for (const auto& key : k) mm.emplace(key, MapValue{});
    return mm;
  }();
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(m.find(k[(i++ * 7919) % k.size()]));
  state.SetItemsProcessed(state.iterations());
  // libstdc++ node: next pointer + pair<key, value> + cached hash, plus the bucket array.
  const double node =
      sizeof(void*) + sizeof(std::pair<const BindingKey, MapValue>) + sizeof(std::size_t);
  state.counters["bytes_per_binding"] =
      node + static_cast<double>(m.bucket_count() * sizeof(void*)) / static_cast<double>(m.size());
}
BENCHMARK(BM_UnorderedMapLookup);

}  // namespace
}  // namespace v6g::guard

BENCHMARK_MAIN();
