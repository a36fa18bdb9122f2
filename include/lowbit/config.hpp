// lowbit — configuration macros and the floating-point barrier that keeps the exact paths exact.
#pragma once

#include <cstdint>
#include <type_traits>

#define LOWBIT_VERSION_MAJOR 0
#define LOWBIT_VERSION_MINOR 1
#define LOWBIT_VERSION_PATCH 0

// LOWBIT_LAMBDA_INLINE: for the lambdas that unroll a kernel's loops at compile time or name a
// step of a search; clang declines to inline the larger ones on its own and calls them with
// their captures in memory (the q4_K dequantizer ran 1.4x slower, the K-quant quantizers up to
// 2.4x).
#if defined(__GNUC__) || defined(__clang__)
#  define LOWBIT_INLINE inline __attribute__((always_inline))
#  define LOWBIT_LAMBDA_INLINE __attribute__((always_inline))
#  define LOWBIT_NOINLINE __attribute__((noinline))
#  define LOWBIT_RESTRICT __restrict__
#elif defined(_MSC_VER)
#  define LOWBIT_INLINE __forceinline
#  define LOWBIT_LAMBDA_INLINE
#  define LOWBIT_NOINLINE __declspec(noinline)
#  define LOWBIT_RESTRICT __restrict
#else
#  define LOWBIT_INLINE inline
#  define LOWBIT_LAMBDA_INLINE
#  define LOWBIT_NOINLINE
#  define LOWBIT_RESTRICT
#endif

#if defined(__FAST_MATH__)
#  error "lowbit: -ffast-math is not supported: the reference formats depend on IEEE rounding, NaN and Inf semantics"
#endif

namespace lowbit::detail {

// The reference quantizers are specified by their C source evaluated without FMA contraction.
// GCC contracts a*b+c into an fma across statements under -O2 -march=<fma-capable> (gnu++ modes),
// and clang does so within an expression; either changes the rounding and therefore the bytes.
// Passing a product through `opaque` hides it from the optimiser so it cannot be fused.
LOWBIT_INLINE float opaque(float x) noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || (defined(__i386__) && defined(__SSE__)))
    __asm__("" : "+x"(x));
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__("" : "+w"(x));
#elif defined(__GNUC__) || defined(__clang__)
    __asm__("" : "+m"(x));
#else
    volatile float v = x;
    x = v;
#endif
    return x;
}

// a*b rounded to float, never fused with a following addition.
LOWBIT_INLINE float mul(float a, float b) noexcept { return opaque(a * b); }

} // namespace lowbit::detail
