// `lowbit info FILE`: what a GGUF file holds, like gguf-dump: its metadata, a table of tensors,
// totals per type and the average bits per weight.
#include <cstdio>
#include <map>
#include <string>

#include "gguf_util.hpp"

namespace lowbit_cli {

int run_info(std::span<char* const> args) {
    if (args.size() != 1) {
        std::fprintf(stderr, "usage: lowbit info FILE.gguf\n");
        return usage;
    }
    return guarded("info", [&] {
        const auto r = lowbit::gguf::reader::open(args[0]);
        std::printf("%s: GGUF v%u, %zu metadata entries, %zu tensors, alignment %llu, data at byte %llu, %s\n", args[0],
                    r.version(), r.metadata().size(), r.tensors().size(), static_cast<unsigned long long>(r.alignment()),
                    static_cast<unsigned long long>(r.data_offset()), format_bytes(r.file_size()).c_str());

        std::printf("\nmetadata:\n");
        std::size_t i = 0;
        for (const auto& kv : r.metadata()) {
            const std::string key = lowbit::gguf::detail::printable(kv.key, 200);
            std::printf("%4zu  %-44s %-10s = %s\n", ++i, key.c_str(), format_type(kv.value).c_str(), format_value(kv.value).c_str());
        }

        struct totals {
            std::size_t tensors = 0;
            std::uint64_t elements = 0, bytes = 0;
        };
        std::map<std::string, totals> per_type;
        totals all;
        std::printf("\ntensors:\n%4s  %-40s %-8s %-24s %12s %12s\n", "#", "name", "type", "shape", "bytes", "offset");
        i = 0;
        for (const auto& t : r.tensors()) {
            const std::string name = lowbit::gguf::detail::printable(t.name, 200);
            const std::string type(lowbit::type_name(t.type));
            std::printf("%4zu  %-40s %-8s %-24s %12llu %12llu\n", ++i, name.c_str(), type.c_str(), format_shape(t.shape()).c_str(),
                        static_cast<unsigned long long>(t.n_bytes), static_cast<unsigned long long>(t.file_offset));
            for (auto* s : {&per_type[type], &all}) {
                s->tensors += 1;
                s->elements += static_cast<std::uint64_t>(t.n_elements());
                s->bytes += t.n_bytes;
            }
        }
        auto bpw = [](const totals& s) { return s.elements ? 8.0 * static_cast<double>(s.bytes) / static_cast<double>(s.elements) : 0.0; };
        std::printf("\nper type:\n%-8s %8s %16s %16s %12s\n", "type", "tensors", "elements", "bytes", "bits/weight");
        for (const auto& [type, s] : per_type)
            std::printf("%-8s %8zu %16llu %16llu %12.4f\n", type.c_str(), s.tensors, static_cast<unsigned long long>(s.elements),
                        static_cast<unsigned long long>(s.bytes), bpw(s));
        std::printf("%-8s %8zu %16llu %16llu %12.4f\n", "total", all.tensors, static_cast<unsigned long long>(all.elements),
                    static_cast<unsigned long long>(all.bytes), bpw(all));
        std::printf("\naverage: %.4f bits per weight, %s of tensor data\n", bpw(all), format_bytes(all.bytes).c_str());
        return static_cast<int>(ok);
    });
}

} // namespace lowbit_cli
