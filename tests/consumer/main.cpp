// Uses both APIs the way an engine would; exits non-zero if anything is off.
#include <lowbit/lowbit.hpp>

#include <cstdio>
#include <vector>

static_assert(lowbit::bits_per_weight<lowbit::formats::q4_0> == 4.5);

int main() {
    std::vector<float> w(256);
    for (int i = 0; i < 256; ++i) w[i] = static_cast<float>(i % 17) - 8.0f;
    std::vector<unsigned char> q(lowbit::row_bytes(lowbit::type_id::q8_0, 256));
    lowbit::quantize(lowbit::type_id::q8_0, w.data(), q.data(), 1, 256);
    std::vector<float> back(256);
    lowbit::dequantize(lowbit::type_id::q8_0, q.data(), back.data(), 256);
    for (int i = 0; i < 256; ++i) {
        const float err = back[i] - w[i];
        if (err > 0.05f || err < -0.05f) {
            std::printf("consumer: value %d decoded as %f, expected %f\n", i, back[i], w[i]);
            return 1;
        }
    }
    std::printf("consumer: ok\n");
    return 0;
}
