// `lowbit footprint MODEL|FILE.gguf|all [--preset P] [--ctx N] [--memory SIZE] ...`: will the
// model fit? Weights under each llama-quantize preset (exactly the tensor bytes the quantized file
// holds), bits per weight, KV cache, compute-buffer estimate, and whether the total fits.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lowbit/estimate.hpp>
#include <lowbit/estimate/gguf_model.hpp>
#include <lowbit/gguf/reader.hpp>

#include "commands.hpp"

namespace lowbit_cli {

namespace {

using lowbit::errc;
using lowbit::error;

struct footprint_options {
    std::string target;
    std::optional<lowbit::preset_entry> preset;
    std::uint32_t n_ctx = 4096;
    std::optional<std::uint64_t> memory;
    lowbit::type_id cache_type = lowbit::type_id::f16;
    lowbit::priority priority = lowbit::priority::balanced;
    bool tensors = false;
};

[[noreturn]] void bad(const std::string& what) { throw error(errc::invalid_argument, "footprint: " + what); }

std::uint64_t parse_count(std::string_view s, std::string_view what) {
    if (s.empty() || s.size() > 19) bad("bad " + std::string(what) + " '" + std::string(s) + "'");
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') bad("bad " + std::string(what) + " '" + std::string(s) + "'");
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
}

// "24GiB", "24G" and "24gib" are binary; "24GB" is decimal; a bare number is bytes.
std::uint64_t parse_size(std::string_view s) {
    std::size_t digits = 0;
    while (digits < s.size() && ((s[digits] >= '0' && s[digits] <= '9') || s[digits] == '.')) ++digits;
    const std::string number(s.substr(0, digits));
    std::string unit;
    for (char c : s.substr(digits)) unit += static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    char* end = nullptr;
    const double value = std::strtod(number.c_str(), &end);
    if (number.empty() || end != number.c_str() + number.size() || !(value >= 0)) bad("bad --memory '" + std::string(s) + "'");
    double scale = 0;
    if (unit.empty() || unit == "b") scale = 1;
    else if (unit == "k" || unit == "kib") scale = 1024.0;
    else if (unit == "m" || unit == "mib") scale = 1024.0 * 1024;
    else if (unit == "g" || unit == "gib") scale = 1024.0 * 1024 * 1024;
    else if (unit == "t" || unit == "tib") scale = 1024.0 * 1024 * 1024 * 1024;
    else if (unit == "kb") scale = 1e3;
    else if (unit == "mb") scale = 1e6;
    else if (unit == "gb") scale = 1e9;
    else if (unit == "tb") scale = 1e12;
    else bad("unknown unit in --memory '" + std::string(s) + "' (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)");
    const double bytes = value * scale;
    if (bytes > 1.8e19) bad("--memory too large");
    return static_cast<std::uint64_t>(bytes);
}

footprint_options parse(std::span<char* const> args) {
    footprint_options o;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= args.size()) bad(std::string(a) + " needs a value");
            return args[++i];
        };
        if (a == "--preset") {
            const auto name = value();
            o.preset = lowbit::presets::find(name);
            if (!o.preset) bad("unknown preset '" + std::string(name) + "'");
        } else if (a == "--ctx") {
            const auto n = parse_count(value(), "--ctx");
            if (n == 0 || n > 0xFFFFFFFFu) bad("--ctx out of range");
            o.n_ctx = static_cast<std::uint32_t>(n);
        } else if (a == "--memory") {
            o.memory = parse_size(value());
        } else if (a == "--cache-type") {
            const auto name = value();
            const auto t = lowbit::type_from_name(name);
            if (!t) bad("unknown cache type '" + std::string(name) + "'");
            o.cache_type = *t;
        } else if (a == "--priority") {
            const auto p = value();
            if (p == "quality") o.priority = lowbit::priority::quality;
            else if (p == "balanced") o.priority = lowbit::priority::balanced;
            else if (p == "memory") o.priority = lowbit::priority::memory;
            else if (p == "extreme") o.priority = lowbit::priority::extreme;
            else bad("--priority must be quality, balanced, memory or extreme");
        } else if (a == "--tensors") {
            o.tensors = true;
        } else if (a.starts_with("--")) {
            bad("unknown option " + std::string(a));
        } else if (o.target.empty()) {
            o.target = a;
        } else {
            bad("more than one model given");
        }
    }
    if (o.target.empty()) bad("usage: lowbit footprint MODEL|FILE.gguf|all [--preset P] [--ctx N] [--memory SIZE] "
                              "[--cache-type T] [--priority quality|balanced|memory|extreme] [--tensors]");
    if (o.tensors && !o.preset) bad("--tensors needs --preset");
    return o;
}

double gib(std::uint64_t bytes) { return static_cast<double>(bytes) / static_cast<double>(lowbit::GiB); }
double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / static_cast<double>(lowbit::MiB); }

// The weights of one preset: from the spec, or from the file's own tensors when there is one.
struct source {
    lowbit::model_spec spec;
    const lowbit::gguf::reader* file = nullptr;

    std::uint64_t weights(const lowbit::preset_entry& p) const {
        return file ? lowbit::weight_bytes(*file, p) : lowbit::weight_bytes(spec, p);
    }
    std::uint64_t params() const {
        if (!file) return lowbit::param_count(spec);
        std::uint64_t n = 0;
        for (const auto& t : lowbit::tensors_from_gguf(*file))
            if (t.parameter) n += t.n_elements();
        return n;
    }
};

void print_header(const source& s, const footprint_options& o) {
    const auto& m = s.spec;
    std::printf("%.*s: %llu parameters, %u blocks, n_embd %u, %u heads / %u KV heads of %u",
                static_cast<int>(m.name.size()), m.name.data(), static_cast<unsigned long long>(s.params()), m.n_layer,
                m.n_embd, m.n_head, m.n_head_kv, m.head_dim);
    if (m.moe()) std::printf(", %u experts (%u used)", m.n_expert, m.n_expert_used);
    std::printf("\n");
    const auto kv = lowbit::kv_cache_bytes(m, o.n_ctx, o.cache_type);
    const auto compute = lowbit::compute_buffer_bytes(m, o.n_ctx);
    const auto cache_name = lowbit::type_name(o.cache_type);
    std::printf("context %u: KV cache (%.*s) %llu bytes = %.1f MiB; compute buffer estimate %.1f MiB\n", o.n_ctx,
                static_cast<int>(cache_name.size()), cache_name.data(), static_cast<unsigned long long>(kv), mib(kv),
                mib(compute));
    if (s.file) {
        std::uint64_t now = 0;
        for (const auto& t : s.file->tensors()) now += t.n_bytes;
        std::printf("file as it is: %llu bytes of tensor data = %.2f GiB\n", static_cast<unsigned long long>(now), gib(now));
    }
}

void print_table(const source& s, const footprint_options& o) {
    const auto fixed = lowbit::kv_cache_bytes(s.spec, o.n_ctx, o.cache_type) + lowbit::compute_buffer_bytes(s.spec, o.n_ctx);
    const double params = static_cast<double>(s.params());
    std::printf("\n%-8s %16s %9s %6s %10s", "preset", "weight bytes", "GiB", "bpw", "total GiB");
    if (o.memory) std::printf("  fits %.2f GiB", gib(*o.memory));
    std::printf("\n");
    for (const auto& p : lowbit::presets::all) {
        if (o.preset && o.preset->name() != p.name()) continue;
        const auto w = s.weights(p);
        std::printf("%-8.*s %16llu %9.2f %6.2f %10.2f", static_cast<int>(p.name().size()), p.name().data(),
                    static_cast<unsigned long long>(w), gib(w), 8.0 * static_cast<double>(w) / params, gib(w + fixed));
        if (o.memory) std::printf("  %s", w + fixed <= *o.memory ? "yes" : "no");
        std::printf("\n");
    }
}

void print_tensors(const source& s, const lowbit::preset_entry& p) {
    std::printf("\n%-34s %-22s %-8s %14s\n", "tensor", "shape", "type", "bytes");
    auto row = [](const lowbit::tensor_desc& t, lowbit::type_id type, std::uint64_t bytes) {
        std::string shape = std::to_string(t.ne[0]);
        for (std::uint32_t d = 1; d < t.n_dims(); ++d) shape += " x " + std::to_string(t.ne[d]);
        const auto name = lowbit::full_name(t);
        const auto tn = lowbit::type_name(type);
        std::printf("%-34.*s %-22s %-8.*s %14llu\n", static_cast<int>(name.view().size()), name.view().data(), shape.c_str(),
                    static_cast<int>(tn.size()), tn.data(), static_cast<unsigned long long>(bytes));
    };
    if (s.file) {
        for (const auto& t : lowbit::plan_gguf(*s.file, p)) row(t.tensor, t.type, t.bytes);
    } else {
        lowbit::for_each_tensor_type(s.spec, p, [&](const lowbit::tensor_desc& t, lowbit::type_id type) {
            row(t, type, lowbit::tensor_data_bytes(t, type));
        });
    }
}

void print_recommendation(const source& s, const footprint_options& o) {
    if (!o.memory) return;
    const char* names[] = {"quality", "balanced", "memory", "extreme"};
    const auto* pname = names[static_cast<int>(o.priority)];
    // recommend() works on a spec; for a file, the same decision over the file's own tensors.
    std::optional<lowbit::preset_entry> best;
    if (!s.file) {
        best = lowbit::recommend(s.spec, *o.memory, o.priority, o.n_ctx, o.cache_type);
    } else {
        const auto fixed = lowbit::kv_cache_bytes(s.spec, o.n_ctx, o.cache_type) + lowbit::compute_buffer_bytes(s.spec, o.n_ctx);
        const std::size_t first = lowbit::estimate_detail::first_choice(o.priority);
        for (std::size_t i = first; i < std::size(lowbit::estimate_detail::recommend_order) && !best; ++i) {
            const auto p = lowbit::presets::find(lowbit::estimate_detail::recommend_order[i]);
            if (p && fixed <= *o.memory && s.weights(*p) <= *o.memory - fixed) best = p;
        }
    }
    if (best)
        std::printf("\nrecommended (%s, %.2f GiB, context %u): %.*s\n", pname, gib(*o.memory), o.n_ctx,
                    static_cast<int>(best->name().size()), best->name().data());
    else
        std::printf("\nrecommended (%s, %.2f GiB, context %u): none fits, not even Q2_K\n", pname, gib(*o.memory), o.n_ctx);
}

void report(const source& s, const footprint_options& o) {
    print_header(s, o);
    print_table(s, o);
    if (o.tensors) print_tensors(s, *o.preset);
    print_recommendation(s, o);
}

} // namespace

int run_footprint(std::span<char* const> args) {
    const auto o = parse(args);
    if (o.target == "all") {
        for (const auto& m : lowbit::models::all) {
            report({m, nullptr}, o);
            std::printf("\n");
        }
        return ok;
    }
    if (const auto m = lowbit::models::find(o.target)) {
        report({*m, nullptr}, o);
        return ok;
    }
    if (!std::filesystem::exists(o.target))
        throw error(errc::io_error, "footprint: '" + o.target + "' is neither a named model (" + std::string(lowbit::models::ids[0]) + ", ...) nor a file");
    const auto file = lowbit::gguf::reader::open(o.target);
    report({lowbit::spec_from_gguf(file), &file}, o);
    return ok;
}

} // namespace lowbit_cli
