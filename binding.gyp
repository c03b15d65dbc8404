# The CPU-only fallback build for hosts without CMake (node-gyp). It reads the same source list as
# CMakeLists.txt (native/sources.txt, through scripts/sources.mjs), so the two builds cannot drift.
{
  "targets": [
    {
      "target_name": "kiln_avx2",
      "type": "static_library",
      "sources": ["<!@(node scripts/sources.mjs avx2)"],
      "include_dirs": ["native", "kernels/cpu"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-fPIC", "-mavx2", "-mfma", "-mf16c"],
      "cflags_cc!": ["-fno-exceptions"]
    },
    {
      "target_name": "kiln_avx512",
      "type": "static_library",
      "sources": ["<!@(node scripts/sources.mjs avx512)"],
      "include_dirs": ["native", "kernels/cpu"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-fPIC", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma", "-mf16c"],
      "cflags_cc!": ["-fno-exceptions"]
    },
    {
      "target_name": "kiln",
      "dependencies": ["kiln_avx2", "kiln_avx512"],
      "sources": ["<!@(node scripts/sources.mjs core)", "<!@(node scripts/sources.mjs nocuda)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native", "kernels/cpu"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "KILN_BUILDER=\"node-gyp\"",
                  "KILN_VERSION=\"<!(node -p \"require('./package.json').version\")\""],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-Wall", "-Wno-unused-function"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "libraries": ["-ldl", "-lrt"]
    }
  ]
}
