// SMTP command-line parser. The grammar is in command.hpp; the reply codes in
// command_test.cpp's tables.
#include "smtp/command.hpp"

#include <array>
#include <utility>

namespace caremail::smtp {

namespace {

// ---- character classes (ASCII only; never locale-dependent) ----------------------------

constexpr bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
constexpr bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
constexpr bool is_alnum(unsigned char c) { return is_alpha(c) || is_digit(c); }
constexpr bool is_hex(unsigned char c) {
  return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}
constexpr unsigned hex_value(unsigned char c) {
  return is_digit(c) ? c - '0' : (c | 0x20u) - 'a' + 10;
}
constexpr char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; }

// RFC 5322 atext (RFC 5321 Atom).
constexpr bool is_atext(unsigned char c) {
  if (is_alnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '/': case '=': case '?': case '^': case '_': case '`': case '{':
    case '|': case '}': case '~':
      return true;
    default:
      return false;
  }
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (upper(a[i]) != upper(b[i])) return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = upper(c);
  return out;
}

bool has_non_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  return false;
}

void skip_spaces(std::string_view& s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
}

// Splits off the next space-separated token.
std::string_view next_token(std::string_view& s) {
  skip_spaces(s);
  size_t sp = s.find(' ');
  std::string_view tok = s.substr(0, sp);
  s.remove_prefix(sp == std::string_view::npos ? s.size() : sp);
  skip_spaces(s);
  return tok;
}

CommandError error(int code, const char* enhanced, std::string text, bool close = false) {
  return CommandError{code, enhanced, std::move(text), close};
}

CommandError syntax(std::string text) { return error(501, "5.5.4", std::move(text)); }

// ---- domains and address literals --------------------------------------------------------

enum class DomainCheck { ok, bad, non_ascii };

// RFC 5321 Domain: sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str], plus
// RFC 6531 U-labels when `utf8` (the caller has checked the UTF-8 is well formed).
// `lenient` (EHLO/HELO only) also allows '_', which real hosts (Windows NetBIOS names)
// send, and which costs nothing since the EHLO name is only logged.
DomainCheck check_domain(std::string_view d, bool utf8, bool lenient) {
  if (d.empty()) return DomainCheck::bad;
  size_t label_len = 0;
  bool label_ascii = true;
  unsigned char prev = '.';
  for (size_t i = 0; i < d.size(); ++i) {
    auto c = static_cast<unsigned char>(d[i]);
    if (c == '.') {
      if (label_len == 0 || prev == '-') return DomainCheck::bad;
      label_len = 0;
      label_ascii = true;
    } else if (c >= 0x80) {
      if (!utf8) return DomainCheck::non_ascii;
      label_ascii = false;  // the 63 limit is on the A-label; we do not punycode here
      ++label_len;
    } else if (is_alnum(c) || (lenient && c == '_')) {
      ++label_len;
    } else if (c == '-') {
      if (label_len == 0) return DomainCheck::bad;
      ++label_len;
    } else {
      return DomainCheck::bad;
    }
    if (label_ascii && label_len > 63) return DomainCheck::bad;
    prev = c;
  }
  if (label_len == 0 || prev == '-') return DomainCheck::bad;  // trailing '.' or '-'
  return DomainCheck::ok;
}

// IPv4-address-literal = Snum 3("." Snum), Snum = 1*3DIGIT in 0..255.
bool is_ipv4(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  while (true) {
    size_t start = i;
    unsigned v = 0;
    while (i < s.size() && is_digit(static_cast<unsigned char>(s[i])) && i - start < 3)
      v = v * 10 + static_cast<unsigned>(s[i++] - '0');
    if (i == start || v > 255) return false;
    ++parts;
    if (i == s.size()) return parts == 4;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
}

// RFC 5321 IPv6-addr (full, compressed, and either with a trailing IPv4 part). "::" may
// stand for a single group too (RFC 5952 practice; 5321's "at least two" is not enforced).
bool is_ipv6(std::string_view s) {
  size_t n = s.size(), i = 0;
  int groups = 0;
  bool compressed = false;
  if (n < 2) return false;
  if (s[0] == ':') {
    if (s[1] != ':') return false;
    compressed = true;
    i = 2;
    if (i == n) return true;  // "::"
  }
  while (i < n) {
    size_t j = i;
    while (j < n && s[j] != ':') ++j;
    std::string_view tok = s.substr(i, j - i);
    if (tok.find('.') != std::string_view::npos) {
      if (j != n || !is_ipv4(tok)) return false;
      groups += 2;
      break;
    }
    if (tok.empty() || tok.size() > 4) return false;
    for (char c : tok)
      if (!is_hex(static_cast<unsigned char>(c))) return false;
    ++groups;
    if (j == n) break;
    if (j + 1 < n && s[j + 1] == ':') {
      if (compressed) return false;
      compressed = true;
      i = j + 2;
    } else {
      i = j + 1;
      if (i == n) return false;  // trailing single ':'
    }
  }
  return compressed ? groups <= 7 : groups == 8;
}

// "[...]" including the brackets. Only IPv4 and IPv6 literals: a General-address-literal
// names no address we could be.
bool is_address_literal(std::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  std::string_view in = s.substr(1, s.size() - 2);
  if (istarts_with(in, "IPv6:")) return is_ipv6(in.substr(5));
  return is_ipv4(in);
}

// ---- paths ------------------------------------------------------------------------------

struct PathContext {
  bool rcpt;
  bool utf8;
  const CommandLimits& limits;
};

CommandError bad_address(const PathContext& ctx, std::string_view what) {
  std::string text = ctx.rcpt ? "Bad recipient address syntax: " : "Bad sender address syntax: ";
  text += what;
  return error(501, ctx.rcpt ? "5.1.3" : "5.1.7", std::move(text));
}

// Where the path starting at s[0] == '<' ends (the index of its '>'), skipping quoted
// strings so a '>' inside quotes does not end it; npos when there is none.
size_t find_path_end(std::string_view s) {
  bool quoted = false;
  for (size_t i = 1; i < s.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '>') {
      return i;
    }
  }
  return std::string_view::npos;
}

// Parses `s` ("<...>" inclusive) into `out`. nullopt on success.
std::optional<CommandError> parse_path(std::string_view s, const PathContext& ctx, Path& out) {
  if (s.size() > ctx.limits.max_path)
    return bad_address(ctx, "address too long (limit " + std::to_string(ctx.limits.max_path) +
                                " octets)");
  if (has_non_ascii(s)) {
    if (!ctx.utf8)
      return error(553, "5.6.7",
                   ctx.rcpt ? "Non-ASCII recipient address needs MAIL FROM with SMTPUTF8"
                            : "Non-ASCII sender address needs the SMTPUTF8 parameter");
    if (!is_utf8(s)) return bad_address(ctx, "invalid UTF-8");
  }
  std::string_view in = s.substr(1, s.size() - 2);
  if (in.empty()) {
    if (ctx.rcpt) return bad_address(ctx, "empty address <>");
    out = Path{};
    return std::nullopt;
  }

  size_t i = 0;
  // A-d-l: "@one,@two:" — obsolete source route, accepted and ignored (RFC 5321 §4.1.2).
  if (in[0] == '@') {
    size_t colon = in.find(':');
    if (colon == std::string_view::npos) return bad_address(ctx, "source route without ':'");
    std::string_view route = in.substr(0, colon);
    while (!route.empty()) {
      if (route.front() != '@') return bad_address(ctx, "bad source route");
      size_t comma = route.find(',');
      std::string_view d = route.substr(1, comma == std::string_view::npos ? route.npos : comma - 1);
      if (d.size() > ctx.limits.max_domain ||
          check_domain(d, ctx.utf8, false) != DomainCheck::ok)
        return bad_address(ctx, "bad source route");
      route.remove_prefix(comma == std::string_view::npos ? route.size() : comma + 1);
      if (comma != std::string_view::npos && route.empty())
        return bad_address(ctx, "bad source route");
    }
    i = colon + 1;
  }

  // Local-part = Dot-string / Quoted-string
  size_t local_start = i;
  bool quoted = false;
  if (i < in.size() && in[i] == '"') {
    quoted = true;
    ++i;
    for (;;) {
      if (i >= in.size()) return bad_address(ctx, "unterminated quoted local part");
      auto c = static_cast<unsigned char>(in[i]);
      if (c == '"') {
        ++i;
        break;
      }
      if (c == '\\') {  // quoted-pairSMTP = "\" %d32-126
        if (i + 1 >= in.size()) return bad_address(ctx, "unterminated quoted local part");
        auto q = static_cast<unsigned char>(in[i + 1]);
        if (q < 32 || q > 126) return bad_address(ctx, "bad quoted pair in local part");
        i += 2;
      } else if (c >= 32 && c <= 126) {
        ++i;
      } else if (c >= 0x80) {  // only reachable with utf8 (checked above)
        i += utf8_char_length(in, i);
      } else {
        return bad_address(ctx, "bad character in quoted local part");
      }
    }
  } else {
    bool atom_empty = true;
    while (i < in.size() && in[i] != '@') {
      auto c = static_cast<unsigned char>(in[i]);
      if (c == '.') {
        if (atom_empty) return bad_address(ctx, "empty atom in local part");
        atom_empty = true;
        ++i;
      } else if (is_atext(c)) {
        atom_empty = false;
        ++i;
      } else if (c >= 0x80) {
        atom_empty = false;
        i += utf8_char_length(in, i);
      } else {
        return bad_address(ctx, "bad character in local part");
      }
    }
    if (atom_empty) return bad_address(ctx, i == local_start ? "empty local part"
                                                             : "local part ends with '.'");
  }
  std::string_view local = in.substr(local_start, i - local_start);

  if (i == in.size()) {
    // "<Postmaster>" without a domain is the one mailbox RCPT accepts bare.
    if (ctx.rcpt && !quoted && iequals(local, "postmaster") && local_start == 0) {
      out = Path{};
      out.kind = Path::Kind::postmaster;
      out.local = std::string(local);
      return std::nullopt;
    }
    return bad_address(ctx, "missing @domain");
  }
  if (in[i] != '@') return bad_address(ctx, "text after quoted local part");
  if (local.size() > ctx.limits.max_local_part)
    return bad_address(ctx, "local part too long (limit " +
                                std::to_string(ctx.limits.max_local_part) + " octets)");
  std::string_view domain = in.substr(i + 1);
  if (domain.empty()) return bad_address(ctx, "missing domain");
  if (domain.size() > ctx.limits.max_domain)
    return bad_address(ctx, "domain too long (limit " + std::to_string(ctx.limits.max_domain) +
                                " octets)");
  bool literal = domain.front() == '[';
  if (literal) {
    if (!is_address_literal(domain)) return bad_address(ctx, "bad address literal");
  } else if (check_domain(domain, ctx.utf8, false) != DomainCheck::ok) {
    return bad_address(ctx, "bad domain");
  }

  out = Path{};
  out.kind = Path::Kind::mailbox;
  out.local = std::string(local);
  out.domain = std::string(domain);
  out.quoted_local = quoted;
  out.literal_domain = literal;
  out.utf8 = has_non_ascii(in);
  return std::nullopt;
}

// ---- ESMTP parameters ---------------------------------------------------------------------

struct Param {
  std::string_view keyword;
  std::string_view value;
  bool has_value;
};

// esmtp-param = esmtp-keyword ["=" esmtp-value]
// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); esmtp-value = 1*(%d33-60 / %d62-126)
// (plus UTF-8 when allowed, RFC 6531 §3.3). Errors name the parameter.
std::optional<CommandError> split_param(std::string_view tok, bool utf8, Param& p) {
  size_t eq = tok.find('=');
  p.keyword = tok.substr(0, eq);
  p.has_value = eq != std::string_view::npos;
  p.value = p.has_value ? tok.substr(eq + 1) : std::string_view{};
  if (p.keyword.empty() || !is_alnum(static_cast<unsigned char>(p.keyword[0])))
    return syntax("Bad parameter syntax");
  for (char c : p.keyword)
    if (!is_alnum(static_cast<unsigned char>(c)) && c != '-')
      return syntax("Bad parameter syntax");
  if (p.has_value) {
    if (p.value.empty()) return syntax("Missing value for " + to_upper(p.keyword));
    for (char ch : p.value) {
      auto c = static_cast<unsigned char>(ch);
      if (c == '=' || (c < 0x80 && (c < 33 || c > 126)))
        return syntax("Bad value for " + to_upper(p.keyword));
      if (c >= 0x80 && !utf8)
        return syntax("Non-ASCII value for " + to_upper(p.keyword));
    }
    if (utf8 && !is_utf8(p.value)) return syntax("Invalid UTF-8 in " + to_upper(p.keyword));
  }
  return std::nullopt;
}

CommandError unknown_param(std::string_view keyword) {
  return error(555, "5.5.4", "Unsupported parameter " + to_upper(keyword));
}

CommandError duplicate_param(std::string_view keyword) {
  return syntax("Duplicate " + to_upper(keyword) + " parameter");
}

std::optional<CommandError> no_value(const Param& p) {
  if (p.has_value) return syntax(to_upper(p.keyword) + " takes no value");
  return std::nullopt;
}

std::optional<CommandError> need_value(const Param& p) {
  if (!p.has_value) return syntax("Missing value for " + to_upper(p.keyword));
  return std::nullopt;
}

bool printable_ascii(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 32 || c > 126) return false;
  }
  return true;
}

// Up to 20 digits (RFC 1870 size-value); values past 2^64-1 saturate.
bool parse_size(std::string_view v, uint64_t& out) {
  if (v.empty() || v.size() > 20) return false;
  uint64_t n = 0;
  for (char c : v) {
    if (!is_digit(static_cast<unsigned char>(c))) return false;
    unsigned d = static_cast<unsigned>(c - '0');
    if (n > (UINT64_MAX - d) / 10) n = UINT64_MAX;
    else n = n * 10 + d;
  }
  out = n;
  return true;
}

std::optional<CommandError> parse_mail_params(std::string_view rest, MailParams& mp) {
  // SMTPUTF8 may come after a parameter whose value holds UTF-8; only ORCPT (RCPT) may, so
  // MAIL values are ASCII and need no look-ahead.
  bool seen_body = false, seen_ret = false, seen_smtputf8 = false;
  while (!rest.empty()) {
    Param p;
    if (auto e = split_param(next_token(rest), false, p)) return e;
    if (iequals(p.keyword, "SIZE")) {
      if (mp.size) return duplicate_param(p.keyword);
      if (auto e = need_value(p)) return e;
      uint64_t n;
      if (!parse_size(p.value, n)) return syntax("Bad SIZE value (expected 1 to 20 digits)");
      mp.size = n;
    } else if (iequals(p.keyword, "BODY")) {
      if (seen_body) return duplicate_param(p.keyword);
      if (auto e = need_value(p)) return e;
      seen_body = true;
      if (iequals(p.value, "7BIT")) mp.body = Body::seven_bit;
      else if (iequals(p.value, "8BITMIME")) mp.body = Body::eight_bit_mime;
      else if (iequals(p.value, "BINARYMIME")) mp.body = Body::binary_mime;
      else return syntax("Bad BODY value (expected 7BIT, 8BITMIME or BINARYMIME)");
    } else if (iequals(p.keyword, "SMTPUTF8")) {
      if (seen_smtputf8) return duplicate_param(p.keyword);
      if (auto e = no_value(p)) return e;
      seen_smtputf8 = true;
      mp.smtputf8 = true;
    } else if (iequals(p.keyword, "RET")) {
      if (seen_ret) return duplicate_param(p.keyword);
      if (auto e = need_value(p)) return e;
      seen_ret = true;
      if (iequals(p.value, "FULL")) mp.ret = Ret::full;
      else if (iequals(p.value, "HDRS")) mp.ret = Ret::hdrs;
      else return syntax("Bad RET value (expected FULL or HDRS)");
    } else if (iequals(p.keyword, "ENVID")) {
      if (mp.envid) return duplicate_param(p.keyword);
      if (auto e = need_value(p)) return e;
      // RFC 3461 §4.4: at most 100 characters, printable US-ASCII once decoded.
      if (p.value.size() > 100) return syntax("ENVID too long (limit 100 characters)");
      auto d = xtext_decode(p.value);
      if (!d || !printable_ascii(*d)) return syntax("Bad ENVID value (expected xtext)");
      mp.envid = std::move(*d);
    } else if (iequals(p.keyword, "AUTH")) {
      if (mp.auth) return duplicate_param(p.keyword);
      if (auto e = need_value(p)) return e;
      if (p.value == "<>") {
        mp.auth = "<>";
      } else {
        auto d = xtext_decode(p.value);
        if (!d || d->empty() || !printable_ascii(*d))
          return syntax("Bad AUTH value (expected xtext or <>)");
        mp.auth = std::move(*d);
      }
    } else {
      return unknown_param(p.keyword);
    }
  }
  return std::nullopt;
}

std::optional<CommandError> parse_rcpt_params(std::string_view rest, bool utf8, RcptParams& rp) {
  while (!rest.empty()) {
    Param p;
    if (auto e = split_param(next_token(rest), utf8, p)) return e;
    if (iequals(p.keyword, "NOTIFY")) {
      if (rp.notify.given) return duplicate_param(p.keyword);
      if (auto e = need_value(p)) return e;
      Notify n;
      n.given = true;
      std::string_view list = p.value;
      int items = 0;
      for (;;) {
        size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        bool* flag = iequals(item, "NEVER")     ? &n.never
                     : iequals(item, "SUCCESS") ? &n.success
                     : iequals(item, "FAILURE") ? &n.failure
                     : iequals(item, "DELAY")   ? &n.delay
                                                : nullptr;
        if (!flag) return syntax("Bad NOTIFY value (expected NEVER or SUCCESS,FAILURE,DELAY)");
        if (*flag) return syntax("Duplicate NOTIFY value");
        *flag = true;
        ++items;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
      if (n.never && items > 1) return syntax("NOTIFY=NEVER cannot be combined with other values");
      rp.notify = n;
    } else if (iequals(p.keyword, "ORCPT")) {
      if (rp.orcpt) return duplicate_param(p.keyword);
      if (auto e = need_value(p)) return e;
      // RFC 3461 §4.2: at most 500 characters in all; addr-type = atom.
      if (p.value.size() > 500) return syntax("ORCPT too long (limit 500 characters)");
      size_t semi = p.value.find(';');
      if (semi == std::string_view::npos || semi == 0 || semi + 1 == p.value.size())
        return syntax("Bad ORCPT value (expected addr-type;xtext)");
      std::string_view type = p.value.substr(0, semi);
      for (char c : type)
        if (!is_atext(static_cast<unsigned char>(c)))
          return syntax("Bad ORCPT address type");
      bool utf8_type = utf8 && iequals(type, "utf-8");
      std::string_view addr = p.value.substr(semi + 1);
      if (has_non_ascii(addr) && !utf8_type)
        return syntax("Non-ASCII ORCPT needs SMTPUTF8 and type utf-8");
      auto d = xtext_decode(addr, utf8_type);
      if (!d || d->empty()) return syntax("Bad ORCPT value (expected addr-type;xtext)");
      for (char ch : *d) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 32 || c == 127) return syntax("Bad ORCPT value (control character)");
      }
      if (!is_utf8(*d)) return syntax("Bad ORCPT value (invalid UTF-8)");
      rp.orcpt = Orcpt{std::string(type), std::move(*d)};
    } else {
      return unknown_param(p.keyword);
    }
  }
  return std::nullopt;
}

// ---- verbs --------------------------------------------------------------------------------

struct VerbName {
  std::string_view name;
  Verb verb;
};

constexpr std::array<VerbName, 14> kVerbs{{
    {"EHLO", Verb::ehlo}, {"HELO", Verb::helo}, {"MAIL", Verb::mail}, {"RCPT", Verb::rcpt},
    {"DATA", Verb::data}, {"BDAT", Verb::bdat}, {"RSET", Verb::rset}, {"NOOP", Verb::noop},
    {"QUIT", Verb::quit}, {"VRFY", Verb::vrfy}, {"EXPN", Verb::expn}, {"HELP", Verb::help},
    {"STARTTLS", Verb::starttls}, {"AUTH", Verb::auth},
}};

// A browser or proxy made to talk to port 25 (cross-protocol attacks): drop it at once,
// as Postfix's smtpd_forbidden_commands does.
constexpr std::array<std::string_view, 7> kHttpVerbs{"GET", "POST", "HEAD", "PUT", "CONNECT",
                                                     "OPTIONS", "DELETE"};

CommandResult parse_ehlo(Verb verb, std::string_view args, const CommandLimits& limits) {
  std::string_view name = verb == Verb::ehlo ? "EHLO" : "HELO";
  std::string usage = "Syntax: " + std::string(name) + " hostname";
  if (args.empty() || args.find(' ') != std::string_view::npos) return syntax(usage);
  bool ok;
  if (args.size() > limits.max_domain) ok = false;
  else if (args.front() == '[') ok = is_address_literal(args);
  else ok = is_utf8(args) && check_domain(args, true, true) == DomainCheck::ok;
  if (!ok) return syntax("Invalid " + std::string(name) + " hostname");
  Command c;
  c.verb = verb;
  c.domain = std::string(args);
  return c;
}

CommandResult parse_mail_rcpt(Verb verb, std::string_view args, const CommandLimits& limits,
                              bool utf8_allowed) {
  bool rcpt = verb == Verb::rcpt;
  std::string_view prefix = rcpt ? "TO:" : "FROM:";
  const char* usage = rcpt ? "Syntax: RCPT TO:<address> [parameters]"
                           : "Syntax: MAIL FROM:<address> [parameters]";
  if (!istarts_with(args, prefix)) return syntax(usage);
  args.remove_prefix(prefix.size());
  skip_spaces(args);
  if (args.empty() || args.front() != '<') return syntax(std::string(usage) + " (missing '<')");
  size_t end = find_path_end(args);
  if (end == std::string_view::npos) return syntax(std::string(usage) + " (missing '>')");
  std::string_view path = args.substr(0, end + 1);
  std::string_view rest = args.substr(end + 1);
  if (!rest.empty() && rest.front() != ' ')
    return syntax(std::string(usage) + " (expected a space after '>')");

  Command c;
  c.verb = verb;
  bool utf8;
  if (rcpt) {
    if (auto e = parse_rcpt_params(rest, utf8_allowed, c.rcpt)) return std::move(*e);
    utf8 = utf8_allowed;
  } else {
    if (auto e = parse_mail_params(rest, c.mail)) return std::move(*e);
    utf8 = c.mail.smtputf8;
  }
  if (auto e = parse_path(path, PathContext{rcpt, utf8, limits}, c.path)) return std::move(*e);
  return c;
}

CommandResult parse_bdat(std::string_view args) {
  // A BDAT line we cannot read leaves an unknown number of octets in flight: close.
  auto bad = [](std::string text) { return error(501, "5.5.4", std::move(text), true); };
  std::string_view size = next_token(args);
  std::string_view last = next_token(args);
  if (size.empty() || !args.empty()) return bad("Syntax: BDAT size [LAST]");
  if (!last.empty() && !iequals(last, "LAST")) return bad("Syntax: BDAT size [LAST]");
  uint64_t n;
  if (!parse_size(size, n) || n == UINT64_MAX) return bad("Bad BDAT chunk size");
  Command c;
  c.verb = Verb::bdat;
  c.chunk_size = n;
  c.last = !last.empty();
  return c;
}

CommandResult parse_auth(std::string_view args) {
  std::string_view mech = next_token(args);
  std::string_view resp = next_token(args);
  if (mech.empty() || !args.empty() || mech.size() > 20)
    return syntax("Syntax: AUTH mechanism [initial-response]");
  for (char c : mech)  // RFC 4422 sasl-mech: 1*20 of upper ALPHA / DIGIT / "-" / "_"
    if (!is_alnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
      return syntax("Syntax: AUTH mechanism [initial-response]");
  Command c;
  c.verb = Verb::auth;
  c.mechanism = to_upper(mech);
  if (!resp.empty()) {
    if (resp != "=") {
      // The session decodes it; here only the alphabet, so nothing odd reaches a log.
      size_t pad = 0;
      for (char ch : resp) {
        auto u = static_cast<unsigned char>(ch);
        if (ch == '=') ++pad;
        else if (pad || !(is_alnum(u) || ch == '+' || ch == '/'))
          return error(501, "5.5.2", "Invalid base64 in initial response");
      }
      if (pad > 2) return error(501, "5.5.2", "Invalid base64 in initial response");
    }
    c.initial_response = std::string(resp);
  }
  return c;
}

}  // namespace

std::string_view to_string(Verb v) noexcept {
  for (const VerbName& n : kVerbs)
    if (n.verb == v) return n.name;
  return "?";
}

std::string Path::address() const {
  switch (kind) {
    case Kind::null:
      return {};
    case Kind::postmaster:
      return local;
    case Kind::mailbox:
      break;
  }
  return local + '@' + domain;
}

std::string Path::local_value() const {
  if (!quoted_local || local.size() < 2) return local;
  std::string out;
  out.reserve(local.size() - 2);
  for (size_t i = 1; i + 1 < local.size(); ++i) {
    if (local[i] == '\\' && i + 2 < local.size()) ++i;
    out += local[i];
  }
  return out;
}

std::optional<std::string> xtext_decode(std::string_view in, bool allow_utf8) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    auto c = static_cast<unsigned char>(in[i]);
    if (c == '+') {
      if (in.size() - i < 3 || !is_hex(static_cast<unsigned char>(in[i + 1])) ||
          !is_hex(static_cast<unsigned char>(in[i + 2])))
        return std::nullopt;
      out += static_cast<char>(hex_value(static_cast<unsigned char>(in[i + 1])) * 16 +
                               hex_value(static_cast<unsigned char>(in[i + 2])));
      i += 2;
    } else if ((c >= 33 && c <= 126 && c != '=') || (c >= 0x80 && allow_utf8)) {
      out += static_cast<char>(c);
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::string xtext_encode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (char ch : in) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 33 && c <= 126 && c != '+' && c != '=') {
      out += ch;
    } else {
      out += '+';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

CommandResult parse_command(std::string_view line, const CommandLimits& limits,
                            bool utf8_allowed) {
  if (line.size() > limits.max_line)
    return error(500, "5.5.6",
                 "Line too long (limit " + std::to_string(limits.max_line) + " octets)");
  for (char ch : line) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) return error(500, "5.5.2", "Control character in command");
  }
  while (!line.empty() && line.back() == ' ') line.remove_suffix(1);
  if (line.empty()) return error(500, "5.5.2", "Empty command");

  size_t sp = line.find(' ');
  std::string_view word = line.substr(0, sp);
  std::string_view args = sp == std::string_view::npos ? std::string_view{} : line.substr(sp);
  skip_spaces(args);

  const VerbName* found = nullptr;
  for (const VerbName& n : kVerbs)
    if (iequals(word, n.name)) found = &n;
  if (!found) {
    for (std::string_view h : kHttpVerbs)
      if (iequals(word, h))
        return error(500, "5.5.2", "This is an SMTP server, not an HTTP one", true);
    return error(500, "5.5.2", "Command not recognized");
  }

  Verb verb = found->verb;
  auto no_args = [&]() -> CommandResult {
    if (!args.empty()) return syntax("Syntax: " + std::string(found->name));
    Command c;
    c.verb = verb;
    return c;
  };
  auto text_arg = [&](bool required) -> CommandResult {
    if (required && args.empty())
      return syntax("Syntax: " + std::string(found->name) + " argument");
    if (!is_utf8(args)) return syntax("Invalid UTF-8 in argument");
    Command c;
    c.verb = verb;
    c.argument = std::string(args);
    return c;
  };

  switch (verb) {
    case Verb::ehlo:
    case Verb::helo:
      return parse_ehlo(verb, args, limits);
    case Verb::mail:
    case Verb::rcpt:
      return parse_mail_rcpt(verb, args, limits, utf8_allowed);
    case Verb::bdat:
      return parse_bdat(args);
    case Verb::auth:
      return parse_auth(args);
    case Verb::data:
    case Verb::rset:
    case Verb::quit:
    case Verb::starttls:
      return no_args();
    case Verb::noop:
    case Verb::help:
      return text_arg(false);
    case Verb::vrfy:
    case Verb::expn:
      return text_arg(true);
  }
  return error(500, "5.5.2", "Command not recognized");  // unreachable: every Verb handled
}

}  // namespace caremail::smtp
