// The lowbit tool's subcommands. Each lives in its own cli/<name>.cpp and returns the exit code:
// 0 success, 1 a bad or unreadable input file (or a failed operation), 2 a usage error.
#pragma once

#include <span>
#include <string_view>

namespace lowbit_cli {

enum exit_code : int { ok = 0, failure = 1, usage = 2 };

/// args excludes the program name and the subcommand itself.
using command_fn = int (*)(std::span<char* const> args);

struct command {
    std::string_view name;
    std::string_view synopsis;
    command_fn run;
};

int run_demo(std::span<char* const> args);
int run_footprint(std::span<char* const> args);
int run_info(std::span<char* const> args);
int run_dequantize(std::span<char* const> args);
int run_quantize(std::span<char* const> args);

} // namespace lowbit_cli
