// lowbit — what the running CPU can execute, for the run-time choice of backend.
//
// Checked once per process. On x86 the instruction sets are read with cpuid and confirmed with
// xgetbv (the OS must save the YMM/ZMM state, or AVX code faults even where cpuid lists it); on
// aarch64 Linux with getauxval.
#pragma once

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#  define LOWBIT_X86 1
#  if defined(__GNUC__) || defined(__clang__)
#    include <cpuid.h>
#  endif
#elif defined(__aarch64__)
#  define LOWBIT_AARCH64 1
#  if defined(__linux__)
#    include <sys/auxv.h>
#  endif
#endif

#include <atomic>

namespace lowbit {

/// Instruction-set extensions the backends care about; each is true only when both the CPU and
/// the operating system support it.
struct cpu_features {
    bool avx2 = false, fma = false, f16c = false, bmi2 = false;
    bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
    bool avx512vnni = false, avx512vbmi = false, avx512bf16 = false;
    bool neon = false, neon_dotprod = false;
    /// An AMD processor ("AuthenticAMD"): its AVX-512 (Zen 4, Zen 5) issues 512-bit operations on
    /// every vector port, where Intel's cores give them fewer, so some kernels pick their vector
    /// width by it.
    bool amd = false;
};

namespace detail {

inline cpu_features detect_cpu_features() noexcept {
    cpu_features f;
#if defined(LOWBIT_X86) && (defined(__GNUC__) || defined(__clang__))
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
    f.amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u; // "Auth" "enti" "cAMD"
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = (c >> 27) & 1u, avx = (c >> 28) & 1u;
    const bool fma = (c >> 12) & 1u, f16c = (c >> 29) & 1u;
    if (!osxsave || !avx) return f;
    unsigned xlo = 0, xhi = 0;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    const bool ymm_state = (xlo & 0x6u) == 0x6u;    // SSE and AVX registers saved
    const bool zmm_state = (xlo & 0xE6u) == 0xE6u;  // plus opmask and the upper ZMM halves
    if (!ymm_state || __get_cpuid_max(0, nullptr) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = (b >> 5) & 1u;
    f.bmi2 = (b >> 8) & 1u;
    f.fma = fma;
    f.f16c = f16c;
    if (zmm_state) {
        f.avx512f = (b >> 16) & 1u;
        f.avx512dq = (b >> 17) & 1u;
        f.avx512bw = (b >> 30) & 1u;
        f.avx512vl = (b >> 31) & 1u;
        f.avx512vbmi = (c >> 1) & 1u;
        f.avx512vnni = (c >> 11) & 1u;
        const unsigned max_subleaf = a;
        if (max_subleaf >= 1) {
            unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
            __cpuid_count(7, 1, a1, b1, c1, d1);
            f.avx512bf16 = (a1 >> 5) & 1u;
        }
    }
#elif defined(LOWBIT_AARCH64)
    f.neon = true; // Advanced SIMD is part of the aarch64 baseline
#  if defined(__linux__) && defined(AT_HWCAP)
    const unsigned long hw = getauxval(AT_HWCAP);
    f.neon_dotprod = (hw >> 20) & 1ul; // HWCAP_ASIMDDP
#  endif
#endif
    return f;
}

} // namespace detail

/// The features of the CPU this process runs on (detected on first use).
inline const cpu_features& cpu() noexcept {
    static const cpu_features f = detail::detect_cpu_features();
    return f;
}

namespace detail {
inline std::atomic<bool>& streaming_stores_flag() noexcept {
    // AMD's AVX-512 processors write DRAM-sized outputs faster with plain stores: on Zen 5 a
    // dequantize of 512 MiB ran 3-9% faster without non-temporal stores (and a plain 512-bit
    // memset at 25 GB/s, a non-temporal one at 22). On Intel's (Sapphire Rapids) the
    // non-temporal stores took it from ~60% of memcpy's bandwidth to above it.
    static std::atomic<bool> on{!(cpu().amd && cpu().avx512f)};
    return on;
}
} // namespace detail

/// Whether the x86 kernels write outputs of 4 MiB or more (64-byte aligned) with non-temporal
/// stores, bypassing the caches: by default yes except on AMD processors with AVX-512.
inline bool streaming_stores() noexcept { return detail::streaming_stores_flag().load(std::memory_order_relaxed); }
/// Overrides that choice, for a machine where the other measures faster (or to test both).
inline void set_streaming_stores(bool on) noexcept { detail::streaming_stores_flag().store(on, std::memory_order_relaxed); }

} // namespace lowbit
