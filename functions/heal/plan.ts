// What it takes to give an instance its service's persistent ENI and Elastic IP. Pure.
//
//   ENI attached to   action
//   ---------------   ------
//   this instance     —
//   another one       detach (force), wait until available, attach at device index 1
//   nothing           attach at device index 1
//   EIP elsewhere     associate with the ENI (allow reassociation)
//   source/dest check disable (the instance forwards and NATs traffic)
//
// The actions in rounds of calls sent together (inRounds):
//
//   round   calls (in parallel)
//   -----   -------------------
//   1       detach | associate EIP | disable source/dest check     (ENI attached elsewhere)
//           attach | associate EIP | disable source/dest check     (ENI free)
//   2       wait until available (polled)                          (after a detach only)
//   3       attach                                                 (after a detach only)
//
// An ENI's attributes, its Elastic IP association among them, follow it when it is detached and attached to
// another instance (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-eni.html), so the EIP and the
// source/dest check can be set while the ENI is still on the dead instance. Only the attach waits: a detached
// secondary ENI is attached to another instance once it is available again
// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/network-interface-attachments.html).
import type { ElasticIp, Instance, PersistentEni } from "./ports.ts";

export const DEVICE_INDEX = 1;

export type HealAction =
  | { readonly kind: "detach"; readonly attachmentId: string; readonly from: string }
  | { readonly kind: "wait-available"; readonly eniId: string }
  | { readonly kind: "attach"; readonly eniId: string; readonly instanceId: string; readonly deviceIndex: number }
  | { readonly kind: "associate-eip"; readonly allocationId: string; readonly eniId: string }
  | { readonly kind: "disable-source-dest-check"; readonly eniId: string };

export function planAttachment(instance: Instance, eni: PersistentEni, eip: ElasticIp | undefined): HealAction[] {
  const actions: HealAction[] = [];
  const attachedHere = eni.attachment?.instanceId === instance.id;
  if (eni.attachment && !attachedHere) {
    actions.push({ kind: "detach", attachmentId: eni.attachment.id, from: eni.attachment.instanceId });
    actions.push({ kind: "wait-available", eniId: eni.id });
  }
  if (!attachedHere) actions.push({ kind: "attach", eniId: eni.id, instanceId: instance.id, deviceIndex: DEVICE_INDEX });
  if (eip && eip.networkInterfaceId !== eni.id) actions.push({ kind: "associate-eip", allocationId: eip.allocationId, eniId: eni.id });
  if (eni.sourceDestCheck) actions.push({ kind: "disable-source-dest-check", eniId: eni.id });
  return actions;
}

/** The actions as rounds of calls: the calls of one round are independent and go out together (see the table above). */
export function inRounds(actions: readonly HealAction[]): HealAction[][] {
  const detaching = actions.some((a) => a.kind === "detach");
  const first = actions.filter((a) => a.kind !== "wait-available" && (a.kind !== "attach" || !detaching));
  const rounds = first.length > 0 ? [first] : [];
  if (detaching) {
    rounds.push(actions.filter((a) => a.kind === "wait-available"));
    rounds.push(actions.filter((a) => a.kind === "attach"));
  }
  return rounds.filter((round) => round.length > 0);
}
