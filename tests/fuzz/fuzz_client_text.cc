// Fuzzes the server's handling of client text that is not a tensor: the
// authorization header against the bearer token (server/auth.h), the quoting
// of client text in error messages (server/client_text.h), and which method
// paths need the token.
//
// Input layout: [flags][token length][token...][text...]. flags bit 0: the
// header is absent; bit 1: the header is built as "<scheme><spaces><token>"
// followed by the text (a near miss unless the text is empty), bits 2-3 pick
// the scheme's spelling, bits 4-5 the number of spaces. Otherwise the text
// is the header as it is.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/auth.h"
#include "server/client_text.h"

namespace activation {
namespace {

[[noreturn]] void Fail(const char* what, absl::string_view header,
                       absl::string_view token) {
  std::fprintf(stderr, "fuzz_client_text: %s: header \"%.*s\" token \"%.*s\"\n",
               what, static_cast<int>(header.size()), header.data(),
               static_cast<int>(token.size()), token.data());
  std::abort();
}

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
         c == '\r';
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

// The contract of CheckBearerToken, read from its comment: "bearer" in any
// case, one space, any further whitespace, then exactly the token.
bool ShouldAccept(std::optional<absl::string_view> header,
                  absl::string_view token) {
  if (!header.has_value() || header->size() < 7) return false;
  const absl::string_view scheme = "bearer";
  for (size_t i = 0; i < scheme.size(); ++i) {
    if (Lower((*header)[i]) != scheme[i]) return false;
  }
  if ((*header)[6] != ' ') return false;
  absl::string_view rest = header->substr(7);
  while (!rest.empty() && IsAsciiSpace(rest.front())) rest.remove_prefix(1);
  return rest == token;
}

void CheckToken(std::optional<absl::string_view> header,
                absl::string_view token, bool exact_form) {
  const absl::Status status = server::CheckBearerToken(header, token);
  const absl::string_view shown = header.value_or("<absent>");
  if (status.ok() != ShouldAccept(header, token)) {
    Fail(status.ok() ? "accepted a wrong header" : "refused the right header",
         shown, token);
  }
  // "Bearer <token>" exactly must pass, for any token that does not itself
  // start with whitespace (the server strips the token file's).
  if (exact_form && !status.ok() && !token.empty() &&
      !IsAsciiSpace(token.front())) {
    Fail("refused the exact form", shown, token);
  }
  if (status.ok()) return;
  if (status.code() != absl::StatusCode::kUnauthenticated) {
    Fail("refused with a code other than Unauthenticated", shown, token);
  }
  // The message never echoes what the client sent.
  const absl::string_view message = status.message();
  if (message != "missing \"authorization: Bearer <token>\" metadata" &&
      message != "authorization must be \"Bearer <token>\"" &&
      message != "invalid bearer token") {
    Fail("unexpected refusal message", shown, token);
  }
}

void CheckQuote(absl::string_view text) {
  const std::string quoted = server::QuoteClientText(text);
  // Quotes, "...", " (" and a 20-digit size with " bytes)".
  constexpr size_t kOverhead = 2 + 3 + 2 + 20 + 7;
  if (quoted.size() > server::kMaxQuotedBytes + kOverhead) {
    Fail("quoted text too long", text.substr(0, 64), "");
  }
  if (text.size() <= server::kMaxQuotedBytes) {
    if (quoted != "\"" + std::string(text) + "\"") {
      Fail("short text not quoted whole", text, "");
    }
    return;
  }
  const std::string head =
      "\"" + std::string(text.substr(0, server::kMaxQuotedBytes)) + "...\" (";
  const std::string tail = std::to_string(text.size()) + " bytes)";
  if (quoted != head + tail) Fail("long text cut wrongly", text, "");
}

void CheckMethodPath(absl::string_view path) {
  // Health, reflection and the Open Inference Protocol's liveness and
  // readiness (probes carry no token); every other method needs it.
  const bool open = path.substr(0, 23) == "/grpc.health.v1.Health/" ||
                    path.substr(0, 17) == "/grpc.reflection." ||
                    path == "/inference.GRPCInferenceService/ServerLive" ||
                    path == "/inference.GRPCInferenceService/ServerReady" ||
                    path == "/inference.GRPCInferenceService/ModelReady";
  if (server::NeedsToken(path) == open) {
    Fail(open ? "an open method needs the token" : "a method escapes the token",
         path, "");
  }
}

void FuzzOne(const uint8_t* data, size_t size) {
  if (size < 2) return;
  const uint8_t flags = data[0];
  const size_t token_size = std::min<size_t>(data[1], size - 2);
  const absl::string_view token(reinterpret_cast<const char*>(data + 2),
                                token_size);
  const absl::string_view text(
      reinterpret_cast<const char*>(data + 2 + token_size),
      size - 2 - token_size);

  std::optional<absl::string_view> header;
  std::string built;
  bool exact_form = false;
  if ((flags & 1) == 0) {
    if (flags & 2) {
      constexpr const char* kSchemes[] = {"Bearer", "bearer", "BEARER",
                                          "bEaReR"};
      built = kSchemes[(flags >> 2) & 3];
      built.append(1 + ((flags >> 4) & 3), ' ');
      built.append(token.data(), token.size());
      built.append(text.data(), text.size());
      exact_form = text.empty();
      header = built;
    } else {
      header = text;
    }
  }
  CheckToken(header, token, exact_form);
  CheckQuote(text);
  CheckMethodPath(text);
}

}  // namespace
}  // namespace activation

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  activation::FuzzOne(data, size);
  return 0;
}
