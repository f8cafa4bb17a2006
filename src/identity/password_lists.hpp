// The two lists a new password is checked against: common passwords (small, in memory) and
// breached passwords (huge, on disk). Part of the national password policy
// (password_policy.hpp), kept apart because each has its own loading and failure story.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>

#include "common/result.hpp"

namespace caremail::identity {

// Passwords most often guessed. The shipped list is data/common-passwords.txt, generated
// by scripts/make_common_passwords.sh from John the Ripper's password.lst (Debian
// john-data, public domain) and compiled into the library at build time. Why compiled in
// rather than read from /usr/share/john at start-up: the policy then behaves the same on
// every machine and in every test, the daemon has no run-time dependency on a cracking
// tool's data package, and there is no file that can be missing. Sites add their own lists
// with PasswordPolicyConfig::extra_common_lists (same format, read once at start-up).
//
// File format: one password per line (LF or CRLF); lines starting with "#!" are comments
// (John's convention, so password.lst itself can be given as an extra list); blank lines
// are ignored. Entries are compared case-insensitively (ASCII letters only; other bytes
// exactly).
//
// What counts as common (decided here; see is_common):
//   1. the password itself, ignoring case;
//   2. the password with any leading and trailing run of ASCII digits, punctuation and
//      spaces removed ("Password123!", "!!password2024" when "password" is common), because
//      that is the first variation every guessing tool tries and adds almost nothing;
//   3. a password made of one string repeated ("passwordpassword", "Summer1Summer1")
//      when that string, or its core by rule 2, is common.
// A core left empty by rule 2 (a password of digits and punctuation only) is judged by
// rule 1 alone; the breached list is the net for "12345678901" and the like. Leetspeak and
// keyboard walks are not modelled: the breached list covers those far better than rules.
//
// Thread-safety: immutable after construction; every const member is safe from any thread.
class CommonPasswords {
 public:
  // The shipped list plus every file in `extra_files`, each read once. A file that
  // cannot be read is Errc::io naming the file (a start-up error for the caller).
  static Result<CommonPasswords> load(std::span<const std::filesystem::path> extra_files = {});

  // Only the entries in `list_text` (file format above), without the shipped list. For
  // tests and tools.
  static CommonPasswords from_text(std::string_view list_text);

  // Rules 1-3 above. `password` is any byte string (the policy checks UTF-8 first).
  bool is_common(std::string_view password) const;

  // Exact membership of one (lower-cased) entry, without the rules.
  bool contains_entry(std::string_view entry) const;

  size_t size() const noexcept { return entries_.size(); }

 private:
  void add_text(std::string_view text);

  struct Hash {
    using is_transparent = void;  // lookups by string_view without a copy
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_set<std::string, Hash, std::equal_to<>> entries_;  // lower-cased
};

// The shipped list's text (data/common-passwords.txt as compiled in).
std::string_view shipped_common_password_list() noexcept;

// Breached passwords: a file of SHA-1 hashes as the Have I Been Pwned "Pwned Passwords"
// download provides it (the SHA-1 version "ordered by hash", ~40 GB): 40 hex digits per
// line, sorted ascending, each optionally followed by ":count"; LF or CRLF line ends.
// Lookups binary-search the file with pread (about 35 small reads for 40 GB); the file is
// never loaded or mapped whole, so its size costs nothing but disk.
//
// open() checks a sample of lines (64, spread evenly from the first) for format and order, so the wrong download (NTLM hashes, or the file ordered by count)
// fails at start-up instead of silently finding nothing. It cannot check every line.
//
// Thread-safety: lookups are const and use pread only: safe from any number of threads.
// Move-only; owns its file descriptor.
class BreachedList {
 public:
  // Errc::not_found when the file does not exist, Errc::io when it cannot be read,
  // Errc::corrupt when the sampled lines are not hashes in ascending order. Each message
  // names the file: the caller reports it as a start-up error.
  static Result<BreachedList> open(const std::filesystem::path& path);

  BreachedList(BreachedList&& other) noexcept;
  BreachedList& operator=(BreachedList&& other) noexcept;
  BreachedList(const BreachedList&) = delete;
  BreachedList& operator=(const BreachedList&) = delete;
  ~BreachedList();

  // Whether SHA-1(password) is in the list. Errc::io when a read fails (the file was
  // truncated or the disk failed after open): the caller must not take that as "not
  // breached".
  Result<bool> find(std::string_view password) const;
  // Same for a SHA-1 already in hex (either case; 40 digits, else false).
  Result<bool> find_sha1_hex(std::string_view hex) const;

  // find(), with a read error counted as "not found". Prefer find() where an error can be
  // reported; the policy does.
  bool contains(std::string_view password) const;

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  BreachedList(int fd, uint64_t size, std::filesystem::path path);

  int fd_ = -1;
  uint64_t size_ = 0;
  std::filesystem::path path_;
};

// SHA-1 of `data` as 40 upper-case hex digits (the form of the breached list).
std::string sha1_hex_upper(std::string_view data);

}  // namespace caremail::identity
