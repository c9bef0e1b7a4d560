#include "config/firewall.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace v6g::config {
namespace {

struct Token {
  std::string_view text;
  std::size_t position = 0;
};

std::vector<Token> tokenize(std::string_view text) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[i])) != 0) {
      ++i;
      continue;
    }
    const std::size_t start = i;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])) == 0) ++i;
    tokens.push_back({text.substr(start, i - start), start});
  }
  return tokens;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<unsigned> parse_uint(std::string_view s, unsigned max) {
  unsigned v = 0;
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

class Parser {
 public:
  Parser(std::string_view text) : tokens_(tokenize(text)), end_(text.size()) {}  // NOLINT

  FirewallParseResult rule() {
    FirewallRule r;
    if (!action(r) || !protocol(r) || !keyword("from") || !endpoint(r.source) || !keyword("to") ||
        !endpoint(r.destination) || !ports(r))
      return {std::nullopt, error_};
    if (at_ < tokens_.size()) return fail(tokens_[at_].position, "unexpected trailing text");
    return {std::move(r), {}};
  }

 private:
  FirewallParseResult fail(std::size_t pos, std::string message) {
    error_ = {pos, std::move(message)};
    return {std::nullopt, error_};
  }
  bool error(std::size_t pos, std::string message) {
    error_ = {pos, std::move(message)};
    return false;
  }
  const Token* next(std::string_view expected) {
    if (at_ >= tokens_.size()) {
      error(end_, "expected " + std::string(expected) + " at end of rule");
      return nullptr;
    }
    return &tokens_[at_++];
  }

  bool action(FirewallRule& r) {
    const Token* t = next("'allow' or 'deny'");
    if (t == nullptr) return false;
    if (iequals(t->text, "allow"))
      r.action = FirewallAction::kAllow;
    else if (iequals(t->text, "deny"))
      r.action = FirewallAction::kDeny;
    else
      return error(t->position, "expected 'allow' or 'deny', got '" + std::string(t->text) + "'");
    return true;
  }

  bool protocol(FirewallRule& r) {
    const Token* t = next("a protocol");
    if (t == nullptr) return false;
    if (iequals(t->text, "all") || iequals(t->text, "any"))
      r.protocol.reset();
    else if (iequals(t->text, "tcp"))
      r.protocol = kProtoTcp;
    else if (iequals(t->text, "udp"))
      r.protocol = kProtoUdp;
    else if (iequals(t->text, "icmpv6"))
      r.protocol = kProtoIcmpv6;
    else if (auto n = parse_uint(t->text, 255))
      r.protocol = static_cast<std::uint8_t>(*n);
    else
      return error(t->position, "unknown protocol '" + std::string(t->text) +
                                    "' (all, any, tcp, udp, icmpv6 or 0-255)");
    return true;
  }

  bool keyword(std::string_view word) {
    const Token* t = next("'" + std::string(word) + "'");
    if (t == nullptr) return false;
    if (!iequals(t->text, word))
      return error(t->position,
                   "expected '" + std::string(word) + "', got '" + std::string(t->text) + "'");
    return true;
  }

  bool endpoint(std::optional<Ip6Prefix>& out) {
    const Token* t = next("'any' or an IPv6 address/prefix");
    if (t == nullptr) return false;
    if (iequals(t->text, "any")) {
      out.reset();
      return true;
    }
    std::string_view text = t->text;
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
      auto a = Ip6Addr::parse(text);
      if (!a) return error(t->position, "invalid IPv6 address '" + std::string(text) + "'");
      out = Ip6Prefix{*a, 128};
      return true;
    }
    auto p = Ip6Prefix::parse(text);
    if (!p) {
      // Point at the first character that cannot appear in an IPv6 prefix.
      const auto bad = text.find_first_not_of("0123456789abcdefABCDEF:./");
      const std::size_t pos = t->position + (bad == std::string_view::npos ? 0 : bad);
      return error(pos, "invalid IPv6 prefix '" + std::string(text) + "'");
    }
    out = *p;
    return true;
  }

  bool ports(FirewallRule& r) {
    if (at_ >= tokens_.size()) return true;
    if (!iequals(tokens_[at_].text, "port"))
      return error(tokens_[at_].position,
                   "unexpected trailing text '" + std::string(tokens_[at_].text) + "'");
    ++at_;
    if (r.protocol != kProtoTcp && r.protocol != kProtoUdp)
      return error(tokens_[at_ - 1].position, "'port' needs protocol tcp or udp");
    const Token* t = next("a port list");
    if (t == nullptr) return false;
    std::string_view list = t->text;
    std::size_t offset = 0;
    while (true) {
      const auto comma = list.find(',', offset);
      const std::string_view item =
          list.substr(offset, comma == std::string_view::npos ? list.npos : comma - offset);
      const std::size_t pos = t->position + offset;
      const auto dash = item.find('-');
      auto first = parse_uint(item.substr(0, dash), 65535);
      auto last = dash == std::string_view::npos ? first : parse_uint(item.substr(dash + 1), 65535);
      if (!first || !last || *first == 0 || *last == 0)
        return error(pos, "invalid port '" + std::string(item) + "' (1-65535)");
      if (*last < *first) return error(pos, "port range '" + std::string(item) + "' is reversed");
      r.ports.push_back({static_cast<std::uint16_t>(*first), static_cast<std::uint16_t>(*last)});
      if (comma == std::string_view::npos) break;
      offset = comma + 1;
    }
    return true;
  }

  std::vector<Token> tokens_;
  std::size_t end_;
  std::size_t at_ = 0;
  FirewallParseError error_;
};

}  // namespace

bool FirewallRule::covers_port(std::uint16_t port) const {
  if (ports.empty()) return true;
  return std::any_of(ports.begin(), ports.end(),
                     [port](const PortRange& p) { return p.first <= port && port <= p.last; });
}

FirewallParseResult parse_firewall_rule(std::string_view text) { return Parser(text).rule(); }

bool allows_tunnel(const FirewallRule& rule) {
  if (rule.action != FirewallAction::kAllow || !rule.protocol) return false;
  if (*rule.protocol == kProtoIpv6InIp || *rule.protocol == kProtoGre) return true;
  if (*rule.protocol == kProtoUdp) return rule.covers_port(3544) || rule.covers_port(4789);
  return false;
}

}  // namespace v6g::config
