// Types of call.mjs, for the TypeScript tests that call the examples.

export interface CallResult {
  ok: boolean;
  code: number;
  /** `OK`, `UNIMPLEMENTED`, ... */
  codeName: string;
  /** The reply message, when ok. */
  message?: string;
  /** The `x-backend` response header, when ok. */
  backend?: string;
  /** The status details, when not ok. */
  details?: string;
}

/** Calls helloworld.Greeter/`method`; never rejects. */
export function callGreeter(opts: {
  target?: string;
  method?: "SayHello" | "SayHelloAgain";
  name?: string;
  authority?: string;
  caPem?: string;
  metadata?: Record<string, string>;
  timeoutMs?: number;
}): Promise<CallResult>;

/** One line describing a result. */
export function describeResult(method: string, r: CallResult): string;
