// lowbit — quantize / dequantize / dot, written once against the format concepts.
//
// These are the unchecked hot paths: the caller owns every buffer, nothing is allocated, sizes
// are checked by assertions in debug builds only. The checked, type-erased API is runtime.hpp.
#pragma once

#include <cassert>
#include <cstdint>
#include <span>

#include "../backend/select.hpp"
#include "../format/concepts.hpp"

namespace lowbit {

/// Dequantizes whole blocks: dst.size() must equal src.size() * F::block_size.
template <dequantizable F, class Backend = compile_time_backend<F>>
void dequantize(std::span<const typename F::block> src, std::span<float> dst) noexcept {
    assert(dst.size() == src.size() * F::block_size);
    kernels<F, Backend>::dequantize_row(src.data(), dst.data(), static_cast<std::int64_t>(dst.size()));
}

/// Quantizes a row-major matrix with rows of n_per_row values (a multiple of F::block_size), the
/// way the reference does; `imatrix` (n_per_row importance weights) may be null.
template <quantizable F, class Backend = compile_time_backend<F>>
void quantize(std::span<const float> src, std::span<typename F::block> dst, std::int64_t n_per_row,
              const float* imatrix = nullptr) noexcept {
    assert(n_per_row > 0 && n_per_row % static_cast<std::int64_t>(F::block_size) == 0);
    assert(src.size() % static_cast<std::size_t>(n_per_row) == 0);
    assert(dst.size() * F::block_size == src.size());
    const std::int64_t nrows = static_cast<std::int64_t>(src.size()) / n_per_row;
    const std::int64_t blocks_per_row = n_per_row / static_cast<std::int64_t>(F::block_size);
    for (std::int64_t r = 0; r < nrows; ++r)
        kernels<F, Backend>::quantize_row(src.data() + r * n_per_row, dst.data() + r * blocks_per_row, n_per_row, imatrix);
}

/// Dot product of a row of F with a row of its partner format (activations quantized with
/// quantize<typename F::partner>); both spans hold the same number of values.
template <dottable F, class Backend = compile_time_backend<F>>
float dot(std::span<const typename F::block> x, std::span<const typename F::partner::block> y) noexcept {
    const auto n = static_cast<std::int64_t>(x.size() * F::block_size);
    assert(y.size() * F::partner::block_size == static_cast<std::size_t>(n));
    return kernels<F, Backend>::dot(x.data(), y.data(), n);
}

/// Dots of every row of a row-major matrix of F (rows of y.size() * partner block size values)
/// with one partner row: out[r] = dot(row r, y), out.size() rows. This is a matrix-vector product;
/// backends with a multi-row kernel load and scale the partner row once for several rows.
template <dottable F, class Backend = compile_time_backend<F>>
void dot_rows(std::span<const typename F::block> rows, std::span<const typename F::partner::block> y, std::span<float> out) noexcept {
    const auto n = static_cast<std::int64_t>(y.size() * F::partner::block_size);
    assert(n % static_cast<std::int64_t>(F::block_size) == 0);
    const auto blocks_per_row = static_cast<std::size_t>(n) / F::block_size;
    assert(rows.size() == out.size() * blocks_per_row);
    dot_rows_with<F, Backend>(rows.data(), blocks_per_row * sizeof(typename F::block), y.data(), out.data(),
                              static_cast<std::int64_t>(out.size()), n);
}

} // namespace lowbit
