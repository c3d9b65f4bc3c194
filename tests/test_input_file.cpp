// Inputs shared between worker processes (input_file.h): what one worker saves, the
// next reads back bit for bit, and a file that is not exactly what was asked for (another
// key, cut short, missing) is refused so the worker generates the inputs itself.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "case_executor.h"
#include "case_inputs.h"
#include "cli_harness.h"
#include "input_file.h"

using namespace attnbench;
using attnbench::test::TempDir;

namespace {

Shape paged_varlen_shape() {
  Shape s;
  s.batch = 3, s.heads_q = 4, s.heads_kv = 2, s.len_q = 1, s.len_k = 96, s.head_dim = 32;
  s.dtype = AB_BF16, s.page_size = 16, s.varlen = true;
  return s;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("saved inputs read back identical; another key, a cut file or none is refused") {
  TempDir t;
  const Shape s = paged_varlen_shape();
  const HostInputs in = make_inputs(s, 7);
  REQUIRE_FALSE(in.block_table.empty());
  REQUIRE_FALSE(in.seq_len_k.empty());
  const std::string path = t / input_file_name("key-1");
  REQUIRE(save_inputs(path, "key-1", in));

  const auto back = load_inputs(path, "key-1");
  REQUIRE(back);
  CHECK(same_bits(back->q, in.q));
  CHECK(same_bits(back->k, in.k));
  CHECK(same_bits(back->v, in.v));
  CHECK(back->seq_len_q == in.seq_len_q);
  CHECK(back->seq_len_k == in.seq_len_k);
  CHECK(back->block_table == in.block_table);
  CHECK(back->max_pages_per_seq == in.max_pages_per_seq);
  CHECK(back->num_pages == in.num_pages);

  CHECK_FALSE(load_inputs(path, "key-2"));  // a name collision is not a hit
  CHECK_FALSE(load_inputs(t / "absent.bin", "key-1"));
  const auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 5);
  CHECK_FALSE(load_inputs(path, "key-1"));
  std::filesystem::resize_file(path, 10);
  CHECK_FALSE(load_inputs(path, "key-1"));
  CHECK(input_file_name("a") != input_file_name("b"));
  CHECK_FALSE(save_inputs((t.path / "no-such-dir" / "x.bin").string(), "k", in));  // refused, nothing thrown
}

TEST_CASE("a worker's input cache reads what another saved in the shared folder") {
  TempDir t;
  const Shape s = paged_varlen_shape();
  InputCache first;
  first.set_shared_dir(t.path.string());
  const HostInputs& made = first.get(s, 11);
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(t.path)) files += e.path().extension() == ".bin";
  CHECK(files == 1);  // saved for the next worker, no temporary left behind
  // Mark the saved copy: a second cache returns the file's values, not regenerated ones.
  const std::string path = std::filesystem::directory_iterator(t.path)->path().string();
  auto saved = load_inputs(path, s.canonical() + "#11");
  REQUIRE(saved);
  saved->q[0] = 12345.0f;
  REQUIRE(save_inputs(path, s.canonical() + "#11", *saved));
  InputCache second;
  second.set_shared_dir(t.path.string());
  CHECK(second.get(s, 11).q[0] == 12345.0f);
  CHECK(second.get(s, 11).k == made.k);
  // Without a shared folder nothing is read or written.
  InputCache alone;
  CHECK(alone.get(s, 11).q[0] == made.q[0]);
}
