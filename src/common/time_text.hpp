// Times as text, in UTC: for mail headers and for sentences written to people. Pure.
#pragma once

#include <cstdint>
#include <string>

namespace caremail {

// strftime(`format`) of `t` (seconds since the epoch) in UTC.
std::string format_utc(int64_t t, const char* format);
// RFC 5322 date-time: "Mon, 30 Nov 2026 21:05:00 +0000" (Date, Received, DSN fields).
inline std::string rfc5322_date(int64_t t) { return format_utc(t, "%a, %d %b %Y %H:%M:%S +0000"); }
// For sentences written to people: "30 November 2026", "21:05 UTC".
inline std::string date_text(int64_t t) { return format_utc(t, "%d %B %Y"); }
inline std::string time_text(int64_t t) { return format_utc(t, "%H:%M UTC"); }

}  // namespace caremail
