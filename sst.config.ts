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
    await app.stack(ProxyServices); // async: it renders the config repository's bundles
    app.stack(StrongswanSites).stack(Reconcilers);
  },
} satisfies SSTConfig;
