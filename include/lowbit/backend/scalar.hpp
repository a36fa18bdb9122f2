// lowbit — the scalar backend: the reference path every other backend must reproduce.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "../format/concepts.hpp"

namespace lowbit::backend {

/// Portable C++; defines the results (bytes and floats) that SIMD backends must match exactly.
struct scalar {
    static constexpr const char* name = "scalar";
    static constexpr bool target_enabled = true;
    static bool cpu_supported() noexcept { return true; }
};

} // namespace lowbit::backend

namespace lowbit {

/// kernels<F, Backend> holds a backend's row kernels for format F. The scalar backend implements
/// every format through the format's own block functions; a SIMD backend specialises this template
/// for the formats it accelerates, and the concepts below say which operations it provides.
template <class F, class Backend>
struct kernels;

/// packed_kernels<F, Backend>::gemv: a backend's matrix-vector product over packed rows
/// (formats/packed.hpp, algo/gemv.hpp), for the formats with a packed layout.
template <class F, class Backend>
struct packed_kernels;

template <format F>
struct kernels<F, backend::scalar> {
    using block = typename F::block;

    static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept
        requires dequantizable<F>
    {
        if constexpr (requires { F::dequantize_row(x, y, n); }) {
            F::dequantize_row(x, y, n);
        } else {
            for (std::int64_t i = 0; i < n / static_cast<std::int64_t>(F::block_size); ++i)
                F::dequantize_block(x[i], y + i * static_cast<std::int64_t>(F::block_size));
        }
    }
    static void quantize_row(const float* x, block* y, std::int64_t n, const float* imatrix) noexcept
        requires quantizable<F>
    {
        F::quantize_row(x, y, n, imatrix);
    }
    static float dot(const block* x, const typename F::partner::block* y, std::int64_t n) noexcept
        requires dottable<F>
    {
        return F::dot_blocks(x, y, n / static_cast<std::int64_t>(F::block_size));
    }
};

template <class F, class B>
concept has_dequantize_kernel = requires(const typename F::block* x, float* y, std::int64_t n) {
    kernels<F, B>::dequantize_row(x, y, n);
};
template <class F, class B>
concept has_quantize_kernel = requires(const float* x, typename F::block* y, std::int64_t n, const float* w) {
    kernels<F, B>::quantize_row(x, y, n, w);
};
template <class F, class B>
concept has_dot_kernel = requires(const typename F::block* x, const typename F::partner::block* y, std::int64_t n) {
    { kernels<F, B>::dot(x, y, n) } -> std::convertible_to<float>;
};
/// A backend's own multi-row dot: out[r] = dot(row r, y) for `rows` rows of F that start
/// `stride` bytes apart, the partner row's work (loads, scales, offsets) done once for all.
template <class F, class B>
concept has_dot_rows_kernel = requires(const typename F::block* x, std::size_t stride, const typename F::partner::block* y,
                                       float* out, std::int64_t rows, std::int64_t n) {
    kernels<F, B>::dot_rows(x, stride, y, out, rows, n);
};

/// Several rows against one partner row with backend B: its multi-row kernel where it has one,
/// its dot row by row otherwise.
template <class F, class B>
    requires has_dot_kernel<F, B>
void dot_rows_with(const typename F::block* x, std::size_t stride, const typename F::partner::block* y, float* out,
                   std::int64_t rows, std::int64_t n) noexcept {
    if constexpr (has_dot_rows_kernel<F, B>) {
        kernels<F, B>::dot_rows(x, stride, y, out, rows, n);
    } else {
        const auto* base = reinterpret_cast<const unsigned char*>(x);
        for (std::int64_t r = 0; r < rows; ++r)
            out[r] = kernels<F, B>::dot(reinterpret_cast<const typename F::block*>(base + static_cast<std::size_t>(r) * stride), y, n);
    }
}

} // namespace lowbit
