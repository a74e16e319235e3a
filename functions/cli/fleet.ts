#!/usr/bin/env node
// The `fleet` command: validate and render a config repository.
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as z from "zod";
import { formatIssue, type ConfigIssue } from "../fleet/issues.ts";
import { loadFleet, type LoadResult } from "../fleet/load.ts";
import { Fleet } from "../fleet/schema.ts";
import { DirectoryTree } from "../fleet/tree.ts";
import { canonicalJson, renderFleet } from "../render/bundle.ts";
import { contextWith } from "../render/context.ts";
import { diffRequest, runDiff, UsageError } from "./diff.ts";
import { parseHosts, renderAndCheckLocally, runLocalFleet } from "./local.ts";
import { runLoseInstance, runStatus } from "./status.ts";
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
        [--run]                         then run the control loops on this machine until Ctrl-C: a commit on
                                        the repository's branch rolls out (validate, render, new generation of
                                        each changed service behind a front listener on 127.0.0.1, health gate,
                                        shift, drain); a refused commit gets its errors as a git note; editing
                                        the hosts file is a DNS change; strongSwan services run in network
                                        namespaces with a simulated peer (as root); prints the status page's URL
        [--repo <git repo>]             the repository the loops follow (default <dir>/repo, created from <repo>
                                        on first run)
        [--branch <name>]               its tracked branch (default main)
        [--port-offset <n>]             added to every listen port when running (default 10000)
        [--hosts <file>]                YAML { name: [addresses] } or { name: { addresses: [...], ttl: <s> } }:
                                        the local DNS zone (default <repo>/local-hosts.yaml), in the checked
                                        iptables rules, as Squid's hosts_file, and served to the running loops
        [--status-port <n>]             the status page's port (default: any free one)
  fleet status [--work <dir>] [--url <url>] [--json]
                                        what the running local fleet shows on its status page: each service's
                                        generations and health, DNS targets, tunnels, rollouts, rejected
                                        commits with file:line, recent events; found through
                                        <dir>/status-endpoint (default .fleet/local); exit 1 when none runs
  fleet drill lose-instance <service> [--work <dir>] [--url <url>]
                                        lose the running local fleet's instance of the strongSwan <service>
                                        and wait until the fleet has healed it; prints how long the tunnels
                                        took to carry traffic again (the status page has the same button)
  fleet plan --loop <loop> [--repo <repo>]
                                        what a run would change, writing nothing: against the deployed state
                                        (the loop's Lambda environment and AWS credentials), or, with --repo, a
                                        first run of that folder's config. dns-sync: per name, who answered
                                        (hosted zone or resolver) and the answer, runtime documents, target groups;
                                        config-rollout: each service's action and hash (against the deployed
                                        state, also the fleet diff); task-targets (deployed state only): each
                                        group's task IPs to add/remove
  fleet invoke <loop> --event <file>    run a loop's Lambda handler in-process with the real SDK clients and the
                                        standard AWS environment (AWS_REGION, credentials, AWS_ENDPOINT_URL…);
                                        loops: dns-sync, config-rollout, rollout-watch, instance-heal,
                                        task-targets, pull-request.
                                        Sample events are in events/
  fleet diff <repo> <from>..<to>        what a change does to each service: added / removed / changed, both
                                        bundle hashes, a unified diff of each rendered daemon file (allowlists
                                        as names added and removed); <from>, <to>: commits or branches of the
                                        git repository <repo>
  fleet diff --from <ref|dir> --to <ref|dir> [<repo>]
                                        the same between any two of: a folder, a commit of <repo>, or
                                        "deployed" (the accepted config in CONFIG_BUCKET, AWS credentials)
  fleet diff <dir>                      a folder against what is deployed (--from deployed --to <dir>)
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
      branch: { type: "string" },
      "status-port": { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      url: { type: "string" },
      json: { type: "boolean" },
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
      await runLocalFleet({
        seed: repo, workDir: values.work ?? ".fleet/local", hostsFile: values.hosts ?? join(repo, "local-hosts.yaml"),
        portOffset: Number(values["port-offset"] ?? 10000),
        ...(values.repo ? { repo: values.repo } : {}), ...(values.branch ? { branch: values.branch } : {}),
        ...(values["status-port"] ? { statusPort: Number(values["status-port"]) } : {}),
      }, io.out);
      return 0;
    }
    case "status":
      if (repo) return usage(io, "status takes no folder: [--work <dir>] [--url <url>] [--json]");
      return runStatus({ work: values.work, url: values.url, json: values.json }, io);
    case "drill":
      if (repo !== "lose-instance" || extra.length !== 1) return usage(io, "drill takes lose-instance <service> [--work <dir>] [--url <url>]");
      return runLoseInstance(extra[0]!, { work: values.work, url: values.url }, io);
    case "plan": {
      if (repo) return usage(io, "plan takes --loop <loop> [--repo <repo>]");
      if (values.loop === "dns-sync") return planDnsSync(values.repo, io.out);
      if (values.loop === "config-rollout") return planConfigRollout(values.repo, io.out);
      if (values.loop === "task-targets" && !values.repo) return planTaskTargets(io.out);
      return usage(io, "plan takes --loop dns-sync, --loop config-rollout (both with an optional --repo) or --loop task-targets");
    }
    case "invoke": {
      if (!isLoop(repo) || extra.length || !values.event) return usage(io, "invoke takes a loop (dns-sync, config-rollout, rollout-watch, instance-heal, task-targets, pull-request) and --event <file>");
      const result = await invokeLoop(repo, values.event);
      io.out(JSON.stringify(result, null, 2) + "\n");
      return 0;
    }
    case "diff": {
      try {
        return await runDiff(diffRequest(positionals.slice(1), values.from, values.to), io);
      } catch (error) {
        if (error instanceof UsageError) return usage(io, error.message);
        throw error;
      }
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
