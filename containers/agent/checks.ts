// Each daemon's own configuration check: the final word on whether a rendered file is valid.
import { nginxGlobals } from "./daemons.ts";
import { run, type RunResult } from "./process.ts";

export interface CheckResult {
  readonly ok: boolean;
  /** What the daemon said, for the error report. */
  readonly output: string;
}

const result = (ok: boolean, r: RunResult): CheckResult => ({ ok, output: (r.stdout + r.stderr).trim() });

/** haproxy -c over the same -f files the daemon starts with. */
export async function checkHaproxy(configFile: string, extraConfigs: readonly string[] = []): Promise<CheckResult> {
  const r = await run("haproxy", ["-c", ...[configFile, ...extraConfigs].flatMap((f) => ["-f", f])]);
  return result(r.code === 0, r);
}

/** nginx -t with a prefix of our own, so the check needs no system paths, and the -g the daemon gets. */
export async function checkNginx(configFile: string, prefix: string): Promise<CheckResult> {
  const r = await run("nginx", ["-t", "-p", prefix, "-c", configFile, "-g", nginxGlobals()], { discardStdout: true });
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

/**
 * Loads a swanctl.conf into a running charon; every connection and secret must load. swanctl reports
 * parse errors on stderr, and a partial load ("loaded 0 of 1 connections, 1 failed to load") on stdout,
 * sometimes with exit status 0: all three are read.
 */
export async function loadSwanctl(configFile: string, viciUri: string, netns?: string, env?: NodeJS.ProcessEnv): Promise<CheckResult> {
  const r = await run("swanctl", ["--load-all", "--noprompt", "--file", configFile, "--uri", viciUri], {
    ...(netns ? { netns } : {}),
    ...(env ? { env } : {}),
  });
  return result(r.code === 0 && swanctlLoadProblems(r.stdout + "\n" + r.stderr).length === 0, r);
}

/** The lines of swanctl --load-all output that say something did not load. */
export function swanctlLoadProblems(output: string): string[] {
  return output.split("\n").filter((line) =>
    // Missing optional directories (x509ca, pools …) are normal for a PSK-only config, and swanctl itself
    // reports plugins it could not load for its own use; neither is about the configuration.
    !/^opening directory '.*' failed/.test(line) && !/^plugin '.*': failed to load/.test(line) &&
    (/\bfailed\b|\berror\b|syntax|invalid|unknown|^loaded \d+ of \d+/i.test(line)));
}
