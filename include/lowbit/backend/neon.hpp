// lowbit — NEON kernels (aarch64) for the float, legacy and K-quant formats.
//
// As on x86, dequantize and quantize reproduce the scalar path bit for bit: products pass through
// neon::opaque before an addition (GCC contracts vmulq + vaddq into fmla otherwise) unless they
// are exact (the affine formats' dequantize: one fmla), and q8's
// rounding (half away from zero) is the fcvtas instruction itself. The dot-product extension
// (sdot) is reached through a target attribute, so a baseline armv8-a build uses it when the CPU
// reports it.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../cpu.hpp"
#include "kquant_search_neon.hpp"
#include "lanes_neon.hpp"
#include "scalar.hpp"

#if defined(LOWBIT_HAS_NEON_BACKEND)
#  include "../formats/float.hpp"
#  include "../formats/kquants.hpp"
#  include "../formats/legacy.hpp"

#  if defined(__clang__)
#    define LOWBIT_TARGET_DOTPROD __attribute__((target("dotprod")))
#  else
#    define LOWBIT_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#  endif

namespace lowbit::backend {

/// Advanced SIMD, part of every aarch64 CPU.
struct neon {
    static constexpr const char* name = "neon";
    static bool cpu_supported() noexcept { return cpu().neon; }
    static constexpr bool target_enabled = true;
};

/// NEON plus the dot-product extension (sdot/udot; Armv8.2 and later, optional before 8.4).
struct neon_dotprod {
    static constexpr const char* name = "neon-dotprod";
    static bool cpu_supported() noexcept { return cpu().neon_dotprod; }
#  if defined(__ARM_FEATURE_DOTPROD)
    static constexpr bool target_enabled = true;
#  else
    static constexpr bool target_enabled = false;
#  endif
};

} // namespace lowbit::backend

namespace lowbit::neon {

LOWBIT_NEON_INLINE float half_to_float(f16 h) noexcept {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h.bits))), 0);
}

/// Codes 0..15 of a 4-bit block: values 0..15 in lo, 16..31 in hi.
LOWBIT_NEON_INLINE void unpack_nibbles(const std::uint8_t* qs, uint8x16_t& lo, uint8x16_t& hi) noexcept {
    const uint8x16_t packed = vld1q_u8(qs);
    lo = vandq_u8(packed, vdupq_n_u8(0x0F));
    hi = vshrq_n_u8(packed, 4);
}

/// Bits 0..15 (or 16..31) of a mask as 0x10 in bytes 0..15.
LOWBIT_NEON_INLINE uint8x16_t expand_bit4(std::uint32_t bits) noexcept {
    static constexpr std::uint8_t select[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t spread = vcombine_u8(vdup_n_u8(static_cast<std::uint8_t>(bits)), vdup_n_u8(static_cast<std::uint8_t>(bits >> 8)));
    return vandq_u8(vtstq_u8(spread, vld1q_u8(select)), vdupq_n_u8(0x10));
}

template <int Bits, bool Affine>
LOWBIT_NEON_INLINE void legacy_codes(const typename formats::legacy_format<Bits, Affine>::block& b, uint8x16_t& lo, uint8x16_t& hi) noexcept {
    unpack_nibbles(b.qs, lo, hi);
    if constexpr (Bits == 5) {
        std::uint32_t qh;
        std::memcpy(&qh, b.qh, 4);
        lo = vorrq_u8(lo, expand_bit4(qh));
        hi = vorrq_u8(hi, expand_bit4(qh >> 16));
    }
}

/// Sixteen int8 -> four vectors of four floats, each times d (then + m, fused: callers pass
/// only codes and scales whose products are exact, so that rounding them first changes nothing).
template <bool Affine>
LOWBIT_NEON_INLINE void store16(int8x16_t q, float d, float m, float* y) noexcept {
    const int16x8_t a = vmovl_s8(vget_low_s8(q)), b = vmovl_s8(vget_high_s8(q));
    const int32x4_t w[4] = {vmovl_s16(vget_low_s16(a)), vmovl_s16(vget_high_s16(a)), vmovl_s16(vget_low_s16(b)), vmovl_s16(vget_high_s16(b))};
    for (int k = 0; k < 4; ++k) {
        if constexpr (Affine) vst1q_f32(y + 4 * k, vfmaq_n_f32(vdupq_n_f32(m), vcvtq_f32_s32(w[k]), d));
        else vst1q_f32(y + 4 * k, vmulq_n_f32(vcvtq_f32_s32(w[k]), d));
    }
}

/// Sum of sixteen int8 x int8 products into four int32 lanes, without the dot-product extension.
LOWBIT_NEON_INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) noexcept {
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
}

LOWBIT_NEON_INLINE float quantize_int8_block(const float* x, std::int8_t* qs, int* sum) noexcept {
    float32x4_t v[8];
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int k = 0; k < 8; ++k) {
        v[k] = vld1q_f32(x + 4 * k);
        m = vmaxq_f32(m, vabsq_f32(v[k]));
    }
    const float d = vmaxvq_f32(m) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (formats::impl::scale_overflows(id)) { // every code 0, as the scalar path writes
        vst1q_s8(qs, vdupq_n_s8(0));
        vst1q_s8(qs + 16, vdupq_n_s8(0));
        if (sum) *sum = 0;
        return d;
    }
    int32x4_t s = vdupq_n_s32(0);
    int16x8_t h[4];
    for (int k = 0; k < 4; ++k) {
        const int32x4_t a = vcvtaq_s32_f32(vmulq_n_f32(v[2 * k], id)), b = vcvtaq_s32_f32(vmulq_n_f32(v[2 * k + 1], id));
        s = vaddq_s32(s, vaddq_s32(a, b));
        h[k] = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
    }
    vst1q_s8(qs, vcombine_s8(vmovn_s16(h[0]), vmovn_s16(h[1])));
    vst1q_s8(qs + 16, vcombine_s8(vmovn_s16(h[2]), vmovn_s16(h[3])));
    if (sum) *sum = vaddvq_s32(s);
    return d;
}

} // namespace lowbit::neon

namespace lowbit {

template <int Bits, bool Affine>
struct kernels<formats::legacy_format<Bits, Affine>, backend::neon> {
    using F = formats::legacy_format<Bits, Affine>;
    using block = typename F::block;
    using partner_block = typename F::partner::block;

    static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept {
        for (std::int64_t i = 0; i < n / 32; ++i) {
            uint8x16_t lo, hi;
            neon::legacy_codes<Bits, Affine>(x[i], lo, hi);
            const int8x16_t off = vdupq_n_s8(static_cast<std::int8_t>(F::offset));
            const float d = neon::half_to_float(x[i].d);
            float m = 0.0f;
            if constexpr (Affine) m = neon::half_to_float(x[i].m);
            neon::store16<Affine>(vsubq_s8(vreinterpretq_s8_u8(lo), off), d, m, y + 32 * i);
            neon::store16<Affine>(vsubq_s8(vreinterpretq_s8_u8(hi), off), d, m, y + 32 * i + 16);
        }
    }

    static void quantize_row(const float* x, block* y, std::int64_t n, const float* imatrix) noexcept {
        if (imatrix) return F::quantize_row(x, y, n, imatrix); // the weighted search stays scalar
        for (std::int64_t i = 0; i < n / 32; ++i) quantize_block(x + 32 * i, y[i]);
    }

    static float dot(const block* x, const partner_block* y, std::int64_t n) noexcept {
        float sum = 0.0f;
        for (std::int64_t i = 0; i < n / 32; ++i) {
            uint8x16_t lo, hi;
            neon::legacy_codes<Bits, Affine>(x[i], lo, hi);
            const int8x16_t off = vdupq_n_s8(static_cast<std::int8_t>(F::offset));
            int32x4_t acc = neon::dot16(vdupq_n_s32(0), vsubq_s8(vreinterpretq_s8_u8(lo), off), vld1q_s8(y[i].qs));
            acc = neon::dot16(acc, vsubq_s8(vreinterpretq_s8_u8(hi), off), vld1q_s8(y[i].qs + 16));
            sum += neon::half_to_float(x[i].d) * neon::half_to_float(y[i].d) * static_cast<float>(vaddvq_s32(acc));
            if constexpr (Affine) sum += neon::half_to_float(x[i].m) * neon::half_to_float(y[i].s);
        }
        return sum;
    }

private:
    static void quantize_block(const float* x, block& b) noexcept {
        float32x4_t v[8];
        for (int k = 0; k < 8; ++k) v[k] = vld1q_f32(x + 4 * k);
        std::uint8_t q[32];
        constexpr int top = F::levels - 1;
        if constexpr (Affine) {
            float32x4_t mn = v[0], mx = v[0];
            for (int k = 1; k < 8; ++k) {
                mn = vminq_f32(mn, v[k]);
                mx = vmaxq_f32(mx, v[k]);
            }
            const float min = vminvq_f32(mn), max = vmaxvq_f32(mx);
            if (min == 0.0f || max == 0.0f) return F::quantize_row(x, &b, 32, nullptr); // which zero the scalar scan keeps matters
            const float d = (max - min) / static_cast<float>(top);
            const float id = d != 0.0f ? 1.0f / d : 0.0f;
            if (formats::impl::scale_overflows(id)) return F::quantize_row(x, &b, 32, nullptr);
            b.d = to_f16(d);
            b.m = to_f16(min);
            for (int k = 0; k < 8; ++k) {
                const float32x4_t s = neon::opaque(vmulq_n_f32(vsubq_f32(v[k], vdupq_n_f32(min)), id));
                const uint32x4_t c = vminq_u32(vcvtq_u32_f32(vaddq_f32(s, vdupq_n_f32(0.5f))), vdupq_n_u32(top));
                for (int l = 0; l < 4; ++l) q[4 * k + l] = static_cast<std::uint8_t>(c[l]);
            }
        } else {
            float32x4_t a = vabsq_f32(v[0]);
            for (int k = 1; k < 8; ++k) a = vmaxq_f32(a, vabsq_f32(v[k]));
            const float amax = vmaxvq_f32(a);
            float max = 0.0f;
            if (amax != 0.0f)
                for (int j = 0; j < 32; ++j)
                    if (std::fabs(x[j]) == amax) {
                        max = x[j];
                        break;
                    }
            const float d = max / static_cast<float>(-F::offset);
            const float id = d != 0.0f ? 1.0f / d : 0.0f;
            if (formats::impl::scale_overflows(id)) return F::quantize_row(x, &b, 32, nullptr);
            b.d = to_f16(d);
            const float bias = static_cast<float>(F::offset) + 0.5f;
            for (int k = 0; k < 8; ++k) {
                const float32x4_t s = neon::opaque(vmulq_n_f32(v[k], id));
                const int32x4_t c = vminq_s32(vcvtq_s32_f32(vaddq_f32(s, vdupq_n_f32(bias))), vdupq_n_s32(top));
                for (int l = 0; l < 4; ++l) q[4 * k + l] = static_cast<std::uint8_t>(c[l]);
            }
        }
        F::pack(q, b);
    }
};

template <class F>
    requires std::same_as<F, formats::q8_0> || std::same_as<F, formats::q8_1>
struct kernels<F, backend::neon> {
    using block = typename F::block;
    static constexpr bool has_sum = std::same_as<F, formats::q8_1>;

    static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept {
        for (std::int64_t i = 0; i < n / 32; ++i) {
            const float d = neon::half_to_float(x[i].d);
            neon::store16<false>(vld1q_s8(x[i].qs), d, 0.0f, y + 32 * i);
            neon::store16<false>(vld1q_s8(x[i].qs + 16), d, 0.0f, y + 32 * i + 16);
        }
    }
    static void quantize_row(const float* x, block* y, std::int64_t n, const float*) noexcept {
        for (std::int64_t i = 0; i < n / 32; ++i) {
            int sum = 0;
            const float d = neon::quantize_int8_block(x + 32 * i, y[i].qs, has_sum ? &sum : nullptr);
            y[i].d = to_f16(d);
            if constexpr (has_sum) y[i].s = to_f16(detail::mul(static_cast<float>(sum), d));
        }
    }
    static float dot(const block* x, const block* y, std::int64_t n) noexcept {
        float sum = 0.0f;
        for (std::int64_t i = 0; i < n / 32; ++i) {
            int32x4_t acc = neon::dot16(vdupq_n_s32(0), vld1q_s8(x[i].qs), vld1q_s8(y[i].qs));
            acc = neon::dot16(acc, vld1q_s8(x[i].qs + 16), vld1q_s8(y[i].qs + 16));
            sum += neon::half_to_float(x[i].d) * neon::half_to_float(y[i].d) * static_cast<float>(vaddvq_s32(acc));
        }
        return sum;
    }
};

template <>
struct kernels<formats::f16, backend::neon> {
    static void dequantize_row(const f16* x, float* y, std::int64_t n) noexcept {
        std::int64_t i = 0;
        for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(&x[i].bits))));
        for (; i < n; ++i) y[i] = to_f32(x[i]);
    }
    static void quantize_row(const float* x, f16* y, std::int64_t n, const float*) noexcept {
        std::int64_t i = 0;
        for (; i + 4 <= n; i += 4) vst1_u16(&y[i].bits, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
        for (; i < n; ++i) y[i] = to_f16(x[i]);
    }
};

template <>
struct kernels<formats::bf16, backend::neon> {
    static void dequantize_row(const bf16* x, float* y, std::int64_t n) noexcept {
        std::int64_t i = 0;
        for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(&x[i].bits), 16)));
        for (; i < n; ++i) y[i] = to_f32(x[i]);
    }
    /// The scalar rule (nearest even, NaN made quiet) on four lanes: (x + 0x7fff + lsb) >> 16.
    static void quantize_row(const float* x, bf16* y, std::int64_t n, const float*) noexcept {
        std::int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
            const uint32x4_t b = vreinterpretq_u32_f32(vld1q_f32(x + i));
            const uint32x4_t lsb = vandq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(1));
            const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(vaddq_u32(b, vdupq_n_u32(0x7fff)), lsb), 16);
            const uint32x4_t quiet = vorrq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(64));
            const uint32x4_t nan = vcgtq_u32(vandq_u32(b, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
            vst1_u16(&y[i].bits, vmovn_u32(vbslq_u32(nan, quiet, rounded)));
        }
        for (; i < n; ++i) y[i] = to_bf16(x[i]);
    }
};

// ---------------------------------------------------------------------------------------------
// With the dot-product extension: sdot sums four int8 products per int32 lane.

template <int Bits, bool Affine>
struct kernels<formats::legacy_format<Bits, Affine>, backend::neon_dotprod> {
    using F = formats::legacy_format<Bits, Affine>;
    using block = typename F::block;
    using partner_block = typename F::partner::block;

    LOWBIT_TARGET_DOTPROD static float dot(const block* x, const partner_block* y, std::int64_t n) noexcept {
        float sum = 0.0f;
        for (std::int64_t i = 0; i < n / 32; ++i) {
            uint8x16_t lo, hi;
            neon::legacy_codes<Bits, Affine>(x[i], lo, hi);
            const int8x16_t off = vdupq_n_s8(static_cast<std::int8_t>(F::offset));
            int32x4_t acc = vdotq_s32(vdupq_n_s32(0), vsubq_s8(vreinterpretq_s8_u8(lo), off), vld1q_s8(y[i].qs));
            acc = vdotq_s32(acc, vsubq_s8(vreinterpretq_s8_u8(hi), off), vld1q_s8(y[i].qs + 16));
            sum += neon::half_to_float(x[i].d) * neon::half_to_float(y[i].d) * static_cast<float>(vaddvq_s32(acc));
            if constexpr (Affine) sum += neon::half_to_float(x[i].m) * neon::half_to_float(y[i].s);
        }
        return sum;
    }
};

template <>
struct kernels<formats::q8_0, backend::neon_dotprod> {
    using block = formats::block_q8_0;
    LOWBIT_TARGET_DOTPROD static float dot(const block* x, const block* y, std::int64_t n) noexcept {
        float sum = 0.0f;
        for (std::int64_t i = 0; i < n / 32; ++i) {
            int32x4_t acc = vdotq_s32(vdupq_n_s32(0), vld1q_s8(x[i].qs), vld1q_s8(y[i].qs));
            acc = vdotq_s32(acc, vld1q_s8(x[i].qs + 16), vld1q_s8(y[i].qs + 16));
            sum += neon::half_to_float(x[i].d) * neon::half_to_float(y[i].d) * static_cast<float>(vaddvq_s32(acc));
        }
        return sum;
    }
};

// ---------------------------------------------------------------------------------------------
// K-quants: the same placement rule as the x86 kernels (kquants_x86.hpp), sixteen codes at a time.

template <class P>
struct kernels<formats::kquant_format<P>, backend::neon> {
    struct K : formats::kquant_format<P> {
        using policy = P;
    };
    using block = typename P::block;

    /// The reference-exact quantizer, its sub-block searches 16 sub-blocks at a time.
    static void quantize_row(const float* x, block* y, std::int64_t n, const float* imatrix) noexcept {
        K::template quantize_row_with<neon::search_engine>(x, y, n, imatrix);
    }

    /// Codes of values 16h .. 16h+15 (an aligned 16-value run lies in one slice).
    static LOWBIT_NEON_INLINE uint8x16_t codes16(const block& b, int h) noexcept {
        using low = typename K::low;
        using high = typename K::high;
        const int v = 16 * h;
        const std::uint8_t* lo_bytes = b.*P::low_field;
        uint8x16_t q = vandq_u8(vshlq_u8(vld1q_u8(lo_bytes + low::byte_of(v)), vdupq_n_s8(static_cast<std::int8_t>(-low::shift_of(v)))),
                                vdupq_n_u8(static_cast<std::uint8_t>(low::mask)));
        if constexpr (high::bits > 0) {
            const std::uint8_t* hi_bytes = b.*P::high_field;
            const uint8x16_t hq = vandq_u8(vshlq_u8(vld1q_u8(hi_bytes + high::byte_of(v)), vdupq_n_s8(static_cast<std::int8_t>(-high::shift_of(v)))),
                                           vdupq_n_u8(static_cast<std::uint8_t>(high::mask)));
            q = vorrq_u8(q, vshlq_n_u8(hq, low::bits));
        }
        return q;
    }

    /// Per 16 values (which lie in one sub-block): int8 products summed in four int32 lanes,
    /// times the sub-block's scale; the mins from the partner's sums per 16.
    static float dot(const block* x, const formats::block_q8_K* y, std::int64_t n) noexcept {
        using scales = typename K::scales;
        float sum = 0.0f;
        for (std::int64_t i = 0; i < n / 256; ++i) {
            int sc[K::nsub], mn[K::nsub];
            scales::decode(x[i].scales, sc, mn);
            int32x4_t isum = vdupq_n_s32(0);
            for (int h = 0; h < 16; ++h) {
                const int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(codes16(x[i], h)), vdupq_n_s8(static_cast<std::int8_t>(K::code_offset)));
                const int32x4_t p = neon::dot16(vdupq_n_s32(0), q, vld1q_s8(y[i].qs + 16 * h));
                isum = vmlaq_n_s32(isum, p, sc[16 * h / K::sub] - scales::offset);
            }
            sum += neon::half_to_float(x[i].d) * y[i].d * static_cast<float>(vaddvq_s32(isum));
            if constexpr (K::affine) {
                int summs = 0;
                for (int j = 0; j < 16; ++j) summs += y[i].bsums[j] * mn[j * 16 / K::sub];
                sum -= neon::half_to_float(x[i].dmin) * y[i].d * static_cast<float>(summs);
            }
        }
        return sum;
    }

    static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept {
        using scales = typename K::scales;
        for (std::int64_t i = 0; i < n / 256; ++i) {
            int sc[K::nsub], mn[K::nsub];
            scales::decode(x[i].scales, sc, mn);
            const float d = neon::half_to_float(x[i].d);
            float dmin = 0.0f;
            if constexpr (K::affine) dmin = neon::half_to_float(x[i].dmin);
            const bool fused = K::fused_values_exact(x[i]);
            for (int h = 0; h < 16; ++h) {
                const int j = 16 * h / K::sub;
                const float dl = d * static_cast<float>(sc[j] - scales::offset);
                const int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(codes16(x[i], h)), vdupq_n_s8(static_cast<std::int8_t>(K::code_offset)));
                float* o = y + 256 * i + 16 * h;
                if constexpr (K::affine) {
                    const float ml = dmin * static_cast<float>(mn[j]);
                    if (fused) { // dl * code - ml as dl * code + -ml, one FMA
                        neon::store16<true>(q, dl, -ml, o);
                    } else {
                        float tmp[16];
                        neon::store16<false>(q, dl, 0.0f, tmp);
                        for (int k = 0; k < 4; ++k) vst1q_f32(o + 4 * k, vsubq_f32(neon::opaque(vld1q_f32(tmp + 4 * k)), vdupq_n_f32(ml)));
                    }
                } else {
                    neon::store16<false>(q, dl, 0.0f, o);
                }
            }
        }
    }
};

// q8_K: the activations of every K-quant dot.
template <>
struct kernels<formats::q8_K, backend::neon> {
    using block = formats::block_q8_K;

    static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept {
        for (std::int64_t i = 0; i < n / 256; ++i)
            for (int h = 0; h < 16; ++h) neon::store16<false>(vld1q_s8(x[i].qs + 16 * h), x[i].d, 0.0f, y + 256 * i + 16 * h);
    }

    static void quantize_row(const float* x, block* y, std::int64_t n, const float* /*imatrix*/) noexcept {
        for (std::int64_t i = 0; i < n / 256; ++i, x += 256) {
            // vmaxnm passes over NaN as the scalar comparison does
            float32x4_t m = vdupq_n_f32(0.0f);
            for (int k = 0; k < 64; ++k) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + 4 * k)));
            const float amax = vmaxnmvq_f32(m);
            y[i] = block{};
            if (!(amax > 0.0f)) continue;
            // the first value of largest magnitude sets the sign of the scale (amax is one of them)
            int first = 0;
            while (first < 255 && !(std::fabs(x[first]) == amax)) ++first;
            const float iscale = -127.0f / x[first];
            y[i].d = 1 / iscale;
            if (!std::isfinite(iscale)) continue; // as in the avx2 kernel: every code 0
            for (int h = 0; h < 16; ++h) {
                int32x4_t c[4];
                for (int l = 0; l < 4; ++l) // round to nearest even, as nearest_int does for |v| <= 127
                    c[l] = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 16 * h + 4 * l), iscale)), vdupq_n_s32(127));
                const int8x16_t q = vcombine_s8(vmovn_s16(vcombine_s16(vmovn_s32(c[0]), vmovn_s32(c[1]))),
                                                vmovn_s16(vcombine_s16(vmovn_s32(c[2]), vmovn_s32(c[3]))));
                vst1q_s8(y[i].qs + 16 * h, q);
                y[i].bsums[h] = vaddlvq_s8(q);
            }
        }
    }
};

} // namespace lowbit

#endif
