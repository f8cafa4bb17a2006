#include "http/http_parse.hpp"

namespace caremail::http {

namespace {

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 9110 §5.6.2 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~': return true;
    default: return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

}  // namespace

std::string percent_decode(std::string_view s, bool form) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
      if (h >= 0 && l >= 0) {
        out.push_back(static_cast<char>(h * 16 + l));
        i += 2;
        continue;
      }
    }
    out.push_back(form && s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

std::multimap<std::string, std::string> parse_query(std::string_view q) {
  std::multimap<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= q.size()) {
    size_t amp = q.find('&', pos);
    if (amp == std::string_view::npos) amp = q.size();
    std::string_view kv = q.substr(pos, amp - pos);
    if (!kv.empty()) {
      size_t eq = kv.find('=');
      if (eq == std::string_view::npos) out.emplace(percent_decode(kv, true), "");
      else out.emplace(percent_decode(kv.substr(0, eq), true), percent_decode(kv.substr(eq + 1), true));
    }
    pos = amp + 1;
  }
  return out;
}

Target parse_target(std::string_view target) {
  Target t;
  auto qpos = target.find('?');
  t.path = percent_decode(target.substr(0, qpos));
  if (qpos != std::string_view::npos) t.query = parse_query(target.substr(qpos + 1));
  return t;
}

std::vector<std::string_view> path_segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view part = trim(header.substr(0, semi));
    auto eq = part.find('=');
    if (eq != std::string_view::npos && trim(part.substr(0, eq)) == name) {
      std::string_view v = trim(part.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return std::string(v);
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

std::string_view MediaType::syntax() const {
  std::string_view s = subtype;
  auto plus = s.rfind('+');
  return plus == std::string_view::npos ? s : s.substr(plus + 1);
}

std::optional<MediaType> parse_media_type(std::string_view text) {
  auto semi = text.find(';');
  std::string_view essence = trim(text.substr(0, semi));
  auto slash = essence.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view type = essence.substr(0, slash), subtype = essence.substr(slash + 1);
  if (!is_token(type) || !is_token(subtype)) return std::nullopt;
  MediaType m{lowered(type), lowered(subtype), {}};
  std::string_view rest = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
  // parameters: *( OWS ";" OWS [ token "=" ( token / quoted-string ) ] )
  while (!rest.empty()) {
    rest = trim(rest);
    if (rest.empty()) break;
    if (rest.front() == ';') {
      rest.remove_prefix(1);
      continue;
    }
    auto eq = rest.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view pname = rest.substr(0, eq);
    if (!is_token(pname)) return std::nullopt;
    rest.remove_prefix(eq + 1);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      size_t i = 1;
      bool closed = false;
      for (; i < rest.size(); ++i) {
        if (rest[i] == '\\' && i + 1 < rest.size()) {
          value.push_back(rest[++i]);
        } else if (rest[i] == '"') {
          closed = true;
          ++i;
          break;
        } else {
          value.push_back(rest[i]);
        }
      }
      if (!closed) return std::nullopt;
      rest.remove_prefix(i);
    } else {
      size_t end = 0;
      while (end < rest.size() && rest[end] != ';' && !is_ows(rest[end])) ++end;
      value.assign(rest.substr(0, end));
      if (!is_token(value)) return std::nullopt;
      rest.remove_prefix(end);
    }
    rest = trim(rest);
    if (!rest.empty() && rest.front() != ';') return std::nullopt;
    m.parameters.emplace_back(lowered(pname), std::move(value));
  }
  return m;
}

bool is_media_type(std::string_view content_type, std::string_view type, std::string_view subtype) {
  auto m = parse_media_type(content_type);
  return m && m->type == lowered(type) && m->subtype == lowered(subtype);
}

bool is_json_media_type(std::string_view content_type) {
  auto m = parse_media_type(content_type);
  return m && m->type == "application" && m->syntax() == "json";
}

}  // namespace caremail::http
