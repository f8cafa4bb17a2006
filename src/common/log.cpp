#include "common/log.hpp"

#include "common/json_text.hpp"

#include <atomic>
#include <chrono>
#include <ctime>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace caremail::log {

namespace {

std::atomic<int> g_level{static_cast<int>(Level::info)};
std::atomic<bool> g_json{false};

std::shared_ptr<spdlog::logger> logger() {
  static std::shared_ptr<spdlog::logger> l = [] {
    auto lg = spdlog::stderr_logger_mt("caremail");
    lg->set_pattern("%v");
    lg->set_level(spdlog::level::trace);
    lg->flush_on(spdlog::level::trace);
    return lg;
  }();
  return l;
}

std::string_view level_name(Level l) {
  switch (l) {
    case Level::trace: return "trace";
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

void append_logfmt_value(std::string& out, std::string_view s) {
  bool needs_quotes = s.empty();
  for (unsigned char c : s)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) needs_quotes = true;
  if (!needs_quotes) {
    out.append(s);
    return;
  }
  append_json_string(out, s);  // same escaping rules keep every line one line
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

void init(std::string_view level, std::string_view format) {
  Level l = Level::info;
  for (Level c : {Level::trace, Level::debug, Level::info, Level::warn, Level::error})
    if (level_name(c) == level) l = c;
  g_level = static_cast<int>(l);
  g_json = format == "json";
}

bool enabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

std::string format_line(bool json, Level level, std::string_view event, std::initializer_list<Field> fields) {
  std::string out;
  out.reserve(128);
  if (json) {
    out += "{\"ts\":\"" + timestamp() + "\",\"level\":\"";
    out += level_name(level);
    out += "\",\"event\":";
    append_json_string(out, event);
    for (const auto& f : fields) {
      out.push_back(',');
      append_json_string(out, f.key);
      out.push_back(':');
      if (f.quoted_number) out += f.value;
      else append_json_string(out, f.value);
    }
    out.push_back('}');
  } else {
    out += "ts=" + timestamp() + " level=";
    out += level_name(level);
    out += " event=";
    append_logfmt_value(out, event);
    for (const auto& f : fields) {
      out.push_back(' ');
      out.append(f.key);
      out.push_back('=');
      append_logfmt_value(out, f.value);
    }
  }
  return out;
}

void write(Level level, std::string_view event, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  logger()->info(format_line(g_json.load(std::memory_order_relaxed), level, event, fields));
}

}  // namespace caremail::log
