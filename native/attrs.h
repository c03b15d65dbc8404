// Attrs: an op's scalar and list attributes, copied out of the JS object at enqueue time so the
// kernel, running later on a worker thread, never touches JS values.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "error.h"

namespace kiln {

struct AttrValue {
  enum Kind { Number, List, String } kind = Number;
  double number = 0;
  std::vector<double> list;
  std::string str;
};

class Attrs {
 public:
  std::map<std::string, AttrValue> values;

  bool has(const std::string& k) const { return values.count(k) != 0; }
  double num(const std::string& k) const { return get(k, AttrValue::Number).number; }
  double num(const std::string& k, double dflt) const { return has(k) ? num(k) : dflt; }
  int64_t i64(const std::string& k) const { return (int64_t)num(k); }
  int64_t i64(const std::string& k, int64_t dflt) const { return has(k) ? i64(k) : dflt; }
  const std::string& str(const std::string& k) const { return get(k, AttrValue::String).str; }
  std::string str(const std::string& k, const std::string& dflt) const { return has(k) ? str(k) : dflt; }
  std::vector<int64_t> ints(const std::string& k) const {
    std::vector<int64_t> out;
    for (double d : get(k, AttrValue::List).list) out.push_back((int64_t)d);
    return out;
  }

 private:
  const AttrValue& get(const std::string& k, AttrValue::Kind kind) const {
    auto it = values.find(k);
    if (it == values.end()) fail("E_ARGUMENT", "missing attribute '" + k + "'");
    if (it->second.kind != kind) fail("E_ARGUMENT", "attribute '" + k + "' has the wrong type");
    return it->second;
  }
};

}  // namespace kiln
