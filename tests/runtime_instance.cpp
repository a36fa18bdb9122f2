// The runtime table of every test program, compiled once here instead of once per test (the
// test targets define LOWBIT_SEPARATE_RUNTIME; see lowbit/runtime.hpp).
#define LOWBIT_RUNTIME_IMPLEMENTATION
#include <lowbit/lowbit.hpp>
