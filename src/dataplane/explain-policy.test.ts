import assert from "node:assert/strict";
import { test } from "node:test";
import { callPolicyLines, explainCallPolicy } from "./explain-policy.js";

test("explain: a rule's cors, with the policy it comes from", () => {
  const p = explainCallPolicy({
    cors: {
      allowOrigins: ["https://app.example.com"],
      allowMethods: ["POST"],
      allowHeaders: [],
      exposeHeaders: [],
      maxAgeSeconds: 5,
      allowCredentials: true,
      source: "TrafficPolicy default/web",
    },
  });
  assert.deepEqual(callPolicyLines(p ?? {}, "  "), [
    "  cors (gRPC-Web): origins https://app.example.com, methods POST, headers none, exposed grpc-status, grpc-message, grpc-status-details-bin, max age 5 s, with credentials (TrafficPolicy default/web)",
  ]);
});
