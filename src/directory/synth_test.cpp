// Tests for the synthetic directory: deterministic, the requested sizes, realistic shapes
// (ODS codes, addresses, administrators, privacy flags, accented names), valid JSON lines.
#include "directory/synth.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "directory/normalize.hpp"

namespace caremail::directory::synth {
namespace {

Options small() {
  Options o;
  o.seed = 7;
  o.organisations = 60;
  o.entries = 6000;
  return o;
}

TEST(Synth, SameSeedSameOutput) {
  Data a = generate(small());
  Data b = generate(small());
  ASSERT_EQ(a.entries.size(), b.entries.size());
  EXPECT_TRUE(a.entries == b.entries);
  std::ostringstream ja, jb;
  for (const auto& e : a.entries) write_jsonl(ja, e);
  for (const auto& e : b.entries) write_jsonl(jb, e);
  EXPECT_EQ(ja.str(), jb.str());

  Options other = small();
  other.seed = 8;
  Data c = generate(other);
  EXPECT_FALSE(a.entries == c.entries);
}

TEST(Synth, SizesAndSpread) {
  Data d = generate(small());
  ASSERT_EQ(d.organisations.size(), 60u);
  ASSERT_EQ(d.entries.size(), 6000u);
  uint64_t sum = 0;
  for (const auto& o : d.organisations) sum += o.entries;
  EXPECT_EQ(sum, 6000u);
  // Large trusts have far more entries than practices.
  EXPECT_EQ(d.organisations[0].type, OrgType::trust);
  uint32_t max_gp = 0;
  for (const auto& o : d.organisations) {
    if (o.type == OrgType::gp_practice) max_gp = std::max(max_gp, o.entries);
  }
  EXPECT_GT(d.organisations[0].entries, 10 * max_gp);
  // Ids are 1..N in order.
  for (size_t i = 0; i < d.entries.size(); ++i) ASSERT_EQ(d.entries[i].id, i + 1);
}

TEST(Synth, RealisticFields) {
  Data d = generate(small());
  std::set<std::string> codes, addresses;
  for (const auto& o : d.organisations) {
    EXPECT_TRUE(codes.insert(o.ods_code).second) << o.ods_code;
    if (o.type == OrgType::trust) {
      EXPECT_EQ(o.ods_code.size(), 3u);
      EXPECT_EQ(o.ods_code[0], 'R');
      EXPECT_NE(o.name.find("NHS"), std::string::npos) << o.name;
    }
    if (o.type == OrgType::gp_practice) {
      EXPECT_EQ(o.ods_code.size(), 6u);
    }
    EXPECT_FALSE(o.sites.empty());
  }
  std::map<uint32_t, int> admins;
  int accented = 0, hidden = 0, mobile_hidden = 0, shared = 0, lists = 0;
  for (const auto& e : d.entries) {
    EXPECT_FALSE(e.address.empty()) << e.id;
    EXPECT_TRUE(addresses.insert(e.address).second) << e.address;
    EXPECT_FALSE(e.display_name.empty());
    EXPECT_FALSE(e.ods_code.empty());
    if (e.kind == EntryKind::person) {
      EXPECT_FALSE(e.given_name.empty());
      EXPECT_FALSE(e.surname.empty());
      // first.last@domain, folded to ASCII.
      EXPECT_EQ(e.address.find(fold_words(e.given_name)[0]), 0u) << e.address;
    }
    for (unsigned char c : e.address) EXPECT_LT(c, 0x80) << e.address;
    if (e.is_org_admin) ++admins[e.org_id];
    for (unsigned char c : e.given_name + e.surname) {
      if (c >= 0x80) {
        ++accented;
        break;
      }
    }
    hidden += e.hidden;
    mobile_hidden += e.mobile_hidden;
    shared += e.kind == EntryKind::shared;
    lists += e.kind == EntryKind::list;
  }
  // Every organisation with entries has an administrator.
  for (const auto& o : d.organisations) {
    if (o.entries > 0) {
      EXPECT_GE(admins[o.id], 1) << o.name;
    }
  }
  EXPECT_GT(accented, 30);
  EXPECT_GT(hidden, 5);
  EXPECT_GT(mobile_hidden, 100);
  EXPECT_GT(shared, 50);
  EXPECT_GT(lists, 20);
}

TEST(Synth, StreamingMatchesGenerate) {
  Options o = small();
  Data d = generate(o);
  auto orgs = make_organisations(o);
  size_t i = 0;
  bool same = true;
  for_each_entry(o, orgs, [&](DirectoryEntry&& e) { same = same && e == d.entries[i++]; });
  EXPECT_EQ(i, d.entries.size());
  EXPECT_TRUE(same);
}

TEST(Synth, JsonLines) {
  DirectoryEntry e;
  e.id = 42;
  e.given_name = "Zoë";
  e.surname = "O\"Brien";
  e.notes = "line\nbreak";
  e.hidden = true;
  std::ostringstream out;
  write_jsonl(out, e);
  std::string s = out.str();
  EXPECT_EQ(s.back(), '\n');
  EXPECT_EQ(s.find('\n'), s.size() - 1);
  EXPECT_NE(s.find("\"id\":42"), std::string::npos);
  EXPECT_NE(s.find("\"given_name\":\"Zoë\""), std::string::npos);
  EXPECT_NE(s.find("\"surname\":\"O\\\"Brien\""), std::string::npos);
  EXPECT_NE(s.find("\"notes\":\"line\\nbreak\""), std::string::npos);
  EXPECT_NE(s.find("\"hidden\":true"), std::string::npos);
  EXPECT_NE(s.find("\"kind\":\"person\""), std::string::npos);
}

TEST(Synth, OneOrganisation) {
  Options o;
  o.organisations = 1;
  o.entries = 10;
  Data d = generate(o);
  EXPECT_EQ(d.entries.size(), 10u);
  Options none;
  none.organisations = 3;
  none.entries = 0;
  EXPECT_TRUE(generate(none).entries.empty());
}

}  // namespace
}  // namespace caremail::directory::synth
