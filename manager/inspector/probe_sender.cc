#include "inspector/probe_sender.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "inspector/nfq_packet.h"
#include "packet/packet.h"

namespace v6g::inspector {
namespace {

// The solicited-node multicast group of target (RFC 4291 2.7.1) and its
// Ethernet mapping (RFC 2464 7).
Ip6Addr solicited_node(const Ip6Addr& target) {
  Ip6Addr g;
  g.bytes = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0, 0, 0};
  g.bytes[13] = target.bytes[13];
  g.bytes[14] = target.bytes[14];
  g.bytes[15] = target.bytes[15];
  return g;
}

bool hw_address(int fd, const char* name, MacAddr& out) {
  ifreq ifr{};
  const std::size_t len = ::strnlen(name, IFNAMSIZ - 1);
  std::memcpy(ifr.ifr_name, name, len);  // ifr zeroed: stays terminated
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) return false;
  std::memcpy(out.bytes.data(), ifr.ifr_hwaddr.sa_data, 6);
  return true;
}

// The bridge a port is enslaved to (0 = none): /sys/class/net/PORT/master
// (in v6guardd's netns: `ip netns exec` mounts that netns's sysfs).
std::uint32_t bridge_of(const char* port) {
  const std::string link = std::string("/sys/class/net/") + port + "/master";
  char target[256];
  const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
  if (n <= 0) return 0;
  target[n] = '\0';
  const char* slash = std::strrchr(target, '/');
  return if_nametoindex(slash != nullptr ? slash + 1 : target);
}

}  // namespace

std::size_t build_probe_frame(std::span<std::byte> out, const MacAddr& src_mac,
                              const Ip6Addr& target, std::uint16_t vlan) {
  if (out.size() < kProbeFrameMax) return 0;
  auto* f = reinterpret_cast<std::uint8_t*>(out.data());
  std::memset(f, 0, kProbeFrameMax);
  const Ip6Addr group = solicited_node(target);
  const std::uint8_t dst[6] = {
      0x33, 0x33, group.bytes[12], group.bytes[13], group.bytes[14], group.bytes[15]};
  std::memcpy(f, dst, 6);
  std::memcpy(f + 6, src_mac.bytes.data(), 6);
  std::size_t off = 12;
  if (vlan != 0) {
    f[off++] = 0x81;
    f[off++] = 0x00;
    f[off++] = static_cast<std::uint8_t>(vlan >> 8 & 0x0f);
    f[off++] = static_cast<std::uint8_t>(vlan);
  }
  f[off++] = 0x86;
  f[off++] = 0xdd;
  std::uint8_t* ip = f + off;
  ip[0] = 0x60;
  ip[5] = 24;   // payload: NS header + target, no options (source is ::)
  ip[6] = 58;   // ICMPv6
  ip[7] = 255;  // RFC 4861: hop limit 255
  // source :: (already zero)
  std::memcpy(ip + 24, group.bytes.data(), 16);
  std::uint8_t* ns = ip + 40;
  ns[0] = 135;  // Neighbor Solicitation, code 0, reserved 0
  std::memcpy(ns + 8, target.bytes.data(), 16);
  fill_icmpv6_checksum(std::span<std::byte>(out.data() + off, 64), 40);
  return off + 64;
}

ProbeSender::~ProbeSender() {
  if (fd_ >= 0) ::close(fd_);
}

Status ProbeSender::open() {
  // Protocol 0: the socket only transmits, it receives nothing.
  fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return Status::error(std::string("probe socket: ") + std::strerror(errno));
  return {};
}

bool ProbeSender::transmit(std::uint32_t ifindex, const MacAddr& src, const Ip6Addr& target,
                           std::uint16_t vlan) {
  std::array<std::byte, kProbeFrameMax> frame;
  const std::size_t len = build_probe_frame(frame, src, target, vlan);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = static_cast<int>(ifindex);
  sll.sll_protocol = htons(ETH_P_IPV6);
  sll.sll_halen = 6;
  std::memcpy(sll.sll_addr, frame.data(), 6);
  return ::sendto(fd_, frame.data(), len, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&sll),
                  sizeof sll) == static_cast<ssize_t>(len);
}

void ProbeSender::send(const guard::ProbeRequest& probe) {
  char name[IF_NAMESIZE] = {};
  MacAddr port_mac;
  if (fd_ < 0 || if_indextoname(probe.port, name) == nullptr || !hw_address(fd_, name, port_mac)) {
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Toward the VM: untagged, the port is an access port of its VLAN.
  if (transmit(probe.port, port_mac, probe.target, 0))
    stats_.port_frames.fetch_add(1, std::memory_order_relaxed);
  else
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
  // Toward everyone else: the bridge floods it (to the validating port too,
  // which does no harm: its answer is the same NA).
  const std::uint32_t bridge = bridge_of(name);
  char bridge_name[IF_NAMESIZE] = {};
  MacAddr bridge_mac;
  if (bridge == 0 || if_indextoname(bridge, bridge_name) == nullptr ||
      !hw_address(fd_, bridge_name, bridge_mac))
    return;  // a port outside any bridge has no one else to ask
  if (transmit(bridge, bridge_mac, probe.target, probe.vlan))
    stats_.bridge_frames.fetch_add(1, std::memory_order_relaxed);
  else
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
}

AnswerListener::~AnswerListener() {
  for (const auto& [ifindex, fd] : fds_) ::close(fd);
  for (int fd : closing_) ::close(fd);
}

Status AnswerListener::watch(std::uint32_t ifindex) {
  {
    std::lock_guard lock(mu_);
    if (fds_.count(ifindex) != 0) return {};
  }
  const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) return Status::error(std::string("answer socket: ") + std::strerror(errno));
  // IPv6 (VLAN tags are out of band), next header ICMPv6 (58), type NA (136).
  sock_filter code[] = {
      {BPF_LD | BPF_H | BPF_ABS, 0, 0, 12},      {BPF_JMP | BPF_JEQ | BPF_K, 0, 5, ETH_P_IPV6},
      {BPF_LD | BPF_B | BPF_ABS, 0, 0, 14 + 6},  {BPF_JMP | BPF_JEQ | BPF_K, 0, 3, 58},
      {BPF_LD | BPF_B | BPF_ABS, 0, 0, 14 + 40}, {BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 136},
      {BPF_RET | BPF_K, 0, 0, 0xffff},           {BPF_RET | BPF_K, 0, 0, 0},
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  int one = 1;
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(ifindex);
  // Filter first, then bind: no unfiltered frame is ever queued.
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 ||
      setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    const int e = errno;
    ::close(fd);
    return Status::error("answer socket on ifindex " + std::to_string(ifindex) + ": " +
                         std::strerror(e));
  }
  std::lock_guard lock(mu_);
  if (!fds_.emplace(ifindex, fd).second) ::close(fd);  // raced with another watch
  return {};
}

void AnswerListener::unwatch(std::uint32_t ifindex) {
  std::lock_guard lock(mu_);
  auto it = fds_.find(ifindex);
  if (it == fds_.end()) return;
  closing_.push_back(it->second);
  fds_.erase(it);
}

std::size_t AnswerListener::watched() const {
  std::lock_guard lock(mu_);
  return fds_.size();
}

bool AnswerListener::poll_once(int timeout_ms) {
  std::vector<pollfd> polled;
  std::vector<std::uint32_t> ports;
  {
    // Only this thread polls, so a socket unwatched meanwhile is closed here,
    // never under a poll() that still holds it.
    std::lock_guard lock(mu_);
    for (int fd : closing_) ::close(fd);
    closing_.clear();
    for (const auto& [ifindex, fd] : fds_) {
      polled.push_back({fd, POLLIN, 0});
      ports.push_back(ifindex);
    }
  }
  const int r = ::poll(polled.data(), polled.size(), timeout_ms);
  if (r < 0) return errno == EINTR;
  for (std::size_t k = 0; r > 0 && k < polled.size(); ++k) {
    if ((polled[k].revents & POLLERR) != 0) {
      // ENETDOWN (the port went down or away): reading the error clears it;
      // left pending it would make every poll return at once.
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(polled[k].fd, SOL_SOCKET, SO_ERROR, &err, &len);
    }
    if ((polled[k].revents & POLLIN) == 0) continue;
    for (int i = 0; i < 64; ++i) {
      std::array<std::byte, 1600> buf;
      sockaddr_ll from{};
      socklen_t len = sizeof from;
      const ssize_t n = ::recvfrom(polled[k].fd, buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC,
                                   reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        if (errno == ENETDOWN || errno == ENXIO) break;  // the port went away: unwatched soon
        return false;
      }
      if (from.sll_pkttype == PACKET_OUTGOING || static_cast<std::size_t>(n) > buf.size()) continue;
      auto parsed = packet::parse_frame(packet::Bytes(buf.data(), static_cast<std::size_t>(n)));
      if (!parsed.ok() || parsed->klass != packet::PacketClass::kNeighborAdvert) continue;
      const auto* na = std::get_if<packet::NeighborAdvert>(&parsed->message);
      if (na == nullptr) continue;
      // A TLLA naming another host than the frame's sender is nobody's answer.
      if (na->options.has_tlla && na->options.tlla != parsed->eth.src) continue;
      on_na_(ports[k], parsed->eth.src, na->target);
    }
  }
  return true;
}

}  // namespace v6g::inspector
