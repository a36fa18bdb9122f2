// lowbit — header-only LLM weight quantization formats. Umbrella header.
#pragma once

#include "config.hpp"
#include "error.hpp"
#include "numeric/f16.hpp"
#include "format/type_id.hpp"
#include "format/concepts.hpp"
#include "format/traits.hpp"
#include "formats/registry.hpp"
#include "algo/algorithms.hpp"
#include "algo/gemv.hpp"
#include "runtime.hpp"
#include "estimate.hpp"
