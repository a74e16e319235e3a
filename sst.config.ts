// SST v2 app: `sst deploy --stage <stage>`. Route 53 API events reach EventBridge only in us-east-1, so
// that is the default region; see docs/design.md for deployments elsewhere.
import { Aspects } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import type { SSTConfig } from "sst";
import { ConfigStore } from "./stacks/ConfigStore.ts";
import { Network } from "./stacks/Network.ts";
import { ProxyServices } from "./stacks/ProxyServices.ts";
import { Reconcilers } from "./stacks/Reconcilers.ts";
import { StrongswanSites } from "./stacks/StrongswanSites.ts";

export default {
  config() {
    return { name: "proxy-fleet", region: process.env.AWS_REGION ?? "us-east-1" };
  },
  async stacks(app) {
    app.setDefaultFunctionProps({ runtime: "nodejs22.x", architecture: "arm_64", tracing: "active" });
    Aspects.of(app).add(new AwsSolutionsChecks());
    app.stack(ConfigStore).stack(Network);
    // The proxy stacks are async: they load the config repository (stacks/deployed.ts).
    await app.stack(ProxyServices);
    await app.stack(StrongswanSites);
    app.stack(Reconcilers);
  },
} satisfies SSTConfig;
