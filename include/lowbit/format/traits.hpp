// lowbit — compile-time size facts of a format: bits per weight, row and tensor bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../error.hpp"
#include "concepts.hpp"

namespace lowbit {

template <format F>
inline constexpr std::size_t block_bytes = sizeof(typename F::block);

template <format F>
inline constexpr std::size_t values_per_block = F::block_size;

/// Storage cost per weight, scales and mins included (q4_0: 4.5, q4_K: 4.5, f16: 16).
template <format F>
inline constexpr double bits_per_weight = 8.0 * static_cast<double>(block_bytes<F>) / static_cast<double>(F::block_size);

/// Bytes of one row of `n` values; `n` must be a multiple of the block size (checked at compile
/// time when constant-evaluated: a non-multiple makes the expression non-constant).
template <format F>
constexpr std::uint64_t row_bytes(std::uint64_t n) {
    if (n % F::block_size != 0)
        throw error(errc::invalid_argument, "row length is not a multiple of the format's block size");
    return n / F::block_size * block_bytes<F>;
}

/// Bytes of a `rows` x `n_per_row` tensor.
template <format F>
constexpr std::uint64_t tensor_bytes(std::uint64_t n_per_row, std::uint64_t rows) {
    return row_bytes<F>(n_per_row) * rows;
}

} // namespace lowbit
