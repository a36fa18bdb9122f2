// `lowbit demo`: quantize a synthetic LLM-like weight matrix with every implemented format and
// report size and error. The matrix mimics real weights: heavy-tailed values, per-row and
// per-column scales, and rare large outliers.
#include <algorithm>
#include <cmath>
#include <string>
#include <cstdio>
#include <random>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "commands.hpp"

namespace lowbit_cli {

namespace {

std::vector<float> synthetic_weights(std::int64_t rows, std::int64_t cols) {
    std::mt19937 rng(20261122);
    std::student_t_distribution<float> heavy(5.0f);
    std::lognormal_distribution<float> scale(0.0f, 0.35f);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> col_scale(static_cast<std::size_t>(cols));
    for (auto& s : col_scale) s = scale(rng);
    std::vector<float> w(static_cast<std::size_t>(rows * cols));
    for (std::int64_t r = 0; r < rows; ++r) {
        const float row_scale = 0.02f * scale(rng);
        for (std::int64_t c = 0; c < cols; ++c) {
            float v = heavy(rng) * row_scale * col_scale[static_cast<std::size_t>(c)];
            if (u(rng) < 0.001f) v *= 8.0f + 12.0f * u(rng); // rare outliers, 8-20x
            w[static_cast<std::size_t>(r * cols + c)] = v;
        }
    }
    return w;
}

} // namespace

int run_demo(std::span<char* const> args) {
    if (!args.empty()) {
        std::fprintf(stderr, "lowbit demo: takes no arguments\n");
        return usage;
    }
    constexpr std::int64_t rows = 64, cols = 4096;
    const auto w = synthetic_weights(rows, cols);
    double signal = 0;
    for (float v : w) signal += static_cast<double>(v) * v;
    const double rms = std::sqrt(signal / static_cast<double>(w.size()));

    std::printf("lowbit demo: a synthetic %lld x %lld LLM-like weight matrix (Student-t, row/column scales, outliers)\n\n",
                static_cast<long long>(rows), static_cast<long long>(cols));
    std::printf("%-8s %8s %10s %12s %14s\n", "format", "bits/w", "bytes", "rel. RMSE", "max abs err");
    std::printf("%-8s %8s %10s %12s %14s\n", "------", "------", "-----", "---------", "-----------");
    std::vector<float> back(w.size());
    for (const auto& layout : lowbit::all_type_layouts) {
        const auto& o = lowbit::supports(layout.id) ? &lowbit::ops(layout.id) : nullptr;
        if (!o || !o->quantize_row || !o->dequantize_row || cols % layout.block_size != 0) continue;
        std::vector<unsigned char> q(lowbit::row_bytes(layout.id, cols) * rows);
        const auto bytes = lowbit::quantize(layout.id, w.data(), q.data(), rows, cols);
        lowbit::dequantize(layout.id, q.data(), back.data(), rows * cols);
        double err2 = 0, max_err = 0;
        for (std::size_t i = 0; i < w.size(); ++i) {
            const double e = static_cast<double>(back[i]) - w[i];
            err2 += e * e;
            max_err = std::max(max_err, std::fabs(e));
        }
        const double bpw = 8.0 * static_cast<double>(bytes) / static_cast<double>(w.size());
        const bool activation_only = layout.id == lowbit::type_id::q8_1 || layout.id == lowbit::type_id::q8_K;
        std::printf("%-8s %8.3f %10zu %12.3e %14.3e%s\n", std::string(layout.name).c_str(), bpw, bytes,
                    std::sqrt(err2 / static_cast<double>(w.size())) / rms, max_err,
                    activation_only ? "   (activation format)" : "");
    }
    return ok;
}

} // namespace lowbit_cli
