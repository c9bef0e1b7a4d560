// Flat open-addressing binding table (linear probing, backward-shift delete).
//
// Keyed by the compact 32-byte (addr, port, mac, vlan) key but *hashed on
// (vlan, addr) only*: every binding of one address on one VLAN lies on the
// same probe run, so the exact-match lookup of the fast path and the
// "who owns this address?" lookup of FCFS/DAD checks share one table and one
// probe. A slot is 40 bytes; at the 7/8 maximum load that is <= 64 B per
// binding with no per-entry allocation.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "common/net.h"

namespace v6g::guard {

struct BindingKey {
  std::uint8_t addr[16];
  std::uint32_t port;
  std::uint8_t mac[6];
  std::uint16_t vlan;
  std::uint32_t reserved;  // always zero: keeps memcmp over 32 bytes valid

  static BindingKey make(std::uint32_t port, std::uint16_t vlan, const MacAddr& mac,
                         const Ip6Addr& addr) {
    BindingKey k;
    std::memcpy(k.addr, addr.bytes.data(), 16);
    k.port = port;
    std::memcpy(k.mac, mac.bytes.data(), 6);
    k.vlan = vlan;
    k.reserved = 0;
    return k;
  }
  bool same_address(const BindingKey& o) const {
    return vlan == o.vlan && std::memcmp(addr, o.addr, 16) == 0;
  }
  bool operator==(const BindingKey& o) const { return std::memcmp(this, &o, sizeof o) == 0; }
};
static_assert(sizeof(BindingKey) == 32);

struct BindingSlot {
  BindingKey key;
  std::uint32_t expires_s = 0;  // engine seconds (Nanos / 1e9), 0 = never
  std::uint8_t used = 0;
  std::uint8_t state = 0;  // BindingState
  std::uint8_t is_static = 0;
  // TENTATIVE only: the DAD deadline's position inside its second, in 1/256 s
  // rounded up (0 = on the second), so traffic can be admitted the moment DAD
  // is over rather than at the next whole-second timer.
  std::uint8_t dad_frac = 0;
};
static_assert(sizeof(BindingSlot) == 40);

class BindingTable {
 public:
  explicit BindingTable(std::size_t capacity_hint = 1024) { rehash(round_up(capacity_hint)); }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return slots_.size(); }
  std::size_t memory_bytes() const { return slots_.size() * sizeof(BindingSlot); }

  BindingSlot* find(const BindingKey& k) {
    for (std::size_t i = home(k);; i = (i + 1) & mask_) {
      BindingSlot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == k) return &s;
    }
  }
  // First binding of (vlan, addr) that is not `except` (owner lookup).
  template <typename Pred>
  BindingSlot* find_address(const BindingKey& k, Pred&& pred) {
    for (std::size_t i = home(k);; i = (i + 1) & mask_) {
      BindingSlot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key.same_address(k) && pred(s)) return &s;
    }
  }
  // Inserts (or returns the existing) slot for k.
  BindingSlot* insert(const BindingKey& k) {
    if ((size_ + 1) * 8 > slots_.size() * 7) rehash(slots_.size() * 2);
    std::size_t i = home(k);
    for (;; i = (i + 1) & mask_) {
      if (!slots_[i].used) break;
      if (slots_[i].key == k) return &slots_[i];
    }
    slots_[i] = BindingSlot{};
    slots_[i].key = k;
    slots_[i].used = 1;
    ++size_;
    return &slots_[i];
  }
  void erase(BindingSlot* slot) {
    std::size_t i = static_cast<std::size_t>(slot - slots_.data());
    // Backward-shift deletion: pull later members of the run into the hole
    // so lookups never need tombstones.
    for (std::size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      if (!slots_[j].used) break;
      const std::size_t h = home(slots_[j].key);
      // Move j into i if its home is not cyclically in (i, j].
      const bool in_range = (i <= j) ? (i < h && h <= j) : (i < h || h <= j);
      if (!in_range) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = BindingSlot{};
    --size_;
  }
  template <typename F>
  void for_each(F&& f) {
    for (auto& s : slots_)
      if (s.used) f(s);
  }
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& s : slots_)
      if (s.used) f(s);
  }
  // Remove every slot for which pred is true; pred sees each slot once.
  template <typename Pred>
  void erase_if(Pred&& pred) {
    std::vector<BindingKey> doomed;
    for (auto& s : slots_)
      if (s.used && pred(s)) doomed.push_back(s.key);
    for (const auto& k : doomed)
      if (auto* s = find(k)) erase(s);
  }

 private:
  static std::size_t round_up(std::size_t n) {
    std::size_t c = 16;
    while (c * 7 < n * 8) c *= 2;
    return c;
  }
  std::size_t home(const BindingKey& k) const {
    // 64-bit multiply-xorshift over (vlan, addr); addresses are attacker
    // chosen, so the mix is seeded per table.
    std::uint64_t a, b;
    std::memcpy(&a, k.addr, 8);
    std::memcpy(&b, k.addr + 8, 8);
    std::uint64_t h = (a ^ seed_) * 0x9e3779b97f4a7c15ULL;
    h ^= ((b ^ (seed_ >> 17 | seed_ << 47)) + k.vlan) * 0xc2b2ae3d27d4eb4fULL;
    h ^= h >> 29;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 32;
    return static_cast<std::size_t>(h) & mask_;
  }
  void rehash(std::size_t capacity) {
    std::vector<BindingSlot> old;
    old.swap(slots_);
    slots_.assign(capacity, BindingSlot{});
    mask_ = capacity - 1;
    size_ = 0;
    for (const auto& s : old) {
      if (!s.used) continue;
      std::size_t i = home(s.key);
      while (slots_[i].used) i = (i + 1) & mask_;
      slots_[i] = s;
      ++size_;
    }
  }

  std::vector<BindingSlot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  // Addresses are guest-chosen: a per-table random seed keeps probe runs
  // from being steered into one long chain.
  std::uint64_t seed_ = random_seed();

  static std::uint64_t random_seed() {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) | rd();
  }
};

}  // namespace v6g::guard
