// lowbit — packed rows and the matrix-vector product over them (layout: formats/packed.hpp).
//
// For engines that multiply the same weights by a new activation row at every step: pack the
// rows once at load time, then gemv() gives out[r] = dot(row r, y) for all rows, the same values
// as dot_rows() within float rounding (the block sums are the same integers; the order in which
// their scaled values are added differs). Unchecked hot paths like algorithms.hpp; the checked,
// type-erased forms are in runtime.hpp.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>

#include "../backend/select.hpp"
#include "../format/concepts.hpp"
#include "../formats/packed.hpp"

namespace lowbit {

/// Formats with a packed layout.
template <class F>
concept packable = dottable<F> && formats::has_packed_layout<F>;

template <packable F>
using packed_tile = typename formats::packed<F>::tile;

/// Tiles of a packed matrix of `rows` rows of n values (n a multiple of F::block_size).
template <packable F>
constexpr std::size_t packed_tile_count(std::int64_t rows, std::int64_t n) noexcept {
    return static_cast<std::size_t>((rows + formats::packed_rows - 1) / formats::packed_rows) *
           static_cast<std::size_t>(n / static_cast<std::int64_t>(F::block_size));
}

/// Packs `rows` rows of n values, row r at x + r * stride bytes, into packed_tile_count tiles.
template <packable F>
void pack_rows(const typename F::block* x, std::size_t stride, std::int64_t rows, std::int64_t n, packed_tile<F>* dst) noexcept {
    using block = typename F::block;
    const std::int64_t nb = n / static_cast<std::int64_t>(F::block_size);
    const auto* base = reinterpret_cast<const unsigned char*>(x);
    for (std::int64_t r0 = 0; r0 < rows; r0 += formats::packed_rows) {
        const block* row[formats::packed_rows];
        for (int j = 0; j < formats::packed_rows; ++j)
            row[j] = r0 + j < rows ? reinterpret_cast<const block*>(base + static_cast<std::size_t>(r0 + j) * stride) : nullptr;
        for (std::int64_t k = 0; k < nb; ++k) {
            const block* blocks[formats::packed_rows];
            for (int j = 0; j < formats::packed_rows; ++j) blocks[j] = row[j] ? row[j] + k : nullptr;
            formats::packed<F>::pack(blocks, *dst++);
        }
    }
}

/// The inverse of pack_rows: the rows' blocks, byte for byte.
template <packable F>
void unpack_rows(const packed_tile<F>* src, std::int64_t rows, std::int64_t n, typename F::block* x, std::size_t stride) noexcept {
    using block = typename F::block;
    const std::int64_t nb = n / static_cast<std::int64_t>(F::block_size);
    auto* base = reinterpret_cast<unsigned char*>(x);
    for (std::int64_t r0 = 0; r0 < rows; r0 += formats::packed_rows) {
        for (std::int64_t k = 0; k < nb; ++k) {
            block* blocks[formats::packed_rows];
            for (int j = 0; j < formats::packed_rows; ++j)
                blocks[j] = r0 + j < rows ? reinterpret_cast<block*>(base + static_cast<std::size_t>(r0 + j) * stride) + k : nullptr;
            formats::packed<F>::unpack(*src++, blocks);
        }
    }
}

/// gemv with backend B: its packed kernel where it has one (has_gemv_kernel, backend/select.hpp);
/// otherwise the tiles are unpacked a few blocks at a time into a buffer on the stack and B's
/// multi-row dot runs on them.
template <packable F, class B>
    requires has_dot_kernel<F, B>
void gemv_with(const packed_tile<F>* w, const typename F::partner::block* y, float* out, std::int64_t rows, std::int64_t n) noexcept {
    if constexpr (has_gemv_kernel<F, B>) {
        packed_kernels<F, B>::gemv(w, y, out, rows, n);
    } else {
        using block = typename F::block;
        constexpr int R = formats::packed_rows;
        constexpr auto bs = static_cast<std::int64_t>(F::block_size);
        constexpr std::int64_t chunk = bs >= 1024 ? 1 : 1024 / bs; // blocks per pass: the buffer stays within L1
        const std::int64_t nb = n / bs;
        block buffer[R][chunk];
        for (std::int64_t r0 = 0; r0 < rows; r0 += R) {
            float sum[R] = {};
            for (std::int64_t k0 = 0; k0 < nb; k0 += chunk) {
                const std::int64_t count = std::min(chunk, nb - k0);
                for (std::int64_t k = 0; k < count; ++k) {
                    block* blocks[R];
                    for (int j = 0; j < R; ++j) blocks[j] = &buffer[j][k];
                    formats::packed<F>::unpack(w[(r0 / R) * nb + k0 + k], blocks);
                }
                float part[R];
                dot_rows_with<F, B>(&buffer[0][0], sizeof(buffer[0]), y + k0 * bs / static_cast<std::int64_t>(F::partner::block_size),
                                    part, R, count * bs);
                for (int j = 0; j < R; ++j) sum[j] += part[j];
            }
            for (int j = 0; j < R && r0 + j < rows; ++j) out[r0 + j] = sum[j];
        }
    }
}

/// Matrix-vector product over packed rows: out[r] = dot(row r, y) for out.size() rows of
/// y.size() * partner block size values, packed by pack_rows.
template <packable F>
void gemv(std::span<const packed_tile<F>> w, std::span<const typename F::partner::block> y, std::span<float> out) noexcept {
    const auto n = static_cast<std::int64_t>(y.size() * F::partner::block_size);
    const auto rows = static_cast<std::int64_t>(out.size());
    assert(n % static_cast<std::int64_t>(F::block_size) == 0);
    assert(w.size() == packed_tile_count<F>(rows, n));
    using own = compile_time_backend_for<F, kernel_op::gemv>; // a packed kernel, if the target enables one
    if constexpr (has_gemv_kernel<F, own>) packed_kernels<F, own>::gemv(w.data(), y.data(), out.data(), rows, n);
    else gemv_with<F, compile_time_backend_for<F, kernel_op::dot>>(w.data(), y.data(), out.data(), rows, n);
}

} // namespace lowbit
