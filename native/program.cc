#include "program.h"

#include <cstring>

namespace kiln {

double Program::predicted_ns() const {
  double ns = 0;
  for (const ProgramStep& s : steps) ns += s.kernel ? s.kernel->predicted_ns(s.cost) : 20.0 + 0.1 * (double)s.bytes.size();
  return ns;
}

void Program::run(std::vector<char*> bases, std::vector<HostBuffer*> owners,
                  const std::function<void(const ProgramStep&, std::chrono::steady_clock::time_point,
                                           std::chrono::steady_clock::time_point)>& after) {
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].kind == SlotKind::Constant) bases[i] = slots[i].constant->data(), owners[i] = slots[i].constant.get();
    if (slots[i].kind == SlotKind::Arena) bases[i] = arena->data() + slots[i].arena_offset;
  }
  for (ProgramStep& s : steps) {
    if (!s.kernel) {
      std::memcpy(bases[s.write_slot] + s.write_offset, s.bytes.data(), s.bytes.size());
      continue;
    }
    size_t v = 0;
    for (auto* views : {&s.args.in, &s.args.out})
      for (View& view : *views) {
        view.ptr = bases[s.slot_of[v]] + s.byte_of[v];
        if (v < s.args.in_buffers.size()) s.args.in_buffers[v] = owners[s.slot_of[v]];
        ++v;
      }
    const auto start = std::chrono::steady_clock::now();
    s.kernel->run(s.args);
    const auto end = std::chrono::steady_clock::now();
    after(s, start, end);
  }
}

}  // namespace kiln
