// What it takes to give an instance its service's persistent ENI and Elastic IP. Pure.
//
//   ENI attached to   action
//   ---------------   ------
//   this instance     —
//   another one       detach (force), wait until available, attach at device index 1
//   nothing           attach at device index 1
//   EIP elsewhere     associate with the ENI (allow reassociation)
//   source/dest check disable (the instance forwards and NATs traffic)
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
