// Shared helpers of the lowbit test suite: random inputs and a quantize/dequantize round trip
// through the runtime API.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include <lowbit/lowbit.hpp>

namespace lowbit_test {

/// n normal values of the given sigma, reproducible from the seed.
inline std::vector<float> gaussian(std::size_t n, unsigned seed, float sigma = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

struct roundtrip {
    std::vector<unsigned char> q; ///< the quantized rows
    std::vector<float> back;      ///< and what they dequantize to
};

/// Quantizes x (rows of n_per_row values, importance weights optional) and dequantizes it back.
inline roundtrip run(lowbit::type_id t, const std::vector<float>& x, std::int64_t n_per_row, const float* imatrix = nullptr) {
    roundtrip r;
    const auto rows = static_cast<std::int64_t>(x.size()) / n_per_row;
    r.q.resize(lowbit::row_bytes(t, n_per_row) * static_cast<std::size_t>(rows));
    lowbit::quantize(t, x.data(), r.q.data(), rows, n_per_row, imatrix);
    r.back.resize(x.size());
    lowbit::dequantize(t, r.q.data(), r.back.data(), static_cast<std::int64_t>(x.size()));
    return r;
}

} // namespace lowbit_test
