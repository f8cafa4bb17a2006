#include "identity/recovery_codes.hpp"

#include <sodium.h>

#include "crypto/crypto.hpp"

namespace caremail::identity {

namespace {

constexpr size_t kGroups = 3;
constexpr size_t kGroupLen = 4;

}  // namespace

Result<RecoveryCodes> generate_recovery_codes(size_t n) {
  RecoveryCodes out;
  out.codes.reserve(n);
  out.hashes.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    std::string code;
    for (size_t k = 0; k < kGroups * kGroupLen; ++k) {
      if (k > 0 && k % kGroupLen == 0) code.push_back('-');
      // randombytes_uniform is unbiased for any bound (31 is not a power of two).
      code.push_back(kRecoveryAlphabet[randombytes_uniform(static_cast<uint32_t>(kRecoveryAlphabet.size()))]);
    }
    std::string hash = crypto::hash_password(code);
    if (hash.empty()) return make_error(Errc::temporary, "out of memory while hashing recovery codes; try again");
    out.codes.push_back(std::move(code));
    out.hashes.push_back(std::move(hash));
  }
  return out;
}

std::optional<std::string> normalize_recovery_code(std::string_view typed) {
  std::string bare;
  for (char c : typed) {
    if (c == ' ' || c == '-') continue;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (kRecoveryAlphabet.find(c) == std::string_view::npos || bare.size() == kGroups * kGroupLen)
      return std::nullopt;
    bare.push_back(c);
  }
  if (bare.size() != kGroups * kGroupLen) return std::nullopt;
  std::string code;
  for (size_t k = 0; k < bare.size(); ++k) {
    if (k > 0 && k % kGroupLen == 0) code.push_back('-');
    code.push_back(bare[k]);
  }
  return code;
}

Result<size_t> consume_recovery_code(std::vector<std::string>& hashes, std::string_view typed,
                                     const VerifyFn& verify) {
  std::optional<std::string> code = normalize_recovery_code(typed);
  if (!code)
    return make_error(Errc::invalid_argument,
                      "A recovery code has twelve letters and digits, like abcd-efgh-2345. Please check it.");
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (hashes[i].empty() || !verify(hashes[i], *code)) continue;
    hashes.erase(hashes.begin() + static_cast<std::ptrdiff_t>(i));
    return i;
  }
  return make_error(Errc::unauthenticated, "That recovery code is not right or has already been used.");
}

}  // namespace caremail::identity
