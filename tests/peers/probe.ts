/**
 * Reading `tcpc probe --json` output in tests.
 *
 * @module
 */

import type { ProbeRecord } from "../../lib/report/probe_table.ts";

/**
 * The records of `probe --json` output: one JSON object a line, blank lines
 * skipped.
 *
 * @example Records of a run
 * ```ts
 * const found = probeRecords('{"port":80,"state":"open"}\n');
 * ```
 */
export function probeRecords(out: string): ProbeRecord[] {
  return out.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}
