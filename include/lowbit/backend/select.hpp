// lowbit — compile-time choice of backend per format and operation.
#pragma once

#include "scalar.hpp"

namespace lowbit {

/// The backend the templates use by default for F: the best one the compilation target enables
/// that provides kernels for F. Backends are added to the candidate list as they are written.
template <class F>
using compile_time_backend = backend::scalar;

} // namespace lowbit
