// Persistent tap devices for VMMs (QEMU, Firecracker, Cloud Hypervisor):
// created through /dev/net/tun, handed to an unprivileged VMM user.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace v6g::host {

struct TapOptions {
  uid_t owner = static_cast<uid_t>(-1);  // -1: leave unset (root only)
  gid_t group = static_cast<gid_t>(-1);
  bool multi_queue = false;  // IFF_MULTI_QUEUE: must match how the VMM attaches
  bool vnet_hdr = true;      // IFF_VNET_HDR: all three VMMs use virtio-net headers
  // Set (IFLA_IFALIAS) before TUNSETPERSIST: the tap is gone with our fd
  // until then, so a kill -9 never leaves a persistent tap without its
  // ownership marker (restart reconciliation only removes marked taps).
  std::string alias;
};

// Creates `name` as a persistent tap (TUNSETIFF + TUNSETOWNER/GROUP +
// TUNSETPERSIST). Deleting it is an ordinary RTM_DELLINK.
Status create_persistent_tap(const std::string& name, const TapOptions& opts);

}  // namespace v6g::host
