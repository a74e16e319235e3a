// Starting charon (charon-systemd) with a configuration of our own, inside a network namespace.
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startDaemon, waitFor, type Daemon } from "./process.ts";

export const CHARON_PLUGINS = [
  "random", "nonce", "aes", "sha1", "sha2", "md5", "hmac", "kdf", "gcm", "openssl", "pem", "pkcs1", "x509",
  "pubkey", "socket-default", "kernel-netlink", "vici", "updown",
];

export interface CharonOptions {
  /** Directory for strongswan.conf, the vici socket and the log. */
  readonly dir: string;
  readonly netns: string;
  /** Userspace ESP (for kernels without xfrm ESP support); needs a TUN device. */
  readonly libipsec?: boolean;
  /** Replaces the plugin list (tests: a charon missing a plugin). */
  readonly plugins?: readonly string[];
  /** Receives each line charon writes to stdout/stderr (plugin load failures arrive there, before any log file). */
  readonly onLine?: (line: string) => void;
  /**
   * IKE retransmissions (strongswan.conf(5): charon.retransmit_timeout, default 4.0 s; retransmit_base, 1.8;
   * retransmit_tries, 5 — here 3): a DPD exchange or an initiation gives up after
   * timeout · Σ base^n, n = 0…tries. Tests of a lost peer shorten it.
   */
  readonly retransmit?: { readonly timeoutSeconds: number; readonly base: number; readonly tries: number };
}

export interface Charon {
  readonly viciUri: string;
  /** Environment that points swanctl at this charon's strongswan.conf. */
  readonly env: NodeJS.ProcessEnv;
  /** charon's start-up output (stderr included, bounded tail) followed by its log file. */
  log(): Promise<string>;
  stop(): Promise<void>;
  /** Ends charon at once (SIGKILL): no DELETE reaches the peer, as when its instance is lost. */
  kill(): Promise<void>;
}

export async function startCharon(options: CharonOptions): Promise<Charon> {
  await mkdir(options.dir, { recursive: true });
  const socket = join(options.dir, "charon.vici");
  const logFile = join(options.dir, "charon.log");
  const confFile = join(options.dir, "strongswan.conf");
  // kernel-libipsec must come before kernel-netlink so that it, not the kernel, handles the SAs.
  const base = options.plugins ?? CHARON_PLUGINS;
  const plugins = options.libipsec ? base.flatMap((p) => (p === "kernel-netlink" ? ["kernel-libipsec", p] : [p])) : base;
  await writeFile(
    confFile,
    [
      "charon-systemd {",
      `  load = ${plugins.join(" ")}`,
      "  install_virtual_ip = no",
      `  retransmit_tries = ${options.retransmit?.tries ?? 3}`,
      ...(options.retransmit ? [`  retransmit_timeout = ${options.retransmit.timeoutSeconds}`, `  retransmit_base = ${options.retransmit.base}`] : []),
      "  plugins {",
      `    vici { socket = unix://${socket} }`,
      "  }",
      "  journal { default = -1 }",
      "  filelog {",
      `    main { path = ${logFile}\n      default = 1\n      ike = 2\n      time_format = %H:%M:%S }`,
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  const env = { ...process.env, STRONGSWAN_CONF: confFile };
  // A socket or log left by an earlier charon in this directory would pass for this one's.
  await rm(socket, { force: true });
  await rm(logFile, { force: true });
  const daemon: Daemon = startDaemon("charon-systemd", [], { netns: options.netns, env, ...(options.onLine ? { onLine: options.onLine } : {}) });
  await waitFor("charon's vici socket", () => existsSync(socket) || !daemon.running(), 10_000);
  if (!daemon.running()) {
    const exit = await daemon.exited;
    // Plugin failures reach the log file, not stdout/stderr: the error carries both.
    const file = existsSync(logFile) ? (await readFile(logFile, "utf8")).split("\n").slice(-30).join("\n") : "";
    throw new Error(`charon exited while starting (${exit.error ?? `code ${exit.code}`}):\n${daemon.output()}${file}`);
  }
  return {
    viciUri: `unix://${socket}`,
    env,
    log: async () => {
      const file = existsSync(logFile) ? await readFile(logFile, "utf8") : "";
      return `${daemon.output()}\n--- ${logFile} ---\n${file}`;
    },
    stop: () => daemon.stop(),
    kill: () => daemon.stop("SIGKILL"),
  };
}
