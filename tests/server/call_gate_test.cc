// CallGate on its own: admission, tickets, draining and the bearer token,
// with server contexts whose client metadata the test sets (gRPC's
// ServerContextTestSpouse), no server.

#include "server/call_gate.h"

#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/server_context.h"
#include "grpcpp/test/server_context_test_spouse.h"
#include "gtest/gtest.h"
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

CallGate::Options Limit(int max_inflight, std::string auth_token = "") {
  CallGate::Options options;
  options.max_inflight = max_inflight;
  options.auth_token = std::move(auth_token);
  return options;
}

// Admits a call with no metadata; fails the test if it is refused.
CallGate::Ticket MustAdmit(CallGate& gate) {
  grpc::ServerContext context;
  absl::StatusOr<CallGate::Ticket> ticket = gate.Admit(context);
  EXPECT_OK(ticket);
  return ticket.ok() ? *std::move(ticket) : CallGate::Ticket();
}

TEST(CallGateTest, AdmitsUpToMaxInflightThenResourceExhausted) {
  CallGate gate(Limit(2));
  grpc::ServerContext context;
  absl::StatusOr<CallGate::Ticket> first = gate.Admit(context);
  absl::StatusOr<CallGate::Ticket> second = gate.Admit(context);
  ASSERT_OK(first);
  ASSERT_OK(second);
  EXPECT_EQ(gate.inflight(), 2);
  EXPECT_THAT(gate.Admit(context).status(),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "server is at its limit of 2 calls in flight "
                       "(--max_inflight); retry later"));
  // The refusal took no slot.
  EXPECT_EQ(gate.inflight(), 2);
}

TEST(CallGateTest, DestroyingATicketFreesItsSlot) {
  CallGate gate(Limit(2));
  CallGate::Ticket kept = MustAdmit(gate);
  {
    CallGate::Ticket scoped = MustAdmit(gate);
    EXPECT_EQ(gate.inflight(), 2);
  }
  EXPECT_EQ(gate.inflight(), 1);
  grpc::ServerContext context;
  EXPECT_OK(gate.Admit(context));  // admitted, and freed again at once
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
  CallGate::Ticket admitted = MustAdmit(gate);
  gate.StartDraining();
  grpc::ServerContext context;
  EXPECT_THAT(
      gate.Admit(context).status(),
      StatusIs(absl::StatusCode::kUnavailable, "server is shutting down"));
  EXPECT_EQ(gate.inflight(), 1);
}

TEST(CallGateTest, DrainingIsCheckedBeforeTheTokenAndTheLimit) {
  CallGate gate(Limit(1, "t0ken"));
  ClientContextOf authorized("authorization", "Bearer t0ken");
  // Fill the one slot, then drain: both an unauthenticated call and one over
  // the limit learn that the server is going away.
  absl::StatusOr<CallGate::Ticket> held = gate.Admit(authorized.context);
  ASSERT_OK(held);
  gate.StartDraining();
  grpc::ServerContext anonymous;
  EXPECT_THAT(
      gate.Admit(anonymous).status(),
      StatusIs(absl::StatusCode::kUnavailable, "server is shutting down"));
  EXPECT_THAT(
      gate.Admit(authorized.context).status(),
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

TEST(CallGateTest, WithoutATokenAnyCallIsAdmitted) {
  CallGate gate(Limit(1));
  EXPECT_FALSE(gate.auth_required());
  ClientContextOf call("authorization", "Bearer whatever");
  EXPECT_OK(gate.Admit(call.context));
}

TEST(CallGateTest, MissingAuthorizationIsUnauthenticated) {
  CallGate gate(Limit(1, "t0ken"));
  EXPECT_TRUE(gate.auth_required());
  ClientContextOf call("x-other", "Bearer t0ken");
  EXPECT_THAT(gate.Admit(call.context).status(),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       "missing \"authorization: Bearer <token>\" metadata"));
  EXPECT_EQ(gate.inflight(), 0);
}

TEST(CallGateTest, WrongTokenOrSchemeIsUnauthenticated) {
  CallGate gate(Limit(1, "t0ken"));
  for (const char* value :
       {"Bearer wrong", "Bearer t0ke", "Bearer t0ken2", "Bearer ",
        "Basic t0ken", "bearer t0ken", "t0ken", "Bearer  t0ken"}) {
    SCOPED_TRACE(value);
    ClientContextOf call("authorization", value);
    EXPECT_THAT(
        gate.Admit(call.context).status(),
        StatusIs(absl::StatusCode::kUnauthenticated, "invalid bearer token"));
  }
  EXPECT_EQ(gate.inflight(), 0);
}

TEST(CallGateTest, RightTokenIsAdmittedAndCountsAgainstTheLimit) {
  CallGate gate(Limit(1, "t0ken"));
  ClientContextOf call("authorization", "Bearer t0ken");
  absl::StatusOr<CallGate::Ticket> ticket = gate.Admit(call.context);
  ASSERT_OK(ticket);
  EXPECT_EQ(gate.inflight(), 1);
  EXPECT_THAT(gate.Admit(call.context).status(),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "server is at its limit of 1 calls in flight "
                       "(--max_inflight); retry later"));
}

TEST(CallGateTest, TokenIsCheckedBeforeTheLimit) {
  CallGate gate(Limit(1, "t0ken"));
  ClientContextOf authorized("authorization", "Bearer t0ken");
  absl::StatusOr<CallGate::Ticket> held = gate.Admit(authorized.context);
  ASSERT_OK(held);
  grpc::ServerContext anonymous;
  EXPECT_THAT(gate.Admit(anonymous).status(),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       "missing \"authorization: Bearer <token>\" metadata"));
}

}  // namespace
}  // namespace activation::server
