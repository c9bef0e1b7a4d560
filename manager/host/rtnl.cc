#include "host/rtnl.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "host/tap.h"

namespace v6g::host {

namespace {

constexpr std::size_t kBufSize = 32768;  // MNL_SOCKET_BUFFER_SIZE caps at 8k; dumps like more

Status errno_status(const char* what, int err) {
  return Status::error(std::string(what) + ": " + std::strerror(err));
}

struct nlmsghdr* put_link_header(char* buf, std::uint16_t type, std::uint16_t flags,
                                 std::uint8_t family, int ifindex) {
  struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  auto* ifm = static_cast<struct ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = family;
  ifm->ifi_index = ifindex;
  return nlh;
}

void put_bridge_data(struct nlmsghdr* nlh, const BridgeOptions& opts, bool with_vlan_filtering) {
  struct nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
  struct nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  if (with_vlan_filtering) mnl_attr_put_u8(nlh, IFLA_BR_VLAN_FILTERING, opts.vlan_filtering);
  mnl_attr_put_u8(nlh, IFLA_BR_MCAST_SNOOPING, opts.mld_snooping);
  mnl_attr_put_u8(nlh, IFLA_BR_MCAST_QUERIER, opts.mcast_querier);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, info);
}

// mnl_attr_for_each() is C-only (void* arithmetic); collect attributes into
// a table indexed by type with mnl_attr_parse() instead.
template <std::size_t N>
struct AttrTable {
  std::array<const struct nlattr*, N> at{};
  static int put(const struct nlattr* attr, void* data) {
    auto* self = static_cast<AttrTable*>(data);
    const unsigned type = mnl_attr_get_type(attr);
    if (type < N) self->at[type] = attr;
    return MNL_CB_OK;
  }
};

std::string attr_string(const struct nlattr* attr) {
  const auto* p = static_cast<const char*>(mnl_attr_get_payload(attr));
  return std::string(p, strnlen(p, mnl_attr_get_payload_len(attr)));
}

// Parses one RTM_NEWLINK message into LinkInfo.
int parse_link(const struct nlmsghdr* nlh, LinkInfo& out) {
  if (nlh->nlmsg_type != RTM_NEWLINK) return MNL_CB_OK;
  const auto* ifm = static_cast<const struct ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  out.ifindex = ifm->ifi_index;
  out.up = (ifm->ifi_flags & IFF_UP) != 0;
  AttrTable<IFLA_MAX + 1> tb;
  if (mnl_attr_parse(nlh, sizeof(*ifm), AttrTable<IFLA_MAX + 1>::put, &tb) < 0) return MNL_CB_ERROR;
  if (tb.at[IFLA_IFNAME] != nullptr) out.name = attr_string(tb.at[IFLA_IFNAME]);
  if (tb.at[IFLA_IFALIAS] != nullptr) out.alias = attr_string(tb.at[IFLA_IFALIAS]);
  if (tb.at[IFLA_MASTER] != nullptr && mnl_attr_validate(tb.at[IFLA_MASTER], MNL_TYPE_U32) >= 0)
    out.master = static_cast<int>(mnl_attr_get_u32(tb.at[IFLA_MASTER]));
  if (tb.at[IFLA_ADDRESS] != nullptr && mnl_attr_get_payload_len(tb.at[IFLA_ADDRESS]) == 6)
    std::memcpy(out.mac.bytes.data(), mnl_attr_get_payload(tb.at[IFLA_ADDRESS]), 6);
  if (tb.at[IFLA_LINKINFO] != nullptr) {
    AttrTable<IFLA_INFO_MAX + 1> info;
    if (mnl_attr_parse_nested(tb.at[IFLA_LINKINFO], AttrTable<IFLA_INFO_MAX + 1>::put, &info) >=
            0 &&
        info.at[IFLA_INFO_KIND] != nullptr)
      out.kind = attr_string(info.at[IFLA_INFO_KIND]);
    if (out.kind == "bridge" && info.at[IFLA_INFO_DATA] != nullptr) {
      AttrTable<IFLA_BR_MAX + 1> br;
      if (mnl_attr_parse_nested(info.at[IFLA_INFO_DATA], AttrTable<IFLA_BR_MAX + 1>::put, &br) >=
          0) {
        auto flag = [&br](unsigned type) {
          return br.at[type] != nullptr && mnl_attr_get_u8(br.at[type]) != 0;
        };
        out.bridge = BridgeOptions{flag(IFLA_BR_VLAN_FILTERING), flag(IFLA_BR_MCAST_SNOOPING),
                                   flag(IFLA_BR_MCAST_QUERIER)};
      }
    }
  }
  return MNL_CB_OK;
}

int collect_links(const struct nlmsghdr* nlh, void* data) {
  auto* links = static_cast<std::vector<LinkInfo>*>(data);
  LinkInfo info;
  parse_link(nlh, info);
  if (info.ifindex != 0) links->push_back(std::move(info));
  return MNL_CB_OK;
}

// IFLA_AF_SPEC holds repeated IFLA_BRIDGE_VLAN_INFO, so walk it, not a table.
int collect_vlan_info(const struct nlattr* attr, void* data) {
  auto* vlans = static_cast<std::vector<Rtnl::PortVlan>*>(data);
  if (mnl_attr_get_type(attr) != IFLA_BRIDGE_VLAN_INFO ||
      mnl_attr_get_payload_len(attr) < sizeof(struct bridge_vlan_info))
    return MNL_CB_OK;
  struct bridge_vlan_info vi;
  std::memcpy(&vi, mnl_attr_get_payload(attr), sizeof vi);
  vlans->push_back({vi.vid, (vi.flags & BRIDGE_VLAN_INFO_PVID) != 0,
                    (vi.flags & BRIDGE_VLAN_INFO_UNTAGGED) != 0});
  return MNL_CB_OK;
}

int collect_vlans(const struct nlmsghdr* nlh, void* data) {
  if (nlh->nlmsg_type != RTM_NEWLINK) return MNL_CB_OK;
  AttrTable<IFLA_MAX + 1> tb;
  if (mnl_attr_parse(nlh, sizeof(struct ifinfomsg), AttrTable<IFLA_MAX + 1>::put, &tb) < 0)
    return MNL_CB_ERROR;
  if (tb.at[IFLA_AF_SPEC] != nullptr)
    mnl_attr_parse_nested(tb.at[IFLA_AF_SPEC], collect_vlan_info, data);
  return MNL_CB_OK;
}

}  // namespace

bool valid_ifname(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return name != "." && name != "..";
}

Rtnl::Rtnl() {
  nl_ = mnl_socket_open(NETLINK_ROUTE);
  if (nl_ == nullptr) {
    open_ = errno_status("mnl_socket_open", errno);
    return;
  }
  if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
    open_ = errno_status("mnl_socket_bind", errno);
    mnl_socket_close(nl_);
    nl_ = nullptr;
    return;
  }
  // Extended acks give us the kernel's own message for rejected attributes.
  int one = 1;
  mnl_socket_setsockopt(nl_, NETLINK_EXT_ACK, &one, sizeof one);
  portid_ = mnl_socket_get_portid(nl_);
  seq_ = static_cast<unsigned>(std::time(nullptr));
}

Rtnl::~Rtnl() {
  if (nl_ != nullptr) mnl_socket_close(nl_);
}

int Rtnl::transact(struct nlmsghdr* nlh, mnl_cb_t cb, void* data) {
  if (nl_ == nullptr) return -EBADF;
  nlh->nlmsg_flags |= NLM_F_ACK;
  nlh->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return -errno;
  std::vector<char> buf(kBufSize);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
    if (n < 0) return -errno;
    int ret =
        mnl_cb_run(buf.data(), static_cast<std::size_t>(n), nlh->nlmsg_seq, portid_, cb, data);
    if (ret < 0) return -errno;
    if (ret == MNL_CB_STOP) return 0;
  }
}

Status Rtnl::request(struct nlmsghdr* nlh, const char* what) {
  int err = transact(nlh, nullptr, nullptr);
  return err == 0 ? Status() : errno_status(what, -err);
}

std::vector<LinkInfo> Rtnl::links() {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = put_link_header(buf.data(), RTM_GETLINK, NLM_F_DUMP, AF_UNSPEC, 0);
  std::vector<LinkInfo> out;
  if (transact(nlh, collect_links, &out) != 0) out.clear();
  return out;
}

std::optional<LinkInfo> Rtnl::find_link(const std::string& name) {
  if (!valid_ifname(name)) return std::nullopt;
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = put_link_header(buf.data(), RTM_GETLINK, 0, AF_UNSPEC, 0);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  std::vector<LinkInfo> out;
  if (transact(nlh, collect_links, &out) != 0 || out.empty()) return std::nullopt;
  return out.front();
}

std::vector<LinkInfo> Rtnl::bridge_ports(int bridge_ifindex) {
  // The kernel filters the dump by IFLA_MASTER (what `ip link show master`
  // sends), so this costs the bridge's ports, not the host's links.
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = put_link_header(buf.data(), RTM_GETLINK, NLM_F_DUMP, AF_UNSPEC, 0);
  mnl_attr_put_u32(nlh, IFLA_MASTER, static_cast<std::uint32_t>(bridge_ifindex));
  std::vector<LinkInfo> ports;
  if (transact(nlh, collect_links, &ports) != 0) return {};
  // Old kernels ignore the filter; keep the answer right either way.
  std::erase_if(ports, [bridge_ifindex](const LinkInfo& l) { return l.master != bridge_ifindex; });
  return ports;
}

Status Rtnl::create_bridge(const std::string& name, const BridgeOptions& opts) {
  if (!valid_ifname(name)) return Status::error("invalid bridge name '" + name + "'");
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh =
      put_link_header(buf.data(), RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  // Only mention vlan_filtering when we want it: kernels without
  // CONFIG_BRIDGE_VLAN_FILTERING reject the attribute even when it is 0.
  put_bridge_data(nlh, opts, opts.vlan_filtering);
  return request(nlh, "create bridge");
}

Status Rtnl::set_bridge_options(int ifindex, const BridgeOptions& opts) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = put_link_header(buf.data(), RTM_NEWLINK, 0, AF_UNSPEC, ifindex);
  put_bridge_data(nlh, opts, opts.vlan_filtering);
  return request(nlh, "set bridge options");
}

Status Rtnl::create_vlan_subif(const std::string& name, int parent_ifindex, std::uint16_t vid) {
  if (!valid_ifname(name)) return Status::error("invalid vlan interface name '" + name + "'");
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh =
      put_link_header(buf.data(), RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  mnl_attr_put_u32(nlh, IFLA_LINK, static_cast<std::uint32_t>(parent_ifindex));
  struct nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "vlan");
  struct nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  mnl_attr_put_u16(nlh, IFLA_VLAN_ID, vid);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, info);
  return request(nlh, "create 802.1Q subinterface");
}

Status Rtnl::delete_link(int ifindex) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = put_link_header(buf.data(), RTM_DELLINK, 0, AF_UNSPEC, ifindex);
  return request(nlh, "delete link");
}

Status Rtnl::set_up(int ifindex, bool up) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = put_link_header(buf.data(), RTM_NEWLINK, 0, AF_UNSPEC, ifindex);
  auto* ifm = static_cast<struct ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  ifm->ifi_change = IFF_UP;
  ifm->ifi_flags = up ? IFF_UP : 0;
  return request(nlh, up ? "set link up" : "set link down");
}

Status Rtnl::set_master(int ifindex, int master_ifindex) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = put_link_header(buf.data(), RTM_NEWLINK, 0, AF_UNSPEC, ifindex);
  mnl_attr_put_u32(nlh, IFLA_MASTER, static_cast<std::uint32_t>(master_ifindex));
  return request(nlh, master_ifindex != 0 ? "enslave port" : "release port");
}

Status Rtnl::set_alias(int ifindex, const std::string& alias) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = put_link_header(buf.data(), RTM_NEWLINK, 0, AF_UNSPEC, ifindex);
  mnl_attr_put_strz(nlh, IFLA_IFALIAS, alias.c_str());
  return request(nlh, "set alias");
}

Status Rtnl::set_port_flags(int ifindex, const PortFlags& flags) {
  // Same message bridge(8) sends for `bridge link set`: AF_BRIDGE + IFLA_PROTINFO.
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = put_link_header(buf.data(), RTM_SETLINK, 0, AF_BRIDGE, ifindex);
  struct nlattr* prot = mnl_attr_nest_start(nlh, IFLA_PROTINFO);
  mnl_attr_put_u8(nlh, IFLA_BRPORT_ISOLATED, flags.isolated);
  mnl_attr_put_u8(nlh, IFLA_BRPORT_LEARNING, flags.learning);
  mnl_attr_put_u8(nlh, IFLA_BRPORT_UNICAST_FLOOD, flags.unicast_flood);
  mnl_attr_nest_end(nlh, prot);
  return request(nlh, "set bridge port flags");
}

Status Rtnl::vlan_add(int ifindex, std::uint16_t vid, bool pvid, bool untagged) {
  if (vid == 0 || vid >= 4095) return Status::error("vlan id out of range: " + std::to_string(vid));
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = put_link_header(buf.data(), RTM_SETLINK, 0, AF_BRIDGE, ifindex);
  struct nlattr* spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
  struct bridge_vlan_info vi {};
  vi.vid = vid;
  vi.flags = static_cast<std::uint16_t>((pvid ? BRIDGE_VLAN_INFO_PVID : 0) |
                                        (untagged ? BRIDGE_VLAN_INFO_UNTAGGED : 0));
  mnl_attr_put(nlh, IFLA_BRIDGE_VLAN_INFO, sizeof vi, &vi);
  mnl_attr_nest_end(nlh, spec);
  return request(nlh, "add port vlan");
}

Status Rtnl::vlan_del(int ifindex, std::uint16_t vid) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = put_link_header(buf.data(), RTM_DELLINK, 0, AF_BRIDGE, ifindex);
  struct nlattr* spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
  struct bridge_vlan_info vi {};
  vi.vid = vid;
  mnl_attr_put(nlh, IFLA_BRIDGE_VLAN_INFO, sizeof vi, &vi);
  mnl_attr_nest_end(nlh, spec);
  int err = transact(nlh, nullptr, nullptr);
  if (err == 0 || err == -ENOENT) return Status();
  return errno_status("delete port vlan", -err);
}

namespace {

// One port's entry in the AF_BRIDGE link dump: VLANs and IFLA_PROTINFO flags.
// One port's VLANs out of the AF_BRIDGE link dump (the dump has no ifindex
// filter; RTM_GETVLAN would have one but needs 5.8+ and range handling).
struct PortVlanDump {
  int ifindex = 0;
  std::vector<Rtnl::PortVlan> vlans;
};

int collect_port_vlans(const struct nlmsghdr* nlh, void* data) {
  auto* dump = static_cast<PortVlanDump*>(data);
  if (nlh->nlmsg_type != RTM_NEWLINK) return MNL_CB_OK;
  const auto* ifm = static_cast<const struct ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  if (ifm->ifi_index != dump->ifindex) return MNL_CB_OK;
  return collect_vlans(nlh, &dump->vlans);
}

}  // namespace

std::vector<Rtnl::PortVlan> Rtnl::port_vlans(int ifindex) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = put_link_header(buf.data(), RTM_GETLINK, NLM_F_DUMP, AF_BRIDGE, 0);
  mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_BRVLAN);
  PortVlanDump dump;
  dump.ifindex = ifindex;
  if (transact(nlh, collect_port_vlans, &dump) != 0) return {};
  return dump.vlans;
}

std::optional<PortFlags> Rtnl::port_flags(int ifindex) {
  // One RTM_GETLINK: a bridge port reports its flags as IFLA_INFO_SLAVE_DATA.
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = put_link_header(buf.data(), RTM_GETLINK, 0, AF_UNSPEC, ifindex);
  std::optional<PortFlags> flags;
  auto cb = [](const struct nlmsghdr* msg, void* data) -> int {
    auto* out = static_cast<std::optional<PortFlags>*>(data);
    if (msg->nlmsg_type != RTM_NEWLINK) return MNL_CB_OK;
    AttrTable<IFLA_MAX + 1> tb;
    if (mnl_attr_parse(msg, sizeof(struct ifinfomsg), AttrTable<IFLA_MAX + 1>::put, &tb) < 0 ||
        tb.at[IFLA_LINKINFO] == nullptr)
      return MNL_CB_OK;
    AttrTable<IFLA_INFO_MAX + 1> info;
    if (mnl_attr_parse_nested(tb.at[IFLA_LINKINFO], AttrTable<IFLA_INFO_MAX + 1>::put, &info) < 0 ||
        info.at[IFLA_INFO_SLAVE_KIND] == nullptr ||
        attr_string(info.at[IFLA_INFO_SLAVE_KIND]) != "bridge" ||
        info.at[IFLA_INFO_SLAVE_DATA] == nullptr)
      return MNL_CB_OK;
    AttrTable<IFLA_BRPORT_MAX + 1> port;
    if (mnl_attr_parse_nested(info.at[IFLA_INFO_SLAVE_DATA], AttrTable<IFLA_BRPORT_MAX + 1>::put,
                              &port) < 0)
      return MNL_CB_OK;
    auto flag = [&port](unsigned type, bool fallback) {
      return port.at[type] != nullptr ? mnl_attr_get_u8(port.at[type]) != 0 : fallback;
    };
    *out = PortFlags{flag(IFLA_BRPORT_ISOLATED, false), flag(IFLA_BRPORT_LEARNING, true),
                     flag(IFLA_BRPORT_UNICAST_FLOOD, true)};
    return MNL_CB_OK;
  };
  if (transact(nlh, cb, &flags) != 0) return std::nullopt;
  return flags;
}

namespace {

// Runs `probe` in a forked child inside a fresh, empty network namespace.
template <typename Fn>
bool probe_in_scratch_netns(Fn probe) {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (unshare(CLONE_NEWNET) != 0) _exit(2);
    _exit(probe() ? 0 : 1);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

KernelCaps probe_kernel_caps() {
  KernelCaps caps;
  caps.bridge_vlan_filtering = probe_in_scratch_netns([] {
    Rtnl nl;
    return nl.create_bridge("v6gprobe0", BridgeOptions{}).ok();
  });
  caps.vlan_8021q = probe_in_scratch_netns([] {
    Rtnl nl;
    BridgeOptions opts;
    opts.vlan_filtering = false;
    if (!nl.create_bridge("v6gprobe0", opts).ok()) return false;
    auto br = nl.find_link("v6gprobe0");
    if (!br) return false;
    bool ok = nl.create_vlan_subif("v6gprobe0.7", br->ifindex, 7).ok();
    return ok;
  });
  // Both settings are silently ignored by kernels without them, so each
  // probe writes the setting and reads it back.
  caps.mld_snooping = probe_in_scratch_netns([] {
    Rtnl nl;
    BridgeOptions opts;
    opts.vlan_filtering = false;
    opts.mld_snooping = true;
    if (!nl.create_bridge("v6gprobe0", opts).ok()) return false;
    auto br = nl.find_link("v6gprobe0");
    return br && br->bridge && br->bridge->mld_snooping;
  });
  caps.port_isolation = probe_in_scratch_netns([] {
    Rtnl nl;
    BridgeOptions opts;
    opts.vlan_filtering = false;
    if (!nl.create_bridge("v6gprobe0", opts).ok()) return false;
    // A tap needs no peer; it vanishes with the namespace.
    if (!create_persistent_tap("v6gprobe1", TapOptions{}).ok()) return false;
    auto br = nl.find_link("v6gprobe0");
    auto port = nl.find_link("v6gprobe1");
    if (!br || !port || !nl.set_master(port->ifindex, br->ifindex).ok()) return false;
    PortFlags flags;
    flags.isolated = true;
    if (!nl.set_port_flags(port->ifindex, flags).ok()) return false;
    auto now = nl.port_flags(port->ifindex);
    return now && now->isolated;
  });
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  caps.tun = fd >= 0;
  if (fd >= 0) ::close(fd);
  return caps;
}

}  // namespace v6g::host
