// An empty module: `deno run -P bench/empty.ts` is the runtime's own start-up,
// the floor figure 6 compares tcpc's start-up with.
export {};
