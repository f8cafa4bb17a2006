// Text folding for directory search: what makes "Siobhán", "SIOBHAN" and "siobhan" the
// same word, and "O'Neill" findable as "oneill". Pure functions, thread-safe.
//
// Folding is Unicode compatibility decomposition + case folding + removal of combining
// marks (libutf8proc), plus the few Latin letters that have no decomposition (ø, æ, œ, ł,
// đ, ð, þ, ı) mapped to ASCII by hand. Letters of other scripts stay as they are, lower-cased.
// Words are maximal runs of letters and digits; an apostrophe inside a word joins
// ("O'Neill" → "oneill"); everything else separates ("Smith-Jones" → "smith", "jones").
// Bytes that are not UTF-8 separate words; they never fail a call.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace caremail::directory {

// The longest word kept, in bytes; longer runs are cut here. Why: a word becomes a
// dictionary term and a key in the typo index, so one pasted blob must not make either huge.
inline constexpr size_t kMaxWordBytes = 64;

enum class WordMode {
  query,  // the words as typed: "o'neill" → "oneill"
  index,  // also the part after an apostrophe when it has 3+ letters ("oneill", "neill"), so that
          // someone who types only "neill" or "souza" (d'Souza) still finds the entry
};

// Appends the folded words of `text` to `out`.
void fold_words(std::string_view text, WordMode mode, std::vector<std::string>& out);
std::vector<std::string> fold_words(std::string_view text, WordMode mode = WordMode::query);

// The folded words joined by single spaces: "Zoë  O'Brien-Smith" → "zoe obrien smith".
std::string fold_text(std::string_view text);

// An email address folded for exact and prefix matching: case folded and accents removed
// like words, but '.', '@', '-', '_', '+' and other ASCII punctuation kept; spaces and
// control characters dropped. "Siobhan.ONeill@Northfield.Care.Example" →
// "siobhan.oneill@northfield.care.example".
std::string fold_address(std::string_view address);

// True when a and b are at most one edit apart (Damerau-Levenshtein, optimal string
// alignment): one insertion, deletion, substitution or swap of two adjacent bytes.
// Compares bytes: meant for folded words, which are ASCII for Latin-script names.
bool within_one_edit(std::string_view a, std::string_view b) noexcept;

}  // namespace caremail::directory
