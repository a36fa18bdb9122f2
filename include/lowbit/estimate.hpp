// lowbit — compile-time footprint estimator: model shapes, llama-quantize presets, KV cache.
#pragma once

#include "estimate/model_spec.hpp"
#include "estimate/models.hpp"
#include "estimate/presets.hpp"
#include "estimate/footprint.hpp"
