#include "common/result.hpp"

namespace caremail {

std::string_view to_string(Errc e) noexcept {
  switch (e) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::not_found: return "not_found";
    case Errc::already_exists: return "already_exists";
    case Errc::conflict: return "conflict";
    case Errc::permission_denied: return "permission_denied";
    case Errc::unauthenticated: return "unauthenticated";
    case Errc::quota_exceeded: return "quota_exceeded";
    case Errc::too_large: return "too_large";
    case Errc::temporary: return "temporary";
    case Errc::corrupt: return "corrupt";
    case Errc::io: return "io";
  }
  return "unknown";
}

}  // namespace caremail
