// Prints what the running CPU offers of the instruction sets the kernels
// dispatch on, as the kernels see it (GCC's __builtin_cpu_supports), e.g.
// "avx512f=1 avx2=1 f16c=1". baseline_cpu_test.sh runs it under an emulated
// baseline x86-64 CPU to prove the emulation hides them.

#include <cstdio>

int main() {
  __builtin_cpu_init();
  std::printf("avx512f=%d avx2=%d f16c=%d\n",
              __builtin_cpu_supports("avx512f") ? 1 : 0,
              __builtin_cpu_supports("avx2") ? 1 : 0,
              __builtin_cpu_supports("f16c") ? 1 : 0);
  return 0;
}
