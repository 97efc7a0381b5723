/**
 * How both runtimes stop a container as ECS does: the stop signal now, a kill once
 * stopTimeout has passed, and the exit whichever ends it.
 */
export async function stopWithTimeout<T>(exited: Promise<T>, term: () => unknown, kill: () => unknown, timeoutMs: number): Promise<T> {
  await term();
  const timer = setTimeout(() => void kill(), Math.max(0, timeoutMs));
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}
