// Properties of the foundation formats: compile-time traits, error bounds, round trips, and the
// templates agreeing with the runtime table.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "roundtrip.hpp"

namespace f = lowbit::formats;
using lowbit::type_id;

// ---- compile-time facts ---------------------------------------------------------------------
static_assert(lowbit::format<f::q4_0> && lowbit::dequantizable<f::q4_0> && lowbit::quantizable<f::q4_0>);
static_assert(lowbit::dottable<f::q4_0> && lowbit::dottable<f::q5_1> && lowbit::dottable<f::f16>);
static_assert(sizeof(f::q4_0::block) == 18 && sizeof(f::q4_1::block) == 20 && sizeof(f::q5_0::block) == 22);
static_assert(sizeof(f::q5_1::block) == 24 && sizeof(f::q8_0::block) == 34 && sizeof(f::q8_1::block) == 36);
static_assert(lowbit::bits_per_weight<f::q4_0> == 4.5);
static_assert(lowbit::bits_per_weight<f::q4_1> == 5.0);
static_assert(lowbit::bits_per_weight<f::q5_0> == 5.5);
static_assert(lowbit::bits_per_weight<f::q5_1> == 6.0);
static_assert(lowbit::bits_per_weight<f::q8_0> == 8.5);
static_assert(lowbit::bits_per_weight<f::f16> == 16.0);
static_assert(lowbit::bits_per_weight<f::bf16> == 16.0);
static_assert(lowbit::bits_per_weight<f::f32> == 32.0);
static_assert(lowbit::row_bytes<f::q4_0>(4096) == 2304);
static_assert(lowbit::tensor_bytes<f::q8_0>(4096, 14336) == 4096ull / 32 * 34 * 14336);
static_assert(lowbit::tensor_bytes<f::f16>(4096, 32000) == 262144000ull);
static_assert(std::is_same_v<f::q4_1::partner, f::q8_1> && std::is_same_v<f::q5_0::partner, f::q8_0>);

namespace {

using lowbit_test::gaussian;
using lowbit_test::roundtrip;
using lowbit_test::run;

} // namespace

TEST_CASE("per-block error bounds of the legacy formats") {
    // Symmetric b-bit: |x - x'| <= |d|/2 except the block's extreme which is exact up to f16
    // rounding of d; affine: |x - x'| <= d/2 + rounding of d and m. We check the bound
    // |err| <= 0.5 * |d| * (1 + 2^-9) + |max| * 2^-10 per block, with d read back from the block.
    const auto x = gaussian(32 * 256, 1);
    for (auto t : {type_id::q4_0, type_id::q4_1, type_id::q5_0, type_id::q5_1, type_id::q8_0}) {
        CAPTURE(lowbit::type_name(t));
        const auto r = run(t, x, 256);
        const std::size_t bb = lowbit::row_bytes(t, 32);
        for (std::size_t b = 0; b < x.size() / 32; ++b) {
            lowbit::f16 dh;
            std::memcpy(&dh, r.q.data() + b * bb, 2);
            const float d = std::fabs(lowbit::to_f32(dh));
            float amax = 0;
            for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
            const float tol = (t == type_id::q4_0 || t == type_id::q5_0) ? d * 1.0f : d * 0.5f * (1 + 0x1p-9f);
            for (int j = 0; j < 32; ++j) {
                const float err = std::fabs(r.back[b * 32 + j] - x[b * 32 + j]);
                REQUIRE(err <= tol + amax * 0x1p-10f);
            }
        }
    }
}

TEST_CASE("relative RMSE shrinks with bits, and importance weights lower the weighted error") {
    const auto x = gaussian(64 * 512, 2);
    auto rel_rmse = [&](const std::vector<float>& back, const std::vector<float>* w) {
        double e = 0, s = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
            const double wi = w ? (*w)[i % 512] : 1.0;
            e += wi * (back[i] - x[i]) * (back[i] - x[i]);
            s += wi * x[i] * x[i];
        }
        return std::sqrt(e / s);
    };
    const double e40 = rel_rmse(run(type_id::q4_0, x, 512).back, nullptr);
    const double e41 = rel_rmse(run(type_id::q4_1, x, 512).back, nullptr);
    const double e50 = rel_rmse(run(type_id::q5_0, x, 512).back, nullptr);
    const double e51 = rel_rmse(run(type_id::q5_1, x, 512).back, nullptr);
    const double e80 = rel_rmse(run(type_id::q8_0, x, 512).back, nullptr);
    CHECK(e40 < 0.13);
    CHECK(e50 < e40);
    CHECK(e51 < e41);
    CHECK(e80 < e50 / 4);
    CHECK(e80 < 0.01);

    // Importance weights concentrated on a few columns: the weighted search must do better on them.
    std::vector<float> w(512, 0.01f);
    for (int i = 0; i < 512; i += 7) w[i] = 10.0f;
    for (auto t : {type_id::q4_0, type_id::q4_1, type_id::q5_0, type_id::q5_1}) {
        CAPTURE(lowbit::type_name(t));
        const double plain = rel_rmse(run(t, x, 512).back, &w);
        const double weighted = rel_rmse(run(t, x, 512, w.data()).back, &w);
        CHECK(weighted < plain);
    }
}

TEST_CASE("exactly representable inputs survive a round trip") {
    // Values d * (q - 8) with d a power of two are reproduced exactly by q4_0 when the block holds -8d.
    std::vector<float> x(64);
    for (int i = 0; i < 64; ++i) x[i] = 0.25f * static_cast<float>((i * 5) % 16 - 8);
    x[0] = -2.0f;
    x[32] = -2.0f;
    CHECK(run(type_id::q4_0, x, 64).back == x);
    CHECK(run(type_id::f16, x, 64).back == x);
    CHECK(run(type_id::bf16, x, 64).back == x);
    CHECK(run(type_id::f32, x, 64).back == x);
    const std::vector<float> zeros(64, 0.0f);
    for (auto t : {type_id::q4_0, type_id::q4_1, type_id::q5_0, type_id::q5_1, type_id::q8_0})
        CHECK(run(t, zeros, 64).back == zeros);
}

TEST_CASE("templates and the runtime table give the same bytes, floats and dots") {
    const auto x = gaussian(4 * 256, 3);
    const auto a = gaussian(256, 4);
    std::vector<f::q4_1::block> q(4 * 8);
    lowbit::quantize<f::q4_1>(x, q, 256);
    std::vector<unsigned char> rq(lowbit::row_bytes(type_id::q4_1, 256) * 4);
    lowbit::quantize(type_id::q4_1, x.data(), rq.data(), 4, 256);
    CHECK(std::memcmp(q.data(), rq.data(), rq.size()) == 0);

    std::vector<float> back(x.size());
    lowbit::dequantize<f::q4_1>(q, back);
    CHECK(back == run(type_id::q4_1, x, 256).back);

    std::vector<f::q8_1::block> qa(8);
    lowbit::quantize<f::q8_1>(a, qa, 256);
    const float d1 = lowbit::dot<f::q4_1>(std::span(q).first(8), qa);
    const float d2 = lowbit::dot(type_id::q4_1, q.data(), qa.data(), 256);
    // The template uses the backend the compilation target enables, the table the one the CPU has:
    // dots may sum in another order, so they agree to float rounding (bytes and floats are exact).
    CHECK(d1 == doctest::Approx(d2).epsilon(1e-5));
    // q4_1 x q8_1 is defined per block as d_x*d_y*sum(q_x*q_y) + m_x*s_y, where s_y is the f16
    // sum the partner block stores; evaluate that definition in double.
    double expected = 0;
    for (int b = 0; b < 8; ++b) {
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            sumi += (q[b].qs[j] & 15) * qa[b].qs[j];
            sumi += (q[b].qs[j] >> 4) * qa[b].qs[j + 16];
        }
        expected += static_cast<double>(lowbit::to_f32(q[b].d)) * lowbit::to_f32(qa[b].d) * sumi +
                    static_cast<double>(lowbit::to_f32(q[b].m)) * lowbit::to_f32(qa[b].s);
    }
    CHECK(d1 == doctest::Approx(expected).epsilon(1e-5));

    // the matrix-vector form: the four rows against the same partner row, each as its own dot
    std::vector<float> out(4);
    lowbit::dot_rows<f::q4_1>(q, qa, out);
    std::vector<float> rt(4);
    lowbit::dot_rows(type_id::q4_1, q.data(), lowbit::row_bytes(type_id::q4_1, 256), qa.data(), rt.data(), 4, 256);
    for (std::size_t r = 0; r < 4; ++r) {
        const float one = lowbit::dot<f::q4_1>(std::span(q).subspan(8 * r, 8), qa);
        CHECK(out[r] == doctest::Approx(one).epsilon(1e-5));
        CHECK(rt[r] == doctest::Approx(one).epsilon(1e-5));
    }
    CHECK(out[0] == doctest::Approx(d1).epsilon(1e-5));
}
