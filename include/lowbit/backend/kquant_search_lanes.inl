// lowbit — the K-quant sub-block searches, written once for any width of float lanes.
//
// This is search::affine_codes_weighted_lanes, search::symmetric_codes_lanes and
// search::symmetric_codes_refined (algo/scale_search.hpp), and the final requantize of
// search::portable_engine, with one sub-block per lane, bit for bit the same per sub-block:
// every lane performs its own sub-block's IEEE operations in the scalar order, and every product
// that an addition consumes goes through V::opaque so that no compiler can fuse the two. What
// makes it fast is width and independence: G sub-blocks per call (several super-blocks), in
// G / width sets of lanes whose dependency chains (each candidate's sums and error in order)
// interleave.
//
// How it is instantiated: a backend includes this file inside its own namespace, after defining
// there `V` (a lane policy: x86::lanes16, x86::lanes8, neon::lanes4; lanes_x86.hpp lists the
// operations) and `groups_per_call`, with LOWBIT_LANES_TARGET defined as its functions' target
// attribute (empty where the baseline has the instructions). A function's target attribute
// cannot depend on a template argument, and intrinsics may only be inlined into a function that
// has their target, so the code is written once and compiled once per instruction set, as
// Highway does with its per-target re-inclusion. The file has no include guard on purpose.
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

#if !defined(LOWBIT_LANES_TARGET)
#  error "kquant_search_lanes.inl is included by a backend, with V and LOWBIT_LANES_TARGET defined"
#endif

#define LOWBIT_LANES_FN inline __attribute__((always_inline)) LOWBIT_LANES_TARGET
// the loops over sets unrolled: their index then picks registers, not pointers to advance
#if defined(__clang__)
#  define LOWBIT_LANES_UNROLL _Pragma("unroll")
#else
#  define LOWBIT_LANES_UNROLL _Pragma("GCC unroll 16")
#endif

using vf = V::f;
using vm = V::m;
inline constexpr int W = V::width;

/// Per lane, the first of n values of largest magnitude (as the scalar searches find it), with
/// `flat` set where that magnitude is below group_max_eps; such lanes get 1 (they are answered at
/// the end and only need a harmless divisor meanwhile).
template <class Value>
LOWBIT_LANES_FN vf signed_max(int n, Value&& value, vm& flat) noexcept {
    vf amax = V::zero(), max = V::zero();
    for (int i = 0; i < n; ++i) {
        const vf v = value(i);
        const vf av = V::abs(v);
        const vm larger = V::gt(av, amax);
        amax = V::select(larger, av, amax);
        max = V::select(larger, v, max);
    }
    flat = V::lt(amax, V::set1(search::group_max_eps));
    return V::select(flat, V::set1(1.0f), max);
}

/// The values (and weights) of G groups of N: lane g of register [i][s] = value i of group W*s+g.
/// In W x W tiles where the lane policy has a transpose_tile.
template <int N, int G, class L = V>
LOWBIT_LANES_FN void transpose_in(const float* in, float (&out)[N][G]) noexcept {
    if constexpr (requires { L::transpose_tile(in, N, &out[0][0], G); } && N % W == 0) {
        for (int g = 0; g < G; g += W)
            for (int i = 0; i < N; i += W) L::transpose_tile(in + g * N + i, N, &out[i][g], G);
    } else {
        for (int g = 0; g < G; ++g)
            for (int i = 0; i < N; ++i) out[i][g] = in[g * N + i];
    }
}

/// f.template operator()<ClampLow, ClampHigh>() with the clamps a candidate of the searches needs:
/// below (some code may fall under the lowest), above (some may pass the highest).
template <class F>
LOWBIT_LANES_FN void with_clamps(bool below, bool above, F&& f) noexcept {
    if (below && above) f.template operator()<true, true>();
    else if (below) f.template operator()<true, false>();
    else if (above) f.template operator()<false, true>();
    else f.template operator()<false, false>();
}

/// Codes (float lanes) back to G groups of N bytes, 0 in the lanes of `flat` groups, + offset.
template <int N, int G>
LOWBIT_LANES_FN void transpose_codes_out(const vf (&lf)[N][G / W], const vm (&flat)[G / W], int offset, std::uint8_t* out) noexcept {
    alignas(64) std::uint8_t t[N][G];
    for (int i = 0; i < N; ++i)
        for (int s = 0; s < G / W; ++s) V::store_codes(&t[i][W * s], lf[i][s], offset, flat[s]);
    for (int g = 0; g < G; ++g)
        for (int i = 0; i < N; ++i) out[g * N + i] = t[i][g];
}

/// The final codes of G groups of N values, group by group from the untransposed values:
/// L[g*N + i] = clamp(nearest(iscale[g] * (x[g*N + i] - min[g])), lo, hi) + offset (min null:
/// no min), 0 in the groups of `flat`. The same operations as the search's, so the same codes.
template <int N, int G>
LOWBIT_LANES_FN void codes_by_group(const float* x, const vf (&iscale)[G / W], const vf (*min)[G / W], const vm (&flat)[G / W],
                                    int lo, int hi, int offset, std::uint8_t* L) noexcept {
    static_assert(N % W == 0);
    alignas(64) float is[G], mn[G];
    for (int s = 0; s < G / W; ++s) {
        V::storeu(is + W * s, iscale[s]);
        if (min) V::storeu(mn + W * s, (*min)[s]);
    }
    const vf vlo = V::set1(static_cast<float>(lo)), vhi = V::set1(static_cast<float>(hi));
    const vm none = V::none();
    for (int g = 0; g < G; ++g) {
        if ((V::bits(flat[g / W]) >> (g % W)) & 1u) {
            for (int i = 0; i < N; ++i) L[g * N + i] = 0;
            continue;
        }
        const vf vis = V::set1(is[g]);
        for (int i = 0; i < N; i += W) {
            vf v = V::loadu(x + g * N + i);
            if (min) v = V::sub(v, V::set1(mn[g]));
            V::store_codes(L + g * N + i, V::min(V::max(V::nearest(V::mul(vis, v)), vlo), vhi), offset, none);
        }
    }
}

/// search::affine_codes_weighted_lanes<N, G>, G a multiple of W.
template <int N, int G>
LOWBIT_LANES_TARGET void affine_search(int nmax, const float* x, const float* weights, std::uint8_t* L, float* scale_out, float* the_min,
                                float rmin, float rdelta, int nstep, bool use_mad) noexcept {
    static_assert(G % W == 0);
    constexpr int S = G / W;
    alignas(64) float xs[N][G], ws[N][G];
    transpose_in<N, G>(x, xs);
    transpose_in<N, G>(weights, ws);
    auto X = [&](int i, int s) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE { return V::load(&xs[i][W * s]); };
    auto Wt = [&](int i, int s) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE { return V::load(&ws[i][W * s]); };
    const vf zero = V::zero(), one = V::set1(1.0f), top = V::set1(static_cast<float>(nmax)), top_half = V::set1(static_cast<float>(nmax) + 0.5f);

    vf mn[S], mx[S], lowest[S], sum_w[S], sum_x[S], first_min[S];
    vm flat[S];
    bool no_nan = true;
    for (int s = 0; s < S; ++s) {
        mn[s] = mx[s] = X(0, s);
        sum_w[s] = Wt(0, s);
        sum_x[s] = V::opaque(V::mul(Wt(0, s), X(0, s)));
    }
    for (int i = 0; i < N; ++i)
        for (int s = 0; s < S; ++s) {
            no_nan &= V::all(V::ordered(X(i, s)));
            if (i == 0) continue;
            mn[s] = V::min(X(i, s), mn[s]); // x < mn ? x : mn
            mx[s] = V::max(X(i, s), mx[s]);
            sum_w[s] = V::add(sum_w[s], Wt(i, s));
            sum_x[s] = V::add(sum_x[s], V::opaque(V::mul(Wt(i, s), X(i, s))));
        }
    for (int s = 0; s < S; ++s) {
        lowest[s] = mn[s];
        mn[s] = V::select(V::gt(mn[s], zero), zero, mn[s]);
        first_min[s] = mn[s];
        flat[s] = V::mnot(V::gt(mx[s], mn[s]));
    }
    // max - min with the current min (the reference's, which each accepted candidate moves); flat
    // groups are answered at the end and compute on a harmless range of 1 meanwhile
    auto range = [&](int s) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE { return V::select(flat[s], one, V::sub(mx[s], mn[s])); };

    // The loops below run value by value with the sets innermost, so that the sets' chains of
    // additions (each in the scalar order) interleave.
    vf lf[N][S];
    // lf = clamp(nearest(iscale * (x - min)), 0, nmax), for every value of every set
    auto codes = [&](int i, int s, vf iscale, vf min) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
        const vf r = V::nearest(V::mul(iscale, V::sub(X(i, s), min)));
        return lf[i][s] = V::min(V::max(r, zero), top);
    };
    // The same codes where iscale * (x - min) is known to lie within ±2^21 for every x of the
    // set: clamped first, then rounded in one operation; a clamp is left out where the bounds
    // below show that no t of any set rounds past it (ClampLow: t <= -1/2 possible; ClampHigh:
    // t >= nmax + 1/2 possible).
    auto codes_small = [&]<bool ClampLow, bool ClampHigh>(int i, int s, vf iscale, vf min) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
        vf t = V::mul(iscale, V::sub(X(i, s), min));
        if constexpr (ClampLow) t = V::max(t, zero);
        if constexpr (ClampHigh) t = V::min(t, top);
        return lf[i][s] = V::nearest_small(t);
    };
    // Whether every t of this candidate is within ±2^21, and whether any may round below 0 or
    // above nmax: x - min and the product are correctly rounded and so monotonic in x, with
    // iscale > 0, and the same operations on the extremes of x bound them (a NaN or an infinity
    // fails the test). (A t in (-1/2, 0) rounds to -0 where the clamp would give +0: such a code
    // only enters products summed from +0, or added to the min before x is taken off and the
    // difference squared or its magnitude taken, where a zero of either sign gives the same bits;
    // the final codes are computed again with nearest. Leaving out clamps whose bound is a code's
    // rounding rather than the range made q2_K / q4_K / q5_K's quantizers 4-7% faster.)
    struct bounds {
        bool small, below, above;
    };
    auto candidate_bounds = [&](const vf (&iscale)[S]) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
        bounds b{no_nan, false, false};
        for (int s = 0; s < S; ++s) {
            const vf lo_t = V::mul(iscale[s], V::sub(lowest[s], mn[s]));
            const vf hi_t = V::mul(iscale[s], V::sub(mx[s], mn[s]));
            b.small &= V::all(V::mand(V::ge(lo_t, V::set1(-2097152.0f)), V::le(hi_t, V::set1(2097152.0f))));
            b.below |= V::any(V::mnot(V::gt(lo_t, V::set1(-0.5f))));
            b.above |= V::any(V::mnot(V::lt(hi_t, top_half)));
        }
        return b;
    };
    // Σ w * (scale*L + min - x)^2 (or |.| with Mad) in order
    auto errors_as = [&]<bool Mad>(const vf (&scale)[S], const vf (&min)[S], vf (&err)[S]) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
        for (int s = 0; s < S; ++s) err[s] = zero;
        for (int i = 0; i < N; ++i)
            for (int s = 0; s < S; ++s) {
                const vf diff = V::sub(V::add(V::opaque(V::mul(scale[s], lf[i][s])), min[s]), X(i, s));
                const vf e = Mad ? V::mul(Wt(i, s), V::abs(diff)) : V::mul(Wt(i, s), V::mul(diff, diff));
                err[s] = V::add(err[s], V::opaque(e));
            }
    };
    auto errors = [&](const vf (&scale)[S], const vf (&min)[S], vf (&err)[S]) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
        if (use_mad) errors_as.template operator()<true>(scale, min, err);
        else errors_as.template operator()<false>(scale, min, err);
    };

    vf iscale[S], scale[S], best_error[S], best_iscale[S], best_code_min[S];
    for (int s = 0; s < S; ++s) {
        iscale[s] = V::div(top, range(s));
        scale[s] = V::div(one, iscale[s]);
        best_iscale[s] = iscale[s];
        best_code_min[s] = mn[s];
    }
    for (int i = 0; i < N; ++i)
        for (int s = 0; s < S; ++s) codes(i, s, iscale[s], mn[s]);
    errors(scale, mn, best_error);
    for (int is = 0; is <= nstep && nstep >= 1; ++is) {
        const float numerator = (rmin + ::lowbit::detail::mul(rdelta, static_cast<float>(is))) + static_cast<float>(nmax);
        vf sum_l[S], sum_l2[S], sum_xl[S];
        for (int s = 0; s < S; ++s) {
            iscale[s] = V::div(V::set1(numerator), range(s));
            sum_l[s] = sum_l2[s] = sum_xl[s] = zero;
        }
        // Small: codes_small<ClampLow, ClampHigh>; otherwise codes
        auto code_sums = [&]<bool Small, bool ClampLow = true, bool ClampHigh = true>() LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
            for (int i = 0; i < N; ++i)
                for (int s = 0; s < S; ++s) {
                    vf l;
                    if constexpr (Small) l = codes_small.template operator()<ClampLow, ClampHigh>(i, s, iscale[s], mn[s]);
                    else l = codes(i, s, iscale[s], mn[s]);
                    const vf wl = V::opaque(V::mul(Wt(i, s), l));
                    sum_l[s] = V::add(sum_l[s], wl);
                    sum_l2[s] = V::add(sum_l2[s], V::opaque(V::mul(wl, l)));
                    sum_xl[s] = V::add(sum_xl[s], V::opaque(V::mul(wl, X(i, s))));
                }
        };
        // (the first candidates' iscale is below nmax / range: t stays below nmax until one moves
        // the min; and t < 0 only comes with a fitted min above the lowest value)
        const bounds b = candidate_bounds(iscale);
        if (!b.small) code_sums.template operator()<false>();
        else with_clamps(b.below, b.above, [&]<bool ClampLow, bool ClampHigh>() LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
            code_sums.template operator()<true, ClampLow, ClampHigh>();
        });
        vf this_scale[S], this_min[S], cur_error[S];
        vm fit[S];
        for (int s = 0; s < S; ++s) {
            const vf D = V::sub(V::opaque(V::mul(sum_w[s], sum_l2[s])), V::opaque(V::mul(sum_l[s], sum_l[s])));
            fit[s] = V::gt(D, zero);
            const vf d_safe = V::select(fit[s], D, one); // lanes without a fit are not used
            this_scale[s] = V::div(V::sub(V::opaque(V::mul(sum_w[s], sum_xl[s])), V::opaque(V::mul(sum_x[s], sum_l[s]))), d_safe);
            this_min[s] = V::div(V::sub(V::opaque(V::mul(sum_l2[s], sum_x[s])), V::opaque(V::mul(sum_l[s], sum_xl[s]))), d_safe);
            const vm positive = V::gt(this_min[s], zero);
            this_min[s] = V::select(positive, zero, this_min[s]);
            this_scale[s] = V::select(positive, V::div(sum_xl[s], V::select(fit[s], sum_l2[s], one)), this_scale[s]);
        }
        errors(this_scale, this_min, cur_error);
        for (int s = 0; s < S; ++s) {
            const vm better = V::mand(fit[s], V::lt(cur_error[s], best_error[s]));
            best_error[s] = V::select(better, cur_error[s], best_error[s]);
            scale[s] = V::select(better, this_scale[s], scale[s]);
            best_iscale[s] = V::select(better, iscale[s], best_iscale[s]);
            best_code_min[s] = V::select(better, mn[s], best_code_min[s]);
            mn[s] = V::select(better, this_min[s], mn[s]);
        }
    }
    for (int s = 0; s < S; ++s) {
        const vf final_min = V::select(flat[s], first_min[s], mn[s]);
        V::storeu(the_min + W * s, V::neg(final_min)); // -min
        V::storeu(scale_out + W * s, V::select(flat[s], zero, scale[s]));
    }
    codes_by_group<N, G>(x, best_iscale, &best_code_min, flat, 0, nmax, 0, L);
}

/// The codes of W values against scale d and min m: (x + m) / d rounded, clamped to [lo, hi].
LOWBIT_LANES_FN vf requantized(const float* x, vf d, vf m, vf lo, vf hi) noexcept {
    return V::min(V::max(V::nearest(V::div(V::add(V::loadu(x), m), d)), lo), hi);
}

/// search::portable_engine::requantize, W values at a time.
template <int N>
LOWBIT_LANES_TARGET void requantize_codes(const float* x, float d, float m, int lo, int hi, std::uint8_t* L) noexcept {
    static_assert(N % W == 0);
    const vf vd = V::set1(d), vmin = V::set1(m);
    const vf vlo = V::set1(static_cast<float>(lo)), vhi = V::set1(static_cast<float>(hi));
    const vm none = V::none();
    for (int l = 0; l < N; l += W) V::store_codes(L + l, requantized(x + l, vd, vmin, vlo, vhi), -lo, none);
}

/// requantize_codes for the NSub sub-blocks of Sub values of a super-block (no d zero), 4 W
/// values at a time: their codes go to bytes four registers together where the lane policy can
/// (store_codes4: on AVX2, two packs and a permute for 32 codes instead of four of each per 8).
template <int Sub, int NSub, class L_ = V>
LOWBIT_LANES_TARGET void requantize_super(const float* x, const float* d, const float* m, int lo, int hi, std::uint8_t* L) noexcept {
    static_assert(Sub % W == 0 && (Sub * NSub) % (4 * W) == 0);
    const vf vlo = V::set1(static_cast<float>(lo)), vhi = V::set1(static_cast<float>(hi));
    for (int v = 0; v < Sub * NSub; v += 4 * W) {
        vf q[4];
        for (int k = 0; k < 4; ++k) {
            const int j = (v + W * k) / Sub;
            q[k] = requantized(x + v + W * k, V::set1(d[j]), V::set1(m[j]), vlo, vhi);
        }
        if constexpr (requires { L_::store_codes4(L + v, q, -lo); }) {
            L_::store_codes4(L + v, q, -lo);
        } else {
            for (int k = 0; k < 4; ++k) V::store_codes(L + v + W * k, q[k], -lo, V::none());
        }
    }
}

/// search::symmetric_codes_lanes<N, G> (weights null: x²), G a multiple of W, for the scales and
/// the factors of the codes alone: moving the codes out of the lanes had taken 6% of q6_K's
/// quantizer, for codes that are wanted only where a stored scale is zero.
template <int N, int G>
LOWBIT_LANES_TARGET void symmetric_search(int nmax, const float* x, const float* weights, float* scale_out, float* iscale_out) noexcept {
    static_assert(G % W == 0);
    constexpr int S = G / W;
    alignas(64) float xs[N][G], ws[N][G];
    transpose_in<N, G>(x, xs);
    if (weights) transpose_in<N, G>(weights, ws);
    else
        for (int i = 0; i < N; ++i)
            for (int s = 0; s < S; ++s) {
                const vf v = V::load(&xs[i][W * s]);
                V::storeu(&ws[i][W * s], V::mul(v, v));
            }
    auto X = [&](int i, int s) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE { return V::load(&xs[i][W * s]); };
    auto Wt = [&](int i, int s) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE { return V::load(&ws[i][W * s]); };
    const vf zero = V::zero(), one = V::set1(1.0f);
    const vf lo = V::set1(static_cast<float>(-nmax)), hi = V::set1(static_cast<float>(nmax - 1));
    const vf lo_half = V::set1(static_cast<float>(-nmax) - 0.5f), hi_half = V::set1(static_cast<float>(nmax - 1) + 0.5f);

    vf max[S], wx[N][S], xlow[S], xhigh[S];
    vm flat[S];
    bool finite = true;
    const vf inf = V::set1(std::numeric_limits<float>::infinity());
    for (int s = 0; s < S; ++s) {
        xlow[s] = xhigh[s] = X(0, s);
        vm fin = V::mnot(V::none());
        for (int i = 0; i < N; ++i) {
            wx[i][s] = V::mul(Wt(i, s), X(i, s));
            fin = V::mand(fin, V::lt(V::abs(X(i, s)), inf));
            xlow[s] = V::min(xlow[s], X(i, s));
            xhigh[s] = V::max(xhigh[s], X(i, s));
        }
        const bool set_finite = V::all(fin);
        finite &= set_finite;
        // The value of largest magnitude is the lowest or the highest, unless both are (v and -v):
        // then it is the first of them, and signed_max finds it (as it does with a NaN or an inf).
        const vf al = V::abs(xlow[s]), ah = V::abs(xhigh[s]);
        if (set_finite && !V::any(V::mand(V::mnot(V::neq(al, ah)), V::neq(xlow[s], xhigh[s])))) {
            flat[s] = V::lt(V::max(al, ah), V::set1(search::group_max_eps));
            max[s] = V::select(flat[s], one, V::select(V::gt(ah, al), xhigh[s], xlow[s]));
        } else {
            max[s] = signed_max(N, [&](int i) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE { return X(i, s); }, flat[s]);
        }
    }

    // With finite values |iscale * x| <= nmax + 1 (max is the value of largest magnitude), so the
    // codes can be clamped first and rounded in one operation; otherwise the reference's rounding
    // of whatever the product is. A clamp is left out where no product of the candidate can round
    // past it (t > lo - 1/2 and t < hi + 1/2, halves excluded whatever their rounding): the
    // product is monotonic in x, so those of the lowest and highest x bound them all. Bounding
    // by the codes rather than by lo and hi themselves drops most clamps: a code only passes the
    // range where a value comes within a few percent of the max (or of its negative), and most
    // candidates' products of the max itself stay within -(nmax + 1/2).
    auto code = [&]<bool Finite, bool ClampLow, bool ClampHigh>(int i, int s, vf iscale) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
        if constexpr (Finite) {
            vf t = V::mul(iscale, X(i, s));
            if constexpr (ClampLow) t = V::max(t, lo);
            if constexpr (ClampHigh) t = V::min(t, hi);
            return V::nearest_small(t);
        } else {
            return V::min(V::max(V::nearest(V::mul(iscale, X(i, s))), lo), hi);
        }
    };
    // Σ wx * L and Σ w * L * L in order, every set at once (the sets' chains interleave)
    auto sums_as = [&]<bool Finite, bool ClampLow = true, bool ClampHigh = true>(const vf (&iscale)[S], vf (&sumlx)[S], vf (&suml2)[S])
                       LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
        for (int s = 0; s < S; ++s) sumlx[s] = suml2[s] = zero;
        for (int i = 0; i < N; ++i)
            for (int s = 0; s < S; ++s) {
                const vf l = code.template operator()<Finite, ClampLow, ClampHigh>(i, s, iscale[s]);
                sumlx[s] = V::add(sumlx[s], V::opaque(V::mul(wx[i][s], l)));
                suml2[s] = V::add(suml2[s], V::opaque(V::mul(V::mul(Wt(i, s), l), l)));
            }
    };
    auto sums = [&](const vf (&iscale)[S], vf (&sumlx)[S], vf (&suml2)[S]) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
        if (!finite) return sums_as.template operator()<false>(iscale, sumlx, suml2);
        bool below = false, above = false;
        for (int s = 0; s < S; ++s) {
            const vf a = V::mul(iscale[s], xlow[s]), b = V::mul(iscale[s], xhigh[s]);
            below |= V::any(V::le(V::min(a, b), lo_half));
            above |= V::any(V::ge(V::max(a, b), hi_half));
        }
        with_clamps(below, above, [&]<bool ClampLow, bool ClampHigh>() LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
            sums_as.template operator()<true, ClampLow, ClampHigh>(iscale, sumlx, suml2);
        });
    };

    vf iscale[S], scale[S], best_score[S], best_iscale[S], sumlx[S], suml2[S];
    for (int s = 0; s < S; ++s) iscale[s] = V::div(lo, max[s]);
    sums(iscale, sumlx, suml2);
    for (int s = 0; s < S; ++s) {
        const vm nonzero = V::neq(suml2[s], zero);
        scale[s] = V::select(nonzero, V::div(sumlx[s], V::select(nonzero, suml2[s], one)), zero);
        best_score[s] = V::mul(scale[s], sumlx[s]);
        best_iscale[s] = iscale[s];
    }
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        const float numerator = -(static_cast<float>(nmax) + ::lowbit::detail::mul(0.1f, static_cast<float>(is)));
        for (int s = 0; s < S; ++s) iscale[s] = V::div(V::set1(numerator), max[s]);
        sums(iscale, sumlx, suml2);
        for (int s = 0; s < S; ++s) {
            const vm better = V::mand(V::gt(suml2[s], zero), V::gt(V::mul(sumlx[s], sumlx[s]), V::mul(best_score[s], suml2[s])));
            if (!V::any(better)) continue; // (no lane's scale changes: the division is not needed)
            const vf sc = V::div(sumlx[s], V::select(better, suml2[s], one));
            scale[s] = V::select(better, sc, scale[s]);
            best_score[s] = V::select(better, V::mul(sc, sumlx[s]), best_score[s]);
            best_iscale[s] = V::select(better, iscale[s], best_iscale[s]);
        }
    }
    for (int s = 0; s < S; ++s) {
        V::storeu(scale_out + W * s, V::select(flat[s], zero, scale[s]));
        V::storeu(iscale_out + W * s, best_iscale[s]);
    }
}

/// search::symmetric_codes_refined on G groups of N values, G a multiple of W: the passes of
/// code-by-code refinement run in every lane at once, a lane's move taken under a mask where the
/// scalar search takes it, and a lane done once a pass changes nothing in it.
///
/// A step's chain (the sums, a division, the rounding, the sums again, the comparison) is long,
/// and the next step needs its sums; but a step that moves no code leaves the sums as they were,
/// and most steps move none (on Gaussian rows, 15% of a set's steps move a code in some lane).
/// So a step first asks, without the division, whether any lane's code can move: where none
/// can, the step is over, and as that branch is predicted, the next step starts at once from the
/// same sums. The steps of a pass then overlap as independent work; only a possible move pays
/// for the chain (and a misprediction).
///
/// The question, per lane: does the reference's quotient q = (x * sl2) / slx (slx > 0) round
/// to li? With num = x * sl2, rounded as the reference rounds it, and dn, up = li -/+ (1/2 -
/// 2^-12), it is asked as the signs of num - dn * slx and up * slx - num, each computed with one
/// rounding (an FMA), which keeps the sign of the exact value: where neither is negative,
/// dn <= num / slx <= up exactly, so the rounded quotient lies in [dn, up] too (rounding is
/// monotone, dn and up are floats: codes are far below 2^10) and rounds to li. Every |x| of
/// the call below 2^36 keeps every sum finite (checked once per call, else every step takes
/// the exact path). At the top code, any q above it is clamped back to it, so up is 2^21
/// there: below it the reference's rounding trick is exact.
///
/// An earlier form compared rounded products against bounds 2^-8 inside the halves, and needed
/// slx >= 2^-100 besides: four vector operations more per step, and 0.57 steps per sub-block
/// on the exact path where 0.42 move a code (Gaussian rows; now 0.48). With that, and the exact
/// path no longer leaving early where no lane's code moved (a branch that mispredicted), q3_K's
/// quantizer went 159 -> 145 reference cycles per 32 values on an AVX2-only Zen 4.
template <int N, int G>
LOWBIT_LANES_TARGET void refined_search(int nmax, const float* x, std::int8_t* L, float* scale_out) noexcept {
    static_assert(G % W == 0);
    constexpr int S = G / W;
    alignas(64) float xs[N][G];
    transpose_in<N, G>(x, xs);
    auto X = [&](int i, int s) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE { return V::load(&xs[i][W * s]); };
    // x², x³: needed again only where a code may move, so computed again there
    auto Wt = [&](int i, int s) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE { return V::opaque(V::mul(X(i, s), X(i, s))); };
    auto WX = [&](vf w, int i, int s) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE { return V::opaque(V::mul(w, X(i, s))); };
    const vf zero = V::zero(), one = V::set1(1.0f);
    const vf lo = V::set1(static_cast<float>(-nmax)), hi = V::set1(static_cast<float>(nmax - 1));
    const vf margin = V::set1(0.5f - 0x1p-12f), top_limit = V::set1(0x1p21f);
    // per value: the code, its two terms of the sums (they change only when the code does), and
    // the bounds of the question above. Side by side: as five arrays of 4 KiB, a value's fields
    // were 4 KiB apart, and the search 10% slower (loads waiting on stores to other fields?).
    struct code_state {
        vf l, lx, l2, up, dn;
    } cs[N][S];
    auto bounds = [&](int i, int s) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
        cs[i][s].up = V::select(V::neq(cs[i][s].l, hi), V::add(cs[i][s].l, margin), top_limit);
        cs[i][s].dn = V::sub(cs[i][s].l, margin);
    };
    vf sumlx[S], suml2[S];
    vm flat[S];
    // the sets side by side, so that their chains (the largest magnitude, the sums) interleave
    vf amax[S], max[S], iscale[S];
    for (int s = 0; s < S; ++s) amax[s] = max[s] = sumlx[s] = suml2[s] = zero;
    for (int i = 0; i < N; ++i)
        LOWBIT_LANES_UNROLL
        for (int s = 0; s < S; ++s) { // as signed_max
            const vf av = V::abs(X(i, s));
            const vm larger = V::gt(av, amax[s]);
            amax[s] = V::select(larger, av, amax[s]);
            max[s] = V::select(larger, X(i, s), max[s]);
        }
    bool tame = true;
    for (int s = 0; s < S; ++s) {
        tame &= V::all(V::lt(amax[s], V::set1(0x1p36f))); // (NaN never becomes amax)
        flat[s] = V::lt(amax[s], V::set1(search::group_max_eps));
        iscale[s] = V::div(lo, V::select(flat[s], one, max[s]));
    }
    // The first codes. |iscale * x| <= nmax for finite x (max is the value of largest magnitude),
    // so they are rounded in one operation (Small), unless some x is not finite: then some
    // lane's Σ w l² is not finite either (x NaN: NaN; x inf: w = inf, and l² > 0 or inf * 0),
    // and the codes are computed again with the reference's rounding trick.
    auto first_codes = [&]<bool Small>() LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
        for (int s = 0; s < S; ++s) sumlx[s] = suml2[s] = zero;
        for (int i = 0; i < N; ++i)
            LOWBIT_LANES_UNROLL
            for (int s = 0; s < S; ++s) {
                const vf t = V::mul(iscale[s], X(i, s));
                cs[i][s].l = Small ? V::nearest_small(V::min(V::max(t, lo), hi)) : V::min(V::max(V::nearest(t), lo), hi);
                const vf w = Wt(i, s);
                cs[i][s].lx = V::opaque(V::mul(WX(w, i, s), cs[i][s].l));
                cs[i][s].l2 = V::opaque(V::mul(V::opaque(V::mul(w, cs[i][s].l)), cs[i][s].l));
                sumlx[s] = V::add(sumlx[s], cs[i][s].lx);
                suml2[s] = V::add(suml2[s], cs[i][s].l2);
                bounds(i, s);
            }
    };
    first_codes.template operator()<true>();
    bool finite = true;
    for (int s = 0; s < S; ++s) finite &= V::all(V::lt(suml2[s], V::set1(std::numeric_limits<float>::infinity())));
    if (!finite) [[unlikely]]
        first_codes.template operator()<false>();
    // (a flat lane's sums are not used: its scale and codes are zero; negative, they keep its
    // steps off the exact path)
    for (int s = 0; s < S; ++s) sumlx[s] = V::select(flat[s], V::set1(-1.0f), sumlx[s]);

    // code i of set s, in the lanes of act (Quick: with the question above first)
    auto step = [&]<bool Quick>(int i, int s, vm act, vm& changed) LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
        vf slx = V::sub(sumlx[s], cs[i][s].lx);
        vf sl2 = V::sub(suml2[s], cs[i][s].l2);
        const vf num = V::mul(X(i, s), sl2);
        if constexpr (Quick) {
            // num - dn * slx and up * slx - num, each rounded once, are negative (sign bit set)
            // exactly where num / slx is below dn resp. above up. Asked where slx is not
            // negative (its sign bit clear), not where it is positive and the lane active: a
            // lane at +0 takes the exact path, which asks those, and so does a finished lane
            // whose code could move but whose move is refused; both are rare (flat lanes'
            // sums were set negative, above)
            if (!V::any_sign(slx, V::fused_sub_mul(cs[i][s].dn, slx, num), V::fused_mul_sub(cs[i][s].up, slx, num))) [[likely]]
                return;
        }
        const vm positive = V::mand(act, V::gt(slx, zero));
        const vf li = cs[i][s].l;
        const vf q = V::div(num, V::select(positive, slx, one));
        const vf nl = V::min(V::max(V::nearest(q), lo), hi);
        const vm moved = V::mand(positive, V::neq(nl, li));
        const vf w = Wt(i, s);
        const vf nlx = V::opaque(V::mul(WX(w, i, s), nl));
        const vf nl2 = V::opaque(V::mul(V::opaque(V::mul(w, nl)), nl));
        slx = V::add(slx, nlx);
        sl2 = V::add(sl2, nl2);
        const vf gain = V::opaque(V::mul(V::opaque(V::mul(slx, slx)), suml2[s]));
        const vf base = V::opaque(V::mul(V::opaque(V::mul(sumlx[s], sumlx[s])), sl2));
        const vm take = V::mand(moved, V::mand(V::gt(sl2, zero), V::gt(gain, base)));
        cs[i][s].l = V::select(take, nl, li);
        cs[i][s].lx = V::select(take, nlx, cs[i][s].lx);
        cs[i][s].l2 = V::select(take, nl2, cs[i][s].l2);
        bounds(i, s);
        sumlx[s] = V::select(take, slx, sumlx[s]);
        suml2[s] = V::select(take, sl2, suml2[s]);
        changed = V::mor(changed, take);
    };
    // The passes; the sets' steps interleave, so that the chain of one set's move overlaps the
    // other sets' steps. (The loops over sets are unrolled: without, the search took 20% more.)
    auto passes = [&]<bool Quick>() LOWBIT_LANES_TARGET LOWBIT_LAMBDA_INLINE {
        vm active[S];
        for (int s = 0; s < S; ++s) active[s] = V::mnot(flat[s]);
        for (int pass = 0; pass < 5; ++pass) {
            vm changed[S];
            bool on[S], any = false;
            for (int s = 0; s < S; ++s) {
                changed[s] = V::none();
                any |= on[s] = V::any(active[s]);
            }
            if (!any) break;
            for (int i = 0; i < N; ++i)
                LOWBIT_LANES_UNROLL
                for (int s = 0; s < S; ++s)
                    if (on[s]) step.template operator()<Quick>(i, s, active[s], changed[s]);
            for (int s = 0; s < S; ++s) active[s] = V::mand(active[s], changed[s]);
        }
    };
    if (tame) passes.template operator()<true>();
    else passes.template operator()<false>();

    for (int s = 0; s < S; ++s) {
        const vm positive = V::gt(suml2[s], zero);
        const vf sc = V::select(positive, V::div(sumlx[s], V::select(positive, suml2[s], one)), zero);
        V::storeu(scale_out + W * s, V::select(flat[s], zero, sc));
    }
    if (!L) return; // (only the scales wanted)
    vf codes[N][S];
    for (int i = 0; i < N; ++i)
        for (int s = 0; s < S; ++s) codes[i][s] = cs[i][s].l;
    transpose_codes_out<N, G>(codes, flat, nmax, reinterpret_cast<std::uint8_t*>(L));
}

/// The engine of formats/kquants.hpp's quantize_row_with: up to groups_per_call sub-blocks per
/// call, and at most four super-blocks (1024 values), because a row's last batch is padded to
/// a whole one by repeating its last block, work that is thrown away.
struct engine {
    template <int nsub>
    static constexpr int batch = std::clamp(groups_per_call / nsub, 1, 4);

    template <int N, int G>
    static void affine(int nmax, const float* x, const float* weights, std::uint8_t* L, float* scale, float* the_min,
                       float rmin, float rdelta, int nstep, bool use_mad) noexcept {
        affine_search<N, G>(nmax, x, weights, L, scale, the_min, rmin, rdelta, nstep, use_mad);
    }
    template <int N, int G>
    static void symmetric(int nmax, const float* x, const float* weights, float* scale, float* iscale) noexcept {
        symmetric_search<N, G>(nmax, x, weights, scale, iscale);
    }
    template <int N, int G>
    static void symmetric_refined(int nmax, const float* x, std::int8_t* L, float* scale) noexcept {
        refined_search<N, G>(nmax, x, L, scale);
    }
    template <int N>
    static void requantize(const float* x, float d, float m, int lo, int hi, std::uint8_t* L) noexcept {
        requantize_codes<N>(x, d, m, lo, hi, L);
    }
    /// requantize for every sub-block of a super-block, none of whose d is zero
    template <int Sub, int NSub>
    static void requantize_all(const float* x, const float* d, const float* m, int lo, int hi, std::uint8_t* L) noexcept {
        requantize_super<Sub, NSub>(x, d, m, lo, hi, L);
    }
};

#undef LOWBIT_LANES_FN
#undef LOWBIT_LANES_UNROLL
