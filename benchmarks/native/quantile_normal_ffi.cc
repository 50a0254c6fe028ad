// A native (C++, XLA FFI) form of the library's simulation noise generator, for
// bench_noise_native.py only: the same numbers as lowrank_rnn.dynamics.quantile_normal_from_words,
// bit for bit, drawn 16 lanes at a time with AVX-512 (a scalar loop elsewhere).
//
// Element (r, c) of the (rows, cols) output has the generator index j = r * row_stride + c * col_stride
// and the value  +-half[h]  with  u = lowbias32((j ^ w0) * (w1 | 1)),  idx = u >> 16  (the 16-bit
// quantile index), the sign bit idx >> 15, h = (idx & 0x7FFF) ^ (sign ? 0x7FFF : 0): the library's
// table is exactly antisymmetric, so its negative half (32768 floats, 128 KB) is enough.
#include <cstdint>
#include <immintrin.h>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

inline uint32_t lowbias32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  return x ^ (x >> 16);
}

inline float draw_one(uint32_t j, uint32_t w0, uint32_t w1, const float* half) {
  const uint32_t idx = lowbias32((j ^ w0) * w1) >> 16;
  const uint32_t sign = idx >> 15;
  const float v = half[(idx & 0x7FFFu) ^ (sign * 0x7FFFu)];
  return sign ? -v : v;
}

__attribute__((target("avx512f"))) inline __m512 draw_16(__m512i j, __m512i w0, __m512i w1, const float* half) {
  __m512i x = _mm512_mullo_epi32(_mm512_xor_si512(j, w0), w1);
  x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
  x = _mm512_mullo_epi32(x, _mm512_set1_epi32(0x7FEB352D));
  x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 15));
  x = _mm512_mullo_epi32(x, _mm512_set1_epi32(static_cast<int>(0x846CA68Bu)));
  x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
  const __m512i sign = _mm512_srai_epi32(x, 31);  // all ones where the top bit is set
  const __m512i h = _mm512_and_si512(_mm512_xor_si512(_mm512_srli_epi32(x, 16), sign), _mm512_set1_epi32(0x7FFF));
  const __m512 v = _mm512_i32gather_ps(h, half, 4);
  return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_slli_epi32(sign, 31)));
}

__attribute__((target("avx512f"))) void fill_avx512(uint32_t w0, uint32_t w1, const float* half, float* out,
                                                    uint32_t rows, uint32_t cols, uint32_t row_stride,
                                                    uint32_t col_stride) {
  const __m512i vw0 = _mm512_set1_epi32(static_cast<int>(w0)), vw1 = _mm512_set1_epi32(static_cast<int>(w1));
  const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(static_cast<int>(col_stride)));
  for (uint32_t r = 0; r < rows; ++r) {
    float* row = out + static_cast<size_t>(r) * cols;
    uint32_t c = 0;
    for (; c + 16 <= cols; c += 16) {
      const __m512i j = _mm512_add_epi32(lanes, _mm512_set1_epi32(static_cast<int>(r * row_stride + c * col_stride)));
      _mm512_storeu_ps(row + c, draw_16(j, vw0, vw1, half));
    }
    for (; c < cols; ++c) row[c] = draw_one(r * row_stride + c * col_stride, w0, w1, half);
  }
}

void fill_scalar(uint32_t w0, uint32_t w1, const float* half, float* out, uint32_t rows, uint32_t cols,
                 uint32_t row_stride, uint32_t col_stride) {
  for (uint32_t r = 0; r < rows; ++r)
    for (uint32_t c = 0; c < cols; ++c)
      out[static_cast<size_t>(r) * cols + c] = draw_one(r * row_stride + c * col_stride, w0, w1, half);
}

ffi::Error QuantileNormalImpl(ffi::Buffer<ffi::U32> words, ffi::Buffer<ffi::F32> half,
                              ffi::ResultBuffer<ffi::F32> out, int64_t rows, int64_t cols, int64_t row_stride,
                              int64_t col_stride) {
  const uint32_t w0 = words.typed_data()[0];
  const uint32_t w1 = words.typed_data()[1] | 1u;
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  (avx512 ? fill_avx512 : fill_scalar)(w0, w1, half.typed_data(), out->typed_data(), rows, cols, row_stride,
                                       col_stride);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(QuantileNormal, QuantileNormalImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::U32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("rows")
                                  .Attr<int64_t>("cols")
                                  .Attr<int64_t>("row_stride")
                                  .Attr<int64_t>("col_stride"));
