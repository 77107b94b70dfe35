// Client data quoted in error messages, bounded so that a huge name or shape
// cannot make a huge message (or log line).

#ifndef ACTIVATION_SERVER_CLIENT_TEXT_H_
#define ACTIVATION_SERVER_CLIENT_TEXT_H_

#include <cstddef>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace activation::server {

// The most bytes of client data an error message quotes.
inline constexpr size_t kMaxQuotedBytes = 128;

// Returns `text` in quotes, cut to kMaxQuotedBytes with its size said, e.g.
// "\"abcabc...\" (4194304 bytes)".
inline std::string QuoteClientText(absl::string_view text) {
  if (text.size() <= kMaxQuotedBytes) return absl::StrCat("\"", text, "\"");
  return absl::StrCat("\"", text.substr(0, kMaxQuotedBytes), "...\" (",
                      text.size(), " bytes)");
}

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CLIENT_TEXT_H_
