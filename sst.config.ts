// SST v2 app: `sst deploy --stage <stage>`. Route 53 API events reach EventBridge only in us-east-1, so
// that is the default region; see docs/design.md for deployments elsewhere.
import { Aspects, Tags } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import type { SSTConfig } from "sst";
import { ConfigStore } from "./stacks/ConfigStore.ts";
import { Network } from "./stacks/Network.ts";
import { Operations } from "./stacks/Operations.ts";
import { ProxyServices } from "./stacks/ProxyServices.ts";
import { PullRequests } from "./stacks/PullRequests.ts";
import { Reconcilers } from "./stacks/Reconcilers.ts";
import { StrongswanSites } from "./stacks/StrongswanSites.ts";
import { STAGE_TAG, checkStage, deploySettings } from "./stacks/settings.ts";

export default {
  config() {
    return { name: "proxy-fleet", region: process.env.AWS_REGION ?? "us-east-1" };
  },
  async stacks(app) {
    // Every physical name, tag, rule pattern and policy condition carries the stage: check it and the settings first.
    checkStage(app.stage);
    deploySettings();
    Tags.of(app).add(STAGE_TAG, app.stage);
    app.setDefaultFunctionProps({ runtime: "nodejs22.x", architecture: "arm_64", tracing: "active" });
    Aspects.of(app).add(new AwsSolutionsChecks());
    app.stack(ConfigStore).stack(Network);
    // The proxy stacks are async: they load the config repository (stacks/deployed.ts).
    await app.stack(ProxyServices);
    await app.stack(StrongswanSites);
    app.stack(Reconcilers);
    app.stack(PullRequests);
    // Alarms, their topic and the dashboard: after every stack whose resources they watch.
    await app.stack(Operations);
  },
} satisfies SSTConfig;
