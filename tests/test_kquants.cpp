// Properties of the K-quants (q2_K..q6_K) and their activation format q8_K: compile-time layout
// facts, the bit placement and scale packing rules, error bounds, exact scaling, the integer dot
// products agreeing with dequantization, and clear errors for bad row lengths. Bit-exactness with
// the reference is test_golden's job.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "support.hpp"
#include "roundtrip.hpp"

namespace f = lowbit::formats;
namespace kq = lowbit::formats::kquant;
using lowbit::type_id;

// ---- compile-time facts ---------------------------------------------------------------------
static_assert(sizeof(f::q2_K::block) == 84 && sizeof(f::q3_K::block) == 110 && sizeof(f::q4_K::block) == 144);
static_assert(sizeof(f::q5_K::block) == 176 && sizeof(f::q6_K::block) == 210 && sizeof(f::q8_K::block) == 292);
static_assert(lowbit::bits_per_weight<f::q2_K> == 2.625);
static_assert(lowbit::bits_per_weight<f::q3_K> == 3.4375);
static_assert(lowbit::bits_per_weight<f::q4_K> == 4.5);
static_assert(lowbit::bits_per_weight<f::q5_K> == 5.5);
static_assert(lowbit::bits_per_weight<f::q6_K> == 6.5625);
static_assert(lowbit::bits_per_weight<f::q8_K> == 9.125);
static_assert(lowbit::row_bytes<f::q4_K>(4096) == 16 * 144);
static_assert(lowbit::tensor_bytes<f::q6_K>(4096, 14336) == 4096ull / 256 * 210 * 14336);
static_assert(lowbit::dottable<f::q2_K> && lowbit::dottable<f::q3_K> && lowbit::dottable<f::q4_K>);
static_assert(lowbit::dottable<f::q5_K> && lowbit::dottable<f::q6_K>);
static_assert(lowbit::quantizable<f::q8_K> && lowbit::dequantizable<f::q8_K>);
static_assert(std::is_same_v<f::q4_K::partner, f::q8_K> && std::is_same_v<f::q8_K::partner, f::q8_K>);
// Code widths and symmetric offsets follow from the fields.
static_assert(f::q2_K::code_max == 3 && f::q3_K::code_max == 7 && f::q4_K::code_max == 15);
static_assert(f::q5_K::code_max == 31 && f::q6_K::code_max == 63);
static_assert(f::q3_K::code_offset == 4 && f::q6_K::code_offset == 32 && f::q4_K::code_offset == 0);
// Every code field covers the block's bytes for it exactly.
static_assert(kq::code_field<2, 128>::bytes == sizeof(f::block_q2_K::qs));
static_assert(kq::code_field<1, 256>::bytes == sizeof(f::block_q3_K::hmask));
static_assert(kq::code_field<4, 64>::bytes == sizeof(f::block_q4_K::qs));
static_assert(kq::code_field<4, 128>::bytes == sizeof(f::block_q6_K::ql));
static_assert(kq::code_field<2, 128>::bytes == sizeof(f::block_q6_K::qh));

namespace {

using lowbit_test::gaussian;
using lowbit_test::roundtrip;
using lowbit_test::run;

constexpr type_id weight_types[] = {type_id::q2_K, type_id::q3_K, type_id::q4_K, type_id::q5_K, type_id::q6_K};

/// Every placement of a field must be a bijection between (value, bit) and (byte, bit).
template <class Field>
bool placement_is_bijective() {
    std::vector<int> seen(Field::bytes * 8, 0);
    for (int v = 0; v < 256; ++v)
        for (int b = 0; b < Field::bits; ++b) {
            const int byte = Field::byte_of(v), bit = Field::shift_of(v) + b;
            if (byte < 0 || byte >= Field::bytes || bit >= 8) return false;
            ++seen[static_cast<std::size_t>(byte * 8 + bit)];
        }
    return std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; });
}

template <class Field>
void check_field_roundtrip(unsigned seed) {
    std::mt19937 rng(seed);
    std::uint8_t codes[256], bytes[Field::bytes], back[256] = {};
    for (auto& c : codes) c = static_cast<std::uint8_t>(rng() & Field::mask);
    Field::store(codes, 0, bytes);
    Field::load(bytes, 0, back);
    CHECK(std::memcmp(codes, back, 256) == 0);
}

template <class Packing, class Byte>
void check_packing_roundtrip(unsigned seed) {
    std::mt19937 rng(seed);
    for (int trial = 0; trial < 200; ++trial) {
        int sc[Packing::count], mn[Packing::count] = {}, sc2[Packing::count], mn2[Packing::count] = {};
        const int lo = Packing::min_value + Packing::offset, hi = Packing::max_value + Packing::offset;
        for (int j = 0; j < Packing::count; ++j) {
            sc[j] = lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo + 1));
            if (Packing::has_min) mn[j] = static_cast<int>(rng() % static_cast<unsigned>(Packing::max_value + 1));
        }
        if (trial == 0) std::fill(sc, sc + Packing::count, hi); // every bit set
        Byte bytes[16];
        Packing::encode(sc, mn, bytes);
        Packing::decode(bytes, sc2, mn2);
        REQUIRE(std::equal(sc, sc + Packing::count, sc2));
        REQUIRE(std::equal(mn, mn + Packing::count, mn2));
    }
}

double rel_rmse(const std::vector<float>& x, const std::vector<float>& back, const std::vector<float>* w = nullptr,
                std::size_t n_per_row = 1) {
    double e = 0, s = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double wi = w ? (*w)[i % n_per_row] : 1.0;
        e += wi * (back[i] - x[i]) * (back[i] - x[i]);
        s += wi * x[i] * x[i];
    }
    return std::sqrt(e / s);
}

} // namespace

TEST_CASE("code fields place every bit once and round-trip all codes") {
    CHECK(placement_is_bijective<kq::code_field<2, 128>>());
    CHECK(placement_is_bijective<kq::code_field<4, 64>>());
    CHECK(placement_is_bijective<kq::code_field<4, 128>>());
    CHECK(placement_is_bijective<kq::code_field<2, 128>>());
    CHECK(placement_is_bijective<kq::code_field<1, 256>>());
    check_field_roundtrip<kq::code_field<2, 128>>(1);
    check_field_roundtrip<kq::code_field<4, 64>>(2);
    check_field_roundtrip<kq::code_field<4, 128>>(3);
    check_field_roundtrip<kq::code_field<1, 256>>(4);
}

TEST_CASE("scale packings round-trip every code in range") {
    check_packing_roundtrip<kq::nibble_scale_min, std::uint8_t>(5);
    check_packing_roundtrip<kq::six_bit_scale_min, std::uint8_t>(6);
    check_packing_roundtrip<kq::six_bit_scales, std::uint8_t>(7);
    check_packing_roundtrip<kq::int8_scales, std::int8_t>(8);
}

TEST_CASE("the runtime table serves the K-quants and quantizes q8_K activations") {
    for (auto t : weight_types) {
        CAPTURE(lowbit::type_name(t));
        REQUIRE(lowbit::supports(t));
        const auto& o = lowbit::ops(t);
        CHECK(static_cast<bool>(o.quantize_row));
        CHECK(static_cast<bool>(o.dequantize_row));
        CHECK(static_cast<bool>(o.dot));
        CHECK(lowbit::dot_partner(t) == type_id::q8_K);
    }
    REQUIRE(lowbit::supports(type_id::q8_K));
    CHECK(lowbit::dot_partner(type_id::q8_K) == type_id::q8_K);
    CHECK(static_cast<bool>(lowbit::ops(type_id::q8_K).quantize_row));
    CHECK(lowbit::row_bytes(type_id::q4_K, 4096) == 16 * 144);
}

TEST_CASE("rows whose length is not a multiple of 256 are rejected with a clear error") {
    const std::vector<float> x(512, 1.0f);
    std::vector<unsigned char> q(4096);
    std::vector<float> out(512);
    for (auto t : {type_id::q2_K, type_id::q3_K, type_id::q4_K, type_id::q5_K, type_id::q6_K, type_id::q8_K}) {
        CAPTURE(lowbit::type_name(t));
        for (std::int64_t n : {32, 128, 255, 257, 384}) {
            CAPTURE(n);
            try {
                lowbit::quantize(t, x.data(), q.data(), 1, n);
                FAIL("quantize accepted a bad row length");
            } catch (const lowbit::error& e) {
                CHECK(e.code() == lowbit::errc::invalid_argument);
                CHECK(std::string(e.what()).find("256") != std::string::npos);
            }
            CHECK_THROWS_AS(lowbit::dequantize(t, q.data(), out.data(), n), lowbit::error);
            CHECK_THROWS_AS(lowbit::row_bytes(t, n), lowbit::error);
            if (t != type_id::q8_K) CHECK_THROWS_AS(lowbit::dot(t, q.data(), q.data(), n), lowbit::error);
        }
    }
}

TEST_CASE("relative RMSE shrinks with bits") {
    const auto x = gaussian(32 * 1024, 11);
    double prev = 1.0;
    // Gaussian data: q2_K is the coarsest, each further bit should at least nearly halve the error.
    for (auto t : {type_id::q2_K, type_id::q3_K, type_id::q4_K, type_id::q5_K, type_id::q6_K, type_id::q8_K}) {
        CAPTURE(lowbit::type_name(t));
        const double e = rel_rmse(x, run(t, x, 1024).back);
        CAPTURE(e);
        CHECK(e < 0.6 * prev);
        prev = e;
    }
    CHECK(rel_rmse(x, run(type_id::q2_K, x, 1024).back) < 0.35);
    CHECK(rel_rmse(x, run(type_id::q4_K, x, 1024).back) < 0.09);
    CHECK(rel_rmse(x, run(type_id::q6_K, x, 1024).back) < 0.025);
}

TEST_CASE("importance weights lower the weighted error") {
    const auto x = gaussian(64 * 512, 12);
    std::vector<float> w(512, 0.01f);
    for (std::size_t i = 0; i < w.size(); i += 7) w[i] = 10.0f;
    for (auto t : weight_types) {
        CAPTURE(lowbit::type_name(t));
        const double plain = rel_rmse(x, run(t, x, 512).back, &w, 512);
        const double weighted = rel_rmse(x, run(t, x, 512, w.data()).back, &w, 512);
        CAPTURE(plain);
        CAPTURE(weighted);
        CHECK(weighted < plain);
    }
}

TEST_CASE("q8_K: error within half a step, block sums, zero blocks") {
    auto x = gaussian(4 * 256, 13);
    std::fill(x.begin() + 512, x.begin() + 768, 0.0f); // block 2 is all zeros
    std::vector<f::block_q8_K> q(4);
    lowbit::quantize<f::q8_K>(x, q, 1024);
    std::vector<float> back(x.size());
    lowbit::dequantize<f::q8_K>(q, back);
    for (std::size_t b = 0; b < 4; ++b) {
        CAPTURE(b);
        float amax = 0;
        for (std::size_t j = 0; j < 256; ++j) amax = std::max(amax, std::fabs(x[256 * b + j]));
        CHECK(std::fabs(q[b].d) == doctest::Approx(amax / 127.0f).epsilon(1e-6));
        for (std::size_t j = 0; j < 256; ++j) REQUIRE(std::fabs(back[256 * b + j] - x[256 * b + j]) <= 0.5f * std::fabs(q[b].d) * 1.0001f);
        for (int g = 0; g < 16; ++g) {
            int s = 0;
            for (int l = 0; l < 16; ++l) s += q[b].qs[16 * g + l];
            CHECK(q[b].bsums[g] == s);
        }
    }
    CHECK(q[2].d == 0.0f);
    CHECK(std::all_of(back.begin() + 512, back.begin() + 768, [](float v) { return v == 0.0f; }));
}

TEST_CASE("scaling the input by a power of two scales the output exactly") {
    // Every step of the searches is a product, quotient, sum or comparison of values that all scale
    // by 2^k, so the codes are unchanged and d, dmin move by exactly 2^k (while they stay normal).
    const auto x = gaussian(2 * 512, 14);
    std::vector<float> w(512);
    std::mt19937 rng(15);
    std::uniform_real_distribution<float> u(0.1f, 4.0f);
    for (auto& v : w) v = u(rng);
    for (auto t : {type_id::q2_K, type_id::q3_K, type_id::q4_K, type_id::q5_K, type_id::q6_K, type_id::q8_K}) {
        for (const float* imatrix : {static_cast<const float*>(nullptr), static_cast<const float*>(w.data())}) {
            CAPTURE(lowbit::type_name(t));
            CAPTURE(imatrix != nullptr);
            for (float k : {0.25f, 8.0f}) {
                std::vector<float> xs(x.size());
                std::transform(x.begin(), x.end(), xs.begin(), [&](float v) { return v * k; });
                const auto a = run(t, x, 512, imatrix).back;
                auto b = run(t, xs, 512, imatrix).back;
                for (auto& v : b) v /= k;
                CHECK(a == b);
            }
        }
    }
}

TEST_CASE("degenerate inputs: zeros and constants") {
    const std::vector<float> zeros(512, 0.0f);
    std::vector<float> consts(512, 0.75f);
    std::fill(consts.begin() + 256, consts.end(), -1.5f);
    const std::vector<float> ones(512, 1.0f);
    for (auto t : weight_types) {
        CAPTURE(lowbit::type_name(t));
        CHECK(run(t, zeros, 256).back == zeros);
        CHECK(run(t, zeros, 256, ones.data()).back == zeros);
        // A constant block is one of the values a sub-block scale can hit up to f16 rounding.
        for (const float* imatrix : {static_cast<const float*>(nullptr), ones.data()}) {
            const auto r = run(t, consts, 256, imatrix);
            for (std::size_t i = 0; i < consts.size(); ++i) REQUIRE(std::fabs(r.back[i] - consts[i]) <= 0.02f * std::fabs(consts[i]));
        }
    }
    // q6_K stores a block of zeros as all-zero bytes.
    const auto r = run(type_id::q6_K, zeros, 256);
    CHECK(std::all_of(r.q.begin(), r.q.end(), [](unsigned char c) { return c == 0; }));
}

TEST_CASE("integer dot products equal the dot of the dequantized rows") {
    const auto x = gaussian(2 * 1024, 16);
    const auto act = gaussian(1024, 17, 3.0f);
    std::vector<unsigned char> qa(lowbit::row_bytes(type_id::q8_K, 1024));
    lowbit::quantize(type_id::q8_K, act.data(), qa.data(), 1, 1024);
    std::vector<float> a(1024);
    lowbit::dequantize(type_id::q8_K, qa.data(), a.data(), 1024);
    for (auto t : weight_types) {
        for (const float* imatrix : {static_cast<const float*>(nullptr), act.data()}) {
            CAPTURE(lowbit::type_name(t));
            std::vector<float> iw(1024);
            if (imatrix) std::transform(act.begin(), act.end(), iw.begin(), [](float v) { return v * v; });
            const auto r = run(t, x, 1024, imatrix ? iw.data() : nullptr);
            const auto rb = lowbit::row_bytes(t, 1024);
            for (std::size_t row = 0; row < 2; ++row) {
                double exact = 0, magnitude = 0;
                for (std::size_t i = 0; i < 1024; ++i) {
                    exact += static_cast<double>(r.back[row * 1024 + i]) * a[i];
                    magnitude += std::fabs(static_cast<double>(r.back[row * 1024 + i]) * a[i]);
                }
                const double ours = lowbit::dot(t, r.q.data() + row * rb, qa.data(), 1024);
                CHECK(std::fabs(ours - exact) <= 1e-5 * magnitude);
            }
        }
    }
}

TEST_CASE("templates, the scalar kernels and the runtime table agree") {
    // Quantized bytes and dequantized floats are exact whatever backend serves them; dots may be
    // summed in another order by a SIMD backend, so they agree within float rounding.
    const auto x = gaussian(2 * 512, 18);
    const auto act = gaussian(512, 19);
    std::vector<f::block_q8_K> qa(2), qa_scalar(2);
    lowbit::quantize<f::q8_K>(act, qa, 512);
    lowbit::kernels<f::q8_K, lowbit::backend::scalar>::quantize_row(act.data(), qa_scalar.data(), 512, nullptr);
    CHECK(std::memcmp(qa.data(), qa_scalar.data(), sizeof(f::block_q8_K) * 2) == 0);
    auto check = [&]<class F>(F) {
        using scalar = lowbit::kernels<F, lowbit::backend::scalar>;
        CAPTURE(lowbit::type_name(F::id));
        std::vector<typename F::block> q(4), qs(4);
        lowbit::quantize<F>(x, q, 512);
        for (int row = 0; row < 2; ++row) scalar::quantize_row(x.data() + 512 * row, qs.data() + 2 * row, 512, nullptr);
        const auto r = run(F::id, x, 512);
        CHECK(std::memcmp(q.data(), r.q.data(), r.q.size()) == 0);
        CHECK(std::memcmp(qs.data(), r.q.data(), r.q.size()) == 0);
        std::vector<float> back(x.size()), back_scalar(x.size());
        lowbit::dequantize<F>(q, back);
        scalar::dequantize_row(q.data(), back_scalar.data(), static_cast<std::int64_t>(x.size()));
        CHECK(back == r.back);
        CHECK(back_scalar == r.back);
        double magnitude = 0;
        std::vector<float> a(512);
        lowbit::dequantize<f::q8_K>(qa, a);
        for (std::size_t i = 0; i < 512; ++i) magnitude += std::fabs(static_cast<double>(back[i]) * a[i]);
        const double via_template = lowbit::dot<F>(std::span(q).first(2), qa);
        const double via_scalar = scalar::dot(q.data(), qa.data(), 512);
        const double via_runtime = lowbit::dot(F::id, q.data(), qa.data(), 512);
        CHECK(std::fabs(via_template - via_runtime) <= 1e-6 * magnitude);
        CHECK(std::fabs(via_scalar - via_runtime) <= 1e-6 * magnitude);
    };
    check(f::q2_K{});
    check(f::q3_K{});
    check(f::q4_K{});
    check(f::q5_K{});
    check(f::q6_K{});
}

TEST_CASE("arbitrary bytes decode without undefined behaviour") {
    // Blocks read from a file may hold any bits; decoding and dotting them must stay defined
    // (the sanitizer build checks) and give finite results when the f16 scales are finite.
    std::mt19937 rng(20);
    for (auto t : weight_types) {
        CAPTURE(lowbit::type_name(t));
        const auto rb = lowbit::row_bytes(t, 512);
        std::vector<unsigned char> q(rb);
        for (auto& c : q) c = static_cast<unsigned char>(rng());
        // force every f16 in the blocks finite by clearing the top exponent bit of each byte pair
        // at the positions of d (and dmin): simplest is to quantize real data and scramble the rest
        const auto x = gaussian(512, 21);
        std::vector<unsigned char> good(rb);
        lowbit::quantize(t, x.data(), good.data(), 1, 512);
        const auto block = rb / 2;
        for (std::size_t b = 0; b < 2; ++b) {
            // keep the scale fields (which sit at the start or end of the block) from the real data
            const std::size_t keep = (t == type_id::q4_K || t == type_id::q5_K) ? 4 : 0;
            const std::size_t keep_end = (t == type_id::q2_K) ? 4 : (t == type_id::q3_K || t == type_id::q6_K) ? 2 : 0;
            std::memcpy(q.data() + b * block, good.data() + b * block, keep);
            std::memcpy(q.data() + (b + 1) * block - keep_end, good.data() + (b + 1) * block - keep_end, keep_end);
        }
        std::vector<float> out(512);
        lowbit::dequantize(t, q.data(), out.data(), 512);
        CHECK(std::all_of(out.begin(), out.end(), [](float v) { return std::isfinite(v); }));
        std::vector<unsigned char> qa(lowbit::row_bytes(type_id::q8_K, 512));
        for (auto& c : qa) c = static_cast<unsigned char>(rng());
        std::vector<unsigned char> qa_good(qa.size());
        lowbit::quantize(type_id::q8_K, x.data(), qa_good.data(), 1, 512);
        std::memcpy(qa.data(), qa_good.data(), 4);             // finite d of block 0
        std::memcpy(qa.data() + 292, qa_good.data() + 292, 4); // and block 1
        CHECK(std::isfinite(lowbit::dot(t, q.data(), qa.data(), 512)));
    }
}

namespace {
template <class F>
void check_golden_scalar(const lowbit_test::golden_case& c) {
    using namespace lowbit_test;
    using scalar = lowbit::kernels<F, lowbit::backend::scalar>;
    using block = typename F::block;
    CAPTURE(c.type);
    CAPTURE(c.name);
    const auto dir = data_dir() / "golden";
    const auto src = read_array<float>(dir / "inputs" / (c.name + ".src.f32"));
    const auto imatrix = read_array<float>(dir / "inputs" / (c.name + ".imatrix.f32"));
    const auto act = read_array<float>(dir / "inputs" / (c.name + ".act.f32"));
    const std::int64_t n = c.nrows * c.n_per_row, nb = c.n_per_row / 256;
    const auto quantize_all = [&](const float* w) {
        std::vector<unsigned char> out(static_cast<std::size_t>(c.nrows * nb) * sizeof(block));
        for (std::int64_t r = 0; r < c.nrows; ++r)
            scalar::quantize_row(src.data() + r * c.n_per_row, reinterpret_cast<block*>(out.data()) + r * nb, c.n_per_row, w);
        return out;
    };
    const auto dequantize_all = [&](const std::vector<unsigned char>& q) {
        std::vector<float> out(static_cast<std::size_t>(n));
        scalar::dequantize_row(reinterpret_cast<const block*>(q.data()), out.data(), n);
        return out;
    };
    const auto ref_q = read_bytes(dir / c.type / (c.name + ".q"));
    const auto ref_qw = read_bytes(dir / c.type / (c.name + ".qw"));
    CHECK(quantize_all(nullptr) == ref_q);
    CHECK(quantize_all(imatrix.data()) == ref_qw);
    CHECK(same_bits(dequantize_all(ref_q), read_array<float>(dir / c.type / (c.name + ".deq.f32"))));
    CHECK(same_bits(dequantize_all(ref_qw), read_array<float>(dir / c.type / (c.name + ".deqw.f32"))));

    const auto act_ref = read_bytes(dir / c.type / (c.name + ".act.q"));
    std::vector<unsigned char> act_ours(act_ref.size());
    lowbit::kernels<lowbit::formats::q8_K, lowbit::backend::scalar>::quantize_row(
        act.data(), reinterpret_cast<lowbit::formats::block_q8_K*>(act_ours.data()), c.n_per_row, nullptr);
    CHECK(act_ours == act_ref);
    const auto dots = read_array<double>(dir / c.type / (c.name + ".dot.f64"));
    const auto w_deq = dequantize_all(ref_q);
    std::vector<float> a_deq(static_cast<std::size_t>(c.n_per_row));
    lowbit::kernels<lowbit::formats::q8_K, lowbit::backend::scalar>::dequantize_row(
        reinterpret_cast<const lowbit::formats::block_q8_K*>(act_ref.data()), a_deq.data(), c.n_per_row);
    for (std::int64_t r = 0; r < c.nrows; ++r) {
        const double exact = dots[static_cast<std::size_t>(2 * r)], reference = dots[static_cast<std::size_t>(2 * r + 1)];
        double magnitude = 0;
        for (std::int64_t i = 0; i < c.n_per_row; ++i)
            magnitude += std::fabs(static_cast<double>(w_deq[static_cast<std::size_t>(r * c.n_per_row + i)]) * a_deq[static_cast<std::size_t>(i)]);
        const double ours = scalar::dot(reinterpret_cast<const block*>(ref_q.data()) + r * nb,
                                        reinterpret_cast<const lowbit::formats::block_q8_K*>(act_ref.data()), c.n_per_row);
        CHECK(std::fabs(ours - exact) <= std::max(2 * std::fabs(reference - exact), 1e-5 * magnitude));
    }
}
} // namespace

TEST_CASE("the scalar kernels (the path SIMD backends must reproduce) match every golden K-quant case") {
    int cases = 0;
    for (const auto& c : lowbit_test::golden_manifest()) {
        if (c.type == "q2_K") check_golden_scalar<f::q2_K>(c);
        else if (c.type == "q3_K") check_golden_scalar<f::q3_K>(c);
        else if (c.type == "q4_K") check_golden_scalar<f::q4_K>(c);
        else if (c.type == "q5_K") check_golden_scalar<f::q5_K>(c);
        else if (c.type == "q6_K") check_golden_scalar<f::q6_K>(c);
        else continue;
        ++cases;
    }
    CHECK(cases == 50);
}

TEST_CASE("the lane-parallel affine search gives each group exactly the one-group search's result") {
    // Groups of every kind side by side: Gaussian, all negative, all positive, constant, zero,
    // one outlier, tiny and huge magnitudes; weights positive, zero and (for the search's own
    // sake) occasionally zero throughout.
    constexpr int N = 16, G = 16;
    std::mt19937 rng(30);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> u(0.0f, 2.0f);
    for (int trial = 0; trial < 40; ++trial) {
        float x[G * N], w[G * N];
        for (int g = 0; g < G; ++g) {
            const int kind = (g + trial) % 8;
            for (int i = 0; i < N; ++i) {
                float v = normal(rng);
                switch (kind) {
                    case 1: v = -std::fabs(v) - 0.1f; break;
                    case 2: v = std::fabs(v) + 0.1f; break;
                    case 3: v = 0.625f; break;
                    case 4: v = 0.0f; break;
                    case 5: v = i == 3 ? 20.0f : 0.01f * v; break;
                    case 6: v *= 1e-20f; break;
                    case 7: v *= 1e4f; break;
                    default: break;
                }
                x[g * N + i] = v;
                w[g * N + i] = (trial % 5 == 4 && g == 2) ? 0.0f : u(rng);
            }
        }
        for (const bool mad : {false, true}) {
            for (const int nmax : {3, 15, 31}) {
                std::uint8_t L_lanes[G * N], L_one[G * N], aux[N];
                float scale_lanes[G], min_lanes[G];
                lowbit::search::affine_codes_weighted_lanes<N, G>(nmax, x, w, L_lanes, scale_lanes, min_lanes, -0.9f, 0.05f,
                                                                   36, mad);
                for (int g = 0; g < G; ++g) {
                    CAPTURE(trial);
                    CAPTURE(g);
                    CAPTURE(nmax);
                    float the_min = 0;
                    const float scale = lowbit::search::affine_codes_weighted(N, nmax, x + g * N, w + g * N, L_one + g * N,
                                                                              &the_min, aux, -0.9f, 0.05f, 36, mad);
                    REQUIRE(std::memcmp(&scale, &scale_lanes[g], sizeof scale) == 0);
                    REQUIRE(std::memcmp(&the_min, &min_lanes[g], sizeof the_min) == 0);
                    REQUIRE(std::memcmp(L_one + g * N, L_lanes + g * N, N) == 0);
                }
            }
        }
    }
}

TEST_CASE("the lane-parallel symmetric search gives each group exactly the one-group search's result") {
    constexpr int N = 16, G = 16;
    std::mt19937 rng(31);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> u(0.0f, 2.0f);
    for (int trial = 0; trial < 40; ++trial) {
        float x[G * N], w[G * N];
        for (int g = 0; g < G; ++g) {
            const int kind = (g + trial) % 7;
            for (int i = 0; i < N; ++i) {
                float v = normal(rng);
                switch (kind) {
                    case 1: v = -std::fabs(v); break;
                    case 2: v = 0.625f; break;
                    case 3: v = 0.0f; break;
                    case 4: v = i == 5 ? -20.0f : 0.01f * v; break;
                    case 5: v *= 1e-16f; break;
                    case 6: v *= 1e4f; break;
                    default: break;
                }
                x[g * N + i] = v;
                w[g * N + i] = u(rng);
            }
        }
        for (const bool weighted : {false, true}) {
            for (const int nmax : {4, 32}) {
                std::int8_t L_lanes[G * N], L_one[G * N];
                float scale_lanes[G];
                lowbit::search::symmetric_codes_lanes<N, G>(nmax, x, weighted ? w : nullptr, L_lanes, scale_lanes);
                for (int g = 0; g < G; ++g) {
                    CAPTURE(trial);
                    CAPTURE(g);
                    CAPTURE(nmax);
                    const float scale = lowbit::search::symmetric_codes(N, nmax, x + g * N, L_one + g * N, 1,
                                                                        weighted ? w + g * N : nullptr);
                    REQUIRE(std::memcmp(&scale, &scale_lanes[g], sizeof scale) == 0);
                    REQUIRE(std::memcmp(L_one + g * N, L_lanes + g * N, N) == 0);
                }
            }
        }
    }
}
