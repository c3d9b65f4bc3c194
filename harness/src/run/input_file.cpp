#include "input_file.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <type_traits>

namespace attnbench {
namespace {

constexpr char kMagic[8] = {'A', 'B', 'I', 'N', 'P', 'U', 'T', '1'};

template <typename T>
void put(std::ofstream& f, const T& v) {
  f.write(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
void put_vector(std::ofstream& f, const std::vector<T>& v) {
  put(f, static_cast<uint64_t>(v.size()));
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
}

template <typename T>
bool get(std::ifstream& f, T& v) {
  return static_cast<bool>(f.read(reinterpret_cast<char*>(&v), sizeof v));
}

/// Reads a vector whose element count must fit in what is left of the file.
template <typename T>
bool get_vector(std::ifstream& f, uint64_t left, std::vector<T>& v) {
  uint64_t n = 0;
  if (!get(f, n) || n > left / sizeof(T)) return false;
  if constexpr (std::is_same_v<T, float>) resize_with_huge_pages(v, n);
  else v.resize(n);
  return static_cast<bool>(f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(T))));
}

}  // namespace

std::string input_file_name(const std::string& key) {
  return fmt::format("inputs-{:016x}.bin", std::hash<std::string>{}(key));
}

bool save_inputs(const std::string& path, const std::string& key, const HostInputs& in) {
  const std::string tmp = fmt::format("{}.{}.tmp", path, getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return false;
    f.write(kMagic, sizeof kMagic);
    put(f, static_cast<uint64_t>(key.size()));
    f.write(key.data(), static_cast<std::streamsize>(key.size()));
    put_vector(f, in.q);
    put_vector(f, in.k);
    put_vector(f, in.v);
    put_vector(f, in.seq_len_q);
    put_vector(f, in.seq_len_k);
    put_vector(f, in.block_table);
    put(f, static_cast<int64_t>(in.max_pages_per_seq));
    put(f, static_cast<int64_t>(in.num_pages));
    if (!f.flush()) {
      f.close();
      std::remove(tmp.c_str());
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::remove(tmp.c_str());
  return !ec;
}

std::optional<HostInputs> load_inputs(const std::string& path, const std::string& key) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return std::nullopt;
  std::ifstream f(path, std::ios::binary);
  char magic[sizeof kMagic];
  uint64_t key_size = 0;
  if (!f.read(magic, sizeof magic) || !std::equal(magic, magic + sizeof magic, kMagic) || !get(f, key_size) ||
      key_size != key.size())
    return std::nullopt;
  std::string stored(key_size, '\0');
  if (!f.read(stored.data(), static_cast<std::streamsize>(key_size)) || stored != key) return std::nullopt;
  HostInputs in;
  int64_t max_pages = 0, pages = 0;
  if (!get_vector(f, size, in.q) || !get_vector(f, size, in.k) || !get_vector(f, size, in.v) ||
      !get_vector(f, size, in.seq_len_q) || !get_vector(f, size, in.seq_len_k) || !get_vector(f, size, in.block_table) ||
      !get(f, max_pages) || !get(f, pages))
    return std::nullopt;
  in.max_pages_per_seq = static_cast<int>(max_pages);
  in.num_pages = static_cast<int>(pages);
  return in;
}

}  // namespace attnbench
