// JSON responses and RFC 9457 problem documents, shared by the JSON APIs (admin API,
// directory API). Includes Boost.JSON: for the http library's files only.
#pragma once

#include <boost/json.hpp>

#include <string_view>
#include <variant>

#include "common/result.hpp"
#include "http/http_server.hpp"

namespace caremail::http {

int status_for(Errc e);  // admin_api.cpp

inline Response json_response(int status, const boost::json::value& v) {
  Response r;
  r.status = status;
  r.body = boost::json::serialize(v);
  return r;
}

inline std::string_view title_for(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "Internal Server Error";
  }
}

// RFC 9457 problem document; `extra` members (extensions) are added as they are.
inline Response problem(int status, std::string_view detail, boost::json::object extra = {}) {
  boost::json::object o = std::move(extra);
  o["type"] = "about:blank";
  o["title"] = title_for(status);
  o["status"] = status;
  o["detail"] = detail;
  Response r = json_response(status, o);
  r.content_type = "application/problem+json";
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"caremail\"");
  return r;
}

inline Response problem(const Error& e) { return problem(status_for(e.code), e.message); }

// The request body as a JSON object, or the 415/400 problem to answer with.
inline std::variant<boost::json::object, Response> parse_body(const Request& r) {
  if (!is_media_type(r.content_type, "application", "json"))
    return problem(415, "send the request body as application/json");
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(r.body, ec);
  if (ec) return problem(400, "the body is not valid JSON: " + ec.message());
  if (!v.is_object()) return problem(400, "the body must be a JSON object");
  return std::move(v.as_object());
}

}  // namespace caremail::http
