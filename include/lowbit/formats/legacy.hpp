// lowbit — the legacy GGUF block formats: q4_0, q4_1, q5_0, q5_1 (one template), q8_0, q8_1.
//
// All six store 32 values per block with an f16 scale d. They differ in two policies only:
//   bits      4 or 5 code bits (the fifth kept in a separate 32-bit mask qh), or plain int8
//   affine    x = d*q + m with an f16 min m (the _1 types) versus x = d*(q - 2^(bits-1)) (the _0 types)
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../algo/scale_search.hpp"
#include "../format/concepts.hpp"
#include "../numeric/f16.hpp"

namespace lowbit::formats {

using ::lowbit::detail::mul;

// ---------------------------------------------------------------------------------------------
// Block layouts, exactly as GGUF stores them.

struct block_q4_0 { lowbit::f16 d; std::uint8_t qs[16]; };
struct block_q4_1 { lowbit::f16 d; lowbit::f16 m; std::uint8_t qs[16]; };
struct block_q5_0 { lowbit::f16 d; std::uint8_t qh[4]; std::uint8_t qs[16]; };
struct block_q5_1 { lowbit::f16 d; lowbit::f16 m; std::uint8_t qh[4]; std::uint8_t qs[16]; };
struct block_q8_0 { lowbit::f16 d; std::int8_t qs[32]; };
struct block_q8_1 { lowbit::f16 d; lowbit::f16 s; std::int8_t qs[32]; }; // s = d * sum(qs)

static_assert(sizeof(block_q4_0) == 18 && sizeof(block_q4_1) == 20 && sizeof(block_q5_0) == 22);
static_assert(sizeof(block_q5_1) == 24 && sizeof(block_q8_0) == 34 && sizeof(block_q8_1) == 36);

// ---------------------------------------------------------------------------------------------
// The 8-bit partners: symmetric, scale amax/127, codes rounded half away from zero.

namespace impl {
/// A block whose scale d is below 2^-128 (values of magnitude below about 4e-37, all of them):
/// 1 / d overflows, and each value times it is infinite or NaN, a conversion to an integer the
/// C++ standard leaves undefined. The reference's conversion on x86 gives INT_MIN there, whose
/// low byte it stores, so every code of such a block is 0; lowbit writes 0 on every platform and
/// under every backend. (The stored f16 scale is 0 anyway.)
LOWBIT_INLINE bool scale_overflows(float inverse_scale) noexcept { return std::isinf(inverse_scale); }

/// Quantizes 32 values to int8 codes with d = amax/127; returns d.
LOWBIT_INLINE float quantize_int8_block(const float* x, std::int8_t* qs) noexcept {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (scale_overflows(id)) {
        std::memset(qs, 0, 32);
        return d;
    }
    for (int j = 0; j < 32; ++j) qs[j] = static_cast<std::int8_t>(std::round(mul(x[j], id)));
    return d;
}
/// Σ a[j]*b[j] over the 32 codes of two int8 blocks.
LOWBIT_INLINE int int8_dot(const std::int8_t* a, const std::int8_t* b) noexcept {
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += a[j] * b[j];
    return sum;
}
} // namespace impl

/// The 8-bit formats: q8_0, and q8_1 which also stores s = d * Σq for the q4_1/q5_1 dots.
template <class Block, type_id Id>
struct int8_format {
    using block = Block;
    using partner = int8_format;
    static constexpr type_id id = Id;
    static constexpr std::size_t block_size = 32;
    static constexpr bool stores_sum = requires(Block b) { b.s; };

    /// Importance weights do not change the 8-bit formats (the reference ignores them too).
    static void quantize_row(const float* x, block* y, std::int64_t n, const float* /*imatrix*/) noexcept {
        for (std::int64_t i = 0; i < n / 32; ++i) {
            const float d = impl::quantize_int8_block(x + 32 * i, y[i].qs);
            y[i].d = to_f16(d);
            if constexpr (stores_sum) {
                int sum = 0;
                for (int j = 0; j < 32; ++j) sum += y[i].qs[j];
                y[i].s = to_f16(mul(static_cast<float>(sum), d));
            }
        }
    }
    static void dequantize_block(const block& b, float* out) noexcept {
        const float d = to_f32(b.d);
        for (int j = 0; j < 32; ++j) out[j] = mul(static_cast<float>(b.qs[j]), d);
    }
    static float dot_blocks(const block* x, const block* y, std::int64_t nb) noexcept {
        float sum = 0.0f;
        for (std::int64_t i = 0; i < nb; ++i)
            sum += mul(static_cast<float>(impl::int8_dot(x[i].qs, y[i].qs)), mul(to_f32(x[i].d), to_f32(y[i].d)));
        return sum;
    }
};

using q8_0 = int8_format<block_q8_0, type_id::q8_0>;
using q8_1 = int8_format<block_q8_1, type_id::q8_1>;

// ---------------------------------------------------------------------------------------------
// q4_0, q4_1, q5_0, q5_1: one template over (bits, affine).

template <int Bits, bool Affine>
struct legacy_layout;
template <> struct legacy_layout<4, false> { using type = block_q4_0; static constexpr type_id id = type_id::q4_0; };
template <> struct legacy_layout<4, true> { using type = block_q4_1; static constexpr type_id id = type_id::q4_1; };
template <> struct legacy_layout<5, false> { using type = block_q5_0; static constexpr type_id id = type_id::q5_0; };
template <> struct legacy_layout<5, true> { using type = block_q5_1; static constexpr type_id id = type_id::q5_1; };

template <int Bits, bool Affine>
struct legacy_format {
    using block = typename legacy_layout<Bits, Affine>::type;
    using partner = std::conditional_t<Affine, q8_1, q8_0>;
    static constexpr type_id id = legacy_layout<Bits, Affine>::id;
    static constexpr std::size_t block_size = 32;
    static constexpr int levels = 1 << Bits;          // codes 0 .. levels-1
    static constexpr int offset = Affine ? 0 : levels / 2; // x = d*(q - offset) [+ m]

    /// Codes q[0..31]: the low nibbles of qs hold values 0..15, the high nibbles 16..31; for 5 bits
    /// bit j of qh is the fifth bit of value j.
    static void unpack(const block& b, std::uint8_t* q) noexcept {
        std::uint32_t qh = 0;
        if constexpr (Bits == 5) std::memcpy(&qh, b.qh, 4);
        for (int j = 0; j < 16; ++j) {
            q[j] = static_cast<std::uint8_t>((b.qs[j] & 0x0F) | (((qh >> j) & 1u) << 4));
            q[j + 16] = static_cast<std::uint8_t>((b.qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4));
        }
    }
    static void pack(const std::uint8_t* q, block& b) noexcept {
        std::uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) {
            b.qs[j] = static_cast<std::uint8_t>((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
            qh |= static_cast<std::uint32_t>((q[j] >> 4) & 1u) << j;
            qh |= static_cast<std::uint32_t>((q[j + 16] >> 4) & 1u) << (j + 16);
        }
        if constexpr (Bits == 5) std::memcpy(b.qh, &qh, 4);
    }

    static void dequantize_block(const block& b, float* out) noexcept {
        std::uint8_t q[32];
        unpack(b, q);
        const float d = to_f32(b.d);
        if constexpr (Affine) {
            const float m = to_f32(b.m);
            for (int j = 0; j < 32; ++j) out[j] = mul(static_cast<float>(q[j]), d) + m;
        } else {
            for (int j = 0; j < 32; ++j) out[j] = mul(static_cast<float>(q[j] - offset), d);
        }
    }

    static float dot_blocks(const block* x, const typename partner::block* y, std::int64_t nb) noexcept {
        float sum = 0.0f;
        for (std::int64_t i = 0; i < nb; ++i) {
            std::uint8_t q[32];
            unpack(x[i], q);
            int sumi = 0;
            for (int j = 0; j < 32; ++j) sumi += (q[j] - offset) * y[i].qs[j];
            if constexpr (Affine) {
                sum += mul(mul(to_f32(x[i].d), to_f32(y[i].d)), static_cast<float>(sumi)) + mul(to_f32(x[i].m), to_f32(y[i].s));
            } else {
                sum += mul(static_cast<float>(sumi), mul(to_f32(x[i].d), to_f32(y[i].d)));
            }
        }
        return sum;
    }

    /// The reference rule: without importance weights a closed-form scale per block; with them a
    /// weighted search whose weights also depend on the row's mean square.
    static void quantize_row(const float* x, block* y, std::int64_t n, const float* imatrix) noexcept {
        const std::int64_t nb = n / 32;
        if (!imatrix) {
            for (std::int64_t i = 0; i < nb; ++i) quantize_block_plain(x + 32 * i, y[i]);
            return;
        }
        float sum_x2 = 0;
        for (std::int64_t j = 0; j < n; ++j) sum_x2 += mul(x[j], x[j]);
        const float sigma2 = sum_x2 / static_cast<float>(n);
        for (std::int64_t i = 0; i < nb; ++i) {
            const float* xb = x + 32 * i;
            const float* qw = imatrix + 32 * i;
            float weight[32];
            for (int j = 0; j < 32; ++j) weight[j] = mul(qw[j], std::sqrt(sigma2 + mul(xb[j], xb[j])));
            std::uint8_t q[32];
            if constexpr (Affine) {
                std::uint8_t aux[32];
                float min = 0;
                const float d = search::affine_codes_weighted(32, levels - 1, xb, weight, q, &min, aux, -0.9f, 0.05f, 36, false);
                y[i].d = to_f16(d);
                y[i].m = to_f16(-min);
            } else {
                std::int8_t L[32];
                const float d = search::symmetric_codes(32, offset, xb, L, 1, weight);
                for (int j = 0; j < 32; ++j) q[j] = static_cast<std::uint8_t>(L[j]);
                y[i].d = to_f16(d);
            }
            pack(q, y[i]);
        }
    }

private:
    static void quantize_block_plain(const float* x, block& b) noexcept {
        std::uint8_t q[32] = {}; // every code 0 where 1 / d overflows (impl::scale_overflows)
        if constexpr (Affine) {
            float min = x[0], max = x[0];
            for (int j = 1; j < 32; ++j) {
                min = x[j] < min ? x[j] : min;
                max = x[j] > max ? x[j] : max;
            }
            const float d = (max - min) / static_cast<float>(levels - 1);
            const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
            b.d = to_f16(d);
            b.m = to_f16(min);
            for (int j = 0; j < 32 && !impl::scale_overflows(inv_d); ++j) {
                const int v = static_cast<int>(mul(x[j] - min, inv_d) + 0.5f);
                q[j] = static_cast<std::uint8_t>(v < levels - 1 ? v : levels - 1);
            }
        } else {
            float amax = 0, max = 0;
            for (int j = 0; j < 32; ++j) {
                if (amax < std::fabs(x[j])) {
                    amax = std::fabs(x[j]);
                    max = x[j];
                }
            }
            const float d = max / static_cast<float>(-offset);
            const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
            b.d = to_f16(d);
            for (int j = 0; j < 32 && !impl::scale_overflows(inv_d); ++j) {
                // the reference truncates toward zero after adding offset + 0.5 (always >= 0 here)
                const int v = static_cast<int>(mul(x[j], inv_d) + (static_cast<float>(offset) + 0.5f));
                q[j] = static_cast<std::uint8_t>(v < levels - 1 ? v : levels - 1);
            }
        }
        pack(q, b);
    }
};

using q4_0 = legacy_format<4, false>;
using q4_1 = legacy_format<4, true>;
using q5_0 = legacy_format<5, false>;
using q5_1 = legacy_format<5, true>;

static_assert(matches_gguf_layout<q4_0>() && matches_gguf_layout<q4_1>() && matches_gguf_layout<q5_0>());
static_assert(matches_gguf_layout<q5_1>() && matches_gguf_layout<q8_0>() && matches_gguf_layout<q8_1>());

} // namespace lowbit::formats
