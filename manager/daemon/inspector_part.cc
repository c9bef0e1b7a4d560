// The inspector part of v6guardd: nfqueue threads, one per CPU-local punt
// queue, sharing one guard engine (manager/inspector), offered to the other
// parts as DaemonContext::guard. It also wraps ctx.datapath so every part
// shares one serialised handle; on the nft datapath it switches the punts on
// (bridge mark -> ip6 raw NFQUEUE, queue picked by CPU).
#include <time.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon/part.h"
#include "host/fw_log.h"
#include "host/vm_programmer.h"
#include "inspector/cpus.h"
#include "inspector/inspector.h"
#include "nft/nft_datapath.h"

namespace po = boost::program_options;

namespace v6g::daemon {
namespace {

// "p50 8.2 us, p99 57.3 us, p999 229.4 us (1000 packets)".
std::string describe(const inspector::ServiceSummary& s) {
  char text[160];
  std::snprintf(text, sizeof text, "p50 %.1f us, p99 %.1f us, p999 %.1f us (%llu packets)",
                static_cast<double>(s.p50_ns) / 1e3, static_cast<double>(s.p99_ns) / 1e3,
                static_cast<double>(s.p999_ns) / 1e3, static_cast<unsigned long long>(s.packets));
  return text;
}

class InspectorPart final : public Part {
 public:
  void add_options(po::options_description& opts) override {
    opts.add_options()("queues", po::value<unsigned>(),
                       "inspector threads, one per CPU-local queue (default: the CPUs v6guardd "
                       "may run on, at most 64); queue-base..+N-1 fail-closed, +N..+2N-1 "
                       "fail-open")("no-pin", po::bool_switch(),
                                    "do not pin inspector thread i to CPU i")(
        "queue-base", po::value<unsigned>()->default_value(0), "first nfqueue number")(
        "events", po::value<std::string>(), "append security events to FILE (JSON lines)")(
        "monitor", po::bool_switch(), "log-only: count and report violations, never drop")(
        "no-inspector", po::bool_switch(),
        "run without the nfqueue inspector (stateless drops only)")(
        "no-batch-verdicts", po::bool_switch(), "one verdict message per packet (for comparison)")(
        "no-data-learning", po::bool_switch(),
        "learn bindings from DAD only (no RFC 6620 data-triggered NS probes)")(
        "firewall-log-group", po::value<unsigned>()->default_value(host::kDefaultFirewallLogGroup),
        "NFLOG group of the port firewalls' denials, read into the event stream (0 = off)");
  }

  Status start(const po::variables_map& vm, DaemonContext& ctx) override {
    if (vm["no-inspector"].as<bool>()) {
      if (auto* nft = dynamic_cast<nft::NftDatapath*>(ctx.datapath))
        if (Status s = nft->disable_punts(); !s) return s;
      ctx.status.emplace_back("inspector", "disabled (--no-inspector)");
      return {};
    }
    inspector::InspectorConfig cfg;
    const unsigned queues =
        vm.count("queues") ? vm["queues"].as<unsigned>() : inspector::default_queue_count(64);
    const unsigned base = vm["queue-base"].as<unsigned>();
    if (queues == 0 || queues > 64 || base + 2 * queues > 65535)
      return Status::error("--queues must be 1..64 and queue-base + 2*queues <= 65535");
    cfg.queues = static_cast<std::uint16_t>(queues);
    cfg.queue_base = static_cast<std::uint16_t>(base);
    cfg.pin = !vm["no-pin"].as<bool>();
    cfg.monitor = vm["monitor"].as<bool>();
    cfg.batch_verdicts = !vm["no-batch-verdicts"].as<bool>();
    cfg.data_learning = !vm["no-data-learning"].as<bool>();
    if (vm.count("events")) cfg.events_path = vm["events"].as<std::string>();

    shared_ = std::make_unique<inspector::SharedDatapath>(*ctx.datapath, cfg);
    if (auto* nft = dynamic_cast<nft::NftDatapath*>(ctx.datapath)) {
      if (Status s = nft->enable_punts(cfg.queue_base, cfg.queues); !s) return s;
    }
    ctx.datapath = shared_.get();
    inspector_ = std::make_unique<inspector::Inspector>(cfg, *shared_);
    if (Status s = inspector_->start(); !s) return s;
    ctx.guard = inspector_.get();
    // The latency the inspector itself adds, per packet (docs/inspector.md).
    ctx.live_status.emplace_back([this] {
      return std::pair<std::string, std::string>("inspector_service_time",
                                                 describe(inspector_->totals().service));
    });
    if (const unsigned group = vm["firewall-log-group"].as<unsigned>(); group != 0) {
      if (group > 65535) return Status::error("--firewall-log-group must be 0..65535");
      start_firewall_log(static_cast<std::uint16_t>(group), ctx);
    }
    ctx.status.emplace_back(
        "inspector", "queues " + std::to_string(base) + ".." + std::to_string(base + queues - 1) +
                         " fail-closed, " + std::to_string(base + queues) + ".." +
                         std::to_string(base + 2 * queues - 1) + " fail-open, " +
                         (queues == 1 ? std::string("1 thread")
                                      : std::to_string(queues) + " threads sharing one engine") +
                         ", " + inspector_->placement() + (cfg.monitor ? ", monitor" : ""));
    return {};
  }

  void stop() override {
    stop_log_ = true;
    if (log_thread_.joinable()) log_thread_.join();
    if (inspector_) {
      inspector_->stop();
      const auto t = inspector_->totals();
      std::fprintf(stderr, "v6guardd: inspector service time (recv -> verdict sent): %s\n",
                   describe(t.service).c_str());
      std::fprintf(stderr,
                   "v6guardd: inspector: %llu packets, %llu accepted, %llu dropped, %llu verdict "
                   "messages, %llu bindings pushed, %llu probe frames sent, %llu not sent\n",
                   static_cast<unsigned long long>(t.packets),
                   static_cast<unsigned long long>(t.accepted),
                   static_cast<unsigned long long>(t.dropped),
                   static_cast<unsigned long long>(t.verdict_msgs),
                   static_cast<unsigned long long>(t.bindings_pushed),
                   static_cast<unsigned long long>(t.probe_frames),
                   static_cast<unsigned long long>(t.probe_errors));
    }
  }

 private:
  // log_security_events: the port firewalls' NFLOG denials become events.
  // A host without nfnetlink_log keeps running with the reader off.
  void start_firewall_log(std::uint16_t group, DaemonContext& ctx) {
    auto reader = std::make_shared<host::FirewallLogReader>(group);
    if (Status s = reader->open_status(); !s) {
      ctx.status.emplace_back("firewall log", "off: " + s.message());
      return;
    }
    ctx.status.emplace_back("firewall log", "NFLOG group " + std::to_string(group));
    log_thread_ = std::thread([this, reader] {
      std::vector<host::FirewallDenial> denials;
      while (!stop_log_) {
        denials.clear();
        if (Status s = reader->read(&denials, 200); !s) {
          std::fprintf(stderr, "v6guardd: firewall log: %s\n", s.message().c_str());
          return;
        }
        if (denials.empty()) continue;
        timespec ts{};
        clock_gettime(CLOCK_MONOTONIC, &ts);
        const guard::Nanos now = ts.tv_sec * guard::kSecond + ts.tv_nsec;
        std::vector<guard::SecurityEvent> events;
        for (const auto& d : denials) events.push_back(host::to_security_event(d, now));
        inspector_->report(std::move(events));
      }
    });
  }

  std::atomic<bool> stop_log_{false};
  std::thread log_thread_;
  std::unique_ptr<inspector::SharedDatapath> shared_;
  std::unique_ptr<inspector::Inspector> inspector_;
};

}  // namespace

std::unique_ptr<Part> make_inspector_part() { return std::make_unique<InspectorPart>(); }

}  // namespace v6g::daemon
