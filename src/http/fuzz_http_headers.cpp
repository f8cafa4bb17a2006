// libFuzzer target for the request headers we parse ourselves (http/http_parse.hpp):
// Cookie (cookie_value) and Content-Type (parse_media_type, is_media_type). Checks, besides
// "no crash, no leak, no UB": a cookie value is never longer than the header and holds no
// ';'; a parsed media type is lower case, made of token characters, and written back out
// (parameters quoted) parses to the same value; is_media_type agrees with the parse.
//
//   build-fuzz/src/fuzz_http_headers -max_total_time=600 $(mktemp -d) tests/fuzz/corpus/http_headers
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/http_parse.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

std::string quoted(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace caremail::http;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Byte 0 picks a cookie name of 0..15 characters from the input itself.
  if (!in.empty()) {
    size_t n = static_cast<unsigned char>(in[0]) % 16;
    std::string_view rest = in.substr(1);
    std::string_view name = rest.substr(0, std::min(n, rest.size()));
    auto v = cookie_value(rest, name);
    if (v) {
      check(v->size() <= rest.size());
      check(v->find(';') == std::string::npos);
    }
    auto session = cookie_value(in, "cm_session");
    if (session) check(session->find(';') == std::string::npos);
  }

  auto m = parse_media_type(in);
  if (!m) return 0;
  check(!m->type.empty() && !m->subtype.empty());
  for (char c : m->type + m->subtype) check(!(c >= 'A' && c <= 'Z') && c != '/' && c != ';' && c != ' ');
  std::string text = m->type + "/" + m->subtype;
  for (const auto& [k, v] : m->parameters) text += "; " + k + "=" + quoted(v);
  auto again = parse_media_type(text);
  check(again.has_value());
  check(again->type == m->type && again->subtype == m->subtype && again->parameters == m->parameters);
  check(is_media_type(in, m->type, m->subtype));
  check(is_json_media_type(in) == (m->type == "application" && m->syntax() == "json"));
  return 0;
}
