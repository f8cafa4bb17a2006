#include "scim/filter.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace caremail::scim {

namespace {

Error bad(std::string what) { return make_error(Errc::invalid_argument, "invalid filter: " + std::move(what)); }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

class Parser {
 public:
  Parser(std::string_view text, const FilterLimits& limits) : s_(text), limits_(limits) {}

  Result<Filter> run() {
    if (s_.size() > limits_.max_length) return bad("longer than " + std::to_string(limits_.max_length) + " octets");
    auto f = parse_or(0);
    if (!f) return f;
    skip_space();
    if (pos_ != s_.size()) return bad("unexpected text at offset " + std::to_string(pos_));
    return f;
  }

 private:
  void skip_space() {
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
  }

  // A keyword (and, or, not, an operator) followed by a space, a parenthesis or the end.
  bool keyword(std::string_view kw) {
    skip_space();
    if (s_.size() - pos_ < kw.size() || !iequals(s_.substr(pos_, kw.size()), kw)) return false;
    size_t after = pos_ + kw.size();
    if (after < s_.size() && s_[after] != ' ' && s_[after] != '(' && s_[after] != ')') return false;
    pos_ = after;
    return true;
  }

  Status count_node() {
    if (++nodes_ > limits_.max_nodes) return bad("more than " + std::to_string(limits_.max_nodes) + " terms");
    return {};
  }

  Result<Filter> parse_or(size_t depth) {
    auto left = parse_and(depth);
    if (!left) return left;
    while (keyword("or")) {
      if (Status s = count_node(); !s) return s.error();
      auto right = parse_and(depth);
      if (!right) return right;
      Filter f;
      f.op = Op::or_;
      f.children.push_back(std::move(*left));
      f.children.push_back(std::move(*right));
      left = std::move(f);
    }
    return left;
  }

  Result<Filter> parse_and(size_t depth) {
    auto left = parse_unary(depth);
    if (!left) return left;
    while (keyword("and")) {
      if (Status s = count_node(); !s) return s.error();
      auto right = parse_unary(depth);
      if (!right) return right;
      Filter f;
      f.op = Op::and_;
      f.children.push_back(std::move(*left));
      f.children.push_back(std::move(*right));
      left = std::move(f);
    }
    return left;
  }

  Result<Filter> parse_group(size_t depth) {
    if (depth + 1 > limits_.max_depth) return bad("nested deeper than " + std::to_string(limits_.max_depth));
    ++pos_;  // '('
    auto inner = parse_or(depth + 1);
    if (!inner) return inner;
    skip_space();
    if (pos_ >= s_.size() || s_[pos_] != ')') return bad("missing ')'");
    ++pos_;
    return inner;
  }

  Result<Filter> parse_unary(size_t depth) {
    skip_space();
    if (pos_ >= s_.size()) return bad("unexpected end");
    if (keyword("not")) {
      if (Status s = count_node(); !s) return s.error();
      skip_space();
      if (pos_ >= s_.size() || s_[pos_] != '(') return bad("'not' must be followed by '('");
      auto inner = parse_group(depth);
      if (!inner) return inner;
      Filter f;
      f.op = Op::not_;
      f.children.push_back(std::move(*inner));
      return f;
    }
    if (s_[pos_] == '(') return parse_group(depth);
    return parse_compare();
  }

  Result<Filter> parse_compare() {
    if (Status s = count_node(); !s) return s.error();
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != ' ' && s_[pos_] != '(' && s_[pos_] != ')') ++pos_;
    std::string_view path = s_.substr(start, pos_ - start);
    if (path.empty()) return bad("an attribute name is missing at offset " + std::to_string(start));
    // "urn:ietf:params:scim:schemas:core:2.0:User:userName" -> "userName".
    if (auto colon = path.rfind(':'); colon != std::string_view::npos) path = path.substr(colon + 1);
    for (char c : path)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '$'))
        return bad("'" + std::string(path) + "' is not an attribute name (value filters [...] are not supported)");
    if (path.empty() || path.front() == '.' || path.back() == '.') return bad("bad attribute name");
    Filter f;
    f.attr = lower(path);
    static constexpr std::pair<std::string_view, Op> kOps[] = {
        {"eq", Op::eq}, {"ne", Op::ne}, {"co", Op::co}, {"sw", Op::sw}, {"ew", Op::ew},
        {"gt", Op::gt}, {"ge", Op::ge}, {"lt", Op::lt}, {"le", Op::le}, {"pr", Op::pr}};
    bool found = false;
    for (auto [name, op] : kOps)
      if (keyword(name)) {
        f.op = op;
        found = true;
        break;
      }
    if (!found) return bad("expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after '" + f.attr + "'");
    if (f.op == Op::pr) return f;
    skip_space();
    if (pos_ >= s_.size()) return bad("a value is missing after '" + f.attr + "'");
    if (s_[pos_] == '"') {
      if (Status s = parse_string(f.value); !s) return s.error();
      f.value_is_string = true;
      return f;
    }
    size_t vstart = pos_;
    while (pos_ < s_.size() && s_[pos_] != ' ' && s_[pos_] != ')') ++pos_;
    std::string word = lower(s_.substr(vstart, pos_ - vstart));
    bool number = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == 'e';
    });
    if (word != "true" && word != "false" && word != "null" && !number)
      return bad("values are quoted strings, true, false, null or numbers");
    f.value = word;
    return f;
  }

  // A JSON string (RFC 8259): escapes decoded, \u to UTF-8 (surrogate pairs joined).
  Status parse_string(std::string& out) {
    ++pos_;  // '"'
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return {};
      if (static_cast<unsigned char>(c) < 0x20) return bad("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          auto hex4 = [&](unsigned& v) {
            if (s_.size() - pos_ < 4) return false;
            v = 0;
            for (int i = 0; i < 4; ++i) {
              char h = s_[pos_++];
              v <<= 4;
              if (h >= '0' && h <= '9') v |= unsigned(h - '0');
              else if (h >= 'a' && h <= 'f') v |= unsigned(h - 'a' + 10);
              else if (h >= 'A' && h <= 'F') v |= unsigned(h - 'A' + 10);
              else return false;
            }
            return true;
          };
          unsigned cp = 0;
          if (!hex4(cp)) return bad("bad \\u escape");
          if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned lo = 0;
            if (s_.size() - pos_ < 6 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') return bad("lone surrogate");
            pos_ += 2;
            if (!hex4(lo) || lo < 0xdc00 || lo > 0xdfff) return bad("lone surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return bad("lone surrogate");
          }
          if (cp < 0x80) {
            out += static_cast<char>(cp);
          } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
          } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
          } else {
            out += static_cast<char>(0xf0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
          }
          break;
        }
        default: return bad("bad escape in a string");
      }
    }
    return bad("unterminated string");
  }

  std::string_view s_;
  const FilterLimits& limits_;
  size_t pos_ = 0;
  size_t nodes_ = 0;
};

bool compare(Op op, const std::string& have_raw, const Filter& f) {
  std::string have = lower(have_raw), want = lower(f.value);
  switch (op) {
    case Op::eq: return have == want;
    case Op::ne: return have != want;
    case Op::co: return have.find(want) != std::string::npos;
    case Op::sw: return have.rfind(want, 0) == 0;
    case Op::ew: return have.size() >= want.size() && have.compare(have.size() - want.size(), want.size(), want) == 0;
    case Op::gt: return have > want;
    case Op::ge: return have >= want;
    case Op::lt: return have < want;
    case Op::le: return have <= want;
    default: return false;
  }
}

const char* op_name(Op op) {
  switch (op) {
    case Op::eq: return "eq";
    case Op::ne: return "ne";
    case Op::co: return "co";
    case Op::sw: return "sw";
    case Op::ew: return "ew";
    case Op::gt: return "gt";
    case Op::ge: return "ge";
    case Op::lt: return "lt";
    case Op::le: return "le";
    case Op::pr: return "pr";
    case Op::and_: return "and";
    case Op::or_: return "or";
    case Op::not_: return "not";
  }
  return "?";
}

}  // namespace

Result<Filter> parse_filter(std::string_view text, const FilterLimits& limits) {
  return Parser(text, limits).run();
}

bool matches(const Filter& f, const Attributes& attrs) {
  switch (f.op) {
    case Op::and_: return matches(f.children[0], attrs) && matches(f.children[1], attrs);
    case Op::or_: return matches(f.children[0], attrs) || matches(f.children[1], attrs);
    case Op::not_: return !matches(f.children[0], attrs);
    case Op::pr: return !attrs(f.attr).empty();
    default: break;
  }
  auto values = attrs(f.attr);
  if (f.op == Op::ne) {
    return std::none_of(values.begin(), values.end(), [&](const std::string& v) { return compare(Op::eq, v, f); });
  }
  return std::any_of(values.begin(), values.end(), [&](const std::string& v) { return compare(f.op, v, f); });
}

std::string to_string(const Filter& f) {
  switch (f.op) {
    case Op::and_:
    case Op::or_:
      return "(" + to_string(f.children[0]) + " " + op_name(f.op) + " " + to_string(f.children[1]) + ")";
    case Op::not_: return "not (" + to_string(f.children[0]) + ")";
    case Op::pr: return f.attr + " pr";
    default: break;
  }
  std::string v;
  if (f.value_is_string) {
    v = "\"";
    for (char c : f.value) {
      if (c == '"' || c == '\\') v += '\\';
      if (static_cast<unsigned char>(c) < 0x20) {
        static const char* hex = "0123456789abcdef";
        v += "\\u00";
        v += hex[(c >> 4) & 0xf];
        v += hex[c & 0xf];
        continue;
      }
      v += c;
    }
    v += "\"";
  } else {
    v = f.value;
  }
  return f.attr + " " + op_name(f.op) + " " + v;
}

}  // namespace caremail::scim
