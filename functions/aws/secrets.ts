// Pre-shared keys from SSM Parameter Store (SecureString, decrypted) or Secrets Manager.
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { SecretsResolver } from "../../containers/agent/strongswan.ts";

export function awsSecretsResolver(ssm = new SSMClient({ retryMode: "adaptive" }), secrets = new SecretsManagerClient({ retryMode: "adaptive" })): SecretsResolver {
  return {
    async resolve(reference) {
      if ("ssmParameter" in reference) {
        const { Parameter } = await ssm.send(new GetParameterCommand({ Name: reference.ssmParameter, WithDecryption: true }));
        if (!Parameter?.Value) throw new Error(`SSM parameter ${reference.ssmParameter} has no value`);
        return Buffer.from(Parameter.Value, "utf8");
      }
      const { SecretString, SecretBinary } = await secrets.send(new GetSecretValueCommand({ SecretId: reference.secretsManager }));
      if (SecretBinary) return SecretBinary;
      if (SecretString) return Buffer.from(SecretString, "utf8");
      throw new Error(`secret ${reference.secretsManager} has no value`);
    },
  };
}
