// lowbit — choosing a backend per format and operation: at compile time from the target, at run
// time (runtime.hpp) from the CPU.
//
// Backends are listed best first. A backend serves an operation of F when kernels<F, B>
// provides it (the has_*_kernel concepts); nothing else has to be registered, and no algorithm
// names a backend or tests a macro.
#pragma once

#include <cstddef>

#include "../formats/packed.hpp"
#include "scalar.hpp"
#include "x86.hpp"
#include "avx2.hpp"
#include "avx512.hpp"
#include "kquants_x86.hpp"
#include "packed_x86.hpp"
#include "neon.hpp"
#include "packed_neon.hpp"

namespace lowbit {

template <class... B>
struct backend_list {
    static constexpr std::size_t size = sizeof...(B);
};

/// Every backend this compiler can build for the target architecture, best first; scalar last.
#if defined(LOWBIT_HAS_X86_BACKENDS)
using candidate_backends = backend_list<backend::avx512bf16, backend::avx512vnni, backend::avx512, backend::avx2, backend::scalar>;
#elif defined(LOWBIT_HAS_NEON_BACKEND)
using candidate_backends = backend_list<backend::neon_dotprod, backend::neon, backend::scalar>;
#else
using candidate_backends = backend_list<backend::scalar>;
#endif

enum class kernel_op { dequantize, quantize, dot, gemv };

/// A backend's own gemv over packed rows (formats/packed.hpp, algo/gemv.hpp).
template <class F, class B>
concept has_gemv_kernel = formats::has_packed_layout<F> &&
                          requires(const typename formats::packed<F>::tile* w, const typename F::partner::block* y, float* out, std::int64_t rows,
                                   std::int64_t n) { packed_kernels<F, B>::gemv(w, y, out, rows, n); };

template <class F, class B, kernel_op Op>
concept provides = (Op == kernel_op::dequantize && has_dequantize_kernel<F, B>) ||
                   (Op == kernel_op::quantize && has_quantize_kernel<F, B>) ||
                   (Op == kernel_op::dot && has_dot_kernel<F, B>) || (Op == kernel_op::gemv && has_gemv_kernel<F, B>);

namespace detail {
template <class F, kernel_op Op, class List>
struct first_enabled;
template <class F, kernel_op Op, class B, class... Rest>
struct first_enabled<F, Op, backend_list<B, Rest...>> {
    using type = std::conditional_t<B::target_enabled && provides<F, B, Op>, B,
                                    typename first_enabled<F, Op, backend_list<Rest...>>::type>;
};
template <class F, kernel_op Op>
struct first_enabled<F, Op, backend_list<>> {
    using type = backend::scalar;
};
} // namespace detail

/// The best backend the compilation target enables for operation Op of F.
template <class F, kernel_op Op>
using compile_time_backend_for = typename detail::first_enabled<F, Op, candidate_backends>::type;

namespace backend {
/// The compile-time choice as one tag: each operation goes to compile_time_backend_for<F, Op>,
/// so a format whose best backend accelerates only some operations still gets all of them.
struct compile_time {
    static constexpr const char* name = "compile-time";
};
} // namespace backend

template <format F>
struct kernels<F, backend::compile_time> {
    using block = typename F::block;
    static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept
        requires has_dequantize_kernel<F, compile_time_backend_for<F, kernel_op::dequantize>>
    {
        kernels<F, compile_time_backend_for<F, kernel_op::dequantize>>::dequantize_row(x, y, n);
    }
    static void quantize_row(const float* x, block* y, std::int64_t n, const float* imatrix) noexcept
        requires has_quantize_kernel<F, compile_time_backend_for<F, kernel_op::quantize>>
    {
        kernels<F, compile_time_backend_for<F, kernel_op::quantize>>::quantize_row(x, y, n, imatrix);
    }
    static float dot(const block* x, const typename F::partner::block* y, std::int64_t n) noexcept
        requires has_dot_kernel<F, compile_time_backend_for<F, kernel_op::dot>>
    {
        return kernels<F, compile_time_backend_for<F, kernel_op::dot>>::dot(x, y, n);
    }
    static void dot_rows(const block* x, std::size_t stride, const typename F::partner::block* y, float* out,
                         std::int64_t rows, std::int64_t n) noexcept
        requires has_dot_kernel<F, compile_time_backend_for<F, kernel_op::dot>>
    {
        dot_rows_with<F, compile_time_backend_for<F, kernel_op::dot>>(x, stride, y, out, rows, n);
    }
};

/// The backend the templates of algorithms.hpp use by default for F.
template <class F>
using compile_time_backend = backend::compile_time;

} // namespace lowbit
