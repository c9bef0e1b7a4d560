#include "nft/nft_datapath.h"

#include <net/if.h>
#include <nftables/libnftables.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "nft/ruleset.h"

namespace v6g::nft {

// Bindings go to the kernel in chunks so one huge batch never exceeds the
// netlink socket buffer; 4096 elements is ~0.3 MB of script.
constexpr std::size_t kBindingChunk = 4096;

namespace {
std::vector<std::string> quoted_strings(std::string_view s);
std::string element_line(const char* verb, const char* map, const std::string& name,
                         std::uint32_t mark);
}  // namespace

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

Status NftDatapath::init() {
  if (Status s = run(render_table()); !s) return s;
  fast_path_guarded_ = true;  // render_table's dispatch is guarded; a port change recomputes it
  return {};
}

std::string NftDatapath::render_add(const datapath::PortSpec& port) const {
  std::string script = render_port(port, true);
  if (punted(port)) {
    // Monitor ports never drop, not even on a full or unread queue.
    const bool open_queue =
        port.fail_mode == datapath::FailMode::kOpen || (port.flags & V6G_PORT_F_MONITOR) != 0;
    script +=
        render_punt_port(port, kPuntClosedMark, open_queue ? kPuntOpenMark : kPuntClosedMark, true);
  }
  return script;
}

std::string NftDatapath::render_remove(const datapath::PortSpec& port) const {
  std::string script = render_port(port, false);
  if (punted(port)) script += render_punt_port(port, 0, 0, false);
  return script;
}

std::string NftDatapath::fast_path_change(const std::map<std::uint32_t, datapath::PortSpec>& ports,
                                          bool& guarded) const {
  guarded = std::any_of(ports.begin(), ports.end(),
                        [&](const auto& entry) {
                          return punted(entry.second) && inspects_every_frame(entry.second);
                        }) ||
            std::any_of(leftovers_.begin(), leftovers_.end(), [](const auto& entry) {
              return std::find(entry.second.begin(), entry.second.end(),
                               std::string("inspect_ports")) != entry.second.end();
            });
  return guarded == fast_path_guarded_ ? std::string() : render_fast_path(guarded);
}

std::string NftDatapath::forget_leftover(const std::string& ifname) {
  auto it = leftovers_.find(ifname);
  if (it == leftovers_.end()) return {};
  std::string script;
  for (const std::string& where : it->second)
    script +=
        "delete element bridge " + std::string(kTable) + " " + where + " { \"" + ifname + "\" }\n";
  leftovers_.erase(it);
  return script;
}

Status NftDatapath::add_port(const datapath::PortSpec& port) {
  std::string script;
  if (auto old = ports_.find(port.ifindex); old != ports_.end())
    script += render_remove(old->second);  // role or fail mode may have changed
  if (punted(port)) script += forget_leftover(port.ifname);
  script += render_add(port);
  auto after = ports_;
  after[port.ifindex] = port;
  bool guarded = false;
  script += fast_path_change(after, guarded);
  if (Status s = run(script); !s) return s;
  ports_ = std::move(after);
  fast_path_guarded_ = guarded;
  return {};
}

Status NftDatapath::remove_port(std::uint32_t ifindex) {
  auto it = ports_.find(ifindex);
  if (it == ports_.end()) return {};
  auto after = ports_;
  after.erase(ifindex);
  bool guarded = false;
  if (Status s = run(render_remove(it->second) + render_forget_counts(it->second.ifname) +
                     fast_path_change(after, guarded));
      !s)
    return s;
  ports_ = std::move(after);
  fast_path_guarded_ = guarded;
  return {};
}

Status ip6tables_restore(const std::string& input) {
  FILE* p = ::popen("ip6tables-restore --noflush -w 5 2>&1", "w");
  if (p == nullptr) return Status::error("ip6tables-restore: cannot start");
  const bool written = std::fwrite(input.data(), 1, input.size(), p) == input.size();
  const int rc = ::pclose(p);
  if (!written || rc != 0)
    return Status::error("ip6tables-restore failed (exit " + std::to_string(rc) + ") on:\n" +
                         input);
  return {};
}

namespace {

bool write_file(const char* path, const char* text) {
  FILE* f = std::fopen(path, "w");
  if (f == nullptr) return false;
  const bool ok = std::fputs(text, f) >= 0;
  return std::fclose(f) == 0 && ok;
}

// The jump from PREROUTING into V6GUARD, added once (-C checks first).
Status ensure_jump(const char* table) {
  const std::string check = std::string("ip6tables -w 5 -t ") + table +
                            " -C PREROUTING -j V6GUARD 2>/dev/null || ip6tables -w 5 -t " + table +
                            " -I PREROUTING -j V6GUARD";
  if (std::system(check.c_str()) != 0)
    return Status::error(std::string("ip6tables: cannot hook V6GUARD into ") + table +
                         " PREROUTING");
  return {};
}

}  // namespace

Status NftDatapath::enable_punts(std::uint16_t queue_base, std::uint16_t queues) {
  if (queues == 0) return Status::error("nft punts need at least one queue");
  // Bridged IPv6 must traverse the ip6 hooks (br_netfilter); the sysctl is
  // per network namespace.
  if (!write_file("/proc/sys/net/bridge/bridge-nf-call-ip6tables", "1"))
    return Status::error(
        "cannot enable net.bridge.bridge-nf-call-ip6tables (is br_netfilter available?)");
  // Without this br_netfilter skips VLAN-tagged frames: a punted (marked)
  // tagged frame would pass the ip6 hooks unqueued, i.e. be accepted.
  if (!write_file("/proc/sys/net/bridge/bridge-nf-filter-vlan-tagged", "1"))
    return Status::error("cannot enable net.bridge.bridge-nf-filter-vlan-tagged");
  if (Status s = ip6tables_restore(render_punt_ip6tables(queue_base, queues)); !s) return s;
  if (Status s = ensure_jump("raw"); !s) return s;
  // A previous run's punt entries are kept, fail-closed, until their port
  // is added again: emptying the maps left every VM port unjudged until
  // then (its NS/NA/MLD not punted, a link-local NA accepted) - on a
  // restart, for as long as re-adding the stored VMs takes. punt_closed
  // holds only the closed mark; punt_open is rewritten with it. add_port
  // deletes a name's leftovers in the batch that adds it back
  // (forget_leftover); names no port claims again stay (no frames).
  // punt_vlan is static (every class and VLAN id); re-adding its elements
  // is a no-op on a table that has them.
  leftovers_.clear();
  std::string script = std::string("flush map bridge ") + kTable + " punt_open\n";
  for (const char* where :
       {"punt_closed", "punt_open", "monitor_ports", "dpi_ports", "inspect_ports"}) {
    std::string json;
    if (Status s = run_json(std::string("list ") +
                                (std::string_view(where).starts_with("punt") ? "map" : "set") +
                                " bridge " + kTable + " " + where,
                            json);
        !s)
      return s;
    const std::size_t elem = json.find("\"elem\"");
    if (elem == std::string::npos) continue;
    for (const std::string& name : quoted_strings(std::string_view(json).substr(elem + 6))) {
      leftovers_[name].push_back(where);
      if (std::string_view(where) == "punt_open")
        script += element_line("add", "punt_open", name, kPuntClosedMark);
    }
  }
  script += render_punt_vlan_map();
  for (const auto& [ifindex, port] : ports_) script += render_port(port, false);
  punts_ = true;
  for (const auto& [ifindex, port] : ports_)
    script += forget_leftover(port.ifname) + render_add(port);
  bool guarded = false;
  script += fast_path_change(ports_, guarded);
  if (Status s = run(script); !s) return s;
  fast_path_guarded_ = guarded;
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

// "VERB element bridge v6guard MAP { "NAME" : MARK }".
std::string element_line(const char* verb, const char* map, const std::string& name,
                         std::uint32_t mark) {
  return std::string(verb) + " element bridge " + kTable + " " + map + " { \"" + name +
         "\" : " + std::to_string(mark) + " }\n";
}

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

std::map<std::string, std::uint64_t> packets_by_comment(std::string_view json) {
  // nft prints each rule as {"rule": {..., "comment": "x", "expr": [...]}};
  // the key order inside a rule differs between nft versions (1.0.6 puts the
  // comment before the expressions), so each rule's text span is searched on
  // its own for both keys. Comments are plain names (no quotes/escapes).
  std::map<std::string, std::uint64_t> out;
  constexpr std::string_view kRule = "{\"rule\": ";
  constexpr std::string_view kComment = "\"comment\": \"";
  constexpr std::string_view kCounter = "\"counter\": {\"packets\": ";
  for (std::size_t start = json.find(kRule); start != std::string_view::npos;) {
    const std::size_t next = json.find(kRule, start + kRule.size());
    const std::string_view rule = json.substr(start, next - start);
    start = next;
    const std::size_t c = rule.find(kComment);
    const std::size_t p = rule.find(kCounter);
    if (c == std::string_view::npos || p == std::string_view::npos) continue;
    const std::size_t c_end = rule.find('"', c + kComment.size());
    if (c_end == std::string_view::npos) continue;
    std::uint64_t packets = 0;
    const char* digits = rule.data() + p + kCounter.size();
    const auto [ptr, ec] = std::from_chars(digits, rule.data() + rule.size(), packets);
    if (ec != std::errc{}) continue;
    out[std::string(rule.substr(c + kComment.size(), c_end - c - kComment.size()))] += packets;
  }
  return out;
}

std::vector<datapath::Binding> bindings_from_json(std::string_view json) {
  // Elements of `bindings` are {"concat": ["tap1", "02:..", "2600::1"]},
  // those of `vlan_bindings` {"concat": ["tap1", 100, "02:..", "2600::1"]}.
  std::vector<datapath::Binding> out;
  for (std::size_t pos = json.find("\"concat\""); pos != std::string_view::npos;
       pos = json.find("\"concat\"", pos + 1)) {
    const std::size_t open = json.find('[', pos);
    const std::size_t close = json.find(']', open);
    if (open == std::string_view::npos || close == std::string_view::npos) break;
    const std::string_view list = json.substr(open + 1, close - open - 1);
    const auto parts = quoted_strings(list);
    datapath::Binding b;
    if (parts.size() != 3) continue;
    const std::size_t comma = list.find(", ");
    const std::size_t next = list.find(", ", comma + 2);
    if (comma != std::string_view::npos && next != std::string_view::npos &&
        list[comma + 2] != '"') {
      unsigned vlan = 0;
      const auto [ptr, ec] = std::from_chars(list.data() + comma + 2, list.data() + next, vlan);
      if (ec != std::errc{} || ptr != list.data() + next || vlan == 0 || vlan > 4095) continue;
      b.vlan = static_cast<std::uint16_t>(vlan);
    }
    auto mac = MacAddr::parse(parts[1]);
    auto addr = Ip6Addr::parse(parts[2]);
    if (!mac || !addr) continue;
    b.ifname = parts[0];
    b.mac = *mac;
    b.addr = *addr;
    out.push_back(std::move(b));
  }
  return out;
}

Status NftDatapath::list_bindings(std::vector<datapath::Binding>& out) {
  for (const char* set : {"bindings", "vlan_bindings"}) {
    std::string json;
    if (Status s = run_json(std::string("list set bridge ") + kTable + " " + set, json); !s)
      return s;
    for (auto& b : bindings_from_json(json)) {
      for (const auto& [ifindex, port] : ports_)
        if (port.ifname == b.ifname) b.ifindex = ifindex;
      out.push_back(std::move(b));
    }
  }
  return {};
}

Status NftDatapath::list_ports(std::vector<datapath::PortSpec>& out) {
  const std::pair<const char*, datapath::PortRole> sets[] = {
      {"vm_ports", datapath::PortRole::kVm}, {"router_ports", datapath::PortRole::kRouter}};
  for (const auto& [set, role] : sets) {
    std::string json;
    if (Status s = run_json(std::string("list set bridge ") + kTable + " " + set, json); !s)
      return s;
    const std::size_t elem = json.find("\"elem\"");
    if (elem == std::string::npos) continue;  // empty set
    const std::size_t open = json.find('[', elem);
    const std::size_t close = json.find(']', open);
    if (open == std::string::npos || close == std::string::npos) continue;
    for (auto& name : quoted_strings(std::string_view(json).substr(open, close - open))) {
      datapath::PortSpec p;
      p.ifname = std::move(name);
      p.ifindex = ::if_nametoindex(p.ifname.c_str());
      p.role = role;
      out.push_back(std::move(p));
    }
  }
  return {};
}

Status NftDatapath::remove_listed_port(const datapath::PortSpec& port) {
  if (auto it = ports_.find(port.ifindex);
      port.ifindex != 0 && it != ports_.end() && it->second.ifname == port.ifname)
    return remove_port(port.ifindex);
  // Added by an earlier process: not in ports_, so its flags and punt maps
  // are unknown; delete the name from every set and map, one command each
  // so a missing element doesn't abort the rest.
  for (const char* set : {"vm_ports", "router_ports", "sg_ports", "monitor_ports", "dpi_ports",
                          "inspect_ports", "ra_guarded_ports", "punt_closed", "punt_open"}) {
    (void)run(std::string("delete element bridge ") + kTable + " " + set + " { \"" + port.ifname +
              "\" }\n");
  }
  (void)run(render_forget_counts(port.ifname));
  std::vector<datapath::PortSpec> left;
  if (Status s = list_ports(left); !s) return s;
  for (const auto& p : left)
    if (p.ifname == port.ifname) return Status::error("nft: port " + port.ifname + " still listed");
  return {};
}

Status NftDatapath::counters(std::vector<datapath::PortCounters>& out) {
  // Per port and reason from the port_counts set (every counting rule
  // updates its (iifname . reason) element); the rules' own counters
  // (packets_by_comment) are the all-ports totals.
  std::string json;
  if (Status s = run_json(std::string("list set bridge ") + kTable + " port_counts", json); !s)
    return s;
  for (auto& port : port_counts_from_json(json)) {
    for (const auto& [ifindex, known] : ports_)
      if (known.ifname == port.ifname) port.ifindex = ifindex;
    if (port.ifindex == 0) port.ifindex = ::if_nametoindex(port.ifname.c_str());
    out.push_back(std::move(port));
  }
  return {};
}

namespace {

// The ip6tables side of the punts (enable_punts): best effort, the chains
// may be gone already.
void remove_punt_hooks() {
  for (const char* table : {"raw", "mangle"}) {
    const std::string cmd = std::string("ip6tables -w 5 -t ") + table +
                            " -D PREROUTING -j V6GUARD 2>/dev/null; ip6tables -w 5 -t " + table +
                            " -F V6GUARD 2>/dev/null; ip6tables -w 5 -t " + table +
                            " -X V6GUARD 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) {
    }
  }
}

}  // namespace

Status NftDatapath::disable_punts() {
  // init() keeps the punt maps (a restarting inspector's ports keep
  // punting, fail-closed, until it reads again), so a daemon that runs
  // without an inspector must clear what an earlier run left: else its
  // ports would still punt into queues nobody reads.
  remove_punt_hooks();
  punts_ = false;
  leftovers_.clear();  // the flushes below remove them
  bool guarded = false;
  std::string script;
  for (const char* set : {"punt_closed", "punt_open"})
    script += std::string("flush map bridge ") + kTable + " " + set + "\n";
  for (const char* set : {"monitor_ports", "dpi_ports", "inspect_ports"})
    script += std::string("flush set bridge ") + kTable + " " + set + "\n";
  script += fast_path_change(ports_, guarded);
  if (Status s = run(script); !s) return s;
  fast_path_guarded_ = guarded;
  return {};
}

Status NftDatapath::flush() {
  ports_.clear();
  leftovers_.clear();
  fast_path_guarded_ = false;
  if (punts_) {
    punts_ = false;
    remove_punt_hooks();
  }
  // "add" first so deleting a table that was never created is not an error.
  return run(std::string("add table bridge ") + kTable + "\ndelete table bridge " + kTable + "\n");
}

}  // namespace v6g::nft
