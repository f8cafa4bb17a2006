#include "common/metrics.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <sstream>

namespace caremail::metrics {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), buckets_(bounds_.size() + 1) {}

void Histogram::observe(double seconds) {
  size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

std::string Histogram::render(const std::string& name) const {
  std::ostringstream o;
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += buckets_[i].load(std::memory_order_relaxed);
    o << name << "_bucket{le=\"" << bounds_[i] << "\"} " << cum << "\n";
  }
  cum += buckets_.back().load(std::memory_order_relaxed);
  o << name << "_bucket{le=\"+Inf\"} " << cum << "\n";
  o << name << "_sum " << static_cast<double>(sum_us_.load()) / 1e6 << "\n";
  o << name << "_count " << count_.load() << "\n";
  return o.str();
}

namespace {
struct Entry {
  std::string help;
  std::string type;
  std::unique_ptr<Counter> c;
  std::unique_ptr<Gauge> g;
  std::unique_ptr<Histogram> h;
};
std::mutex& mu() { static std::mutex m; return m; }
std::map<std::string, Entry>& reg() { static std::map<std::string, Entry> r; return r; }
}  // namespace

Counter& counter(const std::string& name, const std::string& help) {
  std::lock_guard lk(mu());
  auto& e = reg()[name];
  if (!e.c) { e.c = std::make_unique<Counter>(); e.help = help; e.type = "counter"; }
  return *e.c;
}

Gauge& gauge(const std::string& name, const std::string& help) {
  std::lock_guard lk(mu());
  auto& e = reg()[name];
  if (!e.g) { e.g = std::make_unique<Gauge>(); e.help = help; e.type = "gauge"; }
  return *e.g;
}

Histogram& histogram(const std::string& name, const std::string& help) {
  std::lock_guard lk(mu());
  auto& e = reg()[name];
  if (!e.h) {
    e.h = std::make_unique<Histogram>(std::vector<double>{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    e.help = help;
    e.type = "histogram";
  }
  return *e.h;
}

std::string render() {
  std::lock_guard lk(mu());
  std::ostringstream o;
  for (const auto& [name, e] : reg()) {
    o << "# HELP " << name << " " << e.help << "\n# TYPE " << name << " " << e.type << "\n";
    if (e.c) o << name << " " << e.c->value() << "\n";
    else if (e.g) o << name << " " << e.g->value() << "\n";
    else if (e.h) o << e.h->render(name);
  }
  return o.str();
}

}  // namespace caremail::metrics
