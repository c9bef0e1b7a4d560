#include "packet/pcap_reader.h"

#include <pcap/pcap.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace v6g::packet {
namespace {

constexpr int kDltEn10mb = DLT_EN10MB;
constexpr int kDltLinuxSll = DLT_LINUX_SLL;
#ifdef DLT_LINUX_SLL2
constexpr int kDltLinuxSll2 = DLT_LINUX_SLL2;
#else
constexpr int kDltLinuxSll2 = 276;
#endif

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

// Cooked header -> (protocol, source link address, payload offset).
bool cooked_to_ethernet(int dlt, const std::uint8_t* p, std::size_t len, PcapFrame& out) {
  std::uint16_t proto = 0;
  std::uint16_t halen = 0;
  const std::uint8_t* addr = nullptr;
  std::size_t hdr = 0;
  if (dlt == kDltLinuxSll) {  // type(2) arphrd(2) halen(2) addr(8) proto(2)
    hdr = 16;
    if (len < hdr) return false;
    halen = be16(p + 4);
    addr = p + 6;
    proto = be16(p + 14);
  } else {  // SLL2: proto(2) rsvd(2) ifindex(4) arphrd(2) type(1) halen(1) addr(8)
    hdr = 20;
    if (len < hdr) return false;
    proto = be16(p);
    halen = p[11];
    addr = p + 12;
  }
  std::uint8_t eth[14] = {};
  if (halen == 6) std::memcpy(eth + 6, addr, 6);
  eth[12] = static_cast<std::uint8_t>(proto >> 8);
  eth[13] = static_cast<std::uint8_t>(proto & 0xff);
  const auto* e = reinterpret_cast<const std::byte*>(eth);
  const auto* payload = reinterpret_cast<const std::byte*>(p + hdr);
  out.data.assign(e, e + sizeof eth);
  out.data.insert(out.data.end(), payload, payload + (len - hdr));
  return true;
}

using PcapHandle = std::unique_ptr<pcap_t, decltype(&pcap_close)>;

PcapFile read_frames(pcap_t* opened, const char* errbuf) {
  PcapFile result;
  PcapHandle pcap(opened, &pcap_close);
  if (!pcap) {
    result.error = errbuf;
    return result;
  }
  const int dlt = pcap_datalink(pcap.get());
  if (dlt != kDltEn10mb && dlt != kDltLinuxSll && dlt != kDltLinuxSll2) {
    result.error = std::string("unsupported link type ") +
                   (pcap_datalink_val_to_name(dlt) ? pcap_datalink_val_to_name(dlt) : "?");
    return result;
  }
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc = 0;
  while ((rc = pcap_next_ex(pcap.get(), &hdr, &data)) == 1) {
    PcapFrame f;
    f.timestamp_ns = static_cast<std::uint64_t>(hdr->ts.tv_sec) * 1000000000ULL +
                     static_cast<std::uint64_t>(hdr->ts.tv_usec);
    f.original_length = hdr->len;
    if (dlt == kDltEn10mb) {
      const auto* b = reinterpret_cast<const std::byte*>(data);
      f.data.assign(b, b + hdr->caplen);
    } else if (!cooked_to_ethernet(dlt, data, hdr->caplen, f)) {
      continue;  // runt cooked header: nothing to parse
    }
    result.frames.push_back(std::move(f));
  }
  if (rc == PCAP_ERROR) result.error = pcap_geterr(pcap.get());
  return result;
}

}  // namespace

PcapFile read_pcap(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  return read_frames(
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf),
      errbuf);
}

PcapFile read_pcap_bytes(std::span<const std::byte> capture) {
  if (capture.empty()) return PcapFile{{}, "empty capture"};
  // fmemopen only reads; libpcap owns the FILE from here and closes it.
  FILE* f = fmemopen(const_cast<std::byte*>(capture.data()), capture.size(), "rb");
  if (f == nullptr) return PcapFile{{}, std::string("fmemopen: ") + std::strerror(errno)};
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p == nullptr) std::fclose(f);
  return read_frames(p, errbuf);
}

}  // namespace v6g::packet
