// log_security_events: the port firewalls log denied packets to one NFLOG
// group (nft `log prefix "v6g:firewall_deny:<port>:<in|out>" group N`, at most
// 10 per second per port and direction). FirewallLogReader reads that group
// over nfnetlink_log (libmnl) and turns each log message into a
// FirewallDenial; to_security_event() makes it a guard::SecurityEvent with
// reason V6G_R_FIREWALL_DENY for the daemon's event stream (the daemon fills
// vm_id/tenant_id from the port).
//
// I/O lives in the reader; parsing a message is pure (parse_firewall_log).
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/status.h"
#include "guard/engine.h"

struct mnl_socket;

namespace v6g::host {

struct FirewallDenial {
  std::string port;               // the VM port whose chain denied it
  bool from_vm = false;           // its in_ chain (what the VM sent) vs out_ (to the VM)
  std::optional<Ip6Addr> source;  // from the logged IPv6 header, when it is IPv6
  std::optional<Ip6Addr> destination;
  std::optional<std::uint8_t> next_header;
  std::optional<MacAddr> source_mac;
};

// "v6g:firewall_deny:<port>:<in|out>" -> (port, from_vm); nullopt for
// anything else (other users of the group).
std::optional<std::pair<std::string, bool>> parse_deny_prefix(std::string_view prefix);

// One NFULNL_MSG_PACKET message -> the denial; nullopt if it is not ours.
std::optional<FirewallDenial> parse_firewall_log(const struct nlmsghdr* nlh);

guard::SecurityEvent to_security_event(const FirewallDenial& denial, guard::Nanos now);

class FirewallLogReader {
 public:
  // Binds NFLOG `group` in the caller's network namespace.
  explicit FirewallLogReader(std::uint16_t group);
  ~FirewallLogReader();
  FirewallLogReader(const FirewallLogReader&) = delete;
  FirewallLogReader& operator=(const FirewallLogReader&) = delete;

  Status open_status() const { return open_; }
  int fd() const;  // poll for POLLIN
  // Waits up to timeout_ms (0: don't wait, -1: forever) for one batch and
  // appends our denials to *out.
  Status read(std::vector<FirewallDenial>* out, int timeout_ms);

 private:
  Status config(std::uint8_t command, bool with_mode);
  struct mnl_socket* nl_ = nullptr;
  std::uint16_t group_ = 0;
  unsigned seq_ = 0;
  Status open_;
};

}  // namespace v6g::host
