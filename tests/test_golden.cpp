// Golden vectors from the reference implementation: bit-exact quantize (plain and with importance
// weights), bit-exact dequantize, partner quantization of activations, dots within tolerance.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include <lowbit/lowbit.hpp>

#include "support.hpp"

using namespace lowbit_test;

namespace {

std::vector<unsigned char> quantize_all(lowbit::type_id t, const std::vector<float>& src, std::int64_t nrows,
                                        std::int64_t n_per_row, const float* imatrix) {
    std::vector<unsigned char> out(lowbit::row_bytes(t, n_per_row) * static_cast<std::size_t>(nrows));
    const auto written = lowbit::quantize(t, src.data(), out.data(), nrows, n_per_row, imatrix);
    REQUIRE(written == out.size());
    return out;
}

std::vector<float> dequantize_all(lowbit::type_id t, const std::vector<unsigned char>& q, std::int64_t n) {
    std::vector<float> out(static_cast<std::size_t>(n));
    lowbit::dequantize(t, q.data(), out.data(), n);
    return out;
}

long first_byte_difference(const std::vector<unsigned char>& a, const std::vector<unsigned char>& b) {
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        if (a[i] != b[i]) return static_cast<long>(i);
    return a.size() == b.size() ? -1 : static_cast<long>(std::min(a.size(), b.size()));
}

} // namespace

TEST_CASE("golden vectors of every implemented type match the reference") {
    const auto dir = data_dir() / "golden";
    const auto cases = golden_manifest();
    REQUIRE(cases.size() > 100);

    std::set<std::string> tested, not_implemented;
    for (const auto& c : cases) {
        const auto t = static_cast<lowbit::type_id>(c.type_id);
        if (!lowbit::supports(t)) {
            not_implemented.insert(c.type);
            continue;
        }
        tested.insert(c.type);
        CAPTURE(c.type);
        CAPTURE(c.name);
        const auto src = read_array<float>(dir / "inputs" / (c.name + ".src.f32"));
        const auto imatrix = read_array<float>(dir / "inputs" / (c.name + ".imatrix.f32"));
        const auto act = read_array<float>(dir / "inputs" / (c.name + ".act.f32"));
        const std::int64_t n = c.nrows * c.n_per_row;
        REQUIRE(static_cast<std::int64_t>(src.size()) == n);

        if (c.has("q")) {
            const auto ref = read_bytes(dir / c.type / (c.name + ".q"));
            const auto ours = quantize_all(t, src, c.nrows, c.n_per_row, nullptr);
            CHECK_MESSAGE(first_byte_difference(ours, ref) == -1, "plain quantization differs");
            const auto deq = dequantize_all(t, ref, n);
            const auto ref_deq = read_array<float>(dir / c.type / (c.name + ".deq.f32"));
            CHECK_MESSAGE(first_difference(deq, ref_deq) == -1, "dequantization differs");
        }
        if (c.has("qw")) {
            const auto ref = read_bytes(dir / c.type / (c.name + ".qw"));
            const auto ours = quantize_all(t, src, c.nrows, c.n_per_row, imatrix.data());
            CHECK_MESSAGE(first_byte_difference(ours, ref) == -1, "weighted quantization differs");
            const auto deq = dequantize_all(t, ref, n);
            const auto ref_deq = read_array<float>(dir / c.type / (c.name + ".deqw.f32"));
            CHECK_MESSAGE(first_difference(deq, ref_deq) == -1, "dequantization of weighted differs");
        }
        if (c.has("act.q") && c.has("dot")) {
            const auto partner = lowbit::dot_partner(t);
            CHECK(lowbit::type_name(partner) == c.partner);
            const auto act_ref = read_bytes(dir / c.type / (c.name + ".act.q"));
            const auto act_ours = quantize_all(partner, act, 1, c.n_per_row, nullptr);
            CHECK_MESSAGE(first_byte_difference(act_ours, act_ref) == -1, "activation quantization differs");

            const auto weights = read_bytes(dir / c.type / (c.name + (c.has("q") ? ".q" : ".qw")));
            const auto dots = read_array<double>(dir / c.type / (c.name + ".dot.f64"));
            REQUIRE(dots.size() == static_cast<std::size_t>(2 * c.nrows));
            const auto rb = lowbit::row_bytes(t, c.n_per_row);
            const auto w_deq = dequantize_all(t, weights, n);
            const auto a_deq = dequantize_all(partner, act_ref, c.n_per_row);
            for (std::int64_t r = 0; r < c.nrows; ++r) {
                CAPTURE(r);
                const double exact = dots[2 * r], reference = dots[2 * r + 1];
                double magnitude = 0;
                for (std::int64_t i = 0; i < c.n_per_row; ++i)
                    magnitude += std::fabs(static_cast<double>(w_deq[r * c.n_per_row + i]) * a_deq[i]);
                const double ours = lowbit::dot(t, weights.data() + r * rb, act_ref.data(), c.n_per_row);
                const double tolerance = std::max(2 * std::fabs(reference - exact), 1e-5 * magnitude);
                CAPTURE(ours);
                CAPTURE(exact);
                CAPTURE(reference);
                CHECK(std::fabs(ours - exact) <= tolerance);
            }
        }
    }
    std::string skipped;
    for (const auto& s : not_implemented) skipped += s + " ";
    MESSAGE("golden: tested " << tested.size() << " types; not implemented in this build (reported, not tested): " << skipped);
    for (const char* must : {"f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K"}) {
        CAPTURE(must);
        CHECK(tested.count(must) == 1);
    }
}
