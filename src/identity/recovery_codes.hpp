// Recovery codes: one-time codes a person prints or stores when they set up MFA, for the
// day their phone is lost. Each works once. Only their Argon2id hashes are stored.
//
// Format: "xxxx-xxxx-xxxx" from a 31-letter alphabet without 0, o, 1, l and i (the
// characters people confuse when reading a printout): 12 characters, about 59 bits, which
// together with Argon2id puts guessing out of reach.
//
// Thread-safety: free functions with no shared state; each call may run on any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "identity/verify_fn.hpp"

namespace caremail::identity {

inline constexpr std::string_view kRecoveryAlphabet = "23456789abcdefghjkmnpqrstuvwxyz";

struct RecoveryCodes {
  std::vector<std::string> codes;   // shown to the person once, then forgotten
  std::vector<std::string> hashes;  // Argon2id PHC strings, hashes[i] of codes[i], to store
};

// `n` new codes and their hashes. Costs n Argon2id hashes (~80 ms and 64 MiB each): run on
// the password-check pool. Errc::temporary when hashing runs out of memory.
// REQUIRES: crypto::init() has run.
Result<RecoveryCodes> generate_recovery_codes(size_t n = 10);

// The canonical form of a typed code: lower case, spaces and dashes anywhere removed and
// put back as xxxx-xxxx-xxxx; nullopt when it is not 12 characters of the alphabet.
std::optional<std::string> normalize_recovery_code(std::string_view typed);

// Finds the hash that `typed` matches, removes it from `hashes` (so the code cannot be used
// again: the caller stores the shortened list in the same transaction as the sign-in) and
// returns the index it had. Errc::invalid_argument when `typed` is not a code's shape,
// Errc::unauthenticated when no hash matches. Costs up to hashes.size() Argon2id
// verifications.
Result<size_t> consume_recovery_code(std::vector<std::string>& hashes, std::string_view typed,
                                     const VerifyFn& verify = argon2_verify());

}  // namespace caremail::identity
