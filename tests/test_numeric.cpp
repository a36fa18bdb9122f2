// f16 / bf16 conversions: exhaustive over all binary16 values, against IEEE semantics computed a
// second way, and against the CPU's own conversion instructions where the machine has them.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include <lowbit/numeric/f16.hpp>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define LOWBIT_TEST_HAVE_F16C_PROBE 1
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wc99-extensions" // clang's _cvtss_sh macro uses a compound literal
#endif
#endif

using lowbit::numeric::bf16_bits_to_f32;
using lowbit::numeric::f16_bits_to_f32;
using lowbit::numeric::f32_to_bf16_bits;
using lowbit::numeric::f32_to_f16_bits;

// Compile-time checks: the conversions are constexpr.
static_assert(f32_to_f16_bits(1.0f) == 0x3c00);
static_assert(f32_to_f16_bits(-2.0f) == 0xc000);
static_assert(f32_to_f16_bits(65504.0f) == 0x7bff);
static_assert(f32_to_f16_bits(65520.0f) == 0x7c00);   // halfway to 2^16 rounds to even: inf
static_assert(f32_to_f16_bits(0x1p-24f) == 0x0001);   // smallest subnormal
static_assert(f32_to_f16_bits(0x1p-25f) == 0x0000);   // tie with zero rounds to even (zero)
static_assert(f32_to_f16_bits(0x1.8p-25f) == 0x0001);
static_assert(f16_bits_to_f32(0x3555) == 0x1.554p-2f);
static_assert(f16_bits_to_f32(0x0001) == 0x1p-24f);
static_assert(f32_to_bf16_bits(1.0f) == 0x3f80);
static_assert(bf16_bits_to_f32(0xc040) == -3.0f);

namespace {

/// IEEE binary16 value of bits h computed from its definition, in double.
double f16_value(std::uint16_t h) {
    const int sign = (h >> 15) ? -1 : 1;
    const int exp = (h >> 10) & 0x1f;
    const int mant = h & 0x3ff;
    if (exp == 0) return sign * std::ldexp(static_cast<double>(mant), -24);
    if (exp == 31) return mant ? std::nan("") : sign * std::numeric_limits<double>::infinity();
    return sign * std::ldexp(static_cast<double>(1024 + mant), exp - 25);
}

/// Round-to-nearest-even to binary16 computed independently: search the two neighbours.
std::uint16_t f16_nearest(float x) {
    if (std::isnan(x)) return 0x7e00;
    const std::uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    const double ax = std::fabs(static_cast<double>(x));
    if (ax >= 65520.0) return sign | 0x7c00;
    std::uint16_t lo = 0;
    for (std::uint16_t step = 0x4000; step; step >>= 1)
        if (lo + step <= 0x7bff && f16_value(static_cast<std::uint16_t>(lo + step)) <= ax) lo = static_cast<std::uint16_t>(lo + step);
    if (lo == 0x7bff) return sign | lo;
    const double dlo = ax - f16_value(lo), dhi = f16_value(static_cast<std::uint16_t>(lo + 1)) - ax;
    if (dlo < dhi || (dlo == dhi && (lo & 1) == 0)) return sign | lo;
    return static_cast<std::uint16_t>(sign | (lo + 1));
}

[[maybe_unused]] bool same_float(float a, float b) { return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b); }

} // namespace

TEST_CASE("f16 -> f32 is exact for all 65,536 values and f32 -> f16 round-trips them") {
    int checked = 0;
    for (std::uint32_t h = 0; h < 65536; ++h) {
        const auto bits = static_cast<std::uint16_t>(h);
        const float f = f16_bits_to_f32(bits);
        const double expected = f16_value(bits);
        if (std::isnan(expected)) {
            REQUIRE(std::isnan(f));
            // sign kept, quiet bit set, payload kept
            const std::uint16_t back = f32_to_f16_bits(f);
            CHECK(back == (bits | 0x0200));
        } else {
            REQUIRE(static_cast<double>(f) == expected);
            REQUIRE(std::signbit(f) == static_cast<bool>(bits & 0x8000));
            REQUIRE(f32_to_f16_bits(f) == bits);
        }
        ++checked;
    }
    CHECK(checked == 65536);
}

TEST_CASE("f32 -> f16 rounds to nearest even: every f16 midpoint and its neighbours, plus random floats") {
    // Midpoints between consecutive f16 values are the hard cases: exactly there, and one ulp either side.
    for (std::uint32_t h = 0; h < 0x7c00; ++h) {
        const double mid = (f16_value(static_cast<std::uint16_t>(h)) + f16_value(static_cast<std::uint16_t>(h + 1))) / 2;
        const float m = static_cast<float>(mid);
        REQUIRE(static_cast<double>(m) == mid); // midpoints are representable in binary32
        for (float x : {m, std::nextafter(m, 0.0f), std::nextafter(m, INFINITY)}) {
            CAPTURE(x);
            REQUIRE(f32_to_f16_bits(x) == f16_nearest(x));
            REQUIRE(f32_to_f16_bits(-x) == f16_nearest(-x));
        }
    }
    std::mt19937 rng(7);
    std::uniform_int_distribution<std::uint32_t> any;
    for (int i = 0; i < 200000; ++i) {
        const float x = std::bit_cast<float>((any(rng) & 0x7fffffffu) | (i & 1 ? 0x80000000u : 0u));
        if (std::isnan(x)) continue;
        CAPTURE(x);
        REQUIRE(f32_to_f16_bits(x) == f16_nearest(x));
    }
    CHECK(f32_to_f16_bits(INFINITY) == 0x7c00);
    CHECK(f32_to_f16_bits(-INFINITY) == 0xfc00);
    CHECK(f32_to_f16_bits(1e10f) == 0x7c00);
    CHECK(std::isnan(f16_bits_to_f32(f32_to_f16_bits(std::nanf("")))));
}

#ifdef LOWBIT_TEST_HAVE_F16C_PROBE
__attribute__((target("f16c"))) static std::uint16_t hw_f32_to_f16(float x) {
    return static_cast<std::uint16_t>(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT));
}
__attribute__((target("f16c"))) static float hw_f16_to_f32(std::uint16_t h) { return _cvtsh_ss(h); }

TEST_CASE("f16 conversions agree bit for bit with the CPU's F16C instructions") {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool has_f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
    if (!has_f16c) {
        MESSAGE("this CPU has no F16C: hardware comparison skipped (reported)");
        return;
    }
    for (std::uint32_t h = 0; h < 65536; ++h) {
        const auto bits = static_cast<std::uint16_t>(h);
        REQUIRE(same_float(f16_bits_to_f32(bits), hw_f16_to_f32(bits)));
    }
    std::mt19937 rng(11);
    std::uniform_int_distribution<std::uint32_t> any;
    for (int i = 0; i < 1000000; ++i) {
        const float x = std::bit_cast<float>(any(rng));
        CAPTURE(x);
        REQUIRE(f32_to_f16_bits(x) == hw_f32_to_f16(x));
    }
}
#endif

TEST_CASE("bf16 follows the reference: round to nearest even, NaN stays NaN, subnormals kept") {
    for (std::uint32_t h = 0; h < 65536; ++h) {
        const auto bits = static_cast<std::uint16_t>(h);
        const float f = bf16_bits_to_f32(bits);
        if (std::isnan(f)) {
            CHECK(std::isnan(bf16_bits_to_f32(f32_to_bf16_bits(f))));
        } else {
            REQUIRE(f32_to_bf16_bits(f) == bits);
        }
    }
    // ties: 1 + 2^-8 lies halfway between bf16 1.0 and 1.0078125 -> even (1.0); 1 + 3*2^-8 -> up
    CHECK(f32_to_bf16_bits(1.00390625f) == 0x3f80);
    CHECK(f32_to_bf16_bits(1.01171875f) == 0x3f82);
    CHECK(f32_to_bf16_bits(0x1p-130f) == 0x0008); // subnormal kept (mantissa bit 19 -> bf16 bit 3)
    CHECK(f32_to_bf16_bits(3.4e38f) == 0x7f80);    // rounds up to inf
    const float snan = std::bit_cast<float>(0x7f800001u);
    CHECK(std::isnan(bf16_bits_to_f32(f32_to_bf16_bits(snan))));
}
