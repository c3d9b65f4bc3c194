// Bit packing and fp16 scale storage shared by the quantisers (kivi, int8). Scales and
// zero points are stored as fp16 (as KIVI does), and dequantisation uses the rounded
// fp16 values, so the reported bytes are what a real cache would hold.
#pragma once

#include <cstdint>
#include <vector>

namespace attnbench::kv::detail {

/// Appends `bits`-wide codes into a packed little-endian byte stream.
class BitPacker {
 public:
  explicit BitPacker(int bits) : bits_(bits) {}
  void push(uint32_t code) {
    for (int b = 0; b < bits_; ++b, ++nbits_) {
      if (nbits_ % 8 == 0) bytes_.push_back(0);
      if ((code >> b) & 1u) bytes_.back() |= static_cast<uint8_t>(1u << (nbits_ % 8));
    }
  }
  /// Code number i.
  uint32_t get(uint64_t i) const {
    uint32_t c = 0;
    for (int b = 0; b < bits_; ++b) {
      const uint64_t n = i * bits_ + b;
      c |= static_cast<uint32_t>((bytes_[n / 8] >> (n % 8)) & 1u) << b;
    }
    return c;
  }
  uint64_t bytes() const { return bytes_.size(); }

 private:
  int bits_;
  uint64_t nbits_ = 0;
  std::vector<uint8_t> bytes_;
};

/// Rounds to fp16 and back (the value a stored fp16 scale holds).
inline float to_fp16(float x) { return static_cast<float>(static_cast<_Float16>(x)); }

}  // namespace attnbench::kv::detail
