// lowbit — the list of formats this build implements; the runtime table is generated from it.
#pragma once

#include "float.hpp"
#include "kquants.hpp"
#include "legacy.hpp"

namespace lowbit {

template <class... F>
struct format_list {};

using implemented_formats = format_list<formats::f32, formats::f16, formats::bf16, formats::q4_0, formats::q4_1,
                                        formats::q5_0, formats::q5_1, formats::q8_0, formats::q8_1, formats::q2_K,
                                        formats::q3_K, formats::q4_K, formats::q5_K, formats::q6_K, formats::q8_K>;

} // namespace lowbit
