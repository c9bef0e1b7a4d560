#include "netlink/genl.h"

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace v6g::netlink {

Request::Request(std::uint16_t family, std::uint8_t cmd, std::uint8_t version, std::uint16_t flags,
                 std::size_t capacity)
    : buf_(capacity) {
  nlh_ = mnl_nlmsg_put_header(buf_.data());
  nlh_->nlmsg_type = family;
  nlh_->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
  auto* g = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh_, sizeof(genlmsghdr)));
  g->cmd = cmd;
  g->version = version;
}

std::string describe(const KernelError& e) {
  std::string s = std::strerror(e.error);
  if (!e.message.empty()) s += ": " + e.message;
  return s;
}

namespace {
int call_attr_fn(const nlattr* a, void* data) {
  (*static_cast<const AttrFn*>(data))(a);
  return MNL_CB_OK;
}
}  // namespace

void for_each_attr(const nlmsghdr* nlh, std::size_t offset, const AttrFn& fn) {
  AttrFn f = fn;
  mnl_attr_parse(nlh, static_cast<unsigned>(offset), call_attr_fn, &f);
}

void for_each_nested(const nlattr* nest, const AttrFn& fn) {
  AttrFn f = fn;
  mnl_attr_parse_nested(nest, call_attr_fn, &f);
}

GenlSocket::GenlSocket(mnl_socket* nl)
    : nl_(nl),
      portid_(mnl_socket_get_portid(nl)),
      seq_(static_cast<std::uint32_t>(time(nullptr))),
      rx_(MNL_SOCKET_BUFFER_SIZE * 4) {}

GenlSocket::~GenlSocket() { mnl_socket_close(nl_); }

std::unique_ptr<GenlSocket> GenlSocket::open(Status& status) {
  mnl_socket* nl = mnl_socket_open(NETLINK_GENERIC);
  if (nl == nullptr) {
    status = Status::error(std::string("netlink socket: ") + std::strerror(errno));
    return nullptr;
  }
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    status = Status::error(std::string("netlink bind: ") + std::strerror(errno));
    mnl_socket_close(nl);
    return nullptr;
  }
  // Ask for extended acks (kernel error strings) with capped echo of our
  // request, so error replies stay small even for 1000-binding batches.
  int one = 1;
  mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
  mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
  status = Status();
  return std::unique_ptr<GenlSocket>(new GenlSocket(nl));
}

namespace {

struct CallState {
  const GenlSocket::MessageFn* on_message;
  KernelError* error;
  bool done = false;
};

int on_data(const nlmsghdr* nlh, void* data) {
  auto* st = static_cast<CallState*>(data);
  if (*st->on_message) (*st->on_message)(nlh);
  return MNL_CB_OK;
}

int on_error(const nlmsghdr* nlh, void* data) {
  auto* st = static_cast<CallState*>(data);
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr))) {
    st->error->error = EBADMSG;
    return MNL_CB_ERROR;
  }
  st->done = true;
  if (err->error == 0) return MNL_CB_STOP;
  // Kernel errors are -errno (-4095..-1); anything else is a broken reply
  // (and -INT_MIN would overflow).
  st->error->error = err->error < 0 && err->error >= -4095 ? -err->error : EBADMSG;
  if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) != 0) {
    // The TLVs follow the echoed request, whose length comes from the reply
    // itself: it must lie inside this message or there are no TLVs to read.
    std::size_t off = sizeof(nlmsgerr);
    if ((nlh->nlmsg_flags & NLM_F_CAPPED) == 0) {
      if (err->msg.nlmsg_len < sizeof(nlmsghdr)) return MNL_CB_ERROR;
      off += err->msg.nlmsg_len - sizeof(nlmsghdr);
    }
    if (MNL_ALIGN(off) > mnl_nlmsg_get_payload_len(nlh)) return MNL_CB_ERROR;
    mnl_attr_parse(
        nlh, static_cast<unsigned>(off),
        [](const nlattr* a, void* d) -> int {
          if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
              mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
            static_cast<KernelError*>(d)->message = mnl_attr_get_str(a);
          return MNL_CB_OK;
        },
        st->error);
  }
  return MNL_CB_ERROR;
}

int on_done(const nlmsghdr*, void* data) {
  static_cast<CallState*>(data)->done = true;
  return MNL_CB_STOP;
}

}  // namespace

// libmnl's mnl_nlmsg_ok() compares (int)nlmsg_len, so a length >= 2 GiB
// passes as "fits" and the callbacks would read far past the datagram; and a
// message cut short (a reply bigger than the receive buffer) is skipped
// silently, leaving the caller waiting for an answer that already came.
// Every message must lie inside the datagram before libmnl sees it.
bool well_framed(std::span<const std::byte> datagram) {
  std::size_t at = 0;
  while (at < datagram.size()) {
    const std::size_t left = datagram.size() - at;
    if (left < sizeof(nlmsghdr)) return false;
    nlmsghdr h;
    std::memcpy(&h, datagram.data() + at, sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > left) return false;
    at += NLMSG_ALIGN(h.nlmsg_len);
  }
  return true;
}

ReplyState process_replies(std::span<const std::byte> datagram, std::uint32_t seq,
                           std::uint32_t portid, const MessageFn& on_message, KernelError& error) {
  if (!well_framed(datagram)) {
    error.error = EBADMSG;
    error.message = "malformed netlink reply (message length outside the datagram)";
    return ReplyState::kError;
  }
  CallState st{&on_message, &error};
  mnl_cb_t ctl[NLMSG_MIN_TYPE] = {};
  ctl[NLMSG_ERROR] = on_error;
  ctl[NLMSG_DONE] = on_done;
  errno = 0;
  int rc =
      mnl_cb_run2(datagram.data(), datagram.size(), seq, portid, on_data, &st, ctl, NLMSG_MIN_TYPE);
  if (rc == MNL_CB_ERROR) {
    // libmnl's own checks (ESRCH wrong port id, EPROTO wrong sequence
    // number) leave errno; a kernel error already filled `error`.
    if (error.error == 0) error.error = errno != 0 ? errno : EIO;
    return ReplyState::kError;
  }
  if (rc == MNL_CB_STOP || st.done) return ReplyState::kDone;
  return ReplyState::kMore;
}

Status GenlSocket::call(Request& req, const MessageFn& on_message, KernelError& error) {
  nlmsghdr* nlh = req.nlh();
  nlh->nlmsg_flags |= NLM_F_ACK;
  nlh->nlmsg_seq = ++seq_;
  error = KernelError{};
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0)
    return Status::error(std::string("netlink send: ") + std::strerror(errno));

  while (true) {
    ssize_t n = mnl_socket_recvfrom(nl_, rx_.data(), rx_.size());
    if (n < 0) return Status::error(std::string("netlink receive: ") + std::strerror(errno));
    const auto* bytes = reinterpret_cast<const std::byte*>(rx_.data());
    switch (process_replies({bytes, static_cast<std::size_t>(n)}, nlh->nlmsg_seq, portid_,
                            on_message, error)) {
      case ReplyState::kMore:
        continue;
      case ReplyState::kDone:
      case ReplyState::kError:  // the caller turns the kernel error into its message
        return Status();
    }
  }
}

void decode_family(const nlmsghdr* nlh, std::uint16_t& family_id,
                   std::vector<std::pair<std::string, std::uint32_t>>* groups,
                   std::uint32_t* max_attr) {
  for_each_attr(nlh, sizeof(genlmsghdr), [&](const nlattr* a) {
    auto type = mnl_attr_get_type(a);
    if (type == CTRL_ATTR_FAMILY_ID && mnl_attr_validate(a, MNL_TYPE_U16) == 0) {
      family_id = mnl_attr_get_u16(a);
    } else if (type == CTRL_ATTR_MAXATTR && max_attr != nullptr &&
               mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
      *max_attr = mnl_attr_get_u32(a);
    } else if (type == CTRL_ATTR_MCAST_GROUPS && groups != nullptr) {
      for_each_nested(a, [&](const nlattr* grp) {
        std::string gname;
        std::uint32_t gid = 0;
        for_each_nested(grp, [&](const nlattr* g) {
          if (mnl_attr_get_type(g) == CTRL_ATTR_MCAST_GRP_NAME &&
              mnl_attr_validate(g, MNL_TYPE_NUL_STRING) == 0)
            gname = mnl_attr_get_str(g);
          if (mnl_attr_get_type(g) == CTRL_ATTR_MCAST_GRP_ID &&
              mnl_attr_validate(g, MNL_TYPE_U32) == 0)
            gid = mnl_attr_get_u32(g);
        });
        groups->emplace_back(gname, gid);
      });
    }
  });
}

Status GenlSocket::resolve(const std::string& name, std::uint16_t& family_id,
                           std::vector<std::pair<std::string, std::uint32_t>>* groups,
                           std::uint32_t* max_attr) {
  Request req(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0);
  mnl_attr_put_strz(req.nlh(), CTRL_ATTR_FAMILY_NAME, name.c_str());
  family_id = 0;
  KernelError kerr;
  Status s = call(
      req, [&](const nlmsghdr* nlh) { decode_family(nlh, family_id, groups, max_attr); }, kerr);
  if (!s.ok()) return s;
  if (kerr.error == ENOENT || (kerr.error == 0 && family_id == 0))
    return Status::error("generic netlink family '" + name +
                         "' not found: is the v6guard module loaded in this kernel?");
  if (kerr.error != 0) return Status::error("resolve " + name + ": " + describe(kerr));
  return Status();
}

Status GenlSocket::join_group(std::uint32_t group) {
  if (mnl_socket_setsockopt(nl_, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
    return Status::error(std::string("join multicast group: ") + std::strerror(errno));
  return Status();
}

Status GenlSocket::receive(int timeout_ms, const MessageFn& on_message) {
  pollfd pfd{mnl_socket_get_fd(nl_), POLLIN, 0};
  int r = poll(&pfd, 1, timeout_ms);
  if (r < 0) return Status::error(std::string("poll: ") + std::strerror(errno));
  if (r == 0) return Status();
  ssize_t n = mnl_socket_recvfrom(nl_, rx_.data(), rx_.size());
  if (n < 0) return Status::error(std::string("netlink receive: ") + std::strerror(errno));
  KernelError kerr;
  CallState st{&on_message, &kerr};
  mnl_cb_run(rx_.data(), static_cast<std::size_t>(n), 0, 0, on_data, &st);
  return Status();
}

}  // namespace v6g::netlink
