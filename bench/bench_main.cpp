#include <sys/resource.h>

#include <memory>

#include <benchmark/benchmark.h>

#include "bench/bench_runtime.hpp"

namespace cohort::bench {
namespace {
std::unique_ptr<Runtime> shared;
}

Runtime& runtime() {
  if (!shared) shared = std::make_unique<Runtime>(RuntimeOptions::load());
  return *shared;
}

void end_runtime() { shared.reset(); }

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

double cpu_us() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto us = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec); };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

}  // namespace cohort::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  cohort::bench::end_runtime();
  return 0;
}
