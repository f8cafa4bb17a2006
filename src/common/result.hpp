// Result<T>: a value or an Error. Used for every failure caused by peer input or the
// environment (STYLE.md "Three kinds of failure", kind 1). Broken invariants of our own
// abort instead; they never travel as a Result.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace caremail {

// What went wrong, coarse enough that a front-end can map it to its own reply code
// (SMTP 4xx/5xx, IMAP NO/BAD, HTTP status) without parsing the message.
enum class Errc {
  invalid_argument,   // the request itself is malformed or violates a rule
  not_found,          // the thing named does not exist (or is not visible to the caller)
  already_exists,
  conflict,           // the thing is not in a state that allows this (e.g. restoring an active account)
  permission_denied,  // authenticated, but not allowed
  unauthenticated,    // credentials missing or wrong
  quota_exceeded,     // the mailbox (or the account) is full
  too_large,          // a size limit was passed
  temporary,          // try again later: disk full, busy, shutting down
  corrupt,            // stored data failed verification; never served
  io,                 // an I/O error other than the above
};

std::string_view to_string(Errc e) noexcept;

struct Error {
  Errc code;
  std::string message;  // for people: says what and, where it can, what to do
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error err) : v_(std::in_place_index<1>, std::move(err)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error err) : err_(std::move(err)), ok_(false) {}  // NOLINT
  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const { assert(!ok_); return err_; }

 private:
  Error err_{Errc::io, {}};
  bool ok_ = true;
};

inline Error make_error(Errc c, std::string msg) { return Error{c, std::move(msg)}; }

}  // namespace caremail
