// libFuzzer target of the GGUF reader. Whatever the bytes, parsing either succeeds or throws
// lowbit::error; on success every metadata value can be walked, every tensor of an implemented
// type decoded, and the file re-emitted by the writer reads back with the same content.
// Any other exception, a crash or a sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <lowbit/lowbit.hpp>
#include <lowbit/gguf/reader.hpp>
#include <lowbit/gguf/writer.hpp>

namespace {

namespace gguf = lowbit::gguf;

// Touches a value the way a consumer would; bounded so a long array does not dominate a run.
std::uint64_t walk(const gguf::value_ref& v, int budget) {
    std::uint64_t h = static_cast<std::uint64_t>(v.type());
    switch (v.type()) {
    case gguf::value_type::string: return h + v.as_string().size();
    case gguf::value_type::array:
        for (std::uint64_t i = 0; i < v.size() && budget > 0; ++i, --budget) h += walk(v[i], budget / 2);
        return h;
    case gguf::value_type::f32: case gguf::value_type::f64: return h + (*v.as_float() > 0);
    default: return h + v.as_uint().value_or(0) + static_cast<std::uint64_t>(v.as_int().value_or(0));
    }
}

void check(bool ok) {
    if (!ok) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto r = gguf::reader::parse_memory(data, size, "fuzz");
        volatile std::uint64_t sink = 0;
        for (const auto& kv : r.metadata()) sink = sink + walk(kv.value, 256) + kv.key.size();
        for (const auto& t : r.tensors()) {
            check(t.file_offset + t.n_bytes <= size);
            if (!lowbit::supports(t.type) || t.n_elements() > (std::int64_t{1} << 20)) continue;
            try {
                const auto values = gguf::decode(t);
                if (!values.empty()) sink = sink + static_cast<std::uint64_t>(values[0] == values[0]);
            } catch (const lowbit::error&) {
                // e.g. a type whose decoder this build lacks
            }
        }

        // What the reader accepts, the writer re-emits and the reader accepts again, unchanged.
        gguf::writer w;
        try {
            w.copy_metadata(r);
            for (const auto& t : r.tensors()) w.add_tensor(t.name, t.type, t.shape(), t.bytes);
        } catch (const lowbit::error&) {
            return 0;  // things the writer refuses on purpose: names over 63 bytes, 0-dimensional tensors
        }
        const auto bytes = w.to_bytes();
        const auto again = gguf::reader::parse_memory(bytes.data(), bytes.size(), "fuzz-rewritten");
        check(again.metadata().size() == r.metadata().size());
        check(again.tensors().size() == r.tensors().size());
        for (std::size_t i = 0; i < r.tensors().size(); ++i) {
            const auto& a = r.tensors()[i];
            const auto& b = again.tensors()[i];
            check(a.name == b.name && a.ne == b.ne && a.type == b.type && a.n_bytes == b.n_bytes);
            check(a.n_bytes == 0 || std::memcmp(a.bytes.data(), b.bytes.data(), a.n_bytes) == 0);
        }
    } catch (const lowbit::error&) {
        // Rejected with a message: the expected outcome for most inputs.
    }
    return 0;
}
