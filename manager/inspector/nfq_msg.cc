#include "inspector/nfq_msg.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <sys/socket.h>

extern "C" {
#include <libnetfilter_queue/libnetfilter_queue.h>
}

namespace v6g::inspector {

std::size_t put_bind(char* buf, std::uint16_t queue, bool bind, std::uint32_t seq) {
  nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);
  nlh->nlmsg_flags |= NLM_F_ACK;
  nlh->nlmsg_seq = seq;
  nfq_nlmsg_cfg_put_cmd(nlh, AF_INET6, bind ? NFQNL_CFG_CMD_BIND : NFQNL_CFG_CMD_UNBIND);
  return nlh->nlmsg_len;
}

std::size_t put_params(char* buf, std::uint16_t queue, std::uint32_t maxlen, bool fail_open,
                       std::uint32_t seq) {
  nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);
  nlh->nlmsg_flags |= NLM_F_ACK;
  nlh->nlmsg_seq = seq;
  nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
  nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
  // GSO: the kernel queues GSO packets whole instead of segmenting them;
  // FAIL_OPEN: a full queue accepts instead of dropping (fail-open classes only).
  const std::uint32_t flags = NFQA_CFG_F_GSO | (fail_open ? NFQA_CFG_F_FAIL_OPEN : 0u);
  mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
  mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
  return nlh->nlmsg_len;
}

std::size_t put_verdict(char* buf, std::uint16_t queue, std::uint32_t id, std::uint32_t verdict,
                        bool batch) {
  nlmsghdr* nlh = nfq_nlmsg_put(buf, batch ? NFQNL_MSG_VERDICT_BATCH : NFQNL_MSG_VERDICT, queue);
  nfq_nlmsg_verdict_put(nlh, static_cast<int>(id), static_cast<int>(verdict));
  // Clear the punt tag the nft datapath put in skb->mark (it must not reach
  // the host's policy routing); cheaper than an ip6tables rule every bridged
  // packet would traverse.
  nfq_nlmsg_verdict_put_mark(nlh, 0);
  return nlh->nlmsg_len;
}

}  // namespace v6g::inspector
