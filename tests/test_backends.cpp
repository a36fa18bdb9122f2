// Every backend the running CPU supports against the scalar path: quantize gives the same bytes,
// dequantize the same float bits, dots agree within float accuracy; and the golden vectors of
// the reference hold under each backend.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "support.hpp"

using namespace lowbit_test;

namespace {

/// Restores the backend that was active when it was made.
struct backend_guard {
    std::string saved{lowbit::active_backend()};
    ~backend_guard() { lowbit::set_backend(saved); }
};

std::vector<lowbit::type_id> implemented_types() {
    std::vector<lowbit::type_id> out;
    for (const auto& l : lowbit::all_type_layouts)
        if (lowbit::supports(l.id)) out.push_back(l.id);
    return out;
}

std::int64_t block_of(lowbit::type_id t) { return lowbit::find_layout(t)->block_size; }

/// Inputs that reach the corners of the quantizers: ties of magnitude with opposite signs,
/// signed zeros, constant blocks, exact halves after scaling, tiny and huge values.
/// Without `extremes`, no value near the float range (case 10 stays plain gaussian): the K-quant
/// searches take their fast paths only where every value of a batch is below 2^36.
std::vector<float> tricky_row(std::int64_t n, std::uint32_t seed, bool extremes = true) {
    auto x = gaussian_row(n, seed);
    for (std::int64_t b = 0; b + 32 <= n; b += 32) {
        float* p = x.data() + b;
        switch ((b / 32) % 12) {
        case 0: break; // plain gaussian
        case 1: for (int j = 0; j < 32; ++j) p[j] = 0.0f; break;
        case 2: for (int j = 0; j < 32; ++j) p[j] = (j % 3 == 0) ? -0.0f : 0.0f; break;
        case 3: p[5] = 4.0f; p[9] = -4.0f; p[20] = 4.0f; break;                       // amax tie, sign of the first wins
        case 4: for (int j = 0; j < 32; ++j) p[j] = static_cast<float>(j % 7) - 0.5f * static_cast<float>(j % 2); p[0] = 127.0f; break;
        case 5: for (int j = 0; j < 32; ++j) p[j] = 2.5f; break;                     // constant block
        case 6: for (int j = 0; j < 32; ++j) p[j] *= 1e-30f; break;                  // scales underflow f16
        case 7: for (int j = 0; j < 32; ++j) p[j] *= 3e4f; break;                    // near the f16 range
        case 8: for (int j = 0; j < 32; ++j) p[j] = std::fabs(p[j]); p[3] = 0.0f; p[4] = -0.0f; break; // min is a zero
        case 9: for (int j = 0; j < 32; ++j) p[j] = -std::fabs(p[j]); p[7] = -0.0f; break;            // max is a zero
        case 10: if (extremes) { p[2] = 3e38f; p[11] = -3e38f; } break;              // max - min overflows to inf
        case 11: for (int j = 0; j < 32; ++j) p[j] = static_cast<float>(j % 3) * 1e-45f; break; // denormal range: inf scale factors
        }
    }
    return x;
}

std::vector<unsigned char> quantize(lowbit::type_id t, const std::vector<float>& x, std::int64_t nrows, const float* w = nullptr) {
    const std::int64_t n_per_row = static_cast<std::int64_t>(x.size()) / nrows;
    std::vector<unsigned char> q(lowbit::row_bytes(t, n_per_row) * static_cast<std::size_t>(nrows));
    lowbit::quantize(t, x.data(), q.data(), nrows, n_per_row, w);
    return q;
}

std::vector<float> dequantize(lowbit::type_id t, const std::vector<unsigned char>& q, std::int64_t n) {
    std::vector<float> y(static_cast<std::size_t>(n));
    lowbit::dequantize(t, q.data(), y.data(), n);
    return y;
}

/// Index of the first differing float, a NaN matching any NaN: which NaN comes out of an
/// operation on two NaNs depends on the operand order the compiler picks, in the scalar path too.
long first_difference_nan_any(const std::vector<float>& a, const std::vector<float>& b) {
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        if (!(std::isnan(a[i]) && std::isnan(b[i])) && std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return static_cast<long>(i);
    return a.size() == b.size() ? -1 : static_cast<long>(std::min(a.size(), b.size()));
}

long first_byte_difference(const std::vector<unsigned char>& a, const std::vector<unsigned char>& b) {
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        if (a[i] != b[i]) return static_cast<long>(i);
    return a.size() == b.size() ? -1 : static_cast<long>(std::min(a.size(), b.size()));
}

/// The exact dot of two dequantized rows and the scale a float-accuracy error is measured in.
std::pair<double, double> exact_dot(const std::vector<float>& a, const std::vector<float>& b) {
    double sum = 0, mag = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        sum += static_cast<double>(a[i]) * b[i];
        mag += std::fabs(static_cast<double>(a[i]) * b[i]);
    }
    return {sum, mag};
}

} // namespace

TEST_CASE("backend selection: scalar is always there, unknown and unsupported names are refused") {
    const auto backends = lowbit::available_backends();
    REQUIRE(!backends.empty());
    CHECK(backends.back() == "scalar");
    CHECK(lowbit::active_backend() == backends.front()); // the best one is the default (no LOWBIT_BACKEND in ctest)
    backend_guard guard;
    CHECK_THROWS_AS(lowbit::set_backend("no-such-backend"), lowbit::error);
    for (const auto& b : backends) {
        lowbit::set_backend(b);
        CHECK(lowbit::active_backend() == b);
    }
    lowbit::set_backend("scalar");
    for (const auto t : implemented_types()) {
        const auto& o = lowbit::ops(t);
        CAPTURE(lowbit::type_name(t));
        REQUIRE(static_cast<bool>(o.dequantize_row));
        CHECK(std::string(o.dequantize_backend) == "scalar");
        REQUIRE(static_cast<bool>(o.quantize_row));
        CHECK(std::string(o.quantize_backend) == "scalar");
        if (o.dot) CHECK(std::string(o.dot_backend) == "scalar");
    }
}

TEST_CASE("the runtime table uses a SIMD kernel where the CPU has one") {
    const auto backends = lowbit::available_backends();
    if (backends.size() == 1) {
        MESSAGE("only the scalar backend runs on this CPU: nothing to compare");
        CHECK(lowbit::active_backend() == "scalar");
        return;
    }
    backend_guard guard;
    lowbit::set_backend(backends.front());
    const auto& o = lowbit::ops(lowbit::type_id::q4_0);
    CHECK(std::string(o.dequantize_backend) != "scalar");
    CHECK(std::string(o.dot_backend) != "scalar");
    CHECK(std::string(o.quantize_backend) != "scalar");
}

TEST_CASE("every backend quantizes and dequantizes exactly like the scalar path") {
    backend_guard guard;
    const std::int64_t nrows = 3;
    // 1024: whole groups of eight blocks (four super-blocks, a whole batch of the K-quant
    // searches); 1120: 35 blocks of 32, so the kernels' tails run too; 1280 and 256: five and one
    // super-blocks, short last batches
    for (const auto t : implemented_types()) {
      for (const std::int64_t n_per_row : {std::int64_t{1024}, std::int64_t{1120}, std::int64_t{1280}, std::int64_t{256}}) {
        if (n_per_row % block_of(t) != 0) continue;
        CAPTURE(lowbit::type_name(t));
        CAPTURE(n_per_row);
        const auto x = tricky_row(nrows * n_per_row, 7u + static_cast<std::uint32_t>(t));
        std::vector<float> w(static_cast<std::size_t>(n_per_row));
        std::mt19937 rng(3);
        std::uniform_real_distribution<float> u(0.1f, 2.0f);
        for (auto& v : w) v = u(rng);

        lowbit::set_backend("scalar");
        const auto q_ref = quantize(t, x, nrows);
        const auto qw_ref = quantize(t, x, nrows, w.data());
        const auto deq_ref = dequantize(t, q_ref, nrows * n_per_row);
        // arbitrary bytes too: NaN and Inf scales, every code pattern
        std::vector<unsigned char> noise(q_ref.size());
        std::mt19937 bytes(11);
        for (auto& b : noise) b = static_cast<unsigned char>(bytes() & 0xFF);
        const auto noise_ref = dequantize(t, noise, nrows * n_per_row);

        for (const auto& b : lowbit::available_backends()) {
            CAPTURE(b);
            lowbit::set_backend(b);
            CHECK(first_byte_difference(quantize(t, x, nrows), q_ref) == -1);
            CHECK(first_byte_difference(quantize(t, x, nrows, w.data()), qw_ref) == -1);
            CHECK(first_difference(dequantize(t, q_ref, nrows * n_per_row), deq_ref) == -1);
            CHECK(first_difference_nan_any(dequantize(t, noise, nrows * n_per_row), noise_ref) == -1);
        }
      }
    }
}

namespace {
/// x quantized by the scalar path; every other backend must write the same bytes.
std::vector<unsigned char> quantize_alike_in_every_backend(lowbit::type_id t, const std::vector<float>& x, std::int64_t nrows) {
    lowbit::set_backend("scalar");
    auto q_ref = quantize(t, x, nrows);
    for (const auto& b : lowbit::available_backends()) {
        CAPTURE(b);
        lowbit::set_backend(b);
        CHECK(first_byte_difference(quantize(t, x, nrows), q_ref) == -1);
    }
    return q_ref;
}
} // namespace

TEST_CASE("every backend quantizes rows without extreme values exactly like the scalar path") {
    // the searches' fast paths (q3_K's step that proves no code moves without a division) run
    // only on such batches; rows at three scales, the corners of tricky_row but the huge values
    backend_guard guard;
    const std::int64_t nrows = 4, n_per_row = 1024;
    for (const auto t : implemented_types()) {
        if (n_per_row % block_of(t) != 0) continue;
        CAPTURE(lowbit::type_name(t));
        for (const float scale : {1.0f, 1e-3f, 7e3f}) {
            CAPTURE(scale);
            auto x = tricky_row(nrows * n_per_row, 19u + static_cast<std::uint32_t>(t), false);
            for (auto& v : x) v *= scale;
            quantize_alike_in_every_backend(t, x, nrows);
        }
    }
}

TEST_CASE("codes whose product lands on a half past the end of the range are clamped alike in every backend") {
    // The searches leave a clamp out where no product of a candidate can round past the code
    // range; a product of exactly nmax - 1/2 (which rounds to even, past it) or -nmax - 1/2 must
    // still be clamped (half_product_rows, support.hpp).
    backend_guard guard;
    const auto rows = half_product_rows();
    for (const auto& r : rows) {
        CAPTURE(r.what);
        quantize_alike_in_every_backend(r.type, r.x, 1);
    }
    CHECK(rows.size() >= 20);
    MESSAGE(rows.size() << " rows with a product on a half");
}

TEST_CASE("blocks whose inverse scale overflows get code 0 under every backend") {
    // values below ~4e-37: d < 2^-128, 1 / d is infinite, and value * (1 / d) converts to no
    // integer; the reference on x86 stores code 0 for every value there (see scale_overflows)
    backend_guard guard;
    std::vector<float> x(64);
    for (std::size_t j = 0; j < x.size(); ++j) x[j] = static_cast<float>(j % 5) * (j % 2 ? -3e-42f : 3e-42f);
    for (const auto t : {lowbit::type_id::q8_0, lowbit::type_id::q8_1, lowbit::type_id::q4_0, lowbit::type_id::q4_1, lowbit::type_id::q5_0,
                         lowbit::type_id::q5_1}) {
        CAPTURE(lowbit::type_name(t));
        const auto q_ref = quantize_alike_in_every_backend(t, x, 1);
        lowbit::set_backend("scalar");
        for (const auto v : dequantize(t, q_ref, 64)) CHECK(v == 0.0f); // d is 0 in f16, and no code is garbage
        const std::size_t code_bytes = t == lowbit::type_id::q8_0 || t == lowbit::type_id::q8_1 ? 32 : 16;
        const std::size_t head = lowbit::row_bytes(t, 32) - code_bytes; // scales (and qh) ahead of the codes
        for (std::size_t b = 0; b < 2; ++b)
            for (std::size_t j = 0; j < code_bytes; ++j) CHECK(q_ref[b * lowbit::row_bytes(t, 32) + head + j] == 0);
    }
    // q8_K (the K-quants' partner): -127 / max is infinite itself; every product is then an
    // infinity or (for a zero) NaN, which the reference's rounding turns into code 0 (a vector
    // conversion would give -128 or 127), and the sums of 16 are 0
    std::vector<float> xk(256);
    for (std::size_t j = 0; j < xk.size(); ++j) xk[j] = static_cast<float>(j % 5) * (j % 2 ? -3e-42f : 3e-42f);
    const auto qk = quantize_alike_in_every_backend(lowbit::type_id::q8_K, xk, 1);
    for (std::size_t j = 4; j < qk.size(); ++j) CHECK(qk[j] == 0); // after d (a zero): codes, sums
}

TEST_CASE("every backend dequantizes blocks with special scales exactly like the scalar path") {
    // Two adjacent f16 fields set to special values (signed zeros, a subnormal, the largest
    // finite, infinities, NaN) at every even offset of a block: wherever a format keeps its
    // scale and min (d and m, d and dmin), each pair of special values meets every code.
    // The table dequantizers compute a block's possible values once: this is where a sign of a
    // zero or a NaN would come out differently from the scalar path's value-by-value operations.
    backend_guard guard;
    const std::uint16_t specials[] = {0x0000, 0x8000, 0x0001, 0xBE00, 0x7BFF, 0x7C00, 0xFC00, 0x7E00};
    for (const auto t : implemented_types()) {
        const std::int64_t bs = block_of(t);
        if (bs < 32) continue; // the float formats: their special values have a test of their own
        CAPTURE(lowbit::type_name(t));
        const std::size_t bytes = lowbit::row_bytes(t, bs);
        std::vector<unsigned char> blocks;
        std::mt19937 rng(static_cast<std::uint32_t>(t) + 101u);
        for (std::size_t at = 0; at + 4 <= bytes; at += 2)
            for (const auto a : specials)
                for (const auto b : specials) {
                    std::vector<unsigned char> block(bytes);
                    for (auto& c : block) c = static_cast<unsigned char>(rng() & 0xFF);
                    std::memcpy(block.data() + at, &a, 2);
                    std::memcpy(block.data() + at + 2, &b, 2);
                    blocks.insert(blocks.end(), block.begin(), block.end());
                }
        const std::int64_t n = static_cast<std::int64_t>(blocks.size() / bytes) * bs;
        lowbit::set_backend("scalar");
        const auto ref = dequantize(t, blocks, n);
        for (const auto& be : lowbit::available_backends()) {
            CAPTURE(be);
            lowbit::set_backend(be);
            CHECK(first_difference_nan_any(dequantize(t, blocks, n), ref) == -1);
        }
    }
}

TEST_CASE("the float formats convert special values the same way in every backend") {
    backend_guard guard;
    std::vector<float> x;
    const float specials[] = {0.0f, -0.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                              std::numeric_limits<float>::quiet_NaN(), std::bit_cast<float>(0x7f800001u), std::bit_cast<float>(0xffc12345u),
                              65504.0f, 65520.0f, 65519.996f, 6.1e-5f, 5.96e-8f, 2.98e-8f, 2.99e-8f, 1e-45f, 3.4e38f,
                              std::bit_cast<float>(0x3f808000u), std::bit_cast<float>(0x3f818000u), std::bit_cast<float>(0x3f807fffu),
                              // subnormals: the largest (rounds up to the smallest normal bf16), ties, a negative one
                              std::bit_cast<float>(0x007fffffu), std::bit_cast<float>(0x00008000u), std::bit_cast<float>(0x00018000u),
                              std::bit_cast<float>(0x80012345u)};
    for (int rep = 0; rep < 5; ++rep)
        for (float v : specials) x.push_back(v);
    while (x.size() % 32 != 0) x.push_back(1.0f / static_cast<float>(x.size()));
    for (const auto t : {lowbit::type_id::f16, lowbit::type_id::bf16, lowbit::type_id::f32}) {
        CAPTURE(lowbit::type_name(t));
        lowbit::set_backend("scalar");
        const auto q_ref = quantize(t, x, 1);
        const auto deq_ref = dequantize(t, q_ref, static_cast<std::int64_t>(x.size()));
        for (const auto& b : lowbit::available_backends()) {
            CAPTURE(b);
            lowbit::set_backend(b);
            const auto q = quantize(t, x, 1);
            CHECK(first_byte_difference(q, q_ref) == -1);
            CHECK(first_difference(dequantize(t, q, static_cast<std::int64_t>(x.size())), deq_ref) == -1);
            const auto m = static_cast<std::int64_t>(x.size()) - 7; // a tail shorter than any vector loop's step
            CHECK(first_difference(dequantize(t, q, m), std::vector<float>(deq_ref.begin(), deq_ref.begin() + m)) == -1);
        }
    }
}

TEST_CASE("every backend's multi-row dot agrees with the exact dot of each row") {
    backend_guard guard;
    for (const auto t : implemented_types()) {
        if (!lowbit::ops(t).dot) continue;
        const auto partner = lowbit::dot_partner(t);
        for (const std::int64_t n : {std::int64_t{256}, std::int64_t{2048} + 96, std::int64_t{2048} + 352, std::int64_t{1029}}) { // 1029: the float formats' tails past 64, 32 and 16 values
            if (n % block_of(t) != 0 || n % block_of(partner) != 0) continue;
            const std::size_t rb = lowbit::row_bytes(t, n);
            for (const std::int64_t nrows : {1, 3, 4, 5, 11}) {
                for (const std::size_t pad : {std::size_t{0}, std::size_t{36}}) {
                    CAPTURE(lowbit::type_name(t));
                    CAPTURE(n);
                    CAPTURE(nrows);
                    CAPTURE(pad);
                    std::mt19937 rng(static_cast<std::uint32_t>(n * 31 + nrows) + static_cast<std::uint32_t>(t));
                    std::normal_distribution<float> g(0.0f, 1.0f);
                    std::vector<float> a(static_cast<std::size_t>(n)), x(static_cast<std::size_t>(n));
                    for (auto& v : a) v = g(rng);
                    lowbit::set_backend("scalar");
                    const auto qa = quantize(partner, a, 1);
                    const auto deq_a = dequantize(partner, qa, n);
                    const std::size_t stride = rb + pad; // 36: keeps every block type's alignment
                    std::vector<unsigned char> rows(stride * static_cast<std::size_t>(nrows), 0xA5);
                    std::vector<std::pair<double, double>> exact;
                    for (std::int64_t r = 0; r < nrows; ++r) {
                        for (auto& v : x) v = g(rng) * static_cast<float>(1 + r); // rows of different scales
                        const auto q = quantize(t, x, 1);
                        std::copy(q.begin(), q.end(), rows.begin() + static_cast<std::ptrdiff_t>(stride * static_cast<std::size_t>(r)));
                        exact.push_back(exact_dot(dequantize(t, q, n), deq_a));
                    }
                    for (const auto& b : lowbit::available_backends()) {
                        CAPTURE(b);
                        lowbit::set_backend(b);
                        std::vector<float> out(static_cast<std::size_t>(nrows) + 1, -7.0f);
                        lowbit::dot_rows(t, rows.data(), stride, qa.data(), out.data(), nrows, n);
                        const double tolerance_rel = partner == lowbit::type_id::q8_1 ? 1e-3 : 2e-5;
                        for (std::int64_t r = 0; r < nrows; ++r) {
                            const auto [e, mag] = exact[static_cast<std::size_t>(r)];
                            CHECK(std::fabs(out[static_cast<std::size_t>(r)] - e) <= tolerance_rel * mag + 1e-6);
                        }
                        CHECK(out.back() == -7.0f); // nothing written past the last row
                    }
                }
            }
        }
    }
}

TEST_CASE("every backend's dot agrees with the exact dot of the dequantized rows") {
    backend_guard guard;
    for (const auto t : implemented_types()) {
        if (!lowbit::ops(t).dot) {
            CHECK(lowbit::find_layout(t)->id == lowbit::type_id::q8_K); // the only type without a dot of its own
            continue;
        }
        const auto partner = lowbit::dot_partner(t);
        for (const std::int64_t n : {std::int64_t{256}, std::int64_t{4096} + 256, std::int64_t{4096} + 96, std::int64_t{4096} + 352}) {
            CAPTURE(lowbit::type_name(t));
            CAPTURE(n);
            if (n % block_of(t) != 0 || n % block_of(partner) != 0) continue;
            std::mt19937 rng(static_cast<std::uint32_t>(n) + static_cast<std::uint32_t>(t));
            std::normal_distribution<float> g(0.0f, 1.0f);
            std::vector<float> x(static_cast<std::size_t>(n)), a(static_cast<std::size_t>(n));
            for (auto& v : x) v = g(rng);
            for (auto& v : a) v = g(rng);
            lowbit::set_backend("scalar");
            const auto qx = quantize(t, x, 1);
            const auto qa = quantize(partner, a, 1);
            const auto [exact, mag] = exact_dot(dequantize(t, qx, n), dequantize(partner, qa, n));
            for (const auto& b : lowbit::available_backends()) {
                CAPTURE(b);
                lowbit::set_backend(b);
                const double got = lowbit::dot(t, qx.data(), qa.data(), n);
                // float rounding of a sum of n terms; the partner's stored f16 sum (q8_1) adds
                // up to a relative 2^-11 of each block's min term
                const double tolerance = (partner == lowbit::type_id::q8_1 ? 1e-3 : 2e-5) * mag + 1e-6;
                CHECK(std::fabs(got - exact) <= tolerance);
            }
        }
    }
}

TEST_CASE("the golden vectors of the reference hold under every backend") {
    backend_guard guard;
    const auto dir = data_dir() / "golden";
    const auto cases = golden_manifest();
    REQUIRE(!cases.empty());
    int checked = 0;
    for (const auto& b : lowbit::available_backends()) {
        lowbit::set_backend(b);
        for (const auto& c : cases) {
            const auto t = static_cast<lowbit::type_id>(c.type_id);
            if (!lowbit::supports(t) || !c.has("q")) continue;
            CAPTURE(b);
            CAPTURE(c.type);
            CAPTURE(c.name);
            const auto src = read_array<float>(dir / "inputs" / (c.name + ".src.f32"));
            CHECK(first_byte_difference(quantize(t, src, c.nrows), read_bytes(dir / c.type / (c.name + ".q"))) == -1);
            const auto ref = read_bytes(dir / c.type / (c.name + ".q"));
            CHECK(first_difference(dequantize(t, ref, c.nrows * c.n_per_row), read_array<float>(dir / c.type / (c.name + ".deq.f32"))) == -1);
            if (c.has("act.q")) {
                const auto act = read_array<float>(dir / "inputs" / (c.name + ".act.f32"));
                CHECK(first_byte_difference(quantize(lowbit::dot_partner(t), act, 1), read_bytes(dir / c.type / (c.name + ".act.q"))) == -1);
            }
            ++checked;
        }
    }
    CHECK(checked > 0);
}

TEST_CASE("the compile-time choice gives the scalar path's bytes") {
    namespace f = lowbit::formats;
    const auto x = tricky_row(512, 5);
    std::vector<f::block_q4_1> a(16), b(16);
    lowbit::quantize<f::q4_1>(x, a, 512);
    lowbit::quantize<f::q4_1, lowbit::backend::scalar>(x, b, 512);
    CHECK(std::memcmp(a.data(), b.data(), sizeof(f::block_q4_1) * a.size()) == 0);
    std::vector<float> ya(512), yb(512);
    lowbit::dequantize<f::q4_1>(a, ya);
    lowbit::dequantize<f::q4_1, lowbit::backend::scalar>(a, yb);
    CHECK(first_difference(ya, yb) == -1);
}

TEST_CASE("dequantizing a large aligned tensor (streamed stores or not) gives the scalar path's floats") {
    backend_guard guard;
    const bool default_streaming = lowbit::streaming_stores();
    const std::int64_t n = std::int64_t{1} << 21; // 8 MiB of floats: past the streaming threshold
    auto* raw = static_cast<float*>(::operator new(static_cast<std::size_t>(n) * 4, std::align_val_t{64}));
    std::vector<float> ref(static_cast<std::size_t>(n));
    for (const auto t : implemented_types())
    for (const bool streaming : {true, false}) {
        lowbit::set_streaming_stores(streaming);
        CAPTURE(streaming);
        CAPTURE(lowbit::type_name(t));
        std::vector<unsigned char> q(lowbit::row_bytes(t, n));
        std::mt19937 bytes(5);
        for (auto& b : q) b = static_cast<unsigned char>(bytes() & 0xFF);
        lowbit::set_backend("scalar");
        lowbit::dequantize(t, q.data(), ref.data(), n);
        for (const auto& b : lowbit::available_backends()) {
            CAPTURE(b);
            lowbit::set_backend(b);
            lowbit::dequantize(t, q.data(), raw, n);
            CHECK(first_difference_nan_any(std::vector<float>(raw, raw + n), ref) == -1);
        }
    }
    lowbit::set_streaming_stores(default_streaming);
    CHECK(lowbit::streaming_stores() == default_streaming);
    ::operator delete(raw, std::align_val_t{64});
}

TEST_CASE("the compile-time choice follows the target's instruction sets") {
    namespace f = lowbit::formats;
    using deq = lowbit::compile_time_backend_for<f::q4_0, lowbit::kernel_op::dequantize>;
    using dot = lowbit::compile_time_backend_for<f::q4_K, lowbit::kernel_op::dot>;
    using quant_k = lowbit::compile_time_backend_for<f::q4_K, lowbit::kernel_op::quantize>;
    CHECK(deq::target_enabled);
#if defined(LOWBIT_HAS_X86_BACKENDS)
    CHECK(std::is_same_v<quant_k, lowbit::backend::avx512> == lowbit::backend::avx512::target_enabled);
    CHECK(std::is_same_v<quant_k, lowbit::backend::avx2> == (lowbit::backend::avx2::target_enabled && !lowbit::backend::avx512::target_enabled));
    CHECK(std::is_same_v<quant_k, lowbit::backend::scalar> == !lowbit::backend::avx2::target_enabled);
    CHECK(std::is_same_v<deq, lowbit::backend::scalar> == !lowbit::backend::avx2::target_enabled);
    CHECK(std::is_same_v<deq, lowbit::backend::avx512> == lowbit::backend::avx512::target_enabled);
    // every K-quant's dot has a VNNI kernel; f16's dot skips avx512vnni, which has none for it
    using dot6 = lowbit::compile_time_backend_for<f::q6_K, lowbit::kernel_op::dot>;
    CHECK(std::is_same_v<dot6, dot>);
    using dot_f16 = lowbit::compile_time_backend_for<f::f16, lowbit::kernel_op::dot>;
    CHECK(std::is_same_v<dot_f16, lowbit::backend::avx512> == lowbit::backend::avx512::target_enabled);
    CHECK(std::is_same_v<dot, lowbit::backend::avx512vnni> == lowbit::backend::avx512vnni::target_enabled);
    CHECK(std::is_same_v<dot, lowbit::backend::avx2> == (lowbit::backend::avx2::target_enabled && !lowbit::backend::avx512vnni::target_enabled));
#elif defined(LOWBIT_HAS_NEON_BACKEND)
    CHECK(std::is_same_v<deq, lowbit::backend::neon>);
    CHECK(std::is_same_v<quant_k, lowbit::backend::neon>);
#endif
    MESSAGE("q4_0 dequantize at compile time: " << std::string(deq::name) << "; q4_K dot: " << std::string(dot::name)
            << "; q4_K quantize: " << std::string(quant_k::name));
}

#if defined(LOWBIT_HAS_X86_BACKENDS)
namespace {
template <class P>
struct kq : lowbit::formats::kquant_format<P> {
    using policy = P;
};

// (the kernels are compiled for their instruction sets: so are their callers)
template <class K, class B>
LOWBIT_TARGET_AVX512VNNI __attribute__((noinline)) float dot_256(const B* x, const lowbit::formats::block_q8_K* y, std::int64_t n) {
    float out = 0;
    lowbit::x86::kquant_dot_rows_vnni256<K, 1>(std::array<const B*, 1>{x}, y, &out, n);
    return out;
}
template <class K, class B>
LOWBIT_TARGET_AVX512VNNI __attribute__((noinline)) float dot_512(const B* x, const lowbit::formats::block_q8_K* y, std::int64_t n) {
    return lowbit::x86::kquant_dot_vnni512<K>(x, y, n);
}

template <class P>
void check_both_widths(lowbit::type_id t) {
    using K = kq<P>;
    using block = typename P::block;
    const std::int64_t n = 1280; // five super-blocks
    std::mt19937 rng(static_cast<std::uint32_t>(t));
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> x(static_cast<std::size_t>(n)), a(static_cast<std::size_t>(n));
    for (auto& v : x) v = g(rng);
    for (auto& v : a) v = g(rng);
    const auto q = quantize(t, x, 1);
    const auto qa = quantize(lowbit::type_id::q8_K, a, 1);
    const auto [e, mag] = exact_dot(dequantize(t, q, n), dequantize(lowbit::type_id::q8_K, qa, n));
    const auto* xb = reinterpret_cast<const block*>(q.data());
    const auto* yb = reinterpret_cast<const lowbit::formats::block_q8_K*>(qa.data());
    const float narrow = dot_256<K>(xb, yb, n);
    const float wide = dot_512<K>(xb, yb, n);
    CHECK(std::fabs(narrow - e) <= 2e-5 * mag + 1e-6);
    CHECK(std::fabs(wide - e) <= 2e-5 * mag + 1e-6);
}
} // namespace

TEST_CASE("q4_K and q5_K dot in both vector widths, whichever the CPU's vendor picks") {
    // the runtime table takes one of them by vendor (wide_kquant_dots); each must be right
    if (!lowbit::cpu().avx512vnni || !lowbit::cpu().avx512bw || !lowbit::cpu().avx512vl || !lowbit::cpu().avx512dq) {
        MESSAGE("skipped: no AVX-512 VNNI on this CPU");
        return;
    }
    check_both_widths<lowbit::formats::q4_K_policy>(lowbit::type_id::q4_K);
    check_both_widths<lowbit::formats::q5_K_policy>(lowbit::type_id::q5_K);
}
#endif
