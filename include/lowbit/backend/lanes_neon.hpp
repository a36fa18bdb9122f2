// lowbit — NEON (aarch64) basics: the backend's detection, the barrier against contraction, and
// lanes4, the four-lane float policy that code written once for several widths runs on
// (lanes_x86.hpp lists the operations). lanes4 gives x86's semantics where NEON's own differ:
// min/max return the second operand when either is NaN (fmin/fmax would return the NaN), and
// abs/neg touch the sign bit only.
#pragma once

#include <cstdint>
#include <cstring>

#include "../cpu.hpp"

#if defined(LOWBIT_AARCH64) && defined(__ARM_NEON) && (defined(__GNUC__) || defined(__clang__))
#  define LOWBIT_HAS_NEON_BACKEND 1
#  include <arm_neon.h>

#  define LOWBIT_NEON_INLINE inline __attribute__((always_inline))

namespace lowbit::neon {

/// A barrier for GCC, which contracts vmulq + vaddq into fmla otherwise (a product that the
/// scalar path rounds on its own passes through it before it is added).
LOWBIT_NEON_INLINE float32x4_t opaque(float32x4_t v) noexcept {
    __asm__("" : "+w"(v));
    return v;
}

/// Four float lanes; masks are uint32x4_t with all bits of a lane set or clear.
struct lanes4 {
    using f = float32x4_t;
    using m = uint32x4_t;
    static constexpr int width = 4;

#  define LOWBIT_LANE_OP LOWBIT_NEON_INLINE static
    LOWBIT_LANE_OP f zero() noexcept { return vdupq_n_f32(0.0f); }
    LOWBIT_LANE_OP f set1(float v) noexcept { return vdupq_n_f32(v); }
    LOWBIT_LANE_OP f load(const float* p) noexcept { return vld1q_f32(p); }
    LOWBIT_LANE_OP f loadu(const float* p) noexcept { return vld1q_f32(p); }
    LOWBIT_LANE_OP void storeu(float* p, f v) noexcept { vst1q_f32(p, v); }
    LOWBIT_LANE_OP f add(f a, f b) noexcept { return vaddq_f32(a, b); }
    LOWBIT_LANE_OP f sub(f a, f b) noexcept { return vsubq_f32(a, b); }
    LOWBIT_LANE_OP f mul(f a, f b) noexcept { return vmulq_f32(a, b); }
    LOWBIT_LANE_OP f div(f a, f b) noexcept { return vdivq_f32(a, b); }
    LOWBIT_LANE_OP f abs(f a) noexcept {
        return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(0x80000000u)));
    }
    LOWBIT_LANE_OP f neg(f a) noexcept {
        return vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(0x80000000u)));
    }
    LOWBIT_LANE_OP f min(f a, f b) noexcept { return vbslq_f32(vcltq_f32(a, b), a, b); }
    LOWBIT_LANE_OP f max(f a, f b) noexcept { return vbslq_f32(vcgtq_f32(a, b), a, b); }
    LOWBIT_LANE_OP m gt(f a, f b) noexcept { return vcgtq_f32(a, b); }
    LOWBIT_LANE_OP m lt(f a, f b) noexcept { return vcltq_f32(a, b); }
    LOWBIT_LANE_OP m ge(f a, f b) noexcept { return vcgeq_f32(a, b); }
    LOWBIT_LANE_OP m le(f a, f b) noexcept { return vcleq_f32(a, b); }
    LOWBIT_LANE_OP m neq(f a, f b) noexcept { return vmvnq_u32(vceqq_f32(a, b)); }
    LOWBIT_LANE_OP m ordered(f a) noexcept { return vceqq_f32(a, a); }
    LOWBIT_LANE_OP f select(m k, f a, f b) noexcept { return vbslq_f32(k, a, b); }
    LOWBIT_LANE_OP m none() noexcept { return vdupq_n_u32(0); }
    LOWBIT_LANE_OP m mand(m a, m b) noexcept { return vandq_u32(a, b); }
    LOWBIT_LANE_OP m mor(m a, m b) noexcept { return vorrq_u32(a, b); }
    LOWBIT_LANE_OP m mnot(m a) noexcept { return vmvnq_u32(a); }
    LOWBIT_LANE_OP bool all(m a) noexcept { return vminvq_u32(a) != 0; }
    LOWBIT_LANE_OP bool any(m a) noexcept { return vmaxvq_u32(a) != 0; }
    LOWBIT_LANE_OP unsigned bits(m a) noexcept {
        static constexpr std::uint32_t bit[4] = {1, 2, 4, 8};
        return vaddvq_u32(vandq_u32(a, vld1q_u32(bit)));
    }
    LOWBIT_LANE_OP f fused_mul_sub(f a, f b, f c) noexcept { return vfmaq_f32(vnegq_f32(c), a, b); }
    LOWBIT_LANE_OP f fused_sub_mul(f a, f b, f c) noexcept { return vfmsq_f32(c, a, b); }
    LOWBIT_LANE_OP bool any_sign(f g, f a, f b) noexcept {
        const uint32x4_t either = vorrq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b));
        return vmaxvq_u32(vbicq_u32(either, vreinterpretq_u32_f32(g))) >= 0x80000000u;
    }
    LOWBIT_LANE_OP f opaque(f a) noexcept { return neon::opaque(a); }
    /// The reference's nearest_int of each lane, as x86::lanes16::nearest.
    LOWBIT_LANE_OP f nearest(f t) noexcept {
        const f biased = vaddq_f32(neon::opaque(t), vdupq_n_f32(12582912.0f));
        const uint32x4_t low_bits = vbslq_u32(vdupq_n_u32(0x007fffffu), vreinterpretq_u32_f32(biased), vdupq_n_u32(0x4B000000u));
        return vsubq_f32(vreinterpretq_f32_u32(low_bits), vdupq_n_f32(12582912.0f));
    }
    /// As x86::lanes8::nearest_small: one frintn (nearest, ties to even) for the two additions.
    LOWBIT_LANE_OP f nearest_small(f t) noexcept { return vrndnq_f32(t); }
    /// four bytes, as x86::lanes16::store_codes
    LOWBIT_LANE_OP void store_codes(std::uint8_t* out, f codes, int offset, m zero) noexcept {
        const uint32x4_t c = vbicq_u32(vreinterpretq_u32_s32(vaddq_s32(vcvtq_s32_f32(codes), vdupq_n_s32(offset))), zero);
        const uint16x4_t words = vmovn_u32(c);
        const std::uint32_t four = vget_lane_u32(vreinterpret_u32_u8(vmovn_u16(vcombine_u16(words, words))), 0);
        std::memcpy(out, &four, 4);
    }
#  undef LOWBIT_LANE_OP
};

} // namespace lowbit::neon

#endif
