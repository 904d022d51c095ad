#pragma once
// cancel: stop now. A supervisor forwards it to its children first; every agent that
// receives it answers its pending task with a `cancelled` result and quits.
#include <string>

#include <caf/meta/type_name.hpp>

namespace cohort {

struct cancel {
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cancel& x) {
  return f(caf::meta::type_name("cohort.cancel"), x.reason);
}

}  // namespace cohort
