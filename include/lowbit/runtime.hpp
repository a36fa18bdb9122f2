// lowbit — the type-erased, checked API keyed by the GGUF type number.
//
// For code that learns the type at run time (a GGUF file). Every entry point validates its
// arguments and throws lowbit::error (see error.hpp) naming the problem.
#pragma once

#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "algo/gemv.hpp"
#include "backend/select.hpp"
#include "error.hpp"
#include "format/type_id.hpp"
#include "formats/registry.hpp"

namespace lowbit {

/// One row of the runtime table: what the type is and the kernels that serve it.
struct type_ops {
    const type_layout* layout = nullptr;
    type_id partner = type_id::f32;
    bool rejects_non_finite = false; ///< quantized types: NaN/Inf cannot be encoded
    std::size_t block_align = 1;     ///< alignof the block struct (row strides must keep it)
    void (*quantize_row)(const float* x, void* y, std::int64_t n, const float* imatrix) = nullptr;
    void (*dequantize_row)(const void* x, float* y, std::int64_t n) = nullptr;
    float (*dot)(const void* x, const void* y, std::int64_t n) = nullptr;
    /// out[r] = dot(row r, y) for `rows` rows `stride` bytes apart (from the dot's backend).
    void (*dot_rows)(const void* x, std::size_t stride, const void* y, float* out, std::int64_t rows, std::int64_t n) = nullptr;
    /// Packed rows (algo/gemv.hpp), for the types that have a packed layout (null otherwise).
    void (*pack_rows)(const void* x, std::size_t stride, std::int64_t rows, std::int64_t n, void* dst) = nullptr;
    void (*unpack_rows)(const void* src, std::int64_t rows, std::int64_t n, void* x, std::size_t stride) = nullptr;
    /// out[r] = dot(row r, y) over packed rows (from gemv_backend).
    void (*gemv)(const void* packed, const void* y, float* out, std::int64_t rows, std::int64_t n) = nullptr;
    std::size_t tile_bytes = 0, tile_align = 1;
    /// The backend serving each operation ("scalar", "avx2", "avx512", "avx512vnni", "neon", ...).
    const char* quantize_backend = nullptr;
    const char* dequantize_backend = nullptr;
    const char* dot_backend = nullptr;
    /// The backend of gemv: the first from the chosen one on with a packed kernel, else the dot's
    /// (which unpacks a few blocks at a time for its multi-row dot).
    const char* gemv_backend = nullptr;
};

/// Bytes of a row of `n_per_row` values (defined below with the public API).
inline std::size_t row_bytes(type_id t, std::int64_t n_per_row);

namespace detail {

// The table is filled per format and per operation with the first backend of
// candidate_backends (select.hpp) that has the kernel and that the running CPU supports. The
// x86 kernels are compiled with target attributes, so a baseline build still reaches them.

template <class F, kernel_op Op, class B>
bool assign_if_supported(type_ops& ops) {
    using block = typename F::block;
    if constexpr (provides<F, B, Op>) {
        if (!B::cpu_supported()) return false;
        if constexpr (Op == kernel_op::quantize) {
            ops.quantize_row = [](const float* x, void* y, std::int64_t n, const float* w) {
                kernels<F, B>::quantize_row(x, static_cast<block*>(y), n, w);
            };
            ops.quantize_backend = B::name;
        } else if constexpr (Op == kernel_op::gemv) {
            ops.gemv = [](const void* w, const void* y, float* out, std::int64_t rows, std::int64_t n) {
                packed_kernels<F, B>::gemv(static_cast<const packed_tile<F>*>(w), static_cast<const typename F::partner::block*>(y), out, rows, n);
            };
            ops.gemv_backend = B::name;
        } else if constexpr (Op == kernel_op::dequantize) {
            ops.dequantize_row = [](const void* x, float* y, std::int64_t n) {
                kernels<F, B>::dequantize_row(static_cast<const block*>(x), y, n);
            };
            ops.dequantize_backend = B::name;
        } else {
            ops.dot = [](const void* x, const void* y, std::int64_t n) {
                return kernels<F, B>::dot(static_cast<const block*>(x), static_cast<const typename F::partner::block*>(y), n);
            };
            ops.dot_rows = [](const void* x, std::size_t stride, const void* y, float* out, std::int64_t rows, std::int64_t n) {
                dot_rows_with<F, B>(static_cast<const block*>(x), stride, static_cast<const typename F::partner::block*>(y), out, rows, n);
            };
            if constexpr (packable<F>) { // until a backend's own packed kernel replaces it (kernel_op::gemv)
                ops.gemv = [](const void* w, const void* y, float* out, std::int64_t rows, std::int64_t n) {
                    gemv_with<F, B>(static_cast<const packed_tile<F>*>(w), static_cast<const typename F::partner::block*>(y), out, rows, n);
                };
                ops.gemv_backend = B::name;
            }
            ops.dot_backend = B::name;
        }
        return true;
    } else {
        return false;
    }
}

/// Fills operation Op of F from the candidates at positions >= `first`.
template <class F, kernel_op Op, class... B>
void assign_best(type_ops& ops, std::size_t first, backend_list<B...>) {
    std::size_t position = 0;
    (void)(((position++ >= first) && assign_if_supported<F, Op, B>(ops)) || ...);
}

template <class F>
type_ops make_ops(std::size_t first_backend) {
    type_ops ops;
    ops.layout = find_layout(F::id);
    ops.rejects_non_finite = ops.layout->quantized;
    ops.partner = F::partner::id;
    ops.block_align = alignof(typename F::block);
    if constexpr (packable<F>) {
        ops.pack_rows = [](const void* x, std::size_t stride, std::int64_t rows, std::int64_t n, void* dst) {
            lowbit::pack_rows<F>(static_cast<const typename F::block*>(x), stride, rows, n, static_cast<packed_tile<F>*>(dst));
        };
        ops.unpack_rows = [](const void* src, std::int64_t rows, std::int64_t n, void* x, std::size_t stride) {
            lowbit::unpack_rows<F>(static_cast<const packed_tile<F>*>(src), rows, n, static_cast<typename F::block*>(x), stride);
        };
        ops.tile_bytes = sizeof(packed_tile<F>);
        ops.tile_align = alignof(packed_tile<F>);
    }
    assign_best<F, kernel_op::quantize>(ops, first_backend, candidate_backends{});
    assign_best<F, kernel_op::dequantize>(ops, first_backend, candidate_backends{});
    assign_best<F, kernel_op::dot>(ops, first_backend, candidate_backends{});
    if constexpr (packable<F>) assign_best<F, kernel_op::gemv>(ops, first_backend, candidate_backends{});
    return ops;
}

inline constexpr std::size_t table_size = 64; // > every GGUF type number
using ops_table_type = std::array<type_ops, table_size>;

template <class... F>
ops_table_type build_table(format_list<F...>, std::size_t first_backend) {
    ops_table_type table{};
    ((table[static_cast<std::size_t>(F::id)] = make_ops<F>(first_backend)), ...);
    return table;
}

template <class... B>
constexpr std::array<const char*, sizeof...(B)> backend_names(backend_list<B...>) {
    return {B::name...};
}
inline constexpr auto candidate_names = backend_names(candidate_backends{});

template <class... B>
std::array<bool, sizeof...(B)> backend_support(backend_list<B...>) {
    return {B::cpu_supported()...};
}

using all_tables_type = std::array<ops_table_type, candidate_backends::size>;

// Where the table is compiled. By default (header-only) every translation unit that uses the
// runtime API compiles every kernel of every backend into an inline function, which the linker
// then folds into one: tens of seconds per translation unit at -O3. A program with many such
// units can compile the table once: LOWBIT_SEPARATE_RUNTIME defined for all of them (a compile
// definition of the whole target), and in exactly one of them LOWBIT_RUNTIME_IMPLEMENTATION too,
// before the first lowbit include. Every unit of one program must agree on LOWBIT_SEPARATE_RUNTIME.
#if defined(LOWBIT_SEPARATE_RUNTIME) && !defined(LOWBIT_RUNTIME_IMPLEMENTATION)
/// One table per candidate (defined where LOWBIT_RUNTIME_IMPLEMENTATION is).
const all_tables_type& all_tables();
#else
/// One table per candidate: table k uses candidates k, k+1, ... (the best the CPU supports).
#  if defined(LOWBIT_SEPARATE_RUNTIME)
const all_tables_type& all_tables() {
#  else
inline const all_tables_type& all_tables() {
#  endif
    static const auto tables = [] {
        all_tables_type t{};
        for (std::size_t k = 0; k < t.size(); ++k) t[k] = build_table(implemented_formats{}, k);
        return t;
    }();
    return tables;
}
#endif

inline std::size_t backend_position(std::string_view name) noexcept {
    for (std::size_t k = 0; k < candidate_names.size(); ++k)
        if (name == candidate_names[k]) return k;
    return candidate_names.size();
}

/// Position of the table in use. LOWBIT_BACKEND=<name> caps the choice at that backend (an
/// unknown name is ignored); a backend the CPU lacks falls to the next one it has.
inline std::atomic<std::size_t>& active_position() {
    static std::atomic<std::size_t> position{[] {
        const char* env = std::getenv("LOWBIT_BACKEND");
        std::size_t k = env ? backend_position(env) : candidate_names.size();
        if (k >= candidate_names.size()) k = 0;
        const auto supported = backend_support(candidate_backends{});
        while (!supported[k]) ++k; // scalar, last, is always supported
        return k;
    }()};
    return position;
}

inline const ops_table_type& ops_table() {
    return all_tables()[active_position().load(std::memory_order_relaxed)];
}

inline std::string describe(type_id t) {
    const auto* l = find_layout(t);
    return l ? std::string(l->name) : "type #" + std::to_string(static_cast<std::uint32_t>(t));
}

inline const type_ops& require(type_id t) {
    const auto raw = static_cast<std::size_t>(t);
    if (raw < table_size && ops_table()[raw].layout) return ops_table()[raw];
    if (!find_layout(t)) throw error(errc::unsupported_type, describe(t) + " is not a GGUF tensor type");
    throw error(errc::unsupported_type, describe(t) + " is not implemented in this build of lowbit");
}

inline void require_ptr(const void* p, const char* what) {
    if (!p) throw error(errc::invalid_argument, std::string(what) + " is a null pointer");
}

inline void require_length(const type_ops& ops, std::int64_t n, const char* what) {
    if (n <= 0)
        throw error(errc::invalid_argument, std::string(what) + " must be positive, got " + std::to_string(n));
    if (n % ops.layout->block_size != 0)
        throw error(errc::invalid_argument, std::string(what) + " = " + std::to_string(n) + " is not a multiple of " +
                                                std::string(ops.layout->name) + "'s block size " +
                                                std::to_string(ops.layout->block_size));
}

inline void require_finite(const float* x, std::int64_t n, const char* what, std::int64_t row_len) {
    for (std::int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(x[i]))
            throw error(errc::non_finite_input, std::string(what) + " has a non-finite value (" + std::to_string(x[i]) +
                                                    ") at row " + std::to_string(i / row_len) + ", column " +
                                                    std::to_string(i % row_len));
    }
}

inline void require_row_stride(const type_ops& o, std::size_t row_stride, std::int64_t nrows, std::int64_t n) {
    const std::size_t rb = row_bytes(o.layout->id, n);
    if (row_stride < rb)
        throw error(errc::invalid_argument, "row stride " + std::to_string(row_stride) + " is shorter than a row of " +
                                                std::to_string(n) + " " + std::string(o.layout->name) + " values (" +
                                                std::to_string(rb) + " bytes)");
    if (row_stride % o.block_align != 0)
        throw error(errc::invalid_argument, "row stride " + std::to_string(row_stride) + " is not a multiple of " +
                                                std::string(o.layout->name) + "'s block alignment " + std::to_string(o.block_align));
    if (static_cast<std::uint64_t>(nrows - 1) > (std::numeric_limits<std::size_t>::max() - rb) / row_stride)
        throw error(errc::invalid_argument, "nrows * row_stride overflows size_t");
}

inline const type_ops& require_packable(type_id t) {
    const auto& o = require(t);
    if (!o.pack_rows || !o.gemv) throw error(errc::unsupported_type, describe(t) + " has no packed layout (q4_0, q4_1, q5_0, q5_1, q8_0 and q2_K to q6_K have)");
    return o;
}

inline void require_packed_buffer(const type_ops& o, type_id t, const void* p, std::size_t size, std::size_t need, const char* what) {
    if (size < need)
        throw error(errc::invalid_argument, std::string(what) + ": " + std::to_string(size) + " bytes, " + std::to_string(need) +
                                                " needed for these rows of " + describe(t));
    if (reinterpret_cast<std::uintptr_t>(p) % o.tile_align != 0)
        throw error(errc::invalid_argument, std::string(what) + " must start on a " + std::to_string(o.tile_align) + "-byte boundary");
}

} // namespace detail

/// The table entry of `t` (throws if `t` is not implemented). For code that wants raw kernels.
inline const type_ops& ops(type_id t) { return detail::require(t); }

/// True when this build can encode and decode `t`.
inline bool supports(type_id t) noexcept {
    const auto raw = static_cast<std::size_t>(t);
    return raw < detail::table_size && detail::ops_table()[raw].layout != nullptr;
}

/// Names of the backends this build has and the running CPU supports, best first ("scalar" last).
inline std::vector<std::string_view> available_backends() {
    std::vector<std::string_view> out;
    const auto supported = detail::backend_support(candidate_backends{});
    for (std::size_t k = 0; k < supported.size(); ++k)
        if (supported[k]) out.emplace_back(detail::candidate_names[k]);
    return out;
}

/// The backend the runtime table is capped at: its own kernels where it has them, the next
/// supported backend's otherwise. Starts as the best one (or LOWBIT_BACKEND's choice).
inline std::string_view active_backend() noexcept { return detail::candidate_names[detail::active_position().load()]; }

/// Makes the runtime table use `name` (and the backends after it for kernels it lacks); for
/// tests and benchmarks that compare backends. Throws if the name is unknown or the CPU lacks it.
/// Not synchronised with calls running in other threads: switch before starting them.
inline void set_backend(std::string_view name) {
    const std::size_t k = detail::backend_position(name);
    if (k >= detail::candidate_names.size())
        throw error(errc::invalid_argument, "unknown backend '" + std::string(name) + "' in this build");
    if (!detail::backend_support(candidate_backends{})[k])
        throw error(errc::unsupported_type, "backend '" + std::string(name) + "' is not supported by this CPU");
    detail::active_position().store(k);
}

/// Bytes of a row of `n_per_row` values. Works for every GGUF type, implemented or not.
inline std::size_t row_bytes(type_id t, std::int64_t n_per_row) {
    const auto* l = find_layout(t);
    if (!l) throw error(errc::unsupported_type, detail::describe(t) + " is not a GGUF tensor type");
    if (n_per_row < 0 || n_per_row % l->block_size != 0)
        throw error(errc::invalid_argument, "row length " + std::to_string(n_per_row) + " is not a non-negative multiple of " +
                                                std::string(l->name) + "'s block size " + std::to_string(l->block_size));
    const auto blocks = static_cast<std::uint64_t>(n_per_row) / l->block_size;
    if (blocks > std::numeric_limits<std::size_t>::max() / l->type_size)
        throw error(errc::invalid_argument, "row of " + std::to_string(n_per_row) + " values overflows size_t");
    return static_cast<std::size_t>(blocks * l->type_size);
}

/// Quantizes `nrows` rows of `n_per_row` floats into `dst` (which must hold nrows * row_bytes),
/// exactly as the reference does; `imatrix` holds n_per_row importance weights or is null.
/// Accepts the dot-partner types too (q8_1, q8_K), to quantize activations. Returns bytes written.
inline std::size_t quantize(type_id t, const float* src, void* dst, std::int64_t nrows, std::int64_t n_per_row,
                            const float* imatrix = nullptr) {
    const auto& o = detail::require(t);
    if (!o.quantize_row) throw error(errc::unsupported_type, "quantizing to " + detail::describe(t) + " is not implemented");
    detail::require_ptr(src, "source");
    detail::require_ptr(dst, "destination");
    if (nrows < 0) throw error(errc::invalid_argument, "row count must not be negative, got " + std::to_string(nrows));
    detail::require_length(o, n_per_row, "row length");
    if (nrows > std::numeric_limits<std::int64_t>::max() / n_per_row)
        throw error(errc::invalid_argument, "nrows * n_per_row overflows");
    const std::size_t rb = row_bytes(t, n_per_row);
    if (o.rejects_non_finite) {
        detail::require_finite(src, nrows * n_per_row, "source", n_per_row);
        if (imatrix) detail::require_finite(imatrix, n_per_row, "importance weights", n_per_row);
    }
    auto* out = static_cast<unsigned char*>(dst);
    for (std::int64_t r = 0; r < nrows; ++r) o.quantize_row(src + r * n_per_row, out + static_cast<std::size_t>(r) * rb, n_per_row, imatrix);
    return static_cast<std::size_t>(nrows) * rb;
}

/// Decodes `n` values (a multiple of the block size) of type `t` to floats.
inline void dequantize(type_id t, const void* src, float* dst, std::int64_t n) {
    const auto& o = detail::require(t);
    if (!o.dequantize_row) throw error(errc::unsupported_type, "dequantizing " + detail::describe(t) + " is not implemented");
    detail::require_ptr(src, "source");
    detail::require_ptr(dst, "destination");
    detail::require_length(o, n, "value count");
    o.dequantize_row(src, dst, n);
}

/// The format a row of `t` is dotted against (activations are quantized to it first).
inline type_id dot_partner(type_id t) { return detail::require(t).partner; }

/// Dot product of `n` values: a row of `t` with a row of dot_partner(t).
inline float dot(type_id t, const void* row, const void* partner_row, std::int64_t n) {
    const auto& o = detail::require(t);
    if (!o.dot) throw error(errc::unsupported_type, "dot products of " + detail::describe(t) + " are not implemented");
    detail::require_ptr(row, "row");
    detail::require_ptr(partner_row, "partner row");
    detail::require_length(o, n, "value count");
    detail::require_length(detail::require(o.partner), n, "value count");
    return o.dot(row, partner_row, n);
}

/// Matrix-vector product: out[r] = dot(row r, partner_row) for `nrows` rows of `n` values of
/// type `t`, row r starting at rows + r * row_stride bytes (row_stride >= row_bytes(t, n); a GGUF
/// tensor's rows are row_bytes apart). Backends with a multi-row kernel share the partner row's
/// work between rows; the results equal dot()'s within float rounding (the sums' order differs).
inline void dot_rows(type_id t, const void* rows, std::size_t row_stride, const void* partner_row, float* out,
                     std::int64_t nrows, std::int64_t n) {
    const auto& o = detail::require(t);
    if (!o.dot_rows) throw error(errc::unsupported_type, "dot products of " + detail::describe(t) + " are not implemented");
    if (nrows < 0) throw error(errc::invalid_argument, "row count must not be negative, got " + std::to_string(nrows));
    detail::require_length(o, n, "value count");
    detail::require_length(detail::require(o.partner), n, "value count");
    if (nrows == 0) return;
    detail::require_ptr(rows, "rows");
    detail::require_ptr(partner_row, "partner row");
    detail::require_ptr(out, "output");
    detail::require_row_stride(o, row_stride, nrows, n);
    o.dot_rows(rows, row_stride, partner_row, out, nrows, n);
}

/// True when `t` has a packed layout (pack_rows / gemv): q4_0, q4_1, q5_0, q5_1, q8_0, q2_K, q3_K,
/// q4_K, q5_K and q6_K.
inline bool has_packed_layout(type_id t) noexcept { return supports(t) && detail::ops_table()[static_cast<std::size_t>(t)].pack_rows; }

/// Bytes of `nrows` rows of `n` values of `t` packed for gemv, the row count rounded up to a
/// multiple of 8: the rows' own bytes, or for q3_K, q4_K and q5_K 4 bytes more per block, their scales
/// decoded (formats/packed.hpp).
inline std::size_t packed_bytes(type_id t, std::int64_t nrows, std::int64_t n) {
    const auto& o = detail::require_packable(t);
    if (nrows < 0) throw error(errc::invalid_argument, "row count must not be negative, got " + std::to_string(nrows));
    detail::require_length(o, n, "value count");
    const auto groups = static_cast<std::uint64_t>(nrows / formats::packed_rows + (nrows % formats::packed_rows != 0));
    const auto tiles_per_group = static_cast<std::uint64_t>(n) / o.layout->block_size;
    if (groups != 0 && tiles_per_group > std::numeric_limits<std::size_t>::max() / o.tile_bytes / groups)
        throw error(errc::invalid_argument, "packed size of " + std::to_string(nrows) + " rows overflows size_t");
    return static_cast<std::size_t>(groups * tiles_per_group * o.tile_bytes);
}

namespace detail {
/// The checks shared by pack_rows and unpack_rows (rows in GGUF form on one side, packed on the
/// other); false when there is nothing to do.
inline bool require_packing(const type_ops& o, type_id t, const void* rows, std::size_t row_stride, const void* packed,
                            std::size_t packed_size, const char* packed_name, std::int64_t nrows, std::int64_t n) {
    const std::size_t need = packed_bytes(t, nrows, n);
    if (nrows == 0) return false;
    require_ptr(rows, "rows");
    require_ptr(packed, packed_name);
    require_row_stride(o, row_stride, nrows, n);
    require_packed_buffer(o, t, packed, packed_size, need, packed_name);
    return true;
}
} // namespace detail

/// Packs `nrows` rows of `n` values of `t` (row r at rows + r * row_stride bytes) into `dst`, which
/// holds dst_bytes >= packed_bytes(t, nrows, n) bytes on a boundary of the tile's alignment (4).
inline void pack_rows(type_id t, const void* rows, std::size_t row_stride, std::int64_t nrows, std::int64_t n, void* dst,
                      std::size_t dst_bytes) {
    const auto& o = detail::require_packable(t);
    if (detail::require_packing(o, t, rows, row_stride, dst, dst_bytes, "destination", nrows, n)) o.pack_rows(rows, row_stride, nrows, n, dst);
}

/// The rows of a packed matrix back in their GGUF form (row r at rows + r * row_stride bytes).
inline void unpack_rows(type_id t, const void* packed, std::size_t packed_size, std::int64_t nrows, std::int64_t n, void* rows,
                        std::size_t row_stride) {
    const auto& o = detail::require_packable(t);
    if (detail::require_packing(o, t, rows, row_stride, packed, packed_size, "packed rows", nrows, n)) o.unpack_rows(packed, nrows, n, rows, row_stride);
}

/// Matrix-vector product over packed rows: out[r] = dot(row r, partner_row) for `nrows` rows of
/// `n` values, equal to dot_rows()'s results within float rounding. Rows r0 .. r1 of a packed
/// matrix, r0 a multiple of 8, are a packed matrix of their own at packed + packed_bytes(t, r0, n):
/// threads can share a gemv by row groups, each getting the same floats as the whole call.
inline void gemv(type_id t, const void* packed, std::size_t packed_size, const void* partner_row, float* out, std::int64_t nrows,
                 std::int64_t n) {
    const auto& o = detail::require_packable(t);
    const std::size_t need = packed_bytes(t, nrows, n);
    detail::require_length(detail::require(o.partner), n, "value count");
    if (nrows == 0) return;
    detail::require_ptr(packed, "packed rows");
    detail::require_ptr(partner_row, "partner row");
    detail::require_ptr(out, "output");
    detail::require_packed_buffer(o, t, packed, packed_size, need, "packed rows");
    o.gemv(packed, partner_row, out, nrows, n);
}

} // namespace lowbit
