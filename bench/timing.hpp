// lowbit bench — the clock and the measuring rule shared by every benchmark.
//
// Cycles come from the time-stamp counter on x86 (rdtsc). The TSC ticks at a fixed reference
// frequency, not at the core's current clock: with turbo the core runs more cycles than
// counted, so "cycles" here are reference cycles, comparable between runs on one machine. On
// other architectures the counter is the steady clock in nanoseconds scaled by the TSC-free
// estimate ticks_per_second(), so figures read as nanoseconds times 1 GHz.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>

#if defined(__x86_64__) || defined(__i386__)
#  include <x86intrin.h>
#endif

namespace lowbit_bench {

inline std::uint64_t ticks() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#else
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch()).count());
#endif
}

/// Ticks per second of ticks(), measured against the steady clock over ~50 ms.
inline double ticks_per_second() {
    static const double rate = [] {
        const auto t0 = std::chrono::steady_clock::now();
        const std::uint64_t c0 = ticks();
        while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50)) {
        }
        const auto t1 = std::chrono::steady_clock::now();
        const std::uint64_t c1 = ticks();
        return static_cast<double>(c1 - c0) / std::chrono::duration<double>(t1 - t0).count();
    }();
    return rate;
}

/// Keeps a value (or the memory behind a pointer) alive against the optimiser.
template <class T>
inline void keep(T const& v) noexcept {
    __asm__ volatile("" : : "r,m"(v) : "memory");
}

/// Minimum ticks of one call of f over `samples` samples of `reps` calls each: the minimum is
/// the run least disturbed by the other processes of the machine.
template <class Fn>
double min_ticks_per_call(Fn&& f, int reps, int samples) {
    f(); // warm caches, page in buffers
    double best = std::numeric_limits<double>::infinity();
    for (int s = 0; s < samples; ++s) {
        const std::uint64_t t0 = ticks();
        for (int r = 0; r < reps; ++r) f();
        const std::uint64_t t1 = ticks();
        best = std::min(best, static_cast<double>(t1 - t0) / reps);
    }
    return best;
}

} // namespace lowbit_bench
