// CallGate on its own: Authorize (draining, the bearer token) and Admit
// (draining, the in-flight limit and the memory budget), tickets and their
// bytes, the reason payloads, and WaitIdle; with server contexts whose client
// metadata the test sets (gRPC's ServerContextTestSpouse), no server.

#include "server/call_gate.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/server_context.h"
#include "grpcpp/test/server_context_test_spouse.h"
#include "gtest/gtest.h"
#include "server/auth.h"
#include "tests/testing/status_matchers.h"

namespace activation::server {
namespace {

using ::activation::testing::StatusIs;

// A server context whose client sent `key: value` metadata. The spouse owns
// the metadata's storage, so it lives as long as the context.
struct ClientContextOf {
  ClientContextOf(const std::string& key, const std::string& value) {
    spouse.AddClientMetadata(key, value);
  }
  grpc::ServerContext context;
  grpc::testing::ServerContextTestSpouse spouse{&context};
};

CallGate::Options Limit(int max_inflight, std::string auth_token = "",
                        uint64_t max_memory_bytes = uint64_t{1} << 30) {
  CallGate::Options options;
  options.max_inflight = max_inflight;
  options.auth_token = std::move(auth_token);
  options.max_memory_bytes = max_memory_bytes;
  return options;
}

// The reason a refusal carries (CallGate::kReasonPayload), or "" for none.
std::string Reason(const absl::Status& status) {
  const auto reason = status.GetPayload(CallGate::kReasonPayload);
  return reason.has_value() ? std::string(*reason) : "";
}

// Admits a computation of `bytes`; fails the test if it is refused.
CallGate::Ticket MustAdmit(CallGate& gate, uint64_t bytes = 0) {
  absl::StatusOr<CallGate::Ticket> ticket = gate.Admit(bytes);
  EXPECT_OK(ticket);
  return ticket.ok() ? *std::move(ticket) : CallGate::Ticket();
}

TEST(CallGateTest, AdmitsUpToMaxInflightThenResourceExhausted) {
  CallGate gate(Limit(2));
  absl::StatusOr<CallGate::Ticket> first = gate.Admit(100);
  absl::StatusOr<CallGate::Ticket> second = gate.Admit(100);
  ASSERT_OK(first);
  ASSERT_OK(second);
  EXPECT_EQ(gate.inflight(), 2);
  const absl::Status refused = gate.Admit(100).status();
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted,
                                "server is at its limit of 2 calls in flight "
                                "(--max_inflight); retry later"));
  EXPECT_EQ(Reason(refused), "max_inflight");
  // The refusal took no slot and no bytes.
  EXPECT_EQ(gate.inflight(), 2);
  EXPECT_EQ(gate.held_bytes(), 200u);
}

TEST(CallGateTest, DestroyingATicketFreesItsSlot) {
  CallGate gate(Limit(2));
  CallGate::Ticket kept = MustAdmit(gate);
  {
    CallGate::Ticket scoped = MustAdmit(gate);
    EXPECT_EQ(gate.inflight(), 2);
  }
  EXPECT_EQ(gate.inflight(), 1);
  EXPECT_OK(gate.Admit(0));  // admitted, and freed again at once
  EXPECT_EQ(gate.inflight(), 1);
}

TEST(CallGateTest, ResetFreesTheSlotOnceAndTheDestructorNotAgain) {
  CallGate gate(Limit(2));
  CallGate::Ticket kept = MustAdmit(gate);
  {
    CallGate::Ticket ticket = MustAdmit(gate);
    ticket.Reset();
    EXPECT_EQ(gate.inflight(), 1);
    ticket.Reset();
    EXPECT_EQ(gate.inflight(), 1);
  }
  EXPECT_EQ(gate.inflight(), 1);
}

TEST(CallGateTest, DefaultTicketHoldsNoSlot) {
  CallGate gate(Limit(1));
  {
    CallGate::Ticket empty;
    empty.Reset();
  }
  EXPECT_EQ(gate.inflight(), 0);
  CallGate::Ticket ticket = MustAdmit(gate);
  EXPECT_EQ(gate.inflight(), 1);
}

TEST(CallGateTest, MovedTicketCarriesItsSlotAndTheSourceHoldsNone) {
  CallGate gate(Limit(2));
  CallGate::Ticket source = MustAdmit(gate);
  CallGate::Ticket moved(std::move(source));
  EXPECT_EQ(gate.inflight(), 1);
  source.Reset();  // NOLINT(bugprone-use-after-move): holds nothing now
  EXPECT_EQ(gate.inflight(), 1);
  moved.Reset();
  EXPECT_EQ(gate.inflight(), 0);
}

TEST(CallGateTest, MoveAssignmentFreesTheTargetsSlotAndTakesTheSources) {
  CallGate gate(Limit(2));
  CallGate::Ticket target = MustAdmit(gate);
  CallGate::Ticket source = MustAdmit(gate);
  ASSERT_EQ(gate.inflight(), 2);
  target = std::move(source);
  EXPECT_EQ(gate.inflight(), 1);
  source.Reset();  // NOLINT(bugprone-use-after-move): holds nothing now
  EXPECT_EQ(gate.inflight(), 1);
  target.Reset();
  EXPECT_EQ(gate.inflight(), 0);
}

TEST(CallGateTest, DrainingRefusesNewCallsAndKeepsAdmittedOnes) {
  CallGate gate(Limit(2));
  CallGate::Ticket admitted = MustAdmit(gate, 10);
  gate.StartDraining();
  EXPECT_TRUE(gate.draining());
  const absl::Status admit = gate.Admit(10).status();
  EXPECT_THAT(admit, StatusIs(absl::StatusCode::kUnavailable,
                              "server is shutting down"));
  EXPECT_EQ(Reason(admit), "draining");
  grpc::ServerContext context;
  const absl::Status authorize = gate.Authorize(GrpcCallContext(context));
  EXPECT_THAT(authorize, StatusIs(absl::StatusCode::kUnavailable,
                                  "server is shutting down"));
  EXPECT_EQ(Reason(authorize), "draining");
  EXPECT_EQ(gate.inflight(), 1);
  EXPECT_EQ(gate.held_bytes(), 10u);
}

TEST(CallGateTest, DrainingIsCheckedBeforeTheTokenAndTheLimit) {
  CallGate gate(Limit(1, "t0ken", /*max_memory_bytes=*/100));
  ClientContextOf authorized("authorization", "Bearer t0ken");
  // Fill the one slot, then drain: an unauthenticated call, one over the
  // limit and one bigger than the whole budget all learn that the server is
  // going away.
  ASSERT_OK(gate.Authorize(GrpcCallContext(authorized.context)));
  absl::StatusOr<CallGate::Ticket> held = gate.Admit(10);
  ASSERT_OK(held);
  gate.StartDraining();
  grpc::ServerContext anonymous;
  EXPECT_THAT(
      gate.Authorize(GrpcCallContext(anonymous)),
      StatusIs(absl::StatusCode::kUnavailable, "server is shutting down"));
  EXPECT_THAT(
      gate.Authorize(GrpcCallContext(authorized.context)),
      StatusIs(absl::StatusCode::kUnavailable, "server is shutting down"));
  EXPECT_THAT(gate.Admit(10).status(), StatusIs(absl::StatusCode::kUnavailable,
                                                "server is shutting down"));
  EXPECT_THAT(
      gate.Admit(1000).status(),
      StatusIs(absl::StatusCode::kUnavailable, "server is shutting down"));
}

TEST(CallGateTest, WaitIdleReturnsPromptlyWhenAnotherThreadFreesTheLastSlot) {
  CallGate gate(Limit(2));
  CallGate::Ticket first = MustAdmit(gate);
  CallGate::Ticket last = MustAdmit(gate);
  gate.StartDraining();
  absl::Time released_last;
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(100));
    first.Reset();
    absl::SleepFor(absl::Milliseconds(200));
    released_last = absl::Now();
    last.Reset();
  });
  const absl::Time start = absl::Now();
  const bool idle = gate.WaitIdle(start + absl::Seconds(30));
  const absl::Time returned = absl::Now();
  releaser.join();
  EXPECT_TRUE(idle);
  EXPECT_EQ(gate.inflight(), 0);
  // Not at the first release, and not by polling late after the last.
  EXPECT_GE(returned, released_last);
  EXPECT_LT(returned - released_last, absl::Milliseconds(500));
}

TEST(CallGateTest, WaitIdleReturnsFalseAtItsDeadlineWithATicketHeld) {
  CallGate gate(Limit(1));
  CallGate::Ticket held = MustAdmit(gate);
  gate.StartDraining();
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + absl::Milliseconds(300);
  EXPECT_FALSE(gate.WaitIdle(deadline));
  const absl::Time returned = absl::Now();
  EXPECT_GE(returned, deadline);
  EXPECT_LT(returned - deadline, absl::Milliseconds(500));
  EXPECT_EQ(gate.inflight(), 1);
}

TEST(CallGateTest, WaitIdleWithNothingInFlightReturnsTrueAtOnce) {
  CallGate gate(Limit(1));
  MustAdmit(gate);  // admitted and freed
  gate.StartDraining();
  const absl::Time start = absl::Now();
  // Even with its deadline already past.
  EXPECT_TRUE(gate.WaitIdle(start - absl::Seconds(1)));
  EXPECT_TRUE(gate.WaitIdle(start + absl::Seconds(30)));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));
}

TEST(CallGateTest, WithoutATokenAnyCallIsAuthorized) {
  CallGate gate(Limit(1));
  EXPECT_FALSE(gate.auth_required());
  ClientContextOf call("authorization", "Bearer whatever");
  EXPECT_OK(gate.Authorize(GrpcCallContext(call.context)));
  grpc::ServerContext anonymous;
  EXPECT_OK(gate.Authorize(GrpcCallContext(anonymous)));
}

TEST(CallGateTest, MissingAuthorizationIsUnauthenticated) {
  CallGate gate(Limit(1, "t0ken"));
  EXPECT_TRUE(gate.auth_required());
  ClientContextOf call("x-other", "Bearer t0ken");
  const absl::Status status = gate.Authorize(GrpcCallContext(call.context));
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kUnauthenticated,
                       "missing \"authorization: Bearer <token>\" metadata"));
  EXPECT_EQ(Reason(status), "unauthenticated");
  EXPECT_EQ(gate.inflight(), 0);
}

TEST(CallGateTest, WrongTokenIsUnauthenticated) {
  CallGate gate(Limit(1, "t0ken"));
  for (const char* value : {"Bearer wrong", "Bearer t0ke", "Bearer t0ken2",
                            "Bearer  t0ken2", "bearer T0KEN"}) {
    SCOPED_TRACE(value);
    ClientContextOf call("authorization", value);
    const absl::Status status = gate.Authorize(GrpcCallContext(call.context));
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnauthenticated,
                                 "invalid bearer token"));
    EXPECT_EQ(Reason(status), "unauthenticated");
  }
  EXPECT_EQ(gate.inflight(), 0);
}

// A value that is not "<scheme> <credentials>" with the Bearer scheme.
TEST(CallGateTest, WrongSchemeIsUnauthenticatedSayingTheForm) {
  CallGate gate(Limit(1, "t0ken"));
  for (const char* value : {"Basic t0ken", "t0ken", "Bearer", "Bearer\tt0ken",
                            "Bearert0ken", "Bear t0ken", ""}) {
    SCOPED_TRACE(value);
    ClientContextOf call("authorization", value);
    const absl::Status status = gate.Authorize(GrpcCallContext(call.context));
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnauthenticated,
                                 "authorization must be \"Bearer <token>\""));
    EXPECT_EQ(Reason(status), "unauthenticated");
  }
}

// RFC 7235: the auth-scheme is case-insensitive; the token is not.
TEST(CallGateTest, BearerSchemeIsMatchedCaseInsensitively) {
  CallGate gate(Limit(1, "t0ken"));
  for (const char* value :
       {"Bearer t0ken", "bearer t0ken", "BEARER t0ken", "bEaReR t0ken"}) {
    SCOPED_TRACE(value);
    ClientContextOf call("authorization", value);
    EXPECT_OK(gate.Authorize(GrpcCallContext(call.context)));
  }
}

TEST(CheckBearerTokenTest, SaysWhichPartIsWrongAndNeverEchoesTheValue) {
  EXPECT_OK(CheckBearerToken("Bearer s3cret", "s3cret"));
  EXPECT_OK(CheckBearerToken("BeArEr s3cret", "s3cret"));
  EXPECT_THAT(CheckBearerToken(std::nullopt, "s3cret"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       "missing \"authorization: Bearer <token>\" metadata"));
  EXPECT_THAT(CheckBearerToken("Token s3cret", "s3cret"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       "authorization must be \"Bearer <token>\""));
  EXPECT_THAT(
      CheckBearerToken("Bearer S3CRET-guess", "s3cret"),
      StatusIs(absl::StatusCode::kUnauthenticated, "invalid bearer token"));
}

TEST(NeedsTokenTest, GuardsTheServiceNotHealthOrReflection) {
  EXPECT_TRUE(NeedsToken("/activation.v1.ActivationService/Relu"));
  EXPECT_TRUE(NeedsToken("/activation.v1.ActivationService/GetServerInfo"));
  EXPECT_FALSE(NeedsToken("/grpc.health.v1.Health/Check"));
  EXPECT_FALSE(NeedsToken("/grpc.health.v1.Health/Watch"));
  EXPECT_FALSE(NeedsToken(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"));
  // A prefix that merely looks alike is guarded.
  EXPECT_TRUE(NeedsToken("/grpc.health.v1.HealthX/Check"));
}

// Authorize checks who may call; Admit counts what a computation holds. An
// authorized call takes nothing until it is admitted, and admission does not
// look at the token (the call was authorized before).
TEST(CallGateTest, AuthorizeTakesNoSlotAndAdmitNeedsNoContext) {
  CallGate gate(Limit(1, "t0ken"));
  ClientContextOf authorized("authorization", "Bearer t0ken");
  for (int i = 0; i < 3; ++i)
    ASSERT_OK(gate.Authorize(GrpcCallContext(authorized.context)));
  EXPECT_EQ(gate.inflight(), 0);
  EXPECT_EQ(gate.held_bytes(), 0u);
  CallGate::Ticket held = MustAdmit(gate, 5);
  // With the one slot held, calls are still authorized (GetServerInfo and
  // health need nothing more), and refused only at admission.
  EXPECT_OK(gate.Authorize(GrpcCallContext(authorized.context)));
  EXPECT_EQ(Reason(gate.Admit(5).status()), "max_inflight");
}

TEST(CallGateTest, BytesBudgetAdmitsWhileItFitsThenRefusesWithMaxMemory) {
  CallGate gate(Limit(10, "", /*max_memory_bytes=*/1000));
  CallGate::Ticket a = MustAdmit(gate, 400);
  CallGate::Ticket b = MustAdmit(gate, 600);  // exactly the budget
  EXPECT_EQ(gate.held_bytes(), 1000u);
  EXPECT_EQ(gate.inflight(), 2);
  const absl::Status refused = gate.Admit(1).status();
  EXPECT_THAT(refused,
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "server memory for calls is in use (1000 bytes, "
                       "--max_memory); this call needs 1; retry later"));
  EXPECT_EQ(Reason(refused), "max_memory");
  // The refusal gave back its slot and its bytes.
  EXPECT_EQ(gate.held_bytes(), 1000u);
  EXPECT_EQ(gate.inflight(), 2);
  // A computation of no bytes still fits.
  EXPECT_OK(gate.Admit(0));
}

TEST(CallGateTest, ReleasingATicketReturnsItsBytes) {
  CallGate gate(Limit(10, "", /*max_memory_bytes=*/1000));
  CallGate::Ticket a = MustAdmit(gate, 700);
  EXPECT_EQ(Reason(gate.Admit(301).status()), "max_memory");
  {
    CallGate::Ticket b = MustAdmit(gate, 300);
    EXPECT_EQ(gate.held_bytes(), 1000u);
  }
  EXPECT_EQ(gate.held_bytes(), 700u);
  a.Reset();
  EXPECT_EQ(gate.held_bytes(), 0u);
  EXPECT_EQ(gate.inflight(), 0);
  // The whole budget is free again.
  CallGate::Ticket all = MustAdmit(gate, 1000);
  EXPECT_EQ(gate.held_bytes(), 1000u);
}

TEST(CallGateTest, MovedTicketCarriesItsBytes) {
  CallGate gate(Limit(10, "", /*max_memory_bytes=*/1000));
  CallGate::Ticket target = MustAdmit(gate, 100);
  CallGate::Ticket source = MustAdmit(gate, 250);
  target = std::move(source);  // frees target's 100
  EXPECT_EQ(gate.held_bytes(), 250u);
  CallGate::Ticket moved(std::move(target));
  EXPECT_EQ(gate.held_bytes(), 250u);
  moved.Reset();
  EXPECT_EQ(gate.held_bytes(), 0u);
}

TEST(CallGateTest, CallBiggerThanTheWholeBudgetIsRefusedEvenWhenIdle) {
  CallGate gate(Limit(10, "", /*max_memory_bytes=*/1000));
  const absl::Status refused = gate.Admit(1001).status();
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted,
                                "this call needs 1001 bytes of server memory, "
                                "more than all 1000 the server has for calls "
                                "(--max_memory)"));
  EXPECT_EQ(Reason(refused), "max_memory");
  EXPECT_EQ(gate.inflight(), 0);
  EXPECT_EQ(gate.held_bytes(), 0u);
}

// Too big for the budget is said even when the slots are all taken: retrying
// would never help, so the client must learn that rather than "retry later".
TEST(CallGateTest, NeverFittingIsSaidBeforeTheInflightLimit) {
  CallGate gate(Limit(1, "", /*max_memory_bytes=*/1000));
  CallGate::Ticket held = MustAdmit(gate, 1);
  const absl::Status refused = gate.Admit(5000).status();
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted,
                                ::testing::HasSubstr("more than all 1000")));
  EXPECT_EQ(Reason(refused), "max_memory");
}

// Concurrent admissions never overcommit the budget: the bytes of the
// tickets held at once (counted after admission, uncounted before release)
// stay within it.
TEST(CallGateTest, ConcurrentAdmissionsNeverHoldMoreThanTheBudget) {
  constexpr uint64_t kBudget = 1000;
  constexpr uint64_t kCall = 300;  // three fit, a fourth does not
  CallGate gate(Limit(1000, "", kBudget));
  std::atomic<uint64_t> held{0};
  std::atomic<uint64_t> most{0};
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        absl::StatusOr<CallGate::Ticket> ticket = gate.Admit(kCall);
        if (!ticket.ok()) continue;
        ++admitted;
        const uint64_t now = held.fetch_add(kCall) + kCall;
        for (uint64_t seen = most.load();
             now > seen && !most.compare_exchange_weak(seen, now);) {
        }
        held.fetch_sub(kCall);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_LE(most.load(), 3 * kCall);
  EXPECT_GT(admitted.load(), 0);
  EXPECT_EQ(gate.held_bytes(), 0u);
  EXPECT_EQ(gate.inflight(), 0);
}

}  // namespace
}  // namespace activation::server
