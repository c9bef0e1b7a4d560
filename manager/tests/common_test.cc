#include <gtest/gtest.h>

#include <set>

#include "common/net.h"
#include "common/reason.h"

namespace v6g {
namespace {

TEST(Reason, EveryAssignedValueHasAUniqueName) {
  std::set<std::string_view> names;
  for (auto it = all_reasons_begin(); it != all_reasons_end(); ++it) {
    const auto name = reason_name(*it);
    ASSERT_FALSE(name.empty()) << static_cast<int>(*it);
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_EQ(reason_from_name(name), *it);
  }
  // Spot-check the uapi values the kernel depends on.
  EXPECT_EQ(reason_name(reason(V6G_R_RA_FROM_VM_PORT)), "ra_from_vm_port");
  EXPECT_EQ(reason_name(reason(V6G_R_QUEUE_FULL)), "queue_full");
  EXPECT_EQ(static_cast<int>(V6G_R_QUEUE_FULL), V6G_R_MAX);
}

TEST(Reason, DropSplit) {
  EXPECT_FALSE(is_drop(reason(V6G_R_ACCEPT_BINDING)));
  EXPECT_FALSE(is_drop(reason(V6G_R_PUNT)));
  EXPECT_TRUE(is_drop(reason(V6G_R_TRUNCATED)));
  EXPECT_TRUE(is_drop(reason(V6G_R_FAIL_CLOSED)));
}

TEST(Net, MacRoundTrip) {
  auto mac = MacAddr::parse("02:00:5e:10:00:0a");
  ASSERT_TRUE(mac);
  EXPECT_EQ(mac->to_string(), "02:00:5e:10:00:0a");
  EXPECT_FALSE(mac->is_multicast());
  EXPECT_FALSE(MacAddr::parse("02:00:5e:10:00"));
  EXPECT_FALSE(MacAddr::parse("02-00-5e-10-00-0a"));
  EXPECT_FALSE(MacAddr::parse("zz:00:5e:10:00:0a"));
}

TEST(Net, Ip6Classes) {
  EXPECT_TRUE(Ip6Addr::parse("fe80::1")->is_link_local());
  EXPECT_TRUE(Ip6Addr::parse("febf::1")->is_link_local());
  EXPECT_FALSE(Ip6Addr::parse("fec0::1")->is_link_local());
  EXPECT_TRUE(Ip6Addr::parse("::")->is_unspecified());
  EXPECT_TRUE(Ip6Addr::parse("::1")->is_loopback());
  EXPECT_TRUE(Ip6Addr::parse("ff02::1:ff00:1")->is_solicited_node_multicast());
  EXPECT_TRUE(Ip6Addr::parse("fd00::1")->is_ula());
  EXPECT_FALSE(Ip6Addr::parse("2600:BEEF:1000:mgmt::100"));
  EXPECT_EQ(Ip6Addr::parse("2001:DB8:0:0:0:0:0:1")->to_string(), "2001:db8::1");
}

TEST(Net, PrefixContains) {
  auto p = Ip6Prefix::parse("2600:beef:1000::/44");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->contains(*Ip6Addr::parse("2600:beef:100f:ffff::1")));
  EXPECT_FALSE(p->contains(*Ip6Addr::parse("2600:beef:1010::1")));
  EXPECT_TRUE(p->contains(*Ip6Prefix::parse("2600:beef:1001::/64")));
  EXPECT_FALSE(p->contains(*Ip6Prefix::parse("2600:beef::/32")));
  EXPECT_FALSE(Ip6Prefix::parse("2001:db8::1/64"));  // host bits
  EXPECT_EQ(Ip6Prefix::parse("2001:db8::1/64", true)->to_string(), "2001:db8::/64");
  EXPECT_FALSE(Ip6Prefix::parse("2001:db8::/129"));
  EXPECT_FALSE(Ip6Prefix::parse("2001:db8::/"));
}

}  // namespace
}  // namespace v6g
