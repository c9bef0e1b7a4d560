#include "host/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "host/rtnl.h"

namespace v6g::host {

namespace {

Status fail(const char* what, int err, int fd) {
  if (fd >= 0) ::close(fd);
  return Status::error(std::string(what) + ": " + std::strerror(err));
}

}  // namespace

Status create_persistent_tap(const std::string& name, const TapOptions& opts) {
  if (!valid_ifname(name)) return Status::error("invalid tap name '" + name + "'");
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return fail("open /dev/net/tun", errno, -1);

  struct ifreq ifr {};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | (opts.vnet_hdr ? IFF_VNET_HDR : 0) |
                                     (opts.multi_queue ? IFF_MULTI_QUEUE : 0));
  // TUNSETIFF on an existing tap would attach to it instead of failing; the
  // plan only calls us after checking the name is free, and TUN_NO_EXCL is
  // not a thing, so a concurrent creator is the only race (we'd adopt it).
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) return fail("TUNSETIFF", errno, fd);
  if (opts.owner != static_cast<uid_t>(-1) &&
      ::ioctl(fd, TUNSETOWNER, static_cast<unsigned long>(opts.owner)) < 0)
    return fail("TUNSETOWNER", errno, fd);
  if (opts.group != static_cast<gid_t>(-1) &&
      ::ioctl(fd, TUNSETGROUP, static_cast<unsigned long>(opts.group)) < 0)
    return fail("TUNSETGROUP", errno, fd);
  if (!opts.alias.empty()) {
    Rtnl nl;
    Status st = nl.open_status();
    if (st.ok()) {
      const auto link = nl.find_link(name);
      st = link ? nl.set_alias(link->ifindex, opts.alias) : Status::error("new tap not found");
    }
    if (!st.ok()) {
      ::close(fd);  // not persistent yet: the tap goes with the fd
      return Status::error("tap alias: " + st.message());
    }
  }
  if (::ioctl(fd, TUNSETPERSIST, 1UL) < 0) return fail("TUNSETPERSIST", errno, fd);
  ::close(fd);
  return Status();
}

}  // namespace v6g::host
