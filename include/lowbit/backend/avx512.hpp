// lowbit — AVX-512 kernels: sixteen-lane conversions for dequantize and quantize (avx512), and
// int8 dots with vpdpbusd (avx512vnni). Operations not written here fall to the avx2 kernels
// through the candidate list.
#pragma once

#include <array>
#include <cstddef>
#include <limits>

#include "avx2.hpp"

#if defined(LOWBIT_HAS_X86_BACKENDS)

namespace lowbit::x86 {

// GCC 12's plain forms of several AVX-512 conversions start from _mm512_undefined_*(), which
// -Wmaybe-uninitialized reports in the user's build; the zero-masked forms with a full mask are
// the same instructions without that warning.
constexpr __mmask16 all16 = 0xFFFF;

/// Sixteen int8 -> sixteen floats.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512 i8_to_ps16(__m128i sixteen_bytes) noexcept {
    return _mm512_maskz_cvtepi32_ps(all16, _mm512_maskz_cvtepi8_epi32(all16, sixteen_bytes));
}

/// The sum of sixteen float lanes, in double: a tree of three additions of eight, not a chain of
/// sixteen.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 double sum_lanes(__m512 v) noexcept {
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, v);
    const __m512d eight = _mm512_add_pd(_mm512_maskz_cvtps_pd(0xFF, _mm256_load_ps(lanes)), _mm512_maskz_cvtps_pd(0xFF, _mm256_load_ps(lanes + 8)));
    alignas(64) double halves[8]; // (through memory: GCC 12's 512-to-256-bit extracts warn in the user's build)
    _mm512_store_pd(halves, eight);
    const __m256d four = _mm256_add_pd(_mm256_load_pd(halves), _mm256_load_pd(halves + 4));
    const __m128d two = _mm_add_pd(_mm256_castpd256_pd128(four), _mm256_extractf128_pd(four, 1));
    return _mm_cvtsd_f64(_mm_add_sd(two, _mm_unpackhi_pd(two, two)));
}

/// The sums of eight rows' two chains of sixteen lanes, in eight doubles: the lanes added in float (halves,
/// then three levels of pairwise additions across the vectors: about 25 operations for the eight
/// where sum_lanes takes about 15 for one), the totals widened. For multi-row dots of short rows:
/// eight sum_lanes cost eight-row f16 dots of 1024 values 10% of their time.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512d sum_lanes8(const __m512 (&acc)[8][2]) noexcept {
    __m256 h[8];
    for (int k = 0; k < 8; ++k) { // (each row's two chains first)
        const __m512 x = _mm512_add_ps(acc[k][0], acc[k][1]);
        h[k] = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xFF, x, 0), _mm512_maskz_extractf32x8_ps(0xFF, x, 1));
    }
    // hadd(a, b) = a0+a1, a2+a3, b0+b1, b2+b3 per 128-bit half: two levels leave, in each half,
    // the four vectors' partial sums in order
    const __m256 q0 = _mm256_hadd_ps(_mm256_hadd_ps(h[0], h[1]), _mm256_hadd_ps(h[2], h[3]));
    const __m256 q1 = _mm256_hadd_ps(_mm256_hadd_ps(h[4], h[5]), _mm256_hadd_ps(h[6], h[7]));
    // lane k of the low half plus lane k of the high half
    const __m256 sums = _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20), _mm256_permute2f128_ps(q0, q1, 0x31));
    return _mm512_maskz_cvtps_pd(0xFF, sums);
}

/// The multi-row dot of the float formats: eight rows against one partner row, W values per
/// vector, two chains per row; load(p) gives W values as the multiply-add madd(acc, a, b) takes
/// them, value(v) one value as a double for the tail. Written once as a macro and instantiated
/// per target, as LOWBIT_DEFINE_LEGACY_DOT is (the bf16 kernel needs AVX512-BF16 in the driver).
#define LOWBIT_DEFINE_FLOAT_DOT_ROWS(NAME, TARGET)                                                                                     \
    template <int W, class T, class Load, class Madd, class Value>                                                                  \
    LOWBIT_X86_INLINE TARGET void NAME(const T* x, std::size_t stride, const T* y, float* out, std::int64_t rows, std::int64_t n,  \
                                       Load load, Madd madd, Value value) noexcept {                                               \
        for (std::int64_t r0 = 0; r0 < rows; r0 += 8) {                                                                             \
            const auto row = row_group<8>(x, stride, r0, rows);                                                                     \
            __m512 acc[8][2];                                                                                                       \
            for (auto& a : acc) a[0] = a[1] = _mm512_setzero_ps();                                                                  \
            std::int64_t i = 0;                                                                                                     \
            for (; i + 2 * W <= n; i += 2 * W)                                                                                      \
                for (int h = 0; h < 2; ++h) {                                                                                       \
                    const auto yv = load(y + i + W * h);                                                                            \
                    for (int k = 0; k < 8; ++k) acc[k][h] = madd(acc[k][h], load(row[k] + i + W * h), yv);                         \
                }                                                                                                                   \
            for (; i + W <= n; i += W) {                                                                                            \
                const auto yv = load(y + i);                                                                                        \
                for (int k = 0; k < 8; ++k) acc[k][0] = madd(acc[k][0], load(row[k] + i), yv);                                     \
            }                                                                                                                       \
            alignas(64) double totals[8];                                                                                           \
            _mm512_store_pd(totals, sum_lanes8(acc));                                                                          \
            for (int k = 0; k < 8 && r0 + k < rows; ++k) {                                                                          \
                double total = totals[k];                                                                                           \
                for (std::int64_t j = i; j < n; ++j) total += value(row[k][j]) * value(y[j]);                                       \
                out[r0 + k] = static_cast<float>(total);                                                                            \
            }                                                                                                                       \
        }                                                                                                                           \
    }

LOWBIT_DEFINE_FLOAT_DOT_ROWS(float_dot_rows_avx512, LOWBIT_TARGET_AVX512)
LOWBIT_DEFINE_FLOAT_DOT_ROWS(float_dot_rows_avx512bf16, LOWBIT_TARGET_AVX512BF16)

template <bool Stream>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 void store16(float* y, __m512 v) noexcept {
    if constexpr (Stream) _mm512_stream_ps(y, v);
    else _mm512_storeu_ps(y, v);
}

/// Sixteen bytes from memory, each widened to a dword (zero-extended).
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512i widen_bytes16(const std::uint8_t* sixteen) noexcept {
    return _mm512_maskz_cvtepu8_epi32(all16, _mm_loadu_si128(reinterpret_cast<const __m128i*>(sixteen)));
}

/// Entry (index & 15) + 16 * (bit 4 of fifth) of a 32-value table held as two vectors, per lane:
/// vpermt2ps reads bits 0-4 of the index, bit 4 is taken from `fifth` by one ternlog (the bits
/// of either above bit 4 do not matter). For the table dequantizers of 5-bit codes.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512 pick32(__m512 table, __m512 table_hi, __m512i index, __m512i fifth) noexcept {
    return _mm512_permutex2var_ps(table, _mm512_ternarylogic_epi32(index, fifth, _mm512_set1_epi32(0x10), 0xD8), table_hi);
}

/// For the batched quantizers: 1 / d of sixteen block scales where d != 0 (NaN included) and 0
/// elsewhere, as the scalar path's `d != 0 ? 1 / d : 0`, into id; the mask of the finite ones
/// (a block whose 1 / d overflows goes the scalar way).
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __mmask16 inverse_scales(__m512 d, float* id) noexcept {
    const __m512 inverse = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ), _mm512_set1_ps(1.0f), d);
    _mm512_store_ps(id, inverse);
    return _mm512_cmp_ps_mask(_mm512_abs_ps(inverse), _mm512_set1_ps(std::numeric_limits<float>::infinity()), _CMP_NEQ_UQ);
}
/// Sixteen floats to f16 (round to nearest even), as numeric::f32_to_f16_bits.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m256i to_halves(__m512 v) noexcept {
    return _mm512_maskz_cvtps_ph(all16, v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/// The 32 codes of a legacy block as unsigned bytes (for the VNNI dots).
template <int Bits, bool Affine>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m256i legacy_codes_avx512(const typename formats::legacy_format<Bits, Affine>::block& b) noexcept {
    __m256i q = unpack_nibbles(b.qs);
    if constexpr (Bits == 5) { // the fifth bits are a byte mask: one masked add of 16
        std::uint32_t qh;
        std::memcpy(&qh, b.qh, 4);
        q = _mm256_mask_add_epi8(q, static_cast<__mmask32>(qh), q, _mm256_set1_epi8(0x10));
    }
    return q;
}

} // namespace lowbit::x86

namespace lowbit {

template <int Bits, bool Affine>
struct kernels<formats::legacy_format<Bits, Affine>, backend::avx512> {
    using F = formats::legacy_format<Bits, Affine>;
    using block = typename F::block;

    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static void dequantize_block(const block& x, __m512 d, __m512 m, float* y) noexcept {
        // The 16 or 32 values a code stands for, computed once with the scalar path's operations
        // ((code - offset) * d [+ m]); vpermps / vpermt2ps pick them by the low four / five bits
        // of each dword. A byte widened to a dword indexes its low nibble as it is and its high
        // nibble shifted right by four; value l's fifth bit, bit l of qh, is rotated to bit 4 of
        // lane l and put in by one ternlog. (Taking the fifth bits as masks, one masked permute
        // or or per 16 values, measured 10-25% slower on Sapphire Rapids.)
        constexpr float o = static_cast<float>(F::offset);
        const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        const auto values = [&](float first) LOWBIT_TARGET_AVX512 LOWBIT_LAMBDA_INLINE {
            const __m512 v = _mm512_mul_ps(_mm512_add_ps(iota, _mm512_set1_ps(first)), d); // (the sums are constants)
            if constexpr (Affine) return _mm512_add_ps(x86::opaque(v), m);
            else return v;
        };
        const __m512i codes = x86::widen_bytes16(x.qs), high_nibbles = _mm512_maskz_srli_epi32(x86::all16, codes, 4);
        if constexpr (Bits == 4) {
            const __m512 table = values(-o);
            x86::store16<Stream>(y, _mm512_maskz_permutexvar_ps(x86::all16, codes, table));
            x86::store16<Stream>(y + 16, _mm512_maskz_permutexvar_ps(x86::all16, high_nibbles, table));
        } else {
            const __m512 table = values(-o), table_hi = values(16 - o);
            std::uint32_t qh;
            std::memcpy(&qh, x.qh, 4);
            const __m512i bits = _mm512_set1_epi32(static_cast<int>(qh));
            // rotations left that bring bit l (lane l) and bit 16 + l (lane l) to bit 4
            const __m512i fifth_lo = _mm512_maskz_rolv_epi32(x86::all16, bits, _mm512_setr_epi32(4, 3, 2, 1, 0, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21));
            const __m512i fifth_hi = _mm512_maskz_rolv_epi32(x86::all16, bits, _mm512_setr_epi32(20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5));
            x86::store16<Stream>(y, x86::pick32(table, table_hi, codes, fifth_lo));
            x86::store16<Stream>(y + 16, x86::pick32(table, table_hi, high_nibbles, fifth_hi));
        }
    }

    LOWBIT_TARGET_AVX512 static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept {
        if (x86::worth_streaming(y, n)) {
            dequantize_impl<true>(x, y, n);
            _mm_sfence();
        } else {
            dequantize_impl<false>(x, y, n);
        }
    }

    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static void dequantize_impl(const block* x, float* y, std::int64_t n) noexcept {
        const std::int64_t nb = n / 32;
        std::int64_t i = 0;
        // eight blocks' scales converted while the eight before them are dequantized (see
        // kquants_x86.hpp's scales_ahead; a struct of the two buffers here measured 5-10% slower)
        alignas(32) float ds[2][8], ms[2][8] = {};
        if (nb >= 8) x86::block_scales8<Affine>(x, ds[0], ms[0]);
        for (int g = 0; i + 8 <= nb; i += 8, g ^= 1) {
            if (i + 16 <= nb) x86::block_scales8<Affine>(x + i + 8, ds[g ^ 1], ms[g ^ 1]);
            for (int k = 0; k < 8; ++k) dequantize_block<Stream>(x[i + k], _mm512_set1_ps(ds[g][k]), _mm512_set1_ps(ms[g][k]), y + 32 * (i + k));
        }
        for (int tail = static_cast<int>(nb - i); tail > 0; --tail, ++i) { // (fewer than eight: a bound GCC sees)
            float m = 0.0f;
            if constexpr (Affine) m = x86::half_to_float(x[i].m);
            dequantize_block<Stream>(x[i], _mm512_set1_ps(x86::half_to_float(x[i].d)), _mm512_set1_ps(m), y + 32 * i);
        }
    }

    /// Sixteen blocks at a time (x86::quantize_legacy_row), the codes in 512-bit halves.
    LOWBIT_TARGET_AVX512 static void quantize_row(const float* x, block* y, std::int64_t n, const float* imatrix) noexcept {
        x86::quantize_legacy_row<Bits, Affine, 16>(x, y, n, imatrix, scales16, codes);
    }

    /// The avx2 kernel's scales8 for sixteen blocks.
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static unsigned scales16(const float* lo, const float* hi, float* id, std::uint16_t* d16, std::uint16_t* m16) noexcept {
        const __m512 vlo = _mm512_load_ps(lo), vhi = _mm512_load_ps(hi);
        __m512 d;
        if constexpr (Affine) d = _mm512_div_ps(_mm512_sub_ps(vhi, vlo), _mm512_set1_ps(static_cast<float>(F::levels - 1)));
        else d = _mm512_div_ps(vhi, _mm512_set1_ps(static_cast<float>(-F::offset)));
        const __mmask16 finite = x86::inverse_scales(d, id);
        _mm256_store_si256(reinterpret_cast<__m256i*>(d16), x86::to_halves(d));
        if constexpr (Affine) _mm256_store_si256(reinterpret_cast<__m256i*>(m16), x86::to_halves(vlo));
        return finite;
    }

    /// x86::legacy_codes in two 512-bit halves: values 0-15 become the low nibbles, 16-31 the
    /// high ones, and the fifth bits are two compare masks.
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static void codes(const float* x, float min, float id, block& b) noexcept {
        const __m512 vid = _mm512_set1_ps(id);
        __m512i half[2];
        for (int h = 0; h < 2; ++h) {
            const __m512 v = _mm512_loadu_ps(x + 16 * h);
            __m512 t; // the AVX2 kernel's operations, lane for lane
            if constexpr (Affine) t = _mm512_add_ps(x86::opaque(_mm512_mul_ps(_mm512_sub_ps(v, _mm512_set1_ps(min)), vid)), _mm512_set1_ps(0.5f));
            else t = _mm512_add_ps(x86::opaque(_mm512_mul_ps(v, vid)), _mm512_set1_ps(static_cast<float>(F::offset) + 0.5f));
            half[h] = _mm512_maskz_min_epi32(x86::all16, _mm512_maskz_cvttps_epi32(x86::all16, t), _mm512_set1_epi32(F::levels - 1));
        }
        const __m128i lo = _mm512_maskz_cvtepi32_epi8(x86::all16, half[0]), hi = _mm512_maskz_cvtepi32_epi8(x86::all16, half[1]);
        const __m128i low4 = _mm_set1_epi8(0x0F);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(b.qs), _mm_or_si128(_mm_and_si128(lo, low4), _mm_slli_epi16(_mm_and_si128(hi, low4), 4)));
        if constexpr (Bits == 5) {
            const __m512i bit4 = _mm512_set1_epi32(0x10);
            const std::uint32_t qh = static_cast<std::uint32_t>(_mm512_test_epi32_mask(half[0], bit4)) |
                                     (static_cast<std::uint32_t>(_mm512_test_epi32_mask(half[1], bit4)) << 16);
            std::memcpy(b.qh, &qh, 4);
        }
    }
};

namespace x86 {
/// round(v), halfway cases away from zero (C's rule), exact for |v| < 2^23; see the AVX2 version.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512 round_half_away(__m512 v) noexcept {
    v = opaque(v);
    const __m512 t = _mm512_maskz_roundscale_ps(all16, v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
    const __m512 step = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
    return _mm512_mask_add_ps(t, _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ), t, step);
}
} // namespace x86

template <class F>
    requires std::same_as<F, formats::q8_0> || std::same_as<F, formats::q8_1>
struct kernels<F, backend::avx512> {
    using block = typename F::block;
    static constexpr bool has_sum = std::same_as<F, formats::q8_1>;

    /// Sixteen blocks at a time, as the legacy formats' quantizer: each block's largest
    /// magnitude, then the sixteen d = amax / 127, 1 / d and half-precision forms in vectors,
    /// then each block's codes (and q8_1's sums, their products with d converted together).
    LOWBIT_TARGET_AVX512 static void quantize_row(const float* x, block* y, std::int64_t n, const float* /*imatrix*/) noexcept {
        const std::int64_t nb = n / 32;
        std::int64_t i = 0;
        for (; i + 16 <= nb; i += 16) quantize16(x + 32 * i, y + i);
        for (; i < nb; ++i) {
            const float d = largest_magnitude(x + 32 * i) / 127.0f;
            const float id = d != 0.0f ? 1.0f / d : 0.0f;
            if (formats::impl::scale_overflows(id)) { // every code 0, as the scalar path writes
                F::quantize_row(x + 32 * i, y + i, 32, nullptr);
                continue;
            }
            const int sum = codes(x + 32 * i, id, y[i]);
            y[i].d = x86::float_to_half(d);
            if constexpr (has_sum) y[i].s = x86::float_to_half(detail::mul(static_cast<float>(sum), d));
        }
    }

    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static float largest_magnitude(const float* xb) noexcept {
        // (the reduction in 256-bit halves: GCC 12's 512-bit casts warn)
        const __m256 m = _mm256_max_ps(_mm256_max_ps(x86::abs_ps(_mm256_loadu_ps(xb)), x86::abs_ps(_mm256_loadu_ps(xb + 8))),
                                       _mm256_max_ps(x86::abs_ps(_mm256_loadu_ps(xb + 16)), x86::abs_ps(_mm256_loadu_ps(xb + 24))));
        return x86::hmax(m);
    }

    /// One block's codes round(x * id), halves away from zero; their sum.
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static int codes(const float* xb, float id, block& b) noexcept {
        const __m512 vid = _mm512_set1_ps(id);
        const __m512i qa = _mm512_maskz_cvtps_epi32(x86::all16, x86::round_half_away(_mm512_mul_ps(_mm512_loadu_ps(xb), vid)));
        const __m512i qb = _mm512_maskz_cvtps_epi32(x86::all16, x86::round_half_away(_mm512_mul_ps(_mm512_loadu_ps(xb + 16), vid)));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(b.qs), _mm512_maskz_cvtepi32_epi8(x86::all16, qa));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(b.qs + 16), _mm512_maskz_cvtepi32_epi8(x86::all16, qb));
        if constexpr (!has_sum) return 0;
        const __m512i s16 = _mm512_add_epi32(qa, qb);
        return x86::hsum_i32(_mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xF, s16, 0), _mm512_maskz_extracti64x4_epi64(0xF, s16, 1)));
    }

    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static void quantize16(const float* x, block* y) noexcept {
        alignas(64) float amax[16], id[16];
        alignas(64) int sums[16] = {};
        alignas(32) std::uint16_t d16[16], s16[16];
        for (int b = 0; b < 16; ++b) amax[b] = largest_magnitude(x + 32 * b);
        const __m512 d = _mm512_div_ps(_mm512_load_ps(amax), _mm512_set1_ps(127.0f));
        const unsigned usable = x86::inverse_scales(d, id); // a block whose 1 / d is infinite goes the scalar way
        _mm256_store_si256(reinterpret_cast<__m256i*>(d16), x86::to_halves(d));
        for (int b = 0; b < 16; ++b) {
            if (!((usable >> b) & 1u)) {
                F::quantize_row(x + 32 * b, y + b, 32, nullptr);
                continue;
            }
            sums[b] = codes(x + 32 * b, id[b], y[b]);
            y[b].d = f16{d16[b]};
        }
        if constexpr (has_sum) { // s = sum * d, unfused
            const __m512 products = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(x86::all16, _mm512_load_si512(sums)), d);
            _mm256_store_si256(reinterpret_cast<__m256i*>(s16), x86::to_halves(products));
            for (int b = 0; b < 16; ++b)
                if ((usable >> b) & 1u) y[b].s = f16{s16[b]};
        }
    }

    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static void dequantize_block(const block& x, __m512 d, float* y) noexcept {
        for (int h = 0; h < 2; ++h) {
            const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.qs + 16 * h));
            x86::store16<Stream>(y + 16 * h, _mm512_mul_ps(x86::i8_to_ps16(q), d));
        }
    }

    LOWBIT_TARGET_AVX512 static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept {
        if (x86::worth_streaming(y, n)) {
            dequantize_impl<true>(x, y, n);
            _mm_sfence();
        } else {
            dequantize_impl<false>(x, y, n);
        }
    }

    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static void dequantize_impl(const block* x, float* y, std::int64_t n) noexcept {
        const std::int64_t nb = n / 32;
        std::int64_t i = 0;
        // as the legacy formats' loop above
        alignas(32) float d[2][8];
        if (nb >= 8) _mm256_store_ps(d[0], x86::halves8<&block::d>(x));
        for (int g = 0; i + 8 <= nb; i += 8, g ^= 1) {
            if (i + 16 <= nb) _mm256_store_ps(d[g ^ 1], x86::halves8<&block::d>(x + i + 8));
            x86::through_memory(d);
            for (int k = 0; k < 8; ++k) dequantize_block<Stream>(x[i + k], _mm512_set1_ps(d[g][k]), y + 32 * (i + k));
        }
        for (; i < nb; ++i) dequantize_block<Stream>(x[i], _mm512_set1_ps(x86::half_to_float(x[i].d)), y + 32 * i);
    }
};

template <>
struct kernels<formats::f16, backend::avx512> {
    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static std::int64_t convert(const f16* x, float* y, std::int64_t n) noexcept {
        std::int64_t i = 0;
        for (; i + 16 <= n; i += 16)
            x86::store16<Stream>(y + i, _mm512_maskz_cvtph_ps(x86::all16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i))));
        return i;
    }
    LOWBIT_TARGET_AVX512 static void dequantize_row(const f16* x, float* y, std::int64_t n) noexcept {
        std::int64_t i;
        if (x86::worth_streaming(y, n)) {
            i = convert<true>(x, y, n);
            _mm_sfence();
        } else {
            i = convert<false>(x, y, n);
        }
        for (; i < n; ++i) y[i] = x86::half_to_float(x[i]);
    }
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static __m512 load(const f16* p) noexcept {
        return _mm512_maskz_cvtph_ps(x86::all16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
    /// Sixteen-lane float chains (the scalar path sums in double; any float dot rounds like this).
    LOWBIT_TARGET_AVX512 static float dot(const f16* x, const f16* y, std::int64_t n) noexcept {
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        std::int64_t i = 0;
        for (; i + 64 <= n; i += 64)
            for (int k = 0; k < 4; ++k) acc[k] = _mm512_fmadd_ps(load(x + i + 16 * k), load(y + i + 16 * k), acc[k]);
        for (; i + 16 <= n; i += 16) acc[0] = _mm512_fmadd_ps(load(x + i), load(y + i), acc[0]);
        const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        double total = x86::sum_lanes(sum);
        for (; i < n; ++i) total += static_cast<double>(x86::half_to_float(x[i])) * static_cast<double>(x86::half_to_float(y[i]));
        return static_cast<float>(total);
    }
    /// Eight rows against one partner row: the partner's conversion (2 of the 5 vector operations
    /// per 16 values of a one-row dot) done once for all eight.
    LOWBIT_TARGET_AVX512 static void dot_rows(const f16* x, std::size_t stride, const f16* y, float* out, std::int64_t rows,
                                              std::int64_t n) noexcept {
        // (the lambdas capture, so that they have no conversion to a function pointer, which GCC
        // would compile without the target and warn of its vector ABI)
        x86::float_dot_rows_avx512<16>(
            x, stride, y, out, rows, n, [&](const f16* p) LOWBIT_TARGET_AVX512 LOWBIT_LAMBDA_INLINE { return load(p); },
            [&](__m512 acc, __m512 a, __m512 b) LOWBIT_TARGET_AVX512 LOWBIT_LAMBDA_INLINE { return _mm512_fmadd_ps(a, b, acc); },
            [&](f16 v) LOWBIT_TARGET_AVX512 LOWBIT_LAMBDA_INLINE { return static_cast<double>(x86::half_to_float(v)); });
    }
    LOWBIT_TARGET_AVX512 static void quantize_row(const float* x, f16* y, std::int64_t n, const float*) noexcept {
        std::int64_t i = 0;
        for (; i + 16 <= n; i += 16)
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm512_maskz_cvtps_ph(x86::all16, _mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
        for (; i < n; ++i) y[i] = to_f16(x[i]);
    }
};

template <>
struct kernels<formats::bf16, backend::avx512> {
    /// f32 -> bf16 with the scalar rule (nearest even; NaN made quiet), sixteen lanes.
    LOWBIT_TARGET_AVX512 static void quantize_row(const float* x, bf16* y, std::int64_t n, const float*) noexcept {
        std::int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            const __m512i v = _mm512_castps_si512(_mm512_loadu_ps(x + i));
            const __m512i lsb = _mm512_and_si512(_mm512_maskz_srli_epi32(x86::all16, v, 16), _mm512_set1_epi32(1));
            const __m512i rounded = _mm512_maskz_srli_epi32(x86::all16, _mm512_add_epi32(_mm512_add_epi32(v, _mm512_set1_epi32(0x7fff)), lsb), 16);
            const __m512i quiet = _mm512_or_si512(_mm512_maskz_srli_epi32(x86::all16, v, 16), _mm512_set1_epi32(64));
            const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(v, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm512_maskz_cvtepi32_epi16(x86::all16, _mm512_mask_blend_epi32(nan, rounded, quiet)));
        }
        for (; i < n; ++i) y[i] = to_bf16(x[i]);
    }

    /// A bf16 is the high half of its float: interleaving 32 of them with zero words (vpunpcklwd /
    /// vpunpckhwd, one in-lane operation per 16 values) makes 32 floats, once the load's quadwords
    /// are put in the order those interleavings read them (one vpermq). Widening (vpmovzxwd, a
    /// lane-crossing operation per 16 values) and shifting was slower than the compiler's own
    /// vectorisation of the scalar path on Zen 5 (1.76 against 1.5 reference cycles per 32
    /// values); this form stores as fast as that, the bound of a dequantize that writes 128 bytes
    /// per 64 read.
    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static std::int64_t convert(const bf16* x, float* y, std::int64_t n) noexcept {
        // lane k of unpacklo reads quadword 2k, of unpackhi 2k + 1: values 4k.. and 16 + 4k..
        const __m512i order = _mm512_setr_epi64(0, 4, 1, 5, 2, 6, 3, 7);
        std::int64_t i = 0;
        for (; i + 32 <= n; i += 32) {
            const __m512i v = _mm512_maskz_permutexvar_epi64(0xFF, order, _mm512_loadu_si512(x + i));
            x86::store16<Stream>(y + i, _mm512_castsi512_ps(_mm512_unpacklo_epi16(_mm512_setzero_si512(), v)));
            x86::store16<Stream>(y + i + 16, _mm512_castsi512_ps(_mm512_unpackhi_epi16(_mm512_setzero_si512(), v)));
        }
        return i;
    }
    LOWBIT_TARGET_AVX512 static void dequantize_row(const bf16* x, float* y, std::int64_t n) noexcept {
        std::int64_t i;
        if (x86::worth_streaming(y, n)) {
            i = convert<true>(x, y, n);
            _mm_sfence();
        } else {
            i = convert<false>(x, y, n);
        }
        for (; i < n; ++i) y[i] = to_f32(x[i]);
    }
};

// ---------------------------------------------------------------------------------------------
// VNNI dots: vpdpbusd multiplies unsigned by signed bytes and sums each four into int32.

namespace x86 {

/// Eight int32 sums of (x - offset) * y for unsigned codes x: sum x*y, minus offset * sum y.
template <int Offset>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI __m256i dot_codes_vnni(__m256i x, __m256i y) noexcept {
    const __m256i xy = _mm256_dpbusd_epi32(_mm256_setzero_si256(), x, y);
    if constexpr (Offset == 0) return xy;
    else return _mm256_sub_epi32(xy, _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(Offset), y));
}

/// Dots of R rows with one partner row (the block formats of 32 values against q8_0 / q8_1).
/// Kernels::unsigned_codes(block) gives the 32 codes as unsigned bytes u, value = u - offset in
/// the first 16 and u / 2^high_shift - offset in the last 16 (Kernels::code_offset,
/// Kernels::high_shift: a 4-bit block's high nibbles stay in place, saving a shift; the lanes
/// of those sums are scaled back once, at the end, exactly). Per block the partner's bytes are
/// loaded once and its offset term (-offset * the sum of each four activations) computed once,
/// as the start of every row's vpdpbusd; a row then costs its codes, one vpdpbusd, one
/// conversion and one multiply-add.
template <class Kernels, int R, class XB, class YB>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI void legacy_dot_rows_vnni(const std::array<const XB*, R>& row, const YB* y, float* out, std::int64_t n) noexcept {
    constexpr bool with_min = requires(const XB& b) { b.m; };
    constexpr int offset = Kernels::code_offset, high_shift = Kernels::high_shift;
    static_assert((offset << high_shift) <= 255);
    const std::int64_t nb = n / 32;
    const __m256i zero = _mm256_setzero_si256();
    __m256 acc[R][2], mins[R];
    float tail_mins[R] = {};
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = mins[r] = _mm256_setzero_ps();
    const auto partner_base = [&](const __m256i qy) LOWBIT_TARGET_AVX512VNNI LOWBIT_LAMBDA_INLINE {
        if constexpr (offset == 0) return zero;
        else {
            const __m256i offsets = _mm256_set_m128i(_mm_set1_epi8(static_cast<char>(offset << high_shift)), _mm_set1_epi8(static_cast<char>(offset)));
            return _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, offsets, qy));
        }
    };
    std::int64_t i = 0;
    for (; i + 8 <= nb; i += 8) {
        alignas(32) float d[R][8];
        __m256 dy, sy; // the partner's scales (and sums), once for all rows
        leading_halves8<with_min>(y + i, dy, sy);
        for (int r = 0; r < R; ++r) scale_products8<with_min>(row[r] + i, dy, sy, d[r], mins[r]);
        for (int k = 0; k < 8; k += 2) { // (two chains per row, indexed by constants: kept in registers)
            const __m256i qy0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i + k].qs));
            const __m256i qy1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i + k + 1].qs));
            const __m256i base0 = partner_base(qy0), base1 = partner_base(qy1);
            for (int r = 0; r < R; ++r) {
                const __m256i s0 = _mm256_dpbusd_epi32(base0, Kernels::unsigned_codes(row[r][i + k]), qy0);
                const __m256i s1 = _mm256_dpbusd_epi32(base1, Kernels::unsigned_codes(row[r][i + k + 1]), qy1);
                acc[r][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), _mm256_broadcast_ss(&d[r][k]), acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), _mm256_broadcast_ss(&d[r][k + 1]), acc[r][1]);
            }
        }
    }
    for (; i < nb; ++i) {
        const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
        const __m256i base = partner_base(qy);
        const float dy = half_to_float(y[i].d);
        for (int r = 0; r < R; ++r) {
            const __m256i sums = _mm256_dpbusd_epi32(base, Kernels::unsigned_codes(row[r][i]), qy);
            acc[r][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(half_to_float(row[r][i].d) * dy), acc[r][0]);
            if constexpr (with_min) tail_mins[r] += half_to_float(row[r][i].m) * half_to_float(y[i].s);
        }
    }
    const __m256 unscale = _mm256_set_m128(_mm_set1_ps(1.0f / static_cast<float>(1 << high_shift)), _mm_set1_ps(1.0f));
    for (int r = 0; r < R; ++r) {
        const __m256 sums = _mm256_add_ps(acc[r][0], acc[r][1]);
        out[r] = hsum(_mm256_add_ps(high_shift ? _mm256_mul_ps(sums, unscale) : sums, mins[r])) + tail_mins[r];
    }
}

/// The f16 field `Field` of sixteen blocks as floats: blocks 0-7 in the low half, 8-15 in the
/// high half, each eight in the order of block_sums8 (x86::halves8 InPairs).
template <auto Field, class B>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512 halves16_in_pairs(const B* b) noexcept {
    const auto read = [](const B* p) { return [p](int k) { return (p[k].*Field).bits; }; };
    return _mm512_maskz_cvtph_ps(all16, _mm256_set_m128i(pack8<std::uint16_t, true>(read(b + 8)), pack8<std::uint16_t, true>(read(b))));
}

/// The 32 bytes at a and at b as one vector (two blocks' codes).
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512i load_pair(const void* a, const void* b) noexcept {
    return _mm512_maskz_inserti64x4(0xFF, _mm512_castsi256_si512(_mm256_loadu_si256(static_cast<const __m256i*>(a))),
                                    _mm256_loadu_si256(static_cast<const __m256i*>(b)), 1);
}

/// The int32 lane sums of eight blocks (pairs p01 .. p67, two blocks each, as Kernels::pair_sums
/// gives them) summed to four lanes per block: 128-bit lanes 0 and 1 hold halves of the sums of
/// blocks 0, 2, 4, 6, lanes 2 and 3 halves of those of blocks 1, 3, 5, 7 (a transposing tree of
/// in-lane unpacks and adds).
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512i half_sums8(__m512i p01, __m512i p23, __m512i p45, __m512i p67) noexcept {
    // in each 128-bit lane: the four partial sums of p01's and p23's blocks
    const __m512i a = _mm512_add_epi32(_mm512_maskz_unpacklo_epi32(all16, p01, p23), _mm512_maskz_unpackhi_epi32(all16, p01, p23));
    const __m512i b = _mm512_add_epi32(_mm512_maskz_unpacklo_epi32(all16, p45, p67), _mm512_maskz_unpackhi_epi32(all16, p45, p67));
    return _mm512_add_epi32(_mm512_maskz_unpacklo_epi64(0xFF, a, b), _mm512_maskz_unpackhi_epi64(0xFF, a, b));
}
/// Eight blocks' sums from half_sums8, in the order 0, 2, 4, 6, 1, 3, 5, 7.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m256i block_sums8(__m512i c) noexcept {
    const __m512i halves = _mm512_maskz_shuffle_i32x4(all16, c, c, _MM_SHUFFLE(3, 1, 2, 0));
    return _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xF, halves, 0), _mm512_maskz_extracti64x4_epi64(0xF, halves, 1));
}
/// Sixteen blocks' sums from the half_sums8 of blocks 0-7 and 8-15: each eight in block_sums8's
/// order, the first eight in the low half.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512i block_sums16(__m512i c0, __m512i c1) noexcept {
    return _mm512_add_epi32(_mm512_maskz_shuffle_i32x4(all16, c0, c1, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_maskz_shuffle_i32x4(all16, c0, c1, _MM_SHUFFLE(3, 1, 3, 1)));
}

/// The dots of R rows of a 32-value block format with one partner row, two blocks per 512-bit
/// vector. Per pair of partner blocks, their bytes qy and Kernels::pair_base(qy) (the offset
/// term, shared by the rows) are computed once; Kernels::pair_sums(x, qy, base) gives a row's
/// int32 lane sums for blocks x[0], x[1] (low and high half). Each row's sixteen (or eight)
/// blocks' sums are reduced to one vector before one conversion to float and one multiply-add
/// with the scale products (instead of one of each per block, as in legacy_dot); the f16 scales
/// are put together in general-purpose registers (pack8), the partner's once for all rows. The
/// mins' term of q4_1 / q5_1 is m_x * s_y per block.
template <class Kernels, int R, class XB, class YB>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI void legacy_dot_pairs(const std::array<const XB*, R>& row, const YB* y, float* out, std::int64_t n) noexcept {
    constexpr bool with_min = requires(const XB& b) { b.m; };
    if constexpr (with_min) static_assert(offsetof(XB, m) == 2 && offsetof(YB, s) == 2);
    const std::int64_t nb = n / 32;
    __m512 acc16[R], min_terms[R];
    __m256 acc[R];
    float tail_mins[R] = {};
    for (int r = 0; r < R; ++r) {
        acc16[r] = min_terms[r] = _mm512_setzero_ps();
        acc[r] = _mm256_setzero_ps();
    }
    // The half_sums8 of each row for blocks i .. i + 7, the partner's bytes loaded once.
    const auto half_sums = [&](std::int64_t i, __m512i (&c)[R]) LOWBIT_TARGET_AVX512VNNI LOWBIT_LAMBDA_INLINE {
        __m512i qy[4], base[4];
        for (int p = 0; p < 4; ++p) {
            qy[p] = load_pair(y[i + 2 * p].qs, y[i + 2 * p + 1].qs);
            base[p] = Kernels::pair_base(qy[p]);
        }
        for (int r = 0; r < R; ++r) {
            const auto sums = [&](int p) LOWBIT_TARGET_AVX512VNNI LOWBIT_LAMBDA_INLINE { return Kernels::pair_sums(row[r] + i + 2 * p, qy[p], base[p]); };
            c[r] = half_sums8(sums(0), sums(1), sums(2), sums(3));
        }
    };
    // With mins, the blocks' two leading f16 as floats give d_x * d_y and m_x * s_y in alternate
    // lanes (the even lanes of min_terms are dropped at the end).
    const auto heads = [](const auto* b) LOWBIT_TARGET_AVX512 LOWBIT_LAMBDA_INLINE { return _mm512_maskz_cvtph_ps(all16, heads8<true>(b)); };
    [[maybe_unused]] const auto head_products = [&](int r, std::int64_t i, __m512 y_heads) LOWBIT_TARGET_AVX512 LOWBIT_LAMBDA_INLINE {
        const __m512 products = _mm512_mul_ps(heads(row[r] + i), y_heads);
        min_terms[r] = _mm512_add_ps(min_terms[r], products);
        return products;
    };
    std::int64_t i = 0;
    for (; i + 16 <= nb; i += 16) {
        __m512i c0[R], c1[R];
        half_sums(i, c0);
        half_sums(i + 8, c1);
        [[maybe_unused]] __m512 y_heads0, y_heads1, dy;
        if constexpr (with_min) y_heads0 = heads(y + i), y_heads1 = heads(y + i + 8);
        else dy = halves16_in_pairs<&YB::d>(y + i);
        for (int r = 0; r < R; ++r) {
            __m512 d;
            if constexpr (with_min) {
                const __m512 p0 = head_products(r, i, y_heads0), p1 = head_products(r, i + 8, y_heads1);
                d = _mm512_permutex2var_ps(p0, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), p1);
            } else {
                d = _mm512_mul_ps(halves16_in_pairs<&XB::d>(row[r] + i), dy);
            }
            acc16[r] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(all16, block_sums16(c0[r], c1[r])), d, acc16[r]);
        }
    }
    for (; i + 8 <= nb; i += 8) {
        __m512i c[R];
        half_sums(i, c);
        [[maybe_unused]] __m512 y_heads;
        [[maybe_unused]] __m256 dy;
        if constexpr (with_min) y_heads = heads(y + i);
        else dy = halves8<&YB::d, true>(y + i);
        for (int r = 0; r < R; ++r) {
            __m256 d;
            if constexpr (with_min) d = _mm256_castsi256_ps(_mm512_maskz_cvtepi64_epi32(0xFF, _mm512_castps_si512(head_products(r, i, y_heads))));
            else d = _mm256_mul_ps(halves8<&XB::d, true>(row[r] + i), dy);
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_sums8(c[r])), d, acc[r]);
        }
    }
    for (; i < nb; ++i) {
        const float dy = half_to_float(y[i].d);
        for (int r = 0; r < R; ++r) {
            const __m256 d = _mm256_set1_ps(half_to_float(row[r][i].d) * dy);
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Kernels::block_sums(row[r][i], y[i])), d, acc[r]);
            if constexpr (with_min) tail_mins[r] += half_to_float(row[r][i].m) * half_to_float(y[i].s);
        }
    }
    for (int r = 0; r < R; ++r) {
        const __m512 all = _mm512_add_ps(acc16[r], _mm512_maskz_mov_ps(0xAAAA, min_terms[r])); // (no min terms: zero)
        out[r] = hsum(_mm256_add_ps(acc[r], _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xFF, all, 0), _mm512_maskz_extractf32x8_ps(0xFF, all, 1)))) +
                 tail_mins[r];
    }
}

/// Rows four at a time with legacy_dot_pairs (the last one to three as a pass of four, see row_group).
template <class Kernels, class XB, class YB>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI void dot_rows_pairs(const XB* x, std::size_t stride, const YB* y, float* out, std::int64_t rows, std::int64_t n) noexcept {
    for (std::int64_t r = 0; r < rows; r += 4) {
        float result[4];
        legacy_dot_pairs<Kernels, 4>(row_group<4>(x, stride, r, rows), y, result, n);
        for (std::int64_t k = 0; k < 4 && r + k < rows; ++k) out[r + k] = result[k];
    }
}

/// The codes of blocks b[0] and b[1] as unsigned bytes, b[0]'s in the low half.
template <int Bits, class B>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512i legacy_pair_codes(const B* b) noexcept {
    // 128-bit lanes: b[0].qs twice, b[1].qs twice; the second copy of each shifted to its high nibbles
    const __m512i qs = _mm512_mask_broadcast_i32x4(_mm512_maskz_broadcast_i32x4(all16, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[0].qs))),
                                                   0xFF00, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[1].qs)));
    __m512i codes = _mm512_and_si512(_mm512_mask_srli_epi16(qs, 0xFF00FF00u, qs, 4), _mm512_set1_epi8(0x0F));
    if constexpr (Bits == 5) { // the fifth bits as a byte mask: one masked add of 16
        // (loaded straight into mask registers: put together in general-purpose registers they
        // added to the integer work that bounds this dot)
        std::uint32_t h0, h1;
        std::memcpy(&h0, b[0].qh, 4);
        std::memcpy(&h1, b[1].qh, 4);
        const __mmask64 high = _cvtu64_mask64(std::uint64_t{h0} | std::uint64_t{h1} << 32);
        codes = _mm512_mask_add_epi8(codes, high, codes, _mm512_set1_epi8(0x10));
    }
    return codes;
}

/// Rows four at a time (the last one to three as a pass of four, see row_group).
template <class Kernels, class XB, class YB>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI void dot_rows_by4_vnni(const XB* x, std::size_t stride, const YB* y, float* out,
                                                                  std::int64_t rows, std::int64_t n) noexcept {
    for (std::int64_t r = 0; r < rows; r += 4) {
        float result[4];
        legacy_dot_rows_vnni<Kernels, 4>(row_group<4>(x, stride, r, rows), y, result, n);
        for (std::int64_t k = 0; k < 4 && r + k < rows; ++k) out[r + k] = result[k];
    }
}
} // namespace x86

template <int Bits, bool Affine>
struct kernels<formats::legacy_format<Bits, Affine>, backend::avx512vnni> {
    using F = formats::legacy_format<Bits, Affine>;
    using block = typename F::block;
    using partner_block = typename F::partner::block;

    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static __m256i block_sums(const block& x, const partner_block& y) noexcept {
        const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs));
        return x86::dot_codes_vnni<F::offset>(x86::legacy_codes_avx512<Bits, Affine>(x), qy);
    }

    // For several rows (x86::legacy_dot_rows_vnni): 4-bit codes with the high nibbles in place.
    static constexpr int code_offset = F::offset;
    static constexpr int high_shift = Bits == 4 ? 4 : 0;
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static __m256i unsigned_codes(const block& x) noexcept {
        if constexpr (Bits == 4) {
            return x86::nibbles_in_place(x.qs);
        } else {
            return x86::legacy_codes_avx512<Bits, Affine>(x);
        }
    }

    /// For x86::legacy_dot_pairs: the partner's offset term -offset * (the sum of each four bytes
    /// of qy), shared by the rows, and two blocks' int32 lane sums of (code - offset) * y.
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static __m512i pair_base(__m512i qy) noexcept {
        if constexpr (F::offset == 0) return _mm512_setzero_si512();
        else return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(F::offset), qy));
    }
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static __m512i pair_sums(const block* x, __m512i qy, __m512i base) noexcept {
        return _mm512_dpbusd_epi32(base, x86::legacy_pair_codes<Bits>(x), qy);
    }

    LOWBIT_TARGET_AVX512VNNI static float dot(const block* x, const partner_block* y, std::int64_t n) noexcept {
        float out;
        x86::legacy_dot_pairs<kernels, 1>(std::array<const block*, 1>{x}, y, &out, n);
        return out;
    }

    /// q4_0 four rows at a time with 256-bit vectors, its high nibbles in place
    /// (x86::legacy_dot_rows_vnni); the others two blocks per 512-bit vector (their extra work
    /// per block, the fifth bits or the mins, weighs less there). Each the faster on Zen 5.
    LOWBIT_TARGET_AVX512VNNI static void dot_rows(const block* x, std::size_t stride, const partner_block* y, float* out,
                                                  std::int64_t rows, std::int64_t n) noexcept {
        if constexpr (Bits == 4 && !Affine) x86::dot_rows_by4_vnni<kernels>(x, stride, y, out, rows, n);
        else x86::dot_rows_pairs<kernels>(x, stride, y, out, rows, n);
    }
};

template <class F>
    requires std::same_as<F, formats::q8_0> || std::same_as<F, formats::q8_1>
struct kernels<F, backend::avx512vnni> {
    using block = typename F::block;

    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static __m256i block_sums(const block& x, const block& y) noexcept {
        const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
        const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs));
        // |x| * (y with x's sign): the unsigned operand vpdpbusd needs
        return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx));
    }

    /// For x86::legacy_dot_pairs (one row), two blocks' int32 lane sums of x * y: x + 128 the
    /// unsigned operand, the 128 * sum(y) that adds taken off by starting from pair_base. (|x| and
    /// y negated where x is negative, through a mask register, measured 6% slower on Zen 5.)
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static __m512i pair_base(__m512i qy) noexcept {
        return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(0x80)), qy));
    }
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static __m512i pair_sums(const block* x, __m512i qy, __m512i base) noexcept {
        const __m512i qx = x86::load_pair(x[0].qs, x[1].qs);
        return _mm512_dpbusd_epi32(base, _mm512_xor_si512(qx, _mm512_set1_epi8(static_cast<char>(0x80))), qy);
    }

    LOWBIT_TARGET_AVX512VNNI static float dot(const block* x, const block* y, std::int64_t n) noexcept {
        float out;
        x86::legacy_dot_pairs<kernels, 1>(std::array<const block*, 1>{x}, y, &out, n);
        return out;
    }

    // For several rows: x + 128 as the unsigned operand, the 128 * sum(y) it adds taken off once
    // per partner block.
    static constexpr int code_offset = 128, high_shift = 0;
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static __m256i unsigned_codes(const block& x) noexcept {
        return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs)), _mm256_set1_epi8(static_cast<char>(0x80)));
    }
    /// Four rows at a time with 256-bit vectors (x86::legacy_dot_rows_vnni): 5-10% faster on Zen 5
    /// than two blocks per 512-bit vector, whose per-row scales and reductions outweigh there the
    /// partner's work it shares.
    LOWBIT_TARGET_AVX512VNNI static void dot_rows(const block* x, std::size_t stride, const block* y, float* out,
                                                  std::int64_t rows, std::int64_t n) noexcept {
        x86::dot_rows_by4_vnni<kernels>(x, stride, y, out, rows, n);
    }
};

// ---------------------------------------------------------------------------------------------
// bf16 with AVX512-BF16: the conversion from f32 with vcvtne2ps2bf16, and the dot with vdpbf16ps:
// products of bf16 pairs are exact in f32 and summed in f32 (inputs that are bf16 subnormals
// count as zero, a relative error far below the dot's own rounding).

template <>
struct kernels<formats::bf16, backend::avx512bf16> {
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512BF16 static __m512bh load(const bf16* p) noexcept {
        return (__m512bh)_mm512_loadu_si512(p);
    }

    /// f32 -> bf16, 32 values per vcvtne2ps2bf16: it rounds to nearest even and makes NaN quiet
    /// (the high half with bit 6 set) as the scalar rule does, but reads a subnormal input as a
    /// zero of its sign, so 32 values with a subnormal among them take the avx512 integer path.
    LOWBIT_TARGET_AVX512BF16 static void quantize_row(const float* x, bf16* y, std::int64_t n, const float* w) noexcept {
        constexpr int subnormal = 0x20; // vfpclassps category
        std::int64_t i = 0;
        for (; i + 32 <= n; i += 32) {
            const __m512 lo = _mm512_loadu_ps(x + i), hi = _mm512_loadu_ps(x + i + 16);
            if (_mm512_fpclass_ps_mask(lo, subnormal) | _mm512_fpclass_ps_mask(hi, subnormal)) [[unlikely]]
                kernels<formats::bf16, backend::avx512>::quantize_row(x + i, y + i, 32, w);
            else
                _mm512_storeu_si512(y + i, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
        kernels<formats::bf16, backend::avx512>::quantize_row(x + i, y + i, n - i, w);
    }
    LOWBIT_TARGET_AVX512BF16 static float dot(const bf16* x, const bf16* y, std::int64_t n) noexcept {
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        std::int64_t i = 0;
        for (; i + 128 <= n; i += 128)
            for (int k = 0; k < 4; ++k) acc[k] = _mm512_dpbf16_ps(acc[k], load(x + i + 32 * k), load(y + i + 32 * k));
        for (; i + 32 <= n; i += 32) acc[0] = _mm512_dpbf16_ps(acc[0], load(x + i), load(y + i));
        const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        double total = x86::sum_lanes(sum);
        for (; i < n; ++i) total += static_cast<double>(to_f32(x[i])) * static_cast<double>(to_f32(y[i]));
        return static_cast<float>(total);
    }
    /// Eight rows against one partner row: each 64-byte load of the partner serves eight
    /// vdpbf16ps, so a row's 32 values cost one load and one vdpbf16ps instead of two loads
    /// (a one-row dot is bound by its loads).
    LOWBIT_TARGET_AVX512BF16 static void dot_rows(const bf16* x, std::size_t stride, const bf16* y, float* out, std::int64_t rows,
                                                  std::int64_t n) noexcept {
        x86::float_dot_rows_avx512bf16<32>(
            x, stride, y, out, rows, n, [&](const bf16* p) LOWBIT_TARGET_AVX512BF16 LOWBIT_LAMBDA_INLINE { return load(p); },
            [&](__m512 acc, __m512bh a, __m512bh b) LOWBIT_TARGET_AVX512BF16 LOWBIT_LAMBDA_INLINE { return _mm512_dpbf16_ps(acc, a, b); },
            [&](bf16 v) LOWBIT_TARGET_AVX512BF16 LOWBIT_LAMBDA_INLINE { return static_cast<double>(to_f32(v)); });
    }
};

} // namespace lowbit

#endif
