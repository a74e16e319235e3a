// strongSwan: one swanctl connection per configured peer. Pre-shared keys never enter the bundle: the
// container fetches them at start and writes them with renderSwanctlSecrets into the run directory.
import { AEAD_ENCRYPTION } from "../fleet/algorithms.ts";
import { durationMs, formatDuration } from "../fleet/duration.ts";
import type { ServiceModelOf } from "../fleet/load.ts";
import type { StrongswanConnectionConfig } from "../fleet/schema.ts";
import { HEADER, type RenderContext } from "./context.ts";

type Strongswan = ServiceModelOf<"strongswan">;
type Proposal = StrongswanConnectionConfig["ike"];

const time = (text: string) => formatDuration(durationMs(text), ["s", "m", "h", "d"]);

export const SECRETS_DIR = "swanctl-secrets";

export function renderSwanctl(service: Strongswan, ctx: RenderContext): Record<string, string> {
  if (service.noIpsec) return {};
  const connections = service.connections.flatMap((connection) => connectionBlock(connection));
  const lines = [
    HEADER(service.name, "strongswan"),
    "connections {",
    ...indent(connections),
    "}",
    "",
    "# Pre-shared keys: written here by the container at start, never part of the bundle.",
    `include ${ctx.runDir}/${SECRETS_DIR}/*.conf`,
  ];
  return { "swanctl.conf": lines.join("\n") + "\n" };
}

/**
 * IKEv1 takes one algorithm of each kind per proposal and silently strips the rest
 * (https://docs.strongswan.org/docs/latest/config/proposals.html), so each combination becomes its own proposal,
 * in the order written: what the config lists is what charon offers.
 */
function ikev1Proposals(proposal: Proposal, withPrf: boolean, withGroups: boolean): string {
  const combinations = proposal.encryption.flatMap((encryption) => {
    const aead = AEAD_ENCRYPTION.has(encryption);
    const integrities = aead && !withPrf ? [undefined] : proposal.integrity.map((i) => (aead ? `prf${i}` : i));
    return integrities.flatMap((integrity) =>
      (withGroups ? proposal.dhGroups : [undefined]).map((group) => [encryption, integrity, group].filter(Boolean).join("-")));
  });
  return [...new Set(combinations)].join(",");
}

/** IKE proposals: AEAD ciphers take PRFs, classic ones take integrity algorithms; they cannot share a proposal. */
export function ikeProposals(proposal: Proposal, ikeVersion: 1 | 2 = 2): string {
  if (ikeVersion === 1) return ikev1Proposals(proposal, true, true);
  const aead = proposal.encryption.filter((e) => AEAD_ENCRYPTION.has(e));
  const classic = proposal.encryption.filter((e) => !AEAD_ENCRYPTION.has(e));
  const groups = proposal.dhGroups;
  return [
    ...(aead.length ? [[...aead, ...proposal.integrity.map((i) => `prf${i}`), ...groups].join("-")] : []),
    ...(classic.length ? [[...classic, ...proposal.integrity, ...groups].join("-")] : []),
  ].join(",");
}

/** ESP proposals: DH groups give perfect forward secrecy on rekey. */
export function espProposals(proposal: Proposal, ikeVersion: 1 | 2 = 2): string {
  if (ikeVersion === 1) return ikev1Proposals(proposal, false, true);
  const aead = proposal.encryption.filter((e) => AEAD_ENCRYPTION.has(e));
  const classic = proposal.encryption.filter((e) => !AEAD_ENCRYPTION.has(e));
  return [
    ...(aead.length ? [[...aead, ...proposal.dhGroups].join("-")] : []),
    ...(classic.length ? [[...classic, ...proposal.integrity, ...proposal.dhGroups].join("-")] : []),
  ].join(",");
}

export function remoteIdentity(connection: StrongswanConnectionConfig): string {
  return connection.remote.id ?? connection.remote.addresses[0]!;
}

function connectionBlock(connection: StrongswanConnectionConfig): string[] {
  // IKEv1 negotiates one traffic selector pair per CHILD_SA, so each subnet pair gets its own child.
  const children =
    connection.ikeVersion === 1
      ? connection.local.subnets.flatMap((local, l) =>
          connection.remote.subnets.map((remote, r) => ({ name: `${connection.name}-${l + 1}-${r + 1}`, local: [local], remote: [remote] })))
      : [{ name: connection.name, local: connection.local.subnets, remote: connection.remote.subnets }];
  return [
    `${connection.name} {`,
    `    version = ${connection.ikeVersion}`,
    "    local_addrs = %any",
    // Several peers (primary first): charon tries them in order.
    `    remote_addrs = ${connection.remote.addresses.join(",")}`,
    `    proposals = ${ikeProposals(connection.ike, connection.ikeVersion)}`,
    `    rekey_time = ${time(connection.ike.lifetime)}`,
    `    dpd_delay = ${time(connection.dpdDelay)}`,
    `    encap = ${connection.forceUdpEncapsulation ? "yes" : "no"}`,
    "    local {",
    "        auth = psk",
    ...(connection.local.id ? [`        id = "${connection.local.id}"`] : []),
    "    }",
    "    remote {",
    "        auth = psk",
    `        id = "${remoteIdentity(connection)}"`,
    "    }",
    "    children {",
    ...children.flatMap((child) => [
      `        ${child.name} {`,
      `            local_ts = ${child.local.join(",")}`,
      `            remote_ts = ${child.remote.join(",")}`,
      `            esp_proposals = ${espProposals(connection.esp, connection.ikeVersion)}`,
      `            rekey_time = ${time(connection.esp.lifetime)}`,
      `            start_action = ${connection.startAction}`,
      "            dpd_action = restart",
      "            close_action = start",
      "        }",
    ]),
    "    }",
    "}",
  ];
}

/** The secrets file the container writes at start. Keys are base64 ("0s…"), so no byte of a key can break the syntax. */
export function renderSwanctlSecrets(service: Strongswan, keys: Readonly<Record<string, Uint8Array>>): string {
  const lines = ["secrets {"];
  for (const connection of service.connections) {
    const key = keys[connection.name];
    if (!key) throw new Error(`no pre-shared key was supplied for connection ${connection.name}`);
    lines.push(
      `    ike-${connection.name} {`,
      ...(connection.local.id ? [`        id-local = "${connection.local.id}"`] : []),
      `        id-remote = "${remoteIdentity(connection)}"`,
      `        secret = 0s${Buffer.from(key).toString("base64")}`,
      "    }",
    );
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}

function indent(lines: string[]): string[] {
  return lines.map((line) => `    ${line}`);
}
