#include "host/fw_log.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/reason.h"

namespace v6g::host {

namespace {

constexpr std::string_view kDenyPrefix = "v6g:firewall_deny:";
constexpr std::uint16_t kEthPIpv6 = 0x86dd;
constexpr std::uint32_t kCopyRange = 64;  // the IPv6 header (40) and a little of what follows

struct Attrs {
  const struct nlattr* at[NFULA_MAX + 1] = {};
};

int put_attr(const struct nlattr* attr, void* data) {
  auto* attrs = static_cast<Attrs*>(data);
  const int type = mnl_attr_get_type(attr);
  if (type >= 0 && type <= NFULA_MAX) attrs->at[type] = attr;
  return MNL_CB_OK;
}

int collect(const struct nlmsghdr* nlh, void* data) {
  if (auto denial = parse_firewall_log(nlh))
    static_cast<std::vector<FirewallDenial>*>(data)->push_back(std::move(*denial));
  return MNL_CB_OK;
}

}  // namespace

std::optional<std::pair<std::string, bool>> parse_deny_prefix(std::string_view prefix) {
  if (prefix.substr(0, kDenyPrefix.size()) != kDenyPrefix) return std::nullopt;
  prefix.remove_prefix(kDenyPrefix.size());
  const auto colon = prefix.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view dir = prefix.substr(colon + 1);
  if (dir != "in" && dir != "out") return std::nullopt;
  return std::pair{std::string(prefix.substr(0, colon)), dir == "in"};
}

std::optional<FirewallDenial> parse_firewall_log(const struct nlmsghdr* nlh) {
  if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET)) return std::nullopt;
  if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg)) return std::nullopt;
  Attrs attrs;
  if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), put_attr, &attrs) < 0) return std::nullopt;
  const struct nlattr* prefix_attr = attrs.at[NFULA_PREFIX];
  if (prefix_attr == nullptr || mnl_attr_validate(prefix_attr, MNL_TYPE_NUL_STRING) < 0)
    return std::nullopt;
  auto who = parse_deny_prefix(mnl_attr_get_str(prefix_attr));
  if (!who) return std::nullopt;
  FirewallDenial denial;
  denial.port = std::move(who->first);
  denial.from_vm = who->second;

  std::uint16_t hw_protocol = 0;
  if (const auto* hdr = attrs.at[NFULA_PACKET_HDR];
      hdr != nullptr && mnl_attr_get_payload_len(hdr) >= sizeof(struct nfulnl_msg_packet_hdr)) {
    struct nfulnl_msg_packet_hdr ph;
    std::memcpy(&ph, mnl_attr_get_payload(hdr), sizeof ph);
    hw_protocol = ntohs(ph.hw_protocol);
  }
  if (const auto* payload = attrs.at[NFULA_PAYLOAD]; payload != nullptr) {
    const auto* p = static_cast<const std::uint8_t*>(mnl_attr_get_payload(payload));
    const std::size_t len = mnl_attr_get_payload_len(payload);
    // The bridge family logs from the network header on.
    if ((hw_protocol == kEthPIpv6 || hw_protocol == 0) && len >= 40 && (p[0] >> 4) == 6) {
      denial.next_header = p[6];
      denial.source = Ip6Addr::from_bytes(p + 8);
      denial.destination = Ip6Addr::from_bytes(p + 24);
    }
  }
  if (const auto* hw = attrs.at[NFULA_HWADDR];
      hw != nullptr && mnl_attr_get_payload_len(hw) >= sizeof(struct nfulnl_msg_packet_hw)) {
    struct nfulnl_msg_packet_hw ph;
    std::memcpy(&ph, mnl_attr_get_payload(hw), sizeof ph);
    if (ntohs(ph.hw_addrlen) == 6) {
      MacAddr mac;
      std::memcpy(mac.bytes.data(), ph.hw_addr, 6);
      denial.source_mac = mac;
    }
  }
  return denial;
}

guard::SecurityEvent to_security_event(const FirewallDenial& denial, guard::Nanos now) {
  guard::SecurityEvent ev;
  ev.first_seen = now;
  ev.last_seen = now;
  ev.event_type = "firewall";
  ev.severity = "low";  // policy working as configured; floods show up as many events
  ev.interface_id = denial.port;
  ev.violation = reason(V6G_R_FIREWALL_DENY);
  if (denial.source) ev.blocked_source = *denial.source;
  if (denial.source_mac) ev.blocked_mac = *denial.source_mac;
  ev.packet_count = 1;
  return ev;
}

FirewallLogReader::FirewallLogReader(std::uint16_t group) : group_(group) {
  nl_ = mnl_socket_open(NETLINK_NETFILTER);
  if (nl_ == nullptr || mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
    open_ = Status::error(std::string("nfnetlink_log socket: ") + std::strerror(errno));
    return;
  }
  // A burst must not end the reader: lost log lines are fine, a dead socket is not.
  int one = 1;
  (void)mnl_socket_setsockopt(nl_, NETLINK_NO_ENOBUFS, &one, sizeof one);
  open_ = config(NFULNL_CFG_CMD_BIND, true);
}

FirewallLogReader::~FirewallLogReader() {
  if (nl_ != nullptr) mnl_socket_close(nl_);  // the kernel unbinds the group with the socket
}

int FirewallLogReader::fd() const { return nl_ != nullptr ? mnl_socket_get_fd(nl_) : -1; }

Status FirewallLogReader::config(std::uint8_t command, bool with_mode) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = ++seq_;
  auto* nfg =
      static_cast<struct nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons(group_);
  struct nfulnl_msg_config_cmd cmd = {command};
  mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof cmd, &cmd);
  if (with_mode) {
    struct nfulnl_msg_config_mode mode = {};
    mode.copy_range = htonl(kCopyRange);
    mode.copy_mode = NFULNL_COPY_PACKET;
    mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof mode, &mode);
    // Deliver each line at once instead of batching up to 100 / 1 s.
    mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(1));
  }
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0)
    return Status::error(std::string("nfnetlink_log send: ") + std::strerror(errno));
  const unsigned portid = mnl_socket_get_portid(nl_);
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
    if (n < 0) return Status::error(std::string("nfnetlink_log recv: ") + std::strerror(errno));
    const int rc =
        mnl_cb_run(buf.data(), static_cast<std::size_t>(n), seq_, portid, nullptr, nullptr);
    if (rc == MNL_CB_ERROR) {
      return Status::error("nfnetlink_log bind group " + std::to_string(group_) + ": " +
                           std::strerror(errno) +
                           (errno == EBUSY ? " (another reader has the group)" : ""));
    }
    if (rc == MNL_CB_STOP) return Status();  // the ack
  }
}

Status FirewallLogReader::read(std::vector<FirewallDenial>* out, int timeout_ms) {
  if (!open_.ok()) return open_;
  struct pollfd pfd = {fd(), POLLIN, 0};
  const int ready = ::poll(&pfd, 1, timeout_ms);
  if (ready < 0) return errno == EINTR ? Status() : Status::error(std::strerror(errno));
  if (ready == 0) return Status();
  std::vector<char> buf(1 << 16);
  const ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
  if (n < 0) {
    if (errno == ENOBUFS || errno == EINTR) return Status();
    return Status::error(std::string("nfnetlink_log recv: ") + std::strerror(errno));
  }
  // Log messages carry sequence 0 and no port id: run without either check.
  (void)mnl_cb_run(buf.data(), static_cast<std::size_t>(n), 0, 0, collect, out);
  return Status();
}

}  // namespace v6g::host
