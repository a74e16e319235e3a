// Each daemon's own configuration check: the final word on whether a rendered file is valid.
import { run, type RunResult } from "./process.ts";

export interface CheckResult {
  readonly ok: boolean;
  /** What the daemon said, for the error report. */
  readonly output: string;
}

const result = (ok: boolean, r: RunResult): CheckResult => ({ ok, output: (r.stdout + r.stderr).trim() });

export async function checkHaproxy(configFile: string): Promise<CheckResult> {
  const r = await run("haproxy", ["-c", "-f", configFile]);
  return result(r.code === 0, r);
}

/** nginx -t with a prefix of our own, so the check needs no system paths. */
export async function checkNginx(configFile: string, prefix: string): Promise<CheckResult> {
  const r = await run("nginx", ["-t", "-p", prefix, "-c", configFile]);
  return result(r.code === 0, r);
}

/** squid -k parse exits 0 even when an ACL file is missing, so its output is read too. */
export async function checkSquid(configFile: string): Promise<CheckResult> {
  const r = await run("squid", ["-k", "parse", "-f", configFile]);
  return result(r.code === 0 && !/ERROR|FATAL/.test(r.stdout + r.stderr), r);
}

export async function checkIptables(rules: string, netns?: string): Promise<CheckResult> {
  const r = await run("iptables-restore", ["--test", "--noflush"], { input: rules, ...(netns ? { netns } : {}) });
  return result(r.code === 0, r);
}

/** Loads a swanctl.conf into a running charon; every connection and secret must load. */
export async function loadSwanctl(configFile: string, viciUri: string, netns?: string, env?: NodeJS.ProcessEnv): Promise<CheckResult> {
  const r = await run("swanctl", ["--load-all", "--noprompt", "--file", configFile, "--uri", viciUri], {
    ...(netns ? { netns } : {}),
    ...(env ? { env } : {}),
  });
  const failed = /failed|error/i.test(r.stdout.split("\n").filter((line) => !line.startsWith("opening directory")).join("\n"));
  return result(r.code === 0 && !failed, r);
}
