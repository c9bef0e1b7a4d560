// The libmnl generic-netlink transport against the running kernel: family
// resolution, the error a manager sees when v6guard.ko is not loaded (the
// host kernel of this project cannot load modules), attribute iteration.
// The module side is exercised by the QEMU selftests (selftests/).
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <vector>

#include "netlink/genl.h"
#include "netlink/kmod_datapath.h"

namespace v6g::netlink {
namespace {

bool v6guard_module_loaded() {
  struct stat st {};
  return stat("/sys/module/v6guard", &st) == 0;
}

TEST(GenlSocket, ResolvesTheControllerFamilyAndItsGroups) {
  Status st;
  auto sock = GenlSocket::open(st);
  ASSERT_TRUE(sock) << st.message();
  std::uint16_t id = 0;
  std::vector<std::pair<std::string, std::uint32_t>> groups;
  Status r = sock->resolve("nlctrl", id, &groups);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(id, GENL_ID_CTRL);
  bool notify = false;
  for (const auto& [name, gid] : groups) notify |= name == "notify" && gid != 0;
  EXPECT_TRUE(notify);
}

// The kmod datapath sends V6G_A_QUEUES only to a module whose family
// reports it (CTRL_ATTR_MAXATTR): an older module's strict policy would
// reject the attribute and with it the port. (nlctrl itself reports 0: its
// policies are per operation.)
TEST(GenlFamily, DecodesIdGroupsAndMaxAttr) {
  alignas(nlmsghdr) char buf[512] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = GENL_ID_CTRL;
  auto* genl = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(genlmsghdr)));
  genl->cmd = CTRL_CMD_NEWFAMILY;
  mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, 31);
  mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "v6guard");
  mnl_attr_put_u32(nlh, CTRL_ATTR_MAXATTR, V6G_A_QUEUES);
  nlattr* grps = mnl_attr_nest_start(nlh, CTRL_ATTR_MCAST_GROUPS);
  nlattr* g = mnl_attr_nest_start(nlh, 1);
  mnl_attr_put_u32(nlh, CTRL_ATTR_MCAST_GRP_ID, 9);
  mnl_attr_put_strz(nlh, CTRL_ATTR_MCAST_GRP_NAME, "events");
  mnl_attr_nest_end(nlh, g);
  mnl_attr_nest_end(nlh, grps);
  std::uint16_t id = 0;
  std::vector<std::pair<std::string, std::uint32_t>> groups;
  std::uint32_t max_attr = 0;
  v6g::netlink::decode_family(nlh, id, &groups, &max_attr);
  EXPECT_EQ(id, 31);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0], (std::pair<std::string, std::uint32_t>("events", 9)));
  EXPECT_EQ(max_attr, static_cast<std::uint32_t>(V6G_A_QUEUES));
  // A malformed MAXATTR (wrong length) is ignored, not read past.
  nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = GENL_ID_CTRL;
  mnl_nlmsg_put_extra_header(nlh, sizeof(genlmsghdr));
  mnl_attr_put_u16(nlh, CTRL_ATTR_MAXATTR, 3);
  max_attr = 7;
  v6g::netlink::decode_family(nlh, id, nullptr, &max_attr);
  EXPECT_EQ(max_attr, 7u);
}

TEST(GenlSocket, UnknownFamilyIsAClearError) {
  Status st;
  auto sock = GenlSocket::open(st);
  ASSERT_TRUE(sock) << st.message();
  std::uint16_t id = 1234;
  Status r = sock->resolve("v6g-nosuchfam", id);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(id, 0);
  EXPECT_NE(r.message().find("'v6g-nosuchfam' not found"), std::string::npos) << r.message();
}

TEST(KmodDatapath, OpenWithoutTheModuleSaysSo) {
  if (v6guard_module_loaded()) GTEST_SKIP() << "v6guard.ko is loaded here";
  Status st;
  auto dp = KmodDatapath::open(st);
  EXPECT_FALSE(dp);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("v6guard module loaded"), std::string::npos) << st.message();
}

TEST(GenlSocket, KernelErrorsCarryErrnoAndExtack) {
  // nlctrl rejects GETFAMILY without a name or id: a real kernel error.
  Status st;
  auto sock = GenlSocket::open(st);
  ASSERT_TRUE(sock) << st.message();
  Request req(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0);
  mnl_attr_put_u32(req.nlh(), CTRL_ATTR_FAMILY_ID + 100, 1);  // unknown attribute
  KernelError kerr;
  ASSERT_TRUE(sock->call(req, {}, kerr).ok());
  EXPECT_EQ(kerr.error, EINVAL);
  EXPECT_EQ(describe(KernelError{EPERM, ""}), "Operation not permitted");
  EXPECT_EQ(describe(KernelError{EINVAL, "reserved bit set"}),
            "Invalid argument: reserved bit set");
}

TEST(Attrs, NestedIterationSeesEveryEntryInOrder) {
  Request req(GENL_ID_CTRL, 0, 1, 0);
  nlattr* list = mnl_attr_nest_start(req.nlh(), V6G_A_BINDINGS);
  for (std::uint32_t i = 1; i <= 3; ++i) {
    nlattr* e = mnl_attr_nest_start(req.nlh(), V6G_A_BINDINGS_ENTRY);
    mnl_attr_put_u32(req.nlh(), V6G_BA_IFINDEX, i * 10);
    mnl_attr_nest_end(req.nlh(), e);
  }
  mnl_attr_nest_end(req.nlh(), list);

  std::vector<std::uint32_t> seen;
  for_each_attr(req.nlh(), sizeof(genlmsghdr), [&](const nlattr* top) {
    ASSERT_EQ(mnl_attr_get_type(top), V6G_A_BINDINGS);
    for_each_nested(top, [&](const nlattr* entry) {
      for_each_nested(entry, [&](const nlattr* f) {
        if (mnl_attr_get_type(f) == V6G_BA_IFINDEX) seen.push_back(mnl_attr_get_u32(f));
      });
    });
  });
  EXPECT_EQ(seen, (std::vector<std::uint32_t>{10, 20, 30}));
}

}  // namespace
}  // namespace v6g::netlink
