// The K-quant searches (backend/kquant_search_lanes.inl) at sixteen lanes, on any machine with
// AVX2: the .inl is compiled here once more, with a lane policy of two AVX2 registers per lane
// set, as the AVX-512 backend compiles it with lanes16 (sixty-four sub-blocks per call). So the
// width-dependent parts of the search code (sets of lanes, batches, transposes, the requantize
// of four registers at a time) run at the AVX-512 backend's width also where the CPU has no
// AVX-512, and are held to the scalar path's bytes. The lanes16 operations themselves are
// one instruction each; test_backends runs them where the CPU has them.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "support.hpp"

#if defined(LOWBIT_HAS_X86_BACKENDS)

namespace lowbit_test::wide {

/// lanes16's operations on two lanes8 registers: lanes 0-7 in `lo`, 8-15 in `hi`.
struct lanes8x2 {
    using L = lowbit::x86::lanes8;
    struct f {
        __m256 lo, hi;
    };
    using m = f;
    static constexpr int width = 16;

#  define WIDE_OP LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static
#  define WIDE_1(name) \
      WIDE_OP f name(f a) noexcept { return {L::name(a.lo), L::name(a.hi)}; }
#  define WIDE_2(name) \
      WIDE_OP f name(f a, f b) noexcept { return {L::name(a.lo, b.lo), L::name(a.hi, b.hi)}; }
#  define WIDE_3(name) \
      WIDE_OP f name(f a, f b, f c) noexcept { return {L::name(a.lo, b.lo, c.lo), L::name(a.hi, b.hi, c.hi)}; }
    WIDE_OP f zero() noexcept { return {L::zero(), L::zero()}; }
    WIDE_OP f set1(float v) noexcept { return {L::set1(v), L::set1(v)}; }
    WIDE_OP f load(const float* p) noexcept { return {L::loadu(p), L::loadu(p + 8)}; }
    WIDE_OP f loadu(const float* p) noexcept { return {L::loadu(p), L::loadu(p + 8)}; }
    WIDE_OP void storeu(float* p, f v) noexcept {
        L::storeu(p, v.lo);
        L::storeu(p + 8, v.hi);
    }
    WIDE_2(add)
    WIDE_2(sub)
    WIDE_2(mul)
    WIDE_2(div)
    WIDE_1(abs)
    WIDE_1(neg)
    WIDE_2(min)
    WIDE_2(max)
    WIDE_2(gt)
    WIDE_2(lt)
    WIDE_2(ge)
    WIDE_2(le)
    WIDE_2(neq)
    WIDE_1(ordered)
    WIDE_OP f select(m k, f a, f b) noexcept { return {L::select(k.lo, a.lo, b.lo), L::select(k.hi, a.hi, b.hi)}; }
    WIDE_OP m none() noexcept { return {L::none(), L::none()}; }
    WIDE_2(mand)
    WIDE_2(mor)
    WIDE_1(mnot)
    WIDE_OP bool all(m a) noexcept { return L::all(a.lo) && L::all(a.hi); }
    WIDE_OP bool any(m a) noexcept { return L::any(a.lo) || L::any(a.hi); }
    WIDE_OP unsigned bits(m a) noexcept { return L::bits(a.lo) | (L::bits(a.hi) << 8); }
    WIDE_3(fused_mul_sub)
    WIDE_3(fused_sub_mul)
    WIDE_OP bool any_sign(f g, f a, f b) noexcept { return L::any_sign(g.lo, a.lo, b.lo) || L::any_sign(g.hi, a.hi, b.hi); }
    WIDE_1(opaque)
    WIDE_1(nearest)
    WIDE_1(nearest_small)
    WIDE_OP void store_codes(std::uint8_t* out, f codes, int offset, m zero) noexcept {
        L::store_codes(out, codes.lo, offset, zero.lo);
        L::store_codes(out + 8, codes.hi, offset, zero.hi);
    }
#  undef WIDE_1
#  undef WIDE_2
#  undef WIDE_3
#  undef WIDE_OP
};

// the .inl as ksearch512 instantiates it, at lanes8x2
namespace search16 {
namespace search = lowbit::search;
using V = lanes8x2;
inline constexpr int groups_per_call = 64;
#  define LOWBIT_LANES_TARGET LOWBIT_TARGET_AVX2
#  include <lowbit/backend/kquant_search_lanes.inl>
#  undef LOWBIT_LANES_TARGET
} // namespace search16

/// One row of P's format by the scalar path and by the sixteen-lane engine; the index of the
/// first differing byte, or -1.
template <class Format>
long first_difference(const std::vector<float>& x, const float* imatrix) {
    using block = typename Format::block;
    const std::int64_t n = static_cast<std::int64_t>(x.size());
    std::vector<block> ref(static_cast<std::size_t>(n / Format::block_size)), wide(ref.size());
    Format::quantize_row(x.data(), ref.data(), n, imatrix);
    Format::template quantize_row_with<search16::engine>(x.data(), wide.data(), n, imatrix);
    const auto* a = reinterpret_cast<const unsigned char*>(ref.data());
    const auto* b = reinterpret_cast<const unsigned char*>(wide.data());
    for (std::size_t i = 0; i < ref.size() * sizeof(block); ++i)
        if (a[i] != b[i]) return static_cast<long>(i);
    return -1;
}

/// Rows that reach the searches' corners: gaussian blocks at several scales, constant and zero
/// blocks, ties of magnitude, half-integer grids, values a hair below the max, denormals, and
/// (with `extremes`) huge values and non-finite ones.
std::vector<float> row(std::int64_t n, std::uint32_t seed, bool extremes) {
    auto x = gaussian_row(n, seed);
    for (std::int64_t b = 0; b + 16 <= n; b += 16) {
        float* p = x.data() + b;
        switch ((b / 16 + seed) % 13) {
        case 0: break;
        case 1: for (int j = 0; j < 16; ++j) p[j] *= 1e-3f; break;
        case 2: for (int j = 0; j < 16; ++j) p[j] *= 7e3f; break;
        case 3: for (int j = 0; j < 16; ++j) p[j] = 0.0f; break;
        case 4: for (int j = 0; j < 16; ++j) p[j] = 2.5f; break;
        case 5: p[3] = 4.0f; p[9] = -4.0f; break;
        case 6: for (int j = 0; j < 16; ++j) p[j] = 0.5f * static_cast<float>(j % 9) - 2.0f; break;
        case 7: p[0] = 1.0f; for (int j = 1; j < 16; ++j) p[j] = std::nextafter(1.0f, 0.0f) * (j % 2 ? -1.0f : 1.0f); break;
        case 8: for (int j = 0; j < 16; ++j) p[j] = static_cast<float>(j % 3) * 1e-45f; break;
        case 9: for (int j = 0; j < 16; ++j) p[j] = std::fabs(p[j]); break;
        case 10: for (int j = 0; j < 16; ++j) p[j] *= 1e-20f; break;
        case 11: if (extremes) p[5] = (seed % 2 ? 3e38f : -3e38f); break;
        case 12: if (extremes) p[7] = seed % 3 == 0 ? NAN : seed % 3 == 1 ? INFINITY : -INFINITY; break;
        }
    }
    return x;
}

template <class Format>
void check_format(const char* name) {
    CAPTURE(name);
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0.1f, 2.0f);
    // 4096: whole batches of the engine (four super-blocks); 1280: a short last batch
    for (const std::int64_t n : {std::int64_t{4096}, std::int64_t{1280}}) {
        std::vector<float> w(static_cast<std::size_t>(n));
        for (auto& v : w) v = u(rng);
        for (std::uint32_t seed = 0; seed < 200; ++seed) {
            CAPTURE(n);
            CAPTURE(seed);
            for (const bool extremes : {false, true}) {
                CAPTURE(extremes);
                const auto x = row(n, seed, extremes);
                CHECK(first_difference<Format>(x, nullptr) == -1);
                CHECK(first_difference<Format>(x, w.data()) == -1);
            }
        }
    }
}

} // namespace lowbit_test::wide

TEST_CASE("the K-quant searches at sixteen lanes give the scalar path's bytes") {
    if (!lowbit::backend::avx2::cpu_supported()) {
        MESSAGE("skipped: the CPU has no AVX2");
        return;
    }
    using namespace lowbit::formats;
    lowbit_test::wide::check_format<q2_K>("q2_K");
    lowbit_test::wide::check_format<q3_K>("q3_K");
    lowbit_test::wide::check_format<q4_K>("q4_K");
    lowbit_test::wide::check_format<q5_K>("q5_K");
    lowbit_test::wide::check_format<q6_K>("q6_K");
}

TEST_CASE("the sixteen-lane searches clamp products on a half past the end of the range") {
    if (!lowbit::backend::avx2::cpu_supported()) {
        MESSAGE("skipped: the CPU has no AVX2");
        return;
    }
    const auto rows = lowbit_test::half_product_rows();
    for (const auto& r : rows) {
        CAPTURE(r.what);
        if (r.type == lowbit::type_id::q6_K) CHECK(lowbit_test::wide::first_difference<lowbit::formats::q6_K>(r.x, nullptr) == -1);
        else CHECK(lowbit_test::wide::first_difference<lowbit::formats::q4_K>(r.x, nullptr) == -1);
    }
    CHECK(rows.size() >= 20);
}

#else

TEST_CASE("the K-quant searches at sixteen lanes give the scalar path's bytes") {
    MESSAGE("skipped: not an x86 build");
}

#endif
