// Builders for the nfnetlink_queue messages the inspector sends (config,
// verdicts), on libnetfilter_queue's nfq_nlmsg_* API. Each appends one
// netlink message at `buf` and returns its length; `buf` must have
// kMaxConfigMsg bytes free.
#pragma once

#include <cstddef>
#include <cstdint>

namespace v6g::inspector {

inline constexpr std::size_t kMaxConfigMsg = 256;
inline constexpr std::size_t kVerdictMsgLen = 40;  // nlmsghdr + nfgenmsg + verdict hdr + mark

// NFQNL_CFG_CMD_BIND / UNBIND for one queue number (with NLM_F_ACK).
std::size_t put_bind(char* buf, std::uint16_t queue, bool bind, std::uint32_t seq);
// Copy mode (whole packet), queue length and flags (NFQA_CFG_F_GSO always,
// NFQA_CFG_F_FAIL_OPEN when fail_open), with NLM_F_ACK.
std::size_t put_params(char* buf, std::uint16_t queue, std::uint32_t maxlen, bool fail_open,
                       std::uint32_t seq);
// One verdict for packet `id`, or (batch) for every queued packet with id <= `id`;
// sets the packet mark to 0 (clears the nft datapath's punt tag).
std::size_t put_verdict(char* buf, std::uint16_t queue, std::uint32_t id, std::uint32_t verdict,
                        bool batch);

}  // namespace v6g::inspector
