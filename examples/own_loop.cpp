// For kernel writers: walk quantized blocks in your own loop. Here a matrix-vector product
// y = W x over q4_0 weights, two ways: block by block with the format's own decoder (for fusing
// into your kernel), and row by row with lowbit::dot against the activations quantized to q8_0.
#include <cmath>
#include <cstdio>
#include <random>
#include <span>
#include <vector>

#include <lowbit/lowbit.hpp>

namespace f = lowbit::formats;

int main() {
    constexpr int rows = 8, cols = 256, blocks_per_row = cols / f::q4_0::block_size;
    std::mt19937 rng(1);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> w(rows * cols), x(cols);
    for (auto& v : w) v = g(rng);
    for (auto& v : x) v = g(rng);

    std::vector<f::q4_0::block> wq(rows * blocks_per_row);
    lowbit::quantize<f::q4_0>(w, wq, cols);

    // 1. decode one block (32 values) at a time into registers/stack and use it at once.
    std::vector<float> y1(rows, 0.0f);
    for (int r = 0; r < rows; ++r) {
        for (int b = 0; b < blocks_per_row; ++b) {
            float tile[f::q4_0::block_size];
            f::q4_0::dequantize_block(wq[r * blocks_per_row + b], tile);
            for (int j = 0; j < 32; ++j) y1[r] += tile[j] * x[b * 32 + j];
        }
    }

    // 2. integer dot products: quantize x once to the partner format, then one dot per row.
    std::vector<f::q8_0::block> xq(blocks_per_row);
    lowbit::quantize<f::q8_0>(x, xq, cols);
    const std::span<const f::q4_0::block> all(wq);
    int agree = 0;
    for (int r = 0; r < rows; ++r) {
        const float y2 = lowbit::dot<f::q4_0>(all.subspan(r * blocks_per_row, blocks_per_row), xq);
        std::printf("row %d: decoded-block loop %9.4f   q4_0 x q8_0 dot %9.4f\n", r, y1[r], y2);
        agree += std::fabs(y1[r] - y2) < 0.05f * (1.0f + std::fabs(y1[r]));
    }
    return agree == rows ? 0 : 1;
}
