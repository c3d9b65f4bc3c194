#include "npy_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace attnbench::trace {
namespace {

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw std::invalid_argument(fmt::format("{}: {}", path, why));
}

/// Value of 'key' in the header dict text (up to the next top-level comma or brace).
std::string dict_value(const std::string& dict, const std::string& key, const std::string& path) {
  const std::string k = "'" + key + "'";
  const size_t p = dict.find(k);
  if (p == std::string::npos) refuse(path, fmt::format("npy header has no '{}'", key));
  size_t c = dict.find(':', p + k.size());
  if (c == std::string::npos) refuse(path, "npy header dict is malformed");
  ++c;
  while (c < dict.size() && dict[c] == ' ') ++c;
  if (c < dict.size() && dict[c] == '(') {
    const size_t e = dict.find(')', c);
    if (e == std::string::npos) refuse(path, "npy header shape is not closed");
    return dict.substr(c, e - c + 1);
  }
  const size_t e = dict.find_first_of(",}", c);
  return dict.substr(c, e == std::string::npos ? std::string::npos : e - c);
}

}  // namespace

int64_t NpyHeader::elements() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: value man * 2^-24, normalised for float
      int e = -1;
      uint32_t m = man;
      do { m <<= 1, ++e; } while (!(m & 0x400u));
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (m & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 112) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

NpyHeader read_npy_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) refuse(path, "missing or unreadable");
  char pre[10];
  if (!in.read(pre, 8) || std::memcmp(pre, "\x93NUMPY", 6) != 0) refuse(path, "not an .npy file (bad magic)");
  const int major = static_cast<unsigned char>(pre[6]);
  size_t hlen = 0, prefix = 0;
  if (major == 1) {
    if (!in.read(pre + 8, 2)) refuse(path, "truncated npy header");
    hlen = static_cast<unsigned char>(pre[8]) | static_cast<unsigned char>(pre[9]) << 8;
    prefix = 10;
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char*>(b), 4)) refuse(path, "truncated npy header");
    hlen = b[0] | b[1] << 8 | b[2] << 16 | static_cast<size_t>(b[3]) << 24;
    prefix = 12;
  } else {
    refuse(path, fmt::format("unsupported npy format version {}", major));
  }
  if (hlen > (1u << 20)) refuse(path, "npy header is implausibly long");
  std::string dict(hlen, '\0');
  if (!in.read(dict.data(), static_cast<std::streamsize>(hlen))) refuse(path, "truncated npy header");
  NpyHeader h;
  h.data_offset = prefix + hlen;
  std::string descr = dict_value(dict, "descr", path);
  descr.erase(0, descr.find_first_not_of(" '\""));
  descr.erase(descr.find_last_not_of(" '\"") + 1);
  if (descr == "<f4" || descr == "=f4" || descr == "|f4") h.descr = "<f4", h.elem_bytes = 4;
  else if (descr == "<f2" || descr == "=f2" || descr == "|f2") h.descr = "<f2", h.elem_bytes = 2;
  else refuse(path, fmt::format("dtype '{}' is not float32 or float16 (little-endian '<f4'/'<f2')", descr));
  if (dict_value(dict, "fortran_order", path).find("False") == std::string::npos)
    refuse(path, "fortran_order arrays are not supported (save C-order arrays)");
  const std::string shape = dict_value(dict, "shape", path);
  static const std::regex num("[0-9]+");
  for (auto it = std::sregex_iterator(shape.begin(), shape.end(), num); it != std::sregex_iterator(); ++it) {
    if (it->str().size() > 12) refuse(path, "npy shape is out of range");
    h.shape.push_back(std::stoll(it->str()));
  }
  const auto expected = static_cast<uintmax_t>(h.data_offset) + static_cast<uintmax_t>(h.elements()) * h.elem_bytes;
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) refuse(path, "cannot read the file size");
  if (size < expected)
    refuse(path, fmt::format("truncated: shape ({}) needs {} bytes, the file has {}", fmt::join(h.shape, ", "), expected, size));
  return h;
}

std::vector<float> read_npy(const std::string& path, NpyHeader* header) {
  const NpyHeader h = read_npy_header(path);
  if (header) *header = h;
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(h.data_offset));
  const auto n = static_cast<size_t>(h.elements());
  std::vector<float> out(n);
  if (h.elem_bytes == 4) {
    if (!in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n * 4))) refuse(path, "truncated data");
  } else {
    std::vector<uint16_t> half(n);
    if (!in.read(reinterpret_cast<char*>(half.data()), static_cast<std::streamsize>(n * 2))) refuse(path, "truncated data");
    for (size_t i = 0; i < n; ++i) out[i] = half_to_float(half[i]);
  }
  return out;
}

void write_npy(const std::string& path, const std::vector<int64_t>& shape, const std::vector<float>& data) {
  std::string dict = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}{}), }}", fmt::join(shape, ", "),
                                 shape.size() == 1 ? "," : "");
  const size_t total = 10 + dict.size() + 1;
  dict += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write", path));
  const uint16_t len = static_cast<uint16_t>(dict.size());
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(static_cast<char>(len & 0xff)).put(static_cast<char>(len >> 8));
  out << dict;
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * sizeof(float)));
}

}  // namespace attnbench::trace
