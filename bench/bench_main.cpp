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

}  // namespace cohort::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  cohort::bench::end_runtime();
  return 0;
}
