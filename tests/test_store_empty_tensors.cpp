// Empty tensors reach the dtype conversions with null pointers (a zero-length row, a
// batch without keys). memcpy(nullptr, nullptr, 0) and nullptr + 0 offsets are UB that
// UBSan reports; the normal build passes either way, scripts/test-sanitize.sh is what
// catches a regression here.
#include <catch2/catch.hpp>

#include <vector>

#include "attnbench/dtype.h"
#include "tensor_access.h"

using namespace attnbench;

TEST_CASE("encode and decode of zero elements touch nothing, null pointers included") {
  for (ab_dtype t : {AB_F32, AB_BF16, AB_F16}) {
    encode(t, nullptr, nullptr, 0);
    decode(t, nullptr, nullptr, 0);
    float sentinel = 7.0f;
    decode(t, nullptr, &sentinel, 0);
    CHECK(sentinel == 7.0f);
  }
}

TEST_CASE("row loads and stores of zero elements touch nothing, null pointers included") {
  for (ab_dtype t : {AB_F32, AB_BF16, AB_F16}) {
    cpu::load_row_f32(t, nullptr, 0, nullptr, 0);
    cpu::load_row_f32(t, nullptr, 128, nullptr, 0);  // an offset into an empty tensor
    cpu::store_row(t, nullptr, 0, nullptr, 0);
    cpu::store_zero_row(t, nullptr, 0, 0);
  }
  // Non-empty rows still convert (the guard is only for n == 0).
  const std::vector<float> in = {1.0f, -2.5f, 0.375f};
  std::vector<uint16_t> stored(3);
  std::vector<float> out(3);
  encode(AB_BF16, in.data(), stored.data(), in.size());
  cpu::load_row_f32(AB_BF16, stored.data(), 0, out.data(), 3);
  CHECK(out == in);
}
