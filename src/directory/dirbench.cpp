// directory_bench: the directory search engine at full scale (issue 6 targets: 1.3 million
// entries in 10,000 organisations; build under 60 s, under 2 GB resident, typeahead p99
// under 5 ms). Generates the synthetic directory (synth.hpp) straight into the index
// builder, reports build time and memory (VmRSS, VmHWM from /proc/self/status), then runs a
// realistic query mix (typing names letter by letter, surname + organisation, addresses,
// typos, "find my administrator", role + site filters) at 1 and 32 threads and prints
// p50/p99 and queries per second; then times updates.
//
// With --xapian, the same entries go into a Xapian database (the engine DESIGN.md first
// named for directory search) and the typeahead and exact-name queries run against it too,
// for the comparison recorded in docs/ARCHITECTURE.md.
//
//   build-directory/src/directory/directory_bench                 # full scale
//   build-directory/src/directory/directory_bench --entries 100000 --xapian
//   build-directory/src/directory/directory_bench --entries 1000 --jsonl /tmp/dir.jsonl
//   build-directory/src/directory/directory_bench --jsonl /tmp/dir.jsonl --jsonl-only   # data only
#include <sys/resource.h>
#include <unistd.h>
#include <xapian.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "directory/index.hpp"
#include "directory/normalize.hpp"
#include "directory/synth.hpp"

namespace {

using namespace caremail::directory;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// CPU time of the whole process (all threads): on a shared machine, queries per CPU second
// says what the engine does with a core, whatever else is running.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

long status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') return std::atol(line.c_str() + n + 1);
  }
  return -1;
}

struct Options {
  synth::Options synth;
  size_t queries = 20000;
  std::vector<int> threads{1, 32};
  bool xapian = false;
  std::string jsonl;
  bool jsonl_only = false;  // write --jsonl and stop (bench/directory_bench.py feeds slapd from it)
  size_t updates = 20000;
};

// A deterministic PRNG for the query mix (the same mix on every run).
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

struct TimedQuery {
  std::string category;
  Query query;
  Viewer viewer;
};

std::string first_word(const std::string& s) {
  auto w = fold_words(s);
  return w.empty() ? std::string() : w[0];
}

std::string typo(Rng& rng, std::string w) {
  if (w.size() < 5) return w;
  size_t i = 1 + rng.below(w.size() - 2);
  switch (rng.below(3)) {
    case 0:
      std::swap(w[i], w[i + 1]);
      break;
    case 1:
      w.erase(i, 1);
      break;
    default:
      w[i] = static_cast<char>('a' + rng.below(26));
      break;
  }
  return w;
}

// The mix: mostly people typing a name into an address book, letter by letter.
std::vector<TimedQuery> make_queries(const std::vector<DirectoryEntry>& sample, size_t n, uint64_t seed) {
  Rng rng{seed * 2654435761ULL + 1};
  std::vector<TimedQuery> out;
  static const char* kSignificant[] = {"hospitals", "surgery", "pharmacy", "council", "trust", "nhs"};
  while (out.size() < n) {
    const DirectoryEntry& e = sample[rng.below(sample.size())];
    const DirectoryEntry& me = sample[rng.below(sample.size())];  // the searcher
    Viewer v{me.org_id, me.is_org_admin, false};
    if (e.kind != EntryKind::person) continue;
    std::string given = fold_text(e.given_name), surname = fold_text(e.surname);
    size_t kind = rng.below(100);
    if (kind < 60) {
      // Typing "given surname" (or "surname given") a letter at a time.
      std::string full = rng.below(4) == 0 ? surname + " " + given : given + " " + surname;
      size_t stop = std::min(full.size(), 3 + rng.below(10));
      for (size_t len = 1; len <= stop && out.size() < n; ++len) {
        TimedQuery q{"typeahead", {}, v};
        q.query.text = full.substr(0, len);
        q.query.typeahead = true;
        out.push_back(std::move(q));
      }
    } else if (kind < 72) {
      TimedQuery q{"surname+org", {}, v};
      q.query.text = surname;
      std::string org;
      for (const auto& w : fold_words(e.org_name)) {
        bool skip =
            std::any_of(std::begin(kSignificant), std::end(kSignificant), [&](const char* s) { return w == s; });
        if (!skip && w.size() > 3) {
          org = w;
          break;
        }
      }
      q.query.organisation = org.empty() ? first_word(e.org_name) : org;
      out.push_back(std::move(q));
    } else if (kind < 82) {
      TimedQuery q{"address", {}, v};
      if (rng.below(2) == 0) {
        q.query.text = e.address;
      } else {
        q.query.address = e.address.substr(0, e.address.find('@') + 1);
        q.query.address_prefix = true;
      }
      out.push_back(std::move(q));
    } else if (kind < 92) {
      TimedQuery q{"typo", {}, v};
      q.query.text = given + " " + typo(rng, surname);
      out.push_back(std::move(q));
    } else if (kind < 96) {
      TimedQuery q{"admins", {}, v};
      q.query.ods_code = me.ods_code;
      q.query.admins_only = true;
      out.push_back(std::move(q));
    } else {
      TimedQuery q{"role+site", {}, v};
      q.query.job_role = e.job_role;
      q.query.site = e.site;
      q.query.text = surname.substr(0, 1 + rng.below(3));
      q.query.typeahead = true;
      out.push_back(std::move(q));
    }
  }
  return out;
}

struct Stats {
  std::vector<double> us;
  void add(double v) { us.push_back(v); }
  double pct(double p) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    return us[std::min(us.size() - 1, static_cast<size_t>(p * static_cast<double>(us.size())))];
  }
};

void run_mix(const DirectoryIndex& ix, const std::vector<TimedQuery>& qs, int threads) {
  std::vector<double> lat(qs.size());
  std::vector<size_t> hits(qs.size());
  std::atomic<size_t> next{0};
  std::atomic<size_t> errors{0};
  const double cpu0 = cpu_seconds();
  auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < qs.size();) {
        auto s = Clock::now();
        auto r = ix.search(qs[i].query, qs[i].viewer, 20);
        lat[i] = std::chrono::duration<double, std::micro>(Clock::now() - s).count();
        if (!r.ok()) {
          ++errors;
        } else {
          hits[i] = r->hits.size();
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  double wall = seconds_since(t0);
  double cpu = cpu_seconds() - cpu0;
  std::map<std::string, Stats> by;
  Stats all;
  std::map<std::string, size_t> empty;
  for (size_t i = 0; i < qs.size(); ++i) {
    by[qs[i].category].add(lat[i]);
    all.add(lat[i]);
    if (hits[i] == 0) ++empty[qs[i].category];
  }
  std::printf(
      "threads %d: %zu queries in %.2f s = %.0f queries/s; %.2f CPU s = %.0f queries per CPU second (errors %zu)\n",
      threads, qs.size(), wall, static_cast<double>(qs.size()) / wall, cpu, static_cast<double>(qs.size()) / cpu,
      errors.load());
  std::printf("  %-12s %8s %9s %9s %9s %9s %8s\n", "category", "count", "p50 us", "p95 us", "p99 us", "max us",
              "no hits");
  auto line = [&](const std::string& name, Stats& s, size_t e) {
    std::printf("  %-12s %8zu %9.0f %9.0f %9.0f %9.0f %8zu\n", name.c_str(), s.us.size(), s.pct(0.5), s.pct(0.95),
                s.pct(0.99), s.pct(1.0), e);
  };
  for (auto& [name, s] : by) line(name, s, empty[name]);
  if (threads == 1) {  // the slowest, to see what costs
    std::vector<size_t> order(qs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::partial_sort(order.begin(), order.begin() + std::min<size_t>(8, order.size()), order.end(),
                      [&](size_t a, size_t b) { return lat[a] > lat[b]; });
    for (size_t k = 0; k < std::min<size_t>(8, order.size()); ++k) {
      const auto& q = qs[order[k]];
      std::printf("    slow %7.0f us  %-11s text '%s' org '%s' ods '%s' role '%s' site '%s' addr '%s' viewer org %u\n",
                  lat[order[k]], q.category.c_str(), q.query.text.c_str(), q.query.organisation.c_str(),
                  q.query.ods_code.c_str(), q.query.job_role.c_str(), q.query.site.c_str(), q.query.address.c_str(),
                  q.viewer.org_id);
    }
  }
  size_t total_empty = 0;
  for (auto& [k, v] : empty) total_empty += v;
  line("all", all, total_empty);
}

// ---- Xapian, for comparison ------------------------------------------------------------

void xapian_compare(const Options& o, const std::vector<TimedQuery>& qs) {
  auto dir = std::filesystem::temp_directory_path() / ("dirbench-xapian-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto t0 = Clock::now();
  {
    Xapian::WritableDatabase db(dir.string(), Xapian::DB_CREATE_OR_OVERWRITE);
    auto orgs = synth::make_organisations(o.synth);
    size_t n = 0;
    synth::for_each_entry(o.synth, orgs, [&](DirectoryEntry&& e) {
      Xapian::Document doc;
      std::vector<std::string> words;
      for (const std::string* s : {&e.title, &e.given_name, &e.surname, &e.display_name, &e.org_name}) {
        fold_words(*s, WordMode::index, words);
      }
      std::string a = fold_address(e.address);
      fold_words(a.substr(0, a.rfind('@')), WordMode::index, words);
      words.push_back(fold_address(e.ods_code));
      for (const auto& w : words) doc.add_term(w);
      doc.add_boolean_term("A" + a);
      doc.add_value(0, fold_text(e.surname.empty() ? e.display_name : e.surname) + "\x01" + fold_text(e.given_name));
      doc.add_value(1, std::to_string(e.org_id));
      doc.set_data(std::to_string(e.id));
      db.replace_document(static_cast<Xapian::docid>(e.id), doc);
      if (++n % 200000 == 0) db.commit();
    });
    db.commit();
  }
  double build = seconds_since(t0);
  std::printf("xapian: built %u entries (glass, %s) in %.1f s; VmRSS %ld MB\n", o.synth.entries, dir.c_str(), build,
              status_kb("VmRSS") / 1024);

  Xapian::Database db(dir.string());
  Stats typeahead, exact, all;
  size_t n = 0;
  const double cpu0 = cpu_seconds();
  auto t1 = Clock::now();
  for (const auto& tq : qs) {
    // The parts Xapian can do: typeahead (last word a prefix) and plain words; no typo
    // tolerance in Xapian 1.4, and no own-organisation grouping here (sorted by name only).
    if (tq.category != "typeahead" && tq.category != "surname+org") continue;
    auto words = fold_words(tq.query.text);
    if (words.empty()) continue;
    auto s = Clock::now();
    std::vector<Xapian::Query> parts;
    for (size_t i = 0; i < words.size(); ++i) {
      bool last = i + 1 == words.size() && tq.query.typeahead && tq.query.text.back() != ' ';
      if (last) {
        parts.emplace_back(Xapian::Query::OP_WILDCARD, words[i], 0, Xapian::Query::WILDCARD_LIMIT_ERROR);
        Xapian::Query exact_or_prefix(Xapian::Query::OP_OR, Xapian::Query(words[i]), parts.back());
        parts.back() = exact_or_prefix;
      } else {
        parts.emplace_back(words[i]);
      }
    }
    for (const auto& w : fold_words(tq.query.organisation)) parts.emplace_back(w);
    Xapian::Enquire enq(db);
    enq.set_query(Xapian::Query(Xapian::Query::OP_AND, parts.begin(), parts.end()));
    enq.set_sort_by_value(0, false);
    Xapian::MSet m = enq.get_mset(0, 20);
    for (auto it = m.begin(); it != m.end(); ++it) (void)it.get_document().get_data();
    double us = std::chrono::duration<double, std::micro>(Clock::now() - s).count();
    (tq.category == "typeahead" ? typeahead : exact).add(us);
    all.add(us);
    ++n;
  }
  double wall = seconds_since(t1);
  double cpu = cpu_seconds() - cpu0;
  std::printf("xapian, 1 thread: %zu queries in %.2f s = %.0f queries/s; %.0f queries per CPU second\n", n, wall,
              static_cast<double>(n) / wall, static_cast<double>(n) / cpu);
  std::printf("  typeahead   p50 %.0f us  p99 %.0f us  max %.0f us\n", typeahead.pct(0.5), typeahead.pct(0.99),
              typeahead.pct(1.0));
  std::printf("  surname+org p50 %.0f us  p99 %.0f us  max %.0f us\n", exact.pct(0.5), exact.pct(0.99), exact.pct(1.0));
  std::filesystem::remove_all(dir);
}

int usage() {
  std::fprintf(stderr,
               "usage: directory_bench [--entries N] [--orgs N] [--seed S] [--queries N] [--threads 1,32]\n"
               "                       [--updates N] [--xapian] [--jsonl FILE [--jsonl-only]]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when redirected to a file
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--xapian") {
      o.xapian = true;
    } else if (a == "--jsonl-only") {
      o.jsonl_only = true;
    } else if ((v = value()) == nullptr) {
      return usage();
    } else if (a == "--entries") {
      o.synth.entries = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    } else if (a == "--orgs") {
      o.synth.organisations = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    } else if (a == "--seed") {
      o.synth.seed = std::strtoull(v, nullptr, 10);
    } else if (a == "--queries") {
      o.queries = std::strtoul(v, nullptr, 10);
    } else if (a == "--updates") {
      o.updates = std::strtoul(v, nullptr, 10);
    } else if (a == "--jsonl") {
      o.jsonl = v;
    } else if (a == "--threads") {
      o.threads.clear();
      for (char* p = const_cast<char*>(v); *p;) {
        o.threads.push_back(static_cast<int>(std::strtol(p, &p, 10)));
        if (*p == ',') ++p;
      }
    } else {
      return usage();
    }
  }
  if (o.synth.organisations == 0 || o.synth.entries == 0) return usage();
  if (o.jsonl_only) {
    if (o.jsonl.empty()) return usage();
    // The same entries DirectoryService loads for [directory] synthetic_entries, as JSON lines.
    std::ofstream out(o.jsonl);
    auto orgs = synth::make_organisations(o.synth);
    synth::for_each_entry(o.synth, orgs, [&](DirectoryEntry&& e) { synth::write_jsonl(out, e); });
    out.close();
    if (!out) {
      std::fprintf(stderr, "directory_bench: cannot write %s\n", o.jsonl.c_str());
      return 1;
    }
    return 0;
  }

  std::printf("directory_bench: %u entries, %u organisations, seed %llu; %u cores\n", o.synth.entries,
              o.synth.organisations, static_cast<unsigned long long>(o.synth.seed),
              std::thread::hardware_concurrency());
  std::printf("start: VmRSS %ld MB\n", status_kb("VmRSS") / 1024);

  // Generate straight into the builder; keep a sample to make queries from.
  auto t0 = Clock::now();
  auto orgs = synth::make_organisations(o.synth);
  DirectoryIndex::Builder builder;
  std::vector<DirectoryEntry> sample;
  std::vector<DirectoryEntry> update_pool;
  std::ofstream jsonl;
  if (!o.jsonl.empty()) jsonl.open(o.jsonl);
  double add_s = 0;
  size_t n = 0;
  const size_t stride = std::max<size_t>(1, o.synth.entries / 20000);
  synth::for_each_entry(o.synth, orgs, [&](DirectoryEntry&& e) {
    if (jsonl.is_open()) synth::write_jsonl(jsonl, e);
    if (n % stride == 0) sample.push_back(e);
    if (n % stride == stride / 2 && update_pool.size() < o.updates) update_pool.push_back(e);
    ++n;
    auto s = Clock::now();
    builder.add(e);
    add_s += seconds_since(s);
  });
  double gen_add_s = seconds_since(t0);
  auto t1 = Clock::now();
  DirectoryIndex ix = std::move(builder).finish();
  double finish_s = seconds_since(t1);
  auto st = ix.stats();
  std::printf("build: generate+add %.1f s (of which add %.1f s), finish %.1f s => index build %.1f s\n", gen_add_s,
              add_s, finish_s, add_s + finish_s);
  std::printf("index: %zu entries, %zu terms, %zu organisations, ~%zu MB held; VmRSS %ld MB, VmHWM %ld MB\n",
              st.entries, st.terms, st.organisations, st.memory_bytes >> 20, status_kb("VmRSS") / 1024,
              status_kb("VmHWM") / 1024);

  auto qs = make_queries(sample, o.queries, o.synth.seed);
  run_mix(ix, qs, 1);
  for (int t : o.threads) {
    if (t != 1) run_mix(ix, qs, t);
  }

  // Updates: people editing their own entries (a new surname, a new mobile).
  if (!update_pool.empty()) {
    auto t2 = Clock::now();
    for (size_t i = 0; i < update_pool.size(); ++i) {
      DirectoryEntry e = update_pool[i];
      e.surname = sample[i % sample.size()].surname;
      e.display_name = e.given_name + " " + e.surname;
      e.mobile = "07700 900" + std::to_string(i % 1000);
      if (!ix.upsert(e).ok()) return 1;
    }
    double up = seconds_since(t2);
    std::printf("updates: %zu upserts in %.2f s = %.1f us each\n", update_pool.size(), up,
                up * 1e6 / static_cast<double>(update_pool.size()));
    run_mix(ix, qs, 1);
    auto t3 = Clock::now();
    ix.compact();
    std::printf("compact: %.1f s; VmHWM %ld MB\n", seconds_since(t3), status_kb("VmHWM") / 1024);
  }
  std::printf("end: VmRSS %ld MB, VmHWM %ld MB\n", status_kb("VmRSS") / 1024, status_kb("VmHWM") / 1024);

  if (o.xapian) {
    ix = DirectoryIndex();
    xapian_compare(o, qs);
  }
  return 0;
}
