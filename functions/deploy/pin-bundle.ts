// CloudFormation custom resource (through CDK's provider framework): at every deploy, the bundle each proxy task
// definition pins. Create and Update answer with the pin (choosePin); Delete changes nothing (bundles are kept).
import { Logger } from "@aws-lambda-powertools/logger";
import { pinClients } from "../aws/deploy-pin.ts";
import { choosePin } from "./pin.ts";

const logger = new Logger({ serviceName: "deploy-pin" });

export interface PinResourceProperties {
  readonly Service: string;
  readonly DeployKey: string;
  readonly DeployHash: string;
  readonly StateTable: string;
  readonly StateKey: string;
  readonly Bucket: string;
}

interface CustomResourceEvent {
  readonly RequestType: "Create" | "Update" | "Delete";
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: PinResourceProperties & { ServiceToken?: string };
}

export async function handler(event: CustomResourceEvent) {
  const p = event.ResourceProperties;
  const physicalResourceId = `pin:${p.Service}`;
  if (event.RequestType === "Delete") return { PhysicalResourceId: event.PhysicalResourceId ?? physicalResourceId };
  const ports = pinClients(p.StateTable, p.StateKey, p.Bucket);
  const pin = await choosePin({ service: p.Service, deployKey: p.DeployKey, deployHash: p.DeployHash }, ports);
  logger.info("pinned", { service: p.Service, ...pin });
  return { PhysicalResourceId: physicalResourceId, Data: { Key: pin.key, Hash: pin.hash, Commit: pin.commit, Source: pin.source } };
}
