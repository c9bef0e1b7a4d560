// Integer token bucket on the nanosecond clock: no floating point on the
// packet path. Tokens are kept in "nano-tokens" (1 packet = 1e9), so a rate
// of r packets/s refills exactly r nano-tokens per nanosecond elapsed.
#pragma once

#include <algorithm>
#include <cstdint>

namespace v6g::guard {

class TokenBucket {
 public:
  static constexpr std::uint64_t kOne = 1'000'000'000ULL;

  TokenBucket() = default;
  // rate packets/s, burst packets (>= 1); rate 0 = unlimited.
  TokenBucket(std::uint32_t rate, std::uint32_t burst)
      : rate_(rate), cap_(std::max<std::uint64_t>(burst, 1) * kOne), tokens_(cap_) {}

  bool unlimited() const { return rate_ == 0; }

  // Take one packet's worth at time now (ns); false = over the limit.
  bool take(std::int64_t now) {
    if (rate_ == 0) return true;
    if (now > last_) {
      // Cap elapsed time at the time to fill the bucket: avoids overflow
      // after long idle periods and keeps the burst bounded.
      const std::uint64_t fill_ns = cap_ / rate_ + 1;
      const std::uint64_t dt =
          std::min<std::uint64_t>(static_cast<std::uint64_t>(now - last_), fill_ns);
      tokens_ = std::min(cap_, tokens_ + dt * rate_);
      last_ = now;
    }
    if (tokens_ < kOne) return false;
    tokens_ -= kOne;
    return true;
  }

 private:
  std::uint64_t rate_ = 0;
  std::uint64_t cap_ = 0;
  std::uint64_t tokens_ = 0;
  std::int64_t last_ = 0;
};

}  // namespace v6g::guard
