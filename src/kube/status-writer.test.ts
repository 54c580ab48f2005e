import assert from "node:assert/strict";
import { test } from "node:test";
import type { Condition } from "../api/types.js";
import { MAX_POLICY_CONDITIONS, mergeConditions } from "./status-writer.js";

const NOW = "2026-12-08T00:00:00Z";
const BEFORE = "2026-01-01T00:00:00Z";
const accepted = (status: "True" | "False"): Condition => ({
  type: "Accepted",
  status,
  reason: status === "True" ? "Accepted" : "Invalid",
  message: "",
  observedGeneration: 1,
});
const other = (type: string) => ({
  type,
  status: "True",
  reason: "R",
  message: "",
  lastTransitionTime: BEFORE,
});

test("policy status.conditions: ours replace the same type, others stay, times as meta.SetStatusCondition", () => {
  const cases: {
    name: string;
    current: unknown;
    ours: Condition[];
    want: { types: string[]; time: string };
  }[] = [
    {
      name: "no status yet",
      current: undefined,
      ours: [accepted("True")],
      want: { types: ["Accepted"], time: NOW },
    },
    {
      name: "the CRD's default Unknown condition is replaced, as a transition",
      current: [{ ...other("Accepted"), status: "Unknown", lastTransitionTime: "1970-01-01T00:00:00Z" }],
      ours: [accepted("True")],
      want: { types: ["Accepted"], time: NOW },
    },
    {
      name: "the same status keeps its time; another type is kept before ours",
      current: [other("Programmed"), { ...accepted("True"), lastTransitionTime: BEFORE }],
      ours: [accepted("True")],
      want: { types: ["Programmed", "Accepted"], time: BEFORE },
    },
    {
      name: "a list already full of other types: ours is cut, so the CRD's 8 hold",
      current: Array.from({ length: MAX_POLICY_CONDITIONS }, (_, i) => other(`T${i}`)),
      ours: [accepted("True")],
      want: { types: Array.from({ length: MAX_POLICY_CONDITIONS }, (_, i) => `T${i}`), time: "" },
    },
  ];
  for (const tc of cases) {
    const got = mergeConditions(tc.ours, tc.current, NOW) as { type: string; lastTransitionTime: string }[];
    assert.deepEqual(
      got.map((x) => x.type),
      tc.want.types,
      tc.name,
    );
    const ours = got.find((x) => x.type === "Accepted" && tc.want.time !== "");
    if (tc.want.time !== "") assert.equal(ours?.lastTransitionTime, tc.want.time, tc.name);
  }
});
