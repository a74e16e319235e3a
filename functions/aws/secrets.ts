// Pre-shared keys from SSM Parameter Store (SecureString, decrypted) or Secrets Manager.
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { SecretsResolver } from "../../containers/agent/strongswan.ts";
import { secretReferenceFor } from "../fleet/secrets.ts";
import { AGENT_AWS_TIMEOUTS, BOUNDED_CLIENT, describeAwsError } from "./agent-sources.ts";

const { callTimeout } = AGENT_AWS_TIMEOUTS;

/** `stage` fills in a reference's {stage} (the task's PROXY_FLEET_STAGE): each stage reads its own keys. */
export function awsSecretsResolver(
  ssm = new SSMClient(BOUNDED_CLIENT), secrets = new SecretsManagerClient(BOUNDED_CLIENT), stage = process.env.PROXY_FLEET_STAGE,
): SecretsResolver {
  return {
    async resolve(written) {
      const reference = secretReferenceFor(written, stage);
      const abortSignal = AbortSignal.timeout(callTimeout);
      if ("ssmParameter" in reference) {
        const { Parameter } = await ssm.send(new GetParameterCommand({ Name: reference.ssmParameter, WithDecryption: true }), { abortSignal })
          .catch((error: unknown) => { throw describeAwsError(`SSM parameter ${reference.ssmParameter}`, error); });
        if (!Parameter?.Value) throw new Error(`SSM parameter ${reference.ssmParameter} has no value`);
        return Buffer.from(Parameter.Value, "utf8");
      }
      const { SecretString, SecretBinary } = await secrets.send(new GetSecretValueCommand({ SecretId: reference.secretsManager }), { abortSignal })
        .catch((error: unknown) => { throw describeAwsError(`secret ${reference.secretsManager}`, error); });
      if (SecretBinary) return SecretBinary;
      if (SecretString) return Buffer.from(SecretString, "utf8");
      throw new Error(`secret ${reference.secretsManager} has no value`);
    },
  };
}
