// lowbit — the concepts that tie a format policy to the generic algorithms.
//
// A format is a type F with:
//   F::block         the standard-layout struct stored in a GGUF tensor (its size is the file's)
//   F::id            its GGUF type number
//   F::block_size    values per block
// and, for what it can do:
//   F::dequantize_block(const block&, float* out)                         -> dequantizable
//   F::quantize_row(const float* x, block* y, int64 n, const float* imat) -> quantizable
//       (the reference-exact quantizer; a row, because some rules use row statistics)
//   F::partner, F::dot_blocks(const block*, const partner::block*, int64 nblocks) -> dottable
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "type_id.hpp"

namespace lowbit {

template <class F>
concept format = requires {
    typename F::block;
    { F::id } -> std::convertible_to<type_id>;
    { F::block_size } -> std::convertible_to<std::size_t>;
} && std::is_standard_layout_v<typename F::block> && std::is_trivially_copyable_v<typename F::block>;

template <class F>
concept dequantizable = format<F> && requires(const typename F::block& b, float* out) {
    F::dequantize_block(b, out);
};

template <class F>
concept quantizable = format<F> && requires(const float* x, typename F::block* y, std::int64_t n, const float* w) {
    F::quantize_row(x, y, n, w);
};

template <class F>
concept dottable = format<F> && format<typename F::partner> &&
    requires(const typename F::block* x, const typename F::partner::block* y, std::int64_t nb) {
        { F::dot_blocks(x, y, nb) } -> std::convertible_to<float>;
    };

/// The block count and size checks every format must pass against the GGUF layout table.
template <format F>
constexpr bool matches_gguf_layout() {
    if (!is_gguf_type(F::id)) return false;
    const type_layout l = layout_of(F::id);
    return l.block_size == F::block_size && l.type_size == sizeof(typename F::block);
}

} // namespace lowbit
