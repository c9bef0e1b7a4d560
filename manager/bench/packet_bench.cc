// Parse+classify throughput over a realistic first-hop mix: 10% RA (radvd,
// with prefix/route/RDNSS/DNSSL options), 30% NS and 30% NA (ndisc6), 30%
// TCP data. Control-plane frames come from the checked-in real captures.
// Prints packets/s (items_per_second) and ns/packet.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "packet/packet.h"
#include "packet/pcap_reader.h"

namespace {

using Frame = std::vector<std::byte>;
using v6g::packet::PacketClass;

Frame first_of_class(const std::string& pcap, PacketClass klass) {
  const auto file = v6g::packet::read_pcap(std::string(V6G_TEST_DATA) + "/pcap/" + pcap);
  for (const auto& f : file.frames) {
    const auto r = v6g::packet::parse_frame(f.data);
    if (r.ok() && r->klass == klass) return f.data;
  }
  std::fprintf(stderr, "packet_bench: no %s frame in %s\n",
               std::string(v6g::packet::packet_class_name(klass)).c_str(), pcap.c_str());
  std::abort();
}

// A TCP ACK with 12 bytes of timestamps, VM to VM (what a data frame
// punted for an unknown source looks like).
Frame tcp_frame() {
  std::vector<std::uint8_t> b = {0x02, 0,    0,    0,    0, 2, 0x02, 0, 0,  0, 0,
                                 1,    0x86, 0xdd, 0x60, 0, 0, 0,    0, 32, 6, 64};
  const std::uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const std::uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  b.insert(b.end(), src, src + 16);
  b.insert(b.end(), dst, dst + 16);
  const std::uint8_t tcp[32] = {0xc3, 0x50, 0x01, 0xbb, 0,    0, 0, 1, 0, 0, 0,
                                1,    0x80, 0x10, 0x01, 0xf5, 0, 0, 0, 0, 1, 1,
                                8,    10,   0,    0,    0,    1, 0, 0, 0, 2};
  b.insert(b.end(), tcp, tcp + 32);
  Frame f(b.size());
  std::transform(b.begin(), b.end(), f.begin(), [](std::uint8_t x) { return std::byte{x}; });
  return f;
}

std::vector<Frame> mix() {
  const Frame ra = first_of_class("radvd.pcap", PacketClass::kRouterAdvert);
  const Frame ns = first_of_class("ndisc6_ns_na.pcap", PacketClass::kNeighborSolicit);
  const Frame na = first_of_class("ndisc6_ns_na.pcap", PacketClass::kNeighborAdvert);
  const Frame tcp = tcp_frame();
  std::vector<Frame> frames;
  for (int i = 0; i < 10; ++i) frames.push_back(ra);
  for (int i = 0; i < 30; ++i) frames.push_back(ns);
  for (int i = 0; i < 30; ++i) frames.push_back(na);
  for (int i = 0; i < 30; ++i) frames.push_back(tcp);
  std::mt19937 rng(42);  // fixed order: no branch predictor luck from sorted input
  std::shuffle(frames.begin(), frames.end(), rng);
  return frames;
}

void report(benchmark::State& state) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  // Seconds per packet (inverted rate), printed with an SI prefix: "45.5ns".
  state.counters["time_per_packet"] =
      benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void run(benchmark::State& state, const std::vector<Frame>& frames) {
  std::size_t i = 0;
  std::size_t ok = 0;
  for (auto _ : state) {
    const auto r = v6g::packet::parse_frame(frames[i]);
    ok += r.ok() ? 1 : 0;
    benchmark::DoNotOptimize(r);
    if (++i == frames.size()) i = 0;
  }
  if (ok != static_cast<std::size_t>(state.iterations())) state.SkipWithError("parse rejected");
  report(state);
}

void BM_ParseMix(benchmark::State& state) { run(state, mix()); }
BENCHMARK(BM_ParseMix);

// The inspector's form: parse into a reused ParsedPacket (no result copy).
void BM_ParseMixInto(benchmark::State& state) {
  const auto frames = mix();
  v6g::packet::ParsedPacket packet;
  std::size_t i = 0;
  std::size_t ok = 0;
  for (auto _ : state) {
    const auto why = v6g::packet::parse_frame_into(frames[i], packet);
    ok += why == V6G_R_NONE ? 1 : 0;
    benchmark::DoNotOptimize(packet);
    if (++i == frames.size()) i = 0;
  }
  if (ok != static_cast<std::size_t>(state.iterations())) state.SkipWithError("parse rejected");
  report(state);
}
BENCHMARK(BM_ParseMixInto);

// Under attack: every frame of the RA Guard evasion captures (drops and
// fragment tails), through the in-place form.
void BM_ParseEvasionsInto(benchmark::State& state) {
  std::vector<Frame> frames;
  for (const char* name : {"fake_router26_E_D.pcap", "fake_router26_E_F.pcap",
                           "fake_router26_E_o.pcap", "ra6_y8.pcap", "ra6_u1500_y1280.pcap"}) {
    for (auto& f : v6g::packet::read_pcap(std::string(V6G_TEST_DATA) + "/pcap/" + name).frames)
      frames.push_back(std::move(f.data));
  }
  v6g::packet::ParsedPacket packet;
  std::size_t i = 0;
  std::size_t dropped = 0;
  for (auto _ : state) {
    dropped += v6g::is_drop(v6g::packet::parse_frame_into(frames[i], packet)) ? 1 : 0;
    benchmark::DoNotOptimize(packet);
    if (++i == frames.size()) i = 0;
  }
  benchmark::DoNotOptimize(dropped);
  report(state);
}
BENCHMARK(BM_ParseEvasionsInto);

void BM_ParseRouterAdvert(benchmark::State& state) {
  run(state, {first_of_class("radvd.pcap", PacketClass::kRouterAdvert)});
}
BENCHMARK(BM_ParseRouterAdvert);

void BM_ParseNeighborSolicit(benchmark::State& state) {
  run(state, {first_of_class("ndisc6_ns_na.pcap", PacketClass::kNeighborSolicit)});
}
BENCHMARK(BM_ParseNeighborSolicit);

void BM_ParseTcp(benchmark::State& state) { run(state, {tcp_frame()}); }
BENCHMARK(BM_ParseTcp);

}  // namespace

BENCHMARK_MAIN();
