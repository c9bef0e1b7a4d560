#include "inspector/queue_worker.h"

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "inspector/cpus.h"
#include "inspector/nfq_msg.h"
#include "inspector/nfq_packet.h"
#include "inspector/verdicts.h"

namespace v6g::inspector {
namespace {

constexpr std::size_t kBatch = 32;
// Engine timers (TENTATIVE -> VALID after the DAD timeout, event windows)
// run this often: a learned binding reaches the fast path within
// dad_timeout + kTickInterval.
constexpr guard::Nanos kTickInterval = guard::kSecond / 4;
// One queued packet: up to 64 KiB of payload (copy range 0xffff, GSO packets
// included) plus the attributes.
constexpr std::size_t kDatagram = 0x10000 + 4096;

guard::Nanos monotonic_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<guard::Nanos>(ts.tv_sec) * guard::kSecond + ts.tv_nsec;
}

}  // namespace

struct ReadState {
  std::vector<char> buffers = std::vector<char>(kBatch * kDatagram);
  std::array<mmsghdr, kBatch> msgs{};
  std::array<iovec, kBatch> iov{};
  VerdictBatcher batcher;
  std::vector<VerdictMsg> out;
  std::vector<char> send_buf;
  packet::ParsedPacket scratch;
  guard::Effects fx;
  // Packets read but not yet answered, and when the oldest was read.
  std::uint64_t unsent = 0;
  guard::Nanos oldest = 0;
  // Acks for configuration requests.
  std::uint32_t awaited_seq = 0;
  bool acked = false;
  int ack_error = 0;
};

namespace {
thread_local ReadState* tls_state = nullptr;
}

QueueWorker::QueueWorker(WorkerConfig cfg, EngineSlot& engine, EffectsSink& sink)
    : cfg_(std::move(cfg)), engine_(engine), sink_(sink) {}

QueueWorker::~QueueWorker() {
  stop();
  if (nl_ != nullptr) mnl_socket_close(nl_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status QueueWorker::start() {
  nl_ = mnl_socket_open(NETLINK_NETFILTER);
  if (nl_ == nullptr) return Status::error(std::string("nfqueue socket: ") + std::strerror(errno));
  if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0)
    return Status::error(std::string("nfqueue bind: ") + std::strerror(errno));
  portid_ = mnl_socket_get_portid(nl_);
  const int fd = mnl_socket_get_fd(nl_);
  // A burst must not make the kernel report ENOBUFS and lose our place: the
  // queue's own limit (and fail mode) decides what happens on overload.
  int one = 1;
  mnl_socket_setsockopt(nl_, NETLINK_NO_ENOBUFS, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &cfg_.rcvbuf, sizeof cfg_.rcvbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &cfg_.rcvbuf, sizeof cfg_.rcvbuf);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Status::error("eventfd failed");

  ReadState state;
  tls_state = &state;
  Status s = configure(cfg_.closed_queue, false);
  if (s && cfg_.open_queue) s = configure(*cfg_.open_queue, true);
  send_verdicts();  // anything that arrived while configuring
  tls_state = nullptr;
  if (!s) return s;
  thread_ = std::thread([this] { run(); });
  // The kernel queues this worker's punts on these CPUs: reading them there
  // wakes no other CPU. A refusal (cpuset changed) only costs that wake-up.
  if (const std::string err = pin_thread(thread_.native_handle(), cfg_.cpus); !err.empty())
    std::fprintf(stderr, "v6guardd: nfqueue %u: not pinned to CPUs %s: %s\n", cfg_.closed_queue,
                 cpu_list(cfg_.cpus).c_str(), err.c_str());
  else if (!cfg_.cpus.empty())
    stats_.pinned = true;
  return {};
}

Status QueueWorker::configure(std::uint16_t queue, bool fail_open) {
  ReadState& st = *tls_state;
  char buf[kMaxConfigMsg];
  for (int step = 0; step < 2; ++step) {
    const std::uint32_t seq = seq_++;
    const std::size_t len = step == 0 ? put_bind(buf, queue, true, seq)
                                      : put_params(buf, queue, cfg_.queue_maxlen, fail_open, seq);
    if (mnl_socket_sendto(nl_, buf, len) < 0)
      return Status::error(std::string("nfqueue config send: ") + std::strerror(errno));
    st.awaited_seq = seq;
    st.acked = false;
    st.ack_error = 0;
    // Packets may arrive before the ack (the queue is live once bound):
    // they are decided like any other.
    while (!st.acked)
      if (!read_batch(true)) return Status::error("nfqueue: socket error while configuring");
    if (st.ack_error != 0)
      return Status::error("nfqueue " + std::to_string(queue) +
                           (step == 0 ? " bind: " : " params: ") + std::strerror(st.ack_error) +
                           (st.ack_error == EPERM || st.ack_error == EBUSY
                                ? " (queue held by another process, or no CAP_NET_ADMIN)"
                                : ""));
  }
  return {};
}

bool QueueWorker::read_batch(bool wait) {
  ReadState& st = *tls_state;
  const int fd = mnl_socket_get_fd(nl_);
  for (std::size_t i = 0; i < kBatch; ++i) {
    st.iov[i] = {st.buffers.data() + i * kDatagram, kDatagram};
    st.msgs[i] = {};
    st.msgs[i].msg_hdr.msg_iov = &st.iov[i];
    st.msgs[i].msg_hdr.msg_iovlen = 1;
  }
  const int n = recvmmsg(fd, st.msgs.data(), kBatch, wait ? MSG_WAITFORONE : MSG_DONTWAIT, nullptr);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ENOBUFS;
  stats_.reads.fetch_add(1, std::memory_order_relaxed);
  const guard::Nanos now = monotonic_now();
  NfqPacket pkt;
  for (int i = 0; i < n; ++i) {
    const auto* data = st.buffers.data() + static_cast<std::size_t>(i) * kDatagram;
    int left = static_cast<int>(st.msgs[static_cast<std::size_t>(i)].msg_len);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(data); mnl_nlmsg_ok(nlh, left);
         nlh = mnl_nlmsg_next(nlh, &left)) {
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (nlh->nlmsg_seq == st.awaited_seq && st.awaited_seq != 0) {
          st.acked = true;
          st.ack_error = -err->error;
        } else if (err->error != 0) {
          stats_.netlink_errors.fetch_add(1, std::memory_order_relaxed);
        }
        continue;
      }
      if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_NOOP) continue;
      const bool parsed = parse_packet_message(nlh, pkt);
      if (pkt.id == 0) {
        stats_.bad_messages.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      std::uint32_t verdict;
      if (!parsed) {
        // Every packet gets a verdict: by its queue's fail mode.
        stats_.bad_messages.fetch_add(1, std::memory_order_relaxed);
        verdict = cfg_.open_queue && pkt.queue == *cfg_.open_queue ? NF_ACCEPT : NF_DROP;
      } else {
        guard::Decision d;
        {
          std::lock_guard lock(engine_.mu);
          d = inspect(engine_.engine, pkt, now, st.fx, st.scratch);
        }
        verdict = d.verdict == guard::Verdict::kAccept ? NF_ACCEPT : NF_DROP;
      }
      stats_.packets.fetch_add(1, std::memory_order_relaxed);
      (verdict == NF_ACCEPT ? stats_.accepted : stats_.dropped)
          .fetch_add(1, std::memory_order_relaxed);
      if (st.unsent++ == 0) st.oldest = now;
      st.batcher.add(pkt.queue, pkt.id, verdict);
    }
  }
  return true;
}

void QueueWorker::send_verdicts() {
  ReadState& st = *tls_state;
  if (st.batcher.pending() == 0) return;
  st.out.clear();
  st.batcher.flush(st.out);
  st.send_buf.resize(st.out.size() * kVerdictMsgLen + kMaxConfigMsg);
  std::size_t len = 0;
  for (const auto& v : st.out)
    len += put_verdict(st.send_buf.data() + len, v.queue, v.id, v.verdict, v.batch);
  if (mnl_socket_sendto(nl_, st.send_buf.data(), len) < 0)
    stats_.send_errors.fetch_add(1, std::memory_order_relaxed);
  stats_.verdict_msgs.fetch_add(st.out.size(), std::memory_order_relaxed);
  // Every packet of the batch waited for this sendmsg (counted from the
  // oldest read: an upper bound for the others).
  stats_.service.record(static_cast<std::uint64_t>(monotonic_now() - st.oldest), st.unsent);
  st.unsent = 0;
}

void QueueWorker::run() {
  ReadState state;
  tls_state = &state;
  state.batcher = VerdictBatcher(cfg_.batch_verdicts);
  const int fd = mnl_socket_get_fd(nl_);
  guard::Nanos next_tick = monotonic_now() + kTickInterval;
  auto drain_effects = [&] {
    if (!state.fx.empty()) sink_.consume(state.fx);
    state.fx.clear();
  };
  while (!stopping_.load(std::memory_order_relaxed)) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const guard::Nanos now = monotonic_now();
    const int timeout_ms = static_cast<int>(std::max<guard::Nanos>(0, next_tick - now) / 1'000'000);
    const int r = poll(fds, 2, timeout_ms);
    if (r > 0 && (fds[0].revents & POLLIN) != 0) {
      // Drain what is there (bounded, so ticks and stop are not starved).
      for (int round = 0; round < 8; ++round) {
        const std::uint64_t before = stats_.reads.load(std::memory_order_relaxed);
        if (!read_batch(false)) {
          std::fprintf(stderr, "v6guardd: nfqueue %u: read error: %s\n", cfg_.closed_queue,
                       std::strerror(errno));
          break;
        }
        send_verdicts();
        if (stats_.reads.load(std::memory_order_relaxed) == before) break;  // EAGAIN
      }
      drain_effects();
    }
    if (monotonic_now() >= next_tick) {
      if (cfg_.ticks) {
        std::lock_guard lock(engine_.mu);
        engine_.engine.tick(monotonic_now(), state.fx);
      }
      drain_effects();
      next_tick = monotonic_now() + kTickInterval;
    }
  }
  // Graceful stop: answer what is already queued, then unbind (the kernel
  // drops what arrives in between on fail-closed queues; fail-open queues
  // bypass once unbound).
  for (int round = 0; round < 64; ++round) {
    const std::uint64_t before = stats_.reads.load(std::memory_order_relaxed);
    if (!read_batch(false)) break;
    send_verdicts();
    if (stats_.reads.load(std::memory_order_relaxed) == before) break;
  }
  char buf[kMaxConfigMsg];
  for (const std::optional<std::uint16_t> q : {std::optional(cfg_.closed_queue), cfg_.open_queue}) {
    if (!q) continue;
    const std::size_t len = put_bind(buf, *q, false, seq_++);
    mnl_socket_sendto(nl_, buf, len);
  }
  // The engine's pending event windows are flushed by the hub once every
  // worker has stopped (Inspector::stop).
  drain_effects();
  tls_state = nullptr;
}

void QueueWorker::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true);
  const std::uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof one) < 0) {
  }
  thread_.join();
}

}  // namespace v6g::inspector
