// Bounds-checked big-endian reader over a byte span (in the spirit of QUICHE's
// QuicDataReader). Every read either succeeds completely or fails and leaves
// the position unchanged, so a parser can never step outside the frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace v6g::packet {

class Reader {
 public:
  explicit Reader(std::span<const std::byte> data, std::size_t pos = 0)
      : data_(data), pos_(pos <= data.size() ? pos : data.size()) {}

  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }
  bool has(std::size_t n) const { return n <= remaining(); }

  bool read_u8(std::uint8_t& out) {
    if (!has(1)) return false;
    out = byte_at(pos_);
    pos_ += 1;
    return true;
  }
  bool read_u16(std::uint16_t& out) {
    if (!has(2)) return false;
    out = static_cast<std::uint16_t>((byte_at(pos_) << 8) | byte_at(pos_ + 1));
    pos_ += 2;
    return true;
  }
  bool read_u32(std::uint32_t& out) {
    if (!has(4)) return false;
    out = (std::uint32_t{byte_at(pos_)} << 24) | (std::uint32_t{byte_at(pos_ + 1)} << 16) |
          (std::uint32_t{byte_at(pos_ + 2)} << 8) | std::uint32_t{byte_at(pos_ + 3)};
    pos_ += 4;
    return true;
  }
  // Copies exactly out.size() bytes.
  bool read_bytes(std::span<std::uint8_t> out) {
    if (!has(out.size())) return false;
    if (!out.empty()) std::memcpy(out.data(), data_.data() + pos_, out.size());
    pos_ += out.size();
    return true;
  }
  // A view of the next n bytes (no copy).
  bool read_span(std::size_t n, std::span<const std::byte>& out) {
    if (!has(n)) return false;
    out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool skip(std::size_t n) {
    if (!has(n)) return false;
    pos_ += n;
    return true;
  }

 private:
  std::uint8_t byte_at(std::size_t i) const { return std::to_integer<std::uint8_t>(data_[i]); }

  std::span<const std::byte> data_;
  std::size_t pos_;
};

}  // namespace v6g::packet
