// A synthetic national directory for tests and benchmarks: organisations with realistic
// ODS codes and names (NHS trusts, GP practices, pharmacies, councils' social care, care
// homes, hospices) and entries spread over them as in life (a large trust has thousands,
// a practice tens), with British and international names, some accented ("Zoë", "José",
// "Siobhán"), roles, specialities, sites and telephone numbers.
//
// Deterministic: the same options give byte-identical output on every platform (own PRNG,
// no std:: distributions, whose results differ between standard libraries). Pure: no I/O
// except write_jsonl to the stream it is given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "directory/entry.hpp"

namespace caremail::directory::synth {

enum class OrgType : uint8_t { trust, gp_practice, pharmacy, council, care_home, hospice };

struct Organisation {
  uint32_t id = 0;  // 1..N
  OrgType type = OrgType::trust;
  std::string ods_code;  // "RXX" (trusts), "A81001" (practices), "FA1B2" (pharmacies), ...
  std::string name;      // "Northfield Hospitals NHS Foundation Trust"
  std::string domain;    // "northfield-hospitals.care.example"
  std::vector<std::string> sites;
  uint32_t entries = 0;  // how many entries generate() gives it
};

struct Options {
  uint64_t seed = 1;
  uint32_t organisations = 10'000;
  uint32_t entries = 1'300'000;
};

// The organisations and how many entries each gets (summing to options.entries).
// REQUIRES: options.organisations >= 1.
std::vector<Organisation> make_organisations(const Options& options);

// Calls `fn` once per entry, organisation by organisation, ids 1..entries in order, without
// holding them all: the full-scale benchmark streams 1.3 million entries into the index
// builder this way. `orgs` must come from make_organisations(options).
void for_each_entry(const Options& options, const std::vector<Organisation>& orgs,
                    const std::function<void(DirectoryEntry&&)>& fn);

struct Data {
  std::vector<Organisation> organisations;
  std::vector<DirectoryEntry> entries;
};

// Everything at once (tests, small scales).
Data generate(const Options& options);

// One entry as one JSON object on one line, fields named as in DirectoryEntry.
void write_jsonl(std::ostream& out, const DirectoryEntry& e);

}  // namespace caremail::directory::synth
