// libFuzzer target for netlink replies: any bytes as one datagram received
// from the kernel for a v6guard generic-netlink request, through the reply
// handling the socket uses (libmnl checks, NLMSG_ERROR + extack, NLMSG_DONE)
// and the module's reply decoders (bindings dump, port counters dump, family
// resolution). A confused or newer kernel must give errors, not crashes.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "netlink/genl.h"
#include "netlink/kmod_datapath.h"

namespace {
constexpr std::uint32_t kSeq = 1;     // seeds use sequence number 1
constexpr std::uint32_t kPortid = 0;  // 0 = don't check the port id
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Netlink messages are 4-byte aligned in the socket's receive buffer too.
  std::vector<std::uint32_t> aligned((size + 3) / 4);
  if (size > 0) std::memcpy(aligned.data(), data, size);
  const std::span<const std::byte> datagram(reinterpret_cast<const std::byte*>(aligned.data()),
                                            size);
  v6g::netlink::KernelError error;
  std::size_t messages = 0;
  const auto state = v6g::netlink::process_replies(
      datagram, kSeq, kPortid,
      [&](const nlmsghdr* nlh) {
        ++messages;
        if (nlh->nlmsg_len > size) std::abort();
        if (auto b = v6g::netlink::decode_binding(nlh)) (void)b->addr.to_string();
        if (auto pc = v6g::netlink::decode_port_counters(nlh))
          for (const auto& [reason, packets] : pc->by_reason) (void)v6g::reason_name(reason);
        std::uint16_t family = 0;
        std::vector<std::pair<std::string, std::uint32_t>> groups;
        v6g::netlink::decode_family(nlh, family, &groups);
      },
      error);
  if (state == v6g::netlink::ReplyState::kError && error.error == 0) std::abort();
  if (state != v6g::netlink::ReplyState::kError && error.error != 0) std::abort();
  (void)v6g::netlink::describe(error);
  return 0;
}
