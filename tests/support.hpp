// Shared helpers of the lowbit test suite: locating and reading the reference data.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <lowbit/error.hpp>
#include <lowbit/format/type_id.hpp>

namespace lowbit_test {

/// The tests/data folder (compiled in by the build; overridable with LOWBIT_TEST_DATA).
inline std::filesystem::path data_dir() {
    if (const char* env = std::getenv("LOWBIT_TEST_DATA")) return env;
#ifdef LOWBIT_TEST_DATA_DIR
    return LOWBIT_TEST_DATA_DIR;
#else
    return "tests/data";
#endif
}

inline std::vector<unsigned char> read_bytes(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open test data file " + p.string());
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

template <class T>
std::vector<T> read_array(const std::filesystem::path& p) {
    const auto bytes = read_bytes(p);
    if (bytes.size() % sizeof(T) != 0) throw std::runtime_error("bad size of " + p.string());
    std::vector<T> out(bytes.size() / sizeof(T));
    std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
}

struct golden_case {
    std::string type;
    std::uint32_t type_id;
    std::string name;
    std::int64_t nrows, n_per_row;
    std::string partner;
    std::string files;
    bool has(const std::string& f) const { return ("," + files + ",").find("," + f + ",") != std::string::npos; }
};

inline std::vector<golden_case> golden_manifest() {
    const auto path = data_dir() / "golden" / "MANIFEST.tsv";
    std::ifstream f(path);
    if (!f) throw std::runtime_error("golden manifest not found at " + path.string());
    std::vector<golden_case> cases;
    std::string line;
    std::getline(f, line); // header
    while (std::getline(f, line)) {
        std::istringstream s(line);
        golden_case c;
        std::string bs, bb;
        s >> c.type >> c.type_id >> c.name >> c.nrows >> c.n_per_row >> bs >> bb >> c.partner >> c.files;
        cases.push_back(c);
    }
    return cases;
}

/// The message of the lowbit::error that f() throws (and its code into *code), or "" if none.
template <class F>
std::string error_of(F&& f, lowbit::errc* code = nullptr) {
    try {
        f();
    } catch (const lowbit::error& e) {
        if (code) *code = e.code();
        return e.what();
    }
    return "";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/// Index of the first differing float (by bits), or -1.
inline long first_difference(const std::vector<float>& a, const std::vector<float>& b) {
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return static_cast<long>(i);
    return a.size() == b.size() ? -1 : static_cast<long>(std::min(a.size(), b.size()));
}

/// n standard-normal floats from a generator seeded with `seed`.
inline std::vector<float> gaussian_row(std::int64_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& v : x) v = gauss(rng);
    return x;
}

/// The float among the ulps around `guess` whose product with `factor` (one rounding) is
/// exactly `target`, or 0 where none is.
inline float product_hits(float factor, float target, float guess) {
    float v = guess;
    for (int k = 0; k < 8; ++k) v = std::nextafter(v, 0.0f);
    for (int k = 0; k < 17; ++k, v = std::nextafter(v, 2.0f)) {
        volatile float product = factor * v; // (volatile: one rounded product, not fused)
        if (product == target) return v;
    }
    return 0.0f;
}

struct half_product_row {
    lowbit::type_id type;
    std::vector<float> x;
    std::string what;
};

/// Rows of 1024 values for the K-quant searches' clamps: a search leaves a clamp out where no
/// product of a candidate can round past the code range, and a product of exactly nmax - 1/2
/// (which rounds to even, past it) or -nmax - 1/2 must still be clamped. Each row puts every
/// group's max at 1 and one value at such a product for one candidate, with no value beyond it,
/// so no other group asks for the clamp.
inline std::vector<half_product_row> half_product_rows() {
    constexpr std::size_t n = 1024;
    std::vector<half_product_row> rows;
    // q6_K: candidates iscale = -(32 + 0.1 is) / max for is in -9..9, codes -32..31
    for (int is = -9; is <= 9; ++is) {
        const float num = 32.0f + 0.1f * static_cast<float>(is);
        for (const bool high : {true, false}) {
            const float target = high ? 31.5f : 32.5f; // t = +31.5 (opposite sign to max) or -32.5
            if (!high && num < target) continue;
            const float v = product_hits(num, target, target / num);
            if (v == 0.0f || v > 1.0f) continue;
            std::vector<float> x(n);
            for (std::size_t j = 0; j < n; ++j) {
                const std::size_t i = j % 16;
                x[j] = i == 0 ? 1.0f : i == 1 + j / 16 % 15 ? (high ? -v : v) : static_cast<float>(static_cast<int>(i) - 8) * 0.03f;
            }
            rows.push_back({lowbit::type_id::q6_K, std::move(x), "q6_K is " + std::to_string(is) + (high ? " high" : " low")});
        }
    }
    // q4_K: candidates iscale = (15 - 1 + 0.1 is) / (max - min) for is in 0..20, codes 0..15;
    // with min 0 and max 1, t = iscale * x reaches 15.5
    for (int is = 0; is <= 20; ++is) {
        const float num = (-1.0f + 0.1f * static_cast<float>(is)) + 15.0f;
        if (num < 15.5f) continue;
        const float v = product_hits(num, 15.5f, 15.5f / num);
        if (v == 0.0f || v > 1.0f) continue;
        std::vector<float> x(n);
        for (std::size_t j = 0; j < n; ++j) {
            const std::size_t i = j % 32;
            x[j] = i == 0 ? 1.0f : i == 1 ? 0.0f : i == 2 + j / 32 % 30 ? v : static_cast<float>(i) * 0.01f;
        }
        rows.push_back({lowbit::type_id::q4_K, std::move(x), "q4_K is " + std::to_string(is)});
    }
    return rows;
}

} // namespace lowbit_test
