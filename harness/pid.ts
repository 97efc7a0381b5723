/** Whether a process exists (EPERM: it exists, owned by someone else). One check for run locks and CIDR locks. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
