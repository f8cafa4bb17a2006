#include "common/clock.hpp"

#include <chrono>

namespace caremail {

int64_t system_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Clock::Clock() : now_(system_now) {}

}  // namespace caremail
