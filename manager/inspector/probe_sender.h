// RFC 6620 data-triggered binding, the I/O half: the guard engine asks for
// NS probes (guard::ProbeRequest); this shell builds each one as a DAD-style
// Neighbor Solicitation and transmits it with an AF_PACKET socket
//   - out the validating port itself (a send on the VM's tap goes to the VM,
//     not into the bridge): the owner answers with an NA the inspector sees;
//   - out the port's bridge (the bridge floods it to every port): anyone else
//     holding the address answers too, from another port, and that refuses
//     the binding.
// A DAD NS (source ::, no options) is what the owner must answer whether or
// not it ran DAD itself (RFC 4861 7.2.4: NA to all-nodes), and it doesn't
// create neighbour-cache state anywhere.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <vector>

#include "common/net.h"
#include "common/status.h"
#include "guard/engine.h"

namespace v6g::inspector {

// Largest probe frame: Ethernet + 802.1Q + IPv6 + NS.
inline constexpr std::size_t kProbeFrameMax = 14 + 4 + 40 + 24;

// Pure: the probe for `target` as an Ethernet frame from src_mac, 802.1Q
// tagged when vlan != 0. Returns the frame length written into out
// (out.size() >= kProbeFrameMax).
std::size_t build_probe_frame(std::span<std::byte> out, const MacAddr& src_mac,
                              const Ip6Addr& target, std::uint16_t vlan);

class ProbeSender {
 public:
  ProbeSender() = default;
  ~ProbeSender();
  ProbeSender(const ProbeSender&) = delete;
  ProbeSender& operator=(const ProbeSender&) = delete;

  // Opens the AF_PACKET socket (CAP_NET_RAW). Without it, probes are counted
  // as errors and data-triggered verifications time out (NO_BIND).
  Status open();
  bool is_open() const { return fd_ >= 0; }
  // Thread-safe (one sendto per frame, no shared buffers). The port's name,
  // MAC and bridge are looked up per probe: probes are rate-limited per port
  // and a cache would go stale when an ifindex is reused.
  void send(const guard::ProbeRequest& probe);

  struct Stats {
    std::atomic<std::uint64_t> port_frames{0}, bridge_frames{0}, errors{0};
  };
  const Stats& stats() const { return stats_; }

 private:
  bool transmit(std::uint32_t ifindex, const MacAddr& src, const Ip6Addr& target,
                std::uint16_t vlan);

  int fd_ = -1;
  Stats stats_;
};

// The other half: the answers. Probe answers from VM ports come back through
// the ND punt and the engine, but a router/trusted port's ND never leaves the
// kernel. So one AF_PACKET socket per router/trusted port (`watch`), bound to
// that port with ETH_P_ALL, sees each NA as it arrives there - before the
// bridge consumes the frame and before netfilter; a socket for ETH_P_IPV6
// alone would only see what the bridge passes up to its own device - and
// hands it to `on_na(port ifindex, frame source MAC, target)` from the
// listener's thread. A kernel BPF filter keeps everything but ICMPv6 NAs out;
// frames the host sends are skipped; the rest is parsed by
// packet::parse_frame (hop limit 255, checksum, option checks). Per port,
// not one socket for the whole netns: a tap on every device would cost every
// bridged frame a filter run.
class AnswerListener {
 public:
  using Callback =
      std::function<void(std::uint32_t ifindex, const MacAddr& mac, const Ip6Addr& target)>;
  explicit AnswerListener(Callback on_na) : on_na_(std::move(on_na)) {}
  ~AnswerListener();
  AnswerListener(const AnswerListener&) = delete;
  AnswerListener& operator=(const AnswerListener&) = delete;

  // Starts (or keeps) listening on a port; thread-safe. Needs CAP_NET_RAW.
  Status watch(std::uint32_t ifindex);
  // Stops listening on a port (the socket is closed by the listener thread).
  void unwatch(std::uint32_t ifindex);
  std::size_t watched() const;
  // Waits up to timeout_ms for NAs on the watched ports and handles them.
  // False on a fatal socket error.
  bool poll_once(int timeout_ms);

 private:
  Callback on_na_;
  mutable std::mutex mu_;
  std::map<std::uint32_t, int> fds_;  // ifindex -> socket
  std::vector<int> closing_;          // unwatched; closed between polls
};

}  // namespace v6g::inspector
