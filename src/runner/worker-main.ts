/** Entry point of a `serve --workers N` worker process (see worker.ts). */
import { runWorker } from "./worker.js";

runWorker();
