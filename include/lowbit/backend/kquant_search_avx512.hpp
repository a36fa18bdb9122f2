// lowbit — the K-quant sub-block searches with AVX-512: the sub-blocks of several super-blocks
// in the lanes of two registers.
//
// This is search::affine_codes_weighted_lanes, search::symmetric_codes_lanes and
// search::symmetric_codes_refined (algo/scale_search.hpp) written with intrinsics, and the final
// requantize of search::portable_engine, bit for bit the same per sub-block: every lane
// performs its own sub-block's IEEE operations in the scalar order, and every product that an
// addition consumes goes through x86::opaque so that no compiler can fuse the two. What makes it
// fast is width and independence: 32 sub-blocks per call (four q4_K super-blocks), in two sets
// of 16 lanes whose dependency chains (each candidate's sums and error in order) interleave.
//
// (Lambdas do not inherit their function's target attribute: each carries its own.)
//
// Three shortcuts keep the work per value small, none changing a bit:
// - codes are rounded in float registers with the reference's own trick (add 1.5 * 2^23, keep
//   the low mantissa bits), so they are the scalar nearest_int for every input, finite or not;
// - where the products are known to be small (finite inputs for the symmetric search, a bound
//   checked per candidate for the affine one), codes are clamped first and then rounded in two
//   operations, which gives the same integers;
// - the codes of the best candidate are not kept per candidate: its scale factor and the min it
//   was coded against are, and its codes are computed again at the end, from the same operations.
#pragma once

#include "avx512.hpp"

#if defined(LOWBIT_HAS_X86_BACKENDS)

#include "../algo/scale_search.hpp"

#include <limits>

namespace lowbit::x86::ksearch {

// (GCC 12 warns of uninitialized values in some unmasked 512-bit intrinsics; the all-ones masked
// forms are the same instructions.)
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512 min_ps(__m512 a, __m512 b) noexcept { return _mm512_maskz_min_ps(all16, a, b); }
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512 max_ps(__m512 a, __m512 b) noexcept { return _mm512_maskz_max_ps(all16, a, b); }

/// The reference's nearest_int of each lane (the integer as a float): t + 1.5*2^23, whose low 23
/// bits are the integer + 2^22, put under the exponent of 2^23 and 1.5*2^23 taken off again.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512 nearest(__m512 t) noexcept {
    const __m512 biased = _mm512_add_ps(opaque(t), _mm512_set1_ps(12582912.0f));
    const __m512i low_bits = _mm512_ternarylogic_epi32(_mm512_castps_si512(biased), _mm512_set1_epi32(0x007fffff),
                                                       _mm512_set1_epi32(0x4B000000), 0xEA); // (a & b) | c
    return _mm512_sub_ps(_mm512_castsi512_ps(low_bits), _mm512_set1_ps(12582912.0f));
}

/// nearest() of a value known to lie within ±2^21 (already clamped to integer bounds): the
/// same trick in two operations, t + 1.5*2^23 - 1.5*2^23. Clamping to integer bounds before
/// rounding instead of after gives the same integer.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512 nearest_small(__m512 t) noexcept {
    return _mm512_sub_ps(_mm512_add_ps(t, _mm512_set1_ps(12582912.0f)), _mm512_set1_ps(12582912.0f));
}

/// Per lane, the first of n values of largest magnitude (as the scalar searches find it), with
/// `flat` set where that magnitude is below group_max_eps; such lanes get 1 (they are answered at
/// the end and only need a harmless divisor meanwhile).
template <class Value>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512 signed_max(int n, Value&& value, __mmask16& flat) noexcept {
    __m512 amax = _mm512_setzero_ps(), max = _mm512_setzero_ps();
    for (int i = 0; i < n; ++i) {
        const __m512 v = value(i);
        const __m512 av = _mm512_abs_ps(v);
        const __mmask16 larger = _mm512_cmp_ps_mask(av, amax, _CMP_GT_OQ);
        amax = _mm512_mask_mov_ps(amax, larger, av);
        max = _mm512_mask_mov_ps(max, larger, v);
    }
    flat = _mm512_cmp_ps_mask(amax, _mm512_set1_ps(search::group_max_eps), _CMP_LT_OQ);
    return _mm512_mask_mov_ps(max, flat, _mm512_set1_ps(1.0f));
}

/// The values (and weights) of G groups of N, lane g of register [i][s] = value i of group 16s+g.
template <int N, int G>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 void transpose_in(const float* in, float (&out)[N][G]) noexcept {
    for (int g = 0; g < G; ++g)
        for (int i = 0; i < N; ++i) out[i][g] = in[g * N + i];
}

/// Codes (float lanes) back to G groups of N bytes, 0 in the lanes of `flat` groups, + offset.
template <int N, int G>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 void transpose_codes_out(const __m512 (&lf)[N][G / 16], const __mmask16 (&flat)[G / 16],
                                                                int offset, std::uint8_t* out) noexcept {
    alignas(64) std::uint8_t t[N][G];
    for (int i = 0; i < N; ++i)
        for (int s = 0; s < G / 16; ++s) {
            const __m512i c = _mm512_add_epi32(_mm512_maskz_cvttps_epi32(all16, lf[i][s]), _mm512_set1_epi32(offset));
            _mm_store_si128(reinterpret_cast<__m128i*>(&t[i][16 * s]), _mm512_maskz_cvtepi32_epi8(static_cast<__mmask16>(~flat[s]), c));
        }
    for (int g = 0; g < G; ++g)
        for (int i = 0; i < N; ++i) out[g * N + i] = t[i][g];
}

/// The final codes of G groups of N values, group by group from the untransposed values:
/// L[g*N + i] = clamp(nearest(iscale[g] * (x[g*N + i] - min[g])), lo, hi) + offset (min null:
/// no min), 0 in the groups of `flat`. The same operations as the search's, so the same codes.
template <int N, int G>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 void codes_by_group(const float* x, const __m512 (&iscale)[G / 16], const __m512 (*min)[G / 16],
                                                           const __mmask16 (&flat)[G / 16], int lo, int hi, int offset,
                                                           std::uint8_t* L) noexcept {
    static_assert(N % 16 == 0);
    alignas(64) float is[G], mn[G];
    for (int s = 0; s < G / 16; ++s) {
        _mm512_store_ps(is + 16 * s, iscale[s]);
        if (min) _mm512_store_ps(mn + 16 * s, (*min)[s]);
    }
    const __m512 vlo = _mm512_set1_ps(static_cast<float>(lo)), vhi = _mm512_set1_ps(static_cast<float>(hi));
    for (int g = 0; g < G; ++g) {
        const bool zero = (flat[g / 16] >> (g % 16)) & 1;
        const __m512 vis = _mm512_set1_ps(is[g]);
        for (int i = 0; i < N; i += 16) {
            __m512 v = _mm512_loadu_ps(x + g * N + i);
            if (min) v = _mm512_sub_ps(v, _mm512_set1_ps(mn[g]));
            const __m512 l = min_ps(max_ps(nearest(_mm512_mul_ps(vis, v)), vlo), vhi);
            const __m512i c = _mm512_add_epi32(_mm512_maskz_cvttps_epi32(all16, l), _mm512_set1_epi32(offset));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(L + g * N + i), zero ? _mm_setzero_si128() : _mm512_maskz_cvtepi32_epi8(all16, c));
        }
    }
}

/// search::affine_codes_weighted_lanes<N, G>, G a multiple of 16.
template <int N, int G>
LOWBIT_TARGET_AVX512 void affine(int nmax, const float* x, const float* weights, std::uint8_t* L, float* scale_out,
                                 float* the_min, float rmin, float rdelta, int nstep, bool use_mad) noexcept {
    static_assert(G % 16 == 0);
    constexpr int S = G / 16;
    alignas(64) float xs[N][G], ws[N][G];
    transpose_in<N, G>(x, xs);
    transpose_in<N, G>(weights, ws);
    auto X = [&](int i, int s) LOWBIT_TARGET_AVX512 { return _mm512_load_ps(&xs[i][16 * s]); };
    auto W = [&](int i, int s) LOWBIT_TARGET_AVX512 { return _mm512_load_ps(&ws[i][16 * s]); };
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f), top = _mm512_set1_ps(static_cast<float>(nmax));

    __m512 mn[S], mx[S], lowest[S], sum_w[S], sum_x[S], first_min[S];
    __mmask16 flat[S];
    bool no_nan = true;
    for (int s = 0; s < S; ++s) {
        mn[s] = mx[s] = X(0, s);
        sum_w[s] = W(0, s);
        sum_x[s] = opaque(_mm512_mul_ps(W(0, s), X(0, s)));
    }
    for (int i = 0; i < N; ++i)
        for (int s = 0; s < S; ++s) {
            no_nan &= _mm512_cmp_ps_mask(X(i, s), X(i, s), _CMP_ORD_Q) == 0xFFFF;
            if (i == 0) continue;
            mn[s] = min_ps(X(i, s), mn[s]); // x < mn ? x : mn
            mx[s] = max_ps(X(i, s), mx[s]);
            sum_w[s] = _mm512_add_ps(sum_w[s], W(i, s));
            sum_x[s] = _mm512_add_ps(sum_x[s], opaque(_mm512_mul_ps(W(i, s), X(i, s))));
        }
    for (int s = 0; s < S; ++s) {
        lowest[s] = mn[s];
        mn[s] = _mm512_mask_mov_ps(mn[s], _mm512_cmp_ps_mask(mn[s], zero, _CMP_GT_OQ), zero);
        first_min[s] = mn[s];
        flat[s] = static_cast<__mmask16>(~_mm512_cmp_ps_mask(mx[s], mn[s], _CMP_GT_OQ));
    }
    // max - min with the current min (the reference's, which each accepted candidate moves); flat
    // groups are answered at the end and compute on a harmless range of 1 meanwhile
    auto range = [&](int s) LOWBIT_TARGET_AVX512 { return _mm512_mask_blend_ps(flat[s], _mm512_sub_ps(mx[s], mn[s]), one); };

    // The loops below run value by value with the sets innermost, so that the sets' chains of
    // additions (each in the scalar order) interleave.
    __m512 lf[N][S];
    // lf = clamp(nearest(iscale * (x - min)), 0, nmax), for every value of every set
    auto codes = [&](int i, int s, __m512 iscale, __m512 min) LOWBIT_TARGET_AVX512 {
        const __m512 r = nearest(_mm512_mul_ps(iscale, _mm512_sub_ps(X(i, s), min)));
        return lf[i][s] = min_ps(max_ps(r, zero), top);
    };
    // The same codes where iscale * (x - min) is known to lie within ±2^21 for every x of the
    // set: clamped first, then rounded in two operations.
    auto codes_small = [&](int i, int s, __m512 iscale, __m512 min) LOWBIT_TARGET_AVX512 {
        const __m512 t = min_ps(max_ps(_mm512_mul_ps(iscale, _mm512_sub_ps(X(i, s), min)), zero), top);
        return lf[i][s] = nearest_small(t);
    };
    // Whether every t of this candidate is within ±2^21: x - min and the product are monotonic
    // in x and iscale > 0, so the extremes of x bound them (a NaN or an infinity fails the test).
    auto small = [&](const __m512 (&iscale)[S]) LOWBIT_TARGET_AVX512 {
        bool ok = no_nan;
        for (int s = 0; s < S; ++s) {
            const __m512 lo_t = _mm512_mul_ps(iscale[s], _mm512_sub_ps(lowest[s], mn[s]));
            const __m512 hi_t = _mm512_mul_ps(iscale[s], _mm512_sub_ps(mx[s], mn[s]));
            ok &= (_mm512_cmp_ps_mask(lo_t, _mm512_set1_ps(-2097152.0f), _CMP_GE_OQ) &
                   _mm512_cmp_ps_mask(hi_t, _mm512_set1_ps(2097152.0f), _CMP_LE_OQ)) == 0xFFFF;
        }
        return ok;
    };
    // Σ w * (scale*L + min - x)^2 (or |.| with Mad) in order
    auto errors_as = [&]<bool Mad>(const __m512 (&scale)[S], const __m512 (&min)[S], __m512 (&err)[S]) LOWBIT_TARGET_AVX512 {
        for (int s = 0; s < S; ++s) err[s] = zero;
        for (int i = 0; i < N; ++i)
            for (int s = 0; s < S; ++s) {
                const __m512 diff = _mm512_sub_ps(_mm512_add_ps(opaque(_mm512_mul_ps(scale[s], lf[i][s])), min[s]), X(i, s));
                const __m512 e = Mad ? _mm512_mul_ps(W(i, s), _mm512_abs_ps(diff)) : _mm512_mul_ps(W(i, s), _mm512_mul_ps(diff, diff));
                err[s] = _mm512_add_ps(err[s], opaque(e));
            }
    };
    auto errors = [&](const __m512 (&scale)[S], const __m512 (&min)[S], __m512 (&err)[S]) LOWBIT_TARGET_AVX512 {
        if (use_mad) errors_as.template operator()<true>(scale, min, err);
        else errors_as.template operator()<false>(scale, min, err);
    };

    __m512 iscale[S], scale[S], best_error[S], best_iscale[S], best_code_min[S];
    for (int s = 0; s < S; ++s) {
        iscale[s] = _mm512_div_ps(top, range(s));
        scale[s] = _mm512_div_ps(one, iscale[s]);
        best_iscale[s] = iscale[s];
        best_code_min[s] = mn[s];
    }
    for (int i = 0; i < N; ++i)
        for (int s = 0; s < S; ++s) codes(i, s, iscale[s], mn[s]);
    errors(scale, mn, best_error);
    for (int is = 0; is <= nstep && nstep >= 1; ++is) {
        const float numerator = (rmin + ::lowbit::detail::mul(rdelta, static_cast<float>(is))) + static_cast<float>(nmax);
        __m512 sum_l[S], sum_l2[S], sum_xl[S];
        for (int s = 0; s < S; ++s) {
            iscale[s] = _mm512_div_ps(_mm512_set1_ps(numerator), range(s));
            sum_l[s] = sum_l2[s] = sum_xl[s] = zero;
        }
        auto code_sums = [&]<bool Small>() LOWBIT_TARGET_AVX512 {
            for (int i = 0; i < N; ++i)
                for (int s = 0; s < S; ++s) {
                    const __m512 l = Small ? codes_small(i, s, iscale[s], mn[s]) : codes(i, s, iscale[s], mn[s]);
                    const __m512 wl = opaque(_mm512_mul_ps(W(i, s), l));
                    sum_l[s] = _mm512_add_ps(sum_l[s], wl);
                    sum_l2[s] = _mm512_add_ps(sum_l2[s], opaque(_mm512_mul_ps(wl, l)));
                    sum_xl[s] = _mm512_add_ps(sum_xl[s], opaque(_mm512_mul_ps(wl, X(i, s))));
                }
        };
        if (small(iscale)) code_sums.template operator()<true>();
        else code_sums.template operator()<false>();
        __m512 this_scale[S], this_min[S], cur_error[S];
        __mmask16 fit[S];
        for (int s = 0; s < S; ++s) {
            const __m512 D = _mm512_sub_ps(opaque(_mm512_mul_ps(sum_w[s], sum_l2[s])), opaque(_mm512_mul_ps(sum_l[s], sum_l[s])));
            fit[s] = _mm512_cmp_ps_mask(D, zero, _CMP_GT_OQ);
            const __m512 d_safe = _mm512_mask_blend_ps(fit[s], one, D); // lanes without a fit are not used
            this_scale[s] = _mm512_div_ps(_mm512_sub_ps(opaque(_mm512_mul_ps(sum_w[s], sum_xl[s])), opaque(_mm512_mul_ps(sum_x[s], sum_l[s]))), d_safe);
            this_min[s] = _mm512_div_ps(_mm512_sub_ps(opaque(_mm512_mul_ps(sum_l2[s], sum_x[s])), opaque(_mm512_mul_ps(sum_l[s], sum_xl[s]))), d_safe);
            const __mmask16 positive = _mm512_cmp_ps_mask(this_min[s], zero, _CMP_GT_OQ);
            this_min[s] = _mm512_mask_mov_ps(this_min[s], positive, zero);
            this_scale[s] = _mm512_mask_mov_ps(this_scale[s], positive, _mm512_div_ps(sum_xl[s], _mm512_mask_blend_ps(fit[s], one, sum_l2[s])));
        }
        errors(this_scale, this_min, cur_error);
        for (int s = 0; s < S; ++s) {
            const __mmask16 better = fit[s] & _mm512_cmp_ps_mask(cur_error[s], best_error[s], _CMP_LT_OQ);
            best_error[s] = _mm512_mask_mov_ps(best_error[s], better, cur_error[s]);
            scale[s] = _mm512_mask_mov_ps(scale[s], better, this_scale[s]);
            best_iscale[s] = _mm512_mask_mov_ps(best_iscale[s], better, iscale[s]);
            best_code_min[s] = _mm512_mask_mov_ps(best_code_min[s], better, mn[s]);
            mn[s] = _mm512_mask_mov_ps(mn[s], better, this_min[s]);
        }
    }
    for (int s = 0; s < S; ++s) {
        const __m512 final_min = _mm512_mask_blend_ps(flat[s], mn[s], first_min[s]);
        _mm512_storeu_ps(the_min + 16 * s, _mm512_xor_ps(final_min, _mm512_set1_ps(-0.0f))); // -min
        _mm512_storeu_ps(scale_out + 16 * s, _mm512_mask_mov_ps(scale[s], flat[s], zero));
    }
    codes_by_group<N, G>(x, best_iscale, &best_code_min, flat, 0, nmax, 0, L);
}

/// search::portable_engine::requantize, sixteen values at a time.
template <int N>
LOWBIT_TARGET_AVX512 void requantize(const float* x, float d, float m, int lo, int hi, std::uint8_t* L) noexcept {
    static_assert(N % 16 == 0);
    const __m512 vd = _mm512_set1_ps(d), vm = _mm512_set1_ps(m);
    const __m512 vlo = _mm512_set1_ps(static_cast<float>(lo)), vhi = _mm512_set1_ps(static_cast<float>(hi));
    for (int l = 0; l < N; l += 16) {
        const __m512 q = min_ps(max_ps(nearest(_mm512_div_ps(_mm512_add_ps(_mm512_loadu_ps(x + l), vm), vd)), vlo), vhi);
        const __m512i c = _mm512_sub_epi32(_mm512_maskz_cvttps_epi32(all16, q), _mm512_set1_epi32(lo));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(L + l), _mm512_maskz_cvtepi32_epi8(all16, c));
    }
}

/// search::symmetric_codes_lanes<N, G> (weights null: x²), G a multiple of 16.
template <int N, int G>
LOWBIT_TARGET_AVX512 void symmetric(int nmax, const float* x, const float* weights, std::int8_t* L, float* scale_out) noexcept {
    static_assert(G % 16 == 0);
    constexpr int S = G / 16;
    alignas(64) float xs[N][G], ws[N][G];
    transpose_in<N, G>(x, xs);
    if (weights) transpose_in<N, G>(weights, ws);
    else
        for (int i = 0; i < N; ++i)
            for (int s = 0; s < S; ++s) {
                const __m512 v = _mm512_load_ps(&xs[i][16 * s]);
                _mm512_store_ps(&ws[i][16 * s], _mm512_mul_ps(v, v));
            }
    auto X = [&](int i, int s) LOWBIT_TARGET_AVX512 { return _mm512_load_ps(&xs[i][16 * s]); };
    auto W = [&](int i, int s) LOWBIT_TARGET_AVX512 { return _mm512_load_ps(&ws[i][16 * s]); };
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    const __m512 lo = _mm512_set1_ps(static_cast<float>(-nmax)), hi = _mm512_set1_ps(static_cast<float>(nmax - 1));

    __m512 max[S], wx[N][S];
    __mmask16 flat[S];
    bool finite = true;
    for (int s = 0; s < S; ++s) {
        max[s] = signed_max(N, [&](int i) LOWBIT_TARGET_AVX512 { return X(i, s); }, flat[s]);
        for (int i = 0; i < N; ++i) {
            wx[i][s] = _mm512_mul_ps(W(i, s), X(i, s));
            finite &= _mm512_cmp_ps_mask(_mm512_abs_ps(X(i, s)), _mm512_set1_ps(std::numeric_limits<float>::infinity()), _CMP_LT_OQ) == 0xFFFF;
        }
    }

    // With finite values |iscale * x| <= nmax + 1 (max is the value of largest magnitude), so the
    // codes can be clamped first and rounded in two operations; otherwise the reference's rounding
    // of whatever the product is.
    auto code = [&]<bool Finite>(int i, int s, __m512 iscale) LOWBIT_TARGET_AVX512 {
        if constexpr (Finite) return nearest_small(min_ps(max_ps(_mm512_mul_ps(iscale, X(i, s)), lo), hi));
        else return min_ps(max_ps(nearest(_mm512_mul_ps(iscale, X(i, s))), lo), hi);
    };
    // Σ wx * L and Σ w * L * L in order, every set at once (the sets' chains interleave)
    auto sums_as = [&]<bool Finite>(const __m512 (&iscale)[S], __m512 (&sumlx)[S], __m512 (&suml2)[S]) LOWBIT_TARGET_AVX512 {
        for (int s = 0; s < S; ++s) sumlx[s] = suml2[s] = zero;
        for (int i = 0; i < N; ++i)
            for (int s = 0; s < S; ++s) {
                const __m512 l = code.template operator()<Finite>(i, s, iscale[s]);
                sumlx[s] = _mm512_add_ps(sumlx[s], opaque(_mm512_mul_ps(wx[i][s], l)));
                suml2[s] = _mm512_add_ps(suml2[s], opaque(_mm512_mul_ps(_mm512_mul_ps(W(i, s), l), l)));
            }
    };
    auto sums = [&](const __m512 (&iscale)[S], __m512 (&sumlx)[S], __m512 (&suml2)[S]) LOWBIT_TARGET_AVX512 {
        if (finite) sums_as.template operator()<true>(iscale, sumlx, suml2);
        else sums_as.template operator()<false>(iscale, sumlx, suml2);
    };

    __m512 iscale[S], scale[S], best_score[S], best_iscale[S], sumlx[S], suml2[S];
    for (int s = 0; s < S; ++s) iscale[s] = _mm512_div_ps(lo, max[s]);
    sums(iscale, sumlx, suml2);
    for (int s = 0; s < S; ++s) {
        const __mmask16 nonzero = _mm512_cmp_ps_mask(suml2[s], zero, _CMP_NEQ_UQ);
        scale[s] = _mm512_maskz_div_ps(nonzero, sumlx[s], _mm512_mask_blend_ps(nonzero, one, suml2[s]));
        best_score[s] = _mm512_mul_ps(scale[s], sumlx[s]);
        best_iscale[s] = iscale[s];
    }
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        const float numerator = -(static_cast<float>(nmax) + ::lowbit::detail::mul(0.1f, static_cast<float>(is)));
        for (int s = 0; s < S; ++s) iscale[s] = _mm512_div_ps(_mm512_set1_ps(numerator), max[s]);
        sums(iscale, sumlx, suml2);
        for (int s = 0; s < S; ++s) {
            const __mmask16 better = _mm512_cmp_ps_mask(suml2[s], zero, _CMP_GT_OQ) &
                                     _mm512_cmp_ps_mask(_mm512_mul_ps(sumlx[s], sumlx[s]), _mm512_mul_ps(best_score[s], suml2[s]), _CMP_GT_OQ);
            const __m512 sc = _mm512_div_ps(sumlx[s], _mm512_mask_blend_ps(better, one, suml2[s]));
            scale[s] = _mm512_mask_mov_ps(scale[s], better, sc);
            best_score[s] = _mm512_mask_mov_ps(best_score[s], better, _mm512_mul_ps(sc, sumlx[s]));
            best_iscale[s] = _mm512_mask_mov_ps(best_iscale[s], better, iscale[s]);
        }
    }
    for (int s = 0; s < S; ++s) _mm512_storeu_ps(scale_out + 16 * s, _mm512_mask_mov_ps(scale[s], flat[s], zero));
    codes_by_group<N, G>(x, best_iscale, nullptr, flat, -nmax, nmax - 1, nmax, reinterpret_cast<std::uint8_t*>(L));
}

/// search::symmetric_codes_refined on G groups of N values, G a multiple of 16: the passes of
/// code-by-code refinement run in every lane at once, a lane's move taken under a mask where the
/// scalar search takes it, and a lane done once a pass changes nothing in it.
template <int N, int G>
LOWBIT_TARGET_AVX512 void symmetric_refined(int nmax, const float* x, std::int8_t* L, float* scale_out) noexcept {
    static_assert(G % 16 == 0);
    constexpr int S = G / 16;
    alignas(64) float xs[N][G];
    transpose_in<N, G>(x, xs);
    const __m512 zero = _mm512_setzero_ps();
    const __m512 lo = _mm512_set1_ps(static_cast<float>(-nmax)), hi = _mm512_set1_ps(static_cast<float>(nmax - 1));
    __m512 X[N][S], wx[N][S], w[N][S], l[N][S];
    __m512 sumlx[S], suml2[S];
    __mmask16 flat[S], active[S];
    for (int s = 0; s < S; ++s) {
        for (int i = 0; i < N; ++i) X[i][s] = _mm512_load_ps(&xs[i][16 * s]);
        const __m512 max = signed_max(N, [&](int i) LOWBIT_TARGET_AVX512 { return X[i][s]; }, flat[s]);
        active[s] = static_cast<__mmask16>(~flat[s]);
        const __m512 iscale = _mm512_div_ps(lo, max);
        sumlx[s] = suml2[s] = zero;
        for (int i = 0; i < N; ++i) {
            l[i][s] = min_ps(max_ps(nearest(_mm512_mul_ps(iscale, X[i][s])), lo), hi);
            w[i][s] = opaque(_mm512_mul_ps(X[i][s], X[i][s]));
            wx[i][s] = opaque(_mm512_mul_ps(w[i][s], X[i][s]));
            sumlx[s] = _mm512_add_ps(sumlx[s], opaque(_mm512_mul_ps(wx[i][s], l[i][s])));
            suml2[s] = _mm512_add_ps(suml2[s], opaque(_mm512_mul_ps(opaque(_mm512_mul_ps(w[i][s], l[i][s])), l[i][s])));
        }
    }
    for (int pass = 0; pass < 5; ++pass) {
        __mmask16 changed[S] = {};
        bool any = false;
        for (int s = 0; s < S; ++s) any |= active[s] != 0;
        if (!any) break;
        for (int i = 0; i < N; ++i)
            for (int s = 0; s < S; ++s) {
                if (!active[s]) continue;
                const __m512 li = l[i][s];
                __m512 slx = _mm512_sub_ps(sumlx[s], opaque(_mm512_mul_ps(wx[i][s], li)));
                __m512 sl2 = _mm512_sub_ps(suml2[s], opaque(_mm512_mul_ps(opaque(_mm512_mul_ps(w[i][s], li)), li)));
                const __mmask16 positive = _mm512_cmp_ps_mask(slx, zero, _CMP_GT_OQ);
                const __m512 q = _mm512_div_ps(_mm512_mul_ps(X[i][s], sl2), _mm512_mask_blend_ps(positive, _mm512_set1_ps(1.0f), slx));
                const __m512 nl = min_ps(max_ps(nearest(q), lo), hi);
                const __mmask16 moved = active[s] & positive & _mm512_cmp_ps_mask(nl, li, _CMP_NEQ_UQ);
                slx = _mm512_add_ps(slx, opaque(_mm512_mul_ps(wx[i][s], nl)));
                sl2 = _mm512_add_ps(sl2, opaque(_mm512_mul_ps(opaque(_mm512_mul_ps(w[i][s], nl)), nl)));
                const __m512 gain = opaque(_mm512_mul_ps(opaque(_mm512_mul_ps(slx, slx)), suml2[s]));
                const __m512 base = opaque(_mm512_mul_ps(opaque(_mm512_mul_ps(sumlx[s], sumlx[s])), sl2));
                const __mmask16 take = moved & _mm512_cmp_ps_mask(sl2, zero, _CMP_GT_OQ) & _mm512_cmp_ps_mask(gain, base, _CMP_GT_OQ);
                l[i][s] = _mm512_mask_mov_ps(li, take, nl);
                sumlx[s] = _mm512_mask_mov_ps(sumlx[s], take, slx);
                suml2[s] = _mm512_mask_mov_ps(suml2[s], take, sl2);
                changed[s] |= take;
            }
        for (int s = 0; s < S; ++s) active[s] &= changed[s];
    }
    for (int s = 0; s < S; ++s) {
        const __mmask16 positive = _mm512_cmp_ps_mask(suml2[s], zero, _CMP_GT_OQ);
        const __m512 sc = _mm512_maskz_div_ps(positive, sumlx[s], _mm512_mask_blend_ps(positive, _mm512_set1_ps(1.0f), suml2[s]));
        _mm512_storeu_ps(scale_out + 16 * s, _mm512_mask_mov_ps(sc, flat[s], zero));
    }
    transpose_codes_out<N, G>(l, flat, nmax, reinterpret_cast<std::uint8_t*>(L));
}

} // namespace lowbit::x86::ksearch

namespace lowbit::x86 {

/// The engine of formats/kquants.hpp's quantize_row_with: 32 sub-blocks per call.
struct avx512_search_engine {
    template <int nsub>
    static constexpr int batch = nsub >= 32 ? 1 : 32 / nsub;

    template <int N, int G>
    static void affine(int nmax, const float* x, const float* weights, std::uint8_t* L, float* scale, float* the_min,
                       float rmin, float rdelta, int nstep, bool use_mad) noexcept {
        ksearch::affine<N, G>(nmax, x, weights, L, scale, the_min, rmin, rdelta, nstep, use_mad);
    }
    template <int N, int G>
    static void symmetric(int nmax, const float* x, const float* weights, std::int8_t* L, float* scale) noexcept {
        ksearch::symmetric<N, G>(nmax, x, weights, L, scale);
    }
    template <int N, int G>
    static void symmetric_refined(int nmax, const float* x, std::int8_t* L, float* scale) noexcept {
        ksearch::symmetric_refined<N, G>(nmax, x, L, scale);
    }
    template <int N>
    static void requantize(const float* x, float d, float m, int lo, int hi, std::uint8_t* L) noexcept {
        ksearch::requantize<N>(x, d, m, lo, hi, L);
    }
};

} // namespace lowbit::x86

#endif
