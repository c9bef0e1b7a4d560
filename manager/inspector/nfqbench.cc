// v6guard-nfqbench: reads nfqueues for a fixed time, either as a trivial
// accept-all loop (one thread, one queue, one recv and one verdict per
// packet: the baseline every nfqueue program has) or through the real
// inspector as v6guardd runs it (QueueWorkers sharing one guard engine,
// batched verdicts; with queues=N, N workers on queues QUEUE..QUEUE+N-1,
// worker i pinned to the CPUs that --queue-cpu-fanout sends there) with one
// VM port whose source is bound, so every packet is parsed and decided.
// Prints packets/s. scripts/bench-inspector.sh runs both on the same traffic.
// Both also print their per-packet service time (recv returning the packet
// -> its verdict sent) as "service_us p50=.. p99=.. p999=..": the latency
// the reader itself adds.
//
//   v6guard-nfqbench trivial QUEUE SECONDS
//   v6guard-nfqbench inspector QUEUE SECONDS IFINDEX MAC ADDR [nobatch] [queues=N] [nopin]
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "datapath/null_datapath.h"
#include "inspector/inspector.h"
#include "inspector/nfq_msg.h"
#include "inspector/service_histogram.h"

namespace {

using namespace v6g;  // NOLINT

double now_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// SIGINT/SIGTERM end the run early (the bench stops a reader when its
// traffic is done); the figures are printed either way.
volatile sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

void print_service(const inspector::ServiceSummary& s) {
  std::printf("service_us packets=%llu p50=%.1f p99=%.1f p999=%.1f\n",
              static_cast<unsigned long long>(s.packets), static_cast<double>(s.p50_ns) / 1e3,
              static_cast<double>(s.p99_ns) / 1e3, static_cast<double>(s.p999_ns) / 1e3);
}

bool ack(mnl_socket* nl, char* buf, std::size_t len) {
  if (mnl_socket_sendto(nl, buf, len) < 0) return false;
  std::vector<char> rb(1 << 16);
  const int n = static_cast<int>(mnl_socket_recvfrom(nl, rb.data(), rb.size()));
  return n > 0 && mnl_cb_run(rb.data(), static_cast<std::size_t>(n), 0, mnl_socket_get_portid(nl),
                             nullptr, nullptr) >= 0;
}

int trivial(std::uint16_t queue, double seconds) {
  mnl_socket* nl = mnl_socket_open(NETLINK_NETFILTER);
  if (nl == nullptr || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) return perror("mnl"), 1;
  int one = 1;
  mnl_socket_setsockopt(nl, NETLINK_NO_ENOBUFS, &one, sizeof one);
  int rcv = 16 << 20;
  setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
  char cfg[inspector::kMaxConfigMsg];
  if (!ack(nl, cfg, inspector::put_bind(cfg, queue, true, 1)) ||
      !ack(nl, cfg, inspector::put_params(cfg, queue, 4096, false, 2)))
    return std::fprintf(stderr, "bind queue %u failed\n", queue), 1;
  std::vector<char> buf(0x10000 + 4096);
  std::uint64_t packets = 0;
  inspector::ServiceHistogram service;
  const double end = now_s() + seconds;
  pollfd pfd{mnl_socket_get_fd(nl), POLLIN, 0};
  const double start = now_s();
  while (now_s() < end && g_stop == 0) {
    if (poll(&pfd, 1, 100) <= 0) continue;
    const ssize_t n = recv(pfd.fd, buf.data(), buf.size(), 0);
    if (n <= 0) continue;
    const std::uint64_t read_at = now_ns();
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data());
    if ((nlh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET) continue;
    std::uint32_t id = 0;
    mnl_attr_parse(
        nlh, sizeof(nfgenmsg),
        [](const nlattr* attr, void* data) {
          if (mnl_attr_get_type(attr) == NFQA_PACKET_HDR)
            *static_cast<std::uint32_t*>(data) = ntohl(
                static_cast<const nfqnl_msg_packet_hdr*>(mnl_attr_get_payload(attr))->packet_id);
          return MNL_CB_OK;
        },
        &id);
    char v[inspector::kVerdictMsgLen];
    const std::size_t len = inspector::put_verdict(v, queue, id, NF_ACCEPT, false);
    mnl_socket_sendto(nl, v, len);
    service.record(now_ns() - read_at, 1);
    ++packets;
  }
  ack(nl, cfg, inspector::put_bind(cfg, queue, false, 3));
  std::printf("trivial packets=%llu pps=%.0f\n", static_cast<unsigned long long>(packets),
              static_cast<double>(packets) / std::max(now_s() - start, 1e-3));
  inspector::ServiceCounts counts{};
  service.add_to(counts);
  print_service(inspector::summarize(counts));
  mnl_socket_close(nl);
  return 0;
}

int with_inspector(std::uint16_t queue, double seconds, std::uint32_t ifindex, const MacAddr& mac,
                   const Ip6Addr& addr, bool batch, std::uint16_t queues, bool pin) {
  datapath::NullDatapath dp;
  inspector::InspectorConfig cfg;
  cfg.queue_base = queue;
  cfg.queues = queues;
  cfg.pin = pin;
  cfg.open_queues = false;
  cfg.batch_verdicts = batch;
  inspector::Inspector insp(cfg, dp);
  guard::PortPolicy p;
  p.port = ifindex;
  p.mac = mac;
  p.static_addresses = {addr};
  if (Status s = insp.upsert_port(p); !s)
    return std::fprintf(stderr, "%s\n", s.message().c_str()), 1;
  if (Status s = insp.start(); !s) return std::fprintf(stderr, "%s\n", s.message().c_str()), 1;
  std::fprintf(stderr, "inspector: %u queue(s) from %u, %s\n", unsigned{queues}, unsigned{queue},
               insp.placement().c_str());
  const double start = now_s();
  while (now_s() < start + seconds && g_stop == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  seconds = std::max(now_s() - start, 1e-3);
  insp.stop();
  const auto t = insp.totals();
  std::printf("inspector%s packets=%llu pps=%.0f accepted=%llu dropped=%llu verdict_msgs=%llu\n",
              batch ? "" : "-nobatch", static_cast<unsigned long long>(t.packets),
              static_cast<double>(t.packets) / seconds, static_cast<unsigned long long>(t.accepted),
              static_cast<unsigned long long>(t.dropped),
              static_cast<unsigned long long>(t.verdict_msgs));
  print_service(t.service);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: %s trivial QUEUE SECONDS | inspector QUEUE SECONDS IFINDEX MAC ADDR "
                 "[nobatch] [queues=N] [nopin]\n",
                 argv[0]);
    return 2;
  }
  signal(SIGINT, on_stop);
  signal(SIGTERM, on_stop);
  const std::string mode = argv[1];
  const auto queue = static_cast<std::uint16_t>(std::atoi(argv[2]));
  const double seconds = std::atof(argv[3]);
  if (mode == "trivial") return trivial(queue, seconds);
  if (mode == "inspector" && argc >= 7) {
    const auto mac = MacAddr::parse(argv[5]);
    const auto addr = Ip6Addr::parse(argv[6]);
    if (!mac || !addr) return std::fprintf(stderr, "bad MAC or address\n"), 2;
    bool batch = true, pin = true;
    unsigned queues = 1;
    for (int i = 7; i < argc; ++i) {
      const std::string opt = argv[i];
      if (opt == "nobatch")
        batch = false;
      else if (opt == "nopin")
        pin = false;
      else if (opt.rfind("queues=", 0) == 0)
        queues = static_cast<unsigned>(std::atoi(opt.c_str() + 7));
      else
        return std::fprintf(stderr, "bad option %s\n", opt.c_str()), 2;
    }
    if (queues == 0 || queues > 64) return std::fprintf(stderr, "queues=1..64\n"), 2;
    return with_inspector(queue, seconds, static_cast<std::uint32_t>(std::atoi(argv[4])), *mac,
                          *addr, batch, static_cast<std::uint16_t>(queues), pin);
  }
  return std::fprintf(stderr, "bad mode\n"), 2;
}
