// lowbit — float lanes for code written once for several x86 vector widths: lanes16 (AVX-512)
// and lanes8 (AVX2) give the same operations under the same names, with x86's own semantics
// (min/max return the second operand when either is NaN, comparisons are ordered unless they
// say otherwise), so that a kernel written against them performs the same IEEE operations on
// either width. neon.hpp has lanes4 for aarch64, with x86's min/max reproduced.
//
// The operations a lane policy V provides (f: float lanes, m: a mask of lanes):
//   width; zero, set1, load (aligned), loadu, storeu; add, sub, mul, div, abs, neg;
//   min, max; gt, lt, ge, le (ordered), neq (unordered), ordered; select(m, a, b) = m ? a : b;
//   none (no lane), mand, mor, mnot; all, any, bits (lane i in bit i); opaque (a barrier
//   against contraction into an FMA); nearest (the reference's nearest_int trick), nearest_small (the same for |t| <= 2^21);
//   store_codes (cvtt + offset as bytes, 0 in the lanes of a mask); fused_mul_sub(a, b, c) =
//   a*b - c and fused_sub_mul(a, b, c) = c - a*b, each rounded once (for tests whose sign must
//   be the exact one, never for a value the scalar path computes); any_sign(g, a, b): a lane
//   where g has its sign bit clear and a or b has it set.
#pragma once

#include "avx512.hpp"

#if defined(LOWBIT_HAS_X86_BACKENDS)

namespace lowbit::x86 {

/// Sixteen float lanes of AVX-512; masks are __mmask16.
struct lanes16 {
    using f = __m512;
    using m = __mmask16;
    static constexpr int width = 16;

#  define LOWBIT_LANE_OP LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 static
    LOWBIT_LANE_OP f zero() noexcept { return _mm512_setzero_ps(); }
    LOWBIT_LANE_OP f set1(float v) noexcept { return _mm512_set1_ps(v); }
    LOWBIT_LANE_OP f load(const float* p) noexcept { return _mm512_load_ps(p); }
    LOWBIT_LANE_OP f loadu(const float* p) noexcept { return _mm512_loadu_ps(p); }
    LOWBIT_LANE_OP void storeu(float* p, f v) noexcept { _mm512_storeu_ps(p, v); }
    LOWBIT_LANE_OP f add(f a, f b) noexcept { return _mm512_add_ps(a, b); }
    LOWBIT_LANE_OP f sub(f a, f b) noexcept { return _mm512_sub_ps(a, b); }
    LOWBIT_LANE_OP f mul(f a, f b) noexcept { return _mm512_mul_ps(a, b); }
    LOWBIT_LANE_OP f div(f a, f b) noexcept { return _mm512_div_ps(a, b); }
    LOWBIT_LANE_OP f abs(f a) noexcept { return _mm512_abs_ps(a); }
    LOWBIT_LANE_OP f neg(f a) noexcept { return _mm512_xor_ps(a, _mm512_set1_ps(-0.0f)); }
    // (GCC 12 warns of uninitialized values in some unmasked 512-bit intrinsics; the all-ones
    // masked forms are the same instructions.)
    LOWBIT_LANE_OP f min(f a, f b) noexcept { return _mm512_maskz_min_ps(all16, a, b); }
    LOWBIT_LANE_OP f max(f a, f b) noexcept { return _mm512_maskz_max_ps(all16, a, b); }
    LOWBIT_LANE_OP m gt(f a, f b) noexcept { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
    LOWBIT_LANE_OP m lt(f a, f b) noexcept { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
    LOWBIT_LANE_OP m ge(f a, f b) noexcept { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
    LOWBIT_LANE_OP m le(f a, f b) noexcept { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
    LOWBIT_LANE_OP m neq(f a, f b) noexcept { return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ); }
    LOWBIT_LANE_OP m ordered(f a) noexcept { return _mm512_cmp_ps_mask(a, a, _CMP_ORD_Q); }
    LOWBIT_LANE_OP f select(m k, f a, f b) noexcept { return _mm512_mask_blend_ps(k, b, a); }
    LOWBIT_LANE_OP m none() noexcept { return 0; }
    LOWBIT_LANE_OP m mand(m a, m b) noexcept { return static_cast<m>(a & b); }
    LOWBIT_LANE_OP m mor(m a, m b) noexcept { return static_cast<m>(a | b); }
    LOWBIT_LANE_OP m mnot(m a) noexcept { return static_cast<m>(~a); }
    LOWBIT_LANE_OP bool all(m a) noexcept { return a == all16; }
    LOWBIT_LANE_OP bool any(m a) noexcept { return a != 0; }
    LOWBIT_LANE_OP unsigned bits(m a) noexcept { return a; }
    LOWBIT_LANE_OP f fused_mul_sub(f a, f b, f c) noexcept { return _mm512_fmsub_ps(a, b, c); }
    LOWBIT_LANE_OP f fused_sub_mul(f a, f b, f c) noexcept { return _mm512_fnmadd_ps(a, b, c); }
    LOWBIT_LANE_OP bool any_sign(f g, f a, f b) noexcept {
        const __m512i sign = _mm512_castps_si512(_mm512_set1_ps(-0.0f));
        const __m512i either = _mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b));
        return _mm512_mask_test_epi32_mask(_mm512_testn_epi32_mask(_mm512_castps_si512(g), sign), either, sign) != 0;
    }
    LOWBIT_LANE_OP f opaque(f a) noexcept { return x86::opaque(a); }
    /// The reference's nearest_int of each lane (the integer as a float): t + 1.5*2^23, whose low
    /// 23 bits are the integer + 2^22, put under the exponent of 2^23 and 1.5*2^23 taken off.
    LOWBIT_LANE_OP f nearest(f t) noexcept {
        const f biased = _mm512_add_ps(x86::opaque(t), _mm512_set1_ps(12582912.0f));
        const __m512i low_bits = _mm512_ternarylogic_epi32(_mm512_castps_si512(biased), _mm512_set1_epi32(0x007fffff),
                                                           _mm512_set1_epi32(0x4B000000), 0xEA); // (a & b) | c
        return _mm512_sub_ps(_mm512_castsi512_ps(low_bits), _mm512_set1_ps(12582912.0f));
    }
    /// nearest() of a value known to lie within ±2^21: t + 1.5*2^23 - 1.5*2^23. A lane policy may
    /// give -0 instead of +0 for t in (-1/2, 0): the searches' codes from it only enter products
    /// summed from +0, where a zero of either sign changes nothing (a float sum begun at +0 is
    /// never -0 in round to nearest), and the final codes are computed again with nearest().
    LOWBIT_LANE_OP f nearest_small(f t) noexcept {
        return _mm512_sub_ps(_mm512_add_ps(t, _mm512_set1_ps(12582912.0f)), _mm512_set1_ps(12582912.0f));
    }
    /// sixteen bytes: the integer of each lane (an integral float in byte range once offset
    /// added) + offset, 0 in the lanes of `zero`.
    LOWBIT_LANE_OP void store_codes(std::uint8_t* out, f codes, int offset, m zero) noexcept {
        const __m512i c = _mm512_add_epi32(_mm512_maskz_cvttps_epi32(all16, codes), _mm512_set1_epi32(offset));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_maskz_cvtepi32_epi8(static_cast<m>(~zero), c));
    }
#  undef LOWBIT_LANE_OP
};

/// Eight float lanes of AVX2; masks are __m256 with all bits of a lane set or clear.
struct lanes8 {
    using f = __m256;
    using m = __m256;
    static constexpr int width = 8;

#  define LOWBIT_LANE_OP LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static
    LOWBIT_LANE_OP f zero() noexcept { return _mm256_setzero_ps(); }
    LOWBIT_LANE_OP f set1(float v) noexcept { return _mm256_set1_ps(v); }
    LOWBIT_LANE_OP f load(const float* p) noexcept { return _mm256_load_ps(p); }
    LOWBIT_LANE_OP f loadu(const float* p) noexcept { return _mm256_loadu_ps(p); }
    LOWBIT_LANE_OP void storeu(float* p, f v) noexcept { _mm256_storeu_ps(p, v); }
    LOWBIT_LANE_OP f add(f a, f b) noexcept { return _mm256_add_ps(a, b); }
    LOWBIT_LANE_OP f sub(f a, f b) noexcept { return _mm256_sub_ps(a, b); }
    LOWBIT_LANE_OP f mul(f a, f b) noexcept { return _mm256_mul_ps(a, b); }
    LOWBIT_LANE_OP f div(f a, f b) noexcept { return _mm256_div_ps(a, b); }
    LOWBIT_LANE_OP f abs(f a) noexcept { return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
    LOWBIT_LANE_OP f neg(f a) noexcept { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
    LOWBIT_LANE_OP f min(f a, f b) noexcept { return _mm256_min_ps(a, b); }
    LOWBIT_LANE_OP f max(f a, f b) noexcept { return _mm256_max_ps(a, b); }
    LOWBIT_LANE_OP m gt(f a, f b) noexcept { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
    LOWBIT_LANE_OP m lt(f a, f b) noexcept { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
    LOWBIT_LANE_OP m ge(f a, f b) noexcept { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
    LOWBIT_LANE_OP m le(f a, f b) noexcept { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
    LOWBIT_LANE_OP m neq(f a, f b) noexcept { return _mm256_cmp_ps(a, b, _CMP_NEQ_UQ); }
    LOWBIT_LANE_OP m ordered(f a) noexcept { return _mm256_cmp_ps(a, a, _CMP_ORD_Q); }
    LOWBIT_LANE_OP f select(m k, f a, f b) noexcept { return _mm256_blendv_ps(b, a, k); }
    LOWBIT_LANE_OP m none() noexcept { return _mm256_setzero_ps(); }
    LOWBIT_LANE_OP m mand(m a, m b) noexcept { return _mm256_and_ps(a, b); }
    LOWBIT_LANE_OP m mor(m a, m b) noexcept { return _mm256_or_ps(a, b); }
    LOWBIT_LANE_OP m mnot(m a) noexcept { return _mm256_xor_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(-1))); }
    LOWBIT_LANE_OP bool all(m a) noexcept { return _mm256_movemask_ps(a) == 0xFF; }
    LOWBIT_LANE_OP bool any(m a) noexcept { return _mm256_movemask_ps(a) != 0; }
    LOWBIT_LANE_OP unsigned bits(m a) noexcept { return static_cast<unsigned>(_mm256_movemask_ps(a)); }
    LOWBIT_LANE_OP f fused_mul_sub(f a, f b, f c) noexcept { return _mm256_fmsub_ps(a, b, c); }
    LOWBIT_LANE_OP f fused_sub_mul(f a, f b, f c) noexcept { return _mm256_fnmadd_ps(a, b, c); }
    LOWBIT_LANE_OP bool any_sign(f g, f a, f b) noexcept { return !_mm256_testc_ps(g, _mm256_or_ps(a, b)); } // vorps, vtestps
    LOWBIT_LANE_OP f opaque(f a) noexcept { return x86::opaque(a); }
    LOWBIT_LANE_OP f nearest(f t) noexcept {
        const f biased = _mm256_add_ps(x86::opaque(t), _mm256_set1_ps(12582912.0f));
        const f low_bits = _mm256_or_ps(_mm256_and_ps(biased, _mm256_castsi256_ps(_mm256_set1_epi32(0x007fffff))),
                                        _mm256_castsi256_ps(_mm256_set1_epi32(0x4B000000)));
        return _mm256_sub_ps(low_bits, _mm256_set1_ps(12582912.0f));
    }
    /// One vroundps (nearest, ties to even: the integer the two additions give) instead of two
    /// additions, which are the busier pipes in the searches: the affine search 5-7% faster on
    /// an AVX2-only Zen 4. (It gives -0 for t in (-1/2, 0) where they give +0; see lanes16.)
    LOWBIT_LANE_OP f nearest_small(f t) noexcept { return _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    /// 32 bytes: four registers of codes as store_codes (no lanes zeroed), their integers in
    /// -128..127, packed together
    LOWBIT_LANE_OP void store_codes4(std::uint8_t* out, const f (&codes)[4], int offset) noexcept {
        const __m256i w01 = _mm256_packs_epi32(_mm256_cvttps_epi32(codes[0]), _mm256_cvttps_epi32(codes[1]));
        const __m256i w23 = _mm256_packs_epi32(_mm256_cvttps_epi32(codes[2]), _mm256_cvttps_epi32(codes[3]));
        // per 128-bit half: four codes of each register in order; the permute puts the halves' dwords in order
        const __m256i b = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w01, w23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_add_epi8(b, _mm256_set1_epi8(static_cast<char>(offset))));
    }
    /// out[i * out_stride + g] = in[g * in_stride + i] for g, i < 8: an 8 x 8 tile transposed
    /// with sixteen in-lane shuffles (rows k and k + 4 loaded into one register's halves), for
    /// the searches' transpose of their values into lanes. Copied float by float, that transpose
    /// took 9% of q4_K's quantizer (on an AVX2-only Zen 4), a store per value and array.
    LOWBIT_LANE_OP void transpose_tile(const float* in, std::ptrdiff_t in_stride, float* out, std::ptrdiff_t out_stride) noexcept {
        const auto half = [&](int row, int col) LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE { return _mm_loadu_ps(in + row * in_stride + col); };
        for (int c = 0; c < 8; c += 4) {
            __m256 r[4];
            for (int k = 0; k < 4; ++k) r[k] = _mm256_insertf128_ps(_mm256_castps128_ps256(half(k, c)), half(k + 4, c), 1);
            const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
            const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
            _mm256_storeu_ps(out + (c + 0) * out_stride, _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)));
            _mm256_storeu_ps(out + (c + 1) * out_stride, _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)));
            _mm256_storeu_ps(out + (c + 2) * out_stride, _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)));
            _mm256_storeu_ps(out + (c + 3) * out_stride, _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)));
        }
    }
    /// eight bytes, as lanes16::store_codes
    LOWBIT_LANE_OP void store_codes(std::uint8_t* out, f codes, int offset, m zero) noexcept {
        __m256i c = _mm256_add_epi32(_mm256_cvttps_epi32(codes), _mm256_set1_epi32(offset));
        c = _mm256_andnot_si256(_mm256_castps_si256(zero), c);
        const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packus_epi16(words, words));
    }
#  undef LOWBIT_LANE_OP
};

} // namespace lowbit::x86

#endif
