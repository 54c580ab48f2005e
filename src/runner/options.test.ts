import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { test } from "node:test";
import { usableCores } from "./default-workers.js";
import { defaultWorkers, formatHostPort, parseHostPort, parseServeArgs } from "./options.js";

test("serve options: valid command lines", { timeout: 120_000 }, () => {
  const cases: { argv: string[]; want: Record<string, unknown> }[] = [
    {
      argv: ["-f", "a.yaml"],
      want: {
        files: ["a.yaml"],
        watch: false,
        admin: { host: "127.0.0.1", port: 9901 },
        drainTimeoutMs: 10000,
        pollIntervalMs: 5000,
      },
    },
    { argv: ["-f", "a", "--watch", "--poll-interval", "0"], want: { watch: true, pollIntervalMs: 0 } },
    { argv: ["-f", "a", "--poll-interval", "250"], want: { pollIntervalMs: 250 } },
    {
      argv: ["-f", "a.yaml", "--file", "dir/", "--watch", "--address", "127.0.0.1", "--admin", "[::1]:0"],
      want: { files: ["a.yaml", "dir/"], watch: true, address: "127.0.0.1", admin: { host: "::1", port: 0 } },
    },
    {
      argv: [
        "-f",
        "a",
        "--log-format",
        "pretty",
        "--log-level",
        "debug",
        "--drain-timeout",
        "0",
        "--cert-dir",
        "/c",
      ],
      want: { logFormat: "pretty", logLevel: "debug", drainTimeoutMs: 0, certDir: "/c" },
    },
    { argv: ["-f", "a", "--dataplane", "relay"], want: { lattice: {} } },
    { argv: ["-f", "a"], want: { workers: defaultWorkers() } },
    { argv: ["-f", "a", "--workers", "1"], want: { workers: 1 } },
    { argv: ["-f", "a", "--workers", "8"], want: { workers: 8 } },
    { argv: ["-f", "a"], want: { limits: {}, retryBufferBytes: undefined } },
    { argv: ["-f", "a", "--retry-buffer-limit", "1048576"], want: { retryBufferBytes: 1048576 } },
    { argv: ["-f", "a", "--retry-buffer-limit", "0"], want: { retryBufferBytes: 0 } },
    { argv: ["-f", "a"], want: { transcodingBodyLimit: undefined } },
    { argv: ["-f", "a", "--transcoding-body-limit", "1024"], want: { transcodingBodyLimit: 1024 } },
    {
      argv: [
        "-f",
        "a",
        "--h2-max-continuations",
        "4",
        "--h2-reset-burst",
        "200",
        "--h2-reset-rate",
        "10",
        "--h2-max-queued-control",
        "500",
        "--h2-glitch-burst",
        "50",
        "--h2-glitch-rate",
        "0",
        "--h2-settings-timeout",
        "2000",
        "--h2-idle-timeout",
        "60000",
        "--h2-header-timeout",
        "3000",
        "--max-header-list-size",
        "16384",
        "--max-concurrent-streams",
        "250",
      ],
      want: {
        limits: {
          maxContinuationFrames: 4,
          resetBurst: 200,
          resetRate: 10,
          maxQueuedControlFrames: 500,
          glitchBurst: 50,
          glitchRate: 0,
          settingsTimeoutMs: 2000,
          idleTimeoutMs: 60000,
          headerTimeoutMs: 3000,
          maxHeaderListSize: 16384,
          maxConcurrentStreams: 250,
        },
      },
    },
    {
      argv: [
        "-f",
        "a",
        "--domain-suffix",
        "lattice.test",
        "--method-case",
        "sensitive",
        "--rules-per-listener",
        "20",
      ],
      want: { lattice: { domainSuffix: "lattice.test", methodCase: "sensitive", rulesPerListener: 20 } },
    },
  ];
  for (const c of cases) {
    const r = parseServeArgs(c.argv);
    assert.equal(r.kind, "ok", c.argv.join(" "));
    if (r.kind !== "ok") continue;
    for (const [k, v] of Object.entries(c.want)) {
      assert.deepEqual((r.options as unknown as Record<string, unknown>)[k], v, `${c.argv.join(" ")}: ${k}`);
    }
  }
  const pm = parseServeArgs(["-f", "a", "--port-map", "443=8443", "--port-map", "80=0"]);
  assert.equal(pm.kind, "ok");
  if (pm.kind === "ok")
    assert.deepEqual(
      [...pm.options.portMap],
      [
        [443, 8443],
        [80, 0],
      ],
    );
  assert.equal(parseServeArgs(["--help"]).kind, "help");
});

test("serve options: bad flags give a message naming the flag and what is expected", {
  timeout: 120_000,
}, () => {
  const cases: { argv: string[]; error: RegExp }[] = [
    { argv: [], error: /no input: give at least one -f PATH/ },
    {
      argv: ["-f", "a", "--method-case", "upper"],
      error: /--method-case must be insensitive or sensitive, not "upper"/,
    },
    {
      argv: ["-f", "a", "--rules-per-listener", "0"],
      error: /--rules-per-listener must be a positive integer/,
    },
    {
      argv: ["-f", "a", "--domain-suffix", "Bad_Suffix"],
      error: /--domain-suffix must be a lowercase DNS name/,
    },
    { argv: ["-f"], error: /argument missing|-f/ },
    {
      argv: ["-f", "a", "--retry-buffer-limit", "1MiB"],
      error: /--retry-buffer-limit "1MiB": expected a whole number of bytes, 0\.\.4294967296/,
    },
    {
      argv: ["-f", "a", "--transcoding-body-limit", "4MiB"],
      error: /--transcoding-body-limit "4MiB": expected a whole number of bytes, 0\.\.1073741824/,
    },
    { argv: ["-f", "a", "--bogus"], error: /Unknown option '--bogus'/ },
    { argv: ["a.yaml"], error: /unexpected argument "a\.yaml": manifest paths are given with -f PATH/ },
    { argv: ["-f", "a", "--port-map", "443"], error: /--port-map "443": expected LISTENER_PORT=LOCAL_PORT/ },
    { argv: ["-f", "a", "--port-map", "0=1"], error: /listener port 1\.\.65535/ },
    { argv: ["-f", "a", "--port-map", "80=70000"], error: /--port-map "80=70000"/ },
    {
      argv: ["-f", "a", "--port-map", "80=1", "--port-map", "80=2"],
      error: /listener port 80 is mapped twice/,
    },
    { argv: ["-f", "a", "--admin", "9901"], error: /--admin "9901": expected HOST:PORT/ },
    { argv: ["-f", "a", "--admin", "localhost:99999"], error: /--admin "localhost:99999"/ },
    { argv: ["-f", "a", "--log-format", "xml"], error: /--log-format "xml": expected one of json, pretty/ },
    { argv: ["-f", "a", "--log-level", "loud"], error: /--log-level "loud": expected one of trace/ },
    {
      argv: ["-f", "a", "--drain-timeout", "10s"],
      error: /--drain-timeout "10s": expected a whole number of milliseconds/,
    },
    {
      argv: ["-f", "a", "--poll-interval", "5s"],
      error: /--poll-interval "5s": expected a whole number of milliseconds, 0\.\.3600000 \(0 = never\)/,
    },
    { argv: ["-f", "a", "--address", ""], error: /--address: the address is empty/ },
    {
      argv: ["-f", "a", "--h2-reset-burst", "0"],
      error: /--h2-reset-burst "0": expected a whole number, 1\.\.1000000/,
    },
    {
      argv: ["-f", "a", "--h2-idle-timeout", "5m"],
      error: /--h2-idle-timeout "5m": expected a whole number of milliseconds, 1\.\.86400000/,
    },
    { argv: ["-f", "a", "--h2-max-continuations", "-1"], error: /--h2-max-continuations/ },
    {
      argv: ["-f", "a", "--max-header-list-size", "64k"],
      error: /--max-header-list-size "64k": expected a whole number of bytes, 1024\.\.8388608/,
    },
    { argv: ["-f", "a", "--max-header-list-size", "100"], error: /--max-header-list-size "100"/ },
    {
      argv: ["-f", "a", "--max-concurrent-streams", "0"],
      error: /--max-concurrent-streams "0": expected a whole number, 1\.\.1000000/,
    },
    {
      argv: ["-f", "a", "--dataplane", "http2"],
      error: /--dataplane "http2": the node:http2 data path was retired/,
    },
    {
      argv: ["-f", "a", "--workers", "0"],
      error: /--workers "0": expected a whole number of processes, 1\.\.256/,
    },
    { argv: ["-f", "a", "--workers", "257"], error: /--workers "257"/ },
    { argv: ["-f", "a", "--workers", "two"], error: /--workers "two"/ },
  ];
  for (const c of cases) {
    const r = parseServeArgs(c.argv);
    assert.equal(r.kind, "error", c.argv.join(" "));
    if (r.kind === "error") assert.match(r.message, c.error, c.argv.join(" "));
  }
});

test("--workers defaults to the usable cores less one, at least 1", { timeout: 120_000 }, () => {
  assert.equal(defaultWorkers(), Math.max(1, Math.min(usableCores() - 1, 256)));
  assert.ok(usableCores() <= availableParallelism());
});

test("host:port parsing and formatting round-trip, IPv6 in brackets", { timeout: 120_000 }, () => {
  const cases: [string, { host: string; port: number } | undefined][] = [
    ["127.0.0.1:9901", { host: "127.0.0.1", port: 9901 }],
    ["localhost:0", { host: "localhost", port: 0 }],
    ["[::1]:9901", { host: "::1", port: 9901 }],
    ["::1:9901", undefined],
    ["[localhost]:1", undefined],
    [":9901", undefined],
  ];
  for (const [s, want] of cases) {
    assert.deepEqual(parseHostPort(s), want, s);
    if (want) assert.equal(formatHostPort(want.host, want.port), s);
  }
});
