#include "nft/nft_datapath.h"

#include <nftables/libnftables.h>

#include <algorithm>
#include <cstdlib>

#include "nft/ruleset.h"

namespace v6g::nft {

// Bindings go to the kernel in chunks so one huge batch never exceeds the
// netlink socket buffer; 4096 elements is ~0.3 MB of script.
constexpr std::size_t kBindingChunk = 4096;

NftDatapath::NftDatapath() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
  if (ctx_ != nullptr) {
    nft_ctx_buffer_output(ctx_);
    nft_ctx_buffer_error(ctx_);
  }
}

NftDatapath::~NftDatapath() {
  if (ctx_ != nullptr) nft_ctx_free(ctx_);
}

Status NftDatapath::run(const std::string& script) {
  if (ctx_ == nullptr) return Status::error("nft: nft_ctx_new failed");
  if (script.empty()) return {};
  if (nft_run_cmd_from_buffer(ctx_, script.c_str()) != 0) {
    const char* err = nft_ctx_get_error_buffer(ctx_);
    return Status::error(std::string("nft: ") + (err != nullptr ? err : "unknown error"));
  }
  return {};
}

Status NftDatapath::run_json(const std::string& command, std::string& out) {
  if (ctx_ == nullptr) return Status::error("nft: nft_ctx_new failed");
  nft_ctx_output_set_flags(ctx_, NFT_CTX_OUTPUT_JSON);
  const int rc = nft_run_cmd_from_buffer(ctx_, command.c_str());
  nft_ctx_output_set_flags(ctx_, 0);
  if (rc != 0) {
    const char* err = nft_ctx_get_error_buffer(ctx_);
    return Status::error(std::string("nft: ") + (err != nullptr ? err : "unknown error"));
  }
  const char* text = nft_ctx_get_output_buffer(ctx_);
  out = text != nullptr ? text : "";
  return {};
}

Status NftDatapath::init() { return run(render_table()); }

Status NftDatapath::add_port(const datapath::PortSpec& port) {
  std::string script;
  if (auto old = ports_.find(port.ifindex); old != ports_.end())
    script += render_port(old->second, false);  // role may have changed
  script += render_port(port, true);
  if (Status s = run(script); !s) return s;
  ports_[port.ifindex] = port;
  return {};
}

Status NftDatapath::remove_port(std::uint32_t ifindex) {
  auto it = ports_.find(ifindex);
  if (it == ports_.end()) return {};
  if (Status s = run(render_port(it->second, false)); !s) return s;
  ports_.erase(it);
  return {};
}

Status NftDatapath::set_source_guard(const std::string& ifname, bool on) {
  return run(render_source_guard(ifname, on));
}

Status NftDatapath::allow_ra_source(const std::string& ifname, const Ip6Addr& source) {
  return run(render_ra_source(ifname, source));
}

Status NftDatapath::add_bindings(std::span<const datapath::Binding> bindings) {
  for (std::size_t i = 0; i < bindings.size(); i += kBindingChunk) {
    const auto chunk = bindings.subspan(i, std::min(kBindingChunk, bindings.size() - i));
    if (Status s = run(render_bindings(chunk, true)); !s) return s;
  }
  return {};
}

Status NftDatapath::remove_bindings(std::span<const datapath::Binding> bindings) {
  for (std::size_t i = 0; i < bindings.size(); i += kBindingChunk) {
    const auto chunk = bindings.subspan(i, std::min(kBindingChunk, bindings.size() - i));
    if (Status s = run(render_bindings(chunk, false)); !s) return s;
  }
  return {};
}

namespace {

// Minimal scan of nft's JSON set listing: each element is
// {"concat": ["ifname", "mac", "addr"]}. Names/MACs/addresses never contain quotes.
std::vector<std::string> quoted_strings(std::string_view s) {
  std::vector<std::string> out;
  for (std::size_t i = s.find('"'); i != std::string_view::npos; i = s.find('"', i + 1)) {
    const std::size_t end = s.find('"', i + 1);
    if (end == std::string_view::npos) break;
    out.emplace_back(s.substr(i + 1, end - i - 1));
    i = end;
  }
  return out;
}

}  // namespace

Status NftDatapath::list_bindings(std::vector<datapath::Binding>& out) {
  std::string json;
  if (Status s = run_json(std::string("list set bridge ") + kTable + " bindings", json); !s)
    return s;
  for (std::size_t pos = json.find("\"concat\""); pos != std::string::npos;
       pos = json.find("\"concat\"", pos + 1)) {
    const std::size_t open = json.find('[', pos);
    const std::size_t close = json.find(']', open);
    if (open == std::string::npos || close == std::string::npos) break;
    const auto parts = quoted_strings(std::string_view(json).substr(open, close - open));
    if (parts.size() != 3) continue;
    auto mac = MacAddr::parse(parts[1]);
    auto addr = Ip6Addr::parse(parts[2]);
    if (!mac || !addr) continue;
    datapath::Binding b;
    b.ifname = parts[0];
    b.mac = *mac;
    b.addr = *addr;
    for (const auto& [ifindex, port] : ports_)
      if (port.ifname == b.ifname) b.ifindex = ifindex;
    out.push_back(std::move(b));
  }
  return {};
}

Status NftDatapath::counters(std::vector<datapath::PortCounters>& out) {
  // The bridge rules count per reason across all ports (per-port counters
  // would need one rule per port; the inspector keeps per-port counts).
  std::string json;
  if (Status s = run_json(std::string("list chain bridge ") + kTable + " pre", json); !s) return s;
  datapath::PortCounters all;
  all.ifname = "*";
  struct Named {
    const char* comment;
    Reason reason;
  };
  const Named named[] = {
      {"ra_from_vm", reason(V6G_R_RA_FROM_VM_PORT)},
      {"dhcp6_server_from_vm", reason(V6G_R_DHCPV6_SERVER_FROM_VM_PORT)},
      {"frag_hidden_l4", reason(V6G_R_FRAG_FIRST_NO_UPPER)},
      {"frag_nonfirst_from_vm", reason(V6G_R_FRAG_FIRST_NO_UPPER)},
      {"source_not_bound", reason(V6G_R_SOURCE_NOT_BOUND)},
      {"ra_source_not_allowed", reason(V6G_R_RA_SOURCE_NOT_ALLOWED)},
  };
  for (const auto& n : named) {
    const std::size_t at = json.find(std::string("\"comment\": \"") + n.comment + "\"");
    if (at == std::string::npos) continue;
    const std::size_t rule_start = json.rfind("{\"rule\"", at);
    const std::size_t pk = json.find("\"packets\": ", rule_start);
    if (rule_start == std::string::npos || pk == std::string::npos || pk > at) continue;
    const std::uint64_t packets = std::strtoull(json.c_str() + pk + 11, nullptr, 10);
    if (packets != 0) all.by_reason.emplace_back(n.reason, packets);
  }
  out.push_back(std::move(all));
  return {};
}

Status NftDatapath::flush() {
  ports_.clear();
  // "add" first so deleting a table that was never created is not an error.
  return run(std::string("add table bridge ") + kTable + "\ndelete table bridge " + kTable + "\n");
}

}  // namespace v6g::nft
