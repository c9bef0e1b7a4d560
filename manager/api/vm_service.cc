#include "api/vm_service.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <random>

#include "common/reason.h"

namespace v6g::api {
namespace {

namespace vmp = vmprovisioner::v1;
constexpr const char* kService = "/vmprovisioner.v1.VmService/";

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto comma = std::min(text.find(',', start), text.size());
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// "3600 seconds" -> 3600, so clients can sleep without parsing prose.
std::optional<std::int64_t> leading_number(const std::string& text) {
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  return n;
}

std::uint16_t vlan_of(const vmp::NetworkInterface& nic) {
  unsigned v = 0;
  const std::string& text = nic.vlan_id();
  (void)std::from_chars(text.data(), text.data() + text.size(), v);
  return static_cast<std::uint16_t>(v);
}

vmp::VmState state_of(const std::string& state) {
  if (state == "created") return vmp::VM_STATE_CREATED;
  if (state == "running") return vmp::VM_STATE_RUNNING;
  if (state == "paused") return vmp::VM_STATE_PAUSED;
  if (state == "shutdown") return vmp::VM_STATE_SHUTDOWN;
  return vmp::VM_STATE_UNSPECIFIED;
}

bool valid_vm_id(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

Error field_error(Code code, const std::string& field, const std::string& validation,
                  const std::string& message) {
  Error e = make_error(code, message);
  e.details.push_back({field, validation, message, {}});
  return e;
}

std::optional<Error> check_vm_id(const std::string& id) {
  if (valid_vm_id(id)) return std::nullopt;
  return field_error(Code::kInvalidArgument, "vm_id", "invalid_vm_id",
                     "vm_id must be 1-64 characters of [A-Za-z0-9._-]");
}

// not_found from the store names the missing VM in the request's terms.
Error lookup_error(const Error& e, const std::string& vm_id) {
  if (e.code != Code::kNotFound) return e;
  return field_error(Code::kNotFound, "vm_id", "not_found", "vm " + vm_id + " not found");
}

}  // namespace

Error violation_error(const std::vector<config::FieldViolation>& violations) {
  if (violations.empty()) return make_error(Code::kInternal, "validation failed without a reason");
  // The headline: a malformed request is invalid_argument whatever else is
  // wrong with it (as in gRPC's guidance: INVALID_ARGUMENT does not depend on
  // the system's state); then unmet preconditions, authorization, conflicts,
  // exhaustion. Every violation stays in the details, in field order.
  static constexpr Code kPriority[] = {Code::kInvalidArgument, Code::kFailedPrecondition,
                                       Code::kPermissionDenied, Code::kAlreadyExists,
                                       Code::kResourceExhausted};
  const config::FieldViolation* headline = &violations.front();
  auto rank = [](const config::FieldViolation& v) {
    const Code c = code_from_name(v.code).value_or(Code::kInvalidArgument);
    const auto* it = std::find(std::begin(kPriority), std::end(kPriority), c);
    return it - std::begin(kPriority);
  };
  for (const auto& v : violations) {
    if (rank(v) < rank(*headline)) headline = &v;
  }
  Error e = make_error(code_from_name(headline->code).value_or(Code::kInvalidArgument),
                       headline->message);
  for (const auto& v : violations) {
    ErrorDetail d{v.field, v.validation_error, v.message, {}};
    for (const auto& [key, value] : v.context) {
      if (key == "allocated_blocks" || key == "allowed_pools") {
        d.context.emplace_back(key, split_list(value));
      } else if (key == "retry_after" && leading_number(value)) {
        d.context.emplace_back(key, *leading_number(value));
      } else {
        d.context.emplace_back(key, value);
      }
    }
    e.details.push_back(std::move(d));
  }
  return e;
}

std::uint32_t port_flags(const vmp::NetworkInterface& nic) {
  const auto& sec = nic.ipv6().security();
  std::uint32_t flags = 0;
  if (sec.strict_source_validation()) flags |= V6G_PORT_F_MAC_CHECK;
  if (sec.block_hop_by_hop()) flags |= V6G_PORT_F_BLOCK_HBH;
  if (sec.block_routing_header()) flags |= V6G_PORT_F_BLOCK_RH;
  if (sec.block_fragment_header()) flags |= V6G_PORT_F_BLOCK_FRAG;
  if (sec.block_destination_options()) flags |= V6G_PORT_F_BLOCK_DSTOPT;
  if (nic.security_policy().enable_deep_packet_inspection()) flags |= V6G_PORT_F_DPI;
  return flags;
}

VmPlan plan_from_config(const std::string& vm_id, const vmp::VmConfig& config) {
  VmPlan plan;
  plan.vm.id = vm_id;
  plan.vm.tenant_id = config.tenant_id();
  // Stored once as proto bytes; JSON is rendered when someone reads it
  // (render_config), not on every create.
  plan.vm.config = config.SerializeAsString();
  plan.vm.state = "created";
  for (const auto& nic : config.network()) {
    const std::uint16_t vlan = vlan_of(nic);
    const std::string mac = MacAddr::parse(nic.mac_address()).value_or(MacAddr{}).to_string();
    const std::string& tap = nic.tap_device();
    const std::string& bridge = nic.bridge_name();
    plan.allocations.push_back({store::Kind::kTap, tap, vm_id});
    plan.allocations.push_back({store::Kind::kMac, mac, vm_id});
    const store::VlanClaim claim{bridge, vlan, config.tenant_id(), vm_id};
    if (std::find(plan.vlans.begin(), plan.vlans.end(), claim) == plan.vlans.end()) {
      plan.vlans.push_back(claim);
    }
    plan.ports.push_back(
        {tap, bridge, vlan, mac, vm_id, V6G_ROLE_VM, V6G_FAIL_CLOSED, port_flags(nic)});
    if (nic.ipv6().address().empty()) continue;  // SLAAC/DHCPv6: the guard learns it
    std::string error;
    const auto addr = config::parse_address_with_prefix(nic.ipv6().address(), &error);
    if (!addr) continue;  // allocate_vm validated it; nothing to bind otherwise
    const std::string ip = addr->address.to_string();
    plan.allocations.push_back({store::Kind::kIp6, ip, vm_id});
    plan.bindings.push_back({tap, vlan, mac, ip, "reachable", "static", vm_id, 0});
  }
  return plan;
}

void VmService::Index::add(const VmPlan& plan) {
  for (const auto& a : plan.allocations) {
    switch (a.kind) {
      case store::Kind::kIp6:
        if (auto ip = Ip6Addr::parse(a.value)) state.addresses_in_use.insert(*ip);
        break;
      case store::Kind::kMac:
        if (auto mac = MacAddr::parse(a.value)) state.macs_in_use.insert(*mac);
        break;
      case store::Kind::kTap:
        state.taps_in_use.insert(a.value);
        break;
    }
  }
  for (const auto& v : plan.vlans) {
    if (bridge_refs[v.bridge]++ == 0) state.bridge_owner[v.bridge] = v.tenant_id;
    if (vlan_refs[{v.bridge, v.vlan}]++ == 0) state.vlan_owner[{v.bridge, v.vlan}] = v.tenant_id;
  }
}

void VmService::Index::release(const VmPlan& plan) {
  for (const auto& a : plan.allocations) {
    switch (a.kind) {
      case store::Kind::kIp6:
        if (auto ip = Ip6Addr::parse(a.value)) state.addresses_in_use.erase(*ip);
        break;
      case store::Kind::kMac:
        if (auto mac = MacAddr::parse(a.value)) state.macs_in_use.erase(*mac);
        break;
      case store::Kind::kTap:
        state.taps_in_use.erase(a.value);
        break;
    }
  }
  for (const auto& v : plan.vlans) {
    if (auto it = bridge_refs.find(v.bridge); it != bridge_refs.end() && --it->second == 0) {
      bridge_refs.erase(it);
      state.bridge_owner.erase(v.bridge);
    }
    const std::pair<std::string, std::uint16_t> key{v.bridge, v.vlan};
    if (auto it = vlan_refs.find(key); it != vlan_refs.end() && --it->second == 0) {
      vlan_refs.erase(it);
      state.vlan_owner.erase(key);
    }
  }
}

VmService::VmService(VmManager& vms, config::HostConfig host, Clock clock)
    : vms_(vms),
      host_(std::move(host)),
      clock_(std::move(clock)),
      limiter_(host_.tenant_allocations_per_hour),
      id_seed_(std::random_device{}()) {
  id_seed_ = (id_seed_ << 32) ^ std::random_device{}();
  if (!clock_) {
    clock_ = [] {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
          .count();
    };
  }
}

std::optional<Error> VmService::load() {
  std::vector<store::Allocation> allocations;
  std::vector<store::VlanClaim> vlans;
  std::vector<std::pair<std::string, std::int64_t>> creations;
  // GCRA state after a full burst is at most one window (an hour) ahead of
  // the last admission, so two windows of history reproduce it.
  constexpr std::int64_t kHistory = 2 * 3600LL * 1'000'000'000;
  const std::int64_t wall_now = vms_.now();
  const store::Outcome o = vms_.with_store([&](store::Store& s) {
    if (auto r = s.list_allocations(allocations); !r) return r;
    if (auto r = s.list_vlans(vlans); !r) return r;
    return s.list_creations(wall_now - kHistory, creations);
  });
  if (!o) return store_error(o);
  VmPlan all;  // the whole store as one plan, so add() is the only bookkeeping
  all.allocations = std::move(allocations);
  all.vlans = std::move(vlans);
  std::lock_guard lock(mu_);
  index_ = {};
  index_.add(all);
  // The rate limiter lives in memory; replay the persisted creations (VMs
  // deleted since included) so a restart does not refill a tenant's window.
  // Their wall-clock times map onto the limiter's monotonic clock by age.
  limiter_ = config::TenantRateLimiter(host_.tenant_allocations_per_hour);
  const std::int64_t mono_now = clock_();
  for (const auto& [tenant, at] : creations) {
    (void)limiter_.admit(tenant, mono_now - std::max<std::int64_t>(0, wall_now - at));
  }
  return std::nullopt;
}

std::string render_config(const std::string& bytes) {
  vmp::VmConfig config;
  if (bytes.empty() || !config.ParseFromString(bytes)) return {};
  return to_json(config);
}

std::string VmService::new_vm_id() {
  // splitmix64 over a random seed: unique per daemon run, not guessable.
  std::uint64_t z = id_seed_ + 0x9e3779b97f4a7c15ULL * ++id_counter_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  char text[24];
  std::snprintf(text, sizeof text, "vm-%016llx", static_cast<unsigned long long>(z));
  return text;
}

std::optional<Error> VmService::create(const CallContext& ctx, const vmp::CreateVmRequest& req,
                                       vmp::CreateVmResponse& resp) {
  // The caller's request as is, or a copy only to give it a generated id
  // (copying the ~1 KB config message on every create showed in the profile).
  std::optional<vmp::CreateVmRequest> with_id;
  if (req.vm_id().empty()) {
    with_id.emplace(req);
    std::lock_guard lock(mu_);
    with_id->set_vm_id(new_vm_id());
  } else if (auto e = check_vm_id(req.vm_id())) {
    return e;
  }
  const vmp::CreateVmRequest& request = with_id ? *with_id : req;
  // What the planner put into the index, to take back if the create fails
  // after planning (host failure, batch commit failure, duplicate vm_id).
  std::optional<VmPlan> indexed;  // allocations and VLAN claims only
  vmp::VmConfig allocated;
  // The rules that hold whatever the other VMs are, here in the caller's
  // server thread, concurrently with other callers: the planner runs in the
  // batch leader, one create after another, and validation was most of it.
  config::Allocation prepared = config::prepare_allocation(request, host_);
  const Planner planner = [&](store::Store&, VmPlan& plan) -> std::optional<Error> {
    std::lock_guard lock(mu_);
    auto allocation = prepared.ok()
                          ? config::allocate_prepared(request, std::move(prepared), host_,
                                                      index_.state, limiter_, clock_())
                          : config::allocate_vm(request, host_, index_.state, limiter_, clock_());
    if (!allocation.ok()) return violation_error(allocation.violations);
    plan = plan_from_config(request.vm_id(), allocation.config);
    index_.add(plan);
    indexed.emplace();
    indexed->allocations = plan.allocations;
    indexed->vlans = plan.vlans;
    allocated = std::move(allocation.config);
    return std::nullopt;
  };
  VmPlan plan;
  if (auto error = vms_.create(ctx, planner, plan)) {
    if (indexed) {
      // Planned, so admitted and charged to the tenant's rate limit: the
      // create allocated nothing in the end, and a restart would not count
      // it either (the limiter is seeded from committed creates).
      std::lock_guard lock(mu_);
      index_.release(*indexed);
      limiter_.refund(request.config().tenant_id());
    }
    return error;
  }
  resp.set_vm_id(plan.vm.id);
  resp.set_state(state_of(plan.vm.state));
  *resp.mutable_config() = std::move(allocated);
  return std::nullopt;
}

std::optional<Error> VmService::remove(const CallContext& ctx, const vmp::DeleteVmRequest& req,
                                       vmp::DeleteVmResponse& resp) {
  if (auto e = check_vm_id(req.vm_id())) return e;
  VmPlan removed;
  if (auto error = vms_.remove(ctx, req.vm_id(), removed)) return lookup_error(*error, req.vm_id());
  {
    std::lock_guard lock(mu_);
    index_.release(removed);
  }
  resp.set_success(true);
  return std::nullopt;
}

std::optional<Error> VmService::get(const vmp::GetVmInfoRequest& req,
                                    vmp::GetVmInfoResponse& resp) {
  if (auto e = check_vm_id(req.vm_id())) return e;
  VmPlan plan;
  if (auto error = vms_.get(req.vm_id(), plan)) return lookup_error(*error, req.vm_id());
  resp.set_vm_id(plan.vm.id);
  if (!resp.mutable_config()->ParseFromString(plan.vm.config)) {
    return make_error(Code::kDataLoss, "stored config of vm " + plan.vm.id + " is unreadable");
  }
  resp.set_state(state_of(plan.vm.state));
  return std::nullopt;
}

std::optional<Error> VmService::list(const vmp::ListVmsRequest& req, vmp::ListVmsResponse& resp) {
  if (req.page_size() < 0) {
    return field_error(Code::kInvalidArgument, "page_size", "invalid_value",
                       "page_size must not be negative");
  }
  std::vector<store::VmRecord> records;
  if (auto error = vms_.list(req.tenant_id(), records)) return error;
  std::sort(records.begin(), records.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  resp.set_total_count(static_cast<std::int32_t>(records.size()));
  // page_token = the last vm_id of the previous page.
  auto it = req.page_token().empty()
                ? records.begin()
                : std::upper_bound(records.begin(), records.end(), req.page_token(),
                                   [](const std::string& t, const auto& r) { return t < r.id; });
  const std::size_t page =
      req.page_size() > 0 ? static_cast<std::size_t>(req.page_size()) : records.size();
  for (std::size_t n = 0; it != records.end() && n < page; ++it, ++n) {
    auto& info = *resp.add_vms();
    info.set_vm_id(it->id);
    info.set_tenant_id(it->tenant_id);
    info.set_state(state_of(it->state));
    vmp::VmConfig config;
    if (config.ParseFromString(it->config)) {
      info.set_vcpu_count(config.cpu().vcpu_count());
      info.set_memory_size_bytes(config.memory().size_bytes());
    }
  }
  if (it != records.end() && resp.vms_size() > 0) {
    resp.set_next_page_token(resp.vms(resp.vms_size() - 1).vm_id());
  }
  return std::nullopt;
}

void VmService::register_on(Server& server) {
  const std::string service = kService;
  server.handle<vmp::CreateVmRequest, vmp::CreateVmResponse>(
      service + "CreateVm", [this](const CallContext& ctx, const auto& req, auto& resp) {
        return create(ctx, req, resp);
      });
  server.handle<vmp::DeleteVmRequest, vmp::DeleteVmResponse>(
      service + "DeleteVm", [this](const CallContext& ctx, const auto& req, auto& resp) {
        return remove(ctx, req, resp);
      });
  server.handle<vmp::GetVmInfoRequest, vmp::GetVmInfoResponse>(
      service + "GetVmInfo",
      [this](const CallContext&, const auto& req, auto& resp) { return get(req, resp); });
  server.handle<vmp::ListVmsRequest, vmp::ListVmsResponse>(
      service + "ListVms",
      [this](const CallContext&, const auto& req, auto& resp) { return list(req, resp); });
}

}  // namespace v6g::api
