// A recorded launch sequence for the CPU queue: the kernels of one run of an ONNX graph (recorded by
// src/onnx/replay.ts), with their views, attributes and the constant bytes written between them,
// replayed as ONE queue task per run. What a replay skips is everything around the kernels: per op,
// the JS front end, the N-API launch (parsing views and attributes, checks), allocations, and a
// queue hand-off between consecutive kernels; the kernels themselves run exactly as launched.
//
// Every view names a slot, and its pointer is the slot's base plus a byte offset:
//   Constant  a buffer that existed before the recorded run (a weight): held by the program
//   Input     a graph input: the caller's buffer of this run
//   Output    a graph output: a fresh buffer per run, which the caller owns
//   Arena     an intermediate: a range of the program's own arena; src/onnx/replay.ts gives ranges
//             to intermediates whose lifetimes (first to last step) do not overlap the same bytes
// Checks run once, when the program is built; a replay checks only that each run's buffers reach as
// far as the recorded views do. Replays of one program run one at a time (queue order), so they
// patch the same KernelArgs in place.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "buffer.h"
#include "kernel.h"

namespace kiln {

enum class SlotKind { Constant = 0, Input = 1, Output = 2, Arena = 3 };

struct ProgramSlot {
  SlotKind kind = SlotKind::Arena;
  size_t bytes = 0;         // the recorded buffer's size (Arena: the range's size)
  size_t arena_offset = 0;  // Arena only
  size_t reach = 0;         // bytes from the base that some view or write touches
  BufferPtr constant;       // Constant only
};

struct ProgramStep {
  std::string op;               // the kernel's op, or "write"
  const KernelEntry* kernel = nullptr;  // null for a write
  KernelArgs args;              // view pointers are patched at each run
  std::vector<int> slot_of;     // per view (inputs, then outputs): its slot
  std::vector<int64_t> byte_of; // per view: byte offset of element [0, ..., 0] from the slot's base
  double cost = 0;              // kernel.h cost units
  int write_slot = -1;          // a write: bytes copied to slot + write_offset
  int64_t write_offset = 0;
  std::vector<char> bytes;
};

class Program {
 public:
  std::vector<ProgramSlot> slots;
  std::vector<ProgramStep> steps;
  std::shared_ptr<HostBuffer> arena;  // intermediates (may be empty)

  // Sum of the kernels' predicted run times (kernel.h pace), for the inline decision.
  double predicted_ns() const;
  // Runs every step in order. `bases` and `owners`: per slot, this run's base pointer and buffer
  // (Input and Output slots; Constant and Arena slots are filled in here; an Arena range has no
  // owner, so kernels keep no derived data for it). A failing kernel throws; the steps after it do
  // not run. `after` sees each kernel's timing (trace, pace).
  void run(std::vector<char*> bases, std::vector<HostBuffer*> owners,
           const std::function<void(const ProgramStep&, std::chrono::steady_clock::time_point,
                                    std::chrono::steady_clock::time_point)>& after);
};

}  // namespace kiln
