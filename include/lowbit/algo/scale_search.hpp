// lowbit — the reference's scale searches, shared by the legacy and K-quant families.
//
// Each search picks a block scale (and, for the affine ones, a min) and the integer codes L for a
// group of n values. They are reproduced operation for operation: every product is rounded to
// float on its own (detail::mul) before it is added, because the reference is specified by its C
// source evaluated without fused multiply-add, and the bytes it writes depend on that.
#pragma once

#include <atomic>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "../config.hpp"
#include "../numeric/rounding.hpp"

namespace lowbit::search {

using ::lowbit::detail::mul;
using numeric::clamp;
using numeric::nearest_int;

/// Below this absolute maximum a group is treated as all zeros (the reference's GROUP_MAX_EPS).
inline constexpr float group_max_eps = 1e-15f;

/// The first of n values of largest magnitude, with its sign (0 where all are zero; a NaN never
/// is it), and that magnitude in `amax`: how the searches find their group's extreme.
inline float largest_magnitude(int n, const float* x, float& amax) noexcept {
    float max = 0;
    amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    return max;
}

/// A group the searches code as all zeros with scale 0: its largest magnitude below group_max_eps.
inline bool flat_group(int n, const float* x) noexcept {
    float amax;
    largest_magnitude(n, x, amax);
    return amax < group_max_eps;
}

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

/// Groups the searches take at most this many values (their scratch arrays live on the stack).
inline constexpr int max_group_ = 256;

/// A compiler barrier over an array: values stored to it before the barrier are read back from
/// memory after it, so a product stored there can never be fused into an addition that reads it.
LOWBIT_INLINE void fence_array(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __asm__ __volatile__("" : : "r"(p) : "memory");
#else
    static_cast<void>(p);
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}
template <class... T>
LOWBIT_INLINE void fence(const T*... p) noexcept {
    (fence_array(p), ...);
}

/// nearest_int for a value read back after a fence (so not the fresh result of a product).
LOWBIT_INLINE int round_fenced(float x) noexcept {
    const float biased = x + 12582912.0f;
    std::int32_t i;
    std::memcpy(&i, &biased, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}
} // namespace detail_

/// Most values one search call takes (its scratch arrays are on the stack).
inline constexpr int max_group = detail_::max_group_;

/// The codes of a symmetric search's candidate: L = clamp(nearest_int(iscale * x), -nmax, nmax - 1)
/// + nmax (what a search below gives, knowing the factor of the candidate it took).
inline void symmetric_codes_for(int n, int nmax, float iscale, const float* LOWBIT_RESTRICT x,
                                std::int8_t* LOWBIT_RESTRICT L) noexcept {
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(mul(iscale, x[i]));
        L[i] = static_cast<std::int8_t>(nmax + clamp(l, -nmax, nmax - 1));
    }
}

/// Symmetric codes: x ≈ scale * (L - nmax), L in [0, 2*nmax). `rmse_type` 0 takes the first
/// guess; negative values stop after one least-squares refinement; otherwise 18 more candidate
/// scales are tried. `qw` (may be null) overrides the per-value weights.
inline float symmetric_codes(int n, int nmax, const float* LOWBIT_RESTRICT x, std::int8_t* LOWBIT_RESTRICT L,
                             int rmse_type, const float* LOWBIT_RESTRICT qw) noexcept {
    float amax;
    const float max = largest_magnitude(n, x, amax);
    if (amax < group_max_eps) {
        std::memset(L, 0, static_cast<std::size_t>(n));
        return 0.0f;
    }
    float iscale = static_cast<float>(-nmax) / max;
    if (rmse_type == 0) {
        symmetric_codes_for(n, nmax, iscale, x, L);
        return 1 / iscale;
    }
    bool return_early = false;
    if (rmse_type < 0) {
        rmse_type = -rmse_type;
        return_early = true;
    }
    // As in affine_codes_weighted: element-wise work in arrays, a fence before the ordered sums,
    // and a candidate with the same codes as the one before it skipped (it would leave the
    // result as it is: accepting it again rewrites the same codes, scale and score).
    assert(n <= max_group);
    float wx[max_group], wt[max_group], t[max_group], lf[max_group];
    for (int i = 0; i < n; ++i) {
        wt[i] = qw ? qw[i] : detail_::default_weight(rmse_type, x[i]);
        wx[i] = wt[i] * x[i];
    }
    std::int8_t cand[2][max_group];
    auto codes = [&](float iscale_, std::int8_t* out) {
        for (int i = 0; i < n; ++i) t[i] = iscale_ * x[i];
        detail_::fence(t);
        for (int i = 0; i < n; ++i) {
            const int l = clamp(detail_::round_fenced(t[i]), -nmax, nmax - 1);
            out[i] = static_cast<std::int8_t>(l);
            lf[i] = static_cast<float>(l);
        }
    };
    auto sums = [&](float& sumlx_, float& suml2_) {
        float a[max_group], b[max_group];
        for (int i = 0; i < n; ++i) {
            a[i] = wx[i] * lf[i];
            b[i] = (wt[i] * lf[i]) * lf[i];
        }
        detail_::fence(a, b);
        sumlx_ = suml2_ = 0;
        for (int i = 0; i < n; ++i) {
            sumlx_ += a[i];
            suml2_ += b[i];
        }
    };
    float sumlx, suml2;
    codes(iscale, cand[0]);
    for (int i = 0; i < n; ++i) L[i] = static_cast<std::int8_t>(cand[0][i] + nmax);
    sums(sumlx, suml2);
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    if (return_early) return suml2 > 0 ? mul(0.5f, scale + 1 / iscale) : 1 / iscale;
    float best = mul(scale, sumlx);
    int k = 0;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        ++k;
        std::int8_t* cur = cand[k & 1];
        const std::int8_t* previous = cand[(k & 1) ^ 1];
        iscale = -(static_cast<float>(nmax) + mul(0.1f, static_cast<float>(is))) / max;
        codes(iscale, cur);
        if (std::memcmp(cur, previous, static_cast<std::size_t>(n)) == 0) continue;
        sums(sumlx, suml2);
        if (suml2 > 0 && mul(sumlx, sumlx) > mul(best, suml2)) {
            for (int i = 0; i < n; ++i) L[i] = static_cast<std::int8_t>(cur[i] + nmax);
            scale = sumlx / suml2;
            best = mul(scale, sumlx);
        }
    }
    return scale;
}

/// Affine codes with a weighted least-squares search over candidate scales:
/// x ≈ scale * L - the_min, L in [0, nmax], the_min >= 0. Weights default to x².
/// `use_mad` scores candidates by weighted absolute instead of squared error. n <= max_group.
///
/// The reference's sums run in order and may not be reassociated, so they are latency-bound
/// chains of additions. Everything else is element-wise: it is computed for the whole group into
/// arrays (where the compiler vectorises it), and a memory fence (detail_::fence) stands between
/// products and the additions that consume them, so no product can be fused into an FMA. A
/// candidate whose codes equal the previous candidate's is skipped: its sums, fit and error would
/// be the same, so it cannot beat the best so far (which is at most the previous one's error).
inline float affine_codes_weighted(int n, int nmax, const float* LOWBIT_RESTRICT x, const float* LOWBIT_RESTRICT weights,
                                   std::uint8_t* LOWBIT_RESTRICT L, float* the_min, std::uint8_t* LOWBIT_RESTRICT Laux,
                                   float rmin, float rdelta, int nstep, bool use_mad) noexcept {
    assert(n > 0 && n <= max_group);
    float w[max_group];
    if (weights) {
        std::memcpy(w, weights, sizeof(float) * static_cast<std::size_t>(n));
    } else {
        for (int i = 0; i < n; ++i) w[i] = x[i] * x[i];
        detail_::fence(w);
    }
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = mul(w[0], x[0]);
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += mul(w[i], x[i]);
    }
    if (min > 0) min = 0;
    if (max <= min) {
        std::memset(L, 0, static_cast<std::size_t>(n));
        *the_min = -min;
        return 0.0f;
    }
    float t[max_group], lf[max_group];
    // L[i] = clamp(round(iscale * (x[i] - min)), 0, nmax), and lf = L as floats.
    auto codes = [&](float iscale, float min_, std::uint8_t* out) {
        for (int i = 0; i < n; ++i) t[i] = iscale * (x[i] - min_);
        detail_::fence(t);
        for (int i = 0; i < n; ++i) {
            const int l = clamp(detail_::round_fenced(t[i]), 0, nmax);
            out[i] = static_cast<std::uint8_t>(l);
            lf[i] = static_cast<float>(l);
        }
    };
    // With no negative weight the partial error sums never decrease, so a candidate can be dropped
    // as soon as its partial sum reaches the best error: its total could not be below it.
    bool nonnegative = true;
    for (int i = 0; i < n; ++i) nonnegative &= w[i] >= 0.0f;
    // Σ w * (scale*L + min - x)^2 (or |.|), with lf holding L; stops early at or above `bound`.
    auto error_of = [&](float scale_, float min_, float bound) {
        float e[max_group];
        for (int i = 0; i < n; ++i) t[i] = scale_ * lf[i];
        detail_::fence(t);
        if (use_mad) {
            for (int i = 0; i < n; ++i) e[i] = w[i] * std::fabs((t[i] + min_) - x[i]);
        } else {
            for (int i = 0; i < n; ++i) {
                const float diff = (t[i] + min_) - x[i];
                e[i] = w[i] * (diff * diff);
            }
        }
        detail_::fence(e);
        float err = 0;
        for (int i = 0; i < n; ++i) {
            err += e[i];
            if ((i & 7) == 7 && nonnegative && !(err < bound)) return err;
        }
        return err;
    };
    float iscale = static_cast<float>(nmax) / (max - min);
    float scale = 1 / iscale;
    codes(iscale, min, L);
    float best_error = error_of(scale, min, std::numeric_limits<float>::infinity());
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    std::uint8_t cand[2][max_group];
    bool have_previous = false;
    for (int is = 0; is <= nstep; ++is) {
        std::uint8_t* cur = cand[is & 1];
        const std::uint8_t* previous = cand[(is & 1) ^ 1];
        iscale = ((rmin + mul(rdelta, static_cast<float>(is))) + static_cast<float>(nmax)) / (max - min);
        codes(iscale, min, cur);
        if (have_previous && std::memcmp(cur, previous, static_cast<std::size_t>(n)) == 0) continue;
        have_previous = true;
        float wl[max_group], wl2[max_group], wlx[max_group];
        for (int i = 0; i < n; ++i) {
            wl[i] = w[i] * lf[i];
            wl2[i] = wl[i] * lf[i];
            wlx[i] = wl[i] * x[i];
        }
        detail_::fence(wl, wl2, wlx);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            sum_l += wl[i];
            sum_l2 += wl2[i];
            sum_xl += wlx[i];
        }
        const float D = mul(sum_w, sum_l2) - mul(sum_l, sum_l);
        if (D > 0) {
            float this_scale = (mul(sum_w, sum_xl) - mul(sum_x, sum_l)) / D;
            float this_min = (mul(sum_l2, sum_x) - mul(sum_l, sum_xl)) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            const float cur_error = error_of(this_scale, this_min, best_error);
            if (cur_error < best_error) {
                std::memcpy(L, cur, static_cast<std::size_t>(n));
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    if (Laux) std::memcpy(Laux, cand[nstep & 1], static_cast<std::size_t>(n)); // as the reference leaves it
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
    float amax;
    const float max = largest_magnitude(n, x, amax);
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

namespace lowbit::search {

/// affine_codes_weighted on G groups of N values at once, bit for bit the same result per group.
/// x, weights and L hold the groups one after another; scale[g] and the_min[g] receive each
/// group's results. Every step of the search is done for all groups lane by lane, so the compiler
/// vectorises across groups while each group's sums keep the reference's order; this is what
/// makes a super-block's sub-block searches fast. Groups do not skip steps: a step that cannot
/// win leaves the group's result as it is, so doing it changes nothing.
template <int N, int G>
void affine_codes_weighted_lanes(int nmax, const float* LOWBIT_RESTRICT x, const float* LOWBIT_RESTRICT weights,
                                 std::uint8_t* LOWBIT_RESTRICT L, float* LOWBIT_RESTRICT scale_out,
                                 float* LOWBIT_RESTRICT the_min, float rmin, float rdelta, int nstep, bool use_mad) noexcept {
    using detail_::fence;
    float xt[N][G], wt[N][G], t[N][G], lf[N][G], pa[N][G], pb[N][G], pc[N][G];
    std::uint8_t cur[N][G], best[N][G];
    for (int g = 0; g < G; ++g)
        for (int i = 0; i < N; ++i) {
            xt[i][g] = x[g * N + i];
            wt[i][g] = weights[g * N + i];
        }
    for (int i = 0; i < N; ++i)
        for (int g = 0; g < G; ++g) pa[i][g] = wt[i][g] * xt[i][g];
    fence(pa);
    float mn[G], mx[G], sum_w[G], sum_x[G], first_min[G];
    bool flat[G];
    for (int g = 0; g < G; ++g) {
        mn[g] = mx[g] = xt[0][g];
        sum_w[g] = wt[0][g];
        sum_x[g] = pa[0][g];
    }
    for (int i = 1; i < N; ++i)
        for (int g = 0; g < G; ++g) {
            mn[g] = xt[i][g] < mn[g] ? xt[i][g] : mn[g];
            mx[g] = xt[i][g] > mx[g] ? xt[i][g] : mx[g];
            sum_w[g] += wt[i][g];
            sum_x[g] += pa[i][g];
        }
    for (int g = 0; g < G; ++g) {
        mn[g] = mn[g] > 0 ? 0.0f : mn[g];
        first_min[g] = mn[g];
        flat[g] = !(mx[g] > mn[g]);
    }
    // Flat groups are answered at the end; their lanes compute on a harmless range of 1 meanwhile.
    auto range = [&](int g) { return flat[g] ? 1.0f : mx[g] - mn[g]; };
    auto codes = [&](const float* iscale) {
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) t[i][g] = iscale[g] * (xt[i][g] - mn[g]);
        fence(t);
        // Written as separate branch-free passes so that each vectorises.
        int li[N][G];
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) li[i][g] = detail_::round_fenced(t[i][g]);
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) {
                const int v = li[i][g] < 0 ? 0 : li[i][g];
                li[i][g] = v > nmax ? nmax : v;
            }
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) {
                cur[i][g] = static_cast<std::uint8_t>(li[i][g]);
                lf[i][g] = static_cast<float>(li[i][g]);
            }
    };
    auto errors = [&](const float* scale, const float* min, float* err) {
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) t[i][g] = scale[g] * lf[i][g];
        fence(t);
        if (use_mad) {
            for (int i = 0; i < N; ++i)
                for (int g = 0; g < G; ++g) pa[i][g] = wt[i][g] * std::fabs((t[i][g] + min[g]) - xt[i][g]);
        } else {
            for (int i = 0; i < N; ++i)
                for (int g = 0; g < G; ++g) {
                    const float diff = (t[i][g] + min[g]) - xt[i][g];
                    pa[i][g] = wt[i][g] * (diff * diff);
                }
        }
        fence(pa);
        for (int g = 0; g < G; ++g) err[g] = 0.0f;
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) err[g] += pa[i][g];
    };

    float iscale[G], scale[G], best_error[G];
    for (int g = 0; g < G; ++g) {
        iscale[g] = static_cast<float>(nmax) / range(g);
        scale[g] = 1 / iscale[g];
    }
    codes(iscale);
    std::memcpy(best, cur, sizeof best);
    errors(scale, mn, best_error);
    for (int is = 0; is <= nstep && nstep >= 1; ++is) {
        const float numerator = (rmin + mul(rdelta, static_cast<float>(is))) + static_cast<float>(nmax);
        for (int g = 0; g < G; ++g) iscale[g] = numerator / range(g);
        codes(iscale);
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) {
                pa[i][g] = wt[i][g] * lf[i][g];
                pb[i][g] = pa[i][g] * lf[i][g];
                pc[i][g] = pa[i][g] * xt[i][g];
            }
        fence(pa, pb, pc);
        float sum_l[G] = {}, sum_l2[G] = {}, sum_xl[G] = {};
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) {
                sum_l[g] += pa[i][g];
                sum_l2[g] += pb[i][g];
                sum_xl[g] += pc[i][g];
            }
        float p[6][G];
        for (int g = 0; g < G; ++g) {
            p[0][g] = sum_w[g] * sum_l2[g];
            p[1][g] = sum_l[g] * sum_l[g];
            p[2][g] = sum_w[g] * sum_xl[g];
            p[3][g] = sum_x[g] * sum_l[g];
            p[4][g] = sum_l2[g] * sum_x[g];
            p[5][g] = sum_l[g] * sum_xl[g];
        }
        fence(p);
        float this_scale[G], this_min[G], cur_error[G];
        bool fit[G];
        for (int g = 0; g < G; ++g) {
            const float D = p[0][g] - p[1][g];
            fit[g] = D > 0;
            const float Dsafe = fit[g] ? D : 1.0f; // lanes without a fit are not used
            this_scale[g] = (p[2][g] - p[3][g]) / Dsafe;
            this_min[g] = (p[4][g] - p[5][g]) / Dsafe;
            if (this_min[g] > 0) {
                this_min[g] = 0;
                this_scale[g] = sum_xl[g] / (fit[g] ? sum_l2[g] : 1.0f);
            }
        }
        errors(this_scale, this_min, cur_error);
        std::uint8_t take[G]; // 0xFF where this candidate is better
        for (int g = 0; g < G; ++g) {
            const bool better = fit[g] && cur_error[g] < best_error[g];
            take[g] = better ? 0xFF : 0;
            best_error[g] = better ? cur_error[g] : best_error[g];
            scale[g] = better ? this_scale[g] : scale[g];
            mn[g] = better ? this_min[g] : mn[g];
        }
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) best[i][g] = static_cast<std::uint8_t>((cur[i][g] & take[g]) | (best[i][g] & ~take[g]));
    }
    for (int g = 0; g < G; ++g) {
        the_min[g] = -(flat[g] ? first_min[g] : mn[g]);
        scale_out[g] = flat[g] ? 0.0f : scale[g];
        for (int i = 0; i < N; ++i) L[g * N + i] = flat[g] ? std::uint8_t{0} : best[i][g];
    }
}

} // namespace lowbit::search

namespace lowbit::search {

/// symmetric_codes (with rmse_type 1) on G groups of N values at once, bit for bit the same result
/// per group, lane by lane as affine_codes_weighted_lanes. `weights` (G*N, or null for x²). L
/// (null: not wanted) gets the codes; iscale_out (may be null) the factor each group's codes were
/// computed with (symmetric_codes_for gives them again, but for a group below group_max_eps: 0).
template <int N, int G>
void symmetric_codes_lanes(int nmax, const float* LOWBIT_RESTRICT x, const float* LOWBIT_RESTRICT weights,
                           std::int8_t* LOWBIT_RESTRICT L, float* LOWBIT_RESTRICT scale_out,
                           float* LOWBIT_RESTRICT iscale_out = nullptr) noexcept {
    using detail_::fence;
    float xt[N][G], wt[N][G], wx[N][G], t[N][G], lf[N][G], pa[N][G], pb[N][G];
    std::int8_t cur[N][G], best[N][G];
    for (int g = 0; g < G; ++g)
        for (int i = 0; i < N; ++i) xt[i][g] = x[g * N + i];
    if (weights) {
        for (int g = 0; g < G; ++g)
            for (int i = 0; i < N; ++i) wt[i][g] = weights[g * N + i];
    } else {
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) wt[i][g] = xt[i][g] * xt[i][g];
    }
    for (int i = 0; i < N; ++i)
        for (int g = 0; g < G; ++g) wx[i][g] = wt[i][g] * xt[i][g];
    float max[G] = {}, amax[G] = {};
    for (int i = 0; i < N; ++i)
        for (int g = 0; g < G; ++g) {
            const float ax = std::fabs(xt[i][g]);
            const bool larger = ax > amax[g];
            amax[g] = larger ? ax : amax[g];
            max[g] = larger ? xt[i][g] : max[g];
        }
    bool flat[G];
    for (int g = 0; g < G; ++g) {
        flat[g] = amax[g] < group_max_eps;
        max[g] = flat[g] ? 1.0f : max[g]; // flat groups are answered at the end
    }
    auto codes = [&](const float* iscale) {
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) t[i][g] = iscale[g] * xt[i][g];
        fence(t);
        int li[N][G];
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) li[i][g] = detail_::round_fenced(t[i][g]);
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) {
                const int v = li[i][g] < -nmax ? -nmax : li[i][g];
                li[i][g] = v > nmax - 1 ? nmax - 1 : v;
            }
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) {
                cur[i][g] = static_cast<std::int8_t>(li[i][g]);
                lf[i][g] = static_cast<float>(li[i][g]);
            }
    };
    auto sums = [&](float* sumlx, float* suml2) {
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) {
                pa[i][g] = wx[i][g] * lf[i][g];
                pb[i][g] = (wt[i][g] * lf[i][g]) * lf[i][g];
            }
        fence(pa, pb);
        for (int g = 0; g < G; ++g) sumlx[g] = suml2[g] = 0.0f;
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) {
                sumlx[g] += pa[i][g];
                suml2[g] += pb[i][g];
            }
    };
    float iscale[G], scale[G], best_score[G], best_iscale[G], sumlx[G], suml2[G];
    for (int g = 0; g < G; ++g) best_iscale[g] = iscale[g] = static_cast<float>(-nmax) / max[g];
    codes(iscale);
    std::memcpy(best, cur, sizeof best);
    sums(sumlx, suml2);
    for (int g = 0; g < G; ++g) {
        scale[g] = suml2[g] != 0.0f ? sumlx[g] / (suml2[g] != 0.0f ? suml2[g] : 1.0f) : 0.0f;
        best_score[g] = scale[g] * sumlx[g];
    }
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        const float numerator = -(static_cast<float>(nmax) + mul(0.1f, static_cast<float>(is)));
        for (int g = 0; g < G; ++g) iscale[g] = numerator / max[g];
        codes(iscale);
        sums(sumlx, suml2);
        std::int8_t take[G]; // all ones where this candidate is taken
        for (int g = 0; g < G; ++g) {
            const bool better = suml2[g] > 0 && sumlx[g] * sumlx[g] > best_score[g] * suml2[g];
            take[g] = better ? std::int8_t{-1} : std::int8_t{0};
            const float s = sumlx[g] / (better ? suml2[g] : 1.0f);
            scale[g] = better ? s : scale[g];
            best_score[g] = better ? s * sumlx[g] : best_score[g];
            best_iscale[g] = better ? iscale[g] : best_iscale[g];
        }
        if (!L) continue; // (the codes not wanted: best_iscale stands for them)
        for (int i = 0; i < N; ++i)
            for (int g = 0; g < G; ++g) best[i][g] = static_cast<std::int8_t>((cur[i][g] & take[g]) | (best[i][g] & ~take[g]));
    }
    for (int g = 0; g < G; ++g) {
        scale_out[g] = flat[g] ? 0.0f : scale[g];
        if (iscale_out) iscale_out[g] = best_iscale[g];
        if (!L) continue;
        for (int i = 0; i < N; ++i)
            L[g * N + i] = flat[g] ? std::int8_t{0} : static_cast<std::int8_t>(best[i][g] + nmax);
    }
}

} // namespace lowbit::search

namespace lowbit::search {

/// The sub-block searches of the K-quant quantizers, as the portable code runs them: one
/// super-block per call, its sub-blocks in lanes. A SIMD backend's engine has the same members
/// (formats/kquants.hpp, quantize_row_with) and must give the same bits.
struct portable_engine {
    /// Super-blocks per call, for a format of `nsub` sub-blocks per super-block.
    template <int nsub>
    static constexpr int batch = 1;

    template <int N, int G>
    static void affine(int nmax, const float* x, const float* weights, std::uint8_t* L, float* scale, float* the_min,
                       float rmin, float rdelta, int nstep, bool use_mad) noexcept {
        affine_codes_weighted_lanes<N, G>(nmax, x, weights, L, scale, the_min, rmin, rdelta, nstep, use_mad);
    }
    /// Each group's scale, and the factor its codes are computed with (symmetric_codes_for).
    template <int N, int G>
    static void symmetric(int nmax, const float* x, const float* weights, float* scale, float* iscale) noexcept {
        symmetric_codes_lanes<N, G>(nmax, x, weights, nullptr, scale, iscale);
    }
    /// (L null: the codes are not wanted, only the scales)
    template <int N, int G>
    static void symmetric_refined(int nmax, const float* x, std::int8_t* L, float* scale) noexcept {
        std::int8_t scratch[N];
        for (int g = 0; g < G; ++g) scale[g] = symmetric_codes_refined(N, nmax, x + N * g, L ? L + N * g : scratch);
    }
    /// The final codes of a sub-block against its stored scale d and min m:
    /// L = clamp(nearest_int((x + m) / d), lo, hi) - lo. A quotient, not a product, feeds the
    /// rounding's addition: nothing can be fused, so this needs no barrier and vectorises.
    template <int N>
    static void requantize(const float* x, float d, float m, int lo, int hi, std::uint8_t* L) noexcept {
        for (int l = 0; l < N; ++l) {
            const int q = detail_::round_fenced((x[l] + m) / d);
            const int above = q < lo ? lo : q;
            L[l] = static_cast<std::uint8_t>((above > hi ? hi : above) - lo);
        }
    }
};

} // namespace lowbit::search
