// Plain value types for link and network addresses, shared by every component.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace v6g {

struct MacAddr {
  std::array<std::uint8_t, 6> bytes{};

  bool is_multicast() const { return (bytes[0] & 1) != 0; }
  bool is_zero() const { return bytes == std::array<std::uint8_t, 6>{}; }
  auto operator<=>(const MacAddr&) const = default;

  std::string to_string() const;                              // "02:00:00:00:00:01"
  static std::optional<MacAddr> parse(std::string_view text);  // same format
};

struct Ip6Addr {
  std::array<std::uint8_t, 16> bytes{};

  bool is_unspecified() const { return bytes == std::array<std::uint8_t, 16>{}; }
  bool is_loopback() const;
  bool is_multicast() const { return bytes[0] == 0xff; }
  bool is_link_local() const { return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80; }
  bool is_solicited_node_multicast() const;  // ff02::1:ffXX:XXXX
  bool is_ula() const { return (bytes[0] & 0xfe) == 0xfc; }
  auto operator<=>(const Ip6Addr&) const = default;

  std::string to_string() const;  // RFC 5952 text
  static std::optional<Ip6Addr> parse(std::string_view text);
  static Ip6Addr from_bytes(const std::uint8_t* p) {
    Ip6Addr a;
    std::memcpy(a.bytes.data(), p, 16);
    return a;
  }
};

struct Ip6Prefix {
  Ip6Addr addr;  // host bits are zero
  std::uint8_t len = 0;

  bool contains(const Ip6Addr& a) const;
  bool contains(const Ip6Prefix& p) const { return p.len >= len && contains(p.addr); }
  bool operator==(const Ip6Prefix&) const = default;

  std::string to_string() const;  // "2001:db8::/64"
  // Accepts "addr/len"; host bits must be zero unless allow_host_bits.
  static std::optional<Ip6Prefix> parse(std::string_view text, bool allow_host_bits = false);
};

}  // namespace v6g
