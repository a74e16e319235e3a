// Where a strongSwan connection's pre-shared key lives. One config repository may serve several stages, while
// each stage's tasks may read only keys under their own path (/proxy-fleet/<stage>/<service>/): a reference
// may say `{stage}` where the deployed stage's name goes, and it is filled in by the task that reads the key.

export const STAGE_TOKEN = "{stage}";

export type SecretReference = { readonly ssmParameter: string } | { readonly secretsManager: string };

/** The reference as written, `{stage}` filled in with the stage that reads it. */
export function secretReferenceFor(reference: SecretReference, stage: string | undefined): SecretReference {
  const fill = (name: string) => {
    if (!name.includes(STAGE_TOKEN)) return name;
    if (!stage) throw new Error(`the key ${name} names {stage}, but this task was given no stage (PROXY_FLEET_STAGE)`);
    return name.replaceAll(STAGE_TOKEN, stage);
  };
  return "ssmParameter" in reference ? { ssmParameter: fill(reference.ssmParameter) } : { secretsManager: fill(reference.secretsManager) };
}

/** The path prefix (no leading slash) a stage's task may read for a service: SSM names add a leading "/". */
export const secretPath = (stage: string, service: string) => `proxy-fleet/${stage}/${service}/`;

/** The name as IAM sees it, without SSM's leading slash, for comparing with secretPath. */
export function secretName(reference: SecretReference): string {
  return "ssmParameter" in reference ? reference.ssmParameter.replace(/^\//, "") : reference.secretsManager;
}
