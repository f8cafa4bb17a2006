// Structured logging. Each line is one event with key=value fields (logfmt) or a JSON
// object, chosen by [log] format. Callers never pass secrets (passwords, tokens, keys).
// Thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace caremail::log {

enum class Level { trace, debug, info, warn, error };

struct Field {
  std::string_view key;
  std::string value;
  bool quoted_number = false;  // numbers are emitted bare in JSON

  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <class N, std::enable_if_t<std::is_arithmetic_v<N>, int> = 0>
  Field(std::string_view k, N n) : key(k), value(std::to_string(n)), quoted_number(true) {}
};

// Sets level ("info"...) and format ("logfmt" or "json"). Call once at start-up; the
// default before init is info/logfmt on stderr.
void init(std::string_view level, std::string_view format);

void write(Level level, std::string_view event, std::initializer_list<Field> fields);
bool enabled(Level level);

inline void trace(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::trace, e, f); }
inline void debug(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::debug, e, f); }
inline void info(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::info, e, f); }
inline void warn(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::warn, e, f); }
inline void error(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::error, e, f); }

// Formats one line without writing it (exposed for tests).
std::string format_line(bool json, Level level, std::string_view event, std::initializer_list<Field> fields);

}  // namespace caremail::log
