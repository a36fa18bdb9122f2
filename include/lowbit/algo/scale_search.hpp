// lowbit — the reference's scale searches, shared by the legacy and K-quant families.
//
// Each search picks a block scale (and, for the affine ones, a min) and the integer codes L for a
// group of n values. They are reproduced operation for operation: every product is rounded to
// float on its own (detail::mul) before it is added, because the reference is specified by its C
// source evaluated without fused multiply-add, and the bytes it writes depend on that.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../config.hpp"
#include "../numeric/rounding.hpp"

namespace lowbit::search {

using ::lowbit::detail::mul;
using numeric::clamp;
using numeric::nearest_int;

/// Below this absolute maximum a group is treated as all zeros (the reference's GROUP_MAX_EPS).
inline constexpr float group_max_eps = 1e-15f;

/// How a symmetric search weighs each value when no importance weights are given.
enum class rmse_weight : int { none = 0, square = 1, one = 2, abs = 3, sqrt_abs = 4 };

namespace detail_ {
LOWBIT_INLINE float default_weight(int rmse_type, float x) noexcept {
    switch (rmse_type) {
        case 1: return mul(x, x);
        case 2: return 1.0f;
        case 3: return std::fabs(x);
        default: return std::sqrt(std::fabs(x));
    }
}
} // namespace detail_

/// Symmetric codes: x ≈ scale * (L - nmax), L in [0, 2*nmax). `rmse_type` 0 takes the first
/// guess; negative values stop after one least-squares refinement; otherwise 18 more candidate
/// scales are tried. `qw` (may be null) overrides the per-value weights.
inline float symmetric_codes(int n, int nmax, const float* LOWBIT_RESTRICT x, std::int8_t* LOWBIT_RESTRICT L,
                             int rmse_type, const float* LOWBIT_RESTRICT qw) noexcept {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < group_max_eps) {
        std::memset(L, 0, static_cast<std::size_t>(n));
        return 0.0f;
    }
    float iscale = static_cast<float>(-nmax) / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; ++i) {
            const int l = nearest_int(mul(iscale, x[i]));
            L[i] = static_cast<std::int8_t>(nmax + clamp(l, -nmax, nmax - 1));
        }
        return 1 / iscale;
    }
    bool return_early = false;
    if (rmse_type < 0) {
        rmse_type = -rmse_type;
        return_early = true;
    }
    auto weight = [&](int i) { return qw ? qw[i] : detail_::default_weight(rmse_type, x[i]); };
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp(nearest_int(mul(iscale, x[i])), -nmax, nmax - 1);
        L[i] = static_cast<std::int8_t>(l + nmax);
        const float w = weight(i);
        sumlx += mul(mul(w, x[i]), static_cast<float>(l));
        suml2 += mul(mul(w, static_cast<float>(l)), static_cast<float>(l));
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    if (return_early) return suml2 > 0 ? mul(0.5f, scale + 1 / iscale) : 1 / iscale;
    float best = mul(scale, sumlx);
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(static_cast<float>(nmax) + mul(0.1f, static_cast<float>(is))) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp(nearest_int(mul(iscale, x[i])), -nmax, nmax - 1);
            const float w = weight(i);
            sumlx += mul(mul(w, x[i]), static_cast<float>(l));
            suml2 += mul(mul(w, static_cast<float>(l)), static_cast<float>(l));
        }
        if (suml2 > 0 && mul(sumlx, sumlx) > mul(best, suml2)) {
            for (int i = 0; i < n; ++i) {
                const int l = nearest_int(mul(iscale, x[i]));
                L[i] = static_cast<std::int8_t>(nmax + clamp(l, -nmax, nmax - 1));
            }
            scale = sumlx / suml2;
            best = mul(scale, sumlx);
        }
    }
    return scale;
}

/// Affine codes with a weighted least-squares search over candidate scales:
/// x ≈ scale * L - the_min, L in [0, nmax], the_min >= 0. Weights default to x².
/// `use_mad` scores candidates by weighted absolute instead of squared error.
inline float affine_codes_weighted(int n, int nmax, const float* LOWBIT_RESTRICT x, const float* LOWBIT_RESTRICT weights,
                                   std::uint8_t* LOWBIT_RESTRICT L, float* the_min, std::uint8_t* LOWBIT_RESTRICT Laux,
                                   float rmin, float rdelta, int nstep, bool use_mad) noexcept {
    auto weight = [&](int i) { return weights ? weights[i] : mul(x[i], x[i]); };
    float min = x[0], max = x[0];
    float sum_w = weight(0);
    float sum_x = mul(sum_w, x[0]);
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weight(i);
        sum_w += w;
        sum_x += mul(w, x[i]);
    }
    if (min > 0) min = 0;
    if (max <= min) {
        std::memset(L, 0, static_cast<std::size_t>(n));
        *the_min = -min;
        return 0.0f;
    }
    auto error_of = [&](float scale_, float min_, const std::uint8_t* codes) {
        float err = 0;
        for (int i = 0; i < n; ++i) {
            float diff = (mul(scale_, static_cast<float>(codes[i])) + min_) - x[i];
            diff = use_mad ? std::fabs(diff) : mul(diff, diff);
            err += mul(weight(i), diff);
        }
        return err;
    };
    float iscale = static_cast<float>(nmax) / (max - min);
    float scale = 1 / iscale;
    for (int i = 0; i < n; ++i)
        L[i] = static_cast<std::uint8_t>(clamp(nearest_int(mul(iscale, x[i] - min)), 0, nmax));
    float best_error = error_of(scale, min, L);
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = ((rmin + mul(rdelta, static_cast<float>(is))) + static_cast<float>(nmax)) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp(nearest_int(mul(iscale, x[i] - min)), 0, nmax);
            Laux[i] = static_cast<std::uint8_t>(l);
            const float w = weight(i);
            const float wl = mul(w, static_cast<float>(l));
            sum_l += wl;
            sum_l2 += mul(wl, static_cast<float>(l));
            sum_xl += mul(wl, x[i]);
        }
        const float D = mul(sum_w, sum_l2) - mul(sum_l, sum_l);
        if (D > 0) {
            float this_scale = (mul(sum_w, sum_xl) - mul(sum_x, sum_l)) / D;
            float this_min = (mul(sum_l2, sum_x) - mul(sum_l, sum_xl)) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            const float cur_error = error_of(this_scale, this_min, Laux);
            if (cur_error < best_error) {
                std::memcpy(L, Laux, static_cast<std::size_t>(n));
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

} // namespace lowbit::search

// ---------------------------------------------------------------------------------------------
// The searches of the K-quants. (The reference's make_qkx2_quants and make_qkx3_quants are both
// affine_codes_weighted above: with weights always given and finite inputs, their differences —
// a null-weights default and `max == min` versus `max <= min` — never show.)

namespace lowbit::search {

/// Symmetric codes refined one value at a time: starting from the nearest codes of scale
/// max/(-nmax), each pass moves every code to its least-squares best given the others, and keeps
/// the move when the x²-weighted fit improves; at most five passes. L[i] in [0, 2*nmax).
/// (The reference's make_q3_quants with its RMSE option, the plain q3_K sub-block search.)
inline float symmetric_codes_refined(int n, int nmax, const float* LOWBIT_RESTRICT x, std::int8_t* LOWBIT_RESTRICT L) noexcept {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < group_max_eps) {
        std::memset(L, 0, static_cast<std::size_t>(n));
        return 0.0f;
    }
    const float iscale = static_cast<float>(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp(nearest_int(mul(iscale, x[i])), -nmax, nmax - 1);
        L[i] = static_cast<std::int8_t>(l);
        const float w = mul(x[i], x[i]);
        sumlx += mul(mul(w, x[i]), static_cast<float>(l));
        suml2 += mul(mul(w, static_cast<float>(l)), static_cast<float>(l));
    }
    for (int pass = 0; pass < 5; ++pass) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = mul(x[i], x[i]);
            const float li = static_cast<float>(L[i]);
            float slx = sumlx - mul(mul(w, x[i]), li);
            if (!(slx > 0)) continue;
            float sl2 = suml2 - mul(mul(w, li), li);
            const int new_l = clamp(nearest_int(mul(x[i], sl2) / slx), -nmax, nmax - 1);
            if (new_l == L[i]) continue;
            const float nl = static_cast<float>(new_l);
            slx += mul(mul(w, x[i]), nl);
            sl2 += mul(mul(w, nl), nl);
            if (sl2 > 0 && mul(mul(slx, slx), suml2) > mul(mul(sumlx, sumlx), sl2)) {
                L[i] = static_cast<std::int8_t>(new_l);
                sumlx = slx;
                suml2 = sl2;
                ++changed;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = static_cast<std::int8_t>(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/// Codes for values that are (almost always) non-negative — the sub-block scales and mins of the
/// K-quants: x ≈ scale * L, L in [0, nmax]. Tries nine scales around max/nmax by weighted squared
/// error, then refines code by code as symmetric_codes_refined does. Codes are bytes: the rare
/// negative value wraps exactly as the reference's (uint8_t) store does, and the later sums use
/// the wrapped byte where the reference does.
inline float nonnegative_codes_weighted(int n, int nmax, const float* LOWBIT_RESTRICT x, std::uint8_t* LOWBIT_RESTRICT L,
                                        const float* LOWBIT_RESTRICT weights) noexcept {
    float max = 0;
    for (int i = 0; i < n; ++i) max = x[i] > max ? x[i] : max;
    if (max < group_max_eps) {
        std::memset(L, 0, static_cast<std::size_t>(n));
        return 0.0f;
    }
    auto squared_error = [&](float scale, auto&& code_of) {
        float err = 0;
        for (int i = 0; i < n; ++i) {
            const float diff = x[i] - mul(scale, static_cast<float>(code_of(i)));
            err += mul(mul(weights[i], diff), diff);
        }
        return err;
    };
    float iscale = static_cast<float>(nmax) / max;
    for (int i = 0; i < n; ++i) L[i] = static_cast<std::uint8_t>(nearest_int(mul(iscale, x[i])));
    float best = squared_error(1 / iscale, [&](int i) { return L[i]; });
    for (int is = -4; is <= 4; ++is) {
        if (is == 0) continue;
        const float iscale_is = (mul(0.1f, static_cast<float>(is)) + static_cast<float>(nmax)) / max;
        const float err = squared_error(1 / iscale_is, [&](int i) {
            const int l = nearest_int(mul(iscale_is, x[i]));
            return l < nmax ? l : nmax;
        });
        if (err < best) {
            best = err;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(mul(iscale, x[i]));
        l = l < nmax ? l : nmax;
        L[i] = static_cast<std::uint8_t>(l);
        const float w = weights[i];
        sumlx += mul(mul(w, x[i]), static_cast<float>(l));
        suml2 += mul(mul(w, static_cast<float>(l)), static_cast<float>(l));
    }
    for (int pass = 0; pass < 5; ++pass) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = weights[i];
            const float li = static_cast<float>(L[i]);
            float slx = sumlx - mul(mul(w, x[i]), li);
            float sl2 = suml2 - mul(mul(w, li), li);
            if (!(slx > 0 && sl2 > 0)) continue;
            int new_l = nearest_int(mul(x[i], sl2) / slx);
            new_l = new_l < nmax ? new_l : nmax;
            if (new_l == L[i]) continue;
            const float nl = static_cast<float>(new_l);
            slx += mul(mul(w, x[i]), nl);
            sl2 += mul(mul(w, nl), nl);
            if (mul(mul(slx, slx), suml2) > mul(mul(sumlx, sumlx), sl2)) {
                L[i] = static_cast<std::uint8_t>(new_l);
                sumlx = slx;
                suml2 = sl2;
                ++changed;
            }
        }
        if (!changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

} // namespace lowbit::search
