// Shared helpers of the lowbit test suite: locating and reading the reference data.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <lowbit/error.hpp>

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

} // namespace lowbit_test
