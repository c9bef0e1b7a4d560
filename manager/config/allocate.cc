#include "config/allocate.h"

#include <cstdio>

namespace v6g::config {
namespace {

constexpr Nanos kHour = 3600LL * 1'000'000'000LL;
constexpr std::uint32_t kMaxAttempts = 1024;
constexpr std::uint32_t kMaxAddressProbe = 1 << 16;

std::uint64_t mix(std::uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t hash(std::string_view a, std::string_view b, std::uint32_t attempt,
                   std::uint64_t salt) {
  std::uint64_t h = 0xcbf29ce484222325ULL ^ salt;  // FNV-1a over both strings
  for (char c : a) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  h = (h ^ 0xff) * 0x100000001b3ULL;  // separator: ("ab","c") != ("a","bc")
  for (char c : b) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return mix(h ^ attempt);
}

Ip6Addr add_offset(Ip6Addr base, std::uint64_t offset) {
  for (int i = 15; i >= 0 && offset != 0; --i) {
    const std::uint64_t sum = base.bytes[static_cast<std::size_t>(i)] + (offset & 0xff);
    base.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(sum);
    offset = (offset >> 8) + (sum >> 8);
  }
  return base;
}

const Pool* pick_pool(const vmprovisioner::v1::VmConfig& cfg, const std::string& requested,
                      const HostConfig& host) {
  if (!requested.empty()) return host.find_pool(requested);
  if (cfg.ipv6_pools_size() > 0) return host.find_pool(cfg.ipv6_pools(0).name());
  for (const auto& p : host.pools)
    if (p.authorizes(cfg.tenant_id())) return &p;
  return nullptr;
}

}  // namespace

Nanos TenantRateLimiter::admit(const std::string& tenant, Nanos now) {
  if (per_hour_ == 0) return 0;
  const Nanos interval = kHour / per_hour_;
  const Nanos burst = kHour;  // per_hour allocations back to back
  Nanos& tat = theoretical_arrival_[tenant];
  const Nanos start = std::max(tat, now);
  const Nanos wait = start + interval - now - burst;
  if (wait > 0) return wait;
  tat = start + interval;
  return 0;
}

void TenantRateLimiter::refund(const std::string& tenant) {
  if (per_hour_ == 0) return;
  if (auto it = theoretical_arrival_.find(tenant); it != theoretical_arrival_.end()) {
    it->second -= kHour / per_hour_;
  }
}

MacAddr generate_mac(std::string_view vm_id, std::string_view nic_id, std::uint32_t attempt) {
  const std::uint64_t h = hash(vm_id, nic_id, attempt, 0x6d6163);
  MacAddr mac;
  for (std::size_t i = 0; i < 6; ++i) mac.bytes[i] = static_cast<std::uint8_t>(h >> (8 * i));
  mac.bytes[0] = static_cast<std::uint8_t>((mac.bytes[0] & 0xfc) | 0x02);  // local, unicast
  return mac;
}

std::string generate_tap_name(std::string_view vm_id, std::string_view nic_id,
                              std::uint32_t attempt) {
  char name[16];
  const auto h = static_cast<unsigned long long>(hash(vm_id, nic_id, attempt, 0x746170) >> 16);
  std::snprintf(name, sizeof name, "v6g%012llx", h);
  return name;
}

namespace {

// Charges the rate limit and fills in what a validated request left out.
// `out.config` holds the request's config.
Allocation fill_in(const vmprovisioner::v1::CreateVmRequest& request, Allocation out,
                   const HostConfig& host, const ExistingState& existing,
                   TenantRateLimiter& limiter, Nanos now) {
  const std::string& tenant = out.config.tenant_id();

  if (const Nanos wait = limiter.admit(tenant, now); wait > 0) {
    const Nanos seconds = (wait + 999'999'999) / 1'000'000'000;
    out.violations.push_back({"config.tenant_id",
                              "resource_exhausted",
                              "IPv6 allocation rate limit exceeded for tenant '" + tenant + "'",
                              "allocation_rate_limited",
                              {{"tenant_id", tenant},
                               {"limit", std::to_string(limiter.per_hour()) + " allocations/hour"},
                               {"retry_after", std::to_string(seconds) + " seconds"}}});
    return out;
  }

  std::set<MacAddr> macs;
  std::set<std::string> taps;
  std::set<Ip6Addr> addresses;
  for (const auto& nic : out.config.network()) {
    if (auto m = MacAddr::parse(nic.mac_address())) macs.insert(*m);
    if (!nic.tap_device().empty()) taps.insert(nic.tap_device());
  }
  const std::string& vm_id = request.vm_id();
  for (int i = 0; i < out.config.network_size(); ++i) {
    auto& nic = *out.config.mutable_network(i);
    const std::string field = "config.network[" + std::to_string(i) + "]";
    const std::string nic_key = nic.id().empty() ? std::to_string(i) : nic.id();
    if (nic.mac_address().empty()) {
      std::uint32_t attempt = 0;
      MacAddr mac = generate_mac(vm_id, nic_key, attempt);
      while ((existing.macs_in_use.contains(mac) || macs.contains(mac)) && ++attempt < kMaxAttempts)
        mac = generate_mac(vm_id, nic_key, attempt);
      macs.insert(mac);
      nic.set_mac_address(mac.to_string());
    }
    if (nic.tap_device().empty()) {
      std::uint32_t attempt = 0;
      std::string tap = generate_tap_name(vm_id, nic_key, attempt);
      while ((existing.taps_in_use.contains(tap) || taps.contains(tap)) && ++attempt < kMaxAttempts)
        tap = generate_tap_name(vm_id, nic_key, attempt);
      taps.insert(tap);
      nic.set_tap_device(tap);
    }
    auto& v6 = *nic.mutable_ipv6();
    if (!v6.address().empty() || v6.enable_slaac() || v6.enable_dhcpv6()) continue;
    const Pool* pool = pick_pool(out.config, v6.pool(), host);
    if (pool == nullptr) {
      out.violations.push_back({field + ".ipv6.address",
                                "failed_precondition",
                                "no static address and no IPv6 pool for this tenant",
                                "no_pool",
                                {{"tenant_id", tenant}}});
      continue;
    }
    const std::uint64_t span =
        pool->prefix.len >= 128
            ? 1
            : (pool->prefix.len <= 64 ? ~0ULL : (1ULL << (128 - pool->prefix.len)));
    bool found = false;
    for (std::uint64_t off = 2; off < span && off < kMaxAddressProbe; ++off) {
      const Ip6Addr a = add_offset(pool->prefix.addr, off);
      if (existing.addresses_in_use.contains(a) || addresses.contains(a)) continue;
      addresses.insert(a);
      v6.set_address(a.to_string() + "/" +
                     std::to_string(pool->prefix.len < 64 ? 64 : pool->prefix.len));
      v6.set_pool(pool->name);
      found = true;
      break;
    }
    if (!found)
      out.violations.push_back({field + ".ipv6.address",
                                "resource_exhausted",
                                "IPv6 pool '" + pool->name + "' has no free address",
                                "pool_exhausted",
                                {{"pool", pool->name}}});
  }
  return out;
}

}  // namespace

Allocation allocate_vm(const vmprovisioner::v1::CreateVmRequest& request, const HostConfig& host,
                       const ExistingState& existing, TenantRateLimiter& limiter, Nanos now) {
  Allocation out;
  out.violations = validate_create_vm(request, host, existing);
  if (!out.violations.empty()) return out;
  out.config = request.config();
  return fill_in(request, std::move(out), host, existing, limiter, now);
}

Allocation prepare_allocation(const vmprovisioner::v1::CreateVmRequest& request,
                              const HostConfig& host) {
  static const ExistingState kNoOtherVms;
  Allocation out;
  out.violations = validate_create_vm(request, host, kNoOtherVms);
  if (out.violations.empty()) out.config = request.config();
  return out;
}

Allocation allocate_prepared(const vmprovisioner::v1::CreateVmRequest& request, Allocation prepared,
                             const HostConfig& host, const ExistingState& existing,
                             TenantRateLimiter& limiter, Nanos now) {
  // A conflict makes the whole validation decide: its violations, in field
  // order, are what allocate_vm lists (with any others of the request).
  if (conflicts_with_existing(request, existing)) {
    Allocation out;
    out.violations = validate_create_vm(request, host, existing);
    if (!out.violations.empty()) return out;
  }
  return fill_in(request, std::move(prepared), host, existing, limiter, now);
}

}  // namespace v6g::config
