// The one seam between identity checks and Argon2id, so tests can count or fake
// verifications (each real one costs ~80 ms and 64 MiB).
#pragma once

#include <functional>
#include <string_view>

namespace caremail::identity {

// True when `secret` matches the Argon2id PHC string `phc`: crypto::verify_password, or a
// test double. Called on the caller's thread; must not throw.
using VerifyFn = std::function<bool(std::string_view phc, std::string_view secret)>;

// crypto::verify_password as a VerifyFn. REQUIRES: crypto::init() has run.
const VerifyFn& argon2_verify();

}  // namespace caremail::identity
