// `lowbit dequantize FILE TENSOR OUT`: one tensor decoded to raw little-endian float32, ne[0]
// contiguous (row after row), as numpy.fromfile(OUT, "<f4") reads it.
#include <algorithm>
#include <bit>
#include <cstdio>
#include <vector>

#include "gguf_util.hpp"

namespace lowbit_cli {

int run_dequantize(std::span<char* const> args) {
    if (args.size() != 3) {
        std::fprintf(stderr, "usage: lowbit dequantize FILE.gguf TENSOR OUT.f32\n");
        return usage;
    }
    return guarded("dequantize", [&] {
        const auto r = lowbit::gguf::reader::open(args[0]);
        const auto* t = r.find_tensor(args[1]);
        if (!t) {
            std::fprintf(stderr, "lowbit dequantize: %s has no tensor named '%s'\n", args[0], args[1]);
            return static_cast<int>(failure);
        }
        if (!lowbit::supports(t->type))
            throw lowbit::error(lowbit::errc::unsupported_type,
                                "tensor '" + std::string(args[1]) + "' is " + std::string(lowbit::type_name(t->type)) +
                                    ", which this build of lowbit cannot decode");
        staged_file out(args[2]);
        // Rows in batches of about 4 MiB of floats, so any tensor fits in memory.
        const std::int64_t len = t->row_length(), rows = t->n_rows();
        const std::int64_t batch = len ? std::max<std::int64_t>(1, (std::int64_t{1} << 20) / len) : 1;
        std::vector<float> buf;
        for (std::int64_t r0 = 0; r0 < rows; r0 += batch) {
            const std::int64_t k = std::min(batch, rows - r0);
            buf.resize(static_cast<std::size_t>(k * len));
            lowbit::gguf::decode_rows(*t, r0, k, buf);
            if constexpr (std::endian::native == std::endian::big)
                for (auto& x : buf) x = std::bit_cast<float>(__builtin_bswap32(std::bit_cast<std::uint32_t>(x)));
            out.write(buf.data(), buf.size() * sizeof(float));
        }
        out.commit();
        return static_cast<int>(ok);
    });
}

} // namespace lowbit_cli
