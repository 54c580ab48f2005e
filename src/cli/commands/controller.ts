/**
 * `grpcroute controller [--kubeconfig PATH] [--context NAME] [--leader-elect] [--lease-* ...] [--lattice]`
 * plus serve's data-plane flags: runs the gateway in a Kubernetes cluster (README "Controller mode").
 * Exit codes: 0 after a signal-initiated drain, 1 when it cannot start (a port in use), 2 for bad flags or
 * a kubeconfig that cannot be used.
 */
import { runController } from "../../runner/controller.js";
import { CONTROLLER_USAGE, parseControllerArgs } from "../../runner/controller-options.js";
import { pipelineDeps } from "./serve.js";

export async function run(argv: string[]): Promise<number> {
  const parsed = parseControllerArgs(argv);
  if (parsed.kind === "help") {
    process.stdout.write(CONTROLLER_USAGE);
    return 0;
  }
  if (parsed.kind === "error") {
    process.stderr.write(
      `grpcroute controller: ${parsed.message}\nRun \`grpcroute controller --help\` for the options.\n`,
    );
    return 2;
  }
  return runController(parsed.options, pipelineDeps);
}
