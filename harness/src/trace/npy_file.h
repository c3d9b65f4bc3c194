// Minimal reader of NumPy .npy files (format versions 1.0, 2.0 and 3.0, C order,
// little-endian float32 or float16), enough for attention traces. Every malformed input
// is refused with a one-line std::invalid_argument that names the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnbench::trace {

/// What an .npy header says: element type and shape, and where the data starts.
struct NpyHeader {
  std::string descr;           ///< "<f4" or "<f2"
  std::vector<int64_t> shape;
  size_t data_offset = 0;      ///< bytes before the first element
  int elem_bytes = 0;          ///< 4 or 2
  /// Number of elements (product of the shape).
  int64_t elements() const;
};

/// Reads and checks the header of `path` (magic, version, dict, float32/float16, C order,
/// a file long enough for the data it declares). Throws std::invalid_argument
/// "PATH: reason" on any problem.
NpyHeader read_npy_header(const std::string& path);

/// Reads the whole array of `path` as float32 (float16 widened exactly); `header`
/// receives the header. Same errors as read_npy_header.
std::vector<float> read_npy(const std::string& path, NpyHeader* header = nullptr);

/// IEEE binary16 bits to float (subnormals, infinities and NaN included).
float half_to_float(uint16_t h);

/// Writes a float32 C-order .npy (version 1.0) of `shape`; for tests and tools.
void write_npy(const std::string& path, const std::vector<int64_t>& shape, const std::vector<float>& data);

}  // namespace attnbench::trace
