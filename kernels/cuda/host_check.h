// The host-side checkers' shared frame (matmul_wgmma_layout_check.cc, matmul_wgmma_epilogue_check.cc):
// a failure counter with CHECK, and mutation runs, in which each deliberately wrong variant of the
// kernel's arithmetic must make at least one CHECK fail, so a check that passes is not vacuous.
#pragma once
#include <cstdio>

namespace kiln {
namespace host_check {

inline int failures = 0;
inline bool quiet = false;  // set during mutation runs, which fail on purpose
inline int why_left = 0;    // during a mutation run: how many of its failure messages to print (-v)

#define CHECK(c, ...)                                                                               \
  do {                                                                                              \
    if (!(c)) {                                                                                     \
      ++::kiln::host_check::failures;                                                               \
      if (!::kiln::host_check::quiet && ::kiln::host_check::failures < 20) std::printf("  FAIL: " __VA_ARGS__); \
      if (::kiln::host_check::quiet && ::kiln::host_check::why_left > 0)                            \
        --::kiln::host_check::why_left, std::printf("    why: " __VA_ARGS__);                       \
    }                                                                                               \
  } while (0)

// A variant of the kernel as built (V's defaults), named, with `set` applied.
template <typename V, typename Set>
V mutant(const char* name, Set set) {
  V v;
  v.name = name;
  set(v);
  return v;
}

// Runs check(v) for each mutant quietly, prints whether its failures caught it, and returns how many
// were caught (the failures they cause are expected and not counted). `why`: messages to show per run.
template <typename V, size_t N, typename Check>
int caught_mutants(const V (&mutants)[N], Check check, int why = 0) {
  int caught = 0;
  quiet = true;
  for (const V& v : mutants) {
    const int before = failures;
    why_left = why;
    check(v);
    const bool hit = failures > before;
    caught += hit;
    std::printf("mutation %-56s %s\n", v.name, hit ? "caught" : "NOT CAUGHT");
    failures = before;
  }
  quiet = false;
  return caught;
}

}  // namespace host_check
}  // namespace kiln
