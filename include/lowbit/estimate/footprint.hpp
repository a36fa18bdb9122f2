// lowbit — how many bytes a model takes: weights under a preset, KV cache, compute buffers, and
// the preset to pick for a memory budget. All constexpr, so a budget can be a static_assert.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "../error.hpp"
#include "../format/type_id.hpp"
#include "model_spec.hpp"
#include "presets.hpp"

namespace lowbit {

inline constexpr std::uint64_t KiB = 1024;
inline constexpr std::uint64_t MiB = 1024 * KiB;
inline constexpr std::uint64_t GiB = 1024 * MiB;

/// Bytes of `t` stored as `type`: rows × whole blocks, no alignment padding.
constexpr std::uint64_t tensor_data_bytes(const tensor_desc& t, type_id type) {
    const auto& l = estimate_detail::layout(type);
    if (t.ne[0] % l.block_size != 0) throw error(errc::invalid_argument, "row length is not a multiple of the block size");
    return t.ne[0] / l.block_size * l.type_size * t.n_rows();
}

/// Sum of the tensor data of `tensors` (in llama-quantize order) under `preset`.
template <tensor_type_policy P>
constexpr std::uint64_t weight_bytes(std::span<const tensor_desc> tensors, const quant_context& c, const P& preset) {
    quant_counters k;
    std::uint64_t bytes = 0;
    for (const auto& t : tensors) bytes += tensor_data_bytes(t, preset.choose(t, c, k));
    return bytes;
}

/// Tensor-data bytes of the model's GGUF file quantized with `preset` (what llama-quantize
/// writes, without the 32-byte alignment padding between tensors).
template <tensor_type_policy P>
constexpr std::uint64_t weight_bytes(const model_spec& m, const P& preset) {
    const quant_context c = context_of(m);
    quant_counters k;
    std::uint64_t bytes = 0;
    for_each_tensor(m, [&](const tensor_desc& t) { bytes += tensor_data_bytes(t, preset.choose(t, c, k)); });
    return bytes;
}

/// Calls f(tensor, type) for every tensor of the model with the type `preset` gives it.
template <tensor_type_policy P, class F>
constexpr void for_each_tensor_type(const model_spec& m, const P& preset, F&& f) {
    const quant_context c = context_of(m);
    quant_counters k;
    for_each_tensor(m, [&](const tensor_desc& t) { f(t, preset.choose(t, c, k)); });
}

/// The type `preset` gives the tensor called `name` ("blk.3.attn_v.weight"), or nullopt.
template <tensor_type_policy P>
constexpr std::optional<type_id> type_of(const model_spec& m, const P& preset, std::string_view name) {
    std::optional<type_id> found;
    for_each_tensor_type(m, preset, [&](const tensor_desc& t, type_id type) {
        if (!found && full_name(t).view() == name) found = type;
    });
    return found;
}

/// Average bits per parameter under `preset` (tensor data × 8 / parameters).
template <tensor_type_policy P>
constexpr double average_bpw(const model_spec& m, const P& preset) {
    return 8.0 * static_cast<double>(weight_bytes(m, preset)) / static_cast<double>(param_count(m));
}

/// llama.cpp's KV cache: per block a K and a V tensor of n_ctx rows of n_head_kv × head_dim
/// values each. llama.cpp may round n_ctx up (to 256 with flash attention); pass the rounded value.
constexpr std::uint64_t kv_cache_bytes(const model_spec& m, std::uint32_t n_ctx, type_id type_k, type_id type_v) {
    tensor_desc row;
    row.ne = {m.n_embd_kv(), n_ctx, 1, 1};
    return std::uint64_t{m.n_layer} * (tensor_data_bytes(row, type_k) + tensor_data_bytes(row, type_v));
}

constexpr std::uint64_t kv_cache_bytes(const model_spec& m, std::uint32_t n_ctx, type_id cache_type = type_id::f16) {
    return kv_cache_bytes(m, n_ctx, cache_type, cache_type);
}

/// A stated estimate (not exact) of llama.cpp's compute buffer for one micro-batch of n_ubatch
/// tokens without flash attention, in f32: the larger of the logits (n_vocab) and one layer's
/// attention scores (n_head × n_ctx), plus the feed-forward (2 × n_ff) and residual (4 × n_embd)
/// activations — per token of the micro-batch.
constexpr std::uint64_t compute_buffer_bytes(const model_spec& m, std::uint32_t n_ctx, std::uint32_t n_ubatch = 512) {
    const std::uint64_t scores = std::uint64_t{m.n_head} * n_ctx;
    const std::uint64_t widest = scores > m.n_vocab ? scores : std::uint64_t{m.n_vocab};
    return 4 * std::uint64_t{n_ubatch} * (widest + 2 * std::uint64_t{m.n_ff} + 4 * std::uint64_t{m.n_embd});
}

/// Everything a model needs in memory to run at a context length.
struct footprint {
    std::uint64_t weights = 0;
    std::uint64_t kv_cache = 0;
    std::uint64_t compute = 0;
    constexpr std::uint64_t total() const { return weights + kv_cache + compute; }
};

template <tensor_type_policy P>
constexpr footprint estimate_footprint(const model_spec& m, const P& preset, std::uint32_t n_ctx,
                                       type_id cache_type = type_id::f16) {
    return {weight_bytes(m, preset), kv_cache_bytes(m, n_ctx, cache_type), compute_buffer_bytes(m, n_ctx)};
}

/// Weights + KV cache + compute-buffer estimate.
template <tensor_type_policy P>
constexpr std::uint64_t total_bytes(const model_spec& m, const P& preset, std::uint32_t n_ctx,
                                    type_id cache_type = type_id::f16) {
    return estimate_footprint(m, preset, n_ctx, cache_type).total();
}

/// What matters most when choosing a preset.
enum class priority { quality, balanced, memory, extreme };

namespace estimate_detail {
// The decision tree: each priority starts at its tier and steps down until something fits.
inline constexpr std::string_view recommend_order[] = {"Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"};
constexpr std::size_t first_choice(priority p) {
    switch (p) {
        case priority::quality: return 0;   // Q8_0, then Q6_K
        case priority::balanced: return 2;  // Q5_K_M, then Q4_K_M
        case priority::memory: return 4;    // Q3_K_M
        case priority::extreme: return 5;   // Q2_K
    }
    return 0;
}
} // namespace estimate_detail

/// The best preset of the priority's tier (or a lower one) whose total at n_ctx fits in
/// memory_bytes; nullopt when not even Q2_K fits.
constexpr std::optional<preset_entry> recommend(const model_spec& m, std::uint64_t memory_bytes, priority p,
                                                std::uint32_t n_ctx = 4096, type_id cache_type = type_id::f16) {
    const std::uint64_t fixed = kv_cache_bytes(m, n_ctx, cache_type) + compute_buffer_bytes(m, n_ctx);
    if (fixed > memory_bytes) return std::nullopt;
    for (std::size_t i = estimate_detail::first_choice(p); i < std::size(estimate_detail::recommend_order); ++i) {
        const auto preset = presets::find(estimate_detail::recommend_order[i]);
        if (preset && weight_bytes(m, *preset) <= memory_bytes - fixed) return preset;
    }
    return std::nullopt;
}

} // namespace lowbit
