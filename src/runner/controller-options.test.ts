import assert from "node:assert/strict";
import { test } from "node:test";
import { parseControllerArgs } from "./controller-options.js";

test("controller options: valid command lines", () => {
  const cases: { argv: string[]; want: Record<string, unknown> }[] = [
    {
      argv: [],
      want: {
        leaderElect: false,
        leaseName: "grpcroute-leader",
        leaseDurationS: 15,
        renewDeadlineS: 10,
        retryPeriodS: 2,
        latticeClasses: false,
      },
    },
    {
      argv: [
        "--kubeconfig",
        "/k",
        "--context",
        "c",
        "--leader-elect",
        "--lease-namespace",
        "ns",
        "--lease-name",
        "l.x",
      ],
      want: { kubeconfig: "/k", context: "c", leaderElect: true, leaseNamespace: "ns", leaseName: "l.x" },
    },
    {
      argv: ["--lease-duration", "30", "--renew-deadline", "20", "--retry-period", "5"],
      want: { leaseDurationS: 30, renewDeadlineS: 20, retryPeriodS: 5 },
    },
    {
      argv: ["--lattice", "--address", "10.0.0.1", "--workers", "1"],
      want: { latticeClasses: true, address: "10.0.0.1", workers: 1 },
    },
    { argv: ["--h2-max-continuations", "4"], want: { limits: { maxContinuationFrames: 4 } } },
  ];
  for (const c of cases) {
    const r = parseControllerArgs(c.argv);
    assert.equal(r.kind, "ok", `${c.argv.join(" ")}: ${JSON.stringify(r)}`);
    if (r.kind !== "ok") continue;
    for (const [k, v] of Object.entries(c.want))
      assert.deepEqual(r.options[k as keyof typeof r.options], v, `${c.argv.join(" ")}: ${k}`);
  }
});

test("controller options: bad values name the flag", () => {
  const cases: { argv: string[]; want: RegExp }[] = [
    { argv: ["-f", "x"], want: /Unknown option '-f'/ },
    { argv: ["positional"], want: /unexpected argument "positional"/ },
    { argv: ["--lease-duration", "0"], want: /--lease-duration "0": expected a whole number of seconds/ },
    {
      argv: ["--lease-duration", "10", "--renew-deadline", "10"],
      want: /--lease-duration 10 must be greater than --renew-deadline 10/,
    },
    {
      argv: ["--renew-deadline", "2", "--retry-period", "2"],
      want: /--renew-deadline 2 must be greater than --retry-period 2/,
    },
    { argv: ["--lease-namespace", "Bad_NS"], want: /--lease-namespace "Bad_NS": not a namespace name/ },
    { argv: ["--kubeconfig", ""], want: /--kubeconfig: the value is empty/ },
    { argv: ["--port-map", "x"], want: /--port-map "x"/ },
    { argv: ["--workers", "0"], want: /--workers "0"/ },
  ];
  for (const c of cases) {
    const r = parseControllerArgs(c.argv);
    assert.equal(r.kind, "error", c.argv.join(" "));
    if (r.kind === "error") assert.match(r.message, c.want);
  }
});
