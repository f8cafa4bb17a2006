// The pure pieces of HTTP request handling: the request target (path and query string),
// percent-decoding, the Cookie header and media types (Content-Type). No Boost, no I/O:
// table-tested (http_parse_test.cpp) and fuzzed (fuzz_http_*.cpp), because every one of
// them reads bytes that anyone who can connect chooses.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace caremail::http {

// `form`: also turn + into a space (query strings only, never paths). Malformed escapes
// ("%zz", a trailing "%4") are kept literally.
std::string percent_decode(std::string_view s, bool form = false);

// Splits "a=1&b=x%20y" into decoded pairs. Empty pieces ("a=1&&b") are skipped; a key
// without '=' gets the empty value.
std::multimap<std::string, std::string> parse_query(std::string_view q);

// A request target ("/api/v1/x%20y?a=1") split into its percent-decoded path and its
// decoded query. The path is decoded once, so "%252F" stays "%2F", never a '/'.
struct Target {
  std::string path;
  std::multimap<std::string, std::string> query;
};
Target parse_target(std::string_view target);

// The non-empty segments of a decoded path: "/api//v1/x/" -> {"api", "v1", "x"}.
std::vector<std::string_view> path_segments(std::string_view path);

// The value of cookie `name` in a Cookie header ("a=b; cm_session=TOKEN; c=d", RFC 6265
// §5.4), or nullopt. Names match exactly; the first cookie of that name wins; a value in
// double quotes loses its quotes.
std::optional<std::string> cookie_value(std::string_view header, std::string_view name);

// A media type (RFC 9110 §8.3.1): "Application/JSON; charset=UTF-8" -> type "application",
// subtype "json", parameters {{"charset", "UTF-8"}}. Type, subtype and parameter names are
// lower-cased; quoted parameter values are unquoted. nullopt when it is not type/subtype
// made of RFC 9110 token characters.
struct MediaType {
  std::string type;
  std::string subtype;
  std::vector<std::pair<std::string, std::string>> parameters;

  // "json" for application/json; for a structured syntax suffix (RFC 6838 §4.2.8,
  // application/scim+json) the suffix.
  std::string_view syntax() const;
};
std::optional<MediaType> parse_media_type(std::string_view text);

// True when `content_type` (a Content-Type header) is exactly type/subtype (any case, any
// parameters). "application/jsonx" or "text/plain; a=application/json" are not JSON.
bool is_media_type(std::string_view content_type, std::string_view type, std::string_view subtype);
// True for application/json and any application/<x>+json (application/scim+json).
bool is_json_media_type(std::string_view content_type);

}  // namespace caremail::http
