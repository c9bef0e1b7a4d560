// Thin generic-netlink transport over libmnl: resolve a family, send a
// request and collect its replies (ack, dump messages, extended-ack error).
// All I/O of the netlink component lives here; kmod_datapath.cc builds and
// reads the v6guard messages.
#pragma once

#include <libmnl/libmnl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace v6g::netlink {

// One request being built: a generic netlink header plus attributes.
class Request {
 public:
  Request(std::uint16_t family, std::uint8_t cmd, std::uint8_t version, std::uint16_t flags,
          std::size_t capacity = 8192);
  nlmsghdr* nlh() { return nlh_; }
  std::size_t capacity() const { return buf_.size(); }

 private:
  std::vector<char> buf_;
  nlmsghdr* nlh_;
};

// Errors from the kernel: errno plus the extack message when it set one.
struct KernelError {
  int error = 0;  // positive errno
  std::string message;
};

std::string describe(const KernelError& e);

// libmnl's mnl_attr_for_each* macros assign void* (not C++): callbacks instead.
using AttrFn = std::function<void(const nlattr*)>;
void for_each_attr(const nlmsghdr* nlh, std::size_t offset, const AttrFn& fn);
void for_each_nested(const nlattr* nest, const AttrFn& fn);

using MessageFn = std::function<void(const nlmsghdr*)>;

// Pure reply handling, kept apart from the socket so it can be fuzzed
// (manager/fuzz/netlink_fuzz.cc): one datagram received for request `seq`
// from the kernel (port id 0 = kernel) goes through libmnl's checks; data
// messages go to on_message, NLMSG_ERROR fills `error` (errno + extack
// message), NLMSG_DONE or an ack ends the call. A datagram whose framing is
// broken (a length outside it) is EBADMSG before any callback runs.
enum class ReplyState : std::uint8_t { kMore, kDone, kError };
ReplyState process_replies(std::span<const std::byte> datagram, std::uint32_t seq,
                           std::uint32_t portid, const MessageFn& on_message, KernelError& error);

// Pure: the family id, multicast groups and highest attribute type
// (CTRL_ATTR_MAXATTR: what the loaded module's policy knows) of a
// CTRL_CMD_GETFAMILY reply.
void decode_family(const nlmsghdr* nlh, std::uint16_t& family_id,
                   std::vector<std::pair<std::string, std::uint32_t>>* groups,
                   std::uint32_t* max_attr = nullptr);

class GenlSocket {
 public:
  using MessageFn = netlink::MessageFn;

  static std::unique_ptr<GenlSocket> open(Status& status);
  ~GenlSocket();
  GenlSocket(const GenlSocket&) = delete;
  GenlSocket& operator=(const GenlSocket&) = delete;

  // Family id, multicast group ids and highest attribute type of a generic
  // netlink family.
  Status resolve(const std::string& name, std::uint16_t& family_id,
                 std::vector<std::pair<std::string, std::uint32_t>>* groups = nullptr,
                 std::uint32_t* max_attr = nullptr);

  // Sends the request with NLM_F_ACK and calls on_message for each reply
  // message (dump parts, replies). Kernel errors come back in `error`.
  Status call(Request& req, const MessageFn& on_message, KernelError& error);

  Status join_group(std::uint32_t group);
  // Waits up to timeout_ms for multicast messages; calls on_message for each.
  Status receive(int timeout_ms, const MessageFn& on_message);

 private:
  explicit GenlSocket(mnl_socket* nl);
  mnl_socket* nl_;
  std::uint32_t portid_;
  std::uint32_t seq_;
  std::vector<char> rx_;
};

}  // namespace v6g::netlink
