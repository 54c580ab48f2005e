// node bench/clients/tls-handshakes.mjs --port P --mode full|resumed --seconds S
// TLS 1.3 handshakes with ALPN h2 to 127.0.0.1:P, one connection after another for S seconds, each closed
// once its handshake is done (and, when resuming, once it has the server's session ticket). `full` offers no
// session; `resumed` offers the ticket the previous connection got. Prints one JSON line: connections,
// seconds, how many were resumed, errors.
import { connect } from "node:tls";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const port = Number(arg("port"));
const mode = arg("mode", "full");
const seconds = Number(arg("seconds", "5"));

let session;
let connections = 0;
let reused = 0;
let errors = 0;
let firstError = "";

function once() {
  return new Promise((resolve) => {
    const s = connect({
      host: "127.0.0.1",
      port,
      ALPNProtocols: ["h2"],
      rejectUnauthorized: false,
      minVersion: "TLSv1.3",
      ...(mode === "resumed" && session ? { session } : {}),
    });
    let done = false;
    // Only the first connection waits for a ticket; later ones offer the newest ticket they have seen.
    let ticket = mode !== "resumed" || session !== undefined;
    let secure = false;
    const finish = () => {
      if (done) return;
      done = true;
      s.destroy();
      resolve();
    };
    s.on("session", (t) => {
      session = t;
      ticket = true;
      if (secure) finish();
    });
    s.on("secureConnect", () => {
      secure = true;
      connections++;
      if (s.isSessionReused()) reused++;
      if (ticket) finish();
      // A ticket comes right after the handshake; do not wait forever for one.
      else setTimeout(finish, 200);
    });
    s.on("error", (e) => {
      errors++;
      firstError ||= e.message;
      finish();
    });
  });
}

const t0 = process.hrtime.bigint();
const end = t0 + BigInt(Math.round(seconds * 1e9));
while (process.hrtime.bigint() < end) await once();
const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
process.stdout.write(`${JSON.stringify({ connections, seconds: elapsed, reused, errors, firstError })}\n`);
