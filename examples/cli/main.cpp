// lowbit — command-line front end. With no arguments it runs the built-in demo.
//
// The tool's runtime table is compiled here, once for all its source files (the build defines
// LOWBIT_SEPARATE_RUNTIME for each of them; see lowbit/runtime.hpp).
#define LOWBIT_RUNTIME_IMPLEMENTATION
#include <cstdio>
#include <exception>
#include <string_view>

#include <lowbit/lowbit.hpp>

#include "commands.hpp"

namespace {

using namespace lowbit_cli;

constexpr command commands[] = {
    {"demo", "demo                      quantize a synthetic LLM-like matrix with every format", run_demo},
    {"footprint", "footprint MODEL|FILE.gguf|all [--preset P] [--ctx N] [--memory 24GiB]  bytes, bpw, KV cache, fits?", run_footprint},
    {"info", "info FILE.gguf            metadata, tensor table, per-type totals, bits per weight", run_info},
    {"dequantize", "dequantize FILE.gguf TENSOR OUT   one tensor as raw little-endian float32", run_dequantize},
    {"quantize", "quantize IN.gguf OUT.gguf TYPE [--threads N]   weight matrices to TYPE", run_quantize},
};

void print_usage(std::FILE* out) {
    std::fprintf(out, "lowbit %d.%d.%d — LLM weight quantization formats\n\nusage: lowbit [COMMAND [ARGS...]]\n\n",
                 LOWBIT_VERSION_MAJOR, LOWBIT_VERSION_MINOR, LOWBIT_VERSION_PATCH);
    for (const auto& c : commands) std::fprintf(out, "  lowbit %.*s\n", static_cast<int>(c.synopsis.size()), c.synopsis.data());
    std::fprintf(out, "\nWith no command, runs the demo. Exit status: 0 success, 1 bad input file, 2 usage error.\n");
}

} // namespace

int main(int argc, char** argv) {
    const std::span<char* const> all(argv, static_cast<std::size_t>(argc));
    if (argc < 2) return run_demo({});
    const std::string_view name = argv[1];
    if (name == "-h" || name == "--help" || name == "help") {
        print_usage(stdout);
        return ok;
    }
    for (const auto& c : commands) {
        if (c.name != name) continue;
        try {
            return c.run(all.subspan(2));
        } catch (const lowbit::error& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return e.code() == lowbit::errc::invalid_argument ? usage : failure;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "lowbit: %s\n", e.what());
            return failure;
        }
    }
    std::fprintf(stderr, "lowbit: unknown command '%s'\n\n", argv[1]);
    print_usage(stderr);
    return usage;
}
