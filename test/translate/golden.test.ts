/**
 * Translate golden cases: each `testdata/translate/<case>.in.yaml` (plus the shared fixtures in
 * `testdata/translate/base/`) is read and translated; the input issues, the Gateways and GRPCRoutes with
 * their status and annotations, and the routing table are compared with `<case>.out.yaml`.
 * `UPDATE_GOLDEN=1` rewrites the outputs; without it a difference fails and names the first changed line.
 */
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { formatIssue, loadPaths } from "../../src/api/parse.js";
import { objectKey } from "../../src/api/types.js";
import type { RoutingTable } from "../../src/ir/routing-table.js";
import { validateRoutingTable } from "../../src/ir/validate.js";
import { translate } from "../../src/translate/translator.js";
import { goldenSuite } from "../helpers/golden.js";

const DIR = fileURLToPath(new URL("../../testdata/translate/", import.meta.url));
const BASE = join(DIR, "base");

/** Addresses every case reports when its Gateways list none (the Gateway's own spec.addresses win). */
const ADDRESSES = [{ type: "IPAddress", value: "192.0.2.10" }];

/** PEM blocks are long and say nothing to a reviewer: show where they came from and their size. */
function redactTable(table: RoutingTable): unknown {
  const clusters = Object.fromEntries(
    Object.entries(table.clusters).map(([k, c]) => {
      const t = c.backendTls;
      if (t?.caPem === undefined) return [k, c];
      const n = t.caPem.match(/BEGIN CERTIFICATE/g)?.length ?? 0;
      return [k, { ...c, backendTls: { ...t, caPem: `<PEM, ${n} certificate(s)>` } }];
    }),
  );
  return {
    ...table,
    clusters,
    listeners: table.listeners.map((l) =>
      l.tls === undefined
        ? l
        : {
            ...l,
            tls: {
              ...l.tls,
              certificates: l.tls.certificates.map((c) => ({
                source: c.source,
                certPem: `<PEM certificate, ${c.certPem.length} characters>`,
                keyPem: `<PEM key, ${c.keyPem.length} characters>`,
              })),
            },
          },
    ),
  };
}

/** Everything a reviewer needs for one case, in one document. */
export async function renderCase(inFile: string): Promise<string> {
  const loaded = await loadPaths([BASE, inFile]);
  const { table, status } = translate(loaded.resources, { addresses: ADDRESSES });
  // A broken IR invariant is a translator bug: this throws and fails the case.
  validateRoutingTable(table);
  const gateways = [...loaded.resources.gateways]
    .sort((a, b) => (objectKey(a.metadata) < objectKey(b.metadata) ? -1 : 1))
    .map((g) => ({
      name: objectKey(g.metadata),
      status: status.gateways.get(objectKey(g.metadata)) ?? "(not ours: no status)",
    }));
  const grpcRoutes = [...loaded.resources.grpcRoutes]
    .sort((a, b) => (objectKey(a.metadata) < objectKey(b.metadata) ? -1 : 1))
    .map((r) => {
      const key = objectKey(r.metadata);
      const ann = status.routeAnnotations.get(key);
      return {
        name: key,
        ...(ann === undefined ? {} : { annotations: ann }),
        status: status.grpcRoutes.get(key) ?? "(no parent of ours: no status)",
      };
    });
  const policies = [
    ...[...loaded.resources.trafficPolicies].map((p) => ({ kind: "TrafficPolicy", p })),
    ...[...loaded.resources.backendTLSPolicies].map((p) => ({ kind: "BackendTLSPolicy", p })),
  ]
    .sort((a, b) => (objectKey(a.p.metadata) < objectKey(b.p.metadata) ? -1 : 1))
    .map(({ kind, p }) => {
      const key = objectKey(p.metadata);
      const st = (kind === "TrafficPolicy" ? status.trafficPolicies : status.backendTLSPolicies).get(key);
      return { name: `${kind} ${key}`, status: st ?? "(no status)" };
    });
  const doc = {
    // Objects the reader rejected never reach the translator: show why, with file names relative to testdata.
    inputIssues: [...loaded.fatal, ...loaded.issues].map((i) =>
      formatIssue(
        i.origin === undefined ? i : { ...i, origin: { ...i.origin, file: basename(i.origin.file) } },
      ),
    ),
    gateways,
    grpcRoutes,
    // Only cases with policies show them, so the other cases read as before.
    ...(policies.length === 0 ? {} : { policies }),
    routingTable: redactTable(table),
  };
  return stringify(doc, { lineWidth: 0 });
}

goldenSuite("translate", DIR, "node scripts/run-tests.mjs test/translate/golden", renderCase);
