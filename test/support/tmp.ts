import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A temporary directory readable by the daemons' unprivileged users; removed by the returned cleanup. */
export async function tempDir(label: string): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `pf-${label}-`));
  await chmod(path, 0o755);
  // Retried (fs.rm retries ENOTEMPTY and EBUSY): a daemon stopping as the tree is removed may still write in it.
  return { path, cleanup: () => rm(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }) };
}
