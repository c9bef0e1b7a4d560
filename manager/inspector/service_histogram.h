// Per-packet service time of an nfqueue reader: from recvmmsg returning the
// packet to the sendmsg carrying its verdict returning - the latency the
// inspector itself adds, without the scheduler's wake-up of the reader that
// dominates a ping RTT on a busy host. Cheap enough for every packet: one
// relaxed atomic add per verdict batch into log-linear buckets (4 per power
// of two, so a percentile is known to within 25%), one writer thread per
// histogram, readers anywhere.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace v6g::inspector {

inline constexpr unsigned kServiceBuckets = 4 + 4 * 38;  // up to 2^40 ns (18 min)

// Bucket of a duration: 0..3 ns exact, then 4 sub-buckets per power of two.
constexpr unsigned service_bucket(std::uint64_t ns) {
  if (ns < 4) return static_cast<unsigned>(ns);
  const unsigned msb = static_cast<unsigned>(std::bit_width(ns)) - 1;  // >= 2
  const unsigned b = 4 + (msb - 2) * 4 + static_cast<unsigned>((ns >> (msb - 2)) & 3);
  return b < kServiceBuckets ? b : kServiceBuckets - 1;
}
// Exclusive upper bound of a bucket, in ns (what percentiles report).
constexpr std::uint64_t service_bucket_limit(unsigned b) {
  if (b < 4) return b + 1;
  const unsigned msb = (b - 4) / 4 + 2;
  return (std::uint64_t{4 + (b - 4) % 4} + 1) << (msb - 2);
}

using ServiceCounts = std::array<std::uint64_t, kServiceBuckets>;

struct ServiceHistogram {
  std::array<std::atomic<std::uint64_t>, kServiceBuckets> counts{};
  // `packets` verdicts that all waited `ns` (one batch, one sendmsg).
  void record(std::uint64_t ns, std::uint64_t packets) {
    counts[service_bucket(ns)].fetch_add(packets, std::memory_order_relaxed);
  }
  void add_to(ServiceCounts& out) const {
    for (unsigned i = 0; i < kServiceBuckets; ++i)
      out[i] += counts[i].load(std::memory_order_relaxed);
  }
};

struct ServiceSummary {
  std::uint64_t packets = 0;
  // Upper bounds of the buckets holding the 50th/99th/99.9th percentile, ns.
  std::uint64_t p50_ns = 0, p99_ns = 0, p999_ns = 0;
};

inline ServiceSummary summarize(const ServiceCounts& c) {
  ServiceSummary s;
  for (const auto n : c) s.packets += n;
  if (s.packets == 0) return s;
  const auto at = [&](std::uint64_t per_mille) {
    // The smallest bucket whose cumulative count covers the rank.
    const std::uint64_t rank = (s.packets * per_mille + 999) / 1000;
    std::uint64_t seen = 0;
    for (unsigned i = 0; i < kServiceBuckets; ++i) {
      seen += c[i];
      if (seen >= rank && c[i] != 0) return service_bucket_limit(i);
    }
    return service_bucket_limit(kServiceBuckets - 1);
  };
  s.p50_ns = at(500);
  s.p99_ns = at(990);
  s.p999_ns = at(999);
  return s;
}

}  // namespace v6g::inspector
