#include "runtime/open_file_limit.hpp"

#include <sys/resource.h>

#include <spdlog/spdlog.h>

namespace cohort {

long raise_open_file_limit() {
  static const long limit = [] {
    rlimit l{};
    if (getrlimit(RLIMIT_NOFILE, &l) != 0) return -1L;
    if (l.rlim_cur < l.rlim_max) {
      rlim_t before = l.rlim_cur;
      l.rlim_cur = l.rlim_max;
      if (setrlimit(RLIMIT_NOFILE, &l) != 0) l.rlim_cur = before;
      else spdlog::debug("open-file limit raised from {} to {}", before, l.rlim_cur);
    }
    return static_cast<long>(l.rlim_cur);
  }();
  return limit;
}

}  // namespace cohort
