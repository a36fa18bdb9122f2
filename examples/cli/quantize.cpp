// `lowbit quantize IN.gguf OUT.gguf TYPE [--threads N]`: a model with its weight matrices
// converted to TYPE, bit-exact with the reference quantizer; norms, biases and rows that do not fit
// TYPE's blocks stay as they are; metadata is copied and general.file_type updated.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "gguf_util.hpp"

#include <lowbit/estimate/gguf_model.hpp>
#include <lowbit/gguf/quantize.hpp>

#if defined(__unix__) || defined(__APPLE__)
#  include <unistd.h>
#  define LOWBIT_CLI_ISATTY(f) ::isatty(::fileno(f))
#else
#  define LOWBIT_CLI_ISATTY(f) 0
#endif

namespace lowbit_cli {

namespace {

void print_usage() {
    std::fprintf(stderr, "usage: lowbit quantize IN.gguf OUT.gguf TYPE [--threads N]\n  TYPE:");
    for (const auto& l : lowbit::all_type_layouts)
        if (lowbit::supports(l.id) && lowbit::ops(l.id).quantize_row && l.id != lowbit::type_id::q8_1 && l.id != lowbit::type_id::q8_K)
            std::fprintf(stderr, " %.*s", static_cast<int>(l.name.size()), l.name.data());
    std::fprintf(stderr, "\n  or a llama-quantize preset: Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M, or preset:NAME for any\n"
                         "  (preset:Q4_0 ... preset:Q6_K, preset:F16: the names that are also single types)\n");
}

/// The per-tensor type rule for the TYPE argument, made once the model is open: one type for every
/// weight matrix (lowbit::gguf::plain_tensor_type), or a llama-quantize preset (Q4_K_M and the like,
/// docs/footprint.md) whose types depend on the whole model, so the file written holds exactly the
/// bytes `lowbit footprint` estimates. A name that is also a single type (Q4_0, Q6_K, F16, ...)
/// means the type; "preset:NAME" asks for the preset of that name.
using rule_for_model = std::function<lowbit::gguf::tensor_type_fn(const lowbit::gguf::reader&)>;
std::optional<rule_for_model> type_rule_for(std::string_view arg, lowbit::type_id& requested,
                                            std::optional<std::uint32_t>& file_type) {
    constexpr std::string_view forced = "preset:";
    const bool want_preset = arg.starts_with(forced);
    if (const auto t = lowbit::type_from_name(arg); t && !want_preset) {
        requested = *t;
        return [](const lowbit::gguf::reader&) { return lowbit::gguf::tensor_type_fn(lowbit::gguf::plain_tensor_type); };
    }
    const auto preset = lowbit::presets::find(want_preset ? arg.substr(forced.size()) : arg);
    if (!preset) return std::nullopt;
    requested = preset->default_type();
    file_type = preset->llama_ftype;
    return [p = *preset](const lowbit::gguf::reader& model) {
        return lowbit::gguf::tensor_type_fn(
            [types = lowbit::preset_types(model, p)](std::string_view name, std::span<const std::int64_t>, lowbit::type_id,
                                                     lowbit::type_id) { return types.at(std::string(name)); });
    };
}

void draw_progress(std::size_t done, std::size_t total, std::string_view name) {
    constexpr int width = 30;
    const int filled = total ? static_cast<int>(width * done / total) : width;
    std::fprintf(stderr, "\r[%.*s%*s] %zu/%zu %-40.*s", filled, "==============================", width - filled, "", done, total,
                 static_cast<int>(std::min<std::size_t>(name.size(), 40)), name.data());
    std::fflush(stderr);
}

} // namespace

int run_quantize(std::span<char* const> args) {
    std::vector<std::string_view> pos;
    unsigned threads = 0;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        std::string_view value;
        if (a == "--threads" || a == "-t") {
            if (i + 1 >= args.size()) {
                std::fprintf(stderr, "lowbit quantize: %s needs a value\n", args[i]);
                return usage;
            }
            value = args[++i];
        } else if (a.starts_with("--threads=")) {
            value = a.substr(10);
        } else if (a.starts_with("-") && a.size() > 1) {
            std::fprintf(stderr, "lowbit quantize: unknown option '%s'\n", args[i]);
            print_usage();
            return usage;
        } else {
            pos.push_back(a);
            continue;
        }
        const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), threads);
        if (ec != std::errc{} || p != value.data() + value.size() || threads == 0 || threads > 1024) {
            std::fprintf(stderr, "lowbit quantize: --threads wants a number from 1 to 1024, got '%.*s'\n",
                         static_cast<int>(value.size()), value.data());
            return usage;
        }
    }
    if (pos.size() != 3) {
        print_usage();
        return usage;
    }
    lowbit::type_id requested{};
    std::optional<std::uint32_t> file_type;
    const auto rule = type_rule_for(pos[2], requested, file_type);
    if (!rule) {
        std::fprintf(stderr, "lowbit quantize: unknown type '%.*s'\n", static_cast<int>(pos[2].size()), pos[2].data());
        print_usage();
        return usage;
    }
    if (!lowbit::supports(requested) || !lowbit::ops(requested).quantize_row || requested == lowbit::type_id::q8_1 ||
        requested == lowbit::type_id::q8_K) {
        std::fprintf(stderr, "lowbit quantize: this build cannot quantize weights to %.*s\n", static_cast<int>(pos[2].size()), pos[2].data());
        print_usage();
        return usage;
    }

    return guarded("quantize", [&] {
        const std::string in_path(pos[0]), out_path(pos[1]);
        const auto in = lowbit::gguf::reader::open(in_path);
        lowbit::gguf::quantize_options opt;
        opt.type = requested;
        opt.threads = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
        opt.choose = (*rule)(in);
        opt.file_type = file_type;
        const bool tty = LOWBIT_CLI_ISATTY(stderr);
        if (tty) opt.progress = draw_progress;
        lowbit::gguf::quantize_model(in, out_path, opt);
        if (tty) std::fprintf(stderr, "\n");

        // A summary from the file as written.
        const auto out = lowbit::gguf::reader::open(out_path);
        std::map<std::string, std::size_t> counts;
        std::uint64_t in_bytes = 0, out_bytes = 0, elements = 0;
        for (const auto& t : in.tensors()) in_bytes += t.n_bytes;
        for (const auto& t : out.tensors()) {
            ++counts[std::string(lowbit::type_name(t.type))];
            out_bytes += t.n_bytes;
            elements += static_cast<std::uint64_t>(t.n_elements());
        }
        std::string mix;
        for (const auto& [type, n] : counts) mix += (mix.empty() ? "" : ", ") + std::to_string(n) + " " + type;
        std::printf("%s: %zu tensors (%s), %s -> %s, %.4f bits per weight, %u threads\n", out_path.c_str(), out.tensors().size(),
                    mix.c_str(), format_bytes(in_bytes).c_str(), format_bytes(out_bytes).c_str(),
                    elements ? 8.0 * static_cast<double>(out_bytes) / static_cast<double>(elements) : 0.0, opt.threads);
        return static_cast<int>(ok);
    });
}

} // namespace lowbit_cli
