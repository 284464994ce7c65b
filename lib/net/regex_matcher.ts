/**
 * Runs a user's regular expression where it can be stopped. JavaScript's
 * RegExp backtracks: `^(a+)+$` against 30 `a` and a `!` runs for seconds, and
 * a match cannot be interrupted on the thread that runs it. So `--expect-re`
 * matches in a worker thread, each match with a deadline; a match still
 * running at its deadline terminates the worker (the next match starts a new
 * one) and settles as `"timeout"`. The caller bounds the text (probe: 64 KiB).
 *
 * @module
 */

/** What a match gave: matched, not matched, or stopped at its deadline. */
export type MatchOutcome = boolean | "timeout";

/**
 * Where a match ended: the offset just past the first match in the text, -1
 * for no match, or `"timeout"` when it was stopped at its deadline.
 */
export type MatchEnd = number | "timeout";

/** Options of {@linkcode RegexMatcher}. */
export interface RegexMatcherOptions {
  /** Source of the expression (`RegExp.prototype.source`). */
  source: string;
  /** Its flags (`RegExp.prototype.flags`). @default {""} */
  flags?: string;
}

/** Options of {@linkcode RegexMatcher.match}. */
export interface MatchOptions {
  /** `performance.now()` time by which the match must have finished. */
  deadline: number;
}

/** The part of a worker's global scope the matcher's thread uses. */
export interface MatcherScope {
  /** Receives `{id, source, flags, text}` requests. */
  onmessage: ((event: MessageEvent) => void) | null;
  /** Sends `{id, end}` back: the offset past the first match, -1 for none, or `"timeout"`. */
  postMessage(message: unknown): void;
}

/**
 * The matcher thread's body: answers each request on `scope` with the end of
 * the first match (`"timeout"` when the match threw: the backtracking stack
 * overflowed). It is sent to the worker as source text, so it must not use
 * this module's scope; the expression is compiled once, on the first request.
 *
 * @example Serve requests on a stand-in scope
 * ```ts
 * import { type MatcherScope, serveMatcher } from "./regex_matcher.ts";
 * const scope: MatcherScope = { onmessage: null, postMessage: (m) => console.log(m) };
 * serveMatcher(scope);
 * scope.onmessage?.(new MessageEvent("message", {
 *   data: { id: 1, source: "PONG", flags: "", text: "+PONG" },
 * })); // { id: 1, end: 5 }
 * ```
 */
export function serveMatcher(scope: MatcherScope): void {
  let re: RegExp | null = null;
  scope.onmessage = (event) => {
    const data = event.data as { id: number; source: string; flags: string; text: string };
    re ??= new RegExp(data.source, data.flags);
    re.lastIndex = 0;
    let end: number | "timeout";
    try {
      const found = re.exec(data.text);
      end = found === null ? -1 : found.index + found[0].length;
    } catch {
      // A long text can overflow the backtracking stack (RangeError): too
      // much backtracking, as a match stopped at its deadline.
      end = "timeout";
    }
    scope.postMessage({ id: data.id, end });
  };
}

const WORKER_SOURCE = `(${serveMatcher.toString()})(globalThis);`;

interface Request {
  id: number;
  text: string;
  deadline: number;
  resolve: (outcome: MatchEnd) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Matches texts against one expression in a worker thread, one at a time in
 * order, each bounded by its deadline. `close()` terminates the worker and
 * settles what is left as `"timeout"`; call it when done (a live worker keeps
 * the process running).
 *
 * @example Match with a 1 s budget
 * ```ts
 * import { RegexMatcher } from "./regex_matcher.ts";
 * const matcher = new RegexMatcher({ source: "^\\+PONG" });
 * try {
 *   console.log(await matcher.match("+PONG\r\n", { deadline: performance.now() + 1000 })); // true
 * } finally {
 *   matcher.close();
 * }
 * ```
 */
export class RegexMatcher {
  #source: string;
  #flags: string;
  #worker: Worker | null = null;
  #queue: Request[] = [];
  #running: Request | null = null;
  #nextId = 1;

  /** Checks the expression here (a bad one throws its SyntaxError); starts no thread yet. */
  constructor(options: RegexMatcherOptions) {
    this.#source = options.source;
    this.#flags = options.flags ?? "";
    new RegExp(this.#source, this.#flags);
  }

  /** Resolves to whether `text` matches, or `"timeout"` at the deadline. Never rejects. */
  async match(text: string, options: MatchOptions): Promise<MatchOutcome> {
    const end = await this.matchEnd(text, options);
    return end === "timeout" ? end : end >= 0;
  }

  /**
   * Resolves to the offset just past the first match in `text` (-1: none), or
   * `"timeout"` at the deadline: a dialog step consumes its input up to there.
   * Never rejects.
   */
  matchEnd(text: string, options: MatchOptions): Promise<MatchEnd> {
    return new Promise((resolve) => {
      const request: Request = {
        id: this.#nextId++,
        text,
        deadline: options.deadline,
        resolve,
        timer: undefined,
      };
      request.timer = setTimeout(
        () => this.#expire(request),
        Math.max(0, options.deadline - performance.now()),
      );
      this.#queue.push(request);
      this.#pump();
    });
  }

  /** Terminates the worker; pending matches settle as `"timeout"`. */
  close(): void {
    this.#terminate();
    const left = [...this.#queue];
    this.#queue = [];
    for (const request of left) this.#settle(request, "timeout");
  }

  #settle(request: Request, outcome: MatchEnd): void {
    clearTimeout(request.timer);
    if (this.#running === request) this.#running = null;
    request.resolve(outcome);
  }

  #expire(request: Request): void {
    if (this.#running === request) {
      // The only way to stop a backtracking match: end its thread.
      this.#terminate();
      this.#pump();
      return;
    }
    const at = this.#queue.indexOf(request);
    if (at >= 0) this.#queue.splice(at, 1);
    this.#settle(request, "timeout");
  }

  #terminate(): void {
    const running = this.#running;
    this.#worker?.terminate();
    this.#worker = null;
    this.#running = null;
    if (running !== null) this.#settle(running, "timeout");
  }

  #pump(): void {
    if (this.#running !== null) return;
    const request = this.#queue.shift();
    if (request === undefined) return;
    if (this.#worker === null) {
      const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
      try {
        this.#worker = new Worker(url, { type: "module" });
      } finally {
        URL.revokeObjectURL(url);
      }
      this.#worker.onmessage = (event: MessageEvent<{ id: number; end: MatchEnd }>) => {
        const current = this.#running;
        if (current === null || current.id !== event.data.id) return;
        this.#settle(current, event.data.end);
        this.#pump();
      };
      this.#worker.onerror = (event: ErrorEvent) => {
        // serveMatcher catches what the match throws: only the thread itself
        // can fail here (e.g. out of memory). Never leave a match hanging.
        event.preventDefault();
        this.#terminate();
        this.#pump();
      };
    }
    this.#running = request;
    this.#worker.postMessage({
      id: request.id,
      source: this.#source,
      flags: this.#flags,
      text: request.text,
    });
  }
}
