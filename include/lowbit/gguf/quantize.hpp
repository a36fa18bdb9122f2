// lowbit — converting a GGUF model to another weight type (what `lowbit quantize` does).
//
// Which type a tensor gets is one function, `tensor_type_fn`, so a caller can swap the plain
// "every weight matrix becomes TYPE" rule for a mixed recipe (llama.cpp's q4_k_m and friends)
// without touching the conversion itself. Rows of a tensor are spread over threads; the output is
// bit-exact with the reference quantizer because every row goes through lowbit::quantize.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../error.hpp"
#include "../format/type_id.hpp"
#include "../runtime.hpp"
#include "reader.hpp"
#include "writer.hpp"

namespace lowbit::gguf {

/// Chooses the type of one tensor: its name, its shape (ne[0] first), its type in the input and
/// the type the user asked for. Returning the input type copies the tensor unchanged.
using tensor_type_fn =
    std::function<type_id(std::string_view name, std::span<const std::int64_t> shape, type_id current, type_id requested)>;

/// The plain rule: every weight matrix (a tensor of two or more dimensions whose name ends in
/// "weight") whose rows fit the requested type's blocks becomes that type; everything else (norms,
/// biases, rows of an awkward length) stays as it is.
inline type_id plain_tensor_type(std::string_view name, std::span<const std::int64_t> shape, type_id current, type_id requested) {
    constexpr std::string_view suffix = "weight";
    const bool is_weight = name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
    if (!is_weight || shape.size() < 2) return current;
    const auto* layout = find_layout(requested);
    if (!layout || shape[0] == 0 || shape[0] % layout->block_size != 0) return current;
    if (!supports(current) || !ops(current).dequantize_row) return current;
    return requested;
}

/// The llama.cpp `general.file_type` (llama_ftype) of a model whose weights are mostly `t`, if any.
constexpr std::optional<std::uint32_t> llama_file_type(type_id t) noexcept {
    switch (t) {
    case type_id::f32: return 0;
    case type_id::f16: return 1;
    case type_id::q4_0: return 2;
    case type_id::q4_1: return 3;
    case type_id::q8_0: return 7;
    case type_id::q5_0: return 8;
    case type_id::q5_1: return 9;
    case type_id::q2_K: return 10;
    case type_id::q3_K: return 12;  // Q3_K_M: llama-quantize's plain "Q3_K"
    case type_id::q4_K: return 15;  // Q4_K_M: llama-quantize's plain "Q4_K"
    case type_id::q5_K: return 17;  // Q5_K_M: llama-quantize's plain "Q5_K"
    case type_id::q6_K: return 18;
    case type_id::iq2_xxs: return 19;
    case type_id::iq2_xs: return 20;
    case type_id::iq3_xxs: return 23;
    case type_id::iq1_s: return 24;
    case type_id::iq4_nl: return 25;
    case type_id::iq3_s: return 26;
    case type_id::iq2_s: return 28;
    case type_id::iq4_xs: return 30;
    case type_id::iq1_m: return 31;
    case type_id::bf16: return 32;
    case type_id::tq1_0: return 36;
    case type_id::tq2_0: return 37;
    case type_id::mxfp4: return 38;
    case type_id::nvfp4: return 39;
    case type_id::q1_0: return 40;
    default: return std::nullopt;
    }
}

struct quantize_options {
    type_id type = type_id::q8_0;        ///< the requested type
    unsigned threads = 0;                ///< 0: one per hardware thread
    tensor_type_fn choose = plain_tensor_type;
    /// general.file_type to write; unset: derived from `type` (a preset knows its own number:
    /// Q4_K_S and Q4_K_M share a default type but not a file type).
    std::optional<std::uint32_t> file_type;
    /// Called on the calling thread after each tensor: (tensors done, tensors in all, name).
    std::function<void(std::size_t, std::size_t, std::string_view)> progress;
};

/// Converts rows [0, rows) of `t` to `to`, spread over `threads` threads, into `out`.
inline void convert_tensor(const tensor_info& t, type_id to, std::span<std::byte> out, unsigned threads) {
    const std::int64_t rows = t.n_rows(), len = t.row_length();
    if (rows == 0 || len == 0) return;
    const std::size_t rb = row_bytes(to, len);
    if (out.size() != rb * static_cast<std::size_t>(rows))
        throw error(errc::invalid_argument, "output of tensor '" + detail::printable(t.name) + "' has the wrong size");
    threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(std::min<std::int64_t>(rows, 1024))));
    // Chunks small enough to share the work, large enough that a thread's buffer stays modest.
    const std::int64_t chunk = std::max<std::int64_t>(1, std::min<std::int64_t>((rows + threads - 1) / threads,
                                                                                std::max<std::int64_t>(1, (1 << 20) / len)));
    std::atomic<std::int64_t> next{0};
    std::atomic<bool> failed{false};
    auto work = [&](std::exception_ptr& mine) {
        try {
            std::vector<float> buf;
            for (;;) {
                if (failed.load(std::memory_order_relaxed)) return;
                const std::int64_t r = next.fetch_add(chunk);
                if (r >= rows) return;
                const std::int64_t k = std::min(chunk, rows - r);
                buf.resize(static_cast<std::size_t>(k * len));
                decode_rows(t, r, k, buf);
                quantize(to, buf.data(), out.data() + static_cast<std::size_t>(r) * rb, k, len);
            }
        } catch (...) {
            mine = std::current_exception();
            failed = true;
        }
    };
    std::vector<std::exception_ptr> errors(threads);
    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back(work, std::ref(errors[i]));
    work(errors[0]);
    for (auto& th : pool) th.join();
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
}

/// Writes `in` to `out_path` with its tensors converted as `opt.choose` says, metadata copied and
/// general.file_type set to match the requested type (removed when llama.cpp has no number for it).
inline void quantize_model(const reader& in, const std::filesystem::path& out_path, const quantize_options& opt) {
    const auto& target = ops(opt.type);
    if (!target.quantize_row)
        throw error(errc::unsupported_type, "quantizing to " + std::string(type_name(opt.type)) + " is not implemented");
    const unsigned threads = opt.threads ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
    const tensor_type_fn choose = opt.choose ? opt.choose : tensor_type_fn(plain_tensor_type);

    writer w;
    w.copy_metadata(in);
    if (const auto ft = opt.file_type ? opt.file_type : llama_file_type(opt.type)) w.set("general.file_type", *ft);
    else w.erase("general.file_type");

    const auto tensors = in.tensors();
    std::size_t done = 0;  // copied tensors count as done from the start
    for (const auto& t : tensors) {
        const type_id to = choose(t.name, t.shape(), t.type, opt.type);
        if (to == t.type) {
            w.add_tensor(t.name, t.type, t.shape(), t.bytes);
            ++done;
            continue;
        }
        w.add_tensor(t.name, to, t.shape(), [&, to](std::span<std::byte> out) {
            convert_tensor(t, to, out, threads);
            if (opt.progress) opt.progress(++done, tensors.size(), t.name);
        });
    }
    if (opt.progress) opt.progress(done, tensors.size(), {});
    w.write(out_path);
}

} // namespace lowbit::gguf
