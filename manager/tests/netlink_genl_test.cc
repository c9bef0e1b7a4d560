// The libmnl generic-netlink transport against the running kernel: family
// resolution, the error a manager sees when v6guard.ko is not loaded (the
// host kernel of this project cannot load modules), attribute iteration.
// The module side is exercised by the QEMU selftests (selftests/).
#include <gtest/gtest.h>
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
