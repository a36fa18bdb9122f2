// lowbit bench — dequantize, dot and quantize speed of every type under every backend the CPU
// supports, as ratios to the scalar path and to memcpy bandwidth measured in the same run.
//
//   lowbit_bench [--quick] [--types=q4_0,q4_K,...] [--backends=scalar,avx2,...] [--streaming=on|off]
//
// --streaming overrides lowbit::streaming_stores() (non-temporal stores for DRAM-sized outputs).
//
// Prints one markdown table (docs/performance.md keeps one). Figures:
//   deq L1     reference cycles per 32 values, dequantizing 4096 values (in L1) again and again
//   deq GB/s   bytes read + written per second for that L1-sized tensor
//   DRAM %     dequantize of a tensor far larger than the caches: its bytes read + written per
//              second, as a percentage of memcpy's (read + written) over a buffer of the same size,
//              memcpy timed right before it
//   dot        reference cycles per 32 values of a 4096-value dot with the partner row
//   dot x8     the same per row, eight rows of 1024 values against one partner row in one
//              dot_rows call (a matrix-vector product; multi-row kernels load and scale the
//              partner once)
//   gemv x8    the same eight rows packed (lowbit::pack_rows), one gemv call; for the types that
//              have a packed layout
//   quant      reference cycles per 32 values of the reference-exact quantizer, and MB/s of input
//   x          ratio of the scalar path's time to this backend's (higher is faster)
// A backend gets a row when it has its own kernel for at least one operation of the type; its
// other columns show the kernel it falls back to (the next backend in the candidate list).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "timing.hpp"

namespace {

using namespace lowbit_bench;

struct options {
    bool quick = false;
    std::vector<std::string> types, backends;
};

std::vector<std::string> split(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        const auto comma = s.find(',');
        out.emplace_back(s.substr(0, comma));
        if (comma == std::string_view::npos) break;
        s.remove_prefix(comma + 1);
    }
    return out;
}

bool wanted(const std::vector<std::string>& list, std::string_view name) {
    if (list.empty()) return true;
    for (const auto& s : list)
        if (s == name) return true;
    return false;
}

template <class T>
struct aligned_allocator {
    using value_type = T;
    aligned_allocator() = default;
    template <class U>
    aligned_allocator(const aligned_allocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})); }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{64}); }
    template <class U>
    bool operator==(const aligned_allocator<U>&) const noexcept { return true; }
};
template <class T>
using aligned_vector = std::vector<T, aligned_allocator<T>>;

struct result {
    double deq_l1 = 0, deq_gbs = 0, deq_dram_gbs = 0, dot = 0, dot8 = 0, gemv8 = 0, quant = 0;
};

std::vector<float> gaussian(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = g(rng);
    return v;
}

} // namespace

int main(int argc, char** argv) {
    options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--quick") opt.quick = true;
        else if (a.rfind("--types=", 0) == 0) opt.types = split(a.substr(8));
        else if (a.rfind("--backends=", 0) == 0) opt.backends = split(a.substr(11));
        else if (a == "--streaming=on" || a == "--streaming=off") lowbit::set_streaming_stores(a == "--streaming=on");
        else {
            std::fprintf(stderr, "usage: %s [--quick] [--types=a,b] [--backends=a,b] [--streaming=on|off]\n", argv[0]);
            return 2;
        }
    }
    const int samples = opt.quick ? 7 : 25;
    const std::int64_t n_l1 = 4096;
    // 64 MiB of output floats for --quick (the CI smoke run), 512 MiB otherwise: past the L3 of
    // server parts too
    const std::int64_t n_dram = opt.quick ? (std::int64_t{1} << 24) : (std::int64_t{1} << 27);

    const auto src = gaussian(static_cast<std::size_t>(n_l1), 1);
    const auto act = gaussian(static_cast<std::size_t>(n_l1), 2);
    // outputs 64-byte aligned, as an inference engine's tensors are (kernels may stream to such output)
    aligned_vector<float> out(static_cast<std::size_t>(n_l1));
    aligned_vector<float> big_out(static_cast<std::size_t>(n_dram));
    aligned_vector<unsigned char> big_in(static_cast<std::size_t>(n_dram) * 4);
    for (std::size_t i = 0; i < big_in.size(); ++i) big_in[i] = static_cast<unsigned char>((i * 2654435761u) >> 13);

    // memcpy over the DRAM-sized output buffer: the bandwidth ceiling of a streaming kernel. It is
    // measured again beside every DRAM-sized dequantize, since the machine's load may change.
    aligned_vector<float> copy_src(big_out.size(), 1.0f);
    const double hz = ticks_per_second();
    auto memcpy_gbs_now = [&] {
        const double t = min_ticks_per_call([&] { std::memcpy(big_out.data(), copy_src.data(), big_out.size() * 4); keep(big_out[0]); }, 1, opt.quick ? 3 : 5);
        return 2.0 * static_cast<double>(big_out.size() * 4) / (t / hz) / 1e9;
    };
    const double memcpy_gbs = memcpy_gbs_now();

    std::printf("lowbit_bench: ticks = %s at %.3f GHz; memcpy %.1f MiB: %.2f GB/s (read + write)\n",
#if defined(__x86_64__) || defined(__i386__)
                "rdtsc (fixed reference frequency)",
#else
                "steady_clock nanoseconds",
#endif
                hz / 1e9, static_cast<double>(big_out.size() * 4) / (1 << 20), memcpy_gbs);
    std::printf("DRAM-sized outputs written with %s stores (lowbit::streaming_stores)\n", lowbit::streaming_stores() ? "non-temporal" : "plain");
    std::printf("backends on this CPU:");
    for (const auto b : lowbit::available_backends()) std::printf(" %.*s", static_cast<int>(b.size()), b.data());
    std::printf("\n\n| type | backend | deq L1 cyc/32 | deq L1 GB/s | x | deq DRAM GB/s | %% memcpy | dot cyc/32 | x | dot x8 cyc/32 | x | gemv x8 cyc/32 | x | quant cyc/32 | quant MB/s | x |\n");
    std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");

    for (const auto& layout : lowbit::all_type_layouts) {
        const auto t = layout.id;
        if (!lowbit::supports(t) || !wanted(opt.types, layout.name)) continue;
        if (n_l1 % layout.block_size != 0) continue;
        result scalar_res{};
        auto order = lowbit::available_backends(); // scalar first: the others are ratios to it
        std::rotate(order.begin(), order.end() - 1, order.end());
        for (const auto backend : order) {
            if (backend != "scalar" && !wanted(opt.backends, backend)) continue;
            lowbit::set_backend(backend);
            const auto& o = lowbit::ops(t);
            // only rows where this backend has a kernel of its own, besides the scalar baseline
            const bool own = backend == "scalar" || (o.dequantize_backend == backend) || (o.quantize_backend == backend) ||
                             (o.dot_backend && o.dot_backend == backend) || (o.gemv_backend && o.gemv_backend == backend);
            if (!own) continue;
            const std::size_t rb = lowbit::row_bytes(t, n_l1);
            // rows and partner rows 64-byte aligned too, as an engine's tensors are: a 32-byte load
            // across two cache lines costs (the avx2 bf16 dot: 3.7 reference cycles per 32 values
            // aligned, 5.5 with both rows 16 bytes past a line)
            aligned_vector<unsigned char> q(rb);
            lowbit::quantize(t, src.data(), q.data(), 1, n_l1);
            result r;
            const double per32 = 32.0 / static_cast<double>(n_l1);

            const double deq = min_ticks_per_call([&] { o.dequantize_row(q.data(), out.data(), n_l1); keep(out[0]); }, 64, samples);
            r.deq_l1 = deq * per32;
            r.deq_gbs = static_cast<double>(rb + static_cast<std::size_t>(n_l1) * 4) / (deq / hz) / 1e9;

            const double copy_gbs = memcpy_gbs_now();
            const std::size_t big_rb = lowbit::row_bytes(t, n_dram);
            const double deq_big = min_ticks_per_call([&] { o.dequantize_row(big_in.data(), big_out.data(), n_dram); keep(big_out[0]); }, 1, opt.quick ? 2 : 5);
            r.deq_dram_gbs = static_cast<double>(big_rb + static_cast<std::size_t>(n_dram) * 4) / (deq_big / hz) / 1e9;

            if (o.dot) {
                const auto partner = lowbit::dot_partner(t);
                aligned_vector<unsigned char> qa(lowbit::row_bytes(partner, n_l1));
                lowbit::quantize(partner, act.data(), qa.data(), 1, n_l1);
                float sink = 0;
                r.dot = per32 * min_ticks_per_call([&] { sink += o.dot(q.data(), qa.data(), n_l1); keep(sink); }, 64, samples);
                // eight rows of 1024 values (L1-sized even for f16), the first 1024 values of q
                // again and again
                constexpr int rows = 8;
                const std::int64_t n_row = n_l1 / 4;
                const std::size_t rb8 = lowbit::row_bytes(t, n_row);
                aligned_vector<unsigned char> q8(rows * rb8);
                for (int k = 0; k < rows; ++k) std::memcpy(q8.data() + k * rb8, q.data(), rb8);
                float dots[rows];
                r.dot8 = 32.0 / static_cast<double>(rows * n_row) *
                         min_ticks_per_call([&] { o.dot_rows(q8.data(), rb8, qa.data(), dots, rows, n_row); keep(dots[0]); }, 64, samples);
                if (o.gemv) {
                    std::vector<std::uint32_t> packed(lowbit::packed_bytes(t, rows, n_row) / 4 + 1); // (on a 4-byte boundary)
                    lowbit::pack_rows(t, q8.data(), rb8, rows, n_row, packed.data(), packed.size() * 4);
                    r.gemv8 = 32.0 / static_cast<double>(rows * n_row) *
                              min_ticks_per_call([&] { o.gemv(packed.data(), qa.data(), dots, rows, n_row); keep(dots[0]); }, 64, samples);
                }
            }
            const bool slow = layout.block_size == 256 && o.quantize_backend == std::string_view("scalar");
            r.quant = per32 * min_ticks_per_call([&] { o.quantize_row(src.data(), q.data(), n_l1, nullptr); keep(q[0]); }, slow ? 2 : 16, samples);
            const double quant_mbs = static_cast<double>(n_l1 * 4) / (r.quant / per32 / hz) / 1e6;

            if (backend == "scalar") scalar_res = r;
            auto ratio = [](double base, double x) { return x > 0 ? base / x : 0.0; };
            std::printf("| %s | %.*s | %.2f | %.1f | %.1f | %.2f | %.0f | ", std::string(layout.name).c_str(), static_cast<int>(backend.size()), backend.data(),
                        r.deq_l1, r.deq_gbs, ratio(scalar_res.deq_l1, r.deq_l1), r.deq_dram_gbs, 100.0 * r.deq_dram_gbs / copy_gbs);
            if (o.dot) std::printf("%.2f | %.1f | %.2f | %.1f | ", r.dot, ratio(scalar_res.dot, r.dot), r.dot8, ratio(scalar_res.dot8, r.dot8));
            else std::printf("- | - | - | - | ");
            if (o.gemv) std::printf("%.2f | %.1f | ", r.gemv8, ratio(scalar_res.gemv8, r.gemv8));
            else std::printf("- | - | ");
            std::printf("%.1f | %.0f | %.1f |\n", r.quant, quant_mbs, ratio(scalar_res.quant, r.quant));
            std::fflush(stdout);
        }
    }
    return 0;
}
