// lowbit — AVX2 / AVX-512 kernels for the K-quants, written once against the format policy.
//
// Every K-quant code field follows one placement rule (formats/kquants.hpp, code_field): the
// 32 codes of an aligned 32-value slice sit in 32 consecutive bytes at one bit offset. So a
// slice's codes are one 32-byte load, a shift and a mask per field, whatever the format; the
// sub-block scales are decoded by the policy's own (scalar) decoder, once per 256 values.
#pragma once

#include "avx512.hpp"
#include "kquant_search_x86.hpp"

#if defined(LOWBIT_HAS_X86_BACKENDS)

#include "../formats/kquants.hpp"

#include <cmath>
#include <bit>
#include <cstddef>
#include <utility>

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

/// The codes of values V .. V + 7 (V a multiple of 8) of a K-quant block with one code field,
/// in the low bits of eight dwords: the field's eight bytes widened by one zero-extending load,
/// shifted and masked. With Clean the bits above the code are zero; without, a code below the
/// top of its byte keeps the codes above it (vpermps reads only the low three bits).
template <class K, int V, bool Clean>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i kquant_codes8(const typename K::block& b) noexcept {
    using low = typename K::low;
    static_assert(K::high::bits == 0 && V % 8 == 0 && V >= 0 && V < 256);
    constexpr int slice = V / 32 * 32, shift = low::shift_of(slice);
    __m256i code = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.*K::policy::low_field + low::byte_of(slice) + V % 32)));
    if constexpr (shift != 0) code = _mm256_srli_epi32(code, shift);
    if constexpr (Clean && shift + low::bits != 8) code = _mm256_and_si256(code, _mm256_set1_epi32(static_cast<int>(low::mask)));
    return code;
}

/// A register of 32 codes (as from kquant_codes) arranged for widen8_spread: dwords 0, 2, 4, 6
/// (bytes 8g .. 8g+3) in the low 128 bits, dwords 1, 3, 5, 7 (bytes 8g+4 .. 8g+7) in the high
/// ones. Byte-wise operations after it keep the arrangement.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i spread_for_widen(__m256i bytes) noexcept {
    return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
}

/// Bytes 8G .. 8G+7 of the 32 before spread_for_widen, zero-extended to dwords: one in-lane
/// byte shuffle, where widening from the register's halves (vpmovzxbd) needs two operations
/// for G > 0. On an AVX2-only Zen 4: q5_K 7.3 -> 6.7, q3_K 7.0 -> 6.7, q6_K 8.2 -> 7.9
/// reference cycles per 32 values.
template <int G>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i widen8_spread(__m256i spread) noexcept {
    static_assert(G >= 0 && G < 4);
    constexpr char z = -128, b = 4 * G;
    return _mm256_shuffle_epi8(spread, _mm256_setr_epi8(b, z, z, z, b + 1, z, z, z, b + 2, z, z, z, b + 3, z, z, z,
                                                        b, z, z, z, b + 1, z, z, z, b + 2, z, z, z, b + 3, z, z, z));
}

/// The 16 bytes from a block's six-bit scale/min field on: the field's 12 and the first four
/// bytes after it, which are still the block's own.
template <class B>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m128i six_bit_scale_field(const B& b) noexcept {
    static_assert(offsetof(B, scales) + 16 <= sizeof(B));
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const unsigned char*>(&b) + offsetof(B, scales)));
}

/// Six-bit scale/min fields, one per 128-bit lane, unpacked to the lane's eight scales followed
/// by its eight mins. Of a field's dwords, w0 holds scales 0-3 (+ the top bits of scales 4-7),
/// w1 mins 0-3 (+ the top bits of mins 4-7), w2 the low nibble scale and high nibble min of
/// 4-7; per byte the result is [w0 & 3f, (w2 & 0f) | (w0 >> 2 & 30), w1 & 3f,
/// (w2 >> 4 & 0f) | (w1 >> 2 & 30)].
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i unpack_six_bit_scale_min(__m256i w) noexcept {
    const __m256i low = _mm256_srlv_epi32(_mm256_shuffle_epi32(w, _MM_SHUFFLE(2, 1, 2, 0)), _mm256_setr_epi32(0, 0, 0, 4, 0, 0, 0, 4));
    const __m256i top = _mm256_srli_epi32(_mm256_shuffle_epi32(w, _MM_SHUFFLE(1, 1, 0, 0)), 2);
    return _mm256_or_si256(_mm256_and_si256(low, _mm256_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f)),
                           _mm256_and_si256(top, _mm256_setr_epi32(0, 0x30303030, 0, 0x30303030, 0, 0x30303030, 0, 0x30303030)));
}

/// The sub-block scales (value = code - offset, as int8) and min codes of a block, in order, in
/// the low nsub bytes of `scales` and `mins` (the bytes above are unspecified). The packings the
/// formats use are unpacked with a few vector operations; any other packing goes through the
/// policy's own decoder.
template <class K>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 void kquant_scale_bytes(const typename K::block& b, __m128i& scales, __m128i& mins) noexcept {
    using S = typename K::scales;
    if constexpr (std::same_as<S, formats::kquant::six_bit_scale_min>) {
        const __m128i both = _mm256_castsi256_si128(unpack_six_bit_scale_min(_mm256_castsi128_si256(six_bit_scale_field(b))));
        scales = both;
        mins = _mm_unpackhi_epi64(both, both);
    } else if constexpr (std::same_as<S, formats::kquant::nibble_scale_min>) {
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
        scales = _mm_and_si128(raw, _mm_set1_epi8(0x0F));
        mins = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F));
    } else if constexpr (std::same_as<S, formats::kquant::int8_scales>) {
        scales = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
        mins = _mm_setzero_si128();
    } else if constexpr (std::same_as<S, formats::kquant::six_bit_scales>) {
        // low four bits: byte j % 8, low nibble for j < 8, high nibble after; top two bits: byte
        // 8 + j % 4 at bit 2 * (j / 4); values are code - 32
        const __m128i low8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.scales));
        const __m128i low = _mm_and_si128(_mm_unpacklo_epi64(low8, _mm_srli_epi16(low8, 4)), _mm_set1_epi8(0x0F));
        std::uint32_t top;
        std::memcpy(&top, b.scales + 8, 4);
        const __m128i high = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32(static_cast<int>(top)), _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(3));
        scales = _mm_sub_epi8(_mm_or_si128(low, _mm_slli_epi16(high, 4)), _mm_set1_epi8(32));
        mins = _mm_setzero_si128();
    } else {
        alignas(16) std::int8_t sc8[16] = {}, mn8[16] = {};
        int sc[K::nsub], mn[K::nsub];
        S::decode(b.scales, sc, mn);
        for (int j = 0; j < K::nsub; ++j) {
            sc8[j] = static_cast<std::int8_t>(sc[j] - S::offset);
            if constexpr (K::affine) mn8[j] = static_cast<std::int8_t>(mn[j]);
        }
        scales = _mm_load_si128(reinterpret_cast<const __m128i*>(sc8));
        mins = _mm_load_si128(reinterpret_cast<const __m128i*>(mn8));
    }
}

/// nsub scale bytes -> sixteen int16, one per 16 values (sub-blocks of 32 repeat each scale).
template <class K>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i per16(__m128i bytes, bool is_signed) noexcept {
    if constexpr (K::sub == 32) bytes = _mm_unpacklo_epi8(bytes, bytes);
    return is_signed ? _mm256_cvtepi8_epi16(bytes) : _mm256_cvtepu8_epi16(bytes);
}

/// [d * yd, dmin * yd] of a block (dmin: affine formats), d and dmin, adjacent halves, converted
/// together.
template <class K>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m128 kquant_block_scales(const typename K::block& b, float yd) noexcept {
    using B = typename K::block;
    if constexpr (K::affine) {
        static_assert(offsetof(B, dmin) == offsetof(B, d) + 2);
        std::uint32_t d_dmin;
        std::memcpy(&d_dmin, &b.d, 4);
        return _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(d_dmin))), _mm_set1_ps(yd));
    } else {
        return _mm_set_ss(half_to_float(b.d) * yd);
    }
}

/// Per sub-block: the float scale d*(sc - offset) and (affine formats) min dmin*mn, with the
/// scalar path's roundings, computed in vectors from kquant_scale_bytes (left in memory for
/// broadcast loads; entries from nsub on are unspecified).
template <class K>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 void kquant_sub_scales(const typename K::block& b, float (&dl)[16], float (&ml)[16]) noexcept {
    static_assert(K::nsub <= 16);
    __m128i scales, mins;
    kquant_scale_bytes<K>(b, scales, mins);
    const __m128 d_dmin = kquant_block_scales<K>(b, 1.0f); // times 1: exact
    // (eight sub-blocks, q4_K and q5_K: the first eight entries only)
    const auto convert16 = [](float (&out)[16], __m256 factor, __m128i bytes, bool is_signed) LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE {
        const __m256i lo = is_signed ? _mm256_cvtepi8_epi32(bytes) : _mm256_cvtepu8_epi32(bytes);
        _mm256_store_ps(out, _mm256_mul_ps(factor, _mm256_cvtepi32_ps(lo)));
        if constexpr (K::nsub > 8) {
            const __m128i high = _mm_unpackhi_epi64(bytes, bytes);
            const __m256i hi = is_signed ? _mm256_cvtepi8_epi32(high) : _mm256_cvtepu8_epi32(high);
            _mm256_store_ps(out + 8, _mm256_mul_ps(factor, _mm256_cvtepi32_ps(hi)));
        }
    };
    convert16(dl, _mm256_broadcastss_ps(d_dmin), scales, true);
    through_memory(dl);
    if constexpr (K::affine) {
        convert16(ml, _mm256_permutevar8x32_ps(_mm256_castps128_ps256(d_dmin), _mm256_set1_epi32(1)), mins, false);
        through_memory(ml);
    }
}

/// The sub-block scales of a row's blocks, each block's computed while the block before it is
/// dequantized: its scales are then read (broadcast) one block after they were stored, instead
/// of right after, and their computation overlaps that block's codes. On Zen 5 (reference cycles
/// per 32 values, avx512): q2_K 3.43 -> 2.74, q4_K 2.19 -> 1.98, q5_K 3.15 -> 2.62. The avx2
/// dequantizer measured 10-20% slower with it at first; once its values took fewer operations
/// (one FMA, one shuffle to widen), faster on an AVX2-only Zen 4: q2_K 6.9 -> 5.65, q4_K 5.64
/// -> 5.03, q3_K 6.6-6.9 -> 6.1-6.4, q5_K 2-5%, q6_K 1%.
template <class K>
struct scales_ahead {
    struct scales {
        alignas(64) float dl[16];
        alignas(64) float ml[16];
    };
    const typename K::block* x;
    std::int64_t nb;
    scales buffer[2];

    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 scales_ahead(const typename K::block* blocks, std::int64_t count) noexcept : x(blocks), nb(count) {
        if (nb > 0) kquant_sub_scales<K>(x[0], buffer[0].dl, buffer[0].ml);
    }
    /// block i's scales (i counting up from 0, one call each); block i + 1's are computed now
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 const scales& next(std::int64_t i) noexcept {
        if (i + 1 < nb) kquant_sub_scales<K>(x[i + 1], buffer[(i + 1) & 1].dl, buffer[(i + 1) & 1].ml);
        return buffer[i & 1];
    }
};

} // namespace lowbit::x86

namespace lowbit {

template <class P>
struct kernels<formats::kquant_format<P>, backend::avx2> {
    struct K : formats::kquant_format<P> {
        using policy = P;
    };
    using block = typename P::block;

    /// The reference-exact quantizer, its sub-block searches up to 32 sub-blocks at a time.
    LOWBIT_TARGET_AVX2 static void quantize_row(const float* x, block* y, std::int64_t n, const float* imatrix) noexcept {
        K::template quantize_row_with<x86::avx2_search_engine>(x, y, n, imatrix);
    }

    LOWBIT_TARGET_AVX2 static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept {
        if (x86::worth_streaming(y, n)) {
            dequantize_impl<true>(x, y, n);
            _mm_sfence();
        } else {
            dequantize_impl<false>(x, y, n);
        }
    }

    /// dl * code, rounded, minus ml (the affine formats' value, as the scalar path computes it);
    /// Fused: in one FMA, for blocks where K::fused_values_exact holds. On an AVX2-only Zen 4:
    /// q4_K 6.7 -> 5.65, q5_K 8.8 -> 7.2 reference cycles per 32 values.
    template <bool Fused>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256 affine_values(__m256i codes, __m256 scale, __m256 min) noexcept {
        if constexpr (Fused) return _mm256_fmsub_ps(scale, _mm256_cvtepi32_ps(codes), min);
        else return _mm256_sub_ps(x86::opaque(_mm256_mul_ps(scale, _mm256_cvtepi32_ps(codes))), min);
    }

    /// body.template operator()<Fused>() for block b
    template <class Body>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void fused_or_not(const block& b, const Body& body) noexcept {
        if (K::fused_values_exact(b)) body.template operator()<true>();
        else body.template operator()<false>();
    }

    /// Affine codes whose sub-blocks 2p and 2p + 1 (of 32 values) have their low four bits in
    /// the low and high nibbles of the same 32 bytes, 32p on.
    static constexpr bool low_nibbles_paired() noexcept {
        if constexpr (!K::affine || K::low::bits != 4 || K::sub != 32 || K::nsub % 2 != 0) {
            return false;
        } else {
            for (int p = 0; p < K::nsub / 2; ++p)
                if (K::low::byte_of(64 * p) != 32 * p || K::low::byte_of(64 * p + 32) != 32 * p || K::low::shift_of(64 * p) != 0 ||
                    K::low::shift_of(64 * p + 32) != 4)
                    return false;
            return true;
        }
    }

    /// A one-bit high field with the bit of value l of sub-block j in bit j of byte l.
    static constexpr bool high_bit_per_sub_block() noexcept {
        if constexpr (K::high::bits != 1) {
            return false;
        } else {
            for (int j = 0; j < K::nsub; ++j)
                if (K::high::byte_of(32 * j) != 0 || K::high::shift_of(32 * j) != j) return false;
            return K::sub == 32;
        }
    }

    /// Eight values at a time, every shift and offset a constant of the unrolled loops. Codes
    /// of one field (q2_K, q4_K) are widened from their bytes by one zero-extending load
    /// (x86::kquant_codes8); codes of two fields are put together 32 at a time as bytes
    /// (x86::kquant_codes) and widened from the register, which measured faster for them (q3_K
    /// 9.95 -> 6.9, q5_K 11.4 -> 10.0, q6_K 10.3 -> 8.4 reference cycles per 32 values on an
    /// AVX2-only Zen 4) and slower for the others (q4_K 7.6 -> 8.05). Codes of at most three
    /// bits (q2_K, q3_K) pick their value from the sub-block's eight possible ones (dl * code,
    /// rounded, minus ml, as the scalar path computes them) with one vpermps, which reads the
    /// low three bits of each dword; wider codes are converted and scaled. The loop this
    /// replaces computed each slice's shifts at run time and broadcast each scale per eight
    /// values: q2_K 9.85 -> 6.8, q4_K 9.95 -> 7.6. q4_K and q5_K then went through their
    /// sub-blocks in pairs (nibble_pairs below), in a loop of four pairs rather than unrolled
    /// whole: q4_K 7.6 -> 6.9 (half the loads, a quarter of the code), q5_K 9.55 -> 9.1.
    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void dequantize_impl(const block* x, float* y, std::int64_t n) noexcept {
        constexpr bool value_table = K::code_bits <= 3;
        constexpr bool from_bytes = K::high::bits > 0;
        // affine formats whose sub-blocks 2p and 2p + 1 have their low four code bits in the low
        // and high nibbles of the same 32 bytes (q4_K, q5_K) go through their sub-blocks in pairs:
        // with four-bit codes (nibble_pairs, q4_K) one widening load serves both sub-blocks' eight
        // values; with a fifth bit in bit j of the high field's byte l for value l of sub-block j
        // (nibble_pairs_high_bit, q5_K), both sub-blocks' 32 codes come from one load of each field
        constexpr bool nibble_pairs = low_nibbles_paired() && K::high::bits == 0;
        constexpr bool nibble_pairs_high_bit = low_nibbles_paired() && high_bit_per_sub_block();
        [[maybe_unused]] __m256i slice_bytes;
        x86::scales_ahead<K> ahead(x, n / 256);
        for (std::int64_t i = 0; i < n / 256; ++i) {
            const auto& sub_scales = ahead.next(i);
            const float *dl = sub_scales.dl, *ml = sub_scales.ml;
            float* out = y + 256 * i;
            if constexpr (nibble_pairs) {
                fused_or_not(x[i], [&]<bool Fused>() LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE {
                    const std::uint8_t* field = x[i].*K::policy::low_field;
                    for (int p = 0; p < K::nsub / 2; ++p) {
                        const __m256 s0 = _mm256_broadcast_ss(dl + 2 * p), m0 = _mm256_broadcast_ss(ml + 2 * p);
                        const __m256 s1 = _mm256_broadcast_ss(dl + 2 * p + 1), m1 = _mm256_broadcast_ss(ml + 2 * p + 1);
                        const std::uint8_t* bytes = field + 32 * p;
                        LOWBIT_UNROLL
                        for (int g = 0; g < 4; ++g) {
                            const __m256i raw = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + 8 * g)));
                            x86::store8<Stream>(out + 64 * p + 8 * g, affine_values<Fused>(_mm256_and_si256(raw, _mm256_set1_epi32(15)), s0, m0));
                            x86::store8<Stream>(out + 64 * p + 32 + 8 * g, affine_values<Fused>(_mm256_srli_epi32(raw, 4), s1, m1));
                        }
                    }
                });
                continue;
            }
            if constexpr (nibble_pairs_high_bit) {
                fused_or_not(x[i], [&]<bool Fused>() LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE {
                    const std::uint8_t* lf = x[i].*K::policy::low_field;
                    // both fields' bytes in widen8_spread's order (the byte operations below keep it)
                    const __m256i qh = x86::spread_for_widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].*K::policy::high_field)));
                    for (int p = 0; p < K::nsub / 2; ++p) {
                        const __m256i ql = x86::spread_for_widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lf + 32 * p)));
                        const __m256i hb = _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * p));
                        const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
                        const __m256i c0 = _mm256_or_si256(_mm256_and_si256(ql, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), b4));
                        const __m256i c1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql, 4), m4), _mm256_and_si256(_mm256_slli_epi16(hb, 3), b4));
                        const __m256 s0 = _mm256_broadcast_ss(dl + 2 * p), m0 = _mm256_broadcast_ss(ml + 2 * p);
                        const __m256 s1 = _mm256_broadcast_ss(dl + 2 * p + 1), m1 = _mm256_broadcast_ss(ml + 2 * p + 1);
                        const auto four = [&](__m256i bytes, __m256 sc, __m256 mn, float* o) LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE {
                            x86::store8<Stream>(o, affine_values<Fused>(x86::widen8_spread<0>(bytes), sc, mn));
                            x86::store8<Stream>(o + 8, affine_values<Fused>(x86::widen8_spread<1>(bytes), sc, mn));
                            x86::store8<Stream>(o + 16, affine_values<Fused>(x86::widen8_spread<2>(bytes), sc, mn));
                            x86::store8<Stream>(o + 24, affine_values<Fused>(x86::widen8_spread<3>(bytes), sc, mn));
                        };
                        four(c0, s0, m0, out + 64 * p);
                        four(c1, s1, m1, out + 64 * p + 32);
                    }
                });
                continue;
            }
            [&]<int... J>(std::integer_sequence<int, J...>) LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE {
                const auto sub_block = [&]<int S>(std::integral_constant<int, S>) LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE {
                    const __m256 scale = _mm256_broadcast_ss(dl + S);
                    [[maybe_unused]] const __m256 min = K::affine ? _mm256_broadcast_ss(ml + S) : _mm256_setzero_ps();
                    [[maybe_unused]] __m256 table;
                    if constexpr (value_table) {
                        // code values in lanes 0-7 (a two-bit code's four repeated: its bit 2 may be another code's)
                        const __m256 levels = K::code_bits == 2 ? _mm256_setr_ps(0, 1, 2, 3, 0, 1, 2, 3) : _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
                        if constexpr (K::affine) table = _mm256_sub_ps(x86::opaque(_mm256_mul_ps(scale, levels)), min);
                        else table = _mm256_mul_ps(scale, _mm256_sub_ps(levels, _mm256_set1_ps(static_cast<float>(K::code_offset))));
                    }
                    [&]<int... G>(std::integer_sequence<int, G...>) LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE {
                        const auto eight = [&]<int V>(std::integral_constant<int, V>) LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE {
                            __m256 v;
                            const auto codes = [&]<bool Clean>() LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE {
                                if constexpr (from_bytes) {
                                    if constexpr (V % 32 == 0) slice_bytes = x86::spread_for_widen(x86::kquant_codes<K>(x[i], V / 32));
                                    return x86::widen8_spread<V % 32 / 8>(slice_bytes);
                                } else {
                                    return x86::kquant_codes8<K, V, Clean>(x[i]);
                                }
                            };
                            if constexpr (value_table) {
                                v = _mm256_permutevar8x32_ps(table, codes.template operator()<false>());
                            } else {
                                __m256i q = codes.template operator()<true>();
                                if constexpr (K::affine) {
                                    v = affine_values<false>(q, scale, min);
                                } else {
                                    q = _mm256_sub_epi32(q, _mm256_set1_epi32(K::code_offset));
                                    v = _mm256_mul_ps(scale, _mm256_cvtepi32_ps(q));
                                }
                            }
                            x86::store8<Stream>(out + V, v);
                        };
                        (eight(std::integral_constant<int, K::sub * S + 8 * G>{}), ...);
                    }(std::make_integer_sequence<int, K::sub / 8>{});
                };
                (sub_block(std::integral_constant<int, J>{}), ...);
            }(std::make_integer_sequence<int, K::nsub>{});
        }
    }

    LOWBIT_TARGET_AVX2 static float dot(const block* x, const formats::block_q8_K* y, std::int64_t n) noexcept {
        // Per block: the int32 sums of scale * code * activation in eight lanes, each 32-value
        // slice's products multiplied by their scales as they are summed to int32; the code offset
        // and the mins come out of the partner's sums per 16 in one madd each.
        //
        // Sub-blocks of 32 (q4_K, q5_K): a block's scales and mins, one int16 per 16 values, are
        // unpacked while the block before it is summed, and each slice's scale pair is read back
        // as a broadcast load instead of being shuffled out of a register (AVX2-only Zen 4,
        // reference cycles per 32 values: q4_K 2.56 -> 2.45-2.51, q5_K 3.37 -> 3.07). Sub-blocks
        // of 16 need a shuffle per slice either way, and unpacked a block ahead measured 2% slower
        // (q6_K) to 2% faster.
        constexpr bool ahead = K::sub == 32;
        struct words {
            alignas(32) std::int16_t scales[16]; // dword c: slice c's scale twice
            alignas(32) std::int16_t mins[16];
        } next[2];
        const auto unpack = [&](std::int64_t i, __m256i& scales, __m256i& mins) LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE {
            __m128i sc8, mn8;
            x86::kquant_scale_bytes<K>(x[i], sc8, mn8);
            scales = x86::per16<K>(sc8, true);
            mins = x86::per16<K>(mn8, false);
        };
        const auto unpack_to = [&](std::int64_t i, words& w) LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE {
            __m256i scales, mins;
            unpack(i, scales, mins);
            _mm256_store_si256(reinterpret_cast<__m256i*>(w.scales), scales);
            _mm256_store_si256(reinterpret_cast<__m256i*>(w.mins), mins);
            x86::through_memory(w.scales);
            x86::through_memory(w.mins);
        };
        const std::int64_t nb = n / 256;
        if (ahead && nb > 0) unpack_to(0, next[0]);
        __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
        for (std::int64_t i = 0; i < nb; ++i) {
            __m256i sc16, mn16; // scale and min of values 16j .. 16j+15 in int16 j
            [[maybe_unused]] __m256i halves;
            if constexpr (ahead) {
                if (i + 1 < nb) unpack_to(i + 1, next[(i + 1) & 1]);
                sc16 = _mm256_load_si256(reinterpret_cast<const __m256i*>(next[i & 1].scales));
                mn16 = _mm256_load_si256(reinterpret_cast<const __m256i*>(next[i & 1].mins));
            } else {
                unpack(i, sc16, mn16);
                // the scale of slice c's low half in the low 128 bits, of its high half in the high
                // ones (deinterleave: the even-numbered int16 to the low half, the odd-numbered to the high)
                const __m256i split = _mm256_shuffle_epi8(sc16, _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                                                                0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15));
                halves = _mm256_permute4x64_epi64(split, 0xD8);
            }
            const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums));
            __m256i isum = _mm256_setzero_si256();
            for (int c = 0; c < 8; ++c) {
                const __m256i q = x86::kquant_codes<K>(x[i], c);
                const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 32 * c));
                __m256i s;
                if constexpr (ahead) {
                    std::int32_t pair;
                    std::memcpy(&pair, next[i & 1].scales + 2 * c, 4);
                    s = _mm256_set1_epi32(pair);
                } else {
                    s = _mm256_shuffle_epi8(halves, _mm256_set1_epi16(static_cast<short>(0x0100 + 0x0202 * c))); // int16 c of each half
                }
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), s)); // codes <= 63: no saturation
            }
            if constexpr (K::code_offset != 0)
                isum = _mm256_sub_epi32(isum, _mm256_mullo_epi32(_mm256_madd_epi16(bsums, sc16), _mm256_set1_epi32(K::code_offset)));
            const __m128 block_scales = x86::kquant_block_scales<K>(x[i], y[i].d);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_broadcastss_ps(block_scales), acc);
            if constexpr (K::affine) {
                const __m256i msum = _mm256_madd_epi16(bsums, mn16);
                acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_permutevar8x32_ps(_mm256_castps128_ps256(block_scales), _mm256_set1_epi32(1)), acc_min);
            }
        }
        return x86::hsum(_mm256_sub_ps(acc, acc_min));
    }
};

template <class P>
struct kernels<formats::kquant_format<P>, backend::avx512> {
    struct K : formats::kquant_format<P> {
        using policy = P;
    };
    using block = typename P::block;

    /// The reference-exact quantizer, its sub-block searches up to 64 sub-blocks at a time.
    LOWBIT_TARGET_AVX512 static void quantize_row(const float* x, block* y, std::int64_t n, const float* imatrix) noexcept {
        K::template quantize_row_with<x86::avx512_search_engine>(x, y, n, imatrix);
    }

    LOWBIT_TARGET_AVX512 static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept {
        if (x86::worth_streaming(y, n)) {
            dequantize_impl<true>(x, y, n);
            _mm_sfence();
        } else {
            dequantize_impl<false>(x, y, n);
        }
    }

    /// Four- and five-bit codes in sub-blocks of 32 (q4_K, q5_K): a sub-block's 16 or 32
    /// possible values are computed once, with the scalar path's operations (dl * code, rounded,
    /// minus ml), and its codes pick them with vpermps / vpermt2ps, which read the low four / five
    /// bits of each dword. A byte widened to a dword serves as the index of its low nibble as it
    /// is and, shifted right by four, of its high one; a fifth bit is rotated to bit 4 and put in
    /// by one ternlog.
    static constexpr bool value_table = K::sub == 32 && K::affine && K::low::bits == 4 && K::high::bits <= 1;

    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static void dequantize_impl(const block* x, float* y, std::int64_t n) noexcept {
        if constexpr (value_table) {
            using low = typename K::low;
            using high = typename K::high;
            const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            x86::scales_ahead<K> ahead(x, n / 256);
            for (std::int64_t i = 0; i < n / 256; ++i) {
                const auto& sub_scales = ahead.next(i); // (no structured binding: clang 14 cannot capture one)
                const float *dl = sub_scales.dl, *ml = sub_scales.ml;
                float* out = y + 256 * i;
                // a row of code bytes is widened once for the sub-blocks that share it (the stores
                // to y might alias the block: the compiler would widen it again for each)
                __m512i low_row[2], high_row[2];
                [&]<int... J>(std::integer_sequence<int, J...>) LOWBIT_TARGET_AVX512 LOWBIT_LAMBDA_INLINE {
                    const auto sub_block = [&]<int S>(std::integral_constant<int, S>) LOWBIT_TARGET_AVX512 LOWBIT_LAMBDA_INLINE {
                        constexpr int low_shift = low::shift_of(32 * S);
                        if constexpr (S == 0 || low::byte_of(32 * S) != low::byte_of(32 * S - 32))
                            for (int h = 0; h < 2; ++h) low_row[h] = x86::widen_bytes16(x[i].*K::policy::low_field + low::byte_of(32 * S) + 16 * h);
                        if constexpr (high::bits > 0) {
                            if constexpr (S == 0 || high::byte_of(32 * S) != high::byte_of(32 * S - 32))
                                for (int h = 0; h < 2; ++h) high_row[h] = x86::widen_bytes16(x[i].*K::policy::high_field + high::byte_of(32 * S) + 16 * h);
                        }
                        const __m512 scale = _mm512_set1_ps(dl[S]), min = _mm512_set1_ps(ml[S]);
                        const __m512 table = _mm512_sub_ps(x86::opaque(_mm512_mul_ps(scale, iota)), min);
                        [[maybe_unused]] __m512 table_hi;
                        if constexpr (high::bits > 0) table_hi = _mm512_sub_ps(x86::opaque(_mm512_mul_ps(scale, _mm512_add_ps(iota, _mm512_set1_ps(16.0f)))), min);
                        for (int h = 0; h < 2; ++h) {
                            __m512i idx = low_row[h];
                            if constexpr (low_shift != 0) idx = _mm512_maskz_srli_epi32(x86::all16, idx, low_shift);
                            if constexpr (high::bits == 0) {
                                x86::store16<Stream>(out + 32 * S + 16 * h, _mm512_maskz_permutexvar_ps(x86::all16, idx, table));
                            } else {
                                constexpr int to_bit4 = (4 - high::shift_of(32 * S)) & 31; // (a constant for the immediate at -O0)
                                const __m512i fifth = _mm512_maskz_rol_epi32(x86::all16, high_row[h], to_bit4);
                                x86::store16<Stream>(out + 32 * S + 16 * h, x86::pick32(table, table_hi, idx, fifth));
                            }
                        }
                    };
                    (sub_block(std::integral_constant<int, J>{}), ...);
                }(std::make_integer_sequence<int, K::nsub>{});
            }
            return;
        }
        x86::scales_ahead<K> ahead(x, n / 256);
        for (std::int64_t i = 0; i < n / 256; ++i) {
            const auto& sub_scales = ahead.next(i);
            const float *dl = sub_scales.dl, *ml = sub_scales.ml;
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

// ---------------------------------------------------------------------------------------------
// K-quant dots with 512-bit vectors, 64 values (two slices) per vector.

namespace x86 {

/// Field F's bytes for slices 2P and 2P + 1 (values 64P .. 64P + 63) in one vector: one load
/// where the two 32-byte rows follow each other, a broadcast where the two slices share a row
/// (at two bit offsets), two halves otherwise.
template <class F, int P>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI __m512i field_rows64(const std::uint8_t* bytes) noexcept {
    constexpr int b0 = F::byte_of(64 * P), b1 = F::byte_of(64 * P + 32);
    if constexpr (b1 == b0 + 32) {
        return _mm512_loadu_si512(bytes + b0);
    } else {
        const __m256i first = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes + b0));
        if constexpr (b1 == b0) return _mm512_maskz_broadcast_i64x4(0xFF, first);
        else return _mm512_maskz_inserti64x4(0xFF, _mm512_castsi256_si512(first), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes + b1)), 1);
    }
}

/// The 64 codes (0 .. code_max) of slices 2P and 2P + 1 of a K-quant block, as bytes. The high
/// field's bits reach their place by a rotation of each dword: the field lies inside its byte
/// at either end, so the bits that wrap in from a neighbour fall outside its mask.
template <class K, int P>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI __m512i kquant_codes64(const typename K::block& b) noexcept {
    using low = typename K::low;
    using high = typename K::high;
    constexpr int s0 = low::shift_of(64 * P), s1 = low::shift_of(64 * P + 32);
    __m512i lo = field_rows64<low, P>(b.*K::policy::low_field);
    if constexpr (s0 != s1) lo = _mm512_srlv_epi16(lo, _mm512_maskz_inserti64x4(0xFF, _mm512_set1_epi16(s0), _mm256_set1_epi16(s1), 1));
    else if constexpr (s0 != 0) lo = _mm512_srli_epi16(lo, s0);
    lo = _mm512_and_si512(lo, _mm512_set1_epi8(static_cast<char>(low::mask)));
    if constexpr (high::bits > 0) {
        constexpr int r0 = (low::bits - high::shift_of(64 * P)) & 31, r1 = (low::bits - high::shift_of(64 * P + 32)) & 31;
        __m512i hi = field_rows64<high, P>(b.*K::policy::high_field);
        if constexpr (r0 != r1) hi = _mm512_maskz_rolv_epi32(all16, hi, _mm512_maskz_inserti64x4(0xFF, _mm512_set1_epi32(r0), _mm256_set1_epi32(r1), 1));
        else if constexpr (r0 != 0) hi = _mm512_maskz_rol_epi32(all16, hi, r0);
        // lo | (hi & mask): 0xF0 | (0xCC & 0xAA)
        lo = _mm512_ternarylogic_epi32(lo, hi, _mm512_set1_epi8(static_cast<char>(high::mask << low::bits)), 0xF8);
    }
    return lo;
}

/// Where the sub-block scales of half H of a block (values 128H .. 128H + 127) sit in its scale
/// vector, for the words packed from the sums of slice pairs 2H and 2H + 1: in each 128-bit lane
/// L, dwords 0-1 take the scale of values 128H + 16L, dwords 2-3 that of 128H + 64 + 16L.
template <class K, int H>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI __m512i half_scale_index() noexcept {
    constexpr auto j = [](int v) { return v / K::sub; };
    constexpr int a0 = j(128 * H), a1 = j(128 * H + 16), a2 = j(128 * H + 32), a3 = j(128 * H + 48);
    constexpr int b0 = j(128 * H + 64), b1 = j(128 * H + 80), b2 = j(128 * H + 96), b3 = j(128 * H + 112);
    return _mm512_set_epi32(b3, b3, a3, a3, b2, b2, a2, a2, b1, b1, a1, a1, b0, b0, a0, a0);
}

/// The dot of a K-quant row with a q8_K row, 64 values (two slices) per vector. Per pair of
/// slices, vpdpbusd sums the products of codes and partner bytes four by four (at most
/// 4 * 63 * 128 in magnitude, an int16); two pairs' sums packed to words meet their sub-blocks' scales in one
/// vpmaddwd, the scales put in place by one vpermd from a vector of all the block's scales. The
/// code offset and the mins come out of the partner's sums per 16, once per block.
template <class K>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI float kquant_dot_vnni512(const typename K::block* x, const formats::block_q8_K* y, std::int64_t n) noexcept {
    static_assert(K::code_offset == 0 || std::has_single_bit(static_cast<unsigned>(K::code_offset)));
    constexpr int offset_shift = K::code_offset == 0 ? 0 : std::countr_zero(static_cast<unsigned>(K::code_offset));
    // dword j of a block's scale vector: sub-block j's scale as two int16 (from its int32)
    const __m512i dup_word = _mm512_maskz_broadcast_i32x4(all16, _mm_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13));
    const __m512i zero = _mm512_setzero_si512();
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_min = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 256; ++i) {
        const typename K::block& b = x[i];
        __m128i sc8, mn8;
        kquant_scale_bytes<K>(b, sc8, mn8);
        const __m512i scales = _mm512_shuffle_epi8(_mm512_maskz_cvtepi8_epi32(all16, sc8), dup_word);
        __m512i isum[2];
        [&]<int... Q>(std::integer_sequence<int, Q...>) LOWBIT_TARGET_AVX512VNNI LOWBIT_LAMBDA_INLINE {
            const auto step = [&]<int H>(std::integral_constant<int, H>) LOWBIT_TARGET_AVX512VNNI LOWBIT_LAMBDA_INLINE {
                const __m512i s0 = _mm512_dpbusd_epi32(zero, kquant_codes64<K, 2 * H>(b), _mm512_loadu_si512(y[i].qs + 128 * H));
                const __m512i s1 = _mm512_dpbusd_epi32(zero, kquant_codes64<K, 2 * H + 1>(b), _mm512_loadu_si512(y[i].qs + 128 * H + 64));
                isum[H] = _mm512_madd_epi16(_mm512_packs_epi32(s0, s1), _mm512_maskz_permutexvar_epi32(all16, half_scale_index<K, H>(), scales));
            };
            (step(std::integral_constant<int, Q>{}), ...);
        }(std::make_integer_sequence<int, 2>{});
        __m512i sum = _mm512_add_epi32(isum[0], isum[1]);
        const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums));
        if constexpr (K::code_offset != 0) {
            const __m256i offsets = _mm256_slli_epi32(_mm256_madd_epi16(bsums, per16<K>(sc8, true)), offset_shift);
            sum = _mm512_sub_epi32(sum, _mm512_maskz_inserti64x4(0xFF, _mm512_setzero_si512(), offsets, 0));
        }
        // d * y.d and dmin * y.d broadcast from memory: load ports, where broadcasts from a
        // register take the shuffle ports the codes need
        alignas(16) float block_scales[4];
        _mm_store_ps(block_scales, kquant_block_scales<K>(b, y[i].d));
        acc = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(all16, sum), _mm512_set1_ps(block_scales[0]), acc);
        if constexpr (K::affine) {
            __m256i min_words;
            if constexpr (K::sub == 32 && std::same_as<typename K::scales, formats::kquant::six_bit_scale_min>) {
                // the mins are bytes 8-15 of sc8 (kquant_scale_bytes): word k of the 16 per-16
                // mins is min k / 2, by one byte shuffle
                const __m256i twice = _mm256_setr_epi8(8, -1, 8, -1, 9, -1, 9, -1, 10, -1, 10, -1, 11, -1, 11, -1,
                                                       12, -1, 12, -1, 13, -1, 13, -1, 14, -1, 14, -1, 15, -1, 15, -1);
                min_words = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(sc8), twice);
            } else {
                min_words = per16<K>(mn8, false);
            }
            const __m256i msum = _mm256_madd_epi16(bsums, min_words);
            acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_broadcast_ss(block_scales + 1), acc_min);
        }
    }
    const __m256 halves = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xFF, acc, 0), _mm512_maskz_extractf32x8_ps(0xFF, acc, 1));
    return hsum(_mm256_sub_ps(halves, acc_min));
}

/// Dots of R rows (R <= 4) of q4_K / q5_K (sub-blocks of 32 values) with one q8_K row, 32 values
/// per vector: each 32-value slice has one scale, so its int16 scale vector is one broadcast
/// load of a dword (the scale twice), and vpdpwssd multiplies the pair sums by it and
/// accumulates in one operation. The work of a block that is not its codes is done for the R
/// rows together: their six-bit scales and mins unpacked in one vector (a row per 128-bit lane),
/// their d and dmin converted in one instruction.
template <class K, int R>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI void kquant_dot_rows_vnni256(const std::array<const typename K::block*, R>& row, const formats::block_q8_K* y,
                                                                        float* out, std::int64_t n) noexcept {
    using B = typename K::block;
    static_assert(R >= 1 && R <= 4 && K::nsub == 8 && K::affine && std::same_as<typename K::scales, formats::kquant::six_bit_scale_min>);
    static_assert(offsetof(B, dmin) == offsetof(B, d) + 2);
    // bytes k of an eight-byte group to int16 lanes 2k, 2k + 1 (the value twice): the scale
    // pairs of vpdpwssd, and (8 added) the mins per 16 values
    const __m256i twice = _mm256_setr_epi8(0, -128, 0, -128, 1, -128, 1, -128, 2, -128, 2, -128, 3, -128, 3, -128,
                                           4, -128, 4, -128, 5, -128, 5, -128, 6, -128, 6, -128, 7, -128, 7, -128);
    __m256 acc[R], acc_min[R];
    for (int r = 0; r < R; ++r) acc[r] = acc_min[r] = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / 256; ++i) {
        // row r's eight scales, then its eight mins, in lane r % 2 of unpacked[r / 2] (256-bit
        // vectors: a 512-bit operation among this 256-bit code would take a third of its vector
        // ports while it runs)
        __m256i unpacked[(R + 1) / 2];
        for (int h = 0; h < (R + 1) / 2; ++h) {
            __m256i w = _mm256_castsi128_si256(six_bit_scale_field(row[2 * h][i]));
            if (2 * h + 1 < R) w = _mm256_inserti128_si256(w, six_bit_scale_field(row[2 * h + 1][i]), 1);
            unpacked[h] = unpack_six_bit_scale_min(w);
        }
        // d and dmin of each row (adjacent halves) as one dword, gathered by inserts (a vector load
        // of four dword stores would stall store forwarding)
        const auto d_dmin = [&](int r) LOWBIT_TARGET_AVX512VNNI LOWBIT_LAMBDA_INLINE {
            std::uint32_t v;
            std::memcpy(&v, &row[r][i].d, 4);
            return static_cast<int>(v);
        };
        __m128i halves = _mm_cvtsi32_si128(d_dmin(0));
        [&]<int... r>(std::integer_sequence<int, r...>) LOWBIT_TARGET_AVX512VNNI LOWBIT_LAMBDA_INLINE {
            ((halves = _mm_insert_epi32(halves, d_dmin(r + 1), r + 1)), ...);
        }(std::make_integer_sequence<int, R - 1>{});
        // [d_r, dmin_r] * y.d for every row
        const __m256 scales = _mm256_mul_ps(_mm256_cvtph_ps(halves), _mm256_set1_ps(y[i].d));
        const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums));
        for (int r = 0; r < R; ++r) {
            const B& b = row[r][i];
            const __m256i lane = r % 2 ? _mm256_permute2x128_si256(unpacked[r / 2], unpacked[r / 2], 0x11)
                                       : _mm256_permute2x128_si256(unpacked[r / 2], unpacked[r / 2], 0x00);
            alignas(32) int scale_pairs[8]; // dword c: slice c's scale as two int16
            _mm256_store_si256(reinterpret_cast<__m256i*>(scale_pairs), _mm256_shuffle_epi8(lane, twice));
            through_memory(scale_pairs);
            // codes <= 31: the pair sums of maddubs cannot saturate; two chains of vpdpwssd, each
            // started by a vpmaddwd
            const auto products = [&](int c) LOWBIT_TARGET_AVX512VNNI LOWBIT_LAMBDA_INLINE {
                return _mm256_maddubs_epi16(kquant_codes<K>(b, c), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 32 * c)));
            };
            __m256i isum[2] = {_mm256_madd_epi16(products(0), _mm256_set1_epi32(scale_pairs[0])),
                               _mm256_madd_epi16(products(1), _mm256_set1_epi32(scale_pairs[1]))};
            for (int c = 2; c < 8; ++c) isum[c & 1] = _mm256_dpwssd_epi32(isum[c & 1], products(c), _mm256_set1_epi32(scale_pairs[c]));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(isum[0], isum[1])), _mm256_permutexvar_ps(_mm256_set1_epi32(2 * r), scales), acc[r]);
            const __m256i msum = _mm256_madd_epi16(bsums, _mm256_shuffle_epi8(lane, _mm256_add_epi8(twice, _mm256_set1_epi8(8))));
            acc_min[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_permutexvar_ps(_mm256_set1_epi32(2 * r + 1), scales), acc_min[r]);
        }
    }
    for (int r = 0; r < R; ++r) out[r] = hsum(_mm256_sub_ps(acc[r], acc_min[r]));
}

} // namespace x86

namespace x86 {
/// Whether q4_K / q5_K dot in 512-bit vectors (see below): read once at start-up, so a dot pays a
/// load and a branch for it (reading cpu() there, its guard and call, cost a 4096-value q4_K dot
/// 14% on Zen 5).
inline const bool wide_kquant_dots = cpu().amd;
} // namespace x86

// The K-quant dots with VNNI: the formats of sixteen sub-blocks (q2_K, q3_K, q6_K) in 512-bit
// vectors, each 128-bit lane one sub-block; those of eight (q4_K, q5_K) in 512-bit vectors on AMD
// processors and 32 values per vector (two rows at a time in dot_rows) on Intel's. On Sapphire
// Rapids the 256-bit form measured faster; on Zen 5 the 512-bit form takes q4_K's dot from 1.87
// to 1.02 reference cycles per 32 values and q5_K's from 1.96 to 1.23 (three alternating runs,
// minima), 1.5x the reference's. The 256-bit form runs 512-bit operations on Intel's cores on
// fewer ports.
template <class P>
struct kernels<formats::kquant_format<P>, backend::avx512vnni> {
    struct K : formats::kquant_format<P> {
        using policy = P;
    };
    using block = typename P::block;

    LOWBIT_TARGET_AVX512VNNI static float dot(const block* x, const formats::block_q8_K* y, std::int64_t n) noexcept {
        if constexpr (K::sub == 16) {
            return x86::kquant_dot_vnni512<K>(x, y, n);
        } else {
            if (x86::wide_kquant_dots) return x86::kquant_dot_vnni512<K>(x, y, n);
            float out;
            x86::kquant_dot_rows_vnni256<K, 1>(std::array<const block*, 1>{x}, y, &out, n);
            return out;
        }
    }

    /// Rows two at a time (q4_K, q5_K: see kquant_dot_rows_vnni256; on Sapphire Rapids two
    /// measured faster per row than four). The formats of sixteen sub-blocks have none: their
    /// dots share nothing that pays between rows, so dot_rows runs them row by row.
    LOWBIT_TARGET_AVX512VNNI static void dot_rows(const block* x, std::size_t stride, const formats::block_q8_K* y, float* out,
                                                  std::int64_t rows, std::int64_t n) noexcept
        requires(K::sub == 32)
    {
        if (x86::wide_kquant_dots) {
            for (std::int64_t r = 0; r < rows; ++r)
                out[r] = x86::kquant_dot_vnni512<K>(reinterpret_cast<const block*>(reinterpret_cast<const unsigned char*>(x) + static_cast<std::size_t>(r) * stride), y, n);
            return;
        }
        for (std::int64_t r = 0; r < rows; r += 2) {
            float result[2];
            x86::kquant_dot_rows_vnni256<K, 2>(x86::row_group<2>(x, stride, r, rows), y, result, n);
            for (std::int64_t k = 0; k < 2 && r + k < rows; ++k) out[r + k] = result[k];
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
            y[i].d = 1 / iscale;
            // |max| below ~4e-37: the scale factor is infinite, and the reference's rounding of
            // the infinite (or, for zeros, NaN) products gives code 0 everywhere, as block{} has
            if (!std::isfinite(iscale)) continue;
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
        }
    }
};

} // namespace lowbit

#endif
