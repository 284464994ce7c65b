import assert from "node:assert/strict";
import { NetError } from "../lib/errors.ts";
import { errorRecord } from "../lib/report/error_record.ts";

Deno.test("errorRecord() describes a thrown non-Error by its text, escaped, as io", () => {
  assert.deepEqual(errorRecord("stopped\x1b[2J"), { kind: "io", message: "stopped\\x1b[2J" });
});

Deno.test("errorRecord() keeps a timeout's timer and the message's own escapes", () => {
  const err = new NetError("timeout", 'no byte: got "\\r"', {
    op: "read",
    address: "127.0.0.1:9",
    timer: "idle",
  });
  const record = errorRecord(err);
  assert.equal(record.kind, "timeout");
  assert.equal(record.timer, "idle");
  assert.equal(record.message, err.message);
});
