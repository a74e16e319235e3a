#!/usr/bin/env node
// The `fleet` command: validate and render a config repository.
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { formatIssue, type ConfigIssue } from "../fleet/issues.ts";
import { loadFleet, type LoadResult } from "../fleet/load.ts";
import { Fleet } from "../fleet/schema.ts";
import { DirectoryTree } from "../fleet/tree.ts";
import { canonicalJson, renderFleet } from "../render/bundle.ts";
import { contextWith } from "../render/context.ts";
import { parseHosts, renderAndCheckLocally, startLocalFleet } from "./local.ts";
import { invokeLoop, isLoop, planConfigRollout, planDnsSync, planTaskTargets } from "./loops.ts";

export const HELP = `fleet — proxy-fleet's command line

Usage:
  fleet validate <repo>                 check fleet.yaml and the files it references
  fleet render <repo> --out <dir>       render one folder per service and manifest.json
        [--bundle-dir <path>]           where the daemon will read the files (default /etc/proxy-fleet/bundle)
        [--run-dir <path>]              where the daemon keeps sockets and pid files (default /run/proxy-fleet)
        [--listen <address>]            address listeners bind to (default: every interface)
  fleet local <repo> [--work <dir>]    render every service for this machine into <dir> (default .fleet/local)
                                        and check each file with its daemon (haproxy, nginx, squid, swanctl,
                                        iptables-restore; the last two in a throwaway network namespace, as root)
        [--run]                         then run the HAProxy, NGINX and Squid services on 127.0.0.1 through the
                                        in-task agent until Ctrl-C (strongSwan services are only checked)
        [--port-offset <n>]             added to every listen port when running (default 10000)
        [--hosts <file>]                YAML { name: [addresses] } standing in for DNS: in the checked iptables
                                        rules, as Squid's hosts_file, and for the running services
  fleet plan --loop <loop> [--repo <repo>]
                                        what a run would change, writing nothing: against the deployed state
                                        (the loop's Lambda environment and AWS credentials), or, with --repo, a
                                        first run of that folder's config. dns-sync: per name, who answered
                                        (hosted zone or resolver) and the answer, runtime documents, target groups;
                                        config-rollout: each service's action and hash; task-targets (deployed
                                        state only): each group's task IPs to add/remove
  fleet invoke <loop> --event <file>    run a loop's Lambda handler in-process with the real SDK clients and the
                                        standard AWS environment (AWS_REGION, credentials, AWS_ENDPOINT_URL…);
                                        loops: dns-sync, config-rollout, rollout-watch, instance-heal,
                                        task-targets.
                                        Sample events are in events/
  fleet schema [--out <file>]           print (or write) the JSON Schema of fleet.yaml for editors
  fleet --help                          this text

<repo> is a folder holding fleet.yaml. Errors are printed as file:line:column: error[rule]: message.
Exit status: 0 when valid, 1 when the config has errors, 2 on a usage error.
`;

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: "boolean", short: "h" },
      out: { type: "string" },
      "bundle-dir": { type: "string" },
      "run-dir": { type: "string" },
      listen: { type: "string" },
      work: { type: "string" },
      loop: { type: "string" },
      repo: { type: "string" },
      event: { type: "string" },
      run: { type: "boolean" },
      "port-offset": { type: "string" },
      hosts: { type: "string" },
    },
  });
  const [command, repo, ...extra] = positionals;
  if (values.help || command === undefined || command === "help") {
    io.out(HELP);
    return values.help || command === "help" ? 0 : 2;
  }
  switch (command) {
    case "validate":
      if (!repo || extra.length) return usage(io, "validate takes one folder");
      return report(await loadFleet(new DirectoryTree(repo)), io, () => io.out(`${repo}: valid\n`), repo);
    case "render": {
      if (!repo || extra.length || !values.out) return usage(io, "render takes one folder and --out <dir>");
      const loaded = await loadFleet(new DirectoryTree(repo));
      return report(loaded, io, async () => {
        if (!loaded.ok) return;
        const ctx = contextWith({
          ...(values["bundle-dir"] ? { bundleDir: resolve(values["bundle-dir"]) } : {}),
          ...(values["run-dir"] ? { runDir: resolve(values["run-dir"]) } : {}),
          ...(values.listen ? { listenAddress: values.listen } : {}),
        });
        const { bundles, manifest } = renderFleet(loaded.model, ctx);
        const files: Record<string, string> = { "manifest.json": canonicalJson(manifest) };
        for (const bundle of bundles) {
          for (const [name, content] of Object.entries(bundle.files)) files[join(bundle.service, name)] = content;
        }
        await replaceDirectory(values.out!, files);
        for (const bundle of bundles) io.out(`${bundle.service} (${bundle.kind}) ${bundle.hash}\n`);
      }, repo);
    }
    case "local": {
      if (!repo || extra.length) return usage(io, "local takes one folder");
      const loaded = await loadFleet(new DirectoryTree(repo));
      let failures = 0;
      const hosts = values.hosts ? parseHosts(await readFile(values.hosts, "utf8"), values.hosts) : {};
      const code = await report(loaded, io, async () => {
        if (!loaded.ok) return;
        const reports = await renderAndCheckLocally(loaded.model, values.work ?? ".fleet/local", hosts);
        for (const r of reports) {
          io.out(`${r.service} (${r.kind}) ${r.hash}\n  rendered in ${r.dir}\n`);
          for (const c of r.checks) {
            io.out(`  ${c.ok ? "ok  " : "FAIL"} ${c.file}\n`);
            if (!c.ok) {
              failures++;
              io.out(c.output.replace(/^/gm, "       ") + "\n");
            }
          }
        }
      }, repo);
      if (code || failures > 0 || !values.run || !loaded.ok) return code || (failures > 0 ? 1 : 0);
      const fleet = await startLocalFleet(loaded.model, values.work ?? ".fleet/local", {
        portOffset: Number(values["port-offset"] ?? 10000), hosts,
      });
      for (const s of fleet) io.out(`running ${s.service} (${s.kind}) on 127.0.0.1:${s.ports.join(",")} — ${s.agent.health().ok ? "healthy" : "not healthy"}\n`);
      io.out("local fleet running; Ctrl-C stops it\n");
      await new Promise<void>((resolveStop) => {
        process.once("SIGINT", resolveStop);
        process.once("SIGTERM", resolveStop);
      });
      await Promise.all(fleet.map((s) => s.agent.stop()));
      return 0;
    }
    case "plan": {
      if (repo) return usage(io, "plan takes --loop <loop> [--repo <repo>]");
      if (values.loop === "dns-sync") return planDnsSync(values.repo, io.out);
      if (values.loop === "config-rollout") return planConfigRollout(values.repo, io.out);
      if (values.loop === "task-targets" && !values.repo) return planTaskTargets(io.out);
      return usage(io, "plan takes --loop dns-sync, --loop config-rollout (both with an optional --repo) or --loop task-targets");
    }
    case "invoke": {
      if (!isLoop(repo) || extra.length || !values.event) return usage(io, "invoke takes a loop (dns-sync, config-rollout, rollout-watch, instance-heal, task-targets) and --event <file>");
      const result = await invokeLoop(repo, values.event);
      io.out(JSON.stringify(result, null, 2) + "\n");
      return 0;
    }
    case "schema": {
      const schema = JSON.stringify(jsonSchema(), null, 2) + "\n";
      if (values.out) {
        await mkdir(dirname(values.out), { recursive: true });
        await writeFile(values.out, schema);
      } else {
        io.out(schema);
      }
      return 0;
    }
    default:
      return usage(io, `unknown command "${command}"`);
  }
}

export function jsonSchema(): object {
  return z.toJSONSchema(Fleet, { io: "input", unrepresentable: "any", target: "draft-2020-12" });
}

/** Prints warnings and errors with paths as seen from here (repo/file:line), so editors can jump to them. */
async function report(result: LoadResult, io: Io, onValid: () => void | Promise<void>, repo: string): Promise<number> {
  const located = (issue: ConfigIssue) => formatIssue({ ...issue, file: join(repo, issue.file) });
  for (const warning of result.warnings) io.err(located(warning) + "\n");
  if (!result.ok) {
    for (const error of result.errors) io.err(located(error) + "\n");
    io.err(`${result.errors.length} error(s); nothing was rendered\n`);
    return 1;
  }
  await onValid();
  return 0;
}

function usage(io: Io, message: string): number {
  io.err(`fleet: ${message}\n\n${HELP}`);
  return 2;
}

/** Writes into a fresh folder, then swaps it in, so a half-written render never replaces a good one. */
async function replaceDirectory(target: string, files: Record<string, string>): Promise<void> {
  const staging = `${target}.staging-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(staging, name)), { recursive: true });
    await writeFile(join(staging, name), content);
  }
  await rm(target, { recursive: true, force: true });
  await rename(staging, target);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`fleet: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(2);
    },
  );
}
