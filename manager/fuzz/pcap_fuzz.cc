// libFuzzer target for capture input (`v6guardctl explain --pcap`): any bytes
// as a pcap/pcapng file through packet::read_pcap_bytes (libpcap + the
// cooked-capture conversion), then every frame through the packet parser.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "packet/packet.h"
#include "packet/pcap_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  const auto capture = v6g::packet::read_pcap_bytes(bytes);
  for (const auto& frame : capture.frames) {
    // A frame is never bigger than the file it came from (cooked headers of
    // 16/20 bytes become a 14-byte Ethernet header).
    if (frame.data.size() > size) std::abort();
    const auto parsed = v6g::packet::parse_frame(frame.data);
    if (!parsed.ok() && !v6g::is_drop(parsed.error())) std::abort();
  }
  return 0;
}
