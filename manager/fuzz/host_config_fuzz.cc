// libFuzzer target for the host config JSON (config::parse_host_config): the
// operator's file, read at start and on reload. A bad file must be an error
// message, never a crash or a config that contradicts itself; a parsed config
// then drives CreateVm validation of the spec's example request.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "api/connect.h"
#include "config/host_config.h"
#include "config/validate.h"
#include "vmprovisioner/v1/vm.pb.h"

namespace {

const vmprovisioner::v1::CreateVmRequest& spec_request() {
  static const auto* request = [] {
    auto* r = new vmprovisioner::v1::CreateVmRequest;
    std::ifstream in(V6G_TEST_DATA "/spec/create_vm_single.json");
    std::stringstream ss;
    ss << in.rdbuf();
    if (v6g::api::decode(v6g::api::Codec::kJson, ss.str(), *r)) std::abort();
    return r;
  }();
  return *request;
}

void check_range(const v6g::config::RateRange& r) {
  if (r.min > r.max) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto host = v6g::config::parse_host_config(json, &error);
  if (!host) {
    if (error.empty()) std::abort();  // a rejection always says why
    return 0;
  }
  for (const auto* r :
       {&host->nd_rate_limit, &host->icmpv6_rate_limit, &host->ra_rate_limit,
        &host->multicast_rate_limit, &host->packet_rate_limit, &host->bandwidth_limit_mbps})
    check_range(*r);
  if (host->management_vlan_first > host->management_vlan_last) std::abort();
  for (const auto& block : host->allocated_blocks)
    if (block.len > 128) std::abort();
  for (const auto& pool : host->pools) {
    if (host->find_pool(pool.name) == nullptr) std::abort();
    (void)pool.authorizes("tenant-a");
  }
  for (const auto& g : host->tenant_vlan_grants)
    if (!host->vlan_granted(g.vlan, g.bridge)) std::abort();
  const auto violations =
      v6g::config::validate_create_vm(spec_request(), *host, v6g::config::ExistingState{});
  for (const auto& v : violations) (void)v6g::config::violation_details(v);
  return 0;
}
