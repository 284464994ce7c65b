import assert from "node:assert/strict";
import { certDaysText } from "../lib/net/cert_days.ts";

Deno.test("certDaysText() says days left, today, or days since, with one day singular", () => {
  const notAfter = "2026-12-01T00:00:00.000Z";
  const cases: [number, string][] = [
    [30, "certificate expires in 30 days (notAfter 2026-12-01)"],
    [1, "certificate expires in 1 day (notAfter 2026-12-01)"],
    [0, "certificate expires today (notAfter 2026-12-01)"],
    [-1, "certificate expired 1 day ago (notAfter 2026-12-01)"],
    [-3, "certificate expired 3 days ago (notAfter 2026-12-01)"],
  ];
  for (const [daysLeft, text] of cases) assert.equal(certDaysText(daysLeft, notAfter), text);
});
