/** Returns the task's input as its result. */
export function run(input: unknown): unknown {
  return input;
}
