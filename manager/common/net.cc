#include "net.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>

namespace v6g {

std::string MacAddr::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return buf;
}

std::optional<MacAddr> MacAddr::parse(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  MacAddr mac;
  for (std::size_t i = 0; i < 6; ++i) {
    const char* first = text.data() + i * 3;
    if (i < 5 && first[2] != ':') return std::nullopt;
    auto [end, ec] = std::from_chars(first, first + 2, mac.bytes[i], 16);
    if (ec != std::errc{} || end != first + 2) return std::nullopt;
  }
  return mac;
}

bool Ip6Addr::is_loopback() const {
  for (std::size_t i = 0; i < 15; ++i)
    if (bytes[i] != 0) return false;
  return bytes[15] == 1;
}

bool Ip6Addr::is_solicited_node_multicast() const {
  static constexpr std::uint8_t kPrefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
  return std::memcmp(bytes.data(), kPrefix, sizeof kPrefix) == 0;
}

std::string Ip6Addr::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<Ip6Addr> Ip6Addr::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  Ip6Addr a;
  if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
  return a;
}

bool Ip6Prefix::contains(const Ip6Addr& a) const {
  const std::size_t full = len / 8;
  if (std::memcmp(addr.bytes.data(), a.bytes.data(), full) != 0) return false;
  const unsigned rest = len % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (addr.bytes[full] & mask) == (a.bytes[full] & mask);
}

std::string Ip6Prefix::to_string() const { return addr.to_string() + "/" + std::to_string(len); }

std::optional<Ip6Prefix> Ip6Prefix::parse(std::string_view text, bool allow_host_bits) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = Ip6Addr::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  const auto len_text = text.substr(slash + 1);
  unsigned len = 0;
  auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  if (ec != std::errc{} || end != len_text.data() + len_text.size() || len > 128 ||
      len_text.empty())
    return std::nullopt;
  Ip6Prefix p{*addr, static_cast<std::uint8_t>(len)};
  Ip6Prefix masked = p;
  for (unsigned bit = len; bit < 128; ++bit)
    masked.addr.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  if (!allow_host_bits && masked.addr != p.addr) return std::nullopt;
  return masked;
}

}  // namespace v6g
