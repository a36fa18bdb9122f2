// The checked, type-erased API: supported types, sizes, and clear errors for bad arguments.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "support.hpp"

using lowbit::type_id;

using lowbit_test::contains;
using lowbit_test::error_of;

TEST_CASE("type numbers are the GGUF ones") {
    CHECK(static_cast<int>(type_id::f32) == 0);
    CHECK(static_cast<int>(type_id::q4_0) == 2);
    CHECK(static_cast<int>(type_id::q8_1) == 9);
    CHECK(static_cast<int>(type_id::q2_K) == 10);
    CHECK(static_cast<int>(type_id::bf16) == 30);
    CHECK(lowbit::type_name(type_id::q5_1) == "q5_1");
    CHECK(lowbit::type_from_name("Q4_K") == type_id::q4_K);
    CHECK(!lowbit::type_from_name("q4_2").has_value());
}

TEST_CASE("supports, row_bytes and partners of the foundation formats") {
    for (auto t : {type_id::f32, type_id::f16, type_id::bf16, type_id::q4_0, type_id::q4_1, type_id::q5_0, type_id::q5_1,
                   type_id::q8_0, type_id::q8_1})
        CHECK(lowbit::supports(t));
    CHECK(!lowbit::supports(static_cast<type_id>(4)));
    CHECK(!lowbit::supports(static_cast<type_id>(1000)));
    CHECK(lowbit::row_bytes(type_id::q4_0, 4096) == 4096 / 32 * 18);
    CHECK(lowbit::row_bytes(type_id::q8_1, 64) == 72);
    CHECK(lowbit::row_bytes(type_id::f16, 3) == 6);
    CHECK(lowbit::row_bytes(type_id::iq4_xs, 256) == 136); // layout known even where not implemented
    CHECK(lowbit::dot_partner(type_id::q4_0) == type_id::q8_0);
    CHECK(lowbit::dot_partner(type_id::q5_1) == type_id::q8_1);
    CHECK(lowbit::dot_partner(type_id::f16) == type_id::f16);
    CHECK(lowbit::dot_partner(type_id::bf16) == type_id::bf16);
    CHECK(lowbit::dot_partner(type_id::q8_0) == type_id::q8_0);
}

TEST_CASE("invalid arguments raise lowbit::error naming the problem") {
    std::vector<float> x(64, 1.0f);
    std::vector<unsigned char> q(1024);
    lowbit::errc code{};

    auto msg = error_of([&] { lowbit::quantize(type_id::q4_0, x.data(), q.data(), 1, 48); }, &code);
    CHECK(code == lowbit::errc::invalid_argument);
    CHECK(contains(msg, "48"));
    CHECK(contains(msg, "block size 32"));

    msg = error_of([&] { lowbit::quantize(type_id::q4_0, nullptr, q.data(), 1, 32); }, &code);
    CHECK(contains(msg, "null"));
    msg = error_of([&] { lowbit::quantize(type_id::q4_0, x.data(), nullptr, 1, 32); });
    CHECK(contains(msg, "null"));
    msg = error_of([&] { lowbit::quantize(type_id::q4_0, x.data(), q.data(), -1, 32); });
    CHECK(contains(msg, "negative"));
    msg = error_of([&] { lowbit::quantize(type_id::q4_0, x.data(), q.data(), 1, 0); });
    CHECK(contains(msg, "positive"));
    msg = error_of([&] { lowbit::quantize(static_cast<type_id>(5), x.data(), q.data(), 1, 32); }, &code);
    CHECK(code == lowbit::errc::unsupported_type);
    CHECK(contains(msg, "not a GGUF tensor type"));
    msg = error_of([&] { lowbit::row_bytes(static_cast<type_id>(77), 32); }, &code);
    CHECK(code == lowbit::errc::unsupported_type);
    msg = error_of([&] { lowbit::dequantize(type_id::q8_0, q.data(), x.data(), 33); });
    CHECK(contains(msg, "33"));
    msg = error_of([&] { lowbit::dot(type_id::q4_0, q.data(), nullptr, 32); });
    CHECK(contains(msg, "null"));
    msg = error_of([&] { lowbit::dot(type_id::q4_1, q.data(), q.data(), 40); });
    CHECK(contains(msg, "40"));
    float out[2] = {};
    msg = error_of([&] { lowbit::dot_rows(type_id::q4_0, q.data(), 17, q.data(), out, 2, 32); });
    CHECK(contains(msg, "stride 17"));
    CHECK(contains(msg, "18 bytes"));
    msg = error_of([&] { lowbit::dot_rows(type_id::f32, x.data(), 6, x.data(), out, 2, 1); });
    CHECK(contains(msg, "alignment 4"));
    msg = error_of([&] { lowbit::dot_rows(type_id::q4_0, q.data(), 18, q.data(), out, -1, 32); });
    CHECK(contains(msg, "negative"));
    msg = error_of([&] { lowbit::dot_rows(type_id::q4_0, q.data(), 18, q.data(), nullptr, 2, 32); });
    CHECK(contains(msg, "null"));
    msg = error_of([&] { lowbit::dot_rows(type_id::q4_K, q.data(), 144, q.data(), out, 2, 32); });
    CHECK(contains(msg, "block size 256"));
    msg = error_of([&] { lowbit::dot_rows(type_id::q4_0, q.data(), (std::numeric_limits<std::size_t>::max() / 2) & ~std::size_t{63}, q.data(), out, 4, 32); });
    CHECK(contains(msg, "overflow"));
    CHECK_NOTHROW(lowbit::dot_rows(type_id::q4_0, nullptr, 18, nullptr, nullptr, 0, 32)); // no rows: nothing to read or write
    msg = error_of([&] { lowbit::quantize(type_id::q4_0, x.data(), q.data(), std::numeric_limits<std::int64_t>::max(), 32); });
    CHECK(contains(msg, "overflow"));
    lowbit::error e(lowbit::errc::io_error, "x");
    const std::exception& base = e; // documented: derives from std::exception
    CHECK(contains(base.what(), "lowbit"));
}

TEST_CASE("NaN and Inf inputs are rejected by quantized types, with their position; float types carry them") {
    std::vector<float> x(64, 0.5f);
    std::vector<unsigned char> q(1024);
    x[37] = std::numeric_limits<float>::quiet_NaN();
    lowbit::errc code{};
    auto msg = error_of([&] { lowbit::quantize(type_id::q4_0, x.data(), q.data(), 2, 32); }, &code);
    CHECK(code == lowbit::errc::non_finite_input);
    CHECK(contains(msg, "row 1"));
    CHECK(contains(msg, "column 5"));
    x[37] = INFINITY;
    CHECK(!error_of([&] { lowbit::quantize(type_id::q8_0, x.data(), q.data(), 2, 32); }).empty());
    x[37] = 0.5f;
    std::vector<float> w(32, 1.0f);
    w[3] = std::numeric_limits<float>::quiet_NaN();
    msg = error_of([&] { lowbit::quantize(type_id::q4_1, x.data(), q.data(), 2, 32, w.data()); });
    CHECK(contains(msg, "importance weights"));

    // f16 stores what IEEE says: inf stays inf, NaN stays NaN.
    x[0] = INFINITY;
    x[1] = std::numeric_limits<float>::quiet_NaN();
    CHECK(lowbit::quantize(type_id::f16, x.data(), q.data(), 1, 64) == 128);
    std::vector<float> back(64);
    lowbit::dequantize(type_id::f16, q.data(), back.data(), 64);
    CHECK(std::isinf(back[0]));
    CHECK(std::isnan(back[1]));
}

TEST_CASE("quantize writes exactly nrows * row_bytes and nothing beyond") {
    std::vector<float> x(3 * 64);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
    for (auto t : {type_id::q4_0, type_id::q4_1, type_id::q5_0, type_id::q5_1, type_id::q8_0, type_id::q8_1, type_id::f16,
                   type_id::bf16, type_id::f32}) {
        CAPTURE(lowbit::type_name(t));
        const auto rb = lowbit::row_bytes(t, 64);
        std::vector<unsigned char> q(3 * rb + 16, 0xAB);
        CHECK(lowbit::quantize(t, x.data(), q.data(), 3, 64) == 3 * rb);
        for (std::size_t i = 3 * rb; i < q.size(); ++i) REQUIRE(q[i] == 0xAB);
        CHECK(lowbit::quantize(t, x.data(), q.data(), 0, 64) == 0);
    }
}
