// The per-packet service-time histogram of the queue threads: bucket bounds
// and percentiles from known samples.
#include <gtest/gtest.h>

#include <random>

#include "inspector/service_histogram.h"

namespace v6g::inspector {
namespace {

TEST(ServiceHistogram, EveryDurationLiesBelowItsBucketLimitAndAboveThePrevious) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t ns = rng() >> (rng() % 64);
    const unsigned b = service_bucket(ns);
    if (b == kServiceBuckets - 1) continue;  // the overflow bucket
    EXPECT_LT(ns, service_bucket_limit(b)) << ns;
    if (b > 0) {
      EXPECT_GE(ns, service_bucket_limit(b - 1)) << ns;
    }
    // Log-linear: a bucket is at most 25% wide relative to its floor.
    if (b >= 4) {
      EXPECT_LE(service_bucket_limit(b) * 4, service_bucket_limit(b - 1) * 5) << b;
    }
  }
  EXPECT_EQ(service_bucket(0), 0u);
  EXPECT_EQ(service_bucket_limit(service_bucket(1000)), 1024u);  // [896, 1024)
  EXPECT_EQ(service_bucket(~std::uint64_t{0}), kServiceBuckets - 1);
}

TEST(ServiceHistogram, PercentilesOfKnownSamples) {
  ServiceHistogram h;
  // 980 batches answered within ~10 us, 15 packets at ~100 us, 5 at ~1 ms.
  for (int i = 0; i < 490; ++i) h.record(10'000, 2);
  h.record(100'000, 15);
  h.record(1'000'000, 5);
  ServiceCounts c{};
  h.add_to(c);
  const ServiceSummary s = summarize(c);
  EXPECT_EQ(s.packets, 1000u);
  EXPECT_EQ(s.p50_ns, service_bucket_limit(service_bucket(10'000)));
  EXPECT_GT(s.p50_ns, 10'000u);
  EXPECT_LE(s.p50_ns, 12'500u);
  EXPECT_EQ(s.p99_ns, service_bucket_limit(service_bucket(100'000)));  // rank 990 of 995 <= 100 us
  EXPECT_EQ(s.p999_ns, service_bucket_limit(service_bucket(1'000'000)));
  // Two threads' histograms merge by adding counts.
  h.add_to(c);
  EXPECT_EQ(summarize(c).packets, 2000u);
  EXPECT_EQ(summarize(ServiceCounts{}).p99_ns, 0u);
}

}  // namespace
}  // namespace v6g::inspector
