// One directory entry (PRODUCT.md D1): a person, a shared mailbox, a distribution list or
// a directory contact, with every field the directory shows and the two privacy switches.
// A plain value: the index (index.hpp) keeps its own compact copy and hands these back,
// with what the viewer may not see already blanked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace caremail::directory {

enum class EntryKind : uint8_t {
  person,   // a member of staff
  shared,   // a shared mailbox ("Cardiology Secretaries")
  list,     // a distribution list
  contact,  // a directory contact: someone outside the service listed by an organisation
};

std::string_view to_string(EntryKind k) noexcept;

// The name an address book shows for an entry (LDAP cn): the display name, else given name
// and surname, else the address. Written into `out`.
void common_name(std::string_view display_name, std::string_view given_name, std::string_view surname,
                 std::string_view address, std::string& out);

// One of an entry's names or its address, for substring assertions (index.hpp Query).
enum class NameField : uint8_t {
  common_name,  // as common_name() derives it
  given_name,
  surname,  // the surname, else the common name (LDAP sn of an entry without one)
  address,
};

// initial*any*...*final on one field, matched as LDAP's caseIgnoreSubstringsMatch
// (common/case_ignore.hpp). The components as given; the index prepares them.
struct SubstringAssertion {
  NameField field = NameField::common_name;
  std::string initial;  // empty: none
  std::vector<std::string> any;
  std::string final_;  // empty: none
  bool operator==(const SubstringAssertion&) const = default;
};

struct DirectoryEntry {
  uint64_t id = 0;  // the account (or list, contact) id; unique in the directory
  EntryKind kind = EntryKind::person;

  std::string title;  // "Dr", "Mrs", "Prof"
  std::string given_name;
  std::string surname;
  std::string display_name;  // "Dr Siobhán O'Neill"; for shared mailboxes and lists, their name
  std::string address;       // "siobhan.oneill@northfield.care.example"
  std::string job_role;      // "Consultant", "Staff Nurse"
  std::string speciality;    // clinical speciality: "Cardiology"
  std::string work_area;     // "Inpatients", "Community"
  uint32_t org_id = 0;       // the organisation's id (one per ODS code)
  std::string ods_code;      // "RXX", "A81001"
  std::string org_name;      // "Northfield Hospitals NHS Foundation Trust"
  std::string unit;          // unit or department: "Ward 7B"
  std::string site;          // "Northfield General Hospital"
  std::string telephone;
  std::string mobile;  // blanked in results when mobile_hidden and the viewer may not see it
  std::string pager;
  std::string fax;
  std::string notes;

  bool hidden = false;         // the entry is not listed, except to its organisation's administrators
  bool mobile_hidden = false;  // the mobile number is shown only to those who may see hidden entries
  bool is_org_admin = false;   // a local administrator of org_id (D3: "find your local administrator")

  bool operator==(const DirectoryEntry&) const = default;
};

}  // namespace caremail::directory
