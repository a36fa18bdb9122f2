// lowbit — the one exception type of the checked API.
#pragma once

#include <stdexcept>
#include <string>

namespace lowbit {

/// What went wrong, for callers that branch on it; `what()` carries the human-readable detail.
enum class errc {
    invalid_argument,   ///< null pointer, negative or zero size, length not a multiple of the block
    unsupported_type,   ///< a type id that this build does not implement (or does not know)
    non_finite_input,   ///< NaN or Inf where a quantizer needs finite values
    malformed_file,     ///< a GGUF file that violates the format
    io_error,           ///< the operating system refused a read, write or mapping
};

/// Thrown by every checked (type-erased) entry point of lowbit. Derives from std::runtime_error,
/// so `catch (const std::exception&)` sees it; `code()` says which kind of problem it is.
class error : public std::runtime_error {
public:
    error(errc code, const std::string& message) : std::runtime_error("lowbit: " + message), code_(code) {}
    errc code() const noexcept { return code_; }

private:
    errc code_;
};

} // namespace lowbit
