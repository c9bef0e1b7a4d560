// Thin libpcap reader: a capture file into Ethernet frames, for tests and
// `v6guardctl explain --pcap`. Linux cooked captures (tcpdump -i any, SLL and
// SLL2) are turned into Ethernet frames with a synthetic header so the same
// parser applies: destination MAC is zero (SLL doesn't record it), source MAC
// is the link-layer address SLL recorded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace v6g::packet {

struct PcapFrame {
  std::vector<std::byte> data;  // Ethernet frame
  std::uint64_t timestamp_ns = 0;
  std::uint32_t original_length = 0;  // on the wire (data may be snapped)
};

struct PcapFile {
  std::vector<PcapFrame> frames;
  std::string error;  // empty on success
  bool ok() const { return error.empty(); }
};

PcapFile read_pcap(const std::string& path);
// The same from a capture already in memory (an upload, a fuzzer input).
PcapFile read_pcap_bytes(std::span<const std::byte> capture);

}  // namespace v6g::packet
