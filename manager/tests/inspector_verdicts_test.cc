// Verdict batching: a run of equal verdicts on one queue becomes one batch
// message ("all ids <= N"), a change of verdict ends the run, queues are
// independent, and without batching every packet gets its own message.
#include <gtest/gtest.h>
#include <linux/netfilter.h>

#include "inspector/nfq_msg.h"
#include "inspector/verdicts.h"

namespace v6g::inspector {
namespace {

TEST(VerdictBatcher, RunsBecomeBatches) {
  VerdictBatcher b;
  for (std::uint32_t id = 1; id <= 5; ++id) b.add(0, id, NF_ACCEPT);
  b.add(0, 6, NF_DROP);
  b.add(0, 7, NF_ACCEPT);
  b.add(0, 8, NF_ACCEPT);
  EXPECT_EQ(b.pending(), 8u);
  std::vector<VerdictMsg> out;
  b.flush(out);
  const std::vector<VerdictMsg> want = {
      {0, 5, NF_ACCEPT, true}, {0, 6, NF_DROP, false}, {0, 8, NF_ACCEPT, true}};
  EXPECT_EQ(out, want);
  EXPECT_EQ(b.pending(), 0u);
  out.clear();
  b.flush(out);
  EXPECT_TRUE(out.empty());
}

TEST(VerdictBatcher, QueuesAreIndependent) {
  VerdictBatcher b;
  b.add(0, 1, NF_ACCEPT);
  b.add(4, 1, NF_DROP);
  b.add(0, 2, NF_ACCEPT);
  b.add(4, 2, NF_DROP);
  b.add(4, 3, NF_ACCEPT);
  std::vector<VerdictMsg> out;
  b.flush(out);
  // Queue 4's drop run ended first (closed), then the open runs in order.
  const std::vector<VerdictMsg> want = {
      {4, 2, NF_DROP, true}, {0, 2, NF_ACCEPT, true}, {4, 3, NF_ACCEPT, false}};
  EXPECT_EQ(out, want);
}

TEST(VerdictBatcher, EveryPacketOfAQueueIsCoveredInOrder) {
  // Replays the messages against a model of the kernel queue: each packet
  // must end with exactly the verdict it was given.
  VerdictBatcher b;
  std::vector<std::uint32_t> given(200);
  for (std::uint32_t id = 1; id < given.size(); ++id) {
    given[id] = (id * 7919 % 5 == 0) ? NF_DROP : NF_ACCEPT;
    b.add(1, id, given[id]);
  }
  std::vector<VerdictMsg> out;
  b.flush(out);
  EXPECT_LT(out.size(), given.size() - 1);  // some batching happened
  std::vector<int> applied(given.size(), -1);
  for (const auto& m : out) {
    if (!m.batch) {
      ASSERT_EQ(applied[m.id], -1);
      applied[m.id] = static_cast<int>(m.verdict);
      continue;
    }
    for (std::uint32_t id = 1; id <= m.id; ++id)
      if (applied[id] == -1) applied[id] = static_cast<int>(m.verdict);
  }
  for (std::uint32_t id = 1; id < given.size(); ++id)
    EXPECT_EQ(applied[id], static_cast<int>(given[id])) << id;
}

TEST(VerdictBatcher, WithoutBatchingOneMessagePerPacket) {
  VerdictBatcher b(false);
  for (std::uint32_t id = 1; id <= 3; ++id) b.add(2, id, NF_ACCEPT);
  std::vector<VerdictMsg> out;
  b.flush(out);
  ASSERT_EQ(out.size(), 3u);
  for (const auto& m : out) EXPECT_FALSE(m.batch);
}

TEST(NfqMsg, VerdictMessagesHaveTheAdvertisedSize) {
  char buf[kMaxConfigMsg];
  EXPECT_EQ(put_verdict(buf, 1, 7, NF_ACCEPT, false), kVerdictMsgLen);
  EXPECT_EQ(put_verdict(buf, 1, 7, NF_DROP, true), kVerdictMsgLen);
  EXPECT_LE(put_params(buf, 1, 4096, true, 1), kMaxConfigMsg);
  EXPECT_LE(put_bind(buf, 1, true, 1), kMaxConfigMsg);
}

}  // namespace
}  // namespace v6g::inspector
