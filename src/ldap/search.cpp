#include "ldap/search.hpp"

#include <algorithm>
#include <array>
#include <optional>

#include "directory/normalize.hpp"
#include "common/hex.hpp"

namespace caremail::ldap {

namespace {


bool is_space(char c) { return c == ' '; }

std::string trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

bool same_dn(const std::vector<Rdn>& a, size_t from, const std::vector<Rdn>& b) {
  if (a.size() - from != b.size()) return false;
  for (size_t i = 0; i < b.size(); ++i)
    if (a[from + i].attribute != b[i].attribute || !iequals(a[from + i].value, b[i].value)) return false;
  return true;
}

// ---- the plan ----

using Queries = std::vector<directory::Query>;

void append_words(std::string& field, std::string_view words) {
  if (words.empty()) return;
  if (!field.empty()) field += ' ';
  field += words;
}

// The words of a value as the directory would take them, joined by spaces.
std::string words_of(std::string_view value) {
  std::string out;
  for (const std::string& w : directory::fold_words(value)) append_words(out, w);
  return out;
}

// The words of an address fragment's local part, without the digits that tell namesakes
// apart (the index leaves them out: "williams17" is the word "williams").
std::string mail_words(std::string_view value) {
  size_t at = value.find('@');
  std::string out;
  for (std::string w : directory::fold_words(value.substr(0, at))) {
    size_t end = w.size();
    while (end > 0 && w[end - 1] >= '0' && w[end - 1] <= '9') --end;
    if (end > 0) w.resize(end);
    append_words(out, w);
  }
  return out;
}

bool same_query(const directory::Query& a, const directory::Query& b) {
  return a.text == b.text && a.typeahead == b.typeahead && a.ods_code == b.ods_code &&
         a.organisation == b.organisation && a.job_role == b.job_role && a.speciality == b.speciality &&
         a.work_area == b.work_area && a.unit == b.unit && a.site == b.site && a.address == b.address &&
         a.address_prefix == b.address_prefix && a.kind == b.kind && a.admins_only == b.admins_only &&
         a.names_only == b.names_only && a.contains == b.contains && a.address_contains == b.address_contains;
}

// Both queries' conditions at once (AND). Where both name an address, the first one's is
// kept: the candidates can only grow.
directory::Query merge(directory::Query a, const directory::Query& b) {
  a.assertions.insert(a.assertions.end(), b.assertions.begin(), b.assertions.end());
  // The merged words must be the entry's own only if each side's had to be.
  a.names_only = (a.names_only || a.text.empty()) && (b.names_only || b.text.empty());
  append_words(a.text, b.text);
  a.contains.insert(a.contains.end(), b.contains.begin(), b.contains.end());
  a.address_contains.insert(a.address_contains.end(), b.address_contains.begin(), b.address_contains.end());
  append_words(a.organisation, b.organisation);
  append_words(a.job_role, b.job_role);
  append_words(a.speciality, b.speciality);
  append_words(a.work_area, b.work_area);
  append_words(a.unit, b.unit);
  append_words(a.site, b.site);
  if (a.ods_code.empty()) a.ods_code = b.ods_code;
  if (a.address.empty()) {
    a.address = b.address;
    a.address_prefix = b.address_prefix;
  }
  return a;
}

// Two branches of an OR that became the same query: an entry may pass either's
// assertions. One OR of assertions each: their union. Anything else: no condition (a
// wider net; the exact filter still decides).
void or_assertions(std::vector<std::vector<directory::SubstringAssertion>>& into,
                   const std::vector<std::vector<directory::SubstringAssertion>>& other) {
  if (into.size() != 1 || other.size() != 1) {
    into.clear();
    return;
  }
  for (const auto& a : other[0])
    if (std::find(into[0].begin(), into[0].end(), a) == into[0].end()) into[0].push_back(a);
}

// The stored field an attribute's substring assertion reads (CandidateView's slots).
std::optional<directory::NameField> name_field(std::string_view base) {
  if (base == "cn" || base == "displayname" || base == "name") return directory::NameField::common_name;
  if (base == "givenname") return directory::NameField::given_name;
  if (base == "sn") return directory::NameField::surname;
  if (base == "mail") return directory::NameField::address;
  return std::nullopt;
}

// The substring test of a filter, for the index to check before it counts a candidate.
void add_assertion(directory::Query& q, const Filter& f, std::string_view base) {
  if (f.kind != Filter::Kind::substrings) return;
  auto field = name_field(base);
  if (!field) return;
  directory::SubstringAssertion a;
  a.field = *field;
  if (f.initial) a.initial = *f.initial;
  a.any = f.any;
  if (f.final_) a.final_ = *f.final_;
  q.assertions.push_back({std::move(a)});
}

// The Query field a directory attribute's words go to; nullptr when the attribute is not
// searchable through the index.
std::string* field_for(directory::Query& q, std::string_view canonical) {
  std::string_view base = canonical.substr(0, canonical.find(';'));
  if (base == "cn" || base == "displayname" || base == "givenname" || base == "sn" || base == "name") return &q.text;
  if (base == "o") return &q.organisation;
  if (base == "ou") return &q.unit;
  if (base == "title") return &q.job_role;
  if (base == "businesscategory") return &q.speciality;
  if (base == "departmentnumber") return &q.work_area;
  if (base == "physicaldeliveryofficename" || base == "l") return &q.site;
  return nullptr;
}

// The second look for a substring filter: the first took every component as the start
// of a word ("(cn=*son*)": Sonia), this one takes the inner and final components anywhere
// inside a word (Johnson, Davidson) and the initial's words as before, so that together
// they find every entry the filter matches. Run after the first, so word starts come
// first. nullopt when there is nothing more to find, or nothing to bound it by (no
// initial and no piece of three letters: "(cn=*jo*)" finds only words starting "jo").
// For mail the pieces may lie anywhere in the address, domain included ("(mail=*how*)" is
// everyone at chowdhury-chemists).
std::optional<directory::Query> inside_pass(const directory::Query& first, const Filter& f, bool mail) {
  if (f.any.empty() && !f.final_) return std::nullopt;
  directory::Query q = first;
  q.text = f.initial ? (mail ? mail_words(*f.initial) : words_of(*f.initial)) : std::string();
  // Pieces of one or two letters narrow nothing (the index ignores them): left out here,
  // so that the names' and the address's second looks at "(cn=david*t*)" and
  // "(mail=david*t*)" are one query (the Davids) with both tests.
  auto add = [&](std::string_view component) {
    if (mail) {
      if (directory::fold_address(component).size() >= 3) q.address_contains.emplace_back(component);
      return;
    }
    for (std::string& piece : directory::fold_words(component)) {
      if (piece.size() >= 3) q.contains.push_back(std::move(piece));
    }
  };
  for (const std::string& a : f.any) add(a);
  if (f.final_) add(*f.final_);
  if (q.text.empty() && q.contains.empty() && q.address_contains.empty()) return std::nullopt;
  return q;
}

// The shortest mail=<initial>* taken as an address prefix.
constexpr size_t kMinAddressPrefix = 3;

// nullopt: unbounded (this test gives no search terms).
std::optional<Queries> plan(const Filter& f) {
  using K = Filter::Kind;
  switch (f.kind) {
    case K::and_: {
      std::optional<Queries> acc;
      for (const Filter& c : f.children) {
        std::optional<Queries> p = plan(c);
        if (!p) continue;
        if (!acc) {
          acc = std::move(p);
          continue;
        }
        if (p->empty() || acc->empty()) return Queries{};  // one side selects nothing
        if (acc->size() * p->size() > kMaxQueries) continue;  // leave it out: a wider net
        Queries merged;
        for (const auto& a : *acc)
          for (const auto& b : *p) merged.push_back(merge(a, b));
        acc = std::move(merged);
      }
      return acc;
    }
    case K::or_: {
      Queries all;
      for (const Filter& c : f.children) {
        std::optional<Queries> p = plan(c);
        if (!p) return std::nullopt;
        for (auto& q : *p) {
          auto same = std::find_if(all.begin(), all.end(), [&](const directory::Query& x) { return same_query(x, q); });
          if (same == all.end()) {
            all.push_back(std::move(q));
          } else {
            or_assertions(same->assertions, q.assertions);
          }
        }
        if (all.size() > kMaxQueries) return std::nullopt;
      }
      return all;
    }
    case K::not_:
    case K::present:
    case K::greater_or_equal:
    case K::less_or_equal: return std::nullopt;
    case K::equality:
    case K::approx:
    case K::substrings:
    case K::extensible: {
      if (f.kind == K::extensible && !f.matching_rule.empty() && f.matching_rule != "2.5.13.2" &&
          !iequals(f.matching_rule, "caseIgnoreMatch"))
        return std::nullopt;
      std::string canon = canonical_attribute(f.attribute);
      std::string_view base = std::string_view(canon).substr(0, canon.find(';'));
      directory::Query q;
      if (base == "mail") {
        if (f.kind != K::substrings) {
          q.address = f.value;
        } else if (f.initial && (f.initial->find('@') != std::string::npos ||
                                 (f.initial->size() >= kMinAddressPrefix && f.any.empty() && !f.final_))) {
          // "mail begins with": exactly what an address prefix finds. Shorter beginnings
          // span tens of thousands of addresses, which the ready-made one- and two-letter
          // word lists serve better; with more components ("sarah*cr*") the words of all
          // of them together are the narrower net.
          q.address = *f.initial;
          q.address_prefix = true;
          add_assertion(q, f, base);
        } else {
          std::string words;
          if (f.initial) append_words(words, mail_words(*f.initial));
          for (const auto& a : f.any) append_words(words, mail_words(a));
          if (f.final_) append_words(words, mail_words(*f.final_));
          if (words.empty()) return std::nullopt;
          q.text = std::move(words);
          // Read as the local part's words, the entry's own: a fragment of the domain
          // ("*northfield*") is for the second look (inside_pass).
          q.names_only = true;
          add_assertion(q, f, base);
          if (auto inside = inside_pass(q, f, true)) return Queries{std::move(q), std::move(*inside)};
        }
        return Queries{std::move(q)};
      }
      std::string* field = field_for(q, canon);
      if (!field) return std::nullopt;
      std::string words;
      if (f.kind == K::substrings) {
        if (f.initial) append_words(words, words_of(*f.initial));
        for (const auto& a : f.any) append_words(words, words_of(a));
        if (f.final_) append_words(words, words_of(*f.final_));
      } else {
        words = words_of(f.value);
      }
      if (words.empty()) return std::nullopt;
      // A name's words must be the entry's own: otherwise (cn=wa*) would gather everyone
      // whose organisation has a word in "wa" (Walsall, Warrington) for the exact filter
      // to throw away.
      if (field == &q.text) {
        q.names_only = true;
        add_assertion(q, f, base);
      }
      *field = std::move(words);
      if (field == &q.text && f.kind == K::substrings) {
        if (auto inside = inside_pass(q, f, false)) return Queries{std::move(q), std::move(*inside)};
      }
      return Queries{std::move(q)};
    }
  }
  return std::nullopt;
}

void add(std::vector<Attribute>& attrs, std::string name, std::string_view value) {
  if (value.empty()) return;
  attrs.push_back(Attribute{std::move(name), {std::string(value)}});
}

// The attributes of a directory entry after objectClass, in the order they are returned:
// (name as returned, canonical name). One list for to_entry() and CandidateView, so the
// filter sees exactly what is returned.
struct Slot {
  std::string_view name;
  std::string_view canonical;
};
constexpr std::array<Slot, 17> kSlots{{{"cn", "cn"},
                                       {"displayName", "displayname"},
                                       {"givenName", "givenname"},
                                       {"sn", "sn"},
                                       {"mail", "mail"},
                                       {"o", "o"},
                                       {"ou", "ou"},
                                       {"title", "title"},
                                       {"personalTitle", "personaltitle"},
                                       {"businessCategory", "businesscategory"},
                                       {"departmentNumber", "departmentnumber"},
                                       {"physicalDeliveryOfficeName", "physicaldeliveryofficename"},
                                       {"telephoneNumber", "telephonenumber"},
                                       {"mobile", "mobile"},
                                       {"pager", "pager"},
                                       {"facsimileTelephoneNumber", "facsimiletelephonenumber"},
                                       {"description", "description"}}};

// Calls fn(slot index, value) for every slot, empty values included. `name` is scratch
// space for the composed display name.
template <class Fn>
void for_each_slot(const directory::DirectoryEntry& e, std::string& name, Fn&& fn) {
  directory::common_name(e.display_name, e.given_name, e.surname, e.address, name);
  const std::string_view values[kSlots.size()] = {
      name,        name,        e.given_name, e.surname.empty() ? std::string_view(name) : std::string_view(e.surname),
      e.address,   e.org_name,  e.unit,       e.job_role,
      e.title,     e.speciality, e.work_area, e.site,
      e.telephone, e.mobile,    e.pager,      e.fax,
      e.notes};
  for (size_t i = 0; i < kSlots.size(); ++i) fn(i, values[i]);
}

const std::vector<std::string>& person_classes() {
  static const std::vector<std::string> v{"top", "person", "organizationalPerson", "inetOrgPerson"};
  return v;
}

// The inetOrgPerson schema's attributes (RFC 2798, 4519) and the operational ones clients
// ask for: a test of one an entry lacks is FALSE; of any other, Undefined.
constexpr std::array<std::string_view, 58> kKnown{
    "objectclass", "cn", "sn", "givenname", "displayname", "mail", "o", "ou", "title", "personaltitle",
    "businesscategory", "departmentnumber", "physicaldeliveryofficename", "l", "st", "street", "postalcode",
    "postaladdress", "postofficebox", "c", "telephonenumber", "mobile", "pager", "facsimiletelephonenumber",
    "homephone", "homepostaladdress", "description", "uid", "initials", "employeenumber", "employeetype",
    "manager", "secretary", "seealso", "roomnumber", "carlicense", "preferredlanguage", "labeleduri",
    "jpegphoto", "photo", "usercertificate", "usersmimecertificate", "usercertificate;binary",
    "registeredaddress", "destinationindicator", "internationalisdnnumber", "x121address", "telexnumber",
    "teletexterminalidentifier", "preferreddeliverymethod", "audio", "generationqualifier", "pseudonym",
    "name", "dc", "member", "userpassword", "distinguishedname"};

}  // namespace

// ---- DNs ----

std::optional<std::vector<Rdn>> parse_dn(std::string_view dn) {
  std::vector<Rdn> out;
  if (trim(dn).empty()) return out;
  size_t i = 0;
  const size_t n = dn.size();
  while (i <= n) {
    // attribute
    while (i < n && is_space(dn[i])) ++i;
    size_t a = i;
    while (i < n && dn[i] != '=' && dn[i] != ',' && dn[i] != '+') ++i;
    if (i >= n || dn[i] != '=') return std::nullopt;
    std::string attr = trim(dn.substr(a, i - a));
    if (!valid_attribute_description(attr)) return std::nullopt;
    ++i;  // '='
    while (i < n && is_space(dn[i])) ++i;
    if (i < n && dn[i] == '"') return std::nullopt;
    std::string value;
    size_t significant = 0;  // value length up to its last escaped or non-space octet
    while (i < n && dn[i] != ',' && dn[i] != ';') {
      char c = dn[i];
      if (c == '+') return std::nullopt;  // multi-valued RDN
      if (c == '\\') {
        if (i + 1 >= n) return std::nullopt;
        int h = hex_value(dn[i + 1]);
        int l = i + 2 < n ? hex_value(dn[i + 2]) : -1;
        if (h >= 0 && l >= 0) {
          value += static_cast<char>(h * 16 + l);
          i += 3;
        } else {
          value += dn[i + 1];
          i += 2;
        }
        significant = value.size();
        continue;
      }
      value += c;
      if (!is_space(c)) significant = value.size();
      ++i;
    }
    value.resize(significant);
    out.push_back(Rdn{canonical_attribute(attr), std::move(value)});
    if (i >= n) break;
    ++i;  // ',' or ';'
    if (i >= n) return std::nullopt;  // trailing separator
  }
  return out;
}

std::string escape_dn_value(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    bool special = c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' || c == '=' ||
                   (c == ' ' && (i == 0 || i + 1 == v.size())) || (c == '#' && i == 0);
    if (c == '\0' || static_cast<unsigned char>(c) < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += '\\';
      out += hex[(static_cast<unsigned char>(c) >> 4) & 0xf];
      out += hex[static_cast<unsigned char>(c) & 0xf];
      continue;
    }
    if (special) out += '\\';
    out += c;
  }
  return out;
}

Located locate(std::string_view dn, std::string_view base_dn) {
  Located loc;
  auto rdns = parse_dn(dn);
  if (!rdns) return loc;
  if (rdns->empty()) {
    loc.kind = Located::Kind::root_dse;
    return loc;
  }
  loc.kind = Located::Kind::outside;
  auto base = parse_dn(base_dn);
  if (!base || rdns->size() < base->size()) return loc;
  size_t extra = rdns->size() - base->size();
  if (!same_dn(*rdns, extra, *base)) return loc;
  const auto& r = *rdns;
  if (extra == 0) {
    loc.kind = Located::Kind::suffix;
  } else if (extra == 1 && r[0].attribute == "ou") {
    loc.kind = Located::Kind::organisation;
    loc.ods_code = r[0].value;
  } else if (extra == 1 && r[0].attribute == "mail") {
    loc.kind = Located::Kind::entry;  // an entry without an organisation
    loc.address = r[0].value;
  } else if (extra == 2 && r[0].attribute == "mail" && r[1].attribute == "ou") {
    loc.kind = Located::Kind::entry;
    loc.address = r[0].value;
    loc.ods_code = r[1].value;
  }
  return loc;
}

std::string entry_dn(const directory::DirectoryEntry& e, std::string_view base_dn) {
  std::string dn = "mail=" + escape_dn_value(e.address) + ",";
  if (!e.ods_code.empty()) dn += "ou=" + escape_dn_value(e.ods_code) + ",";
  dn += base_dn;
  return dn;
}

std::optional<std::string> bind_address(std::string_view name) {
  std::string n = trim(name);
  if (n.empty()) return std::nullopt;
  if (n.find('=') == std::string::npos) {
    if (n.find('@') == std::string::npos || n.find(',') != std::string::npos) return std::nullopt;
    return n;
  }
  auto rdns = parse_dn(n);
  if (!rdns || rdns->empty()) return std::nullopt;
  const Rdn& first = (*rdns)[0];
  if ((first.attribute == "mail" || first.attribute == "uid") && first.value.find('@') != std::string::npos)
    return first.value;
  return std::nullopt;
}

// ---- the plan ----

SearchPlan plan_search(const Filter& f) {
  SearchPlan p;
  std::optional<Queries> q = plan(f);
  if (!q) {
    p.unbounded = true;
    return p;
  }
  p.queries = std::move(*q);
  for (auto& query : p.queries) query.allow_typos = false;
  // Queries by an address first: they are the most selective (an address, or the beginning
  // of addresses), and a typeahead's (mail=sarah.c*) branch then fills the page before the
  // broader name words are looked at. Pieces inside words last: they find what word
  // starts did not.
  auto rank = [](const directory::Query& x) {
    return !x.address.empty() ? 0 : x.contains.empty() && x.address_contains.empty() ? 1 : 2;
  };
  std::stable_sort(p.queries.begin(), p.queries.end(),
                   [&](const directory::Query& a, const directory::Query& b) { return rank(a) < rank(b); });
  return p;
}

void restrict_to_organisation(SearchPlan& plan, std::string_view ods_code) {
  if (plan.unbounded) {
    plan.unbounded = false;
    plan.queries.assign(1, directory::Query{});
    plan.queries[0].allow_typos = false;
  }
  for (auto& q : plan.queries) q.ods_code = std::string(ods_code);
}

// ---- entries ----

Entry to_entry(const directory::DirectoryEntry& e, std::string_view base_dn) {
  Entry out;
  out.dn = entry_dn(e, base_dn);
  auto& a = out.attributes;
  a.reserve(kSlots.size() + 1);
  a.push_back(Attribute{"objectClass", person_classes()});
  std::string name;
  for_each_slot(e, name, [&](size_t i, std::string_view v) { add(a, std::string(kSlots[i].name), v); });
  return out;
}

void CandidateView::fill(const directory::DirectoryEntry& e) {
  for_each_slot(e, name_, [&](size_t i, std::string_view v) {
    if (v.empty()) {
      values_[i].clear();
    } else {
      values_[i].resize(1);
      values_[i][0].assign(v);
    }
  });
}

const std::vector<std::string>* CandidateView::find(std::string_view canonical) const {
  if (canonical == "objectclass") return &person_classes();
  for (size_t i = 0; i < kSlots.size(); ++i)
    if (kSlots[i].canonical == canonical) return values_[i].empty() ? nullptr : &values_[i];
  return nullptr;
}

bool CandidateView::known_attribute(std::string_view canonical) const {
  std::string_view base = canonical.substr(0, canonical.find(';'));
  return std::find(kKnown.begin(), kKnown.end(), base) != kKnown.end();
}

Entry root_dse(std::string_view base_dn) {
  Entry e;
  e.attributes.push_back(Attribute{"objectClass", {"top"}});
  e.attributes.push_back(Attribute{"namingContexts", {std::string(base_dn)}});
  e.attributes.push_back(Attribute{"supportedLDAPVersion", {"3"}});
  e.attributes.push_back(Attribute{"supportedControl", {std::string(kPagedResultsOid), std::string(kManageDsaItOid)}});
  e.attributes.push_back(Attribute{"supportedExtension", {std::string(kStartTlsOid), std::string(kWhoAmIOid)}});
  e.attributes.push_back(Attribute{"vendorName", {"Caremail"}});
  return e;
}

Entry suffix_entry(std::string_view base_dn) {
  Entry e;
  e.dn = std::string(base_dn);
  auto rdns = parse_dn(base_dn);
  if (rdns && !rdns->empty() && (*rdns)[0].attribute == "o") {
    e.attributes.push_back(Attribute{"objectClass", {"top", "organization"}});
    e.attributes.push_back(Attribute{"o", {(*rdns)[0].value}});
  } else if (rdns && !rdns->empty() && (*rdns)[0].attribute == "dc") {
    e.attributes.push_back(Attribute{"objectClass", {"top", "domain"}});
    e.attributes.push_back(Attribute{"dc", {(*rdns)[0].value}});
  } else {
    e.attributes.push_back(Attribute{"objectClass", {"top", "extensibleObject"}});
  }
  return e;
}

Entry organisation_entry(std::string_view ods_code, std::string_view org_name, std::string_view base_dn) {
  Entry e;
  e.dn = "ou=" + escape_dn_value(ods_code) + "," + std::string(base_dn);
  e.attributes.push_back(Attribute{"objectClass", {"top", "organizationalUnit"}});
  e.attributes.push_back(Attribute{"ou", {std::string(ods_code)}});
  add(e.attributes, "description", org_name);
  return e;
}

bool SchemaView::known_attribute(std::string_view canonical) const {
  std::string_view base = canonical.substr(0, canonical.find(';'));
  return std::find(kKnown.begin(), kKnown.end(), base) != kKnown.end() || e_.find(canonical) != nullptr;
}

Selection parse_selection(const std::vector<std::string>& attributes) {
  Selection s;
  if (attributes.empty()) return s;
  s.all = false;
  for (const std::string& a : attributes) {
    if (a == "*") {
      s.all = true;
    } else if (a == "1.1" || a == "+") {
      // no attributes / operational ones: we keep none beyond the DN
    } else {
      s.names.push_back(canonical_attribute(a));
    }
  }
  return s;
}

Entry select(const Entry& e, const Selection& s) {
  if (s.all) return e;
  Entry out;
  out.dn = e.dn;
  // The names we return are their own canonical names but for case ("displayName").
  for (const Attribute& a : e.attributes) {
    bool wanted = std::any_of(s.names.begin(), s.names.end(), [&](const std::string& n) { return iequals(n, a.name); });
    if (wanted) out.attributes.push_back(a);
  }
  return out;
}

// ---- direct encoding ----

namespace {

size_t len_octets(size_t n) { return n < 0x80 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : n <= 0xffffff ? 4 : 5; }
size_t tlv(size_t content) { return 1 + len_octets(content) + content; }
void put_len(std::string& o, size_t n) {
  if (n < 0x80) {
    o.push_back(static_cast<char>(n));
    return;
  }
  size_t k = len_octets(n) - 1;
  o.push_back(static_cast<char>(0x80 | k));
  for (size_t i = k; i-- > 0;) o.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
}
void put_string(std::string& o, std::string_view v) {
  o.push_back(0x04);
  put_len(o, v.size());
  o.append(v);
}

}  // namespace

std::string encode_entry(int32_t message_id, const directory::DirectoryEntry& e, std::string_view base_dn,
                         const Selection& s, bool types_only) {
  struct Attr {
    std::string_view name;
    const std::string_view* values;
    size_t count;
    size_t set_len = 0;
    size_t len = 0;  // of the PartialAttribute's contents
  };
  static const std::string_view kClasses[] = {"top", "person", "organizationalPerson", "inetOrgPerson"};
  auto wanted = [&](std::string_view name) {
    return s.all ||
           std::any_of(s.names.begin(), s.names.end(), [&](const std::string& n) { return iequals(n, name); });
  };
  std::string name;
  std::string_view values[kSlots.size()];
  Attr attrs[kSlots.size() + 1];
  size_t n = 0;
  if (wanted("objectClass")) attrs[n++] = Attr{"objectClass", kClasses, 4};
  for_each_slot(e, name, [&](size_t i, std::string_view v) {
    values[i] = v;
    if (!v.empty() && wanted(kSlots[i].name)) attrs[n++] = Attr{kSlots[i].name, &values[i], 1};
  });
  std::string dn = entry_dn(e, base_dn);
  size_t attrs_len = 0;
  for (size_t i = 0; i < n; ++i) {
    Attr& a = attrs[i];
    if (!types_only)
      for (size_t k = 0; k < a.count; ++k) a.set_len += tlv(a.values[k].size());
    a.len = tlv(a.name.size()) + tlv(a.set_len);
    attrs_len += tlv(a.len);
  }
  const size_t entry_len = tlv(dn.size()) + tlv(attrs_len);
  // messageID: minimal two's complement of a non-negative INTEGER.
  unsigned char id[5];
  size_t id_len = 0;
  {
    auto v = static_cast<uint32_t>(message_id);
    unsigned char b[4] = {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
                          static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
    size_t start = 0;
    while (start < 3 && b[start] == 0 && !(b[start + 1] & 0x80)) ++start;
    for (size_t i = start; i < 4; ++i) id[id_len++] = b[i];
  }
  const size_t msg_len = tlv(id_len) + tlv(entry_len);
  std::string o;
  o.reserve(tlv(msg_len));
  o.push_back(0x30);
  put_len(o, msg_len);
  o.push_back(0x02);
  put_len(o, id_len);
  o.append(reinterpret_cast<const char*>(id), id_len);
  o.push_back(0x64);  // [APPLICATION 4] SearchResultEntry
  put_len(o, entry_len);
  put_string(o, dn);
  o.push_back(0x30);
  put_len(o, attrs_len);
  for (size_t i = 0; i < n; ++i) {
    const Attr& a = attrs[i];
    o.push_back(0x30);
    put_len(o, a.len);
    put_string(o, a.name);
    o.push_back(0x31);
    put_len(o, a.set_len);
    if (!types_only)
      for (size_t k = 0; k < a.count; ++k) put_string(o, a.values[k]);
  }
  return o;
}

// ---- the search loop ----

RunResult run_search(const SearchPlan& plan, const Filter& filter, std::string_view base_dn, const Fetch& fetch,
                     const RunOptions& options, Cursor from, std::unordered_set<uint64_t>& seen) {
  (void)base_dn;  // the filter sees no DN (dn:attributes are not evaluated)
  RunResult r;
  r.next = from;
  const size_t want = std::max<size_t>(options.want, 1);
  constexpr size_t kBatch = 100;  // DirectoryService's page limit
  Cursor at = from;
  bool found_extra = false;
  bool window_passed = false;
  CandidateView view;
  while (at.query < plan.queries.size()) {
    if (std::chrono::steady_clock::now() >= options.deadline) {
      r.end = RunResult::End::time;
      r.next = at;
      return r;
    }
    if (at.offset >= options.window) {
      // This query has more candidates than the window: the others may still fill the page.
      window_passed = true;
      at = Cursor{at.query + 1, 0};
      if (r.entries.size() < want) r.next = at;
      continue;
    }
    size_t needed = want + (options.probe_more ? 1 : 0) - r.entries.size();
    size_t limit = std::min({kBatch, options.window - at.offset, std::max<size_t>(needed, 20)});
    auto page = fetch(plan.queries[at.query], limit, at.offset);
    if (!page) {
      r.end = RunResult::End::error;
      r.error = page.error();
      r.next = at;
      return r;
    }
    auto& hits = page->hits;
    size_t i = 0;
    for (; i < hits.size(); ++i) {
      const directory::DirectoryEntry& de = hits[i].entry;
      if (seen.count(de.id)) continue;
      // Most candidates of a broad typeahead fail the filter: check them on a reused view
      // (no allocation once warm), build the Entry only for a match.
      view.fill(de);
      if (!matches(filter, view)) continue;
      if (r.entries.size() == want) {
        found_extra = true;
        break;
      }
      seen.insert(de.id);
      r.ids.push_back(de.id);
      r.entries.push_back(std::move(hits[i].entry));
      r.next = Cursor{at.query, at.offset + i + 1};
      if (r.entries.size() == want && !options.probe_more) break;
    }
    if (found_extra || (r.entries.size() == want && !options.probe_more)) {
      r.end = RunResult::End::more;
      if (!options.probe_more) {
        // Unknown whether more match: say "more" only if candidates remain.
        bool rest = i + 1 < hits.size() || hits.size() == limit || at.query + 1 < plan.queries.size();
        r.end = rest ? RunResult::End::more : RunResult::End::exhausted;
      }
      return r;
    }
    if (page->truncated && hits.size() < limit) {
      // The index gave up on this query (too many candidates failed its substring
      // tests): like passing the window, the others may still fill the page.
      window_passed = true;
      at = Cursor{at.query + 1, 0};
    } else if (hits.size() < limit) {
      at = Cursor{at.query + 1, 0};  // this query has no more candidates
    } else {
      at.offset += hits.size();
    }
    if (r.entries.size() < want) r.next = at;
  }
  r.end = window_passed ? RunResult::End::window : RunResult::End::exhausted;
  if (r.entries.size() < want) r.next = at;
  return r;
}

}  // namespace caremail::ldap
