// lowbit — the rounding primitives the reference quantizers are written in.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../config.hpp"

namespace lowbit::numeric {

/// Round to nearest, ties to even, as the reference's `nearest_int` does with the 1.5*2^23 trick.
/// Valid for |x| <= 2^22 - 1, which every caller guarantees (finite inputs, bounded scales).
LOWBIT_INLINE int nearest_int(float x) noexcept {
    const float biased = detail::opaque(x) + 12582912.0f;
    std::int32_t i;
    std::memcpy(&i, &biased, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/// Round half away from zero (C `roundf`), the rule of q8_0 / q8_1.
LOWBIT_INLINE float round_half_away(float x) noexcept { return std::round(x); }

/// Saturating helpers on int.
constexpr int clamp(int v, int lo, int hi) noexcept { return v < lo ? lo : (v > hi ? hi : v); }

} // namespace lowbit::numeric
