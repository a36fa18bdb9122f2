// lowbit — AVX2 / AVX-512 kernels for the K-quants, written once against the format policy.
//
// Every K-quant code field follows one placement rule (formats/kquants.hpp, code_field): the
// 32 codes of an aligned 32-value slice sit in 32 consecutive bytes at one bit offset. So a
// slice's codes are one 32-byte load, a shift and a mask per field, whatever the format; the
// sub-block scales are decoded by the policy's own (scalar) decoder, once per 256 values.
#pragma once

#include "avx512.hpp"

#if defined(LOWBIT_HAS_X86_BACKENDS)

#include "../formats/kquants.hpp"

namespace lowbit::x86 {

/// The 32 codes (0 .. code_max) of slice `c` of a K-quant block, as bytes.
template <class K>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i kquant_codes(const typename K::block& b, int c) noexcept {
    using low = typename K::low;
    using high = typename K::high;
    const std::uint8_t* lo_bytes = b.*K::policy::low_field;
    __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo_bytes + low::byte_of(32 * c)));
    lo = _mm256_and_si256(_mm256_srli_epi16(lo, low::shift_of(32 * c)), _mm256_set1_epi8(static_cast<char>(low::mask)));
    if constexpr (high::bits > 0) {
        const std::uint8_t* hi_bytes = b.*K::policy::high_field;
        __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi_bytes + high::byte_of(32 * c)));
        hi = _mm256_and_si256(_mm256_srli_epi16(hi, high::shift_of(32 * c)), _mm256_set1_epi8(static_cast<char>(high::mask)));
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(hi, low::bits));
    }
    return lo;
}

/// Per sub-block: the float scale d*(sc - offset) and min dmin*mn, with the scalar path's roundings.
template <class K>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 void kquant_sub_scales(const typename K::block& b, float* dl, float* ml) noexcept {
    using scales = typename K::scales;
    int sc[K::nsub], mn[K::nsub];
    scales::decode(b.scales, sc, mn);
    const float d = half_to_float(b.d);
    for (int j = 0; j < K::nsub; ++j) dl[j] = d * static_cast<float>(sc[j] - scales::offset);
    if constexpr (K::affine) {
        const float dmin = half_to_float(b.dmin);
        for (int j = 0; j < K::nsub; ++j) ml[j] = dmin * static_cast<float>(mn[j]);
    }
}

} // namespace lowbit::x86

namespace lowbit {

template <class P>
struct kernels<formats::kquant_format<P>, backend::avx2> {
    struct K : formats::kquant_format<P> {
        using policy = P;
    };
    using block = typename P::block;

    LOWBIT_TARGET_AVX2 static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept {
        for (std::int64_t i = 0; i < n / 256; ++i) {
            float dl[K::nsub], ml[K::nsub];
            x86::kquant_sub_scales<K>(x[i], dl, ml);
            float* out = y + 256 * i;
            for (int c = 0; c < 8; ++c) {
                __m256i q = x86::kquant_codes<K>(x[i], c);
                if constexpr (!K::affine) q = _mm256_sub_epi8(q, _mm256_set1_epi8(static_cast<char>(K::code_offset)));
                const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
                const __m128i part[4] = {lo, _mm_unpackhi_epi64(lo, lo), hi, _mm_unpackhi_epi64(hi, hi)};
                for (int k = 0; k < 4; ++k) {
                    const int j = (32 * c + 8 * k) / K::sub;
                    __m256 v = _mm256_mul_ps(_mm256_set1_ps(dl[j]), x86::i8_to_ps(part[k]));
                    if constexpr (K::affine) v = _mm256_sub_ps(x86::opaque(v), _mm256_set1_ps(ml[j]));
                    _mm256_storeu_ps(out + 32 * c + 8 * k, v);
                }
            }
        }
    }

    LOWBIT_TARGET_AVX2 static float dot(const block* x, const formats::block_q8_K* y, std::int64_t n) noexcept {
        using scales = typename K::scales;
        float sum = 0.0f;
        for (std::int64_t i = 0; i < n / 256; ++i) {
            int sc[K::nsub], mn[K::nsub];
            scales::decode(x[i].scales, sc, mn);
            __m256i acc = _mm256_setzero_si256();
            for (int c = 0; c < 8; ++c) {
                const __m256i q = x86::kquant_codes<K>(x[i], c);
                const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 32 * c));
                const __m256i pairs = _mm256_maddubs_epi16(q, a); // codes <= 63: no saturation
                __m256i s;
                if constexpr (K::sub == 32) {
                    s = _mm256_set1_epi16(static_cast<short>(sc[c] - scales::offset));
                } else {
                    s = _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(sc[2 * c + 1] - scales::offset)),
                                         _mm_set1_epi16(static_cast<short>(sc[2 * c] - scales::offset)));
                }
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, s));
            }
            int total = x86::hsum_i32(acc);
            int summs = 0;
            for (int j = 0; j < 16; ++j) {
                const int sub = j * 16 / K::sub;
                if constexpr (K::affine) summs += y[i].bsums[j] * mn[sub];
                else total -= K::code_offset * (sc[sub] - scales::offset) * y[i].bsums[j];
            }
            sum += x86::half_to_float(x[i].d) * y[i].d * static_cast<float>(total);
            if constexpr (K::affine) sum -= x86::half_to_float(x[i].dmin) * y[i].d * static_cast<float>(summs);
        }
        return sum;
    }
};

template <class P>
struct kernels<formats::kquant_format<P>, backend::avx512> {
    struct K : formats::kquant_format<P> {
        using policy = P;
    };
    using block = typename P::block;

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
        for (std::int64_t i = 0; i < n / 256; ++i) {
            float dl[K::nsub], ml[K::nsub];
            x86::kquant_sub_scales<K>(x[i], dl, ml);
            float* out = y + 256 * i;
            for (int c = 0; c < 8; ++c) {
                __m256i q = x86::kquant_codes<K>(x[i], c);
                if constexpr (!K::affine) q = _mm256_sub_epi8(q, _mm256_set1_epi8(static_cast<char>(K::code_offset)));
                const __m128i half[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};
                for (int h = 0; h < 2; ++h) {
                    const int j = (32 * c + 16 * h) / K::sub;
                    __m512 v = _mm512_mul_ps(_mm512_set1_ps(dl[j]), x86::i8_to_ps16(half[h]));
                    if constexpr (K::affine) v = _mm512_sub_ps(x86::opaque(v), _mm512_set1_ps(ml[j]));
                    x86::store16<Stream>(out + 32 * c + 16 * h, v);
                }
            }
        }
    }
};

// q8_K: the activations of every K-quant dot.
template <>
struct kernels<formats::q8_K, backend::avx2> {
    using block = formats::block_q8_K;

    LOWBIT_TARGET_AVX2 static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept {
        for (std::int64_t i = 0; i < n / 256; ++i) {
            const __m256 d = _mm256_set1_ps(x[i].d);
            for (int k = 0; k < 32; ++k) {
                const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x[i].qs + 8 * k));
                _mm256_storeu_ps(y + 256 * i + 8 * k, _mm256_mul_ps(d, x86::i8_to_ps(b)));
            }
        }
    }

    LOWBIT_TARGET_AVX2 static void quantize_row(const float* x, block* y, std::int64_t n, const float* /*imatrix*/) noexcept {
        for (std::int64_t i = 0; i < n / 256; ++i, x += 256) {
            __m256 m = _mm256_setzero_ps();
            for (int k = 0; k < 32; ++k) m = _mm256_max_ps(m, x86::abs_ps(_mm256_loadu_ps(x + 8 * k)));
            const float amax = x86::hmax(m);
            y[i] = block{};
            if (amax == 0.0f) continue;
            // the first value of largest magnitude sets the sign of the scale
            const __m256 va = _mm256_set1_ps(amax);
            int first = 0;
            for (int k = 0; k < 32; ++k) {
                const int hits = _mm256_movemask_ps(_mm256_cmp_ps(x86::abs_ps(_mm256_loadu_ps(x + 8 * k)), va, _CMP_EQ_OQ));
                if (hits) {
                    first = 8 * k + __builtin_ctz(static_cast<unsigned>(hits));
                    break;
                }
            }
            const float iscale = -127.0f / x[first];
            const __m256 vs = _mm256_set1_ps(iscale);
            const __m256i top = _mm256_set1_epi32(127);
            for (int k = 0; k < 8; ++k) {
                __m256i c[4];
                for (int l = 0; l < 4; ++l) // round to nearest even, as nearest_int does for |v| <= 127
                    c[l] = _mm256_min_epi32(_mm256_cvtps_epi32(x86::opaque(_mm256_mul_ps(vs, _mm256_loadu_ps(x + 32 * k + 8 * l)))), top);
                const __m256i q = x86::pack_i32_to_i8(c[0], c[1], c[2], c[3]);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs + 32 * k), q);
                // sums per 16: pairs of int8 -> int16, then across the 8 pairs of each half
                const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);
                __m256i s = _mm256_madd_epi16(s16, _mm256_set1_epi16(1)); // 8 x int32, 4 per 16 values... (by 4)
                s = _mm256_hadd_epi32(s, s);
                s = _mm256_hadd_epi32(s, s); // lane 0: sum of 16 values of the low half, lane 4: high half
                y[i].bsums[2 * k] = static_cast<std::int16_t>(_mm256_extract_epi32(s, 0));
                y[i].bsums[2 * k + 1] = static_cast<std::int16_t>(_mm256_extract_epi32(s, 4));
            }
            y[i].d = 1 / iscale;
        }
    }
};

} // namespace lowbit

#endif
