import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pickConnection, type StreamSlots } from "./upstream.js";

/** A connection as the pool sees it: `[streams open, whether the peer takes another]`. */
type Conn = [number, boolean];

describe("pickConnection", () => {
  const cases: { name: string; conns: Conn[]; soft: number; want: number | undefined }[] = [
    { name: "no connection", conns: [], soft: 32, want: undefined },
    { name: "the first connection below the soft limit", conns: [[3, true]], soft: 32, want: 0 },
    {
      name: "first fit, not least busy: later connections may go idle",
      conns: [
        [20, true],
        [1, true],
      ],
      soft: 32,
      want: 0,
    },
    {
      name: "skips connections at the soft limit",
      conns: [
        [32, true],
        [31, true],
      ],
      soft: 32,
      want: 1,
    },
    {
      name: "every connection at the soft limit: the least busy",
      conns: [
        [40, true],
        [33, true],
        [35, true],
      ],
      soft: 32,
      want: 1,
    },
    {
      name: "skips connections the peer takes no stream on, however idle",
      conns: [
        [0, false],
        [2, true],
      ],
      soft: 32,
      want: 1,
    },
    {
      name: "beyond the soft limit, only where the peer takes streams",
      conns: [
        [33, false],
        [50, true],
      ],
      soft: 32,
      want: 1,
    },
    {
      name: "no connection takes streams (connecting, full or draining)",
      conns: [
        [0, false],
        [100, false],
      ],
      soft: 32,
      want: undefined,
    },
    {
      name: "soft limit 1: one stream per connection while it can",
      conns: [
        [1, true],
        [0, true],
      ],
      soft: 1,
      want: 1,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const conns: StreamSlots[] = c.conns.map(([activeStreams, hasCapacity]) => ({
        activeStreams,
        hasCapacity,
      }));
      const got = pickConnection(conns, c.soft);
      assert.equal(got === undefined ? undefined : conns.indexOf(got), c.want);
    });
  }
});
