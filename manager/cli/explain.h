// `v6guardctl explain --pcap FILE`: replay a capture through the same guard
// engine the inspector runs (packet::parse_frame_into -> guard::Engine) and
// say, frame by frame, what v6guard would do and why.
//
// The replay is a pure function (frames + policy in, report out) so tests
// and fuzzers drive it without files; the command is a thin shell around it.
// Time is the capture's: pcap timestamps become the engine's monotonic clock
// (first frame = 0), so binding timers (DAD -> VALID), RA learning and event
// windows behave as they would have live.
#pragma once

#include <cstdint>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "guard/engine.h"
#include "packet/pcap_reader.h"

namespace v6g::cli {

struct ExplainOptions {
  guard::PortPolicy policy;  // the one port every frame is replayed on
  guard::EngineConfig engine;
};

struct FrameReport {
  std::size_t number = 0;  // 1-based, as tcpdump -# and Wireshark count
  guard::Nanos time = 0;   // since the first frame
  MacAddr src_mac;
  Ip6Addr src_ip;
  bool has_ip = false;  // src_ip is meaningful (IPv6 header was read)
  std::string summary;  // "RA prefix 2001:db8::/64 pref high lifetime 1800 [hbh]"
  guard::Verdict verdict = guard::Verdict::kAccept;
  Reason reason{};                  // final reason (accept_monitor on monitor ports)
  Reason waived{};                  // monitor ports: the drop reason that was waived
  bool parse_rejected = false;      // the parser refused it (RFC 7113, RFC 6980, ...)
  std::vector<std::string> before;  // timer effects due before this frame
  std::vector<std::string> notes;   // effects of this frame (bindings)
};

struct ExplainReport {
  std::vector<FrameReport> frames;
  // Final reasons per frame, and waived reasons (monitor), in enum order.
  std::vector<std::pair<Reason, std::uint64_t>> reasons;
  std::vector<std::pair<Reason, std::uint64_t>> would_drop;
  std::uint64_t accepted = 0, dropped = 0, monitored = 0;
  std::vector<guard::SecurityEvent> events;  // closed windows + flush at the end
  std::vector<guard::BindingInfo> bindings;  // the table after the last frame
  guard::Nanos realtime_offset = 0;          // add to engine times for wall clock
  guard::Nanos duration = 0;
};

// The replay: bytes in, report out. Frames need not be in time order
// (the clock never runs backwards).
ExplainReport explain_frames(std::span<const packet::PcapFrame> frames, const ExplainOptions& opt);

// One line describing a frame's content, e.g. for a parse failure too.
std::string describe_frame(const packet::ParsedPacket& pkt, bool parse_rejected);

// Apply a policy JSON object on top of `policy`. Keys are PortPolicy's names
// (the seed API's IPv6SecurityConfig / NetworkSecurityPolicy fields), plus
// "role", "monitor", "mac", "vlan"; a spec NetworkInterface object
// ({"mac_address", "ipv6": {"address", "security": {...}}, "security_policy"})
// is accepted as is. Unknown keys are an error: a typo must not silently
// replay with a weaker policy.
Status apply_policy_json(std::string_view json, guard::PortPolicy& policy);

void print_text(const ExplainReport& report, const ExplainOptions& opt, std::ostream& out,
                bool frames = true);
// One JSON object: {"frames":[...],"summary":{...},"events":[...],"bindings":[...]}
void print_json(const ExplainReport& report, const ExplainOptions& opt, std::ostream& out);

// `explain` argv after the command word. Exit codes as v6guardctl's
// (0 ok, 1 unreadable capture, 2 usage).
int explain_command(const std::vector<std::string>& args, bool json, std::ostream& out,
                    std::ostream& err);

}  // namespace v6g::cli
