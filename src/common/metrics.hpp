// Process metrics, rendered in the Prometheus text format on /metrics. Counters and
// gauges are lock-free atomics; histograms use fixed buckets. Register at start-up
// (registration takes a lock); update from anywhere.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace caremail::metrics {

class Counter {
 public:
  void inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }
 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void add(int64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
  void set(int64_t n) { v_.store(n, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }
 private:
  std::atomic<int64_t> v_{0};
};

// Latency histogram in seconds.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double seconds);
  std::string render(const std::string& name) const;
 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> buckets_;  // one per bound, plus +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_us_{0};
};

// The process-wide registry. Names follow Prometheus conventions (caremail_*_total).
Counter& counter(const std::string& name, const std::string& help);
Gauge& gauge(const std::string& name, const std::string& help);
Histogram& histogram(const std::string& name, const std::string& help);
std::string render();

}  // namespace caremail::metrics
