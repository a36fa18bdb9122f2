// lowbit — gemv over packed rows (formats/packed.hpp) with NEON and the dot-product extension.
//
// A tile's 32-byte group of codes is two 16-byte vectors, rows 0-3 and rows 4-7, four code bytes
// per row in each 32-bit lane: one sdot by lane (vdotq_laneq_s32) with 16 partner bytes advances
// four rows by the four values the lane picks. Codes enter sdot signed: the legacy formats'
// offset is subtracted from them, the K-quants' codes are small enough as they are and their
// offset or mins meet the partner's sums (bsums) in integers, as in the x86 kernels.
#pragma once

#include "neon.hpp"

#if defined(LOWBIT_HAS_NEON_BACKEND)

#include <algorithm>
#include <concepts>
#include <cstring>
#include <type_traits>
#include <utility>

#include "../formats/packed.hpp"

namespace lowbit::neon {

/// Eight rows' values as two float32x4 (rows 0-3, rows 4-7).
struct rows8 {
    float32x4_t a, b;
};
/// Eight rows' int32 sums.
struct irows8 {
    int32x4_t a, b;
};

LOWBIT_NEON_INLINE rows8 f16x8(const f16* h) noexcept {
    std::uint16_t bits[8];
    std::memcpy(bits, h, sizeof(bits));
    const float16x8_t v = vreinterpretq_f16_u16(vld1q_u16(bits));
    return {vcvt_f32_f16(vget_low_f16(v)), vcvt_high_f32_f16(v)};
}

/// 0xFF in byte i of 16 where bit i of `bits` is set.
LOWBIT_NEON_INLINE uint8x16_t bit_bytes16(std::uint32_t bits) noexcept {
    static constexpr std::uint8_t select[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t spread = vcombine_u8(vdup_n_u8(static_cast<std::uint8_t>(bits)), vdup_n_u8(static_cast<std::uint8_t>(bits >> 8)));
    return vtstq_u8(spread, vld1q_u8(select));
}

/// sdot of both halves of a group (rows 0-3 in a, 4-7 in b) with lane L of the partner vector.
template <int L>
LOWBIT_TARGET_DOTPROD LOWBIT_NEON_INLINE void dot_lane(irows8& s, int8x16_t a, int8x16_t b, int8x16_t y) noexcept {
    s.a = vdotq_laneq_s32(s.a, a, y, L);
    s.b = vdotq_laneq_s32(s.b, b, y, L);
}

/// Calls f(std::integral_constant<int, I>) for I = 0 .. N - 1 (f: a lambda of the dot-product
/// target, so that it can take its sdot lane as a constant).
template <int N, class Fn>
LOWBIT_TARGET_DOTPROD LOWBIT_NEON_INLINE void for_constant(Fn&& f) {
    [&]<int... I>(std::integer_sequence<int, I...>) LOWBIT_TARGET_DOTPROD LOWBIT_LAMBDA_INLINE {
        (f(std::integral_constant<int, I>{}), ...);
    }(std::make_integer_sequence<int, N>{});
}

/// The driver of every packed format: row group by row group, tile by tile; Step::step adds a
/// tile's eight row dots into acc.
template <class Step>
LOWBIT_TARGET_DOTPROD void packed_gemv(const typename Step::tile* w, const typename Step::partner_block* y, float* out, std::int64_t rows,
                                       std::int64_t n) noexcept {
    const std::int64_t nb = n / Step::block_size;
    for (std::int64_t r0 = 0; r0 < rows; r0 += 8) {
        const typename Step::tile* t = w + (r0 / 8) * nb;
        rows8 acc{vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
        for (std::int64_t k = 0; k < nb; ++k) Step::step(t[k], y[k], acc);
        float sums[8];
        vst1q_f32(sums, acc.a);
        vst1q_f32(sums + 4, acc.b);
        std::copy(sums, sums + std::min<std::int64_t>(8, rows - r0), out + r0);
    }
}

/// Legacy tiles and q8_0: the eight rows' block sums of signed codes, times the rows' and the
/// partner's scales; q4_1 / q5_1 add their mins times the partner's stored sum.
template <class F>
struct legacy_step {
    using tile = typename formats::packed<F>::tile;
    using partner_block = typename F::partner::block;
    static constexpr std::int64_t block_size = 32;
    static constexpr bool q8 = std::same_as<F, formats::q8_0>;

    LOWBIT_TARGET_DOTPROD LOWBIT_NEON_INLINE static void step(const tile& t, const partner_block& y, rows8& acc) noexcept {
        const int8x16_t y0 = vld1q_s8(y.qs), y1 = vld1q_s8(y.qs + 16);
        irows8 s{vdupq_n_s32(0), vdupq_n_s32(0)};
        if constexpr (q8) {
            for_constant<8>([&](auto g) LOWBIT_TARGET_DOTPROD LOWBIT_LAMBDA_INLINE {
                dot_lane<g % 4>(s, vld1q_s8(t.qs + 32 * g), vld1q_s8(t.qs + 32 * g + 16), g < 4 ? y0 : y1);
            });
        } else {
            const int8x16_t offset = vdupq_n_s8(static_cast<std::int8_t>(F::offset));
            for_constant<4>([&](auto g) LOWBIT_TARGET_DOTPROD LOWBIT_LAMBDA_INLINE {
                const uint8x16_t pa = vld1q_u8(t.qs + 32 * g), pb = vld1q_u8(t.qs + 32 * g + 16);
                uint8x16_t lo_a = vandq_u8(pa, vdupq_n_u8(0x0F)), lo_b = vandq_u8(pb, vdupq_n_u8(0x0F));
                uint8x16_t hi_a = vshrq_n_u8(pa, 4), hi_b = vshrq_n_u8(pb, 4);
                if constexpr (requires { t.qh; }) {
                    const uint8x16_t fifth = vdupq_n_u8(16);
                    lo_a = vorrq_u8(lo_a, vandq_u8(bit_bytes16(t.qh[g]), fifth));
                    lo_b = vorrq_u8(lo_b, vandq_u8(bit_bytes16(t.qh[g] >> 16), fifth));
                    hi_a = vorrq_u8(hi_a, vandq_u8(bit_bytes16(t.qh[4 + g]), fifth));
                    hi_b = vorrq_u8(hi_b, vandq_u8(bit_bytes16(t.qh[4 + g] >> 16), fifth));
                }
                const auto sign = [&](uint8x16_t c) LOWBIT_LAMBDA_INLINE { return vsubq_s8(vreinterpretq_s8_u8(c), offset); };
                dot_lane<g>(s, sign(lo_a), sign(lo_b), y0);
                dot_lane<g>(s, sign(hi_a), sign(hi_b), y1);
            });
        }
        const rows8 d = f16x8(t.d);
        const float dy = half_to_float(y.d);
        acc.a = vfmaq_f32(acc.a, vcvtq_f32_s32(s.a), vmulq_n_f32(d.a, dy));
        acc.b = vfmaq_f32(acc.b, vcvtq_f32_s32(s.b), vmulq_n_f32(d.b, dy));
        if constexpr (requires { t.m; }) {
            const rows8 m = f16x8(t.m);
            const float sy = half_to_float(y.s);
            acc.a = vfmaq_n_f32(acc.a, m.a, sy);
            acc.b = vfmaq_n_f32(acc.b, m.b, sy);
        }
    }
};

/// Eight signed or unsigned bytes of rows 0-7 as two int32x4.
template <class T>
LOWBIT_NEON_INLINE irows8 widen8(const T* p) noexcept {
    if constexpr (std::same_as<T, std::int8_t>) {
        const int16x8_t w = vmovl_s8(vld1_s8(p));
        return {vmovl_s16(vget_low_s16(w)), vmovl_s16(vget_high_s16(w))};
    } else {
        const uint16x8_t w = vmovl_u8(vld1_u8(p));
        return {vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(w))), vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(w)))};
    }
}

LOWBIT_NEON_INLINE void multiply_add(irows8& acc, irows8 x, irows8 scale) noexcept {
    acc.a = vmlaq_s32(acc.a, x.a, scale.a);
    acc.b = vmlaq_s32(acc.b, x.b, scale.b);
}

/// The K-quants: Σ over sub-blocks of scale * (codes · partner bytes) and Σ of min (or scale *
/// the code offset) * the partner's sums, both in int32, then d * dy and dmin * dy (or d * dy).
/// Codes(t, group, lane) gives a group's code vectors; each format below says how.
template <class F>
struct k_step {
    using tile = typename formats::packed<F>::tile;
    using partner_block = formats::block_q8_K;
    static constexpr std::int64_t block_size = 256;
    static constexpr bool affine = requires(const tile& t) { t.dmin; };

    LOWBIT_TARGET_DOTPROD LOWBIT_NEON_INLINE static void step(const tile& t, const partner_block& y, rows8& acc) noexcept {
        irows8 codes{vdupq_n_s32(0), vdupq_n_s32(0)}, mins{vdupq_n_s32(0), vdupq_n_s32(0)};
        if constexpr (F::sub == 32) sums32(t, y, codes, mins);
        else sums16(t, y, codes, mins);
        const rows8 d = f16x8(t.d);
        rows8 dm = d;
        if constexpr (affine) dm = f16x8(t.dmin);
        acc.a = vfmaq_f32(acc.a, vcvtq_f32_s32(codes.a), vmulq_n_f32(d.a, y.d));
        acc.b = vfmaq_f32(acc.b, vcvtq_f32_s32(codes.b), vmulq_n_f32(d.b, y.d));
        acc.a = vfmsq_f32(acc.a, vcvtq_f32_s32(mins.a), vmulq_n_f32(dm.a, y.d));
        acc.b = vfmsq_f32(acc.b, vcvtq_f32_s32(mins.b), vmulq_n_f32(dm.b, y.d));
    }

    /// q4_K, q5_K: group 8 c + g, values 64 c + 4 g .. in the low nibbles (sub-block 2 c), 32 more
    /// in the high ones; a sub-block's sum at most 32 * 31 * 128, times a scale of 63.
    LOWBIT_TARGET_DOTPROD LOWBIT_NEON_INLINE static void sums32(const tile& t, const partner_block& y, irows8& codes, irows8& mins) noexcept {
        for (int c = 0; c < 4; ++c) {
            irows8 lo{vdupq_n_s32(0), vdupq_n_s32(0)}, hi = lo;
            for_constant<8>([&](auto g) LOWBIT_TARGET_DOTPROD LOWBIT_LAMBDA_INLINE {
                const uint8x16_t pa = vld1q_u8(t.qs + 32 * (8 * c + g)), pb = vld1q_u8(t.qs + 32 * (8 * c + g) + 16);
                uint8x16_t lo_a = vandq_u8(pa, vdupq_n_u8(0x0F)), lo_b = vandq_u8(pb, vdupq_n_u8(0x0F));
                uint8x16_t hi_a = vshrq_n_u8(pa, 4), hi_b = vshrq_n_u8(pb, 4);
                if constexpr (requires { t.qh; }) {
                    const uint8x16_t fifth = vdupq_n_u8(16);
                    lo_a = vorrq_u8(lo_a, vandq_u8(bit_bytes16(t.qh[2 * c][g]), fifth));
                    lo_b = vorrq_u8(lo_b, vandq_u8(bit_bytes16(t.qh[2 * c][g] >> 16), fifth));
                    hi_a = vorrq_u8(hi_a, vandq_u8(bit_bytes16(t.qh[2 * c + 1][g]), fifth));
                    hi_b = vorrq_u8(hi_b, vandq_u8(bit_bytes16(t.qh[2 * c + 1][g] >> 16), fifth));
                }
                const int8x16_t ylo = vld1q_s8(y.qs + 64 * c + 16 * (g / 4)), yhi = vld1q_s8(y.qs + 64 * c + 32 + 16 * (g / 4));
                dot_lane<g % 4>(lo, vreinterpretq_s8_u8(lo_a), vreinterpretq_s8_u8(lo_b), ylo);
                dot_lane<g % 4>(hi, vreinterpretq_s8_u8(hi_a), vreinterpretq_s8_u8(hi_b), yhi);
            });
            multiply_add(codes, lo, widen8(t.sc[2 * c]));
            multiply_add(codes, hi, widen8(t.sc[2 * c + 1]));
        }
        for (int s = 0; s < 8; ++s) {
            std::uint8_t m[8];
            for (int j = 0; j < 8; ++j) m[j] = t.mn[s / 2][j][s % 2];
            const irows8 mn = widen8(m);
            const std::int32_t sum = y.bsums[2 * s] + y.bsums[2 * s + 1];
            mins.a = vmlaq_n_s32(mins.a, mn.a, sum);
            mins.b = vmlaq_n_s32(mins.b, mn.b, sum);
        }
    }

    /// q2_K, q3_K, q6_K: group 8 h + g meets the partner's bytes 128 h + 32 s + 4 g .. for slice
    /// s; groups 4 q .. 4 q + 3 make up sub-block 8 h + 2 s + q, whose scale is pair 4 h + s,
    /// element q. A sub-block's sum is at most 16 * 63 * 128, times a scale of 128.
    LOWBIT_TARGET_DOTPROD LOWBIT_NEON_INLINE static void sums16(const tile& t, const partner_block& y, irows8& codes, irows8& mins) noexcept {
        for (int h = 0; h < 2; ++h) {
            for (int q = 0; q < 2; ++q) {
                irows8 sum[4];
                for (auto& v : sum) v = {vdupq_n_s32(0), vdupq_n_s32(0)};
                for_constant<4>([&](auto gg) LOWBIT_TARGET_DOTPROD LOWBIT_LAMBDA_INLINE {
                    const int g = 4 * q + gg;
                    uint8x16_t va[4], vb[4];
                    slice_codes(t, 8 * h + g, 0, va);
                    slice_codes(t, 8 * h + g, 16, vb);
                    for (int s = 0; s < 4; ++s)
                        dot_lane<gg>(sum[s], vreinterpretq_s8_u8(va[s]), vreinterpretq_s8_u8(vb[s]), vld1q_s8(y.qs + 128 * h + 32 * s + 16 * q));
                });
                for (int s = 0; s < 4; ++s) multiply_add(codes, sum[s], scales(t, 4 * h + s, q));
            }
        }
        for (int sb = 0; sb < 16; ++sb) {
            const irows8 m = min_codes(t, sb / 2, sb % 2);
            mins.a = vmlaq_n_s32(mins.a, m.a, y.bsums[sb]);
            mins.b = vmlaq_n_s32(mins.b, m.b, y.bsums[sb]);
        }
    }

    /// The eight rows' scale codes of sub-block 2 p + e (q2_K: the low nibbles).
    LOWBIT_NEON_INLINE static irows8 scales(const tile& t, int p, int e) noexcept {
        using T = std::remove_cvref_t<decltype(t.scales[0][0][0])>;
        T v[8];
        for (int j = 0; j < 8; ++j) v[j] = t.scales[p][j][e];
        if constexpr (std::same_as<F, formats::q2_K>)
            for (auto& x : v) x = static_cast<T>(x & 0xF);
        return widen8(v);
    }
    /// What multiplies the partner's sum of sub-block 2 p + e: q2_K's min, or the scale times the
    /// code offset (q3_K: 4, q6_K: 32).
    LOWBIT_NEON_INLINE static irows8 min_codes(const tile& t, int p, int e) noexcept {
        if constexpr (std::same_as<F, formats::q2_K>) {
            std::uint8_t v[8];
            for (int j = 0; j < 8; ++j) v[j] = static_cast<std::uint8_t>(t.scales[p][j][e] >> 4);
            return widen8(v);
        } else {
            const irows8 sc = scales(t, p, e);
            constexpr int offset = std::same_as<F, formats::q3_K> ? 4 : 32;
            return {vmulq_n_s32(sc.a, offset), vmulq_n_s32(sc.b, offset)};
        }
    }
    /// The four slices' codes (unsigned, below 64) of rows 0-3 (half 0) or 4-7 (half 16) of a group.
    LOWBIT_NEON_INLINE static void slice_codes(const tile& t, int group, int half, uint8x16_t (&v)[4]) noexcept {
        const int at = 32 * group + half;
        if constexpr (std::same_as<F, formats::q6_K>) {
            const uint8x16_t a = vld1q_u8(t.a + at), b = vld1q_u8(t.b + at), c = vld1q_u8(t.c + at), six = vdupq_n_u8(63);
            v[0] = vandq_u8(a, six);
            v[1] = vandq_u8(b, six);
            v[2] = vandq_u8(c, six);
            v[3] = vsliq_n_u8(vsliq_n_u8(vshrq_n_u8(a, 6), vshrq_n_u8(b, 6), 2), vshrq_n_u8(c, 6), 4);
        } else {
            const uint8x16_t p = vld1q_u8(t.qs + at), three = vdupq_n_u8(3);
            v[0] = vandq_u8(p, three);
            v[1] = vandq_u8(vshrq_n_u8(p, 2), three);
            v[2] = vandq_u8(vshrq_n_u8(p, 4), three);
            v[3] = vshrq_n_u8(p, 6);
            if constexpr (std::same_as<F, formats::q3_K>) {
                const int h = group / 8, g = group % 8;
                for (int s = 0; s < 4; ++s)
                    v[s] = vorrq_u8(v[s], vandq_u8(bit_bytes16(t.hmask[4 * h + s][g] >> half), vdupq_n_u8(4)));
            }
        }
    }
};

} // namespace lowbit::neon

namespace lowbit {

/// The dot-product extension's gemv for every packed format.
template <class F>
    requires formats::has_packed_layout<F>
struct packed_kernels<F, backend::neon_dotprod> {
    LOWBIT_TARGET_DOTPROD static void gemv(const typename formats::packed<F>::tile* w, const typename F::partner::block* y, float* out,
                                           std::int64_t rows, std::int64_t n) noexcept {
        if constexpr (F::block_size == 256) neon::packed_gemv<neon::k_step<F>>(w, y, out, rows, n);
        else neon::packed_gemv<neon::legacy_step<F>>(w, y, out, rows, n);
    }
};

} // namespace lowbit

#endif
