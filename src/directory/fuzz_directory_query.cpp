// libFuzzer target for the directory's handling of untrusted query text: folding
// (normalize.hpp) and the query parser and search (index.hpp) over a small synthetic
// directory. Input: free text, then NUL-separated organisation, role, site and address
// filters; the first byte picks typeahead, address prefix, admins only and the viewer.
// Beyond "no crash, no UB" it checks promises the headers make.
//
//   cmake -S . -B build-directory-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang
//         -DCAREMAIL_FUZZ=ON && cmake --build build-directory-fuzz --target fuzz_directory_query
//   build-directory-fuzz/src/fuzz_directory_query -max_len=512 $(mktemp -d)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "directory/index.hpp"
#include "directory/normalize.hpp"
#include "directory/synth.hpp"

namespace {

using namespace caremail::directory;

void check(bool ok) {
  if (!ok) std::abort();
}

std::string_view take_field(std::string_view& in) {
  size_t nul = in.find('\0');
  std::string_view field = in.substr(0, nul);
  in = nul == std::string_view::npos ? std::string_view{} : in.substr(nul + 1);
  return field;
}

const DirectoryIndex& index() {
  static const DirectoryIndex ix = [] {
    synth::Options o;
    o.seed = 5;
    o.organisations = 20;
    o.entries = 2000;
    return DirectoryIndex::build(synth::generate(o).entries);
  }();
  return ix;
}

void check_words(std::string_view text) {
  for (const auto& w : fold_words(text, WordMode::index)) {
    check(!w.empty() && w.size() <= kMaxWordBytes);
    for (unsigned char c : w) check(!(c >= 'A' && c <= 'Z') && c != ' ');
    check(fold_words(w) == std::vector<std::string>{w});  // folding is idempotent
  }
  std::string t = fold_text(text);
  check(fold_text(t) == t);
  std::string a = fold_address(text);
  check(fold_address(a) == a);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  Query q;
  q.text = take_field(in);
  q.organisation = take_field(in);
  q.job_role = take_field(in);
  q.site = take_field(in);
  q.address = take_field(in);
  if (std::string_view piece = take_field(in); !piece.empty()) q.contains.emplace_back(piece);
  q.names_only = flags & 0x20 && flags & 0x10;
  q.typeahead = flags & 1;
  q.address_prefix = flags & 2;
  q.admins_only = flags & 4;
  Viewer v{static_cast<uint32_t>((flags >> 3) & 7), false, false};

  check_words(q.text);
  check(within_one_edit(q.text, q.organisation) == within_one_edit(q.organisation, q.text));

  auto r = index().search(q, v, 1 + (flags >> 6), flags & 8 ? 3 : 0);
  if (!r.ok()) {
    check(r.error().code == caremail::Errc::invalid_argument);
    return 0;
  }
  check(r->hits.size() <= 4);
  for (const Hit& h : r->hits) {
    check(!h.entry.hidden);                                   // a plain viewer never sees hidden entries
    check(!h.entry.mobile_hidden || h.entry.mobile.empty());  // nor hidden mobiles
    check(h.own_org == (h.entry.org_id == v.org_id));
  }
  if (r->total_exact) check(r->total >= r->hits.size());
  return 0;
}
