#include "directory/synth.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <span>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "common/json_text.hpp"
#include "directory/normalize.hpp"

namespace caremail::directory::synth {
namespace {

using Names = std::span<const std::string_view>;

// xoshiro256** seeded by splitmix64: fast, and the same sequence everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& s : s_) s = splitmix(seed);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n). REQUIRES: n > 0. Multiply-high: the bias is below 2^-32 for our n.
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(((next() >> 32) * n) >> 32); }
  uint32_t between(uint32_t lo, uint32_t hi) { return lo + below(hi - lo + 1); }  // inclusive
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return unit() < p; }
  template <class C>
  const auto& pick(const C& v) {
    return v[below(static_cast<uint32_t>(std::size(v)))];
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t s_[4];
};

// Picks from a list with Zipf-like weights (1/rank): "Smith" is far commoner than "Vaughan".
class Zipf {
 public:
  explicit Zipf(Names names, double s = 1.0) : names_(names) {
    double sum = 0;
    cumulative_.reserve(names.size());
    for (size_t i = 0; i < names.size(); ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
      cumulative_.push_back(sum);
    }
  }
  std::string_view operator()(Rng& rng) const {
    double x = rng.unit() * cumulative_.back();
    auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), x);
    size_t i = std::min(static_cast<size_t>(it - cumulative_.begin()), names_.size() - 1);
    return names_[i];
  }

 private:
  Names names_;
  std::vector<double> cumulative_;
};

// ---- Word lists ------------------------------------------------------------------------

constexpr std::string_view kFemale[] = {
    "Sarah",     "Emma",      "Laura",      "Rebecca",  "Hannah",    "Charlotte", "Lucy",     "Katie",     "Rachel",
    "Claire",    "Helen",     "Nicola",     "Jessica",  "Sophie",    "Emily",     "Amy",      "Joanne",    "Karen",
    "Susan",     "Elizabeth", "Olivia",     "Amelia",   "Grace",     "Chloe",     "Margaret", "Catherine", "Victoria",
    "Gemma",     "Louise",    "Jennifer",   "Michelle", "Kelly",     "Natalie",   "Samantha", "Stephanie", "Jane",
    "Anne",      "Mary",      "Julie",      "Alison",   "Fiona",     "Kirsty",    "Ruth",     "Deborah",   "Isla",
    "Ava",       "Mia",       "Poppy",      "Ella",     "Lily",      "Evie",      "Priya",    "Aisha",     "Fatima",
    "Ayesha",    "Zainab",    "Zoë",        "Chloé",    "Siobhán",   "Aoife",     "Niamh",    "Saoirse",   "Róisín",
    "Sinéad",    "Amara",     "Chiamaka",   "Ngozi",    "Mei",       "Yuki",      "Anna",     "Maria",     "María",
    "Agnieszka", "Katarzyna", "Małgorzata", "Zofia",    "Renée",     "Noémie",    "Hélène",   "Inês",      "Sofía",
    "Léa",       "Ingrid",    "Astrid",     "Ewa",      "Dorota",    "Elif",      "Leila",    "Nour",      "Layla",
    "Rosa",      "Giulia",    "Francesca",  "Bethan",   "Cerys",     "Eilidh",    "Morag",    "Harriet",   "Eleanor",
    "Abigail",   "Georgia",   "Megan",      "Holly",    "Jasmine",   "Naomi",     "Esther",   "Miriam",    "Tamsin",
    "Imogen",    "Beatrice",  "Philippa",   "Adaeze",   "Funmilayo", "Anjali",    "Deepa",    "Sunita",    "Nasreen",
    "Shabana",   "Ilse"};

constexpr std::string_view kMale[] = {
    "David",     "James",     "John",        "Michael", "Paul",     "Andrew",  "Mark",      "Richard",  "Peter",
    "Thomas",    "Stephen",   "Christopher", "Matthew", "Daniel",   "Robert",  "Simon",     "William",  "Ian",
    "Gary",      "Steven",    "Neil",        "Martin",  "Anthony",  "Kevin",   "Jonathan",  "Benjamin", "Samuel",
    "Joseph",    "Alexander", "Edward",      "Luke",    "Adam",     "Ryan",    "Oliver",    "George",   "Harry",
    "Jack",      "Jacob",     "Noah",        "Charlie", "Oscar",    "Liam",    "Connor",    "Sean",     "Seán",
    "Ciarán",    "Pádraig",   "Eóin",        "Darragh", "Rhys",     "Dafydd",  "Gareth",    "Iain",     "Hamish",
    "Mohammed",  "Muhammad",  "Ahmed",       "Ali",     "Omar",     "Hassan",  "Imran",     "Rajesh",   "Sanjay",
    "Arjun",     "Vikram",    "Rahul",       "Amit",    "Chinedu",  "Emeka",   "Oluwaseun", "Kwame",    "Kofi",
    "Tunde",     "Wei",       "Jun",         "Hiroshi", "José",     "Jesús",   "Andrés",    "Nicolás",  "João",
    "François",  "Jérôme",    "Benoît",      "Jürgen",  "Björn",    "Søren",   "Łukasz",    "Paweł",    "Piotr",
    "Tomasz",    "Krzysztof", "Mateusz",     "Marek",   "Giovanni", "Luca",    "Marco",     "Mehmet",   "Emre",
    "Callum",    "Angus",     "Fraser",      "Euan",    "Owain",    "Huw",     "Rupert",    "Hugo",     "Felix",
    "Nathaniel", "Elliot",    "Toby",        "Kieran",  "Declan",   "Dominic", "Graham",    "Malcolm",  "Nigel",
    "Trevor",    "Derek",     "Raymond",     "Kenneth"};

constexpr std::string_view kSurnames[] = {
    "Smith",          "Jones",       "Williams",   "Taylor",    "Brown",    "Davies",    "Evans",      "Wilson",
    "Thomas",         "Johnson",     "Roberts",    "Robinson",  "Thompson", "Wright",    "Walker",     "White",
    "Edwards",        "Hughes",      "Green",      "Hall",      "Lewis",    "Harris",    "Clarke",     "Patel",
    "Jackson",        "Wood",        "Turner",     "Martin",    "Cooper",   "Hill",      "Ward",       "Morris",
    "Moore",          "Clark",       "Lee",        "King",      "Baker",    "Harrison",  "Morgan",     "Allen",
    "James",          "Scott",       "Phillips",   "Watson",    "Davis",    "Parker",    "Price",      "Bennett",
    "Young",          "Griffiths",   "Mitchell",   "Kelly",     "Cook",     "Carter",    "Richardson", "Bailey",
    "Collins",        "Bell",        "Shaw",       "Murphy",    "Miller",   "Cox",       "Richards",   "Khan",
    "Marshall",       "Anderson",    "Simpson",    "Ellis",     "Adams",    "Singh",     "Begum",      "Wilkinson",
    "Foster",         "Chapman",     "Powell",     "Webb",      "Rogers",   "Gray",      "Mason",      "Ali",
    "Hunt",           "Hussain",     "Campbell",   "Matthews",  "Owen",     "Palmer",    "Holmes",     "Mills",
    "Barnes",         "Knight",      "Lloyd",      "Butler",    "Russell",  "Barker",    "Fisher",     "Stevens",
    "Jenkins",        "Murray",      "Dixon",      "Harvey",    "Graham",   "Pearson",   "Ahmed",      "Fletcher",
    "Walsh",          "Kaur",        "Gibson",     "Howard",    "Andrews",  "Stewart",   "Elliott",    "Reynolds",
    "Saunders",       "Payne",       "Fox",        "Ford",      "Pearce",   "Day",       "Brooks",     "West",
    "Lawrence",       "Cole",        "Atkinson",   "Bradley",   "Spencer",  "Gill",      "Dawson",     "Ball",
    "Burton",         "O'Brien",     "Watts",      "Rose",      "Booth",    "Perry",     "Ryan",       "Grant",
    "Wells",          "Armstrong",   "Francis",    "Rees",      "Hayes",    "Hart",      "Hudson",     "Newman",
    "Barrett",        "Webster",     "Hunter",     "Gregory",   "Carr",     "Lowe",      "Page",       "Marsh",
    "Riley",          "Dunn",        "Woods",      "Parsons",   "Berry",    "Stone",     "Reid",       "Holland",
    "Hawkins",        "Harding",     "Porter",     "Robertson", "Newton",   "Oliver",    "Reed",       "Kennedy",
    "Williamson",     "Bird",        "Gardner",    "Shah",      "Dodd",     "Bishop",    "O'Neill",    "O'Connor",
    "Ó Súilleabháin", "MacDonald",   "McDonald",   "McLeod",    "Nwosu",    "Okafor",    "Adeyemi",    "Mensah",
    "Chowdhury",      "Rahman",      "Islam",      "Sharma",    "Gupta",    "Kumar",     "Nguyen",     "Chen",
    "Wang",           "Li",          "Zhang",      "Tanaka",    "García",   "Fernández", "López",      "Núñez",
    "Pérez",          "Müller",      "Schröder",   "Sørensen",  "Kowalski", "Nowak",     "Wiśniewski", "Wójcik",
    "Dąbrowski",      "Lewandowska", "Rossi",      "Russo",     "Yılmaz",   "Öztürk",    "D'Souza",    "Da Silva",
    "Gonçalves",      "Ferreira",    "Le Roux",    "Lefèvre",   "Dubois",   "Fraser",    "Sutherland", "Llewellyn",
    "Pritchard",      "Vaughan",     "Ní Bhriain", "Okonkwo",   "Abubakar", "Mahmood",   "Iqbal",      "Akhtar",
    "Choudhury",      "Banerjee",    "Chatterjee", "Mukherjee", "Desai",    "Mehta",     "Joshi",      "Pillai",
    "Nair",           "Fernandes",   "Pereira"};

// Syllables for the long tail of surnames ("Ashworth", "Thornbury"): real directories have
// hundreds of thousands of distinct surnames, and the typo index must cope with that.
constexpr std::string_view kSurnameHeads[] = {
    "Ash",  "Black", "Brad", "Bram", "Brook", "Cald", "Chad",  "Clay", "Cran", "Dal",     "Den",  "Dun",
    "Elm",  "Fair",  "Farn", "Gold", "Green", "Hal",  "Hart",  "Hay",  "Hol",  "Holling", "Kirk", "Lang",
    "Lind", "Marl",  "Mid",  "Mill", "Moss",  "New",  "Nor",   "Oak",  "Pem",  "Red",     "Rich", "Ross",
    "Rush", "Sand",  "Shel", "Stan", "Stock", "Sum",  "Thorn", "Tre",  "Wal",  "Wes",     "Whit", "Wil",
    "Win",  "Wood",  "Pen",  "Bur",  "Craw",  "Pil",  "Ack",   "Bel",  "Cart", "Dray",    "Esk",  "Frog"};
constexpr std::string_view kSurnameMiddles[] = {"", "", "", "", "ing", "er", "en", "s", "el", "ham", "ow", "ing"};
constexpr std::string_view kSurnameTails[] = {"worth", "bury", "ford", "ton",    "ley",    "field", "wood",   "well",
                                              "by",    "ham",  "wick", "more",   "stone",  "ridge", "combe",  "dale",
                                              "hurst", "land", "mere", "sworth", "ington", "croft", "thorpe", "holme",
                                              "shaw",  "ward", "man",  "er",     "ing",    "son",   "brook",  "hill",
                                              "gate",  "cote", "lock", "den",    "fell",   "garth", "nett",   "rick"};

constexpr std::string_view kPlaces[] = {
    "Northfield", "Ashford",    "Brampton",   "Castleton",     "Dunmore",   "Eastwick",     "Fairhaven", "Greenhill",
    "Hartley",    "Ironbridge", "Kingsmere",  "Longford",      "Millbrook", "Newbury",      "Oakham",    "Penrith",
    "Queensbury", "Redcliffe",  "Southport",  "Thornton",      "Upminster", "Westbury",     "Yarmouth",  "Ambleside",
    "Bexley",     "Colchester", "Darlington", "Epsom",         "Frome",     "Gateshead",    "Harrogate", "Ilkley",
    "Kendal",     "Lancaster",  "Morecambe",  "Northallerton", "Ormskirk",  "Pontefract",   "Ripon",     "Selby",
    "Tadcaster",  "Wakefield",  "Whitby",     "Alnwick",       "Barnsley",  "Chesterfield", "Doncaster", "Exmouth",
    "Falmouth",   "Grantham"};
constexpr std::string_view kPlaceHeads[] = {"North",  "South",  "East",   "West", "Ash",  "Brook", "Kings",
                                            "Queens", "Mill",   "Oak",    "Elm",  "Stan", "Wood",  "Bridge",
                                            "Castle", "Church", "Market", "Long", "High", "Lower"};
constexpr std::string_view kPlaceTails[] = {"field", "ford",    "ton",     "bury",   "ham",   "wick", "by",    "ley",
                                            "worth", "minster", "chester", "caster", "mouth", "port", "stead", "gate"};
constexpr std::string_view kSaints[] = {"Mary",      "George", "Thomas",  "Luke", "Peter",    "James",  "Helen",
                                        "Catherine", "Anne",   "Michael", "John", "Margaret", "Andrew", "David"};
constexpr std::string_view kStreets[] = {"High Street", "Station Road", "Church Lane", "Park Road",    "Victoria Road",
                                         "Mill Lane",   "London Road",  "The Green",   "Market Place", "Queen Street"};
constexpr std::string_view kTrees[] = {"Oak",   "Beech", "Willow",   "Rowan", "Elm",
                                       "Cedar", "Birch", "Hawthorn", "Maple", "Holly"};

constexpr std::string_view kSpecialities[] = {"Cardiology",
                                              "Oncology",
                                              "Paediatrics",
                                              "General Surgery",
                                              "Trauma and Orthopaedics",
                                              "Emergency Medicine",
                                              "Anaesthetics",
                                              "Clinical Radiology",
                                              "Dermatology",
                                              "Neurology",
                                              "Obstetrics and Gynaecology",
                                              "General Psychiatry",
                                              "Geriatric Medicine",
                                              "Respiratory Medicine",
                                              "Gastroenterology",
                                              "Haematology",
                                              "Renal Medicine",
                                              "Ophthalmology",
                                              "Otolaryngology",
                                              "Urology",
                                              "Endocrinology and Diabetes",
                                              "Rheumatology",
                                              "Palliative Medicine",
                                              "Medical Microbiology",
                                              "Intensive Care Medicine",
                                              "Neonatology",
                                              "Vascular Surgery",
                                              "Plastic Surgery",
                                              "Histopathology",
                                              "Sexual Health"};

struct Role {
  std::string_view name;
  uint32_t weight;
  bool clinical;  // gets a speciality
  bool doctor;    // title Dr (or Prof, Mr for surgeons)
  bool pager;     // trust clinicians carry bleeps
};

constexpr Role kTrustRoles[] = {{"Staff Nurse", 220, true, false, false},
                                {"Healthcare Assistant", 140, true, false, false},
                                {"Consultant", 60, true, true, true},
                                {"Specialty Registrar", 45, true, true, true},
                                {"Foundation Doctor", 30, true, true, true},
                                {"Ward Manager", 20, true, false, true},
                                {"Sister", 20, true, false, true},
                                {"Midwife", 30, false, false, false},
                                {"Physiotherapist", 25, true, false, false},
                                {"Occupational Therapist", 15, true, false, false},
                                {"Radiographer", 20, true, false, false},
                                {"Pharmacist", 12, false, false, true},
                                {"Pharmacy Technician", 10, false, false, false},
                                {"Biomedical Scientist", 15, false, false, false},
                                {"Medical Secretary", 35, false, false, false},
                                {"Ward Clerk", 20, false, false, false},
                                {"Porter", 15, false, false, true},
                                {"Domestic Assistant", 20, false, false, false},
                                {"Administrator", 40, false, false, false},
                                {"Clinical Nurse Specialist", 20, true, false, true},
                                {"Advanced Nurse Practitioner", 10, true, false, true},
                                {"Dietitian", 6, false, false, false},
                                {"Speech and Language Therapist", 5, false, false, false},
                                {"Operating Department Practitioner", 10, false, false, false},
                                {"IT Service Desk Analyst", 8, false, false, false},
                                {"Human Resources Adviser", 8, false, false, false}};
constexpr Role kGpRoles[] = {
    {"General Practitioner", 25, false, true, false},  {"Practice Nurse", 15, false, false, false},
    {"Receptionist", 30, false, false, false},         {"Practice Manager", 5, false, false, false},
    {"Healthcare Assistant", 8, false, false, false},  {"Clinical Pharmacist", 4, false, false, false},
    {"Medical Secretary", 8, false, false, false},     {"Social Prescriber", 3, false, false, false},
    {"Paramedic Practitioner", 2, false, false, false}};
constexpr Role kPharmacyRoles[] = {{"Pharmacist", 30, false, false, false},
                                   {"Pharmacy Technician", 20, false, false, false},
                                   {"Dispenser", 30, false, false, false},
                                   {"Counter Assistant", 20, false, false, false}};
constexpr Role kCouncilRoles[] = {{"Social Worker", 40, false, false, false},
                                  {"Senior Social Worker", 12, false, false, false},
                                  {"Care Coordinator", 15, false, false, false},
                                  {"Occupational Therapist", 8, false, false, false},
                                  {"Team Manager", 6, false, false, false},
                                  {"Safeguarding Lead", 3, false, false, false},
                                  {"Business Support Officer", 15, false, false, false},
                                  {"Reablement Worker", 10, false, false, false}};
constexpr Role kCareHomeRoles[] = {
    {"Care Assistant", 50, false, false, false},        {"Senior Carer", 15, false, false, false},
    {"Registered Nurse", 12, false, false, false},      {"Home Manager", 3, false, false, false},
    {"Activities Coordinator", 3, false, false, false}, {"Cook", 3, false, false, false}};
constexpr Role kHospiceRoles[] = {
    {"Palliative Care Nurse", 30, false, false, false}, {"Consultant in Palliative Medicine", 4, false, true, false},
    {"Healthcare Assistant", 20, false, false, false},  {"Chaplain", 2, false, false, false},
    {"Family Support Worker", 6, false, false, false},  {"Volunteer Coordinator", 3, false, false, false},
    {"Administrator", 8, false, false, false}};

constexpr std::string_view kTrustWorkAreas[] = {
    "Inpatients", "Outpatients", "Emergency Care", "Theatres",           "Critical Care",
    "Maternity",  "Community",   "Diagnostics",    "Corporate Services", "Estates and Facilities"};
constexpr std::string_view kTrustUnits[] = {"Medical Records",
                                            "Pharmacy Department",
                                            "Emergency Department",
                                            "Outpatients Department",
                                            "IT Services",
                                            "Human Resources",
                                            "Pathology",
                                            "Theatres",
                                            "Discharge Lounge",
                                            "Patient Advice and Liaison"};
constexpr std::string_view kWardLetters[] = {"A", "B", "C", "D"};
constexpr std::string_view kNotes[] = {"Works Monday to Wednesday",
                                       "Part-time: mornings only",
                                       "On long-term leave; please contact the team mailbox",
                                       "Bleep via switchboard out of hours",
                                       "Prefers email to telephone",
                                       "Covers both sites on alternate weeks"};

std::span<const Role> roles_for(OrgType t) {
  switch (t) {
    case OrgType::trust:
      return kTrustRoles;
    case OrgType::gp_practice:
      return kGpRoles;
    case OrgType::pharmacy:
      return kPharmacyRoles;
    case OrgType::council:
      return kCouncilRoles;
    case OrgType::care_home:
      return kCareHomeRoles;
    case OrgType::hospice:
      return kHospiceRoles;
  }
  return kTrustRoles;
}

const Role& pick_role(Rng& rng, std::span<const Role> roles) {
  uint32_t total = 0;
  for (const auto& r : roles) total += r.weight;
  uint32_t x = rng.below(total);
  for (const auto& r : roles) {
    if (x < r.weight) return r;
    x -= r.weight;
  }
  return roles.back();
}

std::string place(Rng& rng) {
  if (rng.chance(0.5)) return std::string(rng.pick(kPlaces));
  return std::string(rng.pick(kPlaceHeads)) + std::string(rng.pick(kPlaceTails));
}

std::string digits(Rng& rng, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>('0' + rng.below(10)));
  return s;
}

std::string alnum(Rng& rng, int n) {
  static constexpr std::string_view kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(kChars[rng.below(static_cast<uint32_t>(kChars.size()))]);
  return s;
}

std::string ods_code(Rng& rng, OrgType t, int attempt) {
  // After many collisions (more organisations of a type than its code space holds
  // comfortably), codes get one character longer.
  int extra = attempt > 20 ? 1 : 0;
  switch (t) {
    case OrgType::trust:
      return "R" + alnum(rng, 2 + extra);
    case OrgType::gp_practice: {
      static constexpr std::string_view kRegions = "ABCDEFGHJKLMNPY";
      return std::string(1, kRegions[rng.below(static_cast<uint32_t>(kRegions.size()))]) + digits(rng, 5 + extra);
    }
    case OrgType::pharmacy:
      return "F" + alnum(rng, 4 + extra);
    case OrgType::council:
      return digits(rng, 3 + extra);
    case OrgType::care_home:
      return "V" + alnum(rng, 4 + extra);
    case OrgType::hospice:
      return "N" + alnum(rng, 4 + extra);
  }
  return {};
}

// About a third from the common list (Smith near 2%, Williams near 1%: a little more
// concentrated than England and Wales, 1.3% and 0.8%), the rest from some 20,000 rarer ones.
std::string surname(Rng& rng, const Zipf& common) {
  double x = rng.unit();
  std::string s;
  if (x < 0.35) {
    s = std::string(common(rng));
  } else {
    s = std::string(rng.pick(kSurnameHeads)) + std::string(rng.pick(kSurnameMiddles)) +
        std::string(rng.pick(kSurnameTails));
  }
  if (rng.chance(0.02)) s += "-" + std::string(common(rng));  // double-barrelled
  return s;
}

// "siobhan.oneill": folded, letters and digits only in each part.
std::string local_part(std::string_view given, std::string_view family) {
  std::string g, f;
  for (const auto& w : fold_words(given)) g += w;
  for (const auto& w : fold_words(family)) f += w;
  if (g.empty()) return f;
  if (f.empty()) return g;
  return g + "." + f;
}

std::string slug(std::string_view name) {
  static const std::unordered_set<std::string_view> kSkip = {"nhs", "trust",   "foundation", "the",      "and",
                                                             "of",  "council", "care",       "services", "social"};
  std::string out;
  int taken = 0;
  for (const auto& w : fold_words(name)) {
    if (kSkip.count(w) || taken == 2) continue;
    if (!out.empty()) out.push_back('-');
    out += w;
    ++taken;
  }
  return out.empty() ? "org" : out;
}

struct TypeSpec {
  OrgType type;
  double share;     // of organisations
  uint32_t lo, hi;  // weight range: relative entry count
};
constexpr TypeSpec kTypes[] = {{OrgType::trust, 0.022, 1500, 11000}, {OrgType::gp_practice, 0.60, 8, 55},
                               {OrgType::pharmacy, 0.25, 3, 14},     {OrgType::council, 0.015, 200, 1400},
                               {OrgType::care_home, 0.10, 10, 60},   {OrgType::hospice, 0.013, 30, 120}};

std::string org_name(Rng& rng, OrgType t, const Zipf& surnames) {
  std::string p = place(rng);
  switch (t) {
    case OrgType::trust:
      switch (rng.below(7)) {
        case 0:
          return p + " Hospitals NHS Foundation Trust";
        case 1:
          return p + " and " + place(rng) + " NHS Trust";
        case 2:
          return "University Hospitals of " + p + " NHS Trust";
        case 3:
          return p + " Community Healthcare NHS Trust";
        case 4:
          return p + " Mental Health NHS Foundation Trust";
        case 5:
          return p + " Teaching Hospitals NHS Foundation Trust";
        default:
          return p + " General Hospital NHS Trust";
      }
    case OrgType::gp_practice:
      switch (rng.below(6)) {
        case 0:
          return "The " + p + " Surgery";
        case 1:
          return std::string(rng.pick(kStreets)) + " Medical Centre, " + p;
        case 2:
          return p + " Health Centre";
        case 3:
          return "Dr " + std::string(surnames(rng)) + " and Partners";
        case 4:
          return p + " Family Practice";
        default:
          return "The " + std::string(rng.pick(kTrees)) + " Practice";
      }
    case OrgType::pharmacy:
      switch (rng.below(3)) {
        case 0:
          return p + " Pharmacy";
        case 1:
          return std::string(surnames(rng)) + " Chemists";
        default:
          return std::string(rng.pick(kStreets)) + " Pharmacy, " + p;
      }
    case OrgType::council:
      switch (rng.below(4)) {
        case 0:
          return p + " City Council Adult Social Care";
        case 1:
          return p + " County Council Social Services";
        case 2:
          return "London Borough of " + p + " Children's Services";
        default:
          return p + " Metropolitan Borough Council Social Care";
      }
    case OrgType::care_home:
      switch (rng.below(3)) {
        case 0:
          return p + " House Care Home";
        case 1:
          return std::string(rng.pick(kTrees)) + " Lodge Nursing Home, " + p;
        default:
          return "St " + std::string(rng.pick(kSaints)) + "'s Court Residential Home";
      }
    case OrgType::hospice:
      if (rng.chance(0.5)) return "St " + std::string(rng.pick(kSaints)) + "'s Hospice";
      return p + " Hospice";
  }
  return p;
}

std::vector<std::string> org_sites(Rng& rng, OrgType t, const std::string& name) {
  std::vector<std::string> sites;
  if (t == OrgType::trust) {
    std::string p = place(rng);
    sites.push_back(p + " General Hospital");
    uint32_t more = rng.between(1, 4);
    for (uint32_t i = 0; i < more; ++i) {
      switch (rng.below(4)) {
        case 0:
          sites.push_back(place(rng) + " Royal Infirmary");
          break;
        case 1:
          sites.push_back("St " + std::string(rng.pick(kSaints)) + "'s Hospital");
          break;
        case 2:
          sites.push_back(place(rng) + " Community Hospital");
          break;
        default:
          sites.push_back(p + " Women's and Children's Hospital");
          break;
      }
    }
  } else if (t == OrgType::council) {
    sites.push_back(place(rng) + " Civic Centre");
    sites.push_back(place(rng) + " Area Office");
  } else {
    sites.push_back(name);
    if (t == OrgType::gp_practice && rng.chance(0.3)) sites.push_back(place(rng) + " Branch Surgery");
  }
  return sites;
}

std::string phone(Rng& rng, std::string_view area) { return std::string(area) + " " + digits(rng, 6); }

}  // namespace

std::vector<Organisation> make_organisations(const Options& options) {
  assert(options.organisations >= 1);
  Rng rng(options.seed ^ 0x6f7267616e697361ULL);
  Zipf surnames(kSurnames);
  std::vector<Organisation> orgs;
  orgs.reserve(options.organisations);
  std::unordered_set<std::string> codes;
  std::unordered_map<std::string, int> domains;
  std::vector<double> weights;
  for (uint32_t i = 0; i < options.organisations; ++i) {
    Organisation o;
    o.id = i + 1;
    const TypeSpec* spec = &kTypes[0];
    if (i != 0) {  // the first is always a trust, so that small test sets have a large organisation
      double x = rng.unit();
      for (const auto& t : kTypes) {
        spec = &t;
        if (x < t.share) break;
        x -= t.share;
      }
    }
    o.type = spec->type;
    for (int attempt = 0;; ++attempt) {
      std::string code = ods_code(rng, o.type, attempt);
      if (codes.insert(code).second) {
        o.ods_code = std::move(code);
        break;
      }
    }
    o.name = org_name(rng, o.type, surnames);
    std::string d = slug(o.name);
    int n = ++domains[d];
    o.domain = (n == 1 ? d : d + std::to_string(n)) + ".care.example";
    o.sites = org_sites(rng, o.type, o.name);
    // Skewed within the range: most trusts are mid-sized, a few very large.
    double u = rng.unit();
    weights.push_back(spec->lo + (spec->hi - spec->lo) * u * u);
    orgs.push_back(std::move(o));
  }
  double total = 0;
  for (double w : weights) total += w;
  uint64_t given = 0;
  for (size_t i = 0; i < orgs.size(); ++i) {
    orgs[i].entries = static_cast<uint32_t>(std::floor(weights[i] * options.entries / total));
    given += orgs[i].entries;
  }
  // The rounding remainder goes one each to the organisations in turn.
  for (size_t i = 0; given < options.entries; i = (i + 1) % orgs.size(), ++given) ++orgs[i].entries;
  return orgs;
}

void for_each_entry(const Options& options, const std::vector<Organisation>& orgs,
                    const std::function<void(DirectoryEntry&&)>& fn) {
  Zipf female(kFemale, 0.9);
  Zipf male(kMale, 0.9);
  Zipf common_surnames(kSurnames, 0.7);
  uint64_t next_id = 1;
  std::unordered_map<std::string, int> used;  // local parts in the current organisation
  for (const Organisation& org : orgs) {
    // One generator per organisation: an organisation's entries do not depend on how many
    // the organisations before it had.
    Rng rng(options.seed * 0x9e3779b97f4a7c15ULL + org.id);
    used.clear();
    const auto roles = roles_for(org.type);
    const uint32_t admins = std::max<uint32_t>(1, org.entries / 800);
    const uint32_t admin_stride = std::max<uint32_t>(1, org.entries / admins);
    std::string area = "01" + std::to_string(rng.between(100, 999));
    for (uint32_t k = 0; k < org.entries; ++k) {
      DirectoryEntry e;
      e.id = next_id++;
      e.org_id = org.id;
      e.ods_code = org.ods_code;
      e.org_name = org.name;
      e.site = org.sites[rng.below(static_cast<uint32_t>(org.sites.size()))];
      double kind = rng.unit();
      // The first entry of each stride is a person and an administrator (D3).
      bool admin = k % admin_stride == 0 && k / admin_stride < admins;
      e.kind = admin || kind < 0.95 ? EntryKind::person
               : kind < 0.98        ? EntryKind::shared
               : kind < 0.995       ? EntryKind::list
                                    : EntryKind::contact;
      const Role& role = pick_role(rng, roles);
      std::string local;
      if (e.kind == EntryKind::person || e.kind == EntryKind::contact) {
        bool woman = rng.chance(0.6);
        e.given_name = std::string(woman ? female(rng) : male(rng));
        e.surname = surname(rng, common_surnames);
        e.job_role = std::string(role.name);
        if (role.doctor) {
          e.title = rng.chance(0.06) ? "Prof" : "Dr";
        } else {
          static constexpr std::string_view kWomen[] = {"Mrs", "Ms", "Miss", ""};
          static constexpr std::string_view kMen[] = {"Mr", "Mr", "", ""};
          e.title = std::string(woman ? rng.pick(kWomen) : rng.pick(kMen));
          if (rng.chance(0.01)) e.title = "Mx";
        }
        e.display_name = (e.title.empty() ? "" : e.title + " ") + e.given_name + " " + e.surname;
        if (e.kind == EntryKind::person) {
          local = local_part(e.given_name, e.surname);
        } else {
          // A contact: someone outside the service, with an address of their own provider.
          e.address = local_part(e.given_name, e.surname) + digits(rng, 2) + "@example.org";
          e.notes = "External contact";
        }
      }
      // Specialities, work areas and units by organisation type.
      switch (org.type) {
        case OrgType::trust: {
          const auto& spec = kSpecialities[rng.below(std::size(kSpecialities))];
          if (role.clinical || role.doctor) e.speciality = std::string(spec);
          e.work_area = std::string(rng.pick(kTrustWorkAreas));
          if (role.clinical && rng.chance(0.6)) {
            e.unit = "Ward " + std::to_string(rng.between(1, 40)) + std::string(rng.pick(kWardLetters));
          } else if (role.doctor) {
            e.unit = std::string(spec) + " Department";
          } else {
            e.unit = std::string(rng.pick(kTrustUnits));
          }
          break;
        }
        case OrgType::gp_practice:
          e.work_area = "Primary Care";
          if (role.doctor) e.speciality = "General Practice";
          e.unit = role.doctor || role.name == "Practice Nurse" ? "Clinical Team" : "Practice Office";
          break;
        case OrgType::pharmacy:
          e.work_area = "Community Pharmacy";
          e.speciality = role.name == "Pharmacist" ? "Pharmacy" : "";
          break;
        case OrgType::council:
          e.work_area = rng.chance(0.6) ? "Adult Social Care" : "Children's Social Care";
          e.unit = std::string(rng.chance(0.5) ? "Locality Team " : "Duty Team ") + std::to_string(rng.between(1, 12));
          break;
        case OrgType::care_home:
          e.work_area = rng.chance(0.5) ? "Residential Care" : "Nursing Care";
          break;
        case OrgType::hospice:
          e.work_area = "Palliative Care";
          if (role.doctor) e.speciality = "Palliative Medicine";
          e.unit = rng.chance(0.5) ? "Inpatient Unit" : "Hospice at Home";
          break;
      }
      if (e.kind == EntryKind::shared) {
        std::string what = !e.unit.empty() ? e.unit : !e.speciality.empty() ? e.speciality : "Reception";
        static constexpr std::string_view kMailboxes[] = {"Secretaries", "Referrals", "Enquiries", "Bookings", "Team"};
        std::string_view m = rng.pick(kMailboxes);
        e.display_name = what + " " + std::string(m);
        local = fold_text(what + " " + std::string(m));
        std::replace(local.begin(), local.end(), ' ', '.');
        e.fax = rng.chance(0.2) ? phone(rng, area) : "";
      } else if (e.kind == EntryKind::list) {
        static constexpr std::string_view kLists[] = {"All Staff", "Nurses", "Doctors", "Managers", "On Call"};
        std::string_view l = rng.pick(kLists);
        std::string scope = !e.unit.empty() ? e.unit : e.site;
        e.display_name = scope + " " + std::string(l);
        local = fold_text(e.display_name);
        std::replace(local.begin(), local.end(), ' ', '.');
      }
      if (!local.empty()) {
        int n = ++used[local];
        e.address = (n == 1 ? local : local + std::to_string(n)) + "@" + org.domain;
      }
      if (e.kind != EntryKind::list) e.telephone = phone(rng, area);
      if (e.kind == EntryKind::person) {
        if (rng.chance(0.4)) {
          e.mobile = "07" + digits(rng, 3) + " " + digits(rng, 6);
          e.mobile_hidden = rng.chance(0.3);
        }
        if (role.pager && rng.chance(0.5)) e.pager = "Bleep " + std::to_string(rng.between(1000, 9999));
        if (rng.chance(0.03)) e.notes = std::string(rng.pick(kNotes));
        e.hidden = !admin && rng.chance(0.005);
        e.is_org_admin = admin;
      } else if (e.kind == EntryKind::shared) {
        e.hidden = rng.chance(0.05);
      }
      fn(std::move(e));
    }
  }
}

Data generate(const Options& options) {
  Data d;
  d.organisations = make_organisations(options);
  d.entries.reserve(options.entries);
  for_each_entry(options, d.organisations, [&](DirectoryEntry&& e) { d.entries.push_back(std::move(e)); });
  return d;
}

void write_jsonl(std::ostream& out, const DirectoryEntry& e) {
  std::string line = "{\"id\":" + std::to_string(e.id);
  auto field = [&](std::string_view name, std::string_view value) {
    line += ",\"";
    line += name;
    line += "\":";
    append_json_string(line, value);
  };
  auto flag = [&](std::string_view name, bool value) {
    line += ",\"";
    line += name;
    line += value ? "\":true" : "\":false";
  };
  field("kind", to_string(e.kind));
  field("title", e.title);
  field("given_name", e.given_name);
  field("surname", e.surname);
  field("display_name", e.display_name);
  field("address", e.address);
  field("job_role", e.job_role);
  field("speciality", e.speciality);
  field("work_area", e.work_area);
  line += ",\"org_id\":" + std::to_string(e.org_id);
  field("ods_code", e.ods_code);
  field("org_name", e.org_name);
  field("unit", e.unit);
  field("site", e.site);
  field("telephone", e.telephone);
  field("mobile", e.mobile);
  field("pager", e.pager);
  field("fax", e.fax);
  field("notes", e.notes);
  flag("hidden", e.hidden);
  flag("mobile_hidden", e.mobile_hidden);
  flag("is_org_admin", e.is_org_admin);
  line += "}\n";
  out << line;
}

}  // namespace caremail::directory::synth
