// lowbit — GGUF I/O: the reader (mapped, zero-copy, hardened) and the writer.
#pragma once

#include "lowbit.hpp"
#include "gguf/common.hpp"
#include "gguf/reader.hpp"
#include "gguf/writer.hpp"
#include "gguf/quantize.hpp"
