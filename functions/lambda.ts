// Shared Lambda wiring: Powertools logger, metrics and tracer for one loop, and the middy stack every
// handler uses (tracing, context in logs, metrics flushed, the event parsed safely).
import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { Tracer } from "@aws-lambda-powertools/tracer";
import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import type { MiddlewareObj } from "@middy/core";

export function powertools(serviceName: string) {
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({ namespace: "ProxyFleet", serviceName });
  const tracer = new Tracer({ serviceName });
  const middlewares: MiddlewareObj[] = [captureLambdaHandler(tracer), injectLambdaContext(logger), logMetrics(metrics)];
  return { logger, metrics, tracer, middlewares, instrument: <T>(client: T): T => tracer.captureAWSv3Client(client) };
}

/** What was wrong with an event, field by field, from the parser's zod issues. */
export function eventProblems(error: Error): string[] {
  type Issue = { path: PropertyKey[]; message: string };
  const cause = error.cause as Issue[] | { issues?: Issue[] } | undefined;
  const issues = Array.isArray(cause) ? cause : cause?.issues;
  return issues?.map((issue) => `${issue.path.map(String).join(".") || "(event)"}: ${issue.message}`) ?? [error.message];
}
