// lowbit — the unquantized storage formats: f32, f16, bf16 (block size 1).
#pragma once

#include <cstdint>

#include "../format/concepts.hpp"
#include "../numeric/f16.hpp"

namespace lowbit::formats {

/// A scalar storage format: one value per "block". Dot products accumulate in double, as the
/// reference's generic path does, so long rows keep full precision.
template <class Storage, type_id Id, float (*Decode)(Storage), Storage (*Encode)(float)>
struct scalar_format {
    using block = Storage;
    static constexpr type_id id = Id;
    static constexpr std::size_t block_size = 1;
    using partner = scalar_format;

    static void quantize_row(const float* x, block* y, std::int64_t n, const float* /*imatrix: unused*/) noexcept {
        for (std::int64_t i = 0; i < n; ++i) y[i] = Encode(x[i]);
    }
    static void dequantize_block(const block& b, float* out) noexcept { *out = Decode(b); }
    static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept {
        for (std::int64_t i = 0; i < n; ++i) y[i] = Decode(x[i]);
    }
    static float dot_blocks(const block* x, const block* y, std::int64_t n) noexcept {
        double sum = 0.0;
        for (std::int64_t i = 0; i < n; ++i)
            sum += static_cast<double>(Decode(x[i])) * static_cast<double>(Decode(y[i]));
        return static_cast<float>(sum);
    }
};

namespace impl {
constexpr float f32_decode(float v) noexcept { return v; }
constexpr float f32_encode(float v) noexcept { return v; }
constexpr float f16_decode(f16 v) noexcept { return to_f32(v); }
constexpr f16 f16_encode(float v) noexcept { return to_f16(v); }
constexpr float bf16_decode(bf16 v) noexcept { return to_f32(v); }
constexpr bf16 bf16_encode(float v) noexcept { return to_bf16(v); }
} // namespace impl

using f32 = scalar_format<float, type_id::f32, impl::f32_decode, impl::f32_encode>;
using f16 = scalar_format<lowbit::f16, type_id::f16, impl::f16_decode, impl::f16_encode>;
using bf16 = scalar_format<lowbit::bf16, type_id::bf16, impl::bf16_decode, impl::bf16_encode>;

static_assert(matches_gguf_layout<f32>() && matches_gguf_layout<f16>() && matches_gguf_layout<bf16>());

} // namespace lowbit::formats
