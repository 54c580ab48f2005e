/**
 * The attacks of the benchmark's `attacks` phase: one entry per class and variant, at the hardening issue's
 * scale (10 million CONTINUATION frames in 10 s, 50,000 reset pairs, 100,000 SETTINGS or PING frames) or
 * tiny for `--smoke`. `bench/attacks/run.ts` carries one out in its own process; what it reports back is an
 * {@link AttackOutcome}.
 */

/** The classes of the list. */
export const ATTACK_CLASSES = [
  "continuation",
  "rapid-reset",
  "control",
  "malformed",
  "slow",
  "useless",
] as const;
export type AttackClass = (typeof ATTACK_CLASSES)[number];

/** What one unit of an attack is, on the wire. */
export type AttackKind =
  /** One HEADERS without END_HEADERS, then zero-length CONTINUATION frames. */
  | "continuation"
  /** HEADERS (a whole request's headers) and at once RST_STREAM(CANCEL), on ever new streams. */
  | "reset-pair"
  /** PING frames, the socket never read. */
  | "ping"
  /** Empty SETTINGS frames, the socket never read. */
  | "settings"
  /** The malformed requests of RFC 9113 sections 8.2 and 8.3 in turn, each with its DATA. */
  | "malformed"
  /** Only the 24-byte preface, then nothing. */
  | "preface-only"
  /** A handshake and one request's HEADERS without END_STREAM, then nothing. */
  | "silent-stream"
  /** PRIORITY frames. */
  | "priority"
  /** Frames of an unknown type. */
  | "unknown"
  /** Empty DATA frames without END_STREAM on an open stream. */
  | "empty-data";

/** One attack as the attacker process carries it out. */
export interface AttackSpec {
  class: AttackClass;
  /** Short name of the variant, unique within the class (`ping`, `1 connection`). */
  variant: string;
  kind: AttackKind;
  /** Connections attacking at once. */
  lanes: number;
  /** Units (frames, pairs, requests, connections) to send over all lanes. */
  units: number;
  /** Whether a lane opens a new connection once the server ends its current one (GOAWAY or close). */
  reconnect: boolean;
  /** The attack stops after this long even if not every unit was sent. */
  seconds: number;
  /**
   * Units per second over all lanes, spread evenly over the attack (the "10 million in 10 s");
   * absent: as fast as the sockets take them. Writing faster than a server reads only fills the kernel's
   * buffers, which a server that ends the connection never reads.
   */
  ratePerSec?: number;
  /** Slow connections: how long they are held open before the attacker closes them. */
  holdSeconds: number;
  /** Most connections one attack opens (reconnecting lanes), so the attacker does not run out of ports. */
  maxConnections: number;
  /** The path of every request (a route of the target). */
  path: string;
}

/** What a spec's units are called in the tables. */
export function unitName(kind: AttackKind): string {
  switch (kind) {
    case "reset-pair":
      return "pairs";
    case "malformed":
      return "requests";
    case "preface-only":
    case "silent-stream":
      return "connections";
    default:
      return "frames";
  }
}

/** Counts of what a set of connections received, keyed by a name (`ENHANCE_YOUR_CALM`, `:status 400`). */
export type Tally = Record<string, number>;

/** Times from a connection's opening to an event, over the connections that saw it (ms). */
export interface Times {
  count: number;
  medianMs: number;
  maxMs: number;
}

/** What the attacker process sent and received (its last line of output, as JSON). */
export interface AttackOutcome {
  spec: AttackSpec;
  /** Connections opened, and connections that could not be opened (refused, reset, no port left). */
  connections: number;
  connectErrors: number;
  firstConnectError?: string;
  /** Units written to the sockets (the kernel took them; the server may not have read them all). */
  unitsSent: number;
  bytesSent: number;
  /** From the first connection to the end of the attack. */
  seconds: number;
  /** Why it ended: every unit sent, the time cap, the connection cap, or the server ended the connection. */
  ended: "units" | "time" | "connections" | "server" | "held";
  /** Connections that received a GOAWAY, by its error code (the first GOAWAY of each). */
  goaways: Tally;
  /** Its debug data, once per distinct text (servers say why there). */
  goawayReasons: string[];
  goawayTimes?: Times;
  /** Connections the server closed, and when; connections still open when the attacker ended them. */
  closedByServer: number;
  closeTimes?: Times;
  stillOpen: number;
  /** RST_STREAM frames received, by error code. */
  resets: Tally;
  /** Response header blocks by `:status` and `grpc-status`. */
  answers: Tally;
  /** Every frame received, by type name. */
  frames: Tally;
  /**
   * How the last connection of each lane of a flood the server read ended: `read` (it answered a PING sent
   * after the last unit, so it read them all), `goaway`, `closed`, or `timeout` (still reading 15 s later).
   */
  fences: Tally;
  /** When the attacker started and ended, in ms since the epoch (the good client's clock). */
  startedAt?: number;
  endedAt?: number;
  /** Malformed requests: what each variant got on a connection of its own (`RST_STREAM PROTOCOL_ERROR`). */
  perRequest?: Record<string, string>;
}

const GREETER = "/helloworld.Greeter/SayHello";

const USELESS = { priority: "PRIORITY", unknown: "unknown type", "empty-data": "empty DATA" } as const;

/**
 * Every attack of a run. The full run uses the scale where the attacker can produce it: one core of
 * this machine writes about 10 million 9-byte frames in 10 s to a reader that keeps up.
 */
export function attackPlan(smoke: boolean): AttackSpec[] {
  // A server that ends every connection of a flood at once gets ~1,000 new ones a second: plenty of ports,
  // since it closes first (the TIME_WAIT is its own).
  const base = { path: GREETER, holdSeconds: 0, maxConnections: 50_000 };
  if (smoke) {
    // One variant of each class, tiny, just to see every part work.
    return [
      {
        ...base,
        class: "continuation",
        variant: "20,000/s for 1 s, reconnecting",
        kind: "continuation",
        lanes: 1,
        units: 20_000,
        ratePerSec: 20_000,
        reconnect: true,
        seconds: 1,
      },
      {
        ...base,
        class: "rapid-reset",
        variant: "1 connection",
        kind: "reset-pair",
        lanes: 1,
        units: 2_000,
        reconnect: false,
        seconds: 2,
      },
      {
        ...base,
        class: "control",
        variant: "PING, unread",
        kind: "ping",
        lanes: 1,
        units: 5_000,
        reconnect: false,
        seconds: 1,
      },
      {
        ...base,
        class: "malformed",
        variant: "each once",
        kind: "malformed",
        lanes: 1,
        units: 22,
        reconnect: false,
        seconds: 2,
      },
      {
        ...base,
        class: "slow",
        variant: "preface only",
        kind: "preface-only",
        lanes: 10,
        units: 10,
        reconnect: false,
        seconds: 2,
        holdSeconds: 0.3,
      },
      {
        ...base,
        class: "useless",
        variant: "PRIORITY",
        kind: "priority",
        lanes: 1,
        units: 5_000,
        reconnect: false,
        seconds: 1,
      },
    ];
  }
  const flood = { lanes: 1, reconnect: true, seconds: 10 };
  return [
    {
      ...base,
      ...flood,
      class: "continuation",
      variant: "1 million/s for 10 s, reconnecting",
      kind: "continuation",
      units: 10_000_000,
      ratePerSec: 1_000_000,
    },
    {
      ...base,
      class: "rapid-reset",
      variant: "1 connection",
      kind: "reset-pair",
      lanes: 1,
      units: 50_000,
      reconnect: false,
      seconds: 30,
    },
    {
      ...base,
      class: "rapid-reset",
      variant: "8 connections, reconnecting",
      kind: "reset-pair",
      lanes: 8,
      units: 400_000,
      reconnect: true,
      seconds: 30,
    },
    {
      ...base,
      class: "control",
      variant: "SETTINGS, unread",
      kind: "settings",
      lanes: 1,
      units: 100_000,
      reconnect: false,
      seconds: 10,
    },
    {
      ...base,
      class: "control",
      variant: "PING, unread",
      kind: "ping",
      lanes: 1,
      units: 100_000,
      reconnect: false,
      seconds: 10,
    },
    {
      // 100,000 ACKs fit in the kernel's socket buffers (about 4 MiB each way on loopback): ten times as
      // many is what makes a server queue them.
      ...base,
      class: "control",
      variant: "PING x1,000,000, unread",
      kind: "ping",
      lanes: 1,
      units: 1_000_000,
      reconnect: false,
      seconds: 10,
    },
    {
      ...base,
      class: "malformed",
      variant: "22 kinds in turn, reconnecting",
      kind: "malformed",
      lanes: 1,
      units: 50_000,
      reconnect: true,
      seconds: 30,
    },
    {
      // Longer than the SETTINGS timeouts (grpcroute 10 s), shorter than idle timeouts (minutes).
      ...base,
      class: "slow",
      variant: "1,000 x preface only",
      kind: "preface-only",
      lanes: 1000,
      units: 1000,
      reconnect: false,
      seconds: 30,
      holdSeconds: 15,
    },
    {
      ...base,
      class: "slow",
      variant: "1,000 x one silent stream",
      kind: "silent-stream",
      lanes: 1000,
      units: 1000,
      reconnect: false,
      seconds: 30,
      holdSeconds: 15,
    },
    ...(["priority", "unknown", "empty-data"] as const).map(
      (kind): AttackSpec => ({
        ...base,
        ...flood,
        class: "useless",
        variant: `${USELESS[kind]}, 100,000/s for 10 s, reconnecting`,
        kind,
        units: 1_000_000,
        ratePerSec: 100_000,
      }),
    ),
  ];
}
