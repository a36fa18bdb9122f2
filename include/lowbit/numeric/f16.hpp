// lowbit — IEEE binary16 and bfloat16 storage types with constexpr, bit-exact conversions.
#pragma once

#include <bit>
#include <cstdint>

namespace lowbit {

/// IEEE 754 binary16, stored as its bit pattern (the GGUF `ggml_half`).
struct f16 {
    std::uint16_t bits;
    friend constexpr bool operator==(f16, f16) = default;
};

/// bfloat16 (the upper half of a binary32), stored as its bit pattern.
struct bf16 {
    std::uint16_t bits;
    friend constexpr bool operator==(bf16, bf16) = default;
};

static_assert(sizeof(f16) == 2 && sizeof(bf16) == 2);

namespace numeric {

/// binary32 -> binary16, round to nearest even; subnormals kept; overflow -> ±inf;
/// NaN stays NaN (quiet bit set, sign and the top payload bits kept, as the F16C instruction does).
constexpr std::uint16_t f32_to_f16_bits(float value) noexcept {
    const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
    const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
    const std::uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x47800000u) return static_cast<std::uint16_t>(sign | 0x7c00u); // >= 2^16 (and inf)
    if (ax >= 0x38800000u) {                                                    // binary16 normal range
        std::uint32_t r = ax - 0x38000000u;                                      // rebias 127 -> 15
        r += 0x0fffu + ((r >> 13) & 1u);                                         // ties to even; a carry
        return static_cast<std::uint16_t>(sign | (r >> 13));                     // may reach inf: correct
    }
    const std::uint32_t e = ax >> 23;
    if (e < 102) return sign; // below half the smallest subnormal (2^-25): rounds to zero
    const std::uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126u - e; // 14..24: value in units of 2^-24
    std::uint32_t q = mant >> shift;
    const std::uint32_t rem = mant & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) ++q; // may become the smallest normal: correct
    return static_cast<std::uint16_t>(sign | q);
}

/// binary16 -> binary32, exact for every finite value; a signalling NaN comes back quiet, as in hardware.
constexpr float f16_bits_to_f32(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) {
        const std::uint32_t quiet = mant ? 0x400000u : 0u;
        return std::bit_cast<float>(sign | 0x7f800000u | quiet | (mant << 13));
    }
    if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
    if (mant == 0) return std::bit_cast<float>(sign);
    std::uint32_t e = 113;
    while (!(mant & 0x400u)) {
        mant <<= 1;
        --e;
    }
    return std::bit_cast<float>(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

/// binary32 -> bfloat16 as the reference does: round to nearest even, NaN forced quiet, subnormals kept.
constexpr std::uint16_t f32_to_bf16_bits(float value) noexcept {
    const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
    if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 64u);
    return static_cast<std::uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

constexpr float bf16_bits_to_f32(std::uint16_t h) noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

} // namespace numeric

constexpr f16 to_f16(float x) noexcept { return f16{numeric::f32_to_f16_bits(x)}; }
constexpr float to_f32(f16 h) noexcept { return numeric::f16_bits_to_f32(h.bits); }
constexpr bf16 to_bf16(float x) noexcept { return bf16{numeric::f32_to_bf16_bits(x)}; }
constexpr float to_f32(bf16 h) noexcept { return numeric::bf16_bits_to_f32(h.bits); }

} // namespace lowbit
