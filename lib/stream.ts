/**
 * The byte source and sink types shared by the engines and the commands
 * (stdin, stdout, files, test doubles).
 *
 * @module
 */

/**
 * A byte source, such as `Deno.stdin`.
 *
 * @example Read everything from a source
 * ```ts
 * import type { ByteReader } from "./stream.ts";
 * declare const source: ByteReader;
 * const buffer = new Uint8Array(4096);
 * for (let n = await source.read(buffer); n !== null; n = await source.read(buffer)) {
 *   console.log(`${n} bytes`);
 * }
 * ```
 */
export interface ByteReader {
  /** Reads into `buffer`; resolves to the count read, or null at end of input. */
  read(buffer: Uint8Array): Promise<number | null>;
}

/**
 * A byte sink, such as `Deno.stdout`.
 *
 * @example Write all of a buffer
 * ```ts
 * import type { ByteWriter } from "./stream.ts";
 * declare const sink: ByteWriter;
 * const data = new TextEncoder().encode("hello\n");
 * for (let offset = 0; offset < data.length;) offset += await sink.write(data.subarray(offset));
 * ```
 */
export interface ByteWriter {
  /** Writes some of `data`; resolves to the count written. */
  write(data: Uint8Array): Promise<number>;
}

/**
 * A writer whose buffered bytes can be waited for.
 *
 * @example Write, then wait until the bytes reached the sink
 * ```ts
 * import type { FlushableWriter } from "./stream.ts";
 * declare const out: FlushableWriter;
 * await out.write(new TextEncoder().encode("done\n"));
 * await out.flush(AbortSignal.timeout(1000));
 * console.log(out.pending()); // 0 once flushed
 * ```
 */
export interface FlushableWriter extends ByteWriter {
  /**
   * Resolves once every accepted byte reached the sink; rejects with the
   * sink's error. Aborting `signal` stops the wait (the bytes stay pending).
   */
  flush(signal?: AbortSignal): Promise<void>;
  /** Bytes accepted but not yet written to the sink. */
  pending(): number;
}
