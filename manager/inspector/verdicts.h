// Verdict batching, pure: packets are added in the order they were read
// (ids ascend per queue: the kernel assigns them and unicasts under one
// lock), and a run of equal verdicts on one queue becomes one
// NFQNL_MSG_VERDICT_BATCH ("every packet with id <= N"). That is safe because
// every earlier packet of the queue already has its verdict earlier in the
// same send, or in an earlier one.
#pragma once

#include <cstdint>
#include <vector>

namespace v6g::inspector {

struct VerdictMsg {
  std::uint16_t queue = 0;
  std::uint32_t id = 0;  // the packet, or the highest id of a batch
  std::uint32_t verdict = 0;
  bool batch = false;
  bool operator==(const VerdictMsg&) const = default;
};

class VerdictBatcher {
 public:
  explicit VerdictBatcher(bool batching = true) : batching_(batching) {}
  void add(std::uint16_t queue, std::uint32_t id, std::uint32_t verdict);
  // Appends the messages for everything added since the last flush.
  void flush(std::vector<VerdictMsg>& out);
  std::size_t pending() const { return pending_; }

 private:
  struct Run {
    std::uint16_t queue;
    std::uint32_t last_id;
    std::uint32_t verdict;
    std::uint32_t count;
  };
  void close(Run& run, std::vector<VerdictMsg>& out) const;
  bool batching_;
  std::vector<Run> runs_;           // open run per queue (a reader has 1-2 queues)
  std::vector<VerdictMsg> closed_;  // runs already ended by a different verdict
  std::size_t pending_ = 0;
};

}  // namespace v6g::inspector
