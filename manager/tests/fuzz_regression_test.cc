// The pure entry points the libFuzzer targets (manager/fuzz) drive, on known
// inputs, and every input a fuzzer found a bug with, as a case of its own.
#include <gtest/gtest.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "netlink/genl.h"
#include "netlink/kmod_datapath.h"
#include "packet/pcap_reader.h"

namespace v6g {
namespace {

// A netlink datagram under construction, 4-byte aligned like a receive buffer.
class Datagram {
 public:
  // Starts a message; returns its offset.
  std::size_t message(std::uint16_t type, std::uint16_t flags, std::uint32_t seq) {
    const std::size_t at = bytes_.size();
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    h.nlmsg_seq = seq;
    append(&h, sizeof h);
    open_ = at;
    return at;
  }
  void genl(std::uint8_t cmd) {
    genlmsghdr g{};
    g.cmd = cmd;
    g.version = 1;
    append(&g, sizeof g);
  }
  void raw(const void* p, std::size_t n) { append(p, n); }
  std::size_t nest(std::uint16_t type) {
    const std::size_t at = bytes_.size();
    nlattr a{4, static_cast<std::uint16_t>(type | NLA_F_NESTED)};
    append(&a, sizeof a);
    return at;
  }
  void end_nest(std::size_t at) {
    auto* a = reinterpret_cast<nlattr*>(bytes_.data() + at);
    a->nla_len = static_cast<std::uint16_t>(bytes_.size() - at);
  }
  void attr(std::uint16_t type, const void* p, std::size_t n) {
    nlattr a{static_cast<std::uint16_t>(4 + n), type};
    append(&a, sizeof a);
    append(p, n);
    pad();
  }
  template <typename T>
  void attr(std::uint16_t type, T v) {
    attr(type, &v, sizeof v);
  }
  void end() {
    auto* h = reinterpret_cast<nlmsghdr*>(bytes_.data() + open_);
    h->nlmsg_len = static_cast<std::uint32_t>(bytes_.size() - open_);
    pad();
  }
  std::span<const std::byte> span() const {
    return {reinterpret_cast<const std::byte*>(bytes_.data()), bytes_.size()};
  }
  const nlmsghdr* first() const { return reinterpret_cast<const nlmsghdr*>(bytes_.data()); }

 private:
  void append(const void* p, std::size_t n) {
    const auto* b = static_cast<const char*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  void pad() { bytes_.resize((bytes_.size() + 3) & ~std::size_t{3}); }
  std::vector<char> bytes_;
  std::size_t open_ = 0;
};

using netlink::KernelError;
using netlink::ReplyState;

TEST(NetlinkReplies, BindingDumpThenDone) {
  Datagram d;
  for (std::uint32_t ifindex : {7u, 8u}) {
    d.message(0x20, NLM_F_MULTI, 1);
    d.genl(V6G_CMD_GET_BINDINGS);
    d.attr(V6G_A_IFINDEX, ifindex);
    d.attr(V6G_A_VLAN, std::uint16_t{100});
    const std::uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
    d.attr(V6G_A_MAC, mac, 6);
    std::uint8_t addr[16] = {0x20, 0x01, 0x0d, 0xb8};
    addr[15] = 5;
    d.attr(V6G_A_ADDR, addr, 16);
    d.end();
  }
  d.message(NLMSG_DONE, NLM_F_MULTI, 1);
  d.raw("\0\0\0\0", 4);
  d.end();
  std::vector<datapath::Binding> got;
  KernelError error;
  const auto state = netlink::process_replies(
      d.span(), 1, 0,
      [&](const nlmsghdr* nlh) {
        auto b = netlink::decode_binding(nlh);
        ASSERT_TRUE(b);
        got.push_back(*b);
      },
      error);
  EXPECT_EQ(state, ReplyState::kDone);
  EXPECT_EQ(error.error, 0);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].ifindex, 7u);
  EXPECT_EQ(got[1].ifindex, 8u);
  EXPECT_EQ(got[0].vlan, 100);
  EXPECT_EQ(got[0].mac.to_string(), "02:00:00:00:00:01");
  EXPECT_EQ(got[0].addr.to_string(), "2001:db8::5");
}

TEST(NetlinkReplies, ErrorCarriesErrnoAndExtackMessage) {
  Datagram d;
  d.message(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 3);
  const std::int32_t err = -ERANGE;
  d.raw(&err, 4);
  nlmsghdr request{36, 0x20, NLM_F_REQUEST, 3, 0};
  d.raw(&request, sizeof request);
  d.attr(NLMSGERR_ATTR_MSG, "integer out of range", 21);
  d.end();
  KernelError error;
  EXPECT_EQ(netlink::process_replies(d.span(), 3, 0, {}, error), ReplyState::kError);
  EXPECT_EQ(error.error, ERANGE);
  EXPECT_EQ(error.message, "integer out of range");
}

TEST(NetlinkReplies, AckEndsTheCallAndStaleSequenceIsAnError) {
  Datagram ack;
  ack.message(NLMSG_ERROR, NLM_F_CAPPED, 4);
  const std::int32_t zero = 0;
  ack.raw(&zero, 4);
  nlmsghdr request{20, 0x20, NLM_F_REQUEST, 4, 0};
  ack.raw(&request, sizeof request);
  ack.end();
  KernelError error;
  EXPECT_EQ(netlink::process_replies(ack.span(), 4, 0, {}, error), ReplyState::kDone);
  EXPECT_EQ(error.error, 0);
  // The same ack for request 4 while waiting for request 5: not ours.
  EXPECT_EQ(netlink::process_replies(ack.span(), 5, 0, {}, error), ReplyState::kError);
  EXPECT_EQ(error.error, EPROTO);
}

TEST(NetlinkReplies, TruncatedOrShortMessagesAreErrorsNotReads) {
  Datagram d;
  d.message(NLMSG_ERROR, 0, 1);
  d.raw("\0\0", 2);  // an nlmsgerr needs 20 bytes
  d.end();
  KernelError error;
  EXPECT_EQ(netlink::process_replies(d.span(), 1, 0, {}, error), ReplyState::kError);
  EXPECT_NE(error.error, 0);
  // nlmsg_len beyond the datagram.
  Datagram big;
  big.message(0x20, 0, 1);
  big.genl(V6G_CMD_GET_PORT);
  big.end();
  std::vector<char> cut(big.span().size());
  std::memcpy(cut.data(), big.span().data(), cut.size());
  reinterpret_cast<nlmsghdr*>(cut.data())->nlmsg_len = 4096;
  int calls = 0;
  error = {};
  EXPECT_EQ(netlink::process_replies(
                {reinterpret_cast<const std::byte*>(cut.data()), cut.size()}, 1, 0,
                [&](const nlmsghdr*) { ++calls; }, error),
            ReplyState::kError);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(error.error, EBADMSG);
}

// netlink_fuzz crash-a6248ffcfc75f77b2669bc3f69c97d991fbd703a: a bindings
// dump whose first nlmsg_len is 0xffff0044. libmnl's mnl_nlmsg_ok() casts the
// length to int, took it as fitting and handed the message to the decoders,
// which then walked attributes up to 4 GiB past the datagram.
TEST(NetlinkReplies, LengthAbove2GiBIsRejectedBeforeAnyDecoderRuns) {
  Datagram d;
  d.message(0x20, NLM_F_MULTI, 1);
  d.genl(V6G_CMD_GET_BINDINGS);
  d.attr(V6G_A_IFINDEX, std::uint32_t{7});
  d.attr(V6G_A_VLAN, std::uint16_t{100});
  d.end();
  std::vector<char> bytes(d.span().size());
  std::memcpy(bytes.data(), d.span().data(), bytes.size());
  reinterpret_cast<nlmsghdr*>(bytes.data())->nlmsg_len = 0xffff0044;
  int calls = 0;
  KernelError error;
  EXPECT_EQ(netlink::process_replies(
                {reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()}, 1, 0,
                [&](const nlmsghdr*) { ++calls; }, error),
            ReplyState::kError);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(error.error, EBADMSG);
  // The fuzzer's input itself, byte for byte.
  const std::string path =
      V6G_TEST_DATA "/fuzz/netlink_fuzz/crash-a6248ffcfc75f77b2669bc3f69c97d991fbd703a";
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), {});
  ASSERT_FALSE(raw.empty()) << path;
  raw.resize((raw.size() + 3) & ~std::size_t{3});
  std::vector<std::uint32_t> aligned(raw.size() / 4);
  std::memcpy(aligned.data(), raw.data(), raw.size());
  calls = 0;
  error = {};
  EXPECT_EQ(netlink::process_replies(
                {reinterpret_cast<const std::byte*>(aligned.data()), raw.size()}, 1, 0,
                [&](const nlmsghdr*) { ++calls; }, error),
            ReplyState::kError);
  EXPECT_EQ(calls, 0);
}

// netlink_fuzz crash-2c2857c9678bdf5689b27938fb46f9a4b39224c0: an error
// reply with NLM_F_ACK_TLVS but not NLM_F_CAPPED whose echoed request claims
// nlmsg_len 0xc6000000; the extack parser started that far past the message.
TEST(NetlinkReplies, EchoedRequestLengthMustLieInsideTheErrorMessage) {
  const std::uint8_t crash[] = {0x24, 0x0, 0x0, 0x0, 0x2, 0x0,  0x0, 0xfe, 0x0, 0x0, 0x0, 0x0,
                                0x0,  0x0, 0x0, 0x0, 0x0, 0x24, 0x0, 0x0,  0x0, 0x0, 0x0, 0xc6,
                                0x0,  0x0, 0x5, 0x0, 0x1, 0x0,  0x0, 0x0,  0x0, 0x0, 0x0, 0x0};
  alignas(4) std::uint8_t bytes[sizeof crash];
  std::memcpy(bytes, crash, sizeof crash);
  KernelError error;
  EXPECT_EQ(netlink::process_replies({reinterpret_cast<const std::byte*>(bytes), sizeof bytes}, 0,
                                     0, {}, error),
            ReplyState::kError);
  EXPECT_NE(error.error, 0);
  EXPECT_TRUE(error.message.empty());
}

TEST(NetlinkReplies, ErrnoOutsideTheKernelsRangeIsABrokenReply) {
  for (std::int32_t bad : {std::int32_t{INT32_MIN}, std::int32_t{5}, std::int32_t{-5000}}) {
    Datagram d;
    d.message(NLMSG_ERROR, NLM_F_CAPPED, 1);
    d.raw(&bad, 4);
    nlmsghdr request{20, 0x20, NLM_F_REQUEST, 1, 0};
    d.raw(&request, sizeof request);
    d.end();
    KernelError error;
    EXPECT_EQ(netlink::process_replies(d.span(), 1, 0, {}, error), ReplyState::kError);
    EXPECT_EQ(error.error, EBADMSG) << bad;
  }
}

TEST(NetlinkReplies, PortCountersSkipMalformedEntries) {
  Datagram d;
  d.message(0x20, NLM_F_MULTI, 1);
  d.genl(V6G_CMD_GET_PORT);
  d.attr(V6G_A_IFINDEX, std::uint32_t{9});
  const auto list = d.nest(V6G_A_COUNTERS);
  const auto good = d.nest(V6G_A_COUNTERS_ENTRY);
  d.attr(V6G_CA_REASON, std::uint16_t{V6G_R_PUNT});
  d.attr(V6G_CA_PACKETS, std::uint64_t{42});
  d.end_nest(good);
  const auto bad = d.nest(V6G_A_COUNTERS_ENTRY);
  d.attr(V6G_CA_REASON, std::uint8_t{1});  // wrong size: skipped
  d.attr(V6G_CA_PACKETS, std::uint64_t{1});
  d.end_nest(bad);
  d.end_nest(list);
  d.end();
  auto pc = netlink::decode_port_counters(d.first());
  ASSERT_TRUE(pc);
  EXPECT_EQ(pc->ifindex, 9u);
  ASSERT_EQ(pc->by_reason.size(), 1u);
  EXPECT_EQ(pc->by_reason[0].first, static_cast<Reason>(V6G_R_PUNT));
  EXPECT_EQ(pc->by_reason[0].second, 42u);
  // No ifindex: not a port message.
  Datagram none;
  none.message(0x20, 0, 1);
  none.genl(V6G_CMD_GET_PORT);
  none.end();
  EXPECT_FALSE(netlink::decode_port_counters(none.first()));
  EXPECT_FALSE(netlink::decode_binding(none.first()));
}

TEST(PcapBytes, SameFramesAsFromTheFile) {
  for (const char* name : {"radvd.pcap", "ndisc6_ns_na.pcap", "ra6_u1500_y1280.pcap"}) {
    const std::string path = std::string(V6G_TEST_DATA "/pcap/") + name;
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> raw((std::istreambuf_iterator<char>(in)), {});
    const auto from_file = packet::read_pcap(path);
    const auto from_bytes =
        packet::read_pcap_bytes({reinterpret_cast<const std::byte*>(raw.data()), raw.size()});
    ASSERT_TRUE(from_file.ok()) << from_file.error;
    ASSERT_TRUE(from_bytes.ok()) << from_bytes.error;
    ASSERT_EQ(from_file.frames.size(), from_bytes.frames.size()) << name;
    for (std::size_t i = 0; i < from_file.frames.size(); ++i) {
      EXPECT_EQ(from_file.frames[i].data, from_bytes.frames[i].data) << name << " frame " << i;
      EXPECT_EQ(from_file.frames[i].timestamp_ns, from_bytes.frames[i].timestamp_ns);
    }
    // Cut anywhere: frames so far or a clear error, never a crash.
    const auto cut =
        packet::read_pcap_bytes({reinterpret_cast<const std::byte*>(raw.data()), raw.size() / 2});
    EXPECT_LE(cut.frames.size(), from_file.frames.size());
  }
  EXPECT_FALSE(packet::read_pcap_bytes({}).ok());
  const char junk[] = "not a capture at all, just text";
  EXPECT_FALSE(
      packet::read_pcap_bytes({reinterpret_cast<const std::byte*>(junk), sizeof junk}).ok());
}

}  // namespace
}  // namespace v6g
