/**
 * Logging: JSON lines on stdout (one object per event, `msg` names the event), or a human-friendly rendering
 * with `--log-format pretty`. Field names are stable: tests and log pipelines read them.
 *
 * Writes are asynchronous (a buffered `SonicBoom` destination): a log call serialises the line and returns,
 * the write to the file descriptor happens later, so per-call access lines stay cheap on the hot path.
 * Call {@link Logger.flush} (or {@link closeLogger}) before exiting.
 */
import type { Writable } from "node:stream";
import pino from "pino";
import pretty from "pino-pretty";

/** The log levels accepted by `--log-level`, most verbose first. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `json`: one JSON object per line (the default); `pretty`: coloured text for people. */
export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type Logger = pino.Logger;

export interface LoggerOptions {
  /** Default `json`. */
  format?: LogFormat;
  /** Default `info`. */
  level?: LogLevel;
  /**
   * Where lines go. Default: stdout through an asynchronous destination. Tests pass a stream to read lines.
   */
  stream?: Writable;
  /** Fields on every line (a worker's number). Default none. */
  base?: Record<string, unknown>;
  /**
   * Most bytes per write to stdout. Workers sharing one pipe set it to the pipe's atomic size (4096), so
   * lines of different processes never interleave. Default the destination's own (16 KiB).
   */
  maxWriteBytes?: number;
}

/**
 * Keys whose values are never written, wherever they appear in a logged object (certificate keys, Secret
 * data). A defence in depth: log calls already avoid passing such objects.
 */
const REDACT_PATHS = ["keyPem", "*.keyPem", "*.*.keyPem", "key", "*.key", "data", "*.data", "stringData"];

/** Creates the process logger. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? "info";
  const options: pino.LoggerOptions = {
    level,
    // `pid`/`hostname` add bytes to every access line and say nothing a process supervisor does not know.
    base: opts.base ?? null,
    timestamp: pino.stdTimeFunctions.isoTime,
    // Level as a word ("info"), not a number: readable with grep and stable across pino versions.
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  };
  if (opts.format === "pretty") {
    const stream = pretty({
      colorize: opts.stream === undefined && process.stdout.isTTY === true,
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname",
      // One line per event, so a person can follow calls as they go by.
      singleLine: true,
      messageFormat: prettyMessage,
      sync: false,
      ...(opts.stream !== undefined ? { destination: opts.stream } : { destination: 1 }),
    });
    return pino(options, stream);
  }
  if (opts.stream !== undefined) return pino(options, opts.stream);
  return pino(
    options,
    pino.destination({
      dest: 1,
      sync: false,
      minLength: 0,
      ...(opts.maxWriteBytes !== undefined ? { maxWrite: opts.maxWriteBytes } : {}),
    }),
  );
}

/**
 * The destination a logger writes its lines to (stdout's buffered writer, the pretty renderer, or a test's
 * stream), for writers that format their own JSON lines in the logger's shape (the access log).
 */
export function loggerStream(log: Logger): { write(chunk: string): unknown } {
  return (log as unknown as Record<symbol, { write(chunk: string): unknown }>)[pino.symbols.streamSym]!;
}

/** Pretty format: an access line reads as the call it records; other events show their `msg`. */
function prettyMessage(log: Record<string, unknown>, messageKey: string): string {
  const msg = String(log[messageKey] ?? "");
  if (msg !== "access") return msg;
  const to = log.endpoint !== undefined ? ` -> ${String(log.endpoint)}` : "";
  return `${String(log.authority)} ${String(log.path)}${to} ${String(log.grpcCode)} ${String(log.durationMs)} ms`;
}

/** Flushes buffered lines; resolves once they are handed to the operating system (or after `timeoutMs`). */
export function closeLogger(log: Logger, timeoutMs = 1000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    try {
      log.flush((err) => {
        void err;
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}
