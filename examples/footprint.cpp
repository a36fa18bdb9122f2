// Will it fit? Decided by the compiler: if a budget below is broken, this file does not compile.
//
// weight_bytes applies llama-quantize's per-tensor rules to the model's tensor list, so each
// number is the tensor data of the GGUF file llama-quantize would write, to the byte.
#include <cstdio>

#include <lowbit/estimate.hpp>

using namespace lowbit;

// A laptop GPU with 8 GiB: Llama-3.1-8B in Q4_K_M with an 8k context, KV cache in f16.
constexpr std::uint32_t ctx = 8192;
static_assert(weight_bytes(models::llama3_1_8b, presets::q4_k_m) < 6 * GiB);
static_assert(total_bytes(models::llama3_1_8b, presets::q4_k_m, ctx) < 8 * GiB);
// ... but not in Q8_0.
static_assert(total_bytes(models::llama3_1_8b, presets::q8_0, ctx) > 8 * GiB);

// Grouped-query attention is why the 8B's cache is 4× smaller than Llama-2-7B's at equal context.
static_assert(kv_cache_bytes(models::llama2_7b, ctx) == 4 * kv_cache_bytes(models::llama3_1_8b, ctx));

// Two 24 GiB cards hold a 70B in Q4_K_M at 8k context; one does not hold it even in Q2_K.
static_assert(total_bytes(models::llama3_1_70b, presets::q4_k_m, ctx) < 48 * GiB);
static_assert(!recommend(models::llama3_1_70b, 24 * GiB, priority::extreme, ctx));

// The recommendation for a 16 GiB machine that values quality.
constexpr auto pick = recommend(models::llama3_1_8b, 16 * GiB, priority::quality, ctx);
static_assert(pick && pick->name() == "Q8_0");

int main() {
    constexpr auto w = weight_bytes(models::llama3_1_8b, presets::q4_k_m);
    constexpr auto kv = kv_cache_bytes(models::llama3_1_8b, ctx);
    std::printf("Llama-3.1-8B Q4_K_M: %llu bytes of weights (%.2f bits per weight), KV cache at %u tokens: %llu bytes\n",
                static_cast<unsigned long long>(w), average_bpw(models::llama3_1_8b, presets::q4_k_m), ctx,
                static_cast<unsigned long long>(kv));
    std::printf("16 GiB, quality first: %.*s\n", static_cast<int>(pick->name().size()), pick->name().data());
    return 0;
}
